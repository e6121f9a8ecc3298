// registry.cpp — the one list of module factories, in system-probe's start-up order (ebpf,
// network_tracer, tcp_queue_length_tracer, oom_kill_probe, event_monitor, process, ...). eBPF
// modules exist only in RINGPROBE_WITH_BPF builds (system-probe's linux_bpf build tag).
#include "modules/factories.h"

namespace rp::modules {
namespace {

constexpr std::string_view kSystemProbeNs[] = {"system_probe_config"};
constexpr std::string_view kDiscoveryNs[] = {"discovery"};
#if RINGPROBE_WITH_BPF
constexpr std::string_view kEbpfNs[] = {"ebpf_check"};
constexpr std::string_view kSeccompNs[] = {"seccomp_tracer"};
#endif

const Factory kFactories[] = {
#if RINGPROBE_WITH_BPF
    {"seccomp_tracer", kSeccompNs, "seccomp_tracer.enabled", create_seccomp_tracer, true},
    {"ebpf", kEbpfNs, "ebpf_check.enabled", create_ebpf_check, true},
    {"tcp_queue_length_tracer", kSystemProbeNs, "system_probe_config.enable_tcp_queue_length",
     create_tcp_queue_length, true},
    {"oom_kill_probe", kSystemProbeNs, "system_probe_config.enable_oom_kill", create_oom_kill, true},
#endif
    {"process", kSystemProbeNs, "system_probe_config.process_config.enabled", create_process, false},
    {"discovery", kDiscoveryNs, "discovery.enabled", create_discovery, false},
};

}  // namespace

std::span<const Factory> registry() { return kFactories; }

}  // namespace rp::modules
