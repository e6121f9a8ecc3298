// ops_test.cpp — running the daemon the way an operator does, against the real binary (every
// build, no BPF needed): configuration reload on SIGHUP both ways (a valid change applied to
// modules, limits and log level with connections kept; an invalid one refused with the reason),
// the systemd notification protocol on a NOTIFY_SOCKET the test listens on (READY, STATUS,
// RELOADING + MONOTONIC_USEC, STOPPING, WATCHDOG from the loop — and no timer without
// WATCHDOG_USEC), /metrics checked by promtool on a real scrape and in OpenMetrics form, and
// --version.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"

namespace {

using namespace rp::itest;
using rp::test::DaemonOptions;
using rp::test::run_command;

void write_config(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::trunc);
    f << text;
}

size_t count_of(const std::string& hay, std::string_view needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
}

// A request on an open keep-alive connection.
std::optional<RawResponse> ask(RawConn& c, std::string_view method, std::string_view path,
                               std::string_view body = {}, std::string_view extra = {}) {
    std::string req = std::string(method) + " " + std::string(path) +
                      " HTTP/1.1\r\nHost: sysprobe\r\n" + std::string(extra);
    if (!body.empty()) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + std::string(body);
    if (!c.send(req)) return std::nullopt;
    return c.read_response();
}

// The listen keys TestDaemon would generate, written by the test itself so that it can rewrite
// the whole file for a reload.
std::string listen_keys(const rp::test::TestDaemon& d) {
    return "[system_probe_config]\nsysprobe_socket = \"" + d.socket_path() +
           "\"\ndebug_port = " + std::to_string(d.port()) + "\n";
}

struct TempDir {
    std::string path = rp::test::make_temp_dir();
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

// The test's end of NOTIFY_SOCKET: a datagram socket it reads the daemon's messages from.
class NotifySocket {
  public:
    explicit NotifySocket(std::string path) : path_(std::move(path)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strncpy(sa.sun_path, path_.c_str(), sizeof sa.sun_path - 1);
        if (path_[0] == '@') sa.sun_path[0] = '\0';
        socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) == 0);
    }
    ~NotifySocket() { ::close(fd_); }
    // Every message that arrived so far, appended to messages().
    void read_now() {
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) break;
            messages_.emplace_back(buf, static_cast<size_t>(n));
        }
    }
    const std::vector<std::string>& messages() const { return messages_; }
    size_t count_starting(std::string_view prefix) const {
        size_t n = 0;
        for (const auto& m : messages_)
            if (m.starts_with(prefix)) ++n;
        return n;
    }
    // Waits until a message starting with `prefix` arrived (beyond the first `skip` of them).
    bool wait_for(std::string_view prefix, size_t skip = 0, ms timeout = 5000ms) {
        return eventually(
            [&] {
                read_now();
                return count_starting(prefix) > skip;
            },
            timeout);
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
    int fd_ = -1;
    std::vector<std::string> messages_;
};

uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Reload

// A list key is compared too: before, a changed list never restarted its module (the switch over
// the key types had no case for lists).
TEST_CASE("reload: a changed list key restarts its module") {
    DaemonOptions o;
    Daemon d(o);
    REQUIRE(d.ready());
    const std::string config = d.dir() + "/ringprobe.toml";
    write_config(config, listen_keys(d) + "[discovery]\nignored_command_names = [\"rp-nope\"]\n");
    d.signal(SIGHUP);
    REQUIRE(eventually([&] { return count_of(d.log(), "SIGHUP: configuration reloaded") == 1; }));
    CHECK_MESSAGE(contains(d.log(), "restarted discovery"), d.log());
}

TEST_CASE("reload: a valid config is applied (modules, limits, log level); connections stay open") {
    DaemonOptions o;
    o.toml = "system_probe_config.process_config.enabled = true\n";
    Daemon d(o);
    REQUIRE(d.ready());
    const std::string config = d.dir() + "/ringprobe.toml";
    const std::string keys = listen_keys(d);

    RawConn kept = RawConn::unix_socket(d.socket_path());
    REQUIRE(kept.ok());
    auto r = ask(kept, "POST", "/process/stats", "{\"pids\":[1]}");
    REQUIRE(r);
    CHECK(r->status == 200);
    const std::string big_header = "X-Pad: " + std::string(2000, 'p') + "\r\n";
    {
        RawConn c = RawConn::unix_socket(d.socket_path());
        auto big = ask(c, "GET", "/debug/stats", {}, big_header);
        REQUIRE(big);
        CHECK(big->status == 200);  // 8 KiB allowed by default
    }

    // 1. process off, a 1 KiB header limit, log level warn.
    write_config(config, "log_level = \"warn\"\n" + keys +
                             "process_config.enabled = false\n"
                             "[ringprobe.http]\nmax_header_bytes = 1024\n");
    d.signal(SIGHUP);
    // The connection opened before the reload stays open and is served throughout.
    REQUIRE(eventually([&] {
        auto x = ask(kept, "POST", "/process/stats", "{\"pids\":[1]}");
        return x && x->status == 404;  // the module's routes are gone
    }));
    r = ask(kept, "GET", "/debug/stats");
    REQUIRE(r);
    CHECK(r->status == 200);
    {
        RawConn c = RawConn::unix_socket(d.socket_path());
        auto big = ask(c, "GET", "/debug/stats", {}, big_header);
        REQUIRE(big);
        CHECK(big->status == 431);  // the new limit
    }
    r = ask(kept, "GET", "/debug/modules");
    REQUIRE(r);
    CHECK(contains(r->body, "\"name\":\"process\",\"enabled\":false"));
    // The new log level is in effect: the reload's own info lines were not logged.
    CHECK_FALSE(contains(d.log(), "SIGHUP: configuration reloaded"));
    CHECK_FALSE(contains(d.log(), "module process stopped"));

    // 2. process on again (and the log level back to info): started, answering on the same
    // connection.
    write_config(config, keys + "process_config.enabled = true\n");
    d.signal(SIGHUP);
    REQUIRE(eventually([&] { return count_of(d.log(), "SIGHUP: configuration reloaded") == 1; }));
    CHECK(contains(d.log(), "started process"));
    r = ask(kept, "POST", "/process/stats", "{\"pids\":[1]}");
    REQUIRE(r);
    CHECK(r->status == 200);
    {
        RawConn c = RawConn::unix_socket(d.socket_path());
        auto big = ask(c, "GET", "/debug/stats", {}, big_header);
        REQUIRE(big);
        CHECK(big->status == 200);  // back to the default limit
    }

    // 3. A key that needs a restart is named as such, and the rest still applies.
    write_config(config,
                 "[system_probe_config]\nsysprobe_socket = \"" + d.socket_path() +
                     "\"\ndebug_port = " + std::to_string(d.port() == 1 ? 2 : d.port() - 1) +
                     "\nprocess_config.enabled = true\n");
    d.signal(SIGHUP);
    REQUIRE(eventually([&] { return count_of(d.log(), "SIGHUP: configuration reloaded") == 2; }));
    CHECK(contains(d.log(),
                   "system_probe_config.debug_port changed: takes effect at the next "
                   "restart"));
    CHECK(RawConn::tcp(d.port()).ok());  // still listening where it was
    r = ask(kept, "GET", "/debug/stats");
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("reload: an invalid config is refused with the reason; the old one stays in effect") {
    DaemonOptions o;
    o.toml =
        "system_probe_config.process_config.enabled = true\n"
        "[ringprobe.http]\nmax_header_bytes = 1024\n";
    Daemon d(o);
    REQUIRE(d.ready());
    const std::string config = d.dir() + "/ringprobe.toml";
    RawConn kept = RawConn::unix_socket(d.socket_path());
    REQUIRE(kept.ok());
    REQUIRE(ask(kept, "GET", "/debug/stats"));

    // Invalid: a bad log level and a process switch that is not a boolean. Nothing of it applies
    // (not even the parts that are valid: the limit stays 1 KiB, process stays on).
    write_config(config, listen_keys(d) +
                             "process_config.enabled = \"maybe\"\n"
                             "[ringprobe.http]\nmax_header_bytes = 8192\n");
    d.signal(SIGHUP);
    REQUIRE(eventually([&] { return contains(d.log(), "SIGHUP: configuration not reloaded"); }));
    CHECK(contains(d.log(), "still running on the previous one"));
    CHECK(contains(d.log(), "system_probe_config.process_config.enabled"));
    CHECK(d.running());
    auto r = ask(kept, "POST", "/process/stats", "{\"pids\":[1]}");
    REQUIRE(r);
    CHECK(r->status == 200);
    RawConn c = RawConn::unix_socket(d.socket_path());
    auto big = ask(c, "GET", "/debug/stats", {}, "X-Pad: " + std::string(2000, 'p') + "\r\n");
    REQUIRE(big);
    CHECK(big->status == 431);

    // A missing file given with --config is invalid too.
    std::filesystem::remove(config);
    d.signal(SIGHUP);
    REQUIRE(
        eventually([&] { return count_of(d.log(), "SIGHUP: configuration not reloaded") == 2; }));
    r = ask(kept, "POST", "/process/stats", "{\"pids\":[1]}");
    REQUIRE(r);
    CHECK(r->status == 200);
}

// ------------------------------------------------------------------------------------------
// systemd

TEST_CASE("systemd: READY, STATUS, RELOADING with MONOTONIC_USEC, STOPPING on NOTIFY_SOCKET") {
    TempDir t;
    NotifySocket n(t.path + "/notify.sock");
    DaemonOptions o;
    // discovery is on unless turned off: one module, so that STATUS= names exactly one.
    o.toml = "system_probe_config.process_config.enabled = true\ndiscovery.enabled = false\n";
    o.env["NOTIFY_SOCKET"] = n.path();
    Daemon d(o);
    REQUIRE(d.ready());
    REQUIRE(n.wait_for("READY=1"));
    const std::string ready = n.messages().front();
    CHECK(ready.starts_with("READY=1\nSTATUS="));
    CHECK(contains(ready, "1 module(s) running"));
    CHECK(contains(ready, "unix:" + d.socket_path()));
    CHECK(n.count_starting("WATCHDOG=1") == 0);

    const uint64_t before = monotonic_usec();
    d.signal(SIGHUP);
    REQUIRE(n.wait_for("RELOADING=1"));
    REQUIRE(n.wait_for("READY=1", 1));
    std::string reloading;
    for (const auto& m : n.messages())
        if (m.starts_with("RELOADING=1")) reloading = m;
    size_t at = reloading.find("MONOTONIC_USEC=");
    REQUIRE(at != std::string::npos);
    uint64_t usec = std::stoull(reloading.substr(at + 15));
    CHECK(usec >= before);
    CHECK(usec <= monotonic_usec());

    d.signal(SIGTERM);
    CHECK(d.wait_exit(5000ms) == 0);
    n.read_now();
    CHECK(n.messages().back().starts_with("STOPPING=1"));
}

TEST_CASE("systemd: WATCHDOG=1 from the loop when WATCHDOG_USEC is set, to an abstract socket") {
    std::string name = "@ringprobe-test-" + std::to_string(::getpid());
    NotifySocket n(name);
    DaemonOptions o;
    o.toml = "system_probe_config.process_config.enabled = true\n";
    o.env["NOTIFY_SOCKET"] = name;
    o.env["WATCHDOG_USEC"] = "200000";  // a ping every 100 ms
    Daemon d(o);
    REQUIRE(d.ready());
    REQUIRE(n.wait_for("READY=1"));
    CHECK(n.wait_for("WATCHDOG=1", 4, 3000ms));  // five pings
    // A stopped loop stops the pings: that is what the watchdog is for.
    d.signal(SIGSTOP);
    n.read_now();
    size_t seen = n.count_starting("WATCHDOG=1");
    std::this_thread::sleep_for(400ms);
    n.read_now();
    CHECK(n.count_starting("WATCHDOG=1") == seen);
    d.signal(SIGCONT);
    CHECK(n.wait_for("WATCHDOG=1", seen, 3000ms));
}

TEST_CASE("systemd: with NOTIFY_SOCKET but no WATCHDOG_USEC an idle daemon makes no wake-ups") {
    TempDir t;
    NotifySocket n(t.path + "/notify.sock");
    DaemonOptions o;
    o.toml = "system_probe_config.process_config.enabled = true\n";
    o.env["NOTIFY_SOCKET"] = n.path();
    Daemon d(o);
    REQUIRE(d.ready());
    REQUIRE(n.wait_for("READY=1"));
    std::this_thread::sleep_for(200ms);
    long before = voluntary_switches(d.pid());
    std::this_thread::sleep_for(1500ms);
    CHECK(voluntary_switches(d.pid()) == before);
    n.read_now();
    CHECK(n.count_starting("WATCHDOG=1") == 0);
}

// ------------------------------------------------------------------------------------------
// /metrics on a real scrape

TEST_CASE("metrics: promtool check metrics accepts a real scrape; OpenMetrics when asked") {
    if (run_command("command -v promtool >/dev/null 2>&1").first != 0)
        rp::test::skip_unless("promtool not installed (Debian package prometheus; tools/setup)");
    DaemonOptions o;
    o.toml =
        "system_probe_config.process_config.enabled = true\n"
        "system_probe_config.self_cost = true\n";
    Daemon d(o);
    REQUIRE(d.ready());
    auto c = d.client();
    // Some traffic first, so that request counters and histograms have samples.
    for (int i = 0; i < 3; ++i) REQUIRE(c.post("/process/stats", "{\"pids\":[1]}"));
    REQUIRE(c.get("/no/such/route"));
    const std::string url = "http://127.0.0.1:" + std::to_string(d.port()) + "/metrics";
    auto [rc, out] = run_command("curl -sS --fail " + url + " | promtool check metrics 2>&1");
    CHECK_MESSAGE(rc == 0, out);
    CHECK_MESSAGE(out.empty(), out);  // no lint finding either
    auto [rc2, text] = run_command("curl -sS --fail " + url);
    REQUIRE(rc2 == 0);
    CHECK(contains(text, "# TYPE ringprobe_http_requests_total counter"));
    CHECK(contains(text, "ringprobe_http_requests_total{route=\"/process/stats\",code=\"200\"} 3"));
    CHECK(contains(text, "ringprobe_cpu_seconds_total{mode=\"user\"}"));
    CHECK(contains(text, "ringprobe_module_cpu_seconds_total{module=\"process\"}"));
    CHECK(contains(text, "ringprobe_module_up{module=\"process\"} 1"));

    // What a Prometheus server asks for first: OpenMetrics 1.0 (its own parser is what checks
    // it: tests/bpf/prometheus_test.cpp; promtool 2.42 lints the text format only).
    auto [rc3, om] = run_command(
        "curl -sS --fail -D - -H 'Accept: application/openmetrics-text;version=1.0.0,"
        "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
        "*/*;q=0.1' " +
        url);
    REQUIRE(rc3 == 0);
    CHECK(contains(om, "Content-Type: application/openmetrics-text; version=1.0.0"));
    CHECK(contains(om, "# TYPE ringprobe_http_requests counter"));
    CHECK(contains(om, "# UNIT ringprobe_uptime_seconds seconds"));
    CHECK(om.ends_with("# EOF\n"));
    auto [rc4, again] = run_command("curl -sS --fail " + url);
    REQUIRE(rc4 == 0);
    CHECK(contains(again, "ringprobe_metrics_scrapes_total{format=\"openmetrics\"} 1"));
}

// ------------------------------------------------------------------------------------------
// --version

TEST_CASE("daemon: --version names the version, the git commit and the compiled-in features") {
    auto [rc, out] = run_command(std::string(RINGPROBE_BIN) + " --version 2>&1");
    CHECK(rc == 0);
    MESSAGE(out);
    CHECK(out.starts_with("ringprobe 0."));
    CHECK(contains(out, "\ncommit: "));
    std::string commit = out.substr(out.find("commit: ") + 8);
    commit = commit.substr(0, commit.find('\n'));
    auto [grc, head] = run_command("git -C " + std::string(RINGPROBE_SOURCE_DIR) +
                                   " rev-parse --short=12 HEAD 2>/dev/null");
    if (grc == 0 && !head.empty()) {
        // Configure-time: the commit the build was configured at (a prefix of a real commit).
        auto [vrc, _] = run_command("git -C " + std::string(RINGPROBE_SOURCE_DIR) +
                                    " cat-file -e " + commit + "^{commit} 2>/dev/null");
        CHECK_MESSAGE(vrc == 0, "commit ", commit, " is not a commit of this repository");
    } else {
        CHECK(commit == "unknown");
    }
    CHECK(contains(out, "\nfeatures: "));
    CHECK(contains(out, "systemd-notify"));
    CHECK(contains(out, "\nmodules: "));
    CHECK(contains(out, "process"));
#if RINGPROBE_TEST_WITH_BPF
    CHECK(contains(out, "ebpf (libbpf "));
#else
    CHECK(contains(out, "no-ebpf"));
#endif
}
