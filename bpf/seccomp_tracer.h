/* seccomp_tracer.h — kernel/user ABI of the seccomp_tracer probe (bpf/seccomp_tracer.bpf.c, read by
 * modules/seccomp_tracer/).
 *
 * Included by the BPF program (after vmlinux.h) and by C++ (which static_asserts every size).
 * Fixed-width types only, explicit padding, no implicit holes.
 * How the kernel side finds a denial and its action: docs/modules/seccomp_tracer.md.
 */
#ifndef RINGPROBE_BPF_SECCOMP_TRACER_H
#define RINGPROBE_BPF_SECCOMP_TRACER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SECCOMP_TRACER_COMM_LEN 16
#define SECCOMP_TRACER_CGROUP_NAME_LEN 128
/* Frames kept per user stack (the kernel's PERF_MAX_STACK_DEPTH). */
#define SECCOMP_TRACER_STACK_DEPTH 127

/* Filter return values (include/uapi/linux/seccomp.h). The action is ret & 0xffff0000, the data
 * ret & 0xffff; actions compare as signed 32-bit values, the lowest wins. */
#define SECCOMP_TRACER_RET_KILL_PROCESS 0x80000000U
#define SECCOMP_TRACER_RET_KILL_THREAD 0x00000000U
#define SECCOMP_TRACER_RET_TRAP 0x00030000U
#define SECCOMP_TRACER_RET_ERRNO 0x00050000U
#define SECCOMP_TRACER_RET_USER_NOTIF 0x7fc00000U
#define SECCOMP_TRACER_RET_TRACE 0x7ff00000U
#define SECCOMP_TRACER_RET_LOG 0x7ffc0000U
#define SECCOMP_TRACER_RET_ALLOW 0x7fff0000U
#define SECCOMP_TRACER_RET_ACTION_FULL 0xffff0000U
#define SECCOMP_TRACER_RET_DATA 0x0000ffffU

/* Key of `denials`: one entry per (process, system call, action), as system-probe aggregates. */
struct seccomp_denial_key {
	__u32 pid;        /* tgid of the denied thread */
	__u32 syscall_nr; /* the number the filter saw (orig_ax; i386 numbers for 32-bit tasks) */
	__u32 action;     /* filter return & SECCOMP_RET_ACTION_FULL */
	__u32 _pad;       /* always 0 */
};

/* seccomp_denial_value.flags */
enum seccomp_denial_flags {
	/* Later denials of this key carried another SECCOMP_RET_DATA than `data` (first one kept). */
	SECCOMP_DENIAL_F_DATA_VARIES = 1 << 0,
	/* The filter's data is unknown for at least one denial (KILL_THREAD seen only at exit). */
	SECCOMP_DENIAL_F_DATA_UNKNOWN = 1 << 1,
	/* At least one denial's action was inferred, not replayed from the filter (see the docs). */
	SECCOMP_DENIAL_F_INFERRED = 1 << 2,
	/* At least one denial came from a 32-bit (ia32) system call. */
	SECCOMP_DENIAL_F_COMPAT = 1 << 3,
};

/* Value of `denials`. comm and cgroup_name are those of the first denial of the key. */
struct seccomp_denial_value {
	__u64 count;
	__u32 data;  /* SECCOMP_RET_DATA of the first denial: the errno for ERRNO (capped at 4095) */
	__u32 flags; /* enum seccomp_denial_flags */
	char comm[SECCOMP_TRACER_COMM_LEN];               /* thread name, NUL-terminated */
	char cgroup_name[SECCOMP_TRACER_CGROUP_NAME_LEN]; /* memory cgroup leaf name, NUL-terminated */
};

/* Key of `totals`: every denial since the probe loaded, by system call and action, never deleted
 * (the counters /metrics reads; /check's `denials` map is emptied by each check). */
struct seccomp_total_key {
	__u32 syscall_nr;
	__u32 action; /* filter return & SECCOMP_RET_ACTION_FULL */
	__u32 data;   /* SECCOMP_RET_DATA for ERRNO (the errno), else 0 */
	__u32 compat; /* 1: a 32-bit (ia32) system call number */
};

/* One denial as it happened, sent through the `events` ring buffer while user space has a client
 * on GET /seccomp_tracer/events (the .bss flag events_enabled). */
struct seccomp_denial_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns() */
	__u32 pid;          /* tgid */
	__u32 tid;
	__u32 syscall_nr;
	__u32 action;       /* & SECCOMP_RET_ACTION_FULL */
	__u32 data;         /* & SECCOMP_RET_DATA */
	__u32 flags;        /* enum seccomp_denial_flags of this denial */
	char comm[SECCOMP_TRACER_COMM_LEN];
	char cgroup_name[SECCOMP_TRACER_CGROUP_NAME_LEN];
};

/* Key of `stack_counts`: how often one user stack led to one (pid, syscall, action) denial.
 * stack_id -1: no stack could be taken. */
struct seccomp_stack_key {
	__u32 pid;
	__u32 syscall_nr;
	__u32 action;
	__s32 stack_id; /* id in `stacks`, or -1 */
};

/* Per-CPU counters (index into seccomp_counters.c); user space sums over CPUs. */
enum seccomp_counter {
	SECCOMP_CNT_DENIALS = 0,         /* denials counted into `denials` */
	SECCOMP_CNT_MAP_FULL = 1,        /* denial dropped: `denials` held max_entries keys */
	SECCOMP_CNT_STACK_MAP_FULL = 2,  /* stack count dropped: `stack_counts` full */
	SECCOMP_CNT_STACK_ERRORS = 3,    /* bpf_get_stackid failed (counted under stack id -1) */
	SECCOMP_CNT_REPLAYS = 4,         /* filter chains replayed (each costs the chain's path) */
	SECCOMP_CNT_INFERRED = 5,        /* denials whose action was inferred (no replay possible) */
	SECCOMP_CNT_NOT_DENIED = 6,      /* replayed or skipped call the filters did not deny (allowed,
					  * TRACE, USER_NOTIF, or not filtered yet when it began) */
	SECCOMP_CNT_MISMATCH = 7,        /* entry marks: replayed verdict disagrees with the skip */
	SECCOMP_CNT_REPLAY_ERRORS = 8,   /* replay impossible: no saved filter, too long, bad insn */
	SECCOMP_CNT_UNKNOWN_SKIPS = 9,   /* entry marks: first call of a thread skipped, no replay */
	SECCOMP_CNT_PTRACE_SKIPS = 10,   /* call skipped by a ptrace tracer, not by seccomp */
	SECCOMP_CNT_STATE_ERRORS = 11,   /* per-thread state could not be created */
	SECCOMP_CNT_KILL_THREAD_EXITS = 12, /* KILL_THREAD seen at thread exit (no SIGSYS sent) */
	SECCOMP_CNT_TOTALS_FULL = 13,    /* denial not in `totals`: it held its max (syscall, action)s */
	SECCOMP_CNT_COUNT = 14,
};

struct seccomp_counters {
	__u64 c[16]; /* SECCOMP_CNT_COUNT used, the rest reserved (always 0) */
};

#endif /* RINGPROBE_BPF_SECCOMP_TRACER_H */
