// nvml.h — Nvml: the NVIDIA Management Library, loaded at run time with dlopen (never linked, so
// the daemon runs on hosts without the NVIDIA driver), asked for the devices the gpu module
// attributes work to.
//
// open(path) dlopens `path` ("libnvidia-ml.so.1" by default: the soname the driver installs, found
// through the dynamic loader's search path, as go-nvml does; gpu_monitoring.nvml_lib_path
// overrides it), resolves the few entry points used here and calls nvmlInit_v2. devices() lists
// every device: index, UUID, name, CUDA core count, total memory, compute capability. The
// destructor calls nvmlShutdown and dlcloses the library.
//
// NVML calls block the calling thread; on a host whose driver runs in persistence mode they take
// microseconds. They are made at module start and on the device refresh timer only.
//
// Needs: the NVIDIA driver's libnvidia-ml.so.1 (or the mock the tests build).
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "modules/gpu/devices.h"

namespace rp::modules::gpu {

class Nvml {
  public:
    static constexpr const char* kDefaultLibrary = "libnvidia-ml.so.1";

    // Loads and initialises the library at `path` (kDefaultLibrary when empty). The error names
    // the step and the library: "dlopen libnvidia-ml.so.1: libnvidia-ml.so.1: cannot open shared
    // object file: No such file or directory", "nvmlInit_v2 (libnvidia-ml.so.1): Driver Not
    // Loaded".
    static std::expected<std::unique_ptr<Nvml>, std::string> open(const std::string& path);
    ~Nvml();
    Nvml(const Nvml&) = delete;
    Nvml& operator=(const Nvml&) = delete;

    // Every device NVML sees, in index order. A device whose UUID cannot be read is an error (it
    // could not be attributed); a missing core count, memory size or compute capability is 0.
    std::expected<std::vector<GpuDevice>, std::string> devices() const;

    const std::string& path() const { return path_; }
    const std::string& driver_version() const { return driver_version_; }

    struct Api;  // the resolved entry points (nvml.cpp)

  private:
    Nvml() = default;
    std::string path_;
    std::string driver_version_;
    void* handle_ = nullptr;
    std::unique_ptr<Api> api_;
};

}  // namespace rp::modules::gpu
