// noisy_neighbor_module.cpp — noisy_neighbor: run-queue latency, preemptions and active threads per
// cgroup since the previous check, served as system-probe's GET /noisy_neighbor/check → a JSON
// array of the Agent's model.NoisyNeighborStats ({"CgroupID", "SumLatenciesNs", "EventCount",
// "PreemptionCount", "UniquePidCount"}: Go field names, no json tags) or null when empty.
//
// Kernel side: bpf/noisy_neighbor.bpf.c on tp_btf sched_wakeup, sched_wakeup_new and
// sched_switch aggregates in a per-CPU hash keyed by cgroup id; /check reads and deletes every
// entry (GetAndFlush, bpf::MapDrain), sums the CPUs and bumps the flush period the BPF side uses
// to count each thread once per window. Concurrency limit 1 on /check, as system-probe.
// Field provenance and differences from system-probe: docs/modules/noisy_neighbor.md.
//
// Needs: kernel BTF, tp_btf, and task local storage usable from the scheduler's tracepoints
// (bpf_task_storage_get_recur, Linux >= 6.2; system-probe also requires 6.2).
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "bpf/noisy_neighbor.h"
#include "bpf/runtime/cpu_slots.h"
#include "bpf/runtime/map_drain.h"
#include "loop/log.h"
#include "modules/kit/bpf_module.h"
#include "modules/kit/config.h"
#include "noisy_neighbor.skel.h"

static_assert(sizeof(nn_cgroup_stats) == 32, "bpf/noisy_neighbor.h changed: update both sides");
static_assert(offsetof(nn_cgroup_stats, unique_pid_count) == 24);
static_assert(sizeof(nn_task) == 24);
static_assert(sizeof(nn_counters) == 64);
static_assert(offsetof(nn_counters, clock_skew) == 32);

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "noisy_neighbor";
constexpr std::string_view kNamespaces[] = {"noisy_neighbor"};
constexpr int64_t kDefaultMaxCgroups = 4096;  // system-probe's cgroup_agg_stats size

// The kernel BTF names the module asks about: the three trace events, and the helper variant
// that makes task storage safe from the scheduler's tracepoints (Linux 6.2, "bpf: Avoid
// deadlock when using task storage from tracing programs": before it, a lookup from
// sched_switch could take the storage's bucket lock recursively).
constexpr std::string_view kBtfNames[] = {
    "btf_trace_sched_wakeup",
    "btf_trace_sched_wakeup_new",
    "btf_trace_sched_switch",
    "btf_bpf_task_storage_get_recur",
};

struct Entry {
    uint64_t cgroup_id;
    nn_cgroup_stats s;
};

class NoisyNeighborModule final : public kit::BpfModule {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps);
    ~NoisyNeighborModule() override { close(); }

    void close() override {
        skel_.destroy();
        keys_ = {};
        values_ = {};
        entries_ = {};
    }

  private:
    NoisyNeighborModule() : BpfModule(kModuleName) {}
    void check(http::Response& res) override;
    void write_extra_stats(http::JsonWriter& w) const override;
    void write_extra_metrics(http::MetricsWriter& w) const override;

    bpf::Skeleton<noisy_neighbor_bpf> skel_;
    uint32_t max_cgroups_ = kDefaultMaxCgroups;
    int ncpus_ = 1;
    bpf::MapDrain cgroup_stats_;           // GetAndFlush of the cgroup_stats map
    std::vector<uint64_t> keys_;           // what the last drain read, storage kept between checks
    std::vector<nn_cgroup_stats> values_;  // ncpus_ per key
    std::vector<Entry> entries_;           // summed over CPUs, merged by id
    bpf::CpuSlots counters_;

    uint64_t checks_ = 0;
    uint64_t last_check_cgroups_ = 0;
    uint64_t flush_errors_ = 0;
    std::string last_flush_error_;
};

CreateResult NoisyNeighborModule::create(const conf::Config& cfg, Dependencies& deps) {
    using F = bpf::FeatureId;
    auto rt_or = runtime(deps, {F::bpf_syscall, F::btf, F::tp_btf});
    if (!rt_or) return std::unexpected(rt_or.error());
    bpf::Runtime& rt = **rt_or;

    for (std::string_view tp : {"sched_wakeup", "sched_wakeup_new", "sched_switch"}) {
        std::string why;
        if (!rt.has_tracepoint("sched", tp, &why))
            return std::unexpected("kernel has no tracepoint sched/" + std::string(tp) + " (" +
                                   why + ")");
    }
    if (!rt.btf_has(BTF_KIND_TYPEDEF, "btf_bpf_task_storage_get_recur"))
        return std::unexpected(
            "kernel too old for noisy_neighbor: task local storage is not safe from scheduler "
            "tracepoints before Linux 6.2 (no bpf_task_storage_get_recur in kernel BTF)");

    std::unique_ptr<NoisyNeighborModule> m(new NoisyNeighborModule());
    int64_t max_cgroups =
        kit::config_int(cfg, "ringprobe.noisy_neighbor.max_cgroups", kDefaultMaxCgroups);
    m->max_cgroups_ = static_cast<uint32_t>(std::clamp<int64_t>(max_cgroups, 1, 1 << 20));
    m->ncpus_ = libbpf_num_possible_cpus();
    if (m->ncpus_ <= 0)
        return std::unexpected(bpf::errno_message("count possible CPUs", -m->ncpus_));

    uint32_t max_entries = m->max_cgroups_;
    auto skel = bpf::Skeleton<noisy_neighbor_bpf>::create(
        rt, kModuleName, "noisy_neighbor",
        [max_entries](noisy_neighbor_bpf* s) -> std::expected<void, std::string> {
            if (int err = bpf_map__set_max_entries(s->maps.cgroup_stats, max_entries); err != 0)
                return std::unexpected(bpf::errno_message("size cgroup_stats", -err));
            return bpf::size_cpu_slots(s->maps.counters);
        });
    if (!skel) return std::unexpected(skel.error());
    m->skel_ = std::move(*skel);
    m->track(m->skel_.core());
    auto counters =
        bpf::CpuSlots::map(bpf_map__fd(m->skel_->maps.counters), "noisy_neighbor counters");
    if (!counters) return std::unexpected(counters.error());
    m->counters_ = std::move(*counters);
    if (m->skel_->bss == nullptr)
        return std::unexpected("noisy_neighbor: .bss is not memory-mapped (libbpf too old?)");

    m->cgroup_stats_ = bpf::MapDrain(bpf_map__fd(m->skel_->maps.cgroup_stats), "cgroup_stats",
                                     m->max_cgroups_, static_cast<uint32_t>(m->ncpus_));
    m->keys_.reserve(m->cgroup_stats_.chunk());
    m->values_.reserve(static_cast<size_t>(m->cgroup_stats_.chunk()) * m->ncpus_);
    m->set_check_limit(1);  // system-probe: WithConcurrencyLimit(1, ...)
    m->log_attached("max_cgroups " + std::to_string(m->max_cgroups_));
    return m;
}

void NoisyNeighborModule::check(http::Response& res) {
    if (!skel_) {
        res.error(503, "noisy_neighbor is closed");
        return;
    }
    ++checks_;
    keys_.clear();
    values_.clear();
    auto n = cgroup_stats_.drain(keys_, values_);
    // After the flush: a thread counted before it is counted again in the new window.
    __atomic_add_fetch(&skel_->bss->flush_period, 1, __ATOMIC_RELEASE);

    // Sum the CPUs; key by key (no batch ops) an id may come twice: merge.
    entries_.clear();
    for (size_t i = 0; i < keys_.size(); ++i) {
        Entry e{keys_[i], {}};
        for (int c = 0; c < ncpus_; ++c) {
            const nn_cgroup_stats& v = values_[i * size_t(ncpus_) + size_t(c)];
            e.s.sum_latencies_ns += v.sum_latencies_ns;
            e.s.event_count += v.event_count;
            e.s.preemption_count += v.preemption_count;
            e.s.unique_pid_count += v.unique_pid_count;
        }
        entries_.push_back(e);
    }
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) { return a.cgroup_id < b.cgroup_id; });
    size_t out = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
        if (out > 0 && entries_[out - 1].cgroup_id == entries_[i].cgroup_id) {
            nn_cgroup_stats& d = entries_[out - 1].s;
            d.sum_latencies_ns += entries_[i].s.sum_latencies_ns;
            d.event_count += entries_[i].s.event_count;
            d.preemption_count += entries_[i].s.preemption_count;
            d.unique_pid_count += entries_[i].s.unique_pid_count;
            continue;
        }
        // Entries created by an event that then found nothing to add carry no activity.
        if (entries_[i].s.event_count == 0 && entries_[i].s.preemption_count == 0) continue;
        entries_[out++] = entries_[i];
    }
    entries_.resize(out);

    http::JsonWriter& w = res.json();
    if (entries_.empty()) {
        w.null();  // Go encodes the nil slice as null
    } else {
        w.start_array();
        for (const Entry& e : entries_) {
            w.start_object();
            w.kv_uint("CgroupID", e.cgroup_id);
            w.kv_uint("SumLatenciesNs", e.s.sum_latencies_ns);
            w.kv_uint("EventCount", e.s.event_count);
            w.kv_uint("PreemptionCount", e.s.preemption_count);
            w.kv_uint("UniquePidCount", e.s.unique_pid_count);
            w.end_object();
        }
        w.end_array();
    }
    if (n) {
        last_check_cgroups_ = entries_.size();
    } else {
        // What was read (and deleted) is still served; the rest waits for the next check.
        ++flush_errors_;
        if (n.error() != last_flush_error_) LOG_WARN("noisy_neighbor: %s", n.error().c_str());
        last_flush_error_ = n.error();
    }
}

void NoisyNeighborModule::write_extra_stats(http::JsonWriter& w) const {
    const auto c = counters_.sum_as<nn_counters>();
    w.kv_uint("context_switches", c.switches);
    w.kv_uint("wakeups", c.wakeups);
    w.key("dropped");
    w.start_object();
    w.kv_uint("map_full", c.map_full);
    w.kv_uint("task_storage_failed", c.storage_failed);
    w.kv_uint("clock_skew", c.clock_skew);
    w.end_object();
    w.kv_uint("max_cgroups", max_cgroups_);
    w.kv_uint("checks", checks_);
    w.kv_uint("last_check_cgroups", last_check_cgroups_);
    w.kv_uint("flush_errors", flush_errors_);
    w.kv_uint("map_batch_ops", cgroup_stats_.batch() ? 1 : 0);
}

constexpr http::MetricFamily kSwitches{
    "ringprobe_noisy_neighbor_context_switches", http::MetricKind::counter,
    "Context switches seen by the noisy_neighbor probe (tp_btf/sched_switch runs)."};
constexpr http::MetricFamily kWakeups{
    "ringprobe_noisy_neighbor_wakeups", http::MetricKind::counter,
    "Tasks stamped as runnable by the noisy_neighbor probe (wakeups and new tasks)."};
constexpr http::MetricFamily kDropped{
    "ringprobe_noisy_neighbor_dropped_events", http::MetricKind::counter,
    "Scheduler events the noisy_neighbor probe could not account, by reason."};
constexpr http::MetricFamily kCgroups{"ringprobe_noisy_neighbor_last_check_cgroups",
                                      http::MetricKind::gauge,
                                      "Cgroups returned by the latest noisy_neighbor /check."};

void NoisyNeighborModule::write_extra_metrics(http::MetricsWriter& w) const {
    const auto c = counters_.sum_as<nn_counters>();
    w.counter(kSwitches, {}, uint64_t{c.switches});
    w.counter(kWakeups, {}, uint64_t{c.wakeups});
    w.counter(kDropped, {{"reason", "map_full"}}, uint64_t{c.map_full});
    w.counter(kDropped, {{"reason", "task_storage_failed"}}, uint64_t{c.storage_failed});
    w.counter(kDropped, {{"reason", "clock_skew"}}, uint64_t{c.clock_skew});
    w.gauge(kCgroups, {}, static_cast<double>(last_check_cgroups_));
}

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory noisy_neighbor_factory;
constinit const Factory noisy_neighbor_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "noisy_neighbor.enabled",
    .create = NoisyNeighborModule::create,
    .needs_ebpf = true,
    .btf_names = kBtfNames,
};

}  // namespace rp::modules
