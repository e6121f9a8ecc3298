// task_files.cpp — see task_files.h.
#if RINGPROBE_WITH_BPF  // the module's folder is compiled in every build
#include "modules/discovery/task_files.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "bpf/discovery.h"
#include "bpf/runtime/runtime.h"
#include "discovery.skel.h"

namespace rp::modules::discovery {

std::expected<std::unique_ptr<TaskFiles>, std::string> TaskFiles::load() {
    auto t0 = std::chrono::steady_clock::now();
    bpf::route_libbpf_log();
    std::unique_ptr<TaskFiles> t(new TaskFiles());
    errno = 0;
    t->skel_ = discovery_bpf::open_and_load();
    if (t->skel_ == nullptr)
        return std::unexpected(bpf::errno_message("load bpf/discovery.bpf.o (iter/task_file)",
                                                  errno ? errno : EINVAL));
    t->link_ = bpf_program__attach_iter(t->skel_->progs.discovery_task_file, nullptr);
    if (t->link_ == nullptr)
        return std::unexpected(bpf::errno_message("attach iter/task_file", errno));
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(t->skel_->progs.discovery_task_file), &info, &len) ==
        0)
        t->prog_id_ = info.id;
    t->load_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return t;
}

TaskFiles::~TaskFiles() {
    if (link_ != nullptr) bpf_link__destroy(link_);
    if (skel_ != nullptr) discovery_bpf::destroy(skel_);
}

bool TaskFiles::snapshot(http::Buffer& out, std::vector<Task>& tasks, std::string* err) {
    out.clear();
    tasks.clear();
    skel_->bss->last_tgid = 0;  // the first record of the walk starts a task
    int fd = bpf_iter_create(bpf_link__fd(link_));
    if (fd < 0) {
        *err = bpf::errno_message("create iter/task_file", errno);
        return false;
    }
    ++reads_;
    for (;;) {
        if (out.size() >= kMaxSnapshotBytes) {
            *err = "iter/task_file: snapshot larger than " +
                   std::to_string(kMaxSnapshotBytes >> 20) + " MiB";
            ::close(fd);
            out.clear();
            out.shrink_to(1 << 20);
            return false;
        }
        out.reserve(out.size() + 65536);
        ssize_t n = ::read(fd, out.data() + out.size(), 65536);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            *err = bpf::errno_message("read iter/task_file", errno);
            ::close(fd);
            return false;
        }
        if (n == 0) break;
        out.resize(out.size() + static_cast<size_t>(n));
    }
    ::close(fd);
    // Index: consecutive records of one tgid are one process (tgids ascend: the kernel walks pids
    // in order); its DISC_TASK record, when there, gives the namespaces.
    size_t at = 0;
    bool sorted = true;
    while (at + sizeof(disc_record) <= out.size()) {
        disc_record r;
        std::memcpy(&r, out.data() + at, sizeof r);
        size_t next = std::min(out.size(), at + sizeof r + ((r.path_len + 7) & ~size_t{7}));
        if (tasks.empty() || tasks.back().tgid != r.tgid) {
            if (!tasks.empty()) sorted = sorted && tasks.back().tgid < r.tgid;
            tasks.push_back({r.tgid, 0, 0, static_cast<uint32_t>(at), static_cast<uint32_t>(at)});
        }
        if (r.kind == DISC_TASK) {
            tasks.back().mnt_ns = r.a;
            tasks.back().net_ns = r.b;
        }
        tasks.back().end = static_cast<uint32_t>(next);
        at = next;
    }
    if (!sorted)
        std::sort(tasks.begin(), tasks.end(),
                  [](const Task& a, const Task& b) { return a.tgid < b.tgid; });
    return true;
}

const TaskFiles::Task* TaskFiles::find(const std::vector<Task>& tasks, uint32_t pid) {
    auto it = std::lower_bound(tasks.begin(), tasks.end(), pid,
                               [](const Task& t, uint32_t p) { return t.tgid < p; });
    return it != tasks.end() && it->tgid == pid ? &*it : nullptr;
}

}  // namespace rp::modules::discovery

#endif  // RINGPROBE_WITH_BPF
