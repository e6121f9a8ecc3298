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
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

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

// Every name in the tables fits a kTypeNameBytes buffer with its NUL (and so a name field).
constexpr bool fits(std::span<const std::string_view> names) {
    for (std::string_view n : names)
        if (n.size() >= kTypeNameBytes) return false;
    return true;
}
static_assert(fits(kMapTypes) && fits(kProgramTypes));
static_assert(sizeof("ProgramType(4294967295)") <= kTypeNameBytes);
static_assert(BPF_OBJ_NAME_LEN <= kNameBytes);
static_assert(2 * BPF_TAG_SIZE < sizeof(ProgramStats::tag));
// What makes refilling a kept vector free: no element owns memory.
static_assert(std::is_trivially_copyable_v<MapStats> && std::is_trivially_copyable_v<ProgramStats>);

// Room reserved up front: more maps and programs than a host running ringprobe and a few other
// BPF users has (ringprobe's own modules account for ~15), so that growth, which allocates, is
// rare. ~100 bytes per record.
constexpr size_t kReservedObjects = 128;
// Hash keys are at most MAX_BPF_STACK (512) bytes (htab_map_alloc_check), so two of them never
// need more than this; the buffer still grows if a kernel ever allows bigger ones.
constexpr size_t kReservedKeyBytes = 2 * 512;

constexpr std::string_view kUnknownModule = "unknown";

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

// Keys in a hash map, by walking it (bounded by max_entries; -1 on error). keys is the caller's
// scratch for the current and the next key, grown only for a key bigger than any before.
int64_t count_entries(int fd, const bpf_map_info& info, std::vector<unsigned char>& keys) {
    const size_t key_size = info.key_size ? info.key_size : 1;
    if (keys.size() < 2 * key_size) keys.resize(2 * key_size);
    unsigned char* key = keys.data();
    unsigned char* next = key + key_size;
    int64_t n = 0;
    const void* cur = nullptr;
    while (n <= static_cast<int64_t>(info.max_entries)) {
        if (bpf_map_get_next_key(fd, cur, next) != 0) return errno == ENOENT ? n : -1;
        ++n;
        std::swap(key, next);
        cur = key;
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

// Writes n bytes as 2n hex digits and a NUL into out (2n + 1 bytes).
void hex_tag(const unsigned char* tag, size_t n, char* out) {
    static const char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; ++i) {
        *out++ = kHex[tag[i] >> 4];
        *out++ = kHex[tag[i] & 15];
    }
    *out = '\0';
}

// The kernel's name into a name field: NUL-terminated even if the kernel's is not.
void copy_kernel_name(const char (&from)[BPF_OBJ_NAME_LEN], char (&to)[kNameBytes]) {
    size_t n = strnlen(from, sizeof from);
    std::memcpy(to, from, n);
    to[n] = '\0';
}

// s (shorter than kNameBytes) into a name field, lower-cased if asked.
void copy_name(std::string_view s, bool lower, char (&to)[kNameBytes]) {
    size_t i = 0;
    for (; i < s.size() && i + 1 < kNameBytes; ++i)
        to[i] = lower ? static_cast<char>(std::tolower(static_cast<unsigned char>(s[i]))) : s[i];
    to[i] = '\0';
}

std::string_view type_name(std::span<const std::string_view> table, const char* fallback,
                           uint32_t type, std::span<char, kTypeNameBytes> buf) {
    if (type < table.size()) return table[type];
    int n = std::snprintf(buf.data(), buf.size(), "%s(%u)", fallback, type);
    return std::string_view(buf.data(), static_cast<size_t>(std::clamp(n, 0, int(buf.size()) - 1)));
}

}  // namespace

std::string_view map_type_name(uint32_t type, std::span<char, kTypeNameBytes> buf) {
    return type_name(kMapTypes, "MapType", type, buf);
}

std::string_view program_type_name(uint32_t type, std::span<char, kTypeNameBytes> buf) {
    return type_name(kProgramTypes, "ProgramType", type, buf);
}

Inventory::Inventory() {
    maps_.reserve(kReservedObjects);
    programs_.reserve(kReservedObjects);
    keys_.reserve(kReservedKeyBytes);
}

void Inventory::collect(const bpf::Runtime* rt) {
    // clear() keeps the capacity; the records are trivially destructible.
    maps_.clear();
    programs_.clear();
    vanished_ = 0;
    int cpus = libbpf_num_possible_cpus();  // cached by libbpf after the first call
    if (cpus <= 0) cpus = 1;
    char type_buf[kTypeNameBytes];

    for (uint32_t id = 0; bpf_map_get_next_id(id, &id) == 0;) {
        Fd fd(bpf_map_get_fd_by_id(id));
        if (fd.get() < 0) {
            ++vanished_;
            continue;
        }
        bpf_map_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
            ++vanished_;
            continue;
        }
        MapStats& m = maps_.emplace_back();
        m.id = info.id;
        m.max_entries = info.max_entries;
        m.type = info.type;
        const bpf::Owner* owner = rt ? rt->owner(bpf::ObjectKind::map, info.id) : nullptr;
        m.module = owner ? std::string_view(owner->module) : kUnknownModule;
        if (owner) m.owner_name = owner->name;
        copy_kernel_name(info.name, m.kernel_name);
        if (m.kernel_name[0] == '\0')  // system-probe: unnamed → the type name
            copy_name(map_type_name(info.type, type_buf), false, m.kernel_name);
        m.rss = bpf::fdinfo_memlock(fd.get());
        m.max_size = m.rss;
        if (is_hash(info.type) && (info.map_flags & BPF_F_NO_PREALLOC))
            m.max_size = std::max(m.rss, hash_capacity_estimate(info, static_cast<uint64_t>(cpus)));
        if (owner && is_hash(info.type)) m.entries = count_entries(fd.get(), info, keys_);
    }

    for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
        Fd fd(bpf_prog_get_fd_by_id(id));
        if (fd.get() < 0) {
            ++vanished_;
            continue;
        }
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
            ++vanished_;
            continue;
        }
        ProgramStats& p = programs_.emplace_back();
        p.id = info.id;
        p.xlated_prog_len = info.xlated_prog_len;
        p.type = info.type;
        const bpf::Owner* owner = rt ? rt->owner(bpf::ObjectKind::program, info.id) : nullptr;
        p.module = owner ? std::string_view(owner->module) : kUnknownModule;
        if (owner) p.owner_name = owner->name;
        copy_kernel_name(info.name, p.kernel_name);
        if (p.kernel_name[0] == '\0')  // system-probe: unnamed → lower-case type
            copy_name(program_type_name(info.type, type_buf), true, p.kernel_name);
        hex_tag(info.tag, sizeof info.tag, p.tag);
        p.rss = bpf::fdinfo_memlock(fd.get());
        p.run_count = info.run_cnt;
        p.recursion_misses = info.recursion_misses;
        p.runtime_ns = info.run_time_ns;
        p.verified_insns = info.verified_insns;
    }
}

}  // namespace rp::modules::ebpf
