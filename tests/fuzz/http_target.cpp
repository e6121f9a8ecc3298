// http_target.cpp — the `http` fuzz target: arbitrary bytes through a socketpair into the real
// server (reactor, llhttp, router, global routes, process module). Input layout and checks: harness.h.
//
// The world (reactor, config, router, host, server) is built once and reused by every input, as
// the daemon reuses it for every connection: a connection that is not fully released after its
// client closed shows up on the next inputs as a count that never returns to 0.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <simdjson.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "http/router.h"
#include "http/server.h"
#include "loop/log.h"
#include "loop/reactor.h"
#include "modules/host.h"
#include "tests/fuzz/harness.h"

namespace rp::fuzz {
namespace {

constexpr const char* kTarget = "http";
// Loop turns without any completion or client progress after which the loop counts as settled.
// A socketpair write reaches the server's armed recv as task work run by the next io_uring_enter,
// so one quiet turn after it is enough; two leave room.
constexpr int kQuietTurns = 2;
constexpr int kMaxTurns = 100000;

struct World {
    std::unique_ptr<loop::Reactor> reactor;
    conf::Config cfg;
    http::Router router;
    std::unique_ptr<modules::Host> host;
    std::unique_ptr<http::Server> server;
    loop::Reactor::Counters baseline;
};

// Built on first use and never destroyed (the process exits with it).
World& world() {
    static World* w = [] {
        log::set_level(log::Level::off);
        auto* w = new World;
        auto r = loop::Reactor::create();
        if (!r) fail(kTarget, "reactor: %s", r.error().c_str());
        w->reactor = std::move(*r);
        auto cfg = conf::Config::parse("[system_probe_config.process_config]\nenabled = true\n",
                                       "fuzz.toml", {}, nullptr);
        if (!cfg) fail(kTarget, "config: %s", cfg.error().c_str());
        w->cfg = std::move(*cfg);
        w->host = std::make_unique<modules::Host>(*w->reactor, w->cfg, w->router);
        w->host->register_global_routes();
        if (auto s = w->host->start(); !s) fail(kTarget, "host start: %s", s.error().c_str());
        // Small limits so that short inputs reach every limit.
        http::ServerLimits limits;
        limits.max_header_bytes = 1024;
        limits.max_body_bytes = 4096;
        limits.max_connections = 4;
        limits.max_output_bytes = 256 * 1024;
        w->server = std::make_unique<http::Server>(*w->reactor, w->router, limits);
        w->reactor->run_once(0);
        w->baseline = w->reactor->counters();
        return w;
    }();
    return *w;
}

// The client side: reads what the server sends and checks it response by response.
class Client {
public:
    explicit Client(int fd) : fd_(fd) {}

    // Reads everything available now. True when it read something (or saw EOF for the first time).
    bool read_available() {
        bool progress = false;
        char buf[16384];
        while (!eof_) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                in_.append(buf, static_cast<size_t>(n));
                progress = true;
                check_complete_responses();
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                eof_ = true;  // EOF, or ECONNRESET after an abrupt close
                progress = true;
            }
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        return progress;
    }

    // Sends one chunk. Returns bytes accepted now, 0 when the socket is full, -1 when the server
    // side is gone.
    ssize_t send_some(const uint8_t* p, size_t n) {
        ssize_t r = ::send(fd_, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0) return r;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        return -1;
    }

    bool eof() const { return eof_; }
    // True when the last complete response said "Connection: close".
    bool last_said_close() const { return saw_close_; }
    // Bytes of a response that has not fully arrived.
    size_t pending() const { return in_.size(); }
    uint64_t responses() const { return responses_; }

private:
    // Consumes every complete response at the front of in_; fails on anything malformed.
    void check_complete_responses() {
        for (;;) {
            std::string_view s = in_;
            size_t head_end = s.find("\r\n\r\n");
            if (head_end == std::string_view::npos) {
                check_partial_head(s);
                return;
            }
            std::string_view head = s.substr(0, head_end + 2);  // keeps the last header's CRLF
            size_t line_end = head.find("\r\n");
            std::string_view status_line = head.substr(0, line_end);
            int status = parse_status_line(status_line);
            if (saw_close_) fail(kTarget, "a response follows a \"Connection: close\" response");

            std::string_view rest = head.substr(line_end + 2);
            int content_lengths = 0;
            size_t content_length = 0;
            bool close = false;
            std::string_view content_type;
            while (!rest.empty()) {
                size_t eol = rest.find("\r\n");
                std::string_view line = rest.substr(0, eol);
                rest.remove_prefix(eol + 2);
                size_t colon = line.find(": ");
                if (colon == std::string_view::npos || colon == 0)
                    fail(kTarget, "malformed header line \"%.*s\"", static_cast<int>(line.size()),
                         line.data());
                std::string_view name = line.substr(0, colon);
                std::string_view value = line.substr(colon + 2);
                for (char c : name)
                    if (!is_token_char(c))
                        fail(kTarget, "bad character 0x%02x in header name \"%.*s\"",
                             static_cast<unsigned char>(c), static_cast<int>(name.size()), name.data());
                for (char c : value)
                    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                        fail(kTarget, "control character 0x%02x in header %.*s",
                             static_cast<unsigned char>(c), static_cast<int>(name.size()), name.data());
                if (name == "Content-Length") {
                    ++content_lengths;
                    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(),
                                                     content_length);
                    if (ec != std::errc{} || end != value.data() + value.size() || value.empty())
                        fail(kTarget, "bad Content-Length \"%.*s\"", static_cast<int>(value.size()),
                             value.data());
                } else if (name == "Connection") {
                    if (value != "close")
                        fail(kTarget, "unexpected Connection: %.*s", static_cast<int>(value.size()),
                             value.data());
                    close = true;
                } else if (name == "Content-Type") {
                    content_type = value;
                }
            }
            size_t body_at = head_end + 4;
            if (status < 200) {
                // 100 Continue: no headers at all, no body.
                if (status != 100 || head.size() != status_line.size() + 2)
                    fail(kTarget, "interim response %d with headers", status);
                in_.erase(0, body_at);
                continue;
            }
            if (content_lengths != 1)
                fail(kTarget, "%d Content-Length headers in a %d response", content_lengths, status);
            if (s.size() - body_at < content_length) return;  // body not complete yet
            std::string_view body = s.substr(body_at, content_length);
            if (content_length > 0 && content_type.empty())
                fail(kTarget, "a %d response with a body but no Content-Type", status);
            if (content_type.starts_with("application/json") && !body.empty()) {
                if (body.back() != '\n') fail(kTarget, "JSON body without final newline");
                simdjson::dom::element doc;
                if (json_.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
                    fail(kTarget, "%d response body is not valid JSON: %.*s", status,
                         static_cast<int>(body.size()), body.data());
            }
            if (close) saw_close_ = true;
            ++responses_;
            in_.erase(0, body_at + content_length);
        }
    }

    // A head that has not fully arrived: what is there must still be plausible.
    void check_partial_head(std::string_view s) {
        if (saw_close_ && !s.empty()) fail(kTarget, "bytes follow a \"Connection: close\" response");
        std::string_view want = "HTTP/1.1 ";
        size_t n = std::min(s.size(), want.size());
        if (s.substr(0, n) != want.substr(0, n))
            fail(kTarget, "response does not start with \"HTTP/1.1 \": \"%.*s\"",
                 static_cast<int>(std::min<size_t>(s.size(), 40)), s.data());
        if (s.size() > 64 * 1024) fail(kTarget, "response head larger than 64 KiB");
    }

    static bool is_token_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    }

    // "HTTP/1.1 404 Not Found" → 404, or fail.
    static int parse_status_line(std::string_view line) {
        auto bad = [&](const char* why) {
            fail(kTarget, "bad status line (%s): \"%.*s\"", why, static_cast<int>(line.size()),
                 line.data());
        };
        if (!line.starts_with("HTTP/1.1 ")) bad("version");
        std::string_view rest = line.substr(9);
        if (rest.size() < 5 || rest[3] != ' ') bad("shape");
        int status = 0;
        for (int i = 0; i < 3; ++i) {
            if (rest[i] < '0' || rest[i] > '9') bad("code");
            status = status * 10 + (rest[i] - '0');
        }
        if (status < 100 || status > 599) bad("code range");
        std::string_view reason = rest.substr(4);
        if (reason.empty() || reason == "Unknown") bad("reason phrase");
        for (char c : reason)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) bad("control character");
        return status;
    }

    int fd_;
    bool eof_ = false;
    bool saw_close_ = false;
    uint64_t responses_ = 0;
    std::string in_;
    simdjson::dom::parser json_;
};

// Runs loop turns (and client reads) until neither makes progress for kQuietTurns turns.
void pump(World& w, Client& c) {
    int quiet = 0;
    for (int turn = 0; quiet < kQuietTurns; ++turn) {
        if (turn > kMaxTurns) fail(kTarget, "the loop does not settle after %d turns", kMaxTurns);
        uint64_t before = w.reactor->counters().completions;
        if (int rc = w.reactor->run_once(0); rc < 0) fail(kTarget, "run_once: %s", std::strerror(-rc));
        bool progress = w.reactor->counters().completions != before;
        progress |= c.read_available();
        quiet = progress ? 0 : quiet + 1;
    }
}

// Writes all of [p, p+n), letting the server read when the socket is full. False when the server
// side is gone (it closed the connection, e.g. after a 400).
bool write_all(World& w, Client& c, const uint8_t* p, size_t n) {
    while (n > 0) {
        ssize_t r = c.send_some(p, n);
        if (r < 0) return false;
        if (r == 0) {
            uint64_t before = w.reactor->counters().completions;
            pump(w, c);
            if (w.reactor->counters().completions == before && c.send_some(p, n) == 0)
                fail(kTarget, "write stalls: the server neither reads nor closes "
                              "(%zu bytes left to write)", n);
            continue;
        }
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

// After the client closed: the connection, its ops and its timers must all go away.
void expect_reaped(World& w) {
    auto settled = [&] {
        auto c = w.reactor->counters();
        return w.server->stats().active == 0 && c.ops_in_flight == w.baseline.ops_in_flight &&
               c.timers_armed == w.baseline.timers_armed;
    };
    for (int i = 0; i < 2000 && !settled(); ++i) w.reactor->run_once(i < 1000 ? 0 : 1);
    if (!settled()) {
        auto c = w.reactor->counters();
        fail(kTarget,
             "connection not released after the client closed: %llu active (want 0), %u ops in "
             "flight (want %u), %u timers armed (want %u)",
             static_cast<unsigned long long>(w.server->stats().active), c.ops_in_flight,
             w.baseline.ops_in_flight, c.timers_armed, w.baseline.timers_armed);
    }
}

}  // namespace

void http_one(const uint8_t* data, size_t size) {
    World& w = world();
    if (size == 0) return;
    const size_t n_sizes = data[0] & 0x0f;
    const bool abrupt = (data[0] & 0x10) != 0;
    if (size < 1 + n_sizes) return;
    const uint8_t* sizes = data + 1;
    const uint8_t* payload = data + 1 + n_sizes;
    const size_t len = size - 1 - n_sizes;

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        fail(kTarget, "socketpair: %s", std::strerror(errno));
    ::fcntl(sv[1], F_SETFL, ::fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    const uint64_t backpressure_before = w.server->stats().closed_backpressure;
    const uint64_t errors_before = w.server->stats().closed_error;
    w.server->adopt(sv[0]);  // the server owns sv[0] from here on
    Client client(sv[1]);

    size_t off = 0;
    for (size_t k = 0; off < len; ++k) {
        size_t chunk = len - off;
        if (n_sizes > 0 && sizes[k % n_sizes] != 0) chunk = std::min<size_t>(sizes[k % n_sizes], chunk);
        if (!write_all(w, client, payload + off, chunk)) break;
        off += chunk;
        if (!abrupt || off < len) pump(w, client);
    }

    if (!abrupt && client.eof()) {
        // The server closed first: RFC 9112 section 9.6, it says so in its last response.
        const http::ServerStats& st = w.server->stats();
        if (!client.last_said_close() && st.closed_backpressure == backpressure_before &&
            st.closed_error == errors_before)
            fail(kTarget, "the server closed the connection without \"Connection: close\" "
                          "in its last response (%llu responses)",
                 static_cast<unsigned long long>(client.responses()));
    }
    if (!abrupt) {
        // Half-close: the server answers what it got, then closes; the client reads it all.
        ::shutdown(sv[1], SHUT_WR);
        pump(w, client);
        // Patience before calling it a bug: a slow machine may deliver the EOF a little later.
        for (int i = 0; i < 200 && !client.eof(); ++i) {
            w.reactor->run_once(1);
            client.read_available();
        }
        if (!client.eof())
            fail(kTarget, "the server keeps the connection open after the client half-closed");
        bool cut_off = w.server->stats().closed_backpressure != backpressure_before;
        if (client.pending() != 0 && !cut_off)
            fail(kTarget, "%zu bytes of an incomplete response before the server closed",
                 client.pending());
    }
    ::close(sv[1]);
    expect_reaped(w);
}

}  // namespace rp::fuzz
