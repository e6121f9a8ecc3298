// translation.h — NAT translations of connections (conntrack), the part that needs no kernel:
//
//   TranslationCache  conntrack entries that are NAT (upstream IsNAT), each registered under its
//                     original and its reply tuple (upstream conntrackCache.Add), with the
//                     network namespace it lives in; an open-addressing table sized once for
//                     conntrack_max_state_size tuples, bounded (second-chance clock eviction,
//                     evictions counted); an entry learnt from an event that no connection ever
//                     asked for ("orphan") and an entry whose conntrack was destroyed expire after
//                     2 minutes.
//   nat_rules()       upstream's intraHost and DNAT clean-up for a translated connection
//                     (pkg/network/state.go determineConnectionIntraHost), in the streamed form
//                     docs/modules/network_tracer.md describes.
//
// Addresses are nt_addr (IPv4 as ::ffff:a.b.c.d, network byte order), ports host byte order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "bpf/network_tracer.h"

namespace rp::modules::network_tracer {

// One direction of a conntrack entry.
struct Tuple {
    nt_addr src{}, dst{};
    uint16_t sport = 0, dport = 0;
};

// model.IPTranslation: the other direction of the connection's conntrack entry.
struct IpTranslation {
    Tuple repl;
};

class TranslationCache {
  public:
    // The table is sized once for max_entries tuples (clamped to 2^24): an index of
    // index_slots() 4-byte slots and an array of max_entries entries, allocated zeroed (pages are
    // touched only as entries are used); no allocation per insert or lookup.
    explicit TranslationCache(size_t max_entries, uint64_t orphan_ms = 120000);
    ~TranslationCache();
    TranslationCache(const TranslationCache&) = delete;
    TranslationCache& operator=(const TranslationCache&) = delete;

    // Upstream's IsNAT: every address and port known and the reply is not the mirror of the
    // original.
    static bool is_nat(const Tuple& orig, const Tuple& reply);

    // Registers a NAT entry of namespace `netns` (type: NT_TYPE_*) under both tuples. `orphan`:
    // learnt from an event (expires unless a connection asks for it). Returns the evictions.
    size_t add(const Tuple& orig, const Tuple& reply, uint8_t type, uint32_t netns, bool orphan,
               uint64_t now_ms);
    // A DESTROY event: both tuples expire orphan_ms from now (a closed connection reported in
    // the next polls still finds its translation). Returns whether the entry was known.
    bool destroyed(const Tuple& orig, const Tuple& reply, uint8_t type, uint32_t netns,
                   uint64_t now_ms);
    // The translation of a connection seen from `t` (its local end as src); nullptr: none. The
    // pointer is valid until the next add(), compact() or clear().
    const IpTranslation* get(const Tuple& t, uint8_t type, uint32_t netns);
    // Starts fetching the index slot get(t, type, netns) will read first (a hint only).
    void prefetch(const Tuple& t, uint8_t type, uint32_t netns) const;
    // Drops expired entries; returns how many.
    size_t compact(uint64_t now_ms);
    void clear();

    size_t size() const { return size_; }
    size_t orphans() const { return orphans_; }
    size_t max_entries() const { return max_; }
    size_t index_slots() const { return nslots_; }
    // Bytes held: the index, and the entries up to the highest one ever used (the pages touched).
    size_t memory_bytes() const;
    // Test support: every live entry is found through the index, every index slot names a live
    // entry, the counts agree.
    bool consistent() const;
    // Test support: the longest distance of an index slot from its home slot (collisions).
    size_t max_probe() const;

  private:
    // One tuple: 88 bytes.
    struct Entry {
        uint64_t expires_ms;  // 0: never (until evicted)
        Tuple key;
        IpTranslation tr;
        uint32_t netns;  // a free entry: the next free one
        uint8_t type;
        uint8_t flags;  // kLive, kUsed, kOrphan, kDestroyed
    };
    static constexpr uint8_t kLive = 1, kUsed = 2, kOrphan = 4, kDestroyed = 8;

    static uint64_t hash(const Tuple& t, uint8_t type, uint32_t netns);
    size_t home(uint64_t h) const;
    // The index slot of the entry with this key, or SIZE_MAX.
    size_t find(const Tuple& t, uint8_t type, uint32_t netns, uint64_t h) const;
    size_t put(const Tuple& k, const Tuple& repl, uint8_t type, uint32_t netns, bool orphan,
               uint64_t now_ms);
    void remove(uint32_t entry);  // frees the entry and its index slot

    size_t max_;
    uint64_t orphan_ms_;
    size_t nslots_ = 0;
    uint32_t* index_ = nullptr;  // 0: empty; else tag << 25 | (entry + 1)
    Entry* entries_ = nullptr;
    uint32_t high_ = 0;           // entries [0, high_) have been used
    uint32_t free_ = UINT32_MAX;  // free list through Entry::netns
    uint32_t hand_ = 0;           // the second-chance clock
    size_t size_ = 0;
    size_t orphans_ = 0;
};

// A local endpoint test: (address, port, NT_TYPE_*) is the local end of a live socket.
using LocalEndpoint = std::function<bool(const nt_addr&, uint16_t, uint8_t)>;

bool addr_loopback(const nt_addr& a);

// What the connections stream asks for each connection (implemented by Conntrack).
class Translator {
  public:
    virtual ~Translator() = default;
    // A poll starts: answers of local_endpoint() may be remembered until the next one.
    virtual void begin_poll() {}
    // The translation of `c`; nullptr: none.
    virtual const IpTranslation* lookup(const nt_conn& c) = 0;
    // `c` will be looked up soon: its memory may be fetched now (no effect on answers).
    virtual void prefetch(const nt_conn& c) const { (void)c; }
    // Whether (address, port, type) is the local end of a live connected socket of this host.
    virtual bool local_endpoint(const nt_addr& a, uint16_t port, uint8_t type) const = 0;
};

// Upstream's intraHost of a connection `c` that has the translation `t`: source equals
// destination, both loopback, the translated peer (t.repl.src) loopback, or the translated peer
// is a local endpoint.
bool nat_intra_host(const nt_conn& c, const IpTranslation& t, const LocalEndpoint& local);
// Upstream's DNAT clean-up: false when the translation is to be removed — an incoming
// intra-host connection (direction after the UDP fix) whose client side on this host was
// DNAT'ed (its original destination is not this socket's local end).
bool nat_keep(const nt_conn& c, const IpTranslation& t, bool intra_host, uint8_t direction);

}  // namespace rp::modules::network_tracer
