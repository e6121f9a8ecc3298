// process_module.cpp — the `process` module: POST /process/stats → per-pid open fd count and I/O
// counters read from /proc (system-probe's process module, StatsWithPermByPID).
//
// Request (chosen by Content-Type, as system-probe's reqEncoding.GetUnmarshaler): protobuf
// datadog.process.ProcessStatRequest{repeated int32 pids = 1} (what the process-agent sends,
// packed or not), else JSON {"pids": [...]} as protojson reads it (numbers or numeric strings,
// unknown fields refused). Answer (chosen by Accept): protobuf ProcStatsWithPermByPID, else JSON
// {"statsByPID": {"<pid>": {...}}}, keys the proto field names, zero fields omitted (system-probe
// turns zero values off for this route). A pid that does not exist — or cannot (<= 0, above the
// kernel's pid_max) — or that exits while being read is left out; 400 only for a body that is not
// a valid request, with the reason.
//
// Fields: openFDCount = entries of /proc/<pid>/fd; readCount/writeCount/readBytes/writeBytes =
// syscr/syscw/read_bytes/write_bytes of /proc/<pid>/io. Reads use stack buffers and raw
// getdents64, so a request allocates nothing once the buffers have grown. A request for more than
// kWholeMaxPids (1024) pids is streamed (http/response.h), kPidsPerPiece pids per loop turn, so a
// 10,000-pid request does not hold other clients up for its whole ~100 ms.
#include <dirent.h>
#include <fcntl.h>
#include <simdjson.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include "http/protobuf.h"
#include "loop/log.h"
#include "loop/reactor.h"
#include "modules/module.h"
#include "modules/proto/messages.h"

namespace rp::modules {
namespace {

constexpr int64_t kPidMaxLimit = 4194304;  // PID_MAX_LIMIT on 64-bit
// Larger requests are streamed, kPidsPerPiece pids per loop turn: reading one pid's fd table and
// I/O counters takes ~10 µs here, so a whole answer holds the loop ~10 ms at most, a piece ~5 ms.
constexpr size_t kWholeMaxPids = 1024;
constexpr size_t kPidsPerPiece = 512;
constexpr size_t kMaxStreams = 2;  // streamed answers at once (the route's concurrency limit)

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

bool process_gone(int pid) {
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d", pid);
    return ::access(path, F_OK) != 0;
}

// The stats of one pid; false when the process does not exist (or exited meanwhile).
bool read_stats(int pid, ProcStats& st) {
    st.open_fds = count_fds(pid);
    if (st.open_fds == -2) return false;
    if (!read_io(pid, st) && process_gone(pid)) return false;
    return true;
}

void write_json_entry(http::JsonWriter& w, int pid, const ProcStats& st) {
    char key[16];
    auto end = std::to_chars(key, key + sizeof key, pid).ptr;
    w.key(std::string_view(key, static_cast<size_t>(end - key)));
    w.start_object();
    if (st.open_fds > 0) w.kv_int("openFDCount", st.open_fds);
    if (st.read_count) w.kv_uint("readCount", st.read_count);
    if (st.write_count) w.kv_uint("writeCount", st.write_count);
    if (st.read_bytes) w.kv_uint("readBytes", st.read_bytes);
    if (st.write_bytes) w.kv_uint("writeBytes", st.write_bytes);
    w.end_object();
}

// One statsByPID map entry: a top-level field of ProcStatsWithPermByPID, so entries written one
// after another (in separate pieces of a stream, even) form the whole message.
void write_pb_entry(http::Buffer& out, int pid, const ProcStats& st) {
    namespace P = proto::ProcStatsWithPerm;
    http::PbfWriter msg(out);
    http::PbfWriter entry(msg, proto::ProcStatsWithPermByPID::statsByPID);
    entry.add_int32(proto::MapEntry::key, pid);
    http::PbfWriter v(entry, proto::MapEntry::value);
    // proto3 omits zero values; the int64 fields carry the kernel's u64 counters.
    if (st.open_fds > 0) v.add_int32(P::openFDCount, static_cast<int32_t>(st.open_fds));
    if (st.read_count) v.add_int64(P::readCount, static_cast<int64_t>(st.read_count));
    if (st.write_count) v.add_int64(P::writeCount, static_cast<int64_t>(st.write_count));
    if (st.read_bytes) v.add_int64(P::readBytes, static_cast<int64_t>(st.read_bytes));
    if (st.write_bytes) v.add_int64(P::writeBytes, static_cast<int64_t>(st.write_bytes));
}

// Writes the entries of pids[from, to) that exist; returns how many were written.
size_t write_entries(http::Encoding enc, http::JsonWriter* w, http::Buffer& out,
                     const std::vector<int>& pids, size_t from, size_t to) {
    size_t n = 0;
    for (size_t i = from; i < to; ++i) {
        ProcStats st;
        if (!read_stats(pids[i], st)) continue;
        if (enc == http::Encoding::protobuf)
            write_pb_entry(out, pids[i], st);
        else
            write_json_entry(*w, pids[i], st);
        ++n;
    }
    return n;
}

// A streamed answer for a large request: its own pid list and JSON writer, reused request after
// request (the module keeps kMaxStreams of them).
class StatsStream final : public http::StreamBody {
  public:
    bool busy() const { return busy_; }
    std::vector<int>& pids() { return pids_; }
    void start(http::Encoding enc, bool pretty) {
        busy_ = true;
        enc_ = enc;
        pretty_ = pretty;
        next_ = 0;
        started_ = false;
        entries_ = 0;
    }
    size_t entries() const { return entries_; }

    bool produce(http::Buffer& out, size_t budget) override {
        if (!started_) {
            started_ = true;
            if (enc_ == http::Encoding::json) {
                writer_.reset(out, pretty_);
                writer_.start_object();
                writer_.key("statsByPID");
                writer_.start_object();
            }
        }
        // One batch of pids per loop turn — more while a batch finds none of its pids (appending
        // nothing would mean "wait for wake()"), all of them when the budget is unbounded.
        size_t start_size = out.size();
        while (next_ < pids_.size()) {
            size_t to = std::min(pids_.size(), next_ + kPidsPerPiece);
            entries_ += write_entries(enc_, &writer_, out, pids_, next_, to);
            next_ = to;
            if (budget != SIZE_MAX && out.size() > start_size) break;
        }
        if (next_ < pids_.size()) return false;
        if (enc_ == http::Encoding::json) {
            writer_.end_object();
            writer_.end_object();
            out.push_back('\n');
        }
        busy_ = false;
        return true;
    }
    void abandoned() override { busy_ = false; }

  private:
    http::Buffer placeholder_;
    http::JsonWriter writer_{placeholder_};
    std::vector<int> pids_;
    http::Encoding enc_ = http::Encoding::json;
    bool pretty_ = false;
    bool started_ = false;
    bool busy_ = false;
    size_t next_ = 0;
    size_t entries_ = 0;
};

int64_t read_pid_max() {
    int fd = ::open("/proc/sys/kernel/pid_max", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kPidMaxLimit;
    char buf[32] = {};
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    int64_t v = 0;
    if (n <= 0 || std::from_chars(buf, buf + n, v).ec != std::errc() || v <= 0) return kPidMaxLimit;
    return v;
}

class ProcessModule final : public Module {
  public:
    explicit ProcessModule(int64_t pid_max) : pid_max_(pid_max) {}

    std::expected<void, std::string> register_routes(http::Router& r) override {
        r.handle(
            "POST", "/stats",
            [this](const http::Request& req, http::Response& res) { handle_stats(req, res); },
            http::RouteOptions{.max_in_flight = kMaxStreams});
        return {};
    }

    void write_stats(http::JsonWriter& w) const override {
        w.start_object();
        w.kv_int("last_check", last_request_);
        w.kv_uint("requests", requests_);
        w.kv_uint("protobuf_requests", protobuf_requests_);
        w.kv_uint("bad_requests", bad_requests_);
        w.kv_uint("streamed_answers", streamed_);
        w.kv_uint("pids_out_of_range", out_of_range_);
        w.kv_int("pid_max", pid_max_);
        w.end_object();
    }

    void close() override {}

  private:
    void handle_stats(const http::Request& req, http::Response& res) {
        ++requests_;
        last_request_ = loop::Reactor::unix_now_s();
        bool pb_in = req.body_encoding() == http::Encoding::protobuf;
        if (pb_in) ++protobuf_requests_;
        std::string err = pb_in ? parse_protobuf(req.body) : parse_json(req.body);
        if (!err.empty()) {
            ++bad_requests_;
            res.error(400, err);
            return;
        }
        // A pid asked for twice is answered once: statsByPID is a map, and a JSON object with a
        // duplicate key is ambiguous to its readers.
        std::sort(pids_.begin(), pids_.end());
        pids_.erase(std::unique(pids_.begin(), pids_.end()), pids_.end());

        http::Encoding enc = req.accepts();
        if (pids_.size() > kWholeMaxPids) {
            for (auto& s : streams_) {
                if (s.busy()) continue;
                std::swap(s.pids(), pids_);
                s.start(enc, req.pretty());
                ++streamed_;
                res.stream(enc == http::Encoding::protobuf ? http::kProtobufType : http::kJsonType,
                           s);
                return;
            }
            // Unreachable while the route limit equals kMaxStreams; answered whole otherwise.
        }
        if (enc == http::Encoding::protobuf) {
            write_entries(enc, nullptr, res.protobuf(), pids_, 0, pids_.size());
            return;
        }
        http::JsonWriter& w = res.json();
        w.start_object();
        w.key("statsByPID");
        w.start_object();
        write_entries(enc, &w, w.buffer(), pids_, 0, pids_.size());
        w.end_object();
        w.end_object();
    }

    // Keeps the pids a request may name; counts the others (they are simply absent, as upstream).
    void add_pid(int64_t pid) {
        if (pid <= 0 || pid > pid_max_) {
            ++out_of_range_;
            return;
        }
        pids_.push_back(static_cast<int>(pid));
    }

    // ProcessStatRequest: field 1, repeated int32, packed (proto3's default) or one per field.
    std::string parse_protobuf(std::string_view body) {
        pids_.clear();
        return http::decode(body, [this](protozero::pbf_reader& r) -> std::string {
            while (r.next()) {
                if (r.tag() != proto::ProcessStatRequest::pids) {
                    r.skip();
                    continue;
                }
                if (r.wire_type() == protozero::pbf_wire_type::length_delimited) {
                    for (int32_t pid : r.get_packed_int32()) add_pid(pid);
                } else if (r.wire_type() == protozero::pbf_wire_type::varint) {
                    add_pid(r.get_int32());
                } else {
                    return "field 1 (pids) of ProcessStatRequest must be int32";
                }
            }
            return {};
        });
    }

    // {"pids": [...]} as protojson reads it: integers or strings holding one, null = no pids,
    // every other key refused.
    std::string parse_json(std::string_view body) {
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
        for (auto field : obj) {
            if (field.key != "pids")
                return "unknown field \"" + std::string(field.key.substr(0, 64)) +
                       "\" (a ProcessStatRequest has only \"pids\")";
            if (field.value.is_null()) continue;
            simdjson::dom::array arr;
            if (field.value.get_array().get(arr) != simdjson::SUCCESS)
                return "field \"pids\" must be an array of integers";
            for (auto v : arr) {
                int64_t pid = 0;
                std::string_view text;
                if (v.get_int64().get(pid) == simdjson::SUCCESS) {
                } else if (v.get_string().get(text) == simdjson::SUCCESS &&
                           std::from_chars(text.data(), text.data() + text.size(), pid).ptr ==
                               text.data() + text.size() &&
                           !text.empty()) {
                } else {
                    return "field \"pids\" must hold only int32 values";
                }
                if (pid < INT32_MIN || pid > INT32_MAX)
                    return "field \"pids\" must hold only int32 values";
                add_pid(pid);
            }
        }
        return {};
    }

    int64_t pid_max_;
    simdjson::dom::parser parser_;
    std::vector<char> padded_;
    std::vector<int> pids_;
    std::array<StatsStream, kMaxStreams> streams_;
    uint64_t requests_ = 0;
    uint64_t protobuf_requests_ = 0;
    uint64_t bad_requests_ = 0;
    uint64_t streamed_ = 0;
    uint64_t out_of_range_ = 0;
    int64_t last_request_ = 0;
};

CreateResult create(const conf::Config&, Dependencies&) {
    if (::access("/proc/self/io", R_OK) != 0)
        return std::unexpected(std::string("process: /proc/self/io not readable: ") +
                               std::strerror(errno) +
                               " (is /proc mounted, CONFIG_TASK_IO_ACCOUNTING on?)");
    return std::make_unique<ProcessModule>(read_pid_max());
}

constexpr std::string_view kNamespaces[] = {"system_probe_config"};

}  // namespace

extern const Factory process_factory;
constinit const Factory process_factory{
    .name = "process",
    .config_namespaces = kNamespaces,
    .enable_key = "system_probe_config.process_config.enabled",
    .create = create,
    .needs_ebpf = false,
};

}  // namespace rp::modules
