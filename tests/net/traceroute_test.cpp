// traceroute_test.cpp — the traceroute module against the real kernel (root: raw sockets,
// namespaces).
//
// A chain of namespaces made by the test (client — router — server, forwarding on, addresses only
// there); the daemon runs inside the client namespace (`ip netns exec`), so every probe starts
// there. For UDP, TCP SYN and ICMP: the hops come back in order with the router's address, then
// the destination's, reachable; hop_count and the e2e probes as the Agent's payload.NetworkPath
// has them. Also: two routers (three hops), an open and a closed TCP port, a destination that
// never answers (hops up to max_ttl, the timeout honoured), bad parameters (400), a client that
// leaves (the traceroute stops, its sockets close), errors (500), reverse DNS from /etc/hosts.
#include <doctest/doctest.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <initializer_list>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

struct Hop {
    int64_t ttl = 0;
    std::string ip;
    bool has_rtt = false;
    double rtt = 0;
    bool reachable = false;
    std::vector<std::string> reverse_dns;
};
struct Run {
    std::string run_id, src_ip, dst_ip;
    uint64_t src_port = 0, dst_port = 0;
    std::vector<std::string> dst_reverse_dns;
    std::vector<Hop> hops;
};
struct Path {
    int64_t timestamp = 0;
    std::string protocol, test_run_id, dest_hostname, source_hostname;
    uint64_t dest_port = 0;
    std::vector<Run> runs;
    double hop_avg = -1;
    int64_t hop_min = -1, hop_max = -1;
    std::vector<double> e2e_rtts;
    bool e2e_rtts_null = false;
    int64_t e2e_sent = -1, e2e_received = -1;
    double e2e_loss = -1, e2e_jitter = -1, e2e_avg = -1, e2e_min = -1, e2e_max = -1;
};

std::string str(simdjson::dom::element e, std::string_view key) {
    std::string_view v;
    REQUIRE_MESSAGE(e[key].get_string().get(v) == simdjson::SUCCESS, key);
    return std::string(v);
}
std::vector<std::string> strs(simdjson::dom::object o, std::string_view key) {
    std::vector<std::string> out;
    simdjson::dom::array a;
    if (o[key].get_array().get(a) != simdjson::SUCCESS) return out;
    for (auto v : a) out.emplace_back(std::string_view(v.get_string().value()));
    return out;
}

// Decodes the body with the JSON types of payload.NetworkPath's Go fields.
Path decode(const std::string& body) {
    simdjson::dom::parser p;
    simdjson::dom::element root;
    REQUIRE_MESSAGE(p.parse(body).get(root) == simdjson::SUCCESS, body);
    Path out;
    INFO(body);
    REQUIRE(root["timestamp"].get_int64().get(out.timestamp) == simdjson::SUCCESS);
    for (auto k : {"agent_version", "namespace", "test_config_id", "test_result_id", "origin",
                   "test_run_type", "source_product", "collector_type"})
        (void)str(root, k);
    out.protocol = str(root, "protocol");
    out.test_run_id = str(root, "test_run_id");
    out.source_hostname = str(root["source"], "hostname");
    (void)str(root["source"], "name");
    (void)str(root["source"], "display_name");
    out.dest_hostname = str(root["destination"], "hostname");
    REQUIRE(root["destination"]["port"].get_uint64().get(out.dest_port) == simdjson::SUCCESS);
    simdjson::dom::array runs;
    REQUIRE(root["traceroute"]["runs"].get_array().get(runs) == simdjson::SUCCESS);
    for (auto re : runs) {
        Run r;
        r.run_id = str(re, "run_id");
        r.src_ip = str(re["source"], "ip_address");
        r.dst_ip = str(re["destination"], "ip_address");
        REQUIRE(re["source"]["port"].get_uint64().get(r.src_port) == simdjson::SUCCESS);
        REQUIRE(re["destination"]["port"].get_uint64().get(r.dst_port) == simdjson::SUCCESS);
        r.dst_reverse_dns = strs(re["destination"].get_object().value(), "reverse_dns");
        simdjson::dom::array hops;
        REQUIRE(re["hops"].get_array().get(hops) == simdjson::SUCCESS);
        for (auto he : hops) {
            Hop h;
            simdjson::dom::object ho = he.get_object().value();
            REQUIRE(ho["ttl"].get_int64().get(h.ttl) == simdjson::SUCCESS);
            h.ip = str(he, "ip_address");
            h.has_rtt = ho["rtt"].get_double().get(h.rtt) == simdjson::SUCCESS;
            REQUIRE(ho["reachable"].get_bool().get(h.reachable) == simdjson::SUCCESS);
            h.reverse_dns = strs(ho, "reverse_dns");
            r.hops.push_back(h);
        }
        out.runs.push_back(r);
    }
    auto hc = root["traceroute"]["hop_count"];
    REQUIRE(hc["avg"].get_double().get(out.hop_avg) == simdjson::SUCCESS);
    REQUIRE(hc["min"].get_int64().get(out.hop_min) == simdjson::SUCCESS);
    REQUIRE(hc["max"].get_int64().get(out.hop_max) == simdjson::SUCCESS);
    auto e2e = root["e2e_probe"];
    simdjson::dom::array rtts;
    if (e2e["rtts"].is_null()) {
        out.e2e_rtts_null = true;
    } else {
        REQUIRE(e2e["rtts"].get_array().get(rtts) == simdjson::SUCCESS);
        for (auto v : rtts) out.e2e_rtts.push_back(v.get_double().value());
    }
    REQUIRE(e2e["packets_sent"].get_int64().get(out.e2e_sent) == simdjson::SUCCESS);
    REQUIRE(e2e["packets_received"].get_int64().get(out.e2e_received) == simdjson::SUCCESS);
    REQUIRE(e2e["packet_loss_percentage"].get_double().get(out.e2e_loss) == simdjson::SUCCESS);
    REQUIRE(e2e["jitter"].get_double().get(out.e2e_jitter) == simdjson::SUCCESS);
    REQUIRE(e2e["rtt"]["avg"].get_double().get(out.e2e_avg) == simdjson::SUCCESS);
    REQUIRE(e2e["rtt"]["min"].get_double().get(out.e2e_min) == simdjson::SUCCESS);
    REQUIRE(e2e["rtt"]["max"].get_double().get(out.e2e_max) == simdjson::SUCCESS);
    return out;
}

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

template <typename F>
bool eventually(F pred, std::chrono::milliseconds limit = 3000ms) {
    auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

// A daemon with traceroute enabled running inside the chain's client namespace.
struct Fixture {
    explicit Fixture(int routers = 1, std::string extra = "") : chain(routers) {
        REQUIRE_MESSAGE(chain.ok(), chain.error());
        DaemonOptions o = opts("traceroute.enabled = true\n" + extra);
        o.wrapper = chain.exec_in_client();
        daemon = std::make_unique<Daemon>(o);
        REQUIRE(daemon->ready());
    }
    // GET and decode; also returns the time it took.
    Path trace(const std::string& query, std::chrono::microseconds* took = nullptr,
               std::string host = "") {
        auto c = daemon->client();
        auto t0 = Clock::now();
        auto r = c.get("/traceroute/traceroute/" + (host.empty() ? chain.server_addr : host) + "?" +
                       query);
        if (took) *took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
        REQUIRE_MESSAGE(r.has_value(), r.error());
        REQUIRE_MESSAGE(r->status == 200, query, " -> ", r->status, " ", r->body, "\n",
                        daemon->log());
        CHECK(r->header("content-type") == "application/json");
        CHECK(r->body.back() == '}');  // json.Marshal: no newline
        return decode(r->body);
    }
    rp::nettest::Chain chain;
    std::unique_ptr<Daemon> daemon;
};

// Every run: the routers' addresses in order, then the destination; all reachable with an RTT.
void check_path(const Path& p, const rp::nettest::Chain& chain, size_t runs,
                const std::string& protocol) {
    INFO(protocol);
    CHECK(p.protocol == protocol);
    CHECK(p.test_run_id.size() == 36);
    CHECK(p.dest_hostname == chain.server_addr);
    REQUIRE(p.runs.size() == runs);
    const size_t hops = chain.router_addrs.size() + 1;
    std::set<std::string> run_ids;
    std::set<uint64_t> ports;
    for (const auto& r : p.runs) {
        run_ids.insert(r.run_id);
        ports.insert(r.src_port);
        CHECK(r.src_ip == chain.client_addr);
        CHECK(r.dst_ip == chain.server_addr);
        REQUIRE(r.hops.size() == hops);
        for (size_t i = 0; i < hops; ++i) {
            const Hop& h = r.hops[i];
            INFO("hop ", i + 1);
            CHECK(h.ttl == int64_t(i + 1));
            CHECK(h.ip == (i + 1 < hops ? chain.router_addrs[i] : chain.server_addr));
            CHECK(h.reachable);
            CHECK(h.has_rtt);
            CHECK(h.rtt > 0);
            CHECK(h.rtt < 1000);  // milliseconds
        }
    }
    CHECK(run_ids.size() == runs);
    if (protocol != "ICMP") CHECK(ports.size() == runs);  // one source port per run
    CHECK(p.hop_avg == double(hops));
    CHECK(p.hop_min == int64_t(hops));
    CHECK(p.hop_max == int64_t(hops));
}

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

TEST_CASE(
    "traceroute: UDP, TCP SYN and ICMP through a router: hops in order, destination reached") {
    rp::nettest::require_root_or_skip();
    Fixture f;
    for (const std::string proto : {"UDP", "TCP", "ICMP"}) {
        std::chrono::microseconds took;
        Path p = f.trace(
            "protocol=" + proto + "&traceroute_queries=3&max_ttl=10&timeout=1000000000", &took);
        check_path(p, f.chain, 3, proto);
        for (const auto& r : p.runs) CHECK(r.dst_port == (proto == "ICMP" ? 0u : 33434u));
        CHECK(p.dest_port == 0);  // the request named no port (payload: cfg.DestPort)
        CHECK(p.e2e_rtts_null);   // no e2e_queries
        CHECK(p.e2e_sent == 0);
        // Done once the destination and the router answered: well before the 1 s timeout.
        CHECK(took < 900ms);
        MESSAGE(proto, " traceroute through 1 router (2 hops, 3 runs): ", took.count() / 1000.0,
                " ms");
    }
    auto c = f.daemon->client();
    CHECK(stat(c, {"traceroute", "destination_reached"}) == 3);
    CHECK(stat(c, {"traceroute", "in_flight"}) == 0);
    auto m = c.get("/metrics");
    REQUIRE(m.has_value());
    CHECK(m->body.find("ringprobe_traceroute_requests_total{outcome=\"reached\"} 3") !=
          std::string::npos);
    CHECK(m->body.find("ringprobe_traceroute_duration_seconds_count 3") != std::string::npos);
}

TEST_CASE("traceroute: three hops (two routers), each protocol, timed") {
    rp::nettest::require_root_or_skip();
    Fixture f(2);
    for (const std::string proto : {"UDP", "TCP", "ICMP"}) {
        std::chrono::microseconds took;
        Path p = f.trace("protocol=" + proto + "&traceroute_queries=1&max_ttl=30", &took);
        check_path(p, f.chain, 1, proto);
        CHECK(took < 900ms);
        MESSAGE(proto, " three-hop traceroute (1 run, defaults otherwise): ", took.count() / 1000.0,
                " ms");
    }
}

TEST_CASE("traceroute: an open and a closed TCP port both reach the destination") {
    rp::nettest::require_root_or_skip();
    Fixture f;
    rp::nettest::Listener listener(f.chain.server_ns, 8080);
    REQUIRE(listener.ok());
    Path open = f.trace("protocol=TCP&port=8080&traceroute_queries=2");  // SYN-ACK
    check_path(open, f.chain, 2, "TCP");
    CHECK(open.dest_port == 8080);
    for (const auto& r : open.runs) CHECK(r.dst_port == 8080);
    // datadog-traceroute's "host:port" form names the port too.
    Path hostport =
        f.trace("protocol=TCP&traceroute_queries=1", nullptr, f.chain.server_addr + ":8080");
    REQUIRE(hostport.runs.size() == 1);
    CHECK(hostport.runs[0].dst_port == 8080);
    CHECK(hostport.runs[0].hops.back().ip == f.chain.server_addr);
    CHECK(hostport.dest_hostname == f.chain.server_addr + ":8080");
    Path closed = f.trace("protocol=TCP&port=8081&traceroute_queries=2");  // RST
    check_path(closed, f.chain, 2, "TCP");
    // Paris mode: one sequence number per run.
    Path paris = f.trace("protocol=TCP&port=8081&tcp_syn_paris_traceroute_mode=true");
    check_path(paris, f.chain, 3, "TCP");
    // A closed UDP port (the default, 33434) answers Port Unreachable: the destination.
    Path udp = f.trace("protocol=udp&port=33999&traceroute_queries=1");
    check_path(udp, f.chain, 1, "UDP");
    CHECK(udp.dest_port == 33999);
}

TEST_CASE("traceroute: e2e probes measure the destination's RTT") {
    rp::nettest::require_root_or_skip();
    Fixture f;
    for (const std::string proto : {"UDP", "TCP", "ICMP"}) {
        std::chrono::microseconds took;
        // 4 probes spread over max_ttl * timeout = 300 ms: 75 ms apart.
        Path p = f.trace("protocol=" + proto + "&traceroute_queries=1&max_ttl=3&timeout=100000000" +
                             "&e2e_queries=4",
                         &took);
        INFO(proto);
        check_path(p, f.chain, 1, proto);
        CHECK(p.e2e_sent == 4);
        CHECK(p.e2e_received == 4);
        REQUIRE(p.e2e_rtts.size() == 4);
        for (double r : p.e2e_rtts) {
            CHECK(r > 0);
            CHECK(r < 100);
        }
        CHECK(p.e2e_loss == 0);
        CHECK(p.e2e_min <= p.e2e_avg);
        CHECK(p.e2e_avg <= p.e2e_max);
        CHECK(p.e2e_jitter >= 0);
        CHECK(p.e2e_jitter <= p.e2e_max - p.e2e_min);
        CHECK(took >= 200ms);  // the last probe leaves 3 * 75 ms after the first
        CHECK(took < 1500ms);
    }
}

TEST_CASE("traceroute: a destination that never answers: hops up to max_ttl, then the timeout") {
    rp::nettest::require_root_or_skip();
    Fixture f;
    for (const std::string proto : {"UDP", "TCP", "ICMP"}) {
        std::chrono::microseconds took;
        Path p = f.trace("protocol=" + proto + "&traceroute_queries=1&max_ttl=4&timeout=200000000" +
                             "&e2e_queries=2",
                         &took, f.chain.server_link_unused);
        INFO(proto);
        REQUIRE(p.runs.size() == 1);
        const Run& r = p.runs[0];
        REQUIRE(r.hops.size() == 4);
        CHECK(r.hops[0].ip == f.chain.router_addrs[0]);
        CHECK(r.hops[0].reachable);
        for (size_t i = 1; i < 4; ++i) {
            CHECK(r.hops[i].ttl == int64_t(i + 1));
            CHECK(r.hops[i].ip == "");  // net.IP(nil) marshals as ""
            CHECK_FALSE(r.hops[i].reachable);
            CHECK_FALSE(r.hops[i].has_rtt);  // rtt,omitempty
        }
        // The last hop with an address is the router's.
        CHECK(p.hop_avg == 1);
        CHECK(p.hop_min == 1);
        CHECK(p.hop_max == 1);
        CHECK(p.e2e_sent == 2);
        CHECK(p.e2e_received == 0);
        CHECK(p.e2e_loss == 1);  // a fraction, as datadog-traceroute computes it
        CHECK(p.e2e_rtts == std::vector<double>{0, 0});
        // UDP, ICMP: 200 ms + 4 * 50 ms of sending; TCP: 4 hops of 200 ms each.
        CHECK(took >= 350ms);
        CHECK(took < 3000ms);
    }
}

TEST_CASE("traceroute: bad parameters get 400 with the reason") {
    rp::nettest::require_root_or_skip();
    Fixture f;
    auto c = f.daemon->client();
    const std::string host = f.chain.server_addr;
    const std::pair<std::string, std::string> cases[] = {
        {"port=70000", "invalid port: strconv.ParseUint: parsing \"70000\": value out of range"},
        {"max_ttl=256", "invalid max_ttl: strconv.ParseUint: parsing \"256\": value out of range"},
        {"timeout=1s", "invalid timeout: strconv.ParseUint: parsing \"1s\": invalid syntax"},
        {"traceroute_queries=-1",
         "invalid traceroute_queries: strconv.ParseUint: parsing \"-1\": invalid syntax"},
        {"traceroute_queries=11", "invalid traceroute_queries: 11 is more than 10"},
        {"e2e_queries=1001", "invalid e2e_queries: 1001 is more than 1000"},
        {"protocol=sctp", "unknown protocol \"sctp\" (UDP, TCP or ICMP)"},
        {"protocol=TCP&tcp_method=sack",
         "tcp_method \"sack\" is not supported (syn; prefer_sack runs syn)"},
        {"timeout=600000000001", "invalid timeout: 600000000001 ns is more than 10 minutes"},
    };
    for (const auto& [query, reason] : cases) {
        auto r = c.get("/traceroute/traceroute/" + host + "?" + query);
        REQUIRE(r.has_value());
        INFO(query, " -> ", r->status, " ", r->body);
        CHECK(r->status == 400);
        CHECK(r->body == "invalid params for host: " + host + ": " + reason);
    }
    auto v6 = c.get("/traceroute/traceroute/::1");
    REQUIRE(v6.has_value());
    CHECK(v6->status == 400);
    CHECK(v6->body.find("IPv6 traceroute is not supported") != std::string::npos);
    CHECK(stat(c, {"traceroute", "bad_requests"}) == 10);
    // prefer_sack runs a SYN traceroute.
    check_path(f.trace("protocol=TCP&tcp_method=prefer_sack&traceroute_queries=1"), f.chain, 1,
               "TCP");
}

TEST_CASE("traceroute: a client that leaves stops the traceroute and its sockets are closed") {
    rp::nettest::require_root_or_skip();
    Fixture f;
    auto c = f.daemon->client();
    REQUIRE(c.get("/debug/stats").has_value());
    const int base_fds = rp::nettest::count_fds(f.daemon->pid());
    // TCP, serial: 30 hops of up to 5 s each toward an address nobody holds.
    int fd = send_raw(*f.daemon, "/traceroute/traceroute/" + f.chain.server_link_unused +
                                     "?protocol=TCP&timeout=5000000000&traceroute_queries=3");
    REQUIRE(eventually([&] { return stat(c, {"traceroute", "in_flight"}) == 1; }));
    // The connection, the send, ICMP and TCP raw sockets, and a reserved port per run.
    CHECK(rp::nettest::count_fds(f.daemon->pid()) == base_fds + 1 + 3 + 3);
    ::close(fd);
    auto t0 = Clock::now();
    CHECK(eventually([&] { return stat(c, {"traceroute", "in_flight"}) == 0; }, 2000ms));
    CHECK(Clock::now() - t0 < 1000ms);
    CHECK(stat(c, {"traceroute", "cancelled"}) == 1);
    CHECK(eventually([&] { return rp::nettest::count_fds(f.daemon->pid()) == base_fds; }));
}

TEST_CASE("traceroute: no route, an unknown host name, and no CAP_NET_RAW") {
    rp::nettest::require_root_or_skip();
    rp::nettest::LoneNamespace ns;
    REQUIRE_MESSAGE(ns.ok(), ns.error());
    DaemonOptions o = opts("traceroute.enabled = true\n");
    o.wrapper = ns.exec_in();
    Daemon d(o);
    REQUIRE(d.ready());
    auto c = d.client();
    auto r = c.get("/traceroute/traceroute/198.51.100.7");
    REQUIRE(r.has_value());
    CHECK(r->status == 500);
    CHECK(r->body ==
          "unable to run traceroute for host: 198.51.100.7: no route to 198.51.100.7: "
          "connect: Network is unreachable");
    // Nothing leaves the namespace: the lookup fails without any DNS server to ask.
    r = c.get("/traceroute/traceroute/no-such-host.invalid");
    REQUIRE(r.has_value());
    CHECK(r->status == 500);
    CHECK_MESSAGE(r->body.starts_with("unable to run traceroute for host: no-such-host.invalid: "
                                      "lookup no-such-host.invalid: "),
                  r->body);
    CHECK(stat(c, {"traceroute", "failed"}) == 2);

    REQUIRE(::access("/usr/bin/setpriv", X_OK) == 0);
    DaemonOptions o2 = opts(
        "traceroute.enabled = true\nsystem_probe_config.process_config."
        "enabled = true\n");
    o2.wrapper = {"/usr/bin/setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"};
    Daemon d2(o2);
    REQUIRE(d2.ready());
    auto c2 = d2.client();
    auto s = c2.get("/debug/stats");
    REQUIRE(s.has_value());
    CHECK_MESSAGE(s->body.find("\"traceroute\":{\"Error\":\"traceroute: socket(AF_INET, SOCK_RAW, "
                               "IPPROTO_RAW): Operation not permitted (raw sockets need "
                               "CAP_NET_RAW)\"}") != std::string::npos,
                  s->body);
}

TEST_CASE("traceroute: reverse_dns=true names the hops from /etc/hosts") {
    rp::nettest::require_root_or_skip();
    Daemon d(opts("traceroute.enabled = true\n"));
    REQUIRE(d.ready());
    auto c = d.client();
    for (const std::string proto : {"UDP", "TCP", "ICMP"}) {
        auto r = c.get(
            "/traceroute/traceroute/127.0.0.1?reverse_dns=true&traceroute_queries=1&"
            "protocol=" +
            proto);
        REQUIRE(r.has_value());
        REQUIRE_MESSAGE(r->status == 200, r->body);
        Path p = decode(r->body);
        REQUIRE(p.runs.size() == 1);
        REQUIRE(p.runs[0].hops.size() == 1);
        CHECK(p.runs[0].hops[0].ip == "127.0.0.1");
        // Absolute, as Go's LookupAddr returns names (and datadog-traceroute passes them on).
        CHECK(p.runs[0].hops[0].reverse_dns == std::vector<std::string>{"localhost."});
        CHECK(p.runs[0].dst_reverse_dns == std::vector<std::string>{"localhost."});
    }
    // One lookup, then the cache (10 minutes, as datadog-traceroute's).
    CHECK(stat(c, {"traceroute", "resolver", "reverse_lookups"}) == 1);
    CHECK(stat(c, {"traceroute", "resolver", "reverse_cache_hits"}) == 2);
    // Without it: no reverse_dns key at all (omitempty).
    auto r = c.get("/traceroute/traceroute/localhost?traceroute_queries=1");
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    CHECK(r->body.find("reverse_dns") == std::string::npos);
    Path p = decode(r->body);
    CHECK(p.dest_hostname == "localhost");
    CHECK(p.runs[0].dst_ip == "127.0.0.1");
}
