/* oom_kill.h — the record bpf/oom_kill.bpf.c sends to modules/oom_kill for every OOM victim.
 *
 * Shared by the BPF program (C, vmlinux.h types) and user space (C++, which static_asserts the
 * size): fixed-width types only, every padding byte explicit, 8-byte aligned.
 * How each field maps to the oom_kill_probe payload: docs/modules/oom_kill_probe.md.
 */
#ifndef RINGPROBE_BPF_OOM_KILL_H
#define RINGPROBE_BPF_OOM_KILL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define OOM_KILL_COMM_LEN 16
#define OOM_KILL_CGROUP_NAME_LEN 128

/* oom_kill_event.flags */
enum oom_kill_event_flags {
	/* Filled by kprobe/oom_kill_process from struct oom_control: score, pages and MEMCG_OOM are
	 * the kernel's own values (oc->chosen_points, oc->totalpages, oc->memcg != NULL). */
	OOM_KILL_F_FROM_OOM_CONTROL = 1 << 0,
	/* kprobe only: oc->memcg was set. */
	OOM_KILL_F_MEMCG_OOM = 1 << 1,
	/* tp_btf: the trigger's latest reclaim before the kill was memcg limit reclaim
	 * (mm_vmscan_memcg_reclaim_begin) — the path that ends in mem_cgroup_out_of_memory(). */
	OOM_KILL_F_TRIGGER_MEMCG_RECLAIM = 1 << 2,
	/* tp_btf: the trigger's latest reclaim was global direct reclaim
	 * (mm_vmscan_direct_reclaim_begin) — the page allocator's path to a global OOM. */
	OOM_KILL_F_TRIGGER_DIRECT_RECLAIM = 1 << 3,
	/* A memory cgroup containing the victim was within memcg_slack_pages of its limit; the memcg_*
	 * fields describe it. */
	OOM_KILL_F_MEMCG_AT_LIMIT = 1 << 4,
	/* The victim's memory controller is on the cgroup v2 hierarchy (else v1). */
	OOM_KILL_F_CGROUP_V2 = 1 << 5,
	/* The victim still had its mm: rss_pages, swap_entries and pgtables_bytes are valid. */
	OOM_KILL_F_HAS_MM = 1 << 6,
	/* tp_btf/mark_victim had the pre-6.8 signature (int pid): only victim_pid and the trigger
	 * fields are valid. */
	OOM_KILL_F_OLD_TRACEPOINT = 1 << 7,
};

struct oom_kill_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns() at the kill */
	__u32 victim_pid;   /* victim's tgid (process id) */
	__u32 victim_tid;   /* victim's pid (thread id) as the kernel names it */
	__u32 trigger_pid;  /* tgid of the task that ran the OOM killer (current) */
	__u32 trigger_tid;
	__s16 score_adj;    /* victim->signal->oom_score_adj */
	__u16 flags;        /* enum oom_kill_event_flags */
	__u32 memcg_level;  /* ancestors between the victim's memcg and the one at its limit (0 = own) */
	__s64 score;        /* FROM_OOM_CONTROL: oc->chosen_points; else 0 (user space computes it) */
	__u64 pages;        /* FROM_OOM_CONTROL: oc->totalpages; else 0 (user space computes it) */
	__u64 rss_pages;    /* victim mm: MM_FILEPAGES + MM_ANONPAGES + MM_SHMEMPAGES */
	__u64 swap_entries; /* victim mm: MM_SWAPENTS */
	__u64 pgtables_bytes;       /* victim mm: mm->pgtables_bytes */
	__u64 memcg_max_pages;      /* memcg at its limit: memory.max (v1 limit_in_bytes), in pages */
	__u64 memcg_swap_max_pages; /* same memcg: v1 memsw.max, v2 swap.max, in pages */
	__u64 memcg_margin_pages;   /* same memcg: mem_cgroup_margin() as the kernel computes it */
	__s32 memcg_swappiness;     /* v1: that memcg's swappiness; -1 when vm.swappiness applies */
	__u32 _pad0;
	char victim_comm[OOM_KILL_COMM_LEN];
	char trigger_comm[OOM_KILL_COMM_LEN];
	char cgroup_name[OOM_KILL_CGROUP_NAME_LEN]; /* victim's memory cgroup leaf name, NUL-terminated */
};

#endif /* RINGPROBE_BPF_OOM_KILL_H */
