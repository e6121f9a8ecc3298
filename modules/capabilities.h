// capabilities.h — ringprobe.drop_capabilities: once the modules are created and the listeners
// bound, keep only the capabilities ringprobe still needs at run time (docs/HARDENING.md), with raw
// capget/capset/prctl syscalls (no libcap).
//
// Kept (each only if the process had it): CAP_BPF, CAP_PERFMON (POST /module-restart loads and
// attaches the probes again), CAP_SYS_RESOURCE (RLIMIT_MEMLOCK on kernels without memcg accounting
// of BPF memory), CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (/proc/<pid>/io, maps and exe of other
// users' processes), and CAP_SYS_ADMIN only when the ebpf module is enabled (it lists every BPF
// object of the host with BPF_*_GET_NEXT_ID and switches BPF_ENABLE_STATS, both CAP_SYS_ADMIN).
// Every other capability leaves the bounding, permitted, effective, inheritable and ambient sets.
#pragma once

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

namespace rp::modules {

inline uint64_t runtime_capabilities(bool ebpf_module_enabled) {
    uint64_t keep = (1ull << CAP_BPF) | (1ull << CAP_PERFMON) | (1ull << CAP_SYS_RESOURCE) |
                    (1ull << CAP_DAC_READ_SEARCH) | (1ull << CAP_SYS_PTRACE);
    if (ebpf_module_enabled) keep |= 1ull << CAP_SYS_ADMIN;
    return keep;
}

// Returns "" on success, else what failed. `kept` receives the resulting effective set.
inline std::string drop_capabilities(uint64_t keep, uint64_t* kept = nullptr) {
    int last = 40;
    if (std::FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "re")) {
        if (std::fscanf(f, "%d", &last) != 1) last = 40;
        std::fclose(f);
    }
    __user_cap_header_struct hdr{};
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &hdr, data) != 0)
        return std::string("capget: ") + std::strerror(errno);
    uint64_t permitted = data[0].permitted | (static_cast<uint64_t>(data[1].permitted) << 32);

    uint64_t effective = data[0].effective | (static_cast<uint64_t>(data[1].effective) << 32);

    // Bounding set first: PR_CAPBSET_DROP needs CAP_SETPCAP, which the capset below removes.
    // Without CAP_SETPCAP (an unprivileged daemon) the bounding set cannot shrink; it then only
    // matters for an execve of a file with capabilities, which ringprobe never does.
    const bool can_drop_bounding = (effective & (1ull << CAP_SETPCAP)) != 0;
    for (int cap = 0; can_drop_bounding && cap <= last && cap < 64; ++cap) {
        if (keep & (1ull << cap)) continue;
        if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return "prctl(PR_CAPBSET_DROP, " + std::to_string(cap) + "): " + std::strerror(errno);
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return std::string("prctl(PR_CAP_AMBIENT_CLEAR_ALL): ") + std::strerror(errno);

    uint64_t now = permitted & keep;
    data[0].permitted = data[0].effective = static_cast<uint32_t>(now);
    data[1].permitted = data[1].effective = static_cast<uint32_t>(now >> 32);
    data[0].inheritable = data[1].inheritable = 0;
    if (::syscall(SYS_capset, &hdr, data) != 0)
        return std::string("capset: ") + std::strerror(errno);
    if (kept != nullptr) *kept = now;
    return "";
}

}  // namespace rp::modules
