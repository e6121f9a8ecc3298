// inet.cpp — see inet.h.
#include "modules/netprobe/inet.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <net/if.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace rp::modules::net {

IpAddr IpAddr::v4(in_addr a) {
    IpAddr r;
    r.family = AF_INET;
    std::memcpy(r.bytes.data(), &a, 4);
    return r;
}

IpAddr IpAddr::v6(const in6_addr& a, uint32_t scope) {
    IpAddr r;
    r.family = AF_INET6;
    std::memcpy(r.bytes.data(), &a, 16);
    r.scope_id = scope;
    return r;
}

in_addr IpAddr::in4() const {
    in_addr a;
    std::memcpy(&a, bytes.data(), 4);
    return a;
}

in6_addr IpAddr::in6() const {
    in6_addr a;
    std::memcpy(&a, bytes.data(), 16);
    return a;
}

std::string IpAddr::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == AF_INET) {
        in_addr a = in4();
        inet_ntop(AF_INET, &a, buf, sizeof buf);
    } else if (family == AF_INET6) {
        in6_addr a = in6();
        inet_ntop(AF_INET6, &a, buf, sizeof buf);
    }
    return buf;
}

socklen_t IpAddr::to_sockaddr(uint16_t port, sockaddr_storage& out) const {
    std::memset(&out, 0, sizeof out);
    if (family == AF_INET) {
        auto* s = reinterpret_cast<sockaddr_in*>(&out);
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        s->sin_addr = in4();
        return sizeof(sockaddr_in);
    }
    auto* s = reinterpret_cast<sockaddr_in6*>(&out);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    s->sin6_addr = in6();
    s->sin6_scope_id = scope_id;
    return sizeof(sockaddr_in6);
}

std::optional<IpAddr> IpAddr::from_sockaddr(const sockaddr* sa, socklen_t len) {
    if (sa == nullptr) return std::nullopt;
    if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in))
        return v4(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
    if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        const auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
        return v6(s6->sin6_addr, s6->sin6_scope_id);
    }
    return std::nullopt;
}

std::optional<IpAddr> parse_ip(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
        text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() > 64 || text.find('\0') != std::string_view::npos)
        return std::nullopt;
    std::string s(text);
    in_addr a4;
    if (s.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, s.c_str(), &a4) == 1) return IpAddr::v4(a4);
        return std::nullopt;
    }
    uint32_t scope = 0;
    if (size_t pct = s.find('%'); pct != std::string::npos) {
        std::string zone = s.substr(pct + 1);
        s.resize(pct);
        if (zone.empty()) return std::nullopt;
        unsigned idx = if_nametoindex(zone.c_str());
        if (idx == 0) {
            auto [p, ec] = std::from_chars(zone.data(), zone.data() + zone.size(), idx);
            if (ec != std::errc() || p != zone.data() + zone.size() || idx == 0)
                return std::nullopt;
        }
        scope = idx;
    }
    in6_addr a6;
    if (inet_pton(AF_INET6, s.c_str(), &a6) != 1) return std::nullopt;
    return IpAddr::v6(a6, scope);
}

uint32_t checksum_add(uint32_t sum, const void* data, size_t len) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (len > 1) {
        sum += static_cast<uint32_t>(p[0]) << 8 | p[1];
        p += 2;
        len -= 2;
    }
    if (len == 1) sum += static_cast<uint32_t>(p[0]) << 8;
    return sum;
}

uint16_t checksum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return htons(static_cast<uint16_t>(~sum & 0xffff));
}

uint32_t pseudo_header_v4(in_addr src, in_addr dst, uint8_t protocol, uint16_t length) {
    uint32_t sum = 0;
    sum = checksum_add(sum, &src, 4);
    sum = checksum_add(sum, &dst, 4);
    sum += protocol;
    sum += length;
    return sum;
}

namespace {

std::string_view family_name(int family) {
    return family == AF_INET ? "AF_INET" : family == AF_INET6 ? "AF_INET6" : "AF_?";
}

std::string protocol_name(int protocol) {
    switch (protocol) {
        case IPPROTO_ICMP:
            return "IPPROTO_ICMP";
        case IPPROTO_ICMPV6:
            return "IPPROTO_ICMPV6";
        case IPPROTO_RAW:
            return "IPPROTO_RAW";
        case IPPROTO_TCP:
            return "IPPROTO_TCP";
        case IPPROTO_UDP:
            return "IPPROTO_UDP";
        default:
            return std::to_string(protocol);
    }
}

}  // namespace

std::expected<int, std::string> open_raw_socket(int family, int protocol) {
    int fd = ::socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd >= 0) return fd;
    int e = errno;
    std::string msg = "socket(" + std::string(family_name(family)) + ", SOCK_RAW, " +
                      protocol_name(protocol) + "): " + std::strerror(e);
    if (e == EPERM || e == EACCES) msg += " (raw sockets need CAP_NET_RAW)";
    if (e == EAFNOSUPPORT) msg += " (this kernel or namespace has no such address family)";
    return std::unexpected(msg);
}

std::expected<void, std::string> attach_filter(int fd, std::span<const sock_filter> prog) {
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(prog.size());
    fprog.filter = const_cast<sock_filter*>(prog.data());
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0)
        return std::unexpected(std::string("setsockopt(SO_ATTACH_FILTER): ") +
                               std::strerror(errno));
    return {};
}

void set_icmp_filter(int fd, uint32_t pass_types) {
    // <linux/icmp.h>'s ICMP_FILTER and struct icmp_filter (the header clashes with glibc's).
    constexpr int kIcmpFilter = 1;
    uint32_t blocked = ~pass_types;
    ::setsockopt(fd, SOL_RAW, kIcmpFilter, &blocked, sizeof blocked);
}

void enable_rx_timestamps(int fd) {
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
}

int64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t rx_mono_ns(const void* control, size_t control_len, int64_t fallback) {
    msghdr m{};
    m.msg_control = const_cast<void*>(control);
    m.msg_controllen = control_len;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
        if (c->cmsg_len < CMSG_LEN(sizeof(timespec))) break;
        timespec rx;
        std::memcpy(&rx, CMSG_DATA(c), sizeof rx);
        timespec now_real, now_mono;
        clock_gettime(CLOCK_REALTIME, &now_real);
        clock_gettime(CLOCK_MONOTONIC, &now_mono);
        int64_t age =
            (int64_t(now_real.tv_sec) - rx.tv_sec) * 1000000000 + (now_real.tv_nsec - rx.tv_nsec);
        // A clock step between the stamp and now would show as a negative or absurd age.
        if (age < 0 || age > 10'000'000'000) return fallback;
        return int64_t(now_mono.tv_sec) * 1000000000 + now_mono.tv_nsec - age;
    }
    return fallback;
}

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Go's QueryUnescape ('+' is a space); nullopt on a bad escape (Go then drops the pair).
std::optional<std::string> query_unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi << 4 | lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::optional<std::string> query_value(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
        size_t eq = pair.find('=');
        auto k = query_unescape(pair.substr(0, eq));
        if (!k || *k != key) continue;
        auto v =
            query_unescape(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!v) continue;
        return v;
    }
    return std::nullopt;
}

namespace {

std::string go_num_error(std::string_view fn, std::string_view v, std::string_view why) {
    std::string quoted;
    for (char c : v.substr(0, 64)) {
        unsigned char u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            quoted += '\\';
            quoted += c;
        } else if (u < 0x20 || u >= 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", u);
            quoted += b;
        } else {
            quoted += c;
        }
    }
    return "strconv." + std::string(fn) + ": parsing \"" + quoted + "\": " + std::string(why);
}

}  // namespace

std::expected<int64_t, std::string> go_atoi(std::string_view v) {
    std::string_view digits = v;
    bool neg = false;
    if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
        neg = digits.front() == '-';
        digits.remove_prefix(1);
    }
    if (digits.empty()) return std::unexpected(go_num_error("Atoi", v, "invalid syntax"));
    uint64_t acc = 0;
    bool overflow = false;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::unexpected(go_num_error("Atoi", v, "invalid syntax"));
        if (acc > (UINT64_MAX - 9) / 10) overflow = true;
        if (!overflow) acc = acc * 10 + static_cast<uint64_t>(c - '0');
    }
    const uint64_t limit = neg ? uint64_t(INT64_MAX) + 1 : uint64_t(INT64_MAX);
    if (overflow || acc > limit)
        return std::unexpected(go_num_error("Atoi", v, "value out of range"));
    return neg ? static_cast<int64_t>(0 - acc) : static_cast<int64_t>(acc);
}

std::expected<uint64_t, std::string> go_parse_uint(std::string_view v, int bits) {
    if (v.empty()) return std::unexpected(go_num_error("ParseUint", v, "invalid syntax"));
    uint64_t acc = 0;
    bool overflow = false;
    for (char c : v) {
        if (c < '0' || c > '9')
            return std::unexpected(go_num_error("ParseUint", v, "invalid syntax"));
        if (acc > (UINT64_MAX - static_cast<uint64_t>(c - '0')) / 10) overflow = true;
        if (!overflow) acc = acc * 10 + static_cast<uint64_t>(c - '0');
    }
    const uint64_t max = bits >= 64 ? UINT64_MAX : (uint64_t(1) << bits) - 1;
    if (overflow || acc > max)
        return std::unexpected(go_num_error("ParseUint", v, "value out of range"));
    return acc;
}

void random_bytes(void* out, size_t len) {
    auto* p = static_cast<uint8_t*>(out);
    while (len > 0) {
        ssize_t n = ::getrandom(p, len, GRND_NONBLOCK);
        if (n <= 0) break;
        p += n;
        len -= static_cast<size_t>(n);
    }
    // Not expected on a running system; a mix of the clock keeps ids distinct anyway.
    static uint64_t state = static_cast<uint64_t>(mono_ns()) ^ 0x9e3779b97f4a7c15ull;
    for (; len > 0; --len) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *p++ = static_cast<uint8_t>(state);
    }
}

std::string uuid_v4() {
    uint8_t b[16];
    random_bytes(b, sizeof b);
    b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
    char out[37];
    std::snprintf(out, sizeof out,
                  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                  b[14], b[15]);
    return out;
}

}  // namespace rp::modules::net
