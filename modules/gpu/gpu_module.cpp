// gpu_module.cpp — gpu: which process uses which GPU and how much, from uprobes on the CUDA
// runtime, served as system-probe's GET /gpu/check (model.GPUStats, GetAndFlush) with its debug
// routes /gpu/debug/{collect-events,traced-programs,attach-pid,detach-pid}.
//
// Kernel side: bpf/gpu.bpf.c (uprobes on libcudart / CUDA executables / libc setenv; exec, exit
// and library-open tracepoints), one ring buffer watched by the reactor. User space:
//   - ProcessTracer (process_tracer.h): which processes use CUDA (a /proc scan at start and every
//     process_scan_interval_seconds; exec / open / exit records as they happen), uprobes per file;
//   - StreamTable (streams.h): kernel and memory spans per stream, aggregation per process and
//     device at each /check;
//   - Nvml (nvml.h): the devices (UUID, cores, memory), dlopened, refreshed on a timer.
// Field provenance, the routes' contract and every difference from system-probe:
// docs/modules/gpu.md.
//
// Needs: kernel BTF, tp_btf, tracepoints, uprobes, BPF ring buffer; NVML for /check.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <liburing.h>
#include <simdjson.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bpf/gpu.h"
#include "bpf/runtime/cpu_slots.h"
#include "bpf/runtime/ring_buffer.h"
#include "conf/duration.h"
#include "gpu.skel.h"
#include "loop/log.h"
#include "loop/timer.h"
#include "modules/gpu/devices.h"
#include "modules/gpu/nvml.h"
#include "modules/gpu/process_tracer.h"
#include "modules/gpu/streams.h"
#include "modules/kit/bpf_module.h"
#include "modules/kit/config.h"

static_assert(sizeof(gpu_event_header) == 32, "bpf/gpu.h layout changed: update both sides");
static_assert(sizeof(gpu_kernel_launch) == 72);
static_assert(sizeof(gpu_memory_event) == 56);
static_assert(sizeof(gpu_sync) == 32);
static_assert(sizeof(gpu_set_device) == 40);
static_assert(sizeof(gpu_visible_devices) == 32 + GPU_VISIBLE_DEVICES_LEN);
static_assert(sizeof(gpu_proc_event) == 32);
static_assert(sizeof(gpu_lib_open) == 32 + GPU_PATH_LEN);
static_assert(sizeof(gpu_file_key) == 16);

namespace rp::modules {
namespace {

using gpu::GpuDevice;

constexpr std::string_view kModuleName = "gpu";
constexpr std::string_view kNamespaces[] = {"gpu_monitoring", "ringprobe.gpu"};
constexpr std::string_view kBtfNames[] = {"btf_trace_sched_process_exec"};
constexpr uint32_t kDefaultCollectedEvents = 100;  // system-probe's default count
constexpr uint64_t kUnknownPidRescanNs = 1'000'000'000;
constexpr size_t kMaxUnknownPids = 4096;
constexpr size_t kMaxPendingVisible = 1024;
constexpr uint64_t kPendingRetryMs = 100;

// Closes a descriptor on the kernel's io-wq workers (IORING_OP_CLOSE with IOSQE_ASYNC), so that
// the last close of a uprobe's perf event, which waits for RCU grace periods (uprobe.h), never
// blocks the loop. The handler lives for the whole program (a close may complete after the module
// that asked for it is gone); without a free SQE the close is done here.
class AsyncCloser final : public loop::Handler {
  public:
    static void close(loop::Reactor& r, int fd) {
        static AsyncCloser closer;
        io_uring_sqe* sqe = nullptr;
        if (!r.prepare(&closer, 0, &sqe)) {
            ++closer.sync_closes_;
            ::close(fd);
            return;
        }
        io_uring_prep_close(sqe, fd);
        sqe->flags |= IOSQE_ASYNC;
    }
    void on_completion(uint32_t, const loop::Completion& c) override {
        if (c.res < 0) LOG_WARN("gpu: asynchronous close: %s", std::strerror(-c.res));
    }

  private:
    uint64_t sync_closes_ = 0;
};

uint64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

uint64_t duration_ms(const conf::Config& cfg, std::string_view key, uint64_t fallback_ms) {
    auto ns = conf::parse_go_duration_ns(kit::config_string(cfg, key, ""));
    return ns ? *ns / 1'000'000 : fallback_ms;
}

// /gpu/check keys: json tags (snake_case) or the Go field names of an untagged model.
struct Keys {
    std::string_view process_metrics, key, pid, device_uuid, container_id, utilization_metrics,
        used_cores, memory, current_bytes, max_bytes, active_time_pct, device_metrics, metrics;
};
constexpr Keys kSnakeKeys{"process_metrics",
                          "key",
                          "pid",
                          "device_uuid",
                          "container_id",
                          "utilization_metrics",
                          "used_cores",
                          "memory",
                          "current_bytes",
                          "max_bytes",
                          "active_time_pct",
                          "device_metrics",
                          "metrics"};
constexpr Keys kGoKeys{
    "ProcessMetrics",     "Key",           "PID",    "DeviceUUID",   "ContainerID",
    "UtilizationMetrics", "UsedCores",     "Memory", "CurrentBytes", "MaxBytes",
    "ActiveTimePct",      "DeviceMetrics", "Metrics"};

std::string_view event_type_name(uint32_t t) {
    switch (t) {
        case GPU_EV_KERNEL_LAUNCH:
            return "kernel_launch";
        case GPU_EV_MEMORY:
            return "memory";
        case GPU_EV_SYNC:
            return "sync";
        case GPU_EV_SET_DEVICE:
            return "set_device";
        case GPU_EV_VISIBLE_DEVICES_SET:
            return "visible_devices_set";
        case GPU_EV_PROC_EXEC:
            return "exec";
        case GPU_EV_PROC_EXIT:
            return "exit";
        case GPU_EV_LIB_OPEN:
            return "library_open";
    }
    return "unknown";
}

// Counters of the records read, by type.
struct RecordCounters {
    uint64_t cuda[GPU_EV_CUDA_TYPES] = {};
    uint64_t exec = 0, exit = 0, lib_open = 0;
    uint64_t bad = 0;              // too short, or of an unknown type
    uint64_t untraced = 0;         // CUDA records of a process that is not traced
    uint64_t blocked = 0;          // CUDA records of a process detached on request
    uint64_t pending_visible = 0;  // CUDA_VISIBLE_DEVICES set before the process was traced
};

class GpuModule final : public kit::BpfModule, public gpu::StreamContext {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps);
    ~GpuModule() override { close(); }
    void close() override;

  private:
    GpuModule() : BpfModule(kModuleName) {}

    void check(http::Response& res) override;
    void register_extra_routes(http::Router& router) override;
    void write_extra_stats(http::JsonWriter& w) const override;
    void write_extra_metrics(http::MetricsWriter& w) const override;

    // StreamContext
    const GpuDevice* active_device(uint32_t pid, uint32_t tid, std::string* why) override;
    const GpuDevice* device(std::string_view uuid) override;
    std::string container_id(uint32_t pid) override;

    void on_record(std::span<const std::byte> rec);
    void on_cuda(const gpu_event_header& h, std::span<const std::byte> rec);
    void process_gone(uint32_t pid, uint64_t ktime_ns);
    gpu::TracedProcess* traced(uint32_t pid, uint64_t ktime_ns);
    void refresh_devices();
    void update_flush_timer();
    void now_traced(uint32_t pid, const char* why);
    void write_stats_json(http::JsonWriter& w, const gpu::GpuStats& s) const;

    // /debug routes
    void collect_events(const http::Request& req, http::Response& res);
    void traced_programs(http::Response& res) const;
    void attach_pid(const http::Request& req, http::Response& res, bool attach);
    struct Collector;
    void record_event(const gpu_event_header& h, std::span<const std::byte> rec);
    void finish_collector(Collector& c);

    loop::Reactor* reactor_ = nullptr;
    loop::CpuAccount* cpu_ = nullptr;  // the module's share of the loop's CPU (self cost)
    bool probes_enabled_ = true;
    bpf::Skeleton<gpu_bpf> skel_;
    std::unique_ptr<bpf::RingBuffer> ring_;
    std::unique_ptr<gpu::ProcessTracer> tracer_;
    std::unique_ptr<gpu::StreamTable> streams_;
    const Keys* keys_ = &kSnakeKeys;

    // NVML and the devices
    std::string nvml_path_;
    std::unique_ptr<gpu::Nvml> nvml_;
    std::string nvml_error_;
    std::vector<GpuDevice> devices_;
    uint64_t devices_generation_ = 1;
    uint64_t nvml_loads_ = 0;

    loop::Timer flush_timer_;
    loop::Timer device_timer_;
    loop::Timer scan_timer_;
    loop::Timer pending_timer_;  // processes that opened a runtime but do not map it yet
    uint64_t flush_ms_ = 1000;

    // per traced process: its visible devices, for the current device list and its environment
    struct Visible {
        uint64_t proc_generation = ~0ull;
        uint64_t devices_generation = 0;
        std::vector<size_t> list;
    };
    std::unordered_map<uint32_t, Visible> visible_;
    std::unordered_map<uint32_t, uint64_t> unknown_pids_;  // pid -> last scan (ktime)
    std::unordered_map<uint32_t, std::string> pending_visible_;
    RecordCounters records_;
    bool detailed_logs_ = false;
    bool scan_only_ = false;  // ringprobe.gpu.library_opens = "scan"

    // /debug/collect-events
    struct Collector {
        http::Deferred answer;
        size_t want = 0;
        size_t got = 0;
        std::string rows;
        loop::Timer timeout;
        bool done = false;
    };
    std::list<std::unique_ptr<Collector>> collectors_;
    size_t max_collect_ = 100000;
    uint64_t collect_timeout_ms_ = 30000;
    http::Buffer row_buf_;
    std::unique_ptr<http::JsonWriter> row_writer_;
};

CreateResult GpuModule::create(const conf::Config& cfg, Dependencies& deps) {
    std::unique_ptr<GpuModule> m(new GpuModule());
    // system-probe: /check behind WithConcurrencyLimit(1) (GetAndFlush); a second one gets 429.
    m->set_check_limit(1);
    m->reactor_ = &deps.reactor;
    m->cpu_ = deps.cpu;
    m->probes_enabled_ = kit::config_bool(cfg, "gpu_monitoring.enable_ebpf_probes", true);
    m->keys_ = kit::config_string(cfg, "ringprobe.gpu.json_keys", "snake_case") == "go_field_names"
                   ? &kGoKeys
                   : &kSnakeKeys;
    m->max_collect_ = size_t(kit::config_int(cfg, "ringprobe.gpu.max_collect_events", 100000));
    m->collect_timeout_ms_ =
        uint64_t(kit::config_int(cfg, "ringprobe.gpu.collect_events_timeout_ms", 30000));
    m->detailed_logs_ = kit::config_bool(cfg, "gpu_monitoring.attacher_detailed_logs", false);
    m->row_writer_ = std::make_unique<http::JsonWriter>(m->row_buf_);

    // NVML first: the ring buffer is sized by the number of devices.
    m->nvml_path_ = kit::config_string(cfg, "gpu_monitoring.nvml_lib_path", "");
    m->refresh_devices();
    GpuModule* self = m.get();
    uint64_t refresh_ms = duration_ms(cfg, "gpu_monitoring.device_cache_refresh_interval", 5000);
    m->device_timer_.init(deps.reactor, [self] {
        loop::CpuScope scope(self->cpu_);
        self->refresh_devices();
    });
    if (refresh_ms > 0) m->device_timer_.arm_every(refresh_ms);

    if (!m->probes_enabled_) {
        LOG_INFO("gpu: eBPF probes disabled (gpu_monitoring.enable_ebpf_probes = false)");
        return m;
    }

    using F = bpf::FeatureId;
    auto rt_or = runtime(deps, {F::bpf_syscall, F::btf, F::ring_buffer, F::tp_btf, F::tracepoint});
    if (!rt_or) return std::unexpected(rt_or.error());
    bpf::Runtime& rt = **rt_or;

    std::string why;
    // Library opens: the openat syscall tracepoints, unless ringprobe.gpu.library_opens = "scan"
    // (any syscall tracepoint puts every system call of the host on the slow path:
    // docs/modules/gpu.md, "Overhead").
    m->scan_only_ = kit::config_string(cfg, "ringprobe.gpu.library_opens", "tracepoints") == "scan";
    bool opens = false;
    if (!m->scan_only_) {
        opens = rt.has_tracepoint("syscalls", "sys_enter_openat", &why) &&
                rt.has_tracepoint("syscalls", "sys_exit_openat", &why);
        if (!opens) m->add_missing_hook("syscalls/sys_enter_openat", why);
    }

    uint32_t max_processes = uint32_t(kit::config_int(cfg, "ringprobe.gpu.max_processes", 1024));
    uint64_t pages =
        uint64_t(kit::config_int(cfg, "gpu_monitoring.ring_buffer_pages_per_device", 32)) *
        std::max<uint64_t>(1, m->devices_.size());
    uint64_t ring_bytes = std::max<uint64_t>(64, pages) * uint64_t(::getpagesize());
    uint64_t pow2 = 1;
    while (pow2 < ring_bytes) pow2 <<= 1;
    uint32_t wakeup = uint32_t(kit::config_int(cfg, "gpu_monitoring.ringbuffer_wakeup_size", 3000));

    auto skel = bpf::Skeleton<gpu_bpf>::create(
        rt, kModuleName, "gpu", [&](gpu_bpf* s) -> std::expected<void, std::string> {
            s->rodata->wakeup_bytes = wakeup;
            s->rodata->self_tgid = uint32_t(::getpid());
            bpf_map__set_max_entries(s->maps.cuda_events, uint32_t(pow2));
            bpf_map__set_max_entries(s->maps.traced_pids, max_processes);
            // uprobes are attached per file by the ProcessTracer
            bpf_program* uprobes[] = {
                s->progs.gpu_launch_kernel,   s->progs.gpu_malloc,
                s->progs.gpu_malloc_ret,      s->progs.gpu_free,
                s->progs.gpu_stream_sync,     s->progs.gpu_stream_sync_ret,
                s->progs.gpu_set_device,      s->progs.gpu_set_device_ret,
                s->progs.gpu_event_record,    s->progs.gpu_event_query,
                s->progs.gpu_event_query_ret, s->progs.gpu_event_sync,
                s->progs.gpu_event_sync_ret,  s->progs.gpu_event_destroy,
                s->progs.gpu_memcpy,          s->progs.gpu_memcpy_ret,
                s->progs.gpu_setenv,
            };
            for (bpf_program* p : uprobes) bpf_program__set_autoattach(p, false);
            bpf_program__set_autoload(s->progs.gpu_openat_enter, opens);
            bpf_program__set_autoload(s->progs.gpu_openat_exit, opens);
            return bpf::size_cpu_slots(s->maps.lost_events);
        });
    if (!skel) return std::unexpected(skel.error());
    m->skel_ = std::move(*skel);
    m->track(m->skel_.core());

    auto* s = m->skel_.get();
    std::vector<gpu::ProbeSpec> cuda = {
        {"cudaLaunchKernel", s->progs.gpu_launch_kernel, false},
        {"cudaMalloc", s->progs.gpu_malloc, false},
        {"cudaMalloc", s->progs.gpu_malloc_ret, true},
        {"cudaFree", s->progs.gpu_free, false},
        {"cudaStreamSynchronize", s->progs.gpu_stream_sync, false},
        {"cudaStreamSynchronize", s->progs.gpu_stream_sync_ret, true},
        {"cudaSetDevice", s->progs.gpu_set_device, false},
        {"cudaSetDevice", s->progs.gpu_set_device_ret, true},
        {"cudaEventRecord", s->progs.gpu_event_record, false},
        {"cudaEventQuery", s->progs.gpu_event_query, false},
        {"cudaEventQuery", s->progs.gpu_event_query_ret, true},
        {"cudaEventSynchronize", s->progs.gpu_event_sync, false},
        {"cudaEventSynchronize", s->progs.gpu_event_sync_ret, true},
        {"cudaEventDestroy", s->progs.gpu_event_destroy, false},
        {"cudaMemcpy", s->progs.gpu_memcpy, false},
        {"cudaMemcpy", s->progs.gpu_memcpy_ret, true},
    };
    std::vector<gpu::ProbeSpec> libc = {{"setenv", s->progs.gpu_setenv, false}};
    gpu::TracerLimits tl;
    tl.max_processes = max_processes;
    tl.max_files = size_t(kit::config_int(cfg, "ringprobe.gpu.max_files", 64));
    loop::Reactor* reactor = &deps.reactor;
    m->tracer_ = std::make_unique<gpu::ProcessTracer>(
        tl, std::move(cuda), std::move(libc), bpf_map__fd(s->maps.traced_pids),
        bpf_map__fd(s->maps.exe_verdicts), uint32_t(::getpid()),
        [reactor](int fd) { AsyncCloser::close(*reactor, fd); });

    gpu::StreamLimits sl;
    sl.max_active = size_t(kit::config_int(cfg, "gpu_monitoring.streams.max_active", 100));
    sl.timeout_ns = uint64_t(kit::config_int(cfg, "gpu_monitoring.streams.timeout_seconds", 30)) *
                    1'000'000'000ull;
    sl.max_kernel_launches =
        size_t(kit::config_int(cfg, "gpu_monitoring.streams.max_kernel_launches", 1000));
    sl.max_mem_alloc_events =
        size_t(kit::config_int(cfg, "gpu_monitoring.streams.max_mem_alloc_events", 1000));
    sl.max_pending_kernel_spans =
        size_t(kit::config_int(cfg, "gpu_monitoring.streams.max_pending_kernel_spans", 1000));
    sl.max_pending_memory_spans =
        size_t(kit::config_int(cfg, "gpu_monitoring.streams.max_pending_memory_spans", 1000));
    m->streams_ = std::make_unique<gpu::StreamTable>(*m, sl, monotonic_ns());

    // (drains counted in the module's CPU account, tracked for /metrics)
    auto ring = m->watch_ring(deps, "gpu/cuda_events", s->maps.cuda_events, s->maps.lost_events,
                              [self](std::span<const std::byte> rec) { self->on_record(rec); });
    if (!ring) return std::unexpected(ring.error());
    m->ring_ = std::move(*ring);

    m->flush_ms_ = duration_ms(cfg, "gpu_monitoring.ringbuffer_flush_interval", 1000);
    m->flush_timer_.init(deps.reactor, [self] {
        if (self->ring_) self->ring_->drain();
    });

    auto gone = [self](uint32_t pid) { self->process_gone(pid, monotonic_ns()); };
    if (kit::config_bool(cfg, "gpu_monitoring.initial_process_sync", true))
        m->tracer_->scan_all(gone);
    int64_t scan_s = kit::config_int(cfg, "gpu_monitoring.process_scan_interval_seconds", 5);
    m->scan_timer_.init(deps.reactor, [self, gone] {
        loop::CpuScope scope(self->cpu_);
        self->tracer_->scan_all(gone);
        std::erase_if(self->pending_visible_, [](const auto& kv) {
            return ::access(("/proc/" + std::to_string(kv.first)).c_str(), F_OK) != 0;
        });
        self->update_flush_timer();
    });
    if (scan_s > 0) m->scan_timer_.arm_every(uint64_t(scan_s) * 1000);
    m->pending_timer_.init(deps.reactor, [self] {
        loop::CpuScope scope(self->cpu_);
        for (uint32_t pid : self->tracer_->retry_pending())
            self->now_traced(pid, "maps a CUDA runtime");
        if (!self->tracer_->has_pending()) self->pending_timer_.cancel();
    });
    m->update_flush_timer();

    std::string details = std::to_string(m->devices_.size()) + " GPU(s), " +
                          std::to_string(m->tracer_->processes().size()) + " CUDA process(es), " +
                          std::to_string(pow2 / 1024) + " KiB ring";
    if (!m->nvml_) details += ", no NVML: " + m->nvml_error_;
    m->log_attached(details);
    return m;
}

void GpuModule::close() {
    for (auto& c : collectors_) finish_collector(*c);
    collectors_.clear();
    flush_timer_.cancel();
    device_timer_.cancel();
    scan_timer_.cancel();
    pending_timer_.cancel();
    track_ring(nullptr);
    ring_.reset();
    tracer_.reset();  // destroys the uprobe links
    streams_.reset();
    skel_.destroy();
    nvml_.reset();
}

// ---- devices -------------------------------------------------------------------------------

void GpuModule::refresh_devices() {
    if (!nvml_) {
        auto n = gpu::Nvml::open(nvml_path_);
        if (!n) {
            if (nvml_error_ != n.error()) LOG_WARN("gpu: no NVML: %s", n.error().c_str());
            nvml_error_ = n.error();
            if (!devices_.empty()) {
                devices_.clear();
                ++devices_generation_;
            }
            return;
        }
        nvml_ = std::move(*n);
        ++nvml_loads_;
        nvml_error_.clear();
    }
    auto devs = nvml_->devices();
    if (!devs) {
        if (nvml_error_ != devs.error()) LOG_WARN("gpu: NVML: %s", devs.error().c_str());
        nvml_error_ = devs.error();
        return;
    }
    bool same = devs->size() == devices_.size();
    for (size_t i = 0; same && i < devs->size(); ++i)
        same = (*devs)[i].uuid == devices_[i].uuid && (*devs)[i].index == devices_[i].index &&
               (*devs)[i].cores == devices_[i].cores &&
               (*devs)[i].memory_bytes == devices_[i].memory_bytes;
    nvml_error_.clear();
    if (same) return;
    devices_ = std::move(*devs);
    ++devices_generation_;
    for (const GpuDevice& d : devices_)
        LOG_INFO("gpu: device %u %s (%s): %llu cores, %llu bytes", d.index, d.uuid.c_str(),
                 d.name.c_str(), (unsigned long long)d.cores, (unsigned long long)d.memory_bytes);
}

const GpuDevice* GpuModule::active_device(uint32_t pid, uint32_t tid, std::string* why) {
    gpu::TracedProcess* p = tracer_ ? tracer_->process(pid) : nullptr;
    if (devices_.empty()) {
        if (why) *why = nvml_ ? "NVML reports no GPU device" : "no NVML: " + nvml_error_;
        return nullptr;
    }
    int32_t ordinal = 0;
    if (p != nullptr) {
        if (auto it = p->thread_device.find(tid); it != p->thread_device.end())
            ordinal = it->second;
    }
    Visible& v = visible_[pid];
    uint64_t pgen = p != nullptr ? p->generation : 0;
    if (v.proc_generation != pgen || v.devices_generation != devices_generation_) {
        std::optional<std::string_view> env;
        if (p != nullptr && p->visible_devices) env = *p->visible_devices;
        v.list = gpu::visible_devices(devices_, env);
        v.proc_generation = pgen;
        v.devices_generation = devices_generation_;
    }
    if (ordinal < 0 || size_t(ordinal) >= v.list.size()) {
        if (why)
            *why = "device ordinal " + std::to_string(ordinal) + " of pid " + std::to_string(pid) +
                   " is not among its " + std::to_string(v.list.size()) + " visible devices";
        return nullptr;
    }
    return &devices_[v.list[size_t(ordinal)]];
}

const GpuDevice* GpuModule::device(std::string_view uuid) {
    for (const GpuDevice& d : devices_)
        if (d.uuid == uuid) return &d;
    return nullptr;
}

std::string GpuModule::container_id(uint32_t pid) {
    gpu::TracedProcess* p = tracer_ ? tracer_->process(pid) : nullptr;
    return p != nullptr ? p->container_id : std::string();
}

// ---- records -------------------------------------------------------------------------------

void GpuModule::update_flush_timer() {
    bool want = tracer_ && !tracer_->processes().empty();
    if (want && !flush_timer_.armed()) flush_timer_.arm_every(flush_ms_);
    if (!want && flush_timer_.armed()) flush_timer_.cancel();
}

void GpuModule::process_gone(uint32_t pid, uint64_t ktime_ns) {
    if (streams_) streams_->process_exited(pid, ktime_ns);
    if (tracer_) tracer_->forget(pid);
    visible_.erase(pid);
    pending_visible_.erase(pid);
    update_flush_timer();
}

void GpuModule::now_traced(uint32_t pid, const char* why) {
    unknown_pids_.erase(pid);
    if (detailed_logs_) LOG_INFO("gpu: tracing pid %u (%s)", pid, why);
    if (auto pv = pending_visible_.find(pid); pv != pending_visible_.end()) {
        if (gpu::TracedProcess* p = tracer_->process(pid))
            tracer_->set_visible_devices(*p, std::move(pv->second));
        pending_visible_.erase(pv);
    }
    update_flush_timer();
}

gpu::TracedProcess* GpuModule::traced(uint32_t pid, uint64_t ktime_ns) {
    if (gpu::TracedProcess* p = tracer_->process(pid)) return p;
    // A process we have not seen (its library was mapped before we looked, or a record about it
    // was lost): read it, at most once a second.
    auto it = unknown_pids_.find(pid);
    if (it != unknown_pids_.end() && ktime_ns - it->second < kUnknownPidRescanNs) return nullptr;
    if (unknown_pids_.size() >= kMaxUnknownPids) unknown_pids_.clear();
    unknown_pids_[pid] = ktime_ns;
    if (tracer_->scan(pid) != gpu::ProcessTracer::Result::traced) return nullptr;
    now_traced(pid, "a CUDA call");
    return tracer_->process(pid);
}

void GpuModule::on_record(std::span<const std::byte> rec) {
    if (rec.size() < sizeof(gpu_event_header)) {
        ++records_.bad;
        return;
    }
    gpu_event_header h;
    std::memcpy(&h, rec.data(), sizeof h);
    const uint32_t pid = uint32_t(h.pid_tgid >> 32);
    auto sized = [&](size_t want) {
        if (rec.size() >= want) return true;
        ++records_.bad;
        return false;
    };
    switch (h.type) {
        case GPU_EV_PROC_EXEC: {
            ++records_.exec;
            // a traced process replaced its image: what it did is over
            if (tracer_->process(pid) != nullptr) process_gone(pid, h.ktime_ns);
            tracer_->unblock(pid);
            unknown_pids_.erase(pid);
            if (tracer_->scan(pid) == gpu::ProcessTracer::Result::traced)
                now_traced(pid, "exec of a CUDA executable");
            return;
        }
        case GPU_EV_PROC_EXIT:
            ++records_.exit;
            if (detailed_logs_) LOG_INFO("gpu: pid %u exited", pid);
            process_gone(pid, h.ktime_ns);
            unknown_pids_.erase(pid);
            tracer_->unblock(pid);
            return;
        case GPU_EV_LIB_OPEN: {
            if (!sized(sizeof(gpu_lib_open))) return;
            ++records_.lib_open;
            gpu_lib_open e;
            std::memcpy(&e, rec.data(), sizeof e);
            std::string_view path(e.path, ::strnlen(e.path, sizeof e.path));
            LOG_DEBUG("gpu: pid %u opened %.*s", pid, int(path.size()), path.data());
            bool was = tracer_->process(pid) != nullptr;
            if (tracer_->opened(pid, path) == gpu::ProcessTracer::Result::traced && !was)
                now_traced(pid, "opened a CUDA runtime");
            if (tracer_->has_pending() && !pending_timer_.armed())
                pending_timer_.arm_every(kPendingRetryMs);
            return;
        }
        default:
            break;
    }
    if (h.type >= GPU_EV_CUDA_TYPES) {
        ++records_.bad;
        return;
    }
    on_cuda(h, rec);
}

void GpuModule::on_cuda(const gpu_event_header& h, std::span<const std::byte> rec) {
    static constexpr size_t kSizes[GPU_EV_CUDA_TYPES] = {
        sizeof(gpu_kernel_launch), sizeof(gpu_memory_event), sizeof(gpu_sync),
        sizeof(gpu_set_device), sizeof(gpu_visible_devices)};
    if (rec.size() < kSizes[h.type]) {
        ++records_.bad;
        return;
    }
    ++records_.cuda[h.type];
    const uint32_t pid = uint32_t(h.pid_tgid >> 32);
    if (tracer_->blocked(pid)) {
        ++records_.blocked;
        return;
    }
    if (!collectors_.empty()) record_event(h, rec);  // system-probe's debug collector sees all
    gpu::TracedProcess* p = traced(pid, h.ktime_ns);
    if (p == nullptr) {
        if (h.type == GPU_EV_VISIBLE_DEVICES_SET) {
            // set before the process loads CUDA (the usual order): kept for when it does
            gpu_visible_devices e;
            std::memcpy(&e, rec.data(), sizeof e);
            if (pending_visible_.size() >= kMaxPendingVisible) pending_visible_.clear();
            pending_visible_[pid] = std::string(e.value, ::strnlen(e.value, sizeof e.value));
            ++records_.pending_visible;
            return;
        }
        ++records_.untraced;
        return;
    }
    switch (h.type) {
        case GPU_EV_KERNEL_LAUNCH: {
            gpu_kernel_launch e;
            std::memcpy(&e, rec.data(), sizeof e);
            streams_->on_kernel_launch(e);
            break;
        }
        case GPU_EV_MEMORY: {
            gpu_memory_event e;
            std::memcpy(&e, rec.data(), sizeof e);
            streams_->on_memory(e);
            break;
        }
        case GPU_EV_SYNC: {
            gpu_sync e;
            std::memcpy(&e, rec.data(), sizeof e);
            streams_->on_sync(e);
            break;
        }
        case GPU_EV_SET_DEVICE: {
            gpu_set_device e;
            std::memcpy(&e, rec.data(), sizeof e);
            tracer_->set_thread_device(*p, uint32_t(h.pid_tgid), e.device);
            break;
        }
        case GPU_EV_VISIBLE_DEVICES_SET: {
            gpu_visible_devices e;
            std::memcpy(&e, rec.data(), sizeof e);
            tracer_->set_visible_devices(*p,
                                         std::string(e.value, ::strnlen(e.value, sizeof e.value)));
            break;
        }
    }
}

// ---- /check ------------------------------------------------------------------------------

void GpuModule::check(http::Response& res) {
    if (!probes_enabled_) {
        res.error(503, "GPU eBPF probes are disabled");
        return;
    }
    if (ring_) ring_->drain();  // records already in the ring belong to this window
    auto stats = streams_->get_and_flush(monotonic_ns());
    if (!nvml_) {
        res.error(500, "no NVML: " + nvml_error_);
        return;
    }
    if (devices_.empty()) {
        res.error(500, "NVML (" + nvml_->path() + ") reports no GPU device");
        return;
    }
    if (!stats) {
        LOG_ERROR("gpu: %s", stats.error().c_str());
        res.error(500, stats.error());
        return;
    }
    write_stats_json(res.json(), *stats);
}

void GpuModule::write_stats_json(http::JsonWriter& w, const gpu::GpuStats& s) const {
    const Keys& k = *keys_;
    w.start_object();
    w.key(k.process_metrics);
    w.start_array();
    for (const gpu::ProcessStats& p : s.processes) {
        w.start_object();
        w.key(k.key);
        w.start_object();
        w.kv_uint(k.pid, p.pid);
        w.kv(k.device_uuid, p.device_uuid);
        w.kv(k.container_id, p.container_id);
        w.end_object();
        w.key(k.utilization_metrics);
        w.start_object();
        w.kv_number(k.used_cores, p.used_cores);
        w.key(k.memory);
        w.start_object();
        w.kv_uint(k.current_bytes, p.current_bytes);
        w.kv_uint(k.max_bytes, p.max_bytes);
        w.end_object();
        w.kv_number(k.active_time_pct, p.active_time_pct);
        w.end_object();
        w.end_object();
    }
    w.end_array();
    w.key(k.device_metrics);
    w.start_array();
    for (const gpu::DeviceStats& d : s.devices) {
        w.start_object();
        w.kv(k.device_uuid, d.device_uuid);
        w.key(k.metrics);
        w.start_object();
        w.kv_number(k.active_time_pct, d.active_time_pct);
        w.end_object();
        w.end_object();
    }
    w.end_array();
    w.end_object();
}

// ---- debug routes ------------------------------------------------------------------------

void GpuModule::register_extra_routes(http::Router& router) {
    router.handle(
        "", "/debug/collect-events",
        [this](const http::Request& req, http::Response& res) { collect_events(req, res); },
        {.max_in_flight = 2});
    router.handle("", "/debug/traced-programs",
                  [this](const http::Request&, http::Response& res) { traced_programs(res); });
    router.handle(
        "POST", "/debug/attach-pid",
        [this](const http::Request& req, http::Response& res) { attach_pid(req, res, true); });
    router.handle(
        "POST", "/debug/detach-pid",
        [this](const http::Request& req, http::Response& res) { attach_pid(req, res, false); });
}

void GpuModule::collect_events(const http::Request& req, http::Response& res) {
    if (!probes_enabled_ || !ring_) {
        res.error(503, "GPU eBPF probes are disabled");
        return;
    }
    uint64_t count = kDefaultCollectedEvents;
    if (auto q = req.query_param("count"); q && !q->empty()) {
        auto [p, ec] = std::from_chars(q->data(), q->data() + q->size(), count);
        if (ec != std::errc() || p != q->data() + q->size()) {
            res.error(400, "invalid count: " + std::string(*q) + " (a non-negative integer)");
            return;
        }
    }
    if (count > max_collect_) {
        LOG_WARN("gpu: collect-events count %llu is too high, clamping to %zu",
                 (unsigned long long)count, max_collect_);
        count = max_collect_;
    }
    if (count == 0) {
        res.raw_body("application/x-ndjson");
        return;
    }
    collectors_.remove_if([](const auto& c) { return c->done || !c->answer.alive(); });
    auto c = std::make_unique<Collector>();
    c->want = size_t(count);
    c->answer = res.defer();
    Collector* raw = c.get();
    // (finished collectors are removed later, never from inside their own timer's callback)
    c->timeout.init(*reactor_, [this, raw] {
        loop::CpuScope scope(cpu_);
        finish_collector(*raw);
    });
    c->timeout.arm_after(collect_timeout_ms_);
    collectors_.push_back(std::move(c));
}

void GpuModule::record_event(const gpu_event_header& h, std::span<const std::byte> rec) {
    row_buf_.clear();
    http::JsonWriter& w = *row_writer_;
    w.reset(row_buf_, false);
    w.start_object();
    w.kv("type", event_type_name(h.type));
    w.kv_uint("pid", h.pid_tgid >> 32);
    w.kv_uint("tid", uint32_t(h.pid_tgid));
    w.kv_uint("stream_id", h.stream_id);
    w.kv_uint("ktime_ns", h.ktime_ns);
    switch (h.type) {
        case GPU_EV_KERNEL_LAUNCH: {
            gpu_kernel_launch e;
            std::memcpy(&e, rec.data(), sizeof e);
            w.kv_uint("kernel_addr", e.kernel_addr);
            w.kv_uint("shared_mem_size", e.shared_mem_size);
            for (auto [name, d] : {std::pair{"grid", e.grid}, std::pair{"block", e.block}}) {
                w.key(name);
                w.start_object();
                w.kv_uint("x", d.x);
                w.kv_uint("y", d.y);
                w.kv_uint("z", d.z);
                w.end_object();
            }
            if (h.flags & GPU_F_NO_STACK_ARGS) w.kv_bool("stack_args_unknown", true);
            break;
        }
        case GPU_EV_MEMORY: {
            gpu_memory_event e;
            std::memcpy(&e, rec.data(), sizeof e);
            w.kv("kind", e.kind == GPU_MEM_MALLOC ? "malloc" : "free");
            w.kv_uint("size", e.size);
            w.kv_uint("addr", e.addr);
            break;
        }
        case GPU_EV_SET_DEVICE: {
            gpu_set_device e;
            std::memcpy(&e, rec.data(), sizeof e);
            w.kv_int("device", e.device);
            break;
        }
        case GPU_EV_VISIBLE_DEVICES_SET: {
            gpu_visible_devices e;
            std::memcpy(&e, rec.data(), sizeof e);
            w.kv("value", std::string_view(e.value, ::strnlen(e.value, sizeof e.value)));
            break;
        }
        default:
            break;
    }
    w.end_object();
    std::string_view row(row_buf_.data(), row_buf_.size());
    for (auto it = collectors_.begin(); it != collectors_.end();) {
        Collector& c = **it;
        if (c.done || !c.answer.alive()) {  // answered (timed out), or the client left
            it = collectors_.erase(it);
            continue;
        }
        c.rows.append(row);
        c.rows.push_back('\n');
        if (++c.got >= c.want) {
            finish_collector(c);
            it = collectors_.erase(it);
            continue;
        }
        ++it;
    }
}

void GpuModule::finish_collector(Collector& c) {
    if (c.done) return;
    c.done = true;
    c.timeout.cancel();
    c.answer.complete(
        [&c](http::Response& r) { r.raw_body("application/x-ndjson").append(c.rows); });
    c.rows = std::string();
}

void GpuModule::traced_programs(http::Response& res) const {
    auto& w = res.json();
    if (!tracer_ || tracer_->files().empty()) {
        w.null();  // Go encodes the empty (nil) slice as null
        return;
    }
    w.start_array();
    for (const auto& [id, f] : tracer_->files()) {
        w.start_object();
        w.kv("ProgramType", "gpu");
        w.kv("FilePath", f.path);
        w.key("PIDs");
        w.start_array();
        for (uint32_t pid : f.pids) w.uint64(pid);
        w.end_array();
        // ringprobe's additions
        w.kv("Kind", gpu::file_kind_name(f.kind));
        w.kv_uint("Dev", id.dev);
        w.kv_uint("Inode", id.ino);
        w.key("Probes");
        w.start_array();
        for (const auto& p : f.probes) w.string(p);
        w.end_array();
        if (!f.missing.empty()) {
            w.key("MissingFunctions");
            w.start_array();
            for (const auto& p : f.missing) w.string(p);
            w.end_array();
        }
        if (!f.error.empty()) w.kv("Error", f.error);
        w.end_object();
    }
    w.end_array();
}

// POST /debug/attach-pid | /debug/detach-pid with {"pid": N, "type": "gpu"}: the contract of
// system-probe's pkg/network/usm/utils debugger (text answers).
void GpuModule::attach_pid(const http::Request& req, http::Response& res, bool attach) {
    const char* verb = attach ? "attach" : "detach";
    simdjson::dom::parser parser;
    simdjson::padded_string body(req.body);
    simdjson::dom::element doc;
    uint64_t pid = 0;
    std::string_view type;
    if (parser.parse(body).get(doc) != simdjson::SUCCESS || !doc.is_object() ||
        doc["pid"].get(pid) != simdjson::SUCCESS || pid > UINT32_MAX) {
        res.set_status(400);
        res.text("Error decoding request body: want {\"pid\": <pid>, \"type\": \"gpu\"}");
        return;
    }
    if (doc["type"].get(type) != simdjson::SUCCESS) type = {};
    if (type != "gpu") {
        res.set_status(400);
        res.text("Module \"" + std::string(type) + "\" is not enabled");
        return;
    }
    if (!tracer_) {
        res.set_status(500);
        res.text(std::string("Error ") + verb + "ing PID: GPU eBPF probes are disabled");
        return;
    }
    uint32_t p = uint32_t(pid);
    if (attach) {
        std::string why;
        auto r = tracer_->scan(p, true, &why);
        if (r != gpu::ProcessTracer::Result::traced) {
            res.set_status(500);
            res.text("Error attaching PID: " + why);
            return;
        }
        now_traced(p, "POST /debug/attach-pid");
    } else {
        if (tracer_->process(p) == nullptr) {
            res.set_status(500);
            res.text("Error detaching PID: pid " + std::to_string(p) + " is not traced");
            return;
        }
        if (streams_) streams_->forget_process(p);
        tracer_->detach_on_request(p);
        visible_.erase(p);
        update_flush_timer();
    }
    res.text("gpu successfully " + std::string(verb) + "ed PID " + std::to_string(p));
}

// ---- stats and metrics -----------------------------------------------------------------------

void GpuModule::write_extra_stats(http::JsonWriter& w) const {
    w.kv_bool("ebpf_probes_enabled", probes_enabled_);
    w.kv("library_opens", scan_only_ ? "scan" : "tracepoints");
    w.key("nvml");
    w.start_object();
    w.kv("library",
         nvml_ ? nvml_->path() : (nvml_path_.empty() ? gpu::Nvml::kDefaultLibrary : nvml_path_));
    w.kv_bool("loaded", nvml_ != nullptr);
    if (!nvml_error_.empty()) w.kv("error", nvml_error_);
    if (nvml_ && !nvml_->driver_version().empty()) w.kv("driver_version", nvml_->driver_version());
    w.kv_uint("loads", nvml_loads_);
    w.end_object();
    w.key("devices");
    w.start_array();
    for (const GpuDevice& d : devices_) {
        w.start_object();
        w.kv_uint("index", d.index);
        w.kv("uuid", d.uuid);
        w.kv("name", d.name);
        w.kv_uint("cores", d.cores);
        w.kv_uint("memory_bytes", d.memory_bytes);
        w.kv_uint("sm_version", d.sm_version);
        w.end_object();
    }
    w.end_array();
    if (devices_.empty())
        w.kv("no_device", nvml_ ? "NVML (" + nvml_->path() + ") reports no GPU device"
                                : "no NVML: " + nvml_error_);
    if (!tracer_) return;
    const auto& tc = tracer_->counters();
    w.kv_uint("traced_processes", tracer_->processes().size());
    w.kv_uint("traced_files", tracer_->files().size());
    w.kv_uint("pending_processes", tracer_->pending());
    size_t links = 0;
    for (const auto& [id, f] : tracer_->files()) links += f.links.size();
    w.kv_uint("uprobes", links);
    w.kv_uint("streams", streams_ ? streams_->streams() : 0);
    w.key("records");
    w.start_object();
    for (uint32_t t = 0; t < GPU_EV_CUDA_TYPES; ++t)
        w.kv_uint(event_type_name(t), records_.cuda[t]);
    w.kv_uint("exec", records_.exec);
    w.kv_uint("exit", records_.exit);
    w.kv_uint("library_open", records_.lib_open);
    w.kv_uint("lost", ring_ ? ring_->lost() : 0);
    w.kv_uint("bad", records_.bad);
    w.kv_uint("untraced", records_.untraced);
    w.kv_uint("detached", records_.blocked);
    w.kv_uint("visible_devices_before_cuda", records_.pending_visible);
    w.end_object();
    if (streams_) {
        const auto& c = streams_->counters();
        w.key("spans");
        w.start_object();
        w.kv_uint("kernel_launches", c.kernel_launches);
        w.kv_uint("allocations", c.allocations);
        w.kv_uint("frees", c.frees);
        w.kv_uint("syncs", c.syncs);
        w.kv_uint("kernel_spans", c.kernel_spans);
        w.kv_uint("memory_spans", c.memory_spans);
        w.kv_uint("leaked_allocations", c.leaked_allocations);
        w.kv_uint("forced_syncs", c.forced_syncs);
        w.kv_uint("streams_removed", c.streams_removed);
        w.end_object();
        w.key("dropped");
        w.start_object();
        w.kv_uint("streams_over_limit", c.rejected_streams);
        w.kv_uint("kernel_spans_over_limit", c.rejected_kernel_spans);
        w.kv_uint("memory_spans_over_limit", c.rejected_memory_spans);
        w.kv_uint("allocations_evicted", c.alloc_evicted);
        w.kv_uint("invalid_frees", c.invalid_frees);
        w.kv_uint("records_without_device", c.missing_devices);
        w.kv_uint("syncs_without_stream", c.syncs_without_stream);
        w.kv_uint("expired_launches", c.expired_launches);
        w.kv_uint("processes_over_limit", tc.processes_over_limit);
        w.kv_uint("files_over_limit", tc.files_over_limit);
        w.kv_uint("threads_over_limit", tc.threads_over_limit);
        w.end_object();
    }
    w.key("tracer");
    w.start_object();
    w.kv_uint("scans", tc.scans);
    w.kv_number("last_scan_ms", tc.last_scan_ms);
    w.kv_uint("process_scans", tc.process_scans);
    w.kv_uint("executables_read", tc.exe_reads);
    w.kv_uint("executables_cached", tracer_->exe_verdicts());
    w.kv_uint("processes_traced", tc.processes_traced);
    w.kv_uint("processes_forgotten", tc.processes_forgotten);
    w.kv_uint("files_attached", tc.files_attached);
    w.kv_uint("files_detached", tc.files_detached);
    w.kv_uint("attach_errors", tc.attach_errors);
    w.kv_uint("opens_not_mapped", tc.opens_not_mapped);
    w.kv_uint("opens_through_proc", tc.opens_through_proc);
    w.kv_uint("pending_over_limit", tc.pending_over_limit);
    w.end_object();
    w.kv_uint("collect_events_waiting",
              size_t(std::ranges::count_if(collectors_, [](const auto& c) { return !c->done; })));
    w.kv_uint("ring_buffer_wakeups", ring_ ? ring_->wakeups() : 0);
}

constexpr http::MetricFamily kDevices{"ringprobe_gpu_devices", http::MetricKind::gauge,
                                      "GPU devices NVML reports (0 without NVML)."};
constexpr http::MetricFamily kProcesses{
    "ringprobe_gpu_traced_processes", http::MetricKind::gauge,
    "Processes using the CUDA runtime that the gpu module traces."};
constexpr http::MetricFamily kFiles{"ringprobe_gpu_traced_files", http::MetricKind::gauge,
                                    "Files carrying the gpu module's uprobes."};
constexpr http::MetricFamily kStreams{"ringprobe_gpu_streams", http::MetricKind::gauge,
                                      "CUDA streams the gpu module tracks."};
constexpr http::MetricFamily kCalls{"ringprobe_gpu_cuda_records", http::MetricKind::counter,
                                    "CUDA runtime records read, by type."};
constexpr http::MetricFamily kProc{"ringprobe_gpu_process_records", http::MetricKind::counter,
                                   "Process lifecycle records read (exec, exit, library_open)."};
constexpr http::MetricFamily kDropped{"ringprobe_gpu_dropped", http::MetricKind::counter,
                                      "Data the gpu module dropped, by reason (bounds, lost "
                                      "records, records it could not attribute)."};

void GpuModule::write_extra_metrics(http::MetricsWriter& w) const {
    w.gauge(kDevices, {}, int64_t(devices_.size()));
    if (!tracer_) return;
    w.gauge(kProcesses, {}, int64_t(tracer_->processes().size()));
    w.gauge(kFiles, {}, int64_t(tracer_->files().size()));
    w.gauge(kStreams, {}, int64_t(streams_ ? streams_->streams() : 0));
    for (uint32_t t = 0; t < GPU_EV_CUDA_TYPES; ++t)
        w.counter(kCalls, {{"type", event_type_name(t)}}, records_.cuda[t]);
    w.counter(kProc, {{"type", "exec"}}, records_.exec);
    w.counter(kProc, {{"type", "exit"}}, records_.exit);
    w.counter(kProc, {{"type", "library_open"}}, records_.lib_open);
    const auto& tc = tracer_->counters();
    auto drop = [&](std::string_view reason, uint64_t v) {
        w.counter(kDropped, {{"reason", reason}}, v);
    };
    drop("untraced_process", records_.untraced);
    drop("bad_record", records_.bad);
    drop("processes_over_limit", tc.processes_over_limit);
    drop("files_over_limit", tc.files_over_limit);
    drop("threads_over_limit", tc.threads_over_limit);
    if (streams_) {
        const auto& c = streams_->counters();
        drop("streams_over_limit", c.rejected_streams);
        drop("kernel_spans_over_limit", c.rejected_kernel_spans);
        drop("memory_spans_over_limit", c.rejected_memory_spans);
        drop("allocations_evicted", c.alloc_evicted);
        drop("no_device", c.missing_devices);
        drop("expired_launches", c.expired_launches);
    }
}

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory gpu_factory;
constinit const Factory gpu_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "gpu_monitoring.enabled",
    .create = GpuModule::create,
    .needs_ebpf = true,
    .btf_names = kBtfNames,
};

}  // namespace rp::modules
