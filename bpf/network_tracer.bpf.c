// SPDX-License-Identifier: GPL-2.0
/* network_tracer.bpf.c — per-connection TCP and UDP counters for NPM, without kprobes, fentry or
 * any per-packet program.
 *
 * Where each number comes from:
 *   open TCP sockets   read from struct tcp_sock at poll time by the iter/task_file program, which
 *                      visits every file of every process (every network namespace) and so every
 *                      fd-owned socket with its owner's pid;
 *   TCP lifecycle      tp_btf/inet_sock_set_state: connect (CLOSE->SYN_SENT: outgoing, pid),
 *                      passive open (LISTEN->SYN_RECV: incoming), ESTABLISHED, LISTEN, and CLOSE,
 *                      where the final counters and the failure (sk_err, or 125 for a connect
 *                      abandoned in SYN_SENT) leave through the `closed` ring buffer;
 *   TCP congestion     tp_btf/tcp_cong_state_set: entries into the Loss (RTO) and Recovery states;
 *   UDP bytes/packets  tp_btf/sock_send_length and sock_recv_length (the socket system calls), into
 *                      socket storage (no hash lookup per datagram); the same hooks give an
 *                      accepted TCP socket its pid at its first send or receive;
 *   UDP close          cgroup/sock_release on the cgroup v2 root (every process is below it).
 *
 * Per-socket state lives in `socks`, a hash map keyed by the socket's address and bounded by
 * max_tracked_connections (as upstream's connection map): the counters when tracking began
 * (sockets older than the module start from their value at load, as upstream counts only what
 * happens after it starts), the pid, the direction, and for each of NT_MAX_CLIENTS clients what
 * that client saw at its last poll. A poll for client C writes only the connections whose counters
 * moved since C's last poll and moves C's baseline forward in the same step: user space keeps
 * nothing per open connection. (Not socket storage: the iterator reaches a socket through its
 * file, and the verifier gives that pointer no trust, which bpf_sk_storage_get requires. The entry
 * is deleted when the socket closes; the socket cookie stored with it catches an address reused by
 * a later socket.)
 *
 * A poll and a close of the same socket meet on `lock` (a compare-and-swap flag, bounded spin): the
 * close either sees the baseline the poll wrote or the poll sees the socket closed and leaves it to
 * the closed record, so no delta is counted twice. Needs BPF atomics (-mcpu=v3, Linux >= 5.12).
 *
 * Needs: kernel BTF, tp_btf, iter/task_file with bpf_sock_from_file (5.11), bpf_rdonly_cast (6.2),
 * sock_send_length/sock_recv_length (6.3) for UDP, cgroup v2 for UDP closes. Kernel style.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/lib/cpu_slots.bpf.h"
#include "bpf/lib/ringbuf.bpf.h"
#include "bpf/network_tracer.h"

char LICENSE[] SEC("license") = "GPL";

#define NT_AF_INET 2
#define NT_AF_INET6 10
#define NT_SOCK_STREAM 1
#define NT_SOCK_DGRAM 2
#define NT_MSG_PEEK 2
#define NT_SOCK_BINDPORT_LOCK 8
#define NT_EEXIST 17
#define NT_ECANCELED 125

/* Reads of a pointer the verifier does not trust (a socket reached through a file). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define nt_cast(ptr, type) ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

/* TCP states after the handshake and before CLOSE, in which a socket may carry data. */
#define NT_TCP_CONNECTED                                                                           \
	((1 << TCP_ESTABLISHED) | (1 << TCP_FIN_WAIT1) | (1 << TCP_FIN_WAIT2) |                    \
	 (1 << TCP_CLOSE_WAIT) | (1 << TCP_LAST_ACK) | (1 << TCP_CLOSING))

/* nt_sock.flags */
#define NT_S_TCP 0x0001
#define NT_S_UDP 0x0002
#define NT_S_OUTGOING 0x0004
#define NT_S_INCOMING 0x0008
#define NT_S_ESTABLISHED 0x0010 /* reached ESTABLISHED while tracked */
#define NT_S_CLOSED 0x0020
#define NT_S_PRE_EXISTING 0x0040 /* tracked from the middle of its life */
#define NT_S_ENDPOINT 0x0080     /* its local endpoint is counted in `endpoints` */
#define NT_S_LISTENER 0x0100     /* counted in `listeners` */
#define NT_S_UDP_BOUND 0x0200    /* UDP: bound to a port by bind() (a server) */

/* Per-socket state. Every flags change is an atomic or/and: hooks of one socket run on several
 * CPUs (softirq, the owner's system calls, a poll). */
struct nt_sock {
	__u64 cookie; /* the socket's cookie (0: not generated when tracking began) */
	__u32 lock;
	__u32 flags;
	__u32 pid;
	__u32 netns;
	__u32 iter_id;   /* the last iteration that visited the socket */
	__u32 iter_tgid; /* ... through the fd table of this process */
	__u32 iter_fd;   /* ... at this fd */
	__u32 rto;       /* entries into TCP_CA_Loss */
	__u32 recovery;  /* entries into TCP_CA_Recovery */
	/* The local address and port (a UDP release cannot read them, a TCP socket has given its
	 * port back when it reaches CLOSE), also its key in `endpoints`; a listener's port. */
	struct nt_addr laddr;
	__u16 lport;
	__u16 _pad;
	union {
		struct nt_counters base; /* TCP: the counters when tracking began */
		__u64 udp;               /* UDP: address of its `udp_counts` storage (see there) */
	};
	struct nt_slot slot[NT_MAX_CLIENTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536); /* max_tracked_connections, set by user space */
	__type(key, __u64);         /* the struct sock's address */
	__type(value, struct nt_sock);
} socks SEC(".maps");

/* A UDP socket's bytes and datagrams (UDP sockets count nothing themselves), in socket storage:
 * the send and receive hooks reach it in a few loads, no hash lookup per datagram. The iterator
 * may not use socket storage (it holds no trusted socket pointer): it reads the counters through
 * the address the socket's `socks` entry keeps, valid while the socket lives (the iterator holds
 * its file). The release program reads them through the storage. Freed with the socket. */
struct nt_udp {
	__u64 bytes_sent;
	__u64 bytes_recv;
	__u64 pkts_sent;
	__u64 pkts_recv;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct nt_udp);
} udp_counts SEC(".maps");

/* Accepted TCP sockets whose process is not known yet (made at the passive open, in softirq):
 * their first send or receive names it. Any other TCP system call finds no storage here, which
 * costs a few loads, not a hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} pid_wanted SEC(".maps");

/* One all-zero nt_sock: the value new entries start from. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nt_sock);
} zero SEC(".maps");

/* Closed connections (struct nt_closed). Sized by user space. */
RP_RINGBUF(closed, 1 << 20);
RP_LOST_COUNTER(closed_lost);

/* Local endpoints (address, port, type) of the host's connected sockets, any network namespace,
 * with how many sockets share each: a connection whose remote endpoint is here is intra-host. */
struct nt_ep_key {
	struct nt_addr addr;
	__u16 port;
	__u8 type;
	__u8 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536); /* max_tracked_connections, set by user space */
	__type(key, struct nt_ep_key);
	__type(value, __u32);
} endpoints SEC(".maps");

/* Listening TCP ports per network namespace: the direction of sockets older than the module (an
 * incoming connection uses a listener's port, as upstream's port_bindings). */
struct nt_listen_key {
	__u32 netns;
	__u16 port;
	__u16 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct nt_listen_key);
	__type(value, __u32);
} listeners SEC(".maps");

struct nt_counters_slot {
	struct nt_counters_cpu c;
} __attribute__((aligned(64)));

RP_CPU_SLOTS(counters, struct nt_counters_slot);

/* Set by user space (the mmapped .bss) before each iteration; one iteration at a time. */
__u32 iter_id;
__u32 iter_mode;     /* NT_MODE_* */
__u32 poll_slot;     /* the client's slot, or NT_NO_SLOT */
__u32 poll_gen;      /* the client's generation */
__u32 poll_budget;   /* baselines this poll may create (the client's stats cap left) */
__u32 poll_max;      /* records this poll may write (max_tracked_connections) */
__u32 poll_created;  /* baselines created so far this poll */
__u32 clients_active; /* no closed records while no client exists */
__u64 wakeup_bytes;   /* wake user space when this much waits in `closed` (0: always) */
struct nt_iter_stats iter_stats;
/* The kernel's struct proto of TCP and UDP over IPv4 and IPv6, learnt by the iterator from the
 * first socket it checks the slow way: a socket's sk_prot is in its first cache line, sk_protocol
 * and sk_type in another one, read for every socket file on the host otherwise. (The symbols
 * are not in kernel BTF, nor in kallsyms without CONFIG_KALLSYMS_ALL.) A socket whose sk_prot was
 * replaced (kTLS, sockmap) keeps taking the slow way. */
__u64 nt_prot[4]; /* tcp4, tcp6, udp4, udp6 */

static __always_inline struct nt_counters_cpu *counters_get(void)
{
	struct nt_counters_slot *slot = rp_cpu_slot(&counters);

	return slot ? &slot->c : NULL;
}

#define NT_COUNT(field)                                                                            \
	do {                                                                                       \
		struct nt_counters_cpu *__c = counters_get();                                      \
		if (__c)                                                                           \
			__c->field += 1;                                                           \
	} while (0)

/* One try: a poll that finds a socket locked leaves it to the close that holds it. */
static __always_inline int nt_trylock(struct nt_sock *st)
{
	return __sync_val_compare_and_swap(&st->lock, 0, 1) == 0;
}

struct nt_spin {
	struct nt_sock *st;
	int locked;
};

static long nt_spin_once(__u64 i, void *ctx)
{
	struct nt_spin *sp = ctx;

	if (sp->st && __sync_val_compare_and_swap(&sp->st->lock, 0, 1) == 0) {
		sp->locked = 1;
		return 1;
	}
	return 0;
}

/* A close waits for a poll to finish with the socket: a few hundred instructions at most, unless
 * the poll runs on this CPU below us (a softirq over it), which the bound ends. */
static __always_inline int nt_lock(struct nt_sock *st)
{
	struct nt_spin sp = { .st = st };

	bpf_loop(1024, nt_spin_once, &sp, 0);
	return sp.locked;
}

static __always_inline void nt_unlock(struct nt_sock *st)
{
	__sync_lock_test_and_set(&st->lock, 0);
}

static __always_inline void nt_set(struct nt_sock *st, __u32 f)
{
	__sync_fetch_and_or(&st->flags, f);
}

static __always_inline __u32 nt_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

/* ---- per-socket state */

static __always_inline struct nt_sock *nt_get(const void *sk)
{
	__u64 k = (__u64)sk;

	return bpf_map_lookup_elem(&socks, &k);
}

/* The entry of `sk` (whose cookie is `cookie`), created empty when missing, or emptied when it
 * was left by an earlier socket at the same address. NULL when the table is full. */
static __always_inline struct nt_sock *nt_create(const void *sk, __u64 cookie)
{
	__u64 k = (__u64)sk;
	__u32 z = 0;
	struct nt_sock *st = bpf_map_lookup_elem(&socks, &k), *empty;
	long err;

	if (st && (st->cookie == cookie || st->cookie == 0 || cookie == 0)) {
		if (!st->cookie)
			st->cookie = cookie;
		return st;
	}
	empty = bpf_map_lookup_elem(&zero, &z);
	if (!empty)
		return NULL;
	err = bpf_map_update_elem(&socks, &k, empty, st ? BPF_ANY : BPF_NOEXIST);
	if (err && err != -NT_EEXIST) {
		NT_COUNT(socks_full);
		return NULL;
	}
	st = bpf_map_lookup_elem(&socks, &k);
	if (st && !st->cookie)
		st->cookie = cookie;
	return st;
}

static __always_inline void nt_delete(const void *sk)
{
	__u64 k = (__u64)sk;

	bpf_map_delete_elem(&socks, &k);
}

/* ---- addresses */

static __always_inline void nt_addr_v4(struct nt_addr *a, __be32 ip)
{
	__builtin_memset(a, 0, sizeof(*a));
	a->a[10] = 0xff;
	a->a[11] = 0xff;
	__builtin_memcpy(&a->a[12], &ip, 4);
}

/* Context fields are read one constant offset at a time. */
static __always_inline void nt_addr_v6_words(struct nt_addr *a, __u32 w0, __u32 w1, __u32 w2,
					     __u32 w3)
{
	__u32 *w = (__u32 *)a->a;

	w[0] = w0;
	w[1] = w1;
	w[2] = w2;
	w[3] = w3;
}

static __always_inline int nt_addr_zero(const struct nt_addr *a)
{
	const __u64 *w = (const __u64 *)a->a;

	return w[0] == 0 && w[1] == 0;
}

static __always_inline int nt_addr_mapped(const struct nt_addr *a)
{
	const __u32 *w = (const __u32 *)a->a;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int nt_addr_eq(const struct nt_addr *x, const struct nt_addr *y)
{
	const __u64 *a = (const __u64 *)x->a, *b = (const __u64 *)y->a;

	return a[0] == b[0] && a[1] == b[1];
}

static __always_inline int nt_addr_loopback(const struct nt_addr *a)
{
	const __u32 *w = (const __u32 *)a->a;

	if (nt_addr_mapped(a))
		return a->a[12] == 127;
	return w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == bpf_htonl(1);
}

/* Family: IPv4 for an AF_INET socket, and for an AF_INET6 one whose addresses are IPv4-mapped. */
static __always_inline __u8 nt_family(const struct nt_addr *s, const struct nt_addr *d)
{
	int sm = nt_addr_mapped(s), dm = nt_addr_mapped(d);

	if ((sm || nt_addr_zero(s)) && (dm || nt_addr_zero(d)) && (sm || dm))
		return NT_FAMILY_V4;
	return NT_FAMILY_V6;
}

/* The tuple of `sk` into `c` (BTF reads; c->cookie is left to the caller). */
static __always_inline void nt_tuple(struct sock *sk, struct nt_conn *c)
{
	if (sk->__sk_common.skc_family == NT_AF_INET) {
		nt_addr_v4(&c->saddr, sk->__sk_common.skc_rcv_saddr);
		nt_addr_v4(&c->daddr, sk->__sk_common.skc_daddr);
		c->family = NT_FAMILY_V4;
	} else {
		__builtin_memcpy(c->saddr.a, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
		__builtin_memcpy(c->daddr.a, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
		c->family = nt_family(&c->saddr, &c->daddr);
	}
	c->sport = sk->__sk_common.skc_num;
	c->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	c->netns = sk->__sk_common.skc_net.net->ns.inum;
}

/* ---- intra-host endpoints and listening ports */

/* Counts the socket's local endpoint (st->laddr, st->lport) in `endpoints`. */
static __always_inline void nt_ep_add(struct nt_sock *st, __u8 type)
{
	struct nt_ep_key k = {};
	__u32 one = 1, *n;
	long err;

	if (st->lport == 0 || nt_addr_zero(&st->laddr))
		return;
	if (__sync_fetch_and_or(&st->flags, NT_S_ENDPOINT) & NT_S_ENDPOINT)
		return; /* already counted */
	k.addr = st->laddr;
	k.port = st->lport;
	k.type = type;
	n = bpf_map_lookup_elem(&endpoints, &k);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	err = bpf_map_update_elem(&endpoints, &k, &one, BPF_NOEXIST);
	if (err == -NT_EEXIST) {
		n = bpf_map_lookup_elem(&endpoints, &k);
		if (n)
			__sync_fetch_and_add(n, 1);
	} else if (err) {
		__sync_fetch_and_and(&st->flags, ~NT_S_ENDPOINT);
		NT_COUNT(endpoints_full);
	}
}

static __always_inline void nt_ep_remove(struct nt_sock *st)
{
	struct nt_ep_key k = {};
	__u32 *n;

	if (!(__sync_fetch_and_and(&st->flags, ~NT_S_ENDPOINT) & NT_S_ENDPOINT))
		return;
	k.addr = st->laddr;
	k.port = st->lport;
	k.type = (st->flags & NT_S_UDP) ? NT_TYPE_UDP : NT_TYPE_TCP;
	n = bpf_map_lookup_elem(&endpoints, &k);
	if (n && __sync_fetch_and_add(n, -1) <= 1)
		bpf_map_delete_elem(&endpoints, &k);
}

static __always_inline int nt_intra_host(const struct nt_conn *c)
{
	struct nt_ep_key k = {};

	if (nt_addr_zero(&c->daddr))
		return 0;
	if (nt_addr_eq(&c->saddr, &c->daddr) ||
	    (nt_addr_loopback(&c->saddr) && nt_addr_loopback(&c->daddr)))
		return 1;
	k.addr = c->daddr;
	k.port = c->dport;
	k.type = c->type;
	return bpf_map_lookup_elem(&endpoints, &k) != NULL;
}

static __always_inline void nt_listen_add(struct nt_sock *st, __u32 netns, __u16 port)
{
	struct nt_listen_key k = { .netns = netns, .port = port };
	__u32 one = 1, *n;
	long err;

	if (__sync_fetch_and_or(&st->flags, NT_S_LISTENER) & NT_S_LISTENER)
		return;
	st->netns = netns;
	st->lport = port;
	n = bpf_map_lookup_elem(&listeners, &k);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	err = bpf_map_update_elem(&listeners, &k, &one, BPF_NOEXIST);
	if (err == -NT_EEXIST) {
		n = bpf_map_lookup_elem(&listeners, &k);
		if (n)
			__sync_fetch_and_add(n, 1);
	} else if (err) {
		__sync_fetch_and_and(&st->flags, ~NT_S_LISTENER);
		NT_COUNT(listeners_full);
	}
}

static __always_inline void nt_listen_remove(struct nt_sock *st)
{
	struct nt_listen_key k = {};
	__u32 *n;

	if (!(__sync_fetch_and_and(&st->flags, ~NT_S_LISTENER) & NT_S_LISTENER))
		return;
	k.netns = st->netns;
	k.port = st->lport;
	n = bpf_map_lookup_elem(&listeners, &k);
	if (n && __sync_fetch_and_add(n, -1) <= 1)
		bpf_map_delete_elem(&listeners, &k);
}

/* Direction: from how the socket was opened; for a socket older than the module, incoming when a
 * listener of its network namespace holds its local port (remembered). UDP: a socket bound to a
 * port by bind() is a server. */
static __always_inline __u8 nt_direction(struct nt_sock *st, __u32 netns, __u16 lport)
{
	struct nt_listen_key k = { .netns = netns, .port = lport };
	__u32 f = st->flags;

	if (f & NT_S_INCOMING)
		return NT_DIR_INCOMING;
	if (f & NT_S_OUTGOING)
		return NT_DIR_OUTGOING;
	if (f & NT_S_UDP)
		return (f & NT_S_UDP_BOUND) ? NT_DIR_INCOMING : NT_DIR_OUTGOING;
	if (bpf_map_lookup_elem(&listeners, &k)) {
		nt_set(st, NT_S_INCOMING);
		return NT_DIR_INCOMING;
	}
	nt_set(st, NT_S_OUTGOING);
	return NT_DIR_OUTGOING;
}

/* ---- counters */

/* The TCP counters of `sk` now (before the tracking baseline is taken off).
 *
 * Bytes sent: what the application wrote, as upstream counts tcp_sendmsg: the bytes acknowledged
 * plus those queued or in flight (write_seq - snd_una), less the sequence numbers of the SYN (an
 * active open's is in bytes_acked) and of a queued FIN. Not bytes_sent, which also counts a
 * segment the local device refused (TCP sends it again as new data, not as a retransmission).
 * Bytes received: bytes_received, less the FIN's sequence number once it arrived (SOCK_DONE). */
static __always_inline void nt_tcp_counters(struct sock *sk, struct tcp_sock *tp,
					    struct nt_sock *st, struct nt_counters *c)
{
	__u64 sent = tp->bytes_acked + (__u32)(tp->write_seq - tp->snd_una);
	__u64 recv = tp->bytes_received;
	__u64 fix = 0;

	if ((st->flags & (NT_S_OUTGOING | NT_S_PRE_EXISTING)) == NT_S_OUTGOING &&
	    sk->__sk_common.skc_state != TCP_SYN_SENT)
		fix += 1; /* our SYN */
	if (sk->sk_shutdown & 2) /* SEND_SHUTDOWN: a FIN is queued */
		fix += 1;
	sent = sent > fix ? sent - fix : 0;
	if (recv && (sk->__sk_common.skc_flags & (1UL << SOCK_DONE)))
		recv -= 1;
	c->bytes_sent = sent;
	c->bytes_recv = recv;
	c->pkts_sent = tp->segs_out;
	c->pkts_recv = tp->segs_in;
	c->retrans = tp->total_retrans;
	c->rto = st->rto;
	c->recovery = st->recovery;
	c->reord_seen = bpf_core_field_exists(tp->reord_seen) ? tp->reord_seen : 0;
	c->ooo_pack = bpf_core_field_exists(tp->rcv_ooopack) ? tp->rcv_ooopack : 0;
	c->delivered_ce = bpf_core_field_exists(tp->delivered_ce) ? tp->delivered_ce : 0;
	c->established = (st->flags & NT_S_ESTABLISHED) ? 1 : 0;
	c->closed = 0;
}

#define NT_SUB(f) c->f = c->f > b->f ? c->f - b->f : 0

/* c -= base, floored at 0 (tcp_disconnect resets a socket's counters). Global functions are
 * verified once, not once per path of their callers. */
__noinline int nt_minus_base(struct nt_counters *c, const struct nt_counters *b)
{
	if (!c || !b)
		return 0;
	NT_SUB(bytes_sent);
	NT_SUB(bytes_recv);
	NT_SUB(pkts_sent);
	NT_SUB(pkts_recv);
	NT_SUB(retrans);
	NT_SUB(rto);
	NT_SUB(recovery);
	NT_SUB(reord_seen);
	NT_SUB(ooo_pack);
	NT_SUB(delivered_ce);
	return 0;
}

/* d = mono - seen per field (0 where seen is ahead: an underflow) and seen = max(mono, seen).
 * Returns NT_DELTA_NONZERO when a field of d is not 0, | NT_DELTA_UNDERFLOW. */
#define NT_DELTA_NONZERO 1
#define NT_DELTA_UNDERFLOW 2
#define NT_DELTA(f)                                                                                \
	do {                                                                                       \
		if (mono->f > seen->f) {                                                           \
			d->f = mono->f - seen->f;                                                  \
			seen->f = mono->f;                                                         \
			nz = 1;                                                                    \
		} else {                                                                           \
			d->f = 0;                                                                  \
			under |= mono->f < seen->f;                                                \
		}                                                                                  \
	} while (0)

__noinline int nt_delta(struct nt_counters *d, const struct nt_counters *mono,
			struct nt_counters *seen)
{
	int nz = 0, under = 0;

	if (!d || !mono || !seen)
		return 0;
	NT_DELTA(bytes_sent);
	NT_DELTA(bytes_recv);
	NT_DELTA(pkts_sent);
	NT_DELTA(pkts_recv);
	NT_DELTA(retrans);
	NT_DELTA(rto);
	NT_DELTA(recovery);
	NT_DELTA(reord_seen);
	NT_DELTA(ooo_pack);
	NT_DELTA(delivered_ce);
	NT_DELTA(established);
	NT_DELTA(closed);
	return (nz ? NT_DELTA_NONZERO : 0) | (under ? NT_DELTA_UNDERFLOW : 0);
}

/* ---- the iterator */

/* First visit of this socket in this iteration? A socket shared by several processes is visited
 * once per fd table; the same (process, fd) seen twice would be the seq_file showing an object
 * again after an overflow, which the reader's buffer size rules out (counted, must stay 0). */
static __always_inline int nt_first_visit(struct nt_sock *st, __u32 tgid, __u32 fd)
{
	if (st->iter_id == iter_id) {
		if (st->iter_tgid == tgid && st->iter_fd == fd)
			iter_stats.reruns += 1;
		else
			iter_stats.shared += 1;
		return 0;
	}
	st->iter_id = iter_id;
	st->iter_tgid = tgid;
	st->iter_fd = fd;
	return 1;
}

/* Tracks a TCP socket first met mid-life: its counters from now on. */
static __always_inline void nt_track_existing(struct sock *sk, struct tcp_sock *tp,
					      struct nt_sock *st, __u32 tgid)
{
	struct nt_counters now;

	nt_tcp_counters(sk, tp, st, &now);
	now.established = 0;
	st->base = now;
	st->pid = tgid;
	st->netns = sk->__sk_common.skc_net.net->ns.inum;
	nt_set(st, NT_S_TCP | NT_S_PRE_EXISTING);
}

/* One client's record of one connection: its delta since that client's last poll, the baseline
 * moved forward. Returns 1 when `rec` is to be written. */
static __always_inline int nt_poll_one(struct nt_sock *st, struct nt_conn *rec,
				       const struct nt_counters *mono, __u32 wseq)
{
	struct nt_counters seen = {};
	__u32 slot = poll_slot;
	int have = 0, write = 0, d;

	if (slot < NT_MAX_CLIENTS && st->slot[slot].gen == poll_gen) {
		seen = st->slot[slot].seen;
		have = 1;
	}
	d = nt_delta(&rec->c, mono, &seen);
	if (d & NT_DELTA_UNDERFLOW)
		iter_stats.underflows += 1;
	if (!(d & NT_DELTA_NONZERO)) {
		iter_stats.held += have;
		return 0;
	}
	if (iter_stats.emitted >= poll_max) {
		iter_stats.over_limit += 1;
		iter_stats.held += have;
		return 0;
	}
	if (slot < NT_MAX_CLIENTS) {
		if (have) {
			write = 1;
		} else if (poll_created < poll_budget) {
			poll_created += 1;
			write = 1;
		} else {
			rec->flags |= NT_C_NO_BASELINE;
			iter_stats.no_baseline += 1;
		}
	}
	if (write) {
		st->slot[slot].gen = poll_gen;
		st->slot[slot].wseq = wseq;
		st->slot[slot].seen = seen;
		iter_stats.held += 1;
	}
	iter_stats.emitted += 1;
	return 1;
}

static __always_inline void nt_dump_one(struct seq_file *seq, struct nt_sock *st, __u64 cookie)
{
	struct nt_dump d = {};
	__u32 slot = poll_slot;

	if (slot >= NT_MAX_CLIENTS || st->slot[slot].gen != poll_gen)
		return;
	d.cookie = cookie;
	d.seen = st->slot[slot].seen;
	bpf_seq_write(seq, &d, sizeof(d));
	iter_stats.emitted += 1;
}

/* The entry of a socket reached through a file, when it is this socket's (not one left at the
 * same address by an earlier socket: the cookie tells). */
static __always_inline struct nt_sock *nt_get_checked(struct sock *sk)
{
	struct nt_sock *st = nt_get(sk);
	__u64 cookie = sk->__sk_common.skc_cookie.counter;

	if (st && st->cookie && cookie && st->cookie != cookie)
		return NULL;
	return st;
}

/* Nothing moved on this TCP socket since the polling client's last poll: no segment in or out,
 * nothing written, no congestion event. Every counter reported moves with one of these (bytes,
 * retransmissions and the receive-side counters with segments). Reads two cache lines of tcp_sock
 * instead of all of the counters'. */
static __always_inline int nt_tcp_unchanged(struct tcp_sock *tp, struct nt_sock *st)
{
	__u32 slot = poll_slot;
	const struct nt_slot *s;
	__u64 out, in;

	if (iter_mode != NT_MODE_POLL || slot >= NT_MAX_CLIENTS || st->slot[slot].gen != poll_gen)
		return 0;
	s = &st->slot[slot];
	out = tp->segs_out;
	in = tp->segs_in;
	out = out > st->base.pkts_sent ? out - st->base.pkts_sent : 0;
	in = in > st->base.pkts_recv ? in - st->base.pkts_recv : 0;
	return out == s->seen.pkts_sent && in == s->seen.pkts_recv && tp->write_seq == s->wseq &&
	       st->rto == s->seen.rto && st->recovery == s->seen.recovery &&
	       ((st->flags & NT_S_ESTABLISHED) ? 1 : 0) == s->seen.established;
}

static __always_inline int nt_iter_tcp(struct seq_file *seq, __u32 tgid, __u32 fd, struct sock *sk)
{
	struct tcp_sock *tp = nt_cast(sk, struct tcp_sock);
	int state = sk->__sk_common.skc_state;
	struct nt_counters mono;
	struct nt_conn rec = {};
	struct nt_sock *st;
	__u32 wseq;
	int emit;

	if (!tp)
		return 0;
	if (iter_mode == NT_MODE_INIT) {
		if (state != TCP_LISTEN && !((1 << state) & NT_TCP_CONNECTED))
			return 0;
		st = nt_create(sk, sk->__sk_common.skc_cookie.counter);
		if (!st) {
			iter_stats.storage_failed += 1;
			return 0;
		}
		if (!nt_first_visit(st, tgid, fd))
			return 0;
		iter_stats.visited += 1;
		if (state == TCP_LISTEN) {
			nt_set(st, NT_S_TCP);
			nt_listen_add(st, sk->__sk_common.skc_net.net->ns.inum,
				      sk->__sk_common.skc_num);
			return 0;
		}
		if (!(st->flags & NT_S_TCP)) {
			nt_track_existing(sk, tp, st, tgid);
			nt_tuple(sk, &rec);
			st->laddr = rec.saddr;
			st->lport = rec.sport;
			nt_ep_add(st, NT_TYPE_TCP);
		}
		return 0;
	}

	if (!((1 << state) & NT_TCP_CONNECTED))
		return 0;
	/* No cookie check: a connected TCP socket's entry was made for it (at connect, accept or
	 * ESTABLISHED, each of which replaces an entry another socket left at the address). */
	st = nt_get(sk);
	if (!st) {
		if (iter_mode != NT_MODE_POLL)
			return 0;
		/* Missed by the hooks (the table was full, or it opened while the module started). */
		st = nt_create(sk, sk->__sk_common.skc_cookie.counter);
		if (!st) {
			iter_stats.storage_failed += 1;
			return 0;
		}
		if (!nt_first_visit(st, tgid, fd))
			return 0;
		nt_track_existing(sk, tp, st, tgid);
		iter_stats.late_tracked += 1;
		return 0; /* nothing counted yet */
	}
	if (!(st->flags & NT_S_TCP) || !nt_first_visit(st, tgid, fd))
		return 0;
	iter_stats.visited += 1;
	if (iter_mode == NT_MODE_DUMP) {
		nt_dump_one(seq, st, st->cookie);
		return 0;
	}
	if (!st->pid)
		st->pid = tgid;
	if (nt_tcp_unchanged(tp, st)) {
		iter_stats.held += 1;
		return 0;
	}

	wseq = tp->write_seq;
	nt_tcp_counters(sk, tp, st, &mono);
	nt_minus_base(&mono, &st->base);
	if (!nt_trylock(st))
		return 0; /* a close holds it: the closed record reports this socket */
	if (st->flags & NT_S_CLOSED) {
		nt_unlock(st);
		return 0;
	}
	emit = nt_poll_one(st, &rec, &mono, wseq);
	nt_unlock(st);
	if (!emit)
		return 0;

	nt_tuple(sk, &rec);
	rec.cookie = st->cookie;
	rec.type = NT_TYPE_TCP;
	rec.pid = st->pid;
	rec.direction = nt_direction(st, rec.netns, rec.sport);
	rec.rtt_us = tp->srtt_us >> 3;
	rec.rttvar_us = tp->mdev_us >> 2;
	if (tp->ecn_flags & 1) /* TCP_ECN_OK */
		rec.flags |= NT_C_ECN;
	if (nt_intra_host(&rec))
		rec.flags |= NT_C_INTRA_HOST;
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}

static __always_inline int nt_iter_udp(struct seq_file *seq, __u32 tgid, __u32 fd, struct sock *sk)
{
	struct nt_counters mono = {};
	struct nt_conn rec = {};
	struct nt_udp u;
	struct nt_sock *st;
	int emit;

	if (iter_mode == NT_MODE_INIT)
		return 0; /* UDP counting starts at a socket's first system call */
	st = nt_get_checked(sk);
	if (!st || !(st->flags & NT_S_UDP) || !nt_first_visit(st, tgid, fd))
		return 0;
	iter_stats.visited += 1;
	if (iter_mode == NT_MODE_DUMP) {
		nt_dump_one(seq, st, st->cookie);
		return 0;
	}
	if (!st->pid)
		st->pid = tgid;
	if (sk->sk_userlocks & NT_SOCK_BINDPORT_LOCK)
		nt_set(st, NT_S_UDP_BOUND);
	nt_tuple(sk, &rec);
	st->laddr = rec.saddr; /* for the closed record */
	st->lport = rec.sport;
	if (!st->udp || bpf_probe_read_kernel(&u, sizeof(u), (void *)st->udp))
		return 0;
	mono.bytes_sent = u.bytes_sent;
	mono.bytes_recv = u.bytes_recv;
	mono.pkts_sent = u.pkts_sent;
	mono.pkts_recv = u.pkts_recv;
	if (!nt_trylock(st))
		return 0;
	if (st->flags & NT_S_CLOSED) {
		nt_unlock(st);
		return 0;
	}
	emit = nt_poll_one(st, &rec, &mono, 0);
	nt_unlock(st);
	if (!emit)
		return 0;

	rec.cookie = st->cookie;
	rec.type = NT_TYPE_UDP;
	rec.pid = st->pid;
	rec.direction = nt_direction(st, rec.netns, rec.sport);
	if (nt_intra_host(&rec))
		rec.flags |= NT_C_INTRA_HOST;
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}

SEC("iter/task_file")
int nt_iter(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct socket *sock;
	struct sock *sk;
	__u16 family;
	__u64 prot;
	int v6;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != NT_AF_INET && family != NT_AF_INET6)
		return 0;
	v6 = family == NT_AF_INET6;
	prot = (__u64)sk->__sk_common.skc_prot;
	if (prot == nt_prot[v6])
		return nt_iter_tcp(seq, task->tgid, ctx->fd, sk);
	if (prot == nt_prot[2 + v6])
		return nt_iter_udp(seq, task->tgid, ctx->fd, sk);
	if (sk->sk_protocol == IPPROTO_TCP && sk->sk_type == NT_SOCK_STREAM) {
		if (!nt_prot[v6])
			nt_prot[v6] = prot;
		return nt_iter_tcp(seq, task->tgid, ctx->fd, sk);
	}
	if (sk->sk_protocol == IPPROTO_UDP && sk->sk_type == NT_SOCK_DGRAM) {
		if (!nt_prot[2 + v6])
			nt_prot[2 + v6] = prot;
		return nt_iter_udp(seq, task->tgid, ctx->fd, sk);
	}
	return 0;
}

/* ---- closed connections */

static __always_inline void nt_submit(struct nt_closed *rec)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (wakeup_bytes == 0 || bpf_ringbuf_query(&closed, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(rec, flags);
}

/* Marks the socket closed and copies every client's baseline into `rec` (NULL: mark only). */
static __always_inline void nt_close_slots(struct nt_sock *st, struct nt_closed *rec)
{
	int locked = nt_lock(st);

	if (!locked)
		NT_COUNT(lock_timeouts);
	nt_set(st, NT_S_CLOSED);
	if (rec) {
		__builtin_memcpy(rec->slot, st->slot, sizeof(rec->slot));
		if (!locked)
			rec->conn.flags |= NT_C_RACY;
	}
	if (locked)
		nt_unlock(st);
}

static __always_inline int nt_failure(struct sock *sk, struct tcp_sock *tp, int oldstate)
{
	int err = sk->sk_err;

	/* The connecting process gave up; unless no SYN left (a connect that failed locally, e.g.
	 * without a free port, is no connection: upstream never sees it either). */
	if (oldstate == TCP_SYN_SENT && err == 0)
		return tp->segs_out ? NT_ECANCELED : 0;
	switch (err) {
	case 101: /* ENETUNREACH */
	case 104: /* ECONNRESET */
	case 110: /* ETIMEDOUT */
	case 111: /* ECONNREFUSED */
	case 113: /* EHOSTUNREACH */
		return err;
	}
	return 0;
}

static __always_inline int nt_tcp_close(struct sock *sk, int oldstate)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	struct nt_sock *st = nt_get(sk);
	struct nt_closed *rec;
	int failure;

	if (!st || !(st->flags & NT_S_TCP)) {
		NT_COUNT(closed_untracked);
		return 0;
	}
	if (!tp || (st->flags & NT_S_CLOSED))
		return 0;
	nt_ep_remove(st);
	failure = nt_failure(sk, tp, oldstate);
	/* Never established and no failure (a half-open child dropped): nothing to report. */
	if (!(st->flags & (NT_S_ESTABLISHED | NT_S_PRE_EXISTING)) && !failure)
		goto done;
	if (!st->pid && sk->sk_lock.owned)
		st->pid = nt_tgid();
	if (!clients_active)
		goto done;
	rec = rp_ringbuf_reserve(&closed, &closed_lost, sizeof(*rec));
	if (!rec)
		goto done;
	__builtin_memset(&rec->conn, 0, sizeof(rec->conn));
	nt_tuple(sk, &rec->conn);
	if (rec->conn.sport == 0) {
		/* tcp_set_state() released an unbound socket's port before the tracepoint; inet_sport
		 * still has it (a connect that failed never reached ESTABLISHED, where it is saved). */
		rec->conn.sport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
		if (rec->conn.sport == 0)
			rec->conn.sport = st->lport;
	}
	rec->conn.cookie = st->cookie;
	rec->conn.type = NT_TYPE_TCP;
	rec->conn.pid = st->pid;
	rec->conn.direction = nt_direction(st, rec->conn.netns, rec->conn.sport);
	rec->conn.rtt_us = tp->srtt_us >> 3;
	rec->conn.rttvar_us = tp->mdev_us >> 2;
	rec->conn.failure = failure;
	if (tp->ecn_flags & 1)
		rec->conn.flags |= NT_C_ECN;
	if (nt_intra_host(&rec->conn))
		rec->conn.flags |= NT_C_INTRA_HOST;
	nt_tcp_counters(sk, tp, st, &rec->conn.c);
	nt_minus_base(&rec->conn.c, &st->base);
	rec->conn.c.closed = 1;
	nt_close_slots(st, rec);
	nt_submit(rec);
	NT_COUNT(tcp_closed);
	nt_delete(sk);
	return 0;
done:
	nt_close_slots(st, NULL);
	nt_delete(sk);
	return 0;
}

/* connect(): a new outgoing connection, in the connecting process. A socket connected again after
 * a failure starts over (same cookie, new counters). */
static __always_inline int nt_tcp_connect(struct sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	struct nt_sock *st = nt_create(sk, bpf_get_socket_cookie(sk));
	struct nt_counters now = {};
	int locked;

	if (!st || !tp)
		return 0;
	if (st->flags & NT_S_TCP) {
		if (!(st->flags & NT_S_CLOSED))
			return 0;
		nt_tcp_counters(sk, tp, st, &now); /* reused: counters may not restart at 0 */
		now.rto = 0;
		now.recovery = 0;
		now.established = 0;
	}
	locked = nt_trylock(st);
	__builtin_memset(st->slot, 0, sizeof(st->slot));
	st->base = now;
	st->rto = 0;
	st->recovery = 0;
	st->pid = sk->sk_lock.owned ? nt_tgid() : 0;
	st->netns = sk->__sk_common.skc_net.net->ns.inum;
	__sync_fetch_and_and(&st->flags, NT_S_LISTENER);
	nt_set(st, NT_S_TCP | NT_S_OUTGOING);
	if (locked)
		nt_unlock(st);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(nt_set_state, const struct sock *csk, const int oldstate, const int newstate)
{
	struct sock *sk = (struct sock *)csk;
	struct nt_conn t = {};
	struct nt_sock *st;
	__u16 family = sk->__sk_common.skc_family;

	if (sk->sk_protocol != IPPROTO_TCP || (family != NT_AF_INET && family != NT_AF_INET6))
		return 0;
	switch (newstate) {
	case TCP_SYN_SENT:
		if (oldstate == TCP_CLOSE)
			nt_tcp_connect(sk);
		return 0;
	case TCP_SYN_RECV:
		/* A passive open: the child of a listener, in softirq (its pid comes later). */
		if (oldstate != TCP_LISTEN)
			return 0;
		st = nt_create(sk, bpf_get_socket_cookie(sk));
		if (!st)
			return 0;
		st->netns = sk->__sk_common.skc_net.net->ns.inum;
		nt_set(st, NT_S_TCP | NT_S_INCOMING);
		bpf_sk_storage_get(&pid_wanted, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		return 0;
	case TCP_ESTABLISHED:
		st = nt_get(sk);
		if (!st || !(st->flags & NT_S_TCP)) {
			struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

			/* Its connect or SYN came before the module attached. */
			st = nt_create(sk, bpf_get_socket_cookie(sk));
			if (!st || !tp)
				return 0;
			nt_track_existing(sk, tp, st, 0);
		} else {
			nt_set(st, NT_S_ESTABLISHED);
		}
		nt_tuple(sk, &t);
		st->laddr = t.saddr;
		st->lport = t.sport;
		nt_ep_add(st, NT_TYPE_TCP);
		return 0;
	case TCP_LISTEN:
		st = nt_create(sk, bpf_get_socket_cookie(sk));
		if (!st)
			return 0;
		nt_set(st, NT_S_TCP);
		nt_listen_add(st, sk->__sk_common.skc_net.net->ns.inum, sk->__sk_common.skc_num);
		return 0;
	case TCP_CLOSE:
		if (oldstate == TCP_LISTEN) {
			st = nt_get(sk);
			if (st) {
				nt_listen_remove(st);
				nt_delete(sk);
			}
			return 0;
		}
		return nt_tcp_close(sk, oldstate);
	}
	/* FIN_WAIT1 and LAST_ACK come from close() in the owning process. */
	if (sk->sk_lock.owned) {
		st = nt_get(sk);
		if (st && !st->pid)
			st->pid = nt_tgid();
	}
	return 0;
}

SEC("tp_btf/tcp_cong_state_set")
int BPF_PROG(nt_cong_state, struct sock *sk, const u8 ca_state)
{
	struct nt_sock *st;

	if (ca_state != TCP_CA_Loss && ca_state != TCP_CA_Recovery)
		return 0;
	st = nt_get(sk);
	if (!st)
		return 0;
	if (ca_state == TCP_CA_Loss)
		__sync_fetch_and_add(&st->rto, 1);
	else
		__sync_fetch_and_add(&st->recovery, 1);
	return 0;
}

/* ---- socket system calls: UDP bytes and packets, TCP pids */

/* A UDP socket's first system call since the module started: its `socks` entry (pid, local
 * endpoint, direction) and the counters' address. NULL when the table is full. */
static __always_inline int nt_udp_first(struct sock *sk, struct nt_udp *u)
{
	struct nt_conn t = {};
	struct nt_sock *st = nt_create(sk, bpf_get_socket_cookie(sk));

	if (!st)
		return -1;
	if (!(__sync_fetch_and_or(&st->flags, NT_S_UDP) & NT_S_UDP)) {
		st->pid = nt_tgid();
		st->netns = sk->__sk_common.skc_net.net->ns.inum;
		nt_tuple(sk, &t);
		st->laddr = t.saddr;
		st->lport = t.sport;
		nt_ep_add(st, NT_TYPE_UDP);
	}
	if (sk->sk_userlocks & NT_SOCK_BINDPORT_LOCK)
		nt_set(st, NT_S_UDP_BOUND);
	st->udp = (__u64)u;
	return 0;
}

static __always_inline int nt_io(struct sock *sk, int ret, int flags, int send)
{
	__u16 family = sk->__sk_common.skc_family;
	struct nt_sock *st;
	struct nt_udp *u;

	if (ret <= 0 || (family != NT_AF_INET && family != NT_AF_INET6))
		return 0;
	if (sk->sk_protocol == IPPROTO_TCP) {
		/* An accepted socket learns its process at its first send or receive. */
		if (!bpf_sk_storage_get(&pid_wanted, sk, 0, 0))
			return 0;
		st = nt_get(sk);
		if (st && !st->pid) {
			st->pid = nt_tgid();
			NT_COUNT(tcp_attributed);
		}
		bpf_sk_storage_delete(&pid_wanted, sk);
		return 0;
	}
	if (sk->sk_protocol != IPPROTO_UDP || sk->sk_type != NT_SOCK_DGRAM)
		return 0;
	if (!send && (flags & NT_MSG_PEEK))
		return 0;
	u = bpf_sk_storage_get(&udp_counts, sk, 0, 0);
	if (!u) {
		u = bpf_sk_storage_get(&udp_counts, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!u || nt_udp_first(sk, u)) {
			if (u)
				bpf_sk_storage_delete(&udp_counts, sk); /* try again next time */
			if (send)
				NT_COUNT(udp_sends_missed);
			return 0;
		}
	}
	if (send) {
		__sync_fetch_and_add(&u->bytes_sent, ret);
		__sync_fetch_and_add(&u->pkts_sent, 1);
		NT_COUNT(udp_sends);
	} else {
		__sync_fetch_and_add(&u->bytes_recv, ret);
		__sync_fetch_and_add(&u->pkts_recv, 1);
		NT_COUNT(udp_recvs);
	}
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(nt_send_length, struct sock *sk, int ret, int flags)
{
	return nt_io(sk, ret, flags, 1);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(nt_recv_length, struct sock *sk, int ret, int flags)
{
	return nt_io(sk, ret, flags, 0);
}

/* A UDP socket's last close (cgroup v2, attached at the root: every process). The context is the
 * socket itself: its address is the key. */
SEC("cgroup/sock_release")
int nt_sock_release(struct bpf_sock *ctx)
{
	struct nt_closed *rec;
	struct nt_sock *st;
	struct nt_udp *u;
	__u32 family = ctx->family;

	if (ctx->protocol != IPPROTO_UDP || (family != NT_AF_INET && family != NT_AF_INET6))
		return 1;
	st = nt_get(ctx);
	if (!st)
		return 1;
	if (!(st->flags & NT_S_UDP) || (st->flags & NT_S_CLOSED) ||
	    st->cookie != bpf_get_socket_cookie(ctx))
		goto done; /* not this socket's (the address of an earlier one) */
	nt_ep_remove(st);
	if (!clients_active)
		goto done;
	rec = rp_ringbuf_reserve(&closed, &closed_lost, sizeof(*rec));
	if (!rec)
		goto done;
	__builtin_memset(&rec->conn, 0, sizeof(rec->conn));
	/* The remote end from the socket; the local one (not readable here) as last seen. */
	rec->conn.saddr = st->laddr;
	if (family == NT_AF_INET)
		nt_addr_v4(&rec->conn.daddr, ctx->dst_ip4);
	else
		nt_addr_v6_words(&rec->conn.daddr, ctx->dst_ip6[0], ctx->dst_ip6[1], ctx->dst_ip6[2],
				 ctx->dst_ip6[3]);
	rec->conn.family = nt_family(&rec->conn.saddr, &rec->conn.daddr);
	rec->conn.sport = st->lport;
	rec->conn.dport = bpf_ntohs(ctx->dst_port);
	rec->conn.cookie = st->cookie;
	rec->conn.netns = st->netns;
	rec->conn.pid = st->pid;
	rec->conn.type = NT_TYPE_UDP;
	rec->conn.direction = (st->flags & NT_S_UDP_BOUND) ? NT_DIR_INCOMING : NT_DIR_OUTGOING;
	if (nt_intra_host(&rec->conn))
		rec->conn.flags |= NT_C_INTRA_HOST;
	u = bpf_sk_storage_get(&udp_counts, ctx, 0, 0);
	if (u) {
		rec->conn.c.bytes_sent = u->bytes_sent;
		rec->conn.c.bytes_recv = u->bytes_recv;
		rec->conn.c.pkts_sent = u->pkts_sent;
		rec->conn.c.pkts_recv = u->pkts_recv;
	}
	nt_close_slots(st, rec);
	nt_submit(rec);
	NT_COUNT(udp_closed);
	nt_delete(ctx);
	return 1;
done:
	nt_close_slots(st, NULL);
	nt_delete(ctx);
	return 1;
}
