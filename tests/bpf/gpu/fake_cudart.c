/* fake_cudart.c — a CUDA runtime that does nothing: every function returns cudaSuccess (0) and
 * cudaMalloc hands out RP_FAKE_DEVICE_PTR. Built by the tests as libcudart.so (a shared library,
 * dlopened by cuda_sample) and linked into cuda_sample_static (the runtime linked statically).
 * The empty asm keeps each call a real call the uprobes can see. */
#include "fake_cuda.h"

#define KEEP __attribute__((noinline, used, visibility("default")))
#define BARRIER() __asm__ volatile("" ::: "memory")

KEEP cudaError_t cudaLaunchKernel(const void *func, dim3 gridDim, dim3 blockDim, void **args,
				  size_t sharedMem, cudaStream_t stream)
{
	BARRIER();
	return 0;
}

KEEP cudaError_t cudaMalloc(void **devPtr, size_t size)
{
	BARRIER();
	*devPtr = RP_FAKE_DEVICE_PTR;
	return 0;
}

KEEP cudaError_t cudaFree(void *devPtr)
{
	BARRIER();
	return 0;
}

KEEP cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
	BARRIER();
	return 0;
}

KEEP cudaError_t cudaSetDevice(int device)
{
	BARRIER();
	return 0;
}

KEEP cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
	BARRIER();
	return 0;
}

KEEP cudaError_t cudaEventQuery(cudaEvent_t event)
{
	BARRIER();
	return 0;
}

KEEP cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
	BARRIER();
	return 0;
}

KEEP cudaError_t cudaEventDestroy(cudaEvent_t event)
{
	BARRIER();
	return 0;
}

KEEP cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, int kind)
{
	BARRIER();
	return 0;
}
