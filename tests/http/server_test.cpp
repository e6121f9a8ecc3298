// server_test.cpp — the handler contract against the real Server on a socketpair, in one thread:
// the test writes request bytes to its end, runs the loop until the answer is there, and reads it.
// Covers request headers and content negotiation, whole answers written in place (pipelined too),
// streamed bodies (pieces, wake(), HTTP/1.0, a body destroyed mid-stream), deferred answers
// (completed from a timer, the client gone first, a dropped handle, order of pipelined requests)
// and per-route concurrency limits.
#include "http/server.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "http/protobuf.h"
#include "http/router.h"
#include "loop/reactor.h"
#include "loop/timer.h"

using namespace rp;
using namespace std::chrono_literals;

namespace {

struct Answer {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool chunked = false;
    std::string header(std::string_view name) const {
        for (const auto& [k, v] : headers)
            if (http::Headers::equal_names(k, name)) return v;
        return {};
    }
    bool has(std::string_view name) const {
        for (const auto& [k, v] : headers)
            if (http::Headers::equal_names(k, name)) return true;
        return false;
    }
};

// Takes one whole answer off the front of buf (Content-Length, chunked, or until close when
// `closed`); nullopt while it is incomplete.
std::optional<Answer> take_answer(std::string& buf, bool closed = false) {
    size_t end = buf.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    Answer a;
    std::string_view head(buf.data(), end);
    a.status = std::atoi(buf.c_str() + 9);
    size_t pos = head.find("\r\n");
    std::optional<size_t> length;
    while (pos != std::string_view::npos && pos < head.size()) {
        size_t e = head.find("\r\n", pos + 2);
        std::string_view line =
            head.substr(pos + 2, e == std::string_view::npos ? head.npos : e - pos - 2);
        size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
            std::string k(line.substr(0, colon)), v(line.substr(colon + 2));
            if (http::Headers::equal_names(k, "Content-Length")) length = std::stoul(v);
            if (http::Headers::equal_names(k, "Transfer-Encoding") && v == "chunked")
                a.chunked = true;
            a.headers.emplace_back(k, v);
        }
        pos = e;
    }
    size_t at = end + 4;
    if (length) {
        if (buf.size() < at + *length) return std::nullopt;
        a.body = buf.substr(at, *length);
        buf.erase(0, at + *length);
        return a;
    }
    if (a.chunked) {
        for (;;) {
            size_t nl = buf.find("\r\n", at);
            if (nl == std::string::npos) return std::nullopt;
            size_t n = std::stoul(buf.substr(at, nl - at), nullptr, 16);
            if (buf.size() < nl + 2 + n + 2) return std::nullopt;
            if (n == 0) {
                buf.erase(0, nl + 4);
                return a;
            }
            a.body.append(buf, nl + 2, n);
            at = nl + 2 + n + 2;
        }
    }
    if (!closed) return std::nullopt;
    a.body = buf.substr(at);
    buf.clear();
    return a;
}

// A server with a router on one socketpair end; the test holds the other end (non-blocking).
struct Rig {
    std::unique_ptr<loop::Reactor> reactor = std::move(*loop::Reactor::create());
    http::Router router;
    std::optional<http::Server> server;
    int fd = -1;     // the client's end
    std::string in;  // bytes read from the server, not taken yet
    bool eof = false;

    explicit Rig(http::ServerLimits limits = {}) { server.emplace(*reactor, router, limits); }
    ~Rig() {
        if (fd >= 0) ::close(fd);
        server.reset();
    }
    int connect() {
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        server->adopt(sv[0]);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        if (fd < 0) fd = sv[1];
        return sv[1];
    }
    void send(std::string_view bytes, int to = -1) {
        int f = to < 0 ? fd : to;
        size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = ::write(f, bytes.data() + off, bytes.size() - off);
            if (n > 0) {
                off += static_cast<size_t>(n);
            } else {
                reactor->run_once(1);
            }
        }
    }
    // Reads what the server sent so far on `f` (non-blocking).
    static bool drain(int f, std::string& into) {
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(f, buf, sizeof buf);
            if (n > 0) {
                into.append(buf, static_cast<size_t>(n));
                continue;
            }
            return n == 0;  // EOF
        }
    }
    // Runs the loop until pred() (reading the client's end meanwhile) or the deadline.
    bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5000ms) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (drain(fd, in)) eof = true;
            if (pred()) return true;
            reactor->run_once(5);
        }
        if (drain(fd, in)) eof = true;
        return pred();
    }
    std::optional<Answer> answer(std::chrono::milliseconds limit = 5000ms) {
        std::optional<Answer> a;
        run_until([&] { return (a = take_answer(in, eof)).has_value(); }, limit);
        return a;
    }
    std::optional<Answer> request(std::string_view raw) {
        send(raw);
        return answer();
    }
};

std::string get(std::string_view path, std::string_view extra = "") {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: sysprobe\r\n" + std::string(extra) +
           "\r\n";
}

// A body of `pieces` pieces of `piece_bytes` 'x's, counting its calls.
struct XBody final : http::StreamBody {
    size_t pieces, piece_bytes, made = 0;
    size_t calls = 0;
    bool was_abandoned = false;
    size_t max_out = 0;  // the largest output buffer the connection handed to produce
    XBody(size_t p, size_t b) : pieces(p), piece_bytes(b) {}
    bool produce(http::Buffer& out, size_t) override {
        ++calls;
        max_out = std::max(max_out, out.capacity());
        if (made < pieces) {
            size_t at = out.size();
            out.resize(at + piece_bytes);
            std::memset(out.data() + at, 'a' + static_cast<int>(made % 26), piece_bytes);
            ++made;
        }
        return made == pieces;
    }
    void abandoned() override { was_abandoned = true; }
};

}  // namespace

TEST_CASE(
    "http server: headers are looked up case-insensitively, repeated ones all seen, split reads "
    "joined") {
    Rig rig;
    std::string seen;
    rig.router.handle("GET", "/h", [&](const http::Request& req, http::Response& res) {
        seen.clear();
        seen += std::string(req.headers.get("x-ONE").value_or("?")) + "|";
        req.headers.each("X-Many", [&](std::string_view v) { seen += std::string(v) + ","; });
        seen += "|" + std::string(req.headers.get("Host").value_or("?"));
        seen += "|" + std::to_string(req.headers.size());
        CHECK_FALSE(req.headers.get("absent").has_value());
        res.text("ok");
    });
    rig.connect();
    auto a = rig.request(get("/h", "X-One: 1  \r\nx-many: a\r\nX-MANY: b\r\nX-Many:c\r\n"));
    REQUIRE(a);
    CHECK(a->status == 200);
    CHECK(seen == "1|a,b,c,|sysprobe|5");
    // The same request one byte at a time: llhttp splits names and values across callbacks.
    std::string raw = get("/h", "X-One: 1\r\nX-Many: long-value-here\r\n");
    for (char c : raw) {
        rig.send(std::string_view(&c, 1));
        rig.reactor->run_once(0);
    }
    a = rig.answer();
    REQUIRE(a);
    CHECK(seen == "1|long-value-here,|sysprobe|3");
}

TEST_CASE("http server: Accept and Content-Type pick protobuf or JSON as system-probe does") {
    Rig rig;
    http::Encoding accepts{}, body{};
    rig.router.handle("", "/n", [&](const http::Request& req, http::Response& res) {
        accepts = req.accepts();
        body = req.body_encoding();
        res.text("ok");
    });
    rig.connect();
    struct Case {
        const char* headers;
        http::Encoding accepts, body;
    } cases[] = {
        {"", http::Encoding::json, http::Encoding::json},
        {"Accept: application/protobuf\r\n", http::Encoding::protobuf, http::Encoding::json},
        {"Accept: application/json, Application/Protobuf;q=0.5\r\n", http::Encoding::protobuf,
         http::Encoding::json},
        {"Accept: text/plain\r\nAccept: application/protobuf\r\n", http::Encoding::protobuf,
         http::Encoding::json},
        {"Content-Type: application/protobuf\r\n", http::Encoding::json, http::Encoding::protobuf},
        {"Content-Type: application/json\r\nAccept: */*\r\n", http::Encoding::json,
         http::Encoding::json},
    };
    for (const auto& c : cases) {
        CAPTURE(c.headers);
        auto a = rig.request(get("/n", c.headers));
        REQUIRE(a);
        CHECK(accepts == c.accepts);
        CHECK(body == c.body);
    }
}

TEST_CASE("http server: whole answers in place — JSON, protobuf, text, extra headers, pipelined") {
    Rig rig;
    rig.router.handle("GET", "/j", [](const http::Request&, http::Response& res) {
        auto& w = res.json();
        w.start_object();
        w.kv_int("n", 42);
        w.end_object();
        res.add_header("X-Extra: yes");
    });
    rig.router.handle("GET", "/p", [](const http::Request&, http::Response& res) {
        http::PbfWriter w(res.protobuf());
        w.add_int32(1, 150);
        w.add_string(2, "hi");
    });
    rig.router.handle("GET", "/big", [](const http::Request&, http::Response& res) {
        res.text(std::string(300000, 'b'));
    });
    rig.connect();
    auto a = rig.request(get("/j"));
    REQUIRE(a);
    CHECK(a->body == "{\"n\":42}\n");
    CHECK(a->header("Content-Type") == "application/json");
    CHECK(a->header("X-Extra") == "yes");
    CHECK(a->has("Date"));
    a = rig.request(get("/p"));
    REQUIRE(a);
    CHECK(a->header("Content-Type") == "application/protobuf");
    CHECK(a->body == std::string("\x08\x96\x01\x12\x02hi", 7));
    // Pipelined, with a large answer still in flight while the next ones are written: every answer
    // whole and in order (the header room of each is closed up, whichever side is smaller moves).
    std::string batch;
    for (int i = 0; i < 3; ++i) batch += get("/big") + get("/j") + get("/p");
    rig.send(batch);
    for (int i = 0; i < 3; ++i) {
        auto big = rig.answer();
        REQUIRE(big);
        CHECK(big->body == std::string(300000, 'b'));
        auto j = rig.answer();
        REQUIRE(j);
        CHECK(j->body == "{\"n\":42}\n");
        auto p = rig.answer();
        REQUIRE(p);
        CHECK(p->body.size() == 7);
    }
    CHECK(rig.in.empty());
}

TEST_CASE("http server: a streamed body read as it comes arrives whole") {
    Rig rig;
    XBody body(40, 64 * 1024);
    rig.router.handle("GET", "/s", [&](const http::Request&, http::Response& res) {
        res.stream("text/plain", body);
    });
    rig.connect();
    rig.send(get("/s"));
    std::optional<Answer> a;
    rig.run_until([&] { return (a = take_answer(rig.in)).has_value(); }, 10000ms);
    INFO("read " << rig.in.size() << " bytes, produced " << body.made << " pieces in " << body.calls
                 << " calls");
    REQUIRE(a);
    CHECK(a->body.size() == 40 * 64 * 1024);
}

TEST_CASE(
    "http server: a streamed body goes out in pieces, never held whole, and others are served "
    "meanwhile") {
    Rig rig;
    constexpr size_t kPieces = 128, kPiece = 64 * 1024;  // 8 MiB
    XBody body(kPieces, kPiece);
    rig.router.handle("GET", "/s", [&](const http::Request&, http::Response& res) {
        res.add_header("X-Stream: 1");
        res.stream("application/octet-stream", body);
    });
    rig.router.handle("GET", "/quick",
                      [](const http::Request&, http::Response& res) { res.text("quick"); });
    int a_fd = rig.connect();
    rig.send(get("/s"), a_fd);
    // The client does not read: the stream stops once the socket buffer is full, with at most two
    // pieces held by the connection (one being sent, one ready).
    for (int i = 0; i < 500 && body.calls <= 2; ++i) rig.reactor->run_once(5);  // not reading
    for (int i = 0; i < 50; ++i) rig.reactor->run_once(2);
    size_t calls_stalled = body.calls;
    CHECK(body.made < kPieces);
    CHECK(body.max_out <= 2 * kPiece + 4096);  // one piece (and its chunk framing), never the body
    // Another client is answered while the stream waits for its reader.
    int b_fd = rig.connect();
    std::string b_in;
    rig.send(get("/quick"), b_fd);
    std::optional<Answer> b;
    for (int i = 0; i < 500 && !b; ++i) {
        rig.reactor->run_once(5);
        Rig::drain(b_fd, b_in);
        b = take_answer(b_in);
    }
    REQUIRE(b);
    CHECK(b->body == "quick");
    CHECK(body.calls == calls_stalled);  // not produced further while nobody reads
    ::close(b_fd);
    // Now read it all: complete, in order, chunked.
    std::string a_in;
    std::optional<Answer> a;
    for (int i = 0; i < 20000 && !a; ++i) {
        rig.reactor->run_once(1);
        Rig::drain(a_fd, a_in);
        a = take_answer(a_in);
    }
    REQUIRE(a);
    CHECK(a->status == 200);
    CHECK(a->chunked);
    CHECK(a->header("X-Stream") == "1");
    CHECK(a->header("Content-Type") == "application/octet-stream");
    REQUIRE(a->body.size() == kPieces * kPiece);
    bool in_order = true;
    for (size_t i = 0; i < kPieces; ++i)
        in_order = in_order && a->body[i * kPiece] == 'a' + static_cast<int>(i % 26) &&
                   a->body[i * kPiece + kPiece - 1] == 'a' + static_cast<int>(i % 26);
    CHECK(in_order);
    CHECK_FALSE(body.was_abandoned);
    CHECK_FALSE(body.streaming());
    // The connection serves the next request.
    rig.send(get("/quick"), a_fd);
    for (int i = 0; i < 500 && !a; ++i) {
        rig.reactor->run_once(5);
        Rig::drain(a_fd, a_in);
    }
    a.reset();
    for (int i = 0; i < 500 && !a; ++i) {
        rig.reactor->run_once(5);
        Rig::drain(a_fd, a_in);
        a = take_answer(a_in);
    }
    REQUIRE(a);
    CHECK(a->body == "quick");
}

TEST_CASE(
    "http server: a stream that has nothing yet waits for wake(); HTTP/1.0 gets it unchunked, then "
    "close") {
    Rig rig;
    struct Events final : http::StreamBody {
        std::vector<std::string> queue;
        bool finished = false;
        bool produce(http::Buffer& out, size_t) override {
            for (auto& q : queue) out.append(q);
            queue.clear();
            return finished;
        }
    } events;
    rig.router.handle("GET", "/events", [&](const http::Request&, http::Response& res) {
        res.stream("application/x-ndjson", events);
    });
    rig.connect();
    rig.send(get("/events"));
    rig.run_until([&] { return rig.in.find("\r\n\r\n") != std::string::npos; });
    CHECK(rig.in.find("Transfer-Encoding: chunked") != std::string::npos);
    loop::Timer t(*rig.reactor, [&] {
        events.queue.push_back("{\"e\":1}\n");
        events.wake();
    });
    t.arm_after(20);
    CHECK(rig.run_until([&] { return rig.in.find("{\"e\":1}\n") != std::string::npos; }));
    CHECK_FALSE(take_answer(rig.in).has_value());  // still open
    events.queue.push_back("{\"e\":2}\n");
    events.finished = true;
    events.wake();
    auto a = rig.answer();
    REQUIRE(a);
    CHECK(a->body == "{\"e\":1}\n{\"e\":2}\n");

    // HTTP/1.0: no chunked coding; the end of the body is the end of the connection.
    Rig rig10;
    XBody body(3, 1000);
    rig10.router.handle("GET", "/s", [&](const http::Request&, http::Response& res) {
        res.stream("text/plain", body);
    });
    rig10.connect();
    rig10.send("GET /s HTTP/1.0\r\n\r\n");
    CHECK(rig10.run_until([&] { return rig10.eof; }));
    auto b = take_answer(rig10.in, true);
    REQUIRE(b);
    CHECK_FALSE(b->chunked);
    CHECK(b->header("Connection") == "close");
    CHECK(b->body.size() == 3000);
}

TEST_CASE(
    "http server: a stream whose body is destroyed mid-way closes the connection; a client that "
    "leaves abandons it") {
    Rig rig;
    auto body = std::make_unique<XBody>(1000, 64 * 1024);
    rig.router.handle("GET", "/s", [&](const http::Request&, http::Response& res) {
        res.stream("text/plain", *body);
    });
    rig.connect();
    rig.send(get("/s"));
    rig.run_until([&] { return body->calls > 1; });
    body.reset();  // e.g. its module was restarted
    CHECK(rig.run_until([&] { return rig.eof; }));
    CHECK(rig.server->stats().active == 0);

    // The client goes away mid-stream: the body hears it, the slot is free.
    Rig rig2;
    XBody body2(1000, 64 * 1024);
    rig2.router.handle(
        "GET", "/s",
        [&](const http::Request&, http::Response& res) { res.stream("text/plain", body2); },
        http::RouteOptions{.max_in_flight = 1});
    int c = rig2.connect();
    rig2.send(get("/s"), c);
    rig2.run_until([&] { return body2.calls > 1; });
    ::close(c);
    rig2.fd = -1;
    CHECK(rig2.run_until([&] { return body2.was_abandoned; }));
    CHECK_FALSE(body2.streaming());
    rig2.run_until([&] { return rig2.server->stats().active == 0; });
    CHECK(rig2.server->stats().active == 0);
}

TEST_CASE(
    "http server: a deferred answer completes from a timer; pipelined requests wait their turn") {
    Rig rig;
    http::Deferred pending;
    loop::Timer later(*rig.reactor, [&] {
        CHECK(pending.alive());
        bool done = pending.complete([](http::Response& r) {
            auto& w = r.json();
            w.start_object();
            w.kv("late", "yes");
            w.end_object();
        });
        CHECK(done);
        CHECK_FALSE(pending.alive());
    });
    rig.router.handle("GET", "/slow", [&](const http::Request& req, http::Response& res) {
        CHECK(req.query == "x=1");
        pending = res.defer();
        CHECK(pending.alive());
        later.arm_after(30);
    });
    rig.router.handle("GET", "/fast",
                      [](const http::Request&, http::Response& res) { res.text("fast"); });
    rig.connect();
    rig.send(get("/slow?x=1") + get("/fast"));
    auto a = rig.answer();
    REQUIRE(a);
    CHECK(a->status == 200);
    CHECK(a->body == "{\"late\":\"yes\"}\n");
    auto b = rig.answer();
    REQUIRE(b);
    CHECK(b->body == "fast");
}

TEST_CASE(
    "http server: a deferred request whose client left is dead; a dropped handle answers 500") {
    Rig rig;
    http::Deferred pending;
    rig.router.handle("GET", "/slow",
                      [&](const http::Request&, http::Response& res) { pending = res.defer(); });
    int c = rig.connect();
    rig.send(get("/slow"), c);
    rig.run_until([&] { return pending.alive(); });
    REQUIRE(pending.alive());
    ::close(c);
    rig.fd = -1;
    CHECK(rig.run_until([&] { return !pending.alive(); }));
    bool called = false;
    CHECK_FALSE(pending.complete([&](http::Response&) { called = true; }));
    CHECK_FALSE(called);

    // A handler that loses its handle: the client gets 500, not silence.
    Rig rig2;
    rig2.router.handle("GET", "/lost", [&](const http::Request&, http::Response& res) {
        http::Deferred d = res.defer();
        (void)d;  // dropped here
    });
    rig2.connect();
    auto a = rig2.request(get("/lost"));
    REQUIRE(a);
    CHECK(a->status == 500);
    CHECK(a->body.find("without answering") != std::string::npos);
    // A handle that outlives its server is harmless.
    http::Deferred outliving;
    {
        Rig rig3;
        rig3.router.handle("GET", "/d", [&](const http::Request&, http::Response& res) {
            outliving = res.defer();
        });
        rig3.connect();
        rig3.send(get("/d"));
        rig3.run_until([&] { return outliving.alive(); });
    }
    CHECK_FALSE(outliving.alive());
}

TEST_CASE(
    "http server: concurrency limits answer 429 beyond the limit and free the slot when the answer "
    "completes") {
    Rig rig;
    std::vector<http::Deferred> pending;
    rig.router.handle(
        "GET", "/limited",
        [&](const http::Request&, http::Response& res) { pending.push_back(res.defer()); },
        http::RouteOptions{.max_in_flight = 2});
    int c1 = rig.connect(), c2 = rig.connect(), c3 = rig.connect();
    rig.send(get("/limited"), c1);
    rig.send(get("/limited"), c2);
    rig.run_until([&] { return pending.size() == 2; });
    rig.send(get("/limited"), c3);
    std::string in3;
    std::optional<Answer> a3;
    for (int i = 0; i < 500 && !a3; ++i) {
        rig.reactor->run_once(5);
        Rig::drain(c3, in3);
        a3 = take_answer(in3);
    }
    REQUIRE(a3);
    CHECK(a3->status == 429);
    CHECK(a3->body.find("limit 2") != std::string::npos);
    // One completes: the next request on that route is taken.
    REQUIRE(pending[0].complete([](http::Response& r) { r.text("one"); }));
    rig.send(get("/limited"), c3);
    rig.run_until([&] { return pending.size() == 3; });
    CHECK(pending.size() == 3);
    // A client that leaves frees its slot too.
    ::close(c2);
    rig.run_until([&] { return !pending[1].alive(); });
    rig.send(get("/limited"),
             c3);  // c3's own deferred request is still pending: this one waits behind it
    REQUIRE(pending[2].complete([](http::Response& r) { r.text("three"); }));
    rig.run_until([&] { return pending.size() == 4; });
    CHECK(pending.size() == 4);
    REQUIRE(pending[3].complete([](http::Response& r) { r.text("four"); }));
    std::string got;
    rig.run_until([&] {
        Rig::drain(c3, in3);
        return in3.find("four") != std::string::npos;
    });
    auto x = take_answer(in3);
    REQUIRE(x);
    CHECK(x->body == "three");
    x = take_answer(in3);
    REQUIRE(x);
    CHECK(x->body == "four");
    ::close(c3);
}
