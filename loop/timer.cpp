// timer.cpp — see timer.h.
#include "loop/timer.h"

namespace rp::loop {

void Timer::arm_after(uint64_t delay_ms) {
    if (reactor_ == nullptr) return;
    cancel();
    period_ms_ = 0;
    deadline_ms_ = reactor_->now_ms() + delay_ms;
    reactor_->timers().push(this);
}

void Timer::arm_every(uint64_t period_ms) {
    if (reactor_ == nullptr) return;
    cancel();
    period_ms_ = period_ms == 0 ? 1 : period_ms;
    deadline_ms_ = reactor_->now_ms() + period_ms_;
    reactor_->timers().push(this);
}

void Timer::cancel() {
    if (reactor_ != nullptr && armed()) reactor_->timers().remove(this);
}

void Reactor::TimerHeap::push(Timer* t) {
    t->heap_index_ = heap_.size();
    heap_.push_back(t);
    sift_up(t->heap_index_);
}

void Reactor::TimerHeap::remove(Timer* t) {
    size_t i = t->heap_index_;
    if (i >= heap_.size() || heap_[i] != t) return;
    size_t last = heap_.size() - 1;
    if (i != last) swap_at(i, last);
    heap_.pop_back();
    t->heap_index_ = Timer::kNotArmed;
    if (i < heap_.size()) {
        sift_up(i);
        sift_down(i);
    }
}

int64_t Reactor::TimerHeap::next_timeout_ms(uint64_t now_ms) const {
    if (heap_.empty()) return -1;
    uint64_t d = heap_.front()->deadline_ms_;
    return d <= now_ms ? 0 : static_cast<int64_t>(d - now_ms);
}

void Reactor::TimerHeap::fire_due(uint64_t now_ms) {
    // Bounded: a timer re-armed by its own callback for "now" fires on the next turn, not forever.
    size_t budget = heap_.size();
    while (!heap_.empty() && budget-- > 0) {
        Timer* t = heap_.front();
        if (t->deadline_ms_ > now_ms) break;
        remove(t);
        if (t->period_ms_ != 0) {
            t->deadline_ms_ = now_ms + t->period_ms_;
            push(t);
        }
        if (t->fn_) t->fn_();
    }
}

void Reactor::TimerHeap::swap_at(size_t a, size_t b) {
    std::swap(heap_[a], heap_[b]);
    heap_[a]->heap_index_ = a;
    heap_[b]->heap_index_ = b;
}

void Reactor::TimerHeap::sift_up(size_t i) {
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap_[parent]->deadline_ms_ <= heap_[i]->deadline_ms_) break;
        swap_at(i, parent);
        i = parent;
    }
}

void Reactor::TimerHeap::sift_down(size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_.size() && heap_[l]->deadline_ms_ < heap_[m]->deadline_ms_) m = l;
        if (r < heap_.size() && heap_[r]->deadline_ms_ < heap_[m]->deadline_ms_) m = r;
        if (m == i) break;
        swap_at(i, m);
        i = m;
    }
}

}  // namespace rp::loop
