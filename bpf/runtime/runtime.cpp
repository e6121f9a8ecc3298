// runtime.cpp — see runtime.h.
#include "bpf/runtime/runtime.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <string_view>
#include <chrono>
#include <cstring>
#include <optional>

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
    std::optional<BtfIndex> index;
    struct btf* parsed = nullptr;  // libbpf's parse, only when our walk does not know the file
    struct stat st {};
    if (::stat(opts.btf_path.c_str(), &st) != 0) {
        ctx.btf_missing = opts.btf_path + " missing";
    } else if (auto idx = BtfIndex::load(opts.btf_path, probes::btf_names())) {
        index = std::move(*idx);
        ctx.find_btf_type = [&index](std::string_view name, uint32_t kind) {
            return index->find(name, kind);
        };
        set(FeatureId::btf,
            {true, opts.btf_path + " (" + std::to_string(index->type_count()) + " types)"});
    } else {
        LOG_DEBUG("bpf: %s; parsing it with libbpf", idx.error().c_str());
        parsed = btf__parse_raw(opts.btf_path.c_str());
        if (parsed == nullptr) {
            ctx.btf_missing = errno_message("parse " + opts.btf_path, errno);
        } else {
            ctx.find_btf_type = [parsed](std::string_view name, uint32_t kind) {
                return btf__find_by_name_kind(parsed, std::string(name).c_str(), kind);
            };
            set(FeatureId::btf, {true, opts.btf_path + " (" +
                                           std::to_string(btf__type_cnt(parsed) - 1) + " types)"});
        }
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
    btf__free(parsed);

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

}  // namespace rp::bpf
