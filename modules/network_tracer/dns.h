// dns.h — network_tracer's DNS statistics and reverse DNS (upstream pkg/network/dns), without
// kprobes: AF_PACKET sockets (SOCK_DGRAM: the packet from its network header, whatever the link)
// with a classic BPF filter that keeps IPv4/IPv6 UDP and TCP packets from or to port 53, read on
// the reactor (FdWatches). The sockets see the network namespace they were opened in: the
// daemon's (docs/modules/network_tracer.md says why and what that covers).
//
// Which sockets, and why (the host's cost): one socket on every interface with
// PACKET_IGNORE_OUTGOING sees each received packet (loopback traffic, sent and received on `lo`,
// once); one "tap" per other interface, bound to it, keeps only what it sends (the filter tests
// the packet type). A socket that also took outgoing packets on every interface would make the
// kernel clone every packet the host sends, loopback included, before its filter could refuse it
// (dev_queue_xmit_nit): 0.84x the loopback UDP packet rate against the module without DNS (taps:
// docs/BENCHMARKS.md, "network_tracer host overhead"). The taps
// follow the interfaces through an rtnetlink (RTMGRP_LINK) socket on the same reactor.
//
//   DnsParser      one packet -> DnsPacket (key, transaction id, query or response, rcode,
//                  question, query type, answered addresses)
//   DnsStatKeeper  upstream's dnsStatKeeper: queries waiting for their response (at most
//                  kMaxPending, as upstream's maxStateMapSize), matched by (client ip:port,
//                  server ip:port, protocol, transaction id); latency in microseconds from the
//                  packets' kernel timestamps; a response later than the timeout and a query
//                  without response after it count as timeouts; stats (key, domain, query type)
//                  at most max_dns_stats between two polls, beyond counted as dropped
//   ReverseCache   upstream's reverseDNSCache: address -> names seen in A/AAAA answers,
//                  bounded, entries expire a minute after they were last added or reported
//   DnsTracker     the socket, the two above, the per-client buffers (at most
//                  max_dns_stats_buffered stats per client, as upstream's MaxDNSStatsBuffered) and
//                  the view of one poll (DnsPoll) that the connection encoder reads
#pragma once

#include <linux/filter.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bpf/network_tracer.h"
#include "http/buffer.h"
#include "http/json_writer.h"
#include "http/protobuf.h"
#include "loop/reactor.h"
#include "loop/timer.h"

namespace rp::modules::network_tracer {

struct DnsOptions {
    bool stats = true;                 // system_probe_config.collect_dns_stats
    bool domains = true;               // system_probe_config.collect_dns_domains
    bool by_query_type = false;        // network_config.enable_dns_by_querytype
    bool local = false;                // system_probe_config.collect_local_dns
    uint64_t timeout_us = 15'000'000;  // system_probe_config.dns_timeout_in_s
    uint32_t max_stats = 20000;        // system_probe_config.max_dns_stats
    uint32_t max_buffered = 75000;     // per client (upstream's MaxDNSStatsBuffered)
    uint32_t max_pending = 10000;      // upstream's maxStateMapSize
    uint32_t cache_size = 100000;      // upstream's dnsCacheSize
    uint64_t cache_ttl_ms = 60000;     // upstream's dnsCacheExpirationPeriod
    uint32_t max_names_per_ip = 64;
};

// upstream dns.Key: the connection a DNS exchange belongs to (server port is always 53).
struct DnsKey {
    nt_addr server{};
    nt_addr client{};
    uint16_t client_port = 0;
    uint8_t family = 0;  // NT_FAMILY_*
    uint8_t type = 0;    // NT_TYPE_TCP / NT_TYPE_UDP
    bool operator==(const DnsKey& o) const;
};
struct DnsKeyHash {
    size_t operator()(const DnsKey& k) const;
};

// upstream dns.Stats: one (key, domain, query type).
struct DnsTypeStats {
    uint32_t timeouts = 0;
    uint64_t success_latency_us = 0;
    uint64_t failure_latency_us = 0;
    std::array<uint32_t, 16> by_rcode{};  // the header's 4-bit RCODE
    void merge(const DnsTypeStats& o);
};

// A key's stats: (domain, query type) -> stats. Ordered so that payloads are reproducible.
using DnsKeyStats = std::map<std::pair<std::string, uint16_t>, DnsTypeStats>;
using DnsStatsByKey = std::unordered_map<DnsKey, DnsKeyStats, DnsKeyHash>;

// One parsed packet.
struct DnsPacket {
    enum class Kind : uint8_t { query, success, failure };
    DnsKey key;
    uint16_t id = 0;
    Kind kind = Kind::query;
    uint8_t rcode = 0;
    uint16_t qtype = 0;
    std::string question;  // lower case, no trailing dot
    struct Answer {
        nt_addr addr;
        uint8_t family;
    };
    std::vector<Answer> answers;  // A / AAAA of a successful response
};

enum class ParseResult : uint8_t { ok, skipped, truncated, malformed };

// Parses an IP packet (from its network header) holding one DNS message over UDP, or the first
// DNS message of a TCP segment (its 2-byte length prefix at the segment's start). A packet from
// port 53 is a response, to port 53 a query; other combinations are skipped.
ParseResult parse_dns_packet(std::span<const uint8_t> pkt, DnsPacket& out);

// The classic BPF programs of the packet sockets (exposed for the unit test): the received-packet
// socket's, and a tap's (the same, behind a test that the packet is outgoing).
std::span<const ::sock_filter> dns_socket_filter();
std::span<const ::sock_filter> dns_tap_filter();

struct DnsCounters {
    uint64_t packets = 0;
    uint64_t queries = 0;
    uint64_t successes = 0;
    uint64_t failures = 0;
    uint64_t unmatched_responses = 0;
    uint64_t duplicate_queries = 0;
    uint64_t timeouts = 0;
    uint64_t late_responses = 0;
    uint64_t skipped = 0;
    uint64_t truncated = 0;
    uint64_t decoding_errors = 0;
    uint64_t local_ignored = 0;
    uint64_t pending_full = 0;
    uint64_t stats_dropped = 0;     // over max_dns_stats between two polls
    uint64_t buffered_dropped = 0;  // over a client's max_dns_stats_buffered
    uint64_t cache_full = 0;
    uint64_t cache_names_dropped = 0;
    uint64_t cache_expired = 0;
    uint64_t socket_drops = 0;  // the kernel's PACKET_STATISTICS drops
    uint64_t read_errors = 0;
    uint64_t attached = 0;         // stats attached to a connection
    uint64_t taps_opened = 0;      // outgoing-packet taps opened (one per non-loopback interface)
    uint64_t taps_closed = 0;      // ... closed (the interface left, or its socket failed)
    uint64_t tap_errors = 0;       // a tap that could not be opened (the reason is logged)
    uint64_t taps_refused = 0;     // interfaces beyond kMaxTaps
    uint64_t link_resyncs = 0;     // interface lists read again (at start; after ENOBUFS)
    uint64_t wakeups = 0;          // a socket's readiness woke the tracker
    uint64_t coalesced_reads = 0;  // timer turns that read every socket (see on_readable)
};

class DnsStatKeeper {
  public:
    DnsStatKeeper(const DnsOptions& o, DnsCounters& k) : opts_(o), k_(k) {}
    // ts_us: the packet's time (CLOCK_REALTIME, microseconds).
    void process(const DnsPacket& p, uint64_t ts_us);
    // Queries older than the timeout become timeouts; returns the next deadline (0: none).
    uint64_t expire(uint64_t now_us);
    DnsStatsByKey take();
    size_t pending() const { return pending_.size(); }
    size_t stats() const { return count_; }

  private:
    struct StateKey {
        DnsKey key;
        uint16_t id;
        bool operator==(const StateKey& o) const { return id == o.id && key == o.key; }
    };
    struct StateKeyHash {
        size_t operator()(const StateKey& k) const { return DnsKeyHash{}(k.key) * 31 + k.id; }
    };
    struct State {
        uint64_t ts_us;
        uint16_t qtype;
        std::string question;
    };
    // The stats entry of (key, question, qtype), or nullptr over max_stats.
    DnsTypeStats* entry(const DnsKey& key, const std::string& question, uint16_t qtype);
    void compact_order();

    const DnsOptions& opts_;
    DnsCounters& k_;
    std::unordered_map<StateKey, State, StateKeyHash> pending_;
    std::deque<std::pair<StateKey, uint64_t>> order_;  // insertion order (packet time)
    DnsStatsByKey stats_;
    size_t count_ = 0;
};

class ReverseCache {
  public:
    ReverseCache(const DnsOptions& o, DnsCounters& k) : opts_(o), k_(k) {}
    void add(const DnsPacket& p, uint64_t now_ms);
    // The names of an address (nullptr: none); a hit keeps the entry another TTL.
    const std::vector<std::string>* get(const nt_addr& a, uint8_t family, uint64_t now_ms);
    void expire(uint64_t now_ms);
    size_t size() const { return map_.size(); }
    size_t bytes() const { return bytes_; }

  private:
    struct Key {
        nt_addr addr;
        uint8_t family;
        bool operator==(const Key& o) const;
    };
    struct KeyHash {
        size_t operator()(const Key& k) const;
    };
    struct Entry {
        std::vector<std::string> names;
        uint64_t expires_ms;
    };
    const DnsOptions& opts_;
    DnsCounters& k_;
    std::unordered_map<Key, Entry, KeyHash> map_;
    size_t bytes_ = 0;
};

// What one /connections poll reads: its client's DNS stats, the domains and addresses it used.
class DnsPoll {
  public:
    DnsPoll(const DnsOptions& o, ReverseCache& cache, DnsCounters& k)
        : opts_(o), cache_(cache), k_(k) {}
    void start(DnsStatsByKey stats, uint64_t now_ms);
    void clear();

    // The stats of a connection (dport 53: the first connection of a key takes them), or
    // nullptr; its remote address is remembered for the `dns` map either way.
    const DnsKeyStats* lookup(const nt_conn& c);

    // Connection fields. Protobuf: into the Connection being written.
    void conn_protobuf(http::PbfWriter& m, const DnsKeyStats& s);
    // JSON: dnsSuccessfulResponses .. dnsCountByRcode (s may be null: zeros).
    void conn_json_counts(http::JsonWriter& w, const DnsKeyStats* s);
    // JSON: dnsStatsByDomain, dnsStatsByDomainByQueryType, dnsStatsByDomainOffsetByQueryType.
    void conn_json_domains(http::JsonWriter& w, const DnsKeyStats* s);

    // Connections fields: `dns` and `domains`.
    void trailer_protobuf(http::PbfWriter& m);
    void trailer_json_dns(http::JsonWriter& w);
    void trailer_json_domains(http::JsonWriter& w);

  private:
    struct Totals {
        uint32_t successes = 0, failures = 0, timeouts = 0;
        uint64_t success_latency = 0, failure_latency = 0;
        std::array<uint32_t, 16> by_rcode{};
    };
    static Totals totals(const DnsKeyStats& s);
    int32_t domain_index(const std::string& d);
    // The per-domain aggregate (no query type) of s, keyed by domain index.
    std::map<int32_t, DnsTypeStats> by_domain(const DnsKeyStats& s);

    const DnsOptions& opts_;
    ReverseCache& cache_;
    DnsCounters& k_;
    DnsStatsByKey stats_;
    DnsKeyStats current_;  // what the last lookup returned
    uint64_t now_ms_ = 0;
    std::unordered_map<std::string, int32_t> domain_index_;
    std::vector<const std::string*> domains_;
    struct Ip {
        nt_addr addr;
        uint8_t family;
        bool operator<(const Ip& o) const;
    };
    std::map<Ip, const std::vector<std::string>*> ips_;
    http::Buffer scratch_;
};

class DnsTracker {
  public:
    // Opens the packet socket and starts reading; the error names what failed.
    static std::expected<std::unique_ptr<DnsTracker>, std::string> create(loop::Reactor& r,
                                                                          const DnsOptions& o);
    ~DnsTracker();
    DnsTracker(const DnsTracker&) = delete;
    DnsTracker& operator=(const DnsTracker&) = delete;

    // A /connections poll of `client` starts: the stats gathered since the last poll go to every
    // client's buffer (`clients`: the ids known now; buffers of others are dropped), then the
    // client's buffer becomes the poll's view (and is emptied, as upstream). The caller drain()s
    // first, before it reads the closed connections (see NetworkTracerModule::start_poll).
    DnsPoll& begin_poll(std::string_view client, std::span<const std::string_view> clients);
    void end_poll();

    // Reads what the sockets hold now (also at the start of each poll, so that a poll sees every
    // packet that arrived before it); returns the packets read.
    size_t drain();

    const DnsCounters& counters() const { return k_; }
    const DnsOptions& options() const { return opts_; }
    size_t pending() const { return keeper_.pending(); }
    size_t cache_entries() const { return cache_.size(); }
    size_t cache_bytes() const { return cache_.bytes(); }
    size_t buffered() const;
    void write_stats(http::JsonWriter& w) const;

    static constexpr size_t kMaxTaps = 4096;
    static constexpr uint64_t kCoalesceMs = 100;  // reads while packets keep coming
    static constexpr size_t kDrainCap = 4096;     // packets per socket per read
    static constexpr size_t kArenaCap = 4 << 20;  // bytes of packets held by one read

  private:
    // A socket bound to one interface that keeps the DNS packets the host sends on it.
    struct Tap {
        int fd = -1;
        loop::FdWatch watch;
        ~Tap();
    };

    DnsTracker(loop::Reactor& r, const DnsOptions& o, int fd);
    void on_packet(std::span<const uint8_t> pkt, uint64_t ts_us);
    void on_timer();
    void arm(uint64_t deadline_us);
    bool drain_fd(int fd, size_t& count);
    bool start_watch(loop::FdWatch& w, int fd, int ifindex);
    void on_readable();
    void on_coalesce_timer();
    void arm_next_read(size_t read);
    void read_socket_drops(int fd);
    // Interfaces: the rtnetlink socket, the taps.
    bool start_links(std::string& err);
    void on_link_readable();
    void resync_links();
    void link_message(const void* nlh, bool in_dump, std::vector<int>* seen);
    void open_tap(int ifindex);
    void close_tap(int ifindex);

    loop::Reactor& reactor_;
    DnsOptions opts_;
    DnsCounters k_;
    int fd_;
    bool ignore_outgoing_ = false;  // fd_ takes received packets only: outgoing ones need taps
    loop::FdWatch watch_;
    int link_fd_ = -1;
    loop::FdWatch link_watch_;
    std::unordered_map<int, std::unique_ptr<Tap>> taps_;  // by interface index
    std::vector<uint8_t> link_buf_;
    loop::Timer timer_;
    loop::Timer coalesce_timer_;
    bool coalescing_ = false;  // the watches are stopped; coalesce_timer_ reads
    DnsStatKeeper keeper_;
    ReverseCache cache_;
    DnsPoll poll_;
    struct ClientBuffer {
        DnsStatsByKey stats;
        size_t count = 0;
    };
    // By client id, found by a string_view (no std::string made per poll).
    struct IdHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, ClientBuffer, IdHash, std::equal_to<>> clients_;
    DnsPacket packet_;
    std::vector<uint8_t> buf_;
    // One read of every socket, sorted by the packets' kernel times before it is parsed (kept:
    // no allocation once grown).
    struct Queued {
        uint64_t ts_us;
        size_t offset, len;
    };
    std::vector<Queued> batch_;
    std::vector<uint8_t> arena_;
    bool batch_full_ = false;  // the last read stopped at kArenaCap
    uint64_t next_cache_sweep_ms_ = 0;
};

}  // namespace rp::modules::network_tracer
