// oom_report.cpp — see oom_report.h.
#include "modules/oom_kill/oom_report.h"

#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace rp::modules::oom {
namespace {

std::string c_string(const char* s, size_t max) { return std::string(s, strnlen(s, max)); }

}  // namespace

HostMemory read_host_memory() {
    HostMemory h;
    long ps = ::sysconf(_SC_PAGESIZE);
    if (ps > 0) h.page_size = static_cast<uint64_t>(ps);
    struct sysinfo si {};
    if (::sysinfo(&si) == 0) {
        // si_meminfo(): totalram = totalram_pages(), totalswap = total_swap_pages, in mem_unit.
        uint64_t unit = si.mem_unit ? si.mem_unit : 1;
        h.total_ram_pages = static_cast<uint64_t>(si.totalram) * unit / h.page_size;
        h.total_swap_pages = static_cast<uint64_t>(si.totalswap) * unit / h.page_size;
    }
    if (FILE* f = std::fopen("/proc/sys/vm/swappiness", "re")) {
        int v = 0;
        if (std::fscanf(f, "%d", &v) == 1) h.vm_swappiness = v;
        std::fclose(f);
    }
    return h;
}

bool is_memcg_oom(const oom_kill_event& e, Report::Evidence* evidence) {
    using E = Report::Evidence;
    auto decide = [evidence](E by, bool v) {
        if (evidence != nullptr) *evidence = by;
        return v;
    };
    // 1. The kprobe read oc->memcg itself.
    if (e.flags & OOM_KILL_F_FROM_OOM_CONTROL)
        return decide(E::oom_control, (e.flags & OOM_KILL_F_MEMCG_OOM) != 0);
    // 2. The trigger's last reclaim: memcg limit reclaim leads to mem_cgroup_out_of_memory(),
    //    direct reclaim to the page allocator's global out_of_memory().
    if (e.flags & OOM_KILL_F_TRIGGER_MEMCG_RECLAIM) return decide(E::trigger_reclaim, true);
    if (e.flags & OOM_KILL_F_TRIGGER_DIRECT_RECLAIM) return decide(E::trigger_reclaim, false);
    // 3. No reclaim seen (e.g. sysrq-f, or the thread was evicted from the LRU map): a memcg
    //    around the victim at its limit.
    return decide(E::memcg_margin, (e.flags & OOM_KILL_F_MEMCG_AT_LIMIT) != 0);
}

uint64_t total_pages(const oom_kill_event& e, bool memcg_oom, const HostMemory& host) {
    if (e.flags & OOM_KILL_F_FROM_OOM_CONTROL) return e.pages;
    // PAGE_COUNTER_MAX (LONG_MAX / PAGE_SIZE) is a page counter without a limit.
    const uint64_t unlimited = static_cast<uint64_t>(INT64_MAX) / host.page_size;
    if (memcg_oom && e.memcg_max_pages != 0 && e.memcg_max_pages < unlimited) {
        // mem_cgroup_get_max(oc->memcg) ?: 1
        uint64_t max = e.memcg_max_pages;
        int swappiness = e.memcg_swappiness >= 0 ? e.memcg_swappiness : host.vm_swappiness;
        if (swappiness != 0) {
            uint64_t swap = 0;
            if (e.flags & OOM_KILL_F_CGROUP_V2) {
                swap = e.memcg_swap_max_pages;  // swap.max
            } else if (e.memcg_swap_max_pages > max) {
                swap = e.memcg_swap_max_pages - max;  // memsw.max - memory.max
            }
            max += std::min(swap, host.total_swap_pages);
        }
        return max != 0 ? max : 1;
    }
    // constrained_alloc() without a cpuset/mempolicy constraint.
    return host.total_ram_pages + host.total_swap_pages;
}

int64_t badness(const oom_kill_event& e, uint64_t totalpages, const HostMemory& host) {
    if (e.flags & OOM_KILL_F_FROM_OOM_CONTROL) return e.score;
    if (!(e.flags & OOM_KILL_F_HAS_MM)) return 0;
    int64_t points =
        static_cast<int64_t>(e.rss_pages + e.swap_entries + e.pgtables_bytes / host.page_size);
    int64_t adj = e.score_adj;
    adj *= static_cast<int64_t>(totalpages / 1000);  // "Normalize to oom_score_adj units"
    return points + adj;
}

Report make_report(const oom_kill_event& e, const HostMemory& host) {
    Report r;
    r.cgroup_name = c_string(e.cgroup_name, sizeof e.cgroup_name);
    r.victim_pid = e.victim_pid;
    r.trigger_pid = e.trigger_pid;
    r.victim_comm = c_string(e.victim_comm, sizeof e.victim_comm);
    r.trigger_comm = c_string(e.trigger_comm, sizeof e.trigger_comm);
    r.score_adj = e.score_adj;
    if (e.flags & OOM_KILL_F_OLD_TRACEPOINT) return r;  // only the pids are known
    bool memcg = is_memcg_oom(e, &r.evidence);
    r.memcg_oom = memcg ? 1 : 0;
    r.pages = total_pages(e, memcg, host);
    r.score = badness(e, r.pages, host);
    return r;
}

void write_report(http::JsonWriter& w, const Report& r) {
    w.start_object();
    write_report_fields(w, r);
    w.end_object();
}

void write_report_fields(http::JsonWriter& w, const Report& r) {
    w.kv("cgroupName", r.cgroup_name);
    w.kv_uint("victimPid", r.victim_pid);
    w.kv_uint("triggerPid", r.trigger_pid);
    w.kv("victimComm", r.victim_comm);
    w.kv("triggerComm", r.trigger_comm);
    w.kv_int("score", r.score);
    w.kv_int("scoreAdj", r.score_adj);
    w.kv_uint("pages", r.pages);
    w.kv_uint("memcgoom", r.memcg_oom);
}

}  // namespace rp::modules::oom
