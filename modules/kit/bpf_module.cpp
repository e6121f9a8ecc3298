// bpf_module.cpp — see bpf_module.h.
#include "modules/kit/bpf_module.h"

#include "loop/log.h"

namespace rp::modules::kit {

std::expected<bpf::Runtime*, std::string> BpfModule::runtime(
    Dependencies& deps, std::initializer_list<bpf::FeatureId> needs) {
    if (deps.bpf == nullptr) return std::unexpected("eBPF runtime not set up");
    if (auto r = deps.bpf->require(needs); !r) return std::unexpected(r.error());
    return deps.bpf;
}

std::expected<void, std::string> BpfModule::register_routes(http::Router& router) {
    // system-probe registers /check for every method.
    router.handle("", "/check", [this](const http::Request&, http::Response& res) {
        last_check_s_ = loop::Reactor::unix_now_s();
        check(res);
    });
    return {};
}

void BpfModule::write_stats(http::JsonWriter& w) const {
    w.start_object();
    w.kv_int("last_check", last_check_s_);
    if (probe_ != nullptr) {
        w.key("hooks");
        w.start_array();
        for (const auto& h : probe_->attached()) w.string(h);
        w.end_array();
        w.key("missing_hooks");
        w.start_object();
        for (const auto& [hook, why] : missing_hooks_) w.kv(hook, why);
        w.end_object();
        w.kv_number("load_ms", probe_->timings.load_ms);
        w.kv_number("attach_ms", probe_->timings.attach_ms);
    }
    write_extra_stats(w);
    w.end_object();
}

namespace {
constexpr http::MetricFamily kMapBytes{"ringprobe_module_bpf_map_bytes", http::MetricKind::gauge,
                                       "Kernel memory of the module's BPF maps (fdinfo memlock).",
                                       "bytes"};
constexpr http::MetricFamily kRingEvents{"ringprobe_module_ring_events", http::MetricKind::counter,
                                         "Records read from the module's BPF ring buffer."};
constexpr http::MetricFamily kRingLost{
    "ringprobe_module_ring_lost_events", http::MetricKind::counter,
    "Records the module's BPF programs could not put into its ring buffer (it was full)."};
}  // namespace

void BpfModule::write_metrics(http::MetricsWriter& w) const {
    if (probe_ != nullptr)
        w.gauge(kMapBytes, {{"module", name_}}, static_cast<double>(probe_->map_bytes()));
    if (ring_ != nullptr) {
        w.counter(kRingEvents, {{"module", name_}}, ring_->consumed());
        w.counter(kRingLost, {{"module", name_}}, ring_->lost());
    }
    write_extra_metrics(w);
}

void BpfModule::add_missing_hook(std::string_view hook, std::string why) {
    missing_hooks_.insert_or_assign(std::string(hook), std::move(why));
}

std::string BpfModule::attached_hooks() const {
    std::string hooks;
    if (probe_ == nullptr) return hooks;
    for (const auto& h : probe_->attached()) hooks += (hooks.empty() ? "" : ", ") + h;
    return hooks;
}

void BpfModule::log_attached(std::string_view details) const {
    double load_ms = probe_ != nullptr ? probe_->timings.load_ms : 0;
    double attach_ms = probe_ != nullptr ? probe_->timings.attach_ms : 0;
    LOG_INFO("%.*s: attached %s (%.*s%sload %.1f ms, attach %.1f ms)",
             static_cast<int>(name_.size()), name_.data(), attached_hooks().c_str(),
             static_cast<int>(details.size()), details.data(), details.empty() ? "" : ", ", load_ms,
             attach_ms);
    for (const auto& [hook, why] : missing_hooks_)
        LOG_INFO("%.*s: tracepoint %s %s", static_cast<int>(name_.size()), name_.data(),
                 hook.c_str(), why.c_str());
}

}  // namespace rp::modules::kit
