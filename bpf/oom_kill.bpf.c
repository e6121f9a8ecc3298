// SPDX-License-Identifier: GPL-2.0
/* oom_kill.bpf.c — oom_kill_probe's kernel side: one record per OOM victim into a ring buffer.
 *
 * Hook: tp_btf/mark_victim. Since Linux 6.8 it passes the victim's task_struct; it fires in
 * __oom_kill_process() right after SIGKILL was sent, with task_lock(victim) held (so victim->mm
 * is stable) and current = the task that ran the OOM killer (the trigger).
 * Context: tp_btf/mm_vmscan_memcg_reclaim_begin and tp_btf/mm_vmscan_direct_reclaim_begin record,
 * per thread, which reclaim it ran last. A memcg OOM is reached only through memcg limit reclaim
 * (try_charge_memcg -> try_to_free_mem_cgroup_pages -> mem_cgroup_oom), a global one through the
 * page allocator's direct reclaim (__alloc_pages_slowpath -> try_to_free_pages ->
 * __alloc_pages_may_oom), so the trigger's last reclaim tells which OOM this was.
 * Fallback: kprobe/oom_kill_process (system-probe's own hook, exact oom_control values), loaded
 * only when user space detects kprobes and cannot use tp_btf. Without the kernel's own BTF and
 * without kprobes: the same three hooks as raw tracepoints (raw_tp/...), which need no kernel
 * BTF: every read is a CO-RE probe read, relocated against system_probe_config.btf_path.
 *
 * Needs: BTF for CO-RE (the kernel's or an external file), BPF ring buffer (Linux >= 5.8); the
 * tp_btf hook the kernel's own BTF; the task variants of mark_victim also bpf_loop (>= 5.17; they
 * need >= 6.8 for the victim's task_struct anyway).
 * Field-by-field provenance: docs/modules/oom_kill_probe.md.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/lib/ringbuf.bpf.h"
#include "bpf/oom_kill.h"

char LICENSE[] SEC("license") = "GPL";

/* A memcg whose mem_cgroup_margin() is at most this many pages counts as "at its limit". The
 * kernel OOM-kills in a memcg only after checking, under oom_lock, that its margin is below
 * 1 << order (order <= 3, so < 8 pages); the slack absorbs charges and uncharges by other tasks
 * between that check and mark_victim. Set by user space before load. */
const volatile __u64 memcg_slack_pages = 128;

#define MAX_MEMCG_DEPTH 16
#define RECLAIM_MEMCG 1
#define RECLAIM_DIRECT 2

RP_RINGBUF(events, 64 * 1024);
RP_LOST_COUNTER(lost_events);

/* Thread id -> RECLAIM_* of the latest reclaim it entered. LRU: bounded, and an entry only has
 * to live from a reclaim to the OOM kill that follows it in the same call chain, so the OOM
 * trigger's entry is always among the most recently used (1024 entries: ~80 KiB of kernel
 * memory). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} last_reclaim SEC(".maps");

/* Before Linux 6.2 the mm counters were atomics in struct mm_rss_stat, not percpu_counters. */
struct mm_rss_stat___pre62 {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
} __attribute__((preserve_access_index));

/* Since Linux 6.2: one percpu_counter per member. Spelled out so that the program compiles against
 * a vmlinux.h of either layout (bpf/vmlinux/aarch64 is from 6.1). */
struct mm_struct___post62 {
	struct percpu_counter rss_stat[4];
} __attribute__((preserve_access_index));

/* mark_victim's record since Linux 6.8 (and 6.1.y stable backports): the tracepoint then passes
 * the victim's task_struct and uid instead of its pid alone. */
struct trace_event_raw_mark_victim___v68 {
	uid_t uid;
} __attribute__((preserve_access_index));

/* get_mm_counter(mm, member): since 6.2 percpu_counter_read_positive(&mm->rss_stat[member]),
 * i.e. the shared count without the per-CPU deltas, exactly what oom_badness() reads. */
static __always_inline __u64 mm_counter(struct mm_struct *mm, int member)
{
	long v;

	if (bpf_core_type_exists(struct mm_rss_stat___pre62)) {
		struct mm_struct___pre62 *old = (void *)mm;

		v = BPF_CORE_READ(old, rss_stat.count[member].counter);
	} else {
		struct mm_struct___post62 *cur = (void *)mm;

		v = BPF_CORE_READ(cur, rss_stat[member].count);
	}
	return v > 0 ? v : 0;
}

/* The inputs of oom_badness(): rss, swap entries and page-table bytes of the victim's mm. */
static __always_inline void fill_mm(struct oom_kill_event *e, struct task_struct *victim)
{
	struct mm_struct *mm = BPF_CORE_READ(victim, mm);

	if (!mm)
		return;
	e->flags |= OOM_KILL_F_HAS_MM;
	e->rss_pages = mm_counter(mm, MM_FILEPAGES) + mm_counter(mm, MM_ANONPAGES) +
		       mm_counter(mm, MM_SHMEMPAGES);
	e->swap_entries = mm_counter(mm, MM_SWAPENTS);
	if (bpf_core_field_exists(mm->pgtables_bytes))
		e->pgtables_bytes = BPF_CORE_READ(mm, pgtables_bytes.counter);
}

/* mem_cgroup_margin(): pages the memcg can still charge before hitting its limit (v1: the
 * smaller of the memory and memory+swap margins). */
static __always_inline __u64 memcg_margin(struct mem_cgroup *memcg, bool v1)
{
	long usage = BPF_CORE_READ(memcg, memory.usage.counter);
	unsigned long max = BPF_CORE_READ(memcg, memory.max);
	__u64 margin = usage >= 0 && (unsigned long)usage < max ? max - usage : 0;

	if (v1) {
		long sw_usage = BPF_CORE_READ(memcg, memsw.usage.counter);
		unsigned long sw_max = BPF_CORE_READ(memcg, memsw.max);
		__u64 sw_margin = sw_usage >= 0 && (unsigned long)sw_usage < sw_max ?
					  sw_max - sw_usage :
					  0;

		if (sw_margin < margin)
			margin = sw_margin;
	}
	return margin;
}

/* One step up the victim's memcg hierarchy (a bpf_loop callback): the ancestor-or-self with the
 * smallest margin so far. */
struct memcg_walk {
	struct cgroup_subsys_state *css; /* the next level; NULL past the root */
	struct cgroup_subsys_state *best;
	__u64 best_margin;
	__u32 best_level;
	bool v1;
};

static long memcg_walk_step(__u64 level, void *ctx)
{
	struct memcg_walk *w = ctx;
	struct cgroup_subsys_state *css = w->css;

	if (!css)
		return 1;
	struct mem_cgroup *memcg = (void *)css - bpf_core_field_offset(struct mem_cgroup, css);
	__u64 margin = memcg_margin(memcg, w->v1);

	if (margin < w->best_margin) {
		w->best_margin = margin;
		w->best = css;
		w->best_level = level;
	}
	w->css = BPF_CORE_READ(css, parent);
	return 0;
}

/* The victim's memory cgroup: its leaf name, its hierarchy (v1/v2), and the ancestor-or-self
 * with the smallest margin — in a memcg OOM, the memcg whose limit was hit (oc->memcg): the
 * victim is always chosen inside oc->memcg's subtree. The walk runs in bpf_loop where it can
 * (tp_btf hook, Linux >= 6.8): the verifier checks the step once instead of every path through
 * 16 unrolled levels (28,580 instructions and 11 ms of start-up before). The kprobe fallback
 * may run on kernels without bpf_loop (< 5.17) and calls the step from a bounded loop. */
static __always_inline void fill_memcg(struct oom_kill_event *e, struct task_struct *victim,
				       bool use_bpf_loop)
{
	int memory_id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	/* css in a local: inside BPF_CORE_READ(w.css, ...) the walk struct would get a CO-RE
	 * relocation of its own, which no kernel type satisfies. */
	struct cgroup_subsys_state *css = BPF_CORE_READ(victim, cgroups, subsys[memory_id]);
	struct memcg_walk w = {.css = css, .best_margin = ~0ULL};
	const char *name;

	if (!css)
		return;
	name = BPF_CORE_READ(css, cgroup, kn, name);
	if (name)
		bpf_probe_read_kernel_str(e->cgroup_name, sizeof(e->cgroup_name), name);
	/* The default (v2) hierarchy is the one with hierarchy_id 0 (/proc/<pid>/cgroup "0::"). */
	w.v1 = BPF_CORE_READ(css, cgroup, root, hierarchy_id) != 0;
	if (!w.v1)
		e->flags |= OOM_KILL_F_CGROUP_V2;

	if (use_bpf_loop) {
		bpf_loop(MAX_MEMCG_DEPTH, memcg_walk_step, &w, 0);
	} else {
		for (__u32 level = 0; level < MAX_MEMCG_DEPTH; level++)
			if (memcg_walk_step(level, &w))
				break;
	}

	struct cgroup_subsys_state *best = w.best;
	__u64 best_margin = w.best_margin;
	bool v1 = w.v1;

	if (!best)
		return;

	struct mem_cgroup *memcg = (void *)best - bpf_core_field_offset(struct mem_cgroup, css);

	e->memcg_level = w.best_level;
	e->memcg_margin_pages = best_margin;
	e->memcg_max_pages = BPF_CORE_READ(memcg, memory.max);
	e->memcg_swap_max_pages =
		v1 ? BPF_CORE_READ(memcg, memsw.max) : BPF_CORE_READ(memcg, swap.max);
	/* mem_cgroup_swappiness(): vm.swappiness on v2 and for the root memcg, else the memcg's. */
	e->memcg_swappiness = -1;
	if (v1 && BPF_CORE_READ(best, parent) && bpf_core_field_exists(memcg->swappiness))
		e->memcg_swappiness = BPF_CORE_READ(memcg, swappiness);
	if (best_margin <= memcg_slack_pages)
		e->flags |= OOM_KILL_F_MEMCG_AT_LIMIT;
}

/* Everything about the victim and the trigger that both hooks read the same way. */
static __always_inline void fill_common(struct oom_kill_event *e, struct task_struct *victim,
					bool use_bpf_loop)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	e->timestamp_ns = bpf_ktime_get_ns();
	e->trigger_pid = pid_tgid >> 32;
	e->trigger_tid = (__u32)pid_tgid;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
	e->victim_pid = BPF_CORE_READ(victim, tgid);
	e->victim_tid = BPF_CORE_READ(victim, pid);
	BPF_CORE_READ_STR_INTO(&e->victim_comm, victim, comm);
	e->score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	fill_mm(e, victim);
	fill_memcg(e, victim, use_bpf_loop);
}

/* A mark_victim of before Linux 6.8, which passes only the victim's pid: the victim's pid and the
 * trigger fields are all there is. */
static __always_inline void fill_pid_only(struct oom_kill_event *e, __u32 victim_pid)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	e->flags = OOM_KILL_F_OLD_TRACEPOINT;
	e->timestamp_ns = bpf_ktime_get_ns();
	e->victim_pid = victim_pid;
	e->victim_tid = victim_pid;
	e->trigger_pid = pid_tgid >> 32;
	e->trigger_tid = (__u32)pid_tgid;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
}

/* mark_victim with the victim's task (`arg0` is the tracepoint's first argument: the task since
 * Linux 6.8, the pid before). Shared by the tp_btf and the raw_tp hook: every read of the task is
 * a CO-RE probe read, which needs no kernel BTF. */
static __always_inline int on_mark_victim(struct task_struct *victim, __u64 arg0)
{
	struct oom_kill_event *e = rp_ringbuf_reserve(&events, &lost_events, sizeof(*e));
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 *reclaim;

	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));

	if (!bpf_core_field_exists(struct trace_event_raw_mark_victim___v68, uid)) {
		fill_pid_only(e, (__u32)arg0);
		bpf_ringbuf_submit(e, 0);
		return 0;
	}

	fill_common(e, victim, true);
	reclaim = bpf_map_lookup_elem(&last_reclaim, &tid);
	if (reclaim && *reclaim == RECLAIM_MEMCG)
		e->flags |= OOM_KILL_F_TRIGGER_MEMCG_RECLAIM;
	else if (reclaim && *reclaim == RECLAIM_DIRECT)
		e->flags |= OOM_KILL_F_TRIGGER_DIRECT_RECLAIM;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(oom_mark_victim, struct task_struct *victim)
{
	return on_mark_victim(victim, ctx[0]);
}

/* Without the kernel's own BTF (tp_btf unavailable): the same hook as a raw tracepoint, its
 * argument untyped, every read relocated against the external BTF (system_probe_config.btf_path).
 * Needs bpf_loop (Linux >= 5.17), as the tp_btf hook. */
SEC("raw_tp/mark_victim")
int BPF_PROG(oom_mark_victim_raw, struct task_struct *victim)
{
	return on_mark_victim(victim, ctx[0]);
}

/* A kernel whose mark_victim passes only the pid (before 6.8), without kernel BTF: no bpf_loop in
 * this program, so that it also loads on Linux 5.10 and 5.15. */
SEC("raw_tp/mark_victim")
int BPF_PROG(oom_mark_victim_pid_raw, int pid)
{
	struct oom_kill_event *e = rp_ringbuf_reserve(&events, &lost_events, sizeof(*e));

	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	fill_pid_only(e, (__u32)pid);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline void note_reclaim(__u32 kind)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 *cur = bpf_map_lookup_elem(&last_reclaim, &tid);

	/* Reclaim runs in bursts: write only on a change of kind. */
	if (cur && *cur == kind)
		return;
	bpf_map_update_elem(&last_reclaim, &tid, &kind, BPF_ANY);
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(oom_memcg_reclaim)
{
	note_reclaim(RECLAIM_MEMCG);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(oom_direct_reclaim)
{
	note_reclaim(RECLAIM_DIRECT);
	return 0;
}

/* The reclaim hooks as raw tracepoints (no kernel BTF): they read no argument. */
SEC("raw_tp/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(oom_memcg_reclaim_raw)
{
	note_reclaim(RECLAIM_MEMCG);
	return 0;
}

SEC("raw_tp/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(oom_direct_reclaim_raw)
{
	note_reclaim(RECLAIM_DIRECT);
	return 0;
}

/* Fallback for kernels with kprobes but no usable tp_btf: system-probe's hook, where the
 * oom_control gives the kernel's own score, totalpages and memcg. Not loaded unless chosen. */
SEC("kprobe/oom_kill_process")
int BPF_KPROBE(oom_kill_process, struct oom_control *oc)
{
	struct task_struct *victim = BPF_CORE_READ(oc, chosen);
	struct oom_kill_event *e;

	if (!victim)
		return 0;
	e = rp_ringbuf_reserve(&events, &lost_events, sizeof(*e));
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	fill_common(e, victim, false);
	e->flags |= OOM_KILL_F_FROM_OOM_CONTROL;
	e->score = BPF_CORE_READ(oc, chosen_points);
	e->pages = BPF_CORE_READ(oc, totalpages);
	if (BPF_CORE_READ(oc, memcg))
		e->flags |= OOM_KILL_F_MEMCG_OOM;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
