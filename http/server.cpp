// server.cpp — see server.h.
#include "http/server.h"

#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "http/connection.h"
#include "loop/log.h"

namespace rp::http {

void init_parser_settings(llhttp_settings_t& s);  // connection.cpp

namespace {
constexpr uint64_t kAcceptRetryMs = 100;
// Closed connections whose buffers stay allocated for the next client (no allocation per
// connection in the steady state); past this many, a closing connection frees its buffers, so a
// burst of 1000 connections does not keep ~4.6 KiB each for the daemon's lifetime.
constexpr size_t kWarmConnections = 64;
constexpr size_t kTrimAfterBytes = size_t{1} << 20;
constexpr std::string_view kOverLimit =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    "Content-Length: 37\r\nConnection: close\r\n\r\n{\"error\":\"too many open connections\"}";
}  // namespace

struct Server::Listener final : loop::Handler {
    Server& server;
    int fd;
    std::string name;
    loop::OpRef ref;
    loop::Timer retry;
    bool logged_error = false;

    Listener(Server& s, int f, std::string n) : server(s), fd(f), name(std::move(n)) {
        retry.init(s.reactor(), [this] { arm(); });
    }
    ~Listener() { stop(); }
    void arm() { ref = server.reactor().accept_multishot(this, 0, fd); }
    void stop() {
        retry.cancel();
        if (ref) server.reactor().cancel(ref);
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    void on_completion(uint32_t, const loop::Completion& c) override {
        if (!c.more()) ref = {};
        if (c.res >= 0) {
            logged_error = false;
            server.accept_one(c.res);
        } else if (c.res != -ECANCELED) {
            ++server.stats_.accept_errors;
            if (!logged_error) {
                // EMFILE/ENFILE: out of fds. Retry shortly; serving resumes once fds free up.
                LOG_WARN("http: accept on %s: %s (retrying every %llu ms)", name.c_str(),
                         std::strerror(-c.res), static_cast<unsigned long long>(kAcceptRetryMs));
                logged_error = true;
            }
        }
        if (!ref && fd >= 0 && !server.shutting_down_) {
            if (c.res < 0)
                retry.arm_after(kAcceptRetryMs);
            else
                arm();
        }
    }
};

Server::Server(loop::Reactor& reactor, Router& router, ServerLimits limits)
    : reactor_(reactor), router_(router), limits_(limits) {
    init_parser_settings(settings_);
    writers_.release(writers_.acquire());  // the first one, before any request
    shutdown_timer_.init(reactor, [this] {
        for (auto& c : pool_)
            if (c->open_now()) c->close();
        check_shutdown_done();
    });
}

Server::~Server() {
    listeners_.clear();
    pool_.clear();
}

std::expected<void, std::string> Server::add_listener(int fd, std::string name) {
    auto l = std::make_unique<Listener>(*this, fd, std::move(name));
    l->arm();
    if (!l->ref) return std::unexpected("http: no reactor slot to accept on " + l->name);
    listeners_.push_back(std::move(l));
    return {};
}

void Server::accept_one(int fd) {
    if (shutting_down_ || stats_.active >= limits_.max_connections) {
        ++stats_.rejected_over_limit;
        // A non-blocking best-effort answer: the socket buffer of a new connection has room.
        ssize_t ignored =
            ::send(fd, kOverLimit.data(), kOverLimit.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)ignored;
        ::shutdown(fd, SHUT_WR);
        ::close(fd);
        return;
    }
    ++stats_.accepted;
    Connection* c;
    if (!free_.empty()) {
        c = free_.back();
        free_.pop_back();
        stats_.idle_buffer_bytes -= c->buffer_bytes();
    } else {
        pool_.push_back(std::make_unique<Connection>(*this));
        c = pool_.back().get();
        stats_.pooled = pool_.size();
    }
    ++stats_.active;
    c->open(fd);
}

void Server::release(Connection* c) {
    if (free_.size() >= kWarmConnections) {
        freed_since_trim_ += c->release_buffers();
        // Freed chunks between live ones stay in the process until malloc is told to return
        // whole free pages: after every MiB freed this way (a burst ending), it is.
        if (freed_since_trim_ >= kTrimAfterBytes) {
            malloc_trim(0);
            freed_since_trim_ = 0;
        }
    }
    stats_.idle_buffer_bytes += c->buffer_bytes();
    free_.push_back(c);
    --stats_.active;
    if (shutting_down_) check_shutdown_done();
}

void Server::shutdown(uint64_t deadline_ms, std::function<void()> on_done) {
    shutting_down_ = true;
    on_shutdown_done_ = std::move(on_done);
    listeners_.clear();
    for (auto& c : pool_)
        if (c->open_now()) c->close_when_done();
    shutdown_timer_.arm_after(deadline_ms);
    check_shutdown_done();
}

void Server::check_shutdown_done() {
    if (!shutting_down_ || stats_.active != 0 || !on_shutdown_done_) return;
    shutdown_timer_.cancel();
    auto done = std::move(on_shutdown_done_);
    on_shutdown_done_ = nullptr;
    done();
}

std::string_view Server::date_header() {
    int64_t now = static_cast<int64_t>(::time(nullptr));
    if (now != date_second_) {
        date_second_ = now;
        time_t t = static_cast<time_t>(now);
        tm g{};
        gmtime_r(&t, &g);
        date_len_ = std::strftime(date_, sizeof date_, "Date: %a, %d %b %Y %H:%M:%S GMT", &g);
    }
    return {date_, date_len_};
}

}  // namespace rp::http
