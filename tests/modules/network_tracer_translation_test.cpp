// network_tracer_translation_test.cpp — the conntrack translation cache and upstream's NAT rules
// (modules/network_tracer/translation.h), no kernel needed.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstring>

#include "modules/network_tracer/translation.h"

namespace {

using namespace rp::modules::network_tracer;

nt_addr v4(const char* s) {
    nt_addr a{};
    a.a[10] = a.a[11] = 0xff;
    REQUIRE(inet_pton(AF_INET, s, a.a + 12) == 1);
    return a;
}

Tuple tup(const char* s, uint16_t sp, const char* d, uint16_t dp) {
    return Tuple{.src = v4(s), .dst = v4(d), .sport = sp, .dport = dp};
}

bool same(const Tuple& x, const Tuple& y) {
    return std::memcmp(x.src.a, y.src.a, 16) == 0 && std::memcmp(x.dst.a, y.dst.a, 16) == 0 &&
           x.sport == y.sport && x.dport == y.dport;
}

}  // namespace

TEST_CASE("translation: IsNAT as upstream") {
    Tuple o = tup("10.0.0.1", 5000, "10.0.0.100", 80);
    CHECK(TranslationCache::is_nat(o, tup("10.0.0.2", 8080, "10.0.0.1", 5000)));  // DNAT
    CHECK(TranslationCache::is_nat(o, tup("10.0.0.100", 80, "1.1.1.1", 6000)));   // SNAT
    CHECK_FALSE(TranslationCache::is_nat(o, tup("10.0.0.100", 80, "10.0.0.1", 5000)));
    CHECK_FALSE(TranslationCache::is_nat(o, tup("10.0.0.2", 0, "10.0.0.1", 5000)));  // no port
    CHECK_FALSE(TranslationCache::is_nat(tup("0.0.0.0", 1, "10.0.0.100", 80),
                                         tup("10.0.0.2", 8080, "10.0.0.1", 1)));
}

TEST_CASE("translation: both tuples registered, per namespace, LRU bounded, orphans expire") {
    TranslationCache c(8, 1000);
    Tuple o = tup("10.0.0.1", 5000, "10.0.0.100", 80);
    Tuple r = tup("10.0.0.2", 8080, "10.0.0.1", 5000);
    CHECK(c.add(o, r, NT_TYPE_TCP, 7, false, 0) == 0);
    CHECK(c.size() == 2);
    const IpTranslation* t = c.get(o, NT_TYPE_TCP, 7);
    REQUIRE(t != nullptr);
    CHECK(same(t->repl, r));
    t = c.get(r, NT_TYPE_TCP, 7);
    REQUIRE(t != nullptr);
    CHECK(same(t->repl, o));
    CHECK(c.get(o, NT_TYPE_UDP, 7) == nullptr);  // another transport
    CHECK(c.get(o, NT_TYPE_TCP, 8) == nullptr);  // another namespace

    // An event's entry nobody asks for expires; one asked for stays.
    Tuple o2 = tup("10.0.0.1", 5001, "10.0.0.100", 80);
    Tuple r2 = tup("10.0.0.2", 8080, "10.0.0.1", 5001);
    CHECK(c.add(o2, r2, NT_TYPE_TCP, 7, true, 0) == 0);
    CHECK(c.orphans() == 2);
    CHECK(c.get(o2, NT_TYPE_TCP, 7) != nullptr);
    CHECK(c.orphans() == 1);
    CHECK(c.compact(999) == 0);
    CHECK(c.compact(1000) == 1);  // r2's tuple, never asked for
    CHECK(c.size() == 3);

    Tuple o3 = tup("10.0.0.1", 5002, "10.0.0.100", 80);
    Tuple r3 = tup("10.0.0.2", 8080, "10.0.0.1", 5002);
    CHECK(c.add(o3, r3, NT_TYPE_TCP, 7, false, 0) == 0);

    // DESTROY: gone after the orphan timeout, not at once.
    CHECK(c.destroyed(o3, r3, NT_TYPE_TCP, 7, 5000));
    CHECK(c.get(o3, NT_TYPE_TCP, 7) != nullptr);
    CHECK(c.compact(5999) == 0);
    CHECK(c.compact(6000) == 2);
    CHECK(c.get(o3, NT_TYPE_TCP, 7) == nullptr);
    CHECK(c.memory_bytes() > 0);

    // Full: the oldest entries not asked for since go (second chance), counted.
    TranslationCache l(4);
    Tuple oa = tup("10.0.1.1", 1, "10.0.1.100", 80), ra = tup("10.0.1.2", 80, "10.0.1.1", 1);
    Tuple ob = tup("10.0.1.1", 2, "10.0.1.100", 80), rb = tup("10.0.1.2", 80, "10.0.1.1", 2);
    Tuple oc = tup("10.0.1.1", 3, "10.0.1.100", 80), rc = tup("10.0.1.2", 80, "10.0.1.1", 3);
    CHECK(l.add(oa, ra, NT_TYPE_TCP, 7, false, 0) == 0);
    CHECK(l.add(ob, rb, NT_TYPE_TCP, 7, false, 0) == 0);
    CHECK(l.get(oa, NT_TYPE_TCP, 7) != nullptr);
    CHECK(l.add(oc, rc, NT_TYPE_TCP, 7, false, 0) == 2);
    CHECK(l.size() == 4);
    CHECK(l.get(oa, NT_TYPE_TCP, 7) != nullptr);  // asked for: kept
    CHECK(l.get(ra, NT_TYPE_TCP, 7) == nullptr);  // the oldest
    CHECK(l.get(ob, NT_TYPE_TCP, 7) == nullptr);
    CHECK(l.get(rb, NT_TYPE_TCP, 7) != nullptr);
    CHECK(l.get(oc, NT_TYPE_TCP, 7) != nullptr);
    CHECK(l.get(rc, NT_TYPE_TCP, 7) != nullptr);

    TranslationCache none(0);
    CHECK(none.add(o, r, NT_TYPE_TCP, 7, false, 0) == 0);
    CHECK(none.size() == 0);
}

TEST_CASE("translation: upstream's intraHost and DNAT clean-up (state_test.go cases)") {
    auto conn = [](const char* s, uint16_t sp, const char* d, uint16_t dp, uint8_t dir) {
        nt_conn c{};
        c.saddr = v4(s);
        c.daddr = v4(d);
        c.sport = sp;
        c.dport = dp;
        c.direction = dir;
        return c;
    };
    auto local_none = [](const nt_addr&, uint16_t, uint8_t) { return false; };
    // TestDNATIntraHost: the translated peer 1.1.1.1:8000 is a local endpoint.
    nt_conn dnat = conn("10.0.25.1", 59782, "2.2.2.2", 8000, NT_DIR_OUTGOING);
    IpTranslation t{tup("1.1.1.1", 8000, "10.0.25.1", 59782)};
    nt_addr peer = v4("1.1.1.1");
    auto local_peer = [&](const nt_addr& a, uint16_t p, uint8_t) {
        return std::memcmp(a.a, peer.a, 16) == 0 && p == 8000;
    };
    CHECK(nat_intra_host(dnat, t, local_peer));
    CHECK_FALSE(nat_intra_host(dnat, t, local_none));
    CHECK(nat_keep(dnat, t, true, NT_DIR_OUTGOING));
    // "dest nat'ed to loopback".
    nt_conn lo = conn("1.1.1.1", 123, "2.2.2.2", 456, NT_DIR_OUTGOING);
    CHECK(nat_intra_host(lo, IpTranslation{tup("127.0.0.1", 456, "1.1.1.1", 123)}, local_none));
    // The server side of a local DNAT'ed connection: its translation (from the reply tuple) goes.
    nt_conn server = conn("10.0.0.2", 8080, "10.0.0.1", 5000, NT_DIR_INCOMING);
    IpTranslation st{tup("10.0.0.1", 5000, "10.0.0.100", 80)};
    CHECK_FALSE(nat_keep(server, st, true, NT_DIR_INCOMING));
    CHECK(nat_keep(server, st, false, NT_DIR_INCOMING));  // not intra-host: kept
    // An incoming connection SNAT'ed on the way in keeps it.
    IpTranslation snat{tup("10.0.0.1", 5000, "10.0.0.2", 8080)};
    CHECK(nat_keep(server, snat, true, NT_DIR_INCOMING));
}
