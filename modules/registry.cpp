// registry.cpp — the one list of modules, in system-probe's start-up order (ebpf, network_tracer,
// tcp_queue_length_tracer, oom_kill_probe, event_monitor, process, ...; modules outside that list
// first).
//
// One line per module: RP_MODULE(<folder>) for a module of every build, RP_BPF_MODULE(<folder>)
// for an eBPF module, which exists only in RINGPROBE_WITH_BPF builds (system-probe's linux_bpf
// build tag). modules/<folder>/ defines `const Factory <folder>_factory` (name, config namespaces,
// enable key, create, needs_ebpf, BTF names); modules/CMakeLists.txt reads these lines to compile
// modules/<folder>/*.cpp, so this list is also the build's.
#include "modules/module.h"

#define RP_MODULES(RP_MODULE, RP_BPF_MODULE) \
    RP_BPF_MODULE(seccomp_tracer)            \
    RP_BPF_MODULE(noisy_neighbor)            \
    RP_BPF_MODULE(ebpf)                      \
    RP_BPF_MODULE(network_tracer)            \
    RP_BPF_MODULE(tcp_queue_length)          \
    RP_BPF_MODULE(oom_kill)                  \
    RP_MODULE(process)                       \
    RP_MODULE(language_detection)            \
    RP_MODULE(compliance)                    \
    RP_MODULE(ping)                          \
    RP_MODULE(traceroute)                    \
    RP_BPF_MODULE(gpu)                       \
    RP_MODULE(discovery)

#define RP_DECLARE(folder) extern const Factory folder##_factory;
#define RP_ENTRY(folder) folder##_factory,
#if RINGPROBE_WITH_BPF
#define RP_DECLARE_BPF(folder) RP_DECLARE(folder)
#define RP_ENTRY_BPF(folder) RP_ENTRY(folder)
#else
#define RP_DECLARE_BPF(folder)
#define RP_ENTRY_BPF(folder)
#endif

namespace rp::modules {

RP_MODULES(RP_DECLARE, RP_DECLARE_BPF)

std::span<const Factory> registry() {
    // A function-local copy: built at the first call, after every module's constant-initialised
    // factory exists.
    static const Factory kFactories[] = {RP_MODULES(RP_ENTRY, RP_ENTRY_BPF)};
    return kFactories;
}

const Factory* find_factory(std::string_view name) {
    for (const Factory& f : registry())
        if (f.name == name) return &f;
    return nullptr;
}

}  // namespace rp::modules
