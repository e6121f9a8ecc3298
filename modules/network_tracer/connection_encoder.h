// connection_encoder.h — ConnectionEncoder: writes model.Connections (agent-payload
// proto/process/connections.proto) piece by piece into a response body, never building the
// message aside:
//
//   begin()   the start of the body (JSON: `{"conns":[`)
//   conn()    one Connection, appended as soon as it is read from the kernel
//   end()     the Connections-level fields after the last one, and the end of the body
//
// Protobuf: repeated `conns` fields one after another, then the other fields (a message's fields
// may come in any order; gogo's Unmarshal merges them). Proto3: zero values are left out, except
// `protocol` (always present, empty: unclassified, as system-probe writes it) and `routeIdx`
// (-1: no route, a 10-byte varint like upstream's).
// JSON: what system-probe writes (gogo jsonpb, EmitDefaults): every field of the message in
// declaration order, proto field names as keys, 64-bit integers as quoted strings, enums by name,
// maps with string keys sorted, unset messages and bytes as null, empty repeated fields as [].
// Fields of the newest agent-payload (Connection 53-64, Connections.resolvConfs,
// AgentConfiguration 5-7) are written too, as system-probe built against it writes them.
//
// What the encoder adds to a kernel record: the address text, isLocalPortEphemeral (from
// net.ipv4.ip_local_port_range, read once), upstream's UDP direction fix (fixConnectionDirection),
// routeIdx = -1, the ECN flag, tcpFailuresByErrCode from the record's failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "bpf/network_tracer.h"
#include "http/buffer.h"
#include "http/json_writer.h"
#include "http/request.h"
#include "modules/network_tracer/dns.h"
#include "modules/network_tracer/translation.h"

namespace rp::modules::network_tracer {

// The local port range of net.ipv4.ip_local_port_range (upstream's IsPortInEphemeralRange).
struct PortRange {
    uint16_t lo = 0, hi = 0;
    bool known = false;
    // Reads /proc/sys/net/ipv4/ip_local_port_range (of the daemon's network namespace).
    static PortRange read_sysctl();
    // EphemeralPortState: ephemeralTrue (1), ephemeralFalse (2), or ephemeralUnspecified (0).
    int state(uint16_t port) const;
};

// The Connections-level values the encoder writes after the connections.
struct TelemetryEntry {
    std::string_view key;
    int64_t value;
};
struct Trailer {
    std::span<const TelemetryEntry> telemetry;  // connTelemetryMap, sorted by key
};

// "1.2.3.4" or RFC 5952 text for an nt_addr of that family; returns the length (< 46).
size_t format_ip(const nt_addr& a, uint8_t family, char* out);

// Upstream's fixConnectionDirection: an incoming UDP connection from an ephemeral local port to a
// remote port that is not ephemeral (intra-host) or below 1024 (otherwise) is outgoing.
uint8_t fixed_direction(const nt_conn& c, bool intra_host, const PortRange& range);

class ConnectionEncoder {
  public:
    explicit ConnectionEncoder(PortRange range) : range_(range) {}

    // The DNS view of the coming poll (nullptr: no DNS fields, empty `dns` and `domains`).
    void set_dns(DnsPoll* dns) { dns_ = dns; }

    void begin(http::Encoding enc, http::Buffer& out, bool pretty);
    // One connection; `intra_host` already combines the kernel's flag and what user space knows;
    // `t`: its NAT translation (ipTranslation), nullptr for none.
    void conn(const nt_conn& c, bool intra_host, const IpTranslation* t = nullptr);
    void end(const Trailer& t);

    size_t count() const { return count_; }
    http::Encoding encoding() const { return enc_; }

  private:
    void conn_protobuf(const nt_conn& c, bool intra, uint8_t direction, const IpTranslation* t,
                       const DnsKeyStats* dns);
    template <typename W>
    void conn_fields(W& m, const nt_conn& c, bool intra, uint8_t direction, char* ip,
                     const IpTranslation* t);
    void conn_json(const nt_conn& c, bool intra, uint8_t direction, const IpTranslation* t,
                   const DnsKeyStats* dns);
    void addr_json(std::string_view key, const nt_addr& a, uint8_t family, uint16_t port);
    void u64_json(std::string_view key, uint64_t v);

    PortRange range_;
    http::Encoding enc_ = http::Encoding::protobuf;
    http::Buffer* out_ = nullptr;
    http::Buffer placeholder_;
    http::JsonWriter json_{placeholder_};
    size_t count_ = 0;
    DnsPoll* dns_ = nullptr;
    http::Buffer dns_scratch_;  // a Connection with DNS stats (larger than ConnBuffer)
};

}  // namespace rp::modules::network_tracer
