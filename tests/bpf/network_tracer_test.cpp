// network_tracer_test.cpp — network_tracer against the real kernel (root).
//
// The test makes two network namespaces joined by a veth pair (IPv4 and IPv6 addresses inside
// them only), runs socket "actors" in them (child processes driven over pipes, each in its
// namespace), starts a real daemon (TestDaemon) with network_config.enabled and reads
// /network_tracer/connections as the process-agent does (Accept: application/protobuf), decoding
// every Connection. Each assertion compares with what the test itself did (bytes written and
// read, pids, ports, the namespaces' inode numbers) or with the kernel's own count read by the
// actor (TCP_INFO segments and retransmissions, read before and after the poll: the report must
// lie between). Retransmissions are forced by a tc classifier that drops data segments
// (bpf/test_tc_drop.bpf.c; the kernel has no netem). Namespaces, links and processes are removed
// by the test.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <protozero/pbf_reader.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "modules/proto/messages.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"
#include "support/event_stream_client.h"
#include "support/proto_map.h"
#include "test_tc_drop.skel.h"

namespace {

using rp::test::DaemonOptions;
using rp::test::run_command;
using rp::test::TestDaemon;
namespace P = rp::proto;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Two network namespaces and a veth pair between them.

class TestNet {
  public:
    TestNet() {
        unsigned k = static_cast<unsigned>(getpid()) % 200 + 20;
        a = "rpnt" + std::to_string(getpid()) + "a";
        b = "rpnt" + std::to_string(getpid()) + "b";
        v4a = "10.231." + std::to_string(k) + ".1";
        v4b = "10.231." + std::to_string(k) + ".2";
        v6a = "fd00:231:" + std::to_string(k) + "::1";
        v6b = "fd00:231:" + std::to_string(k) + "::2";
        std::string cmds[] = {
            "ip netns add " + a,
            "ip netns add " + b,
            "ip link add rpnta netns " + a + " type veth peer name rpntb netns " + b,
            "ip -n " + a + " link set lo up",
            "ip -n " + b + " link set lo up",
            "ip -n " + a + " addr add " + v4a + "/24 dev rpnta",
            "ip -n " + b + " addr add " + v4b + "/24 dev rpntb",
            "ip -n " + a + " addr add " + v6a + "/64 dev rpnta nodad",
            "ip -n " + b + " addr add " + v6b + "/64 dev rpntb nodad",
            "ip -n " + a + " link set rpnta up",
            "ip -n " + b + " link set rpntb up",
        };
        for (const auto& c : cmds) {
            auto [rc, out] = run_command(c + " 2>&1");
            if (rc != 0) {
                error = c + ": " + out;
                return;
            }
        }
        ino_a = inode("/run/netns/" + a);
        ino_b = inode("/run/netns/" + b);
        if (ino_a == 0 || ino_b == 0) error = "stat /run/netns/" + a + ": no inode";
    }
    ~TestNet() {
        run_command("ip netns del " + a + " 2>/dev/null");
        run_command("ip netns del " + b + " 2>/dev/null");
    }
    static uint32_t inode(const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
    }
    std::string a, b, v4a, v4b, v6a, v6b, error;
    uint32_t ino_a = 0, ino_b = 0;
};

// Runs fn in namespace `ns` ("" = the test's own) of the calling thread, then comes back.
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

// ---------------------------------------------------------------------------------------------
// A socket actor: a child process in a namespace that does one socket operation per command.

bool write_all(int fd, const void* p, size_t n) {
    auto* b = static_cast<const char*>(p);
    while (n > 0) {
        ssize_t w = ::write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        b += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_all(int fd, void* p, size_t n) {
    auto* b = static_cast<char*>(p);
    while (n > 0) {
        ssize_t r = ::read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        b += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

struct Cmd {
    char op;
    uint8_t v6;
    uint16_t port;
    uint32_t n;
    char ip[48];
};

struct Reply {
    int64_t result;
    uint32_t segs_out, segs_in, total_retrans, rtt_us;
    uint16_t port;
    uint16_t _pad;
    int32_t pid;
};

sockaddr_storage make_addr(bool v6, const char* ip, uint16_t port, socklen_t* len) {
    sockaddr_storage ss{};
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        *len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, ip, &a->sin_addr);
        *len = sizeof *a;
    }
    return ss;
}

uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// The child's command loop. Exit status 0 after 'Q'.
int actor_main(int in, int out) {
    int listener = -1, conn = -1, udp = -1;
    sockaddr_storage peer{};
    socklen_t peer_len = 0;
    static char buf[1 << 16];
    std::memset(buf, 'x', sizeof buf);
    Cmd c;
    while (read_all(in, &c, sizeof c)) {
        Reply r{};
        r.pid = getpid();
        socklen_t len = 0;
        sockaddr_storage a = make_addr(c.v6, c.ip, c.port, &len);
        auto* sa = reinterpret_cast<sockaddr*>(&a);
        int family = c.v6 ? AF_INET6 : AF_INET;
        switch (c.op) {
            case 'L': {  // listen
                listener = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                int one = 1;
                ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                r.result = ::bind(listener, sa, len) == 0 && ::listen(listener, 4096) == 0
                               ? local_port(listener)
                               : -errno;
                break;
            }
            case 'A':
                conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
                r.result = conn >= 0 ? 0 : -errno;
                break;
            case 'C':  // connect
                conn = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                r.result = ::connect(conn, sa, len) == 0 ? 0 : -errno;
                r.port = local_port(conn);
                break;
            case 'W': {
                size_t left = c.n;
                r.result = 0;
                while (left > 0) {
                    ssize_t w = ::send(conn, buf, std::min(left, sizeof buf), MSG_NOSIGNAL);
                    if (w <= 0) {
                        r.result = -errno;
                        break;
                    }
                    left -= static_cast<size_t>(w);
                }
                break;
            }
            case 'R': {
                size_t left = c.n;
                r.result = 0;
                while (left > 0) {
                    ssize_t n = ::recv(conn, buf, std::min(left, sizeof buf), 0);
                    if (n <= 0) {
                        r.result = n == 0 ? -EPIPE : -errno;
                        break;
                    }
                    left -= static_cast<size_t>(n);
                }
                break;
            }
            case 'E': {  // wait for the peer's FIN
                char one;
                r.result = ::recv(conn, &one, 1, 0);
                break;
            }
            case 'I': {
                tcp_info ti{};
                socklen_t tl = sizeof ti;
                r.result = ::getsockopt(conn, IPPROTO_TCP, TCP_INFO, &ti, &tl);
                r.segs_out = ti.tcpi_segs_out;
                r.segs_in = ti.tcpi_segs_in;
                r.total_retrans = ti.tcpi_total_retrans;
                r.rtt_us = ti.tcpi_rtt;
                break;
            }
            case 'X':
                r.result = ::close(conn);
                conn = -1;
                break;
            case 'Y':
                r.result = ::close(listener);
                listener = -1;
                break;
            case 'B':  // UDP server: bound, not connected
                udp = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                r.result = ::bind(udp, sa, len) == 0 ? local_port(udp) : -errno;
                break;
            case 'D':  // UDP client: connected
                udp = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                r.result = ::connect(udp, sa, len) == 0 ? 0 : -errno;
                r.port = local_port(udp);
                break;
            case 'S': {
                ssize_t w = peer_len != 0 ? ::sendto(udp, buf, c.n, 0,
                                                     reinterpret_cast<sockaddr*>(&peer), peer_len)
                                          : ::send(udp, buf, c.n, 0);
                r.result = w >= 0 ? w : -errno;
                break;
            }
            case 'V': {
                peer_len = sizeof peer;
                ssize_t n = ::recvfrom(udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer),
                                       &peer_len);
                r.result = n >= 0 ? n : -errno;
                break;
            }
            case 'Z':
                r.result = ::close(udp);
                udp = -1;
                break;
            case 'Q':
                write_all(out, &r, sizeof r);
                return 0;
        }
        if (!write_all(out, &r, sizeof r)) return 3;
    }
    return 2;
}

class Actor {
  public:
    // A child process in namespace `ns` ("" = the test's).
    explicit Actor(const std::string& ns) {
        int down[2], up[2];
        REQUIRE(::pipe2(down, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::close(down[1]);
            ::close(up[0]);
            if (!ns.empty()) {
                int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
                if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(10);
            }
            ::_exit(actor_main(down[0], up[1]));
        }
        ::close(down[0]);
        ::close(up[1]);
        to_ = down[1];
        from_ = up[0];
    }
    ~Actor() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(to_);
        ::close(from_);
    }
    Reply run(char op, const std::string& ip = "", uint16_t port = 0, uint32_t n = 0) {
        Cmd c{};
        c.op = op;
        c.v6 = ip.find(':') != std::string::npos;
        c.port = port;
        c.n = n;
        std::strncpy(c.ip, ip.c_str(), sizeof c.ip - 1);
        Reply r{};
        REQUIRE_MESSAGE(write_all(to_, &c, sizeof c),
                        "actor " << pid_ << " gone (op " << op << ")");
        REQUIRE_MESSAGE(read_all(from_, &r, sizeof r),
                        "actor " << pid_ << " gone (op " << op << ")");
        return r;
    }
    // The command must succeed (result >= 0).
    Reply ok(char op, const std::string& ip = "", uint16_t port = 0, uint32_t n = 0) {
        Reply r = run(op, ip, port, n);
        REQUIRE_MESSAGE(r.result >= 0,
                        "actor op " << op << " failed: " << std::strerror(-r.result));
        return r;
    }
    pid_t pid() const { return pid_; }

  private:
    pid_t pid_ = -1;
    int to_ = -1, from_ = -1;
};

// ---------------------------------------------------------------------------------------------
// /network_tracer/connections, decoded from protobuf.

struct Conn {
    int32_t pid = 0;
    std::string lip, rip;
    int32_t lport = 0, rport = 0;
    bool has_raddr = false, has_protocol = false;
    int family = 0, type = 0, direction = 0, ephemeral = 0;
    uint64_t bytes_sent = 0, bytes_recv = 0, pkts_sent = 0, pkts_recv = 0;
    uint32_t retrans = 0, established = 0, closed = 0, rtt = 0, rttvar = 0, netns = 0;
    uint32_t rto = 0, recovery = 0;
    bool intra = false;
    int32_t route_idx = 0;
    std::map<uint32_t, uint32_t> failures;
};

struct Payload {
    std::vector<Conn> conns;
    std::map<std::string, int64_t> telemetry;
    bool npm = false;
    // The connections between these ports (either direction), of this type.
    std::vector<const Conn*> between(int32_t p1, int32_t p2, int type = 0) const {
        std::vector<const Conn*> out;
        for (const auto& c : conns)
            if (c.type == type &&
                ((c.lport == p1 && c.rport == p2) || (c.lport == p2 && c.rport == p1)))
                out.push_back(&c);
        return out;
    }
    const Conn* one(int32_t lport, int32_t rport, int type = 0) const {
        const Conn* found = nullptr;
        for (const auto& c : conns)
            if (c.type == type && c.lport == lport && c.rport == rport) {
                REQUIRE_MESSAGE(found == nullptr,
                                "connection :" << lport << " -> :" << rport << " reported twice");
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

Conn decode_conn(std::string_view data) {
    namespace C = P::Connection;
    Conn c;
    protozero::pbf_reader r(data.data(), data.size());
    while (r.next()) {
        switch (r.tag()) {
            case C::pid:
                c.pid = r.get_int32();
                break;
            case C::laddr:
                decode_addr(sv(r.get_view()), c.lip, c.lport);
                break;
            case C::raddr:
                c.has_raddr = true;
                decode_addr(sv(r.get_view()), c.rip, c.rport);
                break;
            case C::family:
                c.family = r.get_enum();
                break;
            case C::type:
                c.type = r.get_enum();
                break;
            case C::direction:
                c.direction = r.get_enum();
                break;
            case C::isLocalPortEphemeral:
                c.ephemeral = r.get_enum();
                break;
            case C::lastBytesSent:
                c.bytes_sent = r.get_uint64();
                break;
            case C::lastBytesReceived:
                c.bytes_recv = r.get_uint64();
                break;
            case C::lastPacketsSent:
                c.pkts_sent = r.get_uint64();
                break;
            case C::lastPacketsReceived:
                c.pkts_recv = r.get_uint64();
                break;
            case C::lastRetransmits:
                c.retrans = r.get_uint32();
                break;
            case C::lastTcpEstablished:
                c.established = r.get_uint32();
                break;
            case C::lastTcpClosed:
                c.closed = r.get_uint32();
                break;
            case C::rtt:
                c.rtt = r.get_uint32();
                break;
            case C::rttVar:
                c.rttvar = r.get_uint32();
                break;
            case C::netNS:
                c.netns = r.get_uint32();
                break;
            case C::intraHost:
                c.intra = r.get_bool();
                break;
            case C::routeIdx:
                c.route_idx = r.get_int32();
                break;
            case C::lastTcpRtoCount:
                c.rto = r.get_uint32();
                break;
            case C::lastTcpRecoveryCount:
                c.recovery = r.get_uint32();
                break;
            case C::protocol:
                c.has_protocol = true;
                r.skip();
                break;
            case C::tcpFailuresByErrCode: {
                auto v = r.get_view();
                protozero::pbf_reader e(v.data(), v.size());
                uint32_t k = 0, n = 0;
                while (e.next()) {
                    if (e.tag() == P::MapEntry::key)
                        k = e.get_uint32();
                    else if (e.tag() == P::MapEntry::value)
                        n = e.get_uint32();
                    else
                        e.skip();
                }
                c.failures[k] += n;
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
    CHECK(r->header("content-type") == "application/protobuf");
    Payload p;
    protozero::pbf_reader top(r->body.data(), r->body.size());
    while (top.next()) {
        if (top.tag() == P::Connections::conns) {
            p.conns.push_back(decode_conn(sv(top.get_view())));
        } else if (top.tag() == P::Connections::connTelemetryMap) {
            auto [k, n] = rp::test::string_int64_entry(top.get_view());
            p.telemetry[k] = n;  // a repeated key: the last wins, as protobuf's
        } else if (top.tag() == P::Connections::agentConfiguration) {
            auto v = top.get_view();
            protozero::pbf_reader a(v.data(), v.size());
            while (a.next())
                if (a.tag() == P::AgentConfiguration::npmEnabled)
                    p.npm = a.get_bool();
                else
                    a.skip();
        } else {
            top.skip();
        }
    }
    // What the process-agent dereferences must be there.
    for (const auto& c : p.conns) {
        CHECK(c.has_raddr);
        CHECK(c.route_idx == -1);
        CHECK(c.has_protocol);
    }
    return p;
}

void get_ok(rp::http::Client& c, const std::string& path) {
    auto r = c.get(path);
    REQUIRE_MESSAGE(r.has_value(), path << ": " << (r ? "" : r.error()));
    REQUIRE_MESSAGE(r->status == 200, path << ": " << r->status << " " << r->body);
}

// The module's /debug/stats object.
simdjson::dom::element stats(rp::http::Client& c, simdjson::dom::parser& parser,
                             std::string& keep) {
    auto r = c.get("/debug/stats");
    REQUIRE(r.has_value());
    keep = r->body;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(keep).get(doc) == simdjson::SUCCESS);
    simdjson::dom::element m;
    REQUIRE_MESSAGE(doc["network_tracer"].get(m) == simdjson::SUCCESS, keep);
    REQUIRE_MESSAGE(m["Error"].error() == simdjson::NO_SUCH_FIELD, keep);
    return m;
}

uint64_t stat_u64(rp::http::Client& c, std::initializer_list<const char*> path) {
    simdjson::dom::parser parser;
    std::string keep;
    simdjson::dom::element e = stats(c, parser, keep);
    for (const char* k : path) e = e[k];
    uint64_t v = 0;
    REQUIRE_MESSAGE(e.get_uint64().get(v) == simdjson::SUCCESS, keep);
    return v;
}

// `top`: top-level (dotted) keys; `network`: more keys of [network_config]; `tables`: more tables.
DaemonOptions daemon_options(const std::string& top = "", const std::string& network = "",
                             const std::string& tables = "") {
    DaemonOptions o;
    o.toml = top + "[network_config]\nenabled = true\n" + network + tables;
    return o;
}

// Whether namespace `ns` still has a TCP socket on `port` other than a listener.
bool tcp_port_busy(const std::string& ns, uint16_t port) {
    auto [rc, out] =
        run_command("ip netns exec " + ns + " ss -Htan '( sport = :" + std::to_string(port) +
                    " or dport = :" + std::to_string(port) + " )' | grep -v LISTEN");
    return !out.empty();
}

// Waits (polling every 10 ms, up to 5 s) until pred() holds.
bool eventually(const std::function<bool()>& pred) {
    auto end = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

constexpr int kOutgoing = P::ConnectionDirection::outgoing;
constexpr int kIncoming = P::ConnectionDirection::incoming;
constexpr uint16_t kServerPort = 5001;  // below the ephemeral range

}  // namespace

TEST_CASE(
    "network_tracer: TCP across namespaces — both ends exact, omitted when idle, whole "
    "history for a new client") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    get_ok(client, "/network_tracer/register?client_id=c1");

    Actor server(net.b), cli(net.a);
    const uint32_t N = 100000, M = 7777;
    server.ok('L', net.v4b, kServerPort);
    Reply conn = cli.ok('C', net.v4b, kServerPort);
    server.ok('A');
    cli.ok('W', "", 0, N);
    server.ok('R', "", 0, N);
    server.ok('W', "", 0, M);
    cli.ok('R', "", 0, M);
    Reply ci0 = cli.ok('I'), si0 = server.ok('I');

    Payload p = poll(client, "c1");
    Reply ci1 = cli.ok('I'), si1 = server.ok('I');
    CHECK(p.npm);
    const Conn* c = p.one(conn.port, kServerPort);
    const Conn* s = p.one(kServerPort, conn.port);
    REQUIRE_MESSAGE(c != nullptr, "client end :" << conn.port << " not reported");
    REQUIRE_MESSAGE(s != nullptr, "server end not reported");

    CHECK(c->pid == cli.pid());
    CHECK(s->pid == server.pid());
    CHECK(c->lip == net.v4a);
    CHECK(c->rip == net.v4b);
    CHECK(s->lip == net.v4b);
    CHECK(s->rip == net.v4a);
    CHECK(c->family == P::ConnectionFamily::v4);
    CHECK(c->type == P::ConnectionType::tcp);
    CHECK(c->direction == kOutgoing);
    CHECK(s->direction == kIncoming);
    CHECK(c->netns == net.ino_a);
    CHECK(s->netns == net.ino_b);
    CHECK(c->ephemeral == P::EphemeralPortState::ephemeralTrue);
    CHECK(s->ephemeral == P::EphemeralPortState::ephemeralFalse);
    CHECK(c->intra);  // both ends are sockets of this host
    CHECK(s->intra);
    CHECK(c->bytes_sent == N);
    CHECK(c->bytes_recv == M);
    CHECK(s->bytes_sent == M);
    CHECK(s->bytes_recv == N);
    // Segments: the kernel's own count, read just before and just after the poll.
    CHECK(c->pkts_sent >= ci0.segs_out);
    CHECK(c->pkts_sent <= ci1.segs_out);
    CHECK(c->pkts_recv >= ci0.segs_in);
    CHECK(c->pkts_recv <= ci1.segs_in);
    CHECK(s->pkts_sent >= si0.segs_out);
    CHECK(s->pkts_sent <= si1.segs_out);
    CHECK(s->pkts_recv >= si0.segs_in);
    CHECK(s->pkts_recv <= si1.segs_in);
    CHECK(c->established == 1);
    CHECK(s->established == 1);
    CHECK(c->closed == 0);
    CHECK(c->retrans == 0);
    CHECK(c->rtt > 0);
    CHECK(c->rtt < 1000000);
    CHECK(c->failures.empty());

    // Nothing moved: the same client does not see them again.
    Payload p2 = poll(client, "c1");
    CHECK(p2.between(conn.port, kServerPort).empty());

    // Traffic again: only the new bytes.
    cli.ok('W', "", 0, 10);
    server.ok('R', "", 0, 10);
    Payload p3 = poll(client, "c1");
    const Conn* c3 = p3.one(conn.port, kServerPort);
    const Conn* s3 = p3.one(kServerPort, conn.port);
    REQUIRE(c3 != nullptr);
    REQUIRE(s3 != nullptr);
    CHECK(c3->bytes_sent == 10);
    CHECK(c3->bytes_recv == 0);
    CHECK(s3->bytes_recv == 10);
    CHECK(c3->established == 0);

    // A client that never polled sees the whole history.
    Payload q = poll(client, "c2");
    const Conn* qc = q.one(conn.port, kServerPort);
    REQUIRE(qc != nullptr);
    CHECK(qc->bytes_sent == N + 10);
    CHECK(qc->bytes_recv == M);
    CHECK(qc->established == 1);
    CHECK(q.telemetry.count("conns_bpf_map_size") == 1);
    CHECK(q.telemetry["conns_bpf_map_size"] >= 2);

    // /debug/net_state: c1's baselines of both sockets (upstream's DumpState shape).
    auto ns = client.get("/network_tracer/debug/net_state?client_id=c1");
    REQUIRE(ns.has_value());
    REQUIRE(ns->status == 200);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(ns->body).get(doc) == simdjson::SUCCESS);
    size_t with_sent = 0;
    for (auto f : doc.get_object()) {
        uint64_t sent = 0;
        REQUIRE(f.value["total_sent"].get_uint64().get(sent) == simdjson::SUCCESS);
        with_sent += sent == N + 10 || sent == M;
    }
    CHECK(with_sent == 2);
}

TEST_CASE(
    "network_tracer: a connection opened and closed between two polls appears once per "
    "client with its final counters") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    poll(client, "c1");
    poll(client, "c2");

    Actor server(net.b), cli(net.a);
    const uint32_t N = 4321, M = 1234;
    server.ok('L', net.v4b, kServerPort);
    Reply conn = cli.ok('C', net.v4b, kServerPort);
    server.ok('A');
    cli.ok('W', "", 0, N);
    server.ok('R', "", 0, N);
    server.ok('W', "", 0, M);
    cli.ok('R', "", 0, M);
    cli.ok('X');     // the client closes first ...
    server.ok('E');  // ... the server sees the FIN ...
    server.ok('X');  // ... and closes too
    REQUIRE(eventually([&] { return stat_u64(client, {"closed_by_type", "tcp"}) >= 2; }));

    for (const char* id : {"c1", "c2"}) {
        CAPTURE(id);
        Payload p = poll(client, id);
        const Conn* c = p.one(conn.port, kServerPort);
        const Conn* s = p.one(kServerPort, conn.port);
        REQUIRE(c != nullptr);
        REQUIRE(s != nullptr);
        CHECK(c->pid == cli.pid());
        CHECK(s->pid == server.pid());
        CHECK(c->bytes_sent == N);
        CHECK(c->bytes_recv == M);  // the FIN is not a byte
        CHECK(s->bytes_sent == M);
        CHECK(s->bytes_recv == N);
        CHECK(c->established == 1);
        CHECK(c->closed == 1);
        CHECK(s->established == 1);
        CHECK(s->closed == 1);
        CHECK(c->direction == kOutgoing);
        CHECK(s->direction == kIncoming);
        CHECK(c->netns == net.ino_a);
        CHECK(c->intra);
        CHECK(s->intra);
        CHECK(c->failures.empty());
        CHECK(p.telemetry["conns_closed"] >= 2);
        // Gone once reported.
        Payload again = poll(client, id);
        CHECK(again.between(conn.port, kServerPort).empty());
    }

    // The same facts in /metrics (http/metrics.h families).
    auto m = client.get("/metrics");
    REQUIRE(m.has_value());
    REQUIRE(m->status == 200);
    auto value = [&](const std::string& sample) {
        size_t at = m->body.find("\n" + sample + " ");
        REQUIRE_MESSAGE(at != std::string::npos, sample << " not in /metrics");
        return std::strtod(m->body.c_str() + at + sample.size() + 2, nullptr);
    };
    CHECK(value("ringprobe_network_tracer_closed_connections_total{type=\"tcp\"}") >= 2);
    CHECK(value("ringprobe_network_tracer_polls_total") >= 6);
    CHECK(value("ringprobe_network_tracer_clients") == 2);
    CHECK(value("ringprobe_network_tracer_poll_duration_seconds_count") >= 6);
    CHECK(value("ringprobe_network_tracer_dropped_total{reason=\"closed_ring_full\"}") == 0);
    CHECK(value("ringprobe_module_ring_events_total{module=\"network_tracer\"}") >= 2);
}

TEST_CASE("network_tracer: a refused connect counts under 111; loopback is intra-host") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    poll(client, "c1");

    Actor a(net.a);
    Reply refused = a.run('C', net.v4b, 5999);  // nothing listens there
    CHECK(refused.result == -ECONNREFUSED);
    a.ok('X');
    // Loopback inside namespace a.
    Actor srv(net.a);
    srv.ok('L', "127.0.0.1", 5002);
    Reply lo = a.ok('C', "127.0.0.1", 5002);
    srv.ok('A');
    a.ok('W', "", 0, 500);
    srv.ok('R', "", 0, 500);
    REQUIRE(eventually([&] { return stat_u64(client, {"closed_by_type", "tcp"}) >= 1; }));

    Payload p = poll(client, "c1");
    const Conn* f = p.one(refused.port, 5999);
    REQUIRE_MESSAGE(f != nullptr, "refused connection not reported");
    CHECK(f->failures == std::map<uint32_t, uint32_t>{{111, 1}});
    CHECK(f->closed == 1);
    CHECK(f->established == 0);
    CHECK(f->pid == a.pid());
    CHECK(f->direction == kOutgoing);

    const Conn* c = p.one(lo.port, 5002);
    const Conn* s = p.one(5002, lo.port);
    REQUIRE(c != nullptr);
    REQUIRE(s != nullptr);
    CHECK(c->intra);
    CHECK(s->intra);
    CHECK(c->lip == "127.0.0.1");
    CHECK(c->bytes_sent == 500);
    CHECK(s->bytes_recv == 500);
    CHECK(c->netns == net.ino_a);
}

// GET /network_tracer/events: each closed connection as one NDJSON line, with its whole life's
// counters, for a listener alone (no /connections client: the kernel makes closed records for
// the listener too).
TEST_CASE("network_tracer: closed connections streamed on /events, without any client") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    rp::test::EventStreamClient events(d.socket_path(), "network_tracer");
    REQUIRE(events.ok());
    REQUIRE(events.read_until([&] { return events.status() != 0; }));
    CHECK(events.status() == 200);
    CHECK(events.head().find("Content-Type: application/x-ndjson") != std::string::npos);

    Actor srv(net.b);
    srv.ok('L', net.v4b, 5011);
    Actor a(net.a);
    Reply c = a.ok('C', net.v4b, 5011);
    srv.ok('A');
    a.ok('W', "", 0, 300);
    srv.ok('R', "", 0, 300);
    srv.ok('W', "", 0, 70);
    a.ok('R', "", 0, 70);
    a.ok('X');
    srv.ok('X');
    Reply refused = a.run('C', net.v4b, 5998);  // nothing listens there
    CHECK(refused.result == -ECONNREFUSED);
    a.ok('X');

    auto line_of = [&](uint16_t lport, uint16_t rport) -> std::string {
        for (const auto& l : events.lines()) {
            simdjson::dom::parser parser;
            simdjson::dom::object o;
            if (parser.parse(l).get(o) != simdjson::SUCCESS) continue;
            int64_t lp = 0, rp_ = 0;
            if (o["laddr"]["port"].get(lp) != simdjson::SUCCESS) continue;
            if (o["raddr"]["port"].get(rp_) != simdjson::SUCCESS) continue;
            if (lp == lport && rp_ == rport) return l;
        }
        return "";
    };
    REQUIRE_MESSAGE(events.read_until([&] {
        return !line_of(c.port, 5011).empty() && !line_of(5011, c.port).empty() &&
               !line_of(refused.port, 5998).empty();
    }),
                    d.log());
    simdjson::dom::parser parser;
    std::string cl = line_of(c.port, 5011);
    MESSAGE(cl);
    simdjson::dom::object o = parser.parse(cl).get_object();
    CHECK(std::string_view(o["time"]).size() == 27);
    CHECK(std::string_view(o["type"]) == "tcp");
    CHECK(std::string_view(o["family"]) == "v4");
    CHECK(int64_t(o["pid"]) == a.pid());
    CHECK(uint64_t(o["netNS"]) == net.ino_a);
    CHECK(std::string_view(o["laddr"]["ip"]) == net.v4a);
    CHECK(std::string_view(o["raddr"]["ip"]) == net.v4b);
    CHECK(std::string_view(o["direction"]) == "outgoing");
    CHECK(uint64_t(o["bytesSent"]) == 300);
    CHECK(uint64_t(o["bytesReceived"]) == 70);
    CHECK(bool(o["established"]));
    CHECK(uint64_t(o["failure"]) == 0);
    std::string sl = line_of(5011, c.port);
    simdjson::dom::parser p2;
    simdjson::dom::object so = p2.parse(sl).get_object();
    CHECK(std::string_view(so["direction"]) == "incoming");
    CHECK(uint64_t(so["bytesReceived"]) == 300);
    CHECK(uint64_t(so["bytesSent"]) == 70);
    CHECK(uint64_t(so["netNS"]) == net.ino_b);
    std::string fl = line_of(refused.port, 5998);
    simdjson::dom::parser p3;
    simdjson::dom::object fo = p3.parse(fl).get_object();
    CHECK(uint64_t(fo["failure"]) == 111);
    CHECK_FALSE(bool(fo["established"]));
    // Each closed connection once.
    size_t n = 0;
    for (const auto& l : events.lines())
        n += l.find("\"port\":" + std::to_string(c.port) + "},\"raddr\":{\"ip\":\"" + net.v4b +
                    "\",\"port\":5011}") != std::string::npos;
    CHECK(n == 1);
    auto client = d.client();
    auto m = client.get("/metrics");
    REQUIRE(m.has_value());
    CHECK(m->body.find("ringprobe_module_event_streams{module=\"network_tracer\"} 1\n") !=
          std::string::npos);
}

TEST_CASE("network_tracer: retransmissions forced by a tc classifier are counted") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    poll(client, "c1");

    // Drop the first 3 data segments from the client to the server's port as they arrive at the
    // server (a drop at the sender's egress is a local send failure, which TCP repeats at once
    // without counting a retransmission).
    test_tc_drop_bpf* drop = test_tc_drop_bpf::open();
    REQUIRE(drop != nullptr);
    drop->rodata->dport = kServerPort;
    REQUIRE(test_tc_drop_bpf::load(drop) == 0);
    drop->bss->drop_count = 3;
    bpf_tc_hook hook{};
    hook.sz = sizeof hook;
    hook.attach_point = BPF_TC_INGRESS;
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.prog_fd = bpf_program__fd(drop->progs.tdrop_ingress);
    int attach = -1;
    REQUIRE(in_netns(net.b, [&] {
        hook.ifindex = static_cast<int>(if_nametoindex("rpntb"));
        int err = bpf_tc_hook_create(&hook);
        if (err == 0 || err == -EEXIST) attach = bpf_tc_attach(&hook, &opts);
    }));
    REQUIRE_MESSAGE(attach == 0, "tc attach: " << std::strerror(-attach));

    Actor server(net.b), cli(net.a);
    const uint32_t N = 60000;
    server.ok('L', net.v4b, kServerPort);
    Reply conn = cli.ok('C', net.v4b, kServerPort);
    server.ok('A');
    cli.ok('W', "", 0, N);
    server.ok('R', "", 0, N);  // arrives only after the dropped segments were sent again
    CHECK(drop->bss->dropped == 3);
    Reply i0 = cli.ok('I');
    Payload p = poll(client, "c1");
    Reply i1 = cli.ok('I');
    const Conn* c = p.one(conn.port, kServerPort);
    REQUIRE(c != nullptr);
    MESSAGE("retransmits " << c->retrans << " (kernel " << i0.total_retrans << ".."
                           << i1.total_retrans << "), rto " << c->rto << ", recovery "
                           << c->recovery);
    CHECK(c->retrans >= 3);
    CHECK(c->retrans >= i0.total_retrans);
    CHECK(c->retrans <= i1.total_retrans);
    CHECK(c->rto + c->recovery >= 1);
    CHECK(c->bytes_sent == N);  // retransmitted bytes are not sent twice
    const Conn* s = p.one(kServerPort, conn.port);
    REQUIRE(s != nullptr);
    CHECK(s->bytes_recv == N);
    CHECK(s->retrans == 0);
    in_netns(net.b, [&] { bpf_tc_hook_destroy(&hook); });
    test_tc_drop_bpf::destroy(drop);
}

TEST_CASE("network_tracer: UDP datagrams of known sizes both ways, then their close") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    poll(client, "c1");

    Actor server(net.b), cli(net.a);
    const uint16_t port = 5353;
    server.ok('B', net.v4b, port);
    Reply c0 = cli.ok('D', net.v4b, port);
    for (uint32_t n : {100u, 200u, 300u}) {
        cli.ok('S', "", 0, n);
        CHECK(server.ok('V').result == n);
    }
    for (uint32_t n : {50u, 60u}) {
        server.ok('S', "", 0, n);
        CHECK(cli.ok('V').result == n);
    }
    Payload p = poll(client, "c1");
    const Conn* c = p.one(c0.port, port, P::ConnectionType::udp);
    REQUIRE_MESSAGE(c != nullptr, "UDP client :" << c0.port << " not reported");
    CHECK(c->bytes_sent == 600);
    CHECK(c->pkts_sent == 3);
    CHECK(c->bytes_recv == 110);
    CHECK(c->pkts_recv == 2);
    CHECK(c->pid == cli.pid());
    CHECK(c->direction == kOutgoing);
    CHECK(c->netns == net.ino_a);
    CHECK(c->lip == net.v4a);
    CHECK(c->rip == net.v4b);
    CHECK(c->intra);  // the server's bound address is a socket of this host
    // The server socket is not connected: one connection for all its peers, remote 0.0.0.0:0.
    const Conn* s = p.one(port, 0, P::ConnectionType::udp);
    REQUIRE(s != nullptr);
    CHECK(s->bytes_recv == 600);
    CHECK(s->pkts_recv == 3);
    CHECK(s->bytes_sent == 110);
    CHECK(s->pkts_sent == 2);
    CHECK(s->direction == kIncoming);
    CHECK(s->rip == "0.0.0.0");
    CHECK(s->pid == server.pid());

    // More, then both sockets close before the next poll: the closed record has the rest.
    cli.ok('S', "", 0, 42);
    server.ok('V');
    cli.ok('Z');
    server.ok('Z');
    REQUIRE(eventually([&] { return stat_u64(client, {"closed_by_type", "udp"}) >= 2; }));
    Payload p2 = poll(client, "c1");
    const Conn* c2 = p2.one(c0.port, port, P::ConnectionType::udp);
    REQUIRE(c2 != nullptr);
    CHECK(c2->bytes_sent == 42);
    CHECK(c2->pkts_sent == 1);
    CHECK(c2->bytes_recv == 0);
    CHECK(c2->closed == 0);  // lastTcpClosed is TCP's
    const Conn* s2 = p2.one(port, 0, P::ConnectionType::udp);
    REQUIRE(s2 != nullptr);
    CHECK(s2->bytes_recv == 42);
    Payload p3 = poll(client, "c1");
    CHECK(p3.between(c0.port, port, P::ConnectionType::udp).empty());
}

TEST_CASE("network_tracer: IPv6") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    poll(client, "c1");

    Actor server(net.b), cli(net.a);
    server.ok('L', net.v6b, kServerPort);
    Reply conn = cli.ok('C', net.v6b, kServerPort);
    server.ok('A');
    cli.ok('W', "", 0, 3000);
    server.ok('R', "", 0, 3000);
    Payload p = poll(client, "c1");
    const Conn* c = p.one(conn.port, kServerPort);
    const Conn* s = p.one(kServerPort, conn.port);
    REQUIRE(c != nullptr);
    REQUIRE(s != nullptr);
    CHECK(c->family == P::ConnectionFamily::v6);
    CHECK(c->lip == net.v6a);
    CHECK(c->rip == net.v6b);
    CHECK(s->lip == net.v6b);
    CHECK(c->bytes_sent == 3000);
    CHECK(s->bytes_recv == 3000);
    CHECK(c->direction == kOutgoing);
    CHECK(s->direction == kIncoming);
    CHECK(c->intra);
}

TEST_CASE("network_tracer: an expired client is forgotten and starts over") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options("", "", "[ringprobe.network_tracer]\nclient_expiry_ms = 300\n"));
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    poll(client, "old");

    Actor server(net.b), cli(net.a);
    server.ok('L', net.v4b, kServerPort);
    Reply conn = cli.ok('C', net.v4b, kServerPort);
    server.ok('A');
    cli.ok('W', "", 0, 999);
    server.ok('R', "", 0, 999);
    // The client stops polling: it expires (on the module's timer, no request needed).
    REQUIRE(eventually([&] { return stat_u64(client, {"clients_expired"}) >= 1; }));
    CHECK(stat_u64(client, {"closed_buffered"}) == 0);
    // Closes of other processes' connections while "old" was registered are counted too (a
    // shared host, or tests running beside this one): from here on, with no client, none is.
    const uint64_t closed_before = stat_u64(client, {"closed_by_type", "tcp"});
    // A connection that closes now is buffered for nobody (with no client, the kernel does not
    // even write closed records).
    cli.ok('X');
    server.ok('E');
    server.ok('X');
    REQUIRE(eventually([&] { return !tcp_port_busy(net.b, kServerPort); }));
    CHECK(stat_u64(client, {"closed_buffered"}) == 0);
    CHECK(stat_u64(client, {"closed_by_type", "tcp"}) == closed_before);
    // The same id again is a new client: the closed connection is not in its first answer.
    Payload p = poll(client, "old");
    CHECK(p.between(conn.port, kServerPort).empty());
}

TEST_CASE(
    "network_tracer: a fifth client (no kernel slot) gets exact deltas, then a freed slot without "
    "a second full report") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options("", "", "[ringprobe.network_tracer]\nclient_expiry_ms = 3000\n"));
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    auto slot_of = [&](const char* id) {
        simdjson::dom::parser parser;
        std::string keep;
        int64_t v = -2;
        auto e = stats(client, parser, keep)["clients"][id]["slot"];
        REQUIRE_MESSAGE(e.get_int64().get(v) == simdjson::SUCCESS, keep);
        return v;
    };
    const char* others[] = {"c1", "c2", "c3", "c4"};
    auto keep_alive = [&] {
        for (const char* id : others) poll(client, id);
    };
    keep_alive();
    poll(client, "c5");
    REQUIRE(slot_of("c5") == -1);

    Actor server(net.b), cli(net.a);
    const uint32_t N = 4321;
    server.ok('L', net.v4b, kServerPort);
    Reply conn = cli.ok('C', net.v4b, kServerPort);
    server.ok('A');
    cli.ok('W', "", 0, N);
    server.ok('R', "", 0, N);

    Payload p1 = poll(client, "c5");
    const Conn* c1 = p1.one(conn.port, kServerPort);
    REQUIRE(c1 != nullptr);
    CHECK(c1->bytes_sent == N);
    CHECK(c1->established == 1);
    keep_alive();
    // Nothing moved: left out, although the kernel sent it in full.
    Payload p2 = poll(client, "c5");
    CHECK(p2.between(conn.port, kServerPort).empty());
    cli.ok('W', "", 0, 10);
    server.ok('R', "", 0, 10);
    Payload p3 = poll(client, "c5");
    const Conn* c3 = p3.one(conn.port, kServerPort);
    REQUIRE(c3 != nullptr);
    CHECK(c3->bytes_sent == 10);
    CHECK(c3->established == 0);
    const Conn* s3 = p3.one(kServerPort, conn.port);
    REQUIRE(s3 != nullptr);
    CHECK(s3->bytes_recv == 10);
    // Its baselines, in /debug/net_state as a slot client's.
    auto ns = client.get("/network_tracer/debug/net_state?client_id=c5");
    REQUIRE(ns.has_value());
    REQUIRE(ns->status == 200);
    CHECK(ns->body.find("\"total_sent\":" + std::to_string(N + 10)) != std::string::npos);
    keep_alive();
    REQUIRE_MESSAGE(slot_of("c5") == -1, "the other clients expired too early: no test");

    // The others stop polling; c5 goes on (nothing moves: every poll leaves the connection out)
    // and gets a slot when they expire.
    auto until = Clock::now() + std::chrono::seconds(20);
    int64_t slot = -1;
    while (slot == -1 && Clock::now() < until) {
        Payload idle = poll(client, "c5");
        CHECK(idle.between(conn.port, kServerPort).empty());
        slot = slot_of("c5");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE(slot >= 0);
    CHECK(stat_u64(client, {"clients_slot_given_late"}) >= 1);
    // Its first poll in the slot: only what is new (not the whole history again), and after it
    // the kernel's baselines carry on.
    cli.ok('W', "", 0, 7);
    server.ok('R', "", 0, 7);
    Payload p4 = poll(client, "c5");
    const Conn* c4 = p4.one(conn.port, kServerPort);
    REQUIRE(c4 != nullptr);
    CHECK(c4->bytes_sent == 7);
    CHECK(c4->established == 0);
    Payload p5 = poll(client, "c5");
    CHECK(p5.between(conn.port, kServerPort).empty());
    cli.ok('W', "", 0, 3);
    server.ok('R', "", 0, 3);
    Payload p6 = poll(client, "c5");
    const Conn* c6 = p6.one(conn.port, kServerPort);
    REQUIRE(c6 != nullptr);
    CHECK(c6->bytes_sent == 3);
}

TEST_CASE("network_tracer: overflow — the client stats cap, the closed buffer, the socket table") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    SUBCASE("stats cap and closed buffer") {
        // Other processes of this shared host have connections too: counts over the whole payload
        // are lower bounds, ours are exact.
        TestDaemon d(
            daemon_options("system_probe_config.max_connection_state_buffered = 3\n"
                           "system_probe_config.max_closed_connections_buffered = 2\n"));
        REQUIRE_MESSAGE(d.ready(), d.log());
        auto client = d.client();
        poll(client, "c1");
        std::vector<std::unique_ptr<Actor>> servers, clis;
        std::vector<std::pair<uint16_t, uint16_t>> pairs;  // (client port, server port)
        for (uint16_t i = 0; i < 3; ++i) {
            uint16_t sp = static_cast<uint16_t>(5101 + i);
            servers.push_back(std::make_unique<Actor>(net.b));
            clis.push_back(std::make_unique<Actor>(net.a));
            servers.back()->ok('L', net.v4b, sp);
            pairs.emplace_back(clis.back()->ok('C', net.v4b, sp).port, sp);
            servers.back()->ok('A');
            clis.back()->ok('W', "", 0, 100);
            servers.back()->ok('R', "", 0, 100);
        }
        auto ours = [&](const Payload& p) {
            std::vector<const Conn*> out;
            for (auto [cp, sp] : pairs)
                for (const Conn* c : p.between(cp, sp)) out.push_back(c);
            return out;
        };
        // Six of our sockets changed; room for 3 new baselines: the rest are reported without.
        Payload p1 = poll(client, "c1");
        CHECK(ours(p1).size() == 6);
        int64_t dropped1 = p1.telemetry["conn_dropped"];
        MESSAGE("first poll: " << p1.conns.size() << " connections, conn_dropped " << dropped1);
        CHECK(dropped1 >= 3);
        // No traffic: those without a baseline come back with their whole counters (upstream's
        // over-count), the others do not.
        Payload p2 = poll(client, "c1");
        auto again = ours(p2);
        CHECK(again.size() >= 3);
        CHECK(again.size() <= 6);
        for (const Conn* c : again) CHECK(c->bytes_sent + c->bytes_recv == 100);
        CHECK(p2.telemetry["conn_dropped"] >= 3);
        CHECK(stat_u64(client, {"dropped", "conn_dropped"}) >= 6);

        // The closed buffer keeps 2 per client; the rest is dropped and counted.
        for (size_t i = 0; i < clis.size(); ++i) {
            clis[i]->ok('X');
            servers[i]->ok('E');
            servers[i]->ok('X');
        }
        REQUIRE(eventually([&] { return stat_u64(client, {"closed_by_type", "tcp"}) >= 6; }));
        Payload p3 = poll(client, "c1");
        size_t closed = 0;
        for (const auto& c : p3.conns) closed += c.closed;
        CHECK(closed <= 2);
        CHECK(p3.conns.size() >= 2);  // the buffer was full
        CHECK(p3.telemetry["closed_conn_dropped"] >= 4);
        CHECK(stat_u64(client, {"dropped", "closed_conn_dropped"}) >= 4);
    }
    SUBCASE("socket table full") {
        // Other processes on the host hold sockets too: a table of 1 is full at once.
        TestDaemon d(daemon_options("system_probe_config.max_tracked_connections = 1\n"));
        REQUIRE_MESSAGE(d.ready(), d.log());
        auto client = d.client();
        poll(client, "c1");
        Actor server(net.b), cli(net.a);
        server.ok('L', net.v4b, kServerPort);
        cli.ok('C', net.v4b, kServerPort);
        server.ok('A');
        CHECK(eventually([&] { return stat_u64(client, {"dropped", "socks_table_full"}) >= 1; }));
        // A UDP socket that cannot be tracked: its sends are counted as missed (upstream's
        // udp_sends_missed), in /debug/stats and in connTelemetryMap.
        Actor usrv(net.b), ucli(net.a);
        usrv.ok('B', net.v4b, 5354);
        ucli.ok('D', net.v4b, 5354);
        for (int i = 0; i < 3; ++i) {
            ucli.ok('S', "", 0, 10);
            usrv.ok('V');
        }
        CHECK(stat_u64(client, {"dropped", "udp_sends_missed"}) >= 3);
        Payload p = poll(client, "c1");
        CHECK(p.telemetry["udp_sends_missed"] >= 3);
    }
}

TEST_CASE("network_tracer: 2,000 connections at once, every one exact") {
    rp::test::require_bpf_or_skip();
    TestNet net;
    rp::test::skip_unless(net.error);
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    poll(client, "c1");

    // One process opens 2,000 loopback connections in namespace a and writes i % 97 + 1 bytes on
    // the i-th; the server side reads them all. It reports each client port.
    constexpr int kConns = 2000;
    int up[2], down[2];
    REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(down, O_CLOEXEC) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int fd = ::open(("/run/netns/" + net.a).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(10);
        rlimit files{2 * kConns + 64, 2 * kConns + 64};
        if (::setrlimit(RLIMIT_NOFILE, &files) != 0) ::_exit(16);
        int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        socklen_t len = 0;
        sockaddr_storage a = make_addr(false, "127.0.0.1", 5003, &len);
        if (::bind(l, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(l, 4096) != 0)
            ::_exit(11);
        std::vector<int> fds;
        std::vector<uint16_t> ports;
        char buf[128] = {};
        for (int i = 0; i < kConns; ++i) {
            int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (::connect(c, reinterpret_cast<sockaddr*>(&a), len) != 0) ::_exit(12);
            int s = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
            size_t n = static_cast<size_t>(i % 97 + 1);
            if (s < 0 || ::send(c, buf, n, 0) != static_cast<ssize_t>(n)) ::_exit(13);
            if (!read_all(s, buf, n)) ::_exit(14);
            fds.push_back(c);
            fds.push_back(s);
            ports.push_back(local_port(c));
        }
        if (!write_all(up[1], ports.data(), ports.size() * sizeof(uint16_t))) ::_exit(15);
        char q;
        read_all(down[0], &q, 1);  // hold them open until told
        ::_exit(0);
    }
    ::close(up[1]);
    ::close(down[0]);
    std::vector<uint16_t> ports(kConns);
    REQUIRE(read_all(up[0], ports.data(), ports.size() * sizeof(uint16_t)));

    auto t0 = Clock::now();
    Payload p = poll(client, "c1");
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::map<uint16_t, const Conn*> by_port;
    for (const auto& c : p.conns)
        if (c.netns == net.ino_a && c.rport == 5003) by_port[static_cast<uint16_t>(c.lport)] = &c;
    size_t exact = 0;
    for (int i = 0; i < kConns; ++i) {
        auto it = by_port.find(ports[i]);
        if (it != by_port.end() && it->second->bytes_sent == static_cast<uint64_t>(i % 97 + 1) &&
            it->second->pid == child && it->second->intra)
            ++exact;
    }
    size_t server_ends = 0;
    for (const auto& c : p.conns) server_ends += c.netns == net.ino_a && c.lport == 5003;
    MESSAGE(p.conns.size() << " connections in " << ms << " ms");
    CHECK(exact == kConns);
    CHECK(server_ends == kConns);
    CHECK(write_all(down[1], "q", 1));
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    ::close(up[0]);
    ::close(down[1]);
}

namespace {

// Every BPF program and map id the kernel has, and the programs of every link.
std::set<uint32_t> ids(int (*next)(uint32_t, uint32_t*)) {
    std::set<uint32_t> out;
    uint32_t id = 0;
    while (next(id, &id) == 0) out.insert(id);
    return out;
}

std::set<uint32_t> link_programs() {
    std::set<uint32_t> out;
    uint32_t id = 0;
    while (bpf_link_get_next_id(id, &id) == 0) {
        int fd = bpf_link_get_fd_by_id(id);
        if (fd < 0) continue;
        bpf_link_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) out.insert(info.prog_id);
        ::close(fd);
    }
    return out;
}

// The ids /ebpf/check lists for module network_tracer.
std::pair<std::set<uint32_t>, std::set<uint32_t>> module_objects(rp::http::Client& c) {
    auto r = c.get("/ebpf/check");
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(r->body).get(doc) == simdjson::SUCCESS);
    std::set<uint32_t> progs, maps;
    for (auto p : doc["Programs"].get_array())
        if (std::string_view(p["Module"]) == "network_tracer")
            progs.insert(uint32_t(uint64_t(p["ID"])));
    for (auto m : doc["Maps"].get_array())
        if (std::string_view(m["Module"]) == "network_tracer")
            maps.insert(uint32_t(uint64_t(m["ID"])));
    return {progs, maps};
}

}  // namespace

TEST_CASE("network_tracer: close() leaves no program, map or link (module restart)") {
    rp::test::require_bpf_or_skip();
    DaemonOptions o = daemon_options();
    o.toml += "[ebpf_check]\nenabled = true\n";
    TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    auto [progs, maps] = module_objects(client);
    CHECK(progs.size() == 6);  // 4 tracepoints, the iterator, the cgroup program
    CHECK(maps.size() >= 7);
    std::set<uint32_t> linked = link_programs();
    size_t ours_linked = 0;
    for (uint32_t p : progs) ours_linked += linked.count(p);
    CHECK(ours_linked == progs.size());  // every program attached by a link

    auto r = client.post("/module-restart/network_tracer", "");
    REQUIRE(r.has_value());
    REQUIRE_MESSAGE(r->status == 200, r->body);
    // The old objects leave the kernel (program and map ids go when their last reference does;
    // link teardown may finish after an RCU grace period).
    CHECK(eventually([&] {
        auto live_progs = ids(bpf_prog_get_next_id);
        auto live_maps = ids(bpf_map_get_next_id);
        auto live_links = link_programs();
        for (uint32_t p : progs)
            if (live_progs.count(p) || live_links.count(p)) return false;
        for (uint32_t m : maps)
            if (live_maps.count(m)) return false;
        return true;
    }));
    auto [progs2, maps2] = module_objects(client);
    CHECK(progs2.size() == 6);
    for (uint32_t p : progs2) CHECK(progs.count(p) == 0);
    poll(client, "after-restart");  // and it serves
}

TEST_CASE("network_tracer: /register, /network_id and JSON /connections") {
    rp::test::require_bpf_or_skip();
    SUBCASE("network_id unset: 500, as upstream without cloud metadata, saying why") {
        TestDaemon d(daemon_options());
        REQUIRE_MESSAGE(d.ready(), d.log());
        auto client = d.client();
        auto r = client.get("/network_tracer/network_id");
        REQUIRE(r.has_value());
        CHECK(r->status == 500);
        CHECK(r->header("content-type") == "text/plain; charset=utf-8");
        CHECK(r->body.find("network_config.network_id is not set") != std::string::npos);
        auto reg = client.get("/network_tracer/register?client_id=x");
        REQUIRE(reg.has_value());
        CHECK(reg->status == 200);
        CHECK(reg->body.empty());
        auto j = client.get("/network_tracer/connections?client_id=x");
        REQUIRE(j.has_value());
        CHECK(j->status == 200);
        CHECK(j->header("content-type") == "application/json");
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        REQUIRE(parser.parse(j->body).get(doc) == simdjson::SUCCESS);
        CHECK(doc["conns"].is_array());
        CHECK(std::string_view(doc["kernelHeaderFetchResult"]) == "FetchNotAttempted");
    }
    SUBCASE("network_id from the config") {
        TestDaemon d(daemon_options("", "network_id = \"vpc-123abc\"\n"));
        REQUIRE_MESSAGE(d.ready(), d.log());
        auto client = d.client();
        auto r = client.get("/network_tracer/network_id");
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(r->body == "vpc-123abc");
    }
}
