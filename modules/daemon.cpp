// daemon.cpp — see daemon.h.
#include "modules/daemon.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "conf/config.h"
#include "http/listener.h"
#include "http/router.h"
#include "http/server.h"
#include "loop/heap.h"
#include "loop/log.h"
#include "loop/reactor.h"
#include "loop/signal_watch.h"
#include "modules/capabilities.h"
#include "modules/host.h"

namespace rp::modules {
namespace {

constexpr const char* kDefaultConfig = "/etc/ringprobe/ringprobe.toml";

void usage(FILE* out) {
    std::fprintf(
        out,
        "usage: ringprobe [--config FILE] [--check-config] [--version] [--help]\n"
        "\n"
        "  --config FILE    TOML configuration (default %s; when that file is\n"
        "                   missing, built-in defaults and DD_* environment are used)\n"
        "  --check-config   validate the configuration, print the effective values and\n"
        "                   the eBPF features of this kernel, exit 0 (valid) or 1\n"
        "  --version        print the version\n"
        "\n"
        "Serves system-probe's HTTP API on system_probe_config.sysprobe_socket and, unless\n"
        "debug_port = 0, on <debug_host>:<debug_port> (127.0.0.1:3333 by default).\n"
        "SIGTERM/SIGINT stop gracefully; SIGHUP re-reads log_level from the config.\n",
        kDefaultConfig);
}

struct Args {
    std::string config = kDefaultConfig;
    bool config_given = false;
    bool check = false;
};

// Returns -1 to continue, else an exit code.
int parse_args(int argc, char** argv, Args& a) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        } else if (arg == "--version") {
            std::printf("ringprobe %s\n", RINGPROBE_VERSION);
            return 0;
        } else if (arg == "--check-config") {
            a.check = true;
        } else if (arg == "--config" || arg == "-c") {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "ringprobe: --config needs a file name\n");
                return 2;
            }
            a.config = argv[++i];
            a.config_given = true;
        } else if (arg.starts_with("--config=")) {
            a.config = std::string(arg.substr(9));
            a.config_given = true;
        } else {
            std::fprintf(stderr, "ringprobe: unknown argument \"%s\" (see --help)\n", argv[i]);
            return 2;
        }
    }
    return -1;
}

constexpr http::MetricFamily kBuildInfo{"ringprobe_build_info", http::MetricKind::gauge,
                                        "Always 1; the labels name the daemon's version."};
constexpr http::MetricFamily kOpenConnections{"ringprobe_http_open_connections",
                                              http::MetricKind::gauge,
                                              "HTTP connections open now (socket and debug port)."};
constexpr http::MetricFamily kAccepted{"ringprobe_http_connections_accepted",
                                       http::MetricKind::counter, "HTTP connections accepted."};
constexpr http::MetricFamily kRejected{
    "ringprobe_http_connections_rejected", http::MetricKind::counter,
    "HTTP connections refused with 503 because max_connections were open."};
constexpr http::MetricFamily kAcceptErrors{"ringprobe_http_accept_errors",
                                           http::MetricKind::counter,
                                           "accept() failures (EMFILE and the like)."};
constexpr http::MetricFamily kClosed{
    "ringprobe_http_connections_closed", http::MetricKind::counter,
    "HTTP connections the daemon closed, by reason (idle, timeout, backpressure, error)."};

void write_runtime_metrics(http::MetricsWriter& w, const http::Server& server) {
    const http::ServerStats& s = server.stats();
    w.gauge(kBuildInfo, {{"version", RINGPROBE_VERSION}}, int64_t{1});
    w.gauge(kOpenConnections, {}, static_cast<int64_t>(s.active));
    w.counter(kAccepted, {}, s.accepted);
    w.counter(kRejected, {}, s.rejected_over_limit);
    w.counter(kAcceptErrors, {}, s.accept_errors);
    w.counter(kClosed, {{"reason", "idle"}}, s.closed_idle);
    w.counter(kClosed, {{"reason", "timeout"}}, s.closed_timeout);
    w.counter(kClosed, {{"reason", "backpressure"}}, s.closed_backpressure);
    w.counter(kClosed, {{"reason", "error"}}, s.closed_error);
    write_route_metrics(w, server.unmatched(), "(unmatched)");
}

void write_runtime_stats(http::JsonWriter& w, const http::Server& server, const loop::Reactor& r,
                         const Host& host) {
    const http::ServerStats& s = server.stats();
    auto c = r.counters();
    w.start_object();
    w.kv("version", RINGPROBE_VERSION);
    static const pid_t pid = getpid();  // a syscall every time otherwise (glibc does not cache it)
    w.kv_int("pid", pid);
    w.key("http");
    w.start_object();
    w.kv_uint("active_connections", s.active);
    w.kv_uint("accepted", s.accepted);
    w.kv_uint("rejected_over_limit", s.rejected_over_limit);
    w.kv_uint("accept_errors", s.accept_errors);
    w.kv_uint("requests", s.requests);
    w.kv_uint("responses_2xx", s.responses_2xx);
    w.kv_uint("responses_4xx", s.responses_4xx);
    w.kv_uint("responses_5xx", s.responses_5xx);
    w.kv_uint("closed_idle", s.closed_idle);
    w.kv_uint("closed_timeout", s.closed_timeout);
    w.kv_uint("closed_backpressure", s.closed_backpressure);
    w.kv_uint("closed_error", s.closed_error);
    w.kv_uint("pooled_connections", s.pooled);
    w.kv_uint("idle_connection_buffer_bytes", s.idle_buffer_bytes);
    w.end_object();
    w.key("reactor");
    w.start_object();
    w.kv_uint("loop_turns", c.loop_turns);
    w.kv_uint("completions", c.completions);
    w.kv_uint("ops_in_flight", c.ops_in_flight);
    w.kv_uint("timers_armed", c.timers_armed);
    w.kv_uint("submit_failures", c.submit_failures);
    w.kv_bool("single_issuer", c.single_issuer);
    w.end_object();
    w.key("bpf_features");
    host.write_bpf_features(w);
    w.end_object();
}

// Refuses early (before any module loads) a socket path that is not a socket.
std::string precheck_socket_path(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
        return "refusing to start: " + path + " exists and is not a socket";
    return {};
}

}  // namespace

int daemon_main(int argc, char** argv, std::span<const Factory> factories) {
    Args args;
    if (int rc = parse_args(argc, argv, args); rc >= 0) return rc;

    conf::LoadOptions lo;
    lo.path = args.config;
    lo.file_must_exist = args.config_given;
    std::vector<std::string> warnings;
    auto cfg_or = conf::Config::load(lo, conf::environment_from_process(), &warnings);
    if (!cfg_or) {
        std::fprintf(stderr, "ringprobe: invalid configuration: %s\n", cfg_or.error().c_str());
        return 1;
    }
    const conf::Config& cfg = *cfg_or;
    if (auto lvl = log::parse_level(cfg.get_string("log_level"))) log::set_level(*lvl);
    for (const auto& w : warnings) LOG_WARN("config: %s", w.c_str());
    std::signal(SIGPIPE, SIG_IGN);

    const std::string socket_path = cfg.get_string("system_probe_config.sysprobe_socket");
    const int debug_port = static_cast<int>(cfg.get_int("system_probe_config.debug_port"));
    const std::string debug_host = cfg.get_string("system_probe_config.debug_host");
    const auto shutdown_timeout_ms =
        static_cast<uint64_t>(cfg.get_int("ringprobe.shutdown_timeout_ms"));

    // Each connection holds up to two reactor ops (recv, send): size the op slots so that
    // max_connections is what limits connections (the default 8192 slots would refuse
    // connections past ~8000 with "no reactor slot", whatever max_connections says).
    loop::ReactorOptions ro;
    const auto max_conns = static_cast<uint64_t>(cfg.get_int("ringprobe.http.max_connections"));
    ro.max_ops = static_cast<unsigned>(std::max<uint64_t>(ro.max_ops, 2 * max_conns + 64));
    auto reactor_or = loop::Reactor::create(ro);
    if (!reactor_or) {
        std::fprintf(stderr, "ringprobe: %s\n", reactor_or.error().c_str());
        return 1;
    }
    loop::Reactor& reactor = **reactor_or;
    http::Router router;
    Host host(reactor, cfg, router, factories);
    host.register_global_routes();

    if (args.check) {
        std::fputs(cfg.dump().c_str(), stdout);
        // What this kernel offers the eBPF modules (the runtime is set up only if one is enabled).
        host.prepare_bpf();
        http::Buffer buf;
        http::JsonWriter w(buf, true);
        host.write_bpf_features(w);
        std::printf("\n# eBPF features (only probed when an enabled module needs eBPF):\n# %s\n",
                    std::string(buf.view()).c_str());
        std::printf("# configuration is valid\n");
        return 0;
    }

    if (std::string e = precheck_socket_path(socket_path); !e.empty()) {
        LOG_ERROR("%s", e.c_str());
        return 1;
    }
    if (debug_port != 0 && !http::is_loopback_host(debug_host))
        LOG_WARN(
            "debug listener bound to non-loopback address %s: anyone who can reach it can read "
            "every module's data",
            debug_host.c_str());

    std::expected<void, std::string> started;
    {
        // Every BPF object's load parses the kernel BTF into fresh buffers: serve them from a
        // pre-faulted huge-page heap, returned to the kernel when start() is done (loop/heap.h).
        std::optional<loop::BulkHeap> heap;
        if (host.needs_bpf()) heap.emplace(size_t{16} << 20);
        started = host.start();
        if (heap)
            LOG_DEBUG("start-up heap: 16 MiB %s in %.1f ms",
                      heap->huge() ? "on huge pages" : "(no THP)", heap->prepare_ms());
    }
    if (!started) {
        LOG_ERROR("%s", started.error().c_str());
        return 1;
    }

    http::Server server(reactor, router, http_limits(cfg));
    host.set_extra_stats(
        [&](http::JsonWriter& w) { write_runtime_stats(w, server, reactor, host); });
    host.set_extra_metrics([&](http::MetricsWriter& w) { write_runtime_metrics(w, server); });

    // Listen last: from the moment the socket exists, /debug/stats answers at once.
    http::UnixListenOptions uo;
    uo.path = socket_path;
    uo.owner = cfg.get_string("system_probe_config.sysprobe_socket_owner");
    uo.group = cfg.get_string("system_probe_config.sysprobe_socket_group");
    auto ufd = http::listen_unix(uo);
    if (!ufd) {
        LOG_ERROR("%s", ufd.error().c_str());
        host.close_all();
        return 1;
    }
    if (auto r = server.add_listener(*ufd, "unix:" + socket_path); !r) {
        LOG_ERROR("%s", r.error().c_str());
        unlink(socket_path.c_str());
        return 1;
    }
    LOG_INFO("listening on unix:%s", socket_path.c_str());
    if (debug_port != 0) {
        auto tfd = http::listen_tcp(debug_host, debug_port);
        if (!tfd) {
            LOG_ERROR("%s", tfd.error().c_str());
            unlink(socket_path.c_str());
            host.close_all();
            return 1;
        }
        if (auto r =
                server.add_listener(*tfd, "tcp:" + debug_host + ":" + std::to_string(debug_port));
            !r) {
            LOG_ERROR("%s", r.error().c_str());
            unlink(socket_path.c_str());
            return 1;
        }
        LOG_INFO("listening on tcp:%s:%d", debug_host.c_str(), debug_port);
    }

    // Modules created, listeners bound: keep only what run time needs (docs/HARDENING.md).
    if (cfg.get_bool("ringprobe.drop_capabilities")) {
        uint64_t kept = 0;
        std::string e =
            drop_capabilities(runtime_capabilities(cfg.get_bool("ebpf_check.enabled")), &kept);
        if (!e.empty()) {
            LOG_ERROR("drop_capabilities: %s", e.c_str());
            host.close_all();
            unlink(socket_path.c_str());
            return 1;
        }
        LOG_INFO("capabilities dropped; effective set now 0x%llx",
                 static_cast<unsigned long long>(kept));
    }

    bool stopping = false;
    loop::SignalWatch signals;
    std::string serr = signals.start(reactor, {SIGTERM, SIGINT, SIGHUP}, [&](int signo) {
        if (signo == SIGHUP) {
            std::vector<std::string> w;
            auto fresh = conf::Config::load(lo, conf::environment_from_process(), &w);
            if (!fresh) {
                LOG_ERROR("SIGHUP: configuration not reloaded: %s", fresh.error().c_str());
                return;
            }
            if (auto lvl = log::parse_level(fresh->get_string("log_level"))) log::set_level(*lvl);
            LOG_INFO("SIGHUP: log_level is now %s (other changes need a restart)",
                     fresh->get_string("log_level").c_str());
            return;
        }
        if (stopping) return;
        stopping = true;
        LOG_INFO("received %s, shutting down", strsignal(signo));
        server.shutdown(shutdown_timeout_ms, [&reactor] { reactor.stop(); });
    });
    if (!serr.empty()) {
        LOG_ERROR("%s", serr.c_str());
        unlink(socket_path.c_str());
        return 1;
    }

    int rc = reactor.run();
    host.close_all();
    unlink(socket_path.c_str());
    LOG_INFO("stopped");
    return rc == 0 ? 0 : 1;
}

}  // namespace rp::modules
