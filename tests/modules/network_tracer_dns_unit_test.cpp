// network_tracer_dns_unit_test.cpp — network_tracer's DNS parser and stat keeper without a kernel.
#include <doctest/doctest.h>
#include <linux/if_packet.h>

#include <cstdint>
#include <string>
#include <vector>

#include "modules/network_tracer/dns.h"

namespace {

namespace N = rp::modules::network_tracer;
using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}

// A DNS message: id, flags, one question for `name` (type A), then `answers` A records
// (compressed names pointing at the question).
Bytes message(uint16_t id, uint16_t flags, const std::string& name,
              const std::vector<std::array<uint8_t, 4>>& answers = {}) {
    Bytes m;
    put16(m, id);
    put16(m, flags);
    put16(m, 1);
    put16(m, static_cast<uint16_t>(answers.size()));
    put16(m, 0);
    put16(m, 0);
    size_t start = 0;
    while (start <= name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        m.push_back(static_cast<uint8_t>(dot - start));
        for (size_t i = start; i < dot; ++i) m.push_back(static_cast<uint8_t>(name[i]));
        start = dot + 1;
    }
    m.push_back(0);
    put16(m, 1);
    put16(m, 1);
    for (const auto& a : answers) {
        m.push_back(0xc0);
        m.push_back(12);
        put16(m, 1);
        put16(m, 1);
        put16(m, 0);
        put16(m, 60);
        put16(m, 4);
        m.insert(m.end(), a.begin(), a.end());
    }
    return m;
}

// IPv4 + UDP (or TCP with the 2-byte length prefix) around a message.
Bytes packet(const Bytes& msg, uint16_t sport, uint16_t dport, bool tcp = false) {
    Bytes l4;
    if (tcp) {
        put16(l4, sport);
        put16(l4, dport);
        for (int i = 0; i < 8; ++i) l4.push_back(0);
        l4.push_back(5 << 4);
        for (int i = 0; i < 7; ++i) l4.push_back(0);
        put16(l4, static_cast<uint16_t>(msg.size()));
    } else {
        put16(l4, sport);
        put16(l4, dport);
        put16(l4, static_cast<uint16_t>(8 + msg.size()));
        put16(l4, 0);
    }
    l4.insert(l4.end(), msg.begin(), msg.end());
    Bytes ip = {0x45, 0};
    put16(ip, static_cast<uint16_t>(20 + l4.size()));
    put16(ip, 0);
    put16(ip, 0x4000);  // DF
    ip.push_back(64);
    ip.push_back(tcp ? 6 : 17);
    put16(ip, 0);
    // client 10.0.0.1, server 10.0.0.53 (swapped for a response)
    Bytes c = {10, 0, 0, 1}, s = {10, 0, 0, 53};
    bool response = sport == 53;
    ip.insert(ip.end(), (response ? s : c).begin(), (response ? s : c).end());
    ip.insert(ip.end(), (response ? c : s).begin(), (response ? c : s).end());
    ip.insert(ip.end(), l4.begin(), l4.end());
    return ip;
}

}  // namespace

TEST_CASE("network_tracer dns: queries and responses over UDP and TCP") {
    N::DnsPacket p;
    REQUIRE(N::parse_dns_packet(packet(message(7, 0x0100, "WWW.Example.org"), 40000, 53), p) ==
            N::ParseResult::ok);
    CHECK(p.kind == N::DnsPacket::Kind::query);
    CHECK(p.id == 7);
    CHECK(p.question == "www.example.org");
    CHECK(p.qtype == 1);
    CHECK(p.key.client_port == 40000);
    CHECK(p.key.type == NT_TYPE_UDP);
    CHECK(p.key.server.a[15] == 53);
    CHECK(p.key.client.a[15] == 1);
    CHECK(p.key.server.a[10] == 0xff);

    REQUIRE(N::parse_dns_packet(
                packet(message(7, 0x8180, "www.example.org", {{{1, 2, 3, 4}}, {{5, 6, 7, 8}}}), 53,
                       40000),
                p) == N::ParseResult::ok);
    CHECK(p.kind == N::DnsPacket::Kind::success);
    CHECK(p.key.client_port == 40000);
    CHECK(p.key.server.a[15] == 53);
    REQUIRE(p.answers.size() == 2);
    CHECK(p.answers[1].addr.a[12] == 5);

    REQUIRE(N::parse_dns_packet(packet(message(9, 0x8183, "nope.org"), 53, 40001, true), p) ==
            N::ParseResult::ok);
    CHECK(p.kind == N::DnsPacket::Kind::failure);
    CHECK(p.rcode == 3);
    CHECK(p.key.type == NT_TYPE_TCP);
    CHECK(p.answers.empty());

    // Not DNS: neither port is 53; a pointer loop in the name; a cut header.
    CHECK(N::parse_dns_packet(packet(message(1, 0x0100, "a.b"), 1000, 2000), p) ==
          N::ParseResult::skipped);
    Bytes loop = message(1, 0x0100, "");
    loop[12] = 0xc0;
    loop.insert(loop.begin() + 13, 12);
    CHECK(N::parse_dns_packet(packet(loop, 40000, 53), p) != N::ParseResult::ok);
    Bytes cut = packet(message(1, 0x0100, "a.b"), 40000, 53);
    cut.resize(20 + 8 + 5);
    CHECK(N::parse_dns_packet(cut, p) == N::ParseResult::truncated);
    // The tap's filter: the packet type first, every other packet refused at the shared filter's
    // last instruction, and the shared filter unchanged behind it (its jumps are relative).
    auto f = N::dns_socket_filter();
    auto t = N::dns_tap_filter();
    REQUIRE(t.size() == f.size() + 2);
    CHECK(t[0].code == (BPF_LD | BPF_B | BPF_ABS));
    CHECK(t[0].k == static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE));
    CHECK(t[1].code == (BPF_JMP | BPF_JEQ | BPF_K));
    CHECK(t[1].k == PACKET_OUTGOING);
    CHECK(t[1].jt == 0);
    CHECK(2u + t[1].jf == t.size() - 1);
    CHECK(t.back().code == (BPF_RET | BPF_K));
    CHECK(t.back().k == 0);
    for (size_t i = 0; i < f.size(); ++i) {
        CHECK(t[i + 2].code == f[i].code);
        CHECK(t[i + 2].k == f[i].k);
        CHECK(t[i + 2].jt == f[i].jt);
        CHECK(t[i + 2].jf == f[i].jf);
    }
}

TEST_CASE("network_tracer dns: the stat keeper's latency, timeouts, late responses and cap") {
    N::DnsOptions o;
    o.timeout_us = 1000;
    o.max_stats = 2;
    N::DnsCounters k;
    N::DnsStatKeeper keeper(o, k);
    N::DnsPacket q, r;
    REQUIRE(N::parse_dns_packet(packet(message(1, 0x0100, "a.org"), 40000, 53), q) ==
            N::ParseResult::ok);
    keeper.process(q, 100);
    keeper.process(q, 150);  // seen twice: one query
    CHECK(k.duplicate_queries == 1);
    REQUIRE(N::parse_dns_packet(packet(message(1, 0x8180, "a.org"), 53, 40000), r) ==
            N::ParseResult::ok);
    keeper.process(r, 400);
    keeper.process(r, 450);  // no query left
    CHECK(k.unmatched_responses == 1);

    // A second query never answered, a third answered too late.
    REQUIRE(N::parse_dns_packet(packet(message(2, 0x0100, "a.org"), 40000, 53), q) ==
            N::ParseResult::ok);
    keeper.process(q, 500);
    REQUIRE(N::parse_dns_packet(packet(message(3, 0x0100, "a.org"), 40000, 53), q) ==
            N::ParseResult::ok);
    keeper.process(q, 600);
    CHECK(keeper.expire(1550) == 1600);  // id 2 timed out (1500), id 3 waits until 1600
    REQUIRE(N::parse_dns_packet(packet(message(3, 0x8180, "a.org"), 53, 40000), r) ==
            N::ParseResult::ok);
    keeper.process(r, 1700);
    CHECK(k.late_responses == 1);
    CHECK(k.timeouts == 2);

    // Over max_stats (2 entries): a third (key, domain, type) is dropped.
    for (const char* d : {"b.org", "c.org"}) {
        REQUIRE(N::parse_dns_packet(packet(message(4, 0x0100, d), 40000, 53), q) ==
                N::ParseResult::ok);
        keeper.process(q, 2000);
        REQUIRE(N::parse_dns_packet(packet(message(4, 0x8180, d), 53, 40000), r) ==
                N::ParseResult::ok);
        keeper.process(r, 2100);
    }
    CHECK(k.stats_dropped == 1);
    N::DnsStatsByKey all = keeper.take();
    REQUIRE(all.size() == 1);
    const N::DnsKeyStats& s = all.begin()->second;
    REQUIRE(s.size() == 2);
    const N::DnsTypeStats& a = s.at({"a.org", 1});
    CHECK(a.by_rcode[0] == 1);
    CHECK(a.success_latency_us == 300);
    CHECK(a.timeouts == 2);
    CHECK(s.at({"b.org", 1}).success_latency_us == 100);
    CHECK(keeper.stats() == 0);
}
