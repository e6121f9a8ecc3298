// dns.cpp — see dns.h.
#include "modules/network_tracer/dns.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/filter.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "loop/log.h"
#include "modules/network_tracer/connection_encoder.h"
#include "modules/proto/messages.h"

namespace rp::modules::network_tracer {
namespace {

namespace P = proto;

constexpr uint16_t kDnsPort = 53;
constexpr size_t kSnapLen = 65535;

// FNV-1a over the bytes of a key's fields.
size_t fnv(const void* p, size_t n, size_t h = 1469598103934665603ull) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

nt_addr v4_addr(const uint8_t* p) {
    nt_addr a{};
    a.a[10] = 0xff;
    a.a[11] = 0xff;
    std::memcpy(a.a + 12, p, 4);
    return a;
}

nt_addr v6_addr(const uint8_t* p) {
    nt_addr a{};
    std::memcpy(a.a, p, 16);
    return a;
}

bool is_loopback(const nt_addr& a, uint8_t family) {
    if (family == NT_FAMILY_V4) return a.a[12] == 127;
    static constexpr uint8_t kLo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(a.a, kLo6, 16) == 0;
}

// Reads a (possibly compressed) name at `off` of msg; appends it, lower case, dotted, to `out`
// when given. Returns the offset after the name in place (not after a pointer's target), or 0.
size_t read_name(std::span<const uint8_t> msg, size_t off, std::string* out) {
    size_t end = 0;  // where the name ends in place (set at the first pointer)
    size_t pos = off;
    size_t length = 0;
    for (int hops = 0; hops < 64; ++hops) {
        if (pos >= msg.size()) return 0;
        uint8_t len = msg[pos];
        if (len == 0) {
            return end != 0 ? end : pos + 1;
        }
        if ((len & 0xc0) == 0xc0) {
            if (pos + 1 >= msg.size()) return 0;
            if (end == 0) end = pos + 2;
            pos = static_cast<size_t>((len & 0x3f) << 8 | msg[pos + 1]);
            continue;
        }
        if ((len & 0xc0) != 0) return 0;  // reserved label types
        if (pos + 1 + len > msg.size()) return 0;
        length += len + 1u;
        if (length > 255) return 0;
        if (out != nullptr) {
            if (!out->empty()) out->push_back('.');
            for (size_t i = 0; i < len; ++i) {
                char c = static_cast<char>(msg[pos + 1 + i]);
                out->push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
            }
        }
        pos += 1u + len;
    }
    return 0;  // a pointer loop
}

ParseResult parse_message(std::span<const uint8_t> msg, DnsPacket& out, bool response) {
    if (msg.size() < 12) return ParseResult::truncated;
    out.id = be16(msg.data());
    uint16_t flags = be16(msg.data() + 2);
    bool qr = (flags & 0x8000) != 0;
    if (qr != response) return ParseResult::skipped;
    if ((flags >> 11 & 0xf) != 0) return ParseResult::skipped;  // not a standard query (opcode)
    uint16_t qd = be16(msg.data() + 4), an = be16(msg.data() + 6);
    if (qd == 0) return ParseResult::skipped;
    out.rcode = static_cast<uint8_t>(flags & 0xf);
    out.question.clear();
    out.answers.clear();
    size_t off = read_name(msg, 12, &out.question);
    if (off == 0) return msg.size() < 512 ? ParseResult::truncated : ParseResult::malformed;
    if (off + 4 > msg.size()) return ParseResult::truncated;
    out.qtype = be16(msg.data() + off);
    off += 4;
    if (!response) {
        out.kind = DnsPacket::Kind::query;
        return ParseResult::ok;
    }
    out.kind = out.rcode == 0 ? DnsPacket::Kind::success : DnsPacket::Kind::failure;
    if (out.rcode != 0) return ParseResult::ok;
    // Skip the other questions, then read the answers (A and AAAA: the names of the question).
    for (uint16_t i = 1; i < qd; ++i) {
        off = read_name(msg, off, nullptr);
        if (off == 0 || off + 4 > msg.size()) return ParseResult::ok;
        off += 4;
    }
    for (uint16_t i = 0; i < an; ++i) {
        off = read_name(msg, off, nullptr);
        if (off == 0 || off + 10 > msg.size()) break;
        uint16_t type = be16(msg.data() + off), cls = be16(msg.data() + off + 2);
        uint16_t rdlen = be16(msg.data() + off + 8);
        off += 10;
        if (off + rdlen > msg.size()) break;
        if (cls == 1 && type == 1 && rdlen == 4)
            out.answers.push_back({v4_addr(msg.data() + off), NT_FAMILY_V4});
        else if (cls == 1 && type == 28 && rdlen == 16)
            out.answers.push_back({v6_addr(msg.data() + off), NT_FAMILY_V6});
        off += rdlen;
    }
    return ParseResult::ok;
}

// Classic BPF over the network header (a SOCK_DGRAM packet socket): IPv4 (not a later fragment)
// or IPv6 (no extension header), UDP or TCP, source or destination port 53.
// clang-format off
constexpr sock_filter kFilter[] = {
    /*  0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL)),
    /*  1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 10),
    /*  2 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
    /*  3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 17, 0),
    /*  4 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
    /*  5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 1, 0),
    /*  6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 14),
    /*  7 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
    /*  8 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),
    /*  9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kDnsPort, 10, 0),
    /* 10 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
    /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kDnsPort, 8, 9),
    /* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 8),
    /* 13 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
    /* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 1, 0),
    /* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 5),
    /* 16 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 40),
    /* 17 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kDnsPort, 2, 0),
    /* 18 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 42),
    /* 19 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kDnsPort, 0, 1),
    /* 20 */ BPF_STMT(BPF_RET | BPF_K, kSnapLen),
    /* 21 */ BPF_STMT(BPF_RET | BPF_K, 0),
};

// A tap's: the packets the host sends (PACKET_OUTGOING), then the filter above. The jump skips
// to the filter's last instruction (refuse).
constexpr size_t kTapPrefix = 2;
constexpr auto kTapFilter = [] {
    std::array<sock_filter, kTapPrefix + std::size(kFilter)> f{};
    f[0] = BPF_STMT(BPF_LD | BPF_B | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE));
    f[1] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0,
                    static_cast<uint8_t>(std::size(kFilter) - 1));
    for (size_t i = 0; i < std::size(kFilter); ++i) f[kTapPrefix + i] = kFilter[i];
    return f;
}();
// clang-format on

std::string errno_text(std::string_view what, int err) {
    return std::string(what) + ": " + std::strerror(err);
}

uint64_t realtime_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

void write_rcodes_pb(http::PbfWriter& m, protozero::pbf_tag_type tag,
                     const std::array<uint32_t, 16>& by_rcode) {
    for (uint32_t r = 0; r < by_rcode.size(); ++r) {
        if (by_rcode[r] == 0) continue;
        http::PbfWriter e(m, tag);
        if (r != 0) e.add_uint32(P::MapEntry::key, r);
        e.add_uint32(P::MapEntry::value, by_rcode[r]);
    }
}

void write_stats_pb(http::PbfWriter& m, const DnsTypeStats& s) {
    if (s.timeouts) m.add_uint32(P::DNSStats::dnsTimeouts, s.timeouts);
    if (s.success_latency_us) m.add_uint64(P::DNSStats::dnsSuccessLatencySum, s.success_latency_us);
    if (s.failure_latency_us) m.add_uint64(P::DNSStats::dnsFailureLatencySum, s.failure_latency_us);
    write_rcodes_pb(m, P::DNSStats::dnsCountByRcode, s.by_rcode);
}

std::string_view num(char* b, uint64_t v) {
    auto r = std::to_chars(b, b + 24, v);
    return {b, static_cast<size_t>(r.ptr - b)};
}

void write_rcodes_json(http::JsonWriter& w, std::string_view key,
                       const std::array<uint32_t, 16>& by_rcode) {
    char b[24];
    w.key(key);
    w.start_object();
    // Keys sorted as strings (gogo jsonpb sorts map keys): "0", "1", "10".."15", "2".."9".
    static constexpr uint8_t kOrder[16] = {0, 1, 10, 11, 12, 13, 14, 15, 2, 3, 4, 5, 6, 7, 8, 9};
    for (uint8_t r : kOrder) {
        if (by_rcode[r] == 0) continue;
        w.key(num(b, r));
        w.uint64(by_rcode[r]);
    }
    w.end_object();
}

void write_stats_json(http::JsonWriter& w, const DnsTypeStats& s) {
    char b[24];
    w.start_object();
    w.kv_uint("dnsTimeouts", s.timeouts);
    w.key("dnsSuccessLatencySum");
    w.string(num(b, s.success_latency_us));
    w.key("dnsFailureLatencySum");
    w.string(num(b, s.failure_latency_us));
    write_rcodes_json(w, "dnsCountByRcode", s.by_rcode);
    w.end_object();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

bool DnsKey::operator==(const DnsKey& o) const {
    // The family is not compared: the address form (IPv4-mapped or not) already says it.
    return client_port == o.client_port && type == o.type &&
           std::memcmp(server.a, o.server.a, 16) == 0 && std::memcmp(client.a, o.client.a, 16) == 0;
}

size_t DnsKeyHash::operator()(const DnsKey& k) const {
    size_t h = fnv(k.server.a, 16);
    h = fnv(k.client.a, 16, h);
    h = fnv(&k.client_port, sizeof k.client_port, h);
    return fnv(&k.type, 1, h);
}

void DnsTypeStats::merge(const DnsTypeStats& o) {
    timeouts += o.timeouts;
    success_latency_us += o.success_latency_us;
    failure_latency_us += o.failure_latency_us;
    for (size_t i = 0; i < by_rcode.size(); ++i) by_rcode[i] += o.by_rcode[i];
}

std::span<const sock_filter> dns_socket_filter() { return kFilter; }
std::span<const sock_filter> dns_tap_filter() { return kTapFilter; }

ParseResult parse_dns_packet(std::span<const uint8_t> pkt, DnsPacket& out) {
    if (pkt.empty()) return ParseResult::truncated;
    uint8_t version = pkt[0] >> 4;
    uint8_t proto = 0;
    std::span<const uint8_t> l4;
    nt_addr src{}, dst{};
    if (version == 4) {
        if (pkt.size() < 20) return ParseResult::truncated;
        size_t ihl = (pkt[0] & 0xfu) * 4u;
        size_t total = be16(pkt.data() + 2);
        if (ihl < 20 || pkt.size() < ihl) return ParseResult::malformed;
        if ((be16(pkt.data() + 6) & 0x3fff) != 0) return ParseResult::skipped;  // a fragment
        if (total >= ihl && total < pkt.size()) pkt = pkt.first(total);
        proto = pkt[9];
        src = v4_addr(pkt.data() + 12);
        dst = v4_addr(pkt.data() + 16);
        out.key.family = NT_FAMILY_V4;
        l4 = pkt.subspan(ihl);
    } else if (version == 6) {
        if (pkt.size() < 40) return ParseResult::truncated;
        size_t payload = be16(pkt.data() + 4);
        if (40 + payload < pkt.size()) pkt = pkt.first(40 + payload);
        proto = pkt[6];
        src = v6_addr(pkt.data() + 8);
        dst = v6_addr(pkt.data() + 24);
        out.key.family = NT_FAMILY_V6;
        l4 = pkt.subspan(40);
    } else {
        return ParseResult::skipped;
    }
    uint16_t sport = 0, dport = 0;
    std::span<const uint8_t> msg;
    if (proto == IPPROTO_UDP) {
        if (l4.size() < 8) return ParseResult::truncated;
        sport = be16(l4.data());
        dport = be16(l4.data() + 2);
        msg = l4.subspan(8);
        out.key.type = NT_TYPE_UDP;
    } else if (proto == IPPROTO_TCP) {
        if (l4.size() < 20) return ParseResult::truncated;
        sport = be16(l4.data());
        dport = be16(l4.data() + 2);
        size_t doff = (l4[12] >> 4) * 4u;
        if (doff < 20 || l4.size() < doff) return ParseResult::malformed;
        std::span<const uint8_t> payload = l4.subspan(doff);
        if (payload.empty()) return ParseResult::skipped;  // handshake, ACKs, FIN
        if (payload.size() < 2 + 12) return ParseResult::truncated;
        size_t len = be16(payload.data());
        msg = payload.subspan(2, std::min(len, payload.size() - 2));
        out.key.type = NT_TYPE_TCP;
    } else {
        return ParseResult::skipped;
    }
    bool response;
    if (sport == kDnsPort && msg.size() >= 3 && (msg[2] & 0x80) != 0) {
        response = true;
        out.key.server = src;
        out.key.client = dst;
        out.key.client_port = dport;
    } else if (dport == kDnsPort) {
        response = false;
        out.key.server = dst;
        out.key.client = src;
        out.key.client_port = sport;
    } else {
        return ParseResult::skipped;
    }
    return parse_message(msg, out, response);
}

// ---------------------------------------------------------------------------------------------
// DnsStatKeeper

DnsTypeStats* DnsStatKeeper::entry(const DnsKey& key, const std::string& question, uint16_t qtype) {
    auto it = stats_.find(key);
    if (it != stats_.end()) {
        auto s = it->second.find({question, qtype});
        if (s != it->second.end()) return &s->second;
    }
    if (count_ >= opts_.max_stats) {
        ++k_.stats_dropped;
        return nullptr;
    }
    ++count_;
    return &stats_[key][{question, qtype}];
}

void DnsStatKeeper::process(const DnsPacket& p, uint64_t ts_us) {
    StateKey sk{p.key, p.id};
    if (p.kind == DnsPacket::Kind::query) {
        if (pending_.contains(sk)) {
            ++k_.duplicate_queries;  // a retransmission or the same packet seen twice
            return;
        }
        if (pending_.size() >= opts_.max_pending) {
            ++k_.pending_full;
            return;
        }
        pending_.emplace(sk, State{ts_us, p.qtype, p.question});
        order_.emplace_back(sk, ts_us);
        if (order_.size() > 2u * opts_.max_pending + 16) compact_order();
        return;
    }
    auto it = pending_.find(sk);
    if (it == pending_.end()) {
        ++k_.unmatched_responses;
        return;
    }
    State st = std::move(it->second);
    pending_.erase(it);
    uint64_t latency = ts_us > st.ts_us ? ts_us - st.ts_us : 0;
    DnsTypeStats* s = entry(p.key, st.question, st.qtype);
    if (latency > opts_.timeout_us) {
        ++k_.late_responses;
        ++k_.timeouts;
        if (s != nullptr) ++s->timeouts;
        return;
    }
    if (s == nullptr) return;
    ++s->by_rcode[p.rcode & 0xf];
    if (p.kind == DnsPacket::Kind::success)
        s->success_latency_us += latency;
    else
        s->failure_latency_us += latency;
}

void DnsStatKeeper::compact_order() {
    std::erase_if(order_, [&](const auto& e) {
        auto it = pending_.find(e.first);
        return it == pending_.end() || it->second.ts_us != e.second;
    });
}

uint64_t DnsStatKeeper::expire(uint64_t now_us) {
    while (!order_.empty()) {
        auto& [sk, ts] = order_.front();
        auto it = pending_.find(sk);
        if (it == pending_.end() || it->second.ts_us != ts) {
            order_.pop_front();  // answered
            continue;
        }
        if (ts + opts_.timeout_us > now_us) return ts + opts_.timeout_us;
        ++k_.timeouts;
        if (DnsTypeStats* s = entry(sk.key, it->second.question, it->second.qtype); s != nullptr)
            ++s->timeouts;
        pending_.erase(it);
        order_.pop_front();
    }
    return 0;
}

DnsStatsByKey DnsStatKeeper::take() {
    DnsStatsByKey out;
    out.swap(stats_);
    count_ = 0;
    return out;
}

// ---------------------------------------------------------------------------------------------
// ReverseCache

bool ReverseCache::Key::operator==(const Key& o) const {
    return std::memcmp(addr.a, o.addr.a, 16) == 0;
}

size_t ReverseCache::KeyHash::operator()(const Key& k) const { return fnv(k.addr.a, 16); }

void ReverseCache::add(const DnsPacket& p, uint64_t now_ms) {
    if (p.question.empty()) return;
    for (const auto& a : p.answers) {
        Key k{a.addr, a.family};
        auto it = map_.find(k);
        if (it == map_.end()) {
            if (map_.size() >= opts_.cache_size) {
                ++k_.cache_full;
                continue;
            }
            it = map_.emplace(k, Entry{{}, 0}).first;
            bytes_ += sizeof(Key) + sizeof(Entry) + 32;
        }
        Entry& e = it->second;
        e.expires_ms = now_ms + opts_.cache_ttl_ms;
        if (std::find(e.names.begin(), e.names.end(), p.question) != e.names.end()) continue;
        if (e.names.size() >= opts_.max_names_per_ip) {
            ++k_.cache_names_dropped;
            continue;
        }
        e.names.push_back(p.question);
        bytes_ += sizeof(std::string) + p.question.size();
    }
}

const std::vector<std::string>* ReverseCache::get(const nt_addr& a, uint8_t family,
                                                  uint64_t now_ms) {
    auto it = map_.find(Key{a, family});
    if (it == map_.end()) return nullptr;
    it->second.expires_ms = std::max(it->second.expires_ms, now_ms + opts_.cache_ttl_ms);
    return &it->second.names;
}

void ReverseCache::expire(uint64_t now_ms) {
    std::erase_if(map_, [&](const auto& kv) {
        if (kv.second.expires_ms > now_ms) return false;
        ++k_.cache_expired;
        size_t b = sizeof(Key) + sizeof(Entry) + 32;
        for (const auto& n : kv.second.names) b += sizeof(std::string) + n.size();
        bytes_ -= std::min(bytes_, b);
        return true;
    });
}

// ---------------------------------------------------------------------------------------------
// DnsPoll

bool DnsPoll::Ip::operator<(const Ip& o) const { return std::memcmp(addr.a, o.addr.a, 16) < 0; }

void DnsPoll::start(DnsStatsByKey stats, uint64_t now_ms) {
    clear();
    stats_ = std::move(stats);
    now_ms_ = now_ms;
}

void DnsPoll::clear() {
    stats_.clear();
    domain_index_.clear();
    domains_.clear();
    ips_.clear();
}

const DnsKeyStats* DnsPoll::lookup(const nt_conn& c) {
    if (const auto* names = cache_.get(c.daddr, c.family, now_ms_); names != nullptr)
        ips_.emplace(Ip{c.daddr, c.family}, names);
    if (c.dport != kDnsPort || stats_.empty()) return nullptr;
    DnsKey k{c.daddr, c.saddr, c.sport, c.family, c.type};
    auto it = stats_.find(k);
    if (it == stats_.end()) return nullptr;
    // Upstream attaches a key's stats to one connection only: taken out of the map.
    current_ = std::move(it->second);
    stats_.erase(it);
    if (current_.empty()) return nullptr;
    ++k_.attached;
    return &current_;
}

DnsPoll::Totals DnsPoll::totals(const DnsKeyStats& s) {
    Totals t;
    for (const auto& [dq, st] : s) {
        t.successes += st.by_rcode[0];
        t.timeouts += st.timeouts;
        t.success_latency += st.success_latency_us;
        t.failure_latency += st.failure_latency_us;
        for (size_t r = 0; r < st.by_rcode.size(); ++r) {
            t.by_rcode[r] += st.by_rcode[r];
            if (r != 0) t.failures += st.by_rcode[r];
        }
    }
    return t;
}

int32_t DnsPoll::domain_index(const std::string& d) {
    if (auto it = domain_index_.find(d); it != domain_index_.end()) return it->second;
    auto it = domain_index_.emplace(d, static_cast<int32_t>(domains_.size())).first;
    domains_.push_back(&it->first);
    return it->second;
}

std::map<int32_t, DnsTypeStats> DnsPoll::by_domain(const DnsKeyStats& s) {
    std::map<int32_t, DnsTypeStats> m;
    for (const auto& [dq, st] : s) m[domain_index(dq.first)].merge(st);
    return m;
}

void DnsPoll::conn_protobuf(http::PbfWriter& m, const DnsKeyStats& s) {
    namespace C = P::Connection;
    Totals t = totals(s);
    if (t.successes) m.add_uint32(C::dnsSuccessfulResponses, t.successes);
    if (t.failures) m.add_uint32(C::dnsFailedResponses, t.failures);
    if (t.timeouts) m.add_uint32(C::dnsTimeouts, t.timeouts);
    if (t.success_latency) m.add_uint64(C::dnsSuccessLatencySum, t.success_latency);
    if (t.failure_latency) m.add_uint64(C::dnsFailureLatencySum, t.failure_latency);
    write_rcodes_pb(m, C::dnsCountByRcode, t.by_rcode);
    if (!opts_.domains) return;
    if (!opts_.by_query_type) {
        // The map is ordered by domain, then type: one entry per run of a domain (no map built).
        for (auto it = s.begin(); it != s.end();) {
            const std::string& d = it->first.first;
            DnsTypeStats st;
            for (; it != s.end() && it->first.first == d; ++it) st.merge(it->second);
            int32_t idx = domain_index(d);
            http::PbfWriter e(m, C::dnsStatsByDomain);
            if (idx != 0) e.add_int32(P::MapEntry::key, idx);
            http::PbfWriter v(e, P::MapEntry::value);
            write_stats_pb(v, st);
        }
        return;
    }
    // By domain, then by query type (the map is ordered by domain, then type).
    for (auto it = s.begin(); it != s.end();) {
        int32_t idx = domain_index(it->first.first);
        http::PbfWriter e(m, C::dnsStatsByDomainByQueryType);
        if (idx != 0) e.add_int32(P::MapEntry::key, idx);
        http::PbfWriter v(e, P::MapEntry::value);
        const std::string& d = it->first.first;
        for (; it != s.end() && it->first.first == d; ++it) {
            http::PbfWriter q(v, P::DNSStatsByQueryType::dnsStatsByQueryType);
            if (it->first.second != 0)
                q.add_int32(P::MapEntry::key, static_cast<int32_t>(it->first.second));
            http::PbfWriter qs(q, P::MapEntry::value);
            write_stats_pb(qs, it->second);
        }
    }
}

void DnsPoll::conn_json_counts(http::JsonWriter& w, const DnsKeyStats* s) {
    Totals t = s != nullptr ? totals(*s) : Totals{};
    char b[24];
    w.kv_uint("dnsSuccessfulResponses", t.successes);
    w.kv_uint("dnsFailedResponses", t.failures);
    w.kv_uint("dnsTimeouts", t.timeouts);
    w.key("dnsSuccessLatencySum");
    w.string(num(b, t.success_latency));
    w.key("dnsFailureLatencySum");
    w.string(num(b, t.failure_latency));
    write_rcodes_json(w, "dnsCountByRcode", t.by_rcode);
}

void DnsPoll::conn_json_domains(http::JsonWriter& w, const DnsKeyStats* s) {
    char b[24];
    // gogo jsonpb writes int32 map keys as strings, sorted as strings.
    auto sorted_keys = [&](const auto& m) {
        std::vector<std::pair<std::string, int32_t>> keys;
        for (const auto& kv : m) keys.emplace_back(std::string(num(b, kv.first)), kv.first);
        std::sort(keys.begin(), keys.end());
        return keys;
    };
    w.key("dnsStatsByDomain");
    w.start_object();
    if (s != nullptr && opts_.domains && !opts_.by_query_type) {
        auto m = by_domain(*s);
        for (const auto& [text, idx] : sorted_keys(m)) {
            w.key(text);
            write_stats_json(w, m[idx]);
        }
    }
    w.end_object();
    w.key("dnsStatsByDomainByQueryType");
    w.start_object();
    if (s != nullptr && opts_.domains && opts_.by_query_type) {
        std::map<int32_t, std::map<int32_t, const DnsTypeStats*>> m;
        for (const auto& [dq, st] : *s) m[domain_index(dq.first)][dq.second] = &st;
        for (const auto& [text, idx] : sorted_keys(m)) {
            w.key(text);
            w.start_object();
            w.key("dnsStatsByQueryType");
            w.start_object();
            for (const auto& [qtext, q] : sorted_keys(m[idx])) {
                w.key(qtext);
                write_stats_json(w, *m[idx][q]);
            }
            w.end_object();
            w.end_object();
        }
    }
    w.end_object();
    w.key("dnsStatsByDomainOffsetByQueryType");
    w.start_object();
    w.end_object();
}

void DnsPoll::trailer_protobuf(http::PbfWriter& m) {
    namespace C = P::Connections;
    char ip[INET6_ADDRSTRLEN];
    for (const auto& [a, names] : ips_) {
        http::PbfWriter e(m, C::dns);
        e.add_string(P::MapEntry::key, ip, format_ip(a.addr, a.family, ip));
        http::PbfWriter v(e, P::MapEntry::value);
        for (const auto& n : *names) v.add_string(P::DNSEntry::names, n);
    }
    for (const std::string* d : domains_) m.add_string(C::domains, *d);
}

void DnsPoll::trailer_json_dns(http::JsonWriter& w) {
    char ip[INET6_ADDRSTRLEN];
    std::vector<std::pair<std::string, const std::vector<std::string>*>> sorted;
    for (const auto& [a, names] : ips_)
        sorted.emplace_back(std::string(ip, format_ip(a.addr, a.family, ip)), names);
    std::sort(sorted.begin(), sorted.end());
    w.key("dns");
    w.start_object();
    for (const auto& [text, names] : sorted) {
        w.key(text);
        w.start_object();
        w.key("names");
        w.start_array();
        for (const auto& n : *names) w.string(n);
        w.end_array();
        w.end_object();
    }
    w.end_object();
}

void DnsPoll::trailer_json_domains(http::JsonWriter& w) {
    w.key("domains");
    w.start_array();
    for (const std::string* d : domains_) w.string(*d);
    w.end_array();
}

// ---------------------------------------------------------------------------------------------
// DnsTracker

namespace {

// A SOCK_DGRAM packet socket with `filter`, kernel timestamps and a large receive buffer, bound
// to `ifindex` (0: every interface); the error names what failed.
std::expected<int, std::string> open_packet_socket(std::span<const sock_filter> filter, int ifindex,
                                                   bool ignore_outgoing, bool* ignored) {
    // Protocol 0: no packet arrives before the filter is in place and the socket is bound.
    int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(errno_text("DNS: socket(AF_PACKET)", errno));
    sock_fprog prog{static_cast<unsigned short>(filter.size()),
                    const_cast<sock_filter*>(filter.data())};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
        int err = errno;
        ::close(fd);
        return std::unexpected(errno_text("DNS: attach the socket filter", err));
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    if (ignore_outgoing)  // Linux 4.20; without it the socket also sees what the host sends
        *ignored = ::setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0;
    int rcvbuf = ifindex == 0 ? 4 << 20 : 1 << 20;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
        int err = errno;
        ::close(fd);
        return std::unexpected(errno_text("DNS: bind the packet socket", err));
    }
    return fd;
}

}  // namespace

std::expected<std::unique_ptr<DnsTracker>, std::string> DnsTracker::create(loop::Reactor& r,
                                                                           const DnsOptions& o) {
    bool ignored = false;
    auto fd = open_packet_socket(kFilter, 0, true, &ignored);
    if (!fd) return std::unexpected(fd.error());
    std::unique_ptr<DnsTracker> t(new DnsTracker(r, o, *fd));
    t->ignore_outgoing_ = ignored;
    if (!t->start_watch(t->watch_, *fd, 0))
        return std::unexpected("DNS: the reactor has no room to watch the packet socket");
    if (ignored) {
        std::string err;
        if (!t->start_links(err)) return std::unexpected(err);
    } else {
        LOG_WARN(
            "network_tracer: DNS: PACKET_IGNORE_OUTGOING refused (Linux < 4.20): one socket "
            "sees every packet the host sends and receives");
    }
    return t;
}

DnsTracker::DnsTracker(loop::Reactor& r, const DnsOptions& o, int fd)
    : reactor_(r),
      opts_(o),
      fd_(fd),
      keeper_(opts_, k_),
      cache_(opts_, k_),
      poll_(opts_, cache_, k_),
      buf_(kSnapLen) {
    timer_.init(r, [this] { on_timer(); });
    coalesce_timer_.init(r, [this] { on_coalesce_timer(); });
}

DnsTracker::~DnsTracker() {
    watch_.stop();
    link_watch_.stop();
    timer_.cancel();
    coalesce_timer_.cancel();
    taps_.clear();
    if (link_fd_ >= 0) ::close(link_fd_);
    if (fd_ >= 0) ::close(fd_);
}

DnsTracker::Tap::~Tap() {
    watch.stop();
    if (fd >= 0) ::close(fd);
}

size_t DnsTracker::drain() {
    size_t n = 0;
    batch_.clear();
    arena_.clear();
    batch_full_ = false;
    drain_fd(fd_, n);
    read_socket_drops(fd_);
    int gone[8];
    size_t n_gone = 0;
    for (auto& [ifindex, tap] : taps_) {
        if (!drain_fd(tap->fd, n) && n_gone < std::size(gone)) gone[n_gone++] = ifindex;
        read_socket_drops(tap->fd);
    }
    for (size_t i = 0; i < n_gone; ++i) close_tap(gone[i]);
    // In the order the kernel saw them: a query sent (a tap) before its response received (the
    // other socket) although the sockets are read one after the other.
    std::stable_sort(batch_.begin(), batch_.end(),
                     [](const Queued& a, const Queued& b) { return a.ts_us < b.ts_us; });
    for (const Queued& q : batch_)
        on_packet(std::span<const uint8_t>(arena_.data() + q.offset, q.len), q.ts_us);
    return n;
}

// Wake-ups are coalesced: the first packet after a quiet spell wakes the loop through the
// sockets' readiness; then every socket is read and their watches stop, and a timer reads them
// all every kCoalesceMs while packets keep coming (the kernel's timestamps keep each packet's
// time exact, the receive buffers hold what arrives meanwhile); a timer turn that finds nothing
// starts the watches again. 1,000 lookups/s cost ~20 wake-ups/s instead of 2,000.
bool DnsTracker::start_watch(loop::FdWatch& w, int fd, int ifindex) {
    return w.start(reactor_, fd, POLLIN, [this, ifindex](int res) {
        if (ifindex == 0 && res < 0) {
            ++k_.read_errors;
            LOG_WARN("network_tracer: DNS packet socket: %s", std::strerror(-res));
            return;
        }
        if (ifindex != 0 && (res < 0 || (res & POLLHUP) != 0)) {
            close_tap(ifindex);  // ENETDOWN once the interface is unregistered
            return;
        }
        on_readable();
    });
}

void DnsTracker::on_readable() {
    ++k_.wakeups;
    size_t n = drain();
    if (coalescing_) return;
    coalescing_ = true;
    watch_.stop();
    for (auto& [ifindex, tap] : taps_) tap->watch.stop();
    arm_next_read(n);
}

// A read that stopped at a bound (packets or bytes) left packets behind: the next one comes at
// once.
void DnsTracker::arm_next_read(size_t read) {
    coalesce_timer_.arm_after(read >= kDrainCap || batch_full_ ? 1 : kCoalesceMs);
}

void DnsTracker::on_coalesce_timer() {
    ++k_.coalesced_reads;
    size_t n = drain();
    if (n != 0) {
        arm_next_read(n);
        return;
    }
    coalescing_ = false;
    if (!start_watch(watch_, fd_, 0)) ++k_.read_errors;
    for (auto& [ifindex, tap] : taps_)
        if (!start_watch(tap->watch, tap->fd, ifindex)) ++k_.read_errors;
}

// false: the socket's interface is gone (ENETDOWN, ENXIO, ENODEV): a tap to close, not an error.
bool DnsTracker::drain_fd(int fd, size_t& count) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    for (size_t i = 0; i < kDrainCap; ++i) {
        if (arena_.size() >= kArenaCap) {  // bounded: the rest is read 1 ms later
            batch_full_ = true;
            break;
        }
        sockaddr_ll from{};
        iovec iov{buf_.data(), buf_.size()};
        msghdr mh{};
        mh.msg_name = &from;
        mh.msg_namelen = sizeof from;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENETDOWN || errno == ENXIO || errno == ENODEV) return false;
            if (errno != EAGAIN && errno != EWOULDBLOCK) ++k_.read_errors;
            break;
        }
        // Without PACKET_IGNORE_OUTGOING loopback shows each packet twice (sent, then
        // received): the received copy is kept.
        if (from.sll_pkttype == PACKET_OUTGOING && from.sll_hatype == ARPHRD_LOOPBACK) continue;
        uint64_t ts = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
                timespec tv;
                std::memcpy(&tv, CMSG_DATA(c), sizeof tv);
                ts = static_cast<uint64_t>(tv.tv_sec) * 1000000u +
                     static_cast<uint64_t>(tv.tv_nsec) / 1000;
            }
        }
        if (ts == 0) ts = realtime_us();
        size_t len = std::min(static_cast<size_t>(n), buf_.size());
        ++count;
        batch_.push_back(Queued{ts, arena_.size(), len});
        arena_.insert(arena_.end(), buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(len));
    }
    return true;
}

void DnsTracker::read_socket_drops(int fd) {
    tpacket_stats st{};
    socklen_t len = sizeof st;
    if (::getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
        k_.socket_drops += st.tp_drops;  // the kernel resets them on every read
}

// ---- interfaces: one tap per non-loopback interface, kept in step by rtnetlink

bool DnsTracker::start_links(std::string& err) {
    link_fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (link_fd_ < 0) {
        err = errno_text("DNS: socket(NETLINK_ROUTE)", errno);
        return false;
    }
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK;
    if (::bind(link_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        err = errno_text("DNS: bind the rtnetlink socket to RTMGRP_LINK", errno);
        return false;
    }
    int rcvbuf = 1 << 20;
    ::setsockopt(link_fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    link_buf_.resize(MNL_SOCKET_BUFFER_SIZE);
    resync_links();
    if (!link_watch_.start(reactor_, link_fd_, POLLIN, [this](int res) {
            if (res < 0) {
                ++k_.read_errors;
                LOG_WARN("network_tracer: DNS rtnetlink socket: %s", std::strerror(-res));
                return;
            }
            on_link_readable();
        })) {
        err = "DNS: the reactor has no room to watch the rtnetlink socket";
        return false;
    }
    return true;
}

// Reads the interface list whole (a dump on a socket of its own, so that events queued on
// link_fd_ stay in order), opens the taps it lacks and closes those of interfaces gone.
void DnsTracker::resync_links() {
    ++k_.link_resyncs;
    int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        LOG_WARN("network_tracer: DNS: socket(NETLINK_ROUTE): %s", std::strerror(errno));
        return;
    }
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[NLMSG_SPACE(sizeof(ifinfomsg))]{};
    auto* nlh = mnl_nlmsg_put_header(req);
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = 1;
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    if (::send(fd, nlh, nlh->nlmsg_len, 0) < 0) {
        LOG_WARN("network_tracer: DNS: RTM_GETLINK: %s", std::strerror(errno));
        ::close(fd);
        return;
    }
    std::vector<int> seen;
    bool done = false, complete = false;
    while (!done) {
        ssize_t n = ::recv(fd, link_buf_.data(), link_buf_.size(), 0);
        if (n <= 0) {
            LOG_WARN("network_tracer: DNS: the interface list could not be read: %s",
                     n == 0 ? "end of stream" : std::strerror(errno));
            break;
        }
        auto* m = reinterpret_cast<const nlmsghdr*>(link_buf_.data());
        int left = static_cast<int>(n);
        for (; mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
            if (m->nlmsg_type == NLMSG_DONE) {
                done = complete = true;
                break;
            }
            if (m->nlmsg_type == NLMSG_ERROR) {
                done = true;
                break;
            }
            link_message(m, true, &seen);
        }
    }
    ::close(fd);
    if (!complete) return;  // keep what is open: better a stale tap than none
    std::vector<int> gone;
    for (const auto& [ifindex, tap] : taps_)
        if (std::find(seen.begin(), seen.end(), ifindex) == seen.end()) gone.push_back(ifindex);
    for (int i : gone) close_tap(i);
}

void DnsTracker::on_link_readable() {
    for (;;) {
        ssize_t n = ::recv(link_fd_, link_buf_.data(), link_buf_.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {  // events were lost: read the whole list again
                resync_links();
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) ++k_.read_errors;
            return;
        }
        if (n == 0) return;
        auto* m = reinterpret_cast<const nlmsghdr*>(link_buf_.data());
        int left = static_cast<int>(n);
        for (; mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) link_message(m, false, nullptr);
    }
}

void DnsTracker::link_message(const void* msg, bool in_dump, std::vector<int>* seen) {
    const auto* m = static_cast<const nlmsghdr*>(msg);
    if (m->nlmsg_type != RTM_NEWLINK && m->nlmsg_type != RTM_DELLINK) return;
    if (m->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
    const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(m));
    if (ifi->ifi_index <= 0) return;
    // Loopback's packets are all received again on it: the received-packet socket has them.
    if (ifi->ifi_type == ARPHRD_LOOPBACK) return;
    if (m->nlmsg_type == RTM_DELLINK && !in_dump) {
        close_tap(ifi->ifi_index);
        return;
    }
    if (seen != nullptr) seen->push_back(ifi->ifi_index);
    // A tap on an interface that is down would fail at once (ENETDOWN): it opens when the
    // interface comes up (an RTM_NEWLINK with IFF_UP), and closes when it goes down.
    if ((ifi->ifi_flags & IFF_UP) == 0) {
        close_tap(ifi->ifi_index);
        return;
    }
    if (taps_.find(ifi->ifi_index) == taps_.end()) open_tap(ifi->ifi_index);
}

void DnsTracker::open_tap(int ifindex) {
    if (taps_.size() >= kMaxTaps) {
        ++k_.taps_refused;
        return;
    }
    auto fd = open_packet_socket(kTapFilter, ifindex, false, nullptr);
    if (!fd) {
        // An interface gone between its event and the bind (ENODEV) is not worth a warning.
        ++k_.tap_errors;
        LOG_DEBUG("network_tracer: interface %d: %s", ifindex, fd.error().c_str());
        return;
    }
    auto tap = std::make_unique<Tap>();
    tap->fd = *fd;
    // While reads are coalesced the timer reads the new tap too; its watch starts with the others.
    if (!coalescing_ && !start_watch(tap->watch, *fd, ifindex)) {
        ++k_.tap_errors;
        LOG_WARN("network_tracer: DNS: the reactor has no room to watch interface %d", ifindex);
        return;
    }
    ++k_.taps_opened;
    taps_.emplace(ifindex, std::move(tap));
}

void DnsTracker::close_tap(int ifindex) {
    auto it = taps_.find(ifindex);
    if (it == taps_.end()) return;
    ++k_.taps_closed;
    taps_.erase(it);
}

void DnsTracker::on_packet(std::span<const uint8_t> pkt, uint64_t ts_us) {
    ++k_.packets;
    ParseResult r = parse_dns_packet(pkt, packet_);
    switch (r) {
        case ParseResult::ok:
            break;
        case ParseResult::skipped:
            ++k_.skipped;
            return;
        case ParseResult::truncated:
            ++k_.truncated;
            return;
        case ParseResult::malformed:
            ++k_.decoding_errors;
            return;
    }
    const DnsPacket& p = packet_;
    if (p.kind == DnsPacket::Kind::query)
        ++k_.queries;
    else if (p.kind == DnsPacket::Kind::success)
        ++k_.successes;
    else
        ++k_.failures;
    uint64_t now_ms = reactor_.now_ms();
    if (p.kind == DnsPacket::Kind::success) cache_.add(p, now_ms);
    if (!opts_.stats) return;
    if (!opts_.local && is_loopback(p.key.server, p.key.family)) {
        ++k_.local_ignored;
        return;
    }
    keeper_.process(p, ts_us);
    if (p.kind == DnsPacket::Kind::query) arm(ts_us + opts_.timeout_us);
}

void DnsTracker::arm(uint64_t deadline_us) {
    uint64_t now = realtime_us();
    uint64_t ms = deadline_us > now ? (deadline_us - now + 999) / 1000 : 0;
    ms = std::min<uint64_t>(ms, opts_.cache_ttl_ms);  // the cache is swept on the same timer
    if (!timer_.armed() || timer_.deadline_ms() > reactor_.now_ms() + ms) timer_.arm_after(ms);
}

void DnsTracker::on_timer() {
    uint64_t next = keeper_.expire(realtime_us());
    uint64_t now_ms = reactor_.now_ms();
    if (now_ms >= next_cache_sweep_ms_) {
        cache_.expire(now_ms);
        next_cache_sweep_ms_ = now_ms + opts_.cache_ttl_ms;
    }
    if (next != 0)
        arm(next);
    else if (cache_.size() != 0)
        arm(realtime_us() + opts_.cache_ttl_ms * 1000);
}

DnsPoll& DnsTracker::begin_poll(std::string_view client,
                                std::span<const std::string_view> clients) {
    keeper_.expire(realtime_us());
    DnsStatsByKey fresh = keeper_.take();
    // Forget the buffers of clients that are gone; start those of new ones.
    std::erase_if(clients_, [&](const auto& kv) {
        return std::find(clients.begin(), clients.end(), kv.first) == clients.end();
    });
    for (auto id : clients)
        if (clients_.find(id) == clients_.end()) clients_.try_emplace(std::string(id));
    size_t fresh_count = 0;
    for (const auto& [key, by] : fresh) fresh_count += by.size();
    size_t left = clients_.size();
    for (auto& [id, buf] : clients_) {
        // The last client with nothing buffered takes the stats whole (the usual case: one
        // process-agent polling): nothing copied.
        if (--left == 0 && buf.stats.empty() && fresh_count <= opts_.max_buffered) {
            buf.stats = std::move(fresh);
            buf.count = fresh_count;
            break;
        }
        for (const auto& [key, by] : fresh) {
            for (const auto& [dq, st] : by) {
                auto& slot_map = buf.stats[key];
                auto it = slot_map.find(dq);
                if (it == slot_map.end()) {
                    if (buf.count >= opts_.max_buffered) {
                        ++k_.buffered_dropped;
                        continue;
                    }
                    ++buf.count;
                    slot_map.emplace(dq, st);
                } else {
                    it->second.merge(st);
                }
            }
            if (auto s = buf.stats.find(key); s != buf.stats.end() && s->second.empty())
                buf.stats.erase(s);
        }
    }
    DnsStatsByKey mine;
    if (auto it = clients_.find(client); it != clients_.end()) {
        mine.swap(it->second.stats);
        it->second.count = 0;
    }
    poll_.start(std::move(mine), reactor_.now_ms());
    if (cache_.size() != 0) arm(realtime_us() + opts_.cache_ttl_ms * 1000);
    return poll_;
}

void DnsTracker::end_poll() { poll_.clear(); }

size_t DnsTracker::buffered() const {
    size_t n = keeper_.stats();
    for (const auto& [id, b] : clients_) n += b.count;
    return n;
}

void DnsTracker::write_stats(http::JsonWriter& w) const {
    w.start_object();
    w.kv_bool("collect_dns_stats", opts_.stats);
    w.kv_bool("collect_dns_domains", opts_.domains);
    w.kv_bool("enable_dns_by_querytype", opts_.by_query_type);
    w.kv_uint("dns_timeout_ms", opts_.timeout_us / 1000);
    w.kv_uint("max_dns_stats", opts_.max_stats);
    w.kv_uint("packets", k_.packets);
    w.kv_uint("queries", k_.queries);
    w.kv_uint("successful_responses", k_.successes);
    w.kv_uint("failed_responses", k_.failures);
    w.kv_uint("timeouts", k_.timeouts);
    w.kv_uint("late_responses", k_.late_responses);
    w.kv_uint("unmatched_responses", k_.unmatched_responses);
    w.kv_uint("duplicate_queries", k_.duplicate_queries);
    w.kv_uint("skipped_packets", k_.skipped);
    w.kv_uint("truncated_packets", k_.truncated);
    w.kv_uint("decoding_errors", k_.decoding_errors);
    w.kv_uint("local_dns_ignored", k_.local_ignored);
    w.kv_uint("stats_attached", k_.attached);
    w.kv_uint("pending_queries", keeper_.pending());
    w.kv_uint("buffered_stats", buffered());
    w.kv_uint("reverse_cache_entries", cache_.size());
    w.kv_uint("reverse_cache_bytes", cache_.bytes());
    w.key("dropped");
    w.start_object();
    w.kv_uint("pending_full", k_.pending_full);
    w.kv_uint("max_dns_stats", k_.stats_dropped);
    w.kv_uint("client_buffer_full", k_.buffered_dropped);
    w.kv_uint("reverse_cache_full", k_.cache_full);
    w.kv_uint("reverse_cache_names", k_.cache_names_dropped);
    w.kv_uint("socket_drops", k_.socket_drops);
    w.end_object();
    w.kv_uint("reverse_cache_expired", k_.cache_expired);
    w.kv_uint("read_errors", k_.read_errors);
    w.kv_bool("ignore_outgoing", ignore_outgoing_);
    w.kv_uint("taps", taps_.size());
    w.kv_uint("taps_opened", k_.taps_opened);
    w.kv_uint("taps_closed", k_.taps_closed);
    w.kv_uint("tap_errors", k_.tap_errors);
    w.kv_uint("taps_refused", k_.taps_refused);
    w.kv_uint("link_resyncs", k_.link_resyncs);
    w.kv_uint("wakeups", k_.wakeups);
    w.kv_uint("coalesced_reads", k_.coalesced_reads);
    w.end_object();
}

}  // namespace rp::modules::network_tracer
