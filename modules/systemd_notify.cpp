// systemd_notify.cpp — see systemd_notify.h.
#include "modules/systemd_notify.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "loop/log.h"

namespace rp::modules {

SystemdNotifier::~SystemdNotifier() {
    watchdog_.cancel();
    if (fd_ >= 0) ::close(fd_);
}

std::string SystemdNotifier::open_from_environment() {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (const char* usec = std::getenv("WATCHDOG_USEC"); usec != nullptr && *usec != '\0') {
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(usec, usec + std::strlen(usec), v);
        const char* pid = std::getenv("WATCHDOG_PID");
        bool ours =
            pid == nullptr || *pid == '\0' || std::atol(pid) == static_cast<long>(::getpid());
        if (ec == std::errc() && *end == '\0' && v > 0 && ours) watchdog_usec_ = v;
    }
    if (path == nullptr || *path == '\0') return {};
    size_t len = std::strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr_.sun_path)
        return std::string("NOTIFY_SOCKET=") + path +
               ": not an absolute path or @abstract name shorter than 108 bytes";
    addr_.sun_family = AF_UNIX;
    std::memcpy(addr_.sun_path, path, len);
    if (path[0] == '@') addr_.sun_path[0] = '\0';  // abstract namespace
    addr_len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0)
        return std::string("socket(AF_UNIX, SOCK_DGRAM) for NOTIFY_SOCKET: ") +
               std::strerror(errno);
    return {};
}

void SystemdNotifier::notify(std::string_view message) {
    if (fd_ < 0) return;
    ssize_t n = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL,
                         reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
    if (n == static_cast<ssize_t>(message.size())) {
        ++sent_;
        return;
    }
    if (!error_logged_) {
        error_logged_ = true;
        LOG_WARN("systemd: notify on NOTIFY_SOCKET failed: %s (further failures not logged)",
                 n < 0 ? std::strerror(errno) : "short send");
    }
}

void SystemdNotifier::reloading(std::string_view status) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t usec =
        static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
    std::string m = "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
    if (!status.empty()) m += "\nSTATUS=" + std::string(status);
    notify(m);
}

void SystemdNotifier::start_watchdog(loop::Reactor& reactor) {
    if (fd_ < 0 || watchdog_usec_ == 0) return;
    uint64_t period_ms = watchdog_usec_ / 2000;
    if (period_ms == 0) period_ms = 1;
    watchdog_.init(reactor, [this] { notify("WATCHDOG=1"); });
    watchdog_.arm_every(period_ms);
    LOG_INFO("systemd: watchdog every %llu ms (WATCHDOG_USEC=%llu)",
             static_cast<unsigned long long>(period_ms),
             static_cast<unsigned long long>(watchdog_usec_));
}

}  // namespace rp::modules
