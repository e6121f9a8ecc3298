// netprobe_test.cpp — the pure parts of ping and traceroute: Go's parameter parsing rules,
// addresses, checksums, Go's float formatting in JSON, and the traceroute probes and the replies
// they draw, built and parsed byte for byte.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "http/buffer.h"
#include "http/json_writer.h"
#include "modules/netprobe/inet.h"
#include "modules/traceroute/probe_packet.h"

namespace net = rp::modules::net;
namespace tr = rp::modules::traceroute;

TEST_CASE("netprobe: strconv.Atoi and ParseUint, with Go's error texts") {
    CHECK(net::go_atoi("42").value() == 42);
    CHECK(net::go_atoi("-7").value() == -7);
    CHECK(net::go_atoi("+7").value() == 7);
    CHECK(net::go_atoi("9223372036854775807").value() == INT64_MAX);
    CHECK(net::go_atoi("-9223372036854775808").value() == INT64_MIN);
    CHECK(net::go_atoi("9223372036854775808").error() ==
          "strconv.Atoi: parsing \"9223372036854775808\": value out of range");
    CHECK(net::go_atoi("").error() == "strconv.Atoi: parsing \"\": invalid syntax");
    CHECK(net::go_atoi(" 1").error() == "strconv.Atoi: parsing \" 1\": invalid syntax");
    CHECK(net::go_atoi("1e3").error() == "strconv.Atoi: parsing \"1e3\": invalid syntax");
    CHECK(net::go_atoi("-").error() == "strconv.Atoi: parsing \"-\": invalid syntax");
    CHECK(net::go_parse_uint("65535", 16).value() == 65535);
    CHECK(net::go_parse_uint("65536", 16).error() ==
          "strconv.ParseUint: parsing \"65536\": value out of range");
    CHECK(net::go_parse_uint("255", 8).value() == 255);
    CHECK(net::go_parse_uint("18446744073709551615", 64).value() == UINT64_MAX);
    CHECK(net::go_parse_uint("18446744073709551616", 64).error() ==
          "strconv.ParseUint: parsing \"18446744073709551616\": value out of range");
    CHECK(net::go_parse_uint("-1", 32).error() ==
          "strconv.ParseUint: parsing \"-1\": invalid syntax");
    CHECK(net::go_parse_uint("+1", 32).error() ==
          "strconv.ParseUint: parsing \"+1\": invalid syntax");
}

TEST_CASE("netprobe: query values as Go's URL.Query() reads them") {
    CHECK(net::query_value("count=3&interval=5", "interval").value() == "5");
    CHECK(net::query_value("count=3&count=4", "count").value() == "3");  // the first one
    CHECK(net::query_value("count", "count").value() == "");             // present, empty
    CHECK(net::query_value("count=", "count").value() == "");
    CHECK_FALSE(net::query_value("counts=1", "count").has_value());
    CHECK(net::query_value("a=x%2By+z", "a").value() == "x+y z");
    CHECK(net::query_value("c%6Fu%6et=9", "count").value() == "9");
    // A bad escape drops the pair (Go's ParseQuery skips it); so does a ';' (Go >= 1.17).
    CHECK_FALSE(net::query_value("count=%zz", "count").has_value());
    CHECK(net::query_value("count=%zz&count=2", "count").value() == "2");
    CHECK_FALSE(net::query_value("count=1;x=2", "count").has_value());
}

TEST_CASE("netprobe: numeric addresses, zones, text forms") {
    auto v4 = net::parse_ip("10.1.2.3");
    REQUIRE(v4);
    CHECK(v4->is_v4());
    CHECK(v4->to_string() == "10.1.2.3");
    auto v6 = net::parse_ip("2001:DB8::1");
    REQUIRE(v6);
    CHECK_FALSE(v6->is_v4());
    CHECK(v6->to_string() == "2001:db8::1");
    CHECK(net::parse_ip("[::1]")->to_string() == "::1");
    auto zoned = net::parse_ip("fe80::1%1");
    REQUIRE(zoned);
    CHECK(zoned->scope_id == 1);
    auto lo = net::parse_ip("fe80::1%lo");
    REQUIRE(lo);
    CHECK(lo->scope_id >= 1);
    CHECK_FALSE(net::parse_ip("fe80::1%no-such-interface"));
    CHECK_FALSE(net::parse_ip("localhost"));
    CHECK_FALSE(net::parse_ip("1.2.3"));
    CHECK_FALSE(net::parse_ip("1.2.3.4.5"));
    CHECK_FALSE(net::parse_ip(""));
    sockaddr_storage ss;
    CHECK(v4->to_sockaddr(80, ss) == sizeof(sockaddr_in));
    auto back = net::IpAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in));
    REQUIRE(back);
    CHECK(*back == *v4);
}

TEST_CASE("netprobe: the Internet checksum (RFC 1071's example) and a UUID's form") {
    // RFC 1071, section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2; the checksum is its complement.
    const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint16_t ck = net::checksum_fold(net::checksum_add(0, data, sizeof data));
    CHECK(ntohs(ck) == static_cast<uint16_t>(~0xddf2));
    std::string u = net::uuid_v4();
    REQUIRE(u.size() == 36);
    CHECK(u[8] == '-');
    CHECK(u[14] == '4');
    CHECK((u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b'));
    CHECK(u != net::uuid_v4());
}

namespace {
std::string go_json(double v, bool f32 = false, bool pretty = false) {
    rp::http::Buffer out;
    rp::http::JsonWriter w(out, pretty);
    w.start_array();
    w.go_float(v, f32);
    w.end_array();
    std::string s(out.data(), out.size());
    if (pretty) return s;
    return s.substr(1, s.size() - 2);
}
}  // namespace

TEST_CASE("json: floats as Go's encoding/json writes them") {
    CHECK(go_json(0) == "0");
    CHECK(go_json(100) == "100");
    CHECK(go_json(50) == "50");
    CHECK(go_json(33.33333333333333) == "33.33333333333333");
    CHECK(go_json(0.025183) == "0.025183");
    CHECK(go_json(1e-7) == "1e-7");
    CHECK(go_json(1.5e-7) == "1.5e-7");
    CHECK(go_json(0.000001) == "0.000001");
    CHECK(go_json(1e21) == "1e+21");
    CHECK(go_json(123456789012345678901.0) == "123456789012345680000");
    CHECK(go_json(-0.5) == "-0.5");
    CHECK(go_json(0.1 + 0.2) == "0.30000000000000004");
    // float32: the shortest form that reads back as that float32.
    CHECK(go_json(1.0f / 3.0f, true) == "0.33333334");
    CHECK(go_json(0.75, true) == "0.75");
    CHECK(go_json(1, true) == "1");
    CHECK(go_json(std::nan(""), false) == "null");
    CHECK(go_json(0.5, false, true) == "[\n  0.5\n]");
}

TEST_CASE("traceroute: a UDP probe, and the Time Exceeded that quotes it") {
    tr::ProbeSpec s;
    s.protocol = tr::Protocol::udp;
    inet_pton(AF_INET, "198.18.1.1", &s.src);
    inet_pton(AF_INET, "198.18.2.2", &s.dst);
    s.ttl = 3;
    s.ip_id = 0xbeef;
    s.sport = 40000;
    s.dport = 33434;
    uint8_t pkt[tr::kMaxProbeBytes];
    size_t len = tr::build_probe(s, pkt);
    REQUIRE(len == 20 + 8 + 12);
    CHECK(pkt[0] == 0x45);
    CHECK((pkt[2] << 8 | pkt[3]) == int(len));
    CHECK((pkt[4] << 8 | pkt[5]) == 0xbeef);
    CHECK(pkt[8] == 3);
    CHECK(pkt[9] == IPPROTO_UDP);
    // The IP header's checksum verifies; so does the UDP one with its pseudo-header.
    CHECK(net::checksum_fold(net::checksum_add(0, pkt, 20)) == 0);
    uint32_t pseudo = net::pseudo_header_v4(s.src, s.dst, IPPROTO_UDP, uint16_t(len - 20));
    CHECK(net::checksum_fold(net::checksum_add(pseudo, pkt + 20, len - 20)) == 0);

    // What a router sends back: its IP header, ICMP type 11 code 0, then the probe (IP header
    // and the first 8 bytes of UDP).
    uint8_t reply[20 + 8 + 28] = {};
    reply[0] = 0x45;
    reply[9] = IPPROTO_ICMP;
    in_addr router;
    inet_pton(AF_INET, "198.18.1.2", &router);
    std::memcpy(reply + 12, &router, 4);
    std::memcpy(reply + 16, &s.src, 4);
    reply[20] = 11;
    std::memcpy(reply + 28, pkt, 28);
    tr::Reply r;
    REQUIRE(tr::parse_icmp(reply, sizeof reply, r));
    CHECK(r.kind == tr::Reply::Kind::quote);
    CHECK(r.from.s_addr == router.s_addr);
    CHECK(r.icmp_type == 11);
    CHECK(r.inner_protocol == IPPROTO_UDP);
    CHECK(r.inner_ip_id == 0xbeef);
    CHECK(r.inner_dst.s_addr == s.dst.s_addr);
    CHECK(r.inner_src.s_addr == s.src.s_addr);
    CHECK(r.inner_sport == 40000);
    CHECK(r.inner_dport == 33434);
    // Truncated quotes are refused, not read past their end.
    CHECK_FALSE(tr::parse_icmp(reply, sizeof reply - 1, r));
    CHECK_FALSE(tr::parse_icmp(reply, 27, r));
}

TEST_CASE("traceroute: a TCP SYN probe, the SYN-ACK and RST that answer it") {
    tr::ProbeSpec s;
    s.protocol = tr::Protocol::tcp;
    inet_pton(AF_INET, "10.0.0.1", &s.src);
    inet_pton(AF_INET, "10.0.0.2", &s.dst);
    s.ttl = 1;
    s.ip_id = 7;
    s.sport = 50000;
    s.dport = 443;
    s.tcp_seq = 0x11223344;
    uint8_t pkt[tr::kMaxProbeBytes];
    size_t len = tr::build_probe(s, pkt);
    REQUIRE(len == 20 + 24);
    CHECK(pkt[20 + 13] == tr::kTcpSyn);
    CHECK((pkt[20 + 12] >> 4) == 6);  // data offset: 20 bytes + the MSS option
    uint32_t pseudo = net::pseudo_header_v4(s.src, s.dst, IPPROTO_TCP, 24);
    CHECK(net::checksum_fold(net::checksum_add(pseudo, pkt + 20, 24)) == 0);

    for (uint8_t flags : {uint8_t(tr::kTcpSyn | tr::kTcpAck), uint8_t(tr::kTcpRst | tr::kTcpAck)}) {
        uint8_t seg[40] = {};
        seg[0] = 0x45;
        seg[9] = IPPROTO_TCP;
        std::memcpy(seg + 12, &s.dst, 4);
        std::memcpy(seg + 16, &s.src, 4);
        seg[20] = 443 >> 8;
        seg[21] = 443 & 0xff;
        seg[22] = 50000 >> 8;
        seg[23] = 50000 & 0xff;
        const uint32_t ack = s.tcp_seq + 1;
        seg[28] = uint8_t(ack >> 24);
        seg[29] = uint8_t(ack >> 16);
        seg[30] = uint8_t(ack >> 8);
        seg[31] = uint8_t(ack);
        seg[33] = flags;
        tr::Reply r;
        REQUIRE(tr::parse_tcp(seg, sizeof seg, r));
        CHECK(r.tcp_sport == 443);
        CHECK(r.tcp_dport == 50000);
        CHECK(r.tcp_ack - 1 == s.tcp_seq);
        seg[33] = tr::kTcpAck;  // a plain ACK answers no probe
        CHECK_FALSE(tr::parse_tcp(seg, sizeof seg, r));
    }
}

TEST_CASE("traceroute: an ICMP echo probe and its echo reply") {
    tr::ProbeSpec s;
    s.protocol = tr::Protocol::icmp;
    inet_pton(AF_INET, "10.0.0.1", &s.src);
    inet_pton(AF_INET, "10.0.0.2", &s.dst);
    s.ttl = 2;
    s.ip_id = 9;
    s.echo_id = 0x1234;
    s.echo_seq = 5;
    uint8_t pkt[tr::kMaxProbeBytes];
    size_t len = tr::build_probe(s, pkt);
    REQUIRE(len == 20 + 8 + 12);
    CHECK(pkt[20] == 8);
    CHECK(net::checksum_fold(net::checksum_add(0, pkt + 20, len - 20)) == 0);
    uint8_t reply[40] = {};
    std::memcpy(reply, pkt, len);
    std::memcpy(reply + 12, &s.dst, 4);
    std::memcpy(reply + 16, &s.src, 4);
    reply[20] = 0;  // echo reply
    tr::Reply r;
    REQUIRE(tr::parse_icmp(reply, len, r));
    CHECK(r.kind == tr::Reply::Kind::echo_reply);
    CHECK(r.echo_id == 0x1234);
    CHECK(r.echo_seq == 5);
    reply[20] = 5;  // a redirect: not ours
    CHECK_FALSE(tr::parse_icmp(reply, len, r));
}
