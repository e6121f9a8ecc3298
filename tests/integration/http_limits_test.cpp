// http_limits_test.cpp — the HTTP/1.1 server of the real daemon, byte by byte: every status it
// answers with (200, 400, 404, 405, 408, 413, 414, 431, 503), keep-alive, pipelining, partial and
// slow requests, chunked bodies, 100-continue, JSON framing, and the limits of issue 2 and the
// "bad input and abuse" list of issue 5. Clients: raw sockets (harness.h), http::Client, curl.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "support/daemon.h"

namespace {

using namespace rp::itest;
using rp::test::DaemonOptions;

// The limits every test here runs with, small so that each limit is cheap to reach; a test
// overrides single keys.
const std::map<std::string, std::string> kHttpDefaults = {
    {"max_header_bytes", "2048"},  {"max_body_bytes", "4096"},  {"max_connections", "64"},
    {"header_timeout_ms", "300"},  {"idle_timeout_ms", "5000"}, {"write_timeout_ms", "3000"},
    {"max_output_bytes", "65536"},
};

DaemonOptions http_daemon(const std::map<std::string, std::string>& overrides = {}) {
    auto keys = kHttpDefaults;
    for (const auto& [k, v] : overrides) keys[k] = v;
    DaemonOptions o;
    o.toml = "system_probe_config.process_config.enabled = true\n[ringprobe.http]\n";
    for (const auto& [k, v] : keys) o.toml += k + " = " + v + "\n";
    return o;
}

std::string get(std::string_view path, std::string_view extra_headers = "") {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: sysprobe\r\n" +
           std::string(extra_headers) + "\r\n";
}

std::string post(std::string_view path, std::string_view body,
                 std::string_view extra_headers = "") {
    return "POST " + std::string(path) +
           " HTTP/1.1\r\nHost: sysprobe\r\nContent-Type: application/json\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra_headers) +
           "\r\n" + std::string(body);
}

std::string pids_body(int pid) { return "{\"pids\": [" + std::to_string(pid) + "]}"; }
std::string my_pid_key() { return "\"" + std::to_string(getpid()) + "\""; }

// A normal request on a fresh connection succeeds (the daemon is fine after whatever came before).
void check_still_serving(const Daemon& d) {
    rp::http::Client c(d.unix_endpoint(), 3000ms);
    auto r = c.get("/debug/stats");
    REQUIRE_MESSAGE(r.has_value(), r.error());
    CHECK(r->status == 200);
}

// Sends `bytes` on a fresh connection; expects one response with `status`, then the close.
void expect_status_then_close(Daemon& d, std::string_view bytes, int status,
                              std::string_view what) {
    CAPTURE(what);
    RawConn c = RawConn::unix_socket(d.socket_path());
    REQUIRE(c.ok());
    c.send(bytes);
    auto r = c.read_response();
    REQUIRE_MESSAGE(r.has_value(), "no response; got: ", c.buffered());
    CHECK(r->status == status);
    CHECK(r->header("Connection") == "close");
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(contains(r->body, "\"error\""));
    CHECK(r->body.ends_with("\n"));
    CHECK(c.wait_closed());
    CHECK_MESSAGE(c.buffered().empty(), "bytes after the error response: ", c.buffered());
}

}  // namespace

// ------------------------------------------------------------------------------------------
// 200 and JSON framing

TEST_CASE("http: 200 with Content-Type application/json, compact, ending in a newline") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    for (auto ep : {d.unix_endpoint(), d.tcp_endpoint()}) {
        CAPTURE(ep.describe());
        rp::http::Client c(ep, 3000ms);
        auto r = c.get("/debug/stats");
        REQUIRE_MESSAGE(r.has_value(), r.error());
        CHECK(r->status == 200);
        CHECK(r->header("content-type") == "application/json");
        REQUIRE(r->body.ends_with("\n"));
        CHECK(r->body.find('\n') == r->body.size() - 1);  // compact: the only newline ends it
        CHECK(r->body.starts_with("{"));
    }
}

TEST_CASE("http: pretty_print=1, t, true, yes, y, on pretty-print with a 2-space indent") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    rp::http::Client c(d.unix_endpoint(), 3000ms);
    for (std::string v : {"1", "t", "true", "yes", "y", "on", "TRUE", "On"}) {
        for (std::string path :
             {"/debug/modules?pretty_print=" + v, "/debug/modules?x=1&pretty_print=" + v}) {
            CAPTURE(path);
            auto r = c.get(path);
            REQUIRE(r.has_value());
            CHECK(r->status == 200);
            // The registry order puts eBPF modules first in BPF builds: look for process anywhere.
            CHECK(r->body.starts_with("[\n  {\n    \"name\": \""));
            CHECK(contains(r->body, "\n    \"name\": \"process\",\n"));
            CHECK(r->body.ends_with("]\n"));
        }
    }
    for (std::string v : {"0", "f", "false", "no", "off", "", "2", "yess"}) {
        std::string path = "/debug/modules?pretty_print=" + v;
        CAPTURE(path);
        auto r = c.get(path);
        REQUIRE(r.has_value());
        CHECK(r->body.starts_with("[{\"name\":\""));
        CHECK(contains(r->body, "{\"name\":\"process\""));
        CHECK(r->body.find('\n') == r->body.size() - 1);
    }
    // Module handlers' bodies follow the same rule.
    auto r = c.post("/process/stats?pretty_print=true", pids_body(getpid()));
    REQUIRE(r.has_value());
    CHECK(r->body.starts_with("{\n  \"statsByPID\": {\n    " + my_pid_key() + ": {\n      \""));
}

// ------------------------------------------------------------------------------------------
// 404, 405

TEST_CASE("http: 404 for an unknown path and for an unknown module's routes; connection kept") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    RawConn c = RawConn::unix_socket(d.socket_path());
    REQUIRE(c.ok());
    for (const char* path :
         {"/", "/nope", "/debug", "/debug/stats/x", "/modules/nope/x", "/nope/check",
          "/process/nope", "/modules/process/nope", "/modules/", "/modules/process"}) {
        CAPTURE(path);
        REQUIRE(c.send(get(path)));
        auto r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 404);
        CHECK(r->header("Content-Type") == "application/json");
        CHECK(r->body == "{\"error\":\"404 page not found\"}\n");
        CHECK_FALSE(r->has_header("Connection"));
    }
    // Still the same connection.
    REQUIRE(c.send(get("/debug/stats")));
    auto r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
}

TEST_CASE("http: 405 with an Allow header for a wrong method") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    RawConn c = RawConn::unix_socket(d.socket_path());
    REQUIRE(c.ok());
    struct Case {
        std::string request;
        const char* allow;
    };
    const Case cases[] = {
        {get("/process/stats"), "POST"},
        {get("/modules/process/stats"), "POST"},
        {get("/module-restart/process"), "POST"},
        {"DELETE /process/stats HTTP/1.1\r\nHost: x\r\n\r\n", "POST"},
        {post("/debug/stats", "{}"), "GET"},
        {"PUT /debug/modules HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "GET"},
        {"HEAD /debug/stats HTTP/1.1\r\n\r\n", "GET"},
    };
    for (const auto& k : cases) {
        CAPTURE(k.request);
        REQUIRE(c.send(k.request));
        auto r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 405);
        CHECK(r->header("Allow") == k.allow);
        CHECK(contains(r->body, "method not allowed"));
    }
    REQUIRE(c.send(get("/debug/stats")));
    auto r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
}

// ------------------------------------------------------------------------------------------
// 400: malformed requests

TEST_CASE("http: 400 then close for malformed requests, and the next client is served") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    using namespace std::string_literals;
    const std::pair<const char*, std::string> cases[] = {
        {"garbage start line", "HELLO\r\n\r\n"},
        {"unknown method", "FETCH /debug/stats HTTP/1.1\r\n\r\n"},
        {"lower-case method", "get /debug/stats HTTP/1.1\r\n\r\n"},
        {"bad version", "GET /debug/stats HTTP/1.x\r\n\r\n"},
        {"no version, extra token", "GET /debug/stats HTTP/1.1 extra\r\n\r\n"},
        {"space in the target", "GET /debug/ stats HTTP/1.1\r\n\r\n"},
        {"relative target", "GET debug/stats HTTP/1.1\r\n\r\n"},
        {"NUL in the target", "GET /debug\0/stats HTTP/1.1\r\n\r\n"s},
        {"header without colon", "GET /debug/stats HTTP/1.1\r\nNoColonHere\r\n\r\n"},
        {"space before colon", "GET /debug/stats HTTP/1.1\r\nHost : x\r\n\r\n"},
        {"bad header name", "GET /debug/stats HTTP/1.1\r\nX(y): z\r\n\r\n"},
        {"NUL in a header value", "GET /debug/stats HTTP/1.1\r\nX: a\0b\r\n\r\n"s},
        {"bad Content-Length", "POST /process/stats HTTP/1.1\r\nContent-Length: abc\r\n\r\n"},
        {"negative Content-Length", "POST /process/stats HTTP/1.1\r\nContent-Length: -5\r\n\r\n"},
        {"Content-Length with a sign",
         "POST /process/stats HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello"},
        {"whitespace before the colon (smuggling)",
         "POST /process/stats HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello"},
        {"Transfer-Encoding: identity",
         "POST /process/stats HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"},
        {"chunked twice",
         "POST /process/stats HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n"},
        {"CONNECT", "CONNECT sysprobe:80 HTTP/1.1\r\n\r\n"},
        {"asterisk target", "OPTIONS * HTTP/1.1\r\n\r\n"},
        {"two different Content-Lengths",
         "POST /process/stats HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
        {"Content-Length with Transfer-Encoding (smuggling)",
         "POST /process/stats HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n"},
        {"Transfer-Encoding with Content-Length (smuggling)",
         "POST /process/stats HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: "
         "5\r\n\r\n0\r\n\r\n"},
        {"Transfer-Encoding not ending in chunked",
         "POST /process/stats HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
        {"bad chunk size",
         "POST /process/stats HTTP/1.1\r\nTransfer-Encoding: "
         "chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
        {"chunk size overflow",
         "POST /process/stats HTTP/1.1\r\nTransfer-Encoding: "
         "chunked\r\n\r\nffffffffffffffffff\r\n"},
        {"chunk data longer than its size",
         "POST /process/stats HTTP/1.1\r\nTransfer-Encoding: "
         "chunked\r\n\r\n2\r\n{}XX\r\n0\r\n\r\n"},
        {"bad percent-encoding", "GET /debug/%zzstats HTTP/1.1\r\n\r\n"},
        {"truncated percent-encoding", "GET /debug/stats% HTTP/1.1\r\n\r\n"},
        {"dot-dot segment", "GET /debug/../debug/stats HTTP/1.1\r\n\r\n"},
        {"dot segment", "GET /debug/./stats HTTP/1.1\r\n\r\n"},
        {"percent-encoded dot-dot", "GET /process/%2e%2E/debug/stats HTTP/1.1\r\n\r\n"},
        {"percent-encoded NUL", "GET /debug/stats%00 HTTP/1.1\r\n\r\n"},
    };
    for (const auto& [what, bytes] : cases) {
        expect_status_then_close(d, bytes, 400, what);
        check_still_serving(d);
    }
}

TEST_CASE("http: nothing pipelined after a 400 is answered") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    // Both a parser error and a path error (found after parsing) stop the connection.
    for (std::string first :
         {std::string("GET /%zz HTTP/1.1\r\n\r\n"), std::string("GET /a/../b HTTP/1.1\r\n\r\n"),
          std::string("POST /process/stats HTTP/1.1\r\nContent-Length: x\r\n\r\n")}) {
        CAPTURE(first);
        expect_status_then_close(d, first + get("/debug/stats") + get("/debug/modules"), 400,
                                 first);
    }
}

TEST_CASE("http: non-UTF-8 paths and odd query strings get an answer and keep the connection") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    RawConn c = RawConn::unix_socket(d.socket_path());
    REQUIRE(c.ok());
    REQUIRE(c.send(get("/\xff\xfe/\x80")));
    auto r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 404);
    for (std::string path :
         {std::string("/debug/stats?%%%&&&===&pretty_print"),
          std::string("/debug/stats?pretty_print=%31"), "/debug/stats?" + std::string(1800, 'q'),
          std::string("/debug/stats?#frag"), std::string("/debug/stats#x"),
          std::string("/debug//stats")}) {
        CAPTURE(path);
        REQUIRE(c.send(get(path)));
        auto r2 = c.read_response();
        REQUIRE(r2.has_value());
        CHECK(r2->status == 200);
        CHECK(r2->body.find('\n') == r2->body.size() - 1);
    }
    // Absolute-form target; empty lines before a request (RFC 9112 §2.2 allows them).
    REQUIRE(c.send(get("http://sysprobe/debug/stats") + "\r\n\r\n" + get("/debug/stats")));
    for (int i = 0; i < 2; ++i) {
        r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
    }
    // HTTP/0.9 (no version): answered, then closed.
    RawConn old = RawConn::unix_socket(d.socket_path());
    REQUIRE(old.send("GET /debug/stats\r\n\r\n"));
    r = old.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(old.wait_closed());
}

TEST_CASE(
    "http: an Upgrade request is answered once with Connection: close, then the connection "
    "closes") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    const std::string upgrade =
        get("/debug/modules", "Upgrade: websocket\r\nConnection: upgrade\r\n");
    SUBCASE("more bytes in a later read") {
        RawConn c = RawConn::unix_socket(d.socket_path());
        REQUIRE(c.send(upgrade));
        auto r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(r->header("Connection") == "close");
        c.send(get("/nope"));  // may fail: the daemon is closing
        CHECK(c.wait_closed());
        CHECK_MESSAGE(c.buffered().empty(), "answered again: ", c.buffered());
    }
    SUBCASE("more bytes in the same read") {
        RawConn c = RawConn::unix_socket(d.socket_path());
        REQUIRE(c.send(upgrade + get("/nope")));
        auto r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(c.wait_closed());
        CHECK_MESSAGE(c.buffered().empty(), "answered again: ", c.buffered());
    }
    SUBCASE("a POST with Upgrade runs its handler once") {
        RawConn c = RawConn::unix_socket(d.socket_path());
        REQUIRE(c.send(
            "POST /module-restart/process HTTP/1.1\r\nUpgrade: h2c\r\nConnection: upgrade\r\n"
            "Content-Length: 0\r\n\r\n"));
        auto r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        std::this_thread::sleep_for(50ms);
        c.send(get("/debug/stats"));
        CHECK(c.wait_closed());
        CHECK(c.buffered().empty());
        std::string log = d.log();
        size_t restarts = 0;
        for (size_t at = 0; (at = log.find("module process restarted", at)) != std::string::npos;
             ++at)
            ++restarts;
        CHECK(restarts == 1);
    }
}

// ------------------------------------------------------------------------------------------
// 413, 414, 431

TEST_CASE("http: 413 when Content-Length exceeds max_body_bytes, before the body is sent") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    expect_status_then_close(
        d, "POST /process/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 4097\r\n\r\n", 413, "4097");
    expect_status_then_close(
        d, "POST /process/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n", 413,
        "huge");
    // Exactly the limit is fine.
    std::string body = pids_body(getpid());
    body.resize(4096, ' ');
    rp::http::Client c(d.unix_endpoint(), 3000ms);
    auto r = c.post("/process/stats", body);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(contains(r->body, my_pid_key()));
}

TEST_CASE("http: 413 when a chunked body exceeds max_body_bytes") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    std::string req =
        "POST /process/stats HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 5; ++i) req += "3e8\r\n" + std::string(1000, ' ') + "\r\n";  // 5000 bytes
    req += "0\r\n\r\n";
    expect_status_then_close(d, req, 413, "chunked 5000");
    check_still_serving(d);
}

TEST_CASE("http: 414 when the URL exceeds max_header_bytes") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    expect_status_then_close(d, get("/debug/stats?" + std::string(3000, 'a')), 414,
                             "3000-byte URL");
    // Sent in pieces: the limit counts the URL across reads.
    RawConn c = RawConn::unix_socket(d.socket_path());
    REQUIRE(c.ok());
    std::string req = get("/" + std::string(2100, 'b'));
    c.send_in_pieces(req, {10, 700, 1400, 2000});
    auto r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 414);
    CHECK(c.wait_closed());
    check_still_serving(d);
}

TEST_CASE("http: 431 when headers exceed the limit") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    expect_status_then_close(d, get("/debug/stats", "X-Big: " + std::string(3000, 'v') + "\r\n"),
                             431, "one 3000-byte header");
    std::string many;
    for (int i = 0; i < 40; ++i)
        many += "X-Header-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
    expect_status_then_close(d, get("/debug/stats", many), 431, "40 headers of 55 bytes");
    std::string count;
    for (int i = 0; i < 150; ++i) count += "X" + std::to_string(i) + ":\r\n";
    expect_status_then_close(d, get("/debug/stats", count), 431, "150 empty headers (count limit)");
    // Just under the limit is fine.
    rp::http::Client c(d.unix_endpoint(), 3000ms);
    auto r = c.request("GET", "/debug/stats", {}, {{"X-Fine", std::string(1500, 'v')}});
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
}

// ------------------------------------------------------------------------------------------
// Timeouts: 408, idle close

TEST_CASE("http: 408 when a request's headers do not complete within header_timeout_ms") {
    Daemon d(http_daemon());  // header_timeout_ms = 300
    REQUIRE(d.ready());
    const std::pair<std::string, std::string> cases[] = {
        {"half a request line", "GET /debug/st"},
        {"headers without the blank line", "GET /debug/stats HTTP/1.1\r\nHost: x\r\n"},
        {"body shorter than its Content-Length",
         "POST /process/stats HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"pids\":"},
        {"chunked body without its last chunk",
         "POST /process/stats HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"},
    };
    for (const auto& [what, bytes] : cases) {
        CAPTURE(what);
        RawConn c = RawConn::unix_socket(d.socket_path());
        REQUIRE(c.ok());
        auto t0 = Clock::now();
        REQUIRE(c.send(bytes));
        auto r = c.read_response(3000ms);
        long took = elapsed_ms(t0);
        REQUIRE_MESSAGE(r.has_value(), c.buffered());
        CHECK(r->status == 408);
        CHECK(took >= 250);
        CHECK(took < 2000);
        CHECK(r->header("Connection") == "close");
        CHECK(c.wait_closed());
    }
    // A slow but steady client still gets the timeout: it bounds the whole head, not each read.
    RawConn c = RawConn::unix_socket(d.socket_path());
    auto t0 = Clock::now();
    std::string req = get("/debug/stats", "X-A: 1\r\nX-B: 2\r\nX-C: 3\r\n");
    bool sent_all = true;
    for (char ch : req) {
        if (!c.send(std::string_view(&ch, 1))) {
            sent_all = false;
            break;
        }
        std::this_thread::sleep_for(20ms);
        if (elapsed_ms(t0) > 1000) break;
    }
    (void)sent_all;
    auto r = c.read_response(3000ms);
    REQUIRE(r.has_value());
    CHECK(r->status == 408);
    check_still_serving(d);
}

TEST_CASE(
    "http: a connection that never sends is closed after idle_timeout_ms, without a response") {
    Daemon d(http_daemon({{"idle_timeout_ms", "400"}}));
    REQUIRE(d.ready());
    RawConn c = RawConn::unix_socket(d.socket_path());
    auto t0 = Clock::now();
    REQUIRE(c.wait_closed(3000ms));
    long took = elapsed_ms(t0);
    CHECK(took >= 300);
    CHECK(took < 2000);
    CHECK(c.buffered().empty());
}

TEST_CASE("http: an idle keep-alive connection is closed after idle_timeout_ms") {
    Daemon d(http_daemon({{"idle_timeout_ms", "400"}}));
    REQUIRE(d.ready());
    RawConn c = RawConn::unix_socket(d.socket_path());
    // Activity re-arms the idle timer: 3 requests 250 ms apart stay on one connection.
    for (int i = 0; i < 3; ++i) {
        REQUIRE(c.send(get("/debug/stats")));
        auto r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        if (i < 2) std::this_thread::sleep_for(250ms);
    }
    auto t0 = Clock::now();
    REQUIRE(c.wait_closed(3000ms));
    long took = elapsed_ms(t0);
    CHECK(took >= 300);
    CHECK(took < 2000);
    CHECK(c.buffered().empty());
    // The daemon counted it.
    rp::http::Client client(d.unix_endpoint(), 3000ms);
    auto r = client.get("/debug/stats");
    REQUIRE(r.has_value());
    CHECK(contains(r->body, "\"closed_idle\":"));
    CHECK_FALSE(contains(r->body, "\"closed_idle\":0"));
}

// ------------------------------------------------------------------------------------------
// 503, back-pressure, slow clients

TEST_CASE("http: 503 when max_connections is reached; a request succeeds after one closes") {
    Daemon d(http_daemon({{"max_connections", "4"}}));
    REQUIRE(d.ready());
    std::this_thread::sleep_for(50ms);  // the readiness probe's connection is gone
    std::vector<RawConn> conns;
    for (int i = 0; i < 4; ++i) {
        conns.push_back(RawConn::unix_socket(d.socket_path()));
        REQUIRE(conns.back().send(get("/debug/stats")));
        auto r = conns.back().read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
    }
    for (bool tcp : {false, true}) {
        CAPTURE(tcp);
        RawConn extra = tcp ? RawConn::tcp(d.port()) : RawConn::unix_socket(d.socket_path());
        REQUIRE(extra.ok());
        auto r = extra.read_response();  // answered at accept, before any request
        REQUIRE(r.has_value());
        CHECK(r->status == 503);
        CHECK(r->header("Connection") == "close");
        CHECK(contains(r->body, "too many open connections"));
        CHECK(extra.wait_closed());
    }
    // Connections over the limit did not disturb the others.
    REQUIRE(conns[0].send(get("/debug/stats")));
    auto r0 = conns[0].read_response();
    REQUIRE(r0.has_value());
    CHECK(r0->status == 200);
    conns.pop_back();  // one closes
    CHECK(eventually([&] {
        rp::http::Client c(d.unix_endpoint(), 1000ms);
        auto r = c.get("/debug/stats");
        return r && r->status == 200;
    }));
}

// The first `"key":<number>` in a compact /debug/stats body, or -1.
long long stats_number(const std::string& body, std::string_view key) {
    std::string k = "\"" + std::string(key) + "\":";
    auto at = body.find(k);
    if (at == std::string::npos) return -1;
    return std::atoll(body.c_str() + at + k.size());
}

TEST_CASE("http: after a burst of connections closes, only a few keep their buffers") {
    Daemon d(http_daemon({{"max_connections", "512"}}));
    REQUIRE(d.ready());
    auto idle_bytes = [&] {
        rp::http::Client c(d.unix_endpoint(), 3000ms);
        auto r = c.get("/debug/stats");
        REQUIRE_MESSAGE(r.has_value(), r.error());
        return std::pair{stats_number(r->body, "idle_connection_buffer_bytes"),
                         stats_number(r->body, "pooled_connections")};
    };
    auto burst = [&](int n) {
        std::vector<RawConn> conns;
        for (int i = 0; i < n; ++i) {
            conns.push_back(RawConn::unix_socket(d.socket_path()));
            REQUIRE(conns.back().send(get("/debug/stats")));
        }
        for (auto& c : conns) {
            auto r = c.read_response();
            REQUIRE(r.has_value());
            CHECK(r->status == 200);
        }
    };  // all close here
    burst(2);
    long long one = 0;
    // What one closed connection keeps: two closed, the stats client reuses one of them.
    REQUIRE(eventually([&] {
        one = idle_bytes().first;
        return one > 0;
    }));
    burst(300);
    std::pair<long long, long long> after{};
    REQUIRE(eventually([&] {
        after = idle_bytes();
        return after.second >= 300 && after.first > 0;
    }));
    CAPTURE(one);
    CAPTURE(after.first);
    CHECK(after.second >= 300);            // the connection objects stay pooled
    CHECK(after.first <= 64 * one + one);  // but at most 64 (+ the stats client's) keep buffers
    CHECK(after.first >= 32 * one);        // and the warm ones do keep them
    check_still_serving(d);
}

TEST_CASE(
    "http: a pipelining client that never reads is cut off; the daemon stays responsive and "
    "bounded") {
    Daemon d(http_daemon({{"max_output_bytes", "65536"}, {"write_timeout_ms", "10000"}}));
    REQUIRE(d.ready());
    long rss_before = rss_kib(d.pid());
    REQUIRE(rss_before > 0);

    constexpr int kRequests = 100000;
    std::string one = get("/debug/stats");
    std::string all;
    all.reserve(one.size() * kRequests);
    for (int i = 0; i < kRequests; ++i) all += one;

    RawConn flood = RawConn::unix_socket(d.socket_path());
    REQUIRE(flood.ok());
    timeval tv{10, 0};  // a daemon that never cuts us off must not hang the test
    ::setsockopt(flood.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::atomic<bool> done{false};
    bool flood_sent_all = false;
    int flood_errno = 0;
    std::thread sender([&] {
        flood_sent_all = flood.send(all);
        flood_errno = flood.error();
        done = true;
    });

    // Another client keeps getting answers meanwhile.
    long max_rss = rss_before;
    long worst_ms = 0;
    int answered = 0;
    rp::http::Client other(d.unix_endpoint(), 3000ms);
    while (!done || answered < 3) {
        auto t0 = Clock::now();
        auto r = other.get("/debug/stats");
        worst_ms = std::max(worst_ms, elapsed_ms(t0));
        REQUIRE_MESSAGE(r.has_value(), r.error());
        CHECK(r->status == 200);
        ++answered;
        max_rss = std::max(max_rss, rss_kib(d.pid()));
        std::this_thread::sleep_for(5ms);
    }
    sender.join();
    CHECK_MESSAGE(!flood_sent_all,
                  "the daemon read 100000 requests without cutting the client off");
    CHECK_MESSAGE((flood_errno == EPIPE || flood_errno == ECONNRESET),
                  "send error: ", std::strerror(flood_errno));
    CHECK(worst_ms < 1000);
    MESSAGE("daemon RSS before ", rss_before, " KiB, max during the flood ", max_rss, " KiB");
    CHECK(max_rss - rss_before < 16 * 1024);
    auto r = other.get("/debug/stats");
    REQUIRE(r.has_value());
    CHECK_FALSE(contains(r->body, "\"closed_backpressure\":0"));
}

TEST_CASE("http: a client that stops reading a large answer is closed after write_timeout_ms") {
    Daemon d(http_daemon({{"write_timeout_ms", "300"}, {"max_output_bytes", "4194304"}}));
    REQUIRE(d.ready());
    // 1500 pipelined requests make ~1.4 MiB of answers: more than the socket buffer holds, less
    // than max_output_bytes. The client reads none of them, so the daemon's send stalls.
    RawConn c = RawConn::unix_socket(d.socket_path());
    REQUIRE(c.ok());
    std::string reqs;
    for (int i = 0; i < 1500; ++i) reqs += get("/debug/stats");
    REQUIRE(c.send(reqs));
    // Wait (not reading) until the daemon gave up on us — it counts the close — rather than for a
    // fixed time: a slow (sanitizer) build may still be answering the 1500 requests after a
    // second, and reading then would be progress.
    rp::http::Client other(d.unix_endpoint(), 3000ms);
    CHECK(eventually(
        [&] {
            auto r = other.get("/debug/stats");
            return r.has_value() && !contains(r->body, "\"closed_backpressure\":0");
        },
        10000ms));
    // Reading now drains what the kernel held, then EOF.
    CHECK(c.wait_closed(3000ms));
    CHECK(c.buffered().size() < 700 * 1024);
}

TEST_CASE("http: 1000 slow clients holding half a request do not delay a normal request") {
    // 1000 sockets here and 1000 in the daemon (it inherits the limit): raise the soft fd limit
    // (and the hard one, which root may) when the default 1024 is too low.
    rlimit fds{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &fds) == 0);
    if (fds.rlim_cur < 4096) {
        rlimit want{4096, std::max<rlim_t>(fds.rlim_max, 4096)};
        REQUIRE_MESSAGE(
            setrlimit(RLIMIT_NOFILE, &want) == 0,
            "cannot raise RLIMIT_NOFILE to 4096 for 1000 connections: ", std::strerror(errno));
    }
    Daemon d(http_daemon({{"header_timeout_ms", "20000"}, {"max_connections", "1100"}}));
    REQUIRE(d.ready());
    std::vector<RawConn> slow;
    for (int i = 0; i < 1000; ++i) {
        slow.push_back(i % 2 ? RawConn::tcp(d.port()) : RawConn::unix_socket(d.socket_path()));
        REQUIRE(slow.back().ok());
        REQUIRE(slow.back().send("GET /debug/stats HTTP/1.1\r\nX-Slow: "));
    }
    rp::http::Client c(d.unix_endpoint(), 3000ms);
    long worst = 0;
    for (int i = 0; i < 10; ++i) {
        auto t0 = Clock::now();
        auto r = c.get("/debug/stats");
        worst = std::max(worst, elapsed_ms(t0));
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
    }
    CHECK(worst < 50);
    // Each slow client can still finish its request.
    for (size_t i = 0; i < slow.size(); i += 37) {
        REQUIRE(slow[i].send("1\r\n\r\n"));
        auto r = slow[i].read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
    }
}

// ------------------------------------------------------------------------------------------
// Keep-alive, pipelining, Connection: close, HTTP/1.0

TEST_CASE("http: several requests on one keep-alive connection") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    for (bool tcp : {false, true}) {
        RawConn c = tcp ? RawConn::tcp(d.port()) : RawConn::unix_socket(d.socket_path());
        REQUIRE(c.ok());
        for (int i = 0; i < 20; ++i) {
            REQUIRE(
                c.send(i % 2 ? get("/debug/stats") : post("/process/stats", pids_body(getpid()))));
            auto r = c.read_response();
            REQUIRE(r.has_value());
            CHECK(r->status == 200);
            CHECK_FALSE(r->has_header("Connection"));
            CHECK(r->has_header("Date"));
        }
        CHECK_FALSE(c.closed());
    }
}

TEST_CASE("http: pipelined requests are answered in order, however the bytes are split") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    const std::string body = pids_body(getpid());
    const std::string reqs =
        get("/debug/modules") + post("/process/stats", body) + get("/nope") + get("/process/stats");
    auto check_answers = [&](RawConn& c) {
        auto r1 = c.read_response();
        auto r2 = c.read_response();
        auto r3 = c.read_response();
        auto r4 = c.read_response();
        REQUIRE(r1.has_value());
        REQUIRE(r2.has_value());
        REQUIRE(r3.has_value());
        REQUIRE(r4.has_value());
        CHECK(r1->status == 200);
        CHECK(contains(r1->body, "{\"name\":\"process\""));
        CHECK(r2->status == 200);
        CHECK(contains(r2->body, my_pid_key()));
        CHECK(r3->status == 404);
        CHECK(r4->status == 405);
        CHECK(c.buffered().empty());
    };
    SUBCASE("in one write") {
        RawConn c = RawConn::unix_socket(d.socket_path());
        REQUIRE(c.send(reqs));
        check_answers(c);
    }
    SUBCASE("split in two at every tenth byte, headers and body included") {
        for (size_t cut = 1; cut < reqs.size(); cut += 10) {
            CAPTURE(cut);
            RawConn c = RawConn::unix_socket(d.socket_path());
            REQUIRE(c.send_in_pieces(reqs, {cut}, 2ms));
            check_answers(c);
        }
    }
    SUBCASE("one byte per write") {
        RawConn c = RawConn::tcp(d.port());
        std::vector<size_t> cuts;
        for (size_t i = 1; i < reqs.size(); ++i) cuts.push_back(i);
        REQUIRE(c.send_in_pieces(reqs, cuts, 0ms));
        check_answers(c);
    }
    SUBCASE("inside the body and inside a chunked body") {
        std::string chunked = "POST /process/stats HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        chunked += "5\r\n" + body.substr(0, 5) + "\r\n";
        std::string rest = body.substr(5);
        char hex[16];
        std::snprintf(hex, sizeof hex, "%zx", rest.size());
        chunked += std::string(hex) + "\r\n" + rest + "\r\n0\r\n\r\n";
        const std::string all = post("/process/stats", body) + chunked + get("/debug/stats");
        for (size_t cut = all.find("{\"pids\"") + 3; cut < all.size(); cut += 7) {
            CAPTURE(cut);
            RawConn c = RawConn::unix_socket(d.socket_path());
            REQUIRE(c.send_in_pieces(all, {cut / 2, cut}, 2ms));
            for (int i = 0; i < 2; ++i) {
                auto r = c.read_response();
                REQUIRE(r.has_value());
                CHECK(r->status == 200);
                CHECK(contains(r->body, my_pid_key()));
            }
            auto r = c.read_response();
            REQUIRE(r.has_value());
            CHECK(r->body.starts_with("{\"process\""));
        }
    }
}

TEST_CASE("http: Connection: close is honoured") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    for (const char* value : {"close", "Close", "keep-alive, close"}) {
        CAPTURE(value);
        RawConn c = RawConn::unix_socket(d.socket_path());
        // A second request in the same write is not answered.
        REQUIRE(c.send(get("/debug/stats", std::string("Connection: ") + value + "\r\n") +
                       get("/debug/modules")));
        auto r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(r->header("Connection") == "close");
        CHECK(c.wait_closed());
        CHECK(c.buffered().empty());
    }
    // Also through the client and curl.
    auto [rc, out] =
        rp::test::run_command("curl -s -i --max-time 3 -H 'Connection: close' --unix-socket " +
                              d.socket_path() + " http://sysprobe/debug/stats");
    CHECK(rc == 0);
    CHECK(contains(out, "HTTP/1.1 200 OK"));
    CHECK(contains(out, "Connection: close"));
}

TEST_CASE("http: HTTP/1.0 closes after the response unless it asks for keep-alive") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    {
        RawConn c = RawConn::unix_socket(d.socket_path());
        REQUIRE(c.send("GET /debug/stats HTTP/1.0\r\n\r\n"));
        auto r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(c.wait_closed());
    }
    {
        RawConn c = RawConn::unix_socket(d.socket_path());
        for (int i = 0; i < 3; ++i) {
            REQUIRE(c.send("GET /debug/stats HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
            auto r = c.read_response();
            REQUIRE(r.has_value());
            CHECK(r->status == 200);
        }
        CHECK_FALSE(c.closed());
    }
    {
        // HTTP/1.0 POST with a body.
        RawConn c = RawConn::unix_socket(d.socket_path());
        std::string body = pids_body(getpid());
        REQUIRE(c.send("POST /process/stats HTTP/1.0\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body));
        auto r = c.read_response();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(contains(r->body, my_pid_key()));
        CHECK(c.wait_closed());
    }
}

// ------------------------------------------------------------------------------------------
// Request bodies: chunked, 100-continue

TEST_CASE("http: chunked request body is accepted for POST /process/stats") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    std::string pid = std::to_string(getpid());
    // Chunks of 1 byte, an extension, upper-case hex and a trailer.
    std::string req =
        "POST /process/stats HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    req += "1\r\n{\r\n";
    req += "A;ext=1\r\n\"pids\": [ \r\n";
    char hex[16];
    std::snprintf(hex, sizeof hex, "%zX", pid.size());
    req += std::string(hex) + "\r\n" + pid + "\r\n";
    req += "2\r\n]}\r\n0\r\nX-Trailer: t\r\n\r\n";
    RawConn c = RawConn::unix_socket(d.socket_path());
    REQUIRE(c.send(req));
    auto r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(contains(r->body, my_pid_key()));
    // The connection stays usable.
    REQUIRE(c.send(get("/debug/stats")));
    r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    // curl sends chunked when told to.
    auto [rc, out] = rp::test::run_command(
        "curl -s --max-time 3 -H 'Transfer-Encoding: chunked' -d '" + pids_body(getpid()) +
        "' --unix-socket " + d.socket_path() + " http://sysprobe/process/stats");
    CHECK(rc == 0);
    CHECK(contains(out, my_pid_key()));
}

TEST_CASE("http: Expect: 100-continue gets 100 Continue before the body is sent") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    std::string body = pids_body(getpid());
    RawConn c = RawConn::unix_socket(d.socket_path());
    REQUIRE(c.send(
        "POST /process/stats HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n"));
    auto cont = c.read_response(2000ms);
    REQUIRE(cont.has_value());
    CHECK(cont->status == 100);
    CHECK(cont->status_line == "HTTP/1.1 100 Continue");
    REQUIRE(c.send(body));
    auto r = c.read_response();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(contains(r->body, my_pid_key()));

    // Over the body limit: 413 instead of 100 Continue.
    RawConn big = RawConn::unix_socket(d.socket_path());
    REQUIRE(big.send(
        "POST /process/stats HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"));
    auto r413 = big.read_response();
    REQUIRE(r413.has_value());
    CHECK(r413->status == 413);

    // curl -d with a body over 1 KiB sends Expect: 100-continue and would wait ~1 s without it.
    std::string padded = body;
    padded.resize(2000, ' ');
    std::string file = d.dir() + "/body.json";
    {
        std::ofstream f(file);
        f << padded;
    }
    auto t0 = Clock::now();
    auto [rc, out] = rp::test::run_command("curl -s --max-time 5 -d @" + file + " --unix-socket " +
                                           d.socket_path() + " http://sysprobe/process/stats");
    long took = elapsed_ms(t0);
    CHECK(rc == 0);
    CHECK(contains(out, my_pid_key()));
    CHECK(took < 700);
}

TEST_CASE("http: the debug TCP port serves the same routes as the socket") {
    Daemon d(http_daemon());
    REQUIRE(d.ready());
    rp::http::Client c(d.tcp_endpoint(), 3000ms);
    auto r = c.post("/modules/process/stats", pids_body(getpid()));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(contains(r->body, my_pid_key()));
    r = c.get("/process/stats");
    REQUIRE(r.has_value());
    CHECK(r->status == 405);
    auto [rc, out] = rp::test::run_command(
        "curl -s --max-time 3 http://127.0.0.1:" + std::to_string(d.port()) + "/debug/stats");
    CHECK(rc == 0);
    CHECK(out.starts_with("{\"process\":"));
}
