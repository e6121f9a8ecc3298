// oom_report.h — turns one bpf/oom_kill.h record into the oom_kill_probe payload entry.
//
// The tp_btf hook cannot see the kernel's struct oom_control, so `score` (oc->chosen_points),
// `pages` (oc->totalpages) and `memcgoom` (oc->memcg != NULL) are re-derived here from what the
// BPF side read, with the kernel's own formulas (mm/oom_kill.c oom_badness(), constrained_alloc(),
// mm/memcontrol.c mem_cgroup_get_max()). docs/modules/oom_kill_probe.md says where each can differ.
#pragma once

#include <cstdint>
#include <string>

#include "bpf/oom_kill.h"
#include "http/json_writer.h"

namespace rp::modules::oom {

// Host facts the kernel's formulas use, read in user space (sysinfo(2), /proc/sys/vm/swappiness).
struct HostMemory {
    uint64_t total_ram_pages = 0;   // totalram_pages()
    uint64_t total_swap_pages = 0;  // total_swap_pages
    int vm_swappiness = 60;
    uint64_t page_size = 4096;
};
HostMemory read_host_memory();

// One entry of GET /oom_kill_probe/check (system-probe's OOMKillStats).
struct Report {
    std::string cgroup_name;
    uint32_t victim_pid = 0;
    uint32_t trigger_pid = 0;
    std::string victim_comm;
    std::string trigger_comm;
    int64_t score = 0;
    int16_t score_adj = 0;
    uint64_t pages = 0;
    uint32_t memcg_oom = 0;
    // What decided memcg_oom (not in the payload; counted in the module's stats).
    enum class Evidence {
        oom_control,
        trigger_reclaim,
        memcg_margin,
        none
    } evidence = Evidence::none;
};

// Whether the record describes a memory-cgroup OOM (see the .cpp for the order of evidence);
// *evidence (if given) says which rule decided.
bool is_memcg_oom(const oom_kill_event& e, Report::Evidence* evidence = nullptr);
// oc->totalpages as the kernel computed it for this kill.
uint64_t total_pages(const oom_kill_event& e, bool memcg_oom, const HostMemory& host);
// oom_badness(victim, totalpages): rss + swap entries + page-table pages + adj * (totalpages/1000).
int64_t badness(const oom_kill_event& e, uint64_t totalpages, const HostMemory& host);

Report make_report(const oom_kill_event& e, const HostMemory& host);
// The report as one object of the /check array (system-probe's field names and order).
void write_report(http::JsonWriter& w, const Report& r);
// The same fields without the enclosing object (an event line adds its own).
void write_report_fields(http::JsonWriter& w, const Report& r);

}  // namespace rp::modules::oom
