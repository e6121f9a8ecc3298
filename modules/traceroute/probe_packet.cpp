// probe_packet.cpp — see probe_packet.h.
#include "modules/traceroute/probe_packet.h"

#include <arpa/inet.h>

#include <cstring>

#include "modules/netprobe/inet.h"

namespace rp::modules::traceroute {
namespace {

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
    put16(p, static_cast<uint16_t>(v >> 16));
    put16(p + 2, static_cast<uint16_t>(v));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t(get16(p)) << 16 | get16(p + 2); }

// A short, recognisable payload for UDP and ICMP probes (traceroute's classic probes carry one).
constexpr uint8_t kPayload[12] = {'r', 'i', 'n', 'g', 'p', 'r', 'o', 'b', 'e', '-', 't', 'r'};

}  // namespace

size_t build_probe(const ProbeSpec& s, uint8_t* out) {
    std::memset(out, 0, kMaxProbeBytes);
    uint8_t* ip = out;
    uint8_t* l4 = out + 20;
    size_t l4_len = 0;
    uint8_t proto = 0;
    switch (s.protocol) {
        case Protocol::udp: {
            proto = IPPROTO_UDP;
            l4_len = 8 + sizeof kPayload;
            put16(l4, s.sport);
            put16(l4 + 2, s.dport);
            put16(l4 + 4, static_cast<uint16_t>(l4_len));
            std::memcpy(l4 + 8, kPayload, sizeof kPayload);
            uint32_t sum =
                net::pseudo_header_v4(s.src, s.dst, IPPROTO_UDP, static_cast<uint16_t>(l4_len));
            uint16_t ck = net::checksum_fold(net::checksum_add(sum, l4, l4_len));
            if (ck == 0) ck = 0xffff;  // 0 means "no checksum" in UDP
            std::memcpy(l4 + 6, &ck, 2);
            break;
        }
        case Protocol::tcp: {
            proto = IPPROTO_TCP;
            l4_len = 24;  // 20-byte header + MSS option
            put16(l4, s.sport);
            put16(l4 + 2, s.dport);
            put32(l4 + 4, s.tcp_seq);
            put32(l4 + 8, 0);
            l4[12] = static_cast<uint8_t>((l4_len / 4) << 4);
            l4[13] = kTcpSyn;
            put16(l4 + 14, 1024);  // window
            l4[20] = 2;            // MSS, length 4, 1460
            l4[21] = 4;
            put16(l4 + 22, 1460);
            uint32_t sum =
                net::pseudo_header_v4(s.src, s.dst, IPPROTO_TCP, static_cast<uint16_t>(l4_len));
            uint16_t ck = net::checksum_fold(net::checksum_add(sum, l4, l4_len));
            std::memcpy(l4 + 16, &ck, 2);
            break;
        }
        case Protocol::icmp: {
            proto = IPPROTO_ICMP;
            l4_len = 8 + sizeof kPayload;
            l4[0] = 8;  // echo request
            put16(l4 + 4, s.echo_id);
            put16(l4 + 6, s.echo_seq);
            std::memcpy(l4 + 8, kPayload, sizeof kPayload);
            uint16_t ck = net::checksum_fold(net::checksum_add(0, l4, l4_len));
            std::memcpy(l4 + 2, &ck, 2);
            break;
        }
    }
    const size_t total = 20 + l4_len;
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint16_t>(total));
    put16(ip + 4, s.ip_id);
    ip[8] = s.ttl;
    ip[9] = proto;
    std::memcpy(ip + 12, &s.src, 4);
    std::memcpy(ip + 16, &s.dst, 4);
    uint16_t ck = net::checksum_fold(net::checksum_add(0, ip, 20));
    std::memcpy(ip + 10, &ck, 2);
    return total;
}

namespace {

// The IPv4 header at p: its length, or 0 when it is not a whole IPv4 header of `proto`.
size_t ipv4_header(const uint8_t* p, size_t len, uint8_t proto) {
    if (len < 20 || (p[0] >> 4) != 4) return 0;
    size_t ihl = size_t(p[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > len || p[9] != proto) return 0;
    return ihl;
}

}  // namespace

bool parse_icmp(const uint8_t* pkt, size_t len, Reply& out) {
    out = Reply{};
    size_t ihl = ipv4_header(pkt, len, IPPROTO_ICMP);
    if (ihl == 0 || len < ihl + 8) return false;
    std::memcpy(&out.from, pkt + 12, 4);
    const uint8_t* icmp = pkt + ihl;
    const size_t icmp_len = len - ihl;
    out.icmp_type = icmp[0];
    out.icmp_code = icmp[1];
    if (out.icmp_type == 0) {  // echo reply
        out.kind = Reply::Kind::echo_reply;
        out.echo_id = get16(icmp + 4);
        out.echo_seq = get16(icmp + 6);
        return true;
    }
    if (out.icmp_type != 11 && out.icmp_type != 3) return false;
    // The quoted datagram: its IP header and at least 8 bytes of what followed.
    const uint8_t* inner = icmp + 8;
    const size_t inner_len = icmp_len - 8;
    if (inner_len < 20 || (inner[0] >> 4) != 4) return false;
    size_t inner_ihl = size_t(inner[0] & 0x0f) * 4;
    if (inner_ihl < 20 || inner_len < inner_ihl + 8) return false;
    out.kind = Reply::Kind::quote;
    out.inner_protocol = inner[9];
    out.inner_ip_id = get16(inner + 4);
    std::memcpy(&out.inner_src, inner + 12, 4);
    std::memcpy(&out.inner_dst, inner + 16, 4);
    const uint8_t* l4 = inner + inner_ihl;
    if (out.inner_protocol == IPPROTO_UDP || out.inner_protocol == IPPROTO_TCP) {
        out.inner_sport = get16(l4);
        out.inner_dport = get16(l4 + 2);
    } else if (out.inner_protocol == IPPROTO_ICMP) {
        out.inner_echo_id = get16(l4 + 4);
    }
    return true;
}

bool parse_tcp(const uint8_t* pkt, size_t len, Reply& out) {
    out = Reply{};
    size_t ihl = ipv4_header(pkt, len, IPPROTO_TCP);
    if (ihl == 0 || len < ihl + 20) return false;
    std::memcpy(&out.from, pkt + 12, 4);
    const uint8_t* tcp = pkt + ihl;
    out.tcp_sport = get16(tcp);
    out.tcp_dport = get16(tcp + 2);
    out.tcp_ack = get32(tcp + 8);
    out.tcp_flags = tcp[13];
    const bool synack = (out.tcp_flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck);
    const bool rst = (out.tcp_flags & kTcpRst) != 0;
    if (!synack && !rst) return false;
    out.kind = Reply::Kind::tcp;
    return true;
}

}  // namespace rp::modules::traceroute
