/* tcp_queue_length.h — kernel/user ABI of the tcp_queue_length probe (bpf/tcp_queue_length.bpf.c,
 * read by modules/tcp_queue_length/).
 *
 * Included by the BPF program (after vmlinux.h) and by C++ (which static_asserts every size).
 * Fixed-width types only, explicit padding, no implicit holes.
 */
#ifndef RINGPROBE_BPF_TCP_QUEUE_LENGTH_H
#define RINGPROBE_BPF_TCP_QUEUE_LENGTH_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bytes of a cgroup leaf name kept, NUL included. Longer names are truncated (and counted). */
#define TCPQ_CGROUP_NAME_LEN 128

/* Key of `queue_stats`, also the value of the per-socket `sock_cgroup` storage. The bytes after
 * the terminating NUL are always zero, so two equal names are one key. */
struct tcpq_key {
	char cgroup_name[TCPQ_CGROUP_NAME_LEN];
};

/* Value of `queue_stats` (per CPU): the highest usage, in per-mille of the socket buffer, sampled
 * on any TCP socket of that cgroup since user space last flushed the map. */
struct tcpq_value {
	__u32 read_buffer_max_usage;
	__u32 write_buffer_max_usage;
};

/* Where a sample was taken (index into tcpq_counters.samples). */
enum tcpq_hook {
	TCPQ_HOOK_SENDMSG = 0,          /* tp_btf/tcp_sendmsg_locked: sender, process context */
	TCPQ_HOOK_RCV_SPACE_ADJUST = 1, /* tp_btf/tcp_rcv_space_adjust: reader, in tcp_recvmsg */
	TCPQ_HOOK_PROBE = 2,            /* tp_btf/tcp_probe: every segment received */
	TCPQ_HOOK_SET_STATE = 3,        /* tp_btf/inet_sock_set_state: tags only, no sample */
	TCPQ_HOOK_COUNT = 4,
};

/* Per-CPU counters (one entry of the `counters` array); user space sums over CPUs. */
struct tcpq_counters {
	__u64 samples[TCPQ_HOOK_COUNT]; /* samples taken, per hook (SET_STATE: sockets tagged) */
	__u64 map_full;                 /* sample dropped: queue_stats held max_cgroups names */
	__u64 untagged;                 /* softirq sample on a socket of unknown cgroup, dropped */
	__u64 tag_failed;               /* could not attach the cgroup name to a socket */
	__u64 name_errors;              /* reading the current task's cgroup name failed */
	__u64 name_truncated;           /* a cgroup name longer than TCPQ_CGROUP_NAME_LEN - 1 */
	__u64 unchanged;                /* samples not above what their socket already recorded
	                                 * since the last flush: the map was not touched */
};

#endif /* RINGPROBE_BPF_TCP_QUEUE_LENGTH_H */
