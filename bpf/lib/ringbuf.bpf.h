/* ringbuf.bpf.h — the event channel every ringprobe probe uses: a BPF ring buffer map plus a
 * per-CPU counter of events that could not be reserved (buffer full), so that user space reports
 * lost events instead of losing them silently (bpf/runtime/ring_buffer.h reads both). The counter
 * is a cpu_slots.bpf.h map: user space sizes it (rp::bpf::size_cpu_slots) and reads it without a
 * syscall.
 *
 * Needs: BPF_MAP_TYPE_RINGBUF (Linux >= 5.8).
 */
#ifndef RINGPROBE_BPF_LIB_RINGBUF_BPF_H
#define RINGPROBE_BPF_LIB_RINGBUF_BPF_H

#include <bpf/bpf_helpers.h>

#include "bpf/lib/cpu_slots.bpf.h"

/* The ring buffer map `name`, `bytes` long (a power of two, multiple of the page size). User space
 * may resize it between open and load (bpf_map__set_max_entries). */
#define RP_RINGBUF(name, bytes)                                                                    \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                                                \
		__uint(max_entries, bytes);                                                        \
	} name SEC(".maps")

/* One CPU's count, alone on its cache line. */
struct rp_count_slot {
	__u64 count;
} __attribute__((aligned(64)));

/* The reserve-failure counter `name`: one rp_count_slot per CPU. */
#define RP_LOST_COUNTER(name) RP_CPU_SLOTS(name, struct rp_count_slot)

/* Reserves `size` bytes (a compile-time constant) in `ringbuf`; on failure counts one lost event in
 * `lost` and returns NULL. The caller fills every byte of the record and submits it. */
static __always_inline void *rp_ringbuf_reserve(void *ringbuf, void *lost, __u64 size)
{
	void *rec = bpf_ringbuf_reserve(ringbuf, size, 0);

	if (!rec) {
		struct rp_count_slot *slot = rp_cpu_slot(lost);

		if (slot)
			slot->count += 1; /* this CPU's slot: no other writer */
	}
	return rec;
}

#endif /* RINGPROBE_BPF_LIB_RINGBUF_BPF_H */
