/* gpu.h — the records bpf/gpu.bpf.c sends to modules/gpu through the `cuda_events` ring buffer.
 *
 * Two families share the ring (so that a process's exit is read after its last CUDA call):
 *   - CUDA runtime calls, from uprobes on libcudart (or an executable that links it statically):
 *     kernel launches, allocations and frees, synchronisations, cudaSetDevice, and libc's
 *     setenv("CUDA_VISIBLE_DEVICES", ...). Types 0..4 are system-probe's cuda_event_type values.
 *   - process lifecycle, from tracepoints: an exec, the exit of a traced process, and a successful
 *     openat() of a file named libcudart.so* (the dynamic loader about to map it).
 * Every record starts with struct gpu_event_header; user space reads `type` first and checks the
 * size for that type. Fixed-width types only, every padding byte explicit (the C++ side
 * static_asserts the sizes).
 *
 * Field provenance and the differences from system-probe's pkg/gpu/ebpf/c/types.h:
 * docs/modules/gpu.md.
 */
#ifndef RINGPROBE_BPF_GPU_H
#define RINGPROBE_BPF_GPU_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define GPU_PATH_LEN 256
#define GPU_VISIBLE_DEVICES_LEN 256

enum gpu_event_type {
	GPU_EV_KERNEL_LAUNCH = 0,
	GPU_EV_MEMORY = 1,
	GPU_EV_SYNC = 2,
	GPU_EV_SET_DEVICE = 3,
	GPU_EV_VISIBLE_DEVICES_SET = 4,
	GPU_EV_CUDA_TYPES = 5, /* CUDA call records are the types below this one */
	GPU_EV_PROC_EXEC = 100,
	GPU_EV_PROC_EXIT = 101,
	GPU_EV_LIB_OPEN = 102,
};

/* gpu_memory_event.kind (system-probe's cudaMalloc / cudaFree) */
enum gpu_memory_kind {
	GPU_MEM_MALLOC = 0,
	GPU_MEM_FREE = 1,
};

/* gpu_event_header.flags */
enum gpu_event_flags {
	/* cudaLaunchKernel: the stack arguments (shared memory, stream) could not be read, or this
	 * architecture's calling convention is not implemented: both are 0. */
	GPU_F_NO_STACK_ARGS = 1 << 0,
};

struct gpu_event_header {
	__u64 pid_tgid;  /* bpf_get_current_pid_tgid(): tgid << 32 | thread id */
	__u64 stream_id; /* cudaStream_t of the call; 0 = the default (global) stream */
	__u64 ktime_ns;  /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 type;      /* enum gpu_event_type */
	__u32 flags;     /* enum gpu_event_flags */
};

struct gpu_dim3 {
	__u32 x, y, z;
};

/* cudaLaunchKernel(func, gridDim, blockDim, args, sharedMem, stream) */
struct gpu_kernel_launch {
	struct gpu_event_header hdr;
	__u64 kernel_addr;     /* func */
	__u64 shared_mem_size; /* sharedMem (bytes of dynamic shared memory per block) */
	struct gpu_dim3 grid;
	struct gpu_dim3 block;
};

/* return of a successful cudaMalloc(&ptr, size) (addr = *devPtr), or cudaFree(addr) */
struct gpu_memory_event {
	struct gpu_event_header hdr;
	__u64 size; /* 0 for a free */
	__u64 addr;
	__u32 kind; /* enum gpu_memory_kind */
	__u32 _pad0;
};

/* return of cudaStreamSynchronize(stream); successful return of cudaEventQuery/Synchronize
 * (hdr.stream_id = the stream the event was recorded on); return of cudaMemcpy (stream 0) */
struct gpu_sync {
	struct gpu_event_header hdr;
};

/* successful return of cudaSetDevice(device) (per thread) */
struct gpu_set_device {
	struct gpu_event_header hdr;
	__s32 device;
	__u32 _pad0;
};

/* setenv("CUDA_VISIBLE_DEVICES", value, ...) */
struct gpu_visible_devices {
	struct gpu_event_header hdr;
	char value[GPU_VISIBLE_DEVICES_LEN]; /* NUL-terminated (truncated when longer) */
};

/* GPU_EV_PROC_EXEC (any exec whose executable is not known to lack the CUDA runtime) and
 * GPU_EV_PROC_EXIT (the thread-group leader of a pid in traced_pids exits): the header only,
 * stream_id 0. */
struct gpu_proc_event {
	struct gpu_event_header hdr;
};

/* GPU_EV_LIB_OPEN: openat() returned a descriptor for a path whose last component starts with
 * "libcudart.so" */
struct gpu_lib_open {
	struct gpu_event_header hdr;
	char path[GPU_PATH_LEN]; /* as the process passed it (absolute, or relative to its cwd) */
};

/* exe_verdicts map: an executable by inode -> whether it holds the CUDA runtime (user space
 * fills it after it has read the file's symbols; an exec of a known non-CUDA file is not sent) */
struct gpu_file_key {
	__u64 ino;
	__u32 dev; /* the kernel's dev_t encoding: major << 20 | minor */
	__u32 _pad0;
};

#endif /* RINGPROBE_BPF_GPU_H */
