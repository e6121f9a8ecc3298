// devices.h — the GPUs the gpu module attributes work to, and how a process's calls pick one.
//
// A GpuDevice is what NVML says of one physical device (modules/gpu/nvml.h). Which device a CUDA
// call lands on follows the CUDA runtime's own rules, as system-probe applies them
// (pkg/gpu/context.go, pkg/gpu/cuda/env.go):
//   - the process sees the devices CUDA_VISIBLE_DEVICES lists, in that order (all of them, in
//     NVML index order, when the variable is unset);
//   - each thread uses ordinal 0 of that list until it calls cudaSetDevice(n).
// CUDA_VISIBLE_DEVICES entries: a device index, or a UUID prefix ("GPU-8f3a"); the list ends at
// the first entry that names no device (CUDA ignores the rest). MIG instances ("MIG-...") are not
// supported yet and end the list too. An empty value hides every device.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rp::modules::gpu {

struct GpuDevice {
    uint32_t index = 0;         // NVML index
    std::string uuid;           // "GPU-xxxxxxxx-..." (nvmlDeviceGetUUID)
    std::string name;           // "NVIDIA H100 80GB HBM3" (nvmlDeviceGetName)
    uint64_t cores = 0;         // CUDA cores (nvmlDeviceGetNumGpuCores)
    uint64_t memory_bytes = 0;  // total memory (nvmlDeviceGetMemoryInfo)
    uint32_t sm_version = 0;    // compute capability major * 10 + minor, 0 if unknown
};

// Indices into `devices` of the devices a process sees, in CUDA ordinal order. `env` is the value
// of CUDA_VISIBLE_DEVICES, or nullopt when the variable is unset.
std::vector<size_t> visible_devices(std::span<const GpuDevice> devices,
                                    std::optional<std::string_view> env);

// The value of CUDA_VISIBLE_DEVICES in an environ block (NUL-separated NAME=value strings, as
// /proc/<pid>/environ holds them), or nullopt.
std::optional<std::string> find_env(std::string_view environ_block, std::string_view name);

// The container id in a cgroup path or leaf name: the last 64-hex-digit run of the last
// component that holds one ("docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>",
// "libpod-<id>.scope", "/docker/<id>", a bare id); "" when there is none. The rule of
// system-probe's cgroups.ContainerFilter for the runtimes above.
std::string container_id_from_cgroup(std::string_view cgroup);

}  // namespace rp::modules::gpu
