// connection_encoder.cpp — see connection_encoder.h.
#include "modules/network_tracer/connection_encoder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>

#include "http/protobuf.h"
#include "modules/proto/messages.h"

namespace rp::modules::network_tracer {

// One Connection is written into this fixed buffer, then appended to the body at once: protozero
// writes varints a byte at a time, and into the growable body each byte would check capacity. A
// Connection is at most ~300 bytes (two 45-byte addresses, ~30 varints of at most 11 bytes).
struct ConnBuffer {
    char data[512];
    size_t size = 0;
    void push_back(char c) { data[size++] = c; }  // protozero's add_bool calls it directly
};

}  // namespace rp::modules::network_tracer

namespace protozero {
template <>
struct buffer_customization<rp::modules::network_tracer::ConnBuffer> {
    using B = rp::modules::network_tracer::ConnBuffer;
    static std::size_t size(const B* b) noexcept { return b->size; }
    static void append(B* b, const char* data, std::size_t count) {
        std::memcpy(b->data + b->size, data, count);
        b->size += count;
    }
    static void append_zeros(B* b, std::size_t count) {
        std::memset(b->data + b->size, 0, count);
        b->size += count;
    }
    static void resize(B* b, std::size_t size) { b->size = size; }
    static void reserve_additional(B*, std::size_t) {}
    static void erase_range(B* b, std::size_t from, std::size_t to) {
        std::memmove(b->data + from, b->data + to, b->size - to);
        b->size -= to - from;
    }
    static char* at_pos(B* b, std::size_t pos) { return b->data + pos; }
    static void push_back(B* b, char ch) { b->data[b->size++] = ch; }
};
}  // namespace protozero

namespace rp::modules::network_tracer {
namespace {

namespace P = proto;
using ConnWriter = protozero::basic_pbf_writer<ConnBuffer>;

constexpr std::string_view kFamilyNames[] = {"v4", "v6"};
constexpr std::string_view kTypeNames[] = {"tcp", "udp"};
constexpr std::string_view kDirectionNames[] = {"unspecified", "incoming", "outgoing", "local",
                                                "none"};
constexpr std::string_view kEphemeralNames[] = {"ephemeralUnspecified", "ephemeralTrue",
                                                "ephemeralFalse"};

// One decimal byte ("0".."255") at p; returns the end.
char* put_octet(char* p, unsigned v) {
    if (v >= 100) {
        *p++ = static_cast<char>('0' + v / 100);
        v %= 100;
        *p++ = static_cast<char>('0' + v / 10);
        *p++ = static_cast<char>('0' + v % 10);
    } else if (v >= 10) {
        *p++ = static_cast<char>('0' + v / 10);
        *p++ = static_cast<char>('0' + v % 10);
    } else {
        *p++ = static_cast<char>('0' + v);
    }
    return p;
}

}  // namespace

PortRange PortRange::read_sysctl() {
    PortRange r;
    int fd = ::open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return r;
    char buf[64] = {};
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    unsigned lo = 0, hi = 0;
    if (n > 0 && std::sscanf(buf, "%u %u", &lo, &hi) == 2 && lo <= hi && hi <= 65535) {
        r.lo = static_cast<uint16_t>(lo);
        r.hi = static_cast<uint16_t>(hi);
        r.known = true;
    }
    return r;
}

int PortRange::state(uint16_t port) const {
    if (!known) return P::EphemeralPortState::ephemeralUnspecified;
    return port >= lo && port <= hi ? P::EphemeralPortState::ephemeralTrue
                                    : P::EphemeralPortState::ephemeralFalse;
}

size_t format_ip(const nt_addr& a, uint8_t family, char* out) {
    if (family == NT_FAMILY_V4) {
        char* p = out;
        for (int i = 12; i < 16; ++i) {
            p = put_octet(p, a.a[i]);
            if (i < 15) *p++ = '.';
        }
        return static_cast<size_t>(p - out);
    }
    if (inet_ntop(AF_INET6, a.a, out, INET6_ADDRSTRLEN) == nullptr) {
        out[0] = ':';
        out[1] = ':';
        return 2;
    }
    return std::strlen(out);
}

uint8_t fixed_direction(const nt_conn& c, bool intra_host, const PortRange& range) {
    if (c.type != NT_TYPE_UDP || c.direction != NT_DIR_INCOMING) return c.direction;
    bool source_ephemeral = range.state(c.sport) == P::EphemeralPortState::ephemeralTrue;
    bool dest_not_ephemeral =
        intra_host ? range.state(c.dport) != P::EphemeralPortState::ephemeralTrue : c.dport < 1024;
    return source_ephemeral && dest_not_ephemeral ? NT_DIR_OUTGOING : c.direction;
}

void ConnectionEncoder::begin(http::Encoding enc, http::Buffer& out, bool pretty) {
    enc_ = enc;
    out_ = &out;
    count_ = 0;
    if (enc_ == http::Encoding::protobuf) return;
    json_.reset(out, pretty);
    json_.start_object();
    json_.key("conns");
    json_.start_array();
}

void ConnectionEncoder::conn(const nt_conn& c, bool intra_host, const IpTranslation* t) {
    uint8_t direction = fixed_direction(c, intra_host, range_);
    const DnsKeyStats* dns = dns_ != nullptr ? dns_->lookup(c) : nullptr;
    if (enc_ == http::Encoding::protobuf)
        conn_protobuf(c, intra_host, direction, t, dns);
    else
        conn_json(c, intra_host, direction, t, dns);
    ++count_;
}

void ConnectionEncoder::conn_protobuf(const nt_conn& c, bool intra, uint8_t direction,
                                      const IpTranslation* t, const DnsKeyStats* dns) {
    namespace C = P::Connection;
    char ip[INET6_ADDRSTRLEN];
    if (dns != nullptr) {
        // The DNS maps have no fixed bound: this Connection goes through a growable buffer.
        dns_scratch_.clear();
        {
            http::PbfWriter m(dns_scratch_);
            conn_fields(m, c, intra, direction, ip, t);
            dns_->conn_protobuf(m, *dns);
        }
        http::PbfWriter top(*out_);
        top.add_message(P::Connections::conns, dns_scratch_.data(), dns_scratch_.size());
        return;
    }
    ConnBuffer buf;
    {
        ConnWriter m(buf);
        conn_fields(m, c, intra, direction, ip, t);
    }
    http::PbfWriter top(*out_);
    top.add_message(P::Connections::conns, buf.data, buf.size);
}

template <typename W>
void ConnectionEncoder::conn_fields(W& m, const nt_conn& c, bool intra, uint8_t direction, char* ip,
                                    const IpTranslation* t) {
    namespace C = P::Connection;
    if (c.pid != 0) m.add_int32(C::pid, static_cast<int32_t>(c.pid));
    {
        W a(m, C::laddr);
        a.add_string(P::Addr::ip, ip, format_ip(c.saddr, c.family, ip));
        if (c.sport != 0) a.add_int32(P::Addr::port, c.sport);
    }
    {
        W a(m, C::raddr);
        a.add_string(P::Addr::ip, ip, format_ip(c.daddr, c.family, ip));
        if (c.dport != 0) a.add_int32(P::Addr::port, c.dport);
    }
    if (c.family != 0) m.add_enum(C::family, c.family);
    if (c.type != 0) m.add_enum(C::type, c.type);
    if (int e = range_.state(c.sport); e != 0) m.add_enum(C::isLocalPortEphemeral, e);
    if (c.c.bytes_sent) m.add_uint64(C::lastBytesSent, c.c.bytes_sent);
    if (c.c.bytes_recv) m.add_uint64(C::lastBytesReceived, c.c.bytes_recv);
    if (c.c.retrans) m.add_uint32(C::lastRetransmits, c.c.retrans);
    if (direction != 0) m.add_enum(C::direction, direction);
    if (c.c.pkts_sent) m.add_uint64(C::lastPacketsSent, c.c.pkts_sent);
    if (c.c.pkts_recv) m.add_uint64(C::lastPacketsReceived, c.c.pkts_recv);
    m.add_message(C::protocol, "", 0);  // an empty stack: unclassified
    if (c.netns) m.add_uint32(C::netNS, c.netns);
    if (t != nullptr) {
        namespace T = P::IPTranslation;
        W x(m, C::ipTranslation);
        x.add_string(T::replSrcIP, ip, format_ip(t->repl.src, c.family, ip));
        x.add_string(T::replDstIP, ip, format_ip(t->repl.dst, c.family, ip));
        if (t->repl.sport != 0) x.add_int32(T::replSrcPort, t->repl.sport);
        if (t->repl.dport != 0) x.add_int32(T::replDstPort, t->repl.dport);
    }
    if (c.rtt_us) m.add_uint32(C::rtt, c.rtt_us);
    if (c.rttvar_us) m.add_uint32(C::rttVar, c.rttvar_us);
    if (intra) m.add_bool(C::intraHost, true);
    if (c.c.established) m.add_uint32(C::lastTcpEstablished, c.c.established);
    if (c.c.closed) m.add_uint32(C::lastTcpClosed, c.c.closed);
    m.add_int32(C::routeIdx, -1);
    if (c.failure != 0) {
        W e(m, C::tcpFailuresByErrCode);
        e.add_uint32(P::MapEntry::key, c.failure);
        e.add_uint32(P::MapEntry::value, 1);
    }
    if (c.c.rto) m.add_uint32(C::lastTcpRtoCount, c.c.rto);
    if (c.c.recovery) m.add_uint32(C::lastTcpRecoveryCount, c.c.recovery);
    if (c.c.reord_seen) m.add_uint32(C::lastTcpReordSeen, c.c.reord_seen);
    if (c.c.ooo_pack) m.add_uint32(C::lastTcpRcvOooPack, c.c.ooo_pack);
    if (c.c.delivered_ce) m.add_uint32(C::lastTcpDeliveredCe, c.c.delivered_ce);
    if (c.flags & NT_C_ECN) m.add_bool(C::tcpEcnNegotiated, true);
}

void ConnectionEncoder::u64_json(std::string_view key, uint64_t v) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    json_.key(key);
    json_.string(std::string_view(b, static_cast<size_t>(r.ptr - b)));
}

void ConnectionEncoder::addr_json(std::string_view key, const nt_addr& a, uint8_t family,
                                  uint16_t port) {
    char ip[INET6_ADDRSTRLEN];
    json_.key(key);
    json_.start_object();
    json_.kv("ip", std::string_view(ip, format_ip(a, family, ip)));
    json_.kv_int("port", port);
    json_.kv("containerId", "");
    json_.kv("hostName", "");
    json_.end_object();
}

void ConnectionEncoder::conn_json(const nt_conn& c, bool intra, uint8_t direction,
                                  const IpTranslation* t, const DnsKeyStats* dns) {
    http::JsonWriter& w = json_;
    auto empty_object = [&](std::string_view k) {
        w.key(k);
        w.start_object();
        w.end_object();
    };
    w.start_object();
    w.kv_int("pid", static_cast<int32_t>(c.pid));
    addr_json("laddr", c.saddr, c.family, c.sport);
    addr_json("raddr", c.daddr, c.family, c.dport);
    w.kv("family", kFamilyNames[c.family & 1]);
    w.kv("type", kTypeNames[c.type & 1]);
    w.kv("isLocalPortEphemeral", kEphemeralNames[range_.state(c.sport)]);
    u64_json("lastBytesSent", c.c.bytes_sent);
    u64_json("lastBytesReceived", c.c.bytes_recv);
    w.kv_uint("lastRetransmits", c.c.retrans);
    w.kv("direction", kDirectionNames[direction < 5 ? direction : 0]);
    u64_json("lastPacketsSent", c.c.pkts_sent);
    u64_json("lastPacketsReceived", c.c.pkts_recv);
    w.key("protocol");
    w.start_object();
    w.key("stack");
    w.start_array();
    w.end_array();
    w.end_object();
    w.kv_uint("netNS", c.netns);
    w.kv("remoteNetworkId", "");
    w.key("ipTranslation");
    if (t == nullptr) {
        w.null();
    } else {
        char ip[INET6_ADDRSTRLEN];
        w.start_object();
        w.kv("replSrcIP", std::string_view(ip, format_ip(t->repl.src, c.family, ip)));
        w.kv("replDstIP", std::string_view(ip, format_ip(t->repl.dst, c.family, ip)));
        w.kv_int("replSrcPort", t->repl.sport);
        w.kv_int("replDstPort", t->repl.dport);
        w.end_object();
    }
    w.kv_uint("rtt", c.rtt_us);
    w.kv_uint("rttVar", c.rttvar_us);
    w.kv_bool("intraHost", intra);
    if (dns_ != nullptr) {
        dns_->conn_json_counts(w, dns);
    } else {
        w.kv_uint("dnsSuccessfulResponses", 0);
        w.kv_uint("dnsFailedResponses", 0);
        w.kv_uint("dnsTimeouts", 0);
        u64_json("dnsSuccessLatencySum", 0);
        u64_json("dnsFailureLatencySum", 0);
        empty_object("dnsCountByRcode");
    }
    w.kv_uint("lastTcpEstablished", c.c.established);
    w.kv_uint("lastTcpClosed", c.c.closed);
    if (dns_ != nullptr) {
        dns_->conn_json_domains(w, dns);
    } else {
        empty_object("dnsStatsByDomain");
        empty_object("dnsStatsByDomainByQueryType");
        empty_object("dnsStatsByDomainOffsetByQueryType");
    }
    w.kv_int("routeIdx", -1);
    w.kv_int("routeTargetIdx", 0);
    w.key("httpAggregations");
    w.null();
    w.key("tags");
    w.start_array();
    w.end_array();
    w.kv_int("tagsIdx", 0);
    w.kv_uint("tagsChecksum", 0);
    w.kv_uint("stateIndex", 0);
    w.key("dataStreamsAggregations");
    w.null();
    w.key("http2Aggregations");
    w.null();
    w.key("databaseAggregations");
    w.null();
    w.key("tcpFailuresByErrCode");
    w.start_object();
    if (c.failure != 0) {
        char k[8];
        auto r = std::to_chars(k, k + sizeof k, c.failure);
        w.key(std::string_view(k, static_cast<size_t>(r.ptr - k)));
        w.uint64(1);
    }
    w.end_object();
    w.kv("remoteEcsTask", "");
    w.kv_int("localContainerTagsIndex", 0);
    w.kv_bool("systemProbeConn", false);
    w.kv_int("resolvConfIdx", 0);
    w.kv_uint("lastTcpRtoCount", c.c.rto);
    w.kv_uint("lastTcpRecoveryCount", c.c.recovery);
    w.kv_uint("lastTcpReordSeen", c.c.reord_seen);
    w.kv_uint("lastTcpRcvOooPack", c.c.ooo_pack);
    w.kv_uint("lastTcpDeliveredCe", c.c.delivered_ce);
    w.kv_uint("lastTcpProbe0Count", 0);
    w.kv_bool("tcpEcnNegotiated", (c.flags & NT_C_ECN) != 0);
    w.kv_int("remoteServiceTagsIdx", 0);
    w.end_object();
}

void ConnectionEncoder::end(const Trailer& t) {
    constexpr std::string_view kAsset = "tracer";
    if (enc_ == http::Encoding::protobuf) {
        namespace C = P::Connections;
        http::PbfWriter m(*out_);
        if (dns_ != nullptr) dns_->trailer_protobuf(m);
        {
            // CO-RE: no runtime compilation was attempted (all fields default).
            http::PbfWriter e(m, C::compilationTelemetryByAsset);
            e.add_string(P::MapEntry::key, kAsset.data(), kAsset.size());
            e.add_message(P::MapEntry::value, "", 0);
        }
        {
            http::PbfWriter a(m, C::agentConfiguration);
            a.add_bool(P::AgentConfiguration::npmEnabled, true);
        }
        for (const auto& [key, value] : t.telemetry) {
            http::PbfWriter e(m, C::connTelemetryMap);
            e.add_string(P::MapEntry::key, key.data(), key.size());
            e.add_int64(P::MapEntry::value, value);
        }
        {
            http::PbfWriter e(m, C::CORETelemetryByAsset);
            e.add_string(P::MapEntry::key, kAsset.data(), kAsset.size());
            e.add_enum(P::MapEntry::value, P::COREResult::SuccessDefaultBTF);
        }
        return;
    }
    http::JsonWriter& w = json_;
    auto empty = [&](std::string_view k, bool array) {
        w.key(k);
        if (array) {
            w.start_array();
            w.end_array();
        } else {
            w.start_object();
            w.end_object();
        }
    };
    w.end_array();  // conns
    if (dns_ != nullptr)
        dns_->trailer_json_dns(w);
    else
        empty("dns", false);
    w.key("connTelemetry");
    w.null();
    if (dns_ != nullptr)
        dns_->trailer_json_domains(w);
    else
        empty("domains", true);
    empty("routes", true);
    w.key("compilationTelemetryByAsset");
    w.start_object();
    w.key(kAsset);
    w.start_object();
    w.kv_bool("runtimeCompilationEnabled", false);
    w.kv("runtimeCompilationResult", "NotAttempted");
    w.kv("runtimeCompilationDuration", "0");
    w.end_object();
    w.end_object();
    w.key("agentConfiguration");
    w.start_object();
    w.kv_bool("npmEnabled", true);
    w.kv_bool("usmEnabled", false);
    w.kv_bool("dsmEnabled", false);
    w.kv_bool("ccmEnabled", false);
    w.kv_bool("csmEnabled", false);
    w.kv_bool("eudmEnabled", false);
    w.kv_bool("discoveryServiceMapEnabled", false);
    w.end_object();
    empty("tags", true);
    w.key("connTelemetryMap");
    w.start_object();
    for (const auto& [key, value] : t.telemetry) {
        char b[24];
        auto r = std::to_chars(b, b + sizeof b, value);
        w.key(key);
        w.string(std::string_view(b, static_cast<size_t>(r.ptr - b)));
    }
    w.end_object();
    w.kv("kernelHeaderFetchResult", "FetchNotAttempted");
    w.key("CORETelemetryByAsset");
    w.start_object();
    w.kv(kAsset, "SuccessDefaultBTF");
    w.end_object();
    empty("PrebuiltEBPFAssets", true);
    empty("resolvConfs", true);
    w.end_object();
    out_->push_back('\n');
}

}  // namespace rp::modules::network_tracer
