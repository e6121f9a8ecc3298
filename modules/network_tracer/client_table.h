// client_table.h — ClientTable: the per-client state of /network_tracer/connections, as upstream's
// network state (datadog-agent pkg/network/state.go) keeps it, minus what lives in the kernel.
//
//   - A client is created on its first /connections or /register and expires after
//     `expiry_ms` without a poll (2 minutes upstream); an expired client costs nothing: its closed
//     buffer is freed and its kernel slot goes to the oldest client without one, else to the next
//     new client.
//   - The first NT_MAX_CLIENTS clients get a kernel slot (their baselines live in the kernel's
//     socket table, moved forward by every poll); a client's generation tells its baselines from
//     those a previous owner of the slot left. A later client keeps its baselines here instead
//     (UserBaselines: the kernel reports it every connection with its counters since tracking
//     began, the delta is taken here, as upstream keeps them all), until an expiry frees a slot
//     for it; its first poll in that slot still takes its deltas here, then they are dropped.
//   - A closed connection is buffered for every client existing when it is drained from the ring
//     buffer, with that client's delta computed at once (its baseline is in the record), up to
//     `max_closed` per client; beyond, it is dropped for that client and counted, as upstream.
//     Closed connections with an all-zero delta for a client are not buffered for it.
//   - The client stats cap (upstream's maxClientStats, 75,000): a poll may create as many new
//     baselines as the cap minus those the client still holds; connections beyond it are reported
//     with their full counters and counted (conn_dropped).
//
// Nothing here touches the kernel; the module passes records in and kernel parameters out.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bpf/network_tracer.h"

namespace rp::modules::network_tracer {

// Monotonic totals whose per-client delta goes into connTelemetryMap.
struct Telemetry {
    uint64_t conns_closed = 0;
    uint64_t closed_conn_dropped = 0;
    uint64_t conn_dropped = 0;
    uint64_t perf_lost = 0;
    uint64_t udp_sends_processed = 0;
    uint64_t udp_sends_missed = 0;     // the socket could not be tracked (max_tracked_connections)
    uint64_t conntrack_registers = 0;  // NAT entries learnt (conntrack on)
    uint64_t dns_packets_processed = 0;  // DNS packets read (DNS on)
    uint64_t dns_packets_dropped = 0;    // ... the kernel dropped (PACKET_STATISTICS)
    uint64_t dns_stats_dropped = 0;      // DNS stats over max_dns_stats
};

// Baselines of a client without a kernel slot: socket cookie -> the counters it saw (since
// tracking began) at its last poll that reported the connection. At most `cap` (the client stats
// cap); a connection beyond it is reported in full, flagged NT_C_NO_BASELINE and counted.
struct UserBaselines {
    struct Entry {
        nt_counters seen;
        uint32_t gen;  // the poll that last reported it
    };
    explicit UserBaselines(size_t cap_) : cap(cap_) {}
    size_t cap;
    uint32_t gen = 0;        // the current poll
    uint64_t dropped = 0;    // this poll's connections beyond the cap
    bool migrating = false;  // the client has a slot now: this poll is its last one here
    std::unordered_map<uint64_t, Entry> map;
};

struct Client {
    std::string id;
    uint32_t slot = NT_NO_SLOT;  // kernel slot, or NT_NO_SLOT
    uint32_t gen = 0;            // generation of its baselines in that slot
    uint64_t last_fetch_ms = 0;  // monotonic ms of its last poll (or creation)
    uint64_t polls = 0;
    // Closed connections not reported to it yet; c = its delta.
    std::vector<nt_conn> closed;
    // Baselines it holds in the kernel: after its last poll, minus those whose socket closed.
    uint32_t held = 0;
    Telemetry seen;  // the totals at its last poll
    bool streaming = false;
    std::unique_ptr<UserBaselines> ub;  // while it has no kernel slot (see UserBaselines)
};

class ClientTable {
  public:
    static constexpr size_t kMinClosedCapacity = 1024;  // closed connections reserved per client

    ClientTable(size_t max_clients, size_t max_closed, uint32_t max_stats)
        : max_clients_(max_clients), max_closed_(max_closed), max_stats_(max_stats) {}

    Client* find(std::string_view id);
    // The client, created if missing (nullptr: max_clients reached, counted).
    Client* get_or_create(std::string_view id, uint64_t now_ms);
    // Removes the clients whose last poll is more than expiry_ms old (never one that streams).
    // Returns how many.
    size_t expire(uint64_t now_ms, uint64_t expiry_ms);
    // Monotonic ms at which the next client expires, or 0 when there is none.
    uint64_t next_expiry_ms(uint64_t expiry_ms) const;

    // A closed connection: buffered, with its delta, for every client it changed for.
    void add_closed(const nt_closed& rec);

    // The first n closed connections of c were reported: forgets them (the buffer's memory is
    // returned after a burst: capacity above 4096 entries and four times what is left, never
    // below kMinClosedCapacity).
    void take_closed(Client& c, size_t n);

    // Baselines the client's next poll may create (the stats cap minus those it holds).
    uint32_t budget(const Client& c) const {
        return c.held >= max_stats_ ? 0 : max_stats_ - c.held;
    }

    size_t size() const { return clients_.size(); }
    const std::vector<std::unique_ptr<Client>>& clients() const { return clients_; }
    size_t max_closed() const { return max_closed_; }
    uint64_t closed_dropped() const { return closed_dropped_; }
    uint64_t closed_buffered() const { return closed_buffered_; }
    uint64_t refused() const { return refused_; }
    uint64_t expired() const { return expired_; }
    uint64_t slots_given() const { return slots_given_; }  // to clients created without one

    // The client's delta of one closed record (exposed for tests): final counters minus the
    // baseline the client's slot holds, if that baseline is the client's.
    static nt_counters closed_delta(const nt_closed& rec, const Client& c);
    static bool is_zero(const nt_counters& c);
    // a - b, each counter floored at 0.
    static nt_counters minus(const nt_counters& a, const nt_counters& b);

    // A poll of `c` starts: a client without a slot (or in its first poll in a slot just given)
    // takes its deltas from its UserBaselines, made here when missing.
    void begin_user_poll(Client& c);
    // One open connection the kernel reported to a client with UserBaselines (rec.c: counters
    // since tracking began): rec.c becomes the client's delta and its baseline moves forward.
    // Returns false when the delta is zero (not reported).
    static bool user_delta(Client& c, nt_conn& rec);
    // The poll is over (complete: every record was produced; swept: every connection that
    // changed was reported, so a baseline the poll did not touch is of a socket gone).
    static void end_user_poll(Client& c, bool complete, bool swept);

  private:
    bool give_slot(Client& c);  // a free kernel slot with a new generation; false: none free

    size_t max_clients_;
    size_t max_closed_;
    uint32_t max_stats_;
    std::vector<std::unique_ptr<Client>> clients_;
    std::array<bool, NT_MAX_CLIENTS> slot_used_{};
    uint32_t next_gen_ = 1;
    uint64_t slots_given_ = 0;
    uint64_t closed_dropped_ = 0;
    uint64_t closed_buffered_ = 0;
    uint64_t refused_ = 0;
    uint64_t expired_ = 0;
};

}  // namespace rp::modules::network_tracer
