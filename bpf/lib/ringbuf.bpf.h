/* ringbuf.bpf.h — the event channel every ringprobe probe uses: a BPF ring buffer map plus a
 * per-CPU counter of events that could not be reserved (buffer full), so that user space reports
 * lost events instead of losing them silently (bpf/runtime/ring_buffer.h reads both).
 *
 * Needs: BPF_MAP_TYPE_RINGBUF (Linux >= 5.8).
 */
#ifndef RINGPROBE_BPF_LIB_RINGBUF_BPF_H
#define RINGPROBE_BPF_LIB_RINGBUF_BPF_H

#include <bpf/bpf_helpers.h>

/* The ring buffer map `name`, `bytes` long (a power of two, multiple of the page size). User space
 * may resize it between open and load (bpf_map__set_max_entries). */
#define RP_RINGBUF(name, bytes)                                                                    \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                                                \
		__uint(max_entries, bytes);                                                        \
	} name SEC(".maps")

/* The per-CPU reserve-failure counter `name` (one __u64 per CPU at key 0). */
#define RP_LOST_COUNTER(name)                                                                      \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__type(value, __u64);                                                              \
	} name SEC(".maps")

/* Reserves `size` bytes (a compile-time constant) in `ringbuf`; on failure counts one lost event in
 * `lost` and returns NULL. The caller fills every byte of the record and submits it. */
static __always_inline void *rp_ringbuf_reserve(void *ringbuf, void *lost, __u64 size)
{
	void *rec = bpf_ringbuf_reserve(ringbuf, size, 0);

	if (!rec) {
		__u32 zero = 0;
		__u64 *count = bpf_map_lookup_elem(lost, &zero);

		if (count)
			*count += 1; /* per-CPU slot: no other writer */
	}
	return rec;
}

#endif /* RINGPROBE_BPF_LIB_RINGBUF_BPF_H */
