// streams.h — StreamTable: CUDA runtime records in, system-probe's GPUStats out (GetAndFlush).
//
// The rules are system-probe's (pkg/gpu/stream.go, stream_collection.go, aggregator.go, stats.go):
//   - Streams. A record with stream id S != 0 belongs to stream (pid, S), whose device is the one
//     the launching thread had active when the stream was first seen. Stream 0 (the default
//     stream; every cudaMalloc/cudaFree; cudaMemcpy's sync) is one "global" stream per
//     (pid, device), the device being the calling thread's active one at each call.
//   - Kernel spans. Launches wait in their stream until a sync of that stream; the sync turns all
//     launches before it into one span from the first launch to the sync, whose thread count is
//     the mean over those launches of grid.x*y*z * block.x*y*z (and whose dynamic shared memory,
//     the mean sharedMem, counts as a "shared" allocation for the span's duration). A stream
//     holding max_kernel_launches launches is synced at once (a missing sync must not hold them
//     forever). At a check, launches still waiting count as a span running until now.
//   - Memory spans. A successful cudaMalloc opens an allocation at its address (at most
//     max_mem_alloc_events per stream: the oldest is evicted); cudaFree of that address closes
//     it. At a check, open allocations count as current memory.
//   - Aggregation, per (pid, device UUID, container id), over the window since the previous
//     check: used cores = sum over spans of min(threads, device cores) * (seconds of the span
//     inside the window) / window seconds; active time % = union of the spans' time inside the
//     window / window * 100 (capped at 100); memory = per allocation kind, the allocated bytes
//     now (current_bytes) and their peak over the window (max_bytes), summed over kinds. When the
//     processes on one device add up to more cores (or peak memory) than it has, all of them are
//     scaled down by the same factor. Per device: active time % of the union of every span on it.
//   - A process's exit ends its streams: waiting launches become a span ending at the exit, open
//     allocations close as leaked; the data is reported at the next check and the streams go.
// Where ringprobe differs (each written down in docs/modules/gpu.md): a stream with no event for
// `timeout` drops its waiting launches but keeps open allocations (system-probe drops both, so a
// long-lived allocation vanished from memory usage after 30 s of quiet); a free looks in the
// process's other global streams when the current device's has no such allocation (the thread
// may have switched devices in between); cudaFree(NULL) is not an "invalid free"; a device with
// no core count does not cap threads at 0; processes that had no stream in the window are not
// reported with zeros; entries are sorted (pid, device, container).
//
// Bounded: max_active streams in all (more are refused and counted), per stream
// max_pending_kernel_spans / max_pending_memory_spans finished spans between two checks (more are
// counted and dropped), max_kernel_launches waiting launches, max_mem_alloc_events allocations.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "bpf/gpu.h"
#include "modules/gpu/devices.h"

namespace rp::modules::gpu {

struct StreamLimits {
    size_t max_active = 100;                  // gpu_monitoring.streams.max_active
    uint64_t timeout_ns = 30'000'000'000ull;  // gpu_monitoring.streams.timeout_seconds
    size_t max_kernel_launches = 1000;        // gpu_monitoring.streams.max_kernel_launches
    size_t max_mem_alloc_events = 1000;       // gpu_monitoring.streams.max_mem_alloc_events
    size_t max_pending_kernel_spans = 1000;   // gpu_monitoring.streams.max_pending_kernel_spans
    size_t max_pending_memory_spans = 1000;   // gpu_monitoring.streams.max_pending_memory_spans
};

struct StreamCounters {
    uint64_t kernel_launches = 0;
    uint64_t allocations = 0;
    uint64_t frees = 0;
    uint64_t syncs = 0;
    uint64_t kernel_spans = 0;           // finished spans (syncs with launches before them)
    uint64_t memory_spans = 0;           // finished allocations (freed, or closed at exit)
    uint64_t forced_syncs = 0;           // max_kernel_launches reached
    uint64_t alloc_evicted = 0;          // max_mem_alloc_events reached
    uint64_t invalid_frees = 0;          // free of an address with no open allocation
    uint64_t leaked_allocations = 0;     // open at the process's exit
    uint64_t rejected_kernel_spans = 0;  // max_pending_kernel_spans reached
    uint64_t rejected_memory_spans = 0;  // max_pending_memory_spans reached
    uint64_t rejected_streams = 0;       // max_active reached: the record was dropped
    uint64_t missing_devices = 0;        // no device for the calling thread: the record was dropped
    uint64_t syncs_without_stream = 0;   // sync of a stream never launched on
    uint64_t expired_launches = 0;       // waiting launches dropped after `timeout` of quiet
    uint64_t streams_removed = 0;
};

// What the table asks the rest of the module about processes and devices.
class StreamContext {
  public:
    virtual ~StreamContext() = default;
    // The device the thread's calls land on now, or nullptr (then *why says why).
    virtual const GpuDevice* active_device(uint32_t pid, uint32_t tid, std::string* why) = 0;
    // The device with this UUID, or nullptr (it went away since the stream was created).
    virtual const GpuDevice* device(std::string_view uuid) = 0;
    virtual std::string container_id(uint32_t pid) = 0;
};

struct ProcessStats {
    uint32_t pid = 0;
    std::string device_uuid;
    std::string container_id;
    double used_cores = 0;
    uint64_t current_bytes = 0;
    uint64_t max_bytes = 0;
    double active_time_pct = 0;
};

struct DeviceStats {
    std::string device_uuid;
    double active_time_pct = 0;
};

struct GpuStats {
    std::vector<ProcessStats> processes;
    std::vector<DeviceStats> devices;
};

class StreamTable {
  public:
    // `start_ns` (CLOCK_MONOTONIC) starts the first window.
    StreamTable(StreamContext& ctx, const StreamLimits& limits, uint64_t start_ns);
    ~StreamTable();
    StreamTable(const StreamTable&) = delete;
    StreamTable& operator=(const StreamTable&) = delete;

    void on_kernel_launch(const gpu_kernel_launch& e);
    void on_memory(const gpu_memory_event& e);
    void on_sync(const gpu_sync& e);
    // The process exited at `ktime_ns`: its streams end (reported once more, then removed).
    void process_exited(uint32_t pid, uint64_t ktime_ns);
    // Drops everything of the process without reporting it (detached on request).
    void forget_process(uint32_t pid);

    // Stats of the window since the previous call, then the finished data is flushed and ended or
    // expired streams are removed. Error when the window is empty (now_ns <= previous).
    std::expected<GpuStats, std::string> get_and_flush(uint64_t now_ns);

    size_t streams() const { return streams_.size(); }
    size_t processes() const;
    const StreamCounters& counters() const { return counters_; }
    const StreamLimits& limits() const { return limits_; }

    struct Stream;  // streams.cpp

  private:
    // (pid, 0, stream id) for a stream, (pid, 1, device UUID) for a global stream.
    using Key = std::tuple<uint32_t, bool, uint64_t, std::string>;
    Stream* global_stream(const gpu_event_header& h, bool create);
    Stream* stream(const gpu_event_header& h, bool create);
    Stream* create(const Key& key, uint32_t pid, uint64_t id, const GpuDevice& dev);

    StreamContext& ctx_;
    StreamLimits limits_;
    StreamCounters counters_;
    std::map<Key, std::unique_ptr<Stream>> streams_;
    uint64_t window_start_ns_;
};

// The total length covered by a set of [start, end) intervals (sorted in place).
uint64_t merged_length(std::vector<std::pair<uint64_t, uint64_t>>& intervals);

}  // namespace rp::modules::gpu
