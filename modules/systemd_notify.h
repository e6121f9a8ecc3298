// systemd_notify.h — SystemdNotifier: the service manager's notification protocol (sd_notify(3)),
// spoken directly: one datagram per message on the AF_UNIX socket named by $NOTIFY_SOCKET (a path,
// or "@name" for the abstract namespace). Without $NOTIFY_SOCKET (not under systemd, or a unit
// that is not Type=notify) every call does nothing.
//
// The daemon sends READY=1 once the listeners are up and the modules created, STATUS=<one line>,
// RELOADING=1 with MONOTONIC_USEC on SIGHUP (then READY=1 again), STOPPING=1 on SIGTERM. With
// $WATCHDOG_USEC set (WatchdogSec= in the unit; $WATCHDOG_PID, when set, must be this process)
// start_watchdog() sends WATCHDOG=1 from a reactor timer every half period: a loop that stops
// turning stops the pings and systemd restarts the service. Without it no timer is armed (an idle
// daemon still makes no wake-up).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "loop/reactor.h"
#include "loop/timer.h"

namespace rp::modules {

class SystemdNotifier {
  public:
    SystemdNotifier() = default;
    ~SystemdNotifier();
    SystemdNotifier(const SystemdNotifier&) = delete;
    SystemdNotifier& operator=(const SystemdNotifier&) = delete;

    // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID. Returns an error text for a
    // $NOTIFY_SOCKET that cannot be used (the daemon logs it and goes on without notifying).
    std::string open_from_environment();
    bool active() const { return fd_ >= 0; }
    // Sends one message ("READY=1\nSTATUS=..."). Errors are logged once.
    void notify(std::string_view message);
    // "RELOADING=1\nMONOTONIC_USEC=<now>".
    void reloading(std::string_view status);
    // The watchdog period asked for ($WATCHDOG_USEC), 0 when none.
    uint64_t watchdog_usec() const { return watchdog_usec_; }
    // Starts the WATCHDOG=1 timer when a watchdog period was asked for.
    void start_watchdog(loop::Reactor& reactor);
    uint64_t sent() const { return sent_; }

  private:
    int fd_ = -1;
    sockaddr_un addr_{};
    socklen_t addr_len_ = 0;
    uint64_t watchdog_usec_ = 0;
    loop::Timer watchdog_;
    uint64_t sent_ = 0;
    bool error_logged_ = false;
};

}  // namespace rp::modules
