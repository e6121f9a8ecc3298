// streams.cpp — see streams.h.
#include "modules/gpu/streams.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace rp::modules::gpu {

namespace {

enum MemKind : uint8_t { kGlobalMem = 0, kSharedMem = 1, kMemKinds = 2 };

struct Launch {
    uint64_t ktime_ns;
    uint64_t threads;
    uint64_t shared_mem;
};

struct Alloc {
    uint64_t ktime_ns;
    uint64_t size;
};

struct KernelSpan {
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t avg_threads;
    uint64_t avg_shared_mem;
};

struct MemSpan {
    uint64_t start_ns;
    uint64_t end_ns;  // 0 while allocated
    uint64_t size;
    MemKind kind;
};

uint64_t threads_of(const gpu_kernel_launch& e) {
    return uint64_t(e.grid.x) * e.grid.y * e.grid.z * e.block.x * e.block.y * e.block.z;
}

uint32_t pid_of(const gpu_event_header& h) { return static_cast<uint32_t>(h.pid_tgid >> 32); }
uint32_t tid_of(const gpu_event_header& h) { return static_cast<uint32_t>(h.pid_tgid); }

}  // namespace

uint64_t merged_length(std::vector<std::pair<uint64_t, uint64_t>>& iv) {
    if (iv.empty()) return 0;
    std::ranges::sort(iv);
    uint64_t total = 0;
    uint64_t s = iv[0].first, e = iv[0].second;
    for (size_t i = 1; i < iv.size(); ++i) {
        if (iv[i].first <= e) {
            e = std::max(e, iv[i].second);
        } else {
            total += e - s;
            s = iv[i].first;
            e = iv[i].second;
        }
    }
    return total + (e - s);
}

struct StreamTable::Stream {
    uint32_t pid = 0;
    uint64_t id = 0;
    bool global = false;
    std::string device_uuid;
    std::string container_id;
    std::vector<Launch> launches;
    std::unordered_map<uint64_t, Alloc> allocs;
    std::vector<KernelSpan> kernel_spans;  // finished, until the next check
    std::vector<MemSpan> mem_spans;        // finished, until the next check
    bool ended = false;
    uint64_t last_event_ns = 0;

    // The span of the waiting launches before `until` (ending at `until`), if any.
    bool span_before(uint64_t until, KernelSpan& out) const {
        uint64_t n = 0, threads = 0, shared = 0, start = std::numeric_limits<uint64_t>::max();
        for (const Launch& l : launches) {
            if (l.ktime_ns >= until) continue;
            start = std::min(start, l.ktime_ns);
            threads += l.threads;
            shared += l.shared_mem;
            ++n;
        }
        if (n == 0) return false;
        out = {start, until, threads / n, shared / n};
        return true;
    }

    void mark_sync(uint64_t ts, const StreamLimits& lim, StreamCounters& c) {
        KernelSpan span;
        if (!span_before(ts, span)) return;
        if (kernel_spans.size() < lim.max_pending_kernel_spans) {
            kernel_spans.push_back(span);
            ++c.kernel_spans;
        } else {
            ++c.rejected_kernel_spans;
        }
        std::erase_if(launches, [ts](const Launch& l) { return l.ktime_ns < ts; });
    }

    void push_mem_span(const MemSpan& s, const StreamLimits& lim, StreamCounters& c) {
        if (mem_spans.size() < lim.max_pending_memory_spans) {
            mem_spans.push_back(s);
            ++c.memory_spans;
        } else {
            ++c.rejected_memory_spans;
        }
    }
};

StreamTable::StreamTable(StreamContext& ctx, const StreamLimits& limits, uint64_t start_ns)
    : ctx_(ctx), limits_(limits), window_start_ns_(start_ns) {}

StreamTable::~StreamTable() = default;

size_t StreamTable::processes() const {
    size_t n = 0;
    uint32_t last = 0;
    bool any = false;
    for (const auto& [key, s] : streams_) {  // ordered by pid first
        if (!any || s->pid != last) ++n;
        any = true;
        last = s->pid;
    }
    return n;
}

StreamTable::Stream* StreamTable::create(const Key& key, uint32_t pid, uint64_t id,
                                         const GpuDevice& dev) {
    if (streams_.size() >= limits_.max_active) {
        ++counters_.rejected_streams;
        return nullptr;
    }
    auto s = std::make_unique<Stream>();
    s->pid = pid;
    s->id = id;
    s->global = std::get<1>(key);
    s->device_uuid = dev.uuid;
    s->container_id = ctx_.container_id(pid);
    return streams_.emplace(key, std::move(s)).first->second.get();
}

StreamTable::Stream* StreamTable::global_stream(const gpu_event_header& h, bool create_it) {
    std::string why;
    const GpuDevice* dev = ctx_.active_device(pid_of(h), tid_of(h), &why);
    if (dev == nullptr) {
        ++counters_.missing_devices;
        return nullptr;
    }
    Key key{pid_of(h), true, 0, dev->uuid};
    if (auto it = streams_.find(key); it != streams_.end()) return it->second.get();
    if (!create_it) return nullptr;
    return create(key, pid_of(h), 0, *dev);
}

StreamTable::Stream* StreamTable::stream(const gpu_event_header& h, bool create_it) {
    if (h.stream_id == 0) return global_stream(h, create_it);
    Key key{pid_of(h), false, h.stream_id, {}};
    if (auto it = streams_.find(key); it != streams_.end()) return it->second.get();
    if (!create_it) return nullptr;
    std::string why;
    const GpuDevice* dev = ctx_.active_device(pid_of(h), tid_of(h), &why);
    if (dev == nullptr) {
        ++counters_.missing_devices;
        return nullptr;
    }
    return create(key, pid_of(h), h.stream_id, *dev);
}

void StreamTable::on_kernel_launch(const gpu_kernel_launch& e) {
    ++counters_.kernel_launches;
    Stream* s = stream(e.hdr, true);
    if (s == nullptr || s->ended) return;
    s->last_event_ns = e.hdr.ktime_ns;
    s->launches.push_back({e.hdr.ktime_ns, threads_of(e), e.shared_mem_size});
    if (s->launches.size() >= limits_.max_kernel_launches) {
        // the sync "happens" just after this launch, so that the span includes it
        s->mark_sync(e.hdr.ktime_ns + 1, limits_, counters_);
        ++counters_.forced_syncs;
    }
}

void StreamTable::on_memory(const gpu_memory_event& e) {
    if (e.kind == GPU_MEM_MALLOC) {
        ++counters_.allocations;
        Stream* s = global_stream(e.hdr, true);
        if (s == nullptr || s->ended) return;
        s->last_event_ns = e.hdr.ktime_ns;
        if (!s->allocs.contains(e.addr) && s->allocs.size() >= limits_.max_mem_alloc_events) {
            auto oldest = std::ranges::min_element(
                s->allocs, {}, [](const auto& kv) { return kv.second.ktime_ns; });
            s->allocs.erase(oldest);
            ++counters_.alloc_evicted;
        }
        s->allocs[e.addr] = {e.hdr.ktime_ns, e.size};
        return;
    }
    ++counters_.frees;
    if (e.addr == 0) return;  // cudaFree(NULL) does nothing
    Stream* s = global_stream(e.hdr, false);
    std::unordered_map<uint64_t, Alloc>::iterator found;
    if (s != nullptr) found = s->allocs.find(e.addr);
    if (s == nullptr || found == s->allocs.end()) {
        // the thread may have switched devices since the allocation
        s = nullptr;
        for (auto& [key, other] : streams_) {
            if (other->pid != pid_of(e.hdr) || !other->global) continue;
            if (auto it = other->allocs.find(e.addr); it != other->allocs.end()) {
                s = other.get();
                found = it;
                break;
            }
        }
    }
    if (s == nullptr) {
        ++counters_.invalid_frees;
        return;
    }
    s->last_event_ns = e.hdr.ktime_ns;
    s->push_mem_span({found->second.ktime_ns, e.hdr.ktime_ns, found->second.size, kGlobalMem},
                     limits_, counters_);
    s->allocs.erase(found);
}

void StreamTable::on_sync(const gpu_sync& e) {
    ++counters_.syncs;
    Stream* s = stream(e.hdr, e.hdr.stream_id == 0);
    if (s == nullptr) {
        if (e.hdr.stream_id != 0) ++counters_.syncs_without_stream;
        return;
    }
    if (s->ended) return;
    s->last_event_ns = e.hdr.ktime_ns;
    s->mark_sync(e.hdr.ktime_ns, limits_, counters_);
}

void StreamTable::process_exited(uint32_t pid, uint64_t ktime_ns) {
    for (auto it = streams_.lower_bound(Key{pid, false, 0, {}});
         it != streams_.end() && std::get<0>(it->first) == pid; ++it) {
        Stream& s = *it->second;
        if (s.ended) continue;
        s.mark_sync(ktime_ns, limits_, counters_);
        for (const auto& [addr, a] : s.allocs) {
            s.push_mem_span({a.ktime_ns, std::max(ktime_ns, a.ktime_ns), a.size, kGlobalMem},
                            limits_, counters_);
            ++counters_.leaked_allocations;
        }
        s.allocs.clear();
        s.launches.clear();
        s.ended = true;
    }
}

void StreamTable::forget_process(uint32_t pid) {
    auto first = streams_.lower_bound(Key{pid, false, 0, {}});
    auto last = first;
    while (last != streams_.end() && std::get<0>(last->first) == pid) ++last;
    counters_.streams_removed += static_cast<uint64_t>(std::distance(first, last));
    streams_.erase(first, last);
}

namespace {

// Per-kind memory timeline: allocations still open add their size from their start; finished
// ones add it from start to end. Gives the bytes allocated at the end and the peak.
struct MemoryTimeline {
    std::vector<std::pair<uint64_t, int64_t>> points;  // (time, +size / -size)
    void add(const MemSpan& s) {
        points.emplace_back(s.start_ns, static_cast<int64_t>(s.size));
        if (s.end_ns != 0) points.emplace_back(s.end_ns, -static_cast<int64_t>(s.size));
    }
    void last_and_max(uint64_t& last, uint64_t& peak) {
        // at equal times frees come first: a free and a malloc of the same instant do not add up
        std::ranges::sort(points, [](const auto& a, const auto& b) {
            return a.first != b.first ? a.first < b.first : a.second < b.second;
        });
        int64_t cur = 0, top = 0;
        for (const auto& [t, d] : points) {
            cur += d;
            top = std::max(top, cur);
        }
        last = static_cast<uint64_t>(std::max<int64_t>(cur, 0));
        peak = static_cast<uint64_t>(top);
    }
};

struct Aggregate {
    uint64_t cores = 0;  // 0: unknown, threads are not capped
    double thread_seconds = 0;
    std::vector<std::pair<uint64_t, uint64_t>> intervals;
    MemoryTimeline mem[kMemKinds];
};

}  // namespace

std::expected<GpuStats, std::string> StreamTable::get_and_flush(uint64_t now_ns) {
    if (now_ns <= window_start_ns_)
        return std::unexpected("empty check window (" + std::to_string(now_ns) +
                               " <= " + std::to_string(window_start_ns_) + ")");
    const uint64_t w0 = window_start_ns_, w1 = now_ns;
    const double window_s = double(w1 - w0) / 1e9;

    using AggKey = std::tuple<uint32_t, std::string, std::string>;  // pid, device, container
    std::map<AggKey, Aggregate> aggs;
    std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> device_intervals;

    // `running`: the span's launches still wait for a sync (its shared memory is still held).
    auto add_kernel = [&](Aggregate& a, const std::string& dev, const KernelSpan& k, bool running) {
        uint64_t s = std::max(k.start_ns, w0), e = std::min(k.end_ns, w1);
        if (e > s) {
            uint64_t threads = a.cores != 0 ? std::min(k.avg_threads, a.cores) : k.avg_threads;
            a.thread_seconds += double(e - s) / 1e9 * double(threads);
            a.intervals.emplace_back(s, e);
            device_intervals[dev].emplace_back(s, e);
        }
        if (k.avg_shared_mem != 0)
            a.mem[kSharedMem].add(
                {k.start_ns, running ? 0 : k.end_ns, k.avg_shared_mem, kSharedMem});
    };

    for (auto& [key, sp] : streams_) {
        Stream& s = *sp;
        const GpuDevice* dev = ctx_.device(s.device_uuid);
        Aggregate& a = aggs[AggKey{s.pid, s.device_uuid, s.container_id}];
        if (dev != nullptr) a.cores = dev->cores;
        // finished data
        for (const KernelSpan& k : s.kernel_spans) add_kernel(a, s.device_uuid, k, false);
        for (const MemSpan& m : s.mem_spans) a.mem[m.kind].add(m);
        // current data: waiting launches run until now, open allocations are still held
        KernelSpan running;
        if (s.span_before(w1, running)) add_kernel(a, s.device_uuid, running, true);
        for (const auto& [addr, al] : s.allocs)
            if (al.ktime_ns < w1) a.mem[kGlobalMem].add({al.ktime_ns, 0, al.size, kGlobalMem});
        s.kernel_spans.clear();
        s.mem_spans.clear();
    }

    GpuStats out;
    out.processes.reserve(aggs.size());
    std::map<std::string, std::pair<double, double>> device_sums;  // uuid -> (cores, max bytes)
    for (auto& [key, a] : aggs) {
        ProcessStats p;
        p.pid = std::get<0>(key);
        p.device_uuid = std::get<1>(key);
        p.container_id = std::get<2>(key);
        p.used_cores = a.thread_seconds / window_s;
        p.active_time_pct =
            std::min(100.0, double(merged_length(a.intervals)) / double(w1 - w0) * 100.0);
        for (auto& t : a.mem) {
            uint64_t last = 0, peak = 0;
            t.last_and_max(last, peak);
            p.current_bytes += last;
            p.max_bytes += peak;
        }
        auto& sum = device_sums[p.device_uuid];
        sum.first += p.used_cores;
        sum.second += double(p.max_bytes);
        out.processes.push_back(std::move(p));
    }
    // Scale every process of a device down when together they exceed it.
    for (ProcessStats& p : out.processes) {
        const GpuDevice* dev = ctx_.device(p.device_uuid);
        if (dev == nullptr) continue;
        const auto& [cores, bytes] = device_sums[p.device_uuid];
        if (dev->cores != 0 && cores > double(dev->cores))
            p.used_cores /= cores / double(dev->cores);
        if (dev->memory_bytes != 0 && bytes > double(dev->memory_bytes)) {
            double f = bytes / double(dev->memory_bytes);
            p.current_bytes = uint64_t(double(p.current_bytes) / f);
            p.max_bytes = uint64_t(double(p.max_bytes) / f);
        }
    }
    for (auto& [uuid, iv] : device_intervals) {
        out.devices.push_back(
            {uuid, std::min(100.0, double(merged_length(iv)) / double(w1 - w0) * 100.0)});
    }

    // Remove what is done: ended streams (reported now, once), and streams quiet for `timeout`
    // (their waiting launches expire; a stream still holding allocations stays).
    for (auto it = streams_.begin(); it != streams_.end();) {
        Stream& s = *it->second;
        bool quiet = s.last_event_ns != 0 && now_ns > s.last_event_ns &&
                     now_ns - s.last_event_ns > limits_.timeout_ns;
        if (quiet && !s.launches.empty()) {
            counters_.expired_launches += s.launches.size();
            s.launches.clear();
        }
        if (s.ended || (quiet && s.allocs.empty())) {
            it = streams_.erase(it);
            ++counters_.streams_removed;
        } else {
            ++it;
        }
    }
    window_start_ns_ = now_ns;
    return out;
}

}  // namespace rp::modules::gpu
