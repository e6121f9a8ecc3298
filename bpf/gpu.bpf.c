// SPDX-License-Identifier: GPL-2.0
/* gpu.bpf.c — the gpu module's kernel side: CUDA runtime calls and process lifecycle into one ring
 * buffer (`cuda_events`, records in bpf/gpu.h).
 *
 * Uprobes (SEC("uprobe")/SEC("uretprobe"), attached by user space to each libcudart file, or to an
 * executable that links the runtime statically, and to libc for setenv): system-probe's set from
 * pkg/gpu/ebpf/c/runtime/gpu.c — cudaLaunchKernel, cudaMalloc (+ret), cudaFree,
 * cudaStreamSynchronize (+ret), cudaSetDevice (+ret), cudaEventRecord, cudaEventQuery (+ret),
 * cudaEventSynchronize (+ret), cudaEventDestroy, cudaMemcpy (+ret), setenv. An entry probe saves
 * the arguments per thread in an LRU map; the return probe emits the record.
 *
 * Process lifecycle (what system-probe takes from event_monitor and its shared-libraries probe):
 * tp_btf/sched_process_exec (every exec, except of files user space already knows lack the CUDA
 * runtime: exe_verdicts), tracepoint/sched/sched_process_exit (leaders of pids in traced_pids
 * only), and tracepoint/syscalls/sys_{enter,exit}_openat (a successful open of libcudart.so*).
 *
 * Wake-ups: CUDA records are submitted without a wake-up until `wakeup_bytes` wait in the ring
 * (system-probe's ringbuffer_wakeup_size); user space drains the rest on a timer. Lifecycle
 * records wake user space at once (an attach should not wait).
 *
 * Needs: uprobes, kernel BTF (tp_btf, CO-RE), BPF ring buffer (Linux >= 5.8), syscall tracepoints
 * (CONFIG_FTRACE_SYSCALLS) for library opens. Register access goes through bpf_tracing.h's
 * per-architecture PT_REGS_* macros; the stack arguments of cudaLaunchKernel are read for x86-64.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/gpu.h"
#include "bpf/lib/ringbuf.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile __u32 wakeup_bytes = 3000; /* gpu_monitoring.ringbuffer_wakeup_size */
const volatile __u32 self_tgid = 0;       /* the daemon: its execs and opens are not reported */

RP_RINGBUF(cuda_events, 256 * 1024); /* resized by user space */
RP_LOST_COUNTER(lost_events);

/* Per-thread arguments between an entry probe and its return probe (system-probe's caches; LRU so
 * that a thread killed inside the call leaves nothing behind for long). */
struct alloc_args {
	__u64 dev_ptr; /* void **devPtr */
	__u64 size;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct alloc_args);
} alloc_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64); /* stream */
} sync_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __s32); /* device */
} set_device_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64); /* cudaEvent_t */
} event_query_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64); /* count (a marker: the return probe only needs to know it entered) */
} memcpy_args SEC(".maps");

/* (cudaEvent_t, tgid) -> the stream it was recorded on. system-probe uses a hash map swept every
 * 5 minutes; an LRU map bounds it without a sweeper. */
struct event_key {
	__u64 event;
	__u32 tgid;
	__u32 _pad0;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct event_key);
	__type(value, __u64); /* stream */
} event_streams SEC(".maps");

/* Processes user space tracks (tgid -> 1): their leader's exit is reported, then removed here.
 * Sized by user space (ringprobe.gpu.max_processes). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} traced_pids SEC(".maps");

/* Executables user space has read: 0 = no CUDA runtime in it (its execs are not reported). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct gpu_file_key);
	__type(value, __u8);
} exe_verdicts SEC(".maps");

struct path_buf {
	char path[GPU_PATH_LEN];
};

/* openat() of a libcudart path in flight, per thread. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, struct path_buf);
} open_paths SEC(".maps");

/* Scratch for the path read at every openat (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} path_scratch SEC(".maps");

/* ------------------------------------------------------------------------------------------------
 * Records.
 */

static __always_inline void fill_header(struct gpu_event_header *h, __u64 pid_tgid,
					__u64 stream, __u32 type)
{
	h->pid_tgid = pid_tgid;
	h->stream_id = stream;
	h->ktime_ns = bpf_ktime_get_ns();
	h->type = type;
	h->flags = 0;
}

/* Submit flags of a CUDA record: wake user space only once `wakeup_bytes` are waiting. */
static __always_inline __u64 cuda_submit_flags(void)
{
	__u64 avail = bpf_ringbuf_query(&cuda_events, BPF_RB_AVAIL_DATA);

	return avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Copies a record built on the stack into the ring (counted as lost when it is full). */
static __always_inline void emit_cuda(void *rec, __u64 size)
{
	void *slot = rp_ringbuf_reserve(&cuda_events, &lost_events, size);

	if (!slot)
		return;
	__builtin_memcpy(slot, rec, size);
	bpf_ringbuf_submit(slot, cuda_submit_flags());
}

/* ------------------------------------------------------------------------------------------------
 * CUDA runtime uprobes.
 */

/* cudaLaunchKernel(const void *func, dim3 gridDim, dim3 blockDim, void **args, size_t sharedMem,
 * cudaStream_t stream). A dim3 (12 bytes) travels by value in two integer registers: x | y << 32,
 * then z. So func, grid and block fill the first five argument registers, args the sixth, and
 * sharedMem and stream are the 7th and 8th integer arguments. */
SEC("uprobe")
int BPF_KPROBE(gpu_launch_kernel, const void *func, __u64 grid_xy, __u64 grid_z, __u64 block_xy,
	       __u64 block_z)
{
	struct gpu_kernel_launch e = {};
	__u64 shared_mem = 0, stream = 0;
	__u32 flags = 0;

#if defined(bpf_target_x86)
	/* System V x86-64: at the first instruction the stack pointer points at the return address;
	 * the 7th and 8th integer arguments are the two words above it. */
	__u64 words[3];

	if (bpf_probe_read_user(words, sizeof(words), (void *)PT_REGS_SP(ctx)) == 0) {
		shared_mem = words[1];
		stream = words[2];
	} else {
		flags |= GPU_F_NO_STACK_ARGS;
	}
#else
	flags |= GPU_F_NO_STACK_ARGS; /* this architecture's 7th/8th arguments: not implemented */
#endif

	fill_header(&e.hdr, bpf_get_current_pid_tgid(), stream, GPU_EV_KERNEL_LAUNCH);
	e.hdr.flags = flags;
	e.kernel_addr = (__u64)func;
	e.shared_mem_size = shared_mem;
	e.grid.x = grid_xy & 0xffffffff;
	e.grid.y = grid_xy >> 32;
	e.grid.z = grid_z & 0xffffffff;
	e.block.x = block_xy & 0xffffffff;
	e.block.y = block_xy >> 32;
	e.block.z = block_z & 0xffffffff;
	emit_cuda(&e, sizeof(e));
	return 0;
}

/* cudaMalloc(void **devPtr, size_t size) */
SEC("uprobe")
int BPF_KPROBE(gpu_malloc, void **dev_ptr, __u64 size)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct alloc_args a = { .dev_ptr = (__u64)dev_ptr, .size = size };

	bpf_map_update_elem(&alloc_args, &id, &a, BPF_ANY);
	return 0;
}

/* Only a successful cudaMalloc (cudaSuccess = 0) allocated anything; system-probe also reports
 * failed ones, whose *devPtr is garbage. */
SEC("uretprobe")
int BPF_KRETPROBE(gpu_malloc_ret, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct alloc_args *a = bpf_map_lookup_elem(&alloc_args, &id);
	struct gpu_memory_event e = {};

	if (!a)
		return 0;
	if (ret == 0 &&
	    bpf_probe_read_user(&e.addr, sizeof(e.addr), (void *)a->dev_ptr) == 0) {
		fill_header(&e.hdr, id, 0, GPU_EV_MEMORY);
		e.size = a->size;
		e.kind = GPU_MEM_MALLOC;
		emit_cuda(&e, sizeof(e));
	}
	bpf_map_delete_elem(&alloc_args, &id);
	return 0;
}

/* cudaFree(void *devPtr) */
SEC("uprobe")
int BPF_KPROBE(gpu_free, void *ptr)
{
	struct gpu_memory_event e = {};

	fill_header(&e.hdr, bpf_get_current_pid_tgid(), 0, GPU_EV_MEMORY);
	e.addr = (__u64)ptr;
	e.kind = GPU_MEM_FREE;
	emit_cuda(&e, sizeof(e));
	return 0;
}

/* cudaStreamSynchronize(cudaStream_t stream) */
SEC("uprobe")
int BPF_KPROBE(gpu_stream_sync, __u64 stream)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&sync_args, &id, &stream, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(gpu_stream_sync_ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *stream = bpf_map_lookup_elem(&sync_args, &id);
	struct gpu_sync e = {};

	if (!stream)
		return 0;
	fill_header(&e.hdr, id, *stream, GPU_EV_SYNC);
	emit_cuda(&e, sizeof(e));
	bpf_map_delete_elem(&sync_args, &id);
	return 0;
}

/* cudaSetDevice(int device) */
SEC("uprobe")
int BPF_KPROBE(gpu_set_device, int device)
{
	__u64 id = bpf_get_current_pid_tgid();
	__s32 d = device;

	bpf_map_update_elem(&set_device_args, &id, &d, BPF_ANY);
	return 0;
}

/* system-probe deletes the saved argument from its sync cache here (a slip): ours goes. */
SEC("uretprobe")
int BPF_KRETPROBE(gpu_set_device_ret, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__s32 *device = bpf_map_lookup_elem(&set_device_args, &id);
	struct gpu_set_device e = {};

	if (!device)
		return 0;
	if (ret == 0) {
		fill_header(&e.hdr, id, 0, GPU_EV_SET_DEVICE);
		e.device = *device;
		emit_cuda(&e, sizeof(e));
	}
	bpf_map_delete_elem(&set_device_args, &id);
	return 0;
}

/* cudaEventRecord(cudaEvent_t event, cudaStream_t stream): remembered whatever it returns (a
 * failed record is overwritten or evicted later). */
SEC("uprobe")
int BPF_KPROBE(gpu_event_record, __u64 event, __u64 stream)
{
	struct event_key key = { .event = event, .tgid = bpf_get_current_pid_tgid() >> 32 };

	bpf_map_update_elem(&event_streams, &key, &stream, BPF_ANY);
	return 0;
}

/* cudaEventQuery(cudaEvent_t) / cudaEventSynchronize(cudaEvent_t) */
SEC("uprobe")
int BPF_KPROBE(gpu_event_query, __u64 event)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&event_query_args, &id, &event, BPF_ANY);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gpu_event_sync, __u64 event)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&event_query_args, &id, &event, BPF_ANY);
	return 0;
}

/* A successful query or synchronize means the work recorded before the event is done: a sync of
 * the stream the event was recorded on. */
static __always_inline int event_done(int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *event = bpf_map_lookup_elem(&event_query_args, &id);
	struct event_key key = {};
	struct gpu_sync e = {};
	__u64 *stream;

	if (!event)
		return 0;
	if (ret == 0) {
		key.event = *event;
		key.tgid = id >> 32;
		stream = bpf_map_lookup_elem(&event_streams, &key);
		if (stream) {
			fill_header(&e.hdr, id, *stream, GPU_EV_SYNC);
			emit_cuda(&e, sizeof(e));
		}
	}
	bpf_map_delete_elem(&event_query_args, &id);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(gpu_event_query_ret, int ret)
{
	return event_done(ret);
}

SEC("uretprobe")
int BPF_KRETPROBE(gpu_event_sync_ret, int ret)
{
	return event_done(ret);
}

/* cudaEventDestroy(cudaEvent_t) */
SEC("uprobe")
int BPF_KPROBE(gpu_event_destroy, __u64 event)
{
	struct event_key key = { .event = event, .tgid = bpf_get_current_pid_tgid() >> 32 };

	bpf_map_delete_elem(&event_streams, &key);
	return 0;
}

/* cudaMemcpy(dst, src, count, kind): a synchronous copy synchronises the default stream. */
SEC("uprobe")
int BPF_KPROBE(gpu_memcpy, void *dst, const void *src, __u64 count)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&memcpy_args, &id, &count, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(gpu_memcpy_ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gpu_sync e = {};

	if (!bpf_map_lookup_elem(&memcpy_args, &id))
		return 0;
	fill_header(&e.hdr, id, 0, GPU_EV_SYNC);
	emit_cuda(&e, sizeof(e));
	bpf_map_delete_elem(&memcpy_args, &id);
	return 0;
}

/* libc setenv(name, value, overwrite): only CUDA_VISIBLE_DEVICES is reported. */
SEC("uprobe")
int BPF_KPROBE(gpu_setenv, const char *name, const char *value)
{
	static const char wanted[] = "CUDA_VISIBLE_DEVICES";
	char buf[sizeof(wanted)];
	struct gpu_visible_devices *e;
	long n;

	n = bpf_probe_read_user_str(buf, sizeof(buf), name);
	if (n != sizeof(wanted))
		return 0;
	for (int i = 0; i < sizeof(wanted); i++)
		if (buf[i] != wanted[i])
			return 0;

	e = rp_ringbuf_reserve(&cuda_events, &lost_events, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->hdr, bpf_get_current_pid_tgid(), 0, GPU_EV_VISIBLE_DEVICES_SET);
	if (bpf_probe_read_user_str(e->value, sizeof(e->value), value) < 0)
		e->value[0] = 0;
	/* rare, and it decides which device the next calls land on: wake user space now */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Process lifecycle.
 */

static __always_inline void emit_proc(__u64 pid_tgid, __u32 type)
{
	struct gpu_proc_event *e = rp_ringbuf_reserve(&cuda_events, &lost_events, sizeof(*e));

	if (!e)
		return;
	fill_header(&e->hdr, pid_tgid, 0, type);
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(gpu_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gpu_file_key key = {};
	struct inode *inode;
	__u8 *verdict;

	if ((id >> 32) == self_tgid)
		return 0;
	inode = BPF_CORE_READ(bprm, file, f_inode);
	if (inode) {
		key.ino = BPF_CORE_READ(inode, i_ino);
		key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
		verdict = bpf_map_lookup_elem(&exe_verdicts, &key);
		/* a known non-CUDA executable, and nothing of this process to forget */
		if (verdict && *verdict == 0 && !bpf_map_lookup_elem(&traced_pids, &(__u32){ id >> 32 }))
			return 0;
	}
	emit_proc(id, GPU_EV_PROC_EXEC);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int gpu_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if ((__u32)id != tgid) /* a thread, not the process */
		return 0;
	if (!bpf_map_lookup_elem(&traced_pids, &tgid))
		return 0;
	bpf_map_delete_elem(&traced_pids, &tgid);
	emit_proc(id, GPU_EV_PROC_EXIT);
	return 0;
}

/* syscalls/sys_enter_openat and sys_exit_openat as tracefs lays them out (format files). */
struct openat_enter_args {
	__u64 common;
	__s32 syscall_nr;
	__u32 _pad0;
	__u64 dfd;
	const char *filename;
	__u64 flags;
	__u64 mode;
};

struct openat_exit_args {
	__u64 common;
	__s32 syscall_nr;
	__u32 _pad0;
	__s64 ret;
};

#define CUDART_PREFIX_LEN 12 /* "libcudart.so" */

/* Whether a path component of `p` starts with "libcudart.so" (user space then checks that it is
 * the last one). */
static __always_inline int is_cudart_path(const char *p)
{
	static const char prefix[CUDART_PREFIX_LEN] = "libcudart.so";

	for (int i = 0; i < GPU_PATH_LEN - CUDART_PREFIX_LEN; i++) {
		if (p[i] == 0)
			return 0;
		if (i > 0 && p[i - 1] != '/')
			continue;
		int same = 1;

		for (int j = 0; j < CUDART_PREFIX_LEN; j++) {
			if (p[i + j] != prefix[j]) {
				same = 0;
				break;
			}
		}
		if (same)
			return 1;
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int gpu_openat_enter(struct openat_enter_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	struct path_buf *buf;

	if ((id >> 32) == self_tgid)
		return 0;
	buf = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!buf)
		return 0;
	if (bpf_probe_read_user_str(buf->path, sizeof(buf->path), ctx->filename) <=
	    CUDART_PREFIX_LEN)
		return 0;
	if (!is_cudart_path(buf->path))
		return 0;
	bpf_map_update_elem(&open_paths, &id, buf, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int gpu_openat_exit(struct openat_exit_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct path_buf *buf = bpf_map_lookup_elem(&open_paths, &id);
	struct gpu_lib_open *e;

	if (!buf)
		return 0;
	if (ctx->ret >= 0) {
		e = rp_ringbuf_reserve(&cuda_events, &lost_events, sizeof(*e));
		if (e) {
			fill_header(&e->hdr, id, 0, GPU_EV_LIB_OPEN);
			__builtin_memcpy(e->path, buf->path, sizeof(e->path));
			bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
		}
	}
	bpf_map_delete_elem(&open_paths, &id);
	return 0;
}
