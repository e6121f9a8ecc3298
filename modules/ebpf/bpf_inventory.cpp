// bpf_inventory.cpp — see bpf_inventory.h.
#include "modules/ebpf/bpf_inventory.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "bpf/runtime/runtime.h"

namespace rp::modules::ebpf {
namespace {

// cilium/ebpf types_string.go, by kernel enum value.
constexpr std::string_view kMapTypes[] = {"UnspecifiedMap",
                                          "Hash",
                                          "Array",
                                          "ProgramArray",
                                          "PerfEventArray",
                                          "PerCPUHash",
                                          "PerCPUArray",
                                          "StackTrace",
                                          "CGroupArray",
                                          "LRUHash",
                                          "LRUCPUHash",
                                          "LPMTrie",
                                          "ArrayOfMaps",
                                          "HashOfMaps",
                                          "DevMap",
                                          "SockMap",
                                          "CPUMap",
                                          "XSKMap",
                                          "SockHash",
                                          "CGroupStorage",
                                          "ReusePortSockArray",
                                          "PerCPUCGroupStorage",
                                          "Queue",
                                          "Stack",
                                          "SkStorage",
                                          "DevMapHash",
                                          "StructOpsMap",
                                          "RingBuf",
                                          "InodeStorage",
                                          "TaskStorage",
                                          "BloomFilter",
                                          "UserRingbuf",
                                          "CgroupStorage",
                                          "Arena"};
constexpr std::string_view kProgramTypes[] = {"UnspecifiedProgram",
                                              "SocketFilter",
                                              "Kprobe",
                                              "SchedCLS",
                                              "SchedACT",
                                              "TracePoint",
                                              "XDP",
                                              "PerfEvent",
                                              "CGroupSKB",
                                              "CGroupSock",
                                              "LWTIn",
                                              "LWTOut",
                                              "LWTXmit",
                                              "SockOps",
                                              "SkSKB",
                                              "CGroupDevice",
                                              "SkMsg",
                                              "RawTracepoint",
                                              "CGroupSockAddr",
                                              "LWTSeg6Local",
                                              "LircMode2",
                                              "SkReuseport",
                                              "FlowDissector",
                                              "CGroupSysctl",
                                              "RawTracepointWritable",
                                              "CGroupSockopt",
                                              "Tracing",
                                              "StructOps",
                                              "Extension",
                                              "LSM",
                                              "SkLookup",
                                              "Syscall",
                                              "Netfilter"};

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};


bool is_hash(uint32_t type) {
    switch (type) {
        case BPF_MAP_TYPE_HASH:
        case BPF_MAP_TYPE_PERCPU_HASH:
        case BPF_MAP_TYPE_LRU_HASH:
        case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        case BPF_MAP_TYPE_HASH_OF_MAPS:
            return true;
        default:
            return false;
    }
}

// Keys in a hash map, by walking it (bounded by max_entries; -1 on error).
int64_t count_entries(int fd, const bpf_map_info& info) {
    std::vector<unsigned char> key(info.key_size ? info.key_size : 1), next(key.size());
    int64_t n = 0;
    const void* cur = nullptr;
    while (n <= static_cast<int64_t>(info.max_entries)) {
        if (bpf_map_get_next_key(fd, cur, next.data()) != 0) return errno == ENOENT ? n : -1;
        ++n;
        key.swap(next);
        cur = key.data();
    }
    return n;
}

uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }
uint64_t round_up_pow2(uint64_t v) {
    uint64_t p = 1;
    while (p < v) p <<= 1;
    return p;
}

// system-probe's hashMapMemoryUsage() estimate of a hash map filled to max_entries (used only
// where the kernel's memlock reflects current use: maps created with BPF_F_NO_PREALLOC).
uint64_t hash_capacity_estimate(const bpf_map_info& info, uint64_t cpus) {
    constexpr uint64_t kHtab = 704, kHtabElem = 48, kBucket = 16, kLockCount = 8;
    bool per_cpu =
        info.type == BPF_MAP_TYPE_PERCPU_HASH || info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    bool lru = info.type == BPF_MAP_TYPE_LRU_HASH || info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    uint64_t value = round_up(info.value_size, 8), key = round_up(info.key_size, 8);
    uint64_t usage =
        kHtab + kBucket * round_up_pow2(info.max_entries) + sizeof(int) * cpus * kLockCount;
    uint64_t entries = info.max_entries + (!per_cpu && !lru ? cpus : 0);
    uint64_t elem = kHtabElem + key + (per_cpu ? sizeof(void*) : value);
    usage += elem * entries;
    if (per_cpu)
        usage += value * cpus * entries;
    else if (!lru)
        usage += sizeof(void*) * cpus;
    return usage;
}

std::string hex_tag(const unsigned char* tag, size_t n) {
    static const char kHex[] = "0123456789abcdef";
    std::string s;
    s.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        s.push_back(kHex[tag[i] >> 4]);
        s.push_back(kHex[tag[i] & 15]);
    }
    return s;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

std::string map_type_name(uint32_t type) {
    if (type < std::size(kMapTypes)) return std::string(kMapTypes[type]);
    return "MapType(" + std::to_string(type) + ")";
}

std::string program_type_name(uint32_t type) {
    if (type < std::size(kProgramTypes)) return std::string(kProgramTypes[type]);
    return "ProgramType(" + std::to_string(type) + ")";
}

Inventory collect_inventory(const bpf::Runtime* rt) {
    Inventory inv;
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) cpus = 1;

    for (uint32_t id = 0; bpf_map_get_next_id(id, &id) == 0;) {
        Fd fd(bpf_map_get_fd_by_id(id));
        if (fd.get() < 0) {
            ++inv.vanished;
            continue;
        }
        bpf_map_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
            ++inv.vanished;
            continue;
        }
        MapStats m;
        m.id = info.id;
        m.max_entries = info.max_entries;
        m.type = map_type_name(info.type);
        const bpf::Owner* owner = rt ? rt->owner(bpf::ObjectKind::map, info.id) : nullptr;
        m.module = owner ? owner->module : "unknown";
        m.name = owner && !owner->name.empty() ? owner->name : std::string(info.name);
        if (m.name.empty()) m.name = m.type;
        m.rss = bpf::fdinfo_memlock(fd.get());
        m.max_size = m.rss;
        if (is_hash(info.type) && (info.map_flags & BPF_F_NO_PREALLOC))
            m.max_size = std::max(m.rss, hash_capacity_estimate(info, static_cast<uint64_t>(cpus)));
        if (owner && is_hash(info.type)) m.entries = count_entries(fd.get(), info);
        inv.maps.push_back(std::move(m));
    }

    for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
        Fd fd(bpf_prog_get_fd_by_id(id));
        if (fd.get() < 0) {
            ++inv.vanished;
            continue;
        }
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
            ++inv.vanished;
            continue;
        }
        ProgramStats p;
        p.id = info.id;
        p.xlated_prog_len = info.xlated_prog_len;
        p.type = program_type_name(info.type);
        const bpf::Owner* owner = rt ? rt->owner(bpf::ObjectKind::program, info.id) : nullptr;
        p.module = owner ? owner->module : "unknown";
        p.name = owner && !owner->name.empty() ? owner->name : std::string(info.name);
        if (p.name.empty()) p.name = lower(p.type);  // system-probe: unnamed → lower-case type
        p.tag = hex_tag(info.tag, sizeof info.tag);
        p.rss = bpf::fdinfo_memlock(fd.get());
        p.run_count = info.run_cnt;
        p.recursion_misses = info.recursion_misses;
        p.runtime_ns = info.run_time_ns;
        p.verified_insns = info.verified_insns;
        inv.programs.push_back(std::move(p));
    }
    return inv;
}

}  // namespace rp::modules::ebpf
