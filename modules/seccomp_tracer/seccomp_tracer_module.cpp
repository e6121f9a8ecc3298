// seccomp_tracer_module.cpp — seccomp_tracer: seccomp denials (KILL_PROCESS, KILL_THREAD, TRAP,
// ERRNO) per (pid, syscall, action) since the previous check, served as system-probe's
// GET /seccomp_tracer/check → [{"cgroupName", "syscallNr", "seccompAction", "pid", "comm",
// "count", "stackTraces"?, "droppedStacks"?, "actionData"?}].
//
// Kernel side: bpf/seccomp_tracer.bpf.c counts denials in a hash map (bounded by
// ringprobe.seccomp_tracer.max_entries, overflow counted) from BTF tracepoints — sys_exit,
// signal_generate, sched_process_exit — replaying the task's filters to learn a denial's action
// ("replay" mode). A kernel that keeps no copy of the filters (no seccomp_get_filter, i.e. no
// CONFIG_CHECKPOINT_RESTORE) gets sys_enter too and inferred actions ("entry_marks" mode; also
// chosen by ringprobe.seccomp_tracer.mode = "entry_marks");
// kretprobe/seccomp_run_filters only when tp_btf is unusable and the runtime found kprobes
// ("kprobe" mode). /check reads and deletes every entry (GetAndFlush). With
// seccomp_tracer.stack_traces_enabled, user stacks are counted per entry too and symbolized
// best-effort (modules/seccomp_tracer/symbolizer.h).
// Design, limits and measured overhead: docs/modules/seccomp_tracer.md.
//
// Needs: kernel BTF, tp_btf, task storage (Linux >= 5.11), bpf_loop (Linux >= 5.17).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/btf.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bpf/runtime/cpu_slots.h"
#include "bpf/runtime/map_drain.h"
#include "bpf/seccomp_tracer.h"
#include "loop/log.h"
#include "modules/kit/bpf_module.h"
#include "modules/kit/config.h"
#include "modules/seccomp_tracer/symbolizer.h"
#include "seccomp_tracer.skel.h"

static_assert(sizeof(seccomp_denial_key) == 16, "bpf/seccomp_tracer.h changed: update both sides");
static_assert(sizeof(seccomp_denial_value) ==
              16 + SECCOMP_TRACER_COMM_LEN + SECCOMP_TRACER_CGROUP_NAME_LEN);
static_assert(offsetof(seccomp_denial_value, comm) == 16);
static_assert(sizeof(seccomp_stack_key) == 16);
static_assert(sizeof(seccomp_counters) == 128);
static_assert(SECCOMP_CNT_COUNT <= 16);

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "seccomp_tracer";
constexpr std::string_view kNamespaces[] = {"seccomp_tracer"};
constexpr int64_t kDefaultMaxEntries = 10240;
// Stacks reported per (pid, syscall, action), the most frequent first (system-probe's
// seccomp_tracer.max_stacks_per_tuple default); the others are counted in droppedStacks.
constexpr size_t kMaxStacksPerEntry = 10;
constexpr uint32_t kMaxStackIds = 2048;  // size of the `stacks` map when stack traces are on

// Counter names as /debug/stats shows them, in enum seccomp_counter order.
constexpr std::string_view kCounterNames[SECCOMP_CNT_COUNT] = {
    "denials",      "map_full",     "stack_map_full",    "stack_errors",  "replays",
    "inferred",     "not_denied",   "replay_mismatch",   "replay_errors", "unknown_skips",
    "ptrace_skips", "state_errors", "kill_thread_exits",
};

// How denials are found (docs/modules/seccomp_tracer.md).
enum class Mode { replay, entry_marks, kprobe };
std::string_view mode_name(Mode m) {
    switch (m) {
        case Mode::replay:
            return "replay";
        case Mode::entry_marks:
            return "entry_marks";
        case Mode::kprobe:
            return "kprobe";
    }
    return "?";
}

// The hooks and the kernel tracepoint (btf_trace_<name>) each needs.
struct Hook {
    std::string_view tracepoint;
    bpf_program* (*program)(seccomp_tracer_bpf*);
    bool entry_marks_only;
};
constexpr Hook kHooks[] = {
    {"sys_enter", [](seccomp_tracer_bpf* s) { return s->progs.seccomp_sys_enter; }, true},
    {"sys_exit", [](seccomp_tracer_bpf* s) { return s->progs.seccomp_sys_exit; }, false},
    {"signal_generate", [](seccomp_tracer_bpf* s) { return s->progs.seccomp_signal_generate; },
     false},
    {"sched_process_exit", [](seccomp_tracer_bpf* s) { return s->progs.seccomp_process_exit; },
     false},
};
// Kernel BTF the module asks about: each hook's btf_trace_<tracepoint> typedef, and the function
// whose presence says the kernel keeps each filter's original program (replay).
constexpr std::string_view kBtfNames[] = {
    "btf_trace_sys_enter",          "btf_trace_sys_exit", "btf_trace_signal_generate",
    "btf_trace_sched_process_exit", "seccomp_get_filter",
};
constexpr std::string_view kModeKey = "ringprobe.seccomp_tracer.mode";

std::string_view c_string(const char* s, size_t max) { return {s, ::strnlen(s, max)}; }

using DenialKeyTuple = std::tuple<uint32_t, uint32_t, uint32_t>;  // pid, syscall, action
DenialKeyTuple tuple_of(uint32_t pid, uint32_t nr, uint32_t action) { return {pid, nr, action}; }

class SeccompTracerModule final : public kit::BpfModule {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps);
    ~SeccompTracerModule() override { close(); }

    void close() override {
        skel_.destroy();
        keys_ = {};
        values_ = {};
        order_ = {};
        stack_keys_ = {};
        stack_values_ = {};
        symbolizer_.reset();
    }

  private:
    SeccompTracerModule() : BpfModule(kModuleName) {}
    void check(http::Response& res) override;
    void write_extra_stats(http::JsonWriter& w) const override;

    // One stack's share of an entry, for the JSON.
    struct StackCount {
        int32_t stack_id;
        uint64_t count;
    };
    void write_stacks(http::JsonWriter& w, uint32_t pid, std::vector<StackCount>& stacks,
                      std::vector<int32_t>& used_ids);

    bpf::Skeleton<seccomp_tracer_bpf> skel_;
    uint32_t max_entries_ = kDefaultMaxEntries;
    bool stack_traces_ = false;
    Mode mode_ = Mode::replay;
    std::string mode_reason_;     // why not replay
    bpf::MapDrain denials_;       // GetAndFlush of the denials map
    bpf::MapDrain stack_counts_;  // and of stack_counts, with stack traces on
    std::vector<seccomp_denial_key> keys_;
    std::vector<seccomp_denial_value> values_;
    std::vector<size_t> order_;  // indices into keys_/values_, sorted by key
    std::vector<seccomp_stack_key> stack_keys_;
    std::vector<uint64_t> stack_values_;
    std::unique_ptr<Symbolizer> symbolizer_;
    bpf::CpuSlots counters_;  // the counters map, read from memory (no syscall per stats call)

    uint64_t checks_ = 0;
    uint64_t last_check_entries_ = 0;
    uint64_t reported_denials_ = 0;  // sum of "count" over every entry served
    uint64_t orphan_stacks_ = 0;     // stack counts whose entry had already been flushed
    uint64_t flush_errors_ = 0;
    std::string last_flush_error_;
};

CreateResult SeccompTracerModule::create(const conf::Config& cfg, Dependencies& deps) {
    using F = bpf::FeatureId;
    auto rt_or = runtime(deps, {F::bpf_syscall, F::btf});
    if (!rt_or) return std::unexpected(rt_or.error());
    bpf::Runtime& rt = **rt_or;

    std::unique_ptr<SeccompTracerModule> m(new SeccompTracerModule());
    m->max_entries_ = static_cast<uint32_t>(std::clamp<int64_t>(
        kit::config_int(cfg, "ringprobe.seccomp_tracer.max_entries", kDefaultMaxEntries), 1,
        1 << 20));
    m->stack_traces_ = kit::config_bool(cfg, "seccomp_tracer.stack_traces_enabled", false);
    const bool entry_marks_asked = kit::config_string(cfg, kModeKey, "auto") == "entry_marks";

    // Tracepoints first (each needs btf_trace_<name> in the kernel's BTF); kprobe only as the
    // fallback the runtime detected. Replay needs the kernel to keep each filter's original
    // program, which it does exactly when it has seccomp_get_filter (CONFIG_CHECKPOINT_RESTORE).
    bool tracepoints = rt.has(F::tp_btf);
    bool can_replay = false;
    if (tracepoints) {
        for (const auto& h : kHooks) {
            std::string type = "btf_trace_" + std::string(h.tracepoint);
            if (!rt.btf_has(BTF_KIND_TYPEDEF, type))
                m->add_missing_hook(h.tracepoint, "not in kernel BTF (no " + type + ")");
        }
        can_replay = rt.btf_has(BTF_KIND_FUNC, "seccomp_get_filter");
        if (!can_replay) {
            m->mode_ = Mode::entry_marks;
            m->mode_reason_ =
                "kernel keeps no copy of seccomp filters (no seccomp_get_filter: "
                "CONFIG_CHECKPOINT_RESTORE is off)";
        } else if (entry_marks_asked) {
            can_replay = false;
            m->mode_ = Mode::entry_marks;
            m->mode_reason_ = std::string(kModeKey) + " is \"entry_marks\"";
        }
        // sys_exit finds ERRNO, signal_generate TRAP and KILL; sys_enter is needed without replay.
        // sched_process_exit only adds KILL_THREAD of a thread with siblings.
        for (const auto& h : kHooks) {
            bool needed = h.tracepoint != "sched_process_exit" &&
                          (!h.entry_marks_only || m->mode_ == Mode::entry_marks);
            if (needed && m->hook_missing(h.tracepoint)) tracepoints = false;
        }
    }
    if (!tracepoints) {
        if (!rt.has(F::kprobe)) {
            std::string why = rt.has(F::tp_btf)
                                  ? "kernel lacks the sys_exit/signal_generate tracepoints"
                                  : bpf::Runtime::missing_message(rt.feature(F::tp_btf));
            return std::unexpected(why + ", and has no kprobes for kretprobe/seccomp_run_filters");
        }
        m->mode_ = Mode::kprobe;
        m->mode_reason_ = rt.has(F::tp_btf) ? "tracepoints missing" : "no tp_btf";
        m->clear_missing_hooks();
    }

    uint32_t max_entries = m->max_entries_;
    bool stacks = m->stack_traces_;
    Mode mode = m->mode_;
    const SeccompTracerModule& self = *m;
    auto skel = bpf::Skeleton<seccomp_tracer_bpf>::create(
        rt, kModuleName, "seccomp_tracer",
        [&](seccomp_tracer_bpf* s) -> std::expected<void, std::string> {
            for (const auto& h : kHooks) {
                bool load = mode != Mode::kprobe && !self.hook_missing(h.tracepoint) &&
                            (!h.entry_marks_only || mode == Mode::entry_marks);
                bpf_program__set_autoload(h.program(s), load);
            }
            bpf_program__set_autoload(s->progs.seccomp_run_filters_ret, mode == Mode::kprobe);
            s->rodata->stack_traces_enabled = stacks;
            s->rodata->replay_enabled = can_replay;
            s->rodata->use_entry_marks = mode == Mode::entry_marks;
            struct Size {
                bpf_map* map;
                uint32_t entries;
                const char* name;
            };
            for (const Size& z :
                 {Size{s->maps.denials, max_entries, "denials"},
                  Size{s->maps.stack_counts, stacks ? max_entries : 1, "stack_counts"},
                  Size{s->maps.stacks, stacks ? std::min(max_entries, kMaxStackIds) : 1,
                       "stacks"}}) {
                if (int err = bpf_map__set_max_entries(z.map, z.entries); err != 0)
                    return std::unexpected(bpf::errno_message(std::string("size ") + z.name, -err));
            }
            return bpf::size_cpu_slots(s->maps.counters);
        });
    if (!skel) return std::unexpected(skel.error());
    m->skel_ = std::move(*skel);
    m->track(m->skel_.core());
    auto counters =
        bpf::CpuSlots::map(bpf_map__fd(m->skel_->maps.counters), "seccomp_tracer counters");
    if (!counters) return std::unexpected(counters.error());
    m->counters_ = std::move(*counters);
    m->denials_ = bpf::MapDrain(bpf_map__fd(m->skel_->maps.denials), "denials", m->max_entries_);
    m->stack_counts_ =
        bpf::MapDrain(bpf_map__fd(m->skel_->maps.stack_counts), "stack_counts", m->max_entries_);
    if (m->stack_traces_) m->symbolizer_ = std::make_unique<Symbolizer>();

    m->log_attached(std::string(mode_name(m->mode_)) + " mode, max_entries " +
                    std::to_string(m->max_entries_) + ", stack traces " +
                    (m->stack_traces_ ? "on" : "off"));
    if (!m->mode_reason_.empty())
        LOG_INFO("seccomp_tracer: not in replay mode: %s", m->mode_reason_.c_str());
    return m;
}

void SeccompTracerModule::write_stacks(http::JsonWriter& w, uint32_t pid,
                                       std::vector<StackCount>& stacks,
                                       std::vector<int32_t>& used_ids) {
    std::sort(stacks.begin(), stacks.end(), [](const StackCount& a, const StackCount& b) {
        return a.count != b.count ? a.count > b.count : a.stack_id < b.stack_id;
    });
    uint64_t dropped = 0;
    int stacks_fd = bpf_map__fd(skel_->maps.stacks);
    std::vector<uint64_t> frames(SECCOMP_TRACER_STACK_DEPTH);
    w.key("stackTraces");
    w.start_array();
    for (size_t i = 0; i < stacks.size(); ++i) {
        const StackCount& sc = stacks[i];
        if (i >= kMaxStacksPerEntry) {
            dropped += sc.count;
            continue;
        }
        w.start_object();
        w.kv_int("stackId", sc.stack_id);
        w.kv_uint("count", sc.count);
        size_t depth = 0;
        if (sc.stack_id >= 0) {
            uint32_t id = static_cast<uint32_t>(sc.stack_id);
            std::fill(frames.begin(), frames.end(), 0);
            if (bpf_map_lookup_elem(stacks_fd, &id, frames.data()) == 0)
                while (depth < frames.size() && frames[depth] != 0) ++depth;
            used_ids.push_back(sc.stack_id);
        }
        w.key("addresses");
        if (depth == 0) {
            w.null();  // system-probe's nil slice
        } else {
            w.start_array();
            for (size_t d = 0; d < depth; ++d) w.uint64(frames[d]);
            w.end_array();
            auto symbols = symbolizer_->symbolize(static_cast<pid_t>(pid),
                                                  std::span<const uint64_t>(frames.data(), depth));
            w.key("symbols");
            w.start_array();
            for (const auto& s : symbols) w.string(s);
            w.end_array();
        }
        w.end_object();
    }
    w.end_array();
    if (dropped > 0) w.kv_uint("droppedStacks", dropped);
}

void SeccompTracerModule::check(http::Response& res) {
    if (!skel_) {
        res.error(503, "seccomp_tracer is closed");
        return;
    }
    ++checks_;

    // Stacks first: a denial counted between the two drains then lands in the next check with its
    // stack, instead of a stack without its entry.
    std::map<DenialKeyTuple, std::vector<StackCount>> stacks_of;
    std::string error;
    if (stack_traces_) {
        stack_keys_.clear();
        stack_values_.clear();
        auto r = stack_counts_.drain(stack_keys_, stack_values_);
        if (!r) error = r.error();
        for (size_t i = 0; i < stack_keys_.size(); ++i) {
            const auto& k = stack_keys_[i];
            auto& list = stacks_of[tuple_of(k.pid, k.syscall_nr, k.action)];
            auto it = std::find_if(list.begin(), list.end(),
                                   [&](const StackCount& s) { return s.stack_id == k.stack_id; });
            if (it != list.end())
                it->count += stack_values_[i];
            else
                list.push_back({k.stack_id, stack_values_[i]});
        }
    }

    keys_.clear();
    values_.clear();
    auto r = denials_.drain(keys_, values_);
    if (!r && error.empty()) error = r.error();

    // Order the output by (pid, syscall, action) and merge duplicates (the key-by-key fallback can
    // read a key twice).
    order_.resize(keys_.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    auto key_of = [this](size_t i) {
        return tuple_of(keys_[i].pid, keys_[i].syscall_nr, keys_[i].action);
    };
    std::sort(order_.begin(), order_.end(),
              [&](size_t a, size_t b) { return key_of(a) < key_of(b); });
    size_t unique = 0;
    for (size_t j = 0; j < order_.size(); ++j) {
        if (unique > 0 && key_of(order_[unique - 1]) == key_of(order_[j]))
            values_[order_[unique - 1]].count += values_[order_[j]].count;
        else
            order_[unique++] = order_[j];
    }
    order_.resize(unique);

    std::vector<int32_t> used_ids;
    http::JsonWriter& w = res.json();
    w.start_array();
    for (size_t i : order_) {
        const DenialKeyTuple key = key_of(i);
        const seccomp_denial_value& v = values_[i];
        w.start_object();
        w.kv("cgroupName", c_string(v.cgroup_name, sizeof v.cgroup_name));
        w.kv_uint("syscallNr", std::get<1>(key));
        w.kv_uint("seccompAction", std::get<2>(key));
        w.kv_uint("pid", std::get<0>(key));
        std::string_view comm = c_string(v.comm, sizeof v.comm);
        if (!comm.empty()) w.kv("comm", comm);  // omitempty, as system-probe
        w.kv_uint("count", v.count);
        // ringprobe's addition: the filter's SECCOMP_RET_DATA (the errno for ERRNO), when every
        // denial of the entry had the same and it is known.
        if ((v.flags & (SECCOMP_DENIAL_F_DATA_VARIES | SECCOMP_DENIAL_F_DATA_UNKNOWN)) == 0)
            w.kv_uint("actionData", v.data);
        if (stack_traces_) {
            auto it = stacks_of.find(key);
            if (it != stacks_of.end()) {
                write_stacks(w, std::get<0>(key), it->second, used_ids);
                stacks_of.erase(it);
            }
        }
        w.end_object();
        reported_denials_ += v.count;
    }
    w.end_array();
    last_check_entries_ = order_.size();
    for (const auto& [key, list] : stacks_of) orphan_stacks_ += list.size();

    // A stack id names one stack until deleted; drop the ones served so the map does not fill.
    if (stack_traces_) {
        std::sort(used_ids.begin(), used_ids.end());
        used_ids.erase(std::unique(used_ids.begin(), used_ids.end()), used_ids.end());
        int stacks_fd = bpf_map__fd(skel_->maps.stacks);
        for (int32_t id : used_ids) {
            uint32_t k = static_cast<uint32_t>(id);
            bpf_map_delete_elem(stacks_fd, &k);
        }
    }

    if (!error.empty()) {
        // What was read (and deleted) is still served; the rest waits for the next check.
        ++flush_errors_;
        if (error != last_flush_error_) LOG_WARN("seccomp_tracer: %s", error.c_str());
        last_flush_error_ = error;
    }
}

void SeccompTracerModule::write_extra_stats(http::JsonWriter& w) const {
    const auto c = counters_.sum_as<seccomp_counters>();
    w.kv("mode", mode_name(mode_));
    if (!mode_reason_.empty()) w.kv("mode_reason", mode_reason_);
    w.key("counters");
    w.start_object();
    for (size_t i = 0; i < SECCOMP_CNT_COUNT; ++i) w.kv_uint(kCounterNames[i], c.c[i]);
    w.end_object();
    w.kv_uint("max_entries", max_entries_);
    w.kv_bool("stack_traces_enabled", stack_traces_);
    w.kv_uint("checks", checks_);
    w.kv_uint("last_check_entries", last_check_entries_);
    w.kv_uint("reported_denials", reported_denials_);
    w.kv_uint("orphan_stacks", orphan_stacks_);
    w.kv_uint("flush_errors", flush_errors_);
    if (symbolizer_) w.kv_uint("symbolizer_cached_files", symbolizer_->cached_files());
    uint64_t memlock = 0;
    if (skel_) {
        memlock =
            bpf::maps_memlock({skel_->maps.denials, skel_->maps.stacks, skel_->maps.stack_counts,
                               skel_->maps.counters, skel_->maps.task_state});
    }
    w.kv_uint("map_memlock_bytes", memlock);
}

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory seccomp_tracer_factory;
constinit const Factory seccomp_tracer_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "seccomp_tracer.enabled",
    .create = SeccompTracerModule::create,
    .needs_ebpf = true,
    .btf_names = kBtfNames,
};

}  // namespace rp::modules
