// socket_tables.h — listening TCP and bound UDP sockets of each network namespace, by inode, as
// system-probe's discovery matches a process's socket:[inode] links to ports.
//
// The tables of a namespace are /proc/<pid>/net/{tcp,tcp6,udp,udp6} of any process in it; they are
// read the first time a request meets a process of that namespace (keyed by the inode of
// /proc/<pid>/ns/net) and kept for the rest of the request, so each namespace is read once per
// request however many of its processes are asked about. Kept: TCP sockets in state LISTEN (0A);
// UDP sockets in state 07 (unconnected, bound) whose port is not in the ephemeral range (a client
// that bound port 0). Storage is reused from request to request and bounded (kMaxEntries sockets,
// kMaxNamespaces namespaces; beyond them ports are not reported, and the overflow is counted).
//
// The daemon's own network namespace (the host's, normally) is asked through NETLINK_SOCK_DIAG
// instead, for listening TCP and unconnected UDP sockets only: the same sockets the procfs
// tables list, without the walk over every established connection that /proc/net/tcp makes (the
// largest single cost of a request on a busy host). Other namespaces, and a kernel without
// inet_diag, are read through procfs.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace rp::modules::discovery {

struct PortRange {
    uint16_t low = 0, high = 0;  // 0/0: unknown (then no port counts as ephemeral)
    bool contains(uint16_t p) const { return low != 0 && p >= low && p <= high; }
};
// /proc/sys/net/ipv4/ip_local_port_range of the host (what system-probe reads).
PortRange read_ephemeral_range();

class SocketTables {
  public:
    struct Entry {
        uint64_t inode;
        uint16_t port;
        bool udp;
    };
    static constexpr size_t kMaxEntries = 262144;
    static constexpr size_t kMaxNamespaces = 4096;

    // `use_diag`: ask sock_diag for the daemon's own namespace (else procfs everywhere).
    explicit SocketTables(PortRange ephemeral, bool use_diag = true);
    ~SocketTables();
    SocketTables(const SocketTables&) = delete;
    SocketTables& operator=(const SocketTables&) = delete;
    // Forgets the namespaces read so far and the counters below (a new request).
    void reset();
    // The sockets of the namespace `netns_ino`, read through `piddir` (a /proc/<pid> fd of a
    // process in it) when not yet known. Sorted by inode.
    std::span<const Entry> namespace_of(uint64_t netns_ino, int piddir, std::vector<char>& chunk);

    // Ports of `sockets` in `table`: de-duplicated, ascending, at most kMaxPorts each.
    static constexpr size_t kMaxPorts = 50;
    static void ports(std::span<const Entry> table, std::span<const uint64_t> sockets,
                      std::vector<uint16_t>& tcp, std::vector<uint16_t>& udp);

    // One line of a /proc/net/{tcp,udp}{,6} table: its inode and local port when its state is
    // `want_state` (tests).
    static bool parse_line(std::string_view line, unsigned want_state, uint64_t* inode,
                           uint16_t* port);

    // Since reset(): table lines (or sock_diag records) read, sock_diag dumps made.
    uint64_t lines_parsed() const { return lines_parsed_; }
    uint64_t diag_dumps() const { return diag_dumps_; }
    uint64_t overflow() const { return overflow_; }
    size_t entries() const { return entries_.size(); }
    size_t namespaces() const { return namespaces_.size(); }

  private:
    struct Namespace {
        uint64_t ino;
        uint32_t begin, end;  // in entries_
    };
    void read_table(int piddir, const char* name, bool udp, std::vector<char>& chunk);
    // One sock_diag dump (family, TCP LISTEN or UDP unconnected) into entries_; false when the
    // kernel refused it (the caller then reads procfs).
    bool dump_diag(int family, bool udp, std::vector<char>& chunk);
    void add(uint64_t inode, uint16_t port, bool udp);

    int diag_fd_ = -1;
    uint64_t own_netns_ = 0;
    uint64_t diag_dumps_ = 0;
    PortRange ephemeral_;
    std::vector<Entry> entries_;
    std::vector<Namespace> namespaces_;
    uint64_t lines_parsed_ = 0;
    uint64_t overflow_ = 0;
};

}  // namespace rp::modules::discovery
