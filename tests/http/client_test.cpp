// client_test.cpp — rp::http::Client against a scripted in-test server (unix socket or TCP) that
// answers with canned raw HTTP: framing (Content-Length, chunked, until close), keep-alive reuse,
// the stale-connection retry, and the error texts.
#include "http/client.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon.h"

namespace {

using namespace std::chrono_literals;
using rp::http::Client;
using rp::http::Endpoint;

// Reads one request (head + Content-Length body) from a blocking socket; nullopt on EOF, error,
// or when nothing arrives within 5 s (a broken client must fail the test, not hang it).
std::optional<std::string> read_request(int fd) {
    std::string req;
    size_t need = std::string::npos;
    for (;;) {
        if (need == std::string::npos) {
            size_t end = req.find("\r\n\r\n");
            if (end != std::string::npos) {
                size_t length = 0;
                std::string lower = req.substr(0, end);
                for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
                if (size_t cl = lower.find("\r\ncontent-length:"); cl != std::string::npos)
                    length = std::stoul(lower.substr(cl + 17));
                need = end + 4 + length;
            }
        }
        if (need != std::string::npos && req.size() >= need) return req;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return std::nullopt;
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return std::nullopt;
        req.append(buf, size_t(n));
    }
}

void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return;
        data.remove_prefix(size_t(n));
    }
}

// Blocks until the peer closes (or 5 s pass).
void wait_eof(int fd) {
    char buf[256];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return;
        if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
    }
}

std::string ok_response(std::string_view body, std::string_view extra_headers = "") {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + std::string(extra_headers) + "\r\n" +
           std::string(body);
}

// Accepts connections one after another on a unix socket (or 127.0.0.1 TCP) in a thread and runs
// `handler(server, fd, connection index)` on each; the connection is closed when it returns.
class FakeServer {
  public:
    using Handler = std::function<void(FakeServer&, int fd, int index)>;

    explicit FakeServer(Handler handler, bool tcp = false) : handler_(std::move(handler)) {
        if (tcp) {
            listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            socklen_t len = sizeof a;
            REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
            REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
            endpoint_.kind = Endpoint::Kind::tcp;
            endpoint_.host = "127.0.0.1";
            endpoint_.port = ntohs(a.sin_port);
        } else {
            dir_ = rp::test::make_temp_dir();
            endpoint_ = Endpoint::unix_from(dir_ + "/fake.sock");
            listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_un a{};
            a.sun_family = AF_UNIX;
            std::strncpy(a.sun_path, endpoint_.path.c_str(), sizeof a.sun_path - 1);
            REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        }
        REQUIRE(::listen(listen_fd_, 16) == 0);
        thread_ = std::thread([this] { run(); });
    }

    ~FakeServer() {
        stop_ = true;
        thread_.join();
        ::close(listen_fd_);
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }

    const Endpoint& endpoint() const { return endpoint_; }
    int accepted() const { return accepted_.load(); }

    // read_request() that also records the request for the test to inspect.
    std::optional<std::string> next_request(int fd) {
        auto r = read_request(fd);
        if (r) {
            std::lock_guard lock(mu_);
            requests_.push_back(*r);
        }
        return r;
    }
    std::vector<std::string> requests() {
        std::lock_guard lock(mu_);
        return requests_;
    }
    // Answers every request on the connection with `response` until the client closes.
    void serve(int fd, std::string_view response) {
        while (next_request(fd)) send_all(fd, response);
    }

  private:
    void run() {
        int index = 0;
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            ++accepted_;
            handler_(*this, fd, index++);
            ::close(fd);
        }
    }

    Handler handler_;
    Endpoint endpoint_;
    std::string dir_;
    int listen_fd_ = -1;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::mutex mu_;
    std::vector<std::string> requests_;
};

}  // namespace

TEST_CASE("http client: Content-Length body, and the request carries Host and User-Agent") {
    FakeServer srv([](FakeServer& s, int fd, int) { s.serve(fd, ok_response("{\"a\":1}\n")); });
    Client c(srv.endpoint());
    auto r = c.get("/debug/stats");
    REQUIRE_MESSAGE(r, r.error());
    CHECK(r->status == 200);
    CHECK(r->body == "{\"a\":1}\n");
    CHECK(c.connected());
    auto reqs = srv.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].starts_with("GET /debug/stats HTTP/1.1\r\n"));
    CHECK(reqs[0].find("\r\nHost: sysprobe\r\n") != std::string::npos);
    CHECK(reqs[0].find("\r\nUser-Agent: ringprobectl/") != std::string::npos);
    CHECK(reqs[0].find("Content-Length") == std::string::npos);
}

TEST_CASE("http client: POST sends Content-Length, Content-Type and the body") {
    FakeServer srv([](FakeServer& s, int fd, int) { s.serve(fd, ok_response("{}")); });
    Client c(srv.endpoint());
    auto r = c.post("/process/stats", R"({"pids":[1]})");
    REQUIRE_MESSAGE(r, r.error());
    auto reqs = srv.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].starts_with("POST /process/stats HTTP/1.1\r\n"));
    CHECK(reqs[0].find("\r\nContent-Length: 12\r\n") != std::string::npos);
    CHECK(reqs[0].find("\r\nContent-Type: application/json\r\n") != std::string::npos);
    CHECK(reqs[0].ends_with("\r\n\r\n{\"pids\":[1]}"));

    auto empty = c.request("POST", "/module-restart/x");
    REQUIRE_MESSAGE(empty, empty.error());
    CHECK(srv.requests().at(1).find("\r\nContent-Length: 0\r\n") != std::string::npos);
}

TEST_CASE("http client: chunked body is reassembled and the connection kept") {
    FakeServer srv([](FakeServer& s, int fd, int) {
        s.serve(fd,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    });
    Client c(srv.endpoint());
    auto r = c.get("/x");
    REQUIRE_MESSAGE(r, r.error());
    CHECK(r->body == "hello world");
    CHECK(c.connected());
    auto again = c.get("/x");
    REQUIRE_MESSAGE(again, again.error());
    CHECK(again->body == "hello world");
    CHECK(srv.accepted() == 1);
}

TEST_CASE("http client: body without length is read until the server closes") {
    FakeServer srv([](FakeServer& s, int fd, int) {
        if (s.next_request(fd))
            send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close");
    });
    Client c(srv.endpoint());
    auto r = c.get("/x");
    REQUIRE_MESSAGE(r, r.error());
    CHECK(r->status == 200);
    CHECK(r->body == "until close");
    CHECK_FALSE(c.connected());
}

TEST_CASE("http client: HTTP/1.0 response without keep-alive closes the connection") {
    FakeServer srv([](FakeServer& s, int fd, int) {
        if (s.next_request(fd)) send_all(fd, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    Client c(srv.endpoint());
    auto r = c.get("/x");
    REQUIRE_MESSAGE(r, r.error());
    CHECK(r->body == "ok");
    CHECK_FALSE(c.connected());
}

TEST_CASE("http client: keep-alive reuses one connection for two requests") {
    FakeServer srv([](FakeServer& s, int fd, int) { s.serve(fd, ok_response("[]")); });
    Client c(srv.endpoint());
    for (int i = 0; i < 2; ++i) {
        auto r = c.get("/x");
        REQUIRE_MESSAGE(r, r.error());
        CHECK(r->body == "[]");
    }
    CHECK(srv.accepted() == 1);
    CHECK(srv.requests().size() == 2);
}

TEST_CASE("http client: reconnects when the server closed the idle connection") {
    FakeServer srv([](FakeServer& s, int fd, int index) {
        if (index == 0) {
            if (s.next_request(fd)) send_all(fd, ok_response("first"));
            return;  // closes the connection while the client holds it idle
        }
        s.serve(fd, ok_response("second"));
    });
    Client c(srv.endpoint());
    auto r1 = c.get("/x");
    REQUIRE_MESSAGE(r1, r1.error());
    CHECK(r1->body == "first");
    std::this_thread::sleep_for(50ms);  // let the close arrive
    auto r2 = c.get("/x");
    REQUIRE_MESSAGE(r2, r2.error());
    CHECK(r2->body == "second");
    CHECK(srv.accepted() == 2);
}

TEST_CASE("http client: retries once when the server closes right after the request was sent") {
    FakeServer srv([](FakeServer& s, int fd, int index) {
        if (index == 0) {
            if (s.next_request(fd)) send_all(fd, ok_response("first"));
            s.next_request(fd);  // the close races with the client's second request
            return;
        }
        s.serve(fd, ok_response("second"));
    });
    Client c(srv.endpoint());
    auto r1 = c.get("/x");
    REQUIRE_MESSAGE(r1, r1.error());
    auto r2 = c.post("/y", "{}");
    REQUIRE_MESSAGE(r2, r2.error());
    CHECK(r2->body == "second");
    CHECK(srv.accepted() == 2);
    CHECK(srv.requests().size() == 3);  // /x, the lost /y, the retried /y
}

TEST_CASE("http client: a fresh connection closed without a response is an error, not retried") {
    FakeServer srv([](FakeServer& s, int fd, int) { s.next_request(fd); });
    Client c(srv.endpoint());
    auto r = c.get("/x");
    REQUIRE_FALSE(r);
    CHECK(r.error() ==
          "read " + srv.endpoint().describe() + ": connection closed before any response");
    std::this_thread::sleep_for(50ms);
    CHECK(srv.requests().size() == 1);
}

TEST_CASE("http client: a response cut short is an error naming the endpoint") {
    FakeServer srv([](FakeServer& s, int fd, int) {
        if (s.next_request(fd)) send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    });
    Client c(srv.endpoint());
    auto r = c.get("/x");
    REQUIRE_FALSE(r);
    CHECK(r.error() == "read " + srv.endpoint().describe() +
                           ": connection closed in the middle of the response");
}

TEST_CASE("http client: timeout error names the step, the endpoint and the limit") {
    FakeServer srv([](FakeServer& s, int fd, int) {
        s.next_request(fd);
        wait_eof(fd);  // never answer
    });
    Client c(srv.endpoint(), 200ms);
    auto start = std::chrono::steady_clock::now();
    auto r = c.get("/slow");
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r);
    CHECK(r.error() == "read unix:" + srv.endpoint().path + ": timed out after 200 ms");
    CHECK(took >= 190ms);
    CHECK(took < 2s);
    CHECK_FALSE(c.connected());
}

TEST_CASE("http client: connect errors name the endpoint" * doctest::test_suite("pure")) {
    Client u(Endpoint::unix_from("/nonexistent/ringprobe/x.sock"));
    auto r = u.get("/debug/stats");
    REQUIRE_FALSE(r);
    CHECK(r.error() == "connect unix:/nonexistent/ringprobe/x.sock: No such file or directory");

    int port = rp::test::free_port();
    auto ep = Endpoint::tcp_from("127.0.0.1:" + std::to_string(port));
    REQUIRE(ep);
    Client t(*ep);
    auto rt = t.get("/debug/stats");
    REQUIRE_FALSE(rt);
    CHECK(rt.error() == "connect tcp:127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST_CASE("http client: header lookup is case-insensitive, names are stored lower-case") {
    FakeServer srv([](FakeServer& s, int fd, int) {
        s.serve(fd, ok_response("{}",
                                "X-Ringprobe-Thing: Some Value  \r\nSet-Cookie: a\r\n"
                                "Set-Cookie: b\r\n"));
    });
    Client c(srv.endpoint());
    auto r = c.get("/x");
    REQUIRE_MESSAGE(r, r.error());
    CHECK(r->header("x-ringprobe-thing") == "Some Value");
    CHECK(r->header("X-RINGPROBE-THING") == "Some Value");
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->header("set-cookie") == "a");
    CHECK(r->header("missing").empty());
    bool found = false;
    for (const auto& [k, v] : r->headers) found = found || k == "x-ringprobe-thing";
    CHECK(found);
}

TEST_CASE("http client: interim 1xx response is skipped") {
    FakeServer srv([](FakeServer& s, int fd, int) {
        s.serve(
            fd,
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope");
    });
    Client c(srv.endpoint());
    auto r = c.get("/x");
    REQUIRE_MESSAGE(r, r.error());
    CHECK(r->status == 404);
    CHECK(r->body == "nope");
}

TEST_CASE("http client: a large body spanning many reads") {
    std::string big(3 * 1024 * 1024 + 17, 'x');
    FakeServer srv([&](FakeServer& s, int fd, int) { s.serve(fd, ok_response(big)); });
    Client c(srv.endpoint());
    auto r = c.get("/big");
    REQUIRE_MESSAGE(r, r.error());
    CHECK(r->body.size() == big.size());
    CHECK(r->body == big);
}

TEST_CASE("http client: malformed response is a parse error") {
    FakeServer srv([](FakeServer& s, int fd, int) {
        if (s.next_request(fd)) send_all(fd, "HELLO THERE\r\n\r\n");
    });
    Client c(srv.endpoint());
    auto r = c.get("/x");
    REQUIRE_FALSE(r);
    CHECK(r.error().starts_with("parse " + srv.endpoint().describe() + ": "));
}

TEST_CASE("http client: works over TCP") {
    FakeServer srv([](FakeServer& s, int fd, int) { s.serve(fd, ok_response("tcp")); },
                   /*tcp=*/true);
    Client c(srv.endpoint());
    auto r1 = c.get("/x");
    REQUIRE_MESSAGE(r1, r1.error());
    CHECK(r1->body == "tcp");
    auto r2 = c.get("/x");
    REQUIRE_MESSAGE(r2, r2.error());
    CHECK(srv.accepted() == 1);
}

TEST_CASE("http client: a moved client keeps its connection") {
    FakeServer srv([](FakeServer& s, int fd, int) { s.serve(fd, ok_response("m")); });
    Client a(srv.endpoint());
    REQUIRE(a.get("/x"));
    Client b(std::move(a));
    CHECK(b.connected());
    REQUIRE(b.get("/x"));
    CHECK(srv.accepted() == 1);
}

TEST_CASE("http client: invalid request path is rejected before sending") {
    Client c(Endpoint::unix_from("/nonexistent.sock"));
    auto r = c.get("/a b");
    REQUIRE_FALSE(r);
    CHECK(r.error().starts_with("request unix:/nonexistent.sock: invalid path"));
}

TEST_CASE("http endpoint: tcp_from parses host:port and [v6]:port") {
    auto a = Endpoint::tcp_from("127.0.0.1:3333");
    REQUIRE(a);
    CHECK(a->host == "127.0.0.1");
    CHECK(a->port == 3333);
    CHECK(a->describe() == "tcp:127.0.0.1:3333");
    auto b = Endpoint::tcp_from("[::1]:3333");
    REQUIRE(b);
    CHECK(b->host == "::1");
    CHECK(b->describe() == "tcp:[::1]:3333");
    auto c = Endpoint::tcp_from(":80");
    REQUIRE(c);
    CHECK(c->host == "localhost");
    CHECK(Endpoint::unix_from("/run/x.sock").describe() == "unix:/run/x.sock");
    for (const char* bad :
         {"localhost", "h:", "h:0", "h:65536", "h:12x", "::1:80", "[::1]", "[::1"}) {
        auto e = Endpoint::tcp_from(bad);
        CHECK_MESSAGE(!e, bad);
        if (!e) CHECK(e.error().find(bad) != std::string::npos);
    }
}
