// procfs.h — the /proc reads discovery makes for one process, with caller-owned buffers: nothing
// here allocates once the buffers have grown (docs/modules/discovery.md, "Cost").
//
// Every read goes through the process's /proc/<pid> directory fd (PidDir) with *at() calls, so a
// path is resolved once per process, not once per file. A process that exits in the middle of a
// read simply yields "nothing" (ENOENT/ESRCH): discovery skips it, as system-probe does.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "http/buffer.h"

namespace rp::modules::discovery {

// An O_PATH fd of /proc/<pid>; closed by the destructor.
class PidDir {
  public:
    PidDir() = default;
    ~PidDir();
    PidDir(const PidDir&) = delete;
    PidDir& operator=(const PidDir&) = delete;
    // False when the process does not exist (or pid cannot be one).
    bool open(int pid);
    void close();
    int fd() const { return fd_; }
    int pid() const { return pid_; }

  private:
    int fd_ = -1;
    int pid_ = 0;
};

// Reads at most `cap` bytes of `name` (relative to `dirfd`) into `buf`; returns the number of
// bytes, or -errno.
ssize_t read_small(int dirfd, const char* name, char* buf, size_t cap);
// Reads the whole file into `out` (replacing its content), at most `max_bytes`; sets
// *truncated when the file is longer. Returns false when it cannot be opened or read.
bool read_all(int dirfd, const char* name, http::Buffer& out, size_t max_bytes,
              bool* truncated = nullptr);
// readlinkat into buf (not NUL-terminated); returns the length, or -errno. A target longer than
// cap is reported as -ENAMETOOLONG.
ssize_t read_link(int dirfd, const char* name, char* buf, size_t cap);

// Low-level pieces of for_each_line.
int open_for_lines(int dirfd, const char* name);    // O_RDONLY|O_CLOEXEC, -1 on failure
ssize_t read_chunk(int fd, char* buf, size_t cap);  // read(), EINTR retried
void close_fd(int fd);

// Calls fn(line) for every line of the file (without '\n'), reading through `chunk` (its size is
// the longest line handled whole; longer lines are passed in pieces). Stops when fn returns false
// or after max_bytes. Returns false when the file cannot be opened.
template <typename Fn>
bool for_each_line(int dirfd, const char* name, std::vector<char>& chunk, size_t max_bytes,
                   Fn&& fn);

// What the links of /proc/<pid>/fd say (system-probe's getOpenFilesInfo).
struct LogCandidate {
    int fd;
    uint32_t path_off, path_len;  // in OpenFiles::paths
    int32_t flags;                // the file's open flags when known (-1: read fdinfo)
};
struct OpenFiles {
    std::vector<uint64_t> sockets;   // inodes of socket:[N] links, at most kMaxSockets
    std::vector<LogCandidate> logs;  // *.log and /var/log/ files (not yet checked for O_APPEND)
    http::Buffer paths;              // the log candidates' paths, back to back
    int tracer_memfd = -1;           // fd of /memfd:datadog-tracer-info-*
    int language_memfd = -1;         // fd of /memfd:dd_language_detected
    bool gpu_device = false;         // a link to /dev/nvidia*
    uint64_t fds = 0;                // entries seen
    uint64_t sockets_dropped = 0;    // socket links beyond kMaxSockets
    uint64_t logs_dropped = 0;       // log candidates beyond kMaxLogCandidates

    static constexpr size_t kMaxSockets = 65536;
    static constexpr size_t kMaxLogCandidates = 64;

    void clear();
    void add_log(int fd, std::string_view path, int32_t flags = -1);
    std::string_view path(const LogCandidate& c) const {
        return {paths.data() + c.path_off, c.path_len};
    }
};
// Opens /proc/<pid>/fd (O_DIRECTORY); -1 when the process is gone (or cannot be read).
int open_fd_dir(int pid);
// Lists the fd directory `fd_dir` (open_fd_dir) and classifies every link.
void scan_open_files(int fd_dir, OpenFiles& out);
// Whether a getdents64 that returned `got` bytes into a buffer of `cap` reached the end of a
// /proc/<pid>/fd listing: procfs stops filling only when the next entry (at most 32 bytes for a
// decimal fd name) does not fit, so room to spare means nothing is left; the call that would
// return 0 is saved.
inline bool fd_listing_done(long got, size_t cap) {
    return got <= 0 || cap - static_cast<size_t>(got) >= 64;
}

// Classification of one fd link target, exposed for tests.
enum class FdKind : uint8_t { other, socket, log, tracer_memfd, language_memfd, gpu_device };
FdKind classify_fd_link(std::string_view target, uint64_t* socket_inode);
bool is_log_file_path(std::string_view path);

// flags of /proc/<pid>/fdinfo/<fd> in write-and-append mode (O_WRONLY and O_APPEND set), as
// system-probe requires of a log file.
bool fd_is_append_only_write(int piddir, int fd);

// The command line: the arguments split at NUL, trailing NULs dropped; a single argument holding
// spaces (a process that rewrote its title: gunicorn -n, puma) is split at spaces instead
// (system-probe's Cmdline::new).
class Cmdline {
  public:
    // Parses `raw` (kept by reference: the views point into it).
    void parse(std::string_view raw);
    bool empty() const { return raw_.empty(); }
    size_t size() const { return args_.size(); }
    std::string_view operator[](size_t i) const { return args_[i]; }
    const std::vector<std::string_view>& args() const { return args_; }
    static constexpr size_t kMaxArgs = 8192;

  private:
    std::string_view raw_;
    std::vector<std::string_view> args_;
};

// The environment variables discovery reads (system-probe's TARGET_ENV_VARS), from
// /proc/<pid>/environ, streamed; each value kept up to kMaxValue bytes.
class TargetEnvs {
  public:
    enum Var : uint8_t {
        PWD,
        DD_SERVICE,
        DD_ENV,
        DD_VERSION,
        DD_TAGS,
        GUNICORN_CMD_ARGS,
        WSGI_APP,
        CORECLR_ENABLE_PROFILING,
        CATALINA_OPTS,
        JAVA_TOOL_OPTIONS,
        _JAVA_OPTIONS,
        JDK_JAVA_OPTIONS,
        JAVA_OPTIONS,
        JDPA_OPTS,
        SPRING_APPLICATION_NAME,
        SPRING_CONFIG_LOCATIONS,
        SPRING_CONFIG_NAME,
        SPRING_PROFILES_ACTIVE,
        kCount
    };
    static constexpr size_t kMaxValue = 4096;
    static constexpr size_t kMaxEnvironBytes = 1 << 20;

    // False when environ cannot be read (the process is then not reported, as upstream).
    bool read(int piddir, std::vector<char>& chunk);
    // Sets a value (tests).
    void set(Var v, std::string_view value);
    void clear();
    bool has(Var v) const { return len_[v] >= 0; }
    std::string_view get(Var v) const {
        return len_[v] < 0 ? std::string_view() : std::string_view(values_[v], len_[v]);
    }
    // By name (tests; the Java detector's variable list).
    static int index_of(std::string_view name);

  private:
    char values_[kCount][kMaxValue];
    int32_t len_[kCount] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
};

// One pass over /proc/<pid>/maps for everything discovery looks for in it.
struct MapsFacts {
    bool apm_injector = false;    // .../datadog-apm-inject/<v>/inject/launcher.preload.so
    bool nvidia_libs = false;     // libcuda.so, libcudart.so, libnvidia-ml.so, ...
    bool python_ddtrace = false;  // a path containing /ddtrace/
    bool dotnet_tracer = false;   // ends with Datadog.Trace.dll
    bool dotnet_runtime = false;  // ends with /System.Runtime.dll
};
bool scan_maps(int piddir, std::vector<char>& chunk, MapsFacts& out);
// The same test on one line of maps (tests).
void scan_maps_line(std::string_view line, MapsFacts& out);
bool is_apm_injector_path(std::string_view path);

// ---------------------------------------------------------------- implementation

template <typename Fn>
bool for_each_line(int dirfd, const char* name, std::vector<char>& chunk, size_t max_bytes,
                   Fn&& fn) {
    int fd = open_for_lines(dirfd, name);
    if (fd < 0) return false;
    size_t have = 0, total = 0;
    bool go = true;
    while (go && total < max_bytes) {
        ssize_t n = read_chunk(fd, chunk.data() + have, chunk.size() - have);
        if (n <= 0) break;
        total += static_cast<size_t>(n);
        size_t end = have + static_cast<size_t>(n), start = 0;
        for (size_t i = have; i < end && go; ++i) {
            if (chunk[i] != '\n') continue;
            go = fn(std::string_view(chunk.data() + start, i - start));
            start = i + 1;
        }
        if (!go) break;
        if (start == 0 && end == chunk.size()) {  // a line longer than the chunk: pass a piece
            go = fn(std::string_view(chunk.data(), end));
            have = 0;
            continue;
        }
        have = end - start;
        if (have > 0 && start > 0) std::memmove(chunk.data(), chunk.data() + start, have);
    }
    if (go && have > 0) fn(std::string_view(chunk.data(), have));
    close_fd(fd);
    return true;
}

}  // namespace rp::modules::discovery
