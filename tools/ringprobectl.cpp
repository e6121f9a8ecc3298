// ringprobectl.cpp — command-line client for ringprobe's HTTP API (unix socket or debug TCP port).
//
// `check MODULE` mirrors the Datadog Agent's GetCheck (start-up probe on /debug/stats, grace
// period, non-ok status text, JSON decode); the other commands are thin GET/POST wrappers. Exit
// codes: 0 ok, 1 error, 2 usage, 3 "system-probe not started yet". See docs/RINGPROBECTL.md.
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "http/client.h"

#ifndef RINGPROBE_VERSION
#define RINGPROBE_VERSION "dev"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotStarted = 3;

constexpr const char* kDefaultSocket = "/run/ringprobe/sysprobe.sock";
constexpr milliseconds kDefaultTimeout{60'000};    // the Agent's request timeout
constexpr milliseconds kDefaultGrace{5 * 60'000};  // the Agent's check_system_probe_startup_time
constexpr milliseconds kProbeTimeoutCap{10'000};   // the Agent's start-up client timeout
constexpr milliseconds kWaitRetryInterval{100};

constexpr const char* kUsage = R"(Usage: ringprobectl [OPTIONS] COMMAND [ARGS]

Talks to a running ringprobe (or Datadog system-probe) over its HTTP API.

Commands:
  stats                GET /debug/stats: every module's stats
  modules              GET /debug/modules: the modules and their state
  check MODULE         GET /MODULE/check the way the Datadog Agent's checks do (see below)
  get PATH             GET PATH (e.g. /oom_kill_probe/check)
  post PATH JSON       POST JSON to PATH; JSON "-" reads the body from stdin

Options (anywhere on the line; "--" ends them):
  --socket PATH        unix socket (default: $DD_SYSPROBE_SOCKET, else /run/ringprobe/sysprobe.sock)
  --tcp HOST:PORT      use the debug TCP port instead (127.0.0.1:3333, [::1]:3333)
  --pretty             ask for indented JSON (adds pretty_print=1 to the query)
  --timeout DURATION   limit for each request (default 60s)
  --wait DURATION      retry the first request until the daemon answers or DURATION has passed
                       (default 0: try once)
  --grace DURATION     start-up grace period of "check" (default 5m; 0 turns it off)
  -h, --help           print this text
  --version            print the version

DURATION is written as in Go: 500ms, 5s, 2m, 1m30s, 1h.

check MODULE first probes GET /debug/stats (timeout: the smaller of --timeout and 10s). If the
probe fails (no answer, or a status other than 200) while ringprobectl has been running for less
than the grace period, it prints "system-probe not started yet: <why>" to stderr and exits 3.
The grace period counts from the start of ringprobectl, so with the default a failed probe always
means "not started yet"; with --grace 0, or once --wait has outlasted the grace period, the
failure is an ordinary error (exit 1). Then GET /MODULE/check: any status but 200 prints
  non-ok status code: url http://sysprobe/MODULE/check, status_code: N, response: BODY
to stderr and exits 1; a body that is not valid JSON exits 1; otherwise the body is printed.

The other commands print the response body to stdout and exit 0 for a 2xx status; otherwise
they also print "METHOD URL: status N" to stderr and exit 1.

Exit status: 0 ok, 1 error, 2 usage error, 3 system-probe not started yet.
)";

struct UsageError {
    std::string message;
};

struct Options {
    std::optional<std::string> socket;
    std::optional<std::string> tcp;
    bool pretty = false;
    milliseconds timeout = kDefaultTimeout;
    milliseconds wait{0};
    milliseconds grace = kDefaultGrace;
    std::vector<std::string> args;  // command, then its arguments
};

// Go's time.ParseDuration, without a sign: "300ms", "1.5h", "2h45m"; "0" needs no unit.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view s) {
    if (s == "0") return std::chrono::nanoseconds{0};
    if (s.empty()) return std::nullopt;
    long double total_ns = 0;
    size_t i = 0;
    while (i < s.size()) {
        size_t start = i;
        long double value = 0;
        bool digits = false;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            value = value * 10 + (s[i++] - '0');
            digits = true;
        }
        if (i < s.size() && s[i] == '.') {
            ++i;
            long double scale = 0.1L;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                value += (s[i++] - '0') * scale;
                scale /= 10;
                digits = true;
            }
        }
        if (!digits || i == start) return std::nullopt;
        size_t unit_start = i;
        while (i < s.size() && !(s[i] >= '0' && s[i] <= '9') && s[i] != '.') ++i;
        std::string_view unit = s.substr(unit_start, i - unit_start);
        static constexpr std::pair<std::string_view, long double> kUnits[] = {
            {"ns", 1},    {"us", 1e3L}, {"\u00b5s", 1e3L}, {"\u03bcs", 1e3L},
            {"ms", 1e6L}, {"s", 1e9L},  {"m", 60e9L},      {"h", 3600e9L},
        };
        long double scale_ns = 0;
        for (const auto& [name, ns] : kUnits)
            if (unit == name) scale_ns = ns;
        if (scale_ns == 0) return std::nullopt;  // unknown or missing unit
        total_ns += value * scale_ns;
        if (total_ns > 9.2e18L) return std::nullopt;  // Go's limit: ~292 years
    }
    return std::chrono::nanoseconds{static_cast<int64_t>(std::llround(total_ns))};
}

milliseconds duration_option(std::string_view name, std::string_view value, bool allow_zero) {
    auto d = parse_duration(value);
    if (!d)
        throw UsageError{"invalid duration \"" + std::string(value) + "\" for " +
                         std::string(name) + " (examples: 500ms, 5s, 2m, 1m30s)"};
    auto ms = std::chrono::ceil<milliseconds>(*d);
    if (!allow_zero && ms.count() == 0)
        throw UsageError{std::string(name) + " must be greater than 0 (got \"" +
                         std::string(value) + "\")"};
    return ms;
}

Options parse_args(int argc, char** argv) {
    Options o;
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (options_done || arg.size() < 2 || arg.front() != '-') {
            o.args.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        std::string_view name = arg;
        std::optional<std::string_view> inline_value;
        if (size_t eq = arg.find('='); eq != std::string_view::npos && arg.starts_with("--")) {
            name = arg.substr(0, eq);
            inline_value = arg.substr(eq + 1);
        }
        auto value = [&]() -> std::string_view {
            if (inline_value) return *inline_value;
            if (i + 1 >= argc) throw UsageError{"option " + std::string(name) + " needs a value"};
            return argv[++i];
        };
        auto no_value = [&] {
            if (inline_value) throw UsageError{"option " + std::string(name) + " takes no value"};
        };
        if (name == "-h" || name == "--help") {
            no_value();
            std::fputs(kUsage, stdout);
            std::exit(kExitOk);
        } else if (name == "--version") {
            no_value();
            std::printf("ringprobectl %s\n", RINGPROBE_VERSION);
            std::exit(kExitOk);
        } else if (name == "--socket") {
            std::string_view v = value();
            if (v.empty()) throw UsageError{"option --socket needs a non-empty path"};
            o.socket = std::string(v);
        } else if (name == "--tcp") {
            o.tcp = std::string(value());
        } else if (name == "--pretty") {
            no_value();
            o.pretty = true;
        } else if (name == "--timeout") {
            o.timeout = duration_option("--timeout", value(), false);
        } else if (name == "--wait") {
            o.wait = duration_option("--wait", value(), true);
        } else if (name == "--grace") {
            o.grace = duration_option("--grace", value(), true);
        } else {
            throw UsageError{"unknown option \"" + std::string(arg) + "\""};
        }
    }
    if (o.socket && o.tcp) throw UsageError{"--socket and --tcp cannot be used together"};
    if (o.args.empty()) throw UsageError{"missing command"};

    const std::string& cmd = o.args[0];
    size_t want;
    const char* what;
    if (cmd == "stats" || cmd == "modules") {
        want = 0;
        what = "";
    } else if (cmd == "check") {
        want = 1;
        what = "MODULE";
    } else if (cmd == "get") {
        want = 1;
        what = "PATH";
    } else if (cmd == "post") {
        want = 2;
        what = "PATH JSON";
    } else {
        throw UsageError{"unknown command \"" + cmd + "\""};
    }
    size_t got = o.args.size() - 1;
    if (got > want)
        throw UsageError{"too many arguments for \"" + cmd + "\": unexpected \"" +
                         o.args[want + 1] + "\""};
    if (got < want) throw UsageError{"\"" + cmd + "\" needs " + what};
    if (cmd == "check" &&
        (o.args[1].empty() || o.args[1].find_first_of("/?# ") != std::string::npos))
        throw UsageError{"invalid module name \"" + o.args[1] + "\""};
    if ((cmd == "get" || cmd == "post") && o.args[1].empty())
        throw UsageError{"empty PATH for \"" + cmd + "\""};
    return o;
}

rp::http::Endpoint endpoint_of(const Options& o) {
    if (o.tcp) {
        auto ep = rp::http::Endpoint::tcp_from(*o.tcp);
        if (!ep) throw UsageError{"--tcp: " + ep.error()};
        return *ep;
    }
    if (o.socket) return rp::http::Endpoint::unix_from(*o.socket);
    const char* env = std::getenv("DD_SYSPROBE_SOCKET");
    return rp::http::Endpoint::unix_from(env != nullptr && *env != '\0' ? env : kDefaultSocket);
}

std::string with_pretty(std::string path, bool pretty) {
    if (!path.starts_with("/")) path.insert(0, "/");
    if (pretty)
        path += (path.find('?') == std::string::npos ? "?" : "&") + std::string("pretty_print=1");
    return path;
}

std::string url_of(std::string_view path) { return "http://sysprobe" + std::string(path); }

std::string_view trim_newline(std::string_view s) {
    if (s.ends_with('\n')) s.remove_suffix(1);
    if (s.ends_with('\r')) s.remove_suffix(1);
    return s;
}

// Writes the body to stdout, ending it with a newline if it has none. False on a write error.
bool print_body(std::string_view body) {
    if (!body.empty() && std::fwrite(body.data(), 1, body.size(), stdout) != body.size())
        return false;
    if (!body.empty() && body.back() != '\n') std::fputc('\n', stdout);
    return std::fflush(stdout) == 0;
}

using Result = std::expected<rp::http::ClientResponse, std::string>;

// Runs `attempt` once, or - with --wait - until `answered(result)` or the wait has passed.
template <typename Attempt, typename Answered>
Result first_request(const Options& o, Clock::time_point start, Attempt attempt,
                     Answered answered) {
    for (;;) {
        Result r = attempt();
        if (answered(r) || Clock::now() + kWaitRetryInterval > start + o.wait) return r;
        std::this_thread::sleep_for(kWaitRetryInterval);
    }
}

int finish_plain(const char* method, const std::string& path, const Result& r) {
    if (!r) {
        std::fprintf(stderr, "%s\n", r.error().c_str());
        return kExitError;
    }
    if (!print_body(r->body)) {
        std::perror("write stdout");
        return kExitError;
    }
    if (r->status < 200 || r->status > 299) {
        std::fprintf(stderr, "%s %s: status %d\n", method, url_of(path).c_str(), r->status);
        return kExitError;
    }
    return kExitOk;
}

int run_check(const Options& o, rp::http::Client& client, Clock::time_point start) {
    const std::string& module = o.args[1];

    // Start-up probe, as the Agent's startChecker does before its first real request.
    client.set_timeout(std::min(o.timeout, kProbeTimeoutCap));
    std::string probe_error;
    Result probe = first_request(
        o, start, [&] { return client.get("/debug/stats"); },
        [](const Result& r) { return r && r->status == 200; });
    if (!probe) {
        probe_error = probe.error();
    } else if (probe->status != 200) {
        probe_error = "non-ok status code: url " + url_of("/debug/stats") +
                      ", status_code: " + std::to_string(probe->status) +
                      ", response: " + std::string(trim_newline(probe->body));
    }
    if (!probe_error.empty()) {
        if (Clock::now() - start < o.grace) {
            std::fprintf(stderr, "system-probe not started yet: %s\n", probe_error.c_str());
            return kExitNotStarted;
        }
        std::fprintf(stderr, "%s\n", probe_error.c_str());
        return kExitError;
    }

    client.set_timeout(o.timeout);
    std::string path = with_pretty("/" + module + "/check", o.pretty);
    Result r = client.get(path);
    if (!r) {
        std::fprintf(stderr, "%s\n", r.error().c_str());
        return kExitError;
    }
    if (r->status != 200) {
        std::fprintf(stderr, "non-ok status code: url %s, status_code: %d, response: %.*s\n",
                     url_of(path).c_str(), r->status, int(trim_newline(r->body).size()),
                     trim_newline(r->body).data());
        return kExitError;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(r->body).get(doc); err != simdjson::SUCCESS) {
        std::fprintf(stderr, "decode response from %s: %s\n", url_of(path).c_str(),
                     simdjson::error_message(err));
        return kExitError;
    }
    if (!print_body(r->body)) {
        std::perror("write stdout");
        return kExitError;
    }
    return kExitOk;
}

int run(const Options& o) {
    const auto start = Clock::now();
    rp::http::Client client(endpoint_of(o), o.timeout);
    client.set_user_agent("ringprobectl/" RINGPROBE_VERSION);

    const std::string& cmd = o.args[0];
    if (cmd == "check") return run_check(o, client, start);

    auto answered = [](const Result& r) { return r.has_value(); };
    if (cmd == "post") {
        std::string body = o.args[2];
        if (body == "-") {
            body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
            if (std::cin.bad()) {
                std::perror("read stdin");
                return kExitError;
            }
        }
        std::string path = with_pretty(o.args[1], o.pretty);
        Result r = first_request(
            o, start, [&] { return client.post(path, body); }, answered);
        return finish_plain("POST", path, r);
    }
    std::string path = cmd == "stats"     ? "/debug/stats"
                       : cmd == "modules" ? "/debug/modules"
                                          : o.args[1];
    path = with_pretty(path, o.pretty);
    Result r = first_request(
        o, start, [&] { return client.get(path); }, answered);
    return finish_plain("GET", path, r);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        Options o = parse_args(argc, argv);
        return run(o);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "ringprobectl: %s\nRun 'ringprobectl --help' for usage.\n",
                     e.message.c_str());
        return kExitUsage;
    }
}
