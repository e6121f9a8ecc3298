// tcp_queue_length_module.cpp — tcp_queue_length_tracer: the highest TCP receive/send buffer usage
// (per-mille) per cgroup since the previous check, served as system-probe's
// GET /tcp_queue_length_tracer/check → {"<cgroup>": {"read_buffer_max_usage",
// "write_buffer_max_usage"}}.
//
// Kernel side: bpf/tcp_queue_length.bpf.c aggregates in a per-CPU hash map keyed by cgroup leaf
// name; /check reads and deletes every entry (GetAndFlush) and writes the JSON straight from the
// read buffer. Hooks: tp_btf tcp_sendmsg_locked, tcp_rcv_space_adjust, tcp_probe and
// inet_sock_set_state, each loaded only when the kernel has that trace event.
// How each number is obtained and where it differs from system-probe:
// docs/modules/tcp_queue_length_tracer.md.
//
// Needs: kernel BTF and tp_btf programs (Linux >= 5.11 for socket storage from tracing programs).
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "bpf/runtime/cpu_slots.h"
#include "bpf/runtime/map_drain.h"
#include "bpf/tcp_queue_length.h"
#include "loop/log.h"
#include "modules/kit/bpf_module.h"
#include "modules/kit/config.h"
#include "tcp_queue_length.skel.h"

static_assert(sizeof(tcpq_key) == TCPQ_CGROUP_NAME_LEN,
              "bpf/tcp_queue_length.h changed: update both sides");
static_assert(sizeof(tcpq_value) == 8);
static_assert(offsetof(tcpq_value, write_buffer_max_usage) == 4);
static_assert(sizeof(tcpq_counters) == 80);
static_assert(offsetof(tcpq_counters, map_full) == 8 * TCPQ_HOOK_COUNT);
static_assert(offsetof(tcpq_counters, name_truncated) == 64);
static_assert(offsetof(tcpq_counters, unchanged) == 72);

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "tcp_queue_length_tracer";
constexpr std::string_view kNamespaces[] = {"system_probe_config"};
constexpr int64_t kDefaultMaxCgroups = 10240;

// The module's hooks, in the order of enum tcpq_hook (TCPQ_HOOK_SET_STATE takes no samples).
struct Hook {
    std::string_view system;  // tracefs event system
    std::string_view tracepoint;
    bool samples;  // takes samples (at least one such hook is needed)
};
constexpr Hook kHooks[TCPQ_HOOK_COUNT] = {
    {"tcp", "tcp_sendmsg_locked", true},
    {"tcp", "tcp_rcv_space_adjust", true},
    {"tcp", "tcp_probe", true},
    {"sock", "inet_sock_set_state", false},
};
// What Runtime::has_tracepoint looks up in kernel BTF when tracefs is missing.
constexpr std::string_view kBtfNames[] = {
    "btf_trace_tcp_sendmsg_locked",
    "btf_trace_tcp_rcv_space_adjust",
    "btf_trace_tcp_probe",
    "btf_trace_inet_sock_set_state",
};

bpf_program* hook_program(tcp_queue_length_bpf* s, size_t hook) {
    switch (hook) {
        case TCPQ_HOOK_SENDMSG:
            return s->progs.tcpq_sendmsg_locked;
        case TCPQ_HOOK_RCV_SPACE_ADJUST:
            return s->progs.tcpq_rcv_space_adjust;
        case TCPQ_HOOK_PROBE:
            return s->progs.tcpq_probe;
        case TCPQ_HOOK_SET_STATE:
            return s->progs.tcpq_set_state;
    }
    return nullptr;
}

std::string_view key_name(const tcpq_key& k) {
    return {k.cgroup_name, ::strnlen(k.cgroup_name, sizeof k.cgroup_name)};
}

class TcpQueueLengthModule final : public kit::BpfModule {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps);
    ~TcpQueueLengthModule() override { close(); }

    void close() override {
        skel_.destroy();
        keys_ = {};
        values_ = {};
    }

  private:
    TcpQueueLengthModule() : BpfModule(kModuleName) {}
    void check(http::Response& res) override;
    void write_extra_stats(http::JsonWriter& w) const override;
    // The highest usage over the CPUs' values of one key.
    tcpq_value max_over_cpus(const tcpq_value* per_cpu) const;

    bpf::Skeleton<tcp_queue_length_bpf> skel_;
    uint32_t max_cgroups_ = kDefaultMaxCgroups;
    int ncpus_ = 1;
    bpf::MapDrain queue_stats_;       // GetAndFlush of the queue_stats map
    std::vector<tcpq_key> keys_;      // what the last drain read, storage kept between checks
    std::vector<tcpq_value> values_;  // ncpus_ per key
    bpf::CpuSlots counters_;    // the counters map, read from memory (no syscall per stats call)
    uint64_t map_memlock_ = 0;  // fixed once the maps exist: read once, not per /debug/stats

    uint64_t checks_ = 0;
    uint64_t last_check_cgroups_ = 0;
    uint64_t flush_errors_ = 0;
    std::string last_flush_error_;
};

CreateResult TcpQueueLengthModule::create(const conf::Config& cfg, Dependencies& deps) {
    using F = bpf::FeatureId;
    auto rt_or = runtime(deps, {F::bpf_syscall, F::btf, F::tp_btf});
    if (!rt_or) return std::unexpected(rt_or.error());
    bpf::Runtime& rt = **rt_or;

    std::unique_ptr<TcpQueueLengthModule> m(new TcpQueueLengthModule());
    int64_t max_cgroups =
        kit::config_int(cfg, "ringprobe.tcp_queue_length.max_cgroups", kDefaultMaxCgroups);
    m->max_cgroups_ = static_cast<uint32_t>(std::clamp<int64_t>(max_cgroups, 1, 1 << 20));
    m->ncpus_ = libbpf_num_possible_cpus();
    if (m->ncpus_ <= 0)
        return std::unexpected(bpf::errno_message("count possible CPUs", -m->ncpus_));

    // Load only the programs whose tracepoint exists: one missing target fails the whole load.
    bool present[TCPQ_HOOK_COUNT] = {};
    bool any_sampler = false;
    std::string why_none;
    for (size_t i = 0; i < TCPQ_HOOK_COUNT; ++i) {
        std::string why;
        present[i] = rt.has_tracepoint(kHooks[i].system, kHooks[i].tracepoint, &why);
        if (!present[i]) m->add_missing_hook(kHooks[i].tracepoint, why);
        any_sampler = any_sampler || (present[i] && kHooks[i].samples);
    }
    if (!any_sampler) {
        for (const auto& [tp, reason] : m->missing_hooks())
            why_none += (why_none.empty() ? "" : "; ") + reason;
        return std::unexpected(
            "kernel has none of the tracepoints tcp_sendmsg_locked, "
            "tcp_rcv_space_adjust, tcp_probe (" +
            why_none + ")");
    }

    uint32_t max_entries = m->max_cgroups_;
    auto skel = bpf::Skeleton<tcp_queue_length_bpf>::create(
        rt, kModuleName, "tcp_queue_length",
        [&present, max_entries](tcp_queue_length_bpf* s) -> std::expected<void, std::string> {
            for (size_t i = 0; i < TCPQ_HOOK_COUNT; ++i)
                bpf_program__set_autoload(hook_program(s, i), present[i]);
            if (int err = bpf_map__set_max_entries(s->maps.queue_stats, max_entries); err != 0)
                return std::unexpected(bpf::errno_message("size queue_stats", -err));
            return bpf::size_cpu_slots(s->maps.counters);
        });
    if (!skel) return std::unexpected(skel.error());
    m->skel_ = std::move(*skel);
    m->track(m->skel_.core());
    auto counters =
        bpf::CpuSlots::map(bpf_map__fd(m->skel_->maps.counters), "tcp_queue_length counters");
    if (!counters) return std::unexpected(counters.error());
    m->counters_ = std::move(*counters);

    m->queue_stats_ = bpf::MapDrain(bpf_map__fd(m->skel_->maps.queue_stats), "queue_stats",
                                    m->max_cgroups_, static_cast<uint32_t>(m->ncpus_));
    m->keys_.reserve(m->queue_stats_.chunk());
    m->values_.reserve(static_cast<size_t>(m->queue_stats_.chunk()) * m->ncpus_);
    m->map_memlock_ = bpf::maps_memlock({m->skel_->maps.queue_stats, m->skel_->maps.sock_cgroup,
                                         m->skel_->maps.counters, m->skel_->maps.bss});

    m->log_attached("max_cgroups " + std::to_string(m->max_cgroups_));
    return m;
}

tcpq_value TcpQueueLengthModule::max_over_cpus(const tcpq_value* per_cpu) const {
    tcpq_value v{};
    for (int c = 0; c < ncpus_; ++c) {
        v.read_buffer_max_usage =
            std::max(v.read_buffer_max_usage, per_cpu[c].read_buffer_max_usage);
        v.write_buffer_max_usage =
            std::max(v.write_buffer_max_usage, per_cpu[c].write_buffer_max_usage);
    }
    return v;
}

void write_entry(http::JsonWriter& w, std::string_view name, const tcpq_value& v) {
    // string(), not key(): a cgroup name may hold any bytes, and string() writes invalid UTF-8 as
    // U+FFFD. RapidJSON writes a string in key position as the key.
    w.string(name);
    w.start_object();
    w.kv_uint("read_buffer_max_usage", v.read_buffer_max_usage);
    w.kv_uint("write_buffer_max_usage", v.write_buffer_max_usage);
    w.end_object();
}

void TcpQueueLengthModule::check(http::Response& res) {
    if (!skel_) {
        res.error(503, "tcp_queue_length_tracer is closed");
        return;
    }
    ++checks_;
    keys_.clear();
    values_.clear();
    auto n = queue_stats_.drain(keys_, values_);
    // After the flush, not before: sockets whose record predates it must sample into the map
    // again (see record() in bpf/tcp_queue_length.bpf.c).
    if (skel_->bss != nullptr) __atomic_add_fetch(&skel_->bss->flush_period, 1, __ATOMIC_RELEASE);

    http::JsonWriter& w = res.json();
    w.start_object();
    size_t written = 0;
    if (queue_stats_.batch()) {
        // One batch walk reads each key once: straight from the buffers.
        for (size_t i = 0; i < keys_.size(); ++i)
            write_entry(w, key_name(keys_[i]), max_over_cpus(&values_[i * size_t(ncpus_)]));
        written = keys_.size();
    } else {
        // Key by key, a name deleted here may have been inserted again by the kernel before the
        // walk ended: merge by name so that the JSON object never repeats a key.
        std::map<std::string_view, tcpq_value, std::less<>> merged;
        for (size_t i = 0; i < keys_.size(); ++i) {
            tcpq_value v = max_over_cpus(&values_[i * size_t(ncpus_)]);
            auto [it, fresh] = merged.try_emplace(key_name(keys_[i]), v);
            if (fresh) continue;
            it->second.read_buffer_max_usage =
                std::max(it->second.read_buffer_max_usage, v.read_buffer_max_usage);
            it->second.write_buffer_max_usage =
                std::max(it->second.write_buffer_max_usage, v.write_buffer_max_usage);
        }
        for (const auto& [name, v] : merged) write_entry(w, name, v);
        written = merged.size();
    }
    w.end_object();
    if (n) {
        last_check_cgroups_ = written;
    } else {
        // What was read (and deleted) is still served; the rest waits for the next check.
        ++flush_errors_;
        if (n.error() != last_flush_error_)
            LOG_WARN("tcp_queue_length_tracer: %s", n.error().c_str());
        last_flush_error_ = n.error();
    }
}

void TcpQueueLengthModule::write_extra_stats(http::JsonWriter& w) const {
    const auto c = counters_.sum_as<tcpq_counters>();
    w.key("samples");
    w.start_object();
    for (size_t i = 0; i < TCPQ_HOOK_COUNT; ++i)
        if (kHooks[i].samples) w.kv_uint(kHooks[i].tracepoint, c.samples[i]);
    w.end_object();
    w.kv_uint("samples_below_socket_max", c.unchanged);
    w.kv_uint("sockets_tagged_at_listen_connect", c.samples[TCPQ_HOOK_SET_STATE]);
    w.key("dropped");
    w.start_object();
    w.kv_uint("map_full", c.map_full);
    w.kv_uint("untagged", c.untagged);
    w.kv_uint("name_errors", c.name_errors);
    w.end_object();
    w.kv_uint("tag_failed", c.tag_failed);
    w.kv_uint("name_truncated", c.name_truncated);
    w.kv_uint("max_cgroups", max_cgroups_);
    w.kv_uint("checks", checks_);
    w.kv_uint("last_check_cgroups", last_check_cgroups_);
    w.kv_uint("flush_errors", flush_errors_);
    w.kv_uint("map_memlock_bytes", map_memlock_);
}

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory tcp_queue_length_factory;
constinit const Factory tcp_queue_length_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "system_probe_config.enable_tcp_queue_length",
    .create = TcpQueueLengthModule::create,
    .needs_ebpf = true,
    .btf_names = kBtfNames,
};

}  // namespace rp::modules
