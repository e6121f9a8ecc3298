// runtime_test.cpp — the eBPF runtime (bpf/runtime/) against the real kernel (root).
//
// Feature probes must find what KERNEL.md measured on the project's machines (tracepoint, tp_btf,
// iterators, ring buffer: yes; kprobe: absent; fentry: refused) and name the reason for what is
// missing; Skeleton<T> must give back every fd and id it took; RingBuffer must hand every record
// to its callback through the reactor and count the ones the BPF side could not reserve.
#include "bpf/runtime/runtime.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bpf/runtime/btf_index.h"
#include "bpf/runtime/ring_buffer.h"
#include "bpf/runtime/skeleton.h"
#include "bpf/selftest.h"
#include "loop/reactor.h"
#include "oom_kill.skel.h"
#include "selftest.skel.h"
#include "support/bpf_skip.h"

namespace {

using rp::bpf::FeatureId;
using rp::bpf::ObjectKind;
using rp::bpf::Runtime;
using rp::bpf::Skeleton;

size_t open_fds() {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)e;
        ++n;
    }
    return n;
}

std::unique_ptr<Runtime> runtime(const rp::bpf::RuntimeOptions& opts = {}) {
    auto rt = Runtime::setup(opts);
    REQUIRE(rt);
    return std::move(*rt);
}

// The tp_btf build of oom_kill (no kprobe fallback program).
auto tp_btf_only = [](oom_kill_bpf* s) {
    bpf_program__set_autoload(s->progs.oom_kill_process, false);
};

}  // namespace

TEST_CASE("bpf runtime: feature probes report what this kernel really offers") {
    rp::test::require_bpf_or_skip();
    auto rt = runtime();
    for (const auto& f : rt->features()) {
        MESSAGE((std::string(f.name) + ": " + (f.available ? "yes" : "no") + " — " + f.detail));
        CHECK_MESSAGE(!f.detail.empty(), ("feature " + std::string(f.name) + " has no detail"));
    }
    REQUIRE(rt->features().size() == rp::bpf::kFeatureCount);
    for (FeatureId id : {FeatureId::bpf_syscall, FeatureId::memlock, FeatureId::btf,
                         FeatureId::tracefs, FeatureId::ring_buffer, FeatureId::tracepoint,
                         FeatureId::raw_tracepoint, FeatureId::tp_btf, FeatureId::iterators}) {
        CHECK_MESSAGE(rt->has(id),
                      (std::string(rt->feature(id).name) + ": " + rt->feature(id).detail));
    }
    CHECK(rt->tracefs_dir() == "/sys/kernel/tracing");
    CHECK(std::filesystem::exists("/sys/kernel/tracing/events/oom/mark_victim"));

    // KERNEL.md: no kprobes (CONFIG_KPROBES off) and fentry refused with EPERM.
    const auto& kprobe = rt->feature(FeatureId::kprobe);
    CHECK_FALSE(kprobe.available);
    CHECK(kprobe.detail.find("CONFIG_KPROBES") != std::string::npos);
    const auto& fentry = rt->feature(FeatureId::fentry);
    CHECK_FALSE(fentry.available);
    CHECK(fentry.detail.find("fentry/vfs_read") != std::string::npos);
    CHECK(fentry.detail.find(std::strerror(EPERM)) != std::string::npos);

    CHECK(rt->require({FeatureId::btf, FeatureId::tp_btf, FeatureId::ring_buffer}));
    auto missing = rt->require({FeatureId::tp_btf, FeatureId::kprobe});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().starts_with("kprobes are unavailable ("));
}

TEST_CASE("bpf runtime: a missing BTF or tracefs fails only what needs it, and says so") {
    rp::test::require_bpf_or_skip();
    rp::bpf::RuntimeOptions opts;
    opts.btf_path = "/nonexistent/btf/vmlinux";
    opts.tracefs_path = "/nonexistent/tracing";
    auto rt = runtime(opts);
    if (rt->tracefs_dir().empty()) {  // (unless debugfs has it at /sys/kernel/debug/tracing)
        CHECK_FALSE(rt->has(FeatureId::tracefs));
        CHECK(rt->feature(FeatureId::tracefs)
                  .detail.starts_with("no mount point /nonexistent/tracing"));
        CHECK_FALSE(rt->has(FeatureId::tracepoint));
        CHECK(rt->feature(FeatureId::tracepoint).detail.starts_with("needs tracefs: "));
        auto r = rt->require({FeatureId::tracepoint});
        REQUIRE_FALSE(r);
        CHECK(r.error().starts_with("tracepoint programs are unavailable (needs tracefs: "));
    }
    CHECK_FALSE(rt->has(FeatureId::btf));
    auto r = rt->require({FeatureId::btf});
    REQUIRE_FALSE(r);
    CHECK(r.error() == "kernel has no BTF (/nonexistent/btf/vmlinux missing)");
    CHECK_FALSE(rt->has(FeatureId::tp_btf));
    CHECK(rt->feature(FeatureId::tp_btf).detail.find("needs kernel BTF") != std::string::npos);
    // What needs neither is still there.
    CHECK(rt->has(FeatureId::raw_tracepoint));
    CHECK(rt->has(FeatureId::ring_buffer));
}

TEST_CASE("bpf btf index: finds the same type ids as libbpf's full parse") {
    rp::test::require_bpf_or_skip();
    struct {
        std::string_view name;
        uint32_t kind;
    } const wanted[] = {{"btf_trace_mark_victim", BTF_KIND_TYPEDEF},
                        {"bpf_iter_task", BTF_KIND_FUNC},
                        {"vfs_read", BTF_KIND_FUNC},
                        {"task_struct", BTF_KIND_STRUCT},
                        {"cgroup_subsys_id", BTF_KIND_ENUM},
                        {"no_such_type_anywhere", BTF_KIND_STRUCT}};
    std::vector<std::string_view> names;
    for (const auto& w : wanted) names.push_back(w.name);
    auto idx = rp::bpf::BtfIndex::load("/sys/kernel/btf/vmlinux", names);
    REQUIRE_MESSAGE(idx, (idx ? "" : idx.error()));
    struct btf* btf = btf__parse_raw("/sys/kernel/btf/vmlinux");
    REQUIRE(btf != nullptr);
    CHECK(idx->type_count() == btf__type_cnt(btf) - 1);
    for (const auto& w : wanted) {
        const int libbpf_id = btf__find_by_name_kind(btf, std::string(w.name).c_str(), w.kind);
        CHECK_MESSAGE(idx->find(w.name, w.kind) == (libbpf_id < 0 ? -1 : libbpf_id),
                      std::string(w.name));
    }
    CHECK(idx->find("task_struct", BTF_KIND_TYPEDEF) == -1);  // right name, wrong kind
    // The streaming fallback (kernels that cannot map the file) finds the same ids.
    auto streamed = rp::bpf::BtfIndex::load("/sys/kernel/btf/vmlinux", names, false);
    REQUIRE_MESSAGE(streamed, (streamed ? "" : streamed.error()));
    CHECK(streamed->type_count() == idx->type_count());
    for (const auto& w : wanted)
        CHECK_MESSAGE(streamed->find(w.name, w.kind) == idx->find(w.name, w.kind),
                      std::string(w.name));
    // libbpf's parse, the fallback for a file our walk does not know, gives the same answers.
    auto from_libbpf = rp::bpf::BtfIndex::from_btf(btf, names);
    CHECK(from_libbpf.type_count() == idx->type_count());
    for (const auto& w : wanted) {
        CHECK_MESSAGE(from_libbpf.find(w.name, w.kind) == idx->find(w.name, w.kind),
                      std::string(w.name));
        CHECK(from_libbpf.covers(w.name));
    }
    CHECK_FALSE(idx->covers("vfs_write"));
    btf__free(btf);
    auto bad = rp::bpf::BtfIndex::load("/proc/self/status", names);  // not BTF: an error
    REQUIRE_FALSE(bad);
    CHECK(bad.error().find("not BTF") != std::string::npos);
}

TEST_CASE("bpf runtime: BTF queries come from the set-up scan; an undeclared name costs one more") {
    rp::test::require_bpf_or_skip();
    rp::bpf::RuntimeOptions opts;
    opts.btf_names = {"btf_trace_sys_exit", "seccomp_get_filter", "no_such_type_anywhere"};
    auto rt = runtime(opts);
    REQUIRE(rt->has(FeatureId::btf));
    CHECK(rt->btf_scans() == 1);
    struct btf* btf = btf__parse_raw("/sys/kernel/btf/vmlinux");
    REQUIRE(btf != nullptr);
    CHECK(rt->btf_find(BTF_KIND_TYPEDEF, "btf_trace_sys_exit") ==
          btf__find_by_name_kind(btf, "btf_trace_sys_exit", BTF_KIND_TYPEDEF));
    CHECK(rt->btf_has(BTF_KIND_FUNC, "seccomp_get_filter") ==
          (btf__find_by_name_kind(btf, "seccomp_get_filter", BTF_KIND_FUNC) > 0));
    CHECK_FALSE(rt->btf_has(BTF_KIND_STRUCT, "no_such_type_anywhere"));
    CHECK_FALSE(rt->btf_has(BTF_KIND_STRUCT, "btf_trace_sys_exit"));  // declared, other kind
    CHECK(rt->btf_scans() == 1);  // every answer so far came from the set-up scan
    // Undeclared: one more scan, then kept.
    CHECK(rt->btf_find(BTF_KIND_STRUCT, "tcp_sock") ==
          btf__find_by_name_kind(btf, "tcp_sock", BTF_KIND_STRUCT));
    CHECK(rt->btf_scans() == 2);
    CHECK(rt->btf_has(BTF_KIND_STRUCT, "tcp_sock"));
    CHECK(rt->btf_scans() == 2);
    btf__free(btf);

    // Trace events: tracefs is mounted (set-up mounts it), so its events directory answers.
    REQUIRE_FALSE(rt->tracefs_dir().empty());
    std::string why;
    CHECK(rt->has_tracepoint("tcp", "tcp_probe", &why));
    CHECK_FALSE(rt->has_tracepoint("tcp", "no_such_tracepoint", &why));
    CHECK(why == "no trace event " + rt->tracefs_dir() + "/events/tcp/no_such_tracepoint");
}

TEST_CASE("bpf runtime: without tracefs, trace events are looked up in kernel BTF") {
    rp::test::require_bpf_or_skip();
    rp::bpf::RuntimeOptions opts;
    opts.tracefs_path = "/nonexistent/tracing";
    opts.mount_tracefs = false;
    opts.btf_names = {"btf_trace_tcp_probe"};
    auto rt = runtime(opts);
    if (!rt->tracefs_dir().empty()) return;  // debugfs has it at /sys/kernel/debug/tracing
    std::string why;
    CHECK(rt->has_tracepoint("tcp", "tcp_probe", &why));
    CHECK(rt->btf_scans() == 1);
    CHECK_FALSE(rt->has_tracepoint("tcp", "no_such_tracepoint", &why));
    CHECK(why == "not in kernel BTF (no btf_trace_no_such_tracepoint)");
    CHECK(rt->btf_scans() == 2);

    // No BTF either: the reason says both.
    opts.btf_path = "/nonexistent/btf/vmlinux";
    auto bare = runtime(opts);
    if (!bare->tracefs_dir().empty()) return;
    CHECK_FALSE(bare->has_tracepoint("tcp", "tcp_probe", &why));
    CHECK(why == "no tracefs, and kernel has no BTF (/nonexistent/btf/vmlinux missing)");
    CHECK(bare->btf_scans() == 0);
}

TEST_CASE("bpf skeleton: load, attach and destroy give back every fd and id") {
    rp::test::require_bpf_or_skip();
    auto rt = runtime();
    const size_t fds_before = open_fds();
    for (int round = 0; round < 3; ++round) {
        auto s = Skeleton<oom_kill_bpf>::create(*rt, "test_module", "oom_kill", tp_btf_only);
        REQUIRE_MESSAGE(s, (s ? "" : s.error()));
        const auto& hooks = s->attached();
        CHECK(hooks == std::vector<std::string>{"tp_btf/mark_victim",
                                                "tp_btf/mm_vmscan_memcg_reclaim_begin",
                                                "tp_btf/mm_vmscan_direct_reclaim_begin"});
        CHECK(s->core().program_ids().size() == 3);
        CHECK(rt->owned_count(ObjectKind::program) == 3);
        CHECK(rt->owned_count(ObjectKind::map) == s->core().map_ids().size());
        for (uint32_t id : s->core().program_ids()) {
            const auto* owner = rt->owner(ObjectKind::program, id);
            REQUIRE(owner != nullptr);
            CHECK(owner->module == "test_module");
        }
        const auto* events_owner = rt->owner(ObjectKind::map, [&] {
            bpf_map_info info{};
            uint32_t len = sizeof info;
            REQUIRE(bpf_obj_get_info_by_fd(bpf_map__fd(s->get()->maps.events), &info, &len) == 0);
            return info.id;
        }());
        REQUIRE(events_owner != nullptr);
        CHECK(events_owner->name == "events");
        MESSAGE("oom_kill: open " << s->timings().open_ms << " ms, load " << s->timings().load_ms
                                  << " ms, attach " << s->timings().attach_ms << " ms");
        s->destroy();
        CHECK(rt->owned_count(ObjectKind::program) == 0);
        CHECK(rt->owned_count(ObjectKind::map) == 0);
        CHECK(open_fds() == fds_before);
    }
    CHECK(open_fds() == fds_before);
}

TEST_CASE("bpf skeleton: an attach error names the hook and leaks nothing") {
    rp::test::require_bpf_or_skip();
    auto rt = runtime();
    if (rt->has(FeatureId::kprobe)) {
        MESSAGE("this kernel has kprobes: the failing attach cannot be provoked here");
        return;
    }
    const size_t fds_before = open_fds();
    {
        auto s =
            Skeleton<oom_kill_bpf>::create(*rt, "test_module", "oom_kill", [](oom_kill_bpf* k) {
                bpf_program__set_autoload(k->progs.oom_mark_victim, false);
                bpf_program__set_autoload(k->progs.oom_memcg_reclaim, false);
                bpf_program__set_autoload(k->progs.oom_direct_reclaim, false);
            });
        REQUIRE_FALSE(s);
        MESSAGE(s.error());
        CHECK(s.error().starts_with("attach kprobe/oom_kill_process: "));
    }
    CHECK(rt->owned_count(ObjectKind::program) == 0);
    CHECK(open_fds() == fds_before);
}

TEST_CASE("bpf ring buffer: records reach the callback through the reactor; overflow is counted") {
    rp::test::require_bpf_or_skip();
    auto rt = runtime();
    auto reactor = rp::loop::Reactor::create();
    REQUIRE(reactor);
    auto& loop = **reactor;

    auto s = Skeleton<selftest_bpf>::create(*rt, "test_module", "selftest", [](selftest_bpf* k) {
        k->rodata->target_tgid = static_cast<uint32_t>(::getpid());
        k->rodata->target_syscall = SYS_getppid;
        return rp::bpf::size_cpu_slots(k->maps.lost_events);
    });
    REQUIRE_MESSAGE(s, (s ? "" : s.error()));

    uint64_t received = 0;
    uint64_t bad = 0;
    auto rb = rp::bpf::RingBuffer::create(
        loop, "selftest/events", bpf_map__fd(s->get()->maps.events),
        bpf_map__fd(s->get()->maps.lost_events), [&](std::span<const std::byte> rec) {
            selftest_event e;
            if (rec.size() != sizeof e) {
                ++bad;
                return;
            }
            std::memcpy(&e, rec.data(), sizeof e);
            if (e.tgid != static_cast<uint32_t>(::getpid()) || e.syscall != SYS_getppid) ++bad;
            ++received;
        });
    REQUIRE_MESSAGE(rb, (rb ? "" : rb.error()));
    auto& ring = **rb;
    CHECK(ring.watching());

    // Runs the loop until `want` records are accounted for — received, or lost (counted) — at most
    // 5 s; then a few more turns, in which nothing else may arrive.
    auto run_until = [&](uint64_t want) {
        for (int turn = 0; turn < 500 && received + ring.lost() < want; ++turn) loop.run_once(10);
        for (int turn = 0; turn < 3; ++turn) loop.run_once(10);
    };

    // 1. Ten records, consumed by the reactor's readiness callback (no explicit drain).
    for (int i = 0; i < 10; ++i) ::syscall(SYS_getppid);
    run_until(10);
    CHECK(received == 10);
    CHECK(ring.consumed() == 10);
    CHECK(ring.wakeups() >= 1);
    CHECK(ring.lost() == 0);
    CHECK(bad == 0);

    // 2. 200 records into a 4 KiB ring without a loop turn: what does not fit is lost, and counted
    // — from the highest CPU this thread may use, so that a slot other than CPU 0's is summed.
    received = 0;
    cpu_set_t before, last;
    REQUIRE(sched_getaffinity(0, sizeof before, &before) == 0);
    int cpu = CPU_SETSIZE - 1;
    while (cpu > 0 && !CPU_ISSET(cpu, &before)) --cpu;
    CPU_ZERO(&last);
    CPU_SET(cpu, &last);
    REQUIRE(sched_setaffinity(0, sizeof last, &last) == 0);
    for (int i = 0; i < 200; ++i) ::syscall(SYS_getppid);
    REQUIRE(sched_setaffinity(0, sizeof before, &before) == 0);
    MESSAGE("overflowed the ring on CPU " << cpu);
    run_until(200);
    const uint64_t lost = ring.lost();
    MESSAGE("received " << received << ", lost " << lost);
    CHECK(lost > 0);
    CHECK(received > 0);
    CHECK(received + lost == 200);
    CHECK(s->get()->bss->emitted == 210);
    CHECK(bad == 0);
}

TEST_CASE("bpf ring buffer: a lost-event counter not sized to the CPUs is refused at set-up") {
    rp::test::require_bpf_or_skip();
    if (libbpf_num_possible_cpus() < 2) {
        MESSAGE("one possible CPU: one slot is the right size; nothing to refuse");
        return;
    }
    auto rt = runtime();
    auto reactor = rp::loop::Reactor::create();
    REQUIRE(reactor);
    auto s = Skeleton<selftest_bpf>::create(*rt, "test_module", "selftest", [](selftest_bpf*) {});
    REQUIRE_MESSAGE(s, (s ? "" : s.error()));
    auto rb = rp::bpf::RingBuffer::create(
        **reactor, "selftest/events", bpf_map__fd(s->get()->maps.events),
        bpf_map__fd(s->get()->maps.lost_events), [](std::span<const std::byte>) {});
    REQUIRE_FALSE(rb);
    CHECK(rb.error().find("lost-event counter of selftest/events") != std::string::npos);
    CHECK(rb.error().find("size_cpu_slots") != std::string::npos);
}
