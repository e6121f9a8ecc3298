// netns.h — network namespaces a test makes and removes itself: a chain
//
//   client ── router 1 ── ... ── router N ── server
//
// of namespaces joined by veth pairs, addresses from 198.18.0.0/15 (RFC 2544's benchmarking range)
// that exist only inside those namespaces, IPv4 forwarding on in the routers, and the kernel's
// ICMP rate limit off in the routers and the server (the chain's own sysctls; the host's are not
// touched) so that every probe of a test gets its Time Exceeded or Port Unreachable. Names carry
// the test's pid, so concurrent test processes do not collide. Needs root.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "support/daemon.h"

namespace rp::nettest {

// A TestDaemon that, when the test ends, stops with SIGTERM and must exit 0 with no sanitizer
// report in its log (the ASan build runs a sanitized daemon; LeakSanitizer reports at exit).
class Daemon : public rp::test::TestDaemon {
  public:
    explicit Daemon(rp::test::DaemonOptions o) : TestDaemon(std::move(o)) {}
    ~Daemon();
};

// Skips (or fails under RINGPROBE_REQUIRE_BPF=1) when not root or without `ip`.
void require_root_or_skip();
// The iproute2 binary (absolute path), "" if none.
std::string ip_bin();
// Runs `cmd` with /bin/sh; returns its exit status; its output goes to *out when given.
int sh(const std::string& cmd, std::string* out = nullptr);

class Chain {
  public:
    explicit Chain(int routers = 1);
    ~Chain();
    Chain(const Chain&) = delete;
    Chain& operator=(const Chain&) = delete;

    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

    std::string client_ns, server_ns;
    std::vector<std::string> router_ns;
    std::string client_addr, server_addr;
    // Each router's address on the link towards the client: the hop a traceroute reports.
    std::vector<std::string> router_addrs;
    // An address on the client's own link that nobody holds (ARP never answers).
    std::string client_link_unused;
    // An address on the server's link that nobody holds (the last router cannot deliver).
    std::string server_link_unused;

    // The wrapper that starts a daemon inside the client namespace (rp::test::DaemonOptions).
    std::vector<std::string> exec_in_client() const;

  private:
    std::string error_;
    std::vector<std::string> all_ns_;
};

// A namespace with only its loopback up: no route anywhere else.
class LoneNamespace {
  public:
    LoneNamespace();
    ~LoneNamespace();
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    std::string name;
    std::vector<std::string> exec_in() const;

  private:
    std::string error_;
};

// A process in namespace `ns` that listens on TCP `port` (all addresses) until destroyed.
class Listener {
  public:
    Listener(const std::string& ns, uint16_t port);
    ~Listener();
    bool ok() const { return pid_ > 0; }

  private:
    pid_t pid_ = -1;
};

// Entries of /proc/<pid>/fd.
int count_fds(pid_t pid);

}  // namespace rp::nettest
