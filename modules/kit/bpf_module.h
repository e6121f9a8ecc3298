// bpf_module.h — BpfModule: what every eBPF module shares (the module kit).
//
//   - runtime(deps, {features}): the eBPF runtime, or the error naming the first feature this
//     kernel lacks ("kernel has no BTF (/sys/kernel/btf/vmlinux missing)").
//   - /check registered for every method, as system-probe does, answered by the module's
//     check(); the kit keeps last_check (unix seconds of the latest /check, 0 if never).
//   - /debug/stats: {"last_check"; for a module with a loaded probe (track()) "hooks" (programs
//     attached, as section names), "missing_hooks" ({"<hook>": "<why>"}: hooks this kernel
//     lacks), "load_ms", "attach_ms"; then the module's own fields (write_extra_stats())}.
//   - /metrics: ringprobe_module_bpf_map_bytes{module} (the probe's maps, the kernel's figure),
//     ringprobe_module_ring_events_total / ringprobe_module_ring_lost_events_total{module} (the
//     ring buffers given to track_ring()), then the module's own families
//     (write_extra_metrics()).
//
// A module derives from it, creates its skeleton (bpf/runtime/skeleton.h), calls track() on it,
// and gives the kernel BTF names it asks the runtime about in its Factory's btf_names
// (bpf::Runtime::btf_has, has_tracepoint). modules/oom_kill/oom_kill_module.cpp is the shortest.
//
// Needs: a RINGPROBE_WITH_BPF build.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include "bpf/runtime/ring_buffer.h"
#include "bpf/runtime/runtime.h"
#include "bpf/runtime/skeleton.h"
#include "modules/module.h"

namespace rp::modules::kit {

class BpfModule : public Module {
  public:
    std::expected<void, std::string> register_routes(http::Router& router) final;
    void write_stats(http::JsonWriter& w) const final;
    void write_metrics(http::MetricsWriter& w) const final;

    std::string_view name() const { return name_; }
    int64_t last_check_s() const { return last_check_s_; }

  protected:
    // `name` is the module's (Factory) name, used in log lines.
    explicit BpfModule(std::string_view name) : name_(name) {}

    // deps.bpf, when the runtime has every feature of `needs`; else the error.
    static std::expected<bpf::Runtime*, std::string> runtime(
        Dependencies& deps, std::initializer_list<bpf::FeatureId> needs);

    // Answers /check (any method). last_check is already set to now.
    virtual void check(http::Response& res) = 0;
    // The module's own stats fields, written inside the stats object after the common ones.
    virtual void write_extra_stats(http::JsonWriter& w) const {}
    // The module's own metric families, after the common ones.
    virtual void write_extra_metrics(http::MetricsWriter& w) const {}

    // Shows this probe's attached hooks and timings in the stats (the skeleton must outlive the
    // module's stats: keep it as a member).
    void track(const bpf::SkeletonCore& probe) { probe_ = &probe; }
    const bpf::SkeletonCore* probe() const { return probe_; }
    // Counts this ring buffer's events and losses in /metrics (it must outlive the module's
    // metrics, or be untracked with track_ring(nullptr) first).
    void track_ring(const bpf::RingBuffer* ring) { ring_ = ring; }

    // Hooks this kernel lacks, with the reason (shown in "missing_hooks", logged by
    // log_attached()).
    void add_missing_hook(std::string_view hook, std::string why);
    bool hook_missing(std::string_view hook) const { return missing_hooks_.contains(hook); }
    void clear_missing_hooks() { missing_hooks_.clear(); }
    const std::map<std::string, std::string, std::less<>>& missing_hooks() const {
        return missing_hooks_;
    }
    // "tp_btf/a, tp_btf/b": the tracked probe's attached hooks.
    std::string attached_hooks() const;
    // Logs "<module>: attached <hooks> (<details>, load N ms, attach N ms)" and each missing hook.
    void log_attached(std::string_view details = {}) const;

  private:
    std::string_view name_;
    const bpf::SkeletonCore* probe_ = nullptr;
    const bpf::RingBuffer* ring_ = nullptr;
    std::map<std::string, std::string, std::less<>> missing_hooks_;
    int64_t last_check_s_ = 0;
};

}  // namespace rp::modules::kit
