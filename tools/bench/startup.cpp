// startup.cpp — rp_startup: how long the daemon takes from exec to its first 200 on /debug/stats.
//
//   rp_startup --unix /tmp/s.sock [-n 20] [--daemon-cpu 0] [--body-out FILE] [--json] -- ringprobe ...
//
// Each run: remove the socket, fork + exec the command, try to connect every 100 µs, send
// GET /debug/stats as soon as the socket accepts, stop the clock at a complete 200 response, then
// SIGTERM the daemon and wait for it (also timed). Prints each run, then min / median / max.
// --body-out keeps the last /debug/stats body (modules report their load/attach times there).
// --daemon-cpu pins the daemon (not this poller) to one CPU, so the two do not compete.
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// One GET /debug/stats over a connected socket; the status and body of the answer.
bool get_stats(int fd, int* status, std::string* body) {
    static constexpr std::string_view kReq =
        "GET /debug/stats HTTP/1.1\r\nHost: sysprobe\r\nConnection: close\r\n\r\n";
    if (send(fd, kReq.data(), kReq.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(kReq.size()))
        return false;
    std::string resp;
    char buf[16384];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        resp.append(buf, static_cast<size_t>(n));
        size_t he = resp.find("\r\n\r\n");
        if (he == std::string::npos) continue;
        size_t cl = resp.find("Content-Length: ");
        if (cl == std::string::npos || cl > he) continue;
        size_t len = std::strtoull(resp.c_str() + cl + 16, nullptr, 10);
        if (resp.size() >= he + 4 + len) {
            *body = resp.substr(he + 4, len);
            break;
        }
    }
    if (resp.size() < 12 || resp.compare(0, 7, "HTTP/1.") != 0) return false;
    *status = std::atoi(resp.c_str() + 9);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::string sock, body_out;
    int runs = 20;
    int daemon_cpu = -1;
    int timeout_ms = 10000;
    bool json = false;
    int i = 1;
    for (; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (i + 1 >= argc && a != "--json") break;
        if (a == "--unix") sock = argv[++i];
        else if (a == "-n") runs = std::atoi(argv[++i]);
        else if (a == "--timeout-ms") timeout_ms = std::atoi(argv[++i]);
        else if (a == "--body-out") body_out = argv[++i];
        else if (a == "--daemon-cpu") daemon_cpu = std::atoi(argv[++i]);
        else if (a == "--json") json = true;
        else break;
    }
    if (sock.empty() || i >= argc || runs < 1) {
        std::fprintf(stderr, "usage: rp_startup --unix SOCKET [-n RUNS] [--timeout-ms MS] "
                             "[--daemon-cpu CPU] [--body-out FILE] [--json] -- COMMAND ARGS...\n");
        return 2;
    }
    char** cmd = argv + i;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());

    std::vector<double> ready_ms, stop_ms;
    std::string body;
    for (int r = 0; r < runs; ++r) {
        unlink(sock.c_str());
        uint64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid == 0) {
            if (daemon_cpu >= 0) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(daemon_cpu, &set);
                sched_setaffinity(0, sizeof set, &set);
            }
            execvp(cmd[0], cmd);
            std::perror("exec");
            _exit(127);
        }
        int status = 0;
        bool ready = false;
        uint64_t connected_ns = 0;
        uint64_t deadline = t0 + static_cast<uint64_t>(timeout_ms) * 1000000ull;
        while (now_ns() < deadline) {
            if (waitpid(pid, nullptr, WNOHANG) == pid) {
                std::fprintf(stderr, "rp_startup: the daemon exited before answering\n");
                return 1;
            }
            int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
                if (connected_ns == 0) connected_ns = now_ns();
                if (get_stats(fd, &status, &body) && status == 200) {
                    close(fd);
                    ready = true;
                    break;
                }
            }
            close(fd);
            usleep(100);
        }
        uint64_t t1 = now_ns();
        if (!ready) {
            std::fprintf(stderr, "rp_startup: no 200 from /debug/stats within %d ms (last status %d)\n",
                         timeout_ms, status);
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            return 1;
        }
        kill(pid, SIGTERM);
        waitpid(pid, nullptr, 0);
        uint64_t t2 = now_ns();
        ready_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
        stop_ms.push_back(static_cast<double>(t2 - t1) / 1e6);
        if (!json)
            std::printf("run %d: ready in %.2f ms (socket accepted a connection at %.2f ms), stopped "
                        "in %.2f ms\n", r + 1, ready_ms.back(),
                        static_cast<double>(connected_ns - t0) / 1e6, stop_ms.back());
    }
    auto summary = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return std::vector<double>{v.front(), v[v.size() / 2], v.back()};
    };
    auto rs = summary(ready_ms), ss = summary(stop_ms);
    if (json) {
        std::printf("{\"runs\":%d,\"ready_min_ms\":%.2f,\"ready_median_ms\":%.2f,\"ready_max_ms\":%.2f,"
                    "\"stop_median_ms\":%.2f}\n", runs, rs[0], rs[1], rs[2], ss[1]);
    } else {
        std::printf("exec → first 200: min %.2f ms, median %.2f ms, max %.2f ms (%d runs); "
                    "SIGTERM → exit median %.2f ms\n", rs[0], rs[1], rs[2], runs, ss[1]);
    }
    if (!body_out.empty()) {
        if (FILE* f = std::fopen(body_out.c_str(), "w")) {
            std::fwrite(body.data(), 1, body.size(), f);
            std::fclose(f);
        }
    }
    return 0;
}
