// event_stream_test.cpp — kit::EventStreams (GET /<module>/events) against the real http::Server
// on socketpairs, in one thread: lines arrive as they are published, a client that does not read
// loses events with one counted {"lost":N} line and stalls nobody, a client that leaves is
// forgotten, max_streams is enforced with 429, end_all() ends the chunked body properly and
// destroying the feed closes its connections. Also kit::SeriesCounters and loop::CpuScope.
#include "modules/kit/event_stream.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/server.h"
#include "loop/cpu_account.h"
#include "loop/reactor.h"
#include "modules/kit/series_counters.h"

using namespace rp;
using namespace std::chrono_literals;

namespace {

// One client connection: what it read, de-chunked as far as it goes.
struct Client {
    int fd = -1;
    std::string raw;   // bytes read, head and chunk framing included
    std::string body;  // de-chunked body so far
    bool head_done = false;
    bool ended = false;  // the terminating chunk arrived
    bool eof = false;
    int status = 0;
    size_t parsed = 0;  // offset in raw up to which chunks were decoded

    void read_now() {
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0) {
                raw.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n == 0) eof = true;
            break;
        }
        decode();
    }
    void decode() {
        if (!head_done) {
            size_t end = raw.find("\r\n\r\n");
            if (end == std::string::npos) return;
            status = std::atoi(raw.c_str() + 9);
            head_done = true;
            parsed = end + 4;
        }
        while (!ended) {
            size_t nl = raw.find("\r\n", parsed);
            if (nl == std::string::npos) return;
            size_t n = std::stoul(raw.substr(parsed, nl - parsed), nullptr, 16);
            if (raw.size() < nl + 2 + n + 2) return;
            if (n == 0) {
                ended = true;
                return;
            }
            body.append(raw, nl + 2, n);
            parsed = nl + 2 + n + 2;
        }
    }
    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        size_t at = 0;
        for (size_t nl; (nl = body.find('\n', at)) != std::string::npos; at = nl + 1)
            out.push_back(body.substr(at, nl - at));
        return out;
    }
};

struct Rig {
    std::unique_ptr<loop::Reactor> reactor = std::move(*loop::Reactor::create());
    http::Router router;
    std::optional<http::Server> server;
    std::unique_ptr<modules::kit::EventStreams> feed;
    std::vector<bool> listening;  // every on_listening() call

    explicit Rig(modules::kit::EventStreamLimits limits) {
        server.emplace(*reactor, router, http::ServerLimits{});
        feed = std::make_unique<modules::kit::EventStreams>("test_module", limits);
        feed->on_listening([this](bool on) { listening.push_back(on); });
        feed->register_route(router.mount("test_module"));
    }
    ~Rig() {
        feed.reset();
        server.reset();
    }
    // A client that asked GET /test_module/events; `rcvbuf` > 0 shrinks both socket buffers.
    Client open(int rcvbuf = 0) {
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        if (rcvbuf > 0) {
            ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &rcvbuf, sizeof rcvbuf);
            ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        }
        server->adopt(sv[0]);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        Client c;
        c.fd = sv[1];
        const std::string req = "GET /test_module/events HTTP/1.1\r\nHost: sysprobe\r\n\r\n";
        REQUIRE(::write(c.fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
        return c;
    }
    bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 3000ms) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (pred()) return true;
            reactor->run_once(5);
        }
        return pred();
    }
    void turns(int n) {
        for (int i = 0; i < n; ++i) reactor->run_once(1);
    }
    void publish(int seq, size_t pad = 0) {
        feed->publish([&](http::JsonWriter& w) {
            w.start_object();
            w.kv_int("seq", seq);
            if (pad > 0) w.kv("pad", std::string(pad, 'x'));
            w.end_object();
        });
    }
};

// The "seq" of an event line, or -1.
int seq_of(const std::string& line) {
    size_t at = line.find("\"seq\":");
    return at == std::string::npos ? -1 : std::atoi(line.c_str() + at + 6);
}

}  // namespace

TEST_CASE("events: each published event reaches every open stream as one NDJSON line, in order") {
    Rig rig({.max_streams = 4, .queue_bytes = 64 * 1024});
    Client a = rig.open(), b = rig.open();
    REQUIRE(rig.run_until([&] {
        a.read_now();
        b.read_now();
        return a.head_done && b.head_done;
    }));
    CHECK(a.status == 200);
    CHECK(a.raw.find("Transfer-Encoding: chunked") != std::string::npos);
    CHECK(a.raw.find("Content-Type: application/x-ndjson") != std::string::npos);
    CHECK(rig.feed->open_streams() == 2);
    CHECK(rig.listening == std::vector<bool>{true});

    for (int i = 0; i < 5; ++i) rig.publish(i);
    REQUIRE(rig.run_until([&] {
        a.read_now();
        b.read_now();
        return a.lines().size() == 5 && b.lines().size() == 5;
    }));
    for (int i = 0; i < 5; ++i) {
        CHECK(a.lines()[static_cast<size_t>(i)] == "{\"seq\":" + std::to_string(i) + "}");
        CHECK(b.lines()[static_cast<size_t>(i)] == a.lines()[static_cast<size_t>(i)]);
    }
    CHECK(rig.feed->lines() == 10);
    CHECK(rig.feed->lost() == 0);
    ::close(a.fd);
    ::close(b.fd);
    // Clients that leave are forgotten; with nobody listening, publish does not render at all.
    REQUIRE(rig.run_until([&] { return rig.feed->open_streams() == 0; }));
    CHECK(rig.listening == std::vector<bool>{true, false});
    bool rendered = false;
    rig.feed->publish([&](http::JsonWriter& w) {
        rendered = true;
        w.start_object();
        w.end_object();
    });
    CHECK_FALSE(rendered);
}

TEST_CASE("events: a reader that stops reading loses events, counted in one line; others keep up") {
    // 4 KiB socket buffers and a 16 KiB queue: the slow client holds a few dozen 300-byte lines.
    Rig rig({.max_streams = 4, .queue_bytes = 16 * 1024});
    Client slow = rig.open(4096), fast = rig.open();
    REQUIRE(rig.run_until([&] {
        slow.read_now();
        fast.read_now();
        return slow.head_done && fast.head_done;
    }));
    constexpr int kEvents = 2000;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kEvents; ++i) {
        rig.publish(i, 280);
        if (i % 50 == 0) {
            rig.turns(2);
            fast.read_now();  // the fast client reads as it goes; the slow one does not
        }
    }
    auto publish_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    CHECK(publish_ms < 2000);  // publishing never waited for the slow reader
    REQUIRE(rig.run_until([&] {
        fast.read_now();
        return fast.lines().size() == kEvents;
    }));
    CHECK(rig.feed->lost() > 0);

    // Now the slow client reads: what it gets is a prefix of the events, one {"lost":N} line
    // where the rest went, and N accounts for every missing event.
    REQUIRE(rig.run_until([&] {
        slow.read_now();
        std::vector<std::string> l = slow.lines();
        return !l.empty() && l.back().starts_with("{\"lost\":");
    }));
    std::vector<std::string> lines = slow.lines();
    size_t events = 0, lost_lines = 0;
    uint64_t lost = 0;
    int last = -1;
    for (const auto& l : lines) {
        if (l.starts_with("{\"lost\":")) {
            ++lost_lines;
            lost += std::stoull(l.substr(8));
            continue;
        }
        int s = seq_of(l);
        CHECK(s == last + 1);  // no gap before the loss line
        last = s;
        ++events;
    }
    CHECK(lost_lines == 1);
    CHECK(events + lost == kEvents);
    CHECK(lost == rig.feed->lost());
    MESSAGE("slow reader: " << events << " events, then {\"lost\":" << lost << "}");

    // Once it keeps up again, it gets new events normally.
    rig.publish(kEvents);
    REQUIRE(rig.run_until([&] {
        slow.read_now();
        return seq_of(slow.lines().back()) == kEvents;
    }));
    ::close(slow.fd);
    ::close(fast.fd);
}

TEST_CASE("events: max_streams at once, 429 beyond; end_all ends every stream properly") {
    Rig rig({.max_streams = 2, .queue_bytes = 8192});
    Client a = rig.open(), b = rig.open(), c = rig.open();
    REQUIRE(rig.run_until([&] {
        a.read_now();
        b.read_now();
        c.read_now();
        return a.head_done && b.head_done && c.head_done;
    }));
    CHECK(a.status == 200);
    CHECK(b.status == 200);
    CHECK(c.status == 429);
    rig.publish(7);
    rig.feed->end_all();
    REQUIRE(rig.run_until([&] {
        a.read_now();
        b.read_now();
        return a.ended && b.ended;
    }));
    CHECK(a.lines() == std::vector<std::string>{"{\"seq\":7}"});
    CHECK(b.lines() == a.lines());
    ::close(a.fd);
    ::close(b.fd);
    ::close(c.fd);
}

TEST_CASE("events: destroying the feed (module closed) closes its streams' connections") {
    Rig rig({.max_streams = 2, .queue_bytes = 8192});
    Client a = rig.open();
    REQUIRE(rig.run_until([&] {
        a.read_now();
        return a.head_done;
    }));
    rig.feed.reset();
    REQUIRE(rig.run_until([&] {
        a.read_now();
        return a.eof;
    }));
    CHECK_FALSE(a.ended);  // cut, not ended: the client must not take it for a complete body
    ::close(a.fd);
}

TEST_CASE("kit: SeriesCounters keeps at most max_series label sets, the rest under (other)") {
    modules::kit::SeriesCounters<2> c(2);
    c.add({"cgroup", "a"});
    c.add({"cgroup", "a"});
    c.add({"system", "b"});
    c.add({"cgroup", "c"}, 3);
    c.add({"cgroup", "d"});
    CHECK(c.size() == 3);
    CHECK(c.overflowed() == 4);
    constexpr http::MetricFamily f{"test_kills", http::MetricKind::counter, "Kills."};
    http::MetricsWriter w;
    c.write(w, f, {"trigger_type", "cgroup"});
    http::Buffer out;
    w.finish(out, http::MetricsFormat::text);
    std::string text(out.view());
    CHECK(text.find("test_kills_total{trigger_type=\"cgroup\",cgroup=\"a\"} 2\n") !=
          std::string::npos);
    CHECK(text.find("test_kills_total{trigger_type=\"(other)\",cgroup=\"(other)\"} 4\n") !=
          std::string::npos);
}

TEST_CASE("cpu account: scopes count only while enabled, and a nested scope adds nothing") {
    // 30 ms of this thread's own CPU time (not wall time: the machine may be busy).
    auto thread_ns = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
    };
    auto burn = [&] {
        volatile uint64_t x = 0;
        uint64_t until = thread_ns() + 30000000;
        while (thread_ns() < until) x = x + 1;
    };
    loop::CpuAccount a, inner;
    loop::CpuAccount::set_enabled(false);
    {
        loop::CpuScope s(&a);
        burn();
    }
    CHECK(a.scopes == 0);
    loop::CpuAccount::set_enabled(true);
    {
        loop::CpuScope s(&a);
        loop::CpuScope nested(&inner);
        burn();
    }
    loop::CpuAccount::set_enabled(false);
    CHECK(a.scopes == 1);
    CHECK(a.cpu_ns >= 30000000);
    CHECK(a.cpu_ns < 1000000000);
    CHECK(inner.scopes == 0);
    CHECK(inner.cpu_ns == 0);
}
