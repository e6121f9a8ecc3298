/* cuda_sample.c — a "CUDA program" for the gpu module's tests, driven by a script.
 *
 *   cuda_sample LIBRARY SCRIPT        the runtime is dlopen(LIBRARY) (a libcudart.so)
 *   cuda_sample_static - SCRIPT       the runtime is linked in (built with -DRP_STATIC_CUDA)
 *
 * It prints "ready <pid>" once the runtime is loaded, then runs SCRIPT one character at a time:
 *   w  print "wait <n>" (n counts the waits from 1) and read one byte from stdin
 *   m  cudaMalloc(&p, 1 MiB)             f  cudaFree(p)
 *   l  cudaLaunchKernel(k, grid (1,2,3), block (4,5,6), args, sharedMem 10, stream 30)
 *   k  the same launch on stream 31      L  the same launch on the default stream (0)
 *   s  cudaStreamSynchronize(30)         c  cudaMemcpy(dst, src, 16, 1)
 *   r  cudaEventRecord(0x77, 31)         y  cudaEventSynchronize(0x77)
 *   q  cudaEventQuery(0x77)              x  cudaEventDestroy(0x77)
 *   v  setenv("CUDA_VISIBLE_DEVICES", "1", 1)   d  cudaSetDevice(0)
 *   z  sleep 100 ms
 * and prints "done" before it exits 0. The numbers are system-probe's own test values
 * (pkg/gpu/testutil/testdata/cudasample.c). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_cuda.h"

#define ALLOC_BYTES (1u << 20)
#define SHARED_MEM 10
#define EVENT ((cudaEvent_t)0x77)

static cudaError_t (*launch)(const void *, dim3, dim3, void **, size_t, cudaStream_t);
static cudaError_t (*cmalloc)(void **, size_t);
static cudaError_t (*cfree)(void *);
static cudaError_t (*stream_sync)(cudaStream_t);
static cudaError_t (*set_device)(int);
static cudaError_t (*event_record)(cudaEvent_t, cudaStream_t);
static cudaError_t (*event_query)(cudaEvent_t);
static cudaError_t (*event_sync)(cudaEvent_t);
static cudaError_t (*event_destroy)(cudaEvent_t);
static cudaError_t (*memcpy_)(void *, const void *, size_t, int);

static void kernel(void) {}

static void *need(void *lib, const char *name)
{
	void *f = dlsym(lib, name);

	if (!f) {
		fprintf(stderr, "cuda_sample: %s: %s\n", name, dlerror());
		exit(2);
	}
	return f;
}

static void load(const char *path)
{
#ifdef RP_STATIC_CUDA
	(void)path;
	launch = cudaLaunchKernel;
	cmalloc = cudaMalloc;
	cfree = cudaFree;
	stream_sync = cudaStreamSynchronize;
	set_device = cudaSetDevice;
	event_record = cudaEventRecord;
	event_query = cudaEventQuery;
	event_sync = cudaEventSynchronize;
	event_destroy = cudaEventDestroy;
	memcpy_ = cudaMemcpy;
#else
	void *lib = dlopen(path, RTLD_NOW);

	if (!lib) {
		fprintf(stderr, "cuda_sample: dlopen %s: %s\n", path, dlerror());
		exit(2);
	}
	launch = need(lib, "cudaLaunchKernel");
	cmalloc = need(lib, "cudaMalloc");
	cfree = need(lib, "cudaFree");
	stream_sync = need(lib, "cudaStreamSynchronize");
	set_device = need(lib, "cudaSetDevice");
	event_record = need(lib, "cudaEventRecord");
	event_query = need(lib, "cudaEventQuery");
	event_sync = need(lib, "cudaEventSynchronize");
	event_destroy = need(lib, "cudaEventDestroy");
	memcpy_ = need(lib, "cudaMemcpy");
#endif
}

int main(int argc, char **argv)
{
	dim3 grid = { 1, 2, 3 }, block = { 4, 5, 6 };
	void *args[1] = { 0 };
	void *p = NULL;
	char src[16] = { 0 }, dst[16];
	int waits = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: cuda_sample LIBRARY|- SCRIPT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	load(argv[1]);
	printf("ready %d\n", (int)getpid());
	for (const char *c = argv[2]; *c; c++) {
		switch (*c) {
		case 'w': {
			char b;

			printf("wait %d\n", ++waits);
			if (read(0, &b, 1) != 1)
				return 3;
			break;
		}
		case 'm':
			cmalloc(&p, ALLOC_BYTES);
			break;
		case 'f':
			cfree(p);
			break;
		case 'l':
			launch((const void *)kernel, grid, block, args, SHARED_MEM, (cudaStream_t)30);
			break;
		case 'k':
			launch((const void *)kernel, grid, block, args, SHARED_MEM, (cudaStream_t)31);
			break;
		case 'L':
			launch((const void *)kernel, grid, block, args, SHARED_MEM, (cudaStream_t)0);
			break;
		case 's':
			stream_sync((cudaStream_t)30);
			break;
		case 'c':
			memcpy_(dst, src, sizeof(src), 1);
			break;
		case 'r':
			event_record(EVENT, (cudaStream_t)31);
			break;
		case 'y':
			event_sync(EVENT);
			break;
		case 'q':
			event_query(EVENT);
			break;
		case 'x':
			event_destroy(EVENT);
			break;
		case 'v':
			setenv("CUDA_VISIBLE_DEVICES", "1", 1);
			break;
		case 'd':
			set_device(0);
			break;
		case 'z': {
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			break;
		}
		default:
			fprintf(stderr, "cuda_sample: unknown step '%c'\n", *c);
			return 2;
		}
	}
	printf("done\n");
	return 0;
}
