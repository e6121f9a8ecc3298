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
// Every denial is also counted in a `totals` map that nothing deletes (/metrics:
// ringprobe_seccomp_denials_total{syscall, action}) and, while a client reads
// GET /seccomp_tracer/events, sent through a ring buffer as one NDJSON line each.
// ringprobe.seccomp_tracer.mode = "signals" loads no per-system-call hook at all (TRAP and KILL
// only: no cost on system calls, ERRNO not seen).
// Design, limits and measured overhead: docs/modules/seccomp_tracer.md.
//
// Without the kernel's own BTF: the raw_tp twins of the same hooks ("hook_kind": "raw_tp"),
// per-thread state in an LRU hash (ringprobe.seccomp_tracer.max_threads).
//
// Needs: BTF for CO-RE (the kernel's or system_probe_config.btf_path), bpf_loop (Linux >= 5.17);
// tp_btf and task storage (Linux >= 5.11), or raw tracepoints.
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
#include "modules/kit/event_stream.h"
#include "modules/seccomp_tracer/symbolizer.h"
#include "modules/seccomp_tracer/syscall_names.h"
#include "seccomp_tracer.skel.h"

static_assert(sizeof(seccomp_denial_key) == 16, "bpf/seccomp_tracer.h changed: update both sides");
static_assert(sizeof(seccomp_denial_value) ==
              16 + SECCOMP_TRACER_COMM_LEN + SECCOMP_TRACER_CGROUP_NAME_LEN);
static_assert(offsetof(seccomp_denial_value, comm) == 16);
static_assert(sizeof(seccomp_stack_key) == 16);
static_assert(sizeof(seccomp_counters) == 128);
static_assert(SECCOMP_CNT_COUNT <= 16);
static_assert(sizeof(seccomp_total_key) == 16);
static_assert(sizeof(seccomp_denial_event) ==
              32 + SECCOMP_TRACER_COMM_LEN + SECCOMP_TRACER_CGROUP_NAME_LEN);

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "seccomp_tracer";
constexpr std::string_view kNamespaces[] = {"seccomp_tracer", "ringprobe.seccomp_tracer",
                                            "ringprobe.events"};
constexpr uint32_t kMaxTotals = 1024;  // the totals map's size (bpf/seccomp_tracer.bpf.c)

constexpr http::MetricFamily kDenials{
    "ringprobe_seccomp_denials", http::MetricKind::counter,
    "seccomp denials since the module started, by system call and action (kill_process, "
    "kill_thread, trap, errno_<NAME>)."};
constexpr int64_t kDefaultMaxEntries = 10240;
constexpr int64_t kDefaultMaxThreads = 8192;
// Stacks reported per (pid, syscall, action), the most frequent first (system-probe's
// seccomp_tracer.max_stacks_per_tuple default); the others are counted in droppedStacks.
constexpr size_t kMaxStacksPerEntry = 10;
constexpr uint32_t kMaxStackIds = 2048;  // size of the `stacks` map when stack traces are on

// Counter names as /debug/stats shows them, in enum seccomp_counter order.
constexpr std::string_view kCounterNames[SECCOMP_CNT_COUNT] = {
    "denials",      "map_full",     "stack_map_full",    "stack_errors",  "replays",
    "inferred",     "not_denied",   "replay_mismatch",   "replay_errors", "unknown_skips",
    "ptrace_skips", "state_errors", "kill_thread_exits", "totals_full",
};

// How denials are found (docs/modules/seccomp_tracer.md).
enum class Mode { replay, entry_marks, signals, kprobe };
std::string_view mode_name(Mode m) {
    switch (m) {
        case Mode::replay:
            return "replay";
        case Mode::signals:
            return "signals";
        case Mode::entry_marks:
            return "entry_marks";
        case Mode::kprobe:
            return "kprobe";
    }
    return "?";
}

// The hooks: the kernel tracepoint (btf_trace_<name> for tp_btf; <system>/<name> in tracefs for
// raw_tp) and the tp_btf program and its raw_tp twin.
struct Hook {
    std::string_view system;
    std::string_view tracepoint;
    bpf_program* (*program)(seccomp_tracer_bpf*);
    bpf_program* (*raw_program)(seccomp_tracer_bpf*);
    bool entry_marks_only;
};
constexpr Hook kHooks[] = {
    {"raw_syscalls", "sys_enter", [](seccomp_tracer_bpf* s) { return s->progs.seccomp_sys_enter; },
     [](seccomp_tracer_bpf* s) { return s->progs.seccomp_sys_enter_raw; }, true},
    {"raw_syscalls", "sys_exit", [](seccomp_tracer_bpf* s) { return s->progs.seccomp_sys_exit; },
     [](seccomp_tracer_bpf* s) { return s->progs.seccomp_sys_exit_raw; }, false},
    {"signal", "signal_generate",
     [](seccomp_tracer_bpf* s) { return s->progs.seccomp_signal_generate; },
     [](seccomp_tracer_bpf* s) { return s->progs.seccomp_signal_generate_raw; }, false},
    {"sched", "sched_process_exit",
     [](seccomp_tracer_bpf* s) { return s->progs.seccomp_process_exit; },
     [](seccomp_tracer_bpf* s) { return s->progs.seccomp_process_exit_raw; }, false},
};
// Which programs carry the hooks.
enum class HookKind { tp_btf, raw_tp, kprobe };
std::string_view hook_kind_name(HookKind k) {
    switch (k) {
        case HookKind::tp_btf:
            return "tp_btf";
        case HookKind::raw_tp:
            return "raw_tp";
        case HookKind::kprobe:
            return "kprobe";
    }
    return "?";
}
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
        track_ring(nullptr);
        ring_.reset();
        skel_.destroy();
        keys_ = {};
        values_ = {};
        order_ = {};
        stack_keys_ = {};
        stack_values_ = {};
        symbolizer_.reset();
    }

    void end_streams() override { events_.end_all(); }

  private:
    explicit SeccompTracerModule(kit::EventStreamLimits limits)
        : BpfModule(kModuleName), events_(kModuleName, limits) {}
    void check(http::Response& res) override;
    void register_extra_routes(http::Router& router) override { events_.register_route(router); }
    void write_extra_stats(http::JsonWriter& w) const override;
    void write_extra_metrics(http::MetricsWriter& w) const override;
    void on_event(std::span<const std::byte> rec);

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
    std::string mode_reason_;  // why not replay
    HookKind hook_kind_ = HookKind::tp_btf;
    std::string hook_kind_reason_;  // why not tp_btf
    uint32_t max_threads_ = kDefaultMaxThreads;
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
    std::unique_ptr<bpf::RingBuffer> ring_;  // denial events, filled only while events_ listens
    kit::EventStreams events_;
    uint64_t events_received_ = 0;
};

CreateResult SeccompTracerModule::create(const conf::Config& cfg, Dependencies& deps) {
    using F = bpf::FeatureId;
    auto rt_or = runtime(deps, {F::bpf_syscall, F::btf});
    if (!rt_or) return std::unexpected(rt_or.error());
    bpf::Runtime& rt = **rt_or;

    std::unique_ptr<SeccompTracerModule> m(new SeccompTracerModule(kit::event_stream_limits(cfg)));
    m->max_entries_ = static_cast<uint32_t>(std::clamp<int64_t>(
        kit::config_int(cfg, "ringprobe.seccomp_tracer.max_entries", kDefaultMaxEntries), 1,
        1 << 20));
    m->max_threads_ = static_cast<uint32_t>(std::clamp<int64_t>(
        kit::config_int(cfg, "ringprobe.seccomp_tracer.max_threads", kDefaultMaxThreads), 1,
        1 << 20));
    m->stack_traces_ = kit::config_bool(cfg, "seccomp_tracer.stack_traces_enabled", false);
    const std::string mode_asked = kit::config_string(cfg, kModeKey, "auto");
    const bool entry_marks_asked = mode_asked == "entry_marks";
    const bool signals_asked = mode_asked == "signals";

    // Hooks: tp_btf where the kernel has its own BTF (each needs btf_trace_<name> in it), else the
    // raw_tp twins (each needs its trace event); kprobe only as the fallback the runtime detected
    // (it uses BTF-typed helpers: kernel BTF too).
    bool tracepoints = true;
    if (rt.has(F::tp_btf)) {
        m->hook_kind_ = HookKind::tp_btf;
        for (const auto& h : kHooks) {
            std::string type = "btf_trace_" + std::string(h.tracepoint);
            if (!rt.btf_has(BTF_KIND_TYPEDEF, type))
                m->add_missing_hook(h.tracepoint, "not in kernel BTF (no " + type + ")");
        }
    } else if (rt.has(F::raw_tracepoint)) {
        if (signals_asked) {
            // raw_tp programs find a thread's registers through an offset measured at sys_exit,
            // the hook signals mode exists to avoid; loading it anyway would hide the cost asked
            // to be left out.
            return std::unexpected(
                std::string(kModeKey) + " \"signals\" needs the kernel's own BTF (tp_btf): " +
                bpf::Runtime::missing_message(rt.feature(F::tp_btf)) +
                "; without it the raw_tp hooks find a thread's registers only from sys_exit, "
                "which signals mode does not load (use mode \"auto\")");
        }
        m->hook_kind_ = HookKind::raw_tp;
        m->hook_kind_reason_ = bpf::Runtime::missing_message(rt.feature(F::tp_btf));
        for (const auto& h : kHooks) {
            std::string why;
            if (!rt.has_tracepoint(h.system, h.tracepoint, &why))
                m->add_missing_hook(h.tracepoint, why);
        }
    } else {
        tracepoints = false;
    }
    // Replay needs the kernel to keep each filter's original program, which it does exactly when
    // it has seccomp_get_filter (CONFIG_CHECKPOINT_RESTORE): a function in the kernel's BTF, or,
    // without it (a minimized external BTF lists no functions), in /proc/kallsyms.
    bool can_replay = false;
    if (tracepoints) {
        std::string why;
        can_replay = rt.btf_has(BTF_KIND_FUNC, "seccomp_get_filter") ||
                     (!rt.has(F::kernel_btf) && bpf::kallsyms_has("seccomp_get_filter", &why));
        if (signals_asked) {
            // No system call hook: TRAP and KILL from their SIGSYS (replayed, where the kernel
            // allows it, to tell KILL_PROCESS from KILL_THREAD); ERRNO is not seen.
            m->mode_ = Mode::signals;
            m->mode_reason_ = std::string(kModeKey) +
                              " is \"signals\": TRAP and KILL only, ERRNO denials are not seen";
        } else if (!can_replay) {
            m->mode_ = Mode::entry_marks;
            m->mode_reason_ =
                "kernel keeps no copy of seccomp filters (no seccomp_get_filter: "
                "CONFIG_CHECKPOINT_RESTORE is off)";
            if (!why.empty()) m->mode_reason_ += "; " + why;
        } else if (entry_marks_asked) {
            can_replay = false;
            m->mode_ = Mode::entry_marks;
            m->mode_reason_ = std::string(kModeKey) + " is \"entry_marks\"";
        }
        // sys_exit finds ERRNO, signal_generate TRAP and KILL; sys_enter is needed without replay.
        // sched_process_exit only adds KILL_THREAD of a thread with siblings.
        for (const auto& h : kHooks) {
            bool needed = h.tracepoint != "sched_process_exit" &&
                          (!h.entry_marks_only || m->mode_ == Mode::entry_marks) &&
                          (m->mode_ != Mode::signals || h.tracepoint == "signal_generate");
            if (needed && m->hook_missing(h.tracepoint)) tracepoints = false;
        }
    }
    if (!tracepoints) {
        if (!rt.has(F::kprobe) || !rt.has(F::kernel_btf)) {
            std::string why;
            if (rt.has(F::tp_btf) || rt.has(F::raw_tracepoint))
                why = "kernel lacks the sys_exit/signal_generate tracepoints";
            else
                why = bpf::Runtime::missing_message(rt.feature(F::tp_btf)) + "; " +
                      bpf::Runtime::missing_message(rt.feature(F::raw_tracepoint));
            return std::unexpected(
                why + ", and " +
                (rt.has(F::kprobe)
                     ? std::string("kretprobe/seccomp_run_filters needs kernel BTF")
                     : std::string("has no kprobes for kretprobe/seccomp_run_filters")));
        }
        m->mode_ = Mode::kprobe;
        m->mode_reason_ = rt.has(F::tp_btf) ? "tracepoints missing" : "no tp_btf";
        m->hook_kind_ = HookKind::kprobe;
        m->hook_kind_reason_ = m->mode_reason_;
        m->clear_missing_hooks();
    }

    uint32_t max_entries = m->max_entries_;
    uint32_t max_threads = m->max_threads_;
    bool stacks = m->stack_traces_;
    Mode mode = m->mode_;
    const bool raw = m->hook_kind_ == HookKind::raw_tp;
    const SeccompTracerModule& self = *m;
    auto skel = bpf::Skeleton<seccomp_tracer_bpf>::create(
        rt, kModuleName, "seccomp_tracer",
        [&](seccomp_tracer_bpf* s) -> std::expected<void, std::string> {
            for (const auto& h : kHooks) {
                bool per_call = h.tracepoint == "sys_enter" || h.tracepoint == "sys_exit";
                bool load = mode != Mode::kprobe && !self.hook_missing(h.tracepoint) &&
                            (!h.entry_marks_only || mode == Mode::entry_marks) &&
                            !(per_call && mode == Mode::signals);
                bpf_program__set_autoload(h.program(s), load && !raw);
                bpf_program__set_autoload(h.raw_program(s), load && raw);
            }
            // Per-thread state: task storage, or (raw_tp) the LRU hash by thread id.
            bpf_map__set_autocreate(s->maps.task_state, !raw);
            bpf_map__set_autocreate(s->maps.task_states, raw);
            if (int err = bpf_map__set_max_entries(s->maps.task_states, max_threads); err != 0)
                return std::unexpected(bpf::errno_message("size task_states", -err));
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
            if (auto r = bpf::size_cpu_slots(s->maps.lost_events); !r) return r;
            return bpf::size_cpu_slots(s->maps.counters);
        });
    if (!skel) return std::unexpected(skel.error());
    m->skel_ = std::move(*skel);
    m->track(m->skel_.core());
    SeccompTracerModule* me = m.get();
    auto ring = m->watch_ring(deps, "seccomp_tracer/events", m->skel_->maps.events,
                              m->skel_->maps.lost_events,
                              [me](std::span<const std::byte> rec) { me->on_event(rec); });
    if (!ring) return std::unexpected(ring.error());
    m->ring_ = std::move(*ring);
    // The BPF side sends events only while someone reads them.
    m->events_.on_listening([me](bool on) {
        if (me->skel_ && me->skel_->bss != nullptr)
            __atomic_store_n(&me->skel_->bss->events_enabled, on ? 1u : 0u, __ATOMIC_RELEASE);
    });
    auto counters =
        bpf::CpuSlots::map(bpf_map__fd(m->skel_->maps.counters), "seccomp_tracer counters");
    if (!counters) return std::unexpected(counters.error());
    m->counters_ = std::move(*counters);
    m->denials_ = bpf::MapDrain(bpf_map__fd(m->skel_->maps.denials), "denials", m->max_entries_);
    m->stack_counts_ =
        bpf::MapDrain(bpf_map__fd(m->skel_->maps.stack_counts), "stack_counts", m->max_entries_);
    if (m->stack_traces_) m->symbolizer_ = std::make_unique<Symbolizer>();

    m->log_attached(
        std::string(hook_kind_name(m->hook_kind_)) + " hooks, " + std::string(mode_name(m->mode_)) +
        " mode, BTF " + std::string(bpf::btf_source_name(rt.btf_source())) + ", max_entries " +
        std::to_string(m->max_entries_) + ", stack traces " + (m->stack_traces_ ? "on" : "off"));
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

void SeccompTracerModule::on_event(std::span<const std::byte> rec) {
    ++events_received_;
    if (rec.size() < sizeof(seccomp_denial_event)) {
        LOG_WARN("seccomp_tracer: short event record (%zu bytes)", rec.size());
        return;
    }
    seccomp_denial_event e;
    std::memcpy(&e, rec.data(), sizeof e);
    const bool compat = (e.flags & SECCOMP_DENIAL_F_COMPAT) != 0;
    char action[kActionLabelBytes];
    events_.publish([&](http::JsonWriter& w) {
        w.start_object();
        kit::write_event_time(w, e.timestamp_ns);
        w.kv("cgroupName", c_string(e.cgroup_name, sizeof e.cgroup_name));
        w.kv_uint("syscallNr", e.syscall_nr);
        std::string_view name = syscall_name(e.syscall_nr, compat);
        if (!name.empty()) w.kv("syscall", name);
        w.kv_uint("seccompAction", e.action);
        w.kv("action", action_label(e.action, e.data, action));
        if ((e.flags & SECCOMP_DENIAL_F_DATA_UNKNOWN) == 0) w.kv_uint("actionData", e.data);
        w.kv_uint("pid", e.pid);
        w.kv_uint("tid", e.tid);
        w.kv("comm", c_string(e.comm, sizeof e.comm));
        if (compat) w.kv_bool("compat", true);
        if ((e.flags & SECCOMP_DENIAL_F_INFERRED) != 0) w.kv_bool("inferred", true);
        w.end_object();
    });
}

void SeccompTracerModule::write_extra_metrics(http::MetricsWriter& w) const {
    events_.write_metrics(w);
    if (!skel_) return;
    // The totals map is small (at most kMaxTotals keys) and never deleted from: walk it.
    int fd = bpf_map__fd(skel_->maps.totals);
    seccomp_total_key key{}, next{};
    const seccomp_total_key* prev = nullptr;
    char syscall_buf[kSyscallLabelBytes];
    char action_buf[kActionLabelBytes];
    for (uint32_t i = 0; i < kMaxTotals && bpf_map_get_next_key(fd, prev, &next) == 0; ++i) {
        key = next;
        prev = &key;
        uint64_t n = 0;
        if (bpf_map_lookup_elem(fd, &key, &n) != 0) continue;
        w.counter(kDenials,
                  {{"syscall", syscall_label(key.syscall_nr, key.compat != 0, syscall_buf)},
                   {"action", action_label(key.action, key.data, action_buf)}},
                  n);
    }
}

void SeccompTracerModule::write_extra_stats(http::JsonWriter& w) const {
    const auto c = counters_.sum_as<seccomp_counters>();
    w.kv("mode", mode_name(mode_));
    if (!mode_reason_.empty()) w.kv("mode_reason", mode_reason_);
    w.kv("hook_kind", hook_kind_name(hook_kind_));
    if (!hook_kind_reason_.empty()) w.kv("hook_kind_reason", hook_kind_reason_);
    if (hook_kind_ == HookKind::raw_tp) w.kv_uint("max_threads", max_threads_);
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
                               skel_->maps.counters, skel_->maps.task_state, skel_->maps.totals,
                               skel_->maps.events, skel_->maps.lost_events});
    }
    w.kv_uint("map_memlock_bytes", memlock);
    w.kv_uint("events_received", events_received_);
    w.key("event_streams");
    events_.write_stats(w);
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
