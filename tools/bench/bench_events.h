/* bench_events.h — the record of the benchmark-only BPF producer (bench_events.bpf.c), shared by
 * the BPF side (C, vmlinux.h types) and the consumers in event_bench.cpp (C++, which
 * static_asserts the size). 64 bytes: a small probe event (oom_kill's is 264). */
#ifndef RINGPROBE_TOOLS_BENCH_BENCH_EVENTS_H
#define RINGPROBE_TOOLS_BENCH_BENCH_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define BENCH_MAX_EVENTS_PER_CALL 16

struct bench_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns() when the syscall entered */
	__u64 seq;          /* per-producer sequence number, from 0 (gaps = lost events) */
	__u32 pid;          /* tgid of the driver */
	__u32 tid;
	__u64 arg;          /* a value computed from the event, so a consumer has something to check */
	char comm[16];
	__u64 _pad[2];
};

#endif /* RINGPROBE_TOOLS_BENCH_BENCH_EVENTS_H */
