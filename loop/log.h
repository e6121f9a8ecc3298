// log.h — one-line-per-event logging to stderr, journald-friendly.
//
// Every layer logs through this; libbpf's output is routed here too (bpf/runtime). Lines look like
//   2026-11-26T03:47:03.123Z INFO  http: listening on /run/ringprobe/sysprobe.sock
// or, when stderr is connected to journald (JOURNAL_STREAM set), "<6>http: ..." so that journald
// records the priority and its own timestamp.
#pragma once

#include <algorithm>
#include <cstdarg>
#include <optional>
#include <string_view>

namespace rp::log {

enum class Level { trace = 0, debug, info, warn, error, critical, off };

// Parses system-probe's level names (trace, debug, info, warn/warning, error, critical, off),
// case-insensitively.
std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);

void set_level(Level level);
Level level();
inline bool enabled(Level l) { return l >= level() && l != Level::off; }

// Tests capture log lines with this; nullptr restores stderr.
using Sink = void (*)(Level, std::string_view line, void* ctx);
void set_sink(Sink sink, void* ctx);

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vwrite(Level level, const char* fmt, va_list ap);

}  // namespace rp::log

#define RP_LOG(lvl, ...)                                                    \
    do {                                                                    \
        if (::rp::log::enabled(::rp::log::Level::lvl))                      \
            ::rp::log::write(::rp::log::Level::lvl, __VA_ARGS__);           \
    } while (0)
#define LOG_TRACE(...) RP_LOG(trace, __VA_ARGS__)
#define LOG_DEBUG(...) RP_LOG(debug, __VA_ARGS__)
#define LOG_INFO(...) RP_LOG(info, __VA_ARGS__)
#define LOG_WARN(...) RP_LOG(warn, __VA_ARGS__)
#define LOG_ERROR(...) RP_LOG(error, __VA_ARGS__)
