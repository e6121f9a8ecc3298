/* mock_nvml.c — libnvidia-ml.so.1 for the gpu module's tests: the NVML entry points the module
 * dlopens (modules/gpu/nvml.cpp), answering for RP_MOCK_NVML_DEVICES devices (default 1, at most
 * 8; 0 = no device) with fixed UUIDs GPU-00000000-0000-0000-0000-00000000000<i>, 6912 cores
 * (RP_MOCK_NVML_CORES overrides), 40 GiB, compute capability 8.0. RP_MOCK_NVML_INIT_ERROR=<n>
 * makes nvmlInit_v2 fail with that code. Like Datadog's NVML mock (pkg/gpu/testutil), it stands
 * in for the driver on hosts without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvml_device {
	unsigned index;
} *nvmlDevice_t;
typedef struct {
	unsigned long long total, free, used;
} nvmlMemory_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_INSUFFICIENT_SIZE 7

static struct nvml_device devices[8];

static unsigned count(void)
{
	const char *s = getenv("RP_MOCK_NVML_DEVICES");
	unsigned n = s ? (unsigned)atoi(s) : 1;

	return n > 8 ? 8 : n;
}

nvmlReturn_t nvmlInit_v2(void)
{
	const char *e = getenv("RP_MOCK_NVML_INIT_ERROR");

	for (unsigned i = 0; i < 8; i++)
		devices[i].index = i;
	return e ? atoi(e) : NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void)
{
	return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
	switch (r) {
	case 0:
		return "Success";
	case 9:
		return "Driver Not Loaded";
	default:
		return "Unknown Error";
	}
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned len)
{
	snprintf(v, len, "550.00-mock");
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n)
{
	*n = count();
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d)
{
	if (i >= count())
		return NVML_ERROR_INVALID_ARGUMENT;
	*d = &devices[i];
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned len)
{
	if (len < 41)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	snprintf(uuid, len, "GPU-00000000-0000-0000-0000-00000000000%u", d->index);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned len)
{
	snprintf(name, len, "Mock GPU %u", d->index);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNumGpuCores(nvmlDevice_t d, unsigned *cores)
{
	const char *s = getenv("RP_MOCK_NVML_CORES");

	*cores = s ? (unsigned)atoi(s) : 6912;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
	m->total = 40ull << 30;
	m->used = 0;
	m->free = m->total;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor)
{
	*major = 8;
	*minor = 0;
	return NVML_SUCCESS;
}
