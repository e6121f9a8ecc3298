// inet.h — what the ping and traceroute modules share about IP: addresses (numeric parsing with
// an IPv6 zone, text form as Go's net.IP prints it), the Internet checksum, raw sockets (opened
// with the reason spelled out when CAP_NET_RAW is missing), classic-BPF socket filters, the
// kernel's receive timestamps, and Go's query-string and strconv rules that the upstream handlers
// apply to their parameters.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct sock_filter;

namespace rp::modules::net {

// An IPv4 or IPv6 address (network byte order), with the scope of a link-local IPv6 address.
struct IpAddr {
    int family = 0;  // AF_INET or AF_INET6; 0 = none
    std::array<uint8_t, 16> bytes{};
    uint32_t scope_id = 0;

    static IpAddr v4(in_addr a);
    static IpAddr v6(const in6_addr& a, uint32_t scope = 0);
    bool is_v4() const { return family == AF_INET; }
    bool valid() const { return family != 0; }
    in_addr in4() const;
    in6_addr in6() const;
    // Go's net.IP.String(): dotted quad, or RFC 5952 for IPv6 (inet_ntop), without the zone.
    std::string to_string() const;
    // sockaddr_in / sockaddr_in6 with `port`; returns its length.
    socklen_t to_sockaddr(uint16_t port, sockaddr_storage& out) const;
    static std::optional<IpAddr> from_sockaddr(const sockaddr* sa, socklen_t len);
    bool operator==(const IpAddr& o) const {
        return family == o.family && bytes == o.bytes && scope_id == o.scope_id;
    }
};

// A numeric address: dotted IPv4, or IPv6 optionally in brackets and with "%zone" (an interface
// name or index). nullopt when `text` is not one (then it is a host name to resolve).
std::optional<IpAddr> parse_ip(std::string_view text);

// The Internet checksum (RFC 1071) of `data`, continuing the one's-complement sum `sum`.
uint32_t checksum_add(uint32_t sum, const void* data, size_t len);
uint16_t checksum_fold(uint32_t sum);
// The pseudo-header sum of an IPv4 UDP/TCP segment.
uint32_t pseudo_header_v4(in_addr src, in_addr dst, uint8_t protocol, uint16_t length);

// socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol). The error names the call and,
// for EPERM/EACCES, that CAP_NET_RAW is what is missing.
std::expected<int, std::string> open_raw_socket(int family, int protocol);
// Attaches a classic BPF program (SO_ATTACH_FILTER).
std::expected<void, std::string> attach_filter(int fd, std::span<const sock_filter> prog);
// ICMP_FILTER (raw(7), <linux/icmp.h>) on an IPv4 raw ICMP socket: only the ICMP types whose
// bit is set in `pass_types` reach the socket.
void set_icmp_filter(int fd, uint32_t pass_types);
// Turns on SO_TIMESTAMPNS (the kernel's receive time of each packet, CLOCK_REALTIME).
void enable_rx_timestamps(int fd);

// Monotonic nanoseconds.
int64_t mono_ns();
// The monotonic time at which the kernel stamped a packet (SCM_TIMESTAMPNS in `control`): the
// realtime stamp mapped onto CLOCK_MONOTONIC through the current offset between the two clocks;
// `fallback` when the message carries no stamp or the mapping would put it in the future.
int64_t rx_mono_ns(const void* control, size_t control_len, int64_t fallback);

// Go's URL.Query().Has/Get for one key: the value of the first `key=` (or bare `key`) pair,
// '+' and %XX decoded; nullopt when the key is absent. Pairs are split on '&'.
std::optional<std::string> query_value(std::string_view query, std::string_view key);

// strconv.Atoi / strconv.ParseUint(v, 10, bits) with Go's error text:
//   strconv.Atoi: parsing "x": invalid syntax | value out of range
std::expected<int64_t, std::string> go_atoi(std::string_view v);
std::expected<uint64_t, std::string> go_parse_uint(std::string_view v, int bits);

// Random bytes from getrandom(2) (never blocks once the pool is initialised; falls back to a
// clock-seeded mix).
void random_bytes(void* out, size_t len);
// A version-4 UUID in its 36-character text form.
std::string uuid_v4();

}  // namespace rp::modules::net
