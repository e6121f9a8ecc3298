// seccomp_overhead.cpp — what seccomp_tracer costs a system call: ns per call of a trivial system
// call (getuid by default) in a process without a seccomp filter, in one with a filter that allows
// it, and in one whose filter denies it with ERRNO (the path that makes seccomp_tracer replay the
// filter). Run it once with the module loaded and once without (tools/bench/seccomp_overhead.sh
// does both, several times) and compare.
//
// Each case runs in its own child process (a filter cannot be removed), pinned to one CPU, and
// times `--calls` raw syscall(nr) per round with CLOCK_THREAD_CPUTIME_ID (the child's own CPU
// time, so a busy machine's other work is not counted); the result is the median of `--rounds`
// rounds, with the min and max. The filters:
//   allowed: a 64-rule deny list (arch check, then 64 JEQs on other system calls, then ALLOW), the
//            shape of a container runtime's profile; the call falls through to ALLOW. (Since Linux
//            5.11 seccomp caches such argument-independent ALLOWs and skips the filter.)
//   denied:  the same list with the call in it, returning ERRNO(EPERM): the kernel runs the filter
//            every time, and seccomp_tracer replays it once per denial.
// --bpf-stats also turns on the kernel's BPF run-time statistics (BPF_ENABLE_STATS, released on
// exit) and prints, per case, the average run time of every loaded program named seccomp_* and how
// often it ran per call. The statistics add their own cost, so the ns/call of that run are not the
// ones to compare. Other processes' system calls during a case are in those counts too.
//
// Standalone (no project libraries): g++ -O2 -std=c++20 -o seccomp_overhead seccomp_overhead.cpp
// Usage: seccomp_overhead [--syscall getuid|getpid|getppid|getegid] [--calls N] [--rounds R]
//                         [--cpu C] [--label TEXT] [--json] [--bpf-stats]
#include <errno.h>
#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
    long nr = SYS_getuid;
    std::string syscall_name = "getuid";
    bool bpf_stats = false;
    long calls = 2'000'000;
    int rounds = 9;
    int cpu = 0;
    std::string label;
    bool json = false;
};

struct Result {
    double median_ns = 0, min_ns = 0, max_ns = 0;
    bool ok = false;
};

// The thread's CPU time (user + system): time spent preempted by other work on a busy machine is
// not counted, so the result is the cost of the system calls themselves.
uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// System calls a deny list typically names (x86-64 numbers), none of those --syscall offers.
constexpr uint32_t kDenyList[64] = {
    101, 134, 135, 136, 139, 153, 154, 155, 156, 161, 163, 165, 166, 167, 168, 169,
    170, 171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185,
    205, 206, 210, 211, 212, 214, 215, 236, 246, 248, 249, 250, 251, 272, 279, 298,
    300, 301, 303, 304, 308, 310, 311, 312, 313, 317, 320, 321, 323, 425, 426, 427,
};

// A deny list: `extra` (if >= 0) is added to it, every listed call gets ERRNO(EPERM).
bool install_filter(long extra) {
    std::vector<sock_filter> f;
    f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
    f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    std::vector<uint32_t> list(std::begin(kDenyList), std::end(kDenyList));
    if (extra >= 0) list.push_back(static_cast<uint32_t>(extra));
    // JEQ nr → jump to the ERRNO return at the end; else fall through to the next test.
    for (size_t i = 0; i < list.size(); ++i) {
        uint8_t to_deny = static_cast<uint8_t>(list.size() - i);  // skips the rest and the ALLOW
        f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, list[i], to_deny, 0));
    }
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
    sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

enum class Case { unfiltered, allowed, denied };

// In a child: installs the case's filter, runs the rounds, writes the per-round ns/call to `fd`.
int child_main(const Options& o, Case c, int fd) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    if (c == Case::allowed && !install_filter(-1)) return 2;
    if (c == Case::denied && !install_filter(o.nr)) return 2;
    long expect = c == Case::denied ? -1 : syscall(o.nr);
    // Warm-up (and a check that the case is what it claims to be).
    for (int i = 0; i < 1000; ++i)
        if (syscall(o.nr) != expect) return 3;
    for (int r = 0; r < o.rounds; ++r) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < o.calls; ++i) syscall(o.nr);
        double ns = static_cast<double>(now_ns() - t0) / static_cast<double>(o.calls);
        if (write(fd, &ns, sizeof ns) != sizeof ns) return 4;
    }
    return 0;
}

Result run_case(const Options& o, Case c) {
    Result res;
    int p[2];
    if (pipe(p) != 0) return res;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        _exit(child_main(o, c, p[1]));
    }
    close(p[1]);
    std::vector<double> ns;
    double v;
    while (read(p[0], &v, sizeof v) == sizeof v) ns.push_back(v);
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || ns.empty()) {
        std::fprintf(stderr, "seccomp_overhead: case %d failed (status %d)\n", static_cast<int>(c),
                     status);
        return res;
    }
    std::sort(ns.begin(), ns.end());
    res.median_ns = ns[ns.size() / 2];
    res.min_ns = ns.front();
    res.max_ns = ns.back();
    res.ok = true;
    return res;
}

// --- BPF run-time statistics of our programs (raw bpf(2), no libbpf).
long sys_bpf(int cmd, bpf_attr* attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

struct ProgStats {
    uint32_t id;
    std::string name;
    uint64_t run_time_ns, run_cnt;
};

std::vector<ProgStats> seccomp_prog_stats() {
    std::vector<ProgStats> out;
    uint32_t id = 0;
    for (;;) {
        bpf_attr a{};
        a.start_id = id;
        if (sys_bpf(BPF_PROG_GET_NEXT_ID, &a) != 0) break;
        id = a.next_id;
        bpf_attr g{};
        g.prog_id = id;
        int fd = static_cast<int>(sys_bpf(BPF_PROG_GET_FD_BY_ID, &g));
        if (fd < 0) continue;
        bpf_prog_info info{};
        bpf_attr q{};
        q.info.bpf_fd = static_cast<uint32_t>(fd);
        q.info.info_len = sizeof info;
        q.info.info = reinterpret_cast<uint64_t>(&info);
        if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &q) == 0 && std::strncmp(info.name, "seccomp_", 8) == 0)
            out.push_back({id, info.name, info.run_time_ns, info.run_cnt});
        close(fd);
    }
    return out;
}

void print_stats_delta(const std::vector<ProgStats>& before, const std::vector<ProgStats>& after,
                       long calls_made, bool json) {
    for (const auto& a : after) {
        for (const auto& b : before) {
            if (a.id != b.id) continue;
            uint64_t runs = a.run_cnt - b.run_cnt;
            double ns = runs ? static_cast<double>(a.run_time_ns - b.run_time_ns) /
                                   static_cast<double>(runs)
                             : 0;
            double per_call = static_cast<double>(runs) / static_cast<double>(calls_made);
            if (json)
                std::printf(", \"%s\": {\"avg_run_ns\": %.1f, \"runs_per_call\": %.3f}",
                            a.name.c_str(), ns, per_call);
            else if (runs > 0)
                std::printf("      bpf %-24s %6.1f ns/run, %.3f runs/call\n", a.name.c_str(), ns,
                            per_call);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--syscall") {
            o.syscall_name = next();
            if (o.syscall_name == "getuid")
                o.nr = SYS_getuid;
            else if (o.syscall_name == "getpid")
                o.nr = SYS_getpid;
            else if (o.syscall_name == "getppid")
                o.nr = SYS_getppid;
            else if (o.syscall_name == "getegid")
                o.nr = SYS_getegid;
            else {
                std::fprintf(stderr, "--syscall: getuid, getpid, getppid or getegid\n");
                return 2;
            }
        } else if (a == "--bpf-stats")
            o.bpf_stats = true;
        else if (a == "--calls")
            o.calls = std::atol(next());
        else if (a == "--rounds")
            o.rounds = std::atoi(next());
        else if (a == "--cpu")
            o.cpu = std::atoi(next());
        else if (a == "--label")
            o.label = next();
        else if (a == "--json")
            o.json = true;
        else {
            std::fprintf(stderr,
                         "usage: %s [--syscall NAME] [--calls N] [--rounds R] [--cpu C] "
                         "[--label TEXT] [--json] [--bpf-stats]\n",
                         argv[0]);
            return 2;
        }
    }
    if (o.calls <= 0 || o.rounds <= 0) return 2;
    struct Named {
        const char* name;
        Case c;
    };
    const Named cases[] = {{"unfiltered", Case::unfiltered},
                           {"filtered_allowed", Case::allowed},
                           {"filtered_denied", Case::denied}};
    int rc = 0;
    int stats_fd = -1;
    if (o.bpf_stats) {
        bpf_attr a{};
        a.enable_stats.type = BPF_STATS_RUN_TIME;
        stats_fd = static_cast<int>(sys_bpf(BPF_ENABLE_STATS, &a));
        if (stats_fd < 0) {
            std::fprintf(stderr, "seccomp_overhead: BPF_ENABLE_STATS: %s\n", std::strerror(errno));
            return 1;
        }
    }
    if (o.json)
        std::printf("{\"label\": \"%s\", \"syscall\": \"%s\", \"calls\": %ld, \"rounds\": %d",
                    o.label.c_str(), o.syscall_name.c_str(), o.calls, o.rounds);
    else
        std::printf("%s (%s, %ld calls x %d rounds, CPU %d%s; ns per call: median [min, max])\n",
                    o.label.empty() ? "seccomp_overhead" : o.label.c_str(), o.syscall_name.c_str(),
                    o.calls, o.rounds, o.cpu, o.bpf_stats ? ", BPF stats on" : "");
    for (const auto& n : cases) {
        auto before = o.bpf_stats ? seccomp_prog_stats() : std::vector<ProgStats>{};
        Result r = run_case(o, n.c);
        auto after = o.bpf_stats ? seccomp_prog_stats() : std::vector<ProgStats>{};
        if (!r.ok) rc = 1;
        if (o.json)
            std::printf(", \"%s\": {\"median_ns\": %.1f, \"min_ns\": %.1f, \"max_ns\": %.1f",
                        n.name, r.median_ns, r.min_ns, r.max_ns);
        else
            std::printf("  %-18s %7.1f  [%.1f, %.1f]\n", n.name, r.median_ns, r.min_ns, r.max_ns);
        // The case's child made rounds * calls calls (plus a 1000-call warm-up and its set-up).
        if (o.bpf_stats) print_stats_delta(before, after, o.calls * o.rounds + 1000, o.json);
        if (o.json) std::printf("}");
    }
    if (o.json) std::printf("}\n");
    if (stats_fd >= 0) close(stats_fd);
    return rc;
}
