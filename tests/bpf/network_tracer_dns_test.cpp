// network_tracer_dns_test.cpp — network_tracer's DNS statistics against a real DNS server (root).
//
// The test makes a network namespace joined to its own (the daemon's) by a veth pair, runs
// dnsmasq in it serving a test zone (ok.rptest -> 10.9.8.7, anything else under rptest:
// NXDOMAIN), and binds a UDP socket on a second address of that namespace that never answers.
// From the daemon's namespace (the one its packet socket sees) it sends DNS queries it builds
// itself over UDP and TCP, reads the answers, and checks the connections /connections reports:
// counts, rcodes, latency sums, the by-domain stats and their indices into `domains`, the timeout,
// and the `dns` map for a connection to the answered address. Everything is removed at the end.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <protozero/pbf_reader.hpp>
#include <string>
#include <thread>
#include <vector>

#include "modules/proto/messages.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"
#include "support/proto_map.h"

namespace {

using rp::test::DaemonOptions;
using rp::test::run_command;
using rp::test::TestDaemon;
namespace P = rp::proto;
using Clock = std::chrono::steady_clock;

bool eventually(const std::function<bool()>& pred, int seconds = 5) {
    auto end = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

// A namespace with dnsmasq, joined to the test's namespace by a veth pair.
class DnsNet {
  public:
    DnsNet() {
        unsigned k = static_cast<unsigned>(getpid()) % 200 + 20;
        ns = "rpdns" + std::to_string(getpid());
        host_if = "rpdh" + std::to_string(getpid() % 100000);
        host_ip = "10.232." + std::to_string(k) + ".1";
        server_ip = "10.232." + std::to_string(k) + ".2";
        silent_ip = "10.232." + std::to_string(k) + ".3";
        std::string cmds[] = {
            "ip netns add " + ns,
            "ip link add " + host_if + " type veth peer name rpdns netns " + ns,
            "ip addr add " + host_ip + "/24 dev " + host_if,
            "ip link set " + host_if + " up",
            "ip -n " + ns + " link set lo up",
            "ip -n " + ns + " addr add " + server_ip + "/24 dev rpdns",
            "ip -n " + ns + " addr add " + silent_ip + "/24 dev rpdns",
            "ip -n " + ns + " link set rpdns up",
            // The answered address is reachable (through the namespace) for the dns map's test.
            "ip route add 10.9.8.0/24 via " + server_ip,
        };
        for (const auto& c : cmds) {
            auto [rc, out] = run_command(c + " 2>&1");
            if (rc != 0) {
                error = c + ": " + out;
                return;
            }
        }
        auto [rc, path] = run_command("command -v dnsmasq");
        if (rc != 0) {
            error = "dnsmasq is not installed (tools/setup: dnsmasq-base)";
            return;
        }
        while (!path.empty() && (path.back() == '\n')) path.pop_back();
        dnsmasq = ::fork();
        if (dnsmasq == 0) {
            ::execlp("ip", "ip", "netns", "exec", ns.c_str(), path.c_str(), "--keep-in-foreground",
                     "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
                     ("--listen-address=" + server_ip).c_str(), "--except-interface=lo",
                     "--port=53", "--user=root", "--pid-file", "--local=/rptest/",
                     "--address=/ok.rptest/10.9.8.7", "--cache-size=0", nullptr);
            ::_exit(127);
        }
    }
    ~DnsNet() {
        if (dnsmasq > 0) {
            ::kill(dnsmasq, SIGTERM);
            ::waitpid(dnsmasq, nullptr, 0);
        }
        run_command("ip link del " + host_if + " 2>/dev/null");
        run_command("ip netns del " + ns + " 2>/dev/null");
    }
    std::string ns, host_if, host_ip, server_ip, silent_ip, error;
    pid_t dnsmasq = -1;
};

// Runs fn in namespace `ns` on the calling thread, then comes back.
template <typename Fn>
bool in_netns(const std::string& ns, Fn fn) {
    int self = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    bool ok = self >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0;
    if (ok) fn();
    if (self >= 0) {
        if (ok) ::setns(self, CLONE_NEWNET);
        ::close(self);
    }
    if (target >= 0) ::close(target);
    return ok;
}

// A DNS query for `name`, type A, recursion desired.
std::string query(uint16_t id, const std::string& name) {
    std::string q;
    q.push_back(static_cast<char>(id >> 8));
    q.push_back(static_cast<char>(id & 0xff));
    q += std::string("\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
    size_t start = 0;
    while (start <= name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        q.push_back(static_cast<char>(dot - start));
        q += name.substr(start, dot - start);
        start = dot + 1;
    }
    q.push_back('\0');
    q += std::string("\x00\x01\x00\x01", 4);
    return q;
}

struct Sock {
    int fd = -1;
    uint16_t port = 0;
    ~Sock() {
        if (fd >= 0) ::close(fd);
    }
};

// A socket connected to ip:port (its local port read back).
void connect_to(Sock& s, int type, const std::string& ip, uint16_t port) {
    s.fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    REQUIRE(s.fd >= 0);
    timeval tv{2, 0};
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    REQUIRE_MESSAGE(::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0,
                    ip << ": " << std::strerror(errno));
    sockaddr_in l{};
    socklen_t len = sizeof l;
    ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&l), &len);
    s.port = ntohs(l.sin_port);
}

// Sends a query over UDP and returns the response's rcode (-1: no response).
int udp_lookup(Sock& s, uint16_t id, const std::string& name) {
    std::string q = query(id, name);
    REQUIRE(::send(s.fd, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size()));
    char buf[1500];
    ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n < 12) return -1;
    REQUIRE((static_cast<uint8_t>(buf[0]) << 8 | static_cast<uint8_t>(buf[1])) == id);
    return buf[3] & 0xf;
}

int tcp_lookup(Sock& s, uint16_t id, const std::string& name) {
    std::string q = query(id, name);
    std::string m;
    m.push_back(static_cast<char>(q.size() >> 8));
    m.push_back(static_cast<char>(q.size() & 0xff));
    m += q;
    REQUIRE(::send(s.fd, m.data(), m.size(), 0) == static_cast<ssize_t>(m.size()));
    char buf[1500];
    size_t have = 0;
    while (have < 2 + 12) {
        ssize_t n = ::recv(s.fd, buf + have, sizeof buf - have, 0);
        if (n <= 0) return -1;
        have += static_cast<size_t>(n);
    }
    return buf[2 + 3] & 0xf;
}

// ---------------------------------------------------------------------------------------------
// /network_tracer/connections, the DNS parts, from protobuf.

struct Stats {
    uint32_t timeouts = 0;
    uint64_t success_latency = 0, failure_latency = 0;
    std::map<uint32_t, uint32_t> rcodes;
};

struct Conn {
    std::string lip, rip;
    int32_t lport = 0, rport = 0;
    int type = 0;
    uint32_t successes = 0, failures = 0, timeouts = 0;
    uint64_t success_latency = 0, failure_latency = 0;
    std::map<uint32_t, uint32_t> rcodes;
    std::map<int32_t, Stats> by_domain;
};

struct Payload {
    std::vector<Conn> conns;
    std::vector<std::string> domains;
    std::map<std::string, std::vector<std::string>> dns;
    std::map<std::string, int64_t> telemetry;  // connTelemetryMap
    const Conn* one(int32_t lport, int32_t rport, int type) const {
        const Conn* found = nullptr;
        for (const auto& c : conns)
            if (c.type == type && c.lport == lport && c.rport == rport) {
                REQUIRE_MESSAGE(found == nullptr, "connection :" << lport << " reported twice");
                found = &c;
            }
        return found;
    }
};

std::string_view sv(protozero::data_view v) { return {v.data(), v.size()}; }

void decode_addr(std::string_view data, std::string& ip, int32_t& port) {
    protozero::pbf_reader r(data.data(), data.size());
    while (r.next()) {
        if (r.tag() == P::Addr::ip)
            ip = std::string(r.get_view());
        else if (r.tag() == P::Addr::port)
            port = r.get_int32();
        else
            r.skip();
    }
}

std::pair<uint32_t, uint32_t> u32_entry(std::string_view data) {
    protozero::pbf_reader e(data.data(), data.size());
    uint32_t k = 0, v = 0;
    while (e.next()) {
        if (e.tag() == P::MapEntry::key)
            k = e.get_uint32();
        else if (e.tag() == P::MapEntry::value)
            v = e.get_uint32();
        else
            e.skip();
    }
    return {k, v};
}

Stats decode_stats(std::string_view data) {
    Stats s;
    protozero::pbf_reader r(data.data(), data.size());
    while (r.next()) {
        switch (r.tag()) {
            case P::DNSStats::dnsTimeouts:
                s.timeouts = r.get_uint32();
                break;
            case P::DNSStats::dnsSuccessLatencySum:
                s.success_latency = r.get_uint64();
                break;
            case P::DNSStats::dnsFailureLatencySum:
                s.failure_latency = r.get_uint64();
                break;
            case P::DNSStats::dnsCountByRcode: {
                auto [k, v] = u32_entry(sv(r.get_view()));
                s.rcodes[k] += v;
                break;
            }
            default:
                r.skip();
        }
    }
    return s;
}

Conn decode_conn(std::string_view data) {
    namespace C = P::Connection;
    Conn c;
    protozero::pbf_reader r(data.data(), data.size());
    while (r.next()) {
        switch (r.tag()) {
            case C::laddr:
                decode_addr(sv(r.get_view()), c.lip, c.lport);
                break;
            case C::raddr:
                decode_addr(sv(r.get_view()), c.rip, c.rport);
                break;
            case C::type:
                c.type = r.get_enum();
                break;
            case C::dnsSuccessfulResponses:
                c.successes = r.get_uint32();
                break;
            case C::dnsFailedResponses:
                c.failures = r.get_uint32();
                break;
            case C::dnsTimeouts:
                c.timeouts = r.get_uint32();
                break;
            case C::dnsSuccessLatencySum:
                c.success_latency = r.get_uint64();
                break;
            case C::dnsFailureLatencySum:
                c.failure_latency = r.get_uint64();
                break;
            case C::dnsCountByRcode: {
                auto [k, v] = u32_entry(sv(r.get_view()));
                c.rcodes[k] += v;
                break;
            }
            case C::dnsStatsByDomain: {
                auto v = r.get_view();
                protozero::pbf_reader e(v.data(), v.size());
                int32_t k = 0;
                Stats s;
                while (e.next()) {
                    if (e.tag() == P::MapEntry::key)
                        k = e.get_int32();
                    else if (e.tag() == P::MapEntry::value)
                        s = decode_stats(sv(e.get_view()));
                    else
                        e.skip();
                }
                REQUIRE_MESSAGE(!c.by_domain.contains(k), "domain key " << k << " twice");
                c.by_domain[k] = s;
                break;
            }
            default:
                r.skip();
        }
    }
    return c;
}

Payload poll(rp::http::Client& client, const std::string& id) {
    auto r = client.request("GET", "/network_tracer/connections?client_id=" + id, {},
                            {{"Accept", "application/protobuf"}});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error()));
    REQUIRE_MESSAGE(r->status == 200, r->status << " " << r->body);
    Payload p;
    protozero::pbf_reader top(r->body.data(), r->body.size());
    while (top.next()) {
        if (top.tag() == P::Connections::conns) {
            p.conns.push_back(decode_conn(sv(top.get_view())));
        } else if (top.tag() == P::Connections::domains) {
            p.domains.emplace_back(top.get_view());
        } else if (top.tag() == P::Connections::dns) {
            auto v = top.get_view();
            protozero::pbf_reader e(v.data(), v.size());
            std::string k;
            std::vector<std::string> names;
            while (e.next()) {
                if (e.tag() == P::MapEntry::key) {
                    k = std::string(e.get_view());
                } else if (e.tag() == P::MapEntry::value) {
                    auto ev = e.get_view();
                    protozero::pbf_reader n(ev.data(), ev.size());
                    while (n.next())
                        if (n.tag() == P::DNSEntry::names)
                            names.emplace_back(n.get_view());
                        else
                            n.skip();
                } else {
                    e.skip();
                }
            }
            p.dns[k] = names;
        } else if (top.tag() == P::Connections::connTelemetryMap) {
            auto [k, n] = rp::test::string_int64_entry(top.get_view());
            p.telemetry[k] = n;  // a repeated key: the last wins, as protobuf's
        } else {
            top.skip();
        }
    }
    // Every domain index points into `domains`.
    for (const auto& c : p.conns)
        for (const auto& [k, s] : c.by_domain) {
            CHECK(k >= 0);
            CHECK(static_cast<size_t>(k) < p.domains.size());
        }
    return p;
}

uint64_t dns_stat(rp::http::Client& c, const char* key) {
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(r->body).get(doc) == simdjson::SUCCESS);
    uint64_t v = 0;
    bool b = false;
    auto e = doc["network_tracer"]["dns"][key];
    if (e.get_bool().get(b) == simdjson::SUCCESS) return b ? 1 : 0;
    REQUIRE_MESSAGE(e.get_uint64().get(v) == simdjson::SUCCESS, r->body);
    return v;
}

std::string domain_of(const Payload& p, const Conn& c) {
    REQUIRE(c.by_domain.size() == 1);
    int32_t k = c.by_domain.begin()->first;
    REQUIRE(k >= 0);
    REQUIRE(static_cast<size_t>(k) < p.domains.size());
    return p.domains[static_cast<size_t>(k)];
}

constexpr int kUdp = P::ConnectionType::udp;
constexpr int kTcp = P::ConnectionType::tcp;

}  // namespace

TEST_CASE("network_tracer: DNS stats against dnsmasq — success, NXDOMAIN, TCP, a timeout") {
    rp::test::require_bpf_or_skip();
    DnsNet net;
    rp::test::skip_unless(net.error);
    // The silent server: bound on port 53 in the namespace, never answers.
    int silent = -1;
    REQUIRE(in_netns(net.ns, [&] {
        silent = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(53);
        ::inet_pton(AF_INET, net.silent_ip.c_str(), &a.sin_addr);
        REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    }));
    // dnsmasq answers (before the daemon starts: these lookups are not part of the test).
    REQUIRE_MESSAGE(eventually([&] {
                        Sock s;
                        connect_to(s, SOCK_DGRAM, net.server_ip, 53);
                        return udp_lookup(s, 1, "ok.rptest") == 0;
                    }),
                    "dnsmasq does not answer on " << net.server_ip);

    DaemonOptions o;
    o.toml =
        "[system_probe_config]\ndns_timeout_in_s = 1\n"
        "[network_config]\nenabled = true\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    poll(client, "c1");

    Sock ok, nx, silent_c, tcp, to_answer;
    connect_to(ok, SOCK_DGRAM, net.server_ip, 53);
    CHECK(udp_lookup(ok, 0x1111, "ok.rptest") == 0);
    CHECK(udp_lookup(ok, 0x2222, "OK.rptest") == 0);  // case folded: one domain
    connect_to(nx, SOCK_DGRAM, net.server_ip, 53);
    CHECK(udp_lookup(nx, 0x3333, "missing.rptest") == 3);
    connect_to(tcp, SOCK_STREAM, net.server_ip, 53);
    CHECK(tcp_lookup(tcp, 0x4444, "ok.rptest") == 0);
    connect_to(silent_c, SOCK_DGRAM, net.silent_ip, 53);
    {
        std::string q = query(0x5555, "ok.rptest");
        REQUIRE(::send(silent_c.fd, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size()));
    }
    // A connection to the answered address: the payload's dns map names it.
    connect_to(to_answer, SOCK_DGRAM, "10.9.8.7", 9);
    REQUIRE(::send(to_answer.fd, "x", 1, 0) == 1);
    // The query to the silent server times out after dns_timeout_in_s (1 s).
    REQUIRE(eventually([&] { return dns_stat(client, "timeouts") >= 1; }));

    Payload p = poll(client, "c1");
    const Conn* c = p.one(ok.port, 53, kUdp);
    REQUIRE_MESSAGE(c != nullptr, "UDP :" << ok.port << " -> :53 not reported");
    CHECK(c->successes == 2);
    CHECK(c->failures == 0);
    CHECK(c->timeouts == 0);
    CHECK(c->rcodes == std::map<uint32_t, uint32_t>{{0, 2}});
    CHECK(c->success_latency > 0);
    CHECK(c->failure_latency == 0);
    CHECK(domain_of(p, *c) == "ok.rptest");
    CHECK(c->by_domain.begin()->second.rcodes == std::map<uint32_t, uint32_t>{{0, 2}});
    CHECK(c->by_domain.begin()->second.success_latency == c->success_latency);

    const Conn* n = p.one(nx.port, 53, kUdp);
    REQUIRE(n != nullptr);
    CHECK(n->successes == 0);
    CHECK(n->failures == 1);
    CHECK(n->rcodes == std::map<uint32_t, uint32_t>{{3, 1}});
    CHECK(n->failure_latency > 0);
    CHECK(n->success_latency == 0);
    CHECK(domain_of(p, *n) == "missing.rptest");

    const Conn* t = p.one(tcp.port, 53, kTcp);
    REQUIRE(t != nullptr);
    CHECK(t->successes == 1);
    CHECK(t->rcodes == std::map<uint32_t, uint32_t>{{0, 1}});
    CHECK(t->success_latency > 0);
    CHECK(domain_of(p, *t) == "ok.rptest");

    const Conn* s = p.one(silent_c.port, 53, kUdp);
    REQUIRE(s != nullptr);
    CHECK(s->timeouts == 1);
    CHECK(s->successes == 0);
    CHECK(s->failures == 0);
    CHECK(s->rcodes.empty());
    CHECK(domain_of(p, *s) == "ok.rptest");
    CHECK(s->by_domain.begin()->second.timeouts == 1);

    // Each domain once in `domains`.
    std::map<std::string, int> seen;
    for (const auto& dname : p.domains) CHECK(++seen[dname] == 1);
    CHECK(seen.contains("ok.rptest"));
    CHECK(seen.contains("missing.rptest"));
    REQUIRE(p.one(to_answer.port, 9, kUdp) != nullptr);
    CHECK(p.dns["10.9.8.7"] == std::vector<std::string>{"ok.rptest"});
    // connTelemetryMap (upstream's keys): the DNS packets read since this client's last poll —
    // at least the queries and answers above (2 + 1 + 1 + 1 UDP queries, their 4 answers, the
    // TCP exchange); none dropped.
    CHECK(p.telemetry["dns_packets_processed"] >= 9);
    CHECK(p.telemetry.count("dns_packets_dropped") == 1);
    CHECK(p.telemetry["dns_packets_dropped"] == 0);
    CHECK(p.telemetry.count("dns_stats_dropped") == 1);

    // The stats were the client's: the next poll has none for these connections.
    Payload p2 = poll(client, "c1");
    for (const auto& cc : p2.conns) {
        if (cc.rport != 53) continue;
        CHECK(cc.successes == 0);
        CHECK(cc.by_domain.empty());
    }

    // JSON: the same fields, as gogo jsonpb writes them.
    CHECK(udp_lookup(ok, 0x6666, "ok.rptest") == 0);
    REQUIRE(::send(to_answer.fd, "y", 1, 0) == 1);  // reported again: its address in `dns`
    auto r = client.get("/network_tracer/connections?client_id=c1");
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(r->body).get(doc) == simdjson::SUCCESS);
    bool found = false;
    simdjson::dom::array domains = doc["domains"].get_array();
    for (auto conn : doc["conns"].get_array()) {
        if (int64_t(conn["laddr"]["port"]) != ok.port || int64_t(conn["raddr"]["port"]) != 53)
            continue;
        found = true;
        CHECK(uint64_t(conn["dnsSuccessfulResponses"]) == 1);
        CHECK(uint64_t(conn["dnsCountByRcode"]["0"]) == 1);
        CHECK(std::string_view(conn["dnsSuccessLatencySum"]) != "0");
        for (auto [k, v] : conn["dnsStatsByDomain"].get_object()) {
            size_t idx = std::stoul(std::string(k));
            REQUIRE(idx < domains.size());
            CHECK(std::string_view(domains.at(idx)) == "ok.rptest");
            CHECK(uint64_t(v["dnsCountByRcode"]["0"]) == 1);
        }
    }
    CHECK(found);
    CHECK(std::string_view(doc["dns"]["10.9.8.7"]["names"].at(0)) == "ok.rptest");
    // The same counts in /metrics.
    auto m = client.get("/metrics");
    REQUIRE(m.has_value());
    for (const char* line :
         {"ringprobe_network_tracer_dns_timeouts_total 1",
          "ringprobe_network_tracer_dns_packets_total{kind=\"failure\"} 1",
          "ringprobe_network_tracer_dropped_total{reason=\"dns_pending_full\"} 0"})
        CHECK_MESSAGE(m->body.find(line) != std::string::npos, line);
    ::close(silent);
}

// The packet sockets: one for every received packet (PACKET_IGNORE_OUTGOING), one tap per other
// interface for what the host sends. An interface made after the start gets its tap from the
// rtnetlink event, each packet is counted once (the query by the tap, the response by the
// received-packet socket), and the tap closes with its interface.
TEST_CASE("network_tracer: DNS on an interface made after the start, each packet once") {
    rp::test::require_bpf_or_skip();
    DaemonOptions o;
    o.toml = "[network_config]\nenabled = true\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    CHECK(dns_stat(client, "ignore_outgoing") == 1);
    uint64_t opened = dns_stat(client, "taps_opened");
    uint64_t closed = dns_stat(client, "taps_closed");
    CHECK(dns_stat(client, "taps") == opened - closed);
    poll(client, "c1");
    std::optional<DnsNet> net;
    net.emplace();
    rp::test::skip_unless(net->error);
    // Its tap opens on the interface's RTM_NEWLINK (the veth end here is one more interface).
    REQUIRE_MESSAGE(eventually([&] { return dns_stat(client, "taps_opened") >= opened + 1; }),
                    d.log());
    REQUIRE_MESSAGE(eventually([&] {
                        Sock s;
                        connect_to(s, SOCK_DGRAM, net->server_ip, 53);
                        return udp_lookup(s, 1, "ok.rptest") == 0;
                    }),
                    "dnsmasq does not answer on " << net->server_ip);
    // A poll reads every socket first (reads are otherwise coalesced, up to 100 ms late): the
    // warm-up's packets are counted before the baseline, the lookup's before the checks.
    poll(client, "c1");
    uint64_t queries = dns_stat(client, "queries");
    uint64_t successes = dns_stat(client, "successful_responses");
    uint64_t unmatched = dns_stat(client, "unmatched_responses");
    Sock ok;
    connect_to(ok, SOCK_DGRAM, net->server_ip, 53);
    CHECK(udp_lookup(ok, 0x7777, "ok.rptest") == 0);
    Payload p = poll(client, "c1");
    CHECK(dns_stat(client, "queries") == queries + 1);
    CHECK(dns_stat(client, "successful_responses") == successes + 1);
    CHECK(dns_stat(client, "duplicate_queries") == 0);
    CHECK(dns_stat(client, "unmatched_responses") == unmatched);
    const Conn* c = p.one(ok.port, 53, kUdp);
    REQUIRE_MESSAGE(c != nullptr, "UDP :" << ok.port << " -> :53 not reported");
    CHECK(c->successes == 1);
    CHECK(c->success_latency > 0);
    CHECK(domain_of(p, *c) == "ok.rptest");
    // The interface goes: its tap with it (RTM_DELLINK, or the socket's ENETDOWN).
    uint64_t closed_before = dns_stat(client, "taps_closed");
    net.reset();
    CHECK(eventually([&] { return dns_stat(client, "taps_closed") >= closed_before + 1; }));
    CHECK(dns_stat(client, "taps") ==
          dns_stat(client, "taps_opened") - dns_stat(client, "taps_closed"));
    CHECK(dns_stat(client, "read_errors") == 0);
}
