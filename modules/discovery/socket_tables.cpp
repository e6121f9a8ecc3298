// socket_tables.cpp — see socket_tables.h.
#include "modules/discovery/socket_tables.h"

#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "modules/discovery/procfs.h"

namespace rp::modules::discovery {

namespace {
constexpr unsigned kTcpListen = 0x0A;
constexpr unsigned kUdpUnconnected = 0x07;  // TCP_CLOSE: bound, not connected

// The next whitespace-separated field of `s` (advancing it).
std::string_view next_field(std::string_view& s) {
    size_t i = 0;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    std::string_view f = s.substr(i, j - i);
    s.remove_prefix(j);
    return f;
}
}  // namespace

PortRange read_ephemeral_range() {
    char buf[64];
    ssize_t n = read_small(AT_FDCWD, "/proc/sys/net/ipv4/ip_local_port_range", buf, sizeof buf - 1);
    PortRange r;
    if (n <= 0) return r;
    std::string_view s(buf, static_cast<size_t>(n));
    unsigned lo = 0, hi = 0;
    std::string_view a = next_field(s), b = next_field(s);
    if (std::from_chars(a.data(), a.data() + a.size(), lo).ec != std::errc() ||
        std::from_chars(b.data(), b.data() + b.size(), hi).ec != std::errc())
        return r;
    if (lo == 0 || hi == 0 || lo > hi || hi > 65535) return r;
    r.low = static_cast<uint16_t>(lo);
    r.high = static_cast<uint16_t>(hi);
    return r;
}

bool SocketTables::parse_line(std::string_view line, unsigned want_state, uint64_t* inode,
                              uint16_t* port) {
    std::string_view s = line;
    std::string_view sl = next_field(s);
    if (sl.empty() || sl.back() != ':') return false;  // the header line, or garbage
    std::string_view local = next_field(s);
    next_field(s);  // rem_address
    std::string_view st = next_field(s);
    unsigned state = 0;
    if (std::from_chars(st.data(), st.data() + st.size(), state, 16).ptr != st.data() + st.size() ||
        st.empty())
        return false;
    if (state != want_state) return false;
    size_t colon = local.rfind(':');
    if (colon == std::string_view::npos) return false;
    std::string_view p = local.substr(colon + 1);
    unsigned pv = 0;
    if (p.empty() ||
        std::from_chars(p.data(), p.data() + p.size(), pv, 16).ptr != p.data() + p.size() ||
        pv > 0xffff)
        return false;
    for (int i = 0; i < 5; ++i) next_field(s);  // tx:rx, tr:when, retrnsmt, uid, timeout
    std::string_view ino = next_field(s);
    uint64_t iv = 0;
    if (ino.empty() ||
        std::from_chars(ino.data(), ino.data() + ino.size(), iv).ptr != ino.data() + ino.size())
        return false;
    *inode = iv;
    *port = static_cast<uint16_t>(pv);
    return true;
}

SocketTables::SocketTables(PortRange ephemeral, bool use_diag) : ephemeral_(ephemeral) {
    struct stat st;
    if (!use_diag || ::stat("/proc/self/ns/net", &st) != 0) return;
    own_netns_ = st.st_ino;
    diag_fd_ = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
}

SocketTables::~SocketTables() {
    if (diag_fd_ >= 0) ::close(diag_fd_);
}

void SocketTables::reset() {
    entries_.clear();
    namespaces_.clear();
    lines_parsed_ = overflow_ = diag_dumps_ = 0;
}

void SocketTables::add(uint64_t ino, uint16_t port, bool udp) {
    if (ino == 0) return;  // a socket being torn down
    if (udp && ephemeral_.contains(port)) return;
    if (entries_.size() >= kMaxEntries) {
        ++overflow_;
        return;
    }
    entries_.push_back({ino, port, udp});
}

bool SocketTables::dump_diag(int family, bool udp, std::vector<char>& chunk) {
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nlh.nlmsg_seq = static_cast<uint32_t>(++diag_dumps_);
    msg.req.sdiag_family = static_cast<uint8_t>(family);
    msg.req.sdiag_protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
    msg.req.idiag_states = udp ? 1u << kUdpUnconnected : 1u << kTcpListen;
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    if (::sendto(diag_fd_, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
        return false;
    size_t mark = entries_.size();
    for (;;) {
        ssize_t n = ::recv(diag_fd_, chunk.data(), chunk.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        auto* h = reinterpret_cast<nlmsghdr*>(chunk.data());
        for (int left = static_cast<int>(n); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_seq != msg.nlh.nlmsg_seq) continue;  // a late answer to an older dump
            if (h->nlmsg_type == NLMSG_DONE) return true;
            if (h->nlmsg_type == NLMSG_ERROR) {  // e.g. no udp_diag in this kernel
                entries_.resize(mark);
                return false;
            }
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
                continue;
            const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
            ++lines_parsed_;
            add(d->idiag_inode, ntohs(d->id.idiag_sport), udp);
        }
    }
    entries_.resize(mark);
    return false;
}

void SocketTables::read_table(int piddir, const char* name, bool udp, std::vector<char>& chunk) {
    unsigned want = udp ? kUdpUnconnected : kTcpListen;
    // A missing tcp6/udp6 (IPv6 off) reads as empty, as upstream.
    for_each_line(piddir, name, chunk, SIZE_MAX, [&](std::string_view line) {
        ++lines_parsed_;
        uint64_t ino = 0;
        uint16_t port = 0;
        if (parse_line(line, want, &ino, &port)) add(ino, port, udp);
        return true;
    });
}

std::span<const SocketTables::Entry> SocketTables::namespace_of(uint64_t netns_ino, int piddir,
                                                                std::vector<char>& chunk) {
    for (const Namespace& ns : namespaces_)
        if (ns.ino == netns_ino)
            return {entries_.data() + ns.begin, static_cast<size_t>(ns.end - ns.begin)};
    if (namespaces_.size() >= kMaxNamespaces) {
        ++overflow_;
        return {};
    }
    auto begin = static_cast<uint32_t>(entries_.size());
    struct Table {
        int family;
        bool udp;
        const char* procfs;
    };
    for (Table t : {Table{AF_INET, false, "net/tcp"}, Table{AF_INET6, false, "net/tcp6"},
                    Table{AF_INET, true, "net/udp"}, Table{AF_INET6, true, "net/udp6"}}) {
        if (netns_ino == own_netns_ && diag_fd_ >= 0 && dump_diag(t.family, t.udp, chunk)) continue;
        read_table(piddir, t.procfs, t.udp, chunk);
    }
    std::sort(entries_.begin() + begin, entries_.end(),
              [](const Entry& a, const Entry& b) { return a.inode < b.inode; });
    namespaces_.push_back({netns_ino, begin, static_cast<uint32_t>(entries_.size())});
    return {entries_.data() + begin, entries_.size() - begin};
}

void SocketTables::ports(std::span<const Entry> table, std::span<const uint64_t> sockets,
                         std::vector<uint16_t>& tcp, std::vector<uint16_t>& udp) {
    tcp.clear();
    udp.clear();
    if (table.empty()) return;
    for (uint64_t s : sockets) {
        auto it = std::lower_bound(table.begin(), table.end(), s,
                                   [](const Entry& e, uint64_t ino) { return e.inode < ino; });
        if (it == table.end() || it->inode != s) continue;
        (it->udp ? udp : tcp).push_back(it->port);
    }
    for (auto* v : {&tcp, &udp}) {
        std::sort(v->begin(), v->end());
        v->erase(std::unique(v->begin(), v->end()), v->end());
        if (v->size() > kMaxPorts) v->resize(kMaxPorts);
    }
}

}  // namespace rp::modules::discovery
