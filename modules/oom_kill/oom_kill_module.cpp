// oom_kill_module.cpp — oom_kill_probe: the kernel's OOM kills, served as system-probe's
// GET /oom_kill_probe/check (an array of OOMKillStats since the previous check, or null).
//
// Kernel side: bpf/oom_kill.bpf.c, hooked on tp_btf/mark_victim (plus two reclaim tracepoints that
// tell a memcg OOM from a global one); kprobe/oom_kill_process only when tp_btf is unusable and
// the runtime found kprobes. Records arrive through a ring buffer watched by the reactor and are
// turned into payload entries at once (modules/oom_kill/oom_report.h), kept in a bounded list
// (ringprobe.oom_kill.max_events; overflow counted as "dropped") and flushed by /check. Each kill
// is also counted for /metrics (ringprobe_oom_kill_oom_process_total{trigger_type, cgroup}, the
// Agent's oom_kill.oom_process.count, kept apart from /check) and sent to the clients of
// GET /oom_kill_probe/events (modules/kit/event_stream.h), as it happens.
// Field provenance and differences from system-probe: docs/modules/oom_kill_probe.md.
//
// Needs: BTF for CO-RE (the kernel's or system_probe_config.btf_path), BPF ring buffer, and
// tp_btf (the kernel's own BTF), kprobes, or raw tracepoints.
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "bpf/oom_kill.h"
#include "bpf/runtime/cpu_slots.h"
#include "bpf/runtime/ring_buffer.h"
#include "loop/log.h"
#include "modules/kit/bpf_module.h"
#include "modules/kit/config.h"
#include "modules/kit/event_stream.h"
#include "modules/kit/series_counters.h"
#include "modules/oom_kill/oom_report.h"
#include "oom_kill.skel.h"

static_assert(sizeof(oom_kill_event) == 264, "bpf/oom_kill.h layout changed: update both sides");
static_assert(offsetof(oom_kill_event, cgroup_name) == 136);

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "oom_kill_probe";
constexpr std::string_view kNamespaces[] = {"ringprobe.oom_kill", "ringprobe.events"};
constexpr int64_t kDefaultMaxEvents = 10240;  // system-probe's oom_stats map size
// (cgroup, trigger type) series of the kill counter.
constexpr size_t kMaxKillSeries = 1024;

constexpr http::MetricFamily kKills{
    "ringprobe_oom_kill_oom_process", http::MetricKind::counter,
    "Processes the kernel's OOM killer killed, by trigger type (cgroup: a memory cgroup's limit; "
    "system: the host ran out) and the victim's memory cgroup (the Agent's "
    "oom_kill.oom_process.count)."};

// Whether tp_btf/mark_victim passes the victim's task_struct (Linux >= 6.8). The tracepoint's
// format in tracefs lists the fields that came with that signature; without tracefs we assume
// the new one (the BPF side still checks with CO-RE and degrades to the pid only).
bool mark_victim_passes_task(const bpf::Runtime& rt) {
    if (rt.tracefs_dir().empty()) return true;
    std::ifstream f(rt.tracefs_dir() + "/events/oom/mark_victim/format");
    if (!f) return true;
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return text.find("oom_score_adj") != std::string::npos;
}

// Which programs of bpf/oom_kill.bpf.c are loaded.
enum class Hooks { tp_btf, kprobe, raw_tp, raw_tp_pid };
std::string_view hooks_name(Hooks h) {
    switch (h) {
        case Hooks::tp_btf:
            return "tp_btf";
        case Hooks::kprobe:
            return "kprobe";
        case Hooks::raw_tp:
            return "raw_tp";
        case Hooks::raw_tp_pid:
            return "raw_tp_pid_only";
    }
    return "?";
}

class OomKillModule final : public kit::BpfModule {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps);
    ~OomKillModule() override { close(); }

    void close() override {
        track_ring(nullptr);
        ring_.reset();  // stops the watch before the map's fd goes away
        skel_.destroy();
        reports_.clear();
    }
    void end_streams() override { events_.end_all(); }

  private:
    explicit OomKillModule(kit::EventStreamLimits limits)
        : BpfModule(kModuleName), events_(kModuleName, limits) {}
    void on_record(std::span<const std::byte> rec);
    void check(http::Response& res) override;
    void register_extra_routes(http::Router& router) override { events_.register_route(router); }
    void write_extra_stats(http::JsonWriter& w) const override;
    void write_extra_metrics(http::MetricsWriter& w) const override {
        kills_.write(w, kKills, {"trigger_type", "cgroup"});
        events_.write_metrics(w);
    }

    bpf::Skeleton<oom_kill_bpf> skel_;
    std::unique_ptr<bpf::RingBuffer> ring_;
    std::vector<oom::Report> reports_;
    size_t max_events_ = kDefaultMaxEvents;
    uint64_t received_ = 0;
    uint64_t dropped_ = 0;
    uint64_t by_[4] = {};  // per oom::Report::Evidence
    kit::SeriesCounters<2> kills_{kMaxKillSeries};
    kit::EventStreams events_;
    Hooks hooks_ = Hooks::tp_btf;
};

CreateResult OomKillModule::create(const conf::Config& cfg, Dependencies& deps) {
    using F = bpf::FeatureId;
    auto rt_or = runtime(deps, {F::bpf_syscall, F::btf, F::ring_buffer});
    if (!rt_or) return std::unexpected(rt_or.error());
    bpf::Runtime& rt = **rt_or;

    // Hook, in order of preference:
    //   tp_btf/mark_victim (+ two reclaim tp_btf): needs the kernel's own BTF; when mark_victim
    //     passes only the pid (< 6.8) kprobe/oom_kill_process is preferred if the kernel has it;
    //   kprobe/oom_kill_process: system-probe's hook (oom_control's own values);
    //   raw_tp/mark_victim (+ two reclaim raw_tp): no kernel BTF needed, CO-RE reads relocated
    //     against system_probe_config.btf_path; the pid-only variant on kernels < 6.8.
    const bool tp_btf = rt.has(F::tp_btf);
    const bool kprobe = rt.has(F::kprobe);
    const bool passes_task = mark_victim_passes_task(rt);
    Hooks hooks = Hooks::tp_btf;
    if (kprobe && (!tp_btf || !passes_task)) {
        hooks = Hooks::kprobe;
    } else if (!tp_btf) {
        if (!rt.has(F::raw_tracepoint)) {
            return std::unexpected(
                "no hook for OOM kills: " + bpf::Runtime::missing_message(rt.feature(F::tp_btf)) +
                "; " + bpf::Runtime::missing_message(rt.feature(F::kprobe)) + "; " +
                bpf::Runtime::missing_message(rt.feature(F::raw_tracepoint)));
        }
        hooks = passes_task ? Hooks::raw_tp : Hooks::raw_tp_pid;
    }

    std::unique_ptr<OomKillModule> m(new OomKillModule(kit::event_stream_limits(cfg)));
    int64_t max_events = kit::config_int(cfg, "ringprobe.oom_kill.max_events", kDefaultMaxEvents);
    m->max_events_ = static_cast<size_t>(max_events > 0 ? max_events : kDefaultMaxEvents);

    m->hooks_ = hooks;
    auto skel =
        bpf::Skeleton<oom_kill_bpf>::create(rt, kModuleName, "oom_kill", [hooks](oom_kill_bpf* s) {
            const bool btf = hooks == Hooks::tp_btf;
            const bool raw = hooks == Hooks::raw_tp || hooks == Hooks::raw_tp_pid;
            bpf_program__set_autoload(s->progs.oom_kill_process, hooks == Hooks::kprobe);
            bpf_program__set_autoload(s->progs.oom_mark_victim, btf);
            bpf_program__set_autoload(s->progs.oom_memcg_reclaim, btf);
            bpf_program__set_autoload(s->progs.oom_direct_reclaim, btf);
            bpf_program__set_autoload(s->progs.oom_mark_victim_raw, hooks == Hooks::raw_tp);
            bpf_program__set_autoload(s->progs.oom_mark_victim_pid_raw, hooks == Hooks::raw_tp_pid);
            bpf_program__set_autoload(s->progs.oom_memcg_reclaim_raw, raw);
            bpf_program__set_autoload(s->progs.oom_direct_reclaim_raw, raw);
            return bpf::size_cpu_slots(s->maps.lost_events);
        });
    if (!skel) return std::unexpected(skel.error());
    m->skel_ = std::move(*skel);
    m->track(m->skel_.core());

    OomKillModule* self = m.get();
    auto ring =
        m->watch_ring(deps, "oom_kill/events", m->skel_->maps.events, m->skel_->maps.lost_events,
                      [self](std::span<const std::byte> rec) { self->on_record(rec); });
    if (!ring) return std::unexpected(ring.error());
    m->ring_ = std::move(*ring);
    m->log_attached(std::string(hooks_name(hooks)) + " hooks, BTF " +
                    std::string(bpf::btf_source_name(rt.btf_source())));
    return m;
}

void OomKillModule::write_extra_stats(http::JsonWriter& w) const {
    w.kv("hook_kind", hooks_name(hooks_));
    w.kv_uint("events", received_);
    w.kv_uint("lost", ring_ ? ring_->lost() : 0);
    w.kv_uint("dropped", dropped_);
    w.kv_uint("pending", reports_.size());
    w.kv_uint("max_events", max_events_);
    w.kv_uint("ring_buffer_wakeups", ring_ ? ring_->wakeups() : 0);
    // Which rule decided memcgoom (docs/modules/oom_kill_probe.md).
    w.key("memcgoom_by");
    w.start_object();
    w.kv_uint("oom_control", by_[0]);
    w.kv_uint("trigger_reclaim", by_[1]);
    w.kv_uint("memcg_margin", by_[2]);
    w.end_object();
    w.kv_uint("metric_series", kills_.size());
    w.kv_uint("metric_series_overflowed", kills_.overflowed());
    w.key("event_streams");
    events_.write_stats(w);
}

void OomKillModule::on_record(std::span<const std::byte> rec) {
    ++received_;
    if (rec.size() < sizeof(oom_kill_event)) {
        LOG_WARN("oom_kill_probe: short record (%zu bytes)", rec.size());
        return;
    }
    oom_kill_event e;
    std::memcpy(&e, rec.data(), sizeof e);
    oom::Report r = oom::make_report(e, oom::read_host_memory());
    ++by_[static_cast<size_t>(r.evidence)];
    kills_.add({r.memcg_oom != 0 ? "cgroup" : "system", r.cgroup_name});
    events_.publish([&](http::JsonWriter& w) {
        w.start_object();
        kit::write_event_time(w, e.timestamp_ns);
        oom::write_report_fields(w, r);
        w.end_object();
    });
    LOG_DEBUG("oom_kill_probe: pid %u (%s) killed, triggered by pid %u, flags 0x%x", e.victim_pid,
              r.victim_comm.c_str(), e.trigger_pid, e.flags);
    if (reports_.size() >= max_events_) {
        ++dropped_;
        return;
    }
    reports_.push_back(std::move(r));
}

void OomKillModule::check(http::Response& res) {
    // Records already in the ring but not yet announced by the poll belong to this check.
    if (ring_) ring_->drain();
    auto& w = res.json();
    if (reports_.empty()) {
        w.null();  // Go encodes the empty (nil) slice as null
        return;
    }
    w.start_array();
    for (const auto& r : reports_) oom::write_report(w, r);
    w.end_array();
    reports_.clear();
}

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory oom_kill_factory;
constinit const Factory oom_kill_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "system_probe_config.enable_oom_kill",
    .create = OomKillModule::create,
    .needs_ebpf = true,
};

}  // namespace rp::modules
