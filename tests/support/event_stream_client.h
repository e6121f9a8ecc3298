// event_stream_client.h — a client of GET /<module>/events for tests: connects to the daemon's
// unix socket, asks for the stream, and de-chunks what arrives into NDJSON lines, as
// `curl --no-buffer` would show them. Reads only when asked (a test can play a slow reader), with
// a receive buffer shrunk on request.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace rp::test {

class EventStreamClient {
  public:
    // rcvbuf > 0: SO_RCVBUF before connecting (a reader whose kernel buffer fills quickly).
    EventStreamClient(const std::string& socket_path, std::string_view module, int rcvbuf = 0) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strncpy(sa.sun_path, socket_path.c_str(), sizeof sa.sun_path - 1);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            ::close(fd_);
            fd_ = -1;
            return;
        }
        std::string req =
            "GET /" + std::string(module) + "/events HTTP/1.1\r\nHost: sysprobe\r\n\r\n";
        if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~EventStreamClient() { close(); }
    EventStreamClient(const EventStreamClient&) = delete;
    EventStreamClient& operator=(const EventStreamClient&) = delete;

    bool ok() const { return fd_ >= 0; }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int status() const { return status_; }
    const std::string& head() const { return head_; }
    bool ended() const { return ended_; }  // the chunked terminator arrived
    bool eof() const { return eof_; }

    // Reads whatever arrives within `wait`; returns false once the daemon closed the connection.
    bool read_some(std::chrono::milliseconds wait) {
        if (fd_ < 0 || eof_) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return true;
        char buf[65536];
        ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            raw_.append(buf, static_cast<size_t>(n));
            decode();
            return true;
        }
        if (n == 0) eof_ = true;
        return n < 0;
    }
    // Reads until pred() holds (true) or `timeout` passes or the connection ends (false).
    bool read_until(const std::function<bool()>& pred,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!pred()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            if (!read_some(std::chrono::milliseconds(20)) && !pred()) return false;
        }
        return true;
    }
    // The complete lines of the body so far.
    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        size_t at = 0;
        for (size_t nl; (nl = body_.find('\n', at)) != std::string::npos; at = nl + 1)
            out.push_back(body_.substr(at, nl - at));
        return out;
    }
    // Lines containing `needle`.
    size_t count(std::string_view needle) const {
        size_t n = 0;
        for (const auto& l : lines())
            if (l.find(needle) != std::string::npos) ++n;
        return n;
    }

  private:
    void decode() {
        if (status_ == 0) {
            size_t end = raw_.find("\r\n\r\n");
            if (end == std::string::npos) return;
            head_ = raw_.substr(0, end);
            status_ = std::atoi(raw_.c_str() + 9);
            parsed_ = end + 4;
            if (head_.find("Transfer-Encoding: chunked") == std::string::npos) {
                body_ = raw_.substr(parsed_);  // an error answer: its body as is
                parsed_ = raw_.size();
                ended_ = true;
                return;
            }
        }
        while (!ended_) {
            size_t nl = raw_.find("\r\n", parsed_);
            if (nl == std::string::npos) return;
            size_t n = std::strtoul(raw_.c_str() + parsed_, nullptr, 16);
            if (raw_.size() < nl + 2 + n + 2) return;
            if (n == 0) {
                ended_ = true;
                return;
            }
            body_.append(raw_, nl + 2, n);
            parsed_ = nl + 2 + n + 2;
        }
    }

    int fd_ = -1;
    std::string raw_, head_, body_;
    size_t parsed_ = 0;
    int status_ = 0;
    bool ended_ = false, eof_ = false;
};

}  // namespace rp::test
