// ringprobectl_test.cpp — the ringprobectl binary against the real daemon (TestDaemon), plus the
// cases the daemon cannot produce on demand (start-up probe failing, invalid JSON from /check)
// against a scripted server, and usage errors.
#include <doctest/doctest.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon.h"

namespace {

using namespace std::chrono_literals;
using rp::test::DaemonOptions;
using rp::test::TestDaemon;

constexpr const char* kProcessToml = "[system_probe_config.process_config]\nenabled = true\n";

DaemonOptions process_daemon() {
    DaemonOptions o;
    o.toml = kProcessToml;
    return o;
}

std::string shell_quote(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

struct CtlResult {
    int code = -1;
    std::string out, err;
};

// Runs ringprobectl with `args` (env: the test's, without DD_SYSPROBE_SOCKET, plus `env`).
CtlResult ctl(const std::vector<std::string>& args, const std::string& env = "") {
    std::string dir = rp::test::make_temp_dir();
    std::string err_path = dir + "/stderr";
    std::string cmd = "env -u DD_SYSPROBE_SOCKET " + env + " " + shell_quote(RINGPROBECTL_BIN);
    for (const auto& a : args) cmd += " " + shell_quote(a);
    cmd += " 2>" + shell_quote(err_path) + " </dev/null";
    CtlResult r;
    std::tie(r.code, r.out) = rp::test::run_command(cmd);
    std::ifstream in(err_path);
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
    std::filesystem::remove_all(dir);
    return r;
}

std::string describe(const CtlResult& r) {
    return "exit " + std::to_string(r.code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

bool valid_json(const std::string& s) {
    simdjson::dom::parser p;
    simdjson::dom::element e;
    return p.parse(s).get(e) == simdjson::SUCCESS;
}

std::vector<std::string> on(const TestDaemon& d, std::vector<std::string> args) {
    args.insert(args.begin(), {"--socket", d.socket_path()});
    return args;
}

// A unix-socket server answering each request by path from a table (404 otherwise), for outcomes
// the real daemon does not produce on demand. One connection at a time, in a thread.
class CannedServer {
  public:
    explicit CannedServer(std::map<std::string, std::string> responses)
        : responses_(std::move(responses)),
          dir_(rp::test::make_temp_dir()),
          path_(dir_ + "/canned.sock") {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd_, 8) == 0);
        thread_ = std::thread([this] { run(); });
    }
    ~CannedServer() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
        std::filesystem::remove_all(dir_);
    }
    const std::string& path() const { return path_; }

  private:
    void run() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            serve(c);
            ::close(c);
        }
    }
    void serve(int c) {
        std::string buf;
        for (;;) {
            size_t end;
            while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
                pollfd p{c, POLLIN, 0};
                if (::poll(&p, 1, 5000) <= 0) return;
                char tmp[4096];
                ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
                if (n <= 0) return;
                buf.append(tmp, size_t(n));
            }
            std::string line = buf.substr(0, buf.find("\r\n"));
            buf.erase(0, end + 4);  // the tests only send GETs
            std::string target = line.substr(line.find(' ') + 1);
            target = target.substr(0, target.find(' '));
            auto it = responses_.find(target);
            std::string resp = it != responses_.end()
                                   ? it->second
                                   : "HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n"
                                     "404 page not found\n";
            ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
        }
    }

    std::map<std::string, std::string> responses_;
    std::string dir_, path_;
    int fd_ = -1;
    std::thread thread_;
    std::atomic<bool> stop_{false};
};

std::string http_ok(std::string_view body) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
           std::string(body);
}

}  // namespace

// ---- without a daemon ------------------------------------------------------------------------

TEST_CASE("ringprobectl: check before the daemon is up says not started yet, exit 3") {
    auto r = ctl({"--socket", "/nonexistent/ringprobe.sock", "check", "process"});
    CHECK_MESSAGE(r.code == 3, describe(r));
    CHECK(r.err.find("system-probe not started yet") != std::string::npos);
    CHECK(r.out.empty());
}

TEST_CASE("ringprobectl: with --grace 0 an unreachable daemon is an error naming the socket") {
    auto r = ctl({"--grace", "0", "--socket", "/nonexistent/ringprobe.sock", "check", "process"});
    CHECK_MESSAGE(r.code == 1, describe(r));
    CHECK(r.err.find("connect unix:/nonexistent/ringprobe.sock: No such file or directory") !=
          std::string::npos);
    CHECK(r.err.find("not started yet") == std::string::npos);
}

TEST_CASE("ringprobectl: a failed request names the endpoint, exit 1") {
    auto r = ctl({"--socket", "/nonexistent/ringprobe.sock", "stats"});
    CHECK_MESSAGE(r.code == 1, describe(r));
    CHECK(r.err == "connect unix:/nonexistent/ringprobe.sock: No such file or directory\n");
}

TEST_CASE("ringprobectl: --wait retries until the wait has passed") {
    auto start = std::chrono::steady_clock::now();
    auto r = ctl({"--wait", "400ms", "--socket", "/nonexistent/ringprobe.sock", "stats"});
    auto took = std::chrono::steady_clock::now() - start;
    CHECK_MESSAGE(r.code == 1, describe(r));
    CHECK(took >= 300ms);
    CHECK(took < 5s);
}

TEST_CASE("ringprobectl: usage errors exit 2 and name the bad argument") {
    struct Case {
        std::vector<std::string> args;
        std::string names;
    };
    std::vector<Case> cases = {
        {{}, "missing command"},
        {{"frobnicate"}, "frobnicate"},
        {{"--bogus", "stats"}, "--bogus"},
        {{"--timeout", "ten", "stats"}, "ten"},
        {{"--wait", "5", "stats"}, "\"5\""},
        {{"--timeout", "0", "stats"}, "--timeout"},
        {{"--socket", "/a", "--tcp", "127.0.0.1:1", "stats"}, "--tcp"},
        {{"--tcp", "localhost", "stats"}, "localhost"},
        {{"check"}, "MODULE"},
        {{"post", "/x"}, "JSON"},
        {{"stats", "extra"}, "extra"},
        {{"--socket"}, "--socket"},
        {{"--pretty=yes", "stats"}, "--pretty"},
    };
    for (const auto& c : cases) {
        auto r = ctl(c.args);
        std::string line;
        for (const auto& a : c.args) line += a + " ";
        CHECK_MESSAGE(r.code == 2, line, "\n", describe(r));
        CHECK_MESSAGE(r.err.find(c.names) != std::string::npos, line, "\n", describe(r));
        CHECK(r.out.empty());
    }
}

TEST_CASE("ringprobectl: --help and --version") {
    auto h = ctl({"--help"});
    CHECK(h.code == 0);
    CHECK(h.out.starts_with("Usage: ringprobectl"));
    CHECK(h.out.find("--grace") != std::string::npos);
    auto v = ctl({"--version"});
    CHECK(v.code == 0);
    CHECK(v.out.starts_with("ringprobectl "));
    CHECK(v.out.size() > 14);
}

TEST_CASE("ringprobectl: check rejects a body that is not JSON, naming the decode error") {
    CannedServer srv({{"/debug/stats", http_ok("{}\n")}, {"/bad/check", http_ok("{\"a\": tru\n")}});
    auto r = ctl({"--socket", srv.path(), "check", "bad"});
    CHECK_MESSAGE(r.code == 1, describe(r));
    CHECK(r.err.starts_with("decode response from http://sysprobe/bad/check: "));
    CHECK(r.out.empty());
}

TEST_CASE("ringprobectl: check prints the body of a good /check") {
    CannedServer srv({{"/debug/stats", http_ok("{}\n")},
                      {"/good/check", http_ok("[{\"victimPid\":1}]\n")},
                      {"/good/check?pretty_print=1", http_ok("[\n  {}\n]\n")}});
    auto r = ctl({"--socket", srv.path(), "check", "good"});
    CHECK_MESSAGE(r.code == 0, describe(r));
    CHECK(r.out == "[{\"victimPid\":1}]\n");
    auto p = ctl({"--socket", srv.path(), "--pretty", "check", "good"});
    CHECK_MESSAGE(p.code == 0, describe(p));
    CHECK(p.out == "[\n  {}\n]\n");
}

TEST_CASE("ringprobectl: a start-up probe answered with an error status counts as not started") {
    CannedServer srv(std::map<std::string, std::string>{{"/debug/stats",
                                                         "HTTP/1.1 500 Internal Server Error\r\n"
                                                         "Content-Length: 5\r\n\r\nboom\n"}});
    auto r = ctl({"--socket", srv.path(), "check", "x"});
    CHECK_MESSAGE(r.code == 3, describe(r));
    CHECK(r.err ==
          "system-probe not started yet: non-ok status code: url "
          "http://sysprobe/debug/stats, status_code: 500, response: boom\n");
    auto g = ctl({"--grace", "0", "--socket", srv.path(), "check", "x"});
    CHECK_MESSAGE(g.code == 1, describe(g));
    CHECK(
        g.err.starts_with("non-ok status code: url http://sysprobe/debug/stats, status_code: 500"));
}

// ---- against the real daemon -----------------------------------------------------------------

TEST_CASE("ringprobectl: stats prints /debug/stats as JSON with the enabled module") {
    TestDaemon d(process_daemon());
    REQUIRE(d.ready());
    auto r = ctl(on(d, {"stats"}));
    CHECK_MESSAGE(r.code == 0, describe(r));
    CHECK(valid_json(r.out));
    CHECK(r.out.find("\"process\"") != std::string::npos);
    CHECK(r.err.empty());
}

TEST_CASE("ringprobectl: the default socket comes from DD_SYSPROBE_SOCKET") {
    TestDaemon d(process_daemon());
    REQUIRE(d.ready());
    auto r = ctl({"stats"}, "DD_SYSPROBE_SOCKET=" + shell_quote(d.socket_path()));
    CHECK_MESSAGE(r.code == 0, describe(r));
    CHECK(r.out.find("\"process\"") != std::string::npos);
}

TEST_CASE("ringprobectl: modules lists the modules as JSON") {
    TestDaemon d(process_daemon());
    REQUIRE(d.ready());
    auto r = ctl(on(d, {"modules"}));
    CHECK_MESSAGE(r.code == 0, describe(r));
    CHECK(valid_json(r.out));
    CHECK(r.out.find("process") != std::string::npos);
}

TEST_CASE("ringprobectl: check of an unknown module prints the Agent's non-ok text, exit 1") {
    TestDaemon d(process_daemon());
    REQUIRE(d.ready());
    auto r = ctl(on(d, {"check", "nosuchmodule"}));
    CHECK_MESSAGE(r.code == 1, describe(r));
    CHECK_MESSAGE(r.err.starts_with("non-ok status code: url http://sysprobe/nosuchmodule/check, "
                                    "status_code: 404, response: "),
                  describe(r));
    CHECK(r.out.empty());
}

TEST_CASE("ringprobectl: --tcp uses the debug port") {
    TestDaemon d(process_daemon());
    REQUIRE(d.ready());
    auto r = ctl({"--tcp", "127.0.0.1:" + std::to_string(d.port()), "stats"});
    CHECK_MESSAGE(r.code == 0, describe(r));
    CHECK(valid_json(r.out));
    CHECK(r.out.find("\"process\"") != std::string::npos);
}

TEST_CASE("ringprobectl: post /process/stats returns statsByPID for our pid") {
    TestDaemon d(process_daemon());
    REQUIRE(d.ready());
    std::string pid = std::to_string(::getpid());
    auto r = ctl(on(d, {"post", "/process/stats", "{\"pids\":[" + pid + "]}"}));
    CHECK_MESSAGE(r.code == 0, describe(r));
    CHECK(valid_json(r.out));
    CHECK(r.out.find("\"statsByPID\"") != std::string::npos);
    CHECK(r.out.find("\"" + pid + "\"") != std::string::npos);
}

TEST_CASE("ringprobectl: --pretty output is indented with two spaces") {
    TestDaemon d(process_daemon());
    REQUIRE(d.ready());
    auto r = ctl(on(d, {"--pretty", "stats"}));
    CHECK_MESSAGE(r.code == 0, describe(r));
    CHECK(valid_json(r.out));
    CHECK(r.out.starts_with("{\n  \""));
    auto compact = ctl(on(d, {"stats"}));
    CHECK(compact.out.find('\n') == compact.out.size() - 1);
}

TEST_CASE("ringprobectl: get of an unknown path exits 1 with the status on stderr") {
    TestDaemon d(process_daemon());
    REQUIRE(d.ready());
    auto r = ctl(on(d, {"get", "/no/such/path"}));
    CHECK_MESSAGE(r.code == 1, describe(r));
    CHECK(r.err == "GET http://sysprobe/no/such/path: status 404\n");
}

TEST_CASE("ringprobectl: --wait succeeds once the daemon comes up") {
    std::string dir = rp::test::make_temp_dir();
    std::string sock = dir + "/late.sock";
    auto pending = std::async(std::launch::async, [&] {
        return ctl({"--wait", "20s", "--socket", sock, "stats"});
    });
    std::this_thread::sleep_for(300ms);
    {
        DaemonOptions o;
        o.write_listen_keys = false;
        o.wait_ready = false;  // ringprobectl is the one waiting here
        o.toml = "[system_probe_config]\nsysprobe_socket = \"" + sock +
                 "\"\ndebug_port = 0\n[system_probe_config.process_config]\nenabled = true\n";
        TestDaemon d(o);
        auto r = pending.get();
        CHECK_MESSAGE(r.code == 0, describe(r), "\ndaemon log:\n", d.log());
        CHECK(r.out.find("\"process\"") != std::string::npos);
    }
    std::filesystem::remove_all(dir);
}
