// cpu_slots.h — CpuSlots: reads a bpf/lib/cpu_slots.bpf.h map (one slot per CPU, BPF_F_MMAPABLE)
// from memory, without a bpf() syscall per read.
//
//   before load:  size_cpu_slots(skel->maps.counters)     (max_entries = possible CPUs)
//   after load:   auto slots = CpuSlots::map(bpf_map__fd(skel->maps.counters), "what");
//                 uint64_t n = slots->sum(offsetof(struct slot, field));
//                 struct slot all = slots->sum_as<struct slot>();   // every field summed
//
// Each slot is written only by its CPU (plain increments in BPF); a sum reads every slot's u64
// with a relaxed atomic load, so a concurrent increment is either in it or not, never torn.
#pragma once

#include <bpf/libbpf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <type_traits>

namespace rp::bpf {

// Sets the map's max_entries to the number of possible CPUs (CPU ids are below it). Error text
// on failure.
std::expected<void, std::string> size_cpu_slots(bpf_map* map);

class CpuSlots {
  public:
    CpuSlots() = default;
    CpuSlots(CpuSlots&& o) noexcept { *this = std::move(o); }
    CpuSlots& operator=(CpuSlots&& o) noexcept;
    ~CpuSlots();
    CpuSlots(const CpuSlots&) = delete;
    CpuSlots& operator=(const CpuSlots&) = delete;

    // Maps the loaded map `fd` read-only. Fails, naming `what`, if the map is not an mmapable
    // array or has fewer slots than possible CPUs (size_cpu_slots was not called before load).
    static std::expected<CpuSlots, std::string> map(int fd, std::string_view what);

    // Sum over CPUs of the u64 at byte `offset` of each slot (offset + 8 <= slot_size()).
    uint64_t sum(size_t offset) const;
    // out[i] = sum over CPUs of the slot's i-th u64, for i < n (n * 8 <= slot_size()).
    void sum_words(uint64_t* out, size_t n) const;
    // The slot struct T (u64 fields only) with every field summed over CPUs; all zero when not
    // mapped.
    template <typename T>
    T sum_as() const {
        static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % sizeof(uint64_t) == 0,
                      "a CPU slot struct holds u64 fields only");
        uint64_t words[sizeof(T) / sizeof(uint64_t)] = {};
        if (base_ != nullptr) sum_words(words, sizeof(T) / sizeof(uint64_t));
        T total;
        std::memcpy(&total, words, sizeof total);
        return total;
    }

    size_t slot_size() const { return slot_size_; }
    uint32_t slots() const { return slots_; }
    explicit operator bool() const { return base_ != nullptr; }

  private:
    const char* base_ = nullptr;
    size_t mapped_ = 0;
    size_t slot_size_ = 0;
    uint32_t slots_ = 0;
};

}  // namespace rp::bpf
