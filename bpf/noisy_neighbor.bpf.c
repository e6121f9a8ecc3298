// SPDX-License-Identifier: GPL-2.0
/* noisy_neighbor.bpf.c — run-queue latency and preemptions per cgroup, aggregated in kernel.
 *
 * A task that becomes runnable is stamped with the time (task local storage):
 *   tp_btf/sched_wakeup       a sleeping task was woken
 *   tp_btf/sched_wakeup_new   a new task was made runnable (fork/clone)
 *   tp_btf/sched_switch       prev is switched out but stays runnable: it was preempted, or it
 *                             left with __state == TASK_RUNNING (yield, a wakeup that raced its
 *                             sleep, a signal)
 * When a stamped task is switched in (sched_switch's next), now - stamp is one run-queue wait,
 * added to cgroup_stats[cgroup of next] (sum and count), and the stamp is cleared. An involuntary
 * switch (the kernel's nonvoluntary_ctxt_switches rule: preempt, or prev was TASK_RUNNING when
 * __schedule() began) counts one preemption for prev's cgroup. A task is counted once per flush
 * period in its cgroup's unique_pid_count (its storage remembers the period and cgroup it was
 * counted in), so that count is the number of distinct threads that waited or were preempted
 * there since the last /check.
 *
 * Cgroup id: task->cgroups->dfl_cgrp->kn->id, the task's cgroup in the default (v2) hierarchy:
 * the inode number of its directory under the cgroup2 mount (/sys/fs/cgroup/unified on a hybrid
 * host; 1 for the v2 root). Direct BTF loads: tp_btf programs run under RCU (preemption is off
 * in __schedule), which keeps css_set and cgroup alive, so no bpf_rcu_read_lock kfunc is needed.
 *
 * Cost: every context switch runs nn_switch (two task-storage lookups, at most two
 * per-CPU hash lookups, one clock read); every wakeup one task-storage lookup. Measured in
 * docs/modules/noisy_neighbor.md ("Overhead").
 *
 * Needs: kernel BTF, tp_btf, task local storage from tracing programs without the deadlock of
 * kernels before 6.2 (bpf_task_storage_get_recur, checked by user space in kernel BTF).
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/lib/cpu_slots.bpf.h"
#include "bpf/noisy_neighbor.h"

char LICENSE[] SEC("license") = "GPL";

#define NN_E2BIG 7
#define NN_EEXIST 17
#define NN_TASK_RUNNING 0

/* Flush period: user space increments it (through the mmapped .bss) right after each flush of
 * cgroup_stats, so that a task counted in an earlier period is counted again. */
__u64 flush_period = 0;

/* cgroup id -> stats since the last flush. max_entries is set by user space
 * (ringprobe.noisy_neighbor.max_cgroups, 4096 as in system-probe) before load. Not preallocated:
 * user space empties it on every check, and an element deleted while a program on another CPU
 * still updates it must not be recycled for another cgroup (it is freed after an RCU grace
 * period instead). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct nn_cgroup_stats);
} cgroup_stats SEC(".maps");

/* Per task: enqueue stamp and unique-count marker. Kept for the task's life (freed with it) rather
 * than deleted at every switch-in: creating storage costs an allocation, a lookup does not. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct nn_task);
} task_state SEC(".maps");

struct nn_counters_slot {
	struct nn_counters c;
} __attribute__((aligned(64)));

RP_CPU_SLOTS(counters, struct nn_counters_slot);

static __always_inline struct nn_counters *counters_get(void)
{
	struct nn_counters_slot *slot = rp_cpu_slot(&counters);

	return slot ? &slot->c : NULL;
}

/* Per-CPU slots: plain increments (sched_switch cannot nest into itself on one CPU). */
#define NN_COUNT(c, field)             \
	do {                           \
		if (c)                 \
			(c)->field += 1; \
	} while (0)

/* Before Linux 5.14 the field was `state`. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state_of(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)task, state);
}

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return task->cgroups->dfl_cgrp->kn->id;
}

/* This CPU's stats of cgroup `id`, created when missing; NULL when the map is full. */
static __always_inline struct nn_cgroup_stats *cgroup_get(__u64 id, struct nn_counters *c)
{
	struct nn_cgroup_stats *s = bpf_map_lookup_elem(&cgroup_stats, &id);
	struct nn_cgroup_stats zero = {};
	long err;

	if (s)
		return s;
	err = bpf_map_update_elem(&cgroup_stats, &id, &zero, BPF_NOEXIST);
	if (err == -NN_E2BIG) {
		NN_COUNT(c, map_full);
		return NULL;
	}
	if (err != 0 && err != -NN_EEXIST)
		return NULL;
	return bpf_map_lookup_elem(&cgroup_stats, &id);
}

/* Counts `ts`'s task once per flush period in cgroup `id`. */
static __always_inline void count_unique(struct nn_task *ts, __u64 id, struct nn_cgroup_stats *s,
					 __u64 period)
{
	if (ts->counted_period == period && ts->counted_cgroup == id)
		return;
	ts->counted_period = period;
	ts->counted_cgroup = id;
	s->unique_pid_count += 1;
}

static __always_inline int stamp(struct task_struct *task)
{
	struct nn_counters *c = counters_get();
	struct nn_task *ts;

	if (task->pid == 0)
		return 0;
	ts = bpf_task_storage_get(&task_state, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ts) {
		NN_COUNT(c, storage_failed);
		return 0;
	}
	/* A fresh storage is zeroed: counted_cgroup 0 is no cgroup id (the v2 root is 1), so the
	 * task is counted at its first event. */
	ts->enqueued_ns = bpf_ktime_get_ns();
	NN_COUNT(c, wakeups);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(nn_wakeup, struct task_struct *p)
{
	return stamp(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(nn_wakeup_new, struct task_struct *p)
{
	return stamp(p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(nn_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct nn_counters *c = counters_get();
	__u64 period = flush_period;
	struct nn_cgroup_stats *s;
	struct nn_task *ts;
	__u64 now = 0, id;
	bool involuntary;
	__s64 wait;

	NN_COUNT(c, switches);

	/* prev leaves the CPU but stays on the run queue (preempted, or still TASK_RUNNING now: a
	 * yield, a sleep cut short by a signal or a racing wakeup): its wait starts now. It was
	 * switched out involuntarily when preempted or when it was running as __schedule() began
	 * (prev_state): the kernel's own rule for nivcsw (nonvoluntary_ctxt_switches). A task
	 * preempted on its way back to user space arrives through schedule(), with preempt false. */
	involuntary = preempt || prev_state == NN_TASK_RUNNING;
	if (prev->pid != 0 && (involuntary || task_state_of(prev) == NN_TASK_RUNNING)) {
		ts = bpf_task_storage_get(&task_state, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (ts) {
			now = bpf_ktime_get_ns();
			ts->enqueued_ns = now;
			if (involuntary) {
				id = task_cgroup_id(prev);
				s = cgroup_get(id, c);
				if (s) {
					s->preemption_count += 1;
					count_unique(ts, id, s, period);
				}
			}
		} else {
			NN_COUNT(c, storage_failed);
		}
	}

	if (next->pid == 0)
		return 0;
	ts = bpf_task_storage_get(&task_state, next, 0, 0);
	if (!ts || ts->enqueued_ns == 0)
		return 0; /* runnable since before the module loaded, or never stamped */
	if (!now)
		now = bpf_ktime_get_ns();
	wait = (__s64)(now - ts->enqueued_ns);
	ts->enqueued_ns = 0;
	if (wait < 0) {
		NN_COUNT(c, clock_skew);
		return 0;
	}
	id = task_cgroup_id(next);
	s = cgroup_get(id, c);
	if (!s)
		return 0;
	s->sum_latencies_ns += (__u64)wait;
	s->event_count += 1;
	count_unique(ts, id, s, period);
	return 0;
}
