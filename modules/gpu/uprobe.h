// uprobe.h — a uprobe whose file descriptors we own, so that detaching it never blocks the loop.
//
// Removing a uprobe waits for RCU grace periods in the kernel (uprobe_unregister_sync: an RCU
// tasks-trace and an SRCU grace period): about 200 ms per uprobe on the project VMs, so a libcudart
// file's 16 probes took 3.8 s — on the loop thread, when a CUDA process exited — through
// libbpf's bpf_link__destroy. Here the uprobe's perf event is opened as libbpf's
// bpf_program__attach_uprobe_opts opens it (the "uprobe" PMU, the file path in config1, the file
// offset in config2, the retprobe bit from the PMU's format), libbpf attaches the program to it
// (bpf_program__attach_perf_event_opts: a BPF link, or the ioctl on older kernels), and the link
// is disconnected from libbpf so that the two descriptors are ours: the caller closes them
// asynchronously (an io_uring close punted to the kernel's io-wq workers, modules/gpu/gpu_module).
//
// Needs: the uprobe PMU (/sys/bus/event_source/devices/uprobe, Linux >= 4.17), CAP_PERFMON and
// CAP_SYS_ADMIN (or root).
#pragma once

#include <cstdint>
#include <expected>
#include <string>

struct bpf_program;

namespace rp::modules::gpu {

struct UprobeFds {
    int perf_fd = -1;
    int link_fd = -1;  // the BPF link; == -1 when the program was attached by ioctl
};

// Attaches `prog` at `offset` in the file at `path`, for every process (pid -1). The error names
// the step: "perf_event_open uprobe /x+0x1234: No such file or directory".
std::expected<UprobeFds, std::string> attach_uprobe(bpf_program* prog, const std::string& path,
                                                    uint64_t offset, bool retprobe);

}  // namespace rp::modules::gpu
