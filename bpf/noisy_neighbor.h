/* noisy_neighbor.h — kernel/user ABI of the noisy_neighbor probe (bpf/noisy_neighbor.bpf.c, read by
 * modules/noisy_neighbor/).
 *
 * Included by the BPF program (after vmlinux.h) and by C++ (which static_asserts every size).
 * Fixed-width types only, explicit padding, no implicit holes.
 */
#ifndef RINGPROBE_BPF_NOISY_NEIGHBOR_H
#define RINGPROBE_BPF_NOISY_NEIGHBOR_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Value of `cgroup_stats` (per CPU), keyed by the cgroup id (__u64: the kernfs node id of the
 * task's cgroup in the default (v2) hierarchy, which is the cgroup directory's inode number on
 * 64-bit kernels). Everything since user space last flushed the map. */
struct nn_cgroup_stats {
	__u64 sum_latencies_ns; /* run-queue waits that ended on this CPU: wakeup/preemption -> run */
	__u64 event_count;      /* how many such waits */
	__u64 preemption_count; /* involuntary switches away from a task of this cgroup */
	__u64 unique_pid_count; /* tasks (threads) first seen in this cgroup in this flush period */
};

/* Per-task state (task local storage, freed with the task). */
struct nn_task {
	__u64 enqueued_ns;    /* when the task last became runnable; 0: not waiting */
	__u64 counted_period; /* flush period in which the task was counted in unique_pid_count */
	__u64 counted_cgroup; /* ... for this cgroup id */
};

/* Per-CPU counters (one slot of the `counters` CPU-slot array); user space sums over CPUs. */
struct nn_counters {
	__u64 switches;       /* sched_switch events seen */
	__u64 wakeups;        /* sched_wakeup / sched_wakeup_new events that stamped a task */
	__u64 map_full;       /* an event dropped: cgroup_stats already held max_cgroups ids */
	__u64 storage_failed; /* task storage could not be created or locked (event dropped) */
	__u64 clock_skew;     /* a run-queue wait that came out negative (dropped) */
	__u64 reserved[3];
};

#endif /* RINGPROBE_BPF_NOISY_NEIGHBOR_H */
