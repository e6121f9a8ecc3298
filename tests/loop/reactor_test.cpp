// reactor_test.cpp — the io_uring loop: ops with owners, multishot poll, timers, signals, cancel.
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <vector>

#include "loop/reactor.h"
#include "loop/signal_watch.h"
#include "loop/timer.h"

using namespace rp::loop;

namespace {

std::unique_ptr<Reactor> make() {
    auto r = Reactor::create();
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error()));
    return std::move(*r);
}

struct Recorder final : Handler {
    std::vector<std::pair<uint32_t, int>> seen;
    void on_completion(uint32_t tag, const Completion& c) override { seen.emplace_back(tag, c.res); }
};

}  // namespace

TEST_CASE("reactor: a send and a recv on a socketpair complete to their owners with their tags") {
    auto r = make();
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    Recorder rec;
    const char msg[] = "hello";
    REQUIRE(r->send(&rec, 7, sv[0], msg, 5));
    OpRef recv = r->recv_multishot(&rec, 9, sv[1]);
    REQUIRE(recv);
    for (int i = 0; i < 10 && rec.seen.size() < 2; ++i) r->run_once(100);
    REQUIRE(rec.seen.size() == 2);
    bool saw_send = false, saw_recv = false;
    for (auto [tag, res] : rec.seen) {
        if (tag == 7) saw_send = res == 5;
        if (tag == 9) saw_recv = res == 5;
    }
    CHECK(saw_send);
    CHECK(saw_recv);
    CHECK(r->armed(recv));  // multishot stays armed
    r->cancel(recv);
    CHECK_FALSE(recv.valid());
    close(sv[0]);
    close(sv[1]);
}

TEST_CASE("reactor: a detached op never calls its owner again") {
    auto r = make();
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    {
        auto rec = std::make_unique<Recorder>();
        OpRef ref = r->recv_multishot(rec.get(), 1, sv[1]);
        r->run_once(0);
        r->cancel(ref);
        rec.reset();  // the owner is gone: ASan would catch a callback into it
    }
    REQUIRE(write(sv[0], "x", 1) == 1);
    for (int i = 0; i < 5; ++i) r->run_once(20);
    CHECK(r->counters().ops_in_flight == 0);
    close(sv[0]);
    close(sv[1]);
}

TEST_CASE("reactor: cancel with notify delivers the final completion") {
    auto r = make();
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    Recorder rec;
    OpRef ref = r->recv_multishot(&rec, 3, sv[1]);
    r->run_once(0);
    r->cancel(ref, Cancel::notify);
    for (int i = 0; i < 5 && rec.seen.empty(); ++i) r->run_once(50);
    REQUIRE(rec.seen.size() == 1);
    CHECK(rec.seen[0].second == -ECANCELED);
    close(sv[0]);
    close(sv[1]);
}

TEST_CASE("reactor: FdWatch fires on every readiness of an eventfd and stops cleanly") {
    auto r = make();
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int fired = 0;
    FdWatch w;
    REQUIRE(w.start(*r, efd, POLLIN, [&](int res) {
        CHECK(res > 0);
        uint64_t v;
        CHECK(read(efd, &v, sizeof v) == 8);
        ++fired;
    }));
    for (int round = 1; round <= 3; ++round) {
        uint64_t one = 1;
        REQUIRE(write(efd, &one, sizeof one) == 8);
        for (int i = 0; i < 10 && fired < round; ++i) r->run_once(50);
        CHECK(fired == round);
    }
    w.stop();
    CHECK_FALSE(w.active());
    uint64_t one = 1;
    REQUIRE(write(efd, &one, sizeof one) == 8);
    for (int i = 0; i < 3; ++i) r->run_once(20);
    CHECK(fired == 3);
    close(efd);
}

TEST_CASE("timer: one-shot and repeating timers fire in deadline order; cancel stops them") {
    auto r = make();
    std::vector<int> order;
    Timer a(*r, [&] { order.push_back(1); });
    Timer b(*r, [&] { order.push_back(2); });
    Timer rep(*r, [&] { order.push_back(3); });
    Timer never(*r, [&] { order.push_back(99); });
    b.arm_after(30);
    a.arm_after(10);
    rep.arm_every(25);
    never.arm_after(20);
    never.cancel();
    CHECK_FALSE(never.armed());
    for (int i = 0; i < 50 && order.size() < 5; ++i) r->run_once(100);
    rep.cancel();
    REQUIRE(order.size() >= 5);
    CHECK(order[0] == 1);
    CHECK(order[1] == 3);  // 25 ms
    CHECK(order[2] == 2);  // 30 ms
    CHECK(order[3] == 3);  // 50 ms
    for (int v : order) CHECK(v != 99);
    CHECK(r->counters().timers_armed == 0);
}

TEST_CASE("timer: with no timer armed the loop blocks (no wake-up) until an event") {
    auto r = make();
    auto before = r->counters().loop_turns;
    // run_once(200) with nothing to do returns after the timeout: exactly one turn.
    r->run_once(200);
    CHECK(r->counters().loop_turns == before + 1);
    CHECK(r->counters().completions == 0);
}

TEST_CASE("signals: SIGHUP arrives as a completion on the loop") {
    auto r = make();
    int got = 0;
    SignalWatch s;
    REQUIRE(s.start(*r, {SIGHUP}, [&](int signo) { got = signo; }).empty());
    r->run_once(0);
    kill(getpid(), SIGHUP);
    for (int i = 0; i < 10 && got == 0; ++i) r->run_once(50);
    CHECK(got == SIGHUP);
    s.stop();
}

TEST_CASE("reactor: stop() ends run() from inside a callback") {
    auto r = make();
    Timer t(*r, [&] { r->stop(); });
    t.arm_after(5);
    CHECK(r->run() == 0);
    CHECK(r->stopping());
}
