// proc_root.cpp — see proc_root.h.
#include "modules/compliance/proc_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace rp::modules::compliance {

// --- Go's path/filepath on Linux.

std::string path_clean(std::string_view p) {
    if (p.empty()) return ".";
    const bool rooted = p.front() == '/';
    std::vector<std::string_view> parts;
    size_t i = 0;
    while (i < p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string_view::npos) j = p.size();
        std::string_view seg = p.substr(i, j - i);
        i = j + 1;
        if (seg.empty() || seg == ".") continue;
        if (seg == "..") {
            if (!parts.empty() && parts.back() != "..")
                parts.pop_back();
            else if (!rooted)
                parts.push_back(seg);
            continue;
        }
        parts.push_back(seg);
    }
    std::string out = rooted ? "/" : "";
    for (size_t k = 0; k < parts.size(); ++k) {
        if (k > 0) out += '/';
        out += parts[k];
    }
    return out.empty() ? "." : out;
}

std::string path_join(std::string_view a, std::string_view b) {
    if (a.empty() && b.empty()) return "";
    if (a.empty()) return path_clean(b);
    if (b.empty()) return path_clean(a);
    std::string s(a);
    s += '/';
    s += b;
    return path_clean(s);
}

std::string path_dir(std::string_view p) {
    size_t slash = p.rfind('/');
    std::string_view dir =
        slash == std::string_view::npos ? std::string_view() : p.substr(0, slash + 1);
    return path_clean(dir);
}

std::string_view path_ext(std::string_view p) {
    for (size_t i = p.size(); i > 0; --i) {
        if (p[i - 1] == '/') break;
        if (p[i - 1] == '.') return p.substr(i - 1);
    }
    return {};
}

std::string_view path_base(std::string_view p) {
    if (p.empty()) return ".";
    while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
    size_t slash = p.rfind('/');
    if (slash != std::string_view::npos && p.size() > 1) p = p.substr(slash + 1);
    return p;
}

// --- /proc.

namespace {

// Reads a whole small file (/proc entries); nullopt when it cannot be opened.
std::optional<std::string> read_small(const std::string& path, size_t max = 1 << 20) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
        if (out.size() >= max) break;
    }
    ::close(fd);
    return out;
}

std::string read_link(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// The four ids of a "Uid:" / "Gid:" line of /proc/<pid>/status.
bool parse_ids(std::string_view v, uint32_t (&out)[4]) {
    for (int i = 0; i < 4; ++i) {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        auto r = std::from_chars(v.data(), v.data() + v.size(), out[i]);
        if (r.ec != std::errc()) return false;
        v.remove_prefix(static_cast<size_t>(r.ptr - v.data()));
    }
    return true;
}

}  // namespace

std::optional<ProcessInfo> read_process(int pid) {
    if (pid <= 0) return std::nullopt;
    const std::string dir = "/proc/" + std::to_string(pid);
    auto status = read_small(dir + "/status");
    if (!status) return std::nullopt;
    ProcessInfo p;
    p.pid = pid;
    bool uid_ok = false, gid_ok = false;
    std::string_view text = *status;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view key = line.substr(0, colon), value = line.substr(colon + 1);
        if (key == "Name") {
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                value.remove_suffix(1);
            p.name = std::string(value);
        } else if (key == "Uid") {
            uid_ok = parse_ids(value, p.uids);
        } else if (key == "Gid") {
            gid_ok = parse_ids(value, p.gids);
        }
    }
    p.ids_known = uid_ok && gid_ok;
    if (auto cmd = read_small(dir + "/cmdline")) {
        std::string_view c = *cmd;
        while (!c.empty() && c.back() == '\0') c.remove_suffix(1);
        size_t i = 0;
        while (!c.empty() && i <= c.size()) {
            size_t j = c.find('\0', i);
            if (j == std::string_view::npos) j = c.size();
            p.cmdline.emplace_back(c.substr(i, j - i));
            i = j + 1;
        }
    }
    // gopsutil: a 15-byte (TASK_COMM_LEN - 1) name is completed from argv[0] when it starts so.
    if (p.name.size() >= 15 && !p.cmdline.empty()) {
        std::string_view ext = path_base(p.cmdline[0]);
        if (ext.starts_with(p.name)) p.name = std::string(ext);
    }
    p.exe = read_link(dir + "/exe");
    // A binary replaced by a package upgrade while the server runs: the kernel appends
    // " (deleted)"; the server is still the same program.
    constexpr std::string_view kDeleted = " (deleted)";
    if (p.exe.ends_with(kDeleted)) p.exe.resize(p.exe.size() - kDeleted.size());
    p.cwd = read_link(dir + "/cwd");
    if (::access(dir.c_str(), F_OK) != 0) return std::nullopt;  // vanished meanwhile
    return p;
}

namespace {

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

size_t hex_run(std::string_view s, size_t i) {
    size_t n = 0;
    while (i + n < s.size() && is_hex(s[i + n])) ++n;
    return n;
}

// The Agent's container id pattern, first match in `s` delimited by non-hex characters:
// [0-9a-fA-F]{64} | [0-9a-fA-F]{32}-\d+ (ECS) | [0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){4} (Garden).
std::string find_container_id(std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
        if (!is_hex(s[i]) || (i > 0 && is_hex(s[i - 1]))) continue;
        size_t run = hex_run(s, i);
        size_t end = 0;
        if (run == 64) {
            end = i + 64;
        } else if (run == 32 && i + 33 < s.size() && s[i + 32] == '-' &&
                   std::isdigit(static_cast<unsigned char>(s[i + 33]))) {
            end = i + 33;
            while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
        } else if (run == 8) {
            size_t k = i + 8;
            int groups = 0;
            while (groups < 4 && k < s.size() && s[k] == '-' && hex_run(s, k + 1) >= 4) {
                k += 5;
                ++groups;
            }
            if (groups == 4) end = k;
        }
        if (end != 0 && (end == s.size() || !is_hex(s[end])))
            return std::string(s.substr(i, end - i));
    }
    return {};
}

}  // namespace

std::string process_container_id(int pid) {
    auto text = read_small("/proc/" + std::to_string(pid) + "/cgroup");
    if (!text) return {};
    std::string_view t = *text;
    while (!t.empty()) {
        size_t nl = t.find('\n');
        std::string_view line = t.substr(0, nl);
        t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
        size_t c1 = line.find(':');
        size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string_view::npos) continue;
        std::string id = find_container_id(line.substr(c2 + 1));
        if (!id.empty()) return id;
    }
    return {};
}

namespace {

// Field 0 of the line of /etc/<file> whose field 2 is `id`.
std::optional<std::string> lookup_id(const char* file, uint32_t id) {
    auto text = read_small(file, 16u << 20);
    if (!text) return std::nullopt;
    std::string_view t = *text;
    while (!t.empty()) {
        size_t nl = t.find('\n');
        std::string_view line = t.substr(0, nl);
        t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
        if (line.empty() || line.front() == '#' || line.front() == '+' || line.front() == '-')
            continue;
        size_t c1 = line.find(':');
        size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        size_t c3 = c2 == std::string_view::npos ? c2 : line.find(':', c2 + 1);
        if (c3 == std::string_view::npos) continue;
        std::string_view field = line.substr(c2 + 1, c3 - c2 - 1);
        uint32_t v = 0;
        auto r = std::from_chars(field.data(), field.data() + field.size(), v);
        if (r.ec == std::errc() && r.ptr == field.data() + field.size() && v == id)
            return std::string(line.substr(0, c1));
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> user_name(uint32_t uid) { return lookup_id("/etc/passwd", uid); }
std::optional<std::string> group_name(uint32_t gid) { return lookup_id("/etc/group", gid); }

// --- the root.

ProcRoot& ProcRoot::operator=(ProcRoot&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

ProcRoot::~ProcRoot() {
    if (fd_ >= 0) ::close(fd_);
}

std::expected<ProcRoot, int> ProcRoot::open(int pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/root";
    int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno);
    ProcRoot r;
    r.fd_ = fd;
    return r;
}

int ProcRoot::open_file(std::string_view path, int flags) const {
    std::string rel = path_clean(path);
    if (rel == "/")
        rel = ".";
    else if (path_is_abs(rel))
        rel.erase(0, 1);
    struct open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (;;) {
        long fd = ::syscall(SYS_openat2, fd_, rel.c_str(), &how, sizeof how);
        if (fd >= 0) return static_cast<int>(fd);
        if (errno == EINTR || errno == EAGAIN) continue;  // EAGAIN: a rename raced the walk
        return -errno;
    }
}

namespace {

bool has_meta(std::string_view s) { return s.find_first_of("*?[\\") != std::string_view::npos; }

// Entry names of the directory open at `dfd` (consumed), sorted (Go sorts per directory).
std::vector<std::string> list_dir(int dfd) {
    std::vector<std::string> names;
    DIR* d = ::fdopendir(dfd);
    if (d == nullptr) {
        ::close(dfd);
        return names;
    }
    while (dirent* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        names.emplace_back(e->d_name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

std::vector<std::string> ProcRoot::glob(std::string_view pattern) const {
    std::vector<std::string> out;
    std::string pat = path_clean(pattern);
    if (!path_is_abs(pat)) return out;
    // Components before the first one with a meta character are taken as they are.
    std::vector<std::string> comps;
    for (size_t i = 1; i < pat.size();) {
        size_t j = pat.find('/', i);
        if (j == std::string::npos) j = pat.size();
        comps.emplace_back(pat.substr(i, j - i));
        i = j + 1;
    }
    size_t first_meta = 0;
    while (first_meta < comps.size() && !has_meta(comps[first_meta])) ++first_meta;
    std::string prefix;
    for (size_t k = 0; k < first_meta; ++k) prefix += "/" + comps[k];
    if (first_meta == comps.size()) {
        // No meta at all: the path itself when it exists (Go: Lstat).
        int fd = open_file(prefix.empty() ? "/" : prefix, O_PATH | O_NOFOLLOW);
        if (fd >= 0) {
            ::close(fd);
            out.push_back(prefix.empty() ? "/" : prefix);
        }
        return out;
    }
    std::vector<std::string> current{prefix.empty() ? "/" : prefix};
    for (size_t k = first_meta; k < comps.size(); ++k) {
        std::vector<std::string> next;
        for (const std::string& dir : current) {
            int dfd = open_file(dir, O_RDONLY | O_DIRECTORY);
            if (dfd < 0) continue;  // not a directory (Go: Stat then IsDir)
            for (const std::string& name : list_dir(dfd)) {
                if (::fnmatch(comps[k].c_str(), name.c_str(), 0) != 0) continue;
                next.push_back(dir == "/" ? "/" + name : dir + "/" + name);
            }
        }
        current = std::move(next);
        if (current.empty()) break;
    }
    return current;
}

std::expected<FileData, std::string> ProcRoot::read_file(const ProcessInfo& proc,
                                                         std::string_view path,
                                                         ReadBudget& budget) const {
    const std::string name = path_clean(path);
    if (!proc.ids_known) return std::unexpected("invalid process IDs");
    if (budget.files >= budget.max_files || budget.bytes >= budget.max_total_bytes) {
        budget.exceeded = true;
        return std::unexpected("read budget of the request exhausted");
    }
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
    int fd = open_file(name, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return std::unexpected("open " + name + ": " + std::strerror(-fd));
    FileData f;
    if (::fstat(fd, &f.st) != 0) {
        int e = errno;
        ::close(fd);
        return std::unexpected("stat " + name + ": " + std::strerror(e));
    }
    auto fail = [&](std::string why) -> std::expected<FileData, std::string> {
        ::close(fd);
        return std::unexpected("file " + name + " " + why);
    };
    if (S_ISDIR(f.st.st_mode)) return fail("is a directory");
    if (!S_ISREG(f.st.st_mode)) return fail("is not a regular file");
    const mode_t perm = f.st.st_mode & 0777;
    if (perm & 0111) return fail("is executable");
    const uint32_t euid = proc.uids[1], egid = proc.gids[1];
    bool can_read;
    if (f.st.st_uid == 0 && (perm & 0004) == 0)
        can_read = false;  // root-owned files must be world-readable
    else if (euid == 0)
        can_read = true;
    else if (f.st.st_uid == euid)
        can_read = (perm & 0400) != 0;
    else if (f.st.st_gid == egid)
        can_read = (perm & 0040) != 0;  // supplementary groups are not checked (as upstream)
    else
        can_read = (perm & 0004) != 0;
    if (!can_read) return fail("is not readable by the process");

    ++budget.files;
    const size_t cap = std::min(budget.max_file_bytes, budget.max_total_bytes - budget.bytes);
    f.bytes.resize(
        std::min<size_t>(cap, static_cast<size_t>(std::max<off_t>(f.st.st_size, 0)) + 1));
    size_t got = 0;
    for (;;) {
        if (got == f.bytes.size()) {
            if (got >= cap) break;
            f.bytes.resize(std::min(cap, got * 2 + 4096));
        }
        ssize_t n = ::read(fd, f.bytes.data() + got, f.bytes.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            ::close(fd);
            return std::unexpected("read " + name + ": " + std::strerror(e));
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    // One byte more than the cap would tell the file was longer: check without keeping it.
    if (got >= cap) {
        char extra;
        if (::read(fd, &extra, 1) == 1) {
            if (cap == budget.max_file_bytes)
                ++budget.truncated;
            else
                budget.exceeded = true;
        }
    }
    ::close(fd);
    f.bytes.resize(got);
    budget.bytes += got;
    return f;
}

}  // namespace rp::modules::compliance
