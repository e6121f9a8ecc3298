// discovery_module.cpp — the `discovery` module: the services of this host for the Agent's
// process collector (system-probe's pkg/discovery/module; docs/modules/discovery.md).
//
//   POST /discovery/services  {"new_pids": [...], "heartbeat_pids": [...]}
//        → {"services": [Service...], "injected_pids": [...] | null, "gpu_pids": [...] | null}
//   GET  /discovery/status    "Discovery Module is running"
//   GET  /discovery/state     {}
//
// A new pid is reported with every field when it is a service — it has a listening TCP or bound
// UDP port, a tracer memfd or a log file open — and its command name is not ignored; a heartbeat
// pid only with its ports and log files. A new pid that maps the APM injector is listed in
// injected_pids whether it is a service or not, and one that uses an NVIDIA GPU in gpu_pids.
// Everything is read from /proc at request time; the work per pid is bounded and uses the request's
// reusable buffers, so a request allocates nothing once they have grown. A request for more than
// kWholeMaxPids pids is streamed: about kPieceNs of work per loop turn, so 10,000 pids hold other
// clients up for no longer than that.
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>
#include <vector>

#include "http/json_writer.h"
#include "http/metrics.h"
#include "loop/log.h"
#include "loop/reactor.h"
#include "modules/discovery/json_scan.h"
#include "modules/discovery/language.h"
#include "modules/discovery/procfs.h"
#include "modules/discovery/service_name.h"
#include "modules/discovery/socket_tables.h"
#include "modules/discovery/tracer_metadata.h"
#if RINGPROBE_WITH_BPF
#include "modules/discovery/task_files.h"
#endif
#include "modules/module.h"

namespace rp::modules {
namespace {

using namespace discovery;

constexpr size_t kMaxInFlight = 2;        // system-probe's limit for /services
constexpr size_t kWholeMaxPids = 64;      // larger requests are streamed
constexpr uint64_t kPieceNs = 2'000'000;  // work per loop turn of a streamed answer
constexpr size_t kPieceBytes = 64 * 1024;
constexpr size_t kMaxCmdlineBytes = 128 * 1024;
constexpr size_t kChunkBytes = 32 * 1024;  // /proc reads (maps, environ, net tables, sock_diag)
constexpr size_t kMaxCommLen = 15;         // TASK_COMM_LEN - 1

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// CPU time of this thread: what the choice between the iterator and /proc compares (wall time
// would count the loop's preemptions on a busy host).
uint64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Module-wide, shared by the requests.
struct Shared {
    std::vector<std::string> ignored_comms;  // cut to 15 bytes; empty: nothing ignored
    BinaryCache binaries;
    PortRange ephemeral;

    // Counters (GetStats).
    uint64_t requests = 0, bad_requests = 0, streamed = 0;
    uint64_t new_pids = 0, heartbeat_pids = 0, pids_missing = 0;
    uint64_t services = 0, heartbeats = 0, injected = 0, gpu = 0, ignored = 0;
    uint64_t tracer_metadata = 0;
    uint64_t maps_scans = 0, maps_skipped = 0;
    uint64_t netns_read = 0, socket_lines = 0, socket_overflow = 0, diag_dumps = 0;
    uint64_t sockets_dropped = 0, logs_dropped = 0;
    uint64_t last_request_ns = 0, max_request_ns = 0, total_request_ns = 0;
    uint64_t last_request_pids = 0;
    int64_t last_request_unix = 0;
    uint64_t snapshots = 0, snapshot_errors = 0, snapshot_pids = 0, procfs_pids = 0;
    uint64_t last_snapshot_bytes = 0, last_snapshot_tasks = 0, last_snapshot_ns = 0;

#if RINGPROBE_WITH_BPF
    std::unique_ptr<TaskFiles> iterator;  // null: /proc only
#endif
    std::string iterator_status = "off";  // "bpf_iterator", or why not
    // From this many pids a request reads the iterator's snapshot of every process's files (one
    // kernel walk over every task) rather than /proc/<pid>/fd of each pid.
    size_t iterator_min_pids = 32;
    // The choice between the two (bpf_iterator_adaptive): a snapshot walks every file of every
    // process of the host, /proc only the pids asked about, so which is cheaper depends on the
    // host. Running averages of both costs decide, each request: the snapshot's time against
    // the request's pids times the /proc cost per pid. Every kReprobe-th eligible request takes
    // the other path, so that its average follows the host.
    bool adaptive = true;
    static constexpr uint64_t kReprobe = 16;
    double snapshot_ns_avg = 0;  // 0: not measured yet
    double procfs_pid_ns_avg = 0;
    uint64_t eligible = 0, chose_procfs = 0;

    explicit Shared(size_t cache) : binaries(cache), ephemeral(read_ephemeral_range()) {}
};

// Everything one request needs, reused by the next one.
class Request final : public http::StreamBody {
  public:
    explicit Request(Shared& s) : shared_(s), tables_(s.ephemeral) {
        chunk_.resize(kChunkBytes);
        elf_.resize(64 * 1024);
    }

    bool busy() const { return busy_; }
    std::vector<int32_t>& new_pids() { return new_pids_; }
    std::vector<int32_t>& heartbeat_pids() { return heartbeat_pids_; }

    void begin(bool pretty, uint64_t start_ns) {
        busy_ = true;
        pretty_ = pretty;
        start_ns_ = start_ns;
        next_new_ = next_hb_ = 0;
        started_ = false;
        injected_.clear();
        gpu_pids_.clear();
        tables_.reset();
        mount_ns_.clear();
        use_snapshot_ = false;
        procfs_ns_ = procfs_count_ = procfs_calls_ = 0;
#if RINGPROBE_WITH_BPF
        size_t total = new_pids_.size() + heartbeat_pids_.size();
        if (shared_.iterator && total >= shared_.iterator_min_pids && want_snapshot(total)) {
            uint64_t t0 = now_ns(), c0 = thread_cpu_ns();
            std::string err;
            use_snapshot_ = shared_.iterator->snapshot(snapshot_, tasks_, &err);
            if (use_snapshot_) {
                ++shared_.snapshots;
                shared_.last_snapshot_bytes = snapshot_.size();
                shared_.last_snapshot_tasks = tasks_.size();
                shared_.last_snapshot_ns = now_ns() - t0;
                average(shared_.snapshot_ns_avg, static_cast<double>(thread_cpu_ns() - c0));
            } else {
                ++shared_.snapshot_errors;
                RP_LOG(warn, "discovery: %s; reading /proc instead", err.c_str());
            }
        }
#endif
    }

    // Writes the whole answer into w (a whole response).
    void run_whole(http::JsonWriter& w) {
        open_document(w);
        while (step(w)) {
        }
        close_document(w);
        finish();
    }

    bool produce(http::Buffer& out, size_t budget) override {
        if (!started_) {
            writer_.reset(out, pretty_);
            open_document(writer_);
            started_ = true;
        }
        size_t start = out.size();
        bool more = true;
        if (budget == SIZE_MAX) {  // everything at once (a Response outside a connection)
            while (more) more = step(writer_);
        } else {
            uint64_t deadline = now_ns() + kPieceNs;
            while (more) {
                more = step(writer_);
                if (out.size() - start >= std::min(budget, kPieceBytes) || now_ns() >= deadline)
                    break;
            }
        }
        if (more) {
            // Nothing found in this piece: JSON whitespace keeps the stream alive (appending
            // nothing would mean "wait for wake()").
            if (out.size() == start) out.push_back(' ');
            return false;
        }
        close_document(writer_);
        out.push_back('\n');
        finish();
        return true;
    }
    void abandoned() override { busy_ = false; }

  private:
    void open_document(http::JsonWriter& w) {
        w.start_object();
        w.key("services");
        w.start_array();
    }
    void close_document(http::JsonWriter& w) {
        w.end_array();
        for (auto [key, pids] :
             {std::pair{"injected_pids", &injected_}, std::pair{"gpu_pids", &gpu_pids_}}) {
            w.key(key);
            if (pids->empty()) {
                w.null();
                continue;
            }
            w.start_array();
            for (int pid : *pids) w.int64(pid);
            w.end_array();
        }
        w.end_object();
    }
    static void average(double& avg, double sample) {
        avg = avg == 0 ? sample : avg + (sample - avg) / 4;
    }
#if RINGPROBE_WITH_BPF
    // Whether this request (of `total` pids, enough for the iterator) should take a snapshot.
    bool want_snapshot(size_t total) {
        Shared& s = shared_;
        if (!s.adaptive) return true;
        ++s.eligible;
        bool snap = true;
        if (s.snapshot_ns_avg != 0 && s.procfs_pid_ns_avg != 0)
            snap = s.snapshot_ns_avg < static_cast<double>(total) * s.procfs_pid_ns_avg;
        else if (s.snapshot_ns_avg != 0)
            snap = false;  // /proc not measured yet
        if (s.eligible % Shared::kReprobe == 0) snap = !snap;
        if (!snap) ++s.chose_procfs;
        return snap;
    }
#endif
    void finish() {
        // The /proc cost per pid, from requests with enough pids read (and sampled) that way.
        if (procfs_count_ >= 4)
            average(shared_.procfs_pid_ns_avg,
                    static_cast<double>(procfs_ns_) / static_cast<double>(procfs_count_));
        uint64_t ns = now_ns() - start_ns_;
        shared_.last_request_ns = ns;
        shared_.max_request_ns = std::max(shared_.max_request_ns, ns);
        shared_.total_request_ns += ns;
        shared_.netns_read += tables_.namespaces();
        shared_.socket_lines += tables_.lines_parsed();
        shared_.socket_overflow += tables_.overflow();
        shared_.diag_dumps += tables_.diag_dumps();
        busy_ = false;
    }

    // One pid; false when there is none left.
    bool step(http::JsonWriter& w) {
        if (next_new_ < new_pids_.size()) {
            new_pid(new_pids_[next_new_++], w);
            return true;
        }
        if (next_hb_ < heartbeat_pids_.size()) {
            heartbeat_pid(heartbeat_pids_[next_hb_++], w);
            return true;
        }
        return false;
    }

    // ------------------------------------------------------------ per pid

    // Whether comm is one not to report (system-probe's shouldIgnoreComm): an unreadable comm
    // counts as ignored, as upstream.
    bool ignored_comm() {
        if (shared_.ignored_comms.empty()) return false;
        char buf[kMaxCommLen + 1];
        ssize_t n = read_small(piddir(), "comm", buf, kMaxCommLen);
        if (n <= 0) return true;
        std::string_view comm(buf, static_cast<size_t>(n));
        size_t dash = comm.find('-');
        if (dash != std::string_view::npos && dash > 0) {
            std::string_view family = comm.substr(0, dash);
            if (family == "systemd" || family == "datadog" || family == "containerd" ||
                family == "docker")
                return true;
        }
        if (comm.ends_with('\n')) comm.remove_suffix(1);
        for (const auto& c : shared_.ignored_comms)
            if (c == comm) return true;
        return false;
    }

    // What the mount namespace of the pid being looked at holds, checked once per namespace and
    // request. The injector can only be mapped from its directory, and the NVIDIA libraries are
    // of use only where the driver's device nodes are: a new pid's maps is read only in mount
    // namespaces with /opt/datadog-packages/datadog-apm-inject (for the injector) or
    // /dev/nvidiactl or /dev/nvidia0 (for the libraries) — unless it is a service, whose maps is
    // read anyway. Unknown (no ns/mnt): both may be there.
    struct MountNs {
        uint64_t ino;
        bool injector_dir, nvidia_dev;
    };
    MountNs mount_ns(uint64_t mnt_ns) {
        if (mnt_ns == 0) {
            // Through the fd directory when it is open: /proc/<pid> itself is opened only for
            // a mount namespace not seen yet in this request, or for a service.
            struct stat st;
            int rc = fd_dir_ >= 0 ? ::fstatat(fd_dir_, "../ns/mnt", &st, 0)
                                  : ::fstatat(piddir(), "ns/mnt", &st, 0);
            if (rc != 0) return {0, true, true};
            mnt_ns = st.st_ino;
        }
        for (const auto& m : mount_ns_)
            if (m.ino == mnt_ns) return m;
        auto has = [this](const char* path) { return ::faccessat(piddir(), path, F_OK, 0) == 0; };
        MountNs m{mnt_ns, has("root/opt/datadog-packages/datadog-apm-inject"),
                  has("root/dev/nvidiactl") || has("root/dev/nvidia0")};
        if (mount_ns_.size() < 4096) mount_ns_.push_back(m);
        return m;
    }

    void ensure_maps() {
        if (maps_read_) return;
        maps_read_ = true;
        ++shared_.maps_scans;
        scan_maps(piddir(), chunk_, maps_);
    }

    // Open files and ports from /proc: the links of /proc/<pid>/fd, the sockets' ports from the
    // tables of the process's network namespace. False when the process is gone.
    bool gather_procfs() {
        // Every other call is timed (CPU time: a clock_gettime system call each side).
        bool sample = procfs_calls_++ % 2 == 0;
        uint64_t c0 = sample ? thread_cpu_ns() : 0;
        fd_dir_ = open_fd_dir(pid_);
        if (fd_dir_ < 0) return false;
        ++shared_.procfs_pids;
        struct Timed {  // adds this call's CPU time to the request's /proc cost
            Request& r;
            uint64_t c0;
            ~Timed() {
                if (c0 == 0) return;
                r.procfs_ns_ += thread_cpu_ns() - c0;
                ++r.procfs_count_;
            }
        } timed{*this, c0};
        scan_open_files(fd_dir_, files_);
        tcp_.clear();
        udp_.clear();
        if (!files_.sockets.empty()) {
            struct stat st;
            if (::fstatat(fd_dir_, "../ns/net", &st, 0) == 0) {
                auto table = tables_.namespace_of(st.st_ino, piddir(), chunk_);
                SocketTables::ports(table, files_.sockets, tcp_, udp_);
            }
        }
        return true;
    }

#if RINGPROBE_WITH_BPF
    // The same from the iterator's snapshot: the ports read from the sockets themselves.
    void gather_snapshot(const TaskFiles::Task& t) {
        ++shared_.snapshot_pids;
        files_.clear();
        tcp_.clear();
        udp_.clear();
        TaskFiles::each(snapshot_, t, [&](const disc_record& r, std::string_view path) {
            int fd = static_cast<int>(r.fd);
            switch (r.kind) {
                case DISC_TCP_LISTEN:
                    tcp_.push_back(r.port);
                    break;
                case DISC_UDP_UNCONN:
                    if (!shared_.ephemeral.contains(r.port)) udp_.push_back(r.port);
                    break;
                case DISC_LOG:
                    files_.add_log(fd, path, static_cast<int32_t>(r.flags));
                    break;
                case DISC_TRACER_MEMFD:
                    files_.tracer_memfd = fd;
                    break;
                case DISC_LANG_MEMFD:
                    files_.language_memfd = fd;
                    break;
                case DISC_GPU_DEVICE:
                    files_.gpu_device = true;
                    break;
                case DISC_LONG_PATH: {  // a path longer than the iterator's buffer: its link
                    char name[24], target[4096];
                    std::snprintf(name, sizeof name, "fd/%d", fd);
                    ssize_t n = read_link(piddir(), name, target, sizeof target);
                    uint64_t ino;
                    if (n > 0 && classify_fd_link(std::string_view(target, static_cast<size_t>(n)),
                                                  &ino) == FdKind::log)
                        files_.add_log(fd, std::string_view(target, static_cast<size_t>(n)),
                                       static_cast<int32_t>(r.flags));
                    break;
                }
                default:
                    break;
            }
        });
        for (auto* v : {&tcp_, &udp_}) {  // as SocketTables::ports does
            std::sort(v->begin(), v->end());
            v->erase(std::unique(v->begin(), v->end()), v->end());
            if (v->size() > SocketTables::kMaxPorts) v->resize(SocketTables::kMaxPorts);
        }
    }
#endif

    // Open files and ports, from the snapshot when the request has one and it knows the process,
    // else from /proc. False when the process is gone. *mnt_ns: its mount namespace, 0 when not
    // known yet.
    bool gather(uint64_t* mnt_ns) {
        *mnt_ns = 0;
#if RINGPROBE_WITH_BPF
        if (use_snapshot_) {
            if (const TaskFiles::Task* t = TaskFiles::find(tasks_, static_cast<uint32_t>(pid_))) {
                gather_snapshot(*t);
                *mnt_ns = t->mnt_ns;
                return true;
            }
        }
#endif
        return gather_procfs();
    }

    // Whether what gather() found makes a service (and its command is not ignored).
    bool is_service() {
        shared_.sockets_dropped += files_.sockets_dropped;
        shared_.logs_dropped += files_.logs_dropped;
        bool service =
            !tcp_.empty() || !udp_.empty() || files_.tracer_memfd >= 0 || !files_.logs.empty();
        if (service && ignored_comm()) {
            ++shared_.ignored;
            return false;
        }
        return service;
    }

    // Log candidates opened write-only in append mode, de-duplicated by path.
    void collect_logs() {
        log_ok_.assign(files_.logs.size(), false);
        for (size_t i = 0; i < files_.logs.size(); ++i) {
            std::string_view p = files_.path(files_.logs[i]);
            bool dup = false;
            for (size_t k = 0; k < i && !dup; ++k)
                dup = log_ok_[k] && files_.path(files_.logs[k]) == p;
            if (dup) continue;
            int32_t flags = files_.logs[i].flags;  // known from the snapshot, else fdinfo
            log_ok_[i] = flags >= 0 ? (flags & O_WRONLY) != 0 && (flags & O_APPEND) != 0
                                    : fd_is_append_only_write(piddir(), files_.logs[i].fd);
        }
    }

    Language detect_language(std::string_view exe) {
        if (have_tracer_) {
            Language l = language_from_tracer(tracer_.tracer_language);
            if (l != Language::none) return l;
        }
        Language l = language_from_cmdline(cmdline_, exe);
        if (l != Language::none) return l;
        // The injector's language memfd.
        if (files_.language_memfd >= 0) {
            char name[24], buf[10];
            std::snprintf(name, sizeof name, "fd/%d", files_.language_memfd);
            ssize_t n = read_small(piddir(), name, buf, sizeof buf);
            if (n > 0) {
                std::string_view v(buf, static_cast<size_t>(n));
                if (v == "nodejs" || v == "js" || v == "node") return Language::nodejs;
                if (v == "php") return Language::php;
                if (v == "jvm" || v == "java") return Language::jvm;
                if (v == "python") return Language::python;
                if (v == "ruby") return Language::ruby;
                if (v == "dotnet") return Language::dotnet;
            }
        }
        // Go build info, cached per executable.
        struct stat st;
        if (::fstatat(piddir(), "exe", &st, 0) == 0) {
            const bool* cached = shared_.binaries.find(st.st_dev, st.st_ino);
            bool go = false;
            if (cached != nullptr) {
                go = *cached;
            } else {
                int fd = ::openat(piddir(), "exe", O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                    go = is_go_elf(fd, elf_);
                    ::close(fd);
                    shared_.binaries.insert(st.st_dev, st.st_ino, go);
                }
            }
            if (go) return Language::go;
        }
        ensure_maps();
        if (maps_.dotnet_runtime) return Language::dotnet;
        return Language::unknown;
    }

    bool apm_instrumented(Language lang) {
        if (have_tracer_) return true;
        switch (lang) {
            case Language::python:
                ensure_maps();
                return maps_.python_ddtrace;
            case Language::jvm: {
                auto dd_agent = [](std::string_view s) {
                    return s.starts_with("-javaagent:") && s.ends_with(".jar") &&
                           (s.find("datadog") != std::string_view::npos ||
                            s.find("dd-java-agent") != std::string_view::npos ||
                            s.find("dd-trace-agent") != std::string_view::npos);
                };
                for (std::string_view a : cmdline_.args())
                    if (dd_agent(a)) return true;
                for (auto v : {TargetEnvs::JAVA_TOOL_OPTIONS, TargetEnvs::_JAVA_OPTIONS,
                               TargetEnvs::JDK_JAVA_OPTIONS, TargetEnvs::JAVA_OPTIONS,
                               TargetEnvs::CATALINA_OPTS, TargetEnvs::JDPA_OPTS})
                    if (dd_agent(envs_.get(v))) return true;
                return false;
            }
            case Language::dotnet:
                if (envs_.get(TargetEnvs::CORECLR_ENABLE_PROFILING) == "1") return true;
                ensure_maps();
                return maps_.dotnet_tracer;
            default:
                return false;
        }
    }

    static std::string_view service_type(const std::vector<uint16_t>& tcp,
                                         const std::vector<uint16_t>& udp) {
        // servicetype.Detect: TCP ports first, then UDP; anything else is a web service.
        auto of = [](uint16_t p) -> std::string_view {
            switch (p) {
                case 5432:
                case 3306:
                case 2483:
                case 2484:
                case 1521:  // Postgres, MySQL, Oracle
                case 9443:
                case 27017:
                case 27018:
                case 27019:
                case 27020:  // Redis, Mongo
                    return "db";
                case 9200:
                case 8983:
                case 9312:
                case 9306:  // Elastic, Solr, Sphinx
                    return "storage";
                case 15672:
                case 15671:
                case 61613:
                case 61614:
                case 1883:
                case 8883:
                case 15674:
                case 15675:  // RabbitMQ
                case 9092:   // Kafka
                case 61616:
                case 5672:
                case 61617:  // ActiveMQ
                case 4222:   // NATS
                case 1414:   // IBM MQ
                    return "queue";
                case 80:
                case 443:
                    return "front_end";
            }
            return {};
        };
        for (const auto* v : {&tcp, &udp})
            for (uint16_t p : *v)
                if (auto t = of(p); !t.empty()) return t;
        return "web_service";
    }

    void write_ports(http::JsonWriter& w, std::string_view key, const std::vector<uint16_t>& v) {
        if (v.empty()) return;
        w.key(key);
        w.start_array();
        for (uint16_t p : v) w.uint64(p);
        w.end_array();
    }

    void write_logs(http::JsonWriter& w) {
        bool any = std::find(log_ok_.begin(), log_ok_.end(), true) != log_ok_.end();
        if (!any) return;
        w.key("log_files");
        w.start_array();
        for (size_t i = 0; i < files_.logs.size(); ++i)
            if (log_ok_[i]) w.string(files_.path(files_.logs[i]));
        w.end_array();
    }

    // The /proc handles of the pid being looked at: its fd directory, always, and its /proc/<pid>
    // directory, opened only when more than the fd listing is needed (a service, a new mount
    // namespace). Closed when the pid is done.
    struct PidScope {
        Request& r;
        PidScope(Request& req, int32_t pid) : r(req) {
            r.pid_ = pid;
            r.fd_dir_ = -1;
            r.maps_read_ = false;
        }
        ~PidScope() {
            if (r.fd_dir_ >= 0) ::close(r.fd_dir_);
            r.fd_dir_ = -1;
            r.dir_.close();
        }
    };
    int piddir() {
        if (dir_.fd() < 0) dir_.open(pid_);
        return dir_.fd();
    }

    void new_pid(int32_t pid, http::JsonWriter& w) {
        PidScope scope(*this, pid);
        uint64_t mnt_ns = 0;
        if (!gather(&mnt_ns)) {
            ++shared_.pids_missing;
            return;
        }
        // Injector and GPU: checked for every new pid, service or not.
        MountNs ns = mount_ns(mnt_ns);
        if (ns.injector_dir) {
            ensure_maps();
            if (maps_.apm_injector) {
                injected_.push_back(pid);
                ++shared_.injected;
            }
        }
        bool service = is_service();
        bool gpu = files_.gpu_device;
        if (!gpu && (service || ns.nvidia_dev)) {
            ensure_maps();
            gpu = maps_.nvidia_libs;
        }
        if (!maps_read_) ++shared_.maps_skipped;
        if (gpu) {
            gpu_pids_.push_back(pid);
            ++shared_.gpu;
        }
        if (!service) return;
        bool truncated = false;
        if (!read_all(piddir(), "cmdline", cmdline_buf_, kMaxCmdlineBytes, &truncated)) return;
        cmdline_.parse(cmdline_buf_.view());
        char exe[4096];
        ssize_t exe_len = read_link(piddir(), "exe", exe, sizeof exe);
        if (exe_len <= 0) return;  // a kernel thread, or no permission: not reported (upstream)
        have_tracer_ = false;
        if (files_.tracer_memfd >= 0) {
            char name[24];
            std::snprintf(name, sizeof name, "fd/%d", files_.tracer_memfd);
            if (read_all(piddir(), name, memfd_buf_, TracerMetadata::kMaxBytes))
                have_tracer_ = tracer_.parse(memfd_buf_.view());
            if (have_tracer_) ++shared_.tracer_metadata;
        }
        Language lang = detect_language(std::string_view(exe, static_cast<size_t>(exe_len)));
        if (!envs_.read(piddir(), chunk_)) return;
        fs_.reset(piddir(), &envs_);
        NameContext ctx{fs_, envs_, file_buf_, scratch_, scratch2_};
        generate_name(lang, cmdline_, ctx, name_);
        fs_.reset(-1, nullptr);
        bool apm = apm_instrumented(lang);
        collect_logs();

        w.start_object();
        w.kv_int("pid", pid);
        write_logs(w);
        w.kv("generated_name", name_.name.view());
        w.kv("generated_name_source", name_.source);
        w.key("additional_generated_names");
        w.null();
        if (have_tracer_) {
            w.key("tracer_metadata");
            w.start_array();
            tracer_.write_json(w);
            w.end_array();
        }
        write_ports(w, "tcp_ports", tcp_);
        write_ports(w, "udp_ports", udp_);
        w.kv_bool("apm_instrumentation", apm);
        w.kv("language", language_name(lang));
        w.kv("service_type", service_type(tcp_, udp_));
        w.key("ust");
        w.start_object();
        BoundedString v;
        v.set(envs_.get(TargetEnvs::DD_SERVICE));
        w.kv("service", v.view());
        v.set(envs_.get(TargetEnvs::DD_ENV));
        w.kv("env", v.view());
        v.set(envs_.get(TargetEnvs::DD_VERSION));
        w.kv("version", v.view());
        w.end_object();
        w.kv_bool("has_nvidia_gpu", gpu);
        w.end_object();
        ++shared_.services;
    }

    void heartbeat_pid(int32_t pid, http::JsonWriter& w) {
        PidScope scope(*this, pid);
        uint64_t mnt_ns = 0;
        if (!gather(&mnt_ns)) {
            ++shared_.pids_missing;
            return;
        }
        if (!is_service()) return;
        collect_logs();
        // Only what changes: ports and log files; the other fields are zero values.
        w.start_object();
        w.kv_int("pid", pid);
        write_logs(w);
        w.kv("generated_name", "");
        w.kv("generated_name_source", "");
        w.key("additional_generated_names");
        w.null();
        write_ports(w, "tcp_ports", tcp_);
        write_ports(w, "udp_ports", udp_);
        w.kv_bool("apm_instrumentation", false);
        w.kv("language", "");
        w.kv("service_type", "");
        w.key("ust");
        w.start_object();
        w.kv("service", "");
        w.kv("env", "");
        w.kv("version", "");
        w.end_object();
        w.kv_bool("has_nvidia_gpu", false);
        w.end_object();
        ++shared_.heartbeats;
    }

    Shared& shared_;
    bool busy_ = false;
    bool pretty_ = false;
    bool started_ = false;
    uint64_t start_ns_ = 0;
    std::vector<int32_t> new_pids_, heartbeat_pids_;
    size_t next_new_ = 0, next_hb_ = 0;
    std::vector<int> injected_, gpu_pids_;
    std::vector<MountNs> mount_ns_;
    SocketTables tables_;
    http::Buffer placeholder_;
    http::JsonWriter writer_{placeholder_};

    // Per pid, reused.
    int32_t pid_ = 0;
    int fd_dir_ = -1;
    PidDir dir_;
    OpenFiles files_;
    std::vector<uint16_t> tcp_, udp_;
    std::vector<bool> log_ok_;
    std::vector<char> chunk_, elf_, scratch_, scratch2_;
    http::Buffer cmdline_buf_, memfd_buf_, file_buf_;
    Cmdline cmdline_;
    TargetEnvs envs_;
    ProcessFs fs_;
    MapsFacts maps_;
    bool maps_read_ = false;
    bool use_snapshot_ = false;
    uint64_t procfs_ns_ = 0, procfs_count_ = 0,
             procfs_calls_ = 0;  // gather_procfs() of this request
#if RINGPROBE_WITH_BPF
    http::Buffer snapshot_;
    std::vector<TaskFiles::Task> tasks_;
#endif
    TracerMetadata tracer_;
    bool have_tracer_ = false;
    ServiceName name_;
};

// Case-insensitive key match, as encoding/json matches struct fields.
bool key_is(std::string_view k, std::string_view want) {
    return k.size() == want.size() &&
           std::equal(k.begin(), k.end(), want.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == b;
           });
}

// /metrics families (the request time is the route's ringprobe_http_request_duration_seconds).
using http::MetricFamily;
using http::MetricKind;
constexpr MetricFamily kPids{"ringprobe_discovery_pids", MetricKind::counter,
                             "Pids asked about in POST /discovery/services, by kind."};
constexpr MetricFamily kPidsNotFound{"ringprobe_discovery_pids_not_found", MetricKind::counter,
                                     "Pids asked about that were gone or unreadable."};
constexpr MetricFamily kServices{"ringprobe_discovery_services", MetricKind::counter,
                                 "Services answered, by kind of pid."};
constexpr MetricFamily kIgnored{"ringprobe_discovery_ignored_services", MetricKind::counter,
                                "Services left out for their command name."};
constexpr MetricFamily kInjected{"ringprobe_discovery_injected_pids", MetricKind::counter,
                                 "New pids found with the APM injector mapped."};
constexpr MetricFamily kGpu{"ringprobe_discovery_gpu_pids", MetricKind::counter,
                            "New pids found using an NVIDIA GPU."};
constexpr MetricFamily kBadRequests{"ringprobe_discovery_bad_requests", MetricKind::counter,
                                    "POST /discovery/services bodies refused (400)."};
constexpr MetricFamily kCacheEntries{"ringprobe_discovery_binary_cache_entries", MetricKind::gauge,
                                     "Executables in the Go build-info cache."};
constexpr MetricFamily kCacheCapacity{"ringprobe_discovery_binary_cache_capacity",
                                      MetricKind::gauge,
                                      "Capacity of the Go build-info cache (binary_cache_size)."};
constexpr MetricFamily kCacheLookups{"ringprobe_discovery_binary_cache_lookups",
                                     MetricKind::counter,
                                     "Go build-info cache lookups, by result (hit, miss)."};
constexpr MetricFamily kCacheEvictions{"ringprobe_discovery_binary_cache_evictions",
                                       MetricKind::counter,
                                       "Executables evicted from the Go build-info cache."};
constexpr MetricFamily kDropped{"ringprobe_discovery_dropped", MetricKind::counter,
                                "Items left out at a bound: socket table entries beyond 262144, "
                                "socket links beyond 65536, log candidates beyond 64."};
constexpr MetricFamily kSourcePids{"ringprobe_discovery_open_files_pids", MetricKind::counter,
                                   "Pids whose open files were read, by source."};
constexpr MetricFamily kSnapshots{"ringprobe_discovery_iterator_snapshots", MetricKind::counter,
                                  "BPF iterator snapshots taken, by result."};
constexpr MetricFamily kSnapshotBytes{"ringprobe_discovery_iterator_last_snapshot_bytes",
                                      MetricKind::gauge, "Size of the last BPF iterator snapshot.",
                                      "bytes"};

class DiscoveryModule final : public Module {
  public:
    DiscoveryModule(std::vector<std::string> ignored, size_t cache) : shared_(cache) {
        shared_.ignored_comms = std::move(ignored);
        for (auto& r : requests_) r = std::make_unique<Request>(shared_);
    }

    std::expected<void, std::string> register_routes(http::Router& r) override {
        r.handle(
            "", "/services",
            [this](const http::Request& req, http::Response& res) { handle_services(req, res); },
            http::RouteOptions{.max_in_flight = kMaxInFlight});
        r.handle("", "/status", [](const http::Request&, http::Response& res) {
            res.text("Discovery Module is running");
        });
        r.handle("", "/state", [](const http::Request& req, http::Response& res) {
            http::JsonWriter& w = res.json();
            w.start_object();
            w.end_object();
        });
        return {};
    }

    void write_stats(http::JsonWriter& w) const override {
        const Shared& s = shared_;
        w.start_object();
        w.kv_int("last_check", s.last_request_unix);
        w.kv_uint("requests", s.requests);
        w.kv_uint("bad_requests", s.bad_requests);
        w.kv_uint("streamed_answers", s.streamed);
        w.kv_uint("new_pids", s.new_pids);
        w.kv_uint("heartbeat_pids", s.heartbeat_pids);
        w.kv_uint("pids_not_found", s.pids_missing);
        w.kv_uint("services_found", s.services);
        w.kv_uint("heartbeats_answered", s.heartbeats);
        w.kv_uint("injected_pids_found", s.injected);
        w.kv_uint("gpu_pids_found", s.gpu);
        w.kv_uint("ignored_services", s.ignored);
        w.kv_uint("tracer_metadata_read", s.tracer_metadata);
        w.kv_uint("maps_scans", s.maps_scans);
        w.kv_uint("maps_skipped", s.maps_skipped);
        w.kv_uint("network_namespaces_read", s.netns_read);
        w.kv_uint("socket_table_lines", s.socket_lines);
        w.kv_uint("sock_diag_dumps", s.diag_dumps);
        w.kv_uint("socket_table_overflow", s.socket_overflow);
        w.kv_uint("socket_links_dropped", s.sockets_dropped);
        w.kv_uint("log_candidates_dropped", s.logs_dropped);
        w.kv_uint("last_request_pids", s.last_request_pids);
        w.kv_number("last_request_ms", static_cast<double>(s.last_request_ns) / 1e6);
        w.kv_number("max_request_ms", static_cast<double>(s.max_request_ns) / 1e6);
        w.kv_number("total_request_ms", static_cast<double>(s.total_request_ns) / 1e6);
        w.key("binary_cache");
        w.start_object();
        w.kv_uint("size", s.binaries.size());
        w.kv_uint("capacity", s.binaries.capacity());
        w.kv_uint("hits", s.binaries.hits());
        w.kv_uint("misses", s.binaries.misses());
        w.kv_uint("evictions", s.binaries.evictions());
        w.end_object();
        w.kv_uint("ignored_command_names", s.ignored_comms.size());
        w.kv("open_files_source", s.iterator_status);
        w.kv_uint("snapshots", s.snapshots);
        w.kv_uint("snapshot_errors", s.snapshot_errors);
        w.kv_uint("pids_from_snapshot", s.snapshot_pids);
        w.kv_uint("pids_from_procfs", s.procfs_pids);
        w.kv_uint("last_snapshot_bytes", s.last_snapshot_bytes);
        w.kv_uint("last_snapshot_processes", s.last_snapshot_tasks);
        w.kv_number("last_snapshot_ms", static_cast<double>(s.last_snapshot_ns) / 1e6);
        w.kv_bool("adaptive", s.adaptive);
        w.kv_number("snapshot_avg_ms", s.snapshot_ns_avg / 1e6);
        w.kv_number("procfs_per_pid_avg_us", s.procfs_pid_ns_avg / 1e3);
        w.kv_uint("iterator_eligible_requests", s.eligible);
        w.kv_uint("iterator_eligible_read_procfs", s.chose_procfs);
        w.end_object();
    }

    void write_metrics(http::MetricsWriter& w) const override {
        const Shared& s = shared_;
        w.counter(kPids, {{"kind", "new"}}, s.new_pids);
        w.counter(kPids, {{"kind", "heartbeat"}}, s.heartbeat_pids);
        w.counter(kPidsNotFound, {}, s.pids_missing);
        w.counter(kServices, {{"kind", "new"}}, s.services);
        w.counter(kServices, {{"kind", "heartbeat"}}, s.heartbeats);
        w.counter(kIgnored, {}, s.ignored);
        w.counter(kInjected, {}, s.injected);
        w.counter(kGpu, {}, s.gpu);
        w.counter(kBadRequests, {}, s.bad_requests);
        w.gauge(kCacheEntries, {}, static_cast<int64_t>(s.binaries.size()));
        w.gauge(kCacheCapacity, {}, static_cast<int64_t>(s.binaries.capacity()));
        w.counter(kCacheLookups, {{"result", "hit"}}, s.binaries.hits());
        w.counter(kCacheLookups, {{"result", "miss"}}, s.binaries.misses());
        w.counter(kCacheEvictions, {}, s.binaries.evictions());
        w.counter(kDropped, {{"what", "socket_table_entries"}}, s.socket_overflow);
        w.counter(kDropped, {{"what", "socket_links"}}, s.sockets_dropped);
        w.counter(kDropped, {{"what", "log_candidates"}}, s.logs_dropped);
        w.counter(kSourcePids, {{"source", "bpf_iterator"}}, s.snapshot_pids);
        w.counter(kSourcePids, {{"source", "procfs"}}, s.procfs_pids);
        w.counter(kSnapshots, {{"result", "ok"}}, s.snapshots);
        w.counter(kSnapshots, {{"result", "error"}}, s.snapshot_errors);
        w.gauge(kSnapshotBytes, {}, static_cast<int64_t>(s.last_snapshot_bytes));
    }

    void close() override {
#if RINGPROBE_WITH_BPF
        shared_.iterator.reset();
#endif
    }

    // Loads the BPF iterator when asked and possible; /proc otherwise (the reason in the stats).
    void use_iterator(bool wanted, size_t min_pids, bool adaptive) {
        shared_.iterator_min_pids = min_pids;
        shared_.adaptive = adaptive;
        if (!wanted) {
            shared_.iterator_status = "procfs (ringprobe.discovery.bpf_iterator = false)";
            return;
        }
#if RINGPROBE_WITH_BPF
        auto it = TaskFiles::load();
        if (it) {
            shared_.iterator = std::move(*it);
            shared_.iterator_status = "bpf_iterator";
            RP_LOG(info, "discovery: iter/task_file loaded in %.1f ms (program id %u)",
                   shared_.iterator->load_ms(), shared_.iterator->program_id());
        } else {
            shared_.iterator_status = "procfs (" + it.error() + ")";
            RP_LOG(info, "discovery: reading /proc/<pid>/fd: %s", it.error().c_str());
        }
#else
        shared_.iterator_status = "procfs (this build has no eBPF: RINGPROBE_WITH_BPF=OFF)";
#endif
    }

  private:
    void handle_services(const http::Request& req, http::Response& res) {
        uint64_t start = now_ns();
        ++shared_.requests;
        shared_.last_request_unix = loop::Reactor::unix_now_s();
        Request* r = nullptr;
        for (auto& q : requests_)
            if (!q->busy()) r = q.get();
        if (r == nullptr) {  // unreachable while the route's limit is kMaxInFlight
            res.error(429, "too many concurrent requests on this route (limit 2)");
            return;
        }
        std::string err = parse(req.body, r->new_pids(), r->heartbeat_pids());
        if (!err.empty()) {
            ++shared_.bad_requests;
            res.error(400, err);
            return;
        }
        shared_.new_pids += r->new_pids().size();
        shared_.heartbeat_pids += r->heartbeat_pids().size();
        size_t total = r->new_pids().size() + r->heartbeat_pids().size();
        shared_.last_request_pids = total;
        r->begin(req.pretty(), start);
        if (total > kWholeMaxPids) {
            ++shared_.streamed;
            res.stream(http::kJsonType, *r);
            return;
        }
        r->run_whole(res.json());
    }

    // {"new_pids": [int32...], "heartbeat_pids": [int32...]} as encoding/json reads it into
    // core.Params: both optional (null = none), keys case-insensitive, other keys ignored (their
    // values still have to be valid JSON); a value of another type is an error, and so is
    // anything after the object. An empty body is an empty request. Read with a scanner that
    // copies nothing (json_scan.h).
    static std::string parse(std::string_view body, std::vector<int32_t>& new_pids,
                             std::vector<int32_t>& hb_pids) {
        new_pids.clear();
        hb_pids.clear();
        if (body.empty()) return {};
        std::string_view s = body;
        // Error texts are made only when there is an error: a request allocates nothing.
        auto invalid = [] { return std::string("request body is not valid JSON"); };
        json::skip_ws(s);
        if (json::null(s)) {
            json::skip_ws(s);
            return s.empty() ? std::string() : invalid();
        }
        if (s.empty() || s[0] != '{') {
            std::string_view probe = s;
            if (!json::skip(probe)) return invalid();
            return "request body must be a JSON object {\"new_pids\": [...], \"heartbeat_pids\": "
                   "[...]}";
        }
        s.remove_prefix(1);
        json::skip_ws(s);
        bool first = true;
        while (true) {
            json::skip_ws(s);
            if (first && !s.empty() && s[0] == '}') break;
            first = false;
            char key[32];
            size_t key_len = 0;
            if (!json::string(s, key, &key_len, sizeof key)) return invalid();
            json::skip_ws(s);
            if (s.empty() || s[0] != ':') return invalid();
            s.remove_prefix(1);
            json::skip_ws(s);
            std::string_view k(key, std::min(key_len, sizeof key));
            std::vector<int32_t>* out = nullptr;
            std::string_view name;
            if (key_len <= sizeof key && key_is(k, "new_pids"))
                out = &new_pids, name = "new_pids";
            else if (key_len <= sizeof key && key_is(k, "heartbeat_pids"))
                out = &hb_pids, name = "heartbeat_pids";
            if (out == nullptr) {
                if (!json::skip(s)) return invalid();
            } else {
                out->clear();  // a repeated key: the last one wins, as encoding/json
                std::string err = parse_pids(s, *out, name);
                if (!err.empty()) return err;
            }
            json::skip_ws(s);
            if (s.empty()) return invalid();
            if (s[0] == ',') {
                s.remove_prefix(1);
                continue;
            }
            if (s[0] != '}') return invalid();
            break;
        }
        s.remove_prefix(1);
        json::skip_ws(s);
        return s.empty() ? std::string() : invalid();
    }

    // null, or an array of int32.
    static std::string parse_pids(std::string_view& s, std::vector<int32_t>& out,
                                  std::string_view name) {
        if (json::null(s)) return {};
        auto type_error = [name] {
            return "field \"" + std::string(name) + "\" must hold only int32 pids";
        };
        if (s.empty() || s[0] != '[') {
            std::string_view probe = s;
            if (!json::skip(probe)) return "request body is not valid JSON";
            return "field \"" + std::string(name) + "\" must be an array of int32 pids";
        }
        s.remove_prefix(1);
        json::skip_ws(s);
        if (!s.empty() && s[0] == ']') {
            s.remove_prefix(1);
            return {};
        }
        for (;;) {
            json::skip_ws(s);
            int64_t pid = 0;
            std::string_view before = s;
            if (!json::integer(s, &pid)) {
                std::string_view probe = before;
                if (!json::skip(probe)) return "request body is not valid JSON";
                return type_error();
            }
            if (pid < INT32_MIN || pid > INT32_MAX) return type_error();
            out.push_back(static_cast<int32_t>(pid));
            json::skip_ws(s);
            if (s.empty()) return "request body is not valid JSON";
            if (s[0] == ',') {
                s.remove_prefix(1);
                continue;
            }
            if (s[0] != ']') return "request body is not valid JSON";
            s.remove_prefix(1);
            return {};
        }
    }

    Shared shared_;
    std::array<std::unique_ptr<Request>, kMaxInFlight> requests_;
};

CreateResult create(const conf::Config& cfg, Dependencies&) {
    if (::access("/proc/self/fd", R_OK) != 0)
        return std::unexpected(std::string("discovery: /proc/self/fd not readable: ") +
                               std::strerror(errno) + " (is /proc mounted?)");
    std::vector<std::string> ignored;
    for (const auto& c : cfg.get_string_list("discovery.ignored_command_names")) {
        if (c.empty()) continue;
        ignored.push_back(c.size() > kMaxCommLen ? c.substr(0, kMaxCommLen) : c);
    }
    auto cache = static_cast<size_t>(cfg.get_int("ringprobe.discovery.binary_cache_size"));
    auto m = std::make_unique<DiscoveryModule>(std::move(ignored), cache);
    m->use_iterator(cfg.get_bool("ringprobe.discovery.bpf_iterator"),
                    static_cast<size_t>(cfg.get_int("ringprobe.discovery.bpf_iterator_min_pids")),
                    cfg.get_bool("ringprobe.discovery.bpf_iterator_adaptive"));
    return m;
}

constexpr std::string_view kNamespaces[] = {"discovery"};

}  // namespace

extern const Factory discovery_factory;
constinit const Factory discovery_factory{
    .name = "discovery",
    .config_namespaces = kNamespaces,
    .enable_key = "discovery.enabled",
    .create = create,
    .needs_ebpf = false,
};

}  // namespace rp::modules
