// gpu_test.cpp — the gpu module's user-space parts without the kernel: the stream table (spans,
// aggregation, normalisation, bounds), CUDA_VISIBLE_DEVICES, container ids, the ELF symbol
// reader and the NVML loader (against the mock libnvidia-ml.so.1 and the fake libcudart.so that
// tests/bpf/gpu/ builds).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "conf/config.h"
#include "http/router.h"
#include "loop/reactor.h"
#include "modules/gpu/devices.h"
#include "modules/gpu/elf_symbols.h"
#include "modules/gpu/nvml.h"
#include "modules/gpu/streams.h"
#include "modules/module.h"

namespace {

using namespace rp::modules::gpu;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kS = 1'000'000'000;

std::vector<GpuDevice> two_devices(uint64_t cores = 6912) {
    std::vector<GpuDevice> d(2);
    d[0] = {0, "GPU-aaaa-0", "A", cores, 40ull << 30, 80};
    d[1] = {1, "GPU-bbbb-1", "B", cores, 40ull << 30, 80};
    return d;
}

// Every thread of pid P uses device `ordinal[P]` (default 0) of `devices`.
struct FakeContext : StreamContext {
    std::vector<GpuDevice> devices = two_devices();
    std::map<uint32_t, size_t> ordinal;
    const GpuDevice* active_device(uint32_t pid, uint32_t, std::string* why) override {
        size_t o = ordinal.contains(pid) ? ordinal[pid] : 0;
        if (o >= devices.size()) {
            *why = "none";
            return nullptr;
        }
        return &devices[o];
    }
    const GpuDevice* device(std::string_view uuid) override {
        for (auto& d : devices)
            if (d.uuid == uuid) return &d;
        return nullptr;
    }
    std::string container_id(uint32_t pid) override { return pid == 7 ? "c7" : ""; }
};

gpu_event_header hdr(uint32_t pid, uint64_t stream, uint64_t t, uint32_t type) {
    gpu_event_header h{};
    h.pid_tgid = uint64_t(pid) << 32 | (pid + 1);
    h.stream_id = stream;
    h.ktime_ns = t;
    h.type = type;
    return h;
}

gpu_kernel_launch launch(uint32_t pid, uint64_t stream, uint64_t t, uint64_t shared = 10) {
    gpu_kernel_launch e{};
    e.hdr = hdr(pid, stream, t, GPU_EV_KERNEL_LAUNCH);
    e.grid = {1, 2, 3};
    e.block = {4, 5, 6};
    e.shared_mem_size = shared;
    return e;
}

gpu_sync sync_of(uint32_t pid, uint64_t stream, uint64_t t) {
    return gpu_sync{hdr(pid, stream, t, GPU_EV_SYNC)};
}

gpu_memory_event mem(uint32_t pid, uint64_t t, uint32_t kind, uint64_t addr, uint64_t size) {
    gpu_memory_event e{};
    e.hdr = hdr(pid, 0, t, GPU_EV_MEMORY);
    e.kind = kind;
    e.addr = addr;
    e.size = size;
    return e;
}

const ProcessStats* find(const GpuStats& s, uint32_t pid, std::string_view uuid = {}) {
    for (const auto& p : s.processes)
        if (p.pid == pid && (uuid.empty() || p.device_uuid == uuid)) return &p;
    return nullptr;
}

}  // namespace

TEST_CASE("gpu: a launch and its sync are one span of grid x block threads, over the window") {
    FakeContext ctx;
    StreamTable t(ctx, {}, 0);
    t.on_kernel_launch(launch(42, 30, 100 * kMs));
    t.on_sync(sync_of(42, 30, 300 * kMs));
    auto s = t.get_and_flush(1 * kS);
    REQUIRE(s);
    REQUIRE(s->processes.size() == 1);
    const ProcessStats& p = s->processes[0];
    CHECK(p.pid == 42);
    CHECK(p.device_uuid == "GPU-aaaa-0");
    // 720 threads for 0.2 s of a 1 s window
    CHECK(p.used_cores == doctest::Approx(720 * 0.2));
    CHECK(p.active_time_pct == doctest::Approx(20.0));
    CHECK(p.used_cores * 100 / p.active_time_pct == doctest::Approx(720));
    // sharedMem 10 is held by the span: peak 10, nothing held now
    CHECK(p.max_bytes == 10);
    CHECK(p.current_bytes == 0);
    REQUIRE(s->devices.size() == 1);
    CHECK(s->devices[0].device_uuid == "GPU-aaaa-0");
    CHECK(s->devices[0].active_time_pct == doctest::Approx(20.0));
    CHECK(t.counters().kernel_spans == 1);
    // flushed: the next window has no activity (the stream stays until it times out, and is
    // reported with zeros meanwhile, as system-probe does)
    auto s2 = t.get_and_flush(2 * kS);
    REQUIRE(s2);
    REQUIRE(s2->processes.size() == 1);
    CHECK(s2->processes[0].used_cores == 0);
    CHECK(s2->devices.empty());
}

TEST_CASE("gpu: launches without a sync run until the check, then continue in the next window") {
    FakeContext ctx;
    StreamTable t(ctx, {}, 0);
    t.on_kernel_launch(launch(1, 30, 500 * kMs));
    auto s = t.get_and_flush(1 * kS);
    REQUIRE(s);
    CHECK(find(*s, 1)->active_time_pct == doctest::Approx(50.0));
    CHECK(find(*s, 1)->current_bytes == 10);  // shared memory of a running span is held
    t.on_sync(sync_of(1, 30, 1500 * kMs));
    auto s2 = t.get_and_flush(2 * kS);
    REQUIRE(s2);
    // only the part inside the second window counts: 1.0 .. 1.5 s
    CHECK(find(*s2, 1)->active_time_pct == doctest::Approx(50.0));
    CHECK(find(*s2, 1)->used_cores == doctest::Approx(720 * 0.5));
}

TEST_CASE("gpu: an allocation is current until its free; the peak stays for the window") {
    FakeContext ctx;
    StreamTable t(ctx, {}, 0);
    t.on_memory(mem(5, 100 * kMs, GPU_MEM_MALLOC, 0xdeadbeef, 1 << 20));
    auto s = t.get_and_flush(1 * kS);
    REQUIRE(s);
    CHECK(find(*s, 5)->current_bytes == 1 << 20);
    CHECK(find(*s, 5)->max_bytes == 1 << 20);
    t.on_memory(mem(5, 1100 * kMs, GPU_MEM_FREE, 0xdeadbeef, 0));
    auto s2 = t.get_and_flush(2 * kS);
    REQUIRE(s2);
    CHECK(find(*s2, 5)->current_bytes == 0);
    CHECK(find(*s2, 5)->max_bytes == 1 << 20);
    CHECK(t.counters().memory_spans == 1);
    // a free of an unknown address, and cudaFree(NULL)
    t.on_memory(mem(5, 2100 * kMs, GPU_MEM_FREE, 0x1234, 0));
    t.on_memory(mem(5, 2100 * kMs, GPU_MEM_FREE, 0, 0));
    CHECK(t.counters().invalid_frees == 1);
}

TEST_CASE("gpu: a free finds the allocation made while the thread used another device") {
    FakeContext ctx;
    StreamTable t(ctx, {}, 0);
    t.on_memory(mem(5, 100 * kMs, GPU_MEM_MALLOC, 0xabc, 4096));
    ctx.ordinal[5] = 1;
    t.on_memory(mem(5, 200 * kMs, GPU_MEM_FREE, 0xabc, 0));
    CHECK(t.counters().invalid_frees == 0);
    auto s = t.get_and_flush(1 * kS);
    REQUIRE(s);
    CHECK(find(*s, 5, "GPU-aaaa-0")->max_bytes == 4096);
    CHECK(find(*s, 5, "GPU-aaaa-0")->current_bytes == 0);
}

TEST_CASE("gpu: streams, devices and containers key the aggregation") {
    FakeContext ctx;
    StreamTable t(ctx, {}, 0);
    t.on_kernel_launch(launch(7, 30, 0));
    ctx.ordinal[8] = 1;
    t.on_kernel_launch(launch(8, 31, 0));
    t.on_sync(sync_of(7, 30, 100 * kMs));
    t.on_sync(sync_of(8, 31, 200 * kMs));
    auto s = t.get_and_flush(1 * kS);
    REQUIRE(s);
    REQUIRE(s->processes.size() == 2);
    CHECK(find(*s, 7)->container_id == "c7");
    CHECK(find(*s, 7)->device_uuid == "GPU-aaaa-0");
    CHECK(find(*s, 8)->device_uuid == "GPU-bbbb-1");
    CHECK(find(*s, 8)->active_time_pct == doctest::Approx(20.0));
    REQUIRE(s->devices.size() == 2);
    // a stream keeps the device it started on
    ctx.ordinal[7] = 1;
    t.on_kernel_launch(launch(7, 30, 1100 * kMs));
    t.on_sync(sync_of(7, 30, 1200 * kMs));
    auto s2 = t.get_and_flush(2 * kS);
    REQUIRE(s2);
    CHECK(find(*s2, 7)->device_uuid == "GPU-aaaa-0");
}

TEST_CASE("gpu: processes that together exceed a device's cores are scaled down alike") {
    FakeContext ctx;
    ctx.devices = two_devices(1000);  // 720 + 720 threads > 1000 cores
    StreamTable t(ctx, {}, 0);
    t.on_kernel_launch(launch(1, 30, 0));
    t.on_kernel_launch(launch(2, 30, 0));
    t.on_sync(sync_of(1, 30, 1 * kS));
    t.on_sync(sync_of(2, 30, 1 * kS));
    auto s = t.get_and_flush(1 * kS);
    REQUIRE(s);
    CHECK(find(*s, 1)->used_cores == doctest::Approx(500));
    CHECK(find(*s, 2)->used_cores == doctest::Approx(500));
    // a single span is also capped at the device's cores before scaling
    ctx.devices = two_devices(100);
    StreamTable t2(ctx, {}, 0);
    t2.on_kernel_launch(launch(1, 30, 0));
    t2.on_sync(sync_of(1, 30, 1 * kS));
    auto s2 = t2.get_and_flush(1 * kS);
    REQUIRE(s2);
    CHECK(find(*s2, 1)->used_cores == doctest::Approx(100));
}

TEST_CASE("gpu: a process's exit closes its spans and allocations, reported once") {
    FakeContext ctx;
    StreamTable t(ctx, {}, 0);
    t.on_memory(mem(3, 100 * kMs, GPU_MEM_MALLOC, 0x10, 100));
    t.on_kernel_launch(launch(3, 30, 200 * kMs));
    t.process_exited(3, 400 * kMs);
    CHECK(t.counters().leaked_allocations == 1);
    t.on_kernel_launch(launch(3, 30, 500 * kMs));  // after the exit: ignored
    auto s = t.get_and_flush(1 * kS);
    REQUIRE(s);
    const ProcessStats* p = find(*s, 3);
    REQUIRE(p != nullptr);
    CHECK(p->active_time_pct == doctest::Approx(20.0));
    CHECK(p->current_bytes == 0);
    CHECK(p->max_bytes == 110);
    CHECK(t.streams() == 0);
    auto s2 = t.get_and_flush(2 * kS);
    REQUIRE(s2);
    CHECK(s2->processes.empty());
}

TEST_CASE("gpu: bounds: forced syncs, evicted allocations, refused streams, dropped spans") {
    FakeContext ctx;
    StreamLimits lim;
    lim.max_kernel_launches = 3;
    lim.max_mem_alloc_events = 2;
    lim.max_active = 2;
    lim.max_pending_kernel_spans = 1;
    StreamTable t(ctx, lim, 0);
    for (int i = 0; i < 3; ++i) t.on_kernel_launch(launch(1, 30, uint64_t(i) * kMs));
    CHECK(t.counters().forced_syncs == 1);
    CHECK(t.counters().kernel_spans == 1);
    for (int i = 0; i < 3; ++i) t.on_kernel_launch(launch(1, 30, uint64_t(10 + i) * kMs));
    CHECK(t.counters().forced_syncs == 2);
    CHECK(t.counters().rejected_kernel_spans == 1);  // one span pending already
    for (uint64_t a = 1; a <= 3; ++a) t.on_memory(mem(1, a * kMs, GPU_MEM_MALLOC, a, 10));
    CHECK(t.counters().alloc_evicted == 1);
    CHECK(t.streams() == 2);  // stream 30 and the global stream
    t.on_kernel_launch(launch(1, 99, 50 * kMs));
    CHECK(t.counters().rejected_streams == 1);
    CHECK(t.streams() == 2);
    // no device for the thread: the record is dropped
    ctx.ordinal[9] = 5;
    t.on_kernel_launch(launch(9, 30, 50 * kMs));
    CHECK(t.counters().missing_devices == 1);
}

TEST_CASE("gpu: a quiet stream drops its waiting launches but keeps its allocations") {
    FakeContext ctx;
    StreamLimits lim;
    lim.timeout_ns = 10 * kS;
    StreamTable t(ctx, lim, 0);
    t.on_kernel_launch(launch(1, 30, 1 * kS));
    t.on_memory(mem(1, 1 * kS, GPU_MEM_MALLOC, 0x99, 64));
    REQUIRE(t.get_and_flush(5 * kS));
    auto s = t.get_and_flush(20 * kS);
    REQUIRE(s);
    CHECK(t.counters().expired_launches == 1);
    CHECK(t.streams() == 1);  // the global stream, with its allocation
    auto s2 = t.get_and_flush(30 * kS);
    REQUIRE(s2);
    CHECK(find(*s2, 1)->current_bytes == 64);
    CHECK(find(*s2, 1)->active_time_pct == 0);
    CHECK_FALSE(t.get_and_flush(30 * kS));  // an empty window is an error (system-probe's)
}

TEST_CASE("gpu: merged_length counts overlapping intervals once") {
    std::vector<std::pair<uint64_t, uint64_t>> iv = {{5, 10}, {0, 3}, {2, 6}, {20, 25}, {25, 30}};
    CHECK(merged_length(iv) == 10 + 10);
    std::vector<std::pair<uint64_t, uint64_t>> none;
    CHECK(merged_length(none) == 0);
}

TEST_CASE("gpu: CUDA_VISIBLE_DEVICES picks and orders the devices a process sees") {
    auto d = two_devices();
    CHECK(visible_devices(d, std::nullopt) == std::vector<size_t>{0, 1});
    CHECK(visible_devices(d, "1") == std::vector<size_t>{1});
    CHECK(visible_devices(d, "1,0") == std::vector<size_t>{1, 0});
    CHECK(visible_devices(d, " 1 , 0 ") == std::vector<size_t>{1, 0});
    CHECK(visible_devices(d, "GPU-bbbb") == std::vector<size_t>{1});
    CHECK(visible_devices(d, "GPU-") == std::vector<size_t>{});    // ambiguous prefix ends the list
    CHECK(visible_devices(d, "0,7,1") == std::vector<size_t>{0});  // stops at an unknown one
    CHECK(visible_devices(d, "0,MIG-x,1") == std::vector<size_t>{0});
    CHECK(visible_devices(d, "").empty());
    CHECK(visible_devices(d, "-1").empty());
    CHECK(visible_devices(d, "0,0") == std::vector<size_t>{0});
}

TEST_CASE("gpu: the environment and container id of a process") {
    std::string env("A=1\0CUDA_VISIBLE_DEVICES=1,0\0B=2", 32);
    CHECK(find_env(env, "CUDA_VISIBLE_DEVICES") == "1,0");
    CHECK(find_env(env, "CUDA") == std::nullopt);
    CHECK(find_env(std::string_view("CUDA_VISIBLE_DEVICES=", 21), "CUDA_VISIBLE_DEVICES") == "");
    const std::string id(64, 'a');
    CHECK(container_id_from_cgroup("/system.slice/docker-" + id + ".scope") == id);
    CHECK(container_id_from_cgroup("/kubepods/burstable/pod1234/cri-containerd-" + id + ".scope") ==
          id);
    CHECK(container_id_from_cgroup("/docker/" + id) == id);
    CHECK(container_id_from_cgroup("/docker/" + id + "/init") == id);
    CHECK(container_id_from_cgroup("/user.slice/user-0.slice/session-1.scope") == "");
    CHECK(container_id_from_cgroup(std::string(63, 'b')) == "");
}

TEST_CASE("gpu: function offsets in the fake libcudart.so and the static sample") {
    static constexpr std::string_view names[] = {"cudaLaunchKernel", "cudaMalloc", "nosuchfn"};
    auto lib = function_offsets(RP_GPU_TEST_DIR "/libcudart.so", names);
    REQUIRE_MESSAGE(lib, (lib ? "" : lib.error()));
    CHECK((*lib)[0].has_value());
    CHECK((*lib)[1].has_value());
    CHECK_FALSE((*lib)[2].has_value());
    CHECK(*(*lib)[0] != *(*lib)[1]);
    auto exe = function_offsets(RP_GPU_TEST_DIR "/cuda_sample_static", names);
    REQUIRE(exe);
    CHECK((*exe)[0].has_value());
    // the dynamic sample only refers to the runtime through dlsym
    auto dyn = function_offsets(RP_GPU_TEST_DIR "/cuda_sample", names);
    REQUIRE(dyn);
    CHECK_FALSE((*dyn)[0].has_value());
    auto missing = function_offsets("/nonexistent/libcudart.so", names);
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == "open /nonexistent/libcudart.so: No such file or directory");
    auto text = function_offsets(RINGPROBE_SOURCE_DIR "/tests/bpf/gpu/fake_cuda.h", names);
    REQUIRE_FALSE(text);
    CHECK(text.error().find("not an ELF file") != std::string::npos);
}

TEST_CASE("gpu: NVML through dlopen: the mock's device, and the errors") {
    ::setenv("RP_MOCK_NVML_DEVICES", "2", 1);
    auto n = Nvml::open(RP_GPU_TEST_DIR "/libnvidia-ml.so.1");
    REQUIRE_MESSAGE(n, (n ? "" : n.error()));
    CHECK((*n)->driver_version() == "550.00-mock");
    auto devs = (*n)->devices();
    REQUIRE(devs);
    REQUIRE(devs->size() == 2);
    CHECK((*devs)[1].uuid == "GPU-00000000-0000-0000-0000-000000000001");
    CHECK((*devs)[0].cores == 6912);
    CHECK((*devs)[0].memory_bytes == 40ull << 30);
    CHECK((*devs)[0].sm_version == 80);
    CHECK((*devs)[0].name == "Mock GPU 0");
    n->reset();
    ::unsetenv("RP_MOCK_NVML_DEVICES");

    auto none = Nvml::open("/nonexistent/libnvidia-ml.so.1");
    REQUIRE_FALSE(none);
    CHECK(none.error().starts_with("dlopen /nonexistent/libnvidia-ml.so.1: "));
    auto wrong = Nvml::open(RP_GPU_TEST_DIR "/libcudart.so");
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().find("has no nvmlInit_v2") != std::string::npos);
    ::setenv("RP_MOCK_NVML_INIT_ERROR", "9", 1);
    auto down = Nvml::open(RP_GPU_TEST_DIR "/libnvidia-ml.so.1");
    ::unsetenv("RP_MOCK_NVML_INIT_ERROR");
    REQUIRE_FALSE(down);
    CHECK(down.error().find("nvmlInit_v2") != std::string::npos);
    CHECK(down.error().find("Driver Not Loaded") != std::string::npos);
}

TEST_CASE("gpu: /check is served one at a time (system-probe's WithConcurrencyLimit(1))") {
    // Probes off: the module needs no kernel; its routes are the same.
    auto cfg = rp::conf::Config::parse(
        "[gpu_monitoring]\nenabled = true\nenable_ebpf_probes = false\n"
        "device_cache_refresh_interval = \"0s\"\n",
        "test.toml", {}, nullptr);
    REQUIRE_MESSAGE(cfg.has_value(), cfg.error());
    auto reactor = rp::loop::Reactor::create();
    REQUIRE(reactor);
    rp::modules::Dependencies deps{**reactor, nullptr};
    auto m = rp::modules::find_factory("gpu")->create(*cfg, deps);
    REQUIRE_MESSAGE(m.has_value(), m.error());
    rp::http::Router router;
    REQUIRE((*m)->register_routes(router.mount("gpu")));
    rp::http::PathParams params;
    auto found = router.match("GET", "/gpu/check", params);
    REQUIRE(found.outcome == rp::http::Router::Outcome::found);
    CHECK((*found.load)->limit == 1);
    router.unmount("gpu");
    (*m)->close();
}
