// translation.cpp — see translation.h.
#include "modules/network_tracer/translation.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace rp::modules::network_tracer {
namespace {

bool addr_zero(const nt_addr& a) {
    static constexpr nt_addr kZero{};
    static constexpr uint8_t kMappedZero[16] = {0, 0, 0,    0,    0, 0, 0, 0,
                                                0, 0, 0xff, 0xff, 0, 0, 0, 0};
    return std::memcmp(a.a, kZero.a, 16) == 0 || std::memcmp(a.a, kMappedZero, 16) == 0;
}

bool addr_eq(const nt_addr& x, const nt_addr& y) { return std::memcmp(x.a, y.a, 16) == 0; }

}  // namespace

bool addr_loopback(const nt_addr& a) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a.a, kMapped, 12) == 0) return a.a[12] == 127;
    static constexpr uint8_t kOne[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(a.a, kOne, 16) == 0;
}

namespace {

constexpr uint32_t kTagShift = 25;
constexpr uint32_t kEntryMask = (uint32_t{1} << kTagShift) - 1;
constexpr size_t kMaxTuples = size_t{1} << 24;
constexpr size_t kNone = SIZE_MAX;

// Anonymous private memory: zero pages that use no memory until written (a cache sized for the
// cap holds only what it has used; malloc could hand back reused, hence zeroed-by-writing, heap).
void* map_zeroed(size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
}

// Back to zero pages (their memory returned).
void drop_pages(void* p, size_t bytes) {
    if (::madvise(p, bytes, MADV_DONTNEED) != 0) std::memset(p, 0, bytes);
}

bool key_eq(const Tuple& a, const Tuple& b) { return std::memcmp(&a, &b, sizeof(Tuple)) == 0; }

}  // namespace

static_assert(sizeof(Tuple) == 36, "Tuple is compared with memcmp: no padding");

TranslationCache::TranslationCache(size_t max_entries, uint64_t orphan_ms)
    : max_(std::min(max_entries, kMaxTuples)), orphan_ms_(orphan_ms) {
    static_assert(sizeof(Entry) == 88, "docs/modules/network_tracer.md gives 88 bytes per entry");
    if (max_ == 0) return;
    // Load factor at most 2/3 at the cap (linear probing; a miss reads few slots, and the 7-bit
    // tag in each slot spares most entry reads).
    nslots_ = max_ + max_ / 2 + 1;
    index_ = static_cast<uint32_t*>(map_zeroed(nslots_ * sizeof(uint32_t)));
    entries_ = static_cast<Entry*>(map_zeroed(max_ * sizeof(Entry)));
}

TranslationCache::~TranslationCache() {
    if (index_ != nullptr) ::munmap(index_, nslots_ * sizeof(uint32_t));
    if (entries_ != nullptr) ::munmap(entries_, max_ * sizeof(Entry));
}

uint64_t TranslationCache::hash(const Tuple& t, uint8_t type, uint32_t netns) {
    // Eight-byte words mixed with multiplications (a lookup per reported connection: a byte loop
    // would cost more than the rest of it).
    uint64_t w[5];
    std::memcpy(&w[0], t.src.a, 16);
    std::memcpy(&w[2], t.dst.a, 16);
    w[4] = (uint64_t{t.sport} << 48) | (uint64_t{t.dport} << 32) | netns;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ type;
    for (uint64_t x : w) {
        h ^= x * 0xbf58476d1ce4e5b9ull;
        h = (h << 27 | h >> 37) * 0x94d049bb133111ebull;
    }
    return h ^ (h >> 31);
}

size_t TranslationCache::home(uint64_t h) const {
    return static_cast<size_t>(((h >> 32) * nslots_) >> 32);  // the high half, to [0, nslots_)
}

size_t TranslationCache::find(const Tuple& t, uint8_t type, uint32_t netns, uint64_t h) const {
    if (nslots_ == 0) return kNone;
    auto tag = static_cast<uint32_t>(h & 0x7f);
    for (size_t i = home(h);;) {
        uint32_t s = index_[i];
        if (s == 0) return kNone;
        if ((s >> kTagShift) == tag) {
            const Entry& e = entries_[(s & kEntryMask) - 1];
            if (e.netns == netns && e.type == type && key_eq(e.key, t)) return i;
        }
        if (++i == nslots_) i = 0;
    }
}

bool TranslationCache::is_nat(const Tuple& o, const Tuple& r) {
    if (addr_zero(o.src) || addr_zero(r.src) || o.sport == 0 || o.dport == 0 || r.sport == 0 ||
        r.dport == 0)
        return false;
    return !addr_eq(o.src, r.dst) || !addr_eq(o.dst, r.src) || o.sport != r.dport ||
           o.dport != r.sport;
}

void TranslationCache::remove(uint32_t idx) {
    Entry& e = entries_[idx];
    // Its slot, then backward-shift deletion: the slots after it that would be found from an
    // earlier position move back, so that no probe sequence has a hole (no tombstones).
    size_t i = home(hash(e.key, e.type, e.netns));
    while ((index_[i] & kEntryMask) != idx + 1)
        if (++i == nslots_) i = 0;
    for (size_t j = i;;) {
        if (++j == nslots_) j = 0;
        uint32_t s = index_[j];
        if (s == 0) break;
        const Entry& o = entries_[(s & kEntryMask) - 1];
        size_t k = home(hash(o.key, o.type, o.netns));
        // o may fill i unless its home lies cyclically in (i, j].
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        index_[i] = s;
        i = j;
    }
    index_[i] = 0;
    if (e.flags & kOrphan) --orphans_;
    e.flags = 0;
    e.netns = free_;
    free_ = idx;
    --size_;
}

size_t TranslationCache::put(const Tuple& k, const Tuple& repl, uint8_t type, uint32_t netns,
                             bool orphan, uint64_t now_ms) {
    if (max_ == 0) return 0;
    uint64_t h = hash(k, type, netns);
    size_t evicted = 0;
    if (size_t f = find(k, type, netns, h); f != kNone) remove((index_[f] & kEntryMask) - 1);
    // Second chance (CLOCK): the hand passes over the entries; one used since the hand last
    // passed is spared once, the first one not used is evicted. get() only sets a flag.
    while (size_ >= max_) {
        Entry& e = entries_[hand_];
        uint32_t at = hand_;
        if (++hand_ == max_) hand_ = 0;
        if (!(e.flags & kLive)) continue;
        if (e.flags & kUsed) {
            e.flags &= static_cast<uint8_t>(~kUsed);
            continue;
        }
        remove(at);
        ++evicted;
    }
    uint32_t idx;
    if (free_ != UINT32_MAX) {
        idx = free_;
        free_ = entries_[idx].netns;
    } else {
        idx = high_++;
    }
    new (&entries_[idx]) Entry{.expires_ms = orphan ? now_ms + orphan_ms_ : 0,
                               .key = k,
                               .tr = IpTranslation{repl},
                               .netns = netns,
                               .type = type,
                               .flags = static_cast<uint8_t>(kLive | (orphan ? kOrphan : 0))};
    orphans_ += orphan;
    size_t i = home(h);
    while (index_[i] != 0)
        if (++i == nslots_) i = 0;
    index_[i] = static_cast<uint32_t>(h & 0x7f) << kTagShift | (idx + 1);
    ++size_;
    return evicted;
}

size_t TranslationCache::add(const Tuple& orig, const Tuple& reply, uint8_t type, uint32_t netns,
                             bool orphan, uint64_t now_ms) {
    size_t e = put(orig, reply, type, netns, orphan, now_ms);
    e += put(reply, orig, type, netns, orphan, now_ms);
    return e;
}

bool TranslationCache::destroyed(const Tuple& orig, const Tuple& reply, uint8_t type,
                                 uint32_t netns, uint64_t now_ms) {
    bool known = false;
    for (const Tuple* t : {&orig, &reply}) {
        size_t f = find(*t, type, netns, hash(*t, type, netns));
        if (f == kNone) continue;
        known = true;
        Entry& e = entries_[(index_[f] & kEntryMask) - 1];
        if (!(e.flags & kDestroyed)) {
            e.flags |= kDestroyed;
            e.expires_ms = now_ms + orphan_ms_;
        }
    }
    return known;
}

const IpTranslation* TranslationCache::get(const Tuple& t, uint8_t type, uint32_t netns) {
    size_t f = find(t, type, netns, hash(t, type, netns));
    if (f == kNone) return nullptr;
    Entry& e = entries_[(index_[f] & kEntryMask) - 1];
    if (e.flags & kOrphan) {  // a connection asked for it: kept until evicted or destroyed
        e.flags &= static_cast<uint8_t>(~kOrphan);
        --orphans_;
        if (!(e.flags & kDestroyed)) e.expires_ms = 0;
    }
    e.flags |= kUsed;
    return &e.tr;
}

void TranslationCache::prefetch(const Tuple& t, uint8_t type, uint32_t netns) const {
    if (nslots_ != 0) __builtin_prefetch(&index_[home(hash(t, type, netns))]);
}

size_t TranslationCache::compact(uint64_t now_ms) {
    size_t removed = 0;
    for (uint32_t i = 0; i < high_; ++i) {
        const Entry& e = entries_[i];
        if ((e.flags & kLive) && e.expires_ms != 0 && e.expires_ms <= now_ms) {
            remove(i);
            ++removed;
        }
    }
    return removed;
}

void TranslationCache::clear() {
    if (nslots_ != 0 && (size_ != 0 || high_ != 0)) {
        drop_pages(index_, nslots_ * sizeof(uint32_t));
        drop_pages(entries_, max_ * sizeof(Entry));
    }
    high_ = 0;
    free_ = UINT32_MAX;
    hand_ = 0;
    size_ = 0;
    orphans_ = 0;
}

size_t TranslationCache::memory_bytes() const {
    return nslots_ * sizeof(uint32_t) + size_t{high_} * sizeof(Entry);
}

bool TranslationCache::consistent() const {
    size_t live = 0, orphans = 0, slots = 0;
    for (uint32_t i = 0; i < high_; ++i) {
        const Entry& e = entries_[i];
        if (!(e.flags & kLive)) continue;
        ++live;
        orphans += (e.flags & kOrphan) != 0;
        size_t f = find(e.key, e.type, e.netns, hash(e.key, e.type, e.netns));
        if (f == kNone || (index_[f] & kEntryMask) != i + 1) return false;
    }
    for (size_t i = 0; i < nslots_; ++i) {
        uint32_t s = index_[i];
        if (s == 0) continue;
        ++slots;
        uint32_t idx = (s & kEntryMask) - 1;
        if (idx >= high_ || !(entries_[idx].flags & kLive)) return false;
        const Entry& e = entries_[idx];
        if ((s >> kTagShift) != (hash(e.key, e.type, e.netns) & 0x7f)) return false;
    }
    return live == size_ && slots == size_ && orphans == orphans_ && size_ <= max_;
}

size_t TranslationCache::max_probe() const {
    size_t worst = 0;
    for (size_t i = 0; i < nslots_; ++i) {
        if (index_[i] == 0) continue;
        const Entry& e = entries_[(index_[i] & kEntryMask) - 1];
        size_t h = home(hash(e.key, e.type, e.netns));
        worst = std::max(worst, i >= h ? i - h : i + nslots_ - h);
    }
    return worst;
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
