// translation.h — NAT translations of connections (conntrack), the part that needs no kernel:
//
//   TranslationCache  conntrack entries that are NAT (upstream IsNAT), each registered under its
//                     original and its reply tuple (upstream conntrackCache.Add), with the
//                     network namespace it lives in; bounded (LRU by second chance, evictions
//                     counted); an entry
//                     learnt from an event that no connection ever asked for ("orphan") and an
//                     entry whose conntrack was destroyed expire after 2 minutes.
//   nat_rules()       upstream's intraHost and DNAT clean-up for a translated connection
//                     (pkg/network/state.go determineConnectionIntraHost), in the streamed form
//                     docs/modules/network_tracer.md describes.
//
// Addresses are nt_addr (IPv4 as ::ffff:a.b.c.d, network byte order), ports host byte order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>

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
    explicit TranslationCache(size_t max_entries, uint64_t orphan_ms = 120000)
        : max_(max_entries), orphan_ms_(orphan_ms) {}

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
    // The translation of a connection seen from `t` (its local end as src); nullptr: none.
    const IpTranslation* get(const Tuple& t, uint8_t type, uint32_t netns);
    // Drops expired entries; returns how many.
    size_t compact(uint64_t now_ms);
    void clear();

    size_t size() const { return map_.size(); }
    size_t orphans() const { return orphans_; }
    size_t max_entries() const { return max_; }
    // Bytes held (entries, list and hash nodes, buckets), an estimate from their sizes.
    size_t memory_bytes() const;

  private:
    struct Key {
        Tuple t;
        uint32_t netns = 0;
        uint8_t type = 0;
        bool operator==(const Key& o) const;
    };
    struct KeyHash {
        size_t operator()(const Key& k) const;
    };
    struct Entry {
        Key key;
        IpTranslation tr;
        uint64_t expires_ms = 0;  // 0: never (until evicted)
        bool orphan = false;
        bool destroyed = false;
        bool used = false;  // asked for since it last reached the end of the list
    };
    using List = std::list<Entry>;

    size_t put(const Key& k, const Tuple& repl, bool orphan, uint64_t now_ms);
    void erase(List::iterator it);

    size_t max_;
    uint64_t orphan_ms_;
    List lru_;  // front: most recently added or given a second chance
    std::unordered_map<Key, List::iterator, KeyHash> map_;
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
