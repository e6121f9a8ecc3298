// network_tracer_conntrack_test.cpp — network_tracer's NAT translations (conntrack over netlink)
// against the real kernel (root).
//
// Two network namespaces joined by a veth pair: A (the clients) and B (a TCP echo server on
// <B>:8080). An nft rule in A DNATs <subnet>.100:80 to <B>:8080. One client connects through the
// virtual address before the daemon starts (its translation comes from the initial dump), one
// after (from a NEW event), one straight to the server (no NAT). Each connection's ipTranslation
// must be the exact reply tuple of its conntrack entry; the direct one and the server's ends
// (namespace B, no NAT there) have none. Read in JSON and in protobuf, as the process-agent does.
// Namespaces, rules and processes are removed by the test.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <protozero/pbf_reader.hpp>
#include <string>
#include <thread>

#include "modules/proto/messages.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"

namespace {

using rp::test::DaemonOptions;
using rp::test::run_command;
using rp::test::TestDaemon;
namespace P = rp::proto;
using Clock = std::chrono::steady_clock;

constexpr const char* kServer = R"(
import socket, sys, threading
l = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 8080))
l.listen(64)
print("ready", flush=True)
def echo(c):
    while True:
        d = c.recv(100)
        if not d:
            break
        c.sendall(d)
    c.close()
while True:
    c, _ = l.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
)";

// Connects, exchanges 5 bytes, prints its local port; then one byte each way per input line.
constexpr const char* kClient = R"(
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"hello")
s.recv(5)
print(s.getsockname()[1], flush=True)
for line in sys.stdin:
    s.sendall(b"x")
    s.recv(1)
    print("ok", flush=True)
)";

// A child process in a namespace with pipes to its stdin and from its stdout.
class Proc {
  public:
    Proc(const std::string& ns, const char* script, std::vector<std::string> args) {
        int in[2], out[2];
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(in[0], 0);
            ::dup2(out[1], 1);
            std::vector<std::string> argv{"/usr/sbin/ip", "netns", "exec", ns,
                                          "python3",      "-c",    script};
            for (auto& a : args) argv.push_back(a);
            std::vector<char*> p;
            for (auto& a : argv) p.push_back(a.data());
            p.push_back(nullptr);
            ::execv(p[0], p.data());
            ::_exit(127);
        }
        ::close(in[0]);
        ::close(out[1]);
        in_ = in[1];
        out_ = out[0];
    }
    ~Proc() {
        if (in_ >= 0) ::close(in_);
        if (out_ >= 0) ::close(out_);
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    // One line of its output ("" at its end).
    std::string line() {
        std::string s;
        char c;
        while (::read(out_, &c, 1) == 1 && c != '\n') s += c;
        return s;
    }
    bool say() { return ::write(in_, "\n", 1) == 1; }

  private:
    pid_t pid_ = -1;
    int in_ = -1, out_ = -1;
};

struct Net {
    Net() {
        unsigned k = static_cast<unsigned>(getpid()) % 200 + 20;
        a = "rpct" + std::to_string(getpid()) + "a";
        b = "rpct" + std::to_string(getpid()) + "b";
        std::string net = "10.233." + std::to_string(k);
        ip_a = net + ".1";
        ip_b = net + ".2";
        vip = net + ".100";
        std::string net6 = "fd00:233:" + std::to_string(k) + "::";
        ip6_a = net6 + "1";
        ip6_b = net6 + "2";
        vip6 = net6 + "100";
        std::string cmds[] = {
            "ip netns add " + a,
            "ip netns add " + b,
            "ip link add rpcta netns " + a + " type veth peer name rpctb netns " + b,
            "ip -n " + a + " link set lo up",
            "ip -n " + b + " link set lo up",
            "ip -n " + a + " addr add " + ip_a + "/24 dev rpcta",
            "ip -n " + b + " addr add " + ip_b + "/24 dev rpctb",
            "ip -n " + a + " link set rpcta up",
            "ip -n " + b + " link set rpctb up",
            "ip netns exec " + a + " nft add table ip rpct",
            "ip netns exec " + a +
                " nft add chain ip rpct out '{ type nat hook output priority -100; }'",
            "ip netns exec " + a + " nft add rule ip rpct out ip daddr " + vip +
                " tcp dport 80 dnat to " + ip_b + ":8080",
            "ip -n " + a + " addr add " + ip6_a + "/64 dev rpcta nodad",
            "ip -n " + b + " addr add " + ip6_b + "/64 dev rpctb nodad",
            "ip netns exec " + a + " nft add table ip6 rpct6",
            "ip netns exec " + a +
                " nft add chain ip6 rpct6 out '{ type nat hook output priority -100; }'",
            "ip netns exec " + a + " nft add rule ip6 rpct6 out ip6 daddr " + vip6 +
                " tcp dport 80 dnat to [" + ip6_b + "]:8080",
        };
        for (const auto& c : cmds) {
            auto [rc, out] = run_command(c + " 2>&1");
            if (rc != 0) {
                error = c + ": " + out;
                return;
            }
        }
        struct stat st {};
        if (::stat(("/run/netns/" + a).c_str(), &st) == 0) ino_a = static_cast<uint32_t>(st.st_ino);
        if (::stat(("/run/netns/" + b).c_str(), &st) == 0) ino_b = static_cast<uint32_t>(st.st_ino);
    }
    ~Net() {
        run_command("ip netns del " + a + " 2>/dev/null");
        run_command("ip netns del " + b + " 2>/dev/null");
    }
    std::string a, b, ip_a, ip_b, vip, ip6_a, ip6_b, vip6, error;
    uint32_t ino_a = 0, ino_b = 0;
};

// network_tracer.conntrack of /debug/stats.
struct CtStats {
    std::string status;
    uint64_t state_size = 0, dump_entries = 0, events = 0, registers = 0, namespaces = 0;
};
CtStats ct_stats(rp::http::Client& c) {
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(r->body).get(doc) == simdjson::SUCCESS);
    simdjson::dom::element ct;
    REQUIRE_MESSAGE(doc["network_tracer"]["conntrack"].get(ct) == simdjson::SUCCESS, r->body);
    CtStats s;
    s.status = std::string(std::string_view(ct["status"]));
    s.state_size = uint64_t(ct["state_size"]);
    s.dump_entries = uint64_t(ct["dump_entries"]);
    s.events = uint64_t(ct["events"]);
    s.registers = uint64_t(ct["registers_total"]);
    s.namespaces = uint64_t(ct["namespaces"]);
    return s;
}

// Namespace ino's entry in conntrack.sources: the NAT entries learnt from it, or nothing while the
// daemon does not read that namespace. Other tests make namespaces and NAT entries meanwhile:
// host-wide counts race with them, this one does not.
std::optional<uint64_t> nat_entries(rp::http::Client& c, uint64_t ino) {
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(r->body).get(doc) == simdjson::SUCCESS);
    simdjson::dom::array sources;
    REQUIRE_MESSAGE(doc["network_tracer"]["conntrack"]["sources"].get(sources) == simdjson::SUCCESS,
                    r->body);
    for (auto src : sources)
        if (uint64_t(src["netns"]) == ino) return uint64_t(src["nat_entries"]);
    return std::nullopt;
}

bool eventually(const std::function<bool()>& pred) {
    auto end = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

struct Translation {
    std::string src, dst;
    int64_t sport = 0, dport = 0;
    bool operator==(const Translation&) const = default;
};
struct Conn {
    std::string lip, rip;
    int64_t lport = 0, rport = 0;
    uint32_t netns = 0;
    bool intra = false;
    std::optional<Translation> tr;
};

std::vector<Conn> json_conns(const std::string& body) {
    std::vector<Conn> out;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
    for (simdjson::dom::element c : doc["conns"].get_array()) {
        Conn x;
        x.lip = std::string(std::string_view(c["laddr"]["ip"]));
        x.rip = std::string(std::string_view(c["raddr"]["ip"]));
        x.lport = int64_t(c["laddr"]["port"]);
        x.rport = int64_t(c["raddr"]["port"]);
        x.netns = static_cast<uint32_t>(uint64_t(c["netNS"]));
        x.intra = bool(c["intraHost"]);
        simdjson::dom::element t = c["ipTranslation"];
        if (!t.is_null())
            x.tr = Translation{std::string(std::string_view(t["replSrcIP"])),
                               std::string(std::string_view(t["replDstIP"])),
                               int64_t(t["replSrcPort"]), int64_t(t["replDstPort"])};
        out.push_back(std::move(x));
    }
    return out;
}

std::vector<Conn> pb_conns(const std::string& body) {
    std::vector<Conn> out;
    protozero::pbf_reader top(body);
    while (top.next(P::Connections::conns)) {
        Conn x;
        protozero::pbf_reader c = top.get_message();
        auto addr = [](protozero::pbf_reader a, std::string& ip, int64_t& port) {
            while (a.next()) {
                if (a.tag() == P::Addr::ip)
                    ip = a.get_string();
                else if (a.tag() == P::Addr::port)
                    port = a.get_int32();
                else
                    a.skip();
            }
        };
        while (c.next()) {
            switch (c.tag()) {
                case P::Connection::laddr:
                    addr(c.get_message(), x.lip, x.lport);
                    break;
                case P::Connection::raddr:
                    addr(c.get_message(), x.rip, x.rport);
                    break;
                case P::Connection::netNS:
                    x.netns = c.get_uint32();
                    break;
                case P::Connection::intraHost:
                    x.intra = c.get_bool();
                    break;
                case P::Connection::ipTranslation: {
                    Translation t;
                    protozero::pbf_reader m = c.get_message();
                    while (m.next()) {
                        switch (m.tag()) {
                            case P::IPTranslation::replSrcIP:
                                t.src = m.get_string();
                                break;
                            case P::IPTranslation::replDstIP:
                                t.dst = m.get_string();
                                break;
                            case P::IPTranslation::replSrcPort:
                                t.sport = m.get_int32();
                                break;
                            case P::IPTranslation::replDstPort:
                                t.dport = m.get_int32();
                                break;
                            default:
                                m.skip();
                        }
                    }
                    x.tr = t;
                    break;
                }
                default:
                    c.skip();
            }
        }
        out.push_back(std::move(x));
    }
    return out;
}

const Conn* find(const std::vector<Conn>& v, uint32_t netns, int64_t lport, int64_t rport) {
    for (const auto& c : v)
        if (c.netns == netns && c.lport == lport && c.rport == rport) return &c;
    return nullptr;
}

}  // namespace

TEST_CASE("network_tracer: DNAT by an nft rule gives the exact reply tuple; no NAT, none") {
    rp::test::require_bpf_or_skip();
    Net net;
    REQUIRE_MESSAGE(net.error.empty(), net.error);
    REQUIRE(net.ino_a != 0);
    Proc server(net.b, kServer, {net.ip_b});
    REQUIRE(server.line() == "ready");
    // Before the daemon: known only from the initial dump.
    Proc early(net.a, kClient, {net.vip, "80"});
    int64_t early_port = std::stoll("0" + early.line());
    REQUIRE(early_port > 0);

    DaemonOptions o;
    o.toml = "[network_config]\nenabled = true\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    CtStats st;
    REQUIRE_MESSAGE(eventually([&] { return (st = ct_stats(client)).status == "ready"; }),
                    st.status << "\n"
                              << d.log());
    CHECK(st.namespaces >= 3);  // the daemon's, A and B
    CHECK(st.dump_entries >= 1);
    CHECK(st.state_size >= 2);                    // the early connection under both of its tuples
    CHECK(nat_entries(client, net.ino_a) >= 1u);  // the early connection, from the dump

    // After: from a NEW event. And one without NAT.
    Proc late(net.a, kClient, {net.vip, "80"});
    int64_t late_port = std::stoll("0" + late.line());
    REQUIRE(late_port > 0);
    Proc direct(net.a, kClient, {net.ip_b, "8080"});
    int64_t direct_port = std::stoll("0" + direct.line());
    REQUIRE(direct_port > 0);
    REQUIRE_MESSAGE(eventually([&] { return nat_entries(client, net.ino_a) >= 2u; }),
                    "NAT entries of namespace A: " << nat_entries(client, net.ino_a).value_or(0));
    st = ct_stats(client);
    CHECK(st.events >= 1);
    CHECK(st.state_size >= 4);
    // The early connection moves again, so that it is in the answer.
    REQUIRE(early.say());
    REQUIRE(early.line() == "ok");

    auto j = client.get("/network_tracer/connections?client_id=json");
    REQUIRE(j.has_value());
    REQUIRE(j->status == 200);
    auto pb = client.request("GET", "/network_tracer/connections?client_id=pb", {},
                             {{"Accept", "application/protobuf"}});
    REQUIRE(pb.has_value());
    REQUIRE(pb->status == 200);
    {
        // connTelemetryMap (jsonpb: int64 as strings): the NAT entries learnt so far (this client's
        // first poll), and every event read (no sampling below the rate limit).
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        REQUIRE(parser.parse(j->body).get(doc) == simdjson::SUCCESS);
        std::string_view reg, pct;
        REQUIRE(doc["connTelemetryMap"]["conntrack_registers"].get(reg) == simdjson::SUCCESS);
        REQUIRE(doc["connTelemetryMap"]["conntrack_sampling_percent"].get(pct) ==
                simdjson::SUCCESS);
        CHECK(std::stoll(std::string(reg)) >= 2);
        CHECK(pct == "100");
    }
    for (const auto& [what, conns] :
         {std::pair{"json", json_conns(j->body)}, std::pair{"protobuf", pb_conns(pb->body)}}) {
        CAPTURE(what);
        for (int64_t port : {early_port, late_port}) {
            CAPTURE(port);
            const Conn* c = find(conns, net.ino_a, port, 80);
            REQUIRE_MESSAGE(c != nullptr, j->body);
            CHECK(c->lip == net.ip_a);
            CHECK(c->rip == net.vip);
            REQUIRE(c->tr.has_value());
            // The reply tuple of the entry: from the real server back to the client.
            CHECK(*c->tr == Translation{net.ip_b, net.ip_a, 8080, port});
            // The server's end (namespace B, where nothing is translated): no translation.
            const Conn* s = find(conns, net.ino_b, 8080, port);
            REQUIRE(s != nullptr);
            CHECK(s->lip == net.ip_b);
            CHECK(s->rip == net.ip_a);
            CHECK_FALSE(s->tr.has_value());
            CHECK(s->intra);
        }
        // Upstream: intra-host by the translated peer, the server's live local endpoint.
        const Conn* late_c = find(conns, net.ino_a, late_port, 80);
        REQUIRE(late_c != nullptr);
        CHECK(late_c->intra);
        const Conn* dc = find(conns, net.ino_a, direct_port, 8080);
        REQUIRE(dc != nullptr);
        CHECK(dc->rip == net.ip_b);
        CHECK_FALSE(dc->tr.has_value());
        CHECK(dc->intra);
    }
}

// The event and dump attributes are read with libmnl into the tuples: IPv6 addresses
// (CTA_IP_V6_SRC/DST) as well as IPv4.
TEST_CASE("network_tracer: IPv6 DNAT gives the exact reply tuple, from the dump and from events") {
    rp::test::require_bpf_or_skip();
    Net net;
    REQUIRE_MESSAGE(net.error.empty(), net.error);
    Proc server(net.b, kServer, {net.ip6_b});
    REQUIRE(server.line() == "ready");
    Proc early(net.a, kClient, {net.vip6, "80"});
    int64_t early_port = std::stoll("0" + early.line());
    REQUIRE(early_port > 0);

    DaemonOptions o;
    o.toml = "[network_config]\nenabled = true\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    CtStats st;
    REQUIRE_MESSAGE(eventually([&] { return (st = ct_stats(client)).status == "ready"; }),
                    st.status << "\n"
                              << d.log());
    CHECK(st.state_size >= 2);
    Proc late(net.a, kClient, {net.vip6, "80"});
    int64_t late_port = std::stoll("0" + late.line());
    REQUIRE(late_port > 0);
    REQUIRE_MESSAGE(eventually([&] { return nat_entries(client, net.ino_a) >= 2u; }),
                    "NAT entries of namespace A: " << nat_entries(client, net.ino_a).value_or(0));
    REQUIRE(early.say());
    REQUIRE(early.line() == "ok");

    auto pb = client.request("GET", "/network_tracer/connections?client_id=pb6", {},
                             {{"Accept", "application/protobuf"}});
    REQUIRE(pb.has_value());
    REQUIRE(pb->status == 200);
    auto conns = pb_conns(pb->body);
    for (int64_t port : {early_port, late_port}) {
        CAPTURE(port);
        const Conn* c = find(conns, net.ino_a, port, 80);
        REQUIRE(c != nullptr);
        CHECK(c->lip == net.ip6_a);
        CHECK(c->rip == net.vip6);
        REQUIRE(c->tr.has_value());
        CHECK(*c->tr == Translation{net.ip6_b, net.ip6_a, 8080, port});
    }
}

TEST_CASE("network_tracer: a namespace made after the start is found, and let go when removed") {
    rp::test::require_bpf_or_skip();
    DaemonOptions o;
    o.toml =
        "ringprobe.network_tracer.conntrack_rescan_ms = 200\n"
        "[network_config]\nenabled = true\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    CtStats st;
    REQUIRE(eventually([&] { return (st = ct_stats(client)).status == "ready"; }));
    uint64_t ino_a = 0, ino_b = 0;
    {
        Net net;
        REQUIRE_MESSAGE(net.error.empty(), net.error);
        Proc server(net.b, kServer, {net.ip_b});
        REQUIRE(server.line() == "ready");
        ino_a = net.ino_a;
        ino_b = net.ino_b;
        REQUIRE_MESSAGE(eventually([&] {
                            return nat_entries(client, ino_a).has_value() &&
                                   nat_entries(client, ino_b).has_value();
                        }),
                        "namespaces A and B not read");
        Proc late(net.a, kClient, {net.vip, "80"});
        int64_t port = std::stoll("0" + late.line());
        REQUIRE(port > 0);
        REQUIRE(eventually([&] { return nat_entries(client, ino_a) >= 1u; }));
        auto j = client.get("/network_tracer/connections?client_id=json");
        REQUIRE(j.has_value());
        auto conns = json_conns(j->body);
        const Conn* c = find(conns, net.ino_a, port, 80);
        REQUIRE_MESSAGE(c != nullptr, j->body);
        REQUIRE(c->tr.has_value());
        CHECK(*c->tr == Translation{net.ip_b, net.ip_a, 8080, port});
    }
    // The namespaces are gone only once the daemon closes its sockets in them.
    CHECK(eventually([&] {
        return !nat_entries(client, ino_a).has_value() && !nat_entries(client, ino_b).has_value();
    }));
}

// 200 new UDP flows per second (distinct ports) from A to B until stdin closes.
constexpr const char* kFlows = R"(
import socket, sys, threading, time
stop = []
threading.Thread(target=lambda: (sys.stdin.read(), stop.append(1)), daemon=True).start()
print("go", flush=True)
i = 0
while not stop:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", (sys.argv[1], 1024 + i % 60000))
    s.close()
    i += 1
    time.sleep(0.005)
)";

TEST_CASE("network_tracer: above conntrack_rate_limit, events are sampled (upstream's breaker)") {
    rp::test::require_bpf_or_skip();
    Net net;
    REQUIRE_MESSAGE(net.error.empty(), net.error);
    DaemonOptions o;
    o.toml = "system_probe_config.conntrack_rate_limit = 20\n[network_config]\nenabled = true\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    REQUIRE(eventually([&] { return ct_stats(client).status == "ready"; }));
    Proc flows(net.a, kFlows, {net.ip_b});
    REQUIRE(flows.line() == "go");
    // The rate is checked every 3 s: the first check sees ~200 events/s and trips.
    auto sampled = [&](double& pct, uint64_t& throttles) {
        auto r = client.get("/debug/stats");
        REQUIRE(r.has_value());
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        REQUIRE(parser.parse(r->body).get(doc) == simdjson::SUCCESS);
        auto ct = doc["network_tracer"]["conntrack"];
        pct = double(ct["sampling_pct"]);
        throttles = uint64_t(ct["throttles"]);
        return throttles >= 1;
    };
    double pct = 100;
    uint64_t throttles = 0;
    auto end = Clock::now() + std::chrono::seconds(10);
    while (!sampled(pct, throttles) && Clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE_MESSAGE(throttles >= 1, "no throttle; sampling " << pct);
    // limit / rate × 0.95: about 20 / 200 × 0.95 ≈ 10 %.
    CHECK(pct > 0);
    CHECK(pct < 50);
    // The filter is on the sockets: events now arrive at about the sampled rate.
    uint64_t e0 = ct_stats(client).events;
    std::this_thread::sleep_for(std::chrono::seconds(1));  // a measured window, not a wait
    uint64_t e1 = ct_stats(client).events;
    CHECK(e1 - e0 < 120);  // unsampled: ~200 per second
}

// N new UDP flows (distinct ports) from A to B as fast as they go, then "done".
constexpr const char* kBurst = R"(
import socket, sys
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", (sys.argv[1], 1024 + i % 60000))
    s.close()
print("done", flush=True)
)";

// ENOBUFS: the kernel drops events that do not fit the socket's buffer (1 MiB, ~1,000 events).
// The daemon is stopped (SIGSTOP) while 5,000 flows start and then a NAT'ed connection opens:
// its NEW event is among those lost. Resumed, the daemon counts the overflow and dumps the
// namespace again, which brings the connection's translation back.
TEST_CASE("network_tracer: conntrack events lost to ENOBUFS are recovered by a new dump") {
    rp::test::require_bpf_or_skip();
    Net net;
    REQUIRE_MESSAGE(net.error.empty(), net.error);
    Proc server(net.b, kServer, {net.ip_b});
    REQUIRE(server.line() == "ready");
    DaemonOptions o;
    o.toml = "system_probe_config.conntrack_rate_limit = -1\n[network_config]\nenabled = true\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    REQUIRE(eventually([&] { return ct_stats(client).status == "ready"; }));
    REQUIRE(eventually([&] { return nat_entries(client, net.ino_a).has_value(); }));
    auto counter = [&](const char* key) {
        auto r = client.get("/debug/stats");
        REQUIRE(r.has_value());
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        REQUIRE(parser.parse(r->body).get(doc) == simdjson::SUCCESS);
        return uint64_t(doc["network_tracer"]["conntrack"][key]);
    };
    uint64_t enobufs = counter("enobufs"), resyncs = counter("resyncs");

    REQUIRE(::kill(d.pid(), SIGSTOP) == 0);
    Proc burst(net.a, kBurst, {net.ip_b, "5000"});
    std::string done = burst.line();
    Proc late(net.a, kClient, {net.vip, "80"});
    int64_t port = std::stoll("0" + late.line());
    REQUIRE(::kill(d.pid(), SIGCONT) == 0);
    REQUIRE(done == "done");
    REQUIRE(port > 0);

    CHECK_MESSAGE(eventually([&] { return counter("enobufs") > enobufs; }), d.log());
    CHECK(eventually([&] { return counter("resyncs") > resyncs; }));
    REQUIRE_MESSAGE(eventually([&] { return nat_entries(client, net.ino_a) >= 1u; }), d.log());
    auto j = client.get("/network_tracer/connections?client_id=enobufs");
    REQUIRE(j.has_value());
    auto conns = json_conns(j->body);
    const Conn* c = find(conns, net.ino_a, port, 80);
    REQUIRE_MESSAGE(c != nullptr, "port " << port);
    REQUIRE(c->tr.has_value());
    CHECK(*c->tr == Translation{net.ip_b, net.ip_a, 8080, port});
}
