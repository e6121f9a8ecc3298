// listener.cpp — see listener.h.
#include "http/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include "loop/log.h"

namespace rp::http {
namespace {

constexpr int kBacklog = 1024;
constexpr uint64_t kBindRetryStepMs = 50;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::expected<void, std::string> make_parents(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == 0 || slash == std::string::npos) return {};
    std::string dir = path.substr(0, slash);
    struct stat st {};
    if (stat(dir.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return std::unexpected("socket directory " + dir + " is not a directory");
        return {};
    }
    if (auto r = make_parents(dir); !r) return r;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return std::unexpected(errno_text("create socket directory " + dir));
    return {};
}

template <typename T>
bool parse_id(const std::string& s, T& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

bool is_loopback_host(const std::string& host) {
    if (host == "localhost" || host == "::1") return true;
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    return false;
}

std::expected<int, std::string> listen_unix(const UnixListenOptions& opts) {
    const std::string& path = opts.path;
    sockaddr_un sa{};
    if (path.empty() || path.size() >= sizeof sa.sun_path)
        return std::unexpected("unix socket path \"" + path + "\" is empty or longer than " +
                               std::to_string(sizeof sa.sun_path - 1) + " bytes");
    if (auto r = make_parents(path); !r) return std::unexpected(r.error());
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return std::unexpected("refusing to start: " + path + " exists and is not a socket");
        if (unlink(path.c_str()) != 0)
            return std::unexpected(errno_text("unlink stale socket " + path));
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return std::unexpected(errno_text("socket(AF_UNIX)"));
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    // Create the socket with no access for anyone, then open it up: no window with a wider mode.
    mode_t old = umask(0777);
    int rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int bind_errno = errno;
    umask(old);
    if (rc != 0) {
        errno = bind_errno;
        std::string e = errno_text("bind " + path);
        ::close(fd);
        return std::unexpected(e);
    }
    auto fail = [&](const std::string& what) -> std::expected<int, std::string> {
        std::string e = errno_text(what);
        ::close(fd);
        unlink(path.c_str());
        return std::unexpected(e);
    };
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!opts.owner.empty()) {
        if (!parse_id(opts.owner, uid)) {
            passwd* pw = getpwnam(opts.owner.c_str());
            if (pw == nullptr) {
                errno = ENOENT;
                return fail("socket owner \"" + opts.owner + "\" (no such user)");
            }
            uid = pw->pw_uid;
        }
    }
    if (!opts.group.empty()) {
        if (!parse_id(opts.group, gid)) {
            group* gr = getgrnam(opts.group.c_str());
            if (gr == nullptr) {
                errno = ENOENT;
                return fail("socket group \"" + opts.group + "\" (no such group)");
            }
            gid = gr->gr_gid;
        }
    }
    if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) &&
        chown(path.c_str(), uid, gid) != 0)
        return fail("chown " + path);
    if (chmod(path.c_str(), opts.mode) != 0) return fail("chmod " + path);
    if (listen(fd, kBacklog) != 0) return fail("listen " + path);
    return fd;
}

std::expected<int, std::string> listen_tcp(const std::string& host_in, int port,
                                           uint64_t retry_ms) {
    std::string host = host_in == "localhost" ? "127.0.0.1" : host_in;
    sockaddr_storage ss{};
    socklen_t len;
    int family;
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
        family = AF_INET;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(static_cast<uint16_t>(port));
        len = sizeof *s4;
    } else if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
        family = AF_INET6;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(static_cast<uint16_t>(port));
        len = sizeof *s6;
    } else {
        return std::unexpected("debug listener address \"" + host_in +
                               "\" is not a numeric IPv4/IPv6 address or localhost");
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return std::unexpected(errno_text("socket(AF_INET)"));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    std::string where = host + ":" + std::to_string(port);
    // EADDRINUSE right after a kill -9 of the previous daemon: its ring still holds the listening
    // socket until the kernel's io_uring teardown has run (a moment later), and SO_REUSEADDR does
    // not cover a socket still in LISTEN. Retry for a bounded time, so that a supervisor that
    // restarts at once does not see a crash loop; a port that stays taken is still an error.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(retry_ms);
    bool logged = false;
    while (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        int err = errno;
        if (err != EADDRINUSE || std::chrono::steady_clock::now() >= deadline) {
            errno = err;
            std::string e = errno_text("bind tcp " + where);
            if (err == EADDRINUSE && retry_ms > 0)
                e += " (still in use after retrying for " + std::to_string(retry_ms) + " ms)";
            ::close(fd);
            return std::unexpected(e);
        }
        if (!logged) {
            LOG_WARN(
                "bind tcp %s: address in use; retrying for up to %llu ms (a previous instance "
                "may still be closing it)",
                where.c_str(), static_cast<unsigned long long>(retry_ms));
            logged = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(kBindRetryStepMs));
    }
    if (logged) LOG_INFO("bind tcp %s: bound after retrying", where.c_str());
    if (listen(fd, kBacklog) != 0) {
        std::string e = errno_text("listen tcp " + where);
        ::close(fd);
        return std::unexpected(e);
    }
    return fd;
}

}  // namespace rp::http
