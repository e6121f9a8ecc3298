// language_detection_module.cpp — the `language_detection` module: GET /language_detection/detect
// with a protobuf datadog.languagedetection.DetectLanguageRequest body (sent on a GET by the
// Agent's RemoteSysProbeUtil.DetectLanguage) → a protobuf DetectLanguageResponse holding one
// Language per requested process, in request order (system-probe's privileged language detector).
//
// Per pid (pkg/languagedetection/privileged/privileged_detector.go): the executable behind
// /proc/<pid>/exe is identified by (device, inode) and looked up in an LRU of binaries (upstream:
// 1000; ringprobe.language_detection.binary_cache_size); on a miss the Go detector reads the ELF
// file's build info (modules/gobuild/, shared with discovery) — a Go binary answers
// {name: "go", version: "<runtime.buildVersion>"}, anything else (a shell, Python, C, a kernel
// thread, a process gone meanwhile, a permission error) the empty Language {} exactly as upstream,
// whose only privileged detector is the Go one. Only answers read from an executable are cached
// (upstream also caches the failure of a vanished pid under the zero key).
//
// Any method (upstream's HandleFunc). Bad input is answered 400 {"error": ...} naming the problem
// (upstream: 500 with an empty body): a body that is not a DetectLanguageRequest, a Process whose
// pid is missing or <= 0, more processes than ringprobe.language_detection.max_pids. An empty body
// is the valid empty request the Agent sends when it knows every language: 200, empty response.
// Requests over kWholeMaxPids processes are streamed, kPidsPerPiece per loop turn. Rules and
// deviations: docs/modules/language_detection.md.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <protozero/buffer_string.hpp>
#include <protozero/pbf_writer.hpp>
#include <string>
#include <vector>

#include "http/protobuf.h"
#include "loop/log.h"
#include "loop/reactor.h"
#include "modules/gobuild/binary_cache.h"
#include "modules/gobuild/build_info.h"
#include "modules/kit/config.h"
#include "modules/module.h"
#include "modules/proto/messages.h"

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "language_detection";
constexpr std::string_view kNamespaces[] = {"system_probe_config.language_detection",
                                            "ringprobe.language_detection"};
// A cached pid costs one stat of /proc/<pid>/exe (~2 µs), a new executable an open and up to
// 64 KiB read (~30-100 µs): a whole answer of 1024 pids holds the loop a few ms at most.
constexpr size_t kWholeMaxPids = 1024;
constexpr size_t kPidsPerPiece = 256;
constexpr size_t kMaxStreams = 2;  // streamed answers at once; a third large request is whole
// Versions longer than this are answered but not cached (Go's are ~8-60 bytes).
constexpr size_t kCachedVersionBytes = 118;

// What one executable answers, as the cache keeps it.
struct CachedLanguage {
    bool go = false;
    uint8_t version_len = 0;
    char version[kCachedVersionBytes] = {};
};

struct Counters {
    uint64_t requests = 0, streamed = 0, bad_requests = 0, too_many_pids = 0;
    uint64_t pids = 0, go = 0, not_go = 0, no_build_version = 0;
    uint64_t vanished = 0, no_executable = 0, permission_denied = 0, unreadable = 0;
    uint64_t versions_uncached = 0;
};

// The privileged detector: one pid at a time, answers appended as DetectLanguageResponse entries.
class Detector {
  public:
    explicit Detector(size_t cache_size) : cache_(cache_size) {}

    // Appends the Language of `pid` (one `languages` field, empty message included) to `out`.
    void detect_into(int32_t pid, http::Buffer& out) {
        ++c_.pids;
        std::string_view version;
        bool go = detect(pid, version);
        inner_.clear();
        if (go) {
            protozero::pbf_writer w(inner_);
            w.add_string(proto::Language::name, "go");
            if (!version.empty())
                w.add_string(proto::Language::version, version.data(), version.size());
        }
        // add_message, not a nested writer: protozero drops an empty nested message, and the
        // Agent reads the answer by index.
        http::PbfWriter(out).add_message(proto::DetectLanguageResponse::languages, inner_);
    }

    Counters& counters() { return c_; }
    const Counters& counters() const { return c_; }
    const gobuild::BinaryCache<CachedLanguage>& cache() const { return cache_; }

  private:
    bool detect(int32_t pid, std::string_view& version) {
        char path[40];
        std::snprintf(path, sizeof path, "/proc/%d/exe", static_cast<int>(pid));
        struct stat st;
        if (::stat(path, &st) != 0) return failed(pid, errno);
        if (const CachedLanguage* hit = cache_.find(st.st_dev, st.st_ino)) {
            version = std::string_view(hit->version, hit->version_len);
            ++(hit->go ? c_.go : c_.not_go);
            return hit->go;
        }
        int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return failed(pid, errno);
        gobuild::BuildInfo info = gobuild::read_build_info(fd, scratch_, true);
        struct stat opened;
        bool same =
            ::fstat(fd, &opened) == 0 && opened.st_dev == st.st_dev && opened.st_ino == st.st_ino;
        ::close(fd);
        // upstream's Go detector: Go only with a decodable version (binversion.ReadElfBuildInfo).
        bool go = !info.version.empty();
        if (info.is_go && !go) ++c_.no_build_version;
        ++(go ? c_.go : c_.not_go);
        version = info.version;
        if (!same) return go;  // the pid exec'd another binary between stat and open
        CachedLanguage v;
        v.go = go;
        if (version.size() <= sizeof v.version) {
            v.version_len = static_cast<uint8_t>(version.size());
            if (!version.empty()) std::memcpy(v.version, version.data(), version.size());
            cache_.insert(st.st_dev, st.st_ino, v);
        } else {
            ++c_.versions_uncached;
        }
        return go;
    }

    // upstream answers {} for all of these; the counters say which it was.
    bool failed(int32_t pid, int err) {
        if (err == EACCES || err == EPERM) {
            ++c_.permission_denied;
            if (!warned_) {
                warned_ = true;
                LOG_WARN(
                    "language_detection: permission denied reading /proc/%d/exe (%s): run as root, "
                    "with CAP_SYS_PTRACE in a container; such processes are answered with no "
                    "language",
                    static_cast<int>(pid), std::strerror(err));
            }
            return false;
        }
        if (err != ENOENT && err != ESRCH) {
            ++c_.unreadable;
            return false;
        }
        // A kernel thread has no executable; otherwise the process is gone (or never was).
        char dir[32];
        std::snprintf(dir, sizeof dir, "/proc/%d", static_cast<int>(pid));
        ++(::access(dir, F_OK) == 0 ? c_.no_executable : c_.vanished);
        return false;
    }

    gobuild::BinaryCache<CachedLanguage> cache_;
    std::vector<char> scratch_;
    std::string inner_;
    Counters c_;
    bool warned_ = false;
};

// A streamed answer for a large request: its own pid list, reused request after request.
class DetectStream final : public http::StreamBody {
  public:
    explicit DetectStream(Detector& d) : detector_(&d) {}
    bool busy() const { return busy_; }
    std::vector<int32_t>& pids() { return pids_; }
    void start() {
        busy_ = true;
        next_ = 0;
    }
    bool produce(http::Buffer& out, size_t budget) override {
        size_t to =
            budget == SIZE_MAX ? pids_.size() : std::min(pids_.size(), next_ + kPidsPerPiece);
        for (; next_ < to; ++next_) detector_->detect_into(pids_[next_], out);
        if (next_ < pids_.size()) return false;  // each pid appends an entry: never "nothing yet"
        busy_ = false;
        return true;
    }
    void abandoned() override { busy_ = false; }

  private:
    Detector* detector_;
    std::vector<int32_t> pids_;
    size_t next_ = 0;
    bool busy_ = false;
};

class LanguageDetectionModule final : public Module {
  public:
    LanguageDetectionModule(size_t max_pids, size_t cache_size)
        : max_pids_(max_pids), detector_(cache_size) {
        for (auto& s : streams_) s = std::make_unique<DetectStream>(detector_);
    }

    std::expected<void, std::string> register_routes(http::Router& r) override {
        r.handle("", "/detect",
                 [this](const http::Request& req, http::Response& res) { detect(req, res); });
        return {};
    }

    void write_stats(http::JsonWriter& w) const override {
        const Counters& c = detector_.counters();
        const auto& cache = detector_.cache();
        w.start_object();
        w.kv_uint("requests", c.requests);
        w.kv_uint("streamed", c.streamed);
        w.kv_uint("bad_requests", c.bad_requests);
        w.kv_uint("too_many_pids", c.too_many_pids);
        w.kv_uint("max_pids", max_pids_);
        w.kv_uint("pids", c.pids);
        w.kv_uint("go", c.go);
        w.kv_uint("not_go", c.not_go);
        w.kv_uint("go_build_info_without_version", c.no_build_version);
        w.kv_uint("vanished", c.vanished);
        w.kv_uint("no_executable", c.no_executable);
        w.kv_uint("permission_denied", c.permission_denied);
        w.kv_uint("unreadable", c.unreadable);
        w.key("binary_cache");
        w.start_object();
        w.kv_uint("entries", cache.size());
        w.kv_uint("capacity", cache.capacity());
        w.kv_uint("hits", cache.hits());
        w.kv_uint("misses", cache.misses());
        w.kv_uint("evictions", cache.evictions());
        w.kv_uint("versions_too_long", c.versions_uncached);
        w.end_object();
        w.end_object();
    }

    void write_metrics(http::MetricsWriter& w) const override {
        static constexpr http::MetricFamily kRequests{
            "ringprobe_language_detection_requests", http::MetricKind::counter,
            "GET /language_detection/detect requests, by outcome."};
        static constexpr http::MetricFamily kPids{
            "ringprobe_language_detection_pids", http::MetricKind::counter,
            "Processes asked about, by answer: go, none (not Go, or no build version), or why "
            "none (vanished, no_executable, permission_denied, unreadable)."};
        static constexpr http::MetricFamily kEntries{
            "ringprobe_language_detection_binary_cache_entries", http::MetricKind::gauge,
            "Executables whose answer is cached (by device and inode)."};
        static constexpr http::MetricFamily kCapacity{
            "ringprobe_language_detection_binary_cache_capacity", http::MetricKind::gauge,
            "Capacity of the executable cache (ringprobe.language_detection.binary_cache_size)."};
        static constexpr http::MetricFamily kLookups{
            "ringprobe_language_detection_binary_cache_lookups", http::MetricKind::counter,
            "Executable cache lookups, by result."};
        static constexpr http::MetricFamily kEvictions{
            "ringprobe_language_detection_binary_cache_evictions", http::MetricKind::counter,
            "Executables dropped from the full cache (least recently used)."};
        const Counters& c = detector_.counters();
        const auto& cache = detector_.cache();
        uint64_t bad_other = c.bad_requests - c.too_many_pids;
        w.counter(kRequests, {{"outcome", "ok"}}, c.requests - c.bad_requests);
        w.counter(kRequests, {{"outcome", "bad_request"}}, bad_other);
        w.counter(kRequests, {{"outcome", "too_many_pids"}}, c.too_many_pids);
        w.counter(kPids, {{"answer", "go"}}, c.go);
        w.counter(kPids, {{"answer", "none"}}, c.not_go);
        w.counter(kPids, {{"answer", "vanished"}}, c.vanished);
        w.counter(kPids, {{"answer", "no_executable"}}, c.no_executable);
        w.counter(kPids, {{"answer", "permission_denied"}}, c.permission_denied);
        w.counter(kPids, {{"answer", "unreadable"}}, c.unreadable);
        w.gauge(kEntries, {}, static_cast<double>(cache.size()));
        w.gauge(kCapacity, {}, static_cast<double>(cache.capacity()));
        w.counter(kLookups, {{"result", "hit"}}, cache.hits());
        w.counter(kLookups, {{"result", "miss"}}, cache.misses());
        w.counter(kEvictions, {}, cache.evictions());
    }

    void close() override {}

  private:
    void detect(const http::Request& req, http::Response& res) {
        Counters& c = detector_.counters();
        ++c.requests;
        std::string err = parse(req.body);
        if (!err.empty()) {
            ++c.bad_requests;
            res.error(400, err);
            return;
        }
        if (pids_.size() > kWholeMaxPids) {
            for (auto& s : streams_) {
                if (s->busy()) continue;
                std::swap(s->pids(), pids_);
                s->start();
                ++c.streamed;
                res.stream(http::kProtobufType, *s);
                return;
            }
        }
        http::Buffer& out = res.protobuf();
        for (int32_t pid : pids_) detector_.detect_into(pid, out);
    }

    // DetectLanguageRequest{repeated Process processes = 1}, Process{int32 pid = 1; string
    // command = 2; repeated string cmdline = 3}: pids kept in order; command and cmdline (which
    // the Agent does not send) checked for their wire type and ignored, as upstream's privileged
    // detector ignores them; unknown fields skipped (proto3).
    std::string parse(std::string_view body) {
        pids_.clear();
        size_t count = 0;
        std::string err = http::decode(body, [&](protozero::pbf_reader& r) -> std::string {
            while (r.next()) {
                if (r.tag() != proto::DetectLanguageRequest::processes) {
                    r.skip();
                    continue;
                }
                if (r.wire_type() != protozero::pbf_wire_type::length_delimited)
                    return "field 1 (processes) of DetectLanguageRequest must be a Process "
                           "message";
                protozero::pbf_reader p = r.get_message();
                int64_t pid = 0;
                bool have_pid = false;
                while (p.next()) {
                    switch (p.tag()) {
                        case proto::Process::pid:
                            if (p.wire_type() != protozero::pbf_wire_type::varint)
                                return "processes[" + std::to_string(count) +
                                       "]: field 1 (pid) of Process must be an int32";
                            pid = p.get_int32();
                            have_pid = true;
                            break;
                        case proto::Process::command:
                        case proto::Process::cmdline:
                            if (p.wire_type() != protozero::pbf_wire_type::length_delimited)
                                return "processes[" + std::to_string(count) + "]: field " +
                                       std::to_string(p.tag()) + " of Process must be a string";
                            p.skip();
                            break;
                        default:
                            p.skip();
                    }
                }
                if (!have_pid || pid <= 0)
                    return "processes[" + std::to_string(count) + "]: pid " +
                           (have_pid ? std::to_string(pid) : std::string("missing")) +
                           " is not a process id";
                if (++count <= max_pids_) pids_.push_back(static_cast<int32_t>(pid));
            }
            return {};
        });
        if (!err.empty()) {
            if (err.find("processes[") != 0 && err.find("field 1 (processes)") != 0)
                err = "request body is not a protobuf DetectLanguageRequest: " + err;
            return err;
        }
        if (count > max_pids_) {
            ++detector_.counters().too_many_pids;
            return "the request names " + std::to_string(count) + " processes; at most " +
                   std::to_string(max_pids_) +
                   " per request (ringprobe.language_detection.max_pids)";
        }
        return {};
    }

    size_t max_pids_;
    Detector detector_;
    std::vector<int32_t> pids_;
    std::unique_ptr<DetectStream> streams_[kMaxStreams];
};

CreateResult create(const conf::Config& cfg, Dependencies&) {
    auto max_pids = kit::config_int(cfg, "ringprobe.language_detection.max_pids", 65536);
    auto cache = kit::config_int(cfg, "ringprobe.language_detection.binary_cache_size", 1000);
    return std::make_unique<LanguageDetectionModule>(static_cast<size_t>(max_pids),
                                                     static_cast<size_t>(cache));
}

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory language_detection_factory;
constinit const Factory language_detection_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "system_probe_config.language_detection.enabled",
    .create = create,
    .needs_ebpf = false,
};

}  // namespace rp::modules
