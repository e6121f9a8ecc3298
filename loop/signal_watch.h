// signal_watch.h — signals delivered through a signalfd read in the reactor.
//
// The watched signals are blocked for the whole process (so the default action never runs) and
// arrive as ordinary completions on the loop: SIGTERM/SIGINT → graceful stop, SIGHUP → reload hook.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

#include <functional>
#include <initializer_list>
#include <string>

#include "loop/reactor.h"

namespace rp::loop {

class SignalWatch final : private Handler {
public:
    using Callback = std::function<void(int signo)>;
    SignalWatch() = default;
    ~SignalWatch();
    SignalWatch(const SignalWatch&) = delete;
    SignalWatch& operator=(const SignalWatch&) = delete;

    // Blocks `signals`, opens a signalfd for them and starts reading it. Returns an error text.
    std::string start(Reactor& r, std::initializer_list<int> signals, Callback fn);
    void stop();

private:
    void on_completion(uint32_t tag, const Completion& c) override;
    void arm();
    Reactor* reactor_ = nullptr;
    int fd_ = -1;
    sigset_t mask_{};
    Callback fn_;
    OpRef ref_;
    signalfd_siginfo info_{};
};

}  // namespace rp::loop
