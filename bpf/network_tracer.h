/* network_tracer.h — kernel/user ABI of the network_tracer probe (bpf/network_tracer.bpf.c, read by
 * modules/network_tracer/).
 *
 * Included by the BPF program (after vmlinux.h) and by C++ (which static_asserts every size).
 * Fixed-width types only, explicit padding, no implicit holes.
 *
 * Two kinds of record leave the kernel:
 *   struct nt_conn    one per open connection that changed for the polling client, written by the
 *                     iterator (iter/task_file) into the bytes user space reads from it at poll time;
 *                     `c` holds the client's delta, the baseline in socket storage already moved on;
 *   struct nt_closed  one per connection that closed, through the `closed` ring buffer: the final
 *                     counters (since tracking began) and every client slot's baseline, from which
 *                     user space computes each client's delta.
 */
#ifndef RINGPROBE_BPF_NETWORK_TRACER_H
#define RINGPROBE_BPF_NETWORK_TRACER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Clients (client_id of /connections) whose baselines live in socket storage. Further clients are
 * served without a baseline (full counters every poll), as upstream serves connections beyond
 * its client stats cap. */
#define NT_MAX_CLIENTS 4
/* poll_slot of a client without a kernel slot. */
#define NT_NO_SLOT 0xffffffffu

/* ConnectionFamily, ConnectionType and ConnectionDirection values of model.Connection. */
#define NT_FAMILY_V4 0
#define NT_FAMILY_V6 1
#define NT_TYPE_TCP 0
#define NT_TYPE_UDP 1
#define NT_DIR_UNKNOWN 0
#define NT_DIR_INCOMING 1
#define NT_DIR_OUTGOING 2

/* nt_conn.flags */
#define NT_C_INTRA_HOST 0x01 /* the peer endpoint is a live socket of this host, or loopback */
#define NT_C_ECN 0x02        /* TCP ECN negotiated */
#define NT_C_RACY 0x04       /* closed while a poll held the socket's baselines (see lock) */
#define NT_C_NO_BASELINE 0x08 /* reported without a baseline (client stats cap reached) */

/* Iterator modes (the `iter_mode` global). */
#define NT_MODE_INIT 0 /* at load: track the sockets that already exist */
#define NT_MODE_POLL 1 /* /connections: one client's deltas */
#define NT_MODE_DUMP 2 /* /debug/net_state: one client's baselines, nothing changed */

/* The counters of one connection: since tracking began (monotonic), or a delta. */
struct nt_counters {
	__u64 bytes_sent; /* TCP: bytes_sent - bytes_retrans; UDP: payload bytes sent */
	__u64 bytes_recv; /* TCP: bytes_received, minus the FIN; UDP: payload bytes received */
	__u64 pkts_sent;  /* TCP: segs_out; UDP: datagrams sent */
	__u64 pkts_recv;  /* TCP: segs_in; UDP: datagrams received */
	__u32 retrans;    /* TCP: total_retrans */
	__u32 rto;        /* TCP: entries into the Loss congestion state (tcp_enter_loss) */
	__u32 recovery;   /* TCP: entries into the Recovery state (tcp_enter_recovery) */
	__u32 reord_seen; /* TCP: reord_seen */
	__u32 ooo_pack;   /* TCP: rcv_ooopack */
	__u32 delivered_ce; /* TCP: delivered_ce */
	__u32 established;  /* 1 once the connection reached ESTABLISHED after tracking began */
	__u32 closed;       /* 1 in a closed record */
};

/* What one client saw of one socket at its last poll (socket storage). */
struct nt_slot {
	__u32 gen;  /* the client's generation; another value: the client never saw this socket */
	__u32 wseq; /* TCP: write_seq at that poll (with the segment counts: "nothing moved") */
	struct nt_counters seen;
};

/* An address in IPv4-mapped IPv6 form for IPv4 (::ffff:a.b.c.d), network byte order. */
struct nt_addr {
	__u8 a[16];
};

struct nt_conn {
	__u64 cookie; /* socket cookie */
	struct nt_addr saddr;
	struct nt_addr daddr;
	__u16 sport; /* host byte order */
	__u16 dport;
	__u32 netns; /* network namespace inode number */
	__u32 pid;   /* tgid; 0 when no process was seen using the socket */
	__u8 family; /* NT_FAMILY_* */
	__u8 type;   /* NT_TYPE_* */
	__u8 direction; /* NT_DIR_* */
	__u8 flags;     /* NT_C_* */
	__u32 rtt_us;    /* TCP: srtt_us >> 3 */
	__u32 rttvar_us; /* TCP: mdev_us >> 2 */
	__u16 failure;   /* TCP: errno the connection failed with (closed records), 0 = none */
	__u16 _pad;
	__u32 _pad2;
	struct nt_counters c;
};

struct nt_closed {
	struct nt_conn conn; /* conn.c: the final counters since tracking began */
	struct nt_slot slot[NT_MAX_CLIENTS];
};

/* A /debug/net_state record: the client's baseline of one socket. */
struct nt_dump {
	__u64 cookie;
	struct nt_counters seen;
};

/* Per-CPU counters (one slot of the `counters` array); user space sums over CPUs. */
struct nt_counters_cpu {
	__u64 tcp_closed;         /* closed records of TCP connections */
	__u64 udp_closed;         /* closed records of UDP sockets */
	__u64 closed_lost;        /* closed records the ring buffer had no room for */
	__u64 closed_untracked;   /* TCP closes of sockets without storage (older than the module) */
	__u64 lock_timeouts;      /* a close waited in vain for a poll to release a socket */
	__u64 endpoints_full;     /* intra-host endpoint table full: an endpoint not recorded */
	__u64 listeners_full;     /* listening-port table full */
	__u64 udp_sends;          /* UDP send calls counted */
	__u64 udp_recvs;          /* UDP receive calls counted */
	__u64 tcp_attributed;     /* TCP sockets given their pid by a send/receive call */
	__u64 socks_full;         /* a socket not tracked: max_tracked_connections entries exist */
	__u64 udp_sends_missed;   /* UDP sends not counted: the socket could not be tracked */
	__u64 _pad[4];
};

/* What one iteration saw (globals the iterator writes; user space reads them after EOF). */
struct nt_iter_stats {
	__u32 visited;        /* tracked sockets visited */
	__u32 emitted;        /* records written */
	__u32 held;           /* sockets with this client's baseline after the poll */
	__u32 no_baseline;    /* reported without a baseline: the client's stats cap was reached */
	__u32 over_limit;     /* changed connections not reported: max_tracked_connections reached */
	__u32 shared;         /* second visits of a socket shared by several processes */
	__u32 reruns;         /* an object shown twice by the seq_file (must stay 0) */
	__u32 late_tracked;   /* sockets first seen by this iteration (storage created now) */
	__u32 storage_failed; /* sockets the iterator could not give storage */
	__u32 underflows;     /* counters below the client's baseline (reported as 0) */
};

#endif /* RINGPROBE_BPF_NETWORK_TRACER_H */
