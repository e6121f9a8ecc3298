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
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "bpf/runtime/cpu_slots.h"
#include "bpf/runtime/runtime.h"
#include "bpf/runtime/skeleton.h"
#include "bpf/tcp_queue_length.h"
#include "loop/log.h"
#include "modules/factories.h"
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
constexpr int64_t kDefaultMaxCgroups = 10240;
constexpr uint32_t kBatchEntries = 256;  // entries read per BPF_MAP_LOOKUP_AND_DELETE_BATCH call

int64_t config_int(const conf::Config& cfg, std::string_view key, int64_t fallback) {
    try {
        return cfg.get_int(key);
    } catch (const std::logic_error&) {
        return fallback;  // key not in this build's schema
    }
}

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

// Which of kHooks this kernel has, with the reason for each missing one. Each is a trace event,
// listed in tracefs when it exists: one access() per hook. Without tracefs, the kernel's BTF
// (btf_trace_<name>) is parsed instead, which costs 60-300 ms and megabytes for a moment.
std::expected<void, std::string> find_hooks(
    const bpf::Runtime& rt, bool (&present)[TCPQ_HOOK_COUNT],
    std::map<std::string, std::string, std::less<>>& missing) {
    if (!rt.tracefs_dir().empty()) {
        for (size_t i = 0; i < TCPQ_HOOK_COUNT; ++i) {
            std::string dir = rt.tracefs_dir() + "/events/" + std::string(kHooks[i].system) + "/" +
                              std::string(kHooks[i].tracepoint);
            present[i] = ::access(dir.c_str(), F_OK) == 0;
            if (!present[i]) missing.emplace(kHooks[i].tracepoint, "no trace event " + dir);
        }
        return {};
    }
    btf* vmlinux = btf__parse(rt.options().btf_path.c_str(), nullptr);
    if (vmlinux == nullptr)
        return std::unexpected(bpf::errno_message("parse " + rt.options().btf_path, errno));
    for (size_t i = 0; i < TCPQ_HOOK_COUNT; ++i) {
        std::string type = "btf_trace_" + std::string(kHooks[i].tracepoint);
        present[i] = btf__find_by_name_kind(vmlinux, type.c_str(), BTF_KIND_TYPEDEF) > 0;
        if (!present[i])
            missing.emplace(kHooks[i].tracepoint, "not in kernel BTF (no " + type + ")");
    }
    btf__free(vmlinux);
    return {};
}

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

class TcpQueueLengthModule final : public Module {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps);
    ~TcpQueueLengthModule() override { close(); }

    std::expected<void, std::string> register_routes(http::Router& router) override {
        // system-probe registers /check for every method.
        router.handle("", "/check",
                      [this](const http::Request&, http::Response& res) { check(res); });
        return {};
    }

    void write_stats(http::JsonWriter& w) const override;

    void close() override {
        skel_.destroy();
        keys_.clear();
        keys_.shrink_to_fit();
        values_.clear();
        values_.shrink_to_fit();
    }

  private:
    TcpQueueLengthModule() = default;
    void check(http::Response& res);
    // Reads and deletes every entry of queue_stats into `w` (inside an open object). Returns the
    // number of entries, or an error after writing those read so far.
    std::expected<size_t, std::string> flush_batched(http::JsonWriter& w, bool& unsupported);
    std::expected<size_t, std::string> flush_one_by_one(http::JsonWriter& w);
    void write_entry(http::JsonWriter& w, const tcpq_key& key, const tcpq_value* per_cpu);
    tcpq_counters sum_counters() const;

    bpf::Skeleton<tcp_queue_length_bpf> skel_;
    uint32_t max_cgroups_ = kDefaultMaxCgroups;
    int ncpus_ = 1;
    uint32_t batch_entries_ = kBatchEntries;
    std::vector<tcpq_key> keys_;      // batch_entries_
    std::vector<tcpq_value> values_;  // batch_entries_ * ncpus_
    bpf::CpuSlots counters_;  // the counters map, read from memory (no syscall per stats call)
    uint64_t map_memlock_ = 0;  // fixed once the maps exist: read once, not per /debug/stats
    bool batch_supported_ = true;
    std::map<std::string, std::string, std::less<>> missing_hooks_;  // tracepoint -> why

    int64_t last_check_s_ = 0;
    uint64_t checks_ = 0;
    uint64_t last_check_cgroups_ = 0;
    uint64_t flush_errors_ = 0;
    std::string last_flush_error_;
};

CreateResult TcpQueueLengthModule::create(const conf::Config& cfg, Dependencies& deps) {
    if (deps.bpf == nullptr) return std::unexpected("eBPF runtime not set up");
    bpf::Runtime& rt = *deps.bpf;
    using F = bpf::FeatureId;
    if (auto r = rt.require({F::bpf_syscall, F::btf, F::tp_btf}); !r)
        return std::unexpected(r.error());

    std::unique_ptr<TcpQueueLengthModule> m(new TcpQueueLengthModule());
    int64_t max_cgroups =
        config_int(cfg, "ringprobe.tcp_queue_length.max_cgroups", kDefaultMaxCgroups);
    m->max_cgroups_ = static_cast<uint32_t>(std::clamp<int64_t>(max_cgroups, 1, 1 << 20));
    m->ncpus_ = libbpf_num_possible_cpus();
    if (m->ncpus_ <= 0)
        return std::unexpected(bpf::errno_message("count possible CPUs", -m->ncpus_));

    // Load only the programs whose tracepoint exists: one missing target fails the whole load.
    bool present[TCPQ_HOOK_COUNT] = {};
    if (auto r = find_hooks(rt, present, m->missing_hooks_); !r) return std::unexpected(r.error());
    bool any_sampler = false;
    for (size_t i = 0; i < TCPQ_HOOK_COUNT; ++i)
        any_sampler = any_sampler || (present[i] && kHooks[i].samples);
    if (!any_sampler) {
        std::string why;
        for (const auto& [tp, reason] : m->missing_hooks_)
            why += (why.empty() ? "" : "; ") + reason;
        return std::unexpected(
            "kernel has none of the tracepoints tcp_sendmsg_locked, "
            "tcp_rcv_space_adjust, tcp_probe (" +
            why + ")");
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
    auto counters = bpf::CpuSlots::map(bpf_map__fd(m->skel_->maps.counters), "tcp_queue_length counters");
    if (!counters) return std::unexpected(counters.error());
    m->counters_ = std::move(*counters);

    m->batch_entries_ = std::min(kBatchEntries, m->max_cgroups_);
    m->keys_.resize(m->batch_entries_);
    m->values_.resize(static_cast<size_t>(m->batch_entries_) * static_cast<size_t>(m->ncpus_));
    m->map_memlock_ += bpf::fdinfo_memlock(bpf_map__fd(m->skel_->maps.queue_stats));
    m->map_memlock_ += bpf::fdinfo_memlock(bpf_map__fd(m->skel_->maps.sock_cgroup));
    m->map_memlock_ += bpf::fdinfo_memlock(bpf_map__fd(m->skel_->maps.counters));
    m->map_memlock_ += bpf::fdinfo_memlock(bpf_map__fd(m->skel_->maps.bss));

    std::string hooks;
    for (const auto& h : m->skel_.attached()) hooks += (hooks.empty() ? "" : ", ") + h;
    LOG_INFO("tcp_queue_length_tracer: attached %s (max_cgroups %u, load %.1f ms, attach %.1f ms)",
             hooks.c_str(), m->max_cgroups_, m->skel_.timings().load_ms,
             m->skel_.timings().attach_ms);
    for (const auto& [tp, why] : m->missing_hooks_)
        LOG_INFO("tcp_queue_length_tracer: tracepoint %s %s", tp.c_str(), why.c_str());
    return m;
}

void TcpQueueLengthModule::write_entry(http::JsonWriter& w, const tcpq_key& key,
                                       const tcpq_value* per_cpu) {
    uint32_t read = 0, write = 0;
    for (int c = 0; c < ncpus_; ++c) {
        read = std::max(read, per_cpu[c].read_buffer_max_usage);
        write = std::max(write, per_cpu[c].write_buffer_max_usage);
    }
    // string(), not key(): a cgroup name may hold any bytes, and string() writes invalid UTF-8 as
    // U+FFFD. RapidJSON writes a string in key position as the key.
    w.string(key_name(key));
    w.start_object();
    w.kv_uint("read_buffer_max_usage", read);
    w.kv_uint("write_buffer_max_usage", write);
    w.end_object();
}

std::expected<size_t, std::string> TcpQueueLengthModule::flush_batched(http::JsonWriter& w,
                                                                       bool& unsupported) {
    int fd = bpf_map__fd(skel_->maps.queue_stats);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    // A hash map's batch position is a bucket index (u32); keep room for any layout.
    alignas(8) unsigned char in_batch[8] = {}, out_batch[8] = {};
    bool first = true;
    size_t total = 0;
    for (;;) {
        uint32_t count = batch_entries_;
        int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : in_batch, out_batch,
                                                  keys_.data(), values_.data(), &count, &opts);
        if (err < 0 && first && total == 0 && count == 0 &&
            (err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP)) {
            unsupported = true;  // kernel without batch operations on hash maps (< 5.6)
            return 0;
        }
        for (uint32_t i = 0; i < count && i < batch_entries_; ++i)
            write_entry(w, keys_[i], &values_[static_cast<size_t>(i) * ncpus_]);
        total += count;
        if (err == -ENOENT) return total;  // no more buckets
        if (err == -ENOSPC && count == 0) {
            // One bucket holds more entries than the buffer: grow it and read that bucket again.
            if (batch_entries_ >= max_cgroups_)
                return std::unexpected("read queue_stats: bucket larger than max_cgroups");
            batch_entries_ = std::min(batch_entries_ * 2, max_cgroups_);
            keys_.resize(batch_entries_);
            values_.resize(static_cast<size_t>(batch_entries_) * ncpus_);
            continue;
        }
        if (err < 0) return std::unexpected(bpf::errno_message("read queue_stats (batch)", -err));
        std::memcpy(in_batch, out_batch, sizeof in_batch);
        first = false;
    }
}

std::expected<size_t, std::string> TcpQueueLengthModule::flush_one_by_one(http::JsonWriter& w) {
    // Without batch operations a key deleted here may be inserted again by the kernel before the
    // walk ends: merge by name first so that the JSON object never repeats a key. Bounded: at
    // most 2 * max_cgroups entries are taken per check.
    int fd = bpf_map__fd(skel_->maps.queue_stats);
    std::map<std::string, tcpq_value, std::less<>> merged;
    std::vector<tcpq_value> per_cpu(static_cast<size_t>(ncpus_));
    tcpq_key key{};
    for (uint64_t n = 0; n < 2ULL * max_cgroups_; ++n) {
        if (bpf_map_get_next_key(fd, nullptr, &key) != 0) break;
        int err = bpf_map_lookup_elem(fd, &key, per_cpu.data());
        bpf_map_delete_elem(fd, &key);
        if (err != 0) continue;  // deleted meanwhile
        tcpq_value& v = merged[std::string(key_name(key))];
        for (const auto& c : per_cpu) {
            v.read_buffer_max_usage = std::max(v.read_buffer_max_usage, c.read_buffer_max_usage);
            v.write_buffer_max_usage = std::max(v.write_buffer_max_usage, c.write_buffer_max_usage);
        }
    }
    for (const auto& [name, v] : merged) {
        w.string(name);  // key position, sanitized (see write_entry)
        w.start_object();
        w.kv_uint("read_buffer_max_usage", v.read_buffer_max_usage);
        w.kv_uint("write_buffer_max_usage", v.write_buffer_max_usage);
        w.end_object();
    }
    return merged.size();
}

void TcpQueueLengthModule::check(http::Response& res) {
    if (!skel_) {
        res.error(503, "tcp_queue_length_tracer is closed");
        return;
    }
    last_check_s_ = loop::Reactor::unix_now_s();
    ++checks_;
    http::JsonWriter& w = res.json();
    w.start_object();
    std::expected<size_t, std::string> n = 0;
    if (batch_supported_) {
        bool unsupported = false;
        n = flush_batched(w, unsupported);
        if (unsupported) {
            batch_supported_ = false;
            LOG_INFO("tcp_queue_length_tracer: no batch map operations, reading entry by entry");
        }
    }
    if (!batch_supported_) n = flush_one_by_one(w);
    w.end_object();
    // After the flush, not before: sockets whose record predates it must sample into the map
    // again (see record() in bpf/tcp_queue_length.bpf.c).
    if (skel_->bss != nullptr) __atomic_add_fetch(&skel_->bss->flush_period, 1, __ATOMIC_RELEASE);
    if (n) {
        last_check_cgroups_ = *n;
    } else {
        // What was read (and deleted) is still served; the rest waits for the next check.
        ++flush_errors_;
        if (n.error() != last_flush_error_)
            LOG_WARN("tcp_queue_length_tracer: %s", n.error().c_str());
        last_flush_error_ = n.error();
    }
}

tcpq_counters TcpQueueLengthModule::sum_counters() const {
    static_assert(sizeof(tcpq_counters) % sizeof(uint64_t) == 0, "tcpq_counters: u64 fields only");
    uint64_t words[sizeof(tcpq_counters) / sizeof(uint64_t)] = {};
    if (counters_) counters_.sum_words(words, std::size(words));
    tcpq_counters total;
    std::memcpy(&total, words, sizeof total);
    return total;
}

void TcpQueueLengthModule::write_stats(http::JsonWriter& w) const {
    tcpq_counters c = sum_counters();
    w.start_object();
    w.kv_int("last_check", last_check_s_);
    w.key("hooks");
    w.start_array();
    for (const auto& h : skel_.attached()) w.string(h);
    w.end_array();
    w.key("missing_hooks");
    w.start_object();
    for (const auto& [tp, why] : missing_hooks_) w.kv(tp, why);
    w.end_object();
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
    w.kv_number("load_ms", skel_.timings().load_ms);
    w.kv_number("attach_ms", skel_.timings().attach_ms);
    w.end_object();
}

}  // namespace

CreateResult create_tcp_queue_length(const conf::Config& cfg, Dependencies& deps) {
    return TcpQueueLengthModule::create(cfg, deps);
}

}  // namespace rp::modules
