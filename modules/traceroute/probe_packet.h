// probe_packet.h — the IPv4 packets of a traceroute: probes written whole (IP header included,
// sent on an IPPROTO_RAW socket) and the replies they draw, parsed.
//
// Every probe's IP identification field carries the probe's number, because an ICMP Time
// Exceeded or Destination Unreachable quotes the probe's IP header (and its first 8 bytes of
// payload: the UDP/TCP ports, the TCP sequence number, the ICMP echo identifier and sequence),
// whatever the protocol. Replies of the destination itself do not quote: an ICMP echo reply
// carries the echo sequence (the probe number again), a TCP SYN-ACK or RST acknowledges the
// probe's sequence number plus one.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>

namespace rp::modules::traceroute {

enum class Protocol : uint8_t { udp, tcp, icmp };

struct ProbeSpec {
    Protocol protocol = Protocol::udp;
    in_addr src{}, dst{};
    uint8_t ttl = 1;
    uint16_t ip_id = 0;
    uint16_t sport = 0, dport = 0;       // UDP and TCP
    uint32_t tcp_seq = 0;                // TCP
    uint16_t echo_id = 0, echo_seq = 0;  // ICMP
};

// Largest probe build_probe writes.
constexpr size_t kMaxProbeBytes = 64;

// Writes the whole IPv4 packet (checksums included) into out[kMaxProbeBytes]; returns its length.
size_t build_probe(const ProbeSpec& spec, uint8_t* out);

// What a packet read from the raw ICMP or raw TCP socket says about a probe.
struct Reply {
    enum class Kind : uint8_t { none, quote, echo_reply, tcp };
    Kind kind = Kind::none;
    in_addr from{};  // the IPv4 source of the reply: the hop
    uint8_t icmp_type = 0, icmp_code = 0;
    // Kind::quote: the probe as the ICMP error quotes it.
    uint8_t inner_protocol = 0;
    in_addr inner_src{}, inner_dst{};
    uint16_t inner_ip_id = 0;
    uint16_t inner_sport = 0, inner_dport = 0;  // UDP/TCP
    uint16_t inner_echo_id = 0;                 // ICMP
    // Kind::echo_reply.
    uint16_t echo_id = 0, echo_seq = 0;
    // Kind::tcp.
    uint16_t tcp_sport = 0, tcp_dport = 0;
    uint32_t tcp_ack = 0;
    uint8_t tcp_flags = 0;
};

constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

// An IPv4 packet from the raw ICMP socket: an echo reply, or a Time Exceeded / Destination
// Unreachable with the quoted probe. False for anything else or anything truncated.
bool parse_icmp(const uint8_t* pkt, size_t len, Reply& out);
// An IPv4 packet from the raw TCP socket: a segment with SYN+ACK or RST.
bool parse_tcp(const uint8_t* pkt, size_t len, Reply& out);

}  // namespace rp::modules::traceroute
