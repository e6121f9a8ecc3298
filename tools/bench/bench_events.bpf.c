/* bench_events.bpf.c — benchmark-only BPF event producer (tools/bench, never in the daemon).
 *
 * One stable tracepoint, syscalls/sys_enter_getppid, filtered to one process (the benchmark's
 * driver, which calls getppid() in a tight loop on the other CPU): every call writes
 * events_per_call struct bench_event records into the ring buffer `events`. A full buffer is counted in `lost_events`
 * (bpf/lib/ringbuf.bpf.h, the same channel the probes use) and `produced` counts every attempt, so
 * the consumer knows exactly what it should have received.
 *
 * Needs: tracepoints (tracefs mounted), BPF_MAP_TYPE_RINGBUF.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/lib/ringbuf.bpf.h"
#include "tools/bench/bench_events.h"

char LICENSE[] SEC("license") = "GPL";

/* Set between open and load: the driver's tgid, and how many records each of its calls writes
 * (a syscall with a tracepoint costs ~1.4 us on the test VMs, so one record per call cannot reach
 * 1M records/s from one CPU; several per call can, and the consumer's work per record is the
 * same). */
const volatile __u32 target_tgid = 0;
const volatile __u32 events_per_call = 1;

RP_RINGBUF(events, 4 << 20); /* resized by the benchmark before load */
RP_LOST_COUNTER(lost_events);
RP_LOST_COUNTER(produced); /* same shape: one count per CPU */

SEC("tracepoint/syscalls/sys_enter_getppid")
int bench_getppid(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct rp_count_slot *slot;
	__u64 *n;
	__u64 now;

	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	slot = rp_cpu_slot(&produced);
	if (!slot)
		return 0;
	n = &slot->count;
	now = bpf_ktime_get_ns();
	for (int i = 0; i < BENCH_MAX_EVENTS_PER_CALL; i++) {
		struct bench_event *e;

		if (i >= events_per_call)
			break;
		e = rp_ringbuf_reserve(&events, &lost_events, sizeof(*e));
		if (!e) {
			*n += 1;
			continue;
		}
		e->timestamp_ns = now;
		e->seq = *n;
		e->pid = id >> 32;
		e->tid = (__u32)id;
		e->arg = e->seq * 2654435761u;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		e->_pad[0] = 0;
		e->_pad[1] = 0;
		*n += 1;
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}
