// signal_watch.cpp — see signal_watch.h.
#include "loop/signal_watch.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "loop/log.h"

namespace rp::loop {

SignalWatch::~SignalWatch() { stop(); }

std::string SignalWatch::start(Reactor& r, std::initializer_list<int> signals, Callback fn) {
    stop();
    reactor_ = &r;
    fn_ = std::move(fn);
    sigemptyset(&mask_);
    for (int s : signals) sigaddset(&mask_, s);
    if (sigprocmask(SIG_BLOCK, &mask_, nullptr) != 0)
        return std::string("sigprocmask: ") + std::strerror(errno);
    fd_ = signalfd(-1, &mask_, SFD_CLOEXEC);
    if (fd_ < 0) return std::string("signalfd: ") + std::strerror(errno);
    arm();
    if (!ref_) return "signalfd: no room in the reactor";
    return {};
}

void SignalWatch::arm() { ref_ = reactor_->read(this, 0, fd_, &info_, sizeof info_); }

void SignalWatch::stop() {
    if (reactor_ != nullptr && ref_) reactor_->cancel(ref_, Cancel::detach);
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
        sigprocmask(SIG_UNBLOCK, &mask_, nullptr);
    }
}

void SignalWatch::on_completion(uint32_t, const Completion& c) {
    ref_ = {};
    if (c.res == static_cast<int>(sizeof info_)) {
        int signo = static_cast<int>(info_.ssi_signo);
        arm();
        fn_(signo);
        return;
    }
    if (c.res == -EAGAIN || c.res == -EINTR) {
        arm();
        return;
    }
    if (c.res != -ECANCELED) LOG_ERROR("signalfd read: %s", std::strerror(-c.res));
}

}  // namespace rp::loop
