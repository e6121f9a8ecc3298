// cpu_account.h — CPU time of the loop thread attributed to whoever it was spent for.
//
// A CpuAccount accumulates the CPU time (user + system) the loop thread spent inside CpuScopes
// opened for it: the daemon opens one around each module's HTTP handlers, stream pieces and
// ring-buffer drains (docs/ARCHITECTURE.md, "Self cost"). A scope reads the thread's own CPU clock
// (clock_gettime(CLOCK_THREAD_CPUTIME_ID): the scheduler's exact runtime, two system calls per
// scope) only while accounting is on (CpuAccount::set_enabled, the daemon's
// system_probe_config.self_cost); off, a scope is one test of a flag. Scopes do not nest: a scope
// opened inside another one (a /check handler draining its ring buffer) adds nothing, the outer
// one counts the whole time.
//
// Why not user and system separately: the kernel splits a thread's time into user and system
// only at ticks (TICK_CPU_ACCOUNTING; exact splits need VIRT_CPU_ACCOUNTING_GEN, i.e. nohz_full),
// and getrusage(RUSAGE_THREAD) reads a runtime that is only brought up to date at ticks and
// context switches: over a scope of a few microseconds it reads 0, or a whole tick that began
// before the scope. The process-wide split (process_cpu(), getrusage(RUSAGE_SELF)) is meaningful
// over seconds and is reported as such.
#pragma once

#include <cstdint>

namespace rp::loop {

struct CpuAccount {
    uint64_t cpu_ns = 0;  // user + system
    uint64_t scopes = 0;  // scopes that counted into this account

    static void set_enabled(bool on);
    static bool enabled();
};

class CpuScope {
  public:
    explicit CpuScope(CpuAccount* account) {
        if (account != nullptr && CpuAccount::enabled()) begin(account);
    }
    ~CpuScope() {
        if (account_ != nullptr) end();
    }
    CpuScope(const CpuScope&) = delete;
    CpuScope& operator=(const CpuScope&) = delete;

  private:
    void begin(CpuAccount* account);
    void end();
    CpuAccount* account_ = nullptr;
    uint64_t start_ns_ = 0;
};

// The process's own user and system time so far (getrusage(RUSAGE_SELF)), in microseconds.
struct ProcessCpu {
    uint64_t user_us = 0;
    uint64_t system_us = 0;
};
ProcessCpu process_cpu();

}  // namespace rp::loop
