// service_name.h — generated_name and generated_name_source of a service, with system-probe's
// detectors (pkg/discovery/module/rust/src/service_name*.rs; the rules are written out in
// docs/modules/discovery.md, "Service names"): gunicorn, puma/Rails, Erlang (beam), PHP/Laravel,
// then by language Python (module, script, package), Ruby, Java (-Ddd.service, -jar, Spring Boot,
// main class), Node.js (package.json), .NET (the .dll), and the executable's name as fallback.
//
// Files are looked up as the process sees them: under /proc/<pid>/root, with symlinks resolved
// inside that root (openat2 RESOLVE_IN_ROOT), relative paths against the process's PWD or cwd.
// Every buffer is the caller's and reused; names are cut to kMaxNameBytes (upstream's 256).
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <string_view>
#include <vector>

#include "http/buffer.h"
#include "modules/discovery/language.h"
#include "modules/discovery/procfs.h"

namespace rp::modules::discovery {

constexpr size_t kMaxNameBytes = 256;

// A bounded string (service names, UST values): cut at kMaxNameBytes on a UTF-8 boundary.
class BoundedString {
  public:
    void set(std::string_view s);
    void clear() { len_ = 0; }
    std::string_view view() const { return {buf_, len_}; }
    bool empty() const { return len_ == 0; }

  private:
    char buf_[kMaxNameBytes];
    size_t len_ = 0;
};

// An absolute or relative path in a fixed buffer (PATH_MAX), NUL-terminated.
class PathBuf {
  public:
    static constexpr size_t kCap = 4096;
    bool set(std::string_view p);
    bool append(std::string_view component);  // adds "/" + component (or none if at root)
    std::string_view view() const { return {buf_, len_}; }
    const char* c_str() const { return buf_; }
    bool absolute() const { return len_ > 0 && buf_[0] == '/'; }
    // The parent directory (false when there is none: "/" or a single relative component).
    bool parent(PathBuf& out) const;
    // Lexical normalization: "." dropped, ".." removes the previous component.
    void normalize();

  private:
    char buf_[kCap] = {};
    size_t len_ = 0;
};

// Path helpers with Rust's std::path meaning (exposed for tests).
std::string_view path_file_name(std::string_view p);  // "" when none
std::string_view path_file_stem(std::string_view p);
std::string_view path_extension(std::string_view p);

// Files of one process, as it sees them.
class ProcessFs {
  public:
    ~ProcessFs();
    void reset(int piddir, const TargetEnvs* envs);
    // stat (follow = false: the link itself) of an absolute path inside the process root.
    bool stat(std::string_view path, struct stat* st, bool follow = true);
    bool exists(std::string_view path) {
        struct stat st;
        return stat(path, &st);
    }
    bool is_dir(std::string_view path) {
        struct stat st;
        return stat(path, &st) && S_ISDIR(st.st_mode);
    }
    // Whether directory `path` holds an entry whose name ends with `suffix`.
    bool dir_has_suffix(std::string_view path, std::string_view suffix);
    // Whole regular file, at most max_bytes (false when larger, missing or unreadable).
    bool read_file(std::string_view path, http::Buffer& out, size_t max_bytes);
    // Target of symlink `path`.
    bool read_link(std::string_view path, PathBuf& out);
    // Opens a regular file read-only (caller closes); -1 on failure.
    int open_file(std::string_view path);
    // system-probe's resolve_working_dir_relative_path: `rel` (relative) joined to PWD or the
    // cwd, whichever has it (the first when neither or both). False for an absolute path or when
    // no working directory is known.
    bool resolve_relative(std::string_view rel, PathBuf& out);

  private:
    int open_in_root(std::string_view path, int flags, bool follow);
    int root();
    void load_cwds();

    int piddir_ = -1;
    int root_ = -1;
    const TargetEnvs* envs_ = nullptr;
    bool cwds_loaded_ = false;
    PathBuf cwd_[2];  // PWD, then /proc/<pid>/cwd
    int ncwd_ = 0;
    PathBuf scratch_;
};

struct ServiceName {
    BoundedString name;
    std::string_view source;  // "command-line", "python", "nodejs", "gunicorn", "rails",
                              // "laravel", "spring"; empty when there is no name
    void clear() {
        name.clear();
        source = {};
    }
    void set(std::string_view n, std::string_view src) {
        name.set(n);
        source = src;
    }
};

// What a detector may use.
struct NameContext {
    ProcessFs& fs;
    const TargetEnvs& envs;
    http::Buffer& file;           // file contents (package.json, .env, application.properties)
    std::vector<char>& scratch;   // an archive's central directory
    std::vector<char>& scratch2;  // compressed archive entries
};

// The name of a service. False (name left empty) only for an empty command line.
bool generate_name(Language lang, const Cmdline& cmdline, NameContext& ctx, ServiceName& out);

// Pieces, for tests.
std::string_view dispatch_exe_name(std::string_view argv0);
bool python_name(const Cmdline& c, NameContext& ctx, ServiceName& out);
bool gunicorn_name(const Cmdline& c, size_t first_arg, const TargetEnvs& envs, ServiceName& out);
bool java_name(const Cmdline& c, NameContext& ctx, ServiceName& out);
bool nodejs_name(const Cmdline& c, NameContext& ctx, ServiceName& out);
bool ruby_name(const Cmdline& c, ServiceName& out);
bool rails_name(const Cmdline& c, NameContext& ctx, ServiceName& out);
bool php_name(const Cmdline& c, NameContext& ctx, ServiceName& out);
bool dotnet_name(const Cmdline& c, ServiceName& out);
bool erlang_name(const Cmdline& c, ServiceName& out);
// The "name" string of a package.json (false when missing, not a string, or invalid JSON).
bool package_json_name(std::string_view json, BoundedString& out);
// CamelCase → snake_case as the Rails detector does (HTTPServer → http_server).
void to_snake_case(std::string_view s, char* out, size_t* out_len, size_t cap);

// Spring Boot (spring.cpp): the application name of the Spring Boot archive `jar` (a -jar
// argument), from the command line, the environment, application.{properties,yaml,yml} next to
// the process and inside the archive.
bool spring_boot_name(std::string_view jar, const Cmdline& c, NameContext& ctx, ServiceName& out);

}  // namespace rp::modules::discovery
