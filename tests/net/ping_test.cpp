// ping_test.cpp — the ping module against the real kernel (root: raw sockets, namespaces).
//
// Reachable: 127.0.0.1, ::1 and "localhost" (resolved from /etc/hosts, off the loop) answer with
// system-probe's three fields, their JSON types and units. Unreachable, from test namespaces: an
// address with no route (the kernel refuses every echo request: 100 % loss at once) and an on-link
// address nobody holds (no reply: 100 % loss at the timeout). Bad parameters: 400 with the
// reason. A client that leaves mid-ping: the ping is stopped and its socket closed. Plus the
// route's concurrency limit, /debug/stats and /metrics, and the module without CAP_NET_RAW.
#include <doctest/doctest.h>
#include <linux/capability.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <string>
#include <thread>

#include "http/client.h"
#include "net/netns.h"
#include "support/daemon.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using rp::test::DaemonOptions;
using rp::test::TestDaemon;
using Daemon = rp::nettest::Daemon;

DaemonOptions opts(std::string toml) {
    DaemonOptions o;
    o.toml = std::move(toml);
    return o;
}

struct PingResult {
    bool can_connect = false;
    double packet_loss = -1;
    int64_t avg_rtt = -1;
};

// Decodes the body as the Agent's pinger.Result: exactly these three keys, with these JSON types.
PingResult decode(const std::string& body) {
    simdjson::dom::parser p;
    simdjson::dom::element root;
    REQUIRE_MESSAGE(p.parse(body).get(root) == simdjson::SUCCESS, body);
    simdjson::dom::object o;
    REQUIRE(root.get_object().get(o) == simdjson::SUCCESS);
    CHECK(o.size() == 3);
    PingResult r;
    REQUIRE_MESSAGE(o["can_connect"].get_bool().get(r.can_connect) == simdjson::SUCCESS, body);
    REQUIRE_MESSAGE(o["packet_loss"].get_double().get(r.packet_loss) == simdjson::SUCCESS, body);
    // time.Duration: an integer number of nanoseconds.
    REQUIRE_MESSAGE(o["avg_rtt"].get_int64().get(r.avg_rtt) == simdjson::SUCCESS, body);
    return r;
}

// A number in /debug/stats at path (e.g. {"ping", "resolver", "lookups"}).
uint64_t stat(rp::http::Client& c, std::initializer_list<std::string_view> path) {
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    simdjson::dom::parser p;
    simdjson::dom::element e;
    REQUIRE(p.parse(r->body).get(e) == simdjson::SUCCESS);
    for (auto k : path) REQUIRE_MESSAGE(e[k].get(e) == simdjson::SUCCESS, k, " in ", r->body);
    uint64_t v = 0;
    REQUIRE_MESSAGE(e.get_uint64().get(v) == simdjson::SUCCESS, r->body);
    return v;
}

bool has_ipv6_loopback() {
    std::ifstream f("/proc/net/if_inet6");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("00000000000000000000000000000001", 0) == 0) return true;
    return false;
}

template <typename F>
bool eventually(F pred, std::chrono::milliseconds limit = 3000ms) {
    auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

// A raw connection to the daemon's socket that sends one request and then just stays (or
// closes), for requests whose client leaves.
int send_raw(const TestDaemon& d, const std::string& target) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, d.socket_path().c_str(), sizeof sa.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: sysprobe\r\n\r\n";
    REQUIRE(::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
    return fd;
}

}  // namespace

TEST_CASE("ping: 127.0.0.1, ::1 and localhost answer with the Agent's pinger.Result") {
    rp::nettest::require_root_or_skip();
    REQUIRE_MESSAGE(has_ipv6_loopback(), "this machine has no ::1 (IPv6 off?)");
    Daemon d(opts("ping.enabled = true\n"));
    REQUIRE(d.ready());
    auto c = d.client();
    for (const std::string host : {"127.0.0.1", "::1", "localhost"}) {
        auto t0 = Clock::now();
        auto r = c.get("/ping/ping/" + host + "?client_id=pinger-agent-linux");
        auto took = Clock::now() - t0;
        REQUIRE_MESSAGE(r.has_value(), r.error());
        INFO(host, " -> ", r->body);
        CHECK(r->status == 200);
        CHECK(r->header("content-type") == "application/json");
        CHECK(r->body.back() == '}');  // json.Marshal + Write: no trailing newline
        PingResult p = decode(r->body);
        CHECK(p.can_connect);
        CHECK(p.packet_loss == 0);
        CHECK(r->body.find("\"packet_loss\":0,") != std::string::npos);  // Go writes 0, not 0.0
        CHECK(p.avg_rtt > 0);
        CHECK(p.avg_rtt < 100'000'000);
        // Two echo requests 20 ms apart (the defaults), answered after the second reply rather
        // than at the 3 s timeout.
        CHECK(took >= 19ms);
        CHECK(took < 1000ms);
    }
    CHECK(stat(c, {"ping", "packets_sent"}) == 6);
    CHECK(stat(c, {"ping", "packets_received"}) == 6);
    CHECK(stat(c, {"ping", "reachable"}) == 3);
    CHECK(stat(c, {"ping", "in_flight"}) == 0);
    // Only "localhost" needed the resolver (numeric hosts never go there).
    CHECK(stat(c, {"ping", "resolver", "lookups"}) == 1);
    CHECK(stat(c, {"ping", "resolver", "failures"}) == 0);

    // count and interval (nanoseconds) are honoured: 5 requests 5 ms apart.
    auto t0 = Clock::now();
    auto r = c.get("/ping/ping/127.0.0.1?count=5&interval=5000000&timeout=2000000000");
    auto took = Clock::now() - t0;
    REQUIRE(r.has_value());
    CHECK(decode(r->body).can_connect);
    CHECK(stat(c, {"ping", "packets_sent"}) == 11);
    CHECK(took >= 19ms);
    CHECK(took < 1000ms);

    // /metrics: the module's families.
    auto m = c.get("/metrics");
    REQUIRE(m.has_value());
    CHECK(m->body.find("ringprobe_ping_requests_total{outcome=\"reachable\"} 4") !=
          std::string::npos);
    CHECK(m->body.find("ringprobe_ping_packets_received_total 11") != std::string::npos);
    CHECK(m->body.find("ringprobe_ping_rtt_seconds_count 11") != std::string::npos);
    CHECK(m->body.find("ringprobe_ping_in_flight 0") != std::string::npos);

    // A module restart: the route serves again.
    auto rs = c.post("/module-restart/ping", "");
    REQUIRE(rs.has_value());
    CHECK(rs->status == 200);
    r = c.get("/ping/ping/127.0.0.1");
    REQUIRE(r.has_value());
    CHECK(decode(r->body).can_connect);
}

TEST_CASE("ping: unreachable addresses in test namespaces answer 100 % loss") {
    rp::nettest::require_root_or_skip();
    SUBCASE("no route: every echo request refused, answered at once") {
        rp::nettest::LoneNamespace ns;
        REQUIRE_MESSAGE(ns.ok(), ns.error());
        DaemonOptions o = opts("ping.enabled = true\n");
        o.wrapper = ns.exec_in();
        Daemon d(o);
        REQUIRE(d.ready());
        auto c = d.client();
        auto t0 = Clock::now();
        auto r = c.get("/ping/ping/198.51.100.7");
        auto took = Clock::now() - t0;
        REQUIRE(r.has_value());
        INFO(r->body);
        CHECK(r->status == 200);
        PingResult p = decode(r->body);
        CHECK_FALSE(p.can_connect);
        CHECK(p.packet_loss == 100);
        CHECK(p.avg_rtt == 0);
        CHECK(r->body == "{\"can_connect\":false,\"packet_loss\":100,\"avg_rtt\":0}");
        // Both requests were refused by the kernel (ENETUNREACH): nothing to wait 3 s for.
        CHECK(took < 1000ms);
        CHECK(stat(c, {"ping", "send_errors"}) == 2);
        CHECK(stat(c, {"ping", "unreachable"}) == 1);

        // A host name that cannot resolve (no DNS server is reachable from here: nothing leaves
        // the namespace): 500 with the lookup's error.
        r = c.get("/ping/ping/no-such-host.invalid?timeout=2000000000");
        REQUIRE(r.has_value());
        CHECK(r->status == 500);
        CHECK_MESSAGE(r->body.starts_with("unable to run ping for host no-such-host.invalid: "
                                          "lookup no-such-host.invalid: "),
                      r->body);
    }
    SUBCASE("on-link address nobody holds: no reply until the timeout") {
        rp::nettest::Chain chain;
        REQUIRE_MESSAGE(chain.ok(), chain.error());
        DaemonOptions o = opts("ping.enabled = true\n");
        o.wrapper = chain.exec_in_client();
        Daemon d(o);
        REQUIRE(d.ready());
        auto c = d.client();
        // Sanity: through the router, the server answers.
        auto r = c.get("/ping/ping/" + chain.server_addr);
        REQUIRE(r.has_value());
        CHECK_MESSAGE(decode(r->body).can_connect, r->body);

        auto t0 = Clock::now();
        r = c.get("/ping/ping/" + chain.client_link_unused + "?count=3&timeout=300000000");
        auto took = Clock::now() - t0;
        REQUIRE(r.has_value());
        INFO(r->body);
        CHECK(r->status == 200);
        CHECK(r->body == "{\"can_connect\":false,\"packet_loss\":100,\"avg_rtt\":0}");
        CHECK(took >= 290ms);  // the whole timeout (300 ms), as pro-bing
        CHECK(took < 2000ms);
        CHECK(stat(c, {"ping", "send_errors"}) == 0);
    }
}

TEST_CASE("ping: bad parameters get 400 with the reason") {
    rp::nettest::require_root_or_skip();
    Daemon d(opts("ping.enabled = true\n"));
    REQUIRE(d.ready());
    auto c = d.client();
    const std::pair<std::string, std::string> cases[] = {
        {"count=abc", "invalid count: strconv.Atoi: parsing \"abc\": invalid syntax"},
        {"count=", "invalid count: strconv.Atoi: parsing \"\": invalid syntax"},
        {"interval=1.5", "invalid interval: strconv.Atoi: parsing \"1.5\": invalid syntax"},
        {"timeout=99999999999999999999",
         "invalid timeout: strconv.Atoi: parsing \"99999999999999999999\": value out of range"},
        {"count=70000",
         "invalid count: 70000 is more than 65535 (ICMP sequence numbers are 16 bits)"},
        {"count=2&interval=%zz1", "invalid interval: strconv.Atoi: parsing"},
    };
    for (const auto& [query, body] : cases) {
        auto r = c.get("/ping/ping/127.0.0.1?" + query);
        REQUIRE(r.has_value());
        INFO(query, " -> ", r->status, " ", r->body);
        if (query.find("%zz") != std::string::npos) {
            // A bad escape makes Go drop the pair: the parameter is absent, the default applies.
            CHECK(r->status == 200);
            continue;
        }
        CHECK(r->status == 400);
        CHECK(r->header("content-type").starts_with("text/plain"));
        CHECK(r->body.starts_with(body));
    }
    CHECK(stat(c, {"ping", "bad_requests"}) == 5);
    // <= 0 means the default, as upstream: 2 requests.
    uint64_t before = stat(c, {"ping", "packets_sent"});
    auto r = c.get("/ping/ping/127.0.0.1?count=-3&interval=0&timeout=-1");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(stat(c, {"ping", "packets_sent"}) == before + 2);
}

TEST_CASE("ping: a client that leaves mid-ping stops it and its socket is closed") {
    rp::nettest::require_root_or_skip();
    rp::nettest::Chain chain;
    REQUIRE_MESSAGE(chain.ok(), chain.error());
    DaemonOptions o = opts("ping.enabled = true\nringprobe.ping.max_in_flight = 1\n");
    o.wrapper = chain.exec_in_client();
    Daemon d(o);
    REQUIRE(d.ready());
    auto c = d.client();
    REQUIRE(c.get("/debug/stats").has_value());  // c's own connection is open from here on
    const int base_fds = rp::nettest::count_fds(d.pid());
    // 10 s of waiting for replies that never come.
    int fd = send_raw(d, "/ping/ping/" + chain.client_link_unused +
                             "?count=100&interval=100000000&timeout=10000000000");
    REQUIRE(eventually([&] { return stat(c, {"ping", "in_flight"}) == 1; }));
    // The request's connection and the ping's raw socket.
    CHECK(rp::nettest::count_fds(d.pid()) == base_fds + 2);
    // The route's limit (1 here): another ping meanwhile gets 429.
    auto busy = c.get("/ping/ping/127.0.0.1");
    REQUIRE(busy.has_value());
    CHECK(busy->status == 429);

    ::close(fd);
    auto t0 = Clock::now();
    CHECK(eventually([&] { return stat(c, {"ping", "in_flight"}) == 0; }, 2000ms));
    CHECK(Clock::now() - t0 < 1000ms);
    CHECK(stat(c, {"ping", "cancelled"}) == 1);
    CHECK(eventually([&] { return rp::nettest::count_fds(d.pid()) == base_fds; }));
    // And the route is free again.
    auto r = c.get("/ping/ping/127.0.0.1");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
}

TEST_CASE("ping: without CAP_NET_RAW the module is not created, and says why") {
    rp::nettest::require_root_or_skip();
    REQUIRE(::access("/usr/bin/setpriv", X_OK) == 0);
    DaemonOptions o = opts(
        "ping.enabled = true\nsystem_probe_config.process_config.enabled = "
        "true\n");
    o.wrapper = {"/usr/bin/setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"};
    Daemon d(o);
    REQUIRE(d.ready());
    auto c = d.client();
    auto s = c.get("/debug/stats");
    REQUIRE(s.has_value());
    CHECK_MESSAGE(s->body.find("\"ping\":{\"Error\":\"ping: socket(AF_INET, SOCK_RAW, "
                               "IPPROTO_ICMP): Operation not permitted (raw sockets need "
                               "CAP_NET_RAW)\"}") != std::string::npos,
                  s->body);
    auto r = c.get("/ping/ping/127.0.0.1");
    REQUIRE(r.has_value());
    CHECK(r->status == 404);
    CHECK(d.log().find("error creating module ping: ping: socket(AF_INET, SOCK_RAW") !=
          std::string::npos);
}

TEST_CASE("ping: drop_capabilities keeps CAP_NET_RAW when ping is enabled") {
    rp::nettest::require_root_or_skip();
    Daemon d(opts("ping.enabled = true\nringprobe.drop_capabilities = true\n"));
    REQUIRE(d.ready());
    auto cap_eff = [&] {
        std::ifstream in("/proc/" + std::to_string(d.pid()) + "/status");
        uint64_t eff = 0;
        for (std::string line; std::getline(in, line);)
            if (line.rfind("CapEff:", 0) == 0) eff = std::strtoull(line.c_str() + 7, nullptr, 16);
        return eff;
    };
    // The drop happens right after the socket is bound, so maybe just after ready().
    CHECK(eventually([&] { return (cap_eff() & (1ull << CAP_NET_ADMIN)) == 0; }));
    const uint64_t eff = cap_eff();
    CHECK((eff & (1ull << CAP_NET_RAW)) != 0);
    CHECK((eff & (1ull << CAP_NET_ADMIN)) == 0);
    auto c = d.client();
    auto r = c.get("/ping/ping/127.0.0.1");
    REQUIRE(r.has_value());
    CHECK(decode(r->body).can_connect);
}
