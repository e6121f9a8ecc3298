/* cpu_slots.bpf.h — counters user space reads from memory: an array map with one slot per
 * possible CPU, BPF_F_MMAPABLE, so bpf/runtime/cpu_slots.h maps it once and sums the slots with
 * plain loads. A per-CPU array needs a bpf() syscall per read instead: ~1.7 us on the test VMs,
 * and /debug/stats read two of them (a quarter of its CPU time; docs/BENCHMARKS.md).
 *
 * Each slot type is aligned to 64 bytes so that no two CPUs write the same cache line. User space
 * sizes the map to the number of possible CPUs before load (rp::bpf::size_cpu_slots); a CPU past
 * max_entries finds no slot and counts nothing, which RingBuffer and CpuSlots refuse at set-up.
 *
 * Needs: BPF_F_MMAPABLE array maps (Linux >= 5.5).
 */
#ifndef RINGPROBE_BPF_LIB_CPU_SLOTS_BPF_H
#define RINGPROBE_BPF_LIB_CPU_SLOTS_BPF_H

#include <bpf/bpf_helpers.h>

#define RP_CPU_SLOTS(name, slot_type)                                                              \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                  \
		__uint(map_flags, BPF_F_MMAPABLE);                                                 \
		__uint(max_entries, 1); /* set to the possible CPUs by user space */               \
		__type(key, __u32);                                                                \
		__type(value, slot_type);                                                          \
	} name SEC(".maps")

/* This CPU's slot of `map`, or NULL. Slots are written only by their CPU, with plain increments:
 * only a program nesting into another on the same CPU (softirq over a system call) could lose
 * one, as with a per-CPU array. */
static __always_inline void *rp_cpu_slot(void *map)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(map, &cpu);
}

#endif /* RINGPROBE_BPF_LIB_CPU_SLOTS_BPF_H */
