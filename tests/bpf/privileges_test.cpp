// privileges_test.cpp — ringprobe.drop_capabilities and an unprivileged daemon (root + BTF to run;
// docs/HARDENING.md lists the capability set asserted here).
//
// - With the option, /proc/<pid>/status shows exactly the documented run-time set in CapEff,
//   CapPrm and CapBnd (CAP_SYS_ADMIN only with the ebpf module), nothing inheritable or ambient, and
//   POST /module-restart of an eBPF module still works with what is left.
// - Started as `nobody` (setgid/setuid in a forked child) with process + oom_kill_probe: process
//   serves, oom_kill_probe reports a permission error in /debug/stats.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "http/client.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

uint64_t bit(int cap) { return 1ull << cap; }

constexpr uint64_t kRuntimeSet = (1ull << kCapBpf) | (1ull << kCapPerfmon) |
                                 (1ull << CAP_SYS_RESOURCE) | (1ull << CAP_DAC_READ_SEARCH) |
                                 (1ull << CAP_SYS_PTRACE);

// A hex "CapXxx:" field of /proc/<pid>/status.
uint64_t cap_field(pid_t pid, const std::string& name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, name.size() + 1, name + ":") == 0)
            return std::strtoull(line.c_str() + name.size() + 1, nullptr, 16);
    }
    FAIL("no ", name, " in /proc/", pid, "/status");
    return 0;
}

// The "Error" of module `name` in /debug/stats ("" when it has none), or "<absent>".
std::string stats_error(rp::http::Client& c, std::string_view name) {
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    simdjson::dom::parser p;
    simdjson::dom::element root;
    REQUIRE_MESSAGE(p.parse(r->body).get(root) == simdjson::SUCCESS, r->body);
    simdjson::dom::object o;
    if (root[name].get(o) != simdjson::SUCCESS) return "<absent>";
    std::string_view err;
    if (o["Error"].get(err) != simdjson::SUCCESS) return "";
    return std::string(err);
}

// `expect` as far as this test process has it (a container's bounding set may lack some, e.g.
// CAP_SYS_RESOURCE): the daemon can only keep what it started with.
void check_dropped(const rp::test::TestDaemon& d, uint64_t expect) {
    expect &= cap_field(::getpid(), "CapPrm");
    INFO("log:\n", d.log());
    CHECK(cap_field(d.pid(), "CapEff") == expect);
    CHECK(cap_field(d.pid(), "CapPrm") == expect);
    CHECK(cap_field(d.pid(), "CapBnd") == expect);
    CHECK(cap_field(d.pid(), "CapInh") == 0);
    CHECK(cap_field(d.pid(), "CapAmb") == 0);
}

}  // namespace

TEST_CASE("privileges: drop_capabilities keeps exactly the run-time set; restart still works") {
    rp::test::require_bpf_or_skip();
    rp::test::DaemonOptions o;
    o.toml =
        "ringprobe.drop_capabilities = true\n"
        "system_probe_config.enable_oom_kill = true\n"
        "system_probe_config.enable_tcp_queue_length = true\n"
        "system_probe_config.process_config.enabled = true\n";
    rp::test::TestDaemon d(o);
    REQUIRE(d.ready());
    check_dropped(d, kRuntimeSet);
    auto c = d.client();
    CHECK(stats_error(c, "oom_kill_probe").empty());
    CHECK(stats_error(c, "tcp_queue_length_tracer").empty());
    // Loading and attaching again works with CAP_BPF + CAP_PERFMON. (Not oom_kill_probe: on kernels
    // where libbpf's CO-RE candidate search walks module BTFs its load needs CAP_SYS_ADMIN, see
    // docs/HARDENING.md.)
    auto rs = c.post("/module-restart/tcp_queue_length_tracer", "");
    REQUIRE(rs.has_value());
    CHECK_MESSAGE(rs->status == 200, rs->body, "\n", d.log());
    CHECK(stats_error(c, "tcp_queue_length_tracer").empty());
    auto chk = c.get("/oom_kill_probe/check");
    REQUIRE(chk.has_value());
    CHECK(chk->status == 200);
    // /proc/<pid>/fd and /proc/<pid>/io of another user's process (CAP_DAC_READ_SEARCH and
    // CAP_SYS_PTRACE are kept for this).
    int sync[2];
    REQUIRE(::pipe(sync) == 0);
    pid_t other = ::fork();
    REQUIRE(other >= 0);
    if (other == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
        char buf[512];
        int z = ::open("/dev/zero", O_RDONLY);  // something for readCount
        if (z < 0 || ::read(z, buf, sizeof buf) <= 0) ::_exit(1);
        if (::write(sync[1], "x", 1) != 1) ::_exit(1);
        ::pause();
        ::_exit(0);
    }
    ::close(sync[1]);
    char ready = 0;
    REQUIRE(::read(sync[0], &ready, 1) == 1);
    ::close(sync[0]);
    auto p = c.post("/process/stats", "{\"pids\": [" + std::to_string(other) + "]}");
    ::kill(other, SIGKILL);
    ::waitpid(other, nullptr, 0);
    REQUIRE(p.has_value());
    CHECK(p->status == 200);
    CHECK_MESSAGE(p->body.find("openFDCount") != std::string::npos, p->body);
    CHECK_MESSAGE(p->body.find("readCount") != std::string::npos, p->body);
    d.signal(SIGTERM);
    CHECK(d.wait_exit(8000ms) == 0);
}

TEST_CASE("privileges: with the ebpf module enabled CAP_SYS_ADMIN is kept too") {
    rp::test::require_bpf_or_skip();
    rp::test::DaemonOptions o;
    o.toml = "ringprobe.drop_capabilities = true\nebpf_check.enabled = true\n";
    rp::test::TestDaemon d(o);
    REQUIRE(d.ready());
    check_dropped(d, kRuntimeSet | bit(CAP_SYS_ADMIN));
    auto c = d.client();
    CHECK(stats_error(c, "ebpf").empty());
}

TEST_CASE("privileges: as nobody, process serves and oom_kill_probe reports a permission error") {
    rp::test::require_bpf_or_skip();
    const passwd* pw = ::getpwnam("nobody");
    REQUIRE(pw != nullptr);
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;

    std::string dir = rp::test::make_temp_dir();
    REQUIRE(::chmod(dir.c_str(), 0777) == 0);
    std::string socket = dir + "/sysprobe.sock";
    std::string config = dir + "/ringprobe.toml";
    std::string logp = dir + "/log";
    {
        std::ofstream f(config);
        f << "[system_probe_config]\nsysprobe_socket = \"" << socket
          << "\"\ndebug_port = 0\nenable_oom_kill = true\n"
             "[system_probe_config.process_config]\nenabled = true\n";
    }
    ::chmod(config.c_str(), 0644);

    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = ::open(logp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(126);
        ::unsetenv("DD_SYSPROBE_SOCKET");
        ::execl(RINGPROBE_BIN, RINGPROBE_BIN, "--config", config.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    auto read_log = [&] {
        std::ifstream in(logp);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    rp::http::Client c(rp::http::Endpoint::unix_from(socket), 1000ms);
    bool up = false;
    for (int i = 0; i < 500 && !up; ++i) {
        auto r = c.get("/debug/stats");
        up = r && r->status == 200;
        if (!up) std::this_thread::sleep_for(10ms);
    }
    INFO("log:\n", read_log());
    CHECK(up);
    if (up) {
        CHECK(cap_field(pid, "CapEff") == 0);
        auto p = c.post("/process/stats", "{\"pids\": [1]}");
        REQUIRE(p.has_value());
        CHECK(p->status == 200);
        std::string err = stats_error(c, "oom_kill_probe");
        INFO("oom_kill_probe error: ", err);
        CHECK(!err.empty());
        CHECK((err.find("ermission") != std::string::npos || err.find("not permitted") != std::string::npos));
        auto chk = c.get("/oom_kill_probe/check");
        REQUIRE(chk.has_value());
        CHECK(chk->status == 404);
    }
    ::kill(pid, SIGTERM);
    int st = 0;
    ::waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    std::error_code ec;
    fs::remove_all(dir, ec);
}
