// process_tracer.h — ProcessTracer: which processes use the CUDA runtime, and the uprobes on the
// files they run it from.
//
// A process is traced when its /proc/<pid>/maps holds a file named libcudart.so*, or when its
// executable defines cudaLaunchKernel (the runtime linked statically). Its files then carry the
// uprobes:
//   - each libcudart file, and a CUDA executable: every CUDA probe (ProbeSpec list) whose
//     function the file defines;
//   - the process's libc (basename libc.so* or libc-*.so), and a static executable that defines
//     setenv: the setenv probe.
// Uprobes (modules/gpu/uprobe.h: attached through libbpf, detached without blocking the loop) are
// attached once per file (by device and inode), for every process (pid -1): the
// kernel installs them in every mapping of that inode, including processes that map it later, so
// a second process on the same library costs no attach. A file keeps its probes while a traced
// process uses it; when the last one goes (exit, exec, detach), its links are destroyed. This is
// system-probe's uprobe attacher with its file registry (pkg/ebpf/uprobes, pkg/network/usm/utils),
// except that system-probe learns of processes from event_monitor and of libraries from its
// shared-libraries probe; here the gpu probe's own tracepoints say so (bpf/gpu.bpf.c).
//
// A process that has just opened a libcudart file (openat, before the dynamic loader maps it:
// its first CUDA calls may follow within microseconds) gets the file's uprobes at once, and is
// "pending" until its maps show the file (it is then traced) or it gives up: any program that
// merely reads the file (cp, a checksum) must not count as a CUDA process. retry_pending() looks
// again; a file only pending processes wanted loses its probes with the last of them.
//
// Functions resolve to file offsets with our own ELF reader (modules/gpu/elf_symbols.h), one pass
// per file. Executables are read once per (device, inode): the verdict (CUDA or not) is cached,
// bounded, and mirrored into the BPF map that keeps the execs of known non-CUDA files out of the
// ring buffer.
//
// Bounded: max_processes traced processes, max_files files with probes, max_threads device
// selections per process, kMaxExeVerdicts cached executables; each overflow is counted.
//
// Needs: root (or CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH) to read other processes' /proc entries;
// CAP_SYS_ADMIN + CAP_PERFMON for uprobes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "modules/gpu/uprobe.h"

struct bpf_program;

namespace rp::modules::gpu {

// One uprobe: a BPF program and the function it goes on.
struct ProbeSpec {
    std::string_view function;
    bpf_program* program = nullptr;
    bool retprobe = false;
};

struct FileId {
    uint64_t dev = 0;  // st_dev as user space sees it (makedev(major, minor))
    uint64_t ino = 0;
    auto operator<=>(const FileId&) const = default;
};

enum class FileKind : uint8_t { cuda_runtime, cuda_executable, libc };
std::string_view file_kind_name(FileKind k);

struct TracedFile {
    FileId id;
    FileKind kind = FileKind::cuda_runtime;
    std::string path;  // as the first process that used it names it
    std::vector<UprobeFds> links;
    std::vector<std::string> probes;   // "cudaMalloc", "cudaMalloc (return)", ...
    std::vector<std::string> missing;  // functions of the probe set the file does not define
    std::string error;                 // the first attach error, if any
    std::set<uint32_t> pids;
    std::set<uint32_t> pending;  // opened it, not mapped (yet)
};

struct TracedProcess {
    uint32_t pid = 0;
    std::vector<FileId> files;
    std::string container_id;
    // CUDA_VISIBLE_DEVICES: from /proc/<pid>/environ at registration, then from setenv calls
    std::optional<std::string> visible_devices;
    std::unordered_map<uint32_t, int32_t> thread_device;  // cudaSetDevice per thread
    uint64_t generation = 0;                              // bumped when visible_devices changes
};

struct TracerLimits {
    size_t max_processes = 1024;  // ringprobe.gpu.max_processes
    size_t max_files = 64;        // ringprobe.gpu.max_files
    size_t max_threads = 4096;    // device selections kept per process
};

struct TracerCounters {
    uint64_t scans = 0;          // full /proc scans
    double last_scan_ms = 0;     // how long the latest one took (on the loop)
    uint64_t process_scans = 0;  // one process's maps read
    uint64_t exe_reads = 0;      // executables whose symbols were read
    uint64_t exe_verdict_flushes = 0;
    uint64_t processes_traced = 0;  // registrations
    uint64_t processes_forgotten = 0;
    uint64_t processes_over_limit = 0;
    uint64_t files_over_limit = 0;
    uint64_t threads_over_limit = 0;
    uint64_t files_attached = 0;
    uint64_t files_detached = 0;
    uint64_t attach_errors = 0;
    uint64_t gone_during_scan = 0;    // the process exited while it was read
    uint64_t opens_not_mapped = 0;    // opened a libcudart file and never mapped it
    uint64_t opens_through_proc = 0;  // opened one through /proc/<pid>/...: not a loader
    uint64_t pending_over_limit = 0;
};

class ProcessTracer {
  public:
    static constexpr size_t kMaxExeVerdicts = 4096;

    // Closes a uprobe's descriptor; the module's closes asynchronously (uprobe.h says why).
    using CloseFn = std::function<void(int fd)>;

    // cuda_probes go on libcudart files and CUDA executables, libc_probes on libc (and on a
    // static CUDA executable that defines those functions). traced_pids_fd / exe_verdicts_fd:
    // the BPF maps kept in step (-1: none). `self` is never traced. `close_fd` empty: close(2).
    ProcessTracer(const TracerLimits& limits, std::vector<ProbeSpec> cuda_probes,
                  std::vector<ProbeSpec> libc_probes, int traced_pids_fd, int exe_verdicts_fd,
                  uint32_t self, CloseFn close_fd = {});
    ~ProcessTracer();
    ProcessTracer(const ProcessTracer&) = delete;
    ProcessTracer& operator=(const ProcessTracer&) = delete;

    enum class Result : uint8_t { traced, not_cuda, gone, over_limit, blocked };
    // Reads one process and traces it when it uses CUDA. `requested` (POST /debug/attach-pid)
    // lifts an earlier detach request. *why gets a sentence for any result but traced.
    Result scan(uint32_t pid, bool requested = false, std::string* why = nullptr);
    // The process has just opened `path` (absolute, or relative to its cwd), a libcudart file:
    // attaches the file and traces the process if it maps it already, else keeps it pending.
    Result opened(uint32_t pid, std::string_view path);
    // Scans the pending processes again (at most kPendingTries times each); returns those now
    // traced.
    std::vector<uint32_t> retry_pending();
    bool has_pending() const { return !pending_.empty(); }
    size_t pending() const { return pending_.size(); }
    static constexpr int kPendingTries = 20;
    // Reads every process in /proc; traced processes no longer there are passed to `gone`.
    void scan_all(const std::function<void(uint32_t pid)>& gone);
    // Untraces a process (exit, exec of a new image): its files lose it, and files nobody uses
    // any more lose their probes.
    void forget(uint32_t pid);
    // POST /debug/detach-pid: forget it, and do not trace it again until it exits or is attached
    // on request. False when it was not traced.
    bool detach_on_request(uint32_t pid);
    bool blocked(uint32_t pid) const { return blocked_.contains(pid); }
    void unblock(uint32_t pid) { blocked_.erase(pid); }

    TracedProcess* process(uint32_t pid);
    // cudaSetDevice(device) by thread `tid` of a traced process.
    void set_thread_device(TracedProcess& p, uint32_t tid, int32_t device);
    void set_visible_devices(TracedProcess& p, std::string value);

    const std::map<uint32_t, TracedProcess>& processes() const { return processes_; }
    const std::map<FileId, TracedFile>& files() const { return files_; }
    const TracerCounters& counters() const { return counters_; }
    size_t exe_verdicts() const { return exe_verdicts_.size(); }

  private:
    struct Mapped {
        FileId id;
        std::string path;
        std::string map_range;  // "start-end", for /proc/<pid>/map_files
    };
    // Whether the executable defines the CUDA runtime (cached per file).
    std::optional<bool> exe_is_cuda(uint32_t pid, const FileId& id);
    TracedFile* ensure_file(uint32_t pid, const Mapped& m, FileKind kind);
    void attach(TracedFile& f, const std::string& attach_path);
    void release(TracedFile& f);

    TracerLimits limits_;
    CloseFn close_fd_;
    std::vector<ProbeSpec> cuda_probes_;
    std::vector<ProbeSpec> libc_probes_;
    int traced_pids_fd_;
    int exe_verdicts_fd_;
    uint32_t self_;
    std::map<uint32_t, TracedProcess> processes_;
    std::map<FileId, TracedFile> files_;
    std::map<FileId, bool> exe_verdicts_;
    std::set<uint32_t> blocked_;
    struct Pending {
        FileId file;
        int tries = 0;
    };
    std::map<uint32_t, Pending> pending_;
    void drop_pending(uint32_t pid);
    void release_if_unused(const FileId& id);
    TracerCounters counters_;
};

}  // namespace rp::modules::gpu
