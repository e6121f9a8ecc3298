// process_tracer.cpp — see process_tracer.h.
#include "modules/gpu/process_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>

#include "bpf/gpu.h"
#include "loop/log.h"
#include "modules/gpu/devices.h"
#include "modules/gpu/elf_symbols.h"

namespace rp::modules::gpu {

namespace {

std::string_view basename_of(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool is_cudart(std::string_view path) { return basename_of(path).starts_with("libcudart.so"); }

bool is_libc(std::string_view path) {
    std::string_view b = basename_of(path);
    return b.starts_with("libc.so") || (b.starts_with("libc-") && b.ends_with(".so"));
}

// Reads a whole (small, /proc) file; false when it cannot be opened.
bool read_file(const std::string& path, std::string& out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    out.clear();
    char buf[16384];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return n == 0;
}

uint64_t hex_value(std::string_view s) {
    uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v, 16);
    return v;
}

// The file-backed mappings of /proc/<pid>/maps: "start-end perms offset maj:min inode path".
std::vector<std::pair<FileId, std::pair<std::string, std::string>>> parse_maps(
    std::string_view text) {
    std::vector<std::pair<FileId, std::pair<std::string, std::string>>> out;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        // fields: range, perms, offset, dev, inode, path (the path may hold spaces)
        std::string_view f[5];
        size_t pos = 0;
        bool ok = true;
        for (auto& field : f) {
            while (pos < line.size() && line[pos] == ' ') ++pos;
            size_t end = line.find(' ', pos);
            if (end == std::string_view::npos) {
                ok = false;
                break;
            }
            field = line.substr(pos, end - pos);
            pos = end;
        }
        if (!ok) continue;
        while (pos < line.size() && line[pos] == ' ') ++pos;
        std::string_view path = line.substr(pos);
        if (path.empty() || path.front() != '/') continue;
        if (path.ends_with(" (deleted)")) path.remove_suffix(10);
        uint64_t ino = 0;
        std::from_chars(f[4].data(), f[4].data() + f[4].size(), ino);
        if (ino == 0) continue;
        size_t colon = f[3].find(':');
        if (colon == std::string_view::npos) continue;
        uint64_t dev = makedev(hex_value(f[3].substr(0, colon)), hex_value(f[3].substr(colon + 1)));
        out.push_back({FileId{dev, ino}, {std::string(path), std::string(f[0])}});
    }
    return out;
}

// The kernel's dev_t encoding (what bpf/gpu.bpf.c reads from the superblock).
uint32_t kernel_dev(uint64_t dev) {
    return static_cast<uint32_t>((major(dev) << 20) | (minor(dev) & 0xfffff));
}

std::string proc_path(uint32_t pid, std::string_view rest) {
    return "/proc/" + std::to_string(pid) + std::string(rest);
}

}  // namespace

std::string_view file_kind_name(FileKind k) {
    switch (k) {
        case FileKind::cuda_runtime:
            return "cuda_runtime";
        case FileKind::cuda_executable:
            return "cuda_executable";
        case FileKind::libc:
            return "libc";
    }
    return "?";
}

ProcessTracer::ProcessTracer(const TracerLimits& limits, std::vector<ProbeSpec> cuda_probes,
                             std::vector<ProbeSpec> libc_probes, int traced_pids_fd,
                             int exe_verdicts_fd, uint32_t self, CloseFn close_fd)
    : limits_(limits),
      close_fd_(close_fd ? std::move(close_fd) : CloseFn([](int fd) { ::close(fd); })),
      cuda_probes_(std::move(cuda_probes)),
      libc_probes_(std::move(libc_probes)),
      traced_pids_fd_(traced_pids_fd),
      exe_verdicts_fd_(exe_verdicts_fd),
      self_(self) {}

ProcessTracer::~ProcessTracer() {
    for (auto& [id, f] : files_) release(f);
}

TracedProcess* ProcessTracer::process(uint32_t pid) {
    auto it = processes_.find(pid);
    return it == processes_.end() ? nullptr : &it->second;
}

void ProcessTracer::set_thread_device(TracedProcess& p, uint32_t tid, int32_t device) {
    if (!p.thread_device.contains(tid) && p.thread_device.size() >= limits_.max_threads) {
        ++counters_.threads_over_limit;
        return;
    }
    p.thread_device[tid] = device;
}

void ProcessTracer::set_visible_devices(TracedProcess& p, std::string value) {
    p.visible_devices = std::move(value);
    ++p.generation;
}

std::optional<bool> ProcessTracer::exe_is_cuda(uint32_t pid, const FileId& id) {
    if (auto it = exe_verdicts_.find(id); it != exe_verdicts_.end()) return it->second;
    static constexpr std::string_view kMarker[] = {"cudaLaunchKernel"};
    ++counters_.exe_reads;
    auto offs = function_offsets(proc_path(pid, "/exe"), kMarker);
    if (!offs) return std::nullopt;  // gone, or not ELF (a script's interpreter is the exe)
    bool cuda = (*offs)[0].has_value();
    if (exe_verdicts_.size() >= kMaxExeVerdicts) {
        exe_verdicts_.clear();  // the BPF map is an LRU of its own
        ++counters_.exe_verdict_flushes;
    }
    exe_verdicts_[id] = cuda;
    if (exe_verdicts_fd_ >= 0) {
        gpu_file_key key{};
        key.ino = id.ino;
        key.dev = kernel_dev(id.dev);
        uint8_t v = cuda ? 1 : 0;
        bpf_map_update_elem(exe_verdicts_fd_, &key, &v, BPF_ANY);
    }
    return cuda;
}

ProcessTracer::Result ProcessTracer::scan(uint32_t pid, bool requested, std::string* why) {
    auto say = [why](std::string s) {
        if (why != nullptr) *why = std::move(s);
    };
    if (pid == self_ || pid == 0) {
        say("pid " + std::to_string(pid) + " is not traced (it is ringprobe itself)");
        return Result::not_cuda;
    }
    if (requested) {
        blocked_.erase(pid);
    } else if (blocked_.contains(pid)) {
        say("pid " + std::to_string(pid) + " was detached on request");
        return Result::blocked;
    }
    ++counters_.process_scans;
    std::string maps;
    if (!read_file(proc_path(pid, "/maps"), maps)) {
        say("pid " + std::to_string(pid) + ": " + std::strerror(errno));
        return Result::gone;
    }
    struct stat exe_st {};
    bool have_exe = ::stat(proc_path(pid, "/exe").c_str(), &exe_st) == 0;
    FileId exe_id{have_exe ? uint64_t(exe_st.st_dev) : 0, have_exe ? uint64_t(exe_st.st_ino) : 0};

    std::vector<Mapped> cudart, libc;
    std::optional<Mapped> exe;
    for (auto& [id, pr] : parse_maps(maps)) {
        auto& [path, range] = pr;
        auto seen = [&](const std::vector<Mapped>& v) {
            for (const Mapped& m : v)
                if (m.id == id) return true;
            return false;
        };
        if (have_exe && id == exe_id) {
            if (!exe) exe = Mapped{id, path, range};
        } else if (is_cudart(path)) {
            if (!seen(cudart)) cudart.push_back({id, path, range});
        } else if (is_libc(path)) {
            if (!seen(libc)) libc.push_back({id, path, range});
        }
    }
    bool cuda_exe = false;
    if (exe) {
        auto v = exe_is_cuda(pid, exe->id);
        cuda_exe = v.value_or(false);
    }
    if (cudart.empty() && !cuda_exe) {
        say("pid " + std::to_string(pid) +
            " maps no libcudart.so* and its executable does not define the CUDA runtime");
        return Result::not_cuda;
    }

    TracedProcess* proc = process(pid);
    if (proc == nullptr) {
        if (processes_.size() >= limits_.max_processes) {
            ++counters_.processes_over_limit;
            say("already tracing ringprobe.gpu.max_processes = " +
                std::to_string(limits_.max_processes) + " processes");
            return Result::over_limit;
        }
        proc = &processes_[pid];
        proc->pid = pid;
        std::string text;
        if (read_file(proc_path(pid, "/cgroup"), text)) {
            // "hierarchy:controllers:path" lines; the first path naming a container
            size_t pos = 0;
            while (pos < text.size() && proc->container_id.empty()) {
                size_t nl = text.find('\n', pos);
                std::string_view line(text.data() + pos,
                                      (nl == std::string::npos ? text.size() : nl) - pos);
                size_t c2 = line.find(':', line.find(':') + 1);
                if (c2 != std::string_view::npos)
                    proc->container_id = container_id_from_cgroup(line.substr(c2 + 1));
                pos = nl == std::string::npos ? text.size() : nl + 1;
            }
        }
        if (read_file(proc_path(pid, "/environ"), text))
            proc->visible_devices = find_env(text, "CUDA_VISIBLE_DEVICES");
        ++counters_.processes_traced;
        if (traced_pids_fd_ >= 0) {
            uint8_t one = 1;
            bpf_map_update_elem(traced_pids_fd_, &pid, &one, BPF_ANY);
        }
    }

    auto use = [&](const Mapped& m, FileKind kind) {
        for (const FileId& f : proc->files)
            if (f == m.id) return;
        TracedFile* f = ensure_file(pid, m, kind);
        if (f == nullptr) return;
        f->pids.insert(pid);
        proc->files.push_back(m.id);
    };
    for (const Mapped& m : cudart) use(m, FileKind::cuda_runtime);
    if (cuda_exe) use(*exe, FileKind::cuda_executable);
    for (const Mapped& m : libc) use(m, FileKind::libc);
    drop_pending(pid);
    return Result::traced;
}

ProcessTracer::Result ProcessTracer::opened(uint32_t pid, std::string_view path) {
    if (pid == self_ || blocked_.contains(pid) || !is_cudart(path)) return Result::not_cuda;
    // A path through another process's /proc entry (/proc/<pid>/root/..., map_files, cwd) is an
    // inspector reading the file (another ringprobe, a profiler), not a dynamic loader.
    if (path.starts_with("/proc/")) {
        ++counters_.opens_through_proc;
        return Result::not_cuda;
    }
    // the file as the process sees it
    std::string where = path.front() == '/' ? proc_path(pid, "/root") + std::string(path)
                                            : proc_path(pid, "/cwd/") + std::string(path);
    struct stat st {};
    if (::stat(where.c_str(), &st) != 0) return Result::gone;
    FileId id{uint64_t(st.st_dev), uint64_t(st.st_ino)};
    if (!pending_.contains(pid)) {
        if (pending_.size() >= limits_.max_processes) {
            ++counters_.pending_over_limit;
            return scan(pid);
        }
        TracedFile* f = ensure_file(pid, Mapped{id, std::string(path), {}}, FileKind::cuda_runtime);
        if (f != nullptr) {
            f->pending.insert(pid);
            pending_[pid] = Pending{id, 0};
        }
    }
    return scan(pid);
}

std::vector<uint32_t> ProcessTracer::retry_pending() {
    std::vector<uint32_t> now_traced;
    std::vector<uint32_t> pids;
    for (const auto& [pid, p] : pending_) pids.push_back(pid);
    for (uint32_t pid : pids) {
        Result r = scan(pid);  // drops the pending entry when traced
        if (r == Result::traced) {
            now_traced.push_back(pid);
            continue;
        }
        auto it = pending_.find(pid);
        if (it == pending_.end()) continue;
        if (r == Result::gone || ++it->second.tries >= kPendingTries) {
            if (r != Result::gone) ++counters_.opens_not_mapped;
            drop_pending(pid);
        }
    }
    return now_traced;
}

void ProcessTracer::drop_pending(uint32_t pid) {
    auto it = pending_.find(pid);
    if (it == pending_.end()) return;
    FileId id = it->second.file;
    pending_.erase(it);
    if (auto f = files_.find(id); f != files_.end()) f->second.pending.erase(pid);
    release_if_unused(id);
}

void ProcessTracer::release_if_unused(const FileId& id) {
    auto f = files_.find(id);
    if (f == files_.end() || !f->second.pids.empty() || !f->second.pending.empty()) return;
    LOG_DEBUG("gpu: no traced process uses %s any more: detaching its uprobes",
              f->second.path.c_str());
    release(f->second);
    files_.erase(f);
    ++counters_.files_detached;
}

TracedFile* ProcessTracer::ensure_file(uint32_t pid, const Mapped& m, FileKind kind) {
    if (auto it = files_.find(m.id); it != files_.end()) return &it->second;
    if (files_.size() >= limits_.max_files) {
        ++counters_.files_over_limit;
        return nullptr;
    }
    TracedFile& f = files_[m.id];
    f.id = m.id;
    f.kind = kind;
    f.path = m.path;
    // The path the kernel resolves at attach: the mapping itself when there is one (right even
    // for a file replaced or deleted on disk, or in another mount namespace), else the path in
    // the process's root.
    std::string attach_path;
    if (kind == FileKind::cuda_executable) {
        attach_path = proc_path(pid, "/exe");
    } else if (!m.map_range.empty() &&
               ::access((proc_path(pid, "/map_files/") + m.map_range).c_str(), R_OK) == 0) {
        // (map_files needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE: without, the path below)
        attach_path = proc_path(pid, "/map_files/") + m.map_range;
    } else {
        attach_path = m.path.front() == '/' ? proc_path(pid, "/root") + m.path
                                            : proc_path(pid, "/cwd/") + m.path;
    }
    attach(f, attach_path);
    ++counters_.files_attached;
    return &f;
}

void ProcessTracer::attach(TracedFile& f, const std::string& attach_path) {
    std::vector<const ProbeSpec*> specs;
    if (f.kind != FileKind::libc)
        for (const ProbeSpec& p : cuda_probes_) specs.push_back(&p);
    if (f.kind != FileKind::cuda_runtime)
        for (const ProbeSpec& p : libc_probes_) specs.push_back(&p);
    std::vector<std::string_view> names;
    for (const ProbeSpec* p : specs) names.push_back(p->function);
    auto offsets = function_offsets(attach_path, names);
    if (!offsets) {
        f.error = offsets.error();
        ++counters_.attach_errors;
        LOG_WARN("gpu: %s: %s", f.path.c_str(), f.error.c_str());
        return;
    }
    for (size_t i = 0; i < specs.size(); ++i) {
        const ProbeSpec& p = *specs[i];
        if (!(*offsets)[i]) {
            // an executable's own libc functions are optional: only note CUDA ones there
            if (f.kind != FileKind::cuda_executable || i < cuda_probes_.size()) {
                std::string name(p.function);
                if (std::find(f.missing.begin(), f.missing.end(), name) == f.missing.end())
                    f.missing.push_back(name);
            }
            continue;
        }
        auto link = attach_uprobe(p.program, attach_path, *(*offsets)[i], p.retprobe);
        if (!link) {
            ++counters_.attach_errors;
            if (f.error.empty()) f.error = std::string(p.function) + ": " + link.error();
            continue;
        }
        f.links.push_back(*link);
        f.probes.push_back(std::string(p.function) + (p.retprobe ? " (return)" : ""));
    }
    if (!f.error.empty()) LOG_WARN("gpu: %s", f.error.c_str());
    LOG_DEBUG("gpu: %zu uprobes on %s (%s)", f.links.size(), f.path.c_str(),
              std::string(file_kind_name(f.kind)).c_str());
}

void ProcessTracer::release(TracedFile& f) {
    for (const UprobeFds& l : f.links) {
        if (l.link_fd >= 0) close_fd_(l.link_fd);
        close_fd_(l.perf_fd);
    }
    f.links.clear();
}

void ProcessTracer::forget(uint32_t pid) {
    drop_pending(pid);
    auto it = processes_.find(pid);
    if (it == processes_.end()) return;
    std::vector<FileId> files = std::move(it->second.files);
    processes_.erase(it);
    for (const FileId& id : files) {
        if (auto f = files_.find(id); f != files_.end()) f->second.pids.erase(pid);
        release_if_unused(id);
    }
    ++counters_.processes_forgotten;
    if (traced_pids_fd_ >= 0) bpf_map_delete_elem(traced_pids_fd_, &pid);
}

bool ProcessTracer::detach_on_request(uint32_t pid) {
    if (!processes_.contains(pid)) return false;
    forget(pid);
    if (blocked_.size() >= limits_.max_processes) blocked_.erase(blocked_.begin());
    blocked_.insert(pid);
    return true;
}

void ProcessTracer::scan_all(const std::function<void(uint32_t pid)>& gone) {
    ++counters_.scans;
    auto t0 = std::chrono::steady_clock::now();
    DIR* d = ::opendir("/proc");
    if (d == nullptr) {
        LOG_WARN("gpu: opendir /proc: %s", std::strerror(errno));
        return;
    }
    std::set<uint32_t> alive;
    while (dirent* e = ::readdir(d)) {
        uint32_t pid = 0;
        const char* name = e->d_name;
        auto [p, ec] = std::from_chars(name, name + std::strlen(name), pid);
        if (ec != std::errc() || *p != 0 || pid == 0) continue;
        alive.insert(pid);
        if (Result r = scan(pid); r == Result::gone) ++counters_.gone_during_scan;
    }
    ::closedir(d);
    std::vector<uint32_t> dead;
    for (const auto& [pid, proc] : processes_)
        if (!alive.contains(pid)) dead.push_back(pid);
    for (uint32_t pid : dead) gone(pid);
    std::erase_if(blocked_, [&](uint32_t pid) { return !alive.contains(pid); });
    counters_.last_scan_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace rp::modules::gpu
