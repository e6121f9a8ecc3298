// schema.cpp — the one table of every configuration key ringprobe knows: path, type, default,
// range and meaning. Keys follow system-probe's tree (system_probe_config.*, network_config.*,
// <module>.enabled); ringprobe's own tunables live under ringprobe.*. docs/CONFIG.md documents
// every key here (a test checks that it names each one).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>

#include "conf/config.h"
#include "conf/duration.h"
#include "loop/log.h"

namespace rp::conf {
namespace {

std::string_view check_log_level(const Value& v) {
    if (rp::log::parse_level(std::get<std::string>(v))) return {};
    return "is not a log level (trace, debug, info, warn, warning, error, critical, off)";
}

// The socket path must fit sockaddr_un.sun_path with its terminating NUL.
std::string_view check_socket_path(const Value& v) {
    const auto& s = std::get<std::string>(v);
    if (s.empty() || s.front() != '/') return "must be an absolute path";
    if (s.size() >= sizeof(sockaddr_un{}.sun_path)) return "must be shorter than 108 bytes";
    if (s.find('\0') != std::string::npos) return "must not contain a NUL byte";
    return {};
}

// The debug listener binds an address, it does not resolve names.
std::string_view check_ip_address(const Value& v) {
    const auto& s = std::get<std::string>(v);
    unsigned char buf[sizeof(in6_addr)];
    if (s.find('\0') == std::string::npos &&
        (inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1))
        return {};
    return "is not an IPv4 or IPv6 address";
}

// ebpf /check "Type": cilium's names (Agents since datadog-agent PR #35531, 2025-03) or the
// kernel's numbers (the ebpf.MapType / ebpf.ProgramType fields of older Agents).
std::string_view check_type_encoding(const Value& v) {
    const auto& s = std::get<std::string>(v);
    if (s == "name" || s == "number") return {};
    return "must be \"name\" or \"number\"";
}

std::string_view check_seccomp_mode(const Value& v) {
    const auto& s = std::get<std::string>(v);
    if (s == "auto" || s == "entry_marks" || s == "signals") return {};
    return "is not a seccomp_tracer mode (auto, entry_marks, signals)";
}

std::string_view check_duration(const Value& v) {
    if (parse_go_duration_ns(std::get<std::string>(v))) return {};
    return "is not a duration (a Go duration: \"1s\", \"500ms\", \"1m30s\")";
}

std::string_view check_positive_duration(const Value& v) {
    auto ns = parse_go_duration_ns(std::get<std::string>(v));
    if (ns && *ns >= 1'000'000) return {};
    return "is not a duration of at least 1ms (a Go duration: \"1s\", \"500ms\")";
}

std::string_view check_gpu_json_keys(const Value& v) {
    const auto& s = std::get<std::string>(v);
    if (s == "snake_case" || s == "go_field_names") return {};
    return "must be \"snake_case\" or \"go_field_names\"";
}

std::string_view check_gpu_library_opens(const Value& v) {
    const auto& s = std::get<std::string>(v);
    if (s == "tracepoints" || s == "scan") return {};
    return "must be \"tracepoints\" or \"scan\"";
}

std::string_view check_no_nul(const Value& v) {
    if (std::get<std::string>(v).find('\0') == std::string::npos) return {};
    return "must not contain a NUL byte";
}

using S = std::string;
using I = int64_t;
using L = StringList;
constexpr auto kBool = Type::boolean;
constexpr auto kInt = Type::integer;
constexpr auto kStr = Type::string;
constexpr auto kList = Type::string_list;

}  // namespace

// A function-local table: initialised on first use, so other static initialisers may call schema().
std::span<const KeySpec> schema() {
    // clang-format off
    static const KeySpec kSchema[] = {
        {.path = "log_level", .type = kStr, .default_value = S("info"),
         .help = "Minimum level logged: trace, debug, info, warn, error, critical or off.",
         .check = check_log_level},

        // --- system_probe_config: the daemon itself ---
        {.path = "system_probe_config.enabled", .type = kBool, .default_value = false,
         .help = "system-probe's master switch; accepted so that system-probe configs load."},
        {.path = "system_probe_config.sysprobe_socket", .type = kStr,
         .default_value = S("/run/ringprobe/sysprobe.sock"),
         .help = "Unix socket the HTTP API listens on (absolute path, shorter than 108 bytes).",
         .check = check_socket_path},
        {.path = "system_probe_config.sysprobe_socket_owner", .type = kStr, .default_value = S(""),
         .help = "User name or numeric uid that owns the socket; empty leaves it as created.",
         .check = check_no_nul},
        {.path = "system_probe_config.sysprobe_socket_group", .type = kStr, .default_value = S(""),
         .help = "Group name or numeric gid of the socket; empty leaves it as created.",
         .check = check_no_nul},
        {.path = "system_probe_config.debug_port", .type = kInt, .default_value = I{3333},
         .min = 0, .max = 65535,
         .help = "TCP port of the debug HTTP listener (same API as the socket); 0 turns it off."},
        {.path = "system_probe_config.debug_host", .type = kStr, .default_value = S("127.0.0.1"),
         .help = "IPv4 or IPv6 address the debug TCP listener binds.",
         .check = check_ip_address},
        {.path = "system_probe_config.max_conns_per_message", .type = kInt, .default_value = I{600},
         .min = 1, .max = INT64_MAX,
         .help = "Connections per message sent to the Agent; above 1000 it is clamped to 1000.",
         .soft_max = 1000},
        {.path = "system_probe_config.self_cost", .type = kBool, .default_value = false,
         .help = "Measure what each module costs the host: kernel BPF statistics on, and the "
                 "daemon's own CPU time attributed per module (/metrics, /debug/stats)."},
        {.path = "system_probe_config.btf_path", .type = kStr, .default_value = S(""),
         .help = "BTF file for CO-RE, tried before /sys/kernel/btf/vmlinux (for kernels without "
                 "BTF: a full or minimized BTF of this kernel); empty uses the kernel's own.",
         .check = check_no_nul},
        {.path = "system_probe_config.enable_oom_kill", .type = kBool, .default_value = false,
         .help = "Enables the oom_kill_probe module (OOM kills, from the kernel)."},
        {.path = "system_probe_config.enable_tcp_queue_length", .type = kBool,
         .default_value = false,
         .help = "Enables the tcp_queue_length_tracer module (TCP buffer usage per cgroup)."},
        {.path = "system_probe_config.process_config.enabled", .type = kBool,
         .default_value = false,
         .help = "Enables the process module (per-PID I/O and fd statistics from /proc)."},

        // --- modules enabled by their own namespace ---
        {.path = "network_config.enabled", .type = kBool, .default_value = false,
         .help = "Enables the network_tracer module (connections)."},
        {.path = "network_config.network_id", .type = kStr, .default_value = S(""),
         .help = "What GET /network_tracer/network_id answers (the VPC id); empty: 500, as "
                 "system-probe when it finds no cloud metadata.",
         .check = check_no_nul},
        {.path = "system_probe_config.max_tracked_connections", .type = kInt,
         .default_value = I{65536}, .min = 1, .max = 16777216,
         .help = "network_tracer: sockets tracked in the kernel, and connections one poll reports."},
        {.path = "system_probe_config.max_closed_connections_buffered", .type = kInt,
         .default_value = I{0}, .min = 0, .max = 16777216,
         .help = "network_tracer: closed connections kept per client between polls; 0: "
                 "max_tracked_connections."},
        {.path = "system_probe_config.max_connection_state_buffered", .type = kInt,
         .default_value = I{75000}, .min = 0, .max = 16777216,
         .help = "network_tracer: per-client baselines (upstream's client stats cap); beyond, "
                 "connections are reported with their whole counters."},
        {.path = "system_probe_config.enable_conntrack", .type = kBool, .default_value = true,
         .help = "network_tracer: NAT translations (ipTranslation) from conntrack over netlink."},
        {.path = "system_probe_config.enable_conntrack_all_namespaces", .type = kBool,
         .default_value = true,
         .help = "network_tracer: read the conntrack table of every network namespace found at "
                 "start, not only the daemon's."},
        {.path = "system_probe_config.conntrack_max_state_size", .type = kInt,
         .default_value = I{131072}, .min = 0, .max = 16777216,
         .help = "network_tracer: NAT tuples kept (two per conntrack entry); beyond, the least "
                 "recently used go (counted)."},
        {.path = "system_probe_config.conntrack_rate_limit", .type = kInt, .default_value = I{500},
         .min = -1, .max = 100000000,
         .help = "network_tracer: conntrack events per second read; above, events are sampled; "
                 "-1: no limit."},
        {.path = "network_config.conntrack_init_timeout", .type = kInt, .default_value = I{10},
         .min = 1, .max = 3600,
         .help = "network_tracer: seconds the initial conntrack dump may take; beyond, NAT "
                 "translation is degraded (stated in /debug/stats)."},
        // network_tracer's DNS statistics (upstream's keys and defaults).
        {.path = "system_probe_config.disable_dns_inspection", .type = kBool,
         .default_value = false,
         .help = "network_tracer: no DNS packet socket (no DNS stats, empty dns and domains)."},
        {.path = "system_probe_config.collect_dns_stats", .type = kBool, .default_value = true,
         .help = "network_tracer: DNS stats (responses, rcodes, latencies, timeouts) per "
                 "connection to port 53."},
        {.path = "system_probe_config.collect_dns_domains", .type = kBool, .default_value = true,
         .help = "network_tracer: DNS stats also by domain (dnsStatsByDomain*, Connections.domains)."},
        {.path = "system_probe_config.collect_local_dns", .type = kBool, .default_value = false,
         .help = "network_tracer: DNS stats also for servers on a loopback address."},
        {.path = "system_probe_config.max_dns_stats", .type = kInt, .default_value = I{20000},
         .min = 0, .max = 16777216,
         .help = "network_tracer: DNS stats entries (connection, domain, query type) gathered "
                 "between two polls; beyond, counted as dropped."},
        {.path = "system_probe_config.dns_timeout_in_s", .type = kInt, .default_value = I{15},
         .min = 1, .max = 3600,
         .help = "network_tracer: a DNS query without response after this long is a timeout."},
        {.path = "network_config.enable_dns_by_querytype", .type = kBool, .default_value = false,
         .help = "network_tracer: DNS stats by domain and query type (dnsStatsByDomainByQueryType) "
                 "instead of by domain."},
        {.path = "ringprobe.network_tracer.max_dns_stats_buffered", .type = kInt,
         .default_value = I{75000}, .min = 0, .max = 16777216,
         .help = "network_tracer: DNS stats entries kept per client between its polls "
                 "(upstream's MaxDNSStatsBuffered); beyond, counted as dropped."},
        {.path = "ebpf_check.enabled", .type = kBool, .default_value = false,
         .help = "Enables the ebpf module (every BPF program and map on the host)."},
        {.path = "ebpf_check.kernel_bpf_stats", .type = kBool, .default_value = false,
         .help = "Turns on kernel.bpf_stats_enabled so that BPF run time and count are reported."},
        {.path = "seccomp_tracer.enabled", .type = kBool, .default_value = false,
         .help = "Enables the seccomp_tracer module (seccomp denials)."},
        {.path = "seccomp_tracer.stack_traces_enabled", .type = kBool, .default_value = false,
         .help = "Adds user stack traces to seccomp denials."},
        {.path = "noisy_neighbor.enabled", .type = kBool, .default_value = false,
         .help = "Enables the noisy_neighbor module (run-queue latency and preemptions per "
                 "cgroup)."},
        {.path = "compliance_config.database_benchmarks.enabled", .type = kBool,
         .default_value = false,
         .help = "Enables the compliance module (GET /compliance/dbconfig: database configs)."},
        {.path = "compliance_config.enabled", .type = kBool, .default_value = false,
         .help = "The Agent's compliance switch; with run_in_system_probe it enables the "
                 "compliance module."},
        {.path = "compliance_config.run_in_system_probe", .type = kBool, .default_value = false,
         .help = "With compliance_config.enabled, enables the compliance module."},
        {.path = "runtime_security_config.enabled", .type = kBool, .default_value = false,
         .help = "CWS switch; accepted for the legacy compliance_module.enabled below (ringprobe "
                 "has no CWS)."},
        {.path = "runtime_security_config.compliance_module.enabled", .type = kBool,
         .default_value = false,
         .help = "Legacy: with runtime_security_config.enabled, enables the compliance module."},
        {.path = "system_probe_config.language_detection.enabled", .type = kBool,
         .default_value = false,
         .help = "Enables the language_detection module (GET /language_detection/detect: Go "
                 "binaries by their build info)."},
        {.path = "discovery.enabled", .type = kBool, .default_value = true,
         .help = "Enables the discovery module (services, ports, languages); on by default, as in "
                 "the Agent since 2026-03."},
        {.path = "discovery.ignored_command_names", .type = kList,
         .default_value = L{"chronyd", "cilium-agent", "containerd", "dhclient", "dockerd",
                            "kubelet", "livenessprobe", "local-volume-pr", "sshd", "systemd"},
         .help = "Command names (comm, 15 bytes at most) that discovery never reports as services."},
        {.path = "ping.enabled", .type = kBool, .default_value = false,
         .help = "Enables the ping module."},
        {.path = "traceroute.enabled", .type = kBool, .default_value = false,
         .help = "Enables the traceroute module."},
        {.path = "gpu_monitoring.enabled", .type = kBool, .default_value = false,
         .help = "Enables the gpu module."},
        {.path = "gpu_monitoring.nvml_lib_path", .type = kStr, .default_value = S(""),
         .help = "NVML library the gpu module dlopens; empty: libnvidia-ml.so.1 from the "
                 "dynamic loader's search path.",
         .check = check_no_nul},
        {.path = "gpu_monitoring.enable_ebpf_probes", .type = kBool, .default_value = true,
         .help = "Loads the gpu module's uprobes and tracepoints; false: /gpu/check answers 503."},
        {.path = "gpu_monitoring.initial_process_sync", .type = kBool, .default_value = true,
         .help = "At start, trace the CUDA processes already running (a scan of /proc)."},
        {.path = "gpu_monitoring.process_scan_interval_seconds", .type = kInt,
         .default_value = I{5}, .min = 0, .max = 86400,
         .help = "Every N s, rescan /proc for CUDA processes the tracepoints missed (0: never)."},
        {.path = "gpu_monitoring.ring_buffer_pages_per_device", .type = kInt,
         .default_value = I{32}, .min = 1, .max = 65536,
         .help = "Ring buffer pages per GPU (rounded up to a power of two, at least 64 in all)."},
        {.path = "gpu_monitoring.ringbuffer_wakeup_size", .type = kInt, .default_value = I{3000},
         .min = 0, .max = 1073741824,
         .help = "Bytes of CUDA records that wait in the ring buffer before the daemon is woken."},
        {.path = "gpu_monitoring.ringbuffer_flush_interval", .type = kStr,
         .default_value = S("1s"),
         .help = "How often CUDA records waiting in the ring buffer are read (Go duration).",
         .check = check_positive_duration},
        {.path = "gpu_monitoring.device_cache_refresh_interval", .type = kStr,
         .default_value = S("5s"),
         .help = "How often NVML is asked for the devices again, and loaded again while it is "
                 "missing (Go duration; 0 never).",
         .check = check_duration},
        {.path = "gpu_monitoring.attacher_detailed_logs", .type = kBool, .default_value = false,
         .help = "Logs every uprobe attach and detach of the gpu module at info level."},
        {.path = "gpu_monitoring.streams.max_active", .type = kInt, .default_value = I{100},
         .min = 1, .max = 1000000,
         .help = "CUDA streams tracked at once (all processes); more are refused and counted."},
        {.path = "gpu_monitoring.streams.timeout_seconds", .type = kInt, .default_value = I{30},
         .min = 1, .max = 86400,
         .help = "A stream with no CUDA call for this long drops its unsynchronised launches."},
        {.path = "gpu_monitoring.streams.max_kernel_launches", .type = kInt,
         .default_value = I{1000}, .min = 1, .max = 1000000,
         .help = "Launches waiting for a sync in one stream before one is forced."},
        {.path = "gpu_monitoring.streams.max_mem_alloc_events", .type = kInt,
         .default_value = I{1000}, .min = 1, .max = 1000000,
         .help = "Open allocations tracked per stream; beyond, the oldest is evicted."},
        {.path = "gpu_monitoring.streams.max_pending_kernel_spans", .type = kInt,
         .default_value = I{1000}, .min = 1, .max = 1000000,
         .help = "Finished kernel spans kept per stream between two /gpu/check calls."},
        {.path = "gpu_monitoring.streams.max_pending_memory_spans", .type = kInt,
         .default_value = I{1000}, .min = 1, .max = 1000000,
         .help = "Finished allocations kept per stream between two /gpu/check calls."},

        // --- ringprobe's own tunables ---
        {.path = "ringprobe.drop_capabilities", .type = kBool, .default_value = false,
         .help = "Once started (socket bound, probes loaded), drop capabilities no longer needed."},
        {.path = "ringprobe.shutdown_timeout_ms", .type = kInt, .default_value = I{5000},
         .min = 1, .max = 3600000,
         .help = "On SIGTERM/SIGINT, time open connections get to finish before they are closed."},
        {.path = "ringprobe.events.max_streams", .type = kInt, .default_value = I{8},
         .min = 1, .max = 1024,
         .help = "Clients of one module's GET /<module>/events at once; more get 429."},
        {.path = "ringprobe.events.queue_bytes", .type = kInt, .default_value = I{262144},
         .min = 4096, .max = 67108864,
         .help = "Unread event lines one stream may hold; a slower reader loses the rest, counted."},
        {.path = "ringprobe.http.max_header_bytes", .type = kInt, .default_value = I{8192},
         .min = 1024, .max = 1048576,
         .help = "Largest request head (request line and headers); larger gets 431."},
        {.path = "ringprobe.http.max_body_bytes", .type = kInt, .default_value = I{1048576},
         .min = 0, .max = 67108864,
         .help = "Largest request body; larger gets 413."},
        {.path = "ringprobe.http.max_connections", .type = kInt, .default_value = I{1024},
         .min = 1, .max = 1000000,
         .help = "Open HTTP connections at once (socket and debug port together)."},
        {.path = "ringprobe.http.header_timeout_ms", .type = kInt, .default_value = I{10000},
         .min = 1, .max = 3600000,
         .help = "Time allowed to receive a complete request head."},
        {.path = "ringprobe.http.idle_timeout_ms", .type = kInt, .default_value = I{60000},
         .min = 1, .max = 86400000,
         .help = "An idle keep-alive connection is closed after this long."},
        {.path = "ringprobe.http.write_timeout_ms", .type = kInt, .default_value = I{30000},
         .min = 1, .max = 3600000,
         .help = "Time allowed for the client to read a response."},
        {.path = "ringprobe.http.max_output_bytes", .type = kInt, .default_value = I{4194304},
         .min = 65536, .max = 1073741824,
         .help = "Largest response buffered for one connection."},
        {.path = "ringprobe.ebpf.type_encoding", .type = kStr, .default_value = S("name"),
         .help = "How /ebpf/check writes Type: \"name\" (Agents since 7.65) or \"number\" (older).",
         .check = check_type_encoding},
        {.path = "ringprobe.oom_kill.max_events", .type = kInt, .default_value = I{10240},
         .min = 1, .max = 1048576,
         .help = "OOM kill events kept between two /check calls; older ones are dropped."},
        {.path = "ringprobe.tcp_queue_length.max_cgroups", .type = kInt, .default_value = I{10240},
         .min = 1, .max = 1048576,
         .help = "Cgroups tracked by tcp_queue_length_tracer between two /check calls."},
        {.path = "ringprobe.noisy_neighbor.max_cgroups", .type = kInt, .default_value = I{4096},
         .min = 1, .max = 1048576,
         .help = "Cgroups tracked by noisy_neighbor between two /check calls."},
        {.path = "ringprobe.tcp_queue_length.max_sockets", .type = kInt, .default_value = I{8192},
         .min = 1, .max = 1048576,
         .help = "raw_tp mode only (no kernel BTF): sockets whose cgroup is remembered (LRU)."},
        {.path = "ringprobe.seccomp_tracer.max_entries", .type = kInt, .default_value = I{10240},
         .min = 1, .max = 1048576,
         .help = "(pid, syscall, action) entries kept by seccomp_tracer between two /check calls."},
        {.path = "ringprobe.seccomp_tracer.max_threads", .type = kInt, .default_value = I{8192},
         .min = 1, .max = 1048576,
         .help = "raw_tp mode only (no kernel BTF): threads whose per-call state is kept (LRU)."},
        {.path = "ringprobe.seccomp_tracer.mode", .type = kStr, .default_value = S("auto"),
         .help = "How seccomp_tracer finds denials: auto (replay the filters where the kernel "
                 "keeps them, else entry_marks), entry_marks (infer them at every call) or "
                 "signals (TRAP and KILL only, no per-call hook).",
         .check = check_seccomp_mode},

        {.path = "ringprobe.ping.max_in_flight", .type = kInt, .default_value = I{32},
         .min = 1, .max = 4096,
         .help = "Pings answered at once; more get 429 (each holds a raw socket while it runs)."},
        {.path = "ringprobe.traceroute.max_in_flight", .type = kInt, .default_value = I{8},
         .min = 1, .max = 1024,
         .help = "Traceroutes run at once; more get 429."},
        {.path = "ringprobe.gpu.max_processes", .type = kInt, .default_value = I{1024},
         .min = 1, .max = 65536,
         .help = "CUDA processes the gpu module traces at once; more are counted and ignored."},
        {.path = "ringprobe.gpu.max_files", .type = kInt, .default_value = I{64},
         .min = 1, .max = 4096,
         .help = "Files (CUDA runtimes, CUDA executables, libc) carrying the gpu uprobes."},
        {.path = "ringprobe.gpu.json_keys", .type = kStr, .default_value = S("snake_case"),
         .help = "/gpu/check keys: snake_case (json tags, the default) or go_field_names "
                 "(an untagged model.GPUStats).",
         .check = check_gpu_json_keys},
        {.path = "ringprobe.gpu.library_opens", .type = kStr, .default_value = S("tracepoints"),
         .help = "How the gpu module sees a runtime being loaded: tracepoints (openat: at once, "
                 "but every system call of the host takes the slow path) or scan (no syscall "
                 "hook: found by the periodic /proc scan or its first CUDA call).",
         .check = check_gpu_library_opens},
        {.path = "ringprobe.gpu.max_collect_events", .type = kInt, .default_value = I{100000},
         .min = 1, .max = 1000000,
         .help = "Largest count a /gpu/debug/collect-events request may ask for (larger is cut)."},
        {.path = "ringprobe.gpu.collect_events_timeout_ms", .type = kInt,
         .default_value = I{30000}, .min = 1, .max = 3600000,
         .help = "/gpu/debug/collect-events answers with what it has after this long."},
        {.path = "ringprobe.network_tracer.client_expiry_ms", .type = kInt,
         .default_value = I{120000}, .min = 1, .max = 86400000,
         .help = "network_tracer: a client that does not poll for this long is forgotten "
                 "(system-probe: 2 minutes, fixed)."},
        {.path = "ringprobe.network_tracer.max_clients", .type = kInt, .default_value = I{16},
         .min = 1, .max = 1024,
         .help = "network_tracer: clients (client_id) at once; the first 4 keep their baselines "
                 "in the kernel."},
        {.path = "ringprobe.network_tracer.conntrack_rescan_ms", .type = kInt,
         .default_value = I{10000}, .min = 100, .max = 86400000,
         .help = "How often network_tracer looks for new network namespaces to read conntrack "
                 "from (enable_conntrack_all_namespaces)."},
        {.path = "ringprobe.network_tracer.closed_ring_bytes", .type = kInt,
         .default_value = I{1048576}, .min = 4096, .max = 1073741824,
         .help = "network_tracer: ring buffer for closed connections (rounded up to a power of "
                 "two)."},
        {.path = "ringprobe.discovery.binary_cache_size", .type = kInt, .default_value = I{1000},
         .min = 1, .max = 1000000,
         .help = "Executables whose language discovery remembers (by device and inode)."},
        {.path = "ringprobe.discovery.bpf_iterator", .type = kBool, .default_value = true,
         .help = "Read every process's open files with one BPF iterator (eBPF builds, root) "
                 "instead of /proc/<pid>/fd; /proc is the fallback."},
        {.path = "ringprobe.discovery.bpf_iterator_adaptive", .type = kBool, .default_value = true,
         .help = "Choose per request between the BPF iterator and /proc by their measured costs "
                 "(false: the iterator for every request of bpf_iterator_min_pids pids)."},
        {.path = "ringprobe.discovery.bpf_iterator_min_pids", .type = kInt, .default_value = I{32},
         .min = 1, .max = 1000000,
         .help = "Requests with at least this many pids use the BPF iterator; smaller ones /proc."},

        {.path = "ringprobe.language_detection.max_pids", .type = kInt, .default_value = I{65536},
         .min = 1, .max = 1048576,
         .help = "language_detection: processes one request may name; a larger request is "
                 "answered 400."},
        {.path = "ringprobe.language_detection.binary_cache_size", .type = kInt,
         .default_value = I{1000}, .min = 1, .max = 1000000,
         .help = "language_detection: executables whose answer is remembered (by device and "
                 "inode; upstream: 1000)."},

        // --- module keys added by module work go here ---
    };
    // clang-format on
    return kSchema;
}

namespace {

// Variables that set a key besides (and before) the derived DD_<PATH>; system-probe binds these.
struct EnvAlias {
    std::string_view path;
    std::string_view name;
};
constexpr EnvAlias kEnvAliases[] = {
    {"log_level", "DD_LOG_LEVEL"},
    {"log_level", "LOG_LEVEL"},
    {"system_probe_config.enabled", "DD_SYSTEM_PROBE_ENABLED"},
    {"system_probe_config.sysprobe_socket", "DD_SYSPROBE_SOCKET"},
    {"system_probe_config.btf_path", "DD_SYSTEM_PROBE_BTF_PATH"},
    {"system_probe_config.process_config.enabled", "DD_SYSTEM_PROBE_PROCESS_ENABLED"},
    {"network_config.enabled", "DD_SYSTEM_PROBE_NETWORK_ENABLED"},
    {"system_probe_config.enable_conntrack_all_namespaces",
     "DD_SYSTEM_PROBE_ENABLE_CONNTRACK_ALL_NAMESPACES"},
    {"system_probe_config.disable_dns_inspection", "DD_DISABLE_DNS_INSPECTION"},
    {"system_probe_config.collect_dns_stats", "DD_COLLECT_DNS_STATS"},
    {"system_probe_config.collect_local_dns", "DD_COLLECT_LOCAL_DNS"},
    {"system_probe_config.collect_dns_domains", "DD_COLLECT_DNS_DOMAINS"},
};

}  // namespace

std::vector<std::string> env_names(std::string_view path) {
    std::vector<std::string> names;
    for (const auto& a : kEnvAliases)
        if (a.path == path) names.emplace_back(a.name);
    std::string derived = "DD_";
    for (char c : path) {
        if (c == '.') c = '_';
        derived += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    if (std::find(names.begin(), names.end(), derived) == names.end())
        names.push_back(std::move(derived));
    return names;
}

}  // namespace rp::conf
