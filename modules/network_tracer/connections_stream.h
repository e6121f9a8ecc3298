// connections_stream.h — ConnectionsStream: the body of one /network_tracer/connections answer,
// produced as the client reads it (http/response.h, streamed answers):
//
//   1. the client's buffered closed connections (its deltas computed when they were drained);
//   2. the open connections, read from the BPF iterator a chunk at a time: the kernel writes a
//      record only for a connection that changed for this client, and has already moved the
//      client's baseline forward, so nothing is kept here per connection;
//   3. the Connections-level fields (connTelemetryMap needs the iteration's counts).
// Each piece is about the connection's budget (64 KiB): other connections are served between
// pieces. The kernel's iteration advances only as the client reads.
//
// /debug/net_state uses the same stream in dump mode: the client's baselines as upstream's
// DumpState JSON (socket cookie -> total_*), nothing changed.
//
// intraHost: the kernel's flag (the remote endpoint is a live connected socket of this host, or
// both ends are loopback) or, as upstream computes it over the whole payload, the remote endpoint
// is the local endpoint of a connection closed in this payload. A connection with a NAT
// translation follows upstream's rules for it (translation.h: nat_intra_host, nat_keep).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "bpf/network_tracer.h"
#include "http/response.h"
#include "modules/network_tracer/client_table.h"
#include "modules/network_tracer/connection_encoder.h"

namespace rp::modules::network_tracer {

// What the stream needs from its owner (the module): the end of an iteration.
class PollOwner {
  public:
    virtual ~PollOwner() = default;
    // The iterator reached its end: the Connections-level values for this client.
    virtual Trailer poll_trailer(Client& c) = 0;
    // The stream is over (complete: every byte produced; otherwise the client left).
    virtual void poll_done(Client& c, size_t connections, bool complete) = 0;
};

// Local endpoints of a payload's closed connections (sorted; capacity kept between polls).
class EndpointSet {
  public:
    void build(std::span<const nt_conn> closed);
    bool contains(const nt_addr& a, uint16_t port, uint8_t type) const;

  private:
    struct Key {
        nt_addr addr;
        uint16_t port;
        uint8_t type;
        bool operator<(const Key& o) const;
        bool operator==(const Key& o) const;
    };
    std::vector<Key> keys_;
};

class ConnectionsStream final : public http::StreamBody {
  public:
    enum class Mode : uint8_t { connections, dump };

    ConnectionsStream(PollOwner& owner, PortRange range);
    const PortRange& range() const { return range_; }
    ~ConnectionsStream() override;

    bool busy() const { return client_ != nullptr; }
    // NAT translations (conntrack) for the connections from now on; nullptr: none.
    void set_translator(Translator* t) { translator_ = t; }
    // Starts the answer to `c`: `iter_fd` is the opened iterator (owned from here on).
    void start(Client& c, int iter_fd, Mode mode, http::Encoding enc, bool pretty);

    bool produce(http::Buffer& out, size_t budget) override;
    void abandoned() override;

    // Largest read of the iterator that never overflows the kernel's seq_file buffer (8 pages):
    // an object whose record overflows it would be shown again, running the program twice.
    static size_t read_size();
    uint64_t read_errors() const { return read_errors_; }
    // The encoder (the module gives it the poll's DNS view before start()).
    ConnectionEncoder& encoder() { return encoder_; }
    uint64_t reads() const { return reads_; }

  private:
    void finish(bool complete);
    // Encodes the records in buf_[0, have_) and keeps a partial one for the next read.
    void encode_records();
    void dump_record(const nt_dump& d);
    // intraHost, the translation and its rules (translation.h), then the encoder.
    void encode_conn(const nt_conn& c);

    PollOwner& owner_;
    ConnectionEncoder encoder_;
    PortRange range_;
    Translator* translator_ = nullptr;
    EndpointSet closed_eps_;
    Client* client_ = nullptr;
    Mode mode_ = Mode::connections;
    http::Encoding enc_ = http::Encoding::protobuf;
    bool pretty_ = false;
    int fd_ = -1;
    size_t closed_next_ = 0;
    size_t closed_end_ = 0;
    bool started_ = false;
    bool iter_done_ = false;
    size_t count_ = 0;
    uint64_t read_errors_ = 0;
    uint64_t reads_ = 0;
    http::Buffer placeholder_;
    http::JsonWriter dump_json_{placeholder_};
    size_t have_ = 0;
    alignas(8) char buf_[64 * 1024];
};

}  // namespace rp::modules::network_tracer
