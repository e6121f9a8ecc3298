// uprobe.cpp — see uprobe.h.
#include "modules/gpu/uprobe.h"

#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace rp::modules::gpu {

namespace {

struct UprobePmu {
    int type = -1;
    int retprobe_bit = 0;
    std::string error;
};

const UprobePmu& pmu() {
    static const UprobePmu p = [] {
        UprobePmu u;
        std::ifstream t("/sys/bus/event_source/devices/uprobe/type");
        if (!(t >> u.type)) {
            u.type = -1;
            u.error = "no uprobe PMU (/sys/bus/event_source/devices/uprobe/type)";
            return u;
        }
        // "config:0": the bit of perf_event_attr.config that makes a return probe
        std::ifstream f("/sys/bus/event_source/devices/uprobe/format/retprobe");
        std::string s;
        if (f >> s && s.starts_with("config:")) u.retprobe_bit = std::atoi(s.c_str() + 7);
        return u;
    }();
    return p;
}

std::string where(const std::string& path, uint64_t offset) {
    char off[32];
    std::snprintf(off, sizeof off, "+0x%llx", static_cast<unsigned long long>(offset));
    return path + off;
}

}  // namespace

std::expected<UprobeFds, std::string> attach_uprobe(bpf_program* prog, const std::string& path,
                                                    uint64_t offset, bool retprobe) {
    const UprobePmu& u = pmu();
    if (u.type < 0) return std::unexpected(u.error);
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = static_cast<uint32_t>(u.type);
    attr.config = retprobe ? (1ull << u.retprobe_bit) : 0;
    attr.config1 = reinterpret_cast<uint64_t>(path.c_str());  // uprobe_path
    attr.config2 = offset;                                    // probe_offset
    // pid -1 (every process) needs a CPU; the event still fires on all of them
    int pfd =
        static_cast<int>(::syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
    if (pfd < 0)
        return std::unexpected(
            std::string(retprobe ? "perf_event_open uretprobe " : "perf_event_open uprobe ") +
            where(path, offset) + ": " + std::strerror(errno));
    bpf_link* link = bpf_program__attach_perf_event_opts(prog, pfd, nullptr);
    if (link == nullptr) {
        int err = errno;
        ::close(pfd);
        return std::unexpected("attach " + std::string(bpf_program__name(prog)) + " to " +
                               where(path, offset) + ": " + std::strerror(err));
    }
    UprobeFds fds;
    fds.perf_fd = pfd;
    int lfd = bpf_link__fd(link);
    fds.link_fd = lfd != pfd ? lfd : -1;
    bpf_link__disconnect(link);  // the descriptors are ours now
    bpf_link__destroy(link);
    return fds;
}

}  // namespace rp::modules::gpu
