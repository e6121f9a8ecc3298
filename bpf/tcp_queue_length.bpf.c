// SPDX-License-Identifier: GPL-2.0
/* tcp_queue_length.bpf.c — highest TCP send/receive queue usage per cgroup, aggregated in kernel.
 *
 * For every sample, on one TCP socket:
 *   read  = 1000 * max(0, rcv_nxt - copied_seq) / sk_rcvbuf     (per-mille of the receive buffer)
 *   write = 1000 * max(0, write_seq - snd_una) / sk_sndbuf      (per-mille of the send buffer)
 * and `queue_stats[cgroup leaf name]` keeps the maximum of each since user space last flushed it
 * (modules/tcp_queue_length reads and deletes every entry on GET /check).
 *
 * system-probe samples in kprobe/kretprobe tcp_recvmsg and tcp_sendmsg. Without kprobes, the same
 * moments are reached through BTF tracepoints:
 *   tp_btf/tcp_sendmsg_locked   every turn of the copy loop of tcp_sendmsg_locked, also after each
 *                               wait for send-buffer space: sees the full send queue (Linux 6.16)
 *   tp_btf/tcp_rcv_space_adjust after every skb tcp_recvmsg copies to user space (Linux 4.16)
 *   tp_btf/tcp_probe            every segment received on an established socket (Linux 4.16):
 *                               sees the receive queue of a process that does not read at all
 *   tp_btf/inet_sock_set_state  listen() and connect(): tags the socket with its cgroup (4.16)
 * Each program is optional; user space loads those the kernel has and reports which attached.
 * Needs kernel BTF, tp_btf, and socket storage from tracing programs (Linux >= 5.11).
 *
 * Without the kernel's own BTF (tp_btf, bpf_skc_to_tcp_sock and socket storage all need it) the
 * same four hooks load as raw tracepoints (raw_tp/...): arguments untyped, every field read a CO-RE
 * probe read relocated against the external BTF (system_probe_config.btf_path), and the socket tag
 * kept in an LRU hash keyed by the socket's address (sock_tags) instead of socket storage: deleted
 * when the socket reaches TCP_CLOSE; a listening socket's tag is also kept under its (netns, port),
 * from where a connection it accepts takes it at LISTEN -> SYN_RECV (what BPF_F_CLONE does for
 * socket storage). Needs raw tracepoints (Linux >= 4.17) only.
 *
 * Cgroup name: the leaf name of the cgroup of the *current task* in the memory controller's
 * hierarchy (cgroup v1 memory or, when memory is on cgroup v2, the unified one), as system-probe's
 * get_cgroup_name(); the default (v2) hierarchy when the kernel has no memory controller. Only
 * samples taken with the socket lock owned (process context, current = the socket's user) use the
 * current task. Other samples (tcp_probe in softirq) use the name last seen on that socket, kept in
 * socket-local storage that listening sockets pass on to the connections they accept.
 *
 * Cost: a sample that does not exceed what the same socket already recorded since the last flush
 * (the common case: a queue that stays full, or empties) touches only the socket's storage, not
 * the hash map keyed by a 128-byte name.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/lib/cpu_slots.bpf.h"
#include "bpf/tcp_queue_length.h"

char LICENSE[] SEC("license") = "GPL";

#define TCPQ_E2BIG 7
#define TCPQ_EEXIST 17
#define TCPQ_TCP_SYN_SENT 2
#define TCPQ_TCP_LISTEN 10
#define TCPQ_NO_PERIOD (~0ULL)

/* Flush period: user space increments it (through the mmapped .bss) right after each flush of
 * queue_stats, so that a socket's recorded maxima are known to be stale. */
__u64 flush_period = 0;

/* cgroup leaf name -> max usage since the last flush. max_entries is set by user space
 * (ringprobe.tcp_queue_length.max_cgroups) before load. Per CPU: no lost maxima between CPUs.
 * Not preallocated: user space empties it on every check, so it holds only the cgroups active since
 * the last one (preallocating 10240 names would pin 2.3 MB on a 2-CPU host). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10240);
	__type(key, struct tcpq_key);
	__type(value, struct tcpq_value);
} queue_stats SEC(".maps");

/* What a socket is tagged with: the cgroup (kernfs node id and leaf name) of the process that last
 * used it in a system call, and what this socket put into queue_stats in flush period `period`. */
struct tcpq_sock_tag {
	__u64 cgroup_id;
	__u64 period;
	struct tcpq_value recorded;
	struct tcpq_key name;
};

/* Per socket tag. BPF_F_CLONE copies a listening socket's tag into every connection it accepts.
 * Freed with the socket; charged to the socket's option memory. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct tcpq_sock_tag);
} sock_cgroup SEC(".maps");

/* raw_tp mode: socket address (or listener key, see listener_key()) -> tag. LRU: a socket that
 * closes without passing TCP_CLOSE (none should) ages out. max_entries set by user space
 * (ringprobe.tcp_queue_length.max_sockets); not created in tp_btf mode. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct tcpq_sock_tag);
} sock_tags SEC(".maps");

/* One CPU's counters, alone on their cache lines; user space reads them from memory. */
struct tcpq_counters_slot {
	struct tcpq_counters c;
} __attribute__((aligned(64)));

RP_CPU_SLOTS(counters, struct tcpq_counters_slot);

/* Stack buffer for a name, 8-byte aligned. */
union tcpq_name {
	struct tcpq_key key;
	__u64 words[TCPQ_CGROUP_NAME_LEN / 8];
};

static __always_inline struct tcpq_counters *counters_get(void)
{
	struct tcpq_counters_slot *slot = rp_cpu_slot(&counters);

	return slot ? &slot->c : NULL;
}

/* Per-CPU slots: plain increments. Only a program nesting into another on the same CPU (softirq
 * over a system call) could lose one, which a counter for humans can afford; an atomic add would
 * cost more than the rest of a typical sample. */
#define TCPQ_COUNT(field)                                            \
	do {                                                         \
		struct tcpq_counters *__c = counters_get();          \
		if (__c)                                             \
			__c->field += 1;                             \
	} while (0)

/* The kernfs node of the current task's cgroup in the hierarchy whose leaf names we report. Direct
 * BTF loads: tp_btf programs run under RCU, which keeps css_set and cgroup alive. */
static __always_inline struct kernfs_node *current_cgroup_kn(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

		return task->cgroups->subsys[id]->cgroup->kn;
	}
	return task->cgroups->dfl_cgrp->kn;
}

/* `kn`'s name into `name` (zero-filled after the NUL). */
static __always_inline int read_cgroup_name(struct kernfs_node *kn, union tcpq_name *name)
{
	long n;

	__builtin_memset(name, 0, sizeof(*name));
	n = bpf_probe_read_kernel_str(name->key.cgroup_name, sizeof(name->key.cgroup_name),
				      BPF_CORE_READ(kn, name));
	if (n < 0) {
		TCPQ_COUNT(name_errors);
		return -1;
	}
	if (n == TCPQ_CGROUP_NAME_LEN)
		TCPQ_COUNT(name_truncated);
	return 0;
}

/* Tags `sk` with the current task's cgroup. Returns the tag, or NULL when the socket could not be
 * tagged, in which case `scratch` holds the name (or *ok is 0: the name could not be read).
 * The name is read only when the tag names another cgroup (or none yet). A softirq sample on
 * another CPU may read the name while it is rewritten here; that happens only when a socket
 * changes cgroup, and costs at most one sample under a garbled key. */
static __always_inline struct tcpq_sock_tag *tag_current(struct sock *sk, union tcpq_name *scratch,
							 int *ok)
{
	struct kernfs_node *kn = current_cgroup_kn();
	struct tcpq_sock_tag *tag;
	__u64 id;

	*ok = 0;
	if (!kn) {
		TCPQ_COUNT(name_errors);
		return NULL;
	}
	id = kn->id;
	tag = bpf_sk_storage_get(&sock_cgroup, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (tag && tag->cgroup_id == id && id != 0) {
		*ok = 1;
		return tag;
	}
	if (read_cgroup_name(kn, scratch))
		return NULL;
	*ok = 1;
	if (!tag) {
		TCPQ_COUNT(tag_failed);
		return NULL;
	}
	__builtin_memcpy(&tag->name, &scratch->key, sizeof(tag->name));
	tag->cgroup_id = id;
	tag->period = TCPQ_NO_PERIOD;
	return tag;
}

static __always_inline __u32 per_mille(__u32 used, int size)
{
	if (size <= 0)
		return 0;
	return (__u32)(1000ULL * used / (__u32)size);
}

/* Raises queue_stats[key] to at least `sample`. Returns 0 when the map holds it. */
static __always_inline int raise_max(const struct tcpq_key *key, const struct tcpq_value *sample)
{
	struct tcpq_value *v = bpf_map_lookup_elem(&queue_stats, key);
	long err;

	if (!v) {
		err = bpf_map_update_elem(&queue_stats, key, sample, BPF_NOEXIST);
		if (err == 0)
			return 0;
		if (err == -TCPQ_E2BIG) {
			TCPQ_COUNT(map_full);
			return -1;
		}
		if (err != -TCPQ_EEXIST)
			return -1;
		v = bpf_map_lookup_elem(&queue_stats, key); /* inserted meanwhile */
		if (!v)
			return -1;
	}
	if (sample->read_buffer_max_usage > v->read_buffer_max_usage)
		v->read_buffer_max_usage = sample->read_buffer_max_usage;
	if (sample->write_buffer_max_usage > v->write_buffer_max_usage)
		v->write_buffer_max_usage = sample->write_buffer_max_usage;
	return 0;
}

/* The queue usage of one TCP socket, from its fields: rcv_nxt, copied_seq, write_seq, snd_una,
 * sk_rcvbuf, sk_sndbuf. */
static __always_inline struct tcpq_value queue_sample(__u32 rcv_nxt, __u32 copied_seq,
						      __u32 write_seq, __u32 snd_una, int rcvbuf,
						      int sndbuf)
{
	/* Signed differences: sequence numbers wrap. */
	__s32 rqueue = (__s32)(rcv_nxt - copied_seq);
	__s32 wqueue = (__s32)(write_seq - snd_una);
	struct tcpq_value sample = {
		.read_buffer_max_usage = per_mille(rqueue > 0 ? rqueue : 0, rcvbuf),
		.write_buffer_max_usage = per_mille(wqueue > 0 ? wqueue : 0, sndbuf),
	};

	return sample;
}

/* One sample of a socket's queues, credited to `key`; `tag` (may be NULL) is the socket's.
 * `period` was read before the socket's fields: a flush that ends after that read makes the
 * socket's record stale (period differs), never the other way round. */
static __always_inline void record(struct tcpq_value sample, __u64 period,
				   const struct tcpq_key *key, struct tcpq_sock_tag *tag,
				   enum tcpq_hook hook)
{
	struct tcpq_counters *c = counters_get();

	if (c && hook < TCPQ_HOOK_COUNT)
		c->samples[hook] += 1;

	/* This socket already put at least as much into the map since the last flush: the cgroup's
	 * maximum cannot change. */
	if (tag && tag->period == period &&
	    sample.read_buffer_max_usage <= tag->recorded.read_buffer_max_usage &&
	    sample.write_buffer_max_usage <= tag->recorded.write_buffer_max_usage) {
		if (c)
			c->unchanged += 1;
		return;
	}
	if (raise_max(key, &sample) || !tag)
		return;
	if (tag->period != period) {
		tag->recorded = sample;
		tag->period = period;
		return;
	}
	if (sample.read_buffer_max_usage > tag->recorded.read_buffer_max_usage)
		tag->recorded.read_buffer_max_usage = sample.read_buffer_max_usage;
	if (sample.write_buffer_max_usage > tag->recorded.write_buffer_max_usage)
		tag->recorded.write_buffer_max_usage = sample.write_buffer_max_usage;
}

/* tp_btf: the socket's sample from direct BTF loads. */
static __always_inline struct tcpq_value sample_btf(struct sock *sk, struct tcp_sock *tp)
{
	return queue_sample(tp->rcv_nxt, tp->copied_seq, tp->write_seq, tp->snd_una,
			    sk->sk_rcvbuf, sk->sk_sndbuf);
}

/* A sample of `sk` at `hook`: in process context credited to the current task's cgroup (and the
 * socket is tagged with it), otherwise to the cgroup the socket was tagged with. */
static __always_inline int sample_socket(struct sock *sk, enum tcpq_hook hook)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	__u64 period = flush_period;
	struct tcpq_sock_tag *tag;
	union tcpq_name name;
	int ok;

	if (!tp || sk->__sk_common.skc_state == TCPQ_TCP_LISTEN)
		return 0;

	/* The socket lock is owned only by a task in a system call (or the kernel thread working
	 * for it); softirq processing never runs with it owned. */
	if (sk->sk_lock.owned) {
		tag = tag_current(sk, &name, &ok);
		if (tag)
			record(sample_btf(sk, tp), period, &tag->name, tag, hook);
		else if (ok)
			record(sample_btf(sk, tp), period, &name.key, NULL, hook);
		return 0;
	}

	tag = bpf_sk_storage_get(&sock_cgroup, sk, 0, 0);
	if (!tag) {
		TCPQ_COUNT(untagged);
		return 0;
	}
	record(sample_btf(sk, tp), period, &tag->name, tag, hook);
	return 0;
}

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(tcpq_sendmsg_locked, struct sock *sk, struct msghdr *msg, struct sk_buff *skb,
	     int size_goal)
{
	return sample_socket(sk, TCPQ_HOOK_SENDMSG);
}

SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(tcpq_rcv_space_adjust, struct sock *sk)
{
	return sample_socket(sk, TCPQ_HOOK_RCV_SPACE_ADJUST);
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tcpq_probe, struct sock *sk, struct sk_buff *skb)
{
	return sample_socket(sk, TCPQ_HOOK_PROBE);
}

/* listen() and connect() run in the owning process: tag the socket so that samples taken later
 * in softirq (tcp_probe) know its cgroup, for connections that are never read or written. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcpq_set_state, struct sock *sk, int oldstate, int newstate)
{
	union tcpq_name name;
	int ok;

	if (newstate != TCPQ_TCP_LISTEN && newstate != TCPQ_TCP_SYN_SENT)
		return 0;
	if (!bpf_skc_to_tcp_sock(sk) || !sk->sk_lock.owned)
		return 0;
	if (tag_current(sk, &name, &ok))
		TCPQ_COUNT(samples[TCPQ_HOOK_SET_STATE]);
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * raw_tp mode: no kernel BTF. The same hooks; every read is BPF_CORE_READ (a probe read relocated
 * against the CO-RE BTF), the socket tag lives in sock_tags.
 */

#define TCPQ_TCP_SYN_RECV 3
#define TCPQ_TCP_TIME_WAIT 6
#define TCPQ_TCP_CLOSE 7
#define TCPQ_TCP_NEW_SYN_RECV 12
#define TCPQ_IPPROTO_TCP 6

/* The current task's cgroup kernfs node, as current_cgroup_kn(), by probe reads. */
static __always_inline struct kernfs_node *current_cgroup_kn_raw(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

		return BPF_CORE_READ(task, cgroups, subsys[id], cgroup, kn);
	}
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
}

/* Key of a listening socket's tag in sock_tags: its network namespace and local port. Kernel
 * addresses have their top 16 bits set (x86-64, arm64), so no socket address equals one. */
static __always_inline __u64 listener_key(struct sock *sk)
{
	__u32 inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);

	return ((__u64)inum << 16) | port;
}

/* tag_current() for raw_tp: the tag in sock_tags under the socket's address. */
static __always_inline struct tcpq_sock_tag *tag_current_raw(struct sock *sk,
							     union tcpq_name *scratch, int *ok)
{
	struct kernfs_node *kn = current_cgroup_kn_raw();
	__u64 key = (__u64)sk;
	struct tcpq_sock_tag *tag;
	__u64 id;

	*ok = 0;
	if (!kn) {
		TCPQ_COUNT(name_errors);
		return NULL;
	}
	id = BPF_CORE_READ(kn, id);
	tag = bpf_map_lookup_elem(&sock_tags, &key);
	if (tag && tag->cgroup_id == id && id != 0) {
		*ok = 1;
		return tag;
	}
	if (read_cgroup_name(kn, scratch))
		return NULL;
	*ok = 1;
	if (!tag) {
		struct tcpq_sock_tag fresh = {};

		bpf_map_update_elem(&sock_tags, &key, &fresh, BPF_NOEXIST);
		tag = bpf_map_lookup_elem(&sock_tags, &key);
		if (!tag) {
			TCPQ_COUNT(tag_failed);
			return NULL;
		}
	}
	__builtin_memcpy(&tag->name, &scratch->key, sizeof(tag->name));
	tag->cgroup_id = id;
	tag->period = TCPQ_NO_PERIOD;
	return tag;
}

/* Whether `sk` is a full TCP socket (what bpf_skc_to_tcp_sock checks, by probe reads). The hooks'
 * sockets always are; the check keeps a request or time-wait socket's fields from being read as a
 * tcp_sock's. */
static __always_inline bool is_tcp_sock(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);

	if (family != 2 /* AF_INET */ && family != 10 /* AF_INET6 */)
		return false;
	if (state == TCPQ_TCP_NEW_SYN_RECV || state == TCPQ_TCP_TIME_WAIT)
		return false;
	return BPF_CORE_READ(sk, sk_protocol) == TCPQ_IPPROTO_TCP;
}

static __always_inline struct tcpq_value sample_raw(struct sock *sk)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	return queue_sample(BPF_CORE_READ(tp, rcv_nxt), BPF_CORE_READ(tp, copied_seq),
			    BPF_CORE_READ(tp, write_seq), BPF_CORE_READ(tp, snd_una),
			    BPF_CORE_READ(sk, sk_rcvbuf), BPF_CORE_READ(sk, sk_sndbuf));
}

static __always_inline int sample_socket_raw(struct sock *sk, enum tcpq_hook hook)
{
	__u64 period = flush_period;
	__u64 key = (__u64)sk;
	struct tcpq_sock_tag *tag;
	union tcpq_name name;
	int ok;

	if (!sk || !is_tcp_sock(sk) || BPF_CORE_READ(sk, __sk_common.skc_state) == TCPQ_TCP_LISTEN)
		return 0;
	if (BPF_CORE_READ(sk, sk_lock.owned)) {
		tag = tag_current_raw(sk, &name, &ok);
		if (tag)
			record(sample_raw(sk), period, &tag->name, tag, hook);
		else if (ok)
			record(sample_raw(sk), period, &name.key, NULL, hook);
		return 0;
	}
	tag = bpf_map_lookup_elem(&sock_tags, &key);
	if (!tag) {
		TCPQ_COUNT(untagged);
		return 0;
	}
	record(sample_raw(sk), period, &tag->name, tag, hook);
	return 0;
}

SEC("raw_tp/tcp_sendmsg_locked")
int BPF_PROG(tcpq_sendmsg_locked_raw, struct sock *sk)
{
	return sample_socket_raw(sk, TCPQ_HOOK_SENDMSG);
}

SEC("raw_tp/tcp_rcv_space_adjust")
int BPF_PROG(tcpq_rcv_space_adjust_raw, struct sock *sk)
{
	return sample_socket_raw(sk, TCPQ_HOOK_RCV_SPACE_ADJUST);
}

SEC("raw_tp/tcp_probe")
int BPF_PROG(tcpq_probe_raw, struct sock *sk)
{
	return sample_socket_raw(sk, TCPQ_HOOK_PROBE);
}

/* Tags at listen() and connect() as tcpq_set_state; a listener's tag is also kept under
 * listener_key() and copied to each connection it accepts (LISTEN -> SYN_RECV, the child's first
 * state change, in softirq); tags are deleted at TCP_CLOSE. */
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(tcpq_set_state_raw, struct sock *sk, int oldstate, int newstate)
{
	union tcpq_name name;
	__u64 key = (__u64)sk;
	struct tcpq_sock_tag *tag;
	__u64 lkey;
	int ok;

	if (!sk || BPF_CORE_READ(sk, sk_protocol) != TCPQ_IPPROTO_TCP)
		return 0;
	if (newstate == TCPQ_TCP_CLOSE) {
		bpf_map_delete_elem(&sock_tags, &key);
		if (oldstate == TCPQ_TCP_LISTEN) {
			lkey = listener_key(sk);
			bpf_map_delete_elem(&sock_tags, &lkey);
		}
		return 0;
	}
	if (newstate == TCPQ_TCP_SYN_RECV && oldstate == TCPQ_TCP_LISTEN) {
		lkey = listener_key(sk);
		tag = bpf_map_lookup_elem(&sock_tags, &lkey);
		if (tag)
			bpf_map_update_elem(&sock_tags, &key, tag, BPF_ANY);
		return 0;
	}
	if (newstate != TCPQ_TCP_LISTEN && newstate != TCPQ_TCP_SYN_SENT)
		return 0;
	if (!BPF_CORE_READ(sk, sk_lock.owned))
		return 0;
	tag = tag_current_raw(sk, &name, &ok);
	if (!tag)
		return 0;
	TCPQ_COUNT(samples[TCPQ_HOOK_SET_STATE]);
	if (newstate == TCPQ_TCP_LISTEN) {
		lkey = listener_key(sk);
		bpf_map_update_elem(&sock_tags, &lkey, tag, BPF_ANY);
	}
	return 0;
}
