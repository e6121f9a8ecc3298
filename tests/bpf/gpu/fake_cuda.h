/* fake_cuda.h — the CUDA runtime entry points the gpu module hooks, with the signatures of
 * cuda_runtime_api.h (what decides how the arguments travel: dim3 by value, sharedMem and stream
 * as the 7th and 8th integer arguments of cudaLaunchKernel). fake_cudart.c defines them as no-ops;
 * Datadog tests the same way (pkg/gpu/testutil/testdata/cudasample.c). */
#ifndef RP_TESTS_FAKE_CUDA_H
#define RP_TESTS_FAKE_CUDA_H

#include <stddef.h>

typedef struct {
    unsigned x, y, z;
} dim3;

typedef int cudaError_t;
typedef void *cudaStream_t;
typedef void *cudaEvent_t;

#define RP_FAKE_DEVICE_PTR ((void *)0xdeadbeef)

cudaError_t cudaLaunchKernel(const void *func, dim3 gridDim, dim3 blockDim, void **args,
                             size_t sharedMem, cudaStream_t stream);
cudaError_t cudaMalloc(void **devPtr, size_t size);
cudaError_t cudaFree(void *devPtr);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, int kind);

#endif
