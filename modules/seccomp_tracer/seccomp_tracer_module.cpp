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
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "bpf/runtime/cpu_slots.h"
#include "bpf/runtime/runtime.h"
#include "bpf/runtime/skeleton.h"
#include "bpf/seccomp_tracer.h"
#include "loop/log.h"
#include "modules/factories.h"
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
constexpr int64_t kDefaultMaxEntries = 10240;
constexpr uint32_t kBatchEntries = 256;  // entries read per BPF_MAP_LOOKUP_AND_DELETE_BATCH call
// Stacks reported per (pid, syscall, action), the most frequent first (system-probe's
// seccomp_tracer.max_stacks_per_tuple default); the others are counted in droppedStacks.
constexpr size_t kMaxStacksPerEntry = 10;
constexpr uint32_t kMaxStackIds = 2048;  // size of the `stacks` map when stack traces are on

int64_t config_int(const conf::Config& cfg, std::string_view key, int64_t fallback) {
    try {
        return cfg.get_int(key);
    } catch (const std::logic_error&) {
        return fallback;  // key not in this build's schema
    }
}

bool config_bool(const conf::Config& cfg, std::string_view key, bool fallback) {
    try {
        return cfg.get_bool(key);
    } catch (const std::logic_error&) {
        return fallback;
    }
}

std::string config_string(const conf::Config& cfg, std::string_view key, std::string_view fallback) {
    try {
        return cfg.get_string(key);
    } catch (const std::logic_error&) {
        return std::string(fallback);
    }
}

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

constexpr std::string_view kModeKey = "ringprobe.seccomp_tracer.mode";


std::string_view c_string(const char* s, size_t max) { return {s, ::strnlen(s, max)}; }

using DenialKeyTuple = std::tuple<uint32_t, uint32_t, uint32_t>;  // pid, syscall, action
DenialKeyTuple tuple_of(uint32_t pid, uint32_t nr, uint32_t action) { return {pid, nr, action}; }

// Reads and deletes every entry of a hash map into keys/values (appending). Uses
// BPF_MAP_LOOKUP_AND_DELETE_BATCH when the kernel has it, else walks and deletes key by key
// (then an entry re-created meanwhile may be read twice: the caller merges by key).
template <typename K, typename V>
std::expected<void, std::string> drain_map(int fd, std::string_view name, uint32_t max_entries,
                                           bool& batch_supported, std::vector<K>& keys,
                                           std::vector<V>& values) {
    if (batch_supported) {
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        alignas(8) unsigned char in_batch[8] = {}, out_batch[8] = {};
        bool first = true;
        uint32_t chunk = std::min(kBatchEntries, max_entries);
        for (;;) {
            size_t base = keys.size();
            keys.resize(base + chunk);
            values.resize(base + chunk);
            uint32_t n = chunk;
            int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : in_batch, out_batch,
                                                      keys.data() + base, values.data() + base, &n,
                                                      &opts);
            n = std::min(n, chunk);
            keys.resize(base + n);
            values.resize(base + n);
            if (err < 0 && first && n == 0 && base == 0 &&
                (err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP)) {
                batch_supported = false;  // kernel without batch operations on hash maps (< 5.6)
                break;
            }
            if (err == -ENOENT) return {};
            if (err == -ENOSPC && n == 0) {
                if (chunk >= max_entries)
                    return std::unexpected("read " + std::string(name) + ": bucket too large");
                chunk = std::min(chunk * 2, max_entries);  // one bucket holds more: read it again
                continue;
            }
            if (err < 0)
                return std::unexpected(
                    bpf::errno_message("read " + std::string(name) + " (batch)", -err));
            std::memcpy(in_batch, out_batch, sizeof in_batch);
            first = false;
        }
    }
    K key{};
    V value{};
    for (uint64_t n = 0; n < 2ULL * max_entries; ++n) {
        if (bpf_map_get_next_key(fd, nullptr, &key) != 0) break;
        int err = bpf_map_lookup_elem(fd, &key, &value);
        bpf_map_delete_elem(fd, &key);
        if (err != 0) continue;  // deleted meanwhile
        keys.push_back(key);
        values.push_back(value);
    }
    return {};
}

class SeccompTracerModule final : public Module {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps);
    ~SeccompTracerModule() override { close(); }

    std::expected<void, std::string> register_routes(http::Router& router) override {
        // system-probe registers /check for every method.
        router.handle("", "/check",
                      [this](const http::Request&, http::Response& res) { check(res); });
        return {};
    }

    void write_stats(http::JsonWriter& w) const override;

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
    SeccompTracerModule() = default;
    void check(http::Response& res);
    seccomp_counters sum_counters() const;

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
    std::string mode_reason_;                                        // why not replay
    std::map<std::string, std::string, std::less<>> missing_hooks_;  // tracepoint -> why
    bool batch_denials_ = true;
    bool batch_stacks_ = true;
    std::vector<seccomp_denial_key> keys_;
    std::vector<seccomp_denial_value> values_;
    std::vector<size_t> order_;  // indices into keys_/values_, sorted by key
    std::vector<seccomp_stack_key> stack_keys_;
    std::vector<uint64_t> stack_values_;
    std::unique_ptr<Symbolizer> symbolizer_;
    int ncpus_ = 1;
    bpf::CpuSlots counters_;  // the counters map, read from memory (no syscall per stats call)

    int64_t last_check_s_ = 0;
    uint64_t checks_ = 0;
    uint64_t last_check_entries_ = 0;
    uint64_t reported_denials_ = 0;  // sum of "count" over every entry served
    uint64_t orphan_stacks_ = 0;     // stack counts whose entry had already been flushed
    uint64_t flush_errors_ = 0;
    std::string last_flush_error_;
};

CreateResult SeccompTracerModule::create(const conf::Config& cfg, Dependencies& deps) {
    if (deps.bpf == nullptr) return std::unexpected("eBPF runtime not set up");
    bpf::Runtime& rt = *deps.bpf;
    using F = bpf::FeatureId;
    if (auto r = rt.require({F::bpf_syscall, F::btf}); !r) return std::unexpected(r.error());

    std::unique_ptr<SeccompTracerModule> m(new SeccompTracerModule());
    m->max_entries_ = static_cast<uint32_t>(std::clamp<int64_t>(
        config_int(cfg, "ringprobe.seccomp_tracer.max_entries", kDefaultMaxEntries), 1, 1 << 20));
    m->stack_traces_ = config_bool(cfg, "seccomp_tracer.stack_traces_enabled", false);
    const bool entry_marks_asked = config_string(cfg, kModeKey, "auto") == "entry_marks";
    m->ncpus_ = libbpf_num_possible_cpus();
    if (m->ncpus_ <= 0)
        return std::unexpected(bpf::errno_message("count possible CPUs", -m->ncpus_));

    // Tracepoints first (each needs btf_trace_<name> in the kernel's BTF); kprobe only as the
    // fallback the runtime detected. Replay needs the kernel to keep each filter's original
    // program, which it does exactly when it has seccomp_get_filter (CONFIG_CHECKPOINT_RESTORE).
    bool tracepoints = rt.has(F::tp_btf);
    bool can_replay = false;
    if (tracepoints) {
        btf* vmlinux = btf__parse(rt.options().btf_path.c_str(), nullptr);
        if (vmlinux == nullptr)
            return std::unexpected(bpf::errno_message("parse " + rt.options().btf_path, errno));
        for (const auto& h : kHooks) {
            std::string type = "btf_trace_" + std::string(h.tracepoint);
            if (btf__find_by_name_kind(vmlinux, type.c_str(), BTF_KIND_TYPEDEF) <= 0)
                m->missing_hooks_.emplace(h.tracepoint, "not in kernel BTF (no " + type + ")");
        }
        can_replay = btf__find_by_name_kind(vmlinux, "seccomp_get_filter", BTF_KIND_FUNC) > 0;
        btf__free(vmlinux);
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
            if (needed && m->missing_hooks_.count(h.tracepoint) != 0) tracepoints = false;
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
        m->missing_hooks_.clear();
    }

    uint32_t max_entries = m->max_entries_;
    bool stacks = m->stack_traces_;
    Mode mode = m->mode_;
    const auto& missing = m->missing_hooks_;
    auto skel = bpf::Skeleton<seccomp_tracer_bpf>::create(
        rt, kModuleName, "seccomp_tracer",
        [&](seccomp_tracer_bpf* s) -> std::expected<void, std::string> {
            for (const auto& h : kHooks) {
                bool load = mode != Mode::kprobe && missing.count(h.tracepoint) == 0 &&
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
    auto counters = bpf::CpuSlots::map(bpf_map__fd(m->skel_->maps.counters), "seccomp_tracer counters");
    if (!counters) return std::unexpected(counters.error());
    m->counters_ = std::move(*counters);
    if (m->stack_traces_) m->symbolizer_ = std::make_unique<Symbolizer>();

    std::string hooks;
    for (const auto& h : m->skel_.attached()) hooks += (hooks.empty() ? "" : ", ") + h;
    LOG_INFO(
        "seccomp_tracer: %s mode, attached %s (max_entries %u, stack traces %s, load %.1f ms, "
        "attach %.1f ms)",
        std::string(mode_name(m->mode_)).c_str(), hooks.c_str(), m->max_entries_,
        m->stack_traces_ ? "on" : "off", m->skel_.timings().load_ms, m->skel_.timings().attach_ms);
    if (!m->mode_reason_.empty())
        LOG_INFO("seccomp_tracer: not in replay mode: %s", m->mode_reason_.c_str());
    for (const auto& [tp, why] : m->missing_hooks_)
        LOG_INFO("seccomp_tracer: tracepoint %s %s", tp.c_str(), why.c_str());
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
    last_check_s_ = loop::Reactor::unix_now_s();
    ++checks_;

    // Stacks first: a denial counted between the two drains then lands in the next check with its
    // stack, instead of a stack without its entry.
    std::map<DenialKeyTuple, std::vector<StackCount>> stacks_of;
    std::string error;
    if (stack_traces_) {
        stack_keys_.clear();
        stack_values_.clear();
        auto r = drain_map(bpf_map__fd(skel_->maps.stack_counts), "stack_counts", max_entries_,
                           batch_stacks_, stack_keys_, stack_values_);
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
    auto r = drain_map(bpf_map__fd(skel_->maps.denials), "denials", max_entries_, batch_denials_,
                       keys_, values_);
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

seccomp_counters SeccompTracerModule::sum_counters() const {
    seccomp_counters total{};
    uint64_t words[std::size(total.c)] = {};
    if (counters_) counters_.sum_words(words, std::size(words));
    for (size_t i = 0; i < std::size(words); ++i) total.c[i] = words[i];
    return total;
}

void SeccompTracerModule::write_stats(http::JsonWriter& w) const {
    seccomp_counters c = sum_counters();
    w.start_object();
    w.kv_int("last_check", last_check_s_);
    w.kv("mode", mode_name(mode_));
    if (!mode_reason_.empty()) w.kv("mode_reason", mode_reason_);
    w.key("hooks");
    w.start_array();
    for (const auto& h : skel_.attached()) w.string(h);
    w.end_array();
    w.key("missing_hooks");
    w.start_object();
    for (const auto& [tp, why] : missing_hooks_) w.kv(tp, why);
    w.end_object();
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
        for (bpf_map* m : {skel_->maps.denials, skel_->maps.stacks, skel_->maps.stack_counts,
                           skel_->maps.counters, skel_->maps.task_state})
            memlock += bpf::fdinfo_memlock(bpf_map__fd(m));
    }
    w.kv_uint("map_memlock_bytes", memlock);
    w.kv_number("load_ms", skel_.timings().load_ms);
    w.kv_number("attach_ms", skel_.timings().attach_ms);
    w.end_object();
}

}  // namespace

CreateResult create_seccomp_tracer(const conf::Config& cfg, Dependencies& deps) {
    return SeccompTracerModule::create(cfg, deps);
}

}  // namespace rp::modules
