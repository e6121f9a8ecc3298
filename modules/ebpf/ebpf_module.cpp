// ebpf_module.cpp — the `ebpf` module: GET /ebpf/check → {"Maps": [...], "Programs": [...]} for
// every BPF map and program loaded on the host (system-probe's eBPF check, pkg/collector/
// corechecks/ebpf/probe/ebpfcheck), ours named by module, the others "unknown".
//
// Option ebpf_check.kernel_bpf_stats turns on the kernel's run-time statistics (RunCount, Runtime)
// while the module lives: through a BPF_ENABLE_STATS fd, which the kernel reverts when it closes
// (even if we crash); where that is refused, through the kernel.bpf_stats_enabled sysctl, restored
// to its previous value on close. This module loads no BPF program of its own.
// Details: docs/modules/ebpf.md.
//
// Needs: CAP_SYS_ADMIN (walking other processes' BPF objects by id).
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "loop/log.h"
#include "modules/ebpf/bpf_inventory.h"
#include "modules/kit/bpf_module.h"
#include "modules/kit/config.h"

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "ebpf";
constexpr std::string_view kNamespaces[] = {"ebpf_check"};
constexpr const char* kStatsSysctl = "/proc/sys/kernel/bpf_stats_enabled";

// Keeps kernel BPF run-time statistics on while alive.
class BpfStatsGuard {
  public:
    BpfStatsGuard() = default;
    ~BpfStatsGuard() { release(); }
    BpfStatsGuard(const BpfStatsGuard&) = delete;
    BpfStatsGuard& operator=(const BpfStatsGuard&) = delete;

    void enable() {
        fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);
        if (fd_ >= 0) {
            mode_ = "BPF_ENABLE_STATS";
            return;
        }
        std::string why = bpf::errno_message("BPF_ENABLE_STATS", errno);
        char old = read_sysctl();
        if (old == '1') {
            mode_ = "sysctl (already on)";
            return;
        }
        if (old == '0' && write_sysctl('1')) {
            restore_ = true;
            mode_ = "sysctl";
            return;
        }
        mode_ = "failed: " + why + "; " +
                bpf::errno_message(std::string("write ") + kStatsSysctl, errno);
        LOG_WARN("ebpf: kernel BPF stats unavailable, RunCount and Runtime stay 0: %s",
                 mode_.c_str());
    }

    void release() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        if (restore_) write_sysctl('0');
        restore_ = false;
    }

    const std::string& mode() const { return mode_; }

  private:
    static char read_sysctl() {
        int fd = ::open(kStatsSysctl, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return 0;
        char c = 0;
        if (::read(fd, &c, 1) != 1) c = 0;
        ::close(fd);
        return c;
    }
    static bool write_sysctl(char v) {
        int fd = ::open(kStatsSysctl, O_WRONLY | O_CLOEXEC);
        if (fd < 0) return false;
        bool ok = ::write(fd, &v, 1) == 1;
        ::close(fd);
        return ok;
    }

    int fd_ = -1;
    bool restore_ = false;
    std::string mode_ = "off";
};

class EbpfModule final : public kit::BpfModule {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps);
    EbpfModule(bpf::Runtime* rt, bool kernel_stats, bool numeric_types)
        : BpfModule(kModuleName), rt_(rt), numeric_types_(numeric_types) {
        if (kernel_stats) stats_.enable();
    }
    ~EbpfModule() override { close(); }

    void close() override { stats_.release(); }

  private:
    void check(http::Response& res) override;
    void write_extra_stats(http::JsonWriter& w) const override {
        w.kv_uint("programs", last_programs_);
        w.kv_uint("maps", last_maps_);
        w.kv_number("check_ms", last_check_ms_);
        w.kv("kernel_bpf_stats", stats_.mode());
        w.kv("type_encoding", numeric_types_ ? "number" : "name");
    }
    // "Type" as the Agent decodes it: cilium's name (a string since datadog-agent PR #35531,
    // 2025-03), or the kernel's number (ebpf.MapType / ebpf.ProgramType, uint32, in older
    // Agents); the other form as an extra key. docs/modules/ebpf.md.
    void write_type(http::JsonWriter& w, std::string_view name, uint32_t number) const {
        if (numeric_types_) {
            w.kv_uint("Type", number);
            w.kv("TypeName", name);
        } else {
            w.kv("Type", name);
            w.kv_uint("TypeNumber", number);
        }
    }

    bpf::Runtime* rt_;
    bool numeric_types_ = false;
    BpfStatsGuard stats_;
    // Refilled by every check, keeping its storage: checks allocate nothing once it has room for
    // the host's objects (DESIGN.md, memory discipline). Its records view the runtime's ownership
    // registry, so they are read only within the check that collected them.
    ebpf::Inventory inventory_;
    uint64_t last_programs_ = 0;
    uint64_t last_maps_ = 0;
    double last_check_ms_ = 0;
};

void EbpfModule::check(http::Response& res) {
    auto t0 = std::chrono::steady_clock::now();
    inventory_.collect(rt_);
    const auto& maps = inventory_.maps();
    const auto& programs = inventory_.programs();
    last_programs_ = programs.size();
    last_maps_ = maps.size();

    // "MapType(N)" / "ProgramType(N)" for types beyond cilium/ebpf's tables are formatted here.
    char type_buf[ebpf::kTypeNameBytes];
    auto& w = res.json();
    w.start_object();
    w.key("Maps");
    if (maps.empty()) {
        w.null();  // Go's nil slice
    } else {
        w.start_array();
        for (const auto& m : maps) {
            w.start_object();
            w.kv_uint("ID", m.id);
            w.kv_uint("MaxEntries", m.max_entries);
            w.kv("Name", m.name());
            w.kv("Module", m.module);
            w.kv_uint("RSS", m.rss);
            w.kv_uint("MaxSize", m.max_size);
            write_type(w, ebpf::map_type_name(m.type, type_buf), m.type);
            w.kv_int("Entries", m.entries);
            w.end_object();
        }
        w.end_array();
    }
    w.key("Programs");
    if (programs.empty()) {
        w.null();
    } else {
        w.start_array();
        for (const auto& p : programs) {
            w.start_object();
            w.kv_uint("ID", p.id);
            w.kv_uint("XlatedProgLen", p.xlated_prog_len);
            w.kv("Name", p.name());
            w.kv("Module", p.module);
            w.kv("Tag", std::string_view(p.tag));
            w.kv_uint("RSS", p.rss);
            w.kv_uint("RunCount", p.run_count);
            w.kv_uint("RecursionMisses", p.recursion_misses);
            w.kv_uint("Runtime", p.runtime_ns);  // Go time.Duration: nanoseconds
            w.kv_uint("VerifiedInsns", p.verified_insns);
            write_type(w, ebpf::program_type_name(p.type, type_buf), p.type);
            w.end_object();
        }
        w.end_array();
    }
    w.end_object();
    last_check_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

CreateResult EbpfModule::create(const conf::Config& cfg, Dependencies& deps) {
    auto rt = runtime(deps, {bpf::FeatureId::bpf_syscall});
    if (!rt) return std::unexpected(rt.error());
    return std::make_unique<EbpfModule>(
        *rt, kit::config_bool(cfg, "ebpf_check.kernel_bpf_stats", false),
        kit::config_string(cfg, "ringprobe.ebpf.type_encoding", "name") == "number");
}

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory ebpf_factory;
constinit const Factory ebpf_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "ebpf_check.enabled",
    .create = EbpfModule::create,
    .needs_ebpf = true,
};

}  // namespace rp::modules
