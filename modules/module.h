// module.h — the module contract (the C++ shape of system-probe's module.Factory / module.Module).
//
// A Factory builds a Module from the config; a Module registers its routes on its own sub-router
// (served at /<name>/ and /modules/<name>/), writes its stats for /debug/stats, and releases every
// kernel object in close() (also run by the destructor; calling it twice is harmless).
#pragma once

#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "http/json_writer.h"
#include "http/metrics.h"
#include "http/router.h"
#include "loop/reactor.h"

namespace rp::bpf {
class Runtime;
}

namespace rp::modules {

// What a module may use besides the config. `bpf` is set when some enabled module needs eBPF and
// the runtime was set up; an eBPF module whose needs the runtime lacks fails with that reason.
struct Dependencies {
    loop::Reactor& reactor;
    bpf::Runtime* bpf = nullptr;
};

class Module {
  public:
    virtual ~Module() = default;
    // Registers the module's routes on its sub-router (patterns relative: "/check").
    virtual std::expected<void, std::string> register_routes(http::Router& router) = 0;
    // Writes exactly one JSON value (an object, or null when the module has no stats).
    virtual void write_stats(http::JsonWriter& w) const = 0;
    // Writes the module's Prometheus metrics for /metrics (http/metrics.h: families named after
    // the Agent's checks where they exist, base units, counters ending in _total). Reading them
    // never flushes what /check returns. The Host adds ringprobe_module_up and load time itself.
    virtual void write_metrics(http::MetricsWriter& w) const {}
    virtual void close() = 0;
};

using CreateResult = std::expected<std::unique_ptr<Module>, std::string>;
using CreateFn = CreateResult (*)(const conf::Config& cfg, Dependencies& deps);

struct Factory {
    std::string_view name;
    std::span<const std::string_view> config_namespaces;
    std::string_view enable_key;  // boolean config key that enables the module
    CreateFn create;
    bool needs_ebpf;
    // Kernel BTF names the module asks the runtime about (bpf::Runtime::btf_has, and the
    // btf_trace_<name> typedefs of has_tracepoint without tracefs). The runtime indexes those of
    // every enabled module in its one scan of the kernel BTF at set-up.
    std::span<const std::string_view> btf_names = {};
};

// Every factory this build has, in system-probe's start-up order (modules/registry.cpp).
std::span<const Factory> registry();
// The factory of that name in registry(), or nullptr.
const Factory* find_factory(std::string_view name);

}  // namespace rp::modules
