/* gpu_overhead.c — what the gpu module's uprobes cost a CUDA program, per call.
 *
 *   gpu_overhead LIBCUDART [CALLS]     (tools/bench/gpu_overhead.sh runs it)
 *
 * dlopens LIBCUDART (the fake runtime of tests/bpf/gpu/fake_cudart.c: every call returns at once,
 * so what is timed is the call plus whatever is attached to it), prints "ready <pid>", waits for
 * one byte on stdin (the script lets it go once the daemon traces it, or at once without a
 * daemon), then times CALLS iterations of each case and prints "  <case> <ns per call>":
 *   launch        cudaLaunchKernel(k, grid (1,2,3), block (4,5,6), args, 10, stream 30): one
 *                 uprobe that reads two stack words and writes a 72-byte record
 *   malloc_free   cudaMalloc + cudaFree: an entry probe, a return probe, two records (per pair)
 *   stream_sync   cudaStreamSynchronize(30): an entry probe and a return probe, one record
 *   openat        open("/etc/hostname") + close: not CUDA, but every openat on the host runs the
 *                 module's two syscall tracepoints
 * Each case is timed 5 times; the line gives the fastest (the least disturbed by other work). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../../tests/bpf/gpu/fake_cuda.h"

static cudaError_t (*launch)(const void *, dim3, dim3, void **, size_t, cudaStream_t);
static cudaError_t (*cmalloc)(void **, size_t);
static cudaError_t (*cfree)(void *);
static cudaError_t (*stream_sync)(cudaStream_t);

static void kernel(void) {}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

#define TIME_CASE(name, body)                                                                      \
	do {                                                                                       \
		double best = 1e30;                                                                \
		for (int rep = 0; rep < 5; rep++) {                                                \
			double t0 = now_ns();                                                      \
			for (long i = 0; i < calls; i++) {                                         \
				body;                                                              \
			}                                                                          \
			double ns = (now_ns() - t0) / calls;                                       \
			if (ns < best)                                                             \
				best = ns;                                                         \
		}                                                                                  \
		printf("  %-12s %10.1f\n", name, best);                                            \
	} while (0)

int main(int argc, char **argv)
{
	long calls = argc > 2 ? atol(argv[2]) : 200000;
	dim3 grid = { 1, 2, 3 }, block = { 4, 5, 6 };
	void *args[1] = { 0 };
	void *lib;
	char go;

	if (argc < 2) {
		fprintf(stderr, "usage: gpu_overhead LIBCUDART [CALLS]\n");
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "gpu_overhead: %s\n", dlerror());
		return 2;
	}
	launch = dlsym(lib, "cudaLaunchKernel");
	cmalloc = dlsym(lib, "cudaMalloc");
	cfree = dlsym(lib, "cudaFree");
	stream_sync = dlsym(lib, "cudaStreamSynchronize");
	if (!launch || !cmalloc || !cfree || !stream_sync) {
		fprintf(stderr, "gpu_overhead: %s lacks a cuda* function\n", argv[1]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	if (read(0, &go, 1) != 1)
		return 3;
	TIME_CASE("launch", launch((const void *)kernel, grid, block, args, 10, (cudaStream_t)30));
	TIME_CASE("malloc_free", {
		void *p;
		cmalloc(&p, 4096);
		cfree(p);
	});
	TIME_CASE("stream_sync", stream_sync((cudaStream_t)30));
	TIME_CASE("openat", {
		int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
	});
	return 0;
}
