// network_tracer_translation_test.cpp — the conntrack translation cache and upstream's NAT rules
// (modules/network_tracer/translation.h), no kernel needed.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <random>

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

namespace {

// The model of the cache for the table tests: a key's translation and its expiry (0: none).
struct ModelKey {
    std::array<uint8_t, 36> t;
    uint8_t type;
    uint32_t netns;
    auto operator<=>(const ModelKey&) const = default;
};

ModelKey mkey(const Tuple& t, uint8_t type, uint32_t netns) {
    ModelKey k{{}, type, netns};
    std::memcpy(k.t.data(), &t, sizeof t);
    return k;
}

struct ModelValue {
    Tuple repl;
    uint64_t expires = 0;
};

// A tuple from a small space (10.9.x.y, few ports): repeats, so adds overwrite and destroys hit.
Tuple small_tuple(std::mt19937& rng) {
    nt_addr s = v4("10.9.0.0"), d = v4("10.9.0.0");
    s.a[14] = static_cast<uint8_t>(rng() % 2);
    s.a[15] = static_cast<uint8_t>(rng() % 8);
    d.a[15] = static_cast<uint8_t>(100 + rng() % 2);
    return Tuple{.src = s,
                 .dst = d,
                 .sport = static_cast<uint16_t>(1000 + rng() % 4),
                 .dport = static_cast<uint16_t>(80 + rng() % 2)};
}

}  // namespace

TEST_CASE("translation table: collisions, backward-shift deletion, overwrites, against a model") {
    // 512 tuples in 769 slots, at most ~300 live: linear probing clusters (max_probe() > 0),
    // and every removal shifts slots back; after each operation the table and the model agree.
    constexpr uint64_t kExpiry = 50;
    TranslationCache c(512, kExpiry);
    std::map<ModelKey, ModelValue> m;
    std::mt19937 rng(14);
    size_t worst_probe = 0, removed = 0, overwrites = 0;
    uint64_t now = 1;
    for (int step = 0; step < 6000; ++step, ++now) {
        uint8_t type = rng() % 2 ? NT_TYPE_TCP : NT_TYPE_UDP;
        uint32_t ns = 1 + rng() % 2;
        Tuple o = small_tuple(rng), r = small_tuple(rng);
        if (std::memcmp(&o, &r, sizeof o) == 0) continue;
        int op = static_cast<int>(rng() % 10);
        if (op < 5 && m.size() + 2 <= 300) {
            for (auto [k, v] : {std::pair{o, r}, std::pair{r, o}}) {
                overwrites += m.contains(mkey(k, type, ns));
                m[mkey(k, type, ns)] = ModelValue{v, 0};
            }
            REQUIRE(c.add(o, r, type, ns, false, now) == 0);
        } else if (op < 8) {
            bool known = false;
            for (const Tuple& k : {o, r})
                if (auto f = m.find(mkey(k, type, ns)); f != m.end()) {
                    known = true;
                    if (f->second.expires == 0) f->second.expires = now + kExpiry;
                }
            REQUIRE(c.destroyed(o, r, type, ns, now) == known);
        } else if (op == 8) {
            size_t gone = std::erase_if(m, [&](const auto& kv) {
                return kv.second.expires != 0 && kv.second.expires <= now;
            });
            REQUIRE(c.compact(now) == gone);
            removed += gone;
        } else {
            const IpTranslation* t = c.get(o, type, ns);
            auto f = m.find(mkey(o, type, ns));
            REQUIRE((t != nullptr) == (f != m.end()));
            if (t != nullptr) REQUIRE(same(t->repl, f->second.repl));
        }
        REQUIRE(c.size() == m.size());
        REQUIRE(c.consistent());
        worst_probe = std::max(worst_probe, c.max_probe());
    }
    // Every key of the model is found with its translation, and nothing else.
    for (const auto& [k, v] : m) {
        Tuple t;
        std::memcpy(&t, k.t.data(), sizeof t);
        const IpTranslation* tr = c.get(t, k.type, k.netns);
        REQUIRE(tr != nullptr);
        CHECK(same(tr->repl, v.repl));
    }
    MESSAGE("longest probe ", worst_probe, ", removed ", removed, ", overwrites ", overwrites);
    CHECK(worst_probe > 0);  // there were collisions
    CHECK(removed > 100);    // and removals through backward shift
    CHECK(overwrites > 100);
    c.clear();
    CHECK(c.size() == 0);
    CHECK(c.consistent());
    CHECK(c.memory_bytes() == c.index_slots() * 4);  // no entry in use after clear()
}

TEST_CASE("translation table: eviction at the cap is bounded and counted") {
    TranslationCache c(64);
    size_t evicted = 0;
    for (uint16_t i = 0; i < 100; ++i)
        evicted += c.add(tup("10.0.2.1", static_cast<uint16_t>(1000 + i), "10.0.2.100", 80),
                         tup("10.0.2.2", 80, "10.0.2.1", static_cast<uint16_t>(1000 + i)),
                         NT_TYPE_UDP, 3, false, 0);
    CHECK(c.size() == 64);
    CHECK(evicted == 200 - 64);
    CHECK(c.consistent());
    // The last pairs added are the ones kept (the clock's hand went round in insertion order).
    CHECK(c.get(tup("10.0.2.1", 1099, "10.0.2.100", 80), NT_TYPE_UDP, 3) != nullptr);
    CHECK(c.get(tup("10.0.2.1", 1000, "10.0.2.100", 80), NT_TYPE_UDP, 3) == nullptr);
    // Memory: fixed by the cap, not by the number of adds.
    CHECK(c.memory_bytes() <= 64 * 100);

    // An entry asked for before every add survives a whole turn of evictions.
    Tuple hot = tup("10.0.2.1", 1099, "10.0.2.100", 80);
    for (uint16_t i = 0; i < 200; ++i) {
        REQUIRE(c.get(hot, NT_TYPE_UDP, 3) != nullptr);
        c.add(tup("10.0.3.1", static_cast<uint16_t>(1000 + i), "10.0.3.100", 80),
              tup("10.0.3.2", 80, "10.0.3.1", static_cast<uint16_t>(1000 + i)), NT_TYPE_UDP, 3,
              false, 0);
    }
    CHECK(c.get(hot, NT_TYPE_UDP, 3) != nullptr);
    CHECK(c.size() == 64);
    CHECK(c.consistent());

    // Orphans evicted are no longer counted as orphans.
    TranslationCache o(8);
    for (uint16_t i = 0; i < 10; ++i)
        o.add(tup("10.0.4.1", static_cast<uint16_t>(1000 + i), "10.0.4.100", 80),
              tup("10.0.4.2", 80, "10.0.4.1", static_cast<uint16_t>(1000 + i)), NT_TYPE_TCP, 3,
              true, 0);
    CHECK(o.size() == 8);
    CHECK(o.orphans() == 8);
    CHECK(o.consistent());
}

TEST_CASE("translation table: namespaces, expiry after DESTROY, a NEW after DESTROY") {
    TranslationCache c(16, 1000);
    Tuple o = tup("10.0.5.1", 4000, "10.0.5.100", 53);
    Tuple r1 = tup("10.0.5.2", 5353, "10.0.5.1", 4000);
    Tuple r2 = tup("10.0.5.3", 5353, "10.0.5.1", 4000);
    c.add(o, r1, NT_TYPE_UDP, 1, false, 0);
    c.add(o, r2, NT_TYPE_UDP, 2, false, 0);  // the same tuple in another namespace
    REQUIRE(c.get(o, NT_TYPE_UDP, 1) != nullptr);
    CHECK(same(c.get(o, NT_TYPE_UDP, 1)->repl, r1));
    CHECK(same(c.get(o, NT_TYPE_UDP, 2)->repl, r2));
    CHECK(c.get(o, NT_TYPE_UDP, 3) == nullptr);
    CHECK(c.destroyed(o, r1, NT_TYPE_UDP, 1, 100));
    CHECK_FALSE(c.destroyed(o, r1, NT_TYPE_UDP, 3, 100));  // not known there
    CHECK(c.compact(1100) == 2);                           // namespace 1's two tuples
    CHECK(c.get(o, NT_TYPE_UDP, 1) == nullptr);
    CHECK(c.get(o, NT_TYPE_UDP, 2) != nullptr);  // namespace 2 untouched

    // A second DESTROY does not push the expiry back; a NEW of the same tuples after a DESTROY
    // is a live entry again (no expiry).
    c.destroyed(o, r2, NT_TYPE_UDP, 2, 200);
    c.destroyed(o, r2, NT_TYPE_UDP, 2, 900);
    CHECK(c.compact(1200) == 2);
    c.add(o, r2, NT_TYPE_UDP, 2, false, 2000);
    c.destroyed(o, r2, NT_TYPE_UDP, 2, 2000);
    c.add(o, r2, NT_TYPE_UDP, 2, false, 2500);
    CHECK(c.compact(10000) == 0);
    CHECK(c.get(r2, NT_TYPE_UDP, 2) != nullptr);
    // An orphan asked for after its DESTROY still expires.
    Tuple oo = tup("10.0.5.1", 4001, "10.0.5.100", 53), ro = tup("10.0.5.2", 53, "10.0.5.1", 4001);
    c.add(oo, ro, NT_TYPE_UDP, 2, true, 3000);
    c.destroyed(oo, ro, NT_TYPE_UDP, 2, 3100);
    CHECK(c.get(oo, NT_TYPE_UDP, 2) != nullptr);
    CHECK(c.orphans() == 1);
    CHECK(c.compact(4099) == 0);
    CHECK(c.compact(4100) == 2);
    CHECK(c.orphans() == 0);
    CHECK(c.consistent());
}

TEST_CASE("translation table: memory is fixed by the cap, under 100 bytes per tuple there") {
    // Regression: the node-based table held 188 bytes per tuple (list node, hash node, bucket).
    TranslationCache c(131072);
    CHECK(c.index_slots() >= 131072 * 3 / 2);
    size_t empty = c.memory_bytes();
    for (uint32_t i = 0; i < 65536; ++i) {
        nt_addr a = v4("10.1.0.0");
        a.a[14] = static_cast<uint8_t>(i >> 8);
        a.a[15] = static_cast<uint8_t>(i);
        c.add(Tuple{.src = a, .dst = v4("10.2.0.1"), .sport = 1000, .dport = 53},
              Tuple{.src = v4("10.3.0.1"), .dst = a, .sport = 53, .dport = 1000}, NT_TYPE_UDP, 1,
              false, 0);
    }
    CHECK(c.size() == 131072);
    CHECK(c.consistent());
    CHECK(c.memory_bytes() > empty);
    CHECK(c.memory_bytes() / c.size() < 100);
    CHECK(c.max_entries() == 131072);
}
