// runtime.cpp — see runtime.h.
#include "bpf/runtime/runtime.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

#include "bpf/runtime/btf_index.h"
#include "bpf/runtime/feature_probes.h"
#include "loop/log.h"

namespace rp::bpf {
namespace {

constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC
constexpr const char* kDebugfsTracing = "/sys/kernel/debug/tracing";

struct FeatureInfo {
    FeatureId id;
    std::string_view name;
    std::string_view missing;  // "<missing> (<detail>)" is require()'s error
};

constexpr FeatureInfo kFeatures[kFeatureCount] = {
    {FeatureId::bpf_syscall, "bpf_syscall", "the bpf() syscall is unusable"},
    {FeatureId::memlock, "memlock", "RLIMIT_MEMLOCK could not be raised"},
    {FeatureId::btf, "btf", "kernel has no BTF"},
    {FeatureId::tracefs, "tracefs", "tracefs is unavailable"},
    {FeatureId::ring_buffer, "ring_buffer", "BPF ring buffer maps are unavailable"},
    {FeatureId::tracepoint, "tracepoint", "tracepoint programs are unavailable"},
    {FeatureId::raw_tracepoint, "raw_tracepoint", "raw tracepoint programs are unavailable"},
    {FeatureId::tp_btf, "tp_btf", "tp_btf programs are unavailable"},
    {FeatureId::iterators, "iterators", "BPF iterators are unavailable"},
    {FeatureId::kprobe, "kprobe", "kprobes are unavailable"},
    {FeatureId::fentry, "fentry", "fentry/fexit programs are unavailable"},
};

bool is_tracefs(const std::string& dir) {
    struct statfs fs {};
    return ::statfs(dir.c_str(), &fs) == 0 && fs.f_type == kTracefsMagic;
}

std::string format_limit(rlim_t v) {
    if (v == RLIM_INFINITY) return "unlimited";
    if (v % (1024 * 1024) == 0) return std::to_string(v / (1024 * 1024)) + " MiB";
    return std::to_string(v) + " bytes";
}

probes::Result raise_memlock() {
    rlimit old{};
    ::getrlimit(RLIMIT_MEMLOCK, &old);
    if (old.rlim_cur == RLIM_INFINITY && old.rlim_max == RLIM_INFINITY)
        return {true, "RLIMIT_MEMLOCK already unlimited"};
    rlimit inf{RLIM_INFINITY, RLIM_INFINITY};
    if (::setrlimit(RLIMIT_MEMLOCK, &inf) == 0)
        return {true, "RLIMIT_MEMLOCK raised from " + format_limit(old.rlim_cur) + " to unlimited"};
    std::string why = errno_message("setrlimit(RLIMIT_MEMLOCK, unlimited)", errno);
    // Since Linux 5.11 BPF memory is charged to the memory cgroup and RLIMIT_MEMLOCK no longer
    // applies; libbpf recognises such a kernel by a helper that came in the same release.
    if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_ktime_get_coarse_ns,
                                nullptr) == 1) {
        return {true, "RLIMIT_MEMLOCK stays " + format_limit(old.rlim_cur) + " (" + why +
                          "), which this kernel does not apply to BPF: it charges BPF memory to "
                          "memory cgroups (Linux >= 5.11)"};
    }
    if (old.rlim_max > old.rlim_cur) {
        rlimit hard{old.rlim_max, old.rlim_max};
        if (::setrlimit(RLIMIT_MEMLOCK, &hard) == 0)
            return {false, why + "; raised only to the hard limit " + format_limit(old.rlim_max)};
    }
    return {false, why + "; this kernel charges BPF maps to it (limit " +
                       format_limit(old.rlim_cur) + ")"};
}

// Finds or mounts tracefs. Returns the directory, or "" with *why set.
probes::Result setup_tracefs(const RuntimeOptions& opts, std::string* dir) {
    dir->clear();
    if (is_tracefs(opts.tracefs_path)) {
        *dir = opts.tracefs_path;
        return {true, "mounted at " + opts.tracefs_path};
    }
    if (is_tracefs(kDebugfsTracing)) {
        *dir = kDebugfsTracing;
        return {true, std::string("mounted at ") + kDebugfsTracing + " (debugfs)"};
    }
    if (!opts.mount_tracefs)
        return {false, "not mounted at " + opts.tracefs_path + " (mounting it is disabled)"};
    struct stat st {};
    if (::stat(opts.tracefs_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return {false, "no mount point " + opts.tracefs_path +
                           " (kernel built without tracefs: CONFIG_TRACING off?)"};
    }
    if (::mount("tracefs", opts.tracefs_path.c_str(), "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr) != 0) {
        int err = errno;
        std::string why = errno_message("mount -t tracefs tracefs " + opts.tracefs_path, err);
        if (err == EPERM || err == EACCES)
            why += " (mounting needs CAP_SYS_ADMIN in the host's mount namespace)";
        return {false, why};
    }
    *dir = opts.tracefs_path;
    return {true, "was not mounted: mounted tracefs at " + opts.tracefs_path};
}

// The index of `names` in the kernel BTF at `path`: our own walk, or libbpf's parse of a file the
// walk does not understand (a BTF kind newer than this code).
std::expected<BtfIndex, std::string> scan_btf(const std::string& path,
                                              std::span<const std::string_view> names) {
    auto idx = BtfIndex::load(path, names);
    if (idx) return idx;
    LOG_DEBUG("bpf: %s; parsing it with libbpf", idx.error().c_str());
    struct btf* parsed = btf__parse_raw(path.c_str());
    if (parsed == nullptr) return std::unexpected(errno_message("parse " + path, errno));
    BtfIndex r = BtfIndex::from_btf(parsed, names);
    btf__free(parsed);
    return r;
}

}  // namespace

std::string errno_message(std::string_view what, int err) {
    std::string s(what);
    s += ": ";
    s += std::strerror(err);
    return s;
}

std::expected<std::unique_ptr<Runtime>, std::string> Runtime::setup(const RuntimeOptions& opts) {
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<Runtime> rt(new Runtime());
    rt->opts_ = opts;
    rt->features_.resize(kFeatureCount);
    for (size_t i = 0; i < kFeatureCount; ++i) {
        rt->features_[i].id = kFeatures[i].id;
        rt->features_[i].name = kFeatures[i].name;
    }
    auto mark = std::chrono::steady_clock::now();
    auto set = [&](FeatureId id, probes::Result r) {
        Feature& f = rt->features_[static_cast<size_t>(id)];
        f.available = r.available;
        f.detail = std::move(r.detail);
        auto now = std::chrono::steady_clock::now();
        LOG_DEBUG("bpf: probe %.*s took %.1f ms", static_cast<int>(f.name.size()), f.name.data(),
                  std::chrono::duration<double, std::milli>(now - mark).count());
        mark = now;
    };

    if (opts.route_libbpf_log) route_libbpf_log();
    if (opts.raise_memlock)
        set(FeatureId::memlock, raise_memlock());
    else
        set(FeatureId::memlock, {false, "not raised (disabled by the caller)"});
    set(FeatureId::bpf_syscall, probes::bpf_syscall());

    probes::Context ctx;
    std::vector<std::string_view> btf_names(probes::btf_names().begin(), probes::btf_names().end());
    for (const auto& n : opts.btf_names) btf_names.emplace_back(n);
    struct stat st {};
    if (::stat(opts.btf_path.c_str(), &st) != 0) {
        ctx.btf_missing = opts.btf_path + " missing";
    } else if (auto idx = scan_btf(opts.btf_path, btf_names)) {
        rt->btf_ = std::move(*idx);
        rt->btf_scans_ = 1;
        Runtime* self = rt.get();
        ctx.find_btf_type = [self](std::string_view name, uint32_t kind) {
            return self->btf_->find(name, kind);
        };
        set(FeatureId::btf,
            {true, opts.btf_path + " (" + std::to_string(rt->btf_->type_count()) + " types)"});
    } else {
        ctx.btf_missing = idx.error();
    }
    if (!ctx.find_btf_type) set(FeatureId::btf, {false, ctx.btf_missing});
    auto tracefs = setup_tracefs(opts, &ctx.tracefs_dir);
    if (!tracefs.available) ctx.tracefs_missing = tracefs.detail;
    set(FeatureId::tracefs, tracefs);
    rt->tracefs_dir_ = ctx.tracefs_dir;

    if (!rt->has(FeatureId::bpf_syscall)) {
        // No program or map can exist: say so once, on every program feature.
        std::string why = "needs bpf(): " + rt->feature(FeatureId::bpf_syscall).detail;
        for (FeatureId id :
             {FeatureId::ring_buffer, FeatureId::tracepoint, FeatureId::raw_tracepoint,
              FeatureId::tp_btf, FeatureId::iterators, FeatureId::kprobe, FeatureId::fentry})
            set(id, {false, why});
    } else {
        set(FeatureId::ring_buffer, probes::ring_buffer());
        set(FeatureId::tracepoint, probes::tracepoint(ctx));
        set(FeatureId::raw_tracepoint, probes::raw_tracepoint());
        set(FeatureId::tp_btf, probes::tp_btf(ctx));
        set(FeatureId::iterators, probes::iterators(ctx));
        set(FeatureId::kprobe, probes::kprobe(ctx));
        set(FeatureId::fentry, probes::fentry(ctx));
    }

    rt->setup_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    for (const Feature& f : rt->features_) {
        if (f.available)
            LOG_DEBUG("bpf: %.*s: %s", static_cast<int>(f.name.size()), f.name.data(),
                      f.detail.c_str());
        else
            LOG_INFO("bpf: %.*s unavailable: %s", static_cast<int>(f.name.size()), f.name.data(),
                     f.detail.c_str());
    }
    LOG_INFO("bpf: runtime ready in %.1f ms", rt->setup_ms_);
    return rt;
}

Runtime::~Runtime() = default;

int Runtime::btf_find(uint32_t kind, std::string_view name) const {
    if (!btf_) return -1;
    if (!btf_->covers(name)) {
        auto t0 = std::chrono::steady_clock::now();
        const std::string_view one[] = {name};
        auto idx = scan_btf(opts_.btf_path, one);
        ++btf_scans_;
        if (!idx) {
            LOG_WARN("bpf: look up %.*s in kernel BTF: %s", static_cast<int>(name.size()),
                     name.data(), idx.error().c_str());
            return -1;
        }
        btf_->merge(std::move(*idx));
        LOG_DEBUG(
            "bpf: BTF name %.*s is not in any enabled module's Factory::btf_names: scanned %s "
            "again (%.1f ms)",
            static_cast<int>(name.size()), name.data(), opts_.btf_path.c_str(),
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
    }
    return btf_->find(name, kind);
}

bool Runtime::has_tracepoint(std::string_view system, std::string_view name,
                             std::string* why) const {
    if (!tracefs_dir_.empty()) {
        std::string dir = tracefs_dir_ + "/events/";
        dir.append(system).append("/").append(name);
        if (::access(dir.c_str(), F_OK) == 0) return true;
        if (why != nullptr) *why = "no trace event " + dir;
        return false;
    }
    std::string type = "btf_trace_" + std::string(name);
    if (btf_has(BTF_KIND_TYPEDEF, type)) return true;
    if (why != nullptr) {
        *why = has(FeatureId::btf) ? "not in kernel BTF (no " + type + ")"
                                   : "no tracefs, and " + missing_message(feature(FeatureId::btf));
    }
    return false;
}

std::string Runtime::missing_message(const Feature& f) {
    std::string s(kFeatures[static_cast<size_t>(f.id)].missing);
    if (!f.detail.empty()) s += " (" + f.detail + ")";
    return s;
}

std::expected<void, std::string> Runtime::require(std::initializer_list<FeatureId> needs) const {
    for (FeatureId id : needs) {
        if (!has(id)) return std::unexpected(missing_message(feature(id)));
    }
    return {};
}

void Runtime::add_owner(ObjectKind kind, uint32_t id, std::string_view module,
                        std::string_view name) {
    auto& table = kind == ObjectKind::program ? programs_ : maps_;
    table[id] = Owner{std::string(module), std::string(name)};
}

void Runtime::remove_owner(ObjectKind kind, uint32_t id) {
    auto& table = kind == ObjectKind::program ? programs_ : maps_;
    table.erase(id);
}

const Owner* Runtime::owner(ObjectKind kind, uint32_t id) const {
    const auto& table = kind == ObjectKind::program ? programs_ : maps_;
    auto it = table.find(id);
    return it == table.end() ? nullptr : &it->second;
}

size_t Runtime::owned_count(ObjectKind kind) const {
    return kind == ObjectKind::program ? programs_.size() : maps_.size();
}

uint64_t fdinfo_memlock(int fd) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = ::open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return 0;
    char buf[2048];
    ssize_t n = ::read(f, buf, sizeof buf - 1);
    ::close(f);
    if (n <= 0) return 0;
    std::string_view text(buf, static_cast<size_t>(n));
    size_t at = text.find("memlock:");
    if (at == std::string_view::npos) return 0;
    text.remove_prefix(at + 8);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    uint64_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return v;
}

uint64_t maps_memlock(std::initializer_list<const bpf_map*> maps) {
    uint64_t total = 0;
    for (const bpf_map* m : maps) total += fdinfo_memlock(bpf_map__fd(m));
    return total;
}

}  // namespace rp::bpf
