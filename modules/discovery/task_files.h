// task_files.h — discovery's BPF iterator (bpf/discovery.bpf.c, iter/task_file): every process's
// sockets and path-classified files in one read, in place of a readlink of each /proc/<pid>/fd
// entry. Only in RINGPROBE_WITH_BPF builds; loaded with plain libbpf (discovery does not need the
// eBPF runtime, and works without this: the module falls back to /proc when it cannot load).
//
// A snapshot is the iterator's whole output for one request (bpf/discovery.h records), indexed by
// process; reading it costs one walk over every task's file table in the kernel, so the module uses
// it only for requests of many pids.
//
// Every record carries its process's tgid, and a process's records are contiguous. When the
// kernel's output buffer fills, it drops the records of the file being shown and shows that file
// again at the next read: the per-process DISC_TASK record (written with the first file) can be
// lost that way, so the namespaces of a process may be unknown (0) — the module then asks /proc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/discovery.h"
#include "http/buffer.h"

struct discovery_bpf;  // discovery.skel.h
struct bpf_link;

namespace rp::modules::discovery {

class TaskFiles {
  public:
    // A larger snapshot is given up (the request reads /proc): 40 bytes per process and per
    // listening socket, at most 296 per log file — 64 MiB is far beyond any host's.
    static constexpr size_t kMaxSnapshotBytes = size_t{64} << 20;
    // Opens, loads (verifier) and attaches the iterator. Needs CAP_BPF + CAP_PERFMON (root).
    static std::expected<std::unique_ptr<TaskFiles>, std::string> load();
    ~TaskFiles();
    TaskFiles(const TaskFiles&) = delete;
    TaskFiles& operator=(const TaskFiles&) = delete;

    struct Task {
        uint32_t tgid;
        uint64_t mnt_ns, net_ns;  // 0 when its DISC_TASK record was not in the snapshot (below)
        uint32_t begin, end;      // byte offsets of its records in the snapshot
    };
    // Reads the iterator into `out` (its previous content replaced) and indexes it into `tasks`
    // (ascending tgid). False, with the reason in *err, when the read failed.
    bool snapshot(http::Buffer& out, std::vector<Task>& tasks, std::string* err);
    // The task of `pid` in `tasks`, or nullptr.
    static const Task* find(const std::vector<Task>& tasks, uint32_t pid);
    // Calls fn(record, path) for each file record of `t` (path empty unless it has one).
    template <typename Fn>
    static void each(const http::Buffer& snap, const Task& t, Fn&& fn) {
        for (size_t at = t.begin; at + sizeof(disc_record) <= t.end;) {
            disc_record r;
            std::memcpy(&r, snap.data() + at, sizeof r);
            size_t plen = std::min<size_t>(r.path_len, t.end - at - sizeof r);
            if (r.kind != DISC_TASK)
                fn(r, std::string_view(snap.data() + at + sizeof r, r.path_len ? plen : 0));
            at += sizeof r + ((r.path_len + 7) & ~size_t{7});
        }
    }

    uint32_t program_id() const { return prog_id_; }
    double load_ms() const { return load_ms_; }
    uint64_t reads() const { return reads_; }

  private:
    TaskFiles() = default;
    ::discovery_bpf* skel_ = nullptr;
    ::bpf_link* link_ = nullptr;
    uint32_t prog_id_ = 0;
    double load_ms_ = 0;
    uint64_t reads_ = 0;
};

}  // namespace rp::modules::discovery
