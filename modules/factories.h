// factories.h — the create functions of every module, one per folder under modules/. Only
// registry.cpp lists them; each module's .cpp defines its own.
#pragma once

#include "modules/module.h"

namespace rp::modules {

using CreateResult = std::expected<std::unique_ptr<Module>, std::string>;

CreateResult create_process(const conf::Config& cfg, Dependencies& deps);
CreateResult create_discovery(const conf::Config& cfg, Dependencies& deps);
#if RINGPROBE_WITH_BPF
CreateResult create_ebpf_check(const conf::Config& cfg, Dependencies& deps);
CreateResult create_tcp_queue_length(const conf::Config& cfg, Dependencies& deps);
CreateResult create_oom_kill(const conf::Config& cfg, Dependencies& deps);
CreateResult create_seccomp_tracer(const conf::Config& cfg, Dependencies& deps);
#endif

}  // namespace rp::modules
