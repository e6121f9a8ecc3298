// bpf_inventory.h — every BPF program and map loaded on the host, as the `ebpf` module reports
// them.
//
// Walks BPF_PROG_GET_NEXT_ID / BPF_MAP_GET_NEXT_ID, opens each object by id, reads
// BPF_OBJ_GET_INFO_BY_FD and the kernel's own memory figure ("memlock:" in /proc/self/fdinfo/<fd>),
// and names the owning ringprobe module from the runtime's registry ("unknown" for the others).
// Objects that disappear between the id walk and the open are skipped (counted).
//
// Allocation-free in the steady state (DESIGN.md, memory discipline): the records hold no
// std::string (fixed arrays for the kernel's names and the tag, views for the rest) and the
// Inventory keeps its storage from one collect to the next, so a collect allocates only when the
// host has more maps or programs than at any collect before (the vectors grow, amortised).
// Needs: CAP_SYS_ADMIN (BPF_*_GET_FD_BY_ID).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace rp::bpf {
class Runtime;
}

namespace rp::modules::ebpf {

// Room for any type name with its NUL: the longest in cilium/ebpf's tables ("RawTracepoint-
// Writable", 21) and the fallback for unknown values ("ProgramType(4294967295)", 23).
inline constexpr size_t kTypeNameBytes = 24;
// A name as we keep it: the kernel's (BPF_OBJ_NAME_LEN, 15 characters at most) or, for an unnamed
// object, its type name.
inline constexpr size_t kNameBytes = kTypeNameBytes;

// system-probe's model.EBPFMapStats (without its test-only NumCPUs).
//
// Trivially copyable, so refilling a vector kept at capacity allocates nothing. `module` and
// `owner_name` view the runtime's ownership registry (or a static "unknown"): read a record in the
// same loop turn as the collect that filled it, before any module loads or unloads.
struct MapStats {
    uint32_t id = 0;
    uint32_t max_entries = 0;
    uint32_t type = 0;                  // kernel enum bpf_map_type; map_type_name() spells it
    std::string_view module;            // owning ringprobe module, else "unknown"
    std::string_view owner_name;        // our full name from the registry; "" for the others
    char kernel_name[kNameBytes] = {};  // kernel's name, or the type name when it has none
    uint64_t rss = 0;                   // kernel's memlock figure for the map
    uint64_t max_size = 0;  // memlock, or the full-capacity estimate for non-preallocated hashes
    int64_t entries = -1;   // counted for our hash maps; -1 = not counted

    // The Name field: ours by full name, the others by the kernel's, unnamed ones by type.
    std::string_view name() const {
        return owner_name.empty() ? std::string_view(kernel_name) : owner_name;
    }
};

// system-probe's model.EBPFProgramStats. Same lifetime rules as MapStats.
struct ProgramStats {
    uint32_t id = 0;
    uint32_t xlated_prog_len = 0;
    uint32_t type = 0;  // kernel enum bpf_prog_type; program_type_name() spells it
    std::string_view module;
    std::string_view owner_name;
    char kernel_name[kNameBytes] = {};  // kernel's name, or the lower-cased type when it has none
    char tag[17] = {};                  // 16 hex digits
    uint64_t rss = 0;                   // kernel's memlock figure for the program
    uint64_t run_count = 0;
    uint64_t recursion_misses = 0;
    uint64_t runtime_ns = 0;
    uint32_t verified_insns = 0;

    std::string_view name() const {
        return owner_name.empty() ? std::string_view(kernel_name) : owner_name;
    }
};

// The host's objects as of the last collect(). Keep one per module and refill it: the vectors and
// the key buffer of the hash-map entry count keep their capacity.
class Inventory {
  public:
    // Reserves room for a typical host so that even the first collects do not allocate.
    Inventory();

    // Walks the host again, replacing the previous contents. rt may be null: every object is
    // then "unknown".
    void collect(const bpf::Runtime* rt);

    const std::vector<MapStats>& maps() const { return maps_; }
    const std::vector<ProgramStats>& programs() const { return programs_; }
    // Ids that were gone (or not openable) by the time we opened them.
    uint32_t vanished() const { return vanished_; }

  private:
    std::vector<MapStats> maps_;
    std::vector<ProgramStats> programs_;
    std::vector<unsigned char> keys_;  // current and next key for BPF_MAP_GET_NEXT_KEY
    uint32_t vanished_ = 0;
};

// cilium/ebpf's names for map and program types: a view of a static table, or "MapType(42)" /
// "ProgramType(42)" formatted into buf beyond it.
std::string_view map_type_name(uint32_t type, std::span<char, kTypeNameBytes> buf);
std::string_view program_type_name(uint32_t type, std::span<char, kTypeNameBytes> buf);

}  // namespace rp::modules::ebpf
