// SPDX-License-Identifier: GPL-2.0
/* seccomp_tracer.bpf.c — seccomp_tracer's kernel side: every seccomp denial (KILL_PROCESS,
 * KILL_THREAD, TRAP, ERRNO), counted per (pid, syscall, action) in a hash map that user space reads
 * and empties on GET /seccomp_tracer/check.
 *
 * system-probe hooks kretprobe/seccomp_run_filters. Without kprobes (and with fentry refused) the
 * same facts come from stable tracepoints and from replaying the filters:
 *
 *   tp_btf/sys_exit    fires for every system call, the ones seccomp skipped included (seccomp runs
 *                      in syscall_trace_enter() before trace_sys_enter; a skipped call still leaves
 *                      through syscall_exit_work() and trace_sys_exit). ERRNO makes a call return
 *                      -data (0..4095), so a filtered thread's call that returned anything else, or
 *                      that the kernel's own seccomp action cache marks always-allowed, was not
 *                      denied. The rest is settled by replaying the thread's filters (below).
 *   tp_btf/signal_generate  seccomp's SIGSYS (si_code SYS_SECCOMP, sent to current with the system
 *                      call number and the filter's data) marks TRAP, or a KILL when the kernel has
 *                      just set seccomp.mode to SECCOMP_MODE_DEAD.
 *   tp_btf/sched_process_exit  KILL_THREAD in a multi-threaded process sends no signal: the thread
 *                      exits through do_exit(SIGSYS) with seccomp.mode == SECCOMP_MODE_DEAD.
 *
 * Replay: the kernel keeps each filter's original classic BPF (bpf_prog->orig_prog, with
 * CONFIG_CHECKPOINT_RESTORE) and the registers still hold the system call's number and arguments,
 * so running the same pure function on the same struct seccomp_data gives the kernel's verdict —
 * action and data (the errno) — as seccomp_run_filters() computed it. It runs only for a filtered
 * thread's call that returned 0..-4095 and is not cached as allowed, and for SIGSYS.
 *
 * Without saved filters (user space finds no seccomp_get_filter in the kernel's BTF) the module
 * loads tp_btf/sys_enter too: it fires only for calls seccomp let through, so a filtered thread's
 * call that reaches sys_exit without passing sys_enter was skipped, and its action is inferred from
 * the return value (use_entry_marks).
 * Fallback: kretprobe/seccomp_run_filters (system-probe's hook), loaded only when user space
 * detects kprobes and cannot use tp_btf.
 *
 * Without the kernel's own BTF (tp_btf, bpf_get_current_task_btf, bpf_task_pt_regs and task
 * storage all need it) the same hooks load as raw tracepoints (raw_tp/...): every read a CO-RE
 * probe read relocated against the external BTF (system_probe_config.btf_path), per-thread state
 * in an LRU hash keyed by thread id (task_states), and a task's syscall registers found at the
 * offset from its kernel stack that the first raw sys_exit measures (regs_offset).
 *
 * Needs: BTF for CO-RE (kernel or external), bpf_loop (Linux >= 5.17); tp_btf mode the kernel's
 * own BTF and task storage (Linux >= 5.11), raw_tp mode raw tracepoints.
 * Design, limits and measured overhead: docs/modules/seccomp_tracer.md.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/lib/cpu_slots.bpf.h"
#include "bpf/lib/ringbuf.bpf.h"
#include "bpf/seccomp_tracer.h"

char LICENSE[] SEC("license") = "GPL";

#define SC_SIGSYS 31
#define SC_SYS_SECCOMP 1 /* si_code of seccomp's SIGSYS */
#define SC_MODE_FILTER 2 /* SECCOMP_MODE_FILTER */
#define SC_MODE_DEAD 3   /* SECCOMP_MODE_DEAD (kernel-internal): set just before a KILL */
#define SC_MAX_ERRNO 4095
#define SC_ENOSYS 38
#define SC_E2BIG 7
#define SC_EEXIST 17
#define SC_AUDIT_ARCH_X86_64 0xc000003eU
#define SC_AUDIT_ARCH_I386 0x40000003U
#define SC_AUDIT_ARCH_AARCH64 0xc00000b7U
#define SC_TS_COMPAT 0x0002 /* x86 thread_info.status: in a 32-bit system call */

/* Replay steps: one per instruction run plus one per filter. The kernel refuses a chain of more
 * than MAX_INSNS_PER_PATH = 32768 instructions (each filter counting 4 more), so this covers every
 * chain it accepts. */
#define SC_REPLAY_MAX_STEPS 40000
#define SC_BPF_MAXINSNS 4096
/* Filters has_listener() looks at. */
#define SC_MAX_FILTERS 64

/* Set by user space before load. */
const volatile bool stack_traces_enabled = false;
/* Replay the filters to learn a denial's action (needs orig_prog). */
const volatile bool replay_enabled = true;
/* sys_enter is loaded: detect skipped calls with per-thread marks, infer the action. */
const volatile bool use_entry_marks = false;

/* (pid, syscall, action) -> count. max_entries from ringprobe.seccomp_tracer.max_entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10240);
	__type(key, struct seccomp_denial_key);
	__type(value, struct seccomp_denial_value);
} denials SEC(".maps");

/* Every denial by (syscall, action, errno), for /metrics; never deleted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct seccomp_total_key);
	__type(value, __u64);
} totals SEC(".maps");

/* Denials as they happen, for GET /seccomp_tracer/events; filled only while events_enabled. */
RP_RINGBUF(events, 256 * 1024);
RP_LOST_COUNTER(lost_events);

/* Set by user space while a client reads GET /seccomp_tracer/events. */
__u32 events_enabled = 0;

/* User stacks of denials (only with stack_traces_enabled; else sized to 1 entry). */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1024);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, SECCOMP_TRACER_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* (pid, syscall, action, stack id) -> count (only with stack_traces_enabled). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10240);
	__type(key, struct seccomp_stack_key);
	__type(value, __u64);
} stack_counts SEC(".maps");

/* One CPU's counters, alone on their cache lines; user space reads them from memory. */
struct seccomp_counters_slot {
	struct seccomp_counters c;
} __attribute__((aligned(64)));

RP_CPU_SLOTS(counters, struct seccomp_counters_slot);

/* Per thread, created only for a thread that got seccomp's SIGSYS or (use_entry_marks) that has a
 * filter. */
struct seccomp_task_state {
	__u8 signaled; /* the current system call's SIGSYS was counted */
	__u8 entered;  /* use_entry_marks: the current system call passed sys_enter */
	__u8 known;    /* use_entry_marks: seen filtered at an earlier exit, so a skip now is certain */
	__u8 _pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct seccomp_task_state);
} task_state SEC(".maps");

/* raw_tp mode: the same state keyed by thread id (task storage needs the kernel's BTF). An entry
 * pushed out early makes the next exit of that thread "unknown" (replayed, or counted in
 * unknown_skips), never a denial. max_entries from ringprobe.seccomp_tracer.max_threads; not
 * created in tp_btf mode. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct seccomp_task_state);
} task_states SEC(".maps");

/* raw_tp mode: task_pt_regs(task) - task->stack, the same for every task (THREAD_SIZE minus the
 * architecture's padding and pt_regs); measured at the first raw sys_exit, whose first argument is
 * task_pt_regs(current). 0 until then. */
__u64 regs_offset = 0;

static __always_inline void count(__u32 which)
{
	struct seccomp_counters_slot *slot = rp_cpu_slot(&counters);

	if (slot && which < SECCOMP_CNT_COUNT)
		__sync_fetch_and_add(&slot->c.c[which], 1);
}

/* ------------------------------------------------------------------------------------------------
 * Replay of the task's seccomp filters (what seccomp_run_filters() computed).
 */

/* Classic BPF opcodes (include/uapi/linux/bpf_common.h, filter.h): #defines, so not in vmlinux.h. */
#define CBPF_LD 0x00
#define CBPF_LDX 0x01
#define CBPF_ST 0x02
#define CBPF_STX 0x03
#define CBPF_ALU 0x04
#define CBPF_JMP 0x05
#define CBPF_RET 0x06
#define CBPF_MISC 0x07
#define CBPF_W 0x00
#define CBPF_IMM 0x00
#define CBPF_ABS 0x20
#define CBPF_MEM 0x60
#define CBPF_LEN 0x80
#define CBPF_ADD 0x00
#define CBPF_SUB 0x10
#define CBPF_MUL 0x20
#define CBPF_DIV 0x30
#define CBPF_OR 0x40
#define CBPF_AND 0x50
#define CBPF_LSH 0x60
#define CBPF_RSH 0x70
#define CBPF_NEG 0x80
#define CBPF_XOR 0xa0
#define CBPF_JA 0x00
#define CBPF_JEQ 0x10
#define CBPF_JGT 0x20
#define CBPF_JGE 0x30
#define CBPF_JSET 0x40
#define CBPF_K 0x00
#define CBPF_X 0x08
#define CBPF_A 0x10 /* BPF_RET source */
#define CBPF_TAX 0x00
#define CBPF_TXA 0x80

struct replay_state {
	__u64 filter;  /* kernel address of the struct seccomp_filter being run; 0 when done */
	__u64 insns;   /* its orig_prog->filter (struct sock_filter[]); 0 until loaded */
	__u32 len;
	__u32 pc;
	__u32 a;
	__u32 x;
	__u32 verdict; /* the lowest (signed) action returned so far, with its data */
	__s32 status;  /* 0 running, 1 every filter returned, -1 cannot replay */
	__u32 mem[16];
	__u32 sd[16];  /* struct seccomp_data as 32-bit words (x86-64 and arm64 are little-endian) */
};

/* Zeroes that a helper copies into the replay state: the verifier then sees every byte of it as
 * unknown data instead of tracking constants slot by slot through the instruction loop. */
static const struct replay_state replay_zero;

#define RS_FAIL(s)                \
	do {                      \
		(s)->status = -1; \
		return 1;         \
	} while (0)

/* The current filter returned `ret`: keep it if its action is lower, then go to the previous one. */
static __always_inline long replay_return(struct replay_state *s, __u32 ret)
{
	struct seccomp_filter *f = (struct seccomp_filter *)s->filter;

	if ((__s32)(ret & SECCOMP_TRACER_RET_ACTION_FULL) <
	    (__s32)(s->verdict & SECCOMP_TRACER_RET_ACTION_FULL))
		s->verdict = ret;
	s->filter = (__u64)BPF_CORE_READ(f, prev);
	s->insns = 0;
	if (!s->filter) {
		s->status = 1;
		return 1;
	}
	return 0;
}

/* Makes the current filter's saved original program the one to run. */
static __always_inline long replay_load(struct replay_state *s)
{
	struct seccomp_filter *f = (struct seccomp_filter *)s->filter;
	struct sock_fprog_kern *orig = BPF_CORE_READ(f, prog, orig_prog);
	__u32 len;

	if (!orig) /* kernel without CONFIG_CHECKPOINT_RESTORE keeps no original */
		RS_FAIL(s);
	len = BPF_CORE_READ(orig, len);
	s->insns = (__u64)BPF_CORE_READ(orig, filter);
	if (len == 0 || len > SC_BPF_MAXINSNS || !s->insns)
		RS_FAIL(s);
	s->len = len;
	s->pc = 0;
	s->a = 0;
	s->x = 0;
	return 0;
}

/* One step of the replay: load the next filter, or run one classic BPF instruction with the
 * meaning seccomp gives it (seccomp_check_filter): absolute word loads read struct seccomp_data,
 * LEN is its size; only the opcodes seccomp accepts. Jumps only go forward, so a filter of n
 * instructions returns within n steps. */
static long replay_step(__u32 index, void *ctx)
{
	struct replay_state *s = ctx;
	struct sock_filter f;
	__u32 pc = s->pc;
	bool cond;

	if (!s->insns)
		return replay_load(s);
	if (pc >= s->len || pc >= SC_BPF_MAXINSNS)
		RS_FAIL(s);
	if (bpf_probe_read_kernel(&f, sizeof(f), (void *)(s->insns + (__u64)pc * sizeof(f))))
		RS_FAIL(s);
	s->pc = pc + 1;

	switch (f.code) {
	case CBPF_LD | CBPF_W | CBPF_ABS:
		if (f.k >= 64 || (f.k & 3))
			RS_FAIL(s);
		s->a = s->sd[(f.k >> 2) & 15];
		return 0;
	case CBPF_LD | CBPF_W | CBPF_LEN:
		s->a = 64;
		return 0;
	case CBPF_LDX | CBPF_W | CBPF_LEN:
		s->x = 64;
		return 0;
	case CBPF_LD | CBPF_IMM:
		s->a = f.k;
		return 0;
	case CBPF_LDX | CBPF_IMM:
		s->x = f.k;
		return 0;
	case CBPF_LD | CBPF_MEM:
		s->a = s->mem[f.k & 15]; /* k < 16: checked by bpf_check_classic */
		return 0;
	case CBPF_LDX | CBPF_MEM:
		s->x = s->mem[f.k & 15];
		return 0;
	case CBPF_ST:
		s->mem[f.k & 15] = s->a;
		return 0;
	case CBPF_STX:
		s->mem[f.k & 15] = s->x;
		return 0;
	case CBPF_MISC | CBPF_TAX:
		s->x = s->a;
		return 0;
	case CBPF_MISC | CBPF_TXA:
		s->a = s->x;
		return 0;
	case CBPF_ALU | CBPF_ADD | CBPF_K:
		s->a += f.k;
		return 0;
	case CBPF_ALU | CBPF_ADD | CBPF_X:
		s->a += s->x;
		return 0;
	case CBPF_ALU | CBPF_SUB | CBPF_K:
		s->a -= f.k;
		return 0;
	case CBPF_ALU | CBPF_SUB | CBPF_X:
		s->a -= s->x;
		return 0;
	case CBPF_ALU | CBPF_MUL | CBPF_K:
		s->a *= f.k;
		return 0;
	case CBPF_ALU | CBPF_MUL | CBPF_X:
		s->a *= s->x;
		return 0;
	case CBPF_ALU | CBPF_DIV | CBPF_K:
		if (f.k == 0) /* refused by bpf_check_classic */
			RS_FAIL(s);
		s->a /= f.k;
		return 0;
	case CBPF_ALU | CBPF_DIV | CBPF_X:
		/* The kernel's conversion makes the program return 0 here (bpf_convert_filter). */
		if (s->x == 0)
			return replay_return(s, 0);
		s->a /= s->x;
		return 0;
	case CBPF_ALU | CBPF_AND | CBPF_K:
		s->a &= f.k;
		return 0;
	case CBPF_ALU | CBPF_AND | CBPF_X:
		s->a &= s->x;
		return 0;
	case CBPF_ALU | CBPF_OR | CBPF_K:
		s->a |= f.k;
		return 0;
	case CBPF_ALU | CBPF_OR | CBPF_X:
		s->a |= s->x;
		return 0;
	case CBPF_ALU | CBPF_XOR | CBPF_K:
		s->a ^= f.k;
		return 0;
	case CBPF_ALU | CBPF_XOR | CBPF_X:
		s->a ^= s->x;
		return 0;
	case CBPF_ALU | CBPF_LSH | CBPF_K:
		s->a <<= (f.k & 31);
		return 0;
	case CBPF_ALU | CBPF_LSH | CBPF_X:
		s->a <<= (s->x & 31);
		return 0;
	case CBPF_ALU | CBPF_RSH | CBPF_K:
		s->a >>= (f.k & 31);
		return 0;
	case CBPF_ALU | CBPF_RSH | CBPF_X:
		s->a >>= (s->x & 31);
		return 0;
	case CBPF_ALU | CBPF_NEG:
		s->a = -s->a;
		return 0;
	case CBPF_JMP | CBPF_JA:
		s->pc += f.k;
		return 0;
	case CBPF_JMP | CBPF_JEQ | CBPF_K:
		cond = s->a == f.k;
		break;
	case CBPF_JMP | CBPF_JEQ | CBPF_X:
		cond = s->a == s->x;
		break;
	case CBPF_JMP | CBPF_JGT | CBPF_K:
		cond = s->a > f.k;
		break;
	case CBPF_JMP | CBPF_JGT | CBPF_X:
		cond = s->a > s->x;
		break;
	case CBPF_JMP | CBPF_JGE | CBPF_K:
		cond = s->a >= f.k;
		break;
	case CBPF_JMP | CBPF_JGE | CBPF_X:
		cond = s->a >= s->x;
		break;
	case CBPF_JMP | CBPF_JSET | CBPF_K:
		cond = (s->a & f.k) != 0;
		break;
	case CBPF_JMP | CBPF_JSET | CBPF_X:
		cond = (s->a & s->x) != 0;
		break;
	case CBPF_RET | CBPF_K:
		return replay_return(s, f.k);
	case CBPF_RET | CBPF_A:
		return replay_return(s, s->a);
	default:
		RS_FAIL(s);
	}
	s->pc += cond ? f.jt : f.jf;
	return 0;
}

/* The system call number in `regs` as seccomp reads it (syscall_get_nr()). */
static __always_inline long regs_syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ(regs, syscallno);
#else
#error "seccomp_tracer: no system call number register for this architecture"
#endif
}

/* thread_info with the generic entry code's syscall_work (x86 since 5.11); spelled out so that the
 * program compiles against a vmlinux.h without it (arm64 6.1). */
struct thread_info___ge {
	unsigned long syscall_work;
} __attribute__((preserve_access_index));

struct task_struct___ge {
	struct thread_info___ge thread_info;
} __attribute__((preserve_access_index));

enum syscall_work_bit___ge {
	SYSCALL_WORK_BIT_SYSCALL_TRACE___ge = 1,
	SYSCALL_WORK_BIT_SYSCALL_EMU___ge = 3,
};

/* TIF flags of architectures without syscall_work (#defines, not in BTF). */
#if defined(__TARGET_ARCH_x86)
#define SC_TIF_SYSCALL_TRACE 0 /* x86 before 5.11 */
#define SC_TIF_SYSCALL_EMU 6
#elif defined(__TARGET_ARCH_arm64)
#define SC_TIF_SYSCALL_TRACE 8
#define SC_TIF_SYSCALL_EMU 12
#else
#error "seccomp_tracer: no TIF_SYSCALL_* for this architecture"
#endif

/* Whether `task` has a ptrace tracer at system-call stops (SYSCALL_TRACE) or emulates system calls
 * (PTRACE_SYSEMU: SYSCALL_EMU). */
static __always_inline bool task_syscall_work(struct task_struct *task, bool emu)
{
	if (bpf_core_field_exists(struct thread_info___ge, syscall_work)) {
		struct task_struct___ge *t = (void *)task;
		__u64 work = BPF_CORE_READ(t, thread_info.syscall_work);
		int bit = emu ? bpf_core_enum_value(enum syscall_work_bit___ge,
						    SYSCALL_WORK_BIT_SYSCALL_EMU___ge) :
				bpf_core_enum_value(enum syscall_work_bit___ge,
						    SYSCALL_WORK_BIT_SYSCALL_TRACE___ge);

		return (work >> (bit & 63)) & 1;
	}
	return (BPF_CORE_READ(task, thread_info.flags) >>
		(emu ? SC_TIF_SYSCALL_EMU : SC_TIF_SYSCALL_TRACE)) &
	       1;
}

/* Whether `task` is in a 32-bit system call (in_compat_syscall()). */
static __always_inline bool syscall_is_compat(struct task_struct *task)
{
#if defined(__TARGET_ARCH_x86)
	return (BPF_CORE_READ(task, thread_info.status) & SC_TS_COMPAT) != 0;
#else
	return false;
#endif
}

/* struct seccomp_data of the current system call of `task` (populate_seccomp_data()). */
static __always_inline void fill_seccomp_data(struct replay_state *s, struct task_struct *task,
					      struct pt_regs *regs, __u32 nr, bool compat)
{
	__u64 args[6];
	__u64 ip;
	__u32 arch;

#if defined(__TARGET_ARCH_x86)
	if (compat) {
		arch = SC_AUDIT_ARCH_I386;
		args[0] = BPF_CORE_READ(regs, bx);
		args[1] = BPF_CORE_READ(regs, cx);
		args[2] = BPF_CORE_READ(regs, dx);
		args[3] = BPF_CORE_READ(regs, si);
		args[4] = BPF_CORE_READ(regs, di);
		args[5] = BPF_CORE_READ(regs, bp);
	} else {
		arch = SC_AUDIT_ARCH_X86_64;
		args[0] = BPF_CORE_READ(regs, di);
		args[1] = BPF_CORE_READ(regs, si);
		args[2] = BPF_CORE_READ(regs, dx);
		args[3] = BPF_CORE_READ(regs, r10);
		args[4] = BPF_CORE_READ(regs, r8);
		args[5] = BPF_CORE_READ(regs, r9);
	}
	ip = BPF_CORE_READ(regs, ip);
#elif defined(__TARGET_ARCH_arm64)
	/* 64-bit tasks only (syscall_is_compat() is false on arm64: AArch32 is not handled). */
	arch = SC_AUDIT_ARCH_AARCH64;
	args[0] = BPF_CORE_READ(regs, orig_x0);
	args[1] = BPF_CORE_READ(regs, regs[1]);
	args[2] = BPF_CORE_READ(regs, regs[2]);
	args[3] = BPF_CORE_READ(regs, regs[3]);
	args[4] = BPF_CORE_READ(regs, regs[4]);
	args[5] = BPF_CORE_READ(regs, regs[5]);
	ip = BPF_CORE_READ(regs, pc);
#else
#error "seccomp_tracer: no struct seccomp_data layout for this architecture"
#endif
	s->sd[0] = nr;
	s->sd[1] = arch;
	s->sd[2] = (__u32)ip;
	s->sd[3] = (__u32)(ip >> 32);
#pragma unroll
	for (int i = 0; i < 6; i++) {
		s->sd[4 + 2 * i] = (__u32)args[i];
		s->sd[5 + 2 * i] = (__u32)(args[i] >> 32);
	}
}

/* Runs every filter of `task` on its current system call, as seccomp_run_filters() does: the
 * lowest action (signed) wins, with its data. Returns 0 and sets *verdict, or -1 when the filters
 * cannot be replayed (no saved original program, chain too long, unreadable or invalid). */
static __noinline int replay_filters(struct task_struct *task, struct pt_regs *regs, __u32 nr,
				     bool compat, __u32 *verdict)
{
	struct replay_state s;

	if (!replay_enabled || !regs)
		return -1;
	bpf_probe_read_kernel(&s, sizeof(s), &replay_zero);
	fill_seccomp_data(&s, task, regs, nr, compat);
	s.filter = (__u64)BPF_CORE_READ(task, seccomp.filter);
	s.insns = 0;
	s.verdict = SECCOMP_TRACER_RET_ALLOW;
	s.status = 0;
	if (!s.filter)
		return -1;
	bpf_loop(SC_REPLAY_MAX_STEPS, replay_step, &s, 0);
	if (s.status != 1)
		return -1;
	*verdict = s.verdict;
	return 0;
}

/* Whether the kernel's seccomp action cache (Linux >= 5.11) says `nr` is allowed by every filter
 * whatever its arguments: then seccomp_run_filters() returned ALLOW without running them. The leaf
 * filter's bitmap already accounts for the ones before it (seccomp_cache_prepare_bitmap). */
static __always_inline bool cache_allows(__u64 filter, long nr, bool compat)
{
	__u64 word = 0, base;
	__u32 words;

	if (!bpf_core_field_exists(struct seccomp_filter, cache))
		return false;
	words = bpf_core_field_size(struct action_cache, allow_native) / sizeof(__u64);
	if (nr < 0 || (__u64)nr >= (__u64)words * 64)
		return false;
	base = filter + bpf_core_field_offset(struct seccomp_filter, cache);
	base += compat ? bpf_core_field_offset(struct action_cache, allow_compat) :
			 bpf_core_field_offset(struct action_cache, allow_native);
	if (bpf_probe_read_kernel(&word, sizeof(word), (void *)(base + ((__u64)nr / 64) * 8)))
		return false;
	return (word >> (nr & 63)) & 1;
}

/* Whether any filter of `task` has a user-space notification listener (USER_NOTIF possible). */
static __always_inline bool has_listener(struct task_struct *task)
{
	struct seccomp_filter *f = BPF_CORE_READ(task, seccomp.filter);

	for (int i = 0; i < SC_MAX_FILTERS && f; i++) {
		if (BPF_CORE_READ(f, notif))
			return true;
		f = BPF_CORE_READ(f, prev);
	}
	return f != NULL; /* too long to tell: assume the worst */
}

/* ------------------------------------------------------------------------------------------------
 * Counting.
 */

/* Leaf name of the current task's cgroup in the memory controller's hierarchy (cgroup v1 memory or
 * the unified hierarchy when memory is on v2); the default hierarchy without a memory controller.
 * system-probe's get_cgroup_name() reads the same. */
static __always_inline void current_cgroup_name(char *buf, __u32 size)
{
	/* Not the _btf helper: record_denial() also runs in raw_tp mode. */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct kernfs_node *kn;

	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

		kn = BPF_CORE_READ(task, cgroups, subsys[id], cgroup, kn);
	} else {
		kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	}
	if (kn)
		bpf_probe_read_kernel_str(buf, size, BPF_CORE_READ(kn, name));
}

/* The /metrics counter of (nr, action, errno). */
static __always_inline void count_total(__u32 nr, __u32 action, __u32 data, __u32 flags)
{
	struct seccomp_total_key tk = {
		.syscall_nr = nr,
		.action = action,
		.data = action == SECCOMP_TRACER_RET_ERRNO ? data : 0,
		.compat = (flags & SECCOMP_DENIAL_F_COMPAT) ? 1 : 0,
	};
	__u64 one = 1, *n;
	long err;

	n = bpf_map_lookup_elem(&totals, &tk);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	err = bpf_map_update_elem(&totals, &tk, &one, BPF_NOEXIST);
	if (err == -SC_EEXIST) {
		n = bpf_map_lookup_elem(&totals, &tk);
		if (n)
			__sync_fetch_and_add(n, 1);
	} else if (err) {
		count(SECCOMP_CNT_TOTALS_FULL);
	}
}

/* One event line for the live stream (only while a client listens). */
static __always_inline void send_event(__u64 pid_tgid, __u32 nr, __u32 action, __u32 data,
				       __u32 flags)
{
	struct seccomp_denial_event *e;

	e = rp_ringbuf_reserve(&events, &lost_events, sizeof(*e));
	if (!e)
		return;
	e->timestamp_ns = bpf_ktime_get_ns();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->syscall_nr = nr;
	e->action = action;
	e->data = data;
	e->flags = flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->cgroup_name[0] = 0;
	current_cgroup_name(e->cgroup_name, sizeof(e->cgroup_name));
	bpf_ringbuf_submit(e, 0);
}

/* Counts one denial of the current thread: `action` (& ACTION_FULL), `data` (& DATA). */
static __noinline int record_denial(void *ctx, __u32 nr, __u32 action, __u32 data, __u32 flags)
{
	struct seccomp_denial_key key = {};
	struct seccomp_denial_value *v;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	long err;

	count_total(nr, action, data, flags);
	if (events_enabled)
		send_event(pid_tgid, nr, action, data, flags);

	key.pid = pid_tgid >> 32;
	key.syscall_nr = nr;
	key.action = action;
	if (flags & SECCOMP_DENIAL_F_INFERRED)
		count(SECCOMP_CNT_INFERRED);

	v = bpf_map_lookup_elem(&denials, &key);
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		if (v->data != data && !(v->flags & SECCOMP_DENIAL_F_DATA_VARIES))
			v->flags |= SECCOMP_DENIAL_F_DATA_VARIES; /* flags only gain bits: races benign */
		if ((v->flags | flags) != v->flags)
			v->flags |= flags;
	} else {
		struct seccomp_denial_value nv = {};

		nv.count = 1;
		nv.data = data;
		nv.flags = flags;
		bpf_get_current_comm(nv.comm, sizeof(nv.comm));
		current_cgroup_name(nv.cgroup_name, sizeof(nv.cgroup_name));
		err = bpf_map_update_elem(&denials, &key, &nv, BPF_NOEXIST);
		if (err == -SC_EEXIST) {
			/* Another CPU created it first. */
			v = bpf_map_lookup_elem(&denials, &key);
			if (v)
				__sync_fetch_and_add(&v->count, 1);
		} else if (err) {
			count(SECCOMP_CNT_MAP_FULL);
			return 0;
		}
	}
	count(SECCOMP_CNT_DENIALS);

	if (stack_traces_enabled) {
		struct seccomp_stack_key sk = {
			.pid = key.pid,
			.syscall_nr = nr,
			.action = action,
		};
		__u64 one = 1, *n;

		sk.stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		if (sk.stack_id < 0) {
			count(SECCOMP_CNT_STACK_ERRORS);
			sk.stack_id = -1;
		}
		n = bpf_map_lookup_elem(&stack_counts, &sk);
		if (n) {
			__sync_fetch_and_add(n, 1);
		} else {
			err = bpf_map_update_elem(&stack_counts, &sk, &one, BPF_NOEXIST);
			if (err == -SC_EEXIST) {
				n = bpf_map_lookup_elem(&stack_counts, &sk);
				if (n)
					__sync_fetch_and_add(n, 1);
			} else if (err) {
				count(SECCOMP_CNT_STACK_MAP_FULL);
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Hooks.
 */

/* The current thread's state: task storage (tp_btf mode: `task` is a BTF pointer), or its entry
 * in task_states (raw). `create` makes a zeroed one when there is none. */
static __always_inline struct seccomp_task_state *state_of(struct task_struct *task, bool create,
							   const bool raw)
{
	struct seccomp_task_state *st;
	__u32 tid;

	if (!raw)
		return bpf_task_storage_get(&task_state, task, 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	tid = (__u32)bpf_get_current_pid_tgid();
	st = bpf_map_lookup_elem(&task_states, &tid);
	if (st || !create)
		return st;
	struct seccomp_task_state fresh = {};

	bpf_map_update_elem(&task_states, &tid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&task_states, &tid);
}

/* task_pt_regs(task): bpf_task_pt_regs (tp_btf mode), or task->stack + regs_offset (raw; NULL
 * until the first raw sys_exit measured the offset). */
static __always_inline struct pt_regs *regs_of(struct task_struct *task, const bool raw)
{
	__u64 off = regs_offset;
	void *stack;

	if (!raw)
		return (struct pt_regs *)bpf_task_pt_regs(task);
	if (!off)
		return NULL;
	stack = BPF_CORE_READ(task, stack);
	return stack ? (struct pt_regs *)((__u64)stack + off) : NULL;
}

/* task->seccomp.mode: a BTF load (tp_btf mode), or a probe read (raw). */
static __always_inline int seccomp_mode(struct task_struct *task, const bool raw)
{
	if (!raw)
		return task->seccomp.mode;
	return BPF_CORE_READ(task, seccomp.mode);
}

static __always_inline int on_sys_enter(struct task_struct *task, const bool raw)
{
	struct seccomp_task_state *st;

	/* Every system call of every task comes here: unfiltered tasks leave at once. */
	if (seccomp_mode(task, raw) != SC_MODE_FILTER)
		return 0;
	st = state_of(task, true, raw);
	if (!st) {
		count(SECCOMP_CNT_STATE_ERRORS);
		return 0;
	}
	st->entered = 1;
	return 0;
}

/* use_entry_marks only (not loaded otherwise). */
SEC("tp_btf/sys_enter")
int BPF_PROG(seccomp_sys_enter, struct pt_regs *regs, long id)
{
	return on_sys_enter(bpf_get_current_task_btf(), false);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(seccomp_sys_enter_raw, struct pt_regs *regs, long id)
{
	return on_sys_enter((struct task_struct *)bpf_get_current_task(), true);
}

/* clone, clone3, fork, vfork: a new thread's first system call exit is the return from one. */
static __always_inline bool is_clone_nr(long nr, bool compat)
{
#if defined(__TARGET_ARCH_x86)
	if (compat)
		return nr == 120 || nr == 2 || nr == 190 || nr == 435;
	return nr == 56 || nr == 57 || nr == 58 || nr == 435;
#elif defined(__TARGET_ARCH_arm64)
	return nr == 220 || nr == 435;
#else
	return false;
#endif
}

/* use_entry_marks: a system call of a filtered thread ended without passing sys_enter. `known`: the
 * thread was already filtered when the system call began (else it may have become filtered during
 * it). */
static __noinline int on_skipped(void *ctx, struct task_struct *task, struct pt_regs *regs,
				 long ret, bool known)
{
	long nr = regs_syscall_nr(regs);
	bool compat = syscall_is_compat(task);
	__u32 verdict = 0, action, data, flags = compat ? SECCOMP_DENIAL_F_COMPAT : 0;

	/* A tracer cancelled it (orig_ax = -1), or PTRACE_SYSEMU skips every system call. */
	if (nr < 0 || task_syscall_work(task, true)) {
		count(SECCOMP_CNT_PTRACE_SKIPS);
		return 0;
	}

	/* A new thread's first return (from clone in the child) never passed sys_enter in it. */
	if (!known && ret == 0 && is_clone_nr(nr, compat)) {
		count(SECCOMP_CNT_NOT_DENIED);
		return 0;
	}

	if (replay_enabled)
		count(SECCOMP_CNT_REPLAYS);
	if (replay_filters(task, regs, (__u32)nr, compat, &verdict) == 0) {
		action = verdict & SECCOMP_TRACER_RET_ACTION_FULL;
		data = verdict & SECCOMP_TRACER_RET_DATA;
		if (action == SECCOMP_TRACER_RET_ERRNO) {
			long expect = -(long)(data > SC_MAX_ERRNO ? SC_MAX_ERRNO : data);

			if (ret == expect)
				return record_denial(ctx, (__u32)nr, action, data, flags);
			count(known ? SECCOMP_CNT_MISMATCH : SECCOMP_CNT_NOT_DENIED);
			return 0;
		}
		if (action == SECCOMP_TRACER_RET_TRACE || action == SECCOMP_TRACER_RET_USER_NOTIF ||
		    action == SECCOMP_TRACER_RET_ALLOW || action == SECCOMP_TRACER_RET_LOG) {
			/* Not a denial: a tracer or a notifier decided, or (first syscall of the thread)
			 * the thread was not filtered yet when it entered. */
			count(SECCOMP_CNT_NOT_DENIED);
			return 0;
		}
		/* KILL and TRAP send SIGSYS and are counted there; reaching here means the filters
		 * changed since the kernel ran them. */
		count(SECCOMP_CNT_MISMATCH);
		return 0;
	}

	if (replay_enabled)
		count(SECCOMP_CNT_REPLAY_ERRORS);
	if (!known) {
		count(SECCOMP_CNT_UNKNOWN_SKIPS);
		return 0;
	}
	/* Inference without the filters: ERRNO sets the return value to -data and skips. TRACE
	 * without a tracer gives -ENOSYS; a notifier's answer can be anything; a tracer at the
	 * syscall-entry stop can skip with -ENOSYS. Those are left out. */
	if (has_listener(task) || (task_syscall_work(task, false) && ret == -SC_ENOSYS) ||
	    ret > 0 || ret < -SC_MAX_ERRNO) {
		count(SECCOMP_CNT_NOT_DENIED);
		return 0;
	}
	return record_denial(ctx, (__u32)nr, SECCOMP_TRACER_RET_ERRNO, (__u32)(-ret),
			     flags | SECCOMP_DENIAL_F_INFERRED);
}

/* use_entry_marks: the exit of a filtered thread's system call. */
static __always_inline int exit_with_marks(void *ctx, struct task_struct *task,
					   struct pt_regs *regs, long ret, const bool raw)
{
	struct seccomp_task_state *st;
	bool known;

	st = state_of(task, true, raw);
	if (!st) {
		count(SECCOMP_CNT_STATE_ERRORS);
		return 0;
	}
	if (st->entered | st->signaled) {
		/* Ran normally, or its SIGSYS (TRAP) was already counted. */
		st->entered = 0;
		st->signaled = 0;
		st->known = 1;
		return 0;
	}
	known = st->known;
	st->known = 1;
	return on_skipped(ctx, task, regs, ret, known);
}

static __noinline int exit_with_marks_btf(void *ctx, struct task_struct *task,
					  struct pt_regs *regs, long ret)
{
	return exit_with_marks(ctx, task, regs, ret, false);
}

static __noinline int exit_with_marks_raw(void *ctx, struct task_struct *task,
					  struct pt_regs *regs, long ret)
{
	return exit_with_marks(ctx, task, regs, ret, true);
}

/* A filtered thread's system call returned 0..-4095: was it ERRNO? */
static __noinline int exit_with_replay(void *ctx, struct task_struct *task, struct pt_regs *regs,
				       long ret)
{
	long nr = regs_syscall_nr(regs);
	bool compat = syscall_is_compat(task);
	__u64 filter = (__u64)BPF_CORE_READ(task, seccomp.filter);
	__u32 verdict = 0, action, data;

	/* nr < 0: a tracer cancelled the call, or rt_sigreturn reset orig_ax. */
	if (nr < 0 || !filter || cache_allows(filter, nr, compat))
		return 0;
	/* PTRACE_SYSEMU skips every call before seccomp runs. */
	if (task_syscall_work(task, true)) {
		count(SECCOMP_CNT_PTRACE_SKIPS);
		return 0;
	}
	count(SECCOMP_CNT_REPLAYS);
	if (replay_filters(task, regs, (__u32)nr, compat, &verdict) != 0) {
		count(SECCOMP_CNT_REPLAY_ERRORS);
		return 0;
	}
	action = verdict & SECCOMP_TRACER_RET_ACTION_FULL;
	data = verdict & SECCOMP_TRACER_RET_DATA;
	if (action == SECCOMP_TRACER_RET_ERRNO &&
	    ret == -(long)(data > SC_MAX_ERRNO ? SC_MAX_ERRNO : data))
		return record_denial(ctx, (__u32)nr, action, data,
				     compat ? SECCOMP_DENIAL_F_COMPAT : 0);
	/* Allowed (and failed by itself), TRACE or USER_NOTIF, or TRAP (counted at its SIGSYS). */
	count(SECCOMP_CNT_NOT_DENIED);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(seccomp_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();

	/* Every system call of every task comes here: unfiltered tasks leave at the first test. */
	if (task->seccomp.mode != SC_MODE_FILTER)
		return 0;
	if (use_entry_marks)
		return exit_with_marks_btf(ctx, task, regs, ret);
	/* ERRNO makes the call return -data, data <= 4095: anything else was not denied. */
	if (ret > 0 || ret < -SC_MAX_ERRNO)
		return 0;
	return exit_with_replay(ctx, task, regs, ret);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(seccomp_sys_exit_raw, struct pt_regs *regs, long ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!regs_offset) {
		__u64 stack = (__u64)BPF_CORE_READ(task, stack);

		if (stack && (__u64)regs > stack)
			regs_offset = (__u64)regs - stack;
	}
	/* Every system call of every task comes here; a probe read instead of tp_btf's load. */
	if (BPF_CORE_READ(task, seccomp.mode) != SC_MODE_FILTER)
		return 0;
	if (use_entry_marks)
		return exit_with_marks_raw(ctx, task, regs, ret);
	if (ret > 0 || ret < -SC_MAX_ERRNO)
		return 0;
	return exit_with_replay(ctx, task, regs, ret);
}

/* The actions __seccomp_filter() kills for: KILL_PROCESS, KILL_THREAD and any unknown value. */
static __always_inline bool is_kill_action(__u32 action)
{
	return action != SECCOMP_TRACER_RET_TRAP && action != SECCOMP_TRACER_RET_ERRNO &&
	       action != SECCOMP_TRACER_RET_TRACE && action != SECCOMP_TRACER_RET_USER_NOTIF &&
	       action != SECCOMP_TRACER_RET_LOG && action != SECCOMP_TRACER_RET_ALLOW;
}

/* seccomp's SIGSYS to the current thread: TRAP, or a KILL that goes through a signal (KILL_PROCESS,
 * or KILL_THREAD of the last thread). */
static __always_inline int on_sigsys(void *ctx, struct kernel_siginfo *info,
				     struct task_struct *target, struct task_struct *task,
				     const bool raw)
{
	struct seccomp_task_state *st;
	struct pt_regs *regs;
	__u32 nr, data, action, verdict = 0, flags = 0;
	bool compat;
	int mode;

	if (target != task || (unsigned long)info <= 1 /* SEND_SIG_NOINFO / _PRIV */)
		return 0;
	if (BPF_CORE_READ(info, si_code) != SC_SYS_SECCOMP)
		return 0;
	mode = seccomp_mode(task, raw);
	if (mode != SC_MODE_FILTER && mode != SC_MODE_DEAD)
		return 0;
	nr = BPF_CORE_READ(info, _sifields._sigsys._syscall);
	data = BPF_CORE_READ(info, si_errno) & SECCOMP_TRACER_RET_DATA;
	regs = regs_of(task, raw);
	/* seccomp signals the system call in progress; anything else is a forged siginfo. */
	if (!regs || (__u32)regs_syscall_nr(regs) != nr)
		return 0;
	compat = syscall_is_compat(task);
	if (compat)
		flags |= SECCOMP_DENIAL_F_COMPAT;

	/* Tell the thread's exit (KILL) and, with entry marks, its sys_exit (TRAP) that this call is
	 * counted. Replay mode's sys_exit needs no flag: it replays TRAP and leaves it to us. */
	if (mode == SC_MODE_DEAD || use_entry_marks) {
		st = state_of(task, true, raw);
		if (st)
			st->signaled = 1;
		else
			count(SECCOMP_CNT_STATE_ERRORS);
	}

	if (mode == SC_MODE_FILTER) {
		/* Only TRAP signals and leaves the thread alive; action and data come from the signal. */
		action = SECCOMP_TRACER_RET_TRAP;
	} else {
		/* A KILL: which one only the filters say. */
		action = SECCOMP_TRACER_RET_KILL_PROCESS;
		if (replay_enabled)
			count(SECCOMP_CNT_REPLAYS);
		if (replay_filters(task, regs, nr, compat, &verdict) == 0 &&
		    is_kill_action(verdict & SECCOMP_TRACER_RET_ACTION_FULL)) {
			action = verdict & SECCOMP_TRACER_RET_ACTION_FULL;
		} else {
			/* KILL_THREAD of a thread with siblings never signals, so a signal with siblings
			 * alive is KILL_PROCESS; a lone thread's KILL_THREAD looks the same and is
			 * reported as KILL_PROCESS (same effect: the process dies of SIGSYS). */
			if (replay_enabled)
				count(SECCOMP_CNT_REPLAY_ERRORS);
			if (BPF_CORE_READ(task, signal, live.counter) <= 1)
				flags |= SECCOMP_DENIAL_F_INFERRED;
		}
	}
	return record_denial(ctx, nr, action, data, flags);
}

static __noinline int on_sigsys_btf(void *ctx, struct kernel_siginfo *info,
				    struct task_struct *target)
{
	return on_sigsys(ctx, info, target, bpf_get_current_task_btf(), false);
}

static __noinline int on_sigsys_raw(void *ctx, struct kernel_siginfo *info,
				    struct task_struct *target)
{
	return on_sigsys(ctx, info, target, (struct task_struct *)bpf_get_current_task(), true);
}

SEC("tp_btf/signal_generate")
int BPF_PROG(seccomp_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *t)
{
	if (sig != SC_SIGSYS)
		return 0;
	return on_sigsys_btf(ctx, info, t);
}

SEC("raw_tp/signal_generate")
int BPF_PROG(seccomp_signal_generate_raw, int sig, struct kernel_siginfo *info,
	     struct task_struct *t)
{
	if (sig != SC_SIGSYS)
		return 0;
	return on_sigsys_raw(ctx, info, t);
}

/* KILL_THREAD with other threads alive: do_exit(SIGSYS) right from the filter, no signal. */
static __always_inline int on_dead_exit(void *ctx, struct task_struct *task, const bool raw)
{
	struct seccomp_task_state *st;
	struct pt_regs *regs;
	long nr;

	if (BPF_CORE_READ(task, exit_code) != SC_SIGSYS)
		return 0; /* strict mode kills with SIGKILL */
	st = state_of(task, false, raw);
	if (st && st->signaled)
		return 0; /* counted at its SIGSYS */
	regs = regs_of(task, raw);
	if (!regs)
		return 0;
	nr = regs_syscall_nr(regs);
	if (nr < 0)
		return 0;
	count(SECCOMP_CNT_KILL_THREAD_EXITS);
	return record_denial(ctx, (__u32)nr, SECCOMP_TRACER_RET_KILL_THREAD, 0,
			     SECCOMP_DENIAL_F_DATA_UNKNOWN);
}

static __noinline int on_dead_exit_btf(void *ctx, struct task_struct *task)
{
	return on_dead_exit(ctx, task, false);
}

static __noinline int on_dead_exit_raw(void *ctx, struct task_struct *task)
{
	return on_dead_exit(ctx, task, true);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(seccomp_process_exit, struct task_struct *p)
{
	struct task_struct *task = bpf_get_current_task_btf();

	/* Every thread exit comes here: only a thread seccomp killed has mode DEAD. */
	if (task->seccomp.mode != SC_MODE_DEAD)
		return 0;
	return on_dead_exit_btf(ctx, task);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(seccomp_process_exit_raw, struct task_struct *p)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tid;
	int r;

	if (BPF_CORE_READ(task, seccomp.mode) != SC_MODE_DEAD) {
		/* The thread's state dies with it (task storage does that by itself). */
		if (use_entry_marks) {
			tid = (__u32)bpf_get_current_pid_tgid();
			bpf_map_delete_elem(&task_states, &tid);
		}
		return 0;
	}
	r = on_dead_exit_raw(ctx, task);
	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&task_states, &tid);
	return r;
}

/* Fallback on kernels with kprobes but no usable tp_btf: system-probe's hook, which sees the
 * filters' verdict directly. Not loaded unless user space chooses it. */
SEC("kretprobe/seccomp_run_filters")
int BPF_KRETPROBE(seccomp_run_filters_ret, __u32 ret)
{
	__u32 action = ret & SECCOMP_TRACER_RET_ACTION_FULL;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	long nr;

	if (action == SECCOMP_TRACER_RET_ALLOW || action == SECCOMP_TRACER_RET_LOG ||
	    action == SECCOMP_TRACER_RET_USER_NOTIF || action == SECCOMP_TRACER_RET_TRACE)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return 0;
	nr = regs_syscall_nr(regs);
	if (nr < 0)
		return 0;
	return record_denial(ctx, (__u32)nr, action, ret & SECCOMP_TRACER_RET_DATA,
			     syscall_is_compat(task) ? SECCOMP_DENIAL_F_COMPAT : 0);
}
