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
#include "modules/systemd_notify.h"

#if RINGPROBE_WITH_BPF
#include <bpf/libbpf.h>
#endif

namespace rp::modules {
namespace {

#ifndef RINGPROBE_DEFAULT_CONFIG
#define RINGPROBE_DEFAULT_CONFIG "/etc/ringprobe/ringprobe.toml"
#endif
// Where the package installs the configuration (cmake/packaging.cmake: RINGPROBE_CONFIG_DIR).
constexpr const char* kDefaultConfig = RINGPROBE_DEFAULT_CONFIG;

void usage(FILE* out) {
    std::fprintf(
        out,
        "usage: ringprobe [--config FILE] [--check-config] [--version] [--help]\n"
        "\n"
        "  --config FILE    TOML configuration (default %s; when that file is\n"
        "                   missing, built-in defaults and DD_* environment are used)\n"
        "  --check-config   validate the configuration, print the effective values and\n"
        "                   the eBPF features of this kernel, exit 0 (valid) or 1\n"
        "  --version        print the version, git commit and compiled-in features\n"
        "\n"
        "Serves system-probe's HTTP API on system_probe_config.sysprobe_socket and, unless\n"
        "debug_port = 0, on <debug_host>:<debug_port> (127.0.0.1:3333 by default).\n"
        "SIGTERM/SIGINT stop gracefully; SIGHUP reloads the configuration (modules started,\n"
        "stopped or restarted as it changed, log level and HTTP limits applied; an invalid\n"
        "configuration is refused and the running one kept). Under systemd (Type=notify) it\n"
        "reports READY/RELOADING/STOPPING and answers WatchdogSec= from its loop.\n",
        kDefaultConfig);
}

#ifndef RINGPROBE_GIT_COMMIT
#define RINGPROBE_GIT_COMMIT "unknown"
#endif

void print_version() {
    std::printf("ringprobe %s\n", RINGPROBE_VERSION);
    std::printf("commit: %s\n", RINGPROBE_GIT_COMMIT);
    std::string features;
#if RINGPROBE_WITH_BPF
    features += "ebpf (libbpf " + std::to_string(libbpf_major_version()) + "." +
                std::to_string(libbpf_minor_version()) + ")";
#else
    features += "no-ebpf";
#endif
    features += ", io_uring";
    features +=
        ", prometheus-metrics (text 0.0.4, openmetrics 1.0), event-streams, "
        "systemd-notify (sd_notify protocol, watchdog), reload";
#if defined(__SANITIZE_ADDRESS__)
    features += ", asan+ubsan";
#endif
    std::printf("features: %s\n", features.c_str());
    std::string modules;
    for (const Factory& f : registry())
        modules += (modules.empty() ? "" : ", ") + std::string(f.name);
    std::printf("modules: %s\n", modules.c_str());
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
            print_version();
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
    w.key("self_cost");
    host.write_self_cost(w);
    w.end_object();
}

// Keys read once at start (listeners, privileges): a reload that changes them says so.
constexpr std::string_view kRestartKeys[] = {
    "system_probe_config.sysprobe_socket",
    "system_probe_config.sysprobe_socket_owner",
    "system_probe_config.sysprobe_socket_group",
    "system_probe_config.debug_port",
    "system_probe_config.debug_host",
    "ringprobe.drop_capabilities",
};

std::string restart_keys_changed(const conf::Config& a, const conf::Config& b) {
    std::string out;
    for (std::string_view k : kRestartKeys) {
        bool same = k == "system_probe_config.debug_port" ? a.get_int(k) == b.get_int(k)
                    : k == "ringprobe.drop_capabilities"  ? a.get_bool(k) == b.get_bool(k)
                                                          : a.get_string(k) == b.get_string(k);
        if (!same) out += (out.empty() ? "" : ", ") + std::string(k);
    }
    return out;
}

// One line for systemd's STATUS=: what runs and where.
std::string status_line(const Host& host, const std::string& listeners) {
    return std::to_string(host.running_count()) + " module(s) running, serving " + listeners;
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
    conf::Config cfg = std::move(*cfg_or);  // the configuration in effect (SIGHUP replaces it)
    if (auto lvl = log::parse_level(cfg.get_string("log_level"))) log::set_level(*lvl);
    for (const auto& w : warnings) LOG_WARN("config: %s", w.c_str());
    std::signal(SIGPIPE, SIG_IGN);

    const std::string socket_path = cfg.get_string("system_probe_config.sysprobe_socket");
    const int debug_port = static_cast<int>(cfg.get_int("system_probe_config.debug_port"));
    const std::string debug_host = cfg.get_string("system_probe_config.debug_host");

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
        if (host.needs_bpf()) {
            // Which BTF CO-RE uses, as /debug/ebpf_btf_loader_info says it.
            std::string info;
            host.write_btf_loader_info(info);
            std::printf("# BTF:\n");
            size_t at = 0;
            while (at < info.size()) {
                size_t nl = info.find('\n', at);
                if (nl == std::string::npos) nl = info.size();
                std::printf("#   %.*s\n", static_cast<int>(nl - at), info.data() + at);
                at = nl + 1;
            }
        }
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

    // The connection capacity the reactor was sized for (above): a reload may not go past it.
    const uint64_t max_conns_capacity = (ro.max_ops - 64) / 2;
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
    std::string listeners = "unix:" + socket_path;
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
        listeners += ", tcp:" + debug_host + ":" + std::to_string(debug_port);
    }

    // Modules created, listeners bound: keep only what run time needs (docs/HARDENING.md).
    if (cfg.get_bool("ringprobe.drop_capabilities")) {
        uint64_t kept = 0;
        const bool raw = cfg.get_bool("ping.enabled") || cfg.get_bool("traceroute.enabled");
        std::string e = drop_capabilities(
            runtime_capabilities(
                cfg.get_bool("ebpf_check.enabled") || cfg.get_bool("gpu_monitoring.enabled"), raw),
            &kept);
        if (!e.empty()) {
            LOG_ERROR("drop_capabilities: %s", e.c_str());
            host.close_all();
            unlink(socket_path.c_str());
            return 1;
        }
        LOG_INFO("capabilities dropped; effective set now 0x%llx",
                 static_cast<unsigned long long>(kept));
    }

    // SIGHUP: validate first; apply only a valid configuration (docs/CONFIG.md, "Reload").
    SystemdNotifier notifier;
    if (std::string e = notifier.open_from_environment(); !e.empty())
        LOG_WARN("systemd: %s; not notifying", e.c_str());
    auto reload = [&] {
        notifier.reloading("reloading the configuration");
        std::vector<std::string> w;
        auto fresh = conf::Config::load(lo, conf::environment_from_process(), &w);
        if (!fresh) {
            LOG_ERROR("SIGHUP: configuration not reloaded, still running on the previous one: %s",
                      fresh.error().c_str());
            notifier.notify("READY=1\nSTATUS=reload refused (invalid configuration); " +
                            status_line(host, listeners));
            return;
        }
        for (const auto& x : w) LOG_WARN("config: %s", x.c_str());
        if (auto lvl = log::parse_level(fresh->get_string("log_level"))) log::set_level(*lvl);
        http::ServerLimits limits = http_limits(*fresh);
        if (limits.max_connections > max_conns_capacity) {
            LOG_WARN(
                "SIGHUP: ringprobe.http.max_connections %zu is more than the %llu connections the "
                "loop was sized for at start; using %llu until a restart",
                limits.max_connections, static_cast<unsigned long long>(max_conns_capacity),
                static_cast<unsigned long long>(max_conns_capacity));
            limits.max_connections = static_cast<size_t>(max_conns_capacity);
        }
        server.set_limits(limits);
        if (std::string keys = restart_keys_changed(cfg, *fresh); !keys.empty())
            LOG_WARN("SIGHUP: %s changed: takes effect at the next restart", keys.c_str());
        Host::ReloadResult r = host.reload(*fresh);
        cfg = std::move(*fresh);
        LOG_INFO("SIGHUP: configuration reloaded: log_level %s, HTTP limits applied, %s",
                 cfg.get_string("log_level").c_str(), r.summary().c_str());
        notifier.notify("READY=1\nSTATUS=" + status_line(host, listeners) +
                        (r.failed.empty() ? "" : "; reload: some modules failed (/debug/stats)"));
    };

    bool stopping = false;
    loop::SignalWatch signals;
    std::string serr = signals.start(reactor, {SIGTERM, SIGINT, SIGHUP}, [&](int signo) {
        if (signo == SIGHUP) {
            if (!stopping) reload();
            return;
        }
        if (stopping) return;
        stopping = true;
        LOG_INFO("received %s, shutting down", strsignal(signo));
        notifier.notify("STOPPING=1\nSTATUS=shutting down");
        // Live event streams end properly now, so that they do not hold the shutdown up.
        host.end_streams();
        server.shutdown(static_cast<uint64_t>(cfg.get_int("ringprobe.shutdown_timeout_ms")),
                        [&reactor] { reactor.stop(); });
    });
    if (!serr.empty()) {
        LOG_ERROR("%s", serr.c_str());
        unlink(socket_path.c_str());
        return 1;
    }

    notifier.notify("READY=1\nSTATUS=" + status_line(host, listeners));
    notifier.start_watchdog(reactor);

    int rc = reactor.run();
    host.close_all();
    unlink(socket_path.c_str());
    LOG_INFO("stopped");
    return rc == 0 ? 0 : 1;
}

}  // namespace rp::modules
