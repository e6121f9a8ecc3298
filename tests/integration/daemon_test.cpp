// daemon_test.cpp — the ringprobe daemon as a process: command line, configuration and
// environment, the unix socket's life (mode, stale socket, refusal, parent directory, removal),
// SIGTERM, idle cost, fd hygiene, the global routes (/debug/stats, /debug/modules,
// /module-restart) and the process module, all against the real binary (TestDaemon).
#include "support/daemon.h"

#include <doctest/doctest.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace {

using namespace rp::itest;
using rp::test::DaemonOptions;
using rp::test::run_command;
using namespace std::string_literals;

constexpr const char* kProcessToml =
    "system_probe_config.process_config.enabled = true\n"
    "[ringprobe.http]\nheader_timeout_ms = 300\nidle_timeout_ms = 5000\n";

DaemonOptions process_daemon() {
    DaemonOptions o;
    o.toml = kProcessToml;
    return o;
}

std::string quote(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

// Runs the daemon binary with args; returns {exit status, stdout+stderr}.
std::pair<int, std::string> run_daemon(const std::string& args) {
    return run_command("env -u DD_SYSPROBE_SOCKET " + quote(RINGPROBE_BIN) + " " + args +
                       " 2>&1 </dev/null");
}

std::string write_temp(const std::string& dir, const std::string& name, const std::string& text) {
    std::string path = dir + "/" + name;
    std::ofstream f(path);
    f << text;
    return path;
}

// GET /debug/stats answers 200 on `socket` within the timeout.
bool serves_on(const std::string& socket, ms timeout = 5000ms) {
    return eventually(
        [&] {
            rp::http::Client c(rp::http::Endpoint::unix_from(socket), 500ms);
            auto r = c.get("/debug/stats");
            return r && r->status == 200;
        },
        timeout);
}

bool tcp_port_open(int port) {
    RawConn c = RawConn::tcp(port);
    return c.ok();
}

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& body) {
    simdjson::dom::element e;
    auto err = p.parse(body).get(e);
    REQUIRE_MESSAGE(err == simdjson::SUCCESS, "not JSON: ", body);
    return e;
}

// Go's Duration.String() for a duration of a second or more: [<h>h][<m>m]<s>[.<frac>]s.
bool is_go_seconds_duration(std::string_view s) {
    if (!s.ends_with('s') || s.ends_with("ms") || s.ends_with("ns") || s.ends_with("\u00b5s"))
        return false;
    s.remove_suffix(1);
    auto digits = [](std::string_view& v) {
        size_t n = 0;
        while (n < v.size() && std::isdigit(static_cast<unsigned char>(v[n]))) ++n;
        v.remove_prefix(n);
        return n > 0;
    };
    for (char unit : {'h', 'm'}) {
        std::string_view probe = s;
        if (digits(probe) && !probe.empty() && probe.front() == unit) s = probe.substr(1);
    }
    if (!digits(s)) return false;
    if (!s.empty() && s.front() == '.') {
        s.remove_prefix(1);
        if (!digits(s)) return false;
    }
    return s.empty();
}

struct TempDir {
    std::string path = rp::test::make_temp_dir();
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

// A config with its own socket path (outside TestDaemon's directory) and the debug port off.
DaemonOptions own_socket_daemon(const std::string& socket) {
    DaemonOptions o;
    o.write_listen_keys = false;
    o.wait_ready = false;
    o.toml = "[system_probe_config]\nsysprobe_socket = \"" + socket +
             "\"\ndebug_port = 0\nprocess_config.enabled = true\n";
    return o;
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Command line

TEST_CASE("daemon: --version prints the version and exits 0") {
    auto [rc, out] = run_daemon("--version");
    CHECK(rc == 0);
    REQUIRE(out.starts_with("ringprobe "));
    CHECK(std::isdigit(static_cast<unsigned char>(out[10])));
    CHECK(std::count(out.begin(), out.end(), '.') >= 2);
    auto [rc2, out2] = run_daemon("--help");
    CHECK(rc2 == 0);
    CHECK(contains(out2, "--check-config"));
    auto [rc3, out3] = run_daemon("--bogus");
    CHECK(rc3 != 0);
    CHECK(contains(out3, "--bogus"));
}

TEST_CASE("daemon: --check-config exits 0 on a valid config and 1 on an invalid one") {
    TempDir t;
    std::string good =
        write_temp(t.path, "good.toml",
                   "[system_probe_config]\ndebug_port = 4444\nprocess_config.enabled = true\n");
    auto [rc, out] = run_daemon("--check-config --config " + good);
    CHECK(rc == 0);
    CHECK(contains(out, "4444"));
    CHECK(contains(out, "configuration is valid"));
    std::string bad =
        write_temp(t.path, "bad.toml", "[system_probe_config]\ndebug_port = \"many\"\n");
    auto [rc2, out2] = run_daemon("--check-config --config " + bad);
    CHECK(rc2 == 1);
    CHECK(contains(out2, "system_probe_config.debug_port"));
}

TEST_CASE("daemon: the shipped config passes --check-config and the systemd unit verifies") {
    const std::string conf_dir = std::string(RINGPROBE_SOURCE_DIR) + "/conf";
    auto [rc, out] = run_daemon("--check-config --config " + quote(conf_dir + "/ringprobe.toml"));
    CHECK_MESSAGE(rc == 0, out);
    CHECK(contains(out, "configuration is valid"));

    // conf/ringprobe.service with its /usr/local/bin and /etc paths pointed at this build.
    std::ifstream in(conf_dir + "/ringprobe.service");
    REQUIRE(in.good());
    std::string unit((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(contains(unit,
                   "ExecStart=/usr/local/bin/ringprobe --config /etc/ringprobe/ringprobe.toml"));
    CHECK(contains(unit, "RuntimeDirectory=ringprobe"));  // sysprobe_socket's default directory
    auto replace_all = [&](std::string_view from, const std::string& to) {
        for (size_t at = unit.find(from); at != std::string::npos;
             at = unit.find(from, at + to.size()))
            unit.replace(at, from.size(), to);
    };
    replace_all("/usr/local/bin/ringprobe", RINGPROBE_BIN);
    replace_all("/etc/ringprobe/ringprobe.toml", conf_dir + "/ringprobe.toml");
    if (run_command("command -v systemd-analyze >/dev/null 2>&1").first != 0) {
        MESSAGE("systemd-analyze not installed: the unit's syntax was not verified");
        return;
    }
    TempDir t;
    std::string path = write_temp(t.path, "ringprobe.service", unit);
    auto [vrc, vout] = run_command("systemd-analyze verify " + quote(path) + " 2>&1");
    CHECK_MESSAGE(vrc == 0, vout);
    CHECK_MESSAGE(vout.empty(), vout);  // no warnings either
}

TEST_CASE("daemon: an invalid config exits non-zero naming the key, before anything is bound") {
    TempDir t;
    std::string socket = t.path + "/s.sock";
    const std::pair<std::string, std::string> cases[] = {
        {"[ringprobe.http]\nmax_connections = \"lots\"\n", "ringprobe.http.max_connections"},
        {"[system_probe_config]\ndebug_port = 70000\n", "system_probe_config.debug_port"},
        {"[ringprobe.http]\nmax_header_bytes = 10\n", "ringprobe.http.max_header_bytes"},
        {"log_level = \"loud\"\n", "log_level"},
        {"[system_probe_config]\nsysprobe_socket = \"relative.sock\"\n",
         "system_probe_config.sysprobe_socket"},
        {"this is not toml\n", "bad.toml"},
    };
    for (const auto& [toml, key] : cases) {
        CAPTURE(toml);
        std::string file = write_temp(
            t.path, "bad.toml", toml + "[system_probe_config.process_config]\nenabled = true\n");
        auto [rc, out] = run_daemon("--config " + file);
        CHECK(rc != 0);
        CHECK_MESSAGE(contains(out, key), out);
    }
    // A missing file given with --config is an error too.
    auto [rc, out] = run_daemon("--config " + t.path + "/missing.toml");
    CHECK(rc != 0);
    CHECK(contains(out, t.path + "/missing.toml"));
    // An environment variable with a bad value names the variable.
    auto [rc2, out2] =
        run_command("env DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT=abc " + quote(RINGPROBE_BIN) +
                    " --check-config --config " + write_temp(t.path, "ok.toml", "") + " 2>&1");
    CHECK(rc2 != 0);
    CHECK(contains(out2, "DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT"));
}

TEST_CASE("daemon: no enabled module exits non-zero with 'no module could be loaded'") {
    DaemonOptions o;
    o.toml = "log_level = \"info\"\ndiscovery.enabled = false\n";  // discovery is on by default
    o.wait_ready = false;
    Daemon d(o);
    int rc = d.wait_exit(5000ms);
    CHECK(rc != 0);
    CHECK(rc != -1);
    CHECK(contains(d.log(), "no module could be loaded"));
    CHECK_FALSE(std::filesystem::exists(d.socket_path()));
    CHECK_FALSE(tcp_port_open(d.port()));
}

// ------------------------------------------------------------------------------------------
// Environment

TEST_CASE("daemon: the environment beats the config file") {
    SUBCASE("DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT") {
        int env_port = rp::test::free_port();
        DaemonOptions o = process_daemon();
        o.env["DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT"] = std::to_string(env_port);
        Daemon d(o);
        REQUIRE(d.ready());
        rp::http::Endpoint ep = d.tcp_endpoint();
        ep.port = static_cast<uint16_t>(env_port);
        rp::http::Client c(ep, 2000ms);
        auto r = c.get("/debug/stats");
        REQUIRE_MESSAGE(r.has_value(), r.error());
        CHECK(r->status == 200);
        CHECK_FALSE(tcp_port_open(d.port()));  // the file's port is not used
    }
    SUBCASE("DD_SYSPROBE_SOCKET") {
        TempDir t;
        std::string env_socket = t.path + "/env.sock";
        DaemonOptions o = process_daemon();
        o.wait_ready = false;
        o.env["DD_SYSPROBE_SOCKET"] = env_socket;
        Daemon d(o);
        CHECK(serves_on(env_socket));
        CHECK_FALSE(std::filesystem::exists(d.socket_path()));
    }
    SUBCASE("DD_SYSTEM_PROBE_PROCESS_ENABLED and DD_DISCOVERY_ENABLED turn the only modules off") {
        DaemonOptions o = process_daemon();
        o.wait_ready = false;
        o.env["DD_SYSTEM_PROBE_PROCESS_ENABLED"] = "false";
        o.env["DD_DISCOVERY_ENABLED"] = "false";
        Daemon d(o);
        CHECK(d.wait_exit(5000ms) > 0);
        CHECK(contains(d.log(), "no module could be loaded"));
    }
}

// ------------------------------------------------------------------------------------------
// The unix socket

TEST_CASE("daemon: the unix socket has mode 0720") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    struct stat st {};
    REQUIRE(::lstat(d.socket_path().c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0720);
    // Owner/group keys: a numeric uid/gid (our own, so this works unprivileged).
    DaemonOptions o = process_daemon();
    o.toml = "[system_probe_config]\nsysprobe_socket_owner = \"" + std::to_string(::getuid()) +
             "\"\nsysprobe_socket_group = \"" + std::to_string(::getgid()) +
             "\"\nprocess_config.enabled = true\n";
    Daemon d2(o);
    REQUIRE(d2.ready());
    REQUIRE(::lstat(d2.socket_path().c_str(), &st) == 0);
    CHECK(st.st_uid == ::getuid());
    CHECK(st.st_gid == ::getgid());
    CHECK((st.st_mode & 07777) == 0720);
}

TEST_CASE("daemon: an unknown socket owner is refused with a message naming it") {
    DaemonOptions o = process_daemon();
    o.wait_ready = false;
    o.toml =
        "[system_probe_config]\nsysprobe_socket_owner = \"no-such-user-ringprobe\"\n"
        "process_config.enabled = true\n";
    Daemon d(o);
    CHECK(d.wait_exit(5000ms) > 0);
    CHECK(contains(d.log(), "no-such-user-ringprobe"));
    CHECK_FALSE(std::filesystem::exists(d.socket_path()));
}

TEST_CASE("daemon: a stale socket from a killed daemon is replaced") {
    TempDir t;
    std::string socket = t.path + "/sysprobe.sock";
    {
        Daemon first(own_socket_daemon(socket));
        REQUIRE(serves_on(socket));
        first.signal(SIGKILL);
        CHECK(first.wait_exit(5000ms) == 128 + SIGKILL);
    }
    struct stat st {};
    REQUIRE(::lstat(socket.c_str(), &st) == 0);  // left behind
    REQUIRE(S_ISSOCK(st.st_mode));
    // Nobody listens on it (the killed daemon's io_uring may hold the listener a moment longer).
    REQUIRE(eventually([&] { return !RawConn::unix_socket(socket).ok(); }));
    Daemon second(own_socket_daemon(socket));
    CHECK(serves_on(socket));
    REQUIRE(::lstat(socket.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0720);
}

TEST_CASE(
    "daemon: kill -9 with clients connected, then an immediate start serves on both listeners") {
    // The killed daemon's io_uring releases its listening sockets only a moment after the process
    // is gone, so the TCP port is still in LISTEN when the supervisor restarts it: the new
    // daemon's bind retries EADDRINUSE for a bounded time instead of exiting 1.
    TempDir t;
    std::string socket = t.path + "/sysprobe.sock";
    int port = rp::test::free_port();
    DaemonOptions o;
    o.write_listen_keys = false;
    o.wait_ready = false;
    o.toml = "[system_probe_config]\nsysprobe_socket = \"" + socket +
             "\"\ndebug_port = " + std::to_string(port) + "\nprocess_config.enabled = true\n";
    for (int round = 0; round < 3; ++round) {
        CAPTURE(round);
        Daemon first(o);
        REQUIRE(serves_on(socket));
        // A client on each listener, one of them with a request half sent.
        RawConn a = RawConn::unix_socket(socket);
        REQUIRE(a.ok());
        RawConn b = RawConn::tcp(port);
        REQUIRE(b.ok());
        b.send("GET /debug/stats HTTP/1.1\r\nHost: x\r\n");
        // Both accepted (the daemon counts them) before the kill.
        rp::http::Client probe(rp::http::Endpoint::unix_from(socket), 2000ms);
        REQUIRE(eventually([&] {
            auto r = probe.get("/debug/stats");
            return r.has_value() && contains(r->body, "\"active_connections\":3");
        }));
        first.signal(SIGKILL);
        CHECK(first.wait_exit(5000ms) == 128 + SIGKILL);
        Daemon second(o);  // at once: no wait for the old sockets to go
        REQUIRE_MESSAGE(serves_on(socket), second.log());
        auto ep = rp::http::Endpoint::tcp_from("127.0.0.1:" + std::to_string(port));
        REQUIRE(ep.has_value());
        rp::http::Client c(*ep, 2000ms);
        auto r = c.get("/debug/stats");
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        second.signal(SIGTERM);
        CHECK(second.wait_exit(5000ms) == 0);
    }
}

TEST_CASE("daemon: a regular file at the socket path is refused; nothing is bound") {
    TempDir t;
    std::string socket = t.path + "/sysprobe.sock";
    write_temp(t.path, "sysprobe.sock", "precious data\n");
    int port = rp::test::free_port();
    DaemonOptions o;
    o.write_listen_keys = false;
    o.wait_ready = false;
    o.toml = "[system_probe_config]\nsysprobe_socket = \"" + socket +
             "\"\ndebug_port = " + std::to_string(port) + "\nprocess_config.enabled = true\n";
    Daemon d(o);
    int rc = d.wait_exit(5000ms);
    CHECK(rc > 0);
    CHECK(contains(d.log(), socket));
    CHECK(read_file(socket) == "precious data\n");
    CHECK_FALSE(tcp_port_open(port));
    // A directory there is refused the same way.
    std::filesystem::remove(socket);
    std::filesystem::create_directory(socket);
    Daemon d2(o);
    CHECK(d2.wait_exit(5000ms) > 0);
    CHECK(contains(d2.log(), socket));
    CHECK(std::filesystem::is_directory(socket));
}

TEST_CASE("daemon: the socket's missing parent directories are created") {
    TempDir t;
    std::string socket = t.path + "/run/ringprobe/sysprobe.sock";
    Daemon d(own_socket_daemon(socket));
    CHECK(serves_on(socket));
    CHECK(std::filesystem::is_directory(t.path + "/run/ringprobe"));
    // A parent that is a file: refused, naming it.
    write_temp(t.path, "file", "x");
    Daemon d2(own_socket_daemon(t.path + "/file/sysprobe.sock"));
    CHECK(d2.wait_exit(5000ms) > 0);
    CHECK(contains(d2.log(), t.path + "/file"));
}

// ------------------------------------------------------------------------------------------
// Signals

TEST_CASE("daemon: SIGTERM exits 0 and removes the socket") {
    for (int signo : {SIGTERM, SIGINT}) {
        CAPTURE(signo);
        Daemon d(process_daemon());
        REQUIRE(d.ready());
        // With an idle keep-alive connection open.
        RawConn idle = RawConn::unix_socket(d.socket_path());
        REQUIRE(idle.send("GET /debug/stats HTTP/1.1\r\n\r\n"));
        REQUIRE(idle.read_response().has_value());
        auto t0 = Clock::now();
        d.signal(signo);
        CHECK(d.wait_exit(3000ms) == 0);
        CHECK(elapsed_ms(t0) < 1000);
        CHECK_FALSE(std::filesystem::exists(d.socket_path()));
        CHECK(idle.wait_closed(1000ms));
        CHECK(contains(d.log(), "shutting down"));
    }
}

TEST_CASE(
    "daemon: SIGHUP re-reads the configuration; an invalid one is refused and the old one kept") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    const std::string config = d.dir() + "/ringprobe.toml";
    const std::string original = read_file(config);
    REQUIRE(contains(original, "process_config.enabled = true"));
    // A valid change: the new log level is applied.
    {
        std::ofstream f(config, std::ios::trunc);
        f << "log_level = \"debug\"\n" << original;
    }
    d.signal(SIGHUP);
    CHECK(eventually(
        [&] { return contains(d.log(), "SIGHUP: configuration reloaded: log_level debug"); }));
    CHECK(serves_on(d.socket_path(), 1000ms));
    // An invalid file: refused with the reason, the daemon keeps running on what it had.
    {
        std::ofstream f(config, std::ios::trunc);
        f << "log_level = \"loud\"\n" << original;
    }
    d.signal(SIGHUP);
    CHECK(eventually([&] { return contains(d.log(), "SIGHUP: configuration not reloaded"); }));
    CHECK(contains(d.log(), "log_level"));
    CHECK(d.running());
    CHECK(serves_on(d.socket_path(), 1000ms));
}

TEST_CASE("daemon: SIGTERM while a slow client is mid-request still exits 0 within the deadline") {
    // The header timeout is longer than the shutdown deadline (ringprobe.shutdown_timeout_ms,
    // shortened here from 5 s), so the deadline must end it.
    DaemonOptions o = process_daemon();
    o.toml =
        "system_probe_config.process_config.enabled = true\n"
        "[ringprobe]\nshutdown_timeout_ms = 700\n"
        "[ringprobe.http]\nheader_timeout_ms = 60000\n";
    Daemon d(o);
    REQUIRE(d.ready());
    RawConn slow = RawConn::unix_socket(d.socket_path());
    REQUIRE(slow.send("GET /debug/stats HTTP/1.1\r\nX-Slow: "));
    RawConn slow_tcp = RawConn::tcp(d.port());
    REQUIRE(slow_tcp.send("POST /process/stats HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"));
    std::this_thread::sleep_for(50ms);
    auto t0 = Clock::now();
    d.signal(SIGTERM);
    // New connections are refused once shutdown starts.
    CHECK(eventually([&] { return !RawConn::unix_socket(d.socket_path()).ok(); }, 1000ms));
    int rc = d.wait_exit(8000ms);
    long took = elapsed_ms(t0);
    CHECK(rc == 0);
    CHECK(took >= 650);  // the slow clients held it until the deadline...
    CHECK(took < 2500);  // ...which is the configured one, not the 5 s default
    CHECK_FALSE(std::filesystem::exists(d.socket_path()));
    CHECK(slow.wait_closed(500ms));
    CHECK(slow_tcp.wait_closed(500ms));
}

TEST_CASE("daemon: SIGTERM lets a request that completes in time be answered") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    RawConn c = RawConn::unix_socket(d.socket_path());
    REQUIRE(c.send("GET /debug/stats HTTP/1.1\r\nX-Slow: 1\r\n"));
    std::this_thread::sleep_for(50ms);
    d.signal(SIGTERM);
    std::this_thread::sleep_for(50ms);
    REQUIRE(c.send("\r\n"));
    auto r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->header("Connection") == "close");
    CHECK(c.wait_closed());
    CHECK(d.wait_exit(3000ms) == 0);
}

// ------------------------------------------------------------------------------------------
// Idle cost and fd hygiene

TEST_CASE("daemon: an idle daemon with no clients makes no wake-ups") {
    // Issue 2 asks for 10 s; 2 s keeps the suite fast and is enough to catch a periodic timer or
    // a busy loop (any tick of 1 Hz or more shows up).
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    std::this_thread::sleep_for(200ms);  // the readiness probe's connection is closed by now
    long before = voluntary_switches(d.pid());
    REQUIRE(before > 0);
    std::this_thread::sleep_for(2000ms);
    long after = voluntary_switches(d.pid());
    CHECK_MESSAGE(after == before, "voluntary context switches went from ", before, " to ", after);
}

TEST_CASE("daemon: fds return to the baseline after 200 connections opened and closed") {
    DaemonOptions o = process_daemon();
    o.toml =
        "system_probe_config.process_config.enabled = true\n"
        "[ringprobe.http]\nheader_timeout_ms = 5000\nmax_output_bytes = 1048576\n";
    Daemon d(o);
    REQUIRE(d.ready());
    std::this_thread::sleep_for(100ms);
    int baseline = fd_count(d.pid());
    REQUIRE(baseline > 0);
    std::string many;
    for (int i = 0; i < 100; ++i) many += "GET /debug/stats HTTP/1.1\r\n\r\n";
    for (int i = 0; i < 200; ++i) {
        bool tcp = i % 2 == 1;
        RawConn c = tcp ? RawConn::tcp(d.port(), 4096) : RawConn::unix_socket(d.socket_path());
        REQUIRE(c.ok());
        switch (i % 5) {
            case 0:  // connect, close
                break;
            case 1:  // mid-request: half a head
                c.send("GET /debug/stats HTTP/1.1\r\nHo");
                break;
            case 2:  // mid-request: half a body
                c.send("POST /process/stats HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"pi");
                break;
            case 3:  // mid-response: ~80 KiB of answers asked for, none read
                c.send(many);
                std::this_thread::sleep_for(1ms);
                break;
            case 4:  // a whole exchange, then an RST
                c.send("GET /debug/stats HTTP/1.1\r\n\r\n");
                c.read_response();
                c.reset_hard();
                break;
        }
        if (i % 3 == 0) c.reset_hard();
    }
    int now = 0;
    bool back = eventually([&] { return (now = fd_count(d.pid())) == baseline; }, 5000ms);
    CHECK_MESSAGE(back, "daemon fds: baseline ", baseline, ", now ", now);
    rp::http::Client c(d.unix_endpoint(), 2000ms);
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    CHECK(contains(r->body, "\"active_connections\":1,"));
}

TEST_CASE(
    "daemon: at the fd limit, accept errors are counted and serving resumes once fds free up") {
    // The daemon inherits RLIMIT_NOFILE = 64 (issue 5: "ulimit -n 64"); this process keeps its own.
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    rlimit low{64, old.rlim_max};
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::unique_ptr<Daemon> d;
    try {
        DaemonOptions o = process_daemon();
        o.toml = "discovery.enabled = false\n" + o.toml;  // its BPF iterator and sockets take fds
        d = std::make_unique<Daemon>(o);
    } catch (...) {
    }
    ::setrlimit(RLIMIT_NOFILE, &old);
    REQUIRE(d);
    REQUIRE(d->ready());
    std::vector<RawConn> conns;
    for (int i = 0; i < 90; ++i) {
        conns.push_back(RawConn::unix_socket(d->socket_path()));  // the backlog takes the excess
        REQUIRE(conns.back().ok());
    }
    // The first connections were accepted; the daemon is out of fds for the rest.
    REQUIRE(conns[0].send("GET /debug/stats HTTP/1.1\r\n\r\n"));
    auto r = conns[0].read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK_MESSAGE(eventually([&] {
                      conns[0].send("GET /debug/stats HTTP/1.1\r\n\r\n");
                      auto s = conns[0].read_response();
                      return s && !contains(s->body, "\"accept_errors\":0");
                  }),
                  "no accept error counted");
    // The last connection waits in the backlog without an answer.
    REQUIRE(conns.back().send("GET /debug/stats HTTP/1.1\r\n\r\n"));
    CHECK_FALSE(conns.back().read_response(200ms).has_value());
    // Free 40 of the accepted ones: the daemon accepts again, the waiting client is answered.
    for (int i = 1; i <= 40; ++i) conns[static_cast<size_t>(i)].reset();
    auto waiting = conns.back().read_response(3000ms);
    REQUIRE(waiting.has_value());
    CHECK(waiting->status == 200);
    CHECK(contains(d->log(), "Too many open files"));
    conns.clear();
    CHECK(serves_on(d->socket_path(), 3000ms));
}

TEST_CASE("daemon: 10,000 idle connections keep the daemon's RSS bounded") {
    DaemonOptions o = process_daemon();
    o.toml =
        "system_probe_config.process_config.enabled = true\n"
        "[ringprobe.http]\nmax_connections = 20000\nidle_timeout_ms = 60000\n";
    Daemon d(o);
    REQUIRE(d.ready());
    std::this_thread::sleep_for(50ms);
    long rss_before = rss_kib(d.pid());
    constexpr int kConns = 10000;
    std::vector<RawConn> conns;
    conns.reserve(kConns);
    for (int i = 0; i < kConns; ++i) {
        conns.push_back(RawConn::unix_socket(d.socket_path()));
        REQUIRE(conns.back().ok());
    }
    std::string needle = "\"active_connections\":" + std::to_string(kConns + 1) + ",";
    CHECK(eventually(
        [&] {
            rp::http::Client c(d.unix_endpoint(), 2000ms);
            auto r = c.get("/debug/stats");
            return r && contains(r->body, needle);
        },
        10000ms));
    long rss_after = rss_kib(d.pid());
    MESSAGE("daemon RSS: ", rss_before, " KiB idle, ", rss_after, " KiB with ", kConns,
            " idle connections");
    CHECK(rss_after - rss_before < 64 * 1024);  // < 6.5 KiB per connection
    // And it still answers at once.
    auto t0 = Clock::now();
    rp::http::Client c(d.unix_endpoint(), 2000ms);
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    CHECK(elapsed_ms(t0) < 100);
}

// ------------------------------------------------------------------------------------------
// Warnings

TEST_CASE("daemon: an unknown config key is a warning naming it, not an error") {
    DaemonOptions o = process_daemon();
    o.toml = "bogus_key_xyz = 1\n" + std::string(kProcessToml);
    Daemon d(o);
    REQUIRE(d.ready());
    CHECK(contains(d.log(), "bogus_key_xyz"));
}

TEST_CASE("daemon: a non-loopback debug_host is served with a warning") {
    DaemonOptions o;
    o.toml = "[system_probe_config]\ndebug_host = \"0.0.0.0\"\nprocess_config.enabled = true\n";
    Daemon d(o);
    REQUIRE(d.ready());
    CHECK(contains(d.log(), "non-loopback"));
    CHECK(tcp_port_open(d.port()));
}

// ------------------------------------------------------------------------------------------
// Global routes

TEST_CASE("daemon: /debug/stats has each module's stats, updated_at, delta_seconds and uptime") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    std::this_thread::sleep_for(1100ms);  // uptime past a second: "1.1s", not "1.1e+09ns"
    rp::http::Client c(d.unix_endpoint(), 2000ms);
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    simdjson::dom::parser p;
    auto doc = parse(p, r->body);
    simdjson::dom::object obj;
    REQUIRE(doc.get_object().get(obj) == simdjson::SUCCESS);
    simdjson::dom::object process;
    CHECK(obj["process"].get_object().get(process) == simdjson::SUCCESS);
    int64_t updated = 0;
    REQUIRE(obj["updated_at"].get_int64().get(updated) == simdjson::SUCCESS);
    CHECK(std::abs(updated - static_cast<int64_t>(::time(nullptr))) <= 2);
    double delta = -1;
    REQUIRE(obj["delta_seconds"].get_double().get(delta) == simdjson::SUCCESS);
    CHECK(delta >= 1.0);  // since the readiness probe's call
    CHECK(delta < 10.0);
    std::string_view uptime;
    REQUIRE(obj["uptime"].get_string().get(uptime) == simdjson::SUCCESS);
    CAPTURE(uptime);
    CHECK(is_go_seconds_duration(uptime));
    // The next call's delta is the time since this one.
    r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    doc = parse(p, r->body);
    REQUIRE(doc["delta_seconds"].get_double().get(delta) == simdjson::SUCCESS);
    CHECK(delta < 1.0);
    // Disabled modules are not keys.
    CHECK(doc["oom_kill_probe"].error() == simdjson::NO_SUCH_FIELD);
}

TEST_CASE("daemon: /debug/modules lists every factory with its state") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    rp::http::Client c(d.unix_endpoint(), 2000ms);
    auto r = c.get("/debug/modules");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    simdjson::dom::parser p;
    auto doc = parse(p, r->body);
    simdjson::dom::array arr;
    REQUIRE(doc.get_array().get(arr) == simdjson::SUCCESS);
    bool saw_process = false;
    for (auto m : arr) {
        std::string_view name, state;
        bool enabled = false, needs_ebpf = true;
        REQUIRE(m["name"].get_string().get(name) == simdjson::SUCCESS);
        REQUIRE(m["state"].get_string().get(state) == simdjson::SUCCESS);
        REQUIRE(m["enabled"].get_bool().get(enabled) == simdjson::SUCCESS);
        REQUIRE(m["needs_ebpf"].get_bool().get(needs_ebpf) == simdjson::SUCCESS);
        CHECK(m["error"].error() == simdjson::SUCCESS);
        if (name == "process" || name == "discovery") {  // discovery: on by default
            saw_process = saw_process || name == "process";
            CHECK(enabled);
            CHECK_FALSE(needs_ebpf);
            CHECK(state == "running");
            CHECK(m["error"].is_null());
        } else {
            CAPTURE(name);
            CHECK_FALSE(enabled);
            CHECK(state == "disabled");
        }
    }
    CHECK(saw_process);
}

TEST_CASE("daemon: POST /module-restart/process answers 200 with an empty body; unknown is 400") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    rp::http::Client c(d.unix_endpoint(), 2000ms);
    // Some state to lose: the process module counts requests.
    REQUIRE(c.post("/process/stats", "{\"pids\": [1]}").has_value());
    auto r = c.post("/module-restart/process", "");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body.empty());
    CHECK(r->header("content-length") == "0");
    // The module serves again on both prefixes, fresh.
    r = c.post("/process/stats", "{\"pids\": [" + std::to_string(getpid()) + "]}");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    r = c.post("/modules/process/stats", "{\"pids\": [" + std::to_string(getpid()) + "]}");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    CHECK(contains(r->body, "\"process\":{\"last_check\":"));
    CHECK(contains(r->body, "\"requests\":2,"));
    for (const char* name : {"nope", "oom_kill_probe", "debug"}) {
        CAPTURE(name);
        r = c.post(std::string("/module-restart/") + name, "");
        REQUIRE(r.has_value());
        CHECK(r->status == 400);
        CHECK(contains(r->body, "invalid module"));
    }
    r = c.get("/module-restart/process");
    REQUIRE(r.has_value());
    CHECK(r->status == 405);
    CHECK(r->header("allow") == "POST");
    // Via curl as well.
    auto [rc, out] =
        run_command("curl -s -o /dev/null -w '%{http_code}' -X POST --max-time 3 --unix-socket " +
                    d.socket_path() + " http://sysprobe/module-restart/process");
    CHECK(rc == 0);
    CHECK(out == "200");
}

// ------------------------------------------------------------------------------------------
// The process module

TEST_CASE("process: own pid appears with openFDCount > 0; a non-existent pid is left out") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    int gone = 4194303;
    while (std::filesystem::exists("/proc/" + std::to_string(gone))) --gone;
    std::string me = std::to_string(getpid());
    std::string daemon_pid = std::to_string(d.pid());
    rp::http::Client c(d.unix_endpoint(), 2000ms);
    auto r = c.post("/process/stats",
                    "{\"pids\": [" + me + ", " + std::to_string(gone) + ", " + daemon_pid + "]}");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    simdjson::dom::parser p;
    auto doc = parse(p, r->body);
    simdjson::dom::object by_pid;
    REQUIRE(doc["statsByPID"].get_object().get(by_pid) == simdjson::SUCCESS);
    CHECK(by_pid.size() == 2);
    int64_t fds = 0;
    REQUIRE(by_pid[me]["openFDCount"].get_int64().get(fds) == simdjson::SUCCESS);
    CHECK(fds > 0);
    CHECK(by_pid[std::to_string(gone)].error() == simdjson::NO_SUCH_FIELD);
    // The daemon has read its config and log, so its counters are not all zero.
    int64_t daemon_fds = 0;
    REQUIRE(by_pid[daemon_pid]["openFDCount"].get_int64().get(daemon_fds) == simdjson::SUCCESS);
    CHECK(daemon_fds >= 3);
    // Only gone pids: an empty object.
    r = c.post("/process/stats", "{\"pids\": [" + std::to_string(gone) + "]}");
    REQUIRE(r.has_value());
    CHECK(r->body == "{\"statsByPID\":{}}\n");
    r = c.post("/process/stats", "{\"pids\": []}");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == "{\"statsByPID\":{}}\n");
}

TEST_CASE("process: bad bodies get 400 naming the problem, and the connection stays usable") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    const std::pair<std::string, const char*> cases[] = {
        {"", "empty"},
        {"not json", "not valid JSON"},
        {"{\"pids\": [1,", "not valid JSON"},
        {"[1, 2]", "JSON object"},
        {"42", "JSON object"},
        {"{\"pid\": [1]}", "unknown field \\\"pid\\\""},
        {"{\"pids\": 1}", "must be an array"},
        {"{\"pids\": \"1\"}", "must be an array"},
        {"{\"pids\": [\"x\"]}", "only int32 values"},
        {"{\"pids\": [1.5]}", "only int32 values"},
        {"{\"pids\": [null]}", "only int32 values"},
        {"{\"pids\": [99999999999]}", "only int32 values"},
        {"{\"pids\": [1]} trailing", "not valid JSON"},
        {"{\"pids\": [1]}{}", "not valid JSON"},
        {"{\"pids\": [1]}\0"s, "not valid JSON"},
        {"\xff\xfe{}", "not valid JSON"},
    };
    rp::http::Client c(d.unix_endpoint(), 2000ms);
    for (const auto& [body, problem] : cases) {
        CAPTURE(body);
        auto r = c.post("/process/stats", body);
        REQUIRE(r.has_value());
        CHECK(r->status == 400);
        CHECK(r->header("content-type") == "application/json");
        CHECK_MESSAGE(contains(r->body, problem), r->body);
        CHECK(r->body.ends_with("}\n"));
    }
    // Valid JSON with whitespace around it is fine; so are the forms protojson reads ({} and
    // null: no pids; a numeric string: a pid), and pids that cannot exist are simply absent.
    for (std::string body : {" \n{\"pids\": [" + std::to_string(getpid()) + "]}\n ", "{}"s,
                             "{\"pids\": null}"s, "{\"pids\": [\"1\", -1, 0, 2147483647]}"s}) {
        CAPTURE(body);
        auto r = c.post("/process/stats", body);
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(contains(r->body, "{\"statsByPID\":{"));
    }
}

TEST_CASE(
    "process: 10,001 pids are streamed (chunked) and complete; other clients are served "
    "meanwhile") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    std::string many = "{\"pids\": [";
    for (int i = 1; i <= 10001; ++i) many += (i > 1 ? "," : "") + std::to_string(i);
    many += "," + std::to_string(getpid()) + "]}";
    auto alive = [] {
        std::set<int> s;
        for (int i = 1; i <= 10001; ++i)
            if (std::filesystem::exists("/proc/" + std::to_string(i))) s.insert(i);
        s.insert(getpid());
        return s;
    };
    std::set<int> before = alive();
    rp::http::Client c(d.unix_endpoint(), 5000ms);
    auto r = c.post("/process/stats", many);
    std::set<int> after = alive();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->header("transfer-encoding") == "chunked");
    CHECK(r->header("content-type") == "application/json");
    CHECK(r->body.ends_with("}}\n"));
    simdjson::dom::parser p;
    auto doc = parse(p, r->body);
    simdjson::dom::object by_pid;
    REQUIRE(doc["statsByPID"].get_object().get(by_pid) == simdjson::SUCCESS);
    // Every pid alive before and after the request is there (another may start or exit meanwhile).
    std::set<int> answered;
    for (auto field : by_pid) answered.insert(std::stoi(std::string(field.key)));
    for (int pid : before)
        if (after.count(pid) != 0) CHECK_MESSAGE(answered.count(pid) == 1, pid);
    CHECK(answered.count(getpid()) == 1);
    // The same connection goes on with a whole answer after the stream.
    r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(contains(r->body, "\"streamed_answers\":1"));
}

TEST_CASE("process: /modules/process/stats is an alias, also through curl") {
    Daemon d(process_daemon());
    REQUIRE(d.ready());
    std::string body = "{\"pids\": [" + std::to_string(getpid()) + "]}";
    auto [rc, out] = run_command("curl -s --max-time 3 -d " + quote(body) + " --unix-socket " +
                                 d.socket_path() + " http://sysprobe/modules/process/stats");
    CHECK(rc == 0);
    CHECK(contains(out, "\"statsByPID\":{\"" + std::to_string(getpid()) + "\":{\"openFDCount\":"));
    CHECK(out.ends_with("}\n"));
}
