// translation.cpp — see translation.h.
#include "modules/network_tracer/translation.h"

#include <cstring>

namespace rp::modules::network_tracer {
namespace {

bool addr_zero(const nt_addr& a) {
    static constexpr nt_addr kZero{};
    static constexpr uint8_t kMappedZero[16] = {0, 0, 0,    0,    0, 0, 0, 0,
                                                0, 0, 0xff, 0xff, 0, 0, 0, 0};
    return std::memcmp(a.a, kZero.a, 16) == 0 || std::memcmp(a.a, kMappedZero, 16) == 0;
}

bool addr_eq(const nt_addr& x, const nt_addr& y) { return std::memcmp(x.a, y.a, 16) == 0; }

bool tuple_eq(const Tuple& x, const Tuple& y) {
    return addr_eq(x.src, y.src) && addr_eq(x.dst, y.dst) && x.sport == y.sport &&
           x.dport == y.dport;
}

}  // namespace

bool addr_loopback(const nt_addr& a) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a.a, kMapped, 12) == 0) return a.a[12] == 127;
    static constexpr uint8_t kOne[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(a.a, kOne, 16) == 0;
}

bool TranslationCache::Key::operator==(const Key& o) const {
    return netns == o.netns && type == o.type && tuple_eq(t, o.t);
}

size_t TranslationCache::KeyHash::operator()(const Key& k) const {
    // Eight-byte words mixed with multiplications (a lookup per reported connection: a byte loop
    // would cost more than the rest of it).
    uint64_t w[5];
    std::memcpy(&w[0], k.t.src.a, 16);
    std::memcpy(&w[2], k.t.dst.a, 16);
    w[4] = (uint64_t{k.t.sport} << 48) | (uint64_t{k.t.dport} << 32) | k.netns;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ k.type;
    for (uint64_t x : w) {
        h ^= x * 0xbf58476d1ce4e5b9ull;
        h = (h << 27 | h >> 37) * 0x94d049bb133111ebull;
    }
    return static_cast<size_t>(h ^ (h >> 31));
}

bool TranslationCache::is_nat(const Tuple& o, const Tuple& r) {
    if (addr_zero(o.src) || addr_zero(r.src) || o.sport == 0 || o.dport == 0 || r.sport == 0 ||
        r.dport == 0)
        return false;
    return !addr_eq(o.src, r.dst) || !addr_eq(o.dst, r.src) || o.sport != r.dport ||
           o.dport != r.sport;
}

void TranslationCache::erase(List::iterator it) {
    if (it->orphan) --orphans_;
    map_.erase(it->key);
    lru_.erase(it);
}

size_t TranslationCache::put(const Key& k, const Tuple& repl, bool orphan, uint64_t now_ms) {
    size_t evicted = 0;
    if (auto f = map_.find(k); f != map_.end()) erase(f->second);
    if (max_ == 0) return 0;
    // Second chance (CLOCK): an entry used since it last reached the end goes back to the front;
    // get() only marks it, so a lookup writes no list links (a poll looks up every connection).
    while (map_.size() >= max_) {
        auto last = std::prev(lru_.end());
        if (last->used) {
            last->used = false;
            lru_.splice(lru_.begin(), lru_, last);
            continue;
        }
        erase(last);
        ++evicted;
    }
    lru_.push_front(Entry{.key = k, .tr = IpTranslation{repl}, .expires_ms = 0, .orphan = orphan});
    if (orphan) {
        lru_.front().expires_ms = now_ms + orphan_ms_;
        ++orphans_;
    }
    map_.emplace(k, lru_.begin());
    return evicted;
}

size_t TranslationCache::add(const Tuple& orig, const Tuple& reply, uint8_t type, uint32_t netns,
                             bool orphan, uint64_t now_ms) {
    size_t e = put(Key{orig, netns, type}, reply, orphan, now_ms);
    e += put(Key{reply, netns, type}, orig, orphan, now_ms);
    return e;
}

bool TranslationCache::destroyed(const Tuple& orig, const Tuple& reply, uint8_t type,
                                 uint32_t netns, uint64_t now_ms) {
    bool known = false;
    for (const Tuple* t : {&orig, &reply}) {
        auto f = map_.find(Key{*t, netns, type});
        if (f == map_.end()) continue;
        known = true;
        Entry& e = *f->second;
        if (!e.destroyed) {
            e.destroyed = true;
            e.expires_ms = now_ms + orphan_ms_;
        }
    }
    return known;
}

const IpTranslation* TranslationCache::get(const Tuple& t, uint8_t type, uint32_t netns) {
    auto f = map_.find(Key{t, netns, type});
    if (f == map_.end()) return nullptr;
    auto it = f->second;
    if (it->orphan) {  // a connection asked for it: kept until evicted or destroyed
        it->orphan = false;
        --orphans_;
        if (!it->destroyed) it->expires_ms = 0;
    }
    it->used = true;
    return &it->tr;
}

size_t TranslationCache::compact(uint64_t now_ms) {
    size_t removed = 0;
    for (auto it = lru_.begin(); it != lru_.end();) {
        auto next = std::next(it);
        if (it->expires_ms != 0 && it->expires_ms <= now_ms) {
            erase(it);
            ++removed;
        }
        it = next;
    }
    return removed;
}

void TranslationCache::clear() {
    map_.clear();
    lru_.clear();
    orphans_ = 0;
}

size_t TranslationCache::memory_bytes() const {
    // A list node (two pointers and the entry), a hash node (next pointer, key, iterator,
    // cached hash) and a bucket pointer per entry.
    size_t list_node = sizeof(Entry) + 2 * sizeof(void*);
    size_t hash_node = sizeof(void*) + sizeof(Key) + sizeof(List::iterator) + sizeof(size_t);
    return map_.size() * (list_node + hash_node) + map_.bucket_count() * sizeof(void*);
}

bool nat_intra_host(const nt_conn& c, const IpTranslation& t, const LocalEndpoint& local) {
    return addr_eq(c.saddr, c.daddr) || (addr_loopback(c.saddr) && addr_loopback(c.daddr)) ||
           addr_loopback(t.repl.src) || local(t.repl.src, t.repl.sport, c.type);
}

bool nat_keep(const nt_conn& c, const IpTranslation& t, bool intra_host, uint8_t direction) {
    return !(intra_host && direction == NT_DIR_INCOMING &&
             (!addr_eq(t.repl.dst, c.saddr) || t.repl.dport != c.sport));
}

}  // namespace rp::modules::network_tracer
