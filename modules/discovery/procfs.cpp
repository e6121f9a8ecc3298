// procfs.cpp — see procfs.h.
#include "modules/discovery/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

namespace rp::modules::discovery {

PidDir::~PidDir() { close(); }

bool PidDir::open(int pid) {
    close();
    if (pid <= 0) return false;
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d", pid);
    fd_ = ::open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    pid_ = pid;
    return fd_ >= 0;
}

void PidDir::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

int open_for_lines(int dirfd, const char* name) {
    return ::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

ssize_t read_chunk(int fd, char* buf, size_t cap) {
    for (;;) {
        ssize_t n = ::read(fd, buf, cap);
        if (n < 0 && errno == EINTR) continue;
        return n;
    }
}

void close_fd(int fd) { ::close(fd); }

ssize_t read_small(int dirfd, const char* name, char* buf, size_t cap) {
    int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -errno;
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read_chunk(fd, buf + got, cap - got);
        if (n < 0) {
            int err = errno;
            ::close(fd);
            return -err;
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    return static_cast<ssize_t>(got);
}

bool read_all(int dirfd, const char* name, http::Buffer& out, size_t max_bytes, bool* truncated) {
    out.clear();
    if (truncated != nullptr) *truncated = false;
    int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return false;
    bool ok = true;
    for (;;) {
        if (out.size() >= max_bytes) {
            char probe;
            if (truncated != nullptr) *truncated = read_chunk(fd, &probe, 1) > 0;
            break;
        }
        size_t want = std::min<size_t>(max_bytes - out.size(), 16384);
        out.reserve(out.size() + want);
        ssize_t n = read_chunk(fd, out.data() + out.size(), want);
        if (n < 0) {
            ok = false;
            break;
        }
        if (n == 0) break;
        out.resize(out.size() + static_cast<size_t>(n));
    }
    ::close(fd);
    return ok;
}

ssize_t read_link(int dirfd, const char* name, char* buf, size_t cap) {
    ssize_t n = ::readlinkat(dirfd, name, buf, cap);
    if (n < 0) return -errno;
    if (static_cast<size_t>(n) == cap) return -ENAMETOOLONG;
    return n;
}

// ---------------------------------------------------------------- open files

namespace {

// Path::starts_with of Rust: whole components ("/var/log" matches "/var/log" and "/var/log/x").
bool has_path_prefix(std::string_view path, std::string_view prefix) {
    if (!path.starts_with(prefix)) return false;
    return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::string_view file_name(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool parse_decimal(std::string_view s, int* out) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

bool is_log_file_path(std::string_view path) {
    // Files in /var/log are logs even without the .log extension; Kubernetes pod logs are
    // collected by other means.
    if (has_path_prefix(path, "/var/log")) return !has_path_prefix(path, "/var/log/pods");
    std::string_view name = file_name(path);
    // Docker's container logs are collected by other means.
    return name.ends_with(".log") && !has_path_prefix(path, "/var/lib/docker/containers");
}

FdKind classify_fd_link(std::string_view t, uint64_t* socket_inode) {
    if (t.starts_with("socket:[") && t.ends_with(']')) {
        std::string_view digits = t.substr(8, t.size() - 9);
        uint64_t ino = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ino);
        if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
            return FdKind::other;
        *socket_inode = ino;
        return FdKind::socket;
    }
    if (t.empty() || t.front() != '/') return FdKind::other;  // pipe:, anon_inode:, ...
    if (is_log_file_path(t)) return FdKind::log;
    if (t.starts_with("/memfd:datadog-tracer-info-")) return FdKind::tracer_memfd;
    if (t.starts_with("/memfd:dd_language_detected")) {
        std::string_view rest = t.substr(27);
        if (rest.empty() || rest.front() == ' ') return FdKind::language_memfd;
        return FdKind::other;
    }
    if (t.starts_with("/dev/nvidia")) return FdKind::gpu_device;
    return FdKind::other;
}

void OpenFiles::add_log(int fd, std::string_view path, int32_t flags) {
    if (logs.size() >= kMaxLogCandidates) {
        ++logs_dropped;
        return;
    }
    logs.push_back(
        {fd, static_cast<uint32_t>(paths.size()), static_cast<uint32_t>(path.size()), flags});
    paths.append(path);
}

void OpenFiles::clear() {
    sockets.clear();
    logs.clear();
    paths.clear();
    tracer_memfd = language_memfd = -1;
    gpu_device = false;
    fds = sockets_dropped = logs_dropped = 0;
}

int open_fd_dir(int pid) {
    if (pid <= 0) return -1;
    char path[40];
    std::snprintf(path, sizeof path, "/proc/%d/fd", pid);
    return ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

void scan_open_files(int dfd, OpenFiles& out) {
    out.clear();
    alignas(8) char dents[8192];
    char target[4096];
    for (bool done = false; !done;) {
        long got = syscall(SYS_getdents64, dfd, dents, sizeof dents);
        done = fd_listing_done(got, sizeof dents);
        if (got <= 0) break;
        for (long off = 0; off < got;) {
            auto* d = reinterpret_cast<struct dirent64*>(dents + off);
            off += d->d_reclen;
            int fd = 0;
            if (!parse_decimal(d->d_name, &fd)) continue;  // "." and ".."
            ++out.fds;
            ssize_t n = read_link(dfd, d->d_name, target, sizeof target);
            if (n <= 0) continue;  // closed meanwhile
            std::string_view t(target, static_cast<size_t>(n));
            uint64_t ino = 0;
            switch (classify_fd_link(t, &ino)) {
                case FdKind::socket:
                    if (out.sockets.size() < OpenFiles::kMaxSockets)
                        out.sockets.push_back(ino);
                    else
                        ++out.sockets_dropped;
                    break;
                case FdKind::log:
                    out.add_log(fd, t);
                    break;
                case FdKind::tracer_memfd:
                    out.tracer_memfd = fd;
                    break;
                case FdKind::language_memfd:
                    out.language_memfd = fd;
                    break;
                case FdKind::gpu_device:
                    out.gpu_device = true;
                    break;
                case FdKind::other:
                    break;
            }
        }
    }
}

bool fd_is_append_only_write(int piddir, int fd) {
    char name[32], buf[512];
    std::snprintf(name, sizeof name, "fdinfo/%d", fd);
    ssize_t n = read_small(piddir, name, buf, sizeof buf);
    if (n <= 0) return false;
    std::string_view text(buf, static_cast<size_t>(n));
    size_t at = text.find("flags:");
    if (at == std::string_view::npos || (at > 0 && text[at - 1] != '\n')) return false;
    std::string_view v = text.substr(at + 6);
    while (!v.empty() && (v.front() == '\t' || v.front() == ' ')) v.remove_prefix(1);
    unsigned flags = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), flags, 8);
    if (ec != std::errc() || end == v.data()) return false;
    return (flags & O_WRONLY) != 0 && (flags & O_APPEND) != 0;
}

// ---------------------------------------------------------------- command line

void Cmdline::parse(std::string_view raw) {
    while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
    raw_ = raw;
    args_.clear();
    if (raw.empty()) return;
    char sep = '\0';
    if (raw.find('\0') == std::string_view::npos && raw.find(' ') != std::string_view::npos)
        sep = ' ';
    size_t start = 0;
    while (start <= raw.size() && args_.size() < kMaxArgs) {
        size_t end = raw.find(sep, start);
        if (end == std::string_view::npos) {
            if (start < raw.size()) args_.push_back(raw.substr(start));
            break;
        }
        args_.push_back(raw.substr(start, end - start));
        start = end + 1;
    }
}

// ---------------------------------------------------------------- environment

namespace {
constexpr std::string_view kEnvNames[TargetEnvs::kCount] = {"PWD",
                                                            "DD_SERVICE",
                                                            "DD_ENV",
                                                            "DD_VERSION",
                                                            "DD_TAGS",
                                                            "GUNICORN_CMD_ARGS",
                                                            "WSGI_APP",
                                                            "CORECLR_ENABLE_PROFILING",
                                                            "CATALINA_OPTS",
                                                            "JAVA_TOOL_OPTIONS",
                                                            "_JAVA_OPTIONS",
                                                            "JDK_JAVA_OPTIONS",
                                                            "JAVA_OPTIONS",
                                                            "JDPA_OPTS",
                                                            "SPRING_APPLICATION_NAME",
                                                            "SPRING_CONFIG_LOCATIONS",
                                                            "SPRING_CONFIG_NAME",
                                                            "SPRING_PROFILES_ACTIVE"};
constexpr size_t kMaxEnvName = 32;
}  // namespace

int TargetEnvs::index_of(std::string_view name) {
    for (int i = 0; i < kCount; ++i)
        if (kEnvNames[i] == name) return i;
    return -1;
}

void TargetEnvs::clear() { std::fill(std::begin(len_), std::end(len_), -1); }

void TargetEnvs::set(Var v, std::string_view value) {
    size_t n = std::min(value.size(), kMaxValue);
    if (n != 0) std::memcpy(values_[v], value.data(), n);
    len_[v] = static_cast<int32_t>(n);
}

bool TargetEnvs::read(int piddir, std::vector<char>& chunk) {
    clear();
    int fd = open_for_lines(piddir, "environ");
    if (fd < 0) return false;
    // A small state machine over NUL-separated NAME=VALUE entries of any length: the name is
    // collected (up to kMaxEnvName bytes), then the value of a wanted name is copied.
    char name[kMaxEnvName];
    size_t name_len = 0;
    bool in_value = false, name_too_long = false;
    int target = -1;  // variable whose value is being copied
    size_t total = 0;
    bool ok = true;
    while (total < kMaxEnvironBytes) {
        ssize_t n = read_chunk(fd, chunk.data(), chunk.size());
        if (n < 0) ok = false;
        if (n <= 0) break;
        total += static_cast<size_t>(n);
        for (ssize_t i = 0; i < n; ++i) {
            char c = chunk[i];
            if (c == '\0') {
                name_len = 0;
                in_value = name_too_long = false;
                target = -1;
                continue;
            }
            if (in_value) {
                if (target >= 0 && len_[target] < static_cast<int32_t>(kMaxValue))
                    values_[target][len_[target]++] = c;
                continue;
            }
            if (c == '=') {
                in_value = true;
                target = name_too_long ? -1 : index_of(std::string_view(name, name_len));
                if (target >= 0) len_[target] = 0;  // a later duplicate wins, as upstream
                continue;
            }
            if (name_len < kMaxEnvName)
                name[name_len++] = c;
            else
                name_too_long = true;
        }
    }
    ::close(fd);
    return ok;
}

// ---------------------------------------------------------------- maps

bool is_apm_injector_path(std::string_view p) {
    constexpr std::string_view kPrefix = "/opt/datadog-packages/datadog-apm-inject/";
    constexpr std::string_view kSuffix = "/inject/launcher.preload.so";
    if (!p.starts_with(kPrefix)) return false;
    std::string_view rest = p.substr(kPrefix.size());
    size_t slash = rest.find('/');
    return slash != std::string_view::npos && slash > 0 && rest.substr(slash) == kSuffix;
}

void scan_maps_line(std::string_view line, MapsFacts& out) {
    size_t slash = line.find('/');
    if (slash == std::string_view::npos) return;  // anonymous, [heap], [stack], ...
    // The path is the last whitespace-separated field (system-probe's injector check).
    std::string_view tail = line;
    while (!tail.empty() && (tail.back() == ' ' || tail.back() == '\t')) tail.remove_suffix(1);
    size_t sp = tail.find_last_of(" \t");
    std::string_view last = sp == std::string_view::npos ? tail : tail.substr(sp + 1);
    if (!out.apm_injector && is_apm_injector_path(last)) out.apm_injector = true;
    std::string_view path = line.substr(slash);
    if (!out.python_ddtrace && path.find("/ddtrace/") != std::string_view::npos)
        out.python_ddtrace = true;
    if (!out.dotnet_tracer && line.ends_with("Datadog.Trace.dll")) out.dotnet_tracer = true;
    if (!out.dotnet_runtime && line.ends_with("/System.Runtime.dll")) out.dotnet_runtime = true;
    if (!out.nvidia_libs) {
        static constexpr std::string_view kGpuLibs[] = {
            "libcuda.so",  "libcudart.so", "libnvidia-ml.so", "libnvrtc.so",
            "libcudnn.so", "libcublas.so", "libnccl.so"};
        if (path.find("lib") != std::string_view::npos) {
            for (std::string_view lib : kGpuLibs) {
                if (path.find(lib) != std::string_view::npos) {
                    out.nvidia_libs = true;
                    break;
                }
            }
        }
    }
}

bool scan_maps(int piddir, std::vector<char>& chunk, MapsFacts& out) {
    out = {};
    return for_each_line(piddir, "maps", chunk, size_t{64} << 20, [&](std::string_view line) {
        scan_maps_line(line, out);
        return true;
    });
}

}  // namespace rp::modules::discovery
