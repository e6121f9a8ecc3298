// schema.cpp — the one table of every configuration key ringprobe knows: path, type, default,
// range and meaning. Keys follow system-probe's tree (system_probe_config.*, network_config.*,
// <module>.enabled); ringprobe's own tunables live under ringprobe.*. docs/CONFIG.md documents
// every key here (a test checks that it names each one).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>

#include "conf/config.h"
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
    if (s == "auto" || s == "entry_marks") return {};
    return "is not a seccomp_tracer mode (auto, entry_marks)";
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
        {.path = "ebpf_check.enabled", .type = kBool, .default_value = false,
         .help = "Enables the ebpf module (every BPF program and map on the host)."},
        {.path = "ebpf_check.kernel_bpf_stats", .type = kBool, .default_value = false,
         .help = "Turns on kernel.bpf_stats_enabled so that BPF run time and count are reported."},
        {.path = "seccomp_tracer.enabled", .type = kBool, .default_value = false,
         .help = "Enables the seccomp_tracer module (seccomp denials)."},
        {.path = "seccomp_tracer.stack_traces_enabled", .type = kBool, .default_value = false,
         .help = "Adds user stack traces to seccomp denials."},
        {.path = "noisy_neighbor.enabled", .type = kBool, .default_value = false,
         .help = "Enables the noisy_neighbor module."},
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

        // --- ringprobe's own tunables ---
        {.path = "ringprobe.drop_capabilities", .type = kBool, .default_value = false,
         .help = "Once started (socket bound, probes loaded), drop capabilities no longer needed."},
        {.path = "ringprobe.shutdown_timeout_ms", .type = kInt, .default_value = I{5000},
         .min = 1, .max = 3600000,
         .help = "On SIGTERM/SIGINT, time open connections get to finish before they are closed."},
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
        {.path = "ringprobe.seccomp_tracer.max_entries", .type = kInt, .default_value = I{10240},
         .min = 1, .max = 1048576,
         .help = "(pid, syscall, action) entries kept by seccomp_tracer between two /check calls."},
        {.path = "ringprobe.seccomp_tracer.mode", .type = kStr, .default_value = S("auto"),
         .help = "How seccomp_tracer finds denials: auto (replay the filters where the kernel "
                 "keeps them, else entry_marks) or entry_marks (infer them at every call).",
         .check = check_seccomp_mode},

        {.path = "ringprobe.discovery.binary_cache_size", .type = kInt, .default_value = I{1000},
         .min = 1, .max = 1000000,
         .help = "Executables whose language discovery remembers (by device and inode)."},
        {.path = "ringprobe.discovery.bpf_iterator", .type = kBool, .default_value = true,
         .help = "Read every process's open files with one BPF iterator (eBPF builds, root) "
                 "instead of /proc/<pid>/fd; /proc is the fallback."},
        {.path = "ringprobe.discovery.bpf_iterator_min_pids", .type = kInt, .default_value = I{32},
         .min = 1, .max = 1000000,
         .help = "Requests with at least this many pids use the BPF iterator; smaller ones /proc."},

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
    {"system_probe_config.process_config.enabled", "DD_SYSTEM_PROBE_PROCESS_ENABLED"},
    {"network_config.enabled", "DD_SYSTEM_PROBE_NETWORK_ENABLED"},
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
