// client.cpp — the blocking HTTP/1.1 client of client.h.
//
// Sockets are non-blocking and every connect/send/recv waits in poll() against one deadline per
// request, so a stuck server costs at most the timeout. llhttp (HTTP_RESPONSE mode) frames the
// response; its callbacks fill a ClientResponse and pause the parser at the end of the message.
#include "http/client.h"

#include <fcntl.h>
#include <llhttp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <thread>

#ifndef RINGPROBE_VERSION
#define RINGPROBE_VERSION "dev"
#endif

namespace rp::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxResponseBytes = size_t{64} << 20;  // a runaway server must not eat the host
constexpr size_t kReadChunkBytes = 64 * 1024;

std::string errno_text(int err) {
    char buf[128];
    return ::strerror_r(err, buf, sizeof buf);  // GNU variant: returns the message
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

// Waits until `fd` reports one of `events` or the deadline passes: 0 or -ETIMEDOUT / -errno.
// POLLERR and POLLHUP count as ready: the syscall that follows reports what happened.
int wait_fd(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        auto now = Clock::now();
        if (now >= deadline) return -ETIMEDOUT;
        auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, left_ms > INT_MAX ? INT_MAX : int(left_ms));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n > 0) return 0;
    }
}

// A failed exchange; `stale` means the server closed a connection before reading anything from
// it (nothing of a response arrived), so sending the request again is safe.
struct Failure {
    std::string text;
    bool stale = false;
};

// llhttp callback state for one response.
struct Parse {
    ClientResponse* resp = nullptr;
    std::string field, value;
    bool in_value = false;
    bool head_request = false;
    bool complete = false;
    bool too_large = false;

    void flush_header() {
        if (!in_value && field.empty()) return;
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
        resp->headers.emplace_back(lower(field), std::move(value));
        field.clear();
        value.clear();
        in_value = false;
    }
};

Parse& state(llhttp_t* p) { return *static_cast<Parse*>(p->data); }

const llhttp_settings_t& parser_settings() {
    static const llhttp_settings_t settings = [] {
        llhttp_settings_t s;
        llhttp_settings_init(&s);
        s.on_message_begin = [](llhttp_t* p) {
            // A new message discards an interim (1xx) response that came before it.
            Parse& st = state(p);
            *st.resp = ClientResponse{};
            st.field.clear();
            st.value.clear();
            st.in_value = false;
            return 0;
        };
        s.on_header_field = [](llhttp_t* p, const char* at, size_t len) {
            Parse& st = state(p);
            if (st.in_value) st.flush_header();
            st.field.append(at, len);
            return 0;
        };
        s.on_header_value = [](llhttp_t* p, const char* at, size_t len) {
            Parse& st = state(p);
            st.in_value = true;
            st.value.append(at, len);
            return 0;
        };
        s.on_headers_complete = [](llhttp_t* p) {
            Parse& st = state(p);
            st.flush_header();
            st.resp->status = p->status_code;
            return st.head_request ? 1 : 0;  // 1: a HEAD response has no body whatever it says
        };
        s.on_body = [](llhttp_t* p, const char* at, size_t len) {
            Parse& st = state(p);
            if (st.resp->body.size() + len > kMaxResponseBytes) {
                st.too_large = true;
                return -1;
            }
            st.resp->body.append(at, len);
            return 0;
        };
        s.on_message_complete = [](llhttp_t* p) {
            Parse& st = state(p);
            int status = p->status_code;
            if (status >= 100 && status < 200 && status != 101) return 0;  // interim: keep reading
            st.complete = true;
            return int(HPE_PAUSED);  // stop at the end of this message
        };
        return s;
    }();
    return settings;
}

std::string timeout_text(std::string_view step, const std::string& where,
                         std::chrono::milliseconds timeout) {
    return std::string(step) + " " + where + ": timed out after " +
           std::to_string(timeout.count()) + " ms";
}

// True when a kept-alive connection still looks usable: no EOF, error or stray bytes pending.
bool connection_idle_ok(int fd) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, 0);
    if (n == 0) return true;
    if (n < 0) return false;
    char c;
    ssize_t r = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    return false;  // EOF, error, or bytes nobody asked for
}

// Connects non-blocking socket `fd` to `addr`, waiting up to the deadline. 0 or -errno.
int connect_fd(int fd, const sockaddr* addr, socklen_t len, Clock::time_point deadline) {
    for (;;) {
        if (::connect(fd, addr, len) == 0) return 0;
        int err = errno;
        if (err == EAGAIN && addr->sa_family == AF_UNIX) {
            // The listener's backlog is full; unix sockets cannot wait for that in poll().
            if (Clock::now() >= deadline) return -ETIMEDOUT;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            continue;
        }
        if (err != EINPROGRESS && err != EINTR) return -err;
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w < 0) return w;
        int so_error = 0;
        socklen_t sl = sizeof so_error;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &sl) < 0) return -errno;
        return so_error == 0 ? 0 : -so_error;
    }
}

Failure write_all(int fd, std::string_view data, Clock::time_point deadline,
                  const std::string& where, std::chrono::milliseconds timeout, bool* ok) {
    *ok = false;
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n >= 0) {
            off += size_t(n);
            continue;
        }
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            int w = wait_fd(fd, POLLOUT, deadline);
            if (w == -ETIMEDOUT) return {timeout_text("write", where, timeout)};
            if (w < 0) return {"write " + where + ": poll: " + errno_text(-w)};
            continue;
        }
        return {"write " + where + ": " + errno_text(err), err == EPIPE || err == ECONNRESET};
    }
    *ok = true;
    return {};
}

struct Exchange {
    ClientResponse resp;
    bool keep_alive = false;
};

std::expected<Exchange, Failure> read_response(int fd, bool head_request,
                                               Clock::time_point deadline, const std::string& where,
                                               std::chrono::milliseconds timeout) {
    Exchange ex;
    Parse st;
    st.resp = &ex.resp;
    st.head_request = head_request;
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &parser_settings());
    parser.data = &st;

    auto parse_failure = [&](llhttp_errno_t err) -> Failure {
        if (st.too_large)
            return {"read " + where + ": response body larger than " +
                    std::to_string(kMaxResponseBytes) + " bytes"};
        const char* reason = llhttp_get_error_reason(&parser);
        return {"parse " + where + ": " + (reason != nullptr ? reason : "invalid response") + " (" +
                llhttp_errno_name(err) + ")"};
    };

    std::string buf(kReadChunkBytes, '\0');
    size_t total = 0;
    for (;;) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0) {
            int err = errno;
            if (err == EINTR) continue;
            if (err == EAGAIN || err == EWOULDBLOCK) {
                int w = wait_fd(fd, POLLIN, deadline);
                if (w == -ETIMEDOUT)
                    return std::unexpected(Failure{timeout_text("read", where, timeout)});
                if (w < 0)
                    return std::unexpected(Failure{"read " + where + ": poll: " + errno_text(-w)});
                continue;
            }
            return std::unexpected(
                Failure{"read " + where + ": " + errno_text(err), err == ECONNRESET && total == 0});
        }
        if (n == 0) {
            if (total == 0)
                return std::unexpected(
                    Failure{"read " + where + ": connection closed before any response", true});
            llhttp_errno_t err = llhttp_finish(&parser);
            if (err != HPE_OK && err != HPE_PAUSED && err != HPE_INVALID_EOF_STATE)
                return std::unexpected(parse_failure(err));
            if (!st.complete)  // also HPE_INVALID_EOF_STATE: EOF inside a framed body
                return std::unexpected(
                    Failure{"read " + where + ": connection closed in the middle of the response"});
            ex.keep_alive = false;
            return ex;
        }
        total += size_t(n);
        llhttp_errno_t err = llhttp_execute(&parser, buf.data(), size_t(n));
        if (err == HPE_PAUSED && st.complete) {
            // Bytes after the response were not asked for: do not trust the connection again.
            const char* stop = llhttp_get_error_pos(&parser);
            bool leftover = stop != nullptr && stop < buf.data() + n;
            ex.keep_alive = llhttp_should_keep_alive(&parser) != 0 && !leftover;
            return ex;
        }
        if (err != HPE_OK) return std::unexpected(parse_failure(err));
    }
}

bool valid_token(std::string_view s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (c <= ' ' || c >= 0x7f || std::strchr("\"(),/:;<=>?@[\\]{}", c) != nullptr) return false;
    return true;
}

bool valid_field_value(std::string_view s) {
    for (unsigned char c : s)
        if ((c < ' ' && c != '\t') || c == 0x7f) return false;
    return true;
}

bool valid_target(std::string_view s) {
    for (unsigned char c : s)
        if (c <= ' ' || c == 0x7f) return false;
    return true;
}

}  // namespace

// ---- Endpoint ---------------------------------------------------------------------------------

std::string Endpoint::describe() const {
    if (kind == Kind::unix_socket) return "unix:" + path;
    bool v6 = host.find(':') != std::string::npos;
    return "tcp:" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::expected<Endpoint, std::string> Endpoint::tcp_from(std::string_view host_port) {
    auto bad = [&](std::string_view why) {
        return std::unexpected("invalid tcp address \"" + std::string(host_port) +
                               "\": " + std::string(why));
    };
    std::string_view host, port;
    if (!host_port.empty() && host_port.front() == '[') {
        size_t close = host_port.find(']');
        if (close == std::string_view::npos) return bad("missing ']'");
        host = host_port.substr(1, close - 1);
        std::string_view rest = host_port.substr(close + 1);
        if (rest.empty() || rest.front() != ':') return bad("missing port");
        port = rest.substr(1);
        if (host.empty()) return bad("empty host");
    } else {
        size_t colon = host_port.rfind(':');
        if (colon == std::string_view::npos) return bad("missing port");
        host = host_port.substr(0, colon);
        port = host_port.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return bad("an IPv6 address must be written as [ADDR]:PORT");
    }
    if (port.empty() || port.size() > 5) return bad("port must be 1-65535");
    unsigned value = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return bad("port must be 1-65535");
        value = value * 10 + unsigned(c - '0');
    }
    if (value == 0 || value > 65535) return bad("port must be 1-65535");
    Endpoint ep;
    ep.kind = Kind::tcp;
    ep.host = host.empty() ? "localhost" : std::string(host);
    ep.port = uint16_t(value);
    return ep;
}

Endpoint Endpoint::unix_from(std::string_view path) {
    Endpoint ep;
    ep.kind = Kind::unix_socket;
    ep.path = std::string(path);
    return ep;
}

std::string_view ClientResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

// ---- Client -----------------------------------------------------------------------------------

Client::Client(Endpoint ep, std::chrono::milliseconds timeout)
    : ep_(std::move(ep)), timeout_(timeout), user_agent_("ringprobectl/" RINGPROBE_VERSION) {}

Client::~Client() { close(); }

Client::Client(Client&& o) noexcept
    : ep_(std::move(o.ep_)),
      timeout_(o.timeout_),
      user_agent_(std::move(o.user_agent_)),
      fd_(std::exchange(o.fd_, -1)) {}

Client& Client::operator=(Client&& o) noexcept {
    if (this != &o) {
        close();
        ep_ = std::move(o.ep_);
        timeout_ = o.timeout_;
        user_agent_ = std::move(o.user_agent_);
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

void Client::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::expected<void, std::string> Client::connect(Clock::time_point deadline) {
    close();
    const std::string where = ep_.describe();
    if (ep_.kind == Endpoint::Kind::unix_socket) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (ep_.path.empty()) return std::unexpected("connect " + where + ": empty socket path");
        if (ep_.path.size() >= sizeof addr.sun_path)
            return std::unexpected("connect " + where + ": socket path longer than " +
                                   std::to_string(sizeof addr.sun_path - 1) + " bytes");
        std::memcpy(addr.sun_path, ep_.path.data(), ep_.path.size());
        socklen_t len = sizeof addr;
        if (ep_.path.front() == '@') {  // Linux abstract namespace, as ss(8) writes it
            addr.sun_path[0] = '\0';
            len = socklen_t(offsetof(sockaddr_un, sun_path) + ep_.path.size());
        }
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return std::unexpected("socket " + where + ": " + errno_text(errno));
        int rc = connect_fd(fd, reinterpret_cast<const sockaddr*>(&addr), len, deadline);
        if (rc < 0) {
            ::close(fd);
            if (rc == -ETIMEDOUT) return std::unexpected(timeout_text("connect", where, timeout_));
            return std::unexpected("connect " + where + ": " + errno_text(-rc));
        }
        fd_ = fd;
        return {};
    }

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* list = nullptr;
    std::string port = std::to_string(ep_.port);
    int gai = ::getaddrinfo(ep_.host.c_str(), port.c_str(), &hints, &list);
    if (gai != 0)
        return std::unexpected("resolve " + where + ": " +
                               (gai == EAI_SYSTEM ? errno_text(errno) : ::gai_strerror(gai)));
    int last_err = ECONNREFUSED;
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          ai->ai_protocol);
        if (fd < 0) {
            last_err = errno;
            continue;
        }
        int rc = connect_fd(fd, ai->ai_addr, ai->ai_addrlen, deadline);
        if (rc == 0) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            fd_ = fd;
            ::freeaddrinfo(list);
            return {};
        }
        ::close(fd);
        if (rc == -ETIMEDOUT) {
            ::freeaddrinfo(list);
            return std::unexpected(timeout_text("connect", where, timeout_));
        }
        last_err = -rc;
    }
    ::freeaddrinfo(list);
    return std::unexpected("connect " + where + ": " + errno_text(last_err));
}

std::expected<ClientResponse, std::string> Client::get(std::string_view path) {
    return request("GET", path);
}

std::expected<ClientResponse, std::string> Client::post(std::string_view path,
                                                        std::string_view body,
                                                        std::string_view content_type) {
    return request("POST", path, body, {{"Content-Type", std::string(content_type)}});
}

std::expected<ClientResponse, std::string> Client::request(
    std::string_view method, std::string_view path, std::string_view body,
    const std::vector<std::pair<std::string, std::string>>& extra_headers) {
    const std::string where = ep_.describe();
    auto deadline = Clock::now() + timeout_;

    if (!valid_token(method))
        return std::unexpected("request " + where + ": invalid method \"" + std::string(method) +
                               "\"");
    std::string target =
        path.empty() || path.front() != '/' ? "/" + std::string(path) : std::string(path);
    if (!valid_target(target))
        return std::unexpected("request " + where + ": invalid path \"" + std::string(path) +
                               "\" (spaces and control characters must be percent-encoded)");
    for (const auto& [name, value] : extra_headers) {
        if (!valid_token(name) || !valid_field_value(value))
            return std::unexpected("request " + where + ": invalid header \"" + name + "\"");
    }

    auto overridden = [&](std::string_view name) {
        for (const auto& h : extra_headers)
            if (iequals(h.first, name)) return true;
        return false;
    };
    bool wants_length = !body.empty() || iequals(method, "POST") || iequals(method, "PUT") ||
                        iequals(method, "PATCH");
    std::string req;
    req.reserve(256 + body.size());
    req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
    if (!overridden("host")) req.append("Host: sysprobe\r\n");
    if (!overridden("user-agent")) req.append("User-Agent: ").append(user_agent_).append("\r\n");
    for (const auto& [name, value] : extra_headers) {
        if (iequals(name, "content-length")) continue;  // always computed from the body
        req.append(name).append(": ").append(value).append("\r\n");
    }
    if (wants_length)
        req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    req.append("\r\n").append(body);
    const bool head = iequals(method, "HEAD");

    bool reused = fd_ >= 0;
    if (reused && !connection_idle_ok(fd_)) {
        close();  // the server closed it while idle; this is not the retry
        reused = false;
    }
    for (int attempt = 0;; ++attempt) {
        if (fd_ < 0) {
            auto c = connect(deadline);
            if (!c) return std::unexpected(c.error());
        }
        bool sent = false;
        Failure f = write_all(fd_, req, deadline, where, timeout_, &sent);
        if (sent) {
            auto r = read_response(fd_, head, deadline, where, timeout_);
            if (r) {
                if (!r->keep_alive) close();
                return std::move(r->resp);
            }
            f = std::move(r.error());
        }
        close();  // whatever state it is in, this connection cannot carry another request
        if (!(f.stale && reused && attempt == 0)) return std::unexpected(std::move(f.text));
        reused = false;
    }
}

}  // namespace rp::http
