/* selftest.h — the record bpf/selftest.bpf.c emits; used only by tests/bpf/runtime_test.cpp to
 * exercise Skeleton<T> (rodata, load, attach, ids) and RingBuffer (events, lost events). */
#ifndef RINGPROBE_BPF_SELFTEST_H
#define RINGPROBE_BPF_SELFTEST_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct selftest_event {
	__u64 seq;     /* per-CPU sequence number of this emission */
	__u32 tgid;    /* process that made the syscall */
	__u32 tid;
	__u64 syscall; /* the syscall number that matched */
	__u8 payload[40];
};

#endif /* RINGPROBE_BPF_SELFTEST_H */
