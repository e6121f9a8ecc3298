// service_name.cpp — see service_name.h. The rules, with their upstream sources, are in
// docs/modules/discovery.md ("Service names").
#include "modules/discovery/service_name.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "modules/discovery/json_scan.h"

namespace rp::modules::discovery {

namespace {
constexpr std::string_view kCommandLine = "command-line";

bool is_alpha_start(std::string_view s) {
    if (s.empty()) return false;
    auto c = static_cast<unsigned char>(s.front());
    return std::isalpha(c) || c >= 0x80;  // a non-ASCII first byte: taken as a letter
}
bool is_alpha(char ch) {
    auto c = static_cast<unsigned char>(ch);
    return std::isalpha(c) || c >= 0x80;
}
std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}
}  // namespace

// ---------------------------------------------------------------- strings and paths

void BoundedString::set(std::string_view s) {
    size_t n = std::min(s.size(), kMaxNameBytes);
    // Do not cut a UTF-8 sequence: back up over continuation bytes.
    if (n < s.size())
        while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
    if (n != 0) std::memcpy(buf_, s.data(), n);  // an empty view may have a null data()
    len_ = n;
}

bool PathBuf::set(std::string_view p) {
    if (p.size() >= kCap) return false;
    if (!p.empty()) std::memcpy(buf_, p.data(), p.size());
    len_ = p.size();
    buf_[len_] = '\0';
    return true;
}

bool PathBuf::append(std::string_view c) {
    bool slash = len_ > 0 && buf_[len_ - 1] != '/';
    if (len_ + slash + c.size() >= kCap) return false;
    if (slash) buf_[len_++] = '/';
    if (!c.empty()) std::memcpy(buf_ + len_, c.data(), c.size());
    len_ += c.size();
    buf_[len_] = '\0';
    return true;
}

bool PathBuf::parent(PathBuf& out) const {
    std::string_view v = view();
    while (v.size() > 1 && v.back() == '/') v.remove_suffix(1);
    if (v == "/" || v.empty()) return false;
    size_t slash = v.rfind('/');
    if (slash == std::string_view::npos) {  // "a" → "" (Rust's parent of a relative name)
        out.set("");
        return true;
    }
    return out.set(slash == 0 ? std::string_view("/") : v.substr(0, slash));
}

void PathBuf::normalize() {
    std::string_view v = view();
    bool abs = absolute();
    char out[kCap];
    size_t n = 0;
    size_t comps[kCap / 2];
    size_t depth = 0;
    if (abs) out[n++] = '/';
    size_t i = 0;
    while (i < v.size()) {
        while (i < v.size() && v[i] == '/') ++i;
        size_t j = i;
        while (j < v.size() && v[j] != '/') ++j;
        std::string_view c = v.substr(i, j - i);
        i = j;
        if (c.empty() || c == ".") continue;
        if (c == "..") {
            if (depth > 0) {
                n = comps[--depth];
                continue;
            }
            if (abs) continue;  // above the root: stays at the root
        }
        size_t start = n;
        if (n > 0 && out[n - 1] != '/') out[n++] = '/';
        comps[depth++] = start;
        if (!c.empty()) std::memcpy(out + n, c.data(), c.size());
        n += c.size();
    }
    if (n == 0 && !abs) out[n++] = '.';
    set(std::string_view(out, n));
}

std::string_view path_file_name(std::string_view p) {
    while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
    if (p == "/" || p.empty()) return {};
    size_t slash = p.rfind('/');
    std::string_view n = slash == std::string_view::npos ? p : p.substr(slash + 1);
    if (n == "..") return {};
    return n;
}

std::string_view path_file_stem(std::string_view p) {
    std::string_view n = path_file_name(p);
    if (n == ".." || n.empty()) return n;
    size_t dot = n.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return n;
    return n.substr(0, dot);
}

std::string_view path_extension(std::string_view p) {
    std::string_view n = path_file_name(p);
    size_t dot = n.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return {};
    return n.substr(dot + 1);
}

// ---------------------------------------------------------------- ProcessFs

ProcessFs::~ProcessFs() {
    if (root_ >= 0) ::close(root_);
}

void ProcessFs::reset(int piddir, const TargetEnvs* envs) {
    if (root_ >= 0) ::close(root_);
    root_ = -1;
    piddir_ = piddir;
    envs_ = envs;
    cwds_loaded_ = false;
    ncwd_ = 0;
}

int ProcessFs::root() {
    if (root_ < 0 && piddir_ >= 0)
        root_ = ::openat(piddir_, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return root_;
}

int ProcessFs::open_in_root(std::string_view path, int flags, bool follow) {
    int r = root();
    if (r < 0) return -1;
    if (!scratch_.set(path)) return -1;
    const char* p = scratch_.c_str();
    open_how how{};
    how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(syscall(SYS_openat2, r, p, &how, sizeof how));
    if (fd >= 0 || errno != ENOSYS) return fd;
    // Kernels before 5.6: relative to the root fd (absolute symlinks then escape it).
    while (*p == '/') ++p;
    return ::openat(r, *p ? p : ".", flags | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
}

bool ProcessFs::stat(std::string_view path, struct stat* st, bool follow) {
    int fd = open_in_root(path.empty() ? "/" : path, O_PATH, follow);
    if (fd < 0) return false;
    bool ok = ::fstat(fd, st) == 0;
    ::close(fd);
    return ok;
}

bool ProcessFs::dir_has_suffix(std::string_view path, std::string_view suffix) {
    int fd = open_in_root(path.empty() ? "/" : path, O_RDONLY | O_DIRECTORY, true);
    if (fd < 0) return false;
    alignas(8) char buf[8192];
    bool found = false;
    for (int rounds = 0; !found && rounds < 64; ++rounds) {  // at most ~64 k entries looked at
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0) break;
        for (long off = 0; off < got;) {
            auto* d = reinterpret_cast<struct dirent64*>(buf + off);
            off += d->d_reclen;
            std::string_view n(d->d_name);
            if (n.size() > suffix.size() - 1 && n.ends_with(suffix)) {
                found = true;
                break;
            }
        }
    }
    ::close(fd);
    return found;
}

int ProcessFs::open_file(std::string_view path) {
    int fd = open_in_root(path, O_RDONLY | O_NOCTTY | O_NONBLOCK, true);
    if (fd < 0) return -1;
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {  // no FIFOs, devices, directories
        ::close(fd);
        return -1;
    }
    return fd;
}

bool ProcessFs::read_file(std::string_view path, http::Buffer& out, size_t max_bytes) {
    out.clear();
    int fd = open_file(path);
    if (fd < 0) return false;
    struct stat st;
    bool ok = ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) <= max_bytes;
    while (ok) {
        out.reserve(out.size() + 16384);
        ssize_t n = ::read(fd, out.data() + out.size(), 16384);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ok = false;
        if (n <= 0) break;
        out.resize(out.size() + static_cast<size_t>(n));
        if (out.size() > max_bytes) ok = false;
    }
    ::close(fd);
    return ok;
}

bool ProcessFs::read_link(std::string_view path, PathBuf& out) {
    int fd = open_in_root(path, O_PATH, false);
    if (fd < 0) return false;
    char buf[PathBuf::kCap];
    ssize_t n = ::readlinkat(fd, "", buf, sizeof buf);
    ::close(fd);
    if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return false;
    return out.set(std::string_view(buf, static_cast<size_t>(n)));
}

void ProcessFs::load_cwds() {
    cwds_loaded_ = true;
    ncwd_ = 0;
    if (envs_ != nullptr && !envs_->get(TargetEnvs::PWD).empty() &&
        cwd_[ncwd_].set(envs_->get(TargetEnvs::PWD)))
        ++ncwd_;
    char buf[PathBuf::kCap];
    if (piddir_ >= 0) {
        ssize_t n = discovery::read_link(piddir_, "cwd", buf, sizeof buf);
        if (n > 0 && cwd_[ncwd_].set(std::string_view(buf, static_cast<size_t>(n)))) ++ncwd_;
    }
}

bool ProcessFs::resolve_relative(std::string_view rel, PathBuf& out) {
    if (!rel.empty() && rel.front() == '/') return false;
    if (!cwds_loaded_) load_cwds();
    if (ncwd_ == 0) return false;
    if (ncwd_ > 1) {
        for (int i = 0; i < ncwd_; ++i) {
            struct stat st;
            if (out.set(cwd_[i].view()) && out.append(rel) && stat(out.view(), &st, false))
                return true;
        }
    }
    return out.set(cwd_[0].view()) && out.append(rel);
}

// ---------------------------------------------------------------- dispatch and fallback

namespace {

// trim_symbols_from_exe: a leading symbol is dropped, and then a trailing one; when only the
// leading one is a symbol the name is kept whole (upstream's quirk, kept).
std::string_view trim_symbols(std::string_view exe) {
    if (exe.empty() || is_alpha(exe.front())) return exe;
    std::string_view rest = exe.substr(1);
    if (!rest.empty() && !is_alpha(rest.back())) return rest.substr(0, rest.size() - 1);
    return exe;
}

}  // namespace

std::string_view dispatch_exe_name(std::string_view exe) {
    while (!exe.empty() && exe.front() == '"') exe.remove_prefix(1);
    while (!exe.empty() && exe.back() == '"') exe.remove_suffix(1);
    exe = path_file_name(exe);
    size_t colon = exe.find(':');
    if (colon != std::string_view::npos) exe = exe.substr(0, colon);
    exe = trim_symbols(exe);
    if (exe.starts_with("php")) {  // php8, php8.1, ... → php
        std::string_view v = exe.substr(3);
        if (std::all_of(v.begin(), v.end(),
                        [](char c) { return (c >= '0' && c <= '9') || c == '.'; }))
            return "php";
    }
    return exe;
}

bool generate_name(Language lang, const Cmdline& c, NameContext& ctx, ServiceName& out) {
    out.clear();
    if (c.empty() || c.size() == 0) return false;
    std::string_view exe = dispatch_exe_name(c[0]);
    bool found = false;
    if (exe == "gunicorn") {
        found = gunicorn_name(c, 1, ctx.envs, out);
    } else if (exe == "puma") {
        found = rails_name(c, ctx, out);
    } else if (exe == "beam.smp" || exe == "beam") {
        found = erlang_name(c, out);
    } else if (exe == "php") {
        found = php_name(c, ctx, out);
    } else {
        switch (lang) {
            case Language::python:
                found = python_name(c, ctx, out);
                break;
            case Language::ruby:
                found = ruby_name(c, out);
                break;
            case Language::jvm:
                found = java_name(c, ctx, out);
                break;
            case Language::nodejs:
                found = nodejs_name(c, ctx, out);
                break;
            case Language::dotnet:
                found = dotnet_name(c, out);
                break;
            case Language::php:
                found = php_name(c, ctx, out);
                break;
            default:
                break;
        }
    }
    if (found) return true;
    // The executable's name without its extension.
    size_t dot = exe.rfind('.');
    out.set(dot != std::string_view::npos && dot > 0 ? exe.substr(0, dot) : exe, kCommandLine);
    return true;
}

// ---------------------------------------------------------------- gunicorn, uvicorn

namespace {

std::string_view wsgi_module(std::string_view app) {
    size_t colon = app.find(':');
    return colon == std::string_view::npos ? app : app.substr(0, colon);
}

// Arguments as a sequence: the command line from `first`, or a whitespace-split string.
struct ArgSeq {
    const Cmdline* cmd = nullptr;
    size_t next_index = 0;
    std::string_view text;  // used when cmd is null
    bool next(std::string_view& out) {
        if (cmd != nullptr) {
            if (next_index >= cmd->size()) return false;
            out = (*cmd)[next_index++];
            return true;
        }
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
            text.remove_prefix(1);
        if (text.empty()) return false;
        size_t end = 0;
        while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
        out = text.substr(0, end);
        text.remove_prefix(end);
        return true;
    }
};

bool gunicorn_from(ArgSeq args, ServiceName& out, std::string_view source) {
    static constexpr std::string_view kNoArg[] = {"--reload",
                                                  "--spew",
                                                  "--check-config",
                                                  "--print-config",
                                                  "--preload",
                                                  "--no-sendfile",
                                                  "--reuse-port",
                                                  "--daemon",
                                                  "--initgroups",
                                                  "--capture-output",
                                                  "--log-syslog",
                                                  "--enable-stdio-inheritance",
                                                  "--disable-redirect-access-to-syslog",
                                                  "--proxy-protocol",
                                                  "--suppress-ragged-eofs",
                                                  "--do-handshake-on-connect",
                                                  "--strip-header-spaces"};
    std::string_view candidate, last, a;
    bool have_candidate = false, have_last = false;
    while (args.next(a)) {
        last = a;
        have_last = true;
        if (a.starts_with("--name=")) {
            out.set(a.substr(7), source);
            return true;
        }
        if (a == "--name") {
            std::string_view n;
            if (args.next(n)) {
                out.set(n, source);
                return true;
            }
            break;
        }
        if (a.starts_with("--")) {
            if (a.find('=') != std::string_view::npos) continue;
            if (std::find(std::begin(kNoArg), std::end(kNoArg), a) == std::end(kNoArg)) {
                std::string_view v;
                if (args.next(v)) last = v;
            }
            continue;
        }
        if (a.starts_with('-')) {
            std::string_view flags = a.substr(1);
            for (size_t i = 0; i < flags.size(); ++i) {
                char ch = flags[i];
                if (ch == 'n') {
                    std::string_view rest = flags.substr(i + 1);
                    if (!rest.empty()) {
                        out.set(rest, source);
                        return true;
                    }
                    std::string_view n;
                    if (args.next(n)) {
                        out.set(n, source);
                        return true;
                    }
                    break;
                }
                if (ch == 'R' || ch == 'd') continue;
                if (i + 1 >= flags.size()) {  // -x value
                    std::string_view v;
                    if (args.next(v)) last = v;
                }
                break;
            }
            continue;
        }
        if (!have_candidate) {
            candidate = a;
            have_candidate = true;
        }
    }
    if (have_last && last.size() >= 2 && last.front() == '[' && last.back() == ']') {
        out.set(wsgi_module(last.substr(1, last.size() - 2)), source);
        return true;
    }
    if (have_candidate) {
        out.set(wsgi_module(candidate), source);
        return true;
    }
    return false;
}

bool uvicorn_from(const Cmdline& c, size_t first, ServiceName& out) {
    for (size_t i = first; i < c.size(); ++i) {
        std::string_view a = c[i];
        if (a.starts_with('-')) {
            if (a == "--header") ++i;  // its value looks like module:app
            continue;
        }
        size_t colon = a.find(':');
        if (colon != std::string_view::npos) {
            out.set(a.substr(0, colon), kCommandLine);
            return true;
        }
    }
    out.set("uvicorn", kCommandLine);
    return true;
}

}  // namespace

bool gunicorn_name(const Cmdline& c, size_t first, const TargetEnvs& envs, ServiceName& out) {
    if (envs.has(TargetEnvs::GUNICORN_CMD_ARGS)) {
        ArgSeq env_args;
        env_args.text = envs.get(TargetEnvs::GUNICORN_CMD_ARGS);
        if (gunicorn_from(env_args, out, "gunicorn")) return true;
    }
    if (!envs.get(TargetEnvs::WSGI_APP).empty()) {
        out.set(wsgi_module(envs.get(TargetEnvs::WSGI_APP)), "gunicorn");
        return true;
    }
    ArgSeq args;
    args.cmd = &c;
    args.next_index = first;
    if (gunicorn_from(args, out, kCommandLine)) return true;
    out.set("gunicorn", kCommandLine);
    return true;
}

// ---------------------------------------------------------------- Python

namespace {

enum class PyArg { none, module, file };

PyArg parse_python_args(const Cmdline& c, size_t i, std::string_view* value) {
    for (; i < c.size(); ++i) {
        std::string_view a = c[i];
        if (a.starts_with("--")) {
            if (a == "--check-hash-based-pycs") ++i;  // its value is the next argument
            continue;
        }
        if (a.starts_with('-')) {
            std::string_view f = a.substr(1);
            for (size_t k = 0; k < f.size(); ++k) {
                std::string_view rest = f.substr(k + 1);
                char ch = f[k];
                if (ch == 'c') return PyArg::none;  // a command: no module, no script
                if (ch == 'm') {
                    if (!rest.empty()) {
                        *value = rest;
                        return PyArg::module;
                    }
                    if (i + 1 >= c.size()) return PyArg::none;
                    *value = c[i + 1];
                    return PyArg::module;
                }
                if (ch == 'X' || ch == 'W') {
                    if (rest.empty()) ++i;  // the option's value is the next argument
                    break;
                }
            }
            continue;
        }
        *value = a;
        return PyArg::file;
    }
    return PyArg::none;
}

// find_nearest_top_level: the outermost directory, going up from `path`, that still holds .py
// files (stopping at the first without); its name without extension ("path" itself when it has
// none, e.g. a file).
std::string_view nearest_top_level(ProcessFs& fs, const PathBuf& path, PathBuf& tmp) {
    PathBuf cur;
    cur.set(path.view());
    bool any = false;
    while (true) {
        if (!fs.dir_has_suffix(cur.view().empty() ? "." : cur.view(), ".py")) break;
        any = true;
        tmp.set(cur.view());
        PathBuf up;
        if (!cur.parent(up) || up.view().empty()) break;
        cur.set(up.view());
    }
    return path_file_stem(any ? tmp.view() : path.view());
}

}  // namespace

bool python_name(const Cmdline& c, NameContext& ctx, ServiceName& out) {
    if (c.size() < 2) return false;
    std::string_view first = path_file_name(c[1]);
    if (first == "gunicorn" || first == "gunicorn:") return gunicorn_name(c, 2, ctx.envs, out);
    if (first == "uvicorn") return uvicorn_from(c, 2, out);
    std::string_view v;
    switch (parse_python_args(c, 1, &v)) {
        case PyArg::none:
            return false;
        case PyArg::module:
            out.set(v, kCommandLine);
            return true;
        case PyArg::file:
            break;
    }
    PathBuf path, resolved, tmp;
    if (!path.set(v)) return false;
    path.normalize();
    if (ctx.fs.resolve_relative(path.view(), resolved)) path.set(resolved.view());
    struct stat st;
    if (!ctx.fs.stat(path.view(), &st)) return false;
    bool is_file = !S_ISDIR(st.st_mode);
    PathBuf parent;
    bool has_parent = path.parent(parent);
    if (is_file && (!has_parent || parent.view().empty() || parent.view() == "/")) {
        out.set(path_file_stem(path.view()), kCommandLine);  // a file at the root
        return true;
    }
    // deduce_package_name: the directories holding __init__.py, from the script's up, joined
    // with dots (plus the script's name). Their names are parts of `start`, which only shrinks.
    {
        PathBuf start, dir, init, up;
        start.set(is_file ? parent.view() : path.view());
        dir.set(start.view());
        std::string_view names[128];
        size_t n = 0;
        while (n < 128) {
            init.set(dir.view());
            if (!init.append("__init__.py") || !ctx.fs.exists(init.view())) break;
            std::string_view dn = path_file_name(dir.view());
            if (!dn.empty()) {
                size_t off = static_cast<size_t>(dn.data() - dir.view().data());
                names[n++] = start.view().substr(off, dn.size());
            }
            if (!dir.parent(up) || up.view().empty()) break;
            dir.set(up.view());
        }
        if (n > 0) {
            char joined[kMaxNameBytes * 2];
            size_t len = 0;
            auto add = [&](std::string_view part) {
                if (len > 0 && len < sizeof joined) joined[len++] = '.';
                size_t k = std::min(part.size(), sizeof joined - len);
                if (k != 0) std::memcpy(joined + len, part.data(), k);
                len += k;
            };
            for (size_t i = n; i-- > 0;) add(names[i]);
            if (is_file) add(path_file_stem(path.view()));
            out.set(std::string_view(joined, len), "python");
            return true;
        }
    }
    PathBuf check;
    check.set(is_file ? parent.view() : path.view());
    std::string_view name = nearest_top_level(ctx.fs, check, tmp);
    if (name != "." && name != "/" && name != "bin" && name != "sbin") {
        out.set(name, kCommandLine);
        return true;
    }
    PathBuf base;
    base.set(path_file_name(path.view()));
    out.set(nearest_top_level(ctx.fs, base, tmp), kCommandLine);
    return true;
}

// ---------------------------------------------------------------- Ruby, Rails, puma

bool ruby_name(const Cmdline& c, ServiceName& out) {
    for (size_t i = 1; i < c.size(); ++i) {
        std::string_view a = c[i];
        if (a.find('=') != std::string_view::npos) continue;
        if (a.starts_with('-')) {
            ++i;  // takes the next argument as the flag's value (upstream's rule)
            continue;
        }
        std::string_view n = path_file_name(a);
        if (n.empty()) n = a;
        size_t colon = n.find(':');
        if (colon != std::string_view::npos) n = n.substr(0, colon);
        if (is_alpha_start(n)) {
            out.set(n, kCommandLine);
            return true;
        }
    }
    return false;
}

void to_snake_case(std::string_view s, char* out, size_t* out_len, size_t cap) {
    size_t n = 0;
    bool prev_lower = false, prev_underscore = false;
    for (size_t i = 0; i < s.size() && n + 2 < cap; ++i) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z') {
            bool next_lower = i + 1 < s.size() && s[i + 1] >= 'a' && s[i + 1] <= 'z';
            if (n > 0 && !prev_underscore && (prev_lower || next_lower)) out[n++] = '_';
            out[n++] = static_cast<char>(ch - 'A' + 'a');
            prev_lower = prev_underscore = false;
        } else {
            out[n++] = ch;
            prev_lower = ch >= 'a' && ch <= 'z';
            prev_underscore = ch == '_';
        }
    }
    *out_len = n;
}

bool rails_name(const Cmdline& c, NameContext& ctx, ServiceName& out) {
    // config/application.rb of a Rails application: "module Name".
    PathBuf app;
    if (ctx.fs.resolve_relative("config/application.rb", app) &&
        ctx.fs.read_file(app.view(), ctx.file, 1 << 20)) {
        std::string_view text = ctx.file.view();
        while (!text.empty()) {
            size_t nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
            while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())))
                line.remove_prefix(1);
            if (!line.starts_with("module") || line.size() < 7 ||
                !std::isspace(static_cast<unsigned char>(line[6])))
                continue;
            line.remove_prefix(7);
            while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())))
                line.remove_prefix(1);
            if (line.empty() || !(line[0] >= 'A' && line[0] <= 'Z')) continue;
            size_t len = 1;
            while (len < line.size() &&
                   (std::isalnum(static_cast<unsigned char>(line[len])) || line[len] == '_'))
                ++len;
            char snake[kMaxNameBytes * 2];
            size_t sn = 0;
            to_snake_case(line.substr(0, len), snake, &sn, sizeof snake);
            ctx.file.clear();
            out.set(std::string_view(snake, sn), "rails");
            return true;
        }
    }
    ctx.file.clear();
    // puma's title: "puma 5.6.5 (cluster) [app_name]".
    if (c.size() == 0) return false;
    std::string_view last = c[c.size() - 1];
    if (last.size() >= 3 && last.front() == '[' && last.back() == ']') {
        out.set(last.substr(1, last.size() - 2), kCommandLine);
        return true;
    }
    return false;
}

// ---------------------------------------------------------------- Java

bool java_name(const Cmdline& c, NameContext& ctx, ServiceName& out) {
    if (c.size() < 2) return false;
    // -Ddd.service=NAME (the first such argument; empty is ignored).
    for (size_t i = 1; i < c.size(); ++i) {
        if (!c[i].starts_with("-Ddd.service=")) continue;
        std::string_view v = c[i].substr(13);
        if (!v.empty()) {
            out.set(v, kCommandLine);
            return true;
        }
        break;
    }
    bool prev_is_flag = false;
    for (size_t i = 1; i < c.size(); ++i) {
        std::string_view a = c[i];
        bool flag = a.starts_with('-');
        bool assignment = a.find('=') != std::string_view::npos || a.starts_with("-X") ||
                          a.starts_with("-javaagent:") || a.starts_with("-verbose:");
        bool at_file = a.starts_with('@');  // an argument file: not supported upstream either
        if (!(prev_is_flag || flag || assignment || at_file)) {
            std::string_view arg = path_file_name(a);
            if (arg.empty()) arg = a;
            size_t colon = arg.find(':');
            if (colon != std::string_view::npos && colon > 0) arg = arg.substr(0, colon);
            if (is_alpha_start(arg)) {
                if (arg.ends_with(".jar") || arg.ends_with(".war")) {
                    if (spring_boot_name(a, c, ctx, out)) return true;
                    out.set(arg.substr(0, arg.size() - 4), kCommandLine);
                    return true;
                }
                if (arg.starts_with("org.apache.")) {
                    std::string_view rest = arg.substr(11);
                    size_t dot = rest.find('.');
                    if (dot != std::string_view::npos) {
                        out.set(rest.substr(0, dot), kCommandLine);
                        return true;
                    }
                }
                out.set(arg, kCommandLine);
                return true;
            }
        }
        prev_is_flag = flag && !assignment && a != "-jar" && a != "-m" && a != "--module";
    }
    return false;
}

// ---------------------------------------------------------------- Node.js

namespace {

bool is_js_path(std::string_view p) {
    std::string_view e = path_extension(p);
    auto ieq = [](std::string_view a, std::string_view b) {
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   return std::tolower(static_cast<unsigned char>(x)) == y;
               });
    };
    return ieq(e, "js") || ieq(e, "mjs") || ieq(e, "cjs");
}

}  // namespace

bool package_json_name(std::string_view s, BoundedString& out) {
    json::skip_ws(s);
    if (s.empty() || s[0] != '{') return false;
    s.remove_prefix(1);
    bool found = false;
    char name[kMaxNameBytes];
    size_t name_len = 0;
    json::skip_ws(s);
    if (!s.empty() && s[0] == '}') {
        s.remove_prefix(1);
    } else {
        for (;;) {
            json::skip_ws(s);
            char key[8];
            size_t key_len = 0;
            if (!json::string(s, key, &key_len, sizeof key)) return false;
            bool is_name = key_len == 4 && std::memcmp(key, "name", 4) == 0;
            json::skip_ws(s);
            if (s.empty() || s[0] != ':') return false;
            s.remove_prefix(1);
            json::skip_ws(s);
            if (is_name) {
                if (found) return false;  // a duplicate field fails serde's decoding
                if (s.empty() || s[0] != '"') return false;  // not a string
                if (!json::string(s, name, &name_len, sizeof name)) return false;
                found = true;
            } else if (!json::skip(s, 1)) {
                return false;
            }
            json::skip_ws(s);
            if (s.empty()) return false;
            if (s[0] == ',') {
                s.remove_prefix(1);
                continue;
            }
            if (s[0] != '}') return false;
            s.remove_prefix(1);
            break;
        }
    }
    json::skip_ws(s);
    if (!s.empty() || !found || name_len == 0) return false;  // trailing bytes: invalid JSON
    out.set(std::string_view(name, std::min(name_len, sizeof name)));
    return true;
}

bool nodejs_name(const Cmdline& c, NameContext& ctx, ServiceName& out) {
    bool skip_next = false;
    for (size_t i = 1; i < c.size(); ++i) {
        std::string_view a = c[i];
        if (skip_next) {
            skip_next = false;
            continue;
        }
        if (a.starts_with('-')) {
            if (a == "-r" || a == "--require") skip_next = true;  // the required module
            continue;
        }
        PathBuf path, resolved, entry;
        if (!path.set(a)) continue;
        if (ctx.fs.resolve_relative(a, resolved)) path.set(resolved.view());
        if (is_js_path(path.view())) {
            entry.set(path.view());
        } else {
            struct stat st;
            PathBuf target;
            if (!ctx.fs.stat(path.view(), &st, false) || !S_ISLNK(st.st_mode) ||
                !ctx.fs.read_link(path.view(), target) || !is_js_path(target.view()))
                continue;
            if (target.absolute()) {
                entry.set(target.view());
            } else {
                PathBuf dir;
                if (path.parent(dir)) entry.set(dir.view());
                entry.append(target.view());
            }
        }
        if (!ctx.fs.exists(entry.view())) continue;
        // The nearest package.json going up from the script; the first found decides.
        PathBuf dir;
        if (entry.parent(dir)) {
            for (int depth = 0; depth < 256; ++depth) {
                PathBuf pj;
                pj.set(dir.view());
                if (pj.append("package.json")) {
                    int fd = ctx.fs.open_file(pj.view());
                    if (fd >= 0) {
                        ::close(fd);
                        BoundedString name;
                        bool ok = ctx.fs.read_file(pj.view(), ctx.file, 1 << 20) &&
                                  package_json_name(ctx.file.view(), name);
                        ctx.file.clear();
                        if (ok) {
                            out.set(name.view(), "nodejs");
                            return true;
                        }
                        break;
                    }
                }
                PathBuf up;
                if (!dir.parent(up) || up.view().empty()) break;
                dir.set(up.view());
            }
        }
        out.set(path_file_stem(a), kCommandLine);
        return true;
    }
    return false;
}

// ---------------------------------------------------------------- PHP, Laravel

namespace {

// A PHP/.env quoted string at the start of s: 'x' or "x", backslash escapes.
bool quoted(std::string_view& s, char* out, size_t* len, size_t cap) {
    if (s.empty() || (s[0] != '\'' && s[0] != '"')) return false;
    char q = s[0];
    s.remove_prefix(1);
    size_t n = 0;
    while (!s.empty()) {
        char ch = s[0];
        s.remove_prefix(1);
        if (ch == q) {
            *len = n;
            return true;
        }
        if (ch == '\\') {
            if (s.empty()) return false;
            ch = s[0];
            s.remove_prefix(1);
        }
        if (n < cap) out[n++] = ch;
    }
    return false;
}

bool laravel_from_env_file(std::string_view text, char* out, size_t* len, size_t cap) {
    // DD_SERVICE > OTEL_SERVICE_NAME > APP_NAME.
    char vals[3][kMaxNameBytes];
    size_t lens[3] = {0, 0, 0};
    bool have[3] = {false, false, false};
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.empty() || line[0] == '#') continue;
        size_t k = 0;
        while (k < line.size() &&
               (std::isalnum(static_cast<unsigned char>(line[k])) || line[k] == '_'))
            ++k;
        if (k == 0) continue;
        std::string_view key = line.substr(0, k);
        std::string_view rest = trim(line.substr(k));
        if (rest.empty() || rest[0] != '=') continue;
        rest = trim(rest.substr(1));
        int slot = key == "DD_SERVICE"          ? 0
                   : key == "OTEL_SERVICE_NAME" ? 1
                   : key == "APP_NAME"          ? 2
                                                : -1;
        if (slot < 0 || have[slot]) continue;
        size_t n = 0;
        std::string_view r = rest;
        if (!quoted(r, vals[slot], &n, kMaxNameBytes)) {
            size_t hash = rest.find('#');
            std::string_view v = trim(rest.substr(0, hash));
            n = std::min(v.size(), kMaxNameBytes);
            if (n != 0) std::memcpy(vals[slot], v.data(), n);
        }
        lens[slot] = n;
        have[slot] = true;
        if (slot == 0) break;
    }
    for (int i = 0; i < 3; ++i) {
        if (!have[i]) continue;
        std::memcpy(out, vals[i], std::min(lens[i], cap));
        *len = std::min(lens[i], cap);
        return true;
    }
    return false;
}

// config/app.php: a line starting 'name' => env('APP_NAME', 'default') or 'name' => 'value'.
bool laravel_from_config(std::string_view text, char* out, size_t* len, size_t cap) {
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view s = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        s = trim(s);
        if (s.size() < 6 || (s[0] != '\'' && s[0] != '"')) continue;
        char q = s[0];
        if (s.substr(1, 4) != "name" || s[5] != q) continue;
        s = trim(s.substr(6));
        if (!s.starts_with("=>")) continue;
        s = trim(s.substr(2));
        if (s.starts_with("env")) {
            s = trim(s.substr(3));
            if (s.empty() || s[0] != '(') continue;
            size_t comma = s.find(',');
            if (comma == std::string_view::npos) continue;
            s = trim(s.substr(comma + 1));
        }
        if (quoted(s, out, len, cap)) return true;
    }
    return false;
}

}  // namespace

bool php_name(const Cmdline& c, NameContext& ctx, ServiceName& out) {
    std::string_view artisan;
    bool prev_flag = false;
    for (size_t i = 1; i < c.size(); ++i) {
        std::string_view a = c[i];
        size_t at = a.find("datadog.service=");
        if (at != std::string_view::npos) {
            std::string_view v = trim(a.substr(at + 16));
            if (!v.empty()) {
                out.set(v, kCommandLine);
                return true;
            }
        }
        if (!artisan.empty()) continue;
        bool flag = a.starts_with('-');
        if (prev_flag && !flag) {
            prev_flag = false;
            continue;
        }
        if (!prev_flag && !flag && path_file_name(a) == "artisan") artisan = a;
        prev_flag = flag && a.find('=') == std::string_view::npos;
    }
    if (artisan.empty()) return false;
    // The Laravel application's name: .env, then config/app.php, then "laravel".
    PathBuf dir, file, resolved;
    PathBuf art;
    art.set(artisan);
    if (!art.parent(dir) || dir.view().empty()) dir.set(".");
    char name[kMaxNameBytes];
    size_t len = 0;
    bool found = false;
    for (int step = 0; step < 2 && !found; ++step) {
        file.set(dir.view());
        file.append(step == 0 ? ".env" : "config/app.php");
        if (ctx.fs.resolve_relative(file.view(), resolved)) file.set(resolved.view());
        if (!ctx.fs.read_file(file.view(), ctx.file, 1 << 20)) continue;
        found = step == 0 ? laravel_from_env_file(ctx.file.view(), name, &len, sizeof name)
                          : laravel_from_config(ctx.file.view(), name, &len, sizeof name);
    }
    ctx.file.clear();
    out.set(found ? std::string_view(name, len) : std::string_view("laravel"), "laravel");
    return true;
}

// ---------------------------------------------------------------- .NET, Erlang

bool dotnet_name(const Cmdline& c, ServiceName& out) {
    for (size_t i = 1; i < c.size(); ++i) {
        std::string_view a = c[i];
        if (a.starts_with('-')) continue;
        if (a.size() >= 4) {
            std::string_view ext = a.substr(a.size() - 4);
            bool dll = ext[0] == '.' && std::tolower(static_cast<unsigned char>(ext[1])) == 'd' &&
                       std::tolower(static_cast<unsigned char>(ext[2])) == 'l' &&
                       std::tolower(static_cast<unsigned char>(ext[3])) == 'l';
            if (dll) {
                std::string_view f = path_file_name(a);
                if (f.size() <= 4) return false;
                out.set(f.substr(0, f.size() - 4), kCommandLine);
                return true;
            }
        }
        break;  // dotnet <command> ...: the first non-flag argument was not a .dll
    }
    return false;
}

bool erlang_name(const Cmdline& c, ServiceName& out) {
    std::string_view progname, home;
    bool have_prog = false, have_home = false;
    for (size_t i = 0; i < c.size(); ++i) {
        if (c[i] == "-progname" && i + 1 < c.size()) {
            progname = trim(c[++i]);
            have_prog = true;
        } else if (c[i] == "-home" && i + 1 < c.size()) {
            home = trim(c[++i]);
            have_home = true;
        }
    }
    if (have_prog && !progname.empty() && progname != "erl") {
        out.set(progname, kCommandLine);
        return true;
    }
    if (have_prog && progname == "erl" && have_home && !home.empty()) {
        while (home.size() > 1 && home.back() == '/') home.remove_suffix(1);
        if (home.ends_with("/.") || home == ".") return false;
        std::string_view b = path_file_name(home);
        if (!b.empty() && b != "." && b != "/") {
            out.set(b, kCommandLine);
            return true;
        }
    }
    return false;
}

}  // namespace rp::modules::discovery
