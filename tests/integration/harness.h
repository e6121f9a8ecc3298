// harness.h — what the integration tests share besides TestDaemon: a raw client socket that sends
// exact bytes and reads raw responses (for malformed, pipelined, partial and slow requests), a
// minimal HTTP/1.1 response reader, facts about the daemon process from /proc, and the check that
// the daemon's log holds no sanitizer report.
#pragma once

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/daemon.h"

namespace rp::itest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

// One response as read off the wire.
struct RawResponse {
    int status = 0;
    std::string status_line;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    std::string header(std::string_view name) const {
        for (const auto& [k, v] : headers)
            if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
        return {};
    }
    bool has_header(std::string_view name) const {
        for (const auto& [k, v] : headers)
            if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return true;
        return false;
    }
};

// Parses one response at the front of `buf` (Content-Length bodies only: the daemon always sends
// it). Returns the response and removes its bytes, or nullopt when `buf` does not hold a whole one.
inline std::optional<RawResponse> take_response(std::string& buf) {
    size_t end = buf.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    RawResponse r;
    std::string_view head(buf.data(), end);
    size_t eol = head.find("\r\n");
    r.status_line = std::string(head.substr(0, eol));
    if (r.status_line.size() >= 12) r.status = std::atoi(r.status_line.c_str() + 9);
    std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
    size_t content_length = 0;
    while (!rest.empty()) {
        size_t e = rest.find("\r\n");
        std::string_view line = rest.substr(0, e);
        size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
            std::string name(line.substr(0, colon));
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            if (name == "content-length") content_length = std::stoul(std::string(value));
            r.headers.emplace_back(std::move(name), std::string(value));
        }
        if (e == std::string_view::npos) break;
        rest.remove_prefix(e + 2);
    }
    size_t total = end + 4 + content_length;
    if (buf.size() < total) return std::nullopt;
    r.body = buf.substr(end + 4, content_length);
    buf.erase(0, total);
    return r;
}

// A client socket driven byte by byte. All reads take a timeout; nothing blocks forever.
class RawConn {
public:
    RawConn() = default;
    explicit RawConn(int fd) : fd_(fd) {}
    RawConn(RawConn&& o) noexcept : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)) {}
    RawConn& operator=(RawConn&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
            buf_ = std::move(o.buf_);
        }
        return *this;
    }
    ~RawConn() { reset(); }

    // Connects to a unix socket; fd < 0 (ok() false) on failure, errno kept in error().
    static RawConn unix_socket(const std::string& path) {
        RawConn c;
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            c.err_ = errno;
            ::close(fd);
            return c;
        }
        c.fd_ = fd;
        return c;
    }
    // Connects to 127.0.0.1:port. rcvbuf > 0 shrinks the receive buffer first (a slow reader).
    static RawConn tcp(int port, int rcvbuf = 0) {
        RawConn c;
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons(static_cast<uint16_t>(port));
        if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            c.err_ = errno;
            ::close(fd);
            return c;
        }
        c.fd_ = fd;
        return c;
    }

    bool ok() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    int error() const { return err_; }
    std::string& buffered() { return buf_; }

    // Sends everything (blocking, MSG_NOSIGNAL). False on EPIPE/ECONNRESET etc. (errno in error()).
    bool send(std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                err_ = errno;
                return false;
            }
            data.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }
    // Sends the bytes one write at a time with a pause between writes, so that the daemon sees
    // them in separate reads.
    bool send_in_pieces(std::string_view data, const std::vector<size_t>& cuts, ms pause = 5ms) {
        size_t from = 0;
        for (size_t cut : cuts) {
            if (cut <= from || cut >= data.size()) continue;
            if (!send(data.substr(from, cut - from))) return false;
            std::this_thread::sleep_for(pause);
            from = cut;
        }
        return send(data.substr(from));
    }

    // Reads what arrives within `timeout` into the buffer. Returns false once the peer closed
    // (EOF or reset) — then closed() is true.
    bool read_some(ms timeout) {
        if (closed_) return false;
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (r <= 0) return true;
        char tmp[65536];
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_.append(tmp, static_cast<size_t>(n));
            return true;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        if (n < 0) err_ = errno;
        closed_ = true;
        return false;
    }
    // The next whole response, or nullopt if none arrived within `timeout`.
    std::optional<RawResponse> read_response(ms timeout = 3000ms) {
        auto deadline = Clock::now() + timeout;
        for (;;) {
            if (auto r = take_response(buf_)) return r;
            auto left = std::chrono::duration_cast<ms>(deadline - Clock::now());
            if (left.count() <= 0 || closed_) return std::nullopt;
            read_some(left);
        }
    }
    // True when the peer closes within `timeout` (bytes read meanwhile stay in the buffer).
    bool wait_closed(ms timeout = 3000ms) {
        auto deadline = Clock::now() + timeout;
        while (!closed_) {
            auto left = std::chrono::duration_cast<ms>(deadline - Clock::now());
            if (left.count() <= 0) return false;
            read_some(left);
        }
        return true;
    }
    bool closed() const { return closed_; }
    // Closes with an RST instead of a FIN (SO_LINGER 0).
    void reset_hard() {
        linger l{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        reset();
    }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
    int err_ = 0;
    bool closed_ = false;
    std::string buf_;
};

// --- /proc facts about the daemon

inline std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A "Name:   value" field of /proc/<pid>/status (first number), -1 if missing.
inline long status_field(pid_t pid, std::string_view name, const std::string& file = "") {
    std::string text = read_file(file.empty() ? "/proc/" + std::to_string(pid) + "/status" : file);
    std::string key = std::string(name) + ":";
    size_t at = text.find(key);
    if (at == std::string::npos) return -1;
    return std::strtol(text.c_str() + at + key.size(), nullptr, 10);
}

inline long rss_kib(pid_t pid) { return status_field(pid, "VmRSS"); }

// Voluntary context switches summed over every thread of the process.
inline long voluntary_switches(pid_t pid) {
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    long total = 0;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            if (e->d_name[0] == '.') continue;
            long v = status_field(pid, "voluntary_ctxt_switches", dir + "/" + e->d_name + "/status");
            if (v > 0) total += v;
        }
        ::closedir(d);
    }
    return total;
}

inline int fd_count(pid_t pid) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    int n = 0;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n;
}

// Polls `pred` every 10 ms until it holds or `timeout` passes.
template <typename Pred>
bool eventually(Pred pred, ms timeout = 3000ms) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
}

inline bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

// The daemon's log must hold no sanitizer report (the sanitizer build runs a sanitized daemon).
inline void check_no_sanitizer_report(const std::string& log) {
    CHECK_MESSAGE(!contains(log, "ERROR: AddressSanitizer"), log);
    CHECK_MESSAGE(!contains(log, "ERROR: LeakSanitizer"), log);
    CHECK_MESSAGE(!contains(log, "runtime error:"), log);
}

// A TestDaemon that, when the test ends, stops with SIGTERM, expects exit 0 and a clean log.
class Daemon : public test::TestDaemon {
public:
    explicit Daemon(test::DaemonOptions o) : TestDaemon(std::move(o)) {}
    ~Daemon() {
        if (running()) {
            signal(SIGTERM);
            int rc = wait_exit(ms(8000));
            CHECK_MESSAGE(rc == 0, "daemon exit status ", rc, "; log:\n", log());
        }
        check_no_sanitizer_report(log());
    }
};

// Milliseconds since `t0`.
inline long elapsed_ms(Clock::time_point t0) {
    return static_cast<long>(std::chrono::duration_cast<ms>(Clock::now() - t0).count());
}

}  // namespace rp::itest
