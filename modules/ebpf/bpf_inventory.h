// bpf_inventory.h — every BPF program and map loaded on the host, as the `ebpf` module reports
// them.
//
// Walks BPF_PROG_GET_NEXT_ID / BPF_MAP_GET_NEXT_ID, opens each object by id, reads
// BPF_OBJ_GET_INFO_BY_FD and the kernel's own memory figure ("memlock:" in /proc/self/fdinfo/<fd>),
// and names the owning ringprobe module from the runtime's registry ("unknown" for the others).
// Objects that disappear between the id walk and the open are skipped (counted).
// Needs: CAP_SYS_ADMIN (BPF_*_GET_FD_BY_ID).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rp::bpf {
class Runtime;
}

namespace rp::modules::ebpf {

// system-probe's model.EBPFMapStats (without its test-only NumCPUs).
struct MapStats {
    uint32_t id = 0;
    uint32_t max_entries = 0;
    std::string name;
    std::string module;
    uint64_t rss = 0;       // kernel's memlock figure for the map
    uint64_t max_size = 0;  // memlock, or the full-capacity estimate for non-preallocated hashes
    std::string type;       // cilium/ebpf MapType name ("Hash", "RingBuf", ...)
    int64_t entries = -1;   // counted for our hash maps; -1 = not counted
};

// system-probe's model.EBPFProgramStats.
struct ProgramStats {
    uint32_t id = 0;
    uint32_t xlated_prog_len = 0;
    std::string name;
    std::string module;
    std::string tag;   // 16 hex digits
    uint64_t rss = 0;  // kernel's memlock figure for the program
    uint64_t run_count = 0;
    uint64_t recursion_misses = 0;
    uint64_t runtime_ns = 0;
    uint32_t verified_insns = 0;
    std::string type;  // cilium/ebpf ProgramType name ("Tracing", "SocketFilter", ...)
};

struct Inventory {
    std::vector<MapStats> maps;
    std::vector<ProgramStats> programs;
    uint32_t vanished = 0;  // ids that were gone (or not openable) by the time we opened them
};

// rt may be null: every object is then "unknown".
Inventory collect_inventory(const bpf::Runtime* rt);

// cilium/ebpf's names for map and program types ("MapType(42)" beyond the table).
std::string map_type_name(uint32_t type);
std::string program_type_name(uint32_t type);

}  // namespace rp::modules::ebpf
