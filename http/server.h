// server.h — the HTTP/1.1 server: listeners, a pool of connections, limits, graceful shutdown.
//
// Everything runs on the reactor's thread. Requests are parsed by llhttp (one parser per
// connection, callbacks wired by hand), matched by the Router and answered by a handler that writes
// its body straight into the connection's output buffer (response.h has the handler contract:
// whole, streamed and deferred answers). Pipelined requests are answered in order.
//
// Limits (each with its own status and a short JSON error body): header bytes → 431, URL longer
// than the header limit → 414, body bytes → 413, malformed → 400 and close, connections → 503 and
// close, request not complete within header_timeout_ms → 408 and close, idle keep-alive → close, a
// client that does not read: output beyond max_output_bytes or no send progress for
// write_timeout_ms → close.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/buffer.h"
#include "http/json_writer.h"
#include "http/router.h"
#include "loop/reactor.h"
#include "loop/timer.h"

namespace rp::http {

struct ServerLimits {
    size_t max_header_bytes = 8192;
    size_t max_body_bytes = 1 << 20;
    size_t max_connections = 1024;
    uint64_t header_timeout_ms = 10000;
    uint64_t idle_timeout_ms = 60000;
    uint64_t write_timeout_ms = 30000;
    size_t max_output_bytes = 4 << 20;
};

struct ServerStats {
    uint64_t accepted = 0;
    uint64_t rejected_over_limit = 0;  // 503: max_connections reached
    uint64_t accept_errors = 0;
    uint64_t requests = 0;
    uint64_t responses_2xx = 0, responses_4xx = 0, responses_5xx = 0;
    uint64_t closed_idle = 0, closed_timeout = 0, closed_backpressure = 0, closed_error = 0;
    uint64_t active = 0;
    uint64_t pooled = 0;             // connection objects (open + closed and kept for reuse)
    uint64_t idle_buffer_bytes = 0;  // buffers held by closed connections kept for reuse
};

class Connection;

class Server {
  public:
    Server(loop::Reactor& reactor, Router& router, ServerLimits limits);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Starts accepting on a listening socket (the server takes ownership of fd). `name` is for
    // logs.
    std::expected<void, std::string> add_listener(int fd, std::string name);
    // Serves an already-connected socket as if it had been accepted (tests and the fuzzer use a
    // socketpair). The server takes ownership of fd. Subject to max_connections like accept.
    void adopt(int fd) { accept_one(fd); }
    // Graceful stop: stop accepting, close idle connections, let the others finish their current
    // response; calls on_done once no connection is left (at most after `deadline_ms`, then the
    // remaining connections are closed).
    void shutdown(uint64_t deadline_ms, std::function<void()> on_done);

    const ServerStats& stats() const { return stats_; }
    const ServerLimits& limits() const { return limits_; }

    // --- for Connection
    loop::Reactor& reactor() { return reactor_; }
    const Router& router() const { return router_; }
    const llhttp_settings_t& parser_settings() const { return settings_; }
    JsonWriterPool& writers() { return writers_; }
    // Answers that matched no route (404, 405, malformed requests), counted like a route's.
    RouteLoad& unmatched() { return unmatched_; }
    const RouteLoad& unmatched() const { return unmatched_; }
    ServerStats& mutable_stats() { return stats_; }
    std::string_view date_header();  // "Date: Thu, 26 Nov 2026 03:47:03 GMT", cached per second
    void release(Connection* c);
    bool shutting_down() const { return shutting_down_; }

  private:
    struct Listener;
    void accept_one(int fd);
    void check_shutdown_done();

    loop::Reactor& reactor_;
    Router& router_;
    ServerLimits limits_;
    llhttp_settings_t settings_{};
    JsonWriterPool writers_;
    RouteLoad unmatched_;
    ServerStats stats_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<Connection>> pool_;
    std::vector<Connection*> free_;
    size_t freed_since_trim_ = 0;  // buffer bytes freed by closing connections since malloc_trim
    bool shutting_down_ = false;
    std::function<void()> on_shutdown_done_;
    loop::Timer shutdown_timer_;
    int64_t date_second_ = -1;
    char date_[64] = {};
    size_t date_len_ = 0;
};

}  // namespace rp::http
