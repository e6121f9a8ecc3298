// net_bench.cpp — rp_net_bench: the network_tracer benchmarks' load and measurements
// (tools/bench/run net; docs/BENCHMARKS.md).
//
//   rp_net_bench poll --unix SOCK --daemon-pid PID --conns N --rounds R [--ss-rounds S]
//       Opens N TCP connections on 127.0.0.1 (both ends in worker processes of at most 9,000
//       connections each, under the per-process file limit: 2N sockets), then R
//       rounds of: one byte each way on every connection (every socket changed), then
//       GET /network_tracer/connections (protobuf, as the process-agent) timed from request to
//       last byte, with the daemon's CPU time for it (schedstat); and, as the reference in the
//       same run, `ss -tin` reading the same sockets through sock_diag (wall and CPU time of the
//       ss process), S rounds. Also one poll with nothing changed. Prints one JSON line.
//       --hold SECONDS keeps the connections open that long before closing them (profiling).
//       --alloc-file PATH: the daemon runs under librp_alloc_count.so writing there; the heap
//       allocations it made during the measured rounds are reported (per poll). The module's
//       map memory and tracked sockets are read from /debug/stats while the connections are open.
//       RP_NET_BENCH_VERBOSE=1 prints each poll's time, size and allocations to stderr.
//   rp_net_bench churn --seconds S
//       Short connections on 127.0.0.1, one after another (connect, accept, 1 byte, close both):
//       connections per second. Prints one JSON line.
//   rp_net_bench udp --seconds S [--size B]
//       A connected UDP pair on 127.0.0.1: send one datagram, receive it, repeat: datagrams per
//       second. Prints one JSON line.
//
// Runs as root (the file limit is raised for N connections). Nothing leaves 127.0.0.1.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "http/client.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "rp_net_bench: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// On-CPU nanoseconds of a process (schedstat's first field; the daemon is single-threaded).
uint64_t cpu_ns(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/schedstat", pid);
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) return 0;
    unsigned long long ns = 0;
    if (std::fscanf(f, "%llu", &ns) != 1) ns = 0;
    std::fclose(f);
    return ns;
}

uint64_t rss_kib(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (std::fgets(line, sizeof line, f) != nullptr)
        if (std::sscanf(line, "VmRSS: %llu kB", &kib) == 1) break;
    std::fclose(f);
    return kib;
}

// allocs + reallocs so far in an rp_alloc_counts file (tools/bench/alloc_count.h).
uint64_t alloc_count(const std::string& path) {
    if (path.empty()) return 0;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    uint64_t v[2] = {};
    if (fd < 0 || ::pread(fd, v, sizeof v, 16) != sizeof v) die("read the allocation counts");
    ::close(fd);
    return v[0] + v[1];
}

// A number field of a JSON body ("key":123), 0 when absent.
uint64_t json_u64(const std::string& body, const std::string& key) {
    size_t at = body.find("\"" + key + "\":");
    return at == std::string::npos ? 0
                                   : std::strtoull(body.c_str() + at + key.size() + 3, nullptr, 10);
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int listen_on(uint16_t port, uint16_t* bound) {
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(port);
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 65535) != 0)
        die("listen");
    socklen_t len = sizeof a;
    ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    *bound = ntohs(a.sin_port);
    return l;
}

// ---------------------------------------------------------------------------------------------
// poll

struct Pair {
    int client, server;
};

std::vector<Pair> open_pairs(int n) {
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    if (files.rlim_cur < static_cast<rlim_t>(2 * n + 64)) {
        files.rlim_cur = std::min<rlim_t>(files.rlim_max, static_cast<rlim_t>(2 * n + 1024));
        if (::setrlimit(RLIMIT_NOFILE, &files) != 0) die("setrlimit RLIMIT_NOFILE");
    }
    // 20,000 connections per listening port: well inside the ephemeral range of one 4-tuple.
    std::vector<int> listeners;
    std::vector<uint16_t> ports;
    for (int i = 0; i < n / 20000 + 1; ++i) {
        uint16_t p = 0;
        listeners.push_back(listen_on(0, &p));
        ports.push_back(p);
    }
    std::vector<Pair> pairs;
    pairs.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        size_t li = static_cast<size_t>(i) % listeners.size();
        int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a = loopback(ports[li]);
        if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
        int s = ::accept4(listeners[li], nullptr, nullptr, SOCK_CLOEXEC);
        if (s < 0) die("accept");
        int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pairs.push_back({c, s});
    }
    for (int l : listeners) ::close(l);
    return pairs;
}

// One byte each way on every connection.
void touch(const std::vector<Pair>& pairs) {
    char b = 'x';
    for (const auto& p : pairs)
        if (::send(p.client, &b, 1, 0) != 1) die("send");
    for (const auto& p : pairs)
        if (::recv(p.server, &b, 1, MSG_WAITALL) != 1) die("recv");
    for (const auto& p : pairs)
        if (::send(p.server, &b, 1, 0) != 1) die("send");
    for (const auto& p : pairs)
        if (::recv(p.client, &b, 1, MSG_WAITALL) != 1) die("recv");
}

struct PollResult {
    double ms = 0, cpu_ms = 0;
    size_t bytes = 0;
};

PollResult poll_once(rp::http::Client& c, int daemon_pid) {
    uint64_t cpu0 = cpu_ns(daemon_pid);
    auto t0 = Clock::now();
    auto r = c.request("GET", "/network_tracer/connections?client_id=bench", {},
                       {{"Accept", "application/protobuf"}});
    PollResult out;
    out.ms = ms_since(t0);
    out.cpu_ms = static_cast<double>(cpu_ns(daemon_pid) - cpu0) / 1e6;
    if (!r || r->status != 200) {
        std::fprintf(stderr, "rp_net_bench: poll: %s\n",
                     r ? ("status " + std::to_string(r->status)).c_str() : r.error().c_str());
        std::exit(1);
    }
    out.bytes = r->body.size();
    return out;
}

// `ss -tin` into /dev/null: wall and CPU time of the ss process.
PollResult ss_once() {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    const char* argv[] = {"ss", "-tin", nullptr};
    pid_t pid = 0;
    auto t0 = Clock::now();
    if (posix_spawnp(&pid, "ss", &fa, nullptr, const_cast<char* const*>(argv), environ) != 0)
        die("spawn ss");
    int status = 0;
    rusage ru{};
    if (::wait4(pid, &status, 0, &ru) != pid) die("wait ss");
    PollResult out;
    out.ms = ms_since(t0);
    out.cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    posix_spawn_file_actions_destroy(&fa);
    return out;
}

// A worker holds `n` connections and touches them on command ('t' -> 'k'; 'q' ends it).
struct Worker {
    pid_t pid;
    int to, from;
};

Worker start_worker(int n) {
    int down[2], up[2];
    if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0) die("pipe");
    pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        std::vector<Pair> pairs = open_pairs(n);
        char c = 'r';
        if (::write(up[1], &c, 1) != 1) std::_Exit(1);
        while (::read(down[0], &c, 1) == 1 && c == 't') {
            touch(pairs);
            c = 'k';
            if (::write(up[1], &c, 1) != 1) std::_Exit(1);
        }
        std::_Exit(0);
    }
    ::close(down[0]);
    ::close(up[1]);
    return {pid, down[1], up[0]};
}

void expect(const Worker& w, char want) {
    char c = 0;
    if (::read(w.from, &c, 1) != 1 || c != want) die("worker");
}

void touch_all(const std::vector<Worker>& ws) {
    for (const auto& w : ws)
        if (::write(w.to, "t", 1) != 1) die("worker");
    for (const auto& w : ws) expect(w, 'k');
}

int cmd_poll(const std::string& sock, int daemon_pid, int n, int rounds, int ss_rounds, int hold_s,
             const std::string& alloc_file, bool verbose) {
    constexpr int kPerWorker = 9000;
    rp::http::Client c(rp::http::Endpoint::unix_from(sock), std::chrono::seconds(60));
    auto reg = c.get("/network_tracer/register?client_id=bench");
    if (!reg || reg->status != 200) die("register");
    auto t_open = Clock::now();
    std::vector<Worker> workers;
    for (int left = n; left > 0; left -= kPerWorker)
        workers.push_back(start_worker(std::min(left, kPerWorker)));
    for (const auto& w : workers) expect(w, 'r');
    double open_ms = ms_since(t_open);
    touch_all(workers);
    poll_once(c, daemon_pid);      // the first poll: every connection new (baselines created)
    for (int i = 0; i < 3; ++i) {  // steady-state polls before counting (buffers grown)
        touch_all(workers);
        poll_once(c, daemon_pid);
    }
    std::vector<double> ms, cpu, ss_ms, ss_cpu;
    size_t bytes = 0;
    uint64_t allocs0 = alloc_count(alloc_file);
    for (int i = 0; i < rounds; ++i) {
        touch_all(workers);
        uint64_t a0 = verbose ? alloc_count(alloc_file) : 0;
        PollResult r = poll_once(c, daemon_pid);
        if (verbose)
            std::fprintf(stderr, "poll %d: %.2f ms, %zu bytes, %llu allocations\n", i, r.ms,
                         r.bytes, static_cast<unsigned long long>(alloc_count(alloc_file) - a0));
        ms.push_back(r.ms);
        cpu.push_back(r.cpu_ms);
        bytes = r.bytes;
    }
    uint64_t allocs = alloc_count(alloc_file) - allocs0;
    PollResult idle = poll_once(c, daemon_pid);  // nothing changed since the last one
    auto st = c.get("/debug/stats");
    std::string stats = st && st->status == 200 ? st->body : "";
    uint64_t map_bytes = json_u64(stats, "map_memlock_bytes");
    uint64_t tracked = json_u64(stats, "tracked_connections");
    for (int i = 0; i < ss_rounds; ++i) {
        PollResult r = ss_once();
        ss_ms.push_back(r.ms);
        ss_cpu.push_back(r.cpu_ms);
    }
    std::printf(
        "{\"conns\":%d,\"sockets\":%d,\"open_ms\":%.0f,\"rounds\":%d,\"poll_p50_ms\":%.2f,"
        "\"poll_p99_ms\":%.2f,\"poll_max_ms\":%.2f,\"poll_bytes\":%zu,\"bytes_per_conn\":%.1f,"
        "\"cpu_p50_ms\":%.2f,\"cpu_p99_ms\":%.2f,\"idle_poll_ms\":%.2f,\"idle_poll_bytes\":%zu,"
        "\"ss_rounds\":%d,\"ss_p50_ms\":%.2f,\"ss_p99_ms\":%.2f,\"ss_cpu_p50_ms\":%.2f,"
        "\"rss_kib\":%llu,\"workers\":%zu,\"allocs_per_poll\":%.2f,\"map_bytes\":%llu,"
        "\"tracked\":%llu}\n",
        n, 2 * n, open_ms, rounds, percentile(ms, 0.5), percentile(ms, 0.99), percentile(ms, 1.0),
        bytes, static_cast<double>(bytes) / (2.0 * n), percentile(cpu, 0.5), percentile(cpu, 0.99),
        idle.ms, idle.bytes, ss_rounds, percentile(ss_ms, 0.5), percentile(ss_ms, 0.99),
        percentile(ss_cpu, 0.5), static_cast<unsigned long long>(rss_kib(daemon_pid)),
        workers.size(), static_cast<double>(allocs) / rounds,
        static_cast<unsigned long long>(map_bytes), static_cast<unsigned long long>(tracked));
    if (hold_s > 0) ::sleep(static_cast<unsigned>(hold_s));  // keep them open (profiling)
    for (const auto& w : workers) {
        ::write(w.to, "q", 1);
        ::waitpid(w.pid, nullptr, 0);
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// churn and UDP

int cmd_churn(double seconds) {
    uint16_t port = 0;
    int l = listen_on(0, &port);
    sockaddr_in a = loopback(port);
    auto end = Clock::now() + std::chrono::duration<double>(seconds);
    uint64_t n = 0;
    char b = 'x';
    auto t0 = Clock::now();
    while (Clock::now() < end) {
        for (int k = 0; k < 64; ++k) {
            int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
            int s = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
            if (s < 0) die("accept");
            if (::send(c, &b, 1, 0) != 1 || ::recv(s, &b, 1, 0) != 1) die("1 byte");
            ::close(c);
            ::close(s);
            ++n;
        }
    }
    double s = ms_since(t0) / 1e3;
    std::printf("{\"connections\":%llu,\"seconds\":%.3f,\"per_s\":%.0f}\n",
                static_cast<unsigned long long>(n), s, static_cast<double>(n) / s);
    return 0;
}

int cmd_udp(double seconds, size_t size) {
    int rx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(0);
    if (::bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
    socklen_t len = sizeof a;
    ::getsockname(rx, reinterpret_cast<sockaddr*>(&a), &len);
    int tx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (::connect(tx, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
    std::vector<char> buf(size, 'x');
    auto end = Clock::now() + std::chrono::duration<double>(seconds);
    uint64_t n = 0;
    auto t0 = Clock::now();
    while (Clock::now() < end) {
        for (int k = 0; k < 256; ++k) {
            if (::send(tx, buf.data(), size, 0) != static_cast<ssize_t>(size)) die("send");
            if (::recv(rx, buf.data(), size, 0) != static_cast<ssize_t>(size)) die("recv");
            ++n;
        }
    }
    double s = ms_since(t0) / 1e3;
    std::printf("{\"datagrams\":%llu,\"seconds\":%.3f,\"per_s\":%.0f}\n",
                static_cast<unsigned long long>(n), s, static_cast<double>(n) / s);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: rp_net_bench poll|churn|udp ... (see net_bench.cpp)\n");
        return 2;
    }
    std::string_view cmd = argv[1];
    std::string sock;
    int pid = 0, conns = 10000, rounds = 20, ss_rounds = 10, hold_s = 0;
    std::string alloc_file;
    const bool verbose = std::getenv("RP_NET_BENCH_VERBOSE") != nullptr;
    double seconds = 3;
    size_t size = 64;
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string_view k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--unix")
            sock = v;
        else if (k == "--daemon-pid")
            pid = std::atoi(v);
        else if (k == "--conns")
            conns = std::atoi(v);
        else if (k == "--rounds")
            rounds = std::atoi(v);
        else if (k == "--ss-rounds")
            ss_rounds = std::atoi(v);
        else if (k == "--hold")
            hold_s = std::atoi(v);
        else if (k == "--alloc-file")
            alloc_file = v;
        else if (k == "--seconds")
            seconds = std::atof(v);
        else if (k == "--size")
            size = static_cast<size_t>(std::atoi(v));
        else {
            std::fprintf(stderr, "rp_net_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (cmd == "poll")
        return cmd_poll(sock, pid, conns, rounds, ss_rounds, hold_s, alloc_file, verbose);
    if (cmd == "churn") return cmd_churn(seconds);
    if (cmd == "udp") return cmd_udp(seconds, size);
    std::fprintf(stderr, "rp_net_bench: unknown command %s\n", argv[1]);
    return 2;
}
