// client.h — a small blocking HTTP/1.1 client over a unix socket or TCP, for ringprobectl and tests.
//
// One connection, kept alive across requests and re-opened transparently when the server closed it
// between requests. Responses are parsed with llhttp (Content-Length, chunked, or read-until-close).
// Every call has a deadline; errors are returned as text naming what failed.
//
// Error texts have the form "<step> <endpoint>: <detail>", step one of resolve, connect, write,
// read, parse, request (e.g. "connect unix:/run/x.sock: No such file or directory",
// "read tcp:127.0.0.1:3333: timed out after 60000 ms"). The timeout bounds a whole request
// (connect + write + read), including the one transparent retry.
//
// Retry rule: when a request fails on a *reused* connection before a single response byte was read
// (EPIPE/ECONNRESET while writing, EOF/ECONNRESET while reading), the server closed the idle
// connection under us; the request is sent once more on a fresh connection. Before reusing a
// connection the client also peeks for a pending EOF and reconnects at once if it sees one.
// This retries POSTs too, unlike Go's net/http (replayable requests only): a server that closes an
// idle keep-alive connection has not read the request sent into it.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rp::http {

struct Endpoint {
    enum class Kind { unix_socket, tcp } kind = Kind::unix_socket;
    std::string path;  // unix socket path
    std::string host;  // tcp host (numeric IPv4/IPv6 or "localhost")
    uint16_t port = 0;
    std::string describe() const;  // "unix:/run/x.sock" or "tcp:127.0.0.1:3333"
    // Parses "HOST:PORT" / "[V6]:PORT" (an empty HOST means localhost).
    static std::expected<Endpoint, std::string> tcp_from(std::string_view host_port);
    static Endpoint unix_from(std::string_view path);
};

struct ClientResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    // Value of the first header with that name (compared case-insensitively), or empty.
    std::string_view header(std::string_view name) const;
};

class Client {
public:
    explicit Client(Endpoint ep, std::chrono::milliseconds timeout = std::chrono::seconds(60));
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    Client(Client&& o) noexcept;
    Client& operator=(Client&& o) noexcept;

    std::expected<ClientResponse, std::string> get(std::string_view path);
    std::expected<ClientResponse, std::string> post(std::string_view path, std::string_view body,
                                                    std::string_view content_type = "application/json");
    // Sends Host: sysprobe, User-Agent, and Content-Length when there is a body or the method is
    // POST/PUT/PATCH. extra_headers replace default headers of the same name.
    std::expected<ClientResponse, std::string> request(
        std::string_view method, std::string_view path, std::string_view body = {},
        const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
    void close();
    const Endpoint& endpoint() const { return ep_; }
    void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
    std::chrono::milliseconds timeout() const { return timeout_; }
    // Default "ringprobectl/<version>".
    void set_user_agent(std::string ua) { user_agent_ = std::move(ua); }
    // True while a kept-alive connection is open.
    bool connected() const { return fd_ >= 0; }

private:
    std::expected<void, std::string> connect(std::chrono::steady_clock::time_point deadline);
    Endpoint ep_;
    std::chrono::milliseconds timeout_;
    std::string user_agent_;
    int fd_ = -1;
};

}  // namespace rp::http
