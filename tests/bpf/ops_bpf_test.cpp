// ops_bpf_test.cpp — operating the daemon with its eBPF modules (root, real kernel): every
// module's /metrics families on a real scrape pass promtool; self cost (kernel BPF statistics on,
// the loop's CPU time per module) is reported and the sysctl is left as found; a reload restarts
// only the module whose keys changed and starts a newly enabled one; SIGTERM ends open event
// streams properly and promptly.
#include <doctest/doctest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <fstream>
#include <string>
#include <thread>

#include "support/bpf_skip.h"
#include "support/daemon.h"
#include "support/event_stream_client.h"

namespace {

using rp::test::DaemonOptions;
using rp::test::run_command;
using rp::test::TestDaemon;
using namespace std::chrono_literals;

bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

size_t count_of(const std::string& hay, std::string_view needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
}

double sample(const std::string& text, const std::string& series) {
    size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

std::string get_ok(rp::http::Client& c, const std::string& path) {
    auto r = c.get(path);
    REQUIRE_MESSAGE(r.has_value(), path << ": " << (r ? "" : r.error()));
    REQUIRE_MESSAGE(r->status == 200, path << ": " << r->status << " " << r->body);
    return r->body;
}

// A child that installs an ERRNO(EACCES) filter on getpgid and calls it `calls` times.
pid_t seccomp_denials(int calls) {
    pid_t pid = ::fork();
    if (pid == 0) {
        sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpgid, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog prog{static_cast<unsigned short>(sizeof f / sizeof f[0]), f};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
            ::_exit(10);
        for (int i = 0; i < calls; ++i)
            if (::syscall(SYS_getpgid, 0) != -1) ::_exit(11);
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    return pid;
}

char bpf_stats_sysctl() {
    std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
    char c = '?';
    in >> c;
    return c;
}

constexpr const char* kAllModules =
    "[system_probe_config]\n"
    "enable_oom_kill = true\nenable_tcp_queue_length = true\nself_cost = true\n"
    "process_config.enabled = true\n"
    "[ebpf_check]\nenabled = true\n"
    "[seccomp_tracer]\nenabled = true\n";

}  // namespace

TEST_CASE(
    "metrics: a scrape with every module and self cost on passes promtool, and self cost is "
    "real: BPF run time per module, the loop's CPU time per module, the sysctl left as found") {
    rp::test::require_bpf_or_skip();
    if (run_command("command -v promtool >/dev/null 2>&1").first != 0)
        rp::test::skip_unless("promtool not installed (Debian package prometheus; tools/setup)");
    const char sysctl_before = bpf_stats_sysctl();
    {
        DaemonOptions o;
        o.toml = kAllModules;
        o.write_listen_keys = true;
        TestDaemon d(o);
        REQUIRE_MESSAGE(d.ready(), d.log());
        auto c = d.client();

        seccomp_denials(50);
        rp::test::EventStreamClient events(d.socket_path(), "seccomp_tracer");
        REQUIRE(events.read_until([&] { return events.status() == 200; }));
        pid_t streamed = seccomp_denials(5);
        REQUIRE(events.read_until(
            [&] { return events.count("\"pid\":" + std::to_string(streamed) + ",") == 5; }));
        for (const char* path : {"/oom_kill_probe/check", "/tcp_queue_length_tracer/check",
                                 "/seccomp_tracer/check", "/ebpf/check"})
            get_ok(c, path);

        const std::string url = "http://127.0.0.1:" + std::to_string(d.port()) + "/metrics";
        auto [rc, out] = run_command("curl -sS --fail " + url + " | promtool check metrics 2>&1");
        CHECK_MESSAGE(rc == 0, out);
        CHECK_MESSAGE(out.empty(), out);

        std::string m = get_ok(c, "/metrics");
        CHECK(sample(
                  m,
                  "ringprobe_seccomp_denials_total{syscall=\"getpgid\",action=\"errno_EACCES\"}") >=
              55);
        for (const char* module : {"seccomp_tracer", "tcp_queue_length_tracer", "oom_kill_probe"}) {
            CAPTURE(module);
            const std::string label = std::string("{module=\"") + module + "\"}";
            CHECK(sample(m, "ringprobe_module_bpf_map_bytes" + label) > 0);
            CHECK(sample(m, "ringprobe_module_bpf_cpu_seconds_total" + label) >= 0);
            CHECK(sample(m, "ringprobe_module_bpf_runs_total" + label) >= 0);
        }
        // seccomp_tracer's sys_exit program ran for every system call on the host since the
        // daemon started: runs and run time are real.
        CHECK(sample(m, "ringprobe_module_bpf_runs_total{module=\"seccomp_tracer\"}") > 1000);
        CHECK(sample(m, "ringprobe_module_bpf_cpu_seconds_total{module=\"seccomp_tracer\"}") > 0);
        // The loop's time for seccomp_tracer: its /check and its ring-buffer drains (the events).
        double loop = sample(m, "ringprobe_module_cpu_seconds_total{module=\"seccomp_tracer\"}");
        CHECK(loop > 0);
        CHECK(loop < 1);
        CHECK(sample(m, "ringprobe_cpu_seconds_total{mode=\"user\"}") +
                  sample(m, "ringprobe_cpu_seconds_total{mode=\"system\"}") >=
              loop);

        std::string stats = get_ok(c, "/debug/stats");
        simdjson::dom::parser parser;
        simdjson::padded_string padded(stats);
        simdjson::dom::object sc = parser.parse(padded)["ringprobe"]["self_cost"].get_object();
        CHECK(bool(sc["enabled"]));
        CHECK(std::string_view(sc["bpf_stats"]) == "BPF_ENABLE_STATS");
        simdjson::dom::object st = sc["modules"]["seccomp_tracer"].get_object();
        CHECK(uint64_t(st["bpf_runs"]) > 1000);
        CHECK(double(st["bpf_cpu_seconds"]) > 0);
        CHECK(uint64_t(st["loop_scopes"]) > 0);
    }
    // The daemon is gone: the kernel dropped its BPF_ENABLE_STATS reference.
    CHECK(bpf_stats_sysctl() == sysctl_before);
}

TEST_CASE("reload: only the module whose keys changed restarts; a newly enabled one starts") {
    rp::test::require_bpf_or_skip();
    DaemonOptions o;
    o.toml = "[system_probe_config]\nenable_oom_kill = true\nprocess_config.enabled = true\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto c = d.client();
    const std::string config = d.dir() + "/ringprobe.toml";
    auto listen = "[system_probe_config]\nsysprobe_socket = \"" + d.socket_path() +
                  "\"\ndebug_port = " + std::to_string(d.port()) + "\n";
    rp::test::EventStreamClient oom_events(d.socket_path(), "oom_kill_probe");
    REQUIRE(oom_events.read_until([&] { return oom_events.status() == 200; }));

    // oom_kill_probe's own key changes, seccomp_tracer is turned on, process is untouched.
    {
        std::ofstream f(config, std::ios::trunc);
        f << listen << "enable_oom_kill = true\nprocess_config.enabled = true\n"
          << "[seccomp_tracer]\nenabled = true\n"
          << "[ringprobe.oom_kill]\nmax_events = 5\n";
    }
    d.signal(SIGHUP);
    REQUIRE(eventually([&] { return contains(d.log(), "SIGHUP: configuration reloaded"); }));
    CHECK(contains(d.log(), "started seccomp_tracer; restarted oom_kill_probe"));
    CHECK(count_of(d.log(), "module process started") == 1);  // not restarted
    // The restarted module's stream was cut (its feed went with the old module); the new
    // module serves, with the new key.
    CHECK(oom_events.read_until([&] { return oom_events.eof(); }, 3000ms));
    std::string stats = get_ok(c, "/debug/stats");
    CHECK(contains(stats, "\"max_events\":5"));
    CHECK(contains(stats, "\"seccomp_tracer\":{\"last_check\":0"));
    get_ok(c, "/seccomp_tracer/check");

    // The same file again: nothing to do.
    d.signal(SIGHUP);
    REQUIRE(eventually([&] { return count_of(d.log(), "SIGHUP: configuration reloaded") == 2; }));
    CHECK(contains(d.log(), "modules unchanged"));

    // seccomp_tracer off again: stopped, its routes gone.
    {
        std::ofstream f(config, std::ios::trunc);
        f << listen << "enable_oom_kill = true\nprocess_config.enabled = true\n"
          << "[ringprobe.oom_kill]\nmax_events = 5\n";
    }
    d.signal(SIGHUP);
    REQUIRE(eventually([&] { return count_of(d.log(), "SIGHUP: configuration reloaded") == 3; }));
    CHECK(contains(d.log(), "stopped seccomp_tracer"));
    auto gone = c.get("/seccomp_tracer/check");
    REQUIRE(gone);
    CHECK(gone->status == 404);
}

TEST_CASE("events: SIGTERM ends open event streams properly and the daemon exits at once") {
    rp::test::require_bpf_or_skip();
    DaemonOptions o;
    o.toml = "[seccomp_tracer]\nenabled = true\n[ringprobe]\nshutdown_timeout_ms = 5000\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    rp::test::EventStreamClient a(d.socket_path(), "seccomp_tracer"),
        b(d.socket_path(), "seccomp_tracer");
    REQUIRE(a.read_until([&] { return a.status() == 200; }));
    REQUIRE(b.read_until([&] { return b.status() == 200; }));
    auto t0 = std::chrono::steady_clock::now();
    d.signal(SIGTERM);
    CHECK(a.read_until([&] { return a.ended(); }, 3000ms));
    CHECK(b.read_until([&] { return b.ended(); }, 3000ms));
    CHECK(d.wait_exit(3000ms) == 0);
    // Well before the 5 s shutdown deadline: the streams did not hold the shutdown up.
    CHECK(std::chrono::steady_clock::now() - t0 < 2000ms);
}
