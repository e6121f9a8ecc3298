// feature_probes.cpp — see feature_probes.h.
#include "bpf/runtime/feature_probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "bpf/runtime/runtime.h"

namespace rp::bpf::probes {
namespace {

// Hooks that exist on every kernel we care about and cost nothing while a no-op is attached.
constexpr const char* kTpCategory = "sched";
constexpr const char* kTpName = "sched_process_exit";
constexpr const char* kTracedFunc = "vfs_read";
constexpr const char* kIterTarget = "task";
// Program types that take no expected_attach_type.
constexpr auto kNoAttach = static_cast<bpf_attach_type>(0);

class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    bool ok() const { return fd_ >= 0; }

  private:
    int fd_;
};

Result yes(std::string detail) { return {true, std::move(detail)}; }
Result no(std::string detail) { return {false, std::move(detail)}; }

std::optional<std::string> read_small_file(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.ok()) return std::nullopt;
    char buf[256];
    ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// The last non-empty line of a verifier log (its conclusion), or "".
std::string log_tail(const char* log) {
    std::string_view s(log);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
    size_t nl = s.rfind('\n');
    if (nl != std::string_view::npos) s.remove_prefix(nl + 1);
    return std::string(s);
}

// Loads `r0 = 0; exit` as a program of `type`. Returns the fd, or -errno with *why filled in.
int load_noop(bpf_prog_type type, const char* label, bpf_attach_type attach, uint32_t btf_id,
              std::string* why) {
    static const bpf_insn kInsns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},  // r0 = 0
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                   // exit
    };
    char log[4096];
    log[0] = '\0';
    bpf_prog_load_opts opts{};
    opts.sz = sizeof opts;
    opts.expected_attach_type = attach;
    opts.attach_btf_id = btf_id;
    opts.log_buf = log;
    opts.log_size = sizeof log;
    opts.log_level = 0;  // libbpf retries with a log only when the load fails
    int fd = bpf_prog_load(type, "rp_probe", "GPL", kInsns, 2, &opts);
    if (fd < 0) {
        int err = errno != 0 ? errno : -fd;
        *why = errno_message(std::string("load ") + label, err);
        std::string tail = log_tail(log);
        if (!tail.empty()) *why += " (verifier: " + tail + ")";
        return -err;
    }
    return fd;
}

int perf_event_open(perf_event_attr* attr, int cpu) {
    return static_cast<int>(
        ::syscall(__NR_perf_event_open, attr, -1 /* any task */, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

// BTF id of `name` of `kind` in the kernel BTF, or a reason.
int btf_id(const Context& ctx, const char* name, int kind, std::string* why) {
    if (!ctx.find_btf_type) {
        *why = "needs kernel BTF: " + ctx.btf_missing;
        return -1;
    }
    int id = ctx.find_btf_type(name, static_cast<uint32_t>(kind));
    if (id < 0) {
        *why = std::string("kernel BTF has no ") + name;
        return -1;
    }
    return id;
}

}  // namespace

std::span<const std::string_view> btf_names() {
    static const std::string_view kNames[] = {"btf_trace_sched_process_exit", "bpf_iter_task",
                                              "vfs_read"};
    return kNames;
}

Result bpf_syscall() {
    int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "rp_probe", 4, 4, 1, nullptr);
    if (fd < 0) {
        int err = errno != 0 ? errno : -fd;
        std::string why = errno_message("bpf(BPF_MAP_CREATE)", err);
        if (err == EPERM) why += " (needs CAP_BPF or root)";
        return no(why);
    }
    ::close(fd);
    return yes("bpf() creates maps");
}

Result ring_buffer() {
    int r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
    if (r == 1) return yes("BPF_MAP_TYPE_RINGBUF maps create");
    if (r == 0) return no("kernel has no BPF_MAP_TYPE_RINGBUF (Linux < 5.8)");
    return no(errno_message("probe BPF_MAP_TYPE_RINGBUF", -r));
}

Result tracepoint(const Context& ctx) {
    std::string label = std::string("tracepoint/") + kTpCategory + "/" + kTpName;
    if (ctx.tracefs_dir.empty()) return no("needs tracefs: " + ctx.tracefs_missing);
    std::string id_path = ctx.tracefs_dir + "/events/" + kTpCategory + "/" + kTpName + "/id";
    auto id_text = read_small_file(id_path);
    if (!id_text) return no(errno_message("read " + id_path, errno));
    std::string why;
    Fd prog(load_noop(BPF_PROG_TYPE_TRACEPOINT, label.c_str(), kNoAttach, 0, &why));
    if (!prog.ok()) return no(why);
    perf_event_attr attr{};
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof attr;
    attr.config = std::strtoull(id_text->c_str(), nullptr, 10);
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    // Loading and a tracefs id are the probe: attaching and detaching again costs a tracepoint
    // unregistration, which waits for RCU grace periods (~60 ms of start-up on the test VMs).
    return yes(label + " loads, tracefs id " + std::to_string(attr.config) + " (at " +
               ctx.tracefs_dir + ")");
}

Result raw_tracepoint() {
    std::string label = std::string("raw_tp/") + kTpName;
    std::string why;
    Fd prog(load_noop(BPF_PROG_TYPE_RAW_TRACEPOINT, label.c_str(), kNoAttach, 0, &why));
    if (!prog.ok()) return no(why);
    Fd link(bpf_raw_tracepoint_open(kTpName, prog.get()));
    if (!link.ok()) return no(errno_message("attach " + label, errno));
    return yes(label + " loads and attaches");
}

Result tp_btf(const Context& ctx) {
    std::string label = std::string("tp_btf/") + kTpName;
    std::string why;
    int id = btf_id(ctx, (std::string("btf_trace_") + kTpName).c_str(), BTF_KIND_TYPEDEF, &why);
    if (id < 0) return no(why);
    Fd prog(load_noop(BPF_PROG_TYPE_TRACING, label.c_str(), BPF_TRACE_RAW_TP,
                      static_cast<uint32_t>(id), &why));
    if (!prog.ok()) return no(why);
    Fd link(bpf_raw_tracepoint_open(nullptr, prog.get()));
    if (!link.ok()) return no(errno_message("attach " + label, errno));
    return yes(label + " loads and attaches");
}

Result iterators(const Context& ctx) {
    std::string label = std::string("iter/") + kIterTarget;
    std::string why;
    int id = btf_id(ctx, (std::string("bpf_iter_") + kIterTarget).c_str(), BTF_KIND_FUNC, &why);
    if (id < 0) return no(why);
    Fd prog(load_noop(BPF_PROG_TYPE_TRACING, label.c_str(), BPF_TRACE_ITER,
                      static_cast<uint32_t>(id), &why));
    if (!prog.ok()) return no(why);
    Fd link(bpf_link_create(prog.get(), 0, BPF_TRACE_ITER, nullptr));
    if (!link.ok()) return no(errno_message("attach " + label, errno));
    Fd iter(bpf_iter_create(link.get()));
    if (!iter.ok()) return no(errno_message("create " + label, errno));
    char buf[64];
    if (::read(iter.get(), buf, sizeof buf) < 0) return no(errno_message("read " + label, errno));
    return yes(label + " loads, attaches and reads");
}

Result kprobe(const Context& ctx) {
    std::string label = std::string("kprobe/") + kTracedFunc;
    int r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_KPROBE, nullptr);
    if (r == 0) return no("kernel has no BPF_PROG_TYPE_KPROBE");
    if (r < 0) return no(errno_message("probe BPF_PROG_TYPE_KPROBE", -r));
    // libbpf attaches kprobes through the perf "kprobe" PMU (else legacy kprobe_events).
    const std::string pmu = "/sys/bus/event_source/devices/kprobe/type";
    auto type_text = read_small_file(pmu);
    if (!type_text) {
        std::string legacy =
            ctx.tracefs_dir.empty() ? std::string() : ctx.tracefs_dir + "/kprobe_events";
        if (!legacy.empty() && exists(legacy))
            return yes("no kprobe PMU, but " + legacy + " exists (legacy attach, not tried)");
        return no("kernel has no kprobes (no " + pmu + (legacy.empty() ? "" : " nor " + legacy) +
                  ": CONFIG_KPROBES is off)");
    }
    std::string why;
    Fd prog(load_noop(BPF_PROG_TYPE_KPROBE, label.c_str(), kNoAttach, 0, &why));
    if (!prog.ok()) return no(why);
    perf_event_attr attr{};
    attr.type = static_cast<uint32_t>(std::strtoul(type_text->c_str(), nullptr, 10));
    attr.size = sizeof attr;
    attr.config1 = reinterpret_cast<uintptr_t>(kTracedFunc);  // kprobe_func
    attr.config2 = 0;                                         // probe_offset
    Fd pfd(perf_event_open(&attr, 0));
    if (!pfd.ok()) return no(errno_message("perf_event_open " + label, errno));
    if (::ioctl(pfd.get(), PERF_EVENT_IOC_SET_BPF, prog.get()) != 0)
        return no(errno_message("attach " + label, errno));
    return yes(label + " loads and attaches (perf kprobe PMU)");
}

Result fentry(const Context& ctx) {
    std::string label = std::string("fentry/") + kTracedFunc;
    std::string why;
    int id = btf_id(ctx, kTracedFunc, BTF_KIND_FUNC, &why);
    if (id < 0) return no(why);
    Fd prog(load_noop(BPF_PROG_TYPE_TRACING, label.c_str(), BPF_TRACE_FENTRY,
                      static_cast<uint32_t>(id), &why));
    if (!prog.ok()) return no(why);
    Fd link(bpf_raw_tracepoint_open(nullptr, prog.get()));
    if (!link.ok()) return no(errno_message("attach " + label, errno));
    return yes(label + " loads and attaches");
}

}  // namespace rp::bpf::probes
