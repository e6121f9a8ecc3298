// SPDX-License-Identifier: GPL-2.0
/* selftest.bpf.c — a probe for the runtime's own tests: every time the process `target_tgid`
 * enters syscall `target_syscall`, one record goes into the ring buffer `events` (or, when it is
 * full, one count into `lost_events`). tests/bpf/runtime_test.cpp drives it with getppid().
 *
 * Needs: kernel BTF, tp_btf (raw_syscalls/sys_enter), BPF ring buffer.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/lib/ringbuf.bpf.h"
#include "bpf/selftest.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
const volatile __u64 target_syscall = ~0ULL;

RP_RINGBUF(events, 4096);
RP_LOST_COUNTER(lost_events);

__u64 emitted = 0; /* .bss: total matches, for the test to compare with */

SEC("tp_btf/sys_enter")
int BPF_PROG(selftest_sys_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct selftest_event *e;

	if ((__u64)id != target_syscall || (pid_tgid >> 32) != target_tgid)
		return 0;
	__sync_fetch_and_add(&emitted, 1);
	e = rp_ringbuf_reserve(&events, &lost_events, sizeof(*e));
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->seq = emitted;
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->syscall = id;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
