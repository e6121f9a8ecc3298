// proc_root.h — what the compliance module reads about a process and inside its file system: the
// process's name, exe, command line, ids, working directory and container id from /proc, and
// files under its root (/proc/<pid>/root) resolved as the process itself would resolve them.
//
// Files are opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to
// /proc/<pid>/root: an absolute symlink or a ".." inside a container stays inside the container's
// root (a plain path walk through /proc/<pid>/root would follow an absolute link out to the
// host's files). Globs are matched directory by directory through the same rooted opens. Paths
// follow Go's path/filepath rules (Clean, Join, Dir, Ext), as system-probe's loader does.
//
// Needs: Linux >= 5.6 (openat2); without it no file can be read (the resource is not found).
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rp::modules::compliance {

// Go's filepath.Clean / Join / Dir / Ext / Base on Linux paths.
std::string path_clean(std::string_view p);
std::string path_join(std::string_view a, std::string_view b);
std::string path_dir(std::string_view p);
std::string_view path_ext(std::string_view p);
std::string_view path_base(std::string_view p);
inline bool path_is_abs(std::string_view p) { return !p.empty() && p.front() == '/'; }

struct ProcessInfo {
    int pid = 0;
    std::string name;  // gopsutil's Name(): status Name, completed from argv[0] at 15+ bytes
    std::string exe;   // readlink /proc/<pid>/exe, " (deleted)" removed
    std::vector<std::string> cmdline;
    uint32_t uids[4] = {}, gids[4] = {};  // real, effective, saved, fs
    bool ids_known = false;
    std::string cwd;  // readlink /proc/<pid>/cwd ("" when unreadable)
};

// The process, or nullopt when it does not exist (or vanished while being read).
std::optional<ProcessInfo> read_process(int pid);

// "container id" as the Agent finds it in /proc/<pid>/cgroup ("" when none).
std::string process_container_id(int pid);

// Names of uids and gids in the host's /etc/passwd and /etc/group (read on each call; the files
// are small and the route is not hot), or nullopt.
std::optional<std::string> user_name(uint32_t uid);
std::optional<std::string> group_name(uint32_t gid);

// What one request may read: files are capped at max_file_bytes each (the rest is ignored, as
// system-probe's io.LimitReader does); more than max_files files or max_total_bytes bytes in all
// makes further reads fail (counted: budget_exceeded).
struct ReadBudget {
    size_t max_file_bytes = 1 << 20;
    size_t max_files = 256;
    size_t max_total_bytes = 32u << 20;
    size_t files = 0;
    size_t bytes = 0;
    bool exceeded = false;
    size_t truncated = 0;  // files longer than max_file_bytes
};

struct FileData {
    std::string bytes;
    struct stat st {};
};

// The root directory of a process, opened once per request.
class ProcRoot {
  public:
    ProcRoot() = default;
    ProcRoot(ProcRoot&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    ProcRoot& operator=(ProcRoot&& o) noexcept;
    ~ProcRoot();
    ProcRoot(const ProcRoot&) = delete;
    ProcRoot& operator=(const ProcRoot&) = delete;

    // /proc/<pid>/root as an O_PATH directory; the error is an errno value.
    static std::expected<ProcRoot, int> open(int pid);

    // Opens `path` (absolute or relative: both from the process's root) inside the root; -errno.
    int open_file(std::string_view path, int flags) const;
    // Go's filepath.Glob of an absolute pattern inside the root: sorted per directory, the paths
    // as the process sees them. A relative pattern matches nothing (system-probe's RootedGlob).
    std::vector<std::string> glob(std::string_view pattern) const;

    // system-probe's utils.ReadProcessFileLimit: `path` must be a regular, non-executable file
    // the process's effective ids may read (root-owned files must be world-readable); its first
    // budget.max_file_bytes bytes. The error says why.
    std::expected<FileData, std::string> read_file(const ProcessInfo& proc, std::string_view path,
                                                   ReadBudget& budget) const;

  private:
    int fd_ = -1;
};

}  // namespace rp::modules::compliance
