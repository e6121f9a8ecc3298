// cpu_slots.cpp — see cpu_slots.h.
#include "bpf/runtime/cpu_slots.h"

#include <bpf/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "bpf/runtime/runtime.h"

namespace rp::bpf {

std::expected<void, std::string> size_cpu_slots(bpf_map* map) {
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return std::unexpected(errno_message("count possible CPUs", -cpus));
    if (int e = bpf_map__set_max_entries(map, static_cast<uint32_t>(cpus)); e != 0)
        return std::unexpected(
            errno_message(std::string("size map ") + bpf_map__name(map) + " to the CPUs", -e));
    return {};
}

CpuSlots& CpuSlots::operator=(CpuSlots&& o) noexcept {
    if (this != &o) {
        if (base_ != nullptr) ::munmap(const_cast<char*>(base_), mapped_);
        base_ = std::exchange(o.base_, nullptr);
        mapped_ = std::exchange(o.mapped_, 0);
        slot_size_ = std::exchange(o.slot_size_, 0);
        slots_ = std::exchange(o.slots_, 0);
    }
    return *this;
}

CpuSlots::~CpuSlots() {
    if (base_ != nullptr) ::munmap(const_cast<char*>(base_), mapped_);
}

std::expected<CpuSlots, std::string> CpuSlots::map(int fd, std::string_view what) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
        return std::unexpected(errno_message("map info of " + std::string(what), errno));
    if (info.type != BPF_MAP_TYPE_ARRAY || (info.map_flags & BPF_F_MMAPABLE) == 0)
        return std::unexpected(std::string(what) + ": not an mmapable array map");
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return std::unexpected(errno_message("count possible CPUs", -cpus));
    if (info.max_entries < static_cast<uint32_t>(cpus))
        return std::unexpected(std::string(what) + ": " + std::to_string(info.max_entries) +
                               " slots for " + std::to_string(cpus) +
                               " possible CPUs (size_cpu_slots before load)");
    // The kernel lays the values out back to back, each rounded up to 8 bytes.
    size_t slot = (size_t(info.value_size) + 7) & ~size_t(7);
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t bytes = (slot * info.max_entries + page - 1) & ~(page - 1);
    void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return std::unexpected(errno_message("mmap " + std::string(what), errno));
    CpuSlots s;
    s.base_ = static_cast<const char*>(p);
    s.mapped_ = bytes;
    s.slot_size_ = slot;
    s.slots_ = info.max_entries;
    return s;
}

uint64_t CpuSlots::sum(size_t offset) const {
    uint64_t total = 0;
    for (uint32_t i = 0; i < slots_; ++i) {
        const auto* v = reinterpret_cast<const uint64_t*>(base_ + size_t(i) * slot_size_ + offset);
        total += __atomic_load_n(v, __ATOMIC_RELAXED);
    }
    return total;
}

void CpuSlots::sum_words(uint64_t* out, size_t n) const {
    std::memset(out, 0, n * sizeof(uint64_t));
    for (uint32_t i = 0; i < slots_; ++i) {
        const auto* v = reinterpret_cast<const uint64_t*>(base_ + size_t(i) * slot_size_);
        for (size_t k = 0; k < n; ++k) out[k] += __atomic_load_n(v + k, __ATOMIC_RELAXED);
    }
}

}  // namespace rp::bpf
