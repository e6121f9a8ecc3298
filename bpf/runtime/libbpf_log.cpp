// libbpf_log.cpp — libbpf's print callback, routed into rp::log (see route_libbpf_log()).
#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <string>
#include <string_view>

#include "bpf/runtime/runtime.h"
#include "loop/log.h"

namespace rp::bpf {
namespace {

log::Level level_of(libbpf_print_level level) {
    switch (level) {
        case LIBBPF_WARN:
            return log::Level::warn;
        case LIBBPF_INFO:
            return log::Level::debug;  // libbpf's "info" is per-object chatter
        case LIBBPF_DEBUG:
        default:
            return log::Level::trace;
    }
}

int print(libbpf_print_level level, const char* fmt, va_list ap) {
    log::Level l = level_of(level);
    if (!log::enabled(l)) return 0;
    // Verifier logs arrive as one call with thousands of lines: size the buffer first.
    va_list copy;
    va_copy(copy, ap);
    int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n <= 0) return 0;
    std::string text(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(text.data(), text.size(), fmt, ap);
    text.resize(static_cast<size_t>(n));
    // One log event per line; libbpf prefixes its own lines with "libbpf: ".
    std::string_view rest(text);
    while (!rest.empty()) {
        size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        if (line.empty()) continue;
        const char* prefix = line.starts_with("libbpf: ") ? "" : "libbpf: ";
        log::write(l, "%s%.*s", prefix, static_cast<int>(line.size()), line.data());
    }
    return n;
}

}  // namespace

void route_libbpf_log() { libbpf_set_print(print); }

}  // namespace rp::bpf
