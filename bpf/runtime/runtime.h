// runtime.h — the eBPF runtime: set up once, when some enabled module needs eBPF, and shared by
// every eBPF module through modules::Dependencies::bpf.
//
// Set-up raises RLIMIT_MEMLOCK, checks for kernel BTF, mounts tracefs at /sys/kernel/tracing when
// it is missing (libbpf finds tracepoint ids there), routes libbpf's log into ours, and probes what
// this kernel can really do — each probe is the smallest real thing (a map create, a
// two-instruction program load, an attach), never a version check. Set-up never fails: what is
// missing is a Feature with available = false and a reason, and require() turns it into the error
// of only the modules that need it ("kernel has no BTF (/sys/kernel/btf/vmlinux missing)").
//
// Kernel BTF questions (does this kernel have type X, tracepoint Y?) are answered from one index
// of /sys/kernel/btf/vmlinux (btf_index.h) built at set-up for every name the feature probes and
// the enabled modules declare (RuntimeOptions::btf_names, from each Factory's btf_names): no
// module parses the kernel BTF itself.
//
// The runtime also keeps the ownership registry of our own BPF programs and maps (kernel id →
// module), which Skeleton<T> fills and the `ebpf` module reads for its "Module" field.
//
// Needs: the bpf() syscall (CAP_BPF or root); the probes need CAP_PERFMON for perf-event attaches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bpf/runtime/btf_index.h"

struct bpf_map;

namespace rp::bpf {

enum class FeatureId : uint8_t {
    bpf_syscall,     // bpf() works for us at all (map create)
    memlock,         // RLIMIT_MEMLOCK raised to infinity
    btf,             // kernel BTF at /sys/kernel/btf/vmlinux (CO-RE, tp_btf, iterators, fentry)
    tracefs,         // tracefs mounted (tracepoint ids)
    ring_buffer,     // BPF_MAP_TYPE_RINGBUF
    tracepoint,      // SEC("tracepoint/...") loads and attaches
    raw_tracepoint,  // SEC("raw_tp/...") loads and attaches
    tp_btf,          // SEC("tp_btf/...") loads and attaches
    iterators,       // SEC("iter/...") loads, attaches and reads
    kprobe,          // SEC("kprobe/...") loads and attaches
    fentry,          // SEC("fentry/...") loads and attaches
};
inline constexpr size_t kFeatureCount = 11;

struct Feature {
    FeatureId id{};
    std::string_view name;  // "tp_btf", as shown in /debug/stats and --check-config
    bool available = false;
    std::string detail;  // what was found, or why it is missing
};

struct RuntimeOptions {
    std::string btf_path = "/sys/kernel/btf/vmlinux";
    std::string tracefs_path = "/sys/kernel/tracing";
    bool mount_tracefs = true;  // mount tracefs at tracefs_path when it is not mounted
    bool raise_memlock = true;
    bool route_libbpf_log = true;  // libbpf_set_print → rp::log
    // Kernel BTF names the modules will ask about (btf_has, has_tracepoint's btf_trace_<name>),
    // indexed in the same scan as the probes' own names.
    std::vector<std::string> btf_names;
};

enum class ObjectKind : uint8_t { program, map };

// Who loaded one of our BPF objects.
struct Owner {
    std::string module;  // "oom_kill_probe"
    std::string name;    // the full name in the object file (the kernel keeps only 15 chars)
};

class Runtime {
  public:
    // Sets up and probes. What is missing does not fail set-up: it shows in features() and in
    // require()'s errors. The error case is reserved for a runtime that cannot exist at all
    // (today: never).
    static std::expected<std::unique_ptr<Runtime>, std::string> setup(
        const RuntimeOptions& opts = {});
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // Every feature, in FeatureId order.
    const std::vector<Feature>& features() const { return features_; }
    const Feature& feature(FeatureId id) const { return features_[static_cast<size_t>(id)]; }
    bool has(FeatureId id) const { return feature(id).available; }
    // OK when every listed feature is available; else the error naming the first missing one.
    std::expected<void, std::string> require(std::initializer_list<FeatureId> needs) const;
    // The sentence require() returns for a missing feature.
    static std::string missing_message(const Feature& f);

    // --- ownership registry (kernel object id → owning module).
    void add_owner(ObjectKind kind, uint32_t id, std::string_view module, std::string_view name);
    void remove_owner(ObjectKind kind, uint32_t id);
    // nullptr when the object is not ours.
    const Owner* owner(ObjectKind kind, uint32_t id) const;
    size_t owned_count(ObjectKind kind) const;

    // --- kernel BTF and trace events.
    // Id of the kernel BTF type of `kind` (BTF_KIND_*) named `name`, or -1 (also without kernel
    // BTF). A name outside RuntimeOptions::btf_names still works: it costs one more scan of the
    // file (logged at debug), whose answer is kept.
    int btf_find(uint32_t kind, std::string_view name) const;
    bool btf_has(uint32_t kind, std::string_view name) const { return btf_find(kind, name) > 0; }
    // Whether trace event `system`/`name` exists: its directory under tracefs/events when tracefs
    // is mounted, else the btf_trace_<name> typedef in kernel BTF. When it does not and `why` is
    // given, *why says what was looked for ("no trace event /sys/kernel/tracing/events/tcp/x",
    // "not in kernel BTF (no btf_trace_x)").
    bool has_tracepoint(std::string_view system, std::string_view name,
                        std::string* why = nullptr) const;
    // Scans of the kernel BTF file so far: 1 after set-up, one more per undeclared name asked.
    size_t btf_scans() const { return btf_scans_; }

    const RuntimeOptions& options() const { return opts_; }
    // Where tracefs is mounted ("" when it is not).
    const std::string& tracefs_dir() const { return tracefs_dir_; }
    // Wall time the set-up and probes took.
    double setup_ms() const { return setup_ms_; }

  private:
    Runtime() = default;
    RuntimeOptions opts_;
    std::vector<Feature> features_;
    std::string tracefs_dir_;
    std::unordered_map<uint32_t, Owner> programs_;
    std::unordered_map<uint32_t, Owner> maps_;
    double setup_ms_ = 0;
    mutable std::optional<BtfIndex> btf_;  // empty without kernel BTF
    mutable size_t btf_scans_ = 0;
};

// "memlock:" of /proc/self/fdinfo/<fd> for a BPF map or program fd: the kernel's own accounting
// of the object's memory (bpf_map_memory_usage() for maps since Linux 6.4). 0 when unreadable.
uint64_t fdinfo_memlock(int fd);
// The sum of fdinfo_memlock over loaded maps.
uint64_t maps_memlock(std::initializer_list<const bpf_map*> maps);

// "what: strerror(err)" for a positive errno value — the shape of every error of this layer.
std::string errno_message(std::string_view what, int err);

// Routes libbpf's print callback into rp::log (WARN → warn, INFO → debug, DEBUG → trace), one
// log line per line of libbpf output. Idempotent.
void route_libbpf_log();

}  // namespace rp::bpf
