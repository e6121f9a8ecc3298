// discovery_daemon_test.cpp — the discovery module in the real daemon: on with the shipped
// configuration and the built-in defaults, and a 10,000-pid request streamed without holding up
// other clients (tests/modules/discovery_test.cpp checks the fields against real processes).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "harness.h"
#include "support/daemon.h"

namespace {

using namespace rp::itest;
using rp::test::DaemonOptions;

// A listening TCP socket on 127.0.0.1 (any port): this test process is then a service.
struct Listener {
    int fd = -1;
    uint16_t port = 0;
    Listener() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd, 4) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~Listener() { ::close(fd); }
};

std::string self_request() {
    return "{\"new_pids\":[" + std::to_string(getpid()) + "],\"heartbeat_pids\":[" +
           std::to_string(getpid()) + "]}";
}

}  // namespace

TEST_CASE("discovery: the built-in defaults run it; POST /discovery/services answers the Agent") {
    DaemonOptions o;
    o.toml = "log_level = \"info\"\n";  // no module key at all: discovery is on by default
    Daemon d(o);
    REQUIRE(d.ready());
    Listener l;
    auto c = d.client();
    auto r = c.post("/discovery/services", self_request());
    REQUIRE_MESSAGE(r.has_value(), r.error());
    CHECK(r->status == 200);
    CHECK(r->header("content-type") == "application/json");
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.parse(r->body);
    simdjson::dom::array services = doc["services"];
    REQUIRE(services.size() == 2);  // the new pid, then its heartbeat
    int64_t pid = services.at(0)["pid"];
    CHECK(pid == getpid());
    simdjson::dom::array ports = services.at(0)["tcp_ports"];
    REQUIRE(ports.size() == 1);
    CHECK(uint64_t(ports.at(0)) == l.port);
    CHECK(std::string_view(services.at(0)["generated_name"]) == "integration_test");
    CHECK(std::string_view(services.at(1)["generated_name"]) == "");
    CHECK(doc["injected_pids"].is_null());
    CHECK(doc["gpu_pids"].is_null());
    // The alias prefix and the other routes.
    r = c.post("/modules/discovery/services", "{}");
    REQUIRE(r.has_value());
    CHECK(r->body == "{\"services\":[],\"injected_pids\":null,\"gpu_pids\":null}\n");
    r = c.get("/discovery/status");
    REQUIRE(r.has_value());
    CHECK(r->body == "Discovery Module is running");
    r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    doc = p.parse(r->body);
    CHECK(uint64_t(doc["discovery"]["services_found"]) == 1);
    CHECK(uint64_t(doc["discovery"]["requests"]) == 2);
    // Bad input: 400 with the reason, and the daemon keeps serving.
    r = c.post("/discovery/services", "{\"new_pids\": \"all\"}");
    REQUIRE(r.has_value());
    CHECK(r->status == 400);
    CHECK(contains(r->body, "must be an array of int32 pids"));
    r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
}

TEST_CASE("discovery: the daemon starts with the shipped configuration, discovery running") {
    std::string text;
    {
        std::ifstream in(std::string(RINGPROBE_SOURCE_DIR) + "/conf/ringprobe.toml");
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    REQUIRE(contains(text, "[discovery]"));
    DaemonOptions o;
    o.toml = text;
    o.write_listen_keys = false;  // the shipped file names its own; the environment wins over it
    o.wait_ready = false;
    std::string dir = rp::test::make_temp_dir();
    std::string socket = dir + "/shipped.sock";
    o.env["DD_SYSPROBE_SOCKET"] = socket;
    o.env["DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT"] = "0";
    Daemon d(o);
    bool up = eventually(
        [&] {
            rp::http::Client c(rp::http::Endpoint::unix_from(socket), 500ms);
            auto r = c.get("/debug/stats");
            return r && r->status == 200;
        },
        15000ms);
    REQUIRE_MESSAGE(up, d.log());
    rp::http::Client c(rp::http::Endpoint::unix_from(socket), 5000ms);
    auto r = c.get("/debug/modules");
    REQUIRE(r.has_value());
    simdjson::dom::parser p;
    bool running = false;
    for (simdjson::dom::element m : p.parse(r->body).get_array())
        if (std::string_view(m["name"]) == "discovery")
            running = std::string_view(m["state"]) == "running";
    CHECK_MESSAGE(running, r->body);
    Listener l;
    r = c.post("/discovery/services", self_request());
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(contains(r->body, "\"tcp_ports\":[" + std::to_string(l.port) + "]"));
    d.signal(SIGTERM);
    CHECK(d.wait_exit(8000ms) == 0);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST_CASE("discovery: a 10,000-pid request is streamed; other clients are answered meanwhile") {
    // /proc for every pid (the iterator answers this request in a few ms: nothing to overlap).
    DaemonOptions o;
    o.toml = "ringprobe.discovery.bpf_iterator = false\n";
    Daemon d(o);
    REQUIRE(d.ready());
    // 10,000 pids of live processes (the heavy kind of request: every pid is read): 25 sleepers,
    // 400 times each, and this process once. The sleepers hold nothing of a service (stdout to a
    // *.log file would make one).
    std::vector<pid_t> kids;
    for (int i = 0; i < 25; ++i) {
        pid_t k = ::fork();
        REQUIRE(k >= 0);
        if (k == 0) {
            int null = ::open("/dev/null", O_RDWR);
            for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
            ::execlp("sleep", "sleep", "1000", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        kids.push_back(k);
    }
    Listener l;
    for (pid_t k : kids)  // exec'd (before, they are copies of this process)
        REQUIRE(eventually([&] {
            std::ifstream in("/proc/" + std::to_string(k) + "/comm");
            std::string comm;
            std::getline(in, comm);
            return comm == "sleep";
        }));
    std::string body = "{\"new_pids\":[";
    for (int i = 0; i < 10000; ++i) body += std::to_string(kids[i % kids.size()]) + ",";
    body += std::to_string(getpid()) + "]}";

    std::atomic<bool> done{false};
    std::expected<rp::http::ClientResponse, std::string> big;
    long big_ms = 0;
    std::thread t([&] {
        rp::http::Client c(d.unix_endpoint(), 60000ms);
        auto t0 = Clock::now();
        big = c.post("/discovery/services", body);
        big_ms = elapsed_ms(t0);
        done = true;
    });
    // /debug/stats on another connection while the big answer is produced.
    rp::http::Client probe(d.unix_endpoint(), 10000ms);
    long worst_ms = 0;
    int during = 0;
    while (!done) {
        auto t0 = Clock::now();
        auto r = probe.get("/debug/stats");
        long ms_taken = elapsed_ms(t0);
        REQUIRE(r.has_value());
        if (done) break;
        ++during;
        worst_ms = std::max(worst_ms, ms_taken);
    }
    t.join();
    for (pid_t k : kids) {
        ::kill(k, SIGKILL);
        ::waitpid(k, nullptr, 0);
    }
    REQUIRE_MESSAGE(big.has_value(), big.error());
    CHECK(big->status == 200);
    CHECK(big->header("transfer-encoding") == "chunked");
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.parse(big->body);
    simdjson::dom::array services = doc["services"];
    REQUIRE(services.size() == 1);  // the sleepers are not services
    CHECK(int64_t(services.at(0)["pid"]) == getpid());
    MESSAGE("10,001 pids answered in ", big_ms, " ms; ", during,
            " /debug/stats answered meanwhile, the slowest in ", worst_ms, " ms");
    CHECK(during >= 1);
    CHECK(worst_ms < 250);  // ~2 ms pieces; generous for a sanitizer build on a busy machine
    auto r = probe.get("/debug/stats");
    REQUIRE(r.has_value());
    doc = p.parse(r->body);
    CHECK(uint64_t(doc["discovery"]["streamed_answers"]) == 1);
}
