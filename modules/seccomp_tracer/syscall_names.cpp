// syscall_names.cpp — see syscall_names.h.
#include "modules/seccomp_tracer/syscall_names.h"

#include <cstdio>
#include <cstring>

#include "bpf/seccomp_tracer.h"

namespace rp::modules {
namespace {

struct SyscallName {
    uint32_t nr;
    const char* name;
};
// {nr, "name"}, from asm/unistd_64.h (modules/CMakeLists.txt writes it; empty elsewhere).
constexpr SyscallName kSyscalls[] = {
#include "syscall_names.inc"
    {UINT32_MAX, ""},
};

}  // namespace

std::string_view syscall_name(uint32_t nr, bool compat) {
    if (compat) return {};
    // The table is in number order, nearly dense: index first, search when that misses.
    constexpr size_t n = sizeof kSyscalls / sizeof kSyscalls[0] - 1;
    if (nr < n && kSyscalls[nr].nr == nr) return kSyscalls[nr].name;
    for (size_t i = 0; i < n; ++i)
        if (kSyscalls[i].nr == nr) return kSyscalls[i].name;
    return {};
}

std::string_view syscall_label(uint32_t nr, bool compat, char (&buf)[kSyscallLabelBytes]) {
    std::string_view name = syscall_name(nr, compat);
    if (!name.empty()) return name;
    int len = std::snprintf(buf, sizeof buf, compat ? "ia32:%u" : "%u", nr);
    return {buf, len > 0 ? static_cast<size_t>(len) : 0};
}

std::string_view action_label(uint32_t action, uint32_t data, char (&buf)[kActionLabelBytes]) {
    switch (action) {
        case SECCOMP_TRACER_RET_KILL_PROCESS:
            return "kill_process";
        case SECCOMP_TRACER_RET_KILL_THREAD:
            return "kill_thread";
        case SECCOMP_TRACER_RET_TRAP:
            return "trap";
        case SECCOMP_TRACER_RET_ERRNO: {
            const char* e = strerrorname_np(static_cast<int>(data));
            int len = e != nullptr ? std::snprintf(buf, sizeof buf, "errno_%s", e)
                                   : std::snprintf(buf, sizeof buf, "errno_%u", data);
            return {buf, len > 0 ? static_cast<size_t>(len) : 0};
        }
        default: {
            int len = std::snprintf(buf, sizeof buf, "0x%08x", action);
            return {buf, len > 0 ? static_cast<size_t>(len) : 0};
        }
    }
}

}  // namespace rp::modules
