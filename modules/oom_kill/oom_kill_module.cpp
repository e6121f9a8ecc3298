// oom_kill_module.cpp — oom_kill_probe: the kernel's OOM kills, served as system-probe's
// GET /oom_kill_probe/check (an array of OOMKillStats since the previous check, or null).
//
// Kernel side: bpf/oom_kill.bpf.c, hooked on tp_btf/mark_victim (plus two reclaim tracepoints that
// tell a memcg OOM from a global one); kprobe/oom_kill_process only when tp_btf is unusable and
// the runtime found kprobes. Records arrive through a ring buffer watched by the reactor and are
// turned into payload entries at once (modules/oom_kill/oom_report.h), kept in a bounded list
// (ringprobe.oom_kill.max_events; overflow counted as "dropped") and flushed by /check.
// Field provenance and differences from system-probe: docs/modules/oom_kill_probe.md.
//
// Needs: kernel BTF, BPF ring buffer, and tp_btf (or kprobes).
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
#include "modules/oom_kill/oom_report.h"
#include "oom_kill.skel.h"

static_assert(sizeof(oom_kill_event) == 264, "bpf/oom_kill.h layout changed: update both sides");
static_assert(offsetof(oom_kill_event, cgroup_name) == 136);

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "oom_kill_probe";
constexpr std::string_view kNamespaces[] = {"system_probe_config"};
constexpr int64_t kDefaultMaxEvents = 10240;  // system-probe's oom_stats map size

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

  private:
    OomKillModule() : BpfModule(kModuleName) {}
    void on_record(std::span<const std::byte> rec);
    void check(http::Response& res) override;
    void write_extra_stats(http::JsonWriter& w) const override;

    bpf::Skeleton<oom_kill_bpf> skel_;
    std::unique_ptr<bpf::RingBuffer> ring_;
    std::vector<oom::Report> reports_;
    size_t max_events_ = kDefaultMaxEvents;
    uint64_t received_ = 0;
    uint64_t dropped_ = 0;
    uint64_t by_[4] = {};  // per oom::Report::Evidence
};

CreateResult OomKillModule::create(const conf::Config& cfg, Dependencies& deps) {
    using F = bpf::FeatureId;
    auto rt_or = runtime(deps, {F::bpf_syscall, F::btf, F::ring_buffer});
    if (!rt_or) return std::unexpected(rt_or.error());
    bpf::Runtime& rt = **rt_or;

    // Hook: tp_btf/mark_victim when it passes the task (else kprobe/oom_kill_process if the
    // kernel has kprobes, else tp_btf anyway: the BPF side then reports the victim pid only).
    bool tp_btf = rt.has(F::tp_btf);
    bool kprobe = rt.has(F::kprobe);
    bool use_kprobe = kprobe && (!tp_btf || !mark_victim_passes_task(rt));
    if (!tp_btf && !use_kprobe) {
        return std::unexpected(
            "no hook for OOM kills: " + bpf::Runtime::missing_message(rt.feature(F::tp_btf)) +
            "; " + bpf::Runtime::missing_message(rt.feature(F::kprobe)));
    }

    std::unique_ptr<OomKillModule> m(new OomKillModule());
    int64_t max_events = kit::config_int(cfg, "ringprobe.oom_kill.max_events", kDefaultMaxEvents);
    m->max_events_ = static_cast<size_t>(max_events > 0 ? max_events : kDefaultMaxEvents);

    auto skel = bpf::Skeleton<oom_kill_bpf>::create(
        rt, kModuleName, "oom_kill", [use_kprobe](oom_kill_bpf* s) {
            bpf_program__set_autoload(s->progs.oom_kill_process, use_kprobe);
            bpf_program__set_autoload(s->progs.oom_mark_victim, !use_kprobe);
            bpf_program__set_autoload(s->progs.oom_memcg_reclaim, !use_kprobe);
            bpf_program__set_autoload(s->progs.oom_direct_reclaim, !use_kprobe);
            return bpf::size_cpu_slots(s->maps.lost_events);
        });
    if (!skel) return std::unexpected(skel.error());
    m->skel_ = std::move(*skel);
    m->track(m->skel_.core());

    OomKillModule* self = m.get();
    auto ring =
        bpf::RingBuffer::create(deps.reactor, "oom_kill/events", bpf_map__fd(m->skel_->maps.events),
                                bpf_map__fd(m->skel_->maps.lost_events),
                                [self](std::span<const std::byte> rec) { self->on_record(rec); });
    if (!ring) return std::unexpected(ring.error());
    m->ring_ = std::move(*ring);
    m->track_ring(m->ring_.get());
    m->log_attached();
    return m;
}

void OomKillModule::write_extra_stats(http::JsonWriter& w) const {
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
}

void OomKillModule::on_record(std::span<const std::byte> rec) {
    ++received_;
    if (rec.size() < sizeof(oom_kill_event)) {
        LOG_WARN("oom_kill_probe: short record (%zu bytes)", rec.size());
        return;
    }
    oom_kill_event e;
    std::memcpy(&e, rec.data(), sizeof e);
    if (reports_.size() >= max_events_) {
        ++dropped_;
        return;
    }
    reports_.push_back(oom::make_report(e, oom::read_host_memory()));
    ++by_[static_cast<size_t>(reports_.back().evidence)];
    LOG_DEBUG("oom_kill_probe: pid %u (%s) killed, triggered by pid %u, flags 0x%x", e.victim_pid,
              reports_.back().victim_comm.c_str(), e.trigger_pid, e.flags);
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
