// process_module.cpp — the `process` module: POST /stats {"pids": [...]} → per-pid open fd count
// and I/O counters read from /proc (system-probe's process module, StatsWithPermByPID).
//
// Fields (zero values omitted, as system-probe's encoder does): openFDCount = entries of
// /proc/<pid>/fd; readCount/writeCount/readBytes/writeBytes = syscr/syscw/read_bytes/write_bytes of
// /proc/<pid>/io. A pid that does not exist (or exits while being read) is left out. Reads use
// stack buffers and raw getdents64, so a request allocates nothing once the parser has warmed up.
#include <dirent.h>
#include <fcntl.h>
#include <simdjson.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include "loop/reactor.h"
#include "modules/module.h"

namespace rp::modules {
namespace {

constexpr int64_t kMaxPid = 4194304;  // PID_MAX_LIMIT on 64-bit
constexpr size_t kMaxPids = 10000;

struct ProcStats {
    int64_t open_fds = -1;  // -1: unknown (no permission)
    uint64_t read_count = 0, write_count = 0, read_bytes = 0, write_bytes = 0;
};

// Counts the entries of /proc/<pid>/fd; -1 if unreadable; -2 if the process is gone.
int64_t count_fds(int pid) {
    char path[48];
    std::snprintf(path, sizeof path, "/proc/%d/fd", pid);
    int dfd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return errno == ENOENT ? -2 : -1;
    alignas(8) char buf[4096];
    int64_t n = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (got <= 0) break;
        for (long off = 0; off < got;) {
            auto* d = reinterpret_cast<struct dirent64*>(buf + off);
            if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0) ++n;
            off += d->d_reclen;
        }
    }
    ::close(dfd);
    return n;
}

bool read_io(int pid, ProcStats& st) {
    char path[48];
    std::snprintf(path, sizeof path, "/proc/%d/io", pid);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return false;
    std::string_view text(buf, static_cast<size_t>(n));
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
            std::string_view key = line.substr(0, colon);
            std::string_view val = line.substr(colon + 1);
            while (!val.empty() && val.front() == ' ') val.remove_prefix(1);
            uint64_t v = 0;
            std::from_chars(val.data(), val.data() + val.size(), v);
            if (key == "syscr")
                st.read_count = v;
            else if (key == "syscw")
                st.write_count = v;
            else if (key == "read_bytes")
                st.read_bytes = v;
            else if (key == "write_bytes")
                st.write_bytes = v;
        }
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return true;
}

class ProcessModule final : public Module {
  public:
    std::expected<void, std::string> register_routes(http::Router& r) override {
        r.handle("POST", "/stats",
                 [this](const http::Request& req, http::Response& res) { handle_stats(req, res); });
        return {};
    }

    void write_stats(http::JsonWriter& w) const override {
        w.start_object();
        w.kv_uint("requests", requests_);
        w.kv_uint("bad_requests", bad_requests_);
        w.kv_int("last_request", last_request_);
        w.end_object();
    }

    void close() override {}

  private:
    void handle_stats(const http::Request& req, http::Response& res) {
        ++requests_;
        last_request_ = loop::Reactor::unix_now_s();
        std::string_view err = parse_pids(req.body);
        if (!err.empty()) {
            ++bad_requests_;
            res.error(400, err);
            return;
        }
        http::JsonWriter& w = res.json();
        w.start_object();
        w.key("statsByPID");
        w.start_object();
        for (int pid : pids_) {
            ProcStats st;
            int64_t fds = count_fds(pid);
            if (fds == -2) continue;  // no such process
            bool have_io = read_io(pid, st);
            if (!have_io && access_gone(pid)) continue;
            char key[16];
            auto [end, ec] = std::to_chars(key, key + sizeof key, pid);
            w.key(std::string_view(key, static_cast<size_t>(end - key)));
            w.start_object();
            if (fds > 0) w.kv_int("openFDCount", fds);
            if (st.read_count) w.kv_uint("readCount", st.read_count);
            if (st.write_count) w.kv_uint("writeCount", st.write_count);
            if (st.read_bytes) w.kv_uint("readBytes", st.read_bytes);
            if (st.write_bytes) w.kv_uint("writeBytes", st.write_bytes);
            w.end_object();
        }
        w.end_object();
        w.end_object();
    }

    static bool access_gone(int pid) {
        char path[32];
        std::snprintf(path, sizeof path, "/proc/%d", pid);
        return ::access(path, F_OK) != 0;
    }

    // Fills pids_ from {"pids": [int, ...]}; returns an error text, empty on success.
    std::string_view parse_pids(std::string_view body) {
        pids_.clear();
        if (body.empty()) return "request body is empty; expected {\"pids\": [<pid>, ...]}";
        // simdjson reads up to SIMDJSON_PADDING bytes past the end: give it a zeroed tail.
        padded_.resize(body.size() + simdjson::SIMDJSON_PADDING);
        std::memcpy(padded_.data(), body.data(), body.size());
        std::memset(padded_.data() + body.size(), 0, simdjson::SIMDJSON_PADDING);
        // The DOM parser validates the whole body (trailing garbage included) and keeps its
        // buffers between requests.
        simdjson::dom::element doc;
        if (parser_.parse(padded_.data(), body.size(), false).get(doc) != simdjson::SUCCESS)
            return "request body is not valid JSON";
        simdjson::dom::object obj;
        if (doc.get_object().get(obj) != simdjson::SUCCESS)
            return "request body must be a JSON object {\"pids\": [...]}";
        simdjson::dom::element field;
        if (obj.at_key("pids").get(field) != simdjson::SUCCESS) return "missing field \"pids\"";
        simdjson::dom::array arr;
        if (field.get_array().get(arr) != simdjson::SUCCESS)
            return "field \"pids\" must be an array of integers";
        for (auto v : arr) {
            int64_t pid;
            if (v.get_int64().get(pid) != simdjson::SUCCESS)
                return "field \"pids\" must hold only integers";
            if (pid <= 0 || pid > kMaxPid) return "pid out of range (1..4194304)";
            if (pids_.size() == kMaxPids) return "too many pids (at most 10000 per request)";
            pids_.push_back(static_cast<int>(pid));
        }
        // A pid asked for twice is answered once: statsByPID is an object (a Go map in
        // system-probe), and a JSON object with a duplicate key is ambiguous to its readers.
        std::sort(pids_.begin(), pids_.end());
        pids_.erase(std::unique(pids_.begin(), pids_.end()), pids_.end());
        return {};
    }

    simdjson::dom::parser parser_;
    std::vector<char> padded_;
    std::vector<int> pids_;
    uint64_t requests_ = 0;
    uint64_t bad_requests_ = 0;
    int64_t last_request_ = 0;
};

CreateResult create(const conf::Config&, Dependencies&) {
    if (::access("/proc/self/io", R_OK) != 0)
        return std::unexpected(std::string("process: /proc/self/io not readable: ") +
                               std::strerror(errno) +
                               " (is /proc mounted, CONFIG_TASK_IO_ACCOUNTING on?)");
    return std::make_unique<ProcessModule>();
}

constexpr std::string_view kNamespaces[] = {"system_probe_config"};

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory process_factory;
constinit const Factory process_factory{
    .name = "process",
    .config_namespaces = kNamespaces,
    .enable_key = "system_probe_config.process_config.enabled",
    .create = create,
    .needs_ebpf = false,
};

}  // namespace rp::modules
