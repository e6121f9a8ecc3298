// timer.h — one-shot and repeating timers on the reactor.
//
// Timers live in a user-space binary heap; the reactor sleeps until the earliest deadline (passed as
// the wait timeout of io_uring_submit_and_wait_timeout), so timers cost no SQE and an idle daemon
// with no armed timer never wakes up. Resolution: 1 ms.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "loop/reactor.h"

namespace rp::loop {

class Timer {
public:
    using Callback = std::function<void()>;
    Timer() = default;
    Timer(Reactor& r, Callback fn) : reactor_(&r), fn_(std::move(fn)) {}
    ~Timer() { cancel(); }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void init(Reactor& r, Callback fn) {
        cancel();
        reactor_ = &r;
        fn_ = std::move(fn);
    }
    // (Re)arms the timer to fire once after delay_ms.
    void arm_after(uint64_t delay_ms);
    // (Re)arms the timer to fire every period_ms (first time after period_ms).
    void arm_every(uint64_t period_ms);
    void cancel();
    bool armed() const { return heap_index_ != kNotArmed; }
    uint64_t deadline_ms() const { return deadline_ms_; }

private:
    friend class Reactor::TimerHeap;
    static constexpr size_t kNotArmed = SIZE_MAX;
    Reactor* reactor_ = nullptr;
    Callback fn_;
    uint64_t deadline_ms_ = 0;
    uint64_t period_ms_ = 0;
    size_t heap_index_ = kNotArmed;
};

class Reactor::TimerHeap {
public:
    void push(Timer* t);
    void remove(Timer* t);
    // Ms until the earliest deadline (0 if due), or -1 when no timer is armed.
    int64_t next_timeout_ms(uint64_t now_ms) const;
    // Fires every due timer (repeating ones are re-armed before their callback runs).
    void fire_due(uint64_t now_ms);
    size_t size() const { return heap_.size(); }

private:
    void sift_up(size_t i);
    void sift_down(size_t i);
    void swap_at(size_t a, size_t b);
    std::vector<Timer*> heap_;
};

}  // namespace rp::loop
