// faults_test.cpp — module creation faults against the real daemon code, run as ringprobe_faults
// (tests/support/ringprobe_faults.cpp: the daemon whose factories fail for the names listed in a
// file, docs/HARDENING.md): a failing module leaves the others serving, /debug/stats says why, and
// after the cause is removed POST /module-restart/{name} brings it up.
//
// The oom_kill_probe case needs root and BTF and calls rp::test::require_bpf_or_skip(), which ends
// the process with 77 when it cannot run: it is the last test case of this file on purpose.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "harness.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"

namespace {

using namespace rp::itest;
using rp::test::DaemonOptions;

void write_text(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::trunc);
    f << text;
}

// The "Error" string of module `name` in /debug/stats, or "" when it has none.
std::string stats_error(rp::http::Client& c, std::string_view name) {
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    simdjson::dom::parser p;
    simdjson::dom::element root;
    REQUIRE_MESSAGE(p.parse(r->body).get(root) == simdjson::SUCCESS, r->body);
    std::string_view err;
    if (root[name]["Error"].get(err) != simdjson::SUCCESS) return "";
    return std::string(err);
}

// One directory for the whole run, removed at exit (also when require_bpf_or_skip() exits).
struct FailDir {
    std::string path = rp::test::make_temp_dir();
    ~FailDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string fail_file() {
    static FailDir dir;
    return dir.path + "/fail_modules";
}

constexpr const char* kInjected = "injected failure (ringprobe_faults)";

// The fault-injecting daemon, failing the modules listed in `path`.
DaemonOptions faulty(const std::string& path) {
    DaemonOptions o;
    o.binary = RINGPROBE_FAULTS_BIN;
    o.extra_args = {"--fail-modules", path};
    return o;
}

}  // namespace

TEST_CASE("faults: the only enabled module failing to create -> clear message, non-zero exit") {
    std::string path = fail_file();
    write_text(path, "process\n");
    DaemonOptions o = faulty(path);
    o.toml = "system_probe_config.process_config.enabled = true\ndiscovery.enabled = false\n";
    o.wait_ready = false;
    rp::test::TestDaemon d(o);
    int rc = d.wait_exit(ms(8000));
    CHECK(rc != 0);
    CHECK(rc != -1);
    std::string log = d.log();
    CHECK_MESSAGE(contains(log, std::string("error creating module process: ") + kInjected), log);
    CHECK_MESSAGE(contains(log, "no module could be loaded"), log);
}

TEST_CASE("faults: names not enabled, blank lines and a missing file inject nothing") {
    std::string path = fail_file();
    write_text(path, "\n  oom_kill_probe  \nnot_a_module\n");
    {
        DaemonOptions o = faulty(path);
        o.toml = "system_probe_config.process_config.enabled = true\n";
        Daemon d(o);
        REQUIRE(d.ready());
        auto c = d.client();
        CHECK(stats_error(c, "process").empty());
        auto r = c.post("/process/stats", "{\"pids\": [1]}");
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
    }
    {
        DaemonOptions o = faulty(path + ".missing");
        o.toml = "system_probe_config.process_config.enabled = true\n";
        Daemon d(o);
        REQUIRE(d.ready());
    }
}

TEST_CASE("faults: the release daemon has no injection hook (the old variable does nothing)") {
    std::string path = fail_file();
    write_text(path, "process\n");
    DaemonOptions o;  // RINGPROBE_BIN, the daemon as shipped
    o.toml = "system_probe_config.process_config.enabled = true\n";
    o.env["RINGPROBE_FAIL_MODULES_FILE"] = path;
    Daemon d(o);
    REQUIRE(d.ready());
    auto c = d.client();
    CHECK(stats_error(c, "process").empty());
    auto r = c.post("/process/stats", "{\"pids\": [1]}");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
}

#if RINGPROBE_WITH_BPF
// Last: require_bpf_or_skip() exits the process when BPF tests cannot run here. Not compiled in a
// RINGPROBE_WITH_BPF=OFF build, whose daemon has no oom_kill_probe at all.
TEST_CASE("faults: oom_kill_probe fails to create, process serves, fixed + restarted it answers") {
    rp::test::require_bpf_or_skip();
    std::string path = fail_file();
    write_text(path, "oom_kill_probe\n");
    DaemonOptions o = faulty(path);
    o.write_listen_keys = false;
    o.toml =
        "[system_probe_config]\nsysprobe_socket = \"{socket}\"\ndebug_port = "
        "{port}\nenable_oom_kill = true\n"
        "[system_probe_config.process_config]\nenabled = true\n";
    Daemon d(o);
    REQUIRE(d.ready());
    auto c = d.client();

    // process serves, oom_kill_probe is failed with the injected reason.
    auto p = c.post("/process/stats", "{\"pids\": [1]}");
    REQUIRE(p.has_value());
    CHECK(p->status == 200);
    CHECK(stats_error(c, "oom_kill_probe") == kInjected);
    CHECK(stats_error(c, "process").empty());
    auto no = c.get("/oom_kill_probe/check");
    REQUIRE(no.has_value());
    CHECK(no->status == 404);
    CHECK(contains(d.log(), "error creating module oom_kill_probe: injected failure"));

    // A restart while the cause is still there fails with the same reason (500) and stays failed.
    auto again = c.post("/module-restart/oom_kill_probe", "");
    REQUIRE(again.has_value());
    CHECK(again->status == 500);
    CHECK(contains(again->body, "injected failure"));
    CHECK(stats_error(c, "oom_kill_probe") == kInjected);

    // Fix the cause while the daemon runs, restart: 200, the probe answers, the error is gone.
    write_text(path, "");
    auto rs = c.post("/module-restart/oom_kill_probe", "");
    REQUIRE(rs.has_value());
    CHECK_MESSAGE(rs->status == 200, rs->body, "\nlog:\n", d.log());
    auto chk = c.get("/oom_kill_probe/check");
    REQUIRE(chk.has_value());
    CHECK(chk->status == 200);
    CHECK(stats_error(c, "oom_kill_probe").empty());
    auto p2 = c.post("/process/stats", "{\"pids\": [1]}");
    REQUIRE(p2.has_value());
    CHECK(p2->status == 200);
}
#endif  // RINGPROBE_WITH_BPF
