// runtime.h — the eBPF runtime: set up once, when some enabled module needs eBPF, and shared by
// every eBPF module through modules::Dependencies::bpf.
//
// Set-up raises RLIMIT_MEMLOCK, chooses the BTF that CO-RE relocations use, mounts tracefs at
// /sys/kernel/tracing when it is missing (libbpf finds tracepoint ids there), routes libbpf's log
// into ours, and probes what this kernel can really do — each probe is the smallest real thing (a
// map create, a two-instruction program load, an attach), never a version check. Set-up never
// fails: what is missing is a Feature with available = false and a reason, and require() turns it
// into the error of only the modules that need it.
//
// Two kinds of BTF (docs/EDGE.md):
//   - CO-RE BTF (feature `btf`): the types libbpf relocates field accesses against. As in
//     system-probe, the file of system_probe_config.btf_path is tried first (a full vmlinux BTF,
//     or a minimized one as BTFHub-style tools make it), then the kernel's own
//     /sys/kernel/btf/vmlinux. Skeleton<T> hands an external file to libbpf as
//     bpf_object_open_opts.btf_custom_path (btf_custom_path()).
//   - the kernel's own BTF (feature `kernel_btf`): what the verifier resolves tp_btf, fentry and
//     iterator attach ids and BTF-typed helpers (bpf_get_current_task_btf, socket and task
//     storage from tracing programs) against. No file can stand in for it: without it those
//     features are unavailable and the modules use raw tracepoints with CO-RE reads instead.
//
// BTF questions (does this kernel have type X, tracepoint Y?) are answered from one index built at
// set-up for every name the feature probes and the enabled modules declare
// (RuntimeOptions::btf_names, from each Factory's btf_names): of the kernel's BTF, or, without it,
// of the external file (which, when minimized, holds only what the probes relocate against). No
// module parses BTF itself.
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
    btf,             // BTF for CO-RE: system_probe_config.btf_path, else the kernel's own
    kernel_btf,      // the kernel's own BTF (tp_btf, iterators, fentry, BTF-typed helpers)
    tracefs,         // tracefs mounted (tracepoint ids)
    ring_buffer,     // BPF_MAP_TYPE_RINGBUF
    tracepoint,      // SEC("tracepoint/...") loads and attaches
    raw_tracepoint,  // SEC("raw_tp/...") loads and attaches
    tp_btf,          // SEC("tp_btf/...") loads and attaches
    iterators,       // SEC("iter/...") loads, attaches and reads
    kprobe,          // SEC("kprobe/...") loads and attaches
    fentry,          // SEC("fentry/...") loads and attaches
};
inline constexpr size_t kFeatureCount = 12;

struct Feature {
    FeatureId id{};
    std::string_view name;  // "tp_btf", as shown in /debug/stats and --check-config
    bool available = false;
    std::string detail;  // what was found, or why it is missing
};

struct RuntimeOptions {
    // The kernel's own BTF.
    std::string kernel_btf_path = "/sys/kernel/btf/vmlinux";
    // system_probe_config.btf_path: a BTF file for CO-RE, tried before the kernel's (raw BTF or an
    // ELF file with a .BTF section). Empty: the kernel's own.
    std::string btf_path;
    std::string tracefs_path = "/sys/kernel/tracing";
    bool mount_tracefs = true;  // mount tracefs at tracefs_path when it is not mounted
    bool raise_memlock = true;
    bool route_libbpf_log = true;  // libbpf_set_print → rp::log
    // Kernel BTF names the modules will ask about (btf_has, has_tracepoint's btf_trace_<name>),
    // indexed in the same scan as the probes' own names.
    std::vector<std::string> btf_names;
};

enum class ObjectKind : uint8_t { program, map };

// Where the CO-RE BTF came from.
enum class BtfSource : uint8_t { none, btf_path, kernel };
// "none", "system_probe_config.btf_path", "kernel".
std::string_view btf_source_name(BtfSource s);
// system-probe's BTF loader result code for the source (pkg/ebpf telemetry BTFResult):
// 0 custom file, 2 kernel ("default"), 3 not found.
int btf_loader_result(BtfSource s);

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

    // --- BTF and trace events.
    // Where CO-RE relocations take their types from, and the file (empty for none).
    BtfSource btf_source() const { return btf_source_; }
    const std::string& btf_file() const { return btf_file_; }
    // For bpf_object_open_opts.btf_custom_path: the external file, or nullptr when CO-RE uses the
    // kernel's own BTF (libbpf finds it itself) or there is none.
    const char* btf_custom_path() const {
        return btf_source_ == BtfSource::btf_path ? btf_file_.c_str() : nullptr;
    }
    // Id of the BTF type of `kind` (BTF_KIND_*) named `name`, or -1 (also without any BTF): in the
    // kernel's BTF, or without it in the external file (a minimized one lacks most names). A name
    // outside RuntimeOptions::btf_names still works: it costs one more scan of the file (logged
    // at debug), whose answer is kept.
    int btf_find(uint32_t kind, std::string_view name) const;
    bool btf_has(uint32_t kind, std::string_view name) const { return btf_find(kind, name) > 0; }
    // Whether trace event `system`/`name` exists: its directory under tracefs/events when tracefs
    // is mounted, else the btf_trace_<name> typedef in kernel BTF. When it does not and `why` is
    // given, *why says what was looked for ("no trace event /sys/kernel/tracing/events/tcp/x",
    // "not in kernel BTF (no btf_trace_x)").
    bool has_tracepoint(std::string_view system, std::string_view name,
                        std::string* why = nullptr) const;
    // Scans of the indexed BTF file so far: 1 after set-up, one more per undeclared name asked.
    size_t btf_scans() const { return btf_scans_; }
    // The file btf_find() answers from ("" without BTF).
    const std::string& btf_index_file() const { return btf_index_file_; }

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
    BtfSource btf_source_ = BtfSource::none;
    std::string btf_file_;
    std::string btf_index_file_;
    mutable std::optional<BtfIndex> btf_;  // empty without any BTF
    mutable size_t btf_scans_ = 0;
};

// "memlock:" of /proc/self/fdinfo/<fd> for a BPF map or program fd: the kernel's own accounting
// of the object's memory (bpf_map_memory_usage() for maps since Linux 6.4). 0 when unreadable.
uint64_t fdinfo_memlock(int fd);
// The sum of fdinfo_memlock over loaded maps.
uint64_t maps_memlock(std::initializer_list<const bpf_map*> maps);

// Whether the running kernel has function or object `symbol` (a line "<addr> <type> <symbol>" of
// /proc/kallsyms, modules included): for kernel facts a minimized BTF cannot answer. Reads the
// whole file (~50 ms on the project VM): ask once, at module creation. *why says what failed.
bool kallsyms_has(std::string_view symbol, std::string* why = nullptr);

// "what: strerror(err)" for a positive errno value — the shape of every error of this layer.
std::string errno_message(std::string_view what, int err);

// Routes libbpf's print callback into rp::log (WARN → warn, INFO → debug, DEBUG → trace), one
// log line per line of libbpf output. Idempotent.
void route_libbpf_log();

}  // namespace rp::bpf
