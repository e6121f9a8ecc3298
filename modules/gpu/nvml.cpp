// nvml.cpp — see nvml.h. The declarations below are NVML's C ABI (nvml.h of the CUDA toolkit):
// every call returns an nvmlReturn_t (0 = NVML_SUCCESS), devices are opaque handles.
#include "modules/gpu/nvml.h"

#include <dlfcn.h>

#include <cstring>

namespace rp::modules::gpu {

namespace {

using nvmlReturn_t = int;
using nvmlDevice_t = void*;
struct nvmlMemory_t {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
};
constexpr unsigned kUuidBuffer = 96;     // NVML_DEVICE_UUID_V2_BUFFER_SIZE
constexpr unsigned kNameBuffer = 96;     // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr unsigned kVersionBuffer = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

}  // namespace

struct Nvml::Api {
    nvmlReturn_t (*init)() = nullptr;
    nvmlReturn_t (*shutdown)() = nullptr;
    const char* (*error_string)(nvmlReturn_t) = nullptr;
    nvmlReturn_t (*device_count)(unsigned*) = nullptr;
    nvmlReturn_t (*handle_by_index)(unsigned, nvmlDevice_t*) = nullptr;
    nvmlReturn_t (*uuid)(nvmlDevice_t, char*, unsigned) = nullptr;
    // optional
    nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned) = nullptr;
    nvmlReturn_t (*cores)(nvmlDevice_t, unsigned*) = nullptr;
    nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
    nvmlReturn_t (*compute_capability)(nvmlDevice_t, int*, int*) = nullptr;
    nvmlReturn_t (*driver_version)(char*, unsigned) = nullptr;

    std::string error(nvmlReturn_t r) const {
        const char* s = error_string != nullptr ? error_string(r) : nullptr;
        return s != nullptr ? std::string(s) : "NVML error " + std::to_string(r);
    }
};

namespace {

template <typename F>
bool resolve(void* handle, const char* symbol, F& fn) {
    fn = reinterpret_cast<F>(::dlsym(handle, symbol));
    return fn != nullptr;
}

}  // namespace

std::expected<std::unique_ptr<Nvml>, std::string> Nvml::open(const std::string& path_in) {
    std::string path = path_in.empty() ? kDefaultLibrary : path_in;
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        return std::unexpected("dlopen " + path + ": " + (why != nullptr ? why : "failed"));
    }
    std::unique_ptr<Nvml> n(new Nvml());
    n->path_ = path;
    n->handle_ = handle;
    n->api_ = std::make_unique<Api>();
    Api& a = *n->api_;
    const char* missing = nullptr;
    auto need = [&](const char* symbol, auto& fn) {
        if (missing == nullptr && !resolve(handle, symbol, fn)) missing = symbol;
    };
    need("nvmlInit_v2", a.init);
    need("nvmlShutdown", a.shutdown);
    need("nvmlDeviceGetCount_v2", a.device_count);
    need("nvmlDeviceGetHandleByIndex_v2", a.handle_by_index);
    need("nvmlDeviceGetUUID", a.uuid);
    if (missing != nullptr) {
        // the destructor must not call nvmlShutdown on a library it never initialised
        n->api_.reset();
        return std::unexpected(path + " has no " + missing + " (not an NVML library?)");
    }
    resolve(handle, "nvmlErrorString", a.error_string);
    resolve(handle, "nvmlDeviceGetName", a.name);
    resolve(handle, "nvmlDeviceGetNumGpuCores", a.cores);
    resolve(handle, "nvmlDeviceGetMemoryInfo", a.memory);
    resolve(handle, "nvmlDeviceGetCudaComputeCapability", a.compute_capability);
    resolve(handle, "nvmlSystemGetDriverVersion", a.driver_version);
    if (nvmlReturn_t r = a.init(); r != 0) {
        std::string why = a.error(r);
        n->api_.reset();
        return std::unexpected("nvmlInit_v2 (" + path + "): " + why);
    }
    if (a.driver_version != nullptr) {
        char v[kVersionBuffer] = {};
        if (a.driver_version(v, sizeof v) == 0)
            n->driver_version_ = std::string(v, ::strnlen(v, sizeof v));
    }
    return n;
}

Nvml::~Nvml() {
    if (api_ && api_->shutdown != nullptr) api_->shutdown();
    api_.reset();
    if (handle_ != nullptr) ::dlclose(handle_);
}

std::expected<std::vector<GpuDevice>, std::string> Nvml::devices() const {
    const Api& a = *api_;
    unsigned count = 0;
    if (nvmlReturn_t r = a.device_count(&count); r != 0)
        return std::unexpected("nvmlDeviceGetCount_v2: " + a.error(r));
    std::vector<GpuDevice> out;
    out.reserve(count);
    for (unsigned i = 0; i < count; ++i) {
        nvmlDevice_t dev = nullptr;
        if (nvmlReturn_t r = a.handle_by_index(i, &dev); r != 0)
            return std::unexpected("nvmlDeviceGetHandleByIndex_v2(" + std::to_string(i) +
                                   "): " + a.error(r));
        GpuDevice d;
        d.index = i;
        char buf[kUuidBuffer] = {};
        if (nvmlReturn_t r = a.uuid(dev, buf, sizeof buf); r != 0)
            return std::unexpected("nvmlDeviceGetUUID(" + std::to_string(i) + "): " + a.error(r));
        d.uuid.assign(buf, ::strnlen(buf, sizeof buf));
        char name[kNameBuffer] = {};
        if (a.name != nullptr && a.name(dev, name, sizeof name) == 0)
            d.name.assign(name, ::strnlen(name, sizeof name));
        unsigned cores = 0;
        if (a.cores != nullptr && a.cores(dev, &cores) == 0) d.cores = cores;
        nvmlMemory_t mem{};
        if (a.memory != nullptr && a.memory(dev, &mem) == 0) d.memory_bytes = mem.total;
        int major = 0, minor = 0;
        if (a.compute_capability != nullptr && a.compute_capability(dev, &major, &minor) == 0)
            d.sm_version = static_cast<uint32_t>(major * 10 + minor);
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace rp::modules::gpu
