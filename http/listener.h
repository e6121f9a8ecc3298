// listener.h — creating the daemon's listening sockets (REFERENCE.md "Listeners").
#pragma once

#include <cstdint>
#include <expected>
#include <string>

namespace rp::http {

struct UnixListenOptions {
    std::string path;
    unsigned mode = 0720;
    std::string owner;  // user name or uid; empty = leave
    std::string group;  // group name or gid; empty = leave
};

// Creates the parent directory if missing (0755). If `path` exists and is a socket it is unlinked
// (a stale socket of a previous run); if it exists and is not a socket, refuses. Binds, applies
// mode and ownership, listens. Returns the non-blocking listening fd, or an error naming the path.
std::expected<int, std::string> listen_unix(const UnixListenOptions& opts);

// How long listen_tcp keeps retrying a bind that fails with EADDRINUSE.
inline constexpr uint64_t kDefaultBindRetryMs = 10000;

// Binds host:port (numeric IPv4/IPv6 address or "localhost") with SO_REUSEADDR and listens. A bind
// that fails with EADDRINUSE is retried every 50 ms for up to retry_ms (logged once): after a
// kill -9 the previous daemon's io_uring releases its listening socket only a moment later.
std::expected<int, std::string> listen_tcp(const std::string& host, int port,
                                           uint64_t retry_ms = kDefaultBindRetryMs);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace rp::http
