// discovery_bench.cpp — rp_disc_bench: the discovery benchmark (docs/BENCHMARKS.md, "Discovery").
//
// Starts --procs processes (`sleep`, --listening of them holding a listening TCP socket), then,
// --rounds times and alternating within each round:
//   new        POST /discovery/services {"new_pids": [all]} to the daemon
//   heartbeat  POST /discovery/services {"heartbeat_pids": [all]}
//   reference  a bare C loop doing only the unavoidable /proc reads for the same pids: list
//              /proc/<pid>/fd, read each link, and for a process with sockets stat its ns/net and
//              read /proc/<pid>/net/{tcp,tcp6,udp,udp6} once per namespace. Run on the daemon's
//              CPU (--cpu), timed by its own thread CPU time.
// and prints one JSON line: per kind, p50/p99 latency (µs), median CPU per call (µs: the daemon's
// on-CPU time from /proc/<pid>/schedstat, the reference's thread CPU time), response bytes; the
// daemon's RSS before the first request and after the last; with --alloc-file (the daemon run
// under librp_alloc_count.so) heap allocations per request during the measured rounds.
//
//   rp_disc_bench --unix SOCK --daemon-pid PID [--procs 1000] [--listening 100] [--rounds 30]
//                 [--cpu 0] [--alloc-file F]
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "http/client.h"
#include "tools/bench/alloc_count.h"

namespace {

uint64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// On-CPU nanoseconds of every thread of a process.
uint64_t cpu_ns(int pid) {
    uint64_t total = 0;
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return 0;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        FILE* f = std::fopen((dir + "/" + e->d_name + "/schedstat").c_str(), "r");
        if (f == nullptr) continue;
        unsigned long long v = 0;
        if (std::fscanf(f, "%llu", &v) == 1) total += v;
        std::fclose(f);
    }
    closedir(d);
    return total;
}

long rss_kib(int pid) {
    FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
    if (f == nullptr) return -1;
    char line[256];
    long v = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmRSS: %ld", &v) == 1) break;
    std::fclose(f);
    return v;
}

// ---------------------------------------------------------------- the reference loop

struct Reference {
    std::vector<uint64_t> seen_ns;
    std::vector<char> buf = std::vector<char>(64 * 1024);
    uint64_t links = 0, sockets = 0, table_bytes = 0;

    void run(const std::vector<int>& pids) {
        seen_ns.clear();
        alignas(8) char dents[8192];
        char target[4096], path[64];
        for (int pid : pids) {
            std::snprintf(path, sizeof path, "/proc/%d/fd", pid);
            int dfd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0) continue;
            bool has_socket = false;
            // No getdents that would return 0: procfs stops early only when the next entry does
            // not fit, so room to spare means the listing is complete (the daemon does the same).
            for (bool done = false; !done;) {
                long got = syscall(SYS_getdents64, dfd, dents, sizeof dents);
                done = got <= 0 || sizeof dents - static_cast<size_t>(got) >= 64;
                if (got <= 0) break;
                for (long off = 0; off < got;) {
                    auto* d = reinterpret_cast<struct dirent64*>(dents + off);
                    off += d->d_reclen;
                    if (d->d_name[0] == '.') continue;
                    ssize_t n = ::readlinkat(dfd, d->d_name, target, sizeof target);
                    ++links;
                    if (n > 8 && std::memcmp(target, "socket:[", 8) == 0) {
                        has_socket = true;
                        ++sockets;
                    }
                }
            }
            ::close(dfd);
            if (!has_socket) continue;
            std::snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
            struct stat st;
            if (::stat(path, &st) != 0) continue;
            if (std::find(seen_ns.begin(), seen_ns.end(), st.st_ino) != seen_ns.end()) continue;
            seen_ns.push_back(st.st_ino);
            for (const char* t : {"tcp", "tcp6", "udp", "udp6"}) {
                std::snprintf(path, sizeof path, "/proc/%d/net/%s", pid, t);
                int fd = ::open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) continue;
                ssize_t n;
                while ((n = ::read(fd, buf.data(), buf.size())) > 0)
                    table_bytes += static_cast<uint64_t>(n);
                ::close(fd);
            }
        }
    }
};

// ---------------------------------------------------------------- helpers

double percentile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

struct Series {
    std::vector<double> latency_us, cpu_us;
    size_t bytes = 0;
    size_t services = 0;
};

void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}
void unpin() {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < CPU_SETSIZE && i < 64; ++i) CPU_SET(i, &set);
    sched_setaffinity(0, sizeof set, &set);
}

const rp_alloc_counts* map_counts(const char* path) {
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    void* m = mmap(nullptr, sizeof(rp_alloc_counts), PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    return m == MAP_FAILED ? nullptr : static_cast<const rp_alloc_counts*>(m);
}

size_t count_services(const std::string& body) {
    size_t n = 0;
    for (size_t at = body.find("{\"pid\":"); at != std::string::npos;
         at = body.find("{\"pid\":", at + 1))
        ++n;
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    std::string sock, alloc_file;
    int daemon = 0, procs = 1000, listening = 100, rounds = 30, cpu = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "rp_disc_bench: %s needs a value\n", argv[i]);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--unix")
            sock = next();
        else if (a == "--daemon-pid")
            daemon = std::atoi(next());
        else if (a == "--procs")
            procs = std::atoi(next());
        else if (a == "--listening")
            listening = std::atoi(next());
        else if (a == "--rounds")
            rounds = std::atoi(next());
        else if (a == "--cpu")
            cpu = std::atoi(next());
        else if (a == "--alloc-file")
            alloc_file = next();
        else {
            std::fprintf(
                stderr,
                "usage: rp_disc_bench --unix SOCK --daemon-pid PID [--procs N] [--listening N]"
                " [--rounds N] [--cpu N] [--alloc-file F]\n");
            return 2;
        }
    }
    if (sock.empty() || daemon <= 0) {
        std::fprintf(stderr, "rp_disc_bench: --unix and --daemon-pid are required\n");
        return 2;
    }

    // The processes: sleep, some with a listening socket as fd 3.
    std::vector<int> pids;
    for (int i = 0; i < procs; ++i) {
        int lfd = -1;
        if (i < listening) {
            lfd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
                ::listen(lfd, 4) != 0) {
                std::perror("rp_disc_bench: listen");
                return 1;
            }
        }
        pid_t p = ::fork();
        if (p < 0) {
            std::perror("rp_disc_bench: fork");
            return 1;
        }
        if (p == 0) {
            int null = ::open("/dev/null", O_RDWR);
            for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
            if (lfd >= 0) ::dup2(lfd, 3);
            for (int fd = 4; fd < 1024; ++fd) ::close(fd);
            ::execlp("sleep", "sleep", "100000", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        if (lfd >= 0) ::close(lfd);
        pids.push_back(p);
    }
    auto cleanup = [&] {
        for (int p : pids) ::kill(p, SIGKILL);
        for (int p : pids) ::waitpid(p, nullptr, 0);
    };
    // Until every one has exec'd.
    for (int p : pids) {
        for (int tries = 0; tries < 5000; ++tries) {
            char path[64], comm[32] = {};
            std::snprintf(path, sizeof path, "/proc/%d/comm", p);
            int fd = ::open(path, O_RDONLY);
            ssize_t n = fd >= 0 ? ::read(fd, comm, sizeof comm - 1) : -1;
            if (fd >= 0) ::close(fd);
            if (n > 0 && std::strncmp(comm, "sleep\n", 6) == 0) break;
            usleep(1000);
        }
    }

    std::string list;
    for (size_t i = 0; i < pids.size(); ++i) list += (i ? "," : "") + std::to_string(pids[i]);
    const std::string new_body = "{\"new_pids\":[" + list + "]}";
    const std::string hb_body = "{\"heartbeat_pids\":[" + list + "]}";

    rp::http::Client client(rp::http::Endpoint::unix_from(sock), std::chrono::seconds(60));
    long rss_before = rss_kib(daemon);
    auto call = [&](const std::string& body, Series& s, bool record) {
        uint64_t c0 = cpu_ns(daemon), t0 = now_ns();
        auto r = client.post("/discovery/services", body);
        uint64_t t1 = now_ns(), c1 = cpu_ns(daemon);
        if (!r || r->status != 200) {
            std::fprintf(stderr, "rp_disc_bench: request failed: %s\n",
                         r ? r->body.c_str() : r.error().c_str());
            cleanup();
            std::exit(1);
        }
        if (!record) return;
        s.latency_us.push_back(static_cast<double>(t1 - t0) / 1e3);
        s.cpu_us.push_back(static_cast<double>(c1 - c0) / 1e3);
        s.bytes = r->body.size();
        s.services = count_services(r->body);
    };
    Reference ref;
    auto reference = [&](Series& s, bool record) {
        pin(cpu);
        uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns();
        ref.run(pids);
        uint64_t t1 = now_ns(), c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        unpin();
        if (!record) return;
        s.latency_us.push_back(static_cast<double>(t1 - t0) / 1e3);
        s.cpu_us.push_back(static_cast<double>(c1 - c0) / 1e3);
    };

    Series news, hbs, refs, scratch;
    for (int w = 0; w < 3; ++w) {  // warm-up: buffers grow, caches fill
        call(new_body, scratch, false);
        call(hb_body, scratch, false);
        reference(scratch, false);
    }
    const rp_alloc_counts* counts = alloc_file.empty() ? nullptr : map_counts(alloc_file.c_str());
    uint64_t a0 = counts ? counts->allocs + counts->reallocs : 0;
    uint64_t daemon_requests = 0;
    for (int r = 0; r < rounds; ++r) {
        switch (r % 3) {  // A/B/C alternate
            case 0:
                call(new_body, news, true), call(hb_body, hbs, true), reference(refs, true);
                break;
            case 1:
                reference(refs, true), call(new_body, news, true), call(hb_body, hbs, true);
                break;
            default:
                call(hb_body, hbs, true), reference(refs, true), call(new_body, news, true);
                break;
        }
        daemon_requests += 2;
    }
    uint64_t a1 = counts ? counts->allocs + counts->reallocs : 0;
    long rss_after = rss_kib(daemon);
    ref.links = ref.sockets = 0;
    ref.run(pids);
    cleanup();

    auto series = [](const char* name, const Series& s) {
        std::printf(
            "\"%s\":{\"p50_us\":%.1f,\"p99_us\":%.1f,\"cpu_us\":%.1f,\"bytes\":%zu,\"services\":%"
            "zu},",
            name, percentile(s.latency_us, 0.5), percentile(s.latency_us, 0.99),
            percentile(s.cpu_us, 0.5), s.bytes, s.services);
    };
    // How big the host's socket tables were: /proc/net/tcp's cost grows with every connection.
    auto lines = [](const char* path) {
        FILE* f = std::fopen(path, "r");
        long n = -1;  // the header
        if (f == nullptr) return 0L;
        for (int c; (c = std::fgetc(f)) != EOF;)
            if (c == '\n') ++n;
        std::fclose(f);
        return std::max(n, 0L);
    };
    std::printf("{\"procs\":%d,\"listening\":%d,\"rounds\":%d,\"tcp_table_sockets\":%ld,", procs,
                listening, rounds, lines("/proc/net/tcp") + lines("/proc/net/tcp6"));
    series("new", news);
    series("heartbeat", hbs);
    series("reference", refs);
    std::printf(
        "\"reference_links\":%llu,\"reference_sockets\":%llu,\"rss_before_kib\":%ld,"
        "\"rss_after_kib\":%ld",
        static_cast<unsigned long long>(ref.links), static_cast<unsigned long long>(ref.sockets),
        rss_before, rss_after);
    if (counts != nullptr)
        std::printf(",\"allocs_per_request\":%.4f",
                    static_cast<double>(a1 - a0) / static_cast<double>(daemon_requests));
    std::printf("}\n");
    return 0;
}
