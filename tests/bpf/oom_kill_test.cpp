// oom_kill_test.cpp — oom_kill_probe against real OOM kills (root, cgroup v1 memory controller).
//
// A child process is put in a fresh memory cgroup (/sys/fs/cgroup/memory/<unique>) limited to
// 64 MiB, names itself, sets oom_score_adj 500 and allocates and touches 300 MiB: the kernel's
// memcg OOM killer kills it. GET /oom_kill_probe/check must then report it with every field, a
// second check must be null, and POST /module-restart/oom_kill_probe must neither leak an fd nor
// lose the next kill. Run once on the module itself (a reactor and a router in this process) and
// once on the real daemon (TestDaemon).
#include "bpf/oom_kill.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bpf/runtime/runtime.h"
#include "conf/config.h"
#include "http/json_writer.h"
#include "http/router.h"
#include "loop/reactor.h"
#include "modules/module.h"
#include "modules/oom_kill/oom_report.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kVictimComm = "rp-oom-victim";
constexpr int kScoreAdj = 500;
constexpr uint64_t kLimitBytes = 64ull << 20;
constexpr uint64_t kAllocBytes = 300ull << 20;
constexpr const char* kMemcgRoot = "/sys/fs/cgroup/memory";

// A v1 memory cgroup directly under the hierarchy's root, removed when the test is done.
class MemoryCgroup {
  public:
    MemoryCgroup() {
        static int seq = 0;
        name_ = "rp-oom-" + std::to_string(::getpid()) + "-" + std::to_string(++seq);
        dir_ = std::string(kMemcgRoot) + "/" + name_;
        if (!fs::exists(std::string(kMemcgRoot) + "/memory.limit_in_bytes")) {
            error_ = std::string("no cgroup v1 memory controller at ") + kMemcgRoot;
            return;
        }
        std::error_code ec;
        fs::create_directory(dir_, ec);
        if (ec) {
            error_ = "mkdir " + dir_ + ": " + ec.message();
            return;
        }
        std::ofstream(dir_ + "/memory.limit_in_bytes") << kLimitBytes << std::flush;
    }
    ~MemoryCgroup() {
        if (!error_.empty()) return;
        for (int i = 0; i < 100 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::string& error() const { return error_; }
    const std::string& name() const { return name_; }
    const std::string& dir() const { return dir_; }

  private:
    std::string name_, dir_, error_;
};

struct Victim {
    pid_t pid = -1;
    int signal = 0;  // the signal that ended it, 0 if it exited
};

// Forks a child into `cg` that allocates kAllocBytes; returns once the child is dead and reaped.
Victim run_victim(const MemoryCgroup& cg) {
    int go[2];
    REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(go[1]);
        char c;
        if (::read(go[0], &c, 1) != 1) ::_exit(2);  // wait until moved into the cgroup
        ::prctl(PR_SET_NAME, kVictimComm);
        int fd = ::open("/proc/self/oom_score_adj", O_WRONLY);
        if (fd >= 0) {
            const char* adj = "500";
            (void)!::write(fd, adj, std::strlen(adj));
            ::close(fd);
        }
        void* p = ::mmap(nullptr, kAllocBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
        if (p == MAP_FAILED) ::_exit(3);
        for (uint64_t off = 0; off < kAllocBytes; off += 4096) static_cast<char*>(p)[off] = 1;
        ::_exit(0);  // not killed: the test fails on the exit status
    }
    ::close(go[0]);
    {
        std::ofstream procs(cg.dir() + "/cgroup.procs");
        procs << pid << std::flush;
        CHECK(static_cast<bool>(procs));
    }
    CHECK(::write(go[1], "g", 1) == 1);
    ::close(go[1]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    Victim v;
    v.pid = pid;
    v.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return v;
}

uint64_t swap_pages() {
    struct sysinfo si {};
    ::sysinfo(&si);
    return static_cast<uint64_t>(si.totalswap) * si.mem_unit / 4096;
}

struct Entry {
    std::string cgroup_name, victim_comm, trigger_comm;
    uint64_t victim_pid = 0, trigger_pid = 0, pages = 0, memcg_oom = 0;
    int64_t score = 0, score_adj = 0;
};

// Parses a /check body; nullopt for "null".
std::optional<std::vector<Entry>> parse_check(const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(body);
    if (doc.is_null()) return std::nullopt;
    std::vector<Entry> out;
    for (simdjson::dom::object o : doc.get_array()) {
        Entry e;
        e.cgroup_name = std::string(std::string_view(o["cgroupName"]));
        e.victim_pid = uint64_t(o["victimPid"]);
        e.trigger_pid = uint64_t(o["triggerPid"]);
        e.victim_comm = std::string(std::string_view(o["victimComm"]));
        e.trigger_comm = std::string(std::string_view(o["triggerComm"]));
        e.score = int64_t(o["score"]);
        e.score_adj = int64_t(o["scoreAdj"]);
        e.pages = uint64_t(o["pages"]);
        e.memcg_oom = uint64_t(o["memcgoom"]);
        out.push_back(std::move(e));
    }
    return out;
}

// The kernel's own account of a kill: "Killed process <pid> (<comm>) total-vm:..kB,
// anon-rss:..kB, file-rss:..kB, shmem-rss:..kB, UID:.. pgtables:..kB oom_score_adj:..".
struct KernelKill {
    uint64_t anon_kb = 0, file_kb = 0, shmem_kb = 0, pgtables_kb = 0;
};

uint64_t field_kb(const std::string& line, const std::string& key) {
    size_t at = line.find(key);
    return at == std::string::npos ? 0 : std::strtoull(line.c_str() + at + key.size(), nullptr, 10);
}

std::optional<KernelKill> kernel_kill_record(pid_t pid) {
    const std::string needle = "Killed process " + std::to_string(pid) + " (";
    int fd = ::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::optional<KernelKill> found;
    char rec[8192];
    for (;;) {
        ssize_t n = ::read(fd, rec, sizeof rec - 1);
        if (n < 0 && errno == EPIPE) continue;  // overwritten records: skip ahead
        if (n <= 0) break;
        std::string line(rec, static_cast<size_t>(n));
        if (line.find(needle) == std::string::npos) continue;
        KernelKill k;
        k.anon_kb = field_kb(line, "anon-rss:");
        k.file_kb = field_kb(line, "file-rss:");
        k.shmem_kb = field_kb(line, "shmem-rss:");
        k.pgtables_kb = field_kb(line, "pgtables:");
        found = k;
    }
    ::close(fd);
    return found;
}

// Every field of the entry for `v`, killed in `cg`.
void check_entry(const std::vector<Entry>& entries, const Victim& v, const MemoryCgroup& cg) {
    const Entry* e = nullptr;
    for (const auto& x : entries)
        if (x.victim_pid == static_cast<uint64_t>(v.pid)) e = &x;
    REQUIRE_MESSAGE(e != nullptr, "no entry for victim pid " << v.pid);
    CHECK(e->victim_comm == kVictimComm);
    CHECK(e->cgroup_name == cg.name());
    CHECK(e->memcg_oom == 1);
    CHECK(e->score_adj == kScoreAdj);
    // The victim ran the OOM killer itself: its own charge hit the limit.
    CHECK(e->trigger_pid == static_cast<uint64_t>(v.pid));
    CHECK(e->trigger_comm == kVictimComm);
    // oc->totalpages of a memcg OOM: the limit in pages (+ swap the memcg could use).
    const uint64_t limit_pages = kLimitBytes / 4096;
    CHECK(e->pages == limit_pages + swap_pages());
    // oom_badness(): rss + swap entries + page-table pages + 500 * (totalpages / 1000). The
    // kernel prints the same mm counters when it kills ("Killed process <pid> ... anon-rss:..."),
    // so the score must match them exactly (without swap, whose entries it does not print).
    const int64_t adj_points = kScoreAdj * static_cast<int64_t>(e->pages / 1000);
    CHECK(e->score > adj_points + static_cast<int64_t>(limit_pages) / 2);
    auto kernel = kernel_kill_record(v.pid);
    REQUIRE_MESSAGE(kernel, "no \"Killed process " << v.pid << "\" line in /dev/kmsg");
    const int64_t kernel_points = static_cast<int64_t>(
        (kernel->anon_kb + kernel->file_kb + kernel->shmem_kb) / 4 + kernel->pgtables_kb / 4);
    MESSAGE("score " << e->score << " = " << adj_points << " (oom_score_adj) + "
                     << e->score - adj_points
                     << " pages; the kernel's kill message: " << kernel_points << " pages");
    if (swap_pages() == 0)
        CHECK(e->score == adj_points + kernel_points);
    else
        CHECK(e->score >= adj_points + kernel_points);
}

size_t fd_count(pid_t pid) {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        (void)e;
        ++n;
    }
    return n;
}

void require_memcg(const MemoryCgroup& cg) { rp::test::skip_unless(cg.error()); }

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
        auto m = rp::modules::find_factory("oom_kill_probe")->create(cfg_, deps);
        if (!m) return m.error();
        module_ = std::move(*m);
        auto reg = module_->register_routes(router_.mount("oom_kill_probe"));
        return reg ? std::string() : reg.error();
    }
    void close() {
        router_.unmount("oom_kill_probe");
        module_->close();
        module_.reset();
    }
    std::string get(std::string_view path) {
        rp::http::Request req;
        req.method = "GET";
        req.target = path;
        req.path = path;
        auto m = router_.match("GET", path, req.params);
        REQUIRE(m.outcome == rp::http::Router::Outcome::found);
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
    rp::loop::Reactor& reactor() { return *reactor_; }

  private:
    std::unique_ptr<rp::loop::Reactor> reactor_;
    std::unique_ptr<rp::bpf::Runtime> runtime_;
    rp::conf::Config cfg_;
    rp::http::Router router_;
    std::unique_ptr<rp::modules::Module> module_;
};

}  // namespace

TEST_CASE("oom_kill_probe: score and pages follow the kernel's formulas") {
    oom_kill_event e{};
    e.flags = OOM_KILL_F_TRIGGER_MEMCG_RECLAIM | OOM_KILL_F_MEMCG_AT_LIMIT | OOM_KILL_F_HAS_MM;
    e.score_adj = -200;
    e.rss_pages = 15000;
    e.swap_entries = 10;
    e.pgtables_bytes = 40960;
    e.memcg_max_pages = 16384;
    e.memcg_swap_max_pages = (INT64_MAX / 4096);  // v1 memsw unlimited
    e.memcg_swappiness = 60;
    rp::modules::oom::HostMemory host;
    host.total_ram_pages = 6000000;
    host.total_swap_pages = 1000;
    host.page_size = 4096;
    auto r = rp::modules::oom::make_report(e, host);
    CHECK(r.memcg_oom == 1);
    CHECK(r.evidence == rp::modules::oom::Report::Evidence::trigger_reclaim);
    CHECK(r.pages == 16384 + 1000);                // limit + min(memsw - limit, swap)
    CHECK(r.score == 15000 + 10 + 10 - 200 * 17);  // adj * (17384 / 1000)

    e.memcg_swappiness = 0;  // no swap for this memcg
    CHECK(rp::modules::oom::make_report(e, host).pages == 16384);

    e.flags = OOM_KILL_F_TRIGGER_DIRECT_RECLAIM | OOM_KILL_F_MEMCG_AT_LIMIT | OOM_KILL_F_HAS_MM;
    r = rp::modules::oom::make_report(e, host);
    CHECK(r.memcg_oom == 0);  // the trigger's reclaim says global, whatever the memcg margin
    CHECK(r.pages == 6001000);

    e.flags = OOM_KILL_F_HAS_MM;  // no reclaim seen, no memcg at its limit
    CHECK(rp::modules::oom::make_report(e, host).memcg_oom == 0);
    e.flags = OOM_KILL_F_HAS_MM | OOM_KILL_F_MEMCG_AT_LIMIT;
    CHECK(rp::modules::oom::make_report(e, host).memcg_oom == 1);

    e.flags = OOM_KILL_F_FROM_OOM_CONTROL | OOM_KILL_F_MEMCG_OOM;  // kprobe: the kernel's values
    e.score = 1234;
    e.pages = 5678;
    r = rp::modules::oom::make_report(e, host);
    CHECK(r.score == 1234);
    CHECK(r.pages == 5678);
    CHECK(r.memcg_oom == 1);
}

TEST_CASE("oom_kill_probe: a memcg OOM kill is reported field by field (module in-process)") {
    rp::test::require_bpf_or_skip();
    MemoryCgroup cg;
    require_memcg(cg);
    ModuleHarness h;
    REQUIRE(h.create() == "");
    CHECK(h.get("/oom_kill_probe/check") == "null");

    Victim v = run_victim(cg);
    REQUIRE_MESSAGE(v.signal == SIGKILL, "the child was not OOM-killed");
    // The record is in the ring buffer before the victim dies; let the reactor deliver it.
    for (int i = 0; i < 20; ++i) h.reactor().run_once(10);
    std::string stats = h.stats();
    MESSAGE(stats);
    CHECK(stats.find("\"events\":1") != std::string::npos);
    CHECK(stats.find("\"lost\":0") != std::string::npos);
    CHECK(stats.find("\"tp_btf/mark_victim\"") != std::string::npos);
    // memcgoom was decided by the trigger's reclaim (rule 2), not by the memcg-margin fallback.
    CHECK(stats.find(
              "\"memcgoom_by\":{\"oom_control\":0,\"trigger_reclaim\":1,\"memcg_margin\":0}") !=
          std::string::npos);

    std::string body = h.get("/oom_kill_probe/check");
    MESSAGE(body);
    auto entries = parse_check(body);
    REQUIRE(entries);
    check_entry(*entries, v, cg);
    CHECK(h.get("/oom_kill_probe/check") == "null");
    CHECK(h.stats().find("\"last_check\":0") == std::string::npos);
    h.close();
}

TEST_CASE("oom_kill_probe: the daemon reports a real OOM kill, flushes, restarts without leaks") {
    rp::test::require_bpf_or_skip();
    MemoryCgroup cg;
    require_memcg(cg);
    rp::test::DaemonOptions opts;
    opts.toml = "[system_probe_config]\nenable_oom_kill = true\n";
    rp::test::TestDaemon d(opts);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto c = d.client();

    auto first = c.get("/oom_kill_probe/check");
    REQUIRE_MESSAGE(first, (first ? "" : first.error()));
    CHECK(first->status == 200);  // null, or kills from before the test: flushed now

    Victim v = run_victim(cg);
    REQUIRE_MESSAGE(v.signal == SIGKILL, "the child was not OOM-killed");
    auto r = c.get("/oom_kill_probe/check");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    MESSAGE(r->body);
    auto entries = parse_check(r->body);
    REQUIRE(entries);
    check_entry(*entries, v, cg);

    auto again = c.get("/oom_kill_probe/check");
    REQUIRE(again);
    CHECK(again->body == "null\n");

    // Restart: same fd count afterwards, and the probe still sees kills.
    const size_t fds_before = fd_count(d.pid());
    auto restart = c.post("/module-restart/oom_kill_probe", "");
    REQUIRE(restart);
    CHECK(restart->status == 200);
    CHECK(fd_count(d.pid()) == fds_before);

    Victim v2 = run_victim(cg);
    REQUIRE(v2.signal == SIGKILL);
    auto r2 = c.get("/oom_kill_probe/check");
    REQUIRE(r2);
    REQUIRE(r2->status == 200);
    auto entries2 = parse_check(r2->body);
    REQUIRE(entries2);
    check_entry(*entries2, v2, cg);

    auto stats = c.get("/debug/stats");
    REQUIRE(stats);
    MESSAGE(stats->body);
}
