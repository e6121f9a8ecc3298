// noisy_neighbor_test.cpp — noisy_neighbor against real scheduler contention (root, cgroup v2).
//
// Three cgroups are made under the v2 hierarchy (/sys/fs/cgroup/unified on the project VMs,
// /sys/fs/cgroup on a v2-only host): two hold two CPU-bound processes each, all four pinned to
// one CPU, and the third one process blocked on a pipe. After a flush, the hogs compete until each
// has been preempted at least kMinPreemptions times; then one /check must report, for each busy
// cgroup (keyed by its directory's inode number), the same run-queue wait time, waits and
// preemptions the kernel accounts per task (/proc/<pid>/schedstat run_delay and pcount,
// nonvoluntary_ctxt_switches), UniquePidCount 2, and nothing for the idle cgroup. A later check
// no longer has them (GetAndFlush) and one answers null; the daemon serves the same through its
// socket with the concurrency limit; close() leaves none of the module's maps, programs or links.
#include <bpf/bpf.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bpf/runtime/runtime.h"
#include "conf/config.h"
#include "http/json_writer.h"
#include "http/router.h"
#include "loop/reactor.h"
#include "modules/module.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMinPreemptions = 20;  // per hog, before the measuring /check
constexpr uint32_t kCgroup2Magic = 0x63677270;

// The cgroup v2 mount: the hybrid layout's /sys/fs/cgroup/unified, else a v2-only /sys/fs/cgroup.
std::string cgroup2_root() {
    for (const char* p : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
        struct statfs st {};
        if (::statfs(p, &st) == 0 && static_cast<uint32_t>(st.f_type) == kCgroup2Magic) return p;
    }
    return {};
}

// A v2 cgroup directly under the hierarchy's root, removed (after its processes) by the test.
class Cgroup2 {
  public:
    explicit Cgroup2(const std::string& suffix) {
        std::string root = cgroup2_root();
        if (root.empty()) {
            error_ = "no cgroup v2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup";
            return;
        }
        dir_ = root + "/rp-nn-" + std::to_string(::getpid()) + "-" + suffix;
        if (::mkdir(dir_.c_str(), 0755) != 0) {
            error_ = "mkdir " + dir_ + ": " + std::strerror(errno);
            return;
        }
        struct stat st {};
        ::stat(dir_.c_str(), &st);
        id_ = st.st_ino;
    }
    ~Cgroup2() {
        if (!error_.empty()) return;
        for (int i = 0; i < 250 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    void add(pid_t pid) const {
        std::ofstream procs(dir_ + "/cgroup.procs");
        procs << pid << std::flush;
        REQUIRE_MESSAGE(static_cast<bool>(procs), "move " << pid << " into " << dir_);
    }
    const std::string& error() const { return error_; }
    uint64_t id() const { return id_; }

  private:
    std::string dir_, error_;
    uint64_t id_ = 0;
};

// Children that wait for a byte on a pipe, then spin (busy) or block forever (idle); killed and
// reaped by the destructor.
class Children {
  public:
    Children() { REQUIRE(::pipe2(go_, O_CLOEXEC) == 0); }
    ~Children() {
        for (pid_t p : pids_) ::kill(p, SIGKILL);
        for (pid_t p : pids_) ::waitpid(p, nullptr, 0);
        ::close(go_[0]);
        if (go_[1] >= 0) ::close(go_[1]);
    }
    pid_t spawn(int cpu, bool busy) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(go_[1]);  // the start signal is EOF: only the parent may hold the write end
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            ::sched_setaffinity(0, sizeof set, &set);
            char c;
            if (!busy) {
                // Blocks at once (before the test flushes) and is never woken until killed.
                int idle[2];
                if (::pipe(idle) != 0) ::_exit(3);
                (void)!::read(idle[0], &c, 1);
                ::_exit(0);
            }
            if (::read(go_[0], &c, 1) < 0) ::_exit(2);  // EOF (0) starts everyone at once
            volatile uint64_t spin = 0;
            for (;;) spin = spin + 1;
        }
        pids_.push_back(pid);
        return pid;
    }
    void start() {
        ::close(go_[1]);
        go_[1] = -1;
    }
    void kill_all() {
        for (pid_t p : pids_) ::kill(p, SIGKILL);
        for (pid_t p : pids_) ::waitpid(p, nullptr, 0);
        pids_.clear();
    }

  private:
    int go_[2];
    std::vector<pid_t> pids_;
};

// Waits (deadline 10 s) until `pid` sleeps (state S in /proc/<pid>/stat).
void wait_sleeping(pid_t pid) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (;;) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
        std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        size_t paren = text.rfind(')');
        if (paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'S') return;
        REQUIRE_MESSAGE(Clock::now() < deadline, "pid " << pid << " did not go to sleep");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

// What the kernel accounts for one task: run_delay (ns waited on a run queue) and pcount (times
// it was run after waiting) from /proc/<pid>/schedstat, nonvoluntary context switches.
struct TaskSched {
    uint64_t run_delay_ns = 0, pcount = 0, nonvoluntary = 0;
};

TaskSched task_sched(pid_t pid) {
    TaskSched t;
    std::ifstream ss("/proc/" + std::to_string(pid) + "/schedstat");
    uint64_t on_cpu = 0;
    ss >> on_cpu >> t.run_delay_ns >> t.pcount;
    std::ifstream st("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(st, line))
        if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
            t.nonvoluntary = std::stoull(line.substr(line.find(':') + 1));
    return t;
}

struct Stat {
    uint64_t sum_latencies_ns = 0, event_count = 0, preemption_count = 0, unique_pid_count = 0;
};

// Parses a /check body: cgroup id -> stats; nullopt for "null". Every entry must have exactly the
// five fields of the Agent's model.NoisyNeighborStats, as unsigned integers.
std::optional<std::map<uint64_t, Stat>> parse_check(const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(body);
    if (doc.is_null()) return std::nullopt;
    std::map<uint64_t, Stat> out;
    for (simdjson::dom::object o : doc.get_array()) {
        CHECK(o.size() == 5);
        uint64_t id = o["CgroupID"].get_uint64();
        Stat s;
        s.sum_latencies_ns = o["SumLatenciesNs"].get_uint64();
        s.event_count = o["EventCount"].get_uint64();
        s.preemption_count = o["PreemptionCount"].get_uint64();
        s.unique_pid_count = o["UniquePidCount"].get_uint64();
        CHECK_MESSAGE(!out.contains(id), "cgroup " << id << " twice");
        out[id] = s;
    }
    CHECK(!out.empty());  // an empty array would be "null"
    return out;
}

// The BPF object ids this process holds fds to (from /proc/self/fdinfo): maps, programs, links.
struct BpfIds {
    std::set<uint32_t> maps, progs, links;
};

BpfIds own_bpf_ids() {
    BpfIds ids;
    for (const auto& e : fs::directory_iterator("/proc/self/fdinfo")) {
        std::ifstream f(e.path());
        std::string line;
        while (std::getline(f, line)) {
            auto take = [&](const char* key, std::set<uint32_t>& into) {
                if (line.rfind(key, 0) == 0)
                    into.insert(static_cast<uint32_t>(std::stoul(line.substr(std::strlen(key)))));
            };
            take("map_id:", ids.maps);
            take("prog_id:", ids.progs);
            take("link_id:", ids.links);
        }
    }
    return ids;
}

template <typename T>
std::set<T> minus(const std::set<T>& a, const std::set<T>& b) {
    std::set<T> out;
    for (const T& x : a)
        if (!b.contains(x)) out.insert(x);
    return out;
}

// Whether the kernel still has the object (an fd by id can be had).
bool kernel_has(int (*get_fd)(__u32), uint32_t id) {
    int fd = get_fd(id);
    if (fd >= 0) {
        ::close(fd);
        return true;
    }
    return errno != ENOENT;
}

// The module in this process: a reactor, a router and direct handler calls.
class ModuleHarness {
  public:
    ModuleHarness() {
        auto r = rp::loop::Reactor::create();
        REQUIRE(r);
        reactor_ = std::move(*r);
        auto rt = rp::bpf::Runtime::setup();
        REQUIRE(rt);
        runtime_ = std::move(*rt);
    }
    std::string create() {
        rp::modules::Dependencies deps{*reactor_, runtime_.get()};
        auto m = rp::modules::find_factory("noisy_neighbor")->create(cfg_, deps);
        if (!m) return m.error();
        module_ = std::move(*m);
        auto reg = module_->register_routes(router_.mount("noisy_neighbor"));
        return reg ? std::string() : reg.error();
    }
    void close() {
        router_.unmount("noisy_neighbor");
        module_->close();
        module_.reset();
    }
    std::string check() {
        rp::http::Request req;
        req.method = "GET";
        req.target = "/noisy_neighbor/check";
        req.path = req.target;
        auto m = router_.match("GET", req.path, req.params);
        REQUIRE(m.outcome == rp::http::Router::Outcome::found);
        CHECK((*m.load)->limit == 1);  // system-probe's WithConcurrencyLimit(1)
        rp::http::Buffer body;
        rp::http::JsonWriter writer(body);
        rp::http::Response res(body, writer, false);
        (*m.handler)(req, res);
        CHECK(res.status() == 200);
        return std::string(body.view());
    }
    std::string stats() {
        rp::http::Buffer body;
        rp::http::JsonWriter writer(body);
        module_->write_stats(writer);
        return std::string(body.view());
    }

  private:
    std::unique_ptr<rp::loop::Reactor> reactor_;
    std::unique_ptr<rp::bpf::Runtime> runtime_;
    rp::conf::Config cfg_;
    rp::http::Router router_;
    std::unique_ptr<rp::modules::Module> module_;
};

int contended_cpu() { return std::thread::hardware_concurrency() > 1 ? 1 : 0; }

// `have` within [want - tol, want + tol] where tol = frac * want + abs.
void check_close(const char* what, uint64_t have, uint64_t want, double frac, uint64_t abs) {
    double tol = frac * static_cast<double>(want) + static_cast<double>(abs);
    MESSAGE(std::string(what) << ": module " << have << ", kernel " << want);
    CHECK_MESSAGE(static_cast<double>(have) >= static_cast<double>(want) - tol,
                  what << ": module " << have << " < kernel " << want);
    CHECK_MESSAGE(static_cast<double>(have) <= static_cast<double>(want) + tol,
                  what << ": module " << have << " > kernel " << want);
}

}  // namespace

TEST_CASE("noisy_neighbor: two CPU-bound cgroups on one CPU match the kernel's schedstats") {
    rp::test::require_bpf_or_skip();
    Cgroup2 busy_a("a"), busy_b("b"), idle("idle");
    rp::test::skip_unless(busy_a.error());
    REQUIRE(busy_b.error().empty());
    REQUIRE(idle.error().empty());
    MESSAGE("cgroup ids (inodes): a " << busy_a.id() << ", b " << busy_b.id() << ", idle "
                                      << idle.id());

    const BpfIds before_module = own_bpf_ids();
    ModuleHarness h;
    REQUIRE(h.create() == "");
    const BpfIds module_ids = [&] {
        BpfIds now = own_bpf_ids();
        return BpfIds{minus(now.maps, before_module.maps), minus(now.progs, before_module.progs),
                      minus(now.links, before_module.links)};
    }();
    CHECK(module_ids.links.size() == 3);  // one per tracepoint
    CHECK(module_ids.progs.size() == 3);

    {
        Children kids;
        const int cpu = contended_cpu();
        std::vector<pid_t> a, b;
        for (int i = 0; i < 2; ++i) {
            a.push_back(kids.spawn(cpu, true));
            busy_a.add(a.back());
            b.push_back(kids.spawn(cpu, true));
            busy_b.add(b.back());
        }
        const pid_t sleeper = kids.spawn(cpu, false);
        idle.add(sleeper);
        wait_sleeping(sleeper);
        for (pid_t p : a) wait_sleeping(p);  // blocked on the start pipe
        for (pid_t p : b) wait_sleeping(p);

        h.check();  // flush what happened before
        std::map<pid_t, TaskSched> start;
        for (pid_t p : a) start[p] = task_sched(p);
        for (pid_t p : b) start[p] = task_sched(p);
        kids.start();

        // Wait (deadline 20 s) until every hog was preempted kMinPreemptions times.
        const auto deadline = Clock::now() + std::chrono::seconds(20);
        std::map<pid_t, TaskSched> end;
        for (;;) {
            bool done = true;
            for (const auto& [p, s0] : start) {
                end[p] = task_sched(p);
                done = done && end[p].nonvoluntary - s0.nonvoluntary >= kMinPreemptions;
            }
            if (done) break;
            REQUIRE_MESSAGE(Clock::now() < deadline, "the hogs were not preempted in 20 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::string body = h.check();
        for (const auto& [p, s0] : start) end[p] = task_sched(p);
        kids.kill_all();
        MESSAGE(body);

        auto got = parse_check(body);
        REQUIRE(got);
        CHECK_MESSAGE(!got->contains(idle.id()), "the idle cgroup was reported");
        for (const auto& [cg, pids] : {std::pair{&busy_a, &a}, std::pair{&busy_b, &b}}) {
            REQUIRE_MESSAGE(got->contains(cg->id()), "no entry for cgroup " << cg->id());
            const Stat& s = got->at(cg->id());
            TaskSched k;
            for (pid_t p : *pids) {
                k.run_delay_ns += end[p].run_delay_ns - start[p].run_delay_ns;
                k.pcount += end[p].pcount - start[p].pcount;
                k.nonvoluntary += end[p].nonvoluntary - start[p].nonvoluntary;
            }
            CHECK(s.unique_pid_count == 2);
            CHECK(s.preemption_count >= 2 * kMinPreemptions);
            // The module's window encloses the kernel's (flush, read, ..., read, check): only
            // switches in those gaps differ, plus a wait that began before the first read.
            check_close("preemptions", s.preemption_count, k.nonvoluntary, 0.05, 4);
            check_close("waits", s.event_count, k.pcount, 0.05, 4);
            check_close("wait ns", s.sum_latencies_ns, k.run_delay_ns, 0.10, 20'000'000);
            // Four hogs on one CPU: each waits for the others' slices (milliseconds).
            CHECK(s.sum_latencies_ns / s.event_count > 100'000);
        }
    }

    // GetAndFlush: once the hogs' deaths are flushed their cgroups are gone; and a check right
    // after another finds nothing at all (retried while other tasks of the host switch between).
    h.check();
    auto after = parse_check(h.check());
    if (after) {
        CHECK(!after->contains(busy_a.id()));
        CHECK(!after->contains(busy_b.id()));
    }
    bool saw_null = false;
    for (auto deadline = Clock::now() + std::chrono::seconds(5);
         !saw_null && Clock::now() < deadline;)
        saw_null = h.check() == "null";
    CHECK_MESSAGE(saw_null, "no /check answered null in 5 s");

    std::string stats = h.stats();
    MESSAGE(stats);
    CHECK(stats.find("\"hooks\":[\"tp_btf/sched_wakeup\",\"tp_btf/sched_wakeup_new\","
                     "\"tp_btf/sched_switch\"]") != std::string::npos);
    CHECK(stats.find("\"map_full\":0") != std::string::npos);
    CHECK(stats.find("\"task_storage_failed\":0") != std::string::npos);

    // close(): none of the module's maps, programs or links stays in the kernel.
    h.close();
    CHECK(own_bpf_ids().maps == before_module.maps);
    auto gone = [&] {
        for (uint32_t id : module_ids.links)
            if (kernel_has(bpf_link_get_fd_by_id, id)) return false;
        for (uint32_t id : module_ids.progs)
            if (kernel_has(bpf_prog_get_fd_by_id, id)) return false;
        for (uint32_t id : module_ids.maps)
            if (kernel_has(bpf_map_get_fd_by_id, id)) return false;
        return true;
    };
    bool released = false;
    // The kernel frees maps from a work queue after the last reference: wait for it.
    for (auto deadline = Clock::now() + std::chrono::seconds(5);
         !released && Clock::now() < deadline;) {
        released = gone();
        if (!released) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK_MESSAGE(released, "a map, program or link of the module outlived close()");
}

TEST_CASE("noisy_neighbor: the daemon serves /check with limit 1 and flushes it") {
    rp::test::require_bpf_or_skip();
    rp::test::DaemonOptions opts;
    opts.toml = "[noisy_neighbor]\nenabled = true\n";
    rp::test::TestDaemon d(opts);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto c = d.client();
    auto first = c.get("/noisy_neighbor/check");
    REQUIRE(first);
    CHECK(first->status == 200);
    // The host's own tasks switch all the time: the second check has at least the root cgroup's
    // entry (v2 root id 1) or is null; either way every entry has the five fields.
    auto second = c.get("/noisy_neighbor/check?pretty_print=1");
    REQUIRE(second);
    CHECK(second->status == 200);
    if (second->body != "null\n") {
        auto got = parse_check(second->body);
        REQUIRE(got);
        CHECK(second->body.find("\n  {\n    \"CgroupID\": ") != std::string::npos);
    }
    auto stats = c.get("/debug/stats");
    REQUIRE(stats);
    CHECK(stats->body.find("\"noisy_neighbor\":{\"last_check\":") != std::string::npos);
    auto metrics = c.get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body.find("ringprobe_noisy_neighbor_context_switches_total ") !=
          std::string::npos);
}
