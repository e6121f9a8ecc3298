// syscall_names.h — names for seccomp_tracer's metric labels and event lines: system call numbers
// (the x86-64 table, generated at build time from the kernel headers' asm/unistd_64.h) and
// seccomp actions as the Agent names them (kill_process, kill_thread, trap, errno_<NAME>).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rp::modules {

// The native system call's name ("openat"), or "" when unknown (another architecture, a number
// beyond the table, or a 32-bit call: compat).
std::string_view syscall_name(uint32_t nr, bool compat);

inline constexpr size_t kSyscallLabelBytes = 32;
// syscall_name(), else the number ("ia32:5" for a 32-bit call, "435" for an unknown one).
std::string_view syscall_label(uint32_t nr, bool compat, char (&buf)[kSyscallLabelBytes]);

inline constexpr size_t kActionLabelBytes = 40;
// "kill_process", "kill_thread", "trap", "errno_EPERM" (errno_<n> when the number has no name),
// else the action in hex ("0x7fc00000"). `action` is ret & SECCOMP_RET_ACTION_FULL.
std::string_view action_label(uint32_t action, uint32_t data, char (&buf)[kActionLabelBytes]);

}  // namespace rp::modules
