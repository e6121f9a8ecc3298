// log.cpp — see log.h.
#include "loop/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

namespace rp::log {
namespace {

Level g_level = Level::info;
Sink g_sink = nullptr;
void* g_sink_ctx = nullptr;
int g_journal = -1;  // -1: not yet checked

constexpr const char* kNames[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "CRIT", "OFF"};
constexpr int kSyslogPriority[] = {7, 7, 6, 4, 3, 2, 7};

bool journal() {
    if (g_journal < 0) g_journal = std::getenv("JOURNAL_STREAM") != nullptr ? 1 : 0;
    return g_journal == 1;
}

}  // namespace

std::optional<Level> parse_level(std::string_view name) {
    struct {
        const char* name;
        Level level;
    } const table[] = {{"trace", Level::trace}, {"debug", Level::debug}, {"info", Level::info},
                       {"warn", Level::warn},   {"warning", Level::warn}, {"error", Level::error},
                       {"critical", Level::critical}, {"off", Level::off}};
    for (const auto& e : table) {
        if (name.size() == std::strlen(e.name) &&
            strncasecmp(name.data(), e.name, name.size()) == 0)
            return e.level;
    }
    return std::nullopt;
}

std::string_view level_name(Level level) {
    static constexpr const char* lower[] = {"trace", "debug", "info", "warn",
                                            "error", "critical", "off"};
    return lower[static_cast<int>(level)];
}

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

void set_sink(Sink sink, void* ctx) {
    g_sink = sink;
    g_sink_ctx = ctx;
}

void vwrite(Level level, const char* fmt, va_list ap) {
    char line[2048];
    size_t n = 0;
    if (g_sink == nullptr && journal()) {
        n = static_cast<size_t>(
            std::snprintf(line, sizeof line, "<%d>", kSyslogPriority[static_cast<int>(level)]));
    } else if (g_sink == nullptr) {
        timeval tv{};
        gettimeofday(&tv, nullptr);
        tm t{};
        gmtime_r(&tv.tv_sec, &t);
        n = std::strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &t);
        n += static_cast<size_t>(std::snprintf(line + n, sizeof line - n, ".%03dZ %-5s ",
                                               static_cast<int>(tv.tv_usec / 1000),
                                               kNames[static_cast<int>(level)]));
    }
    int m = std::vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    if (m < 0) m = 0;
    n = std::min(sizeof line - 2, n + static_cast<size_t>(m));
    // One event, one line: fold embedded newlines (libbpf's verifier log has many).
    while (n > 0 && line[n - 1] == '\n') --n;
    for (size_t i = 0; i < n; ++i)
        if (line[i] == '\n') line[i] = ' ';
    if (g_sink != nullptr) {
        g_sink(level, std::string_view(line, n), g_sink_ctx);
        return;
    }
    line[n++] = '\n';
    // A single write(2) keeps lines whole even if several processes share stderr.
    ssize_t ignored = ::write(STDERR_FILENO, line, n);
    (void)ignored;
}

void write(Level level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwrite(level, fmt, ap);
    va_end(ap);
}

}  // namespace rp::log
