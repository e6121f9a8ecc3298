// cpu_account.cpp — see cpu_account.h.
#include "loop/cpu_account.h"

#include <sys/resource.h>
#include <time.h>

namespace rp::loop {
namespace {

bool g_enabled = false;
thread_local bool t_in_scope = false;

bool thread_cpu_ns(uint64_t& out) {
    timespec ts{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return false;
    out = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
    return true;
}

uint64_t micros(const timeval& tv) {
    return static_cast<uint64_t>(tv.tv_sec) * 1000000u + static_cast<uint64_t>(tv.tv_usec);
}

}  // namespace

void CpuAccount::set_enabled(bool on) { g_enabled = on; }
bool CpuAccount::enabled() { return g_enabled; }

void CpuScope::begin(CpuAccount* account) {
    if (t_in_scope) return;  // the enclosing scope counts this time
    if (!thread_cpu_ns(start_ns_)) return;
    t_in_scope = true;
    account_ = account;
}

void CpuScope::end() {
    t_in_scope = false;
    uint64_t now = 0;
    if (!thread_cpu_ns(now)) return;
    account_->cpu_ns += now > start_ns_ ? now - start_ns_ : 0;
    ++account_->scopes;
}

ProcessCpu process_cpu() {
    rusage ru{};
    ProcessCpu p;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        p.user_us = micros(ru.ru_utime);
        p.system_us = micros(ru.ru_stime);
    }
    return p;
}

}  // namespace rp::loop
