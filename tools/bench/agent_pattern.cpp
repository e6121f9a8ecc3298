// agent_pattern.cpp — rp_agent_pattern: the Datadog Agent's normal polling of system-probe, at N×
// speed, against a running daemon, while sampling that daemon's memory, CPU and disk writes.
//
//   rp_agent_pattern --unix SOCK --pid PID [--hours 1] [--speed 100] [--sample-ms 250] [--json]
//
// The request mix (real intervals; every one divided by --speed — docs/BENCHMARKS.md, "Footprint"):
//   GET  /<module>/check        every 15 s for each running eBPF check module (oom_kill_probe,
//                               tcp_queue_length_tracer, seccomp_tracer, ebpf, noisy_neighbor):
//                               the Agent's default check interval
//   GET  /discovery/check?...   every 60 s when discovery runs (the service discovery check)
//   POST /process/stats         every 10 s, protobuf, the pids of every process on the host (read
//                               from /proc each time), as the process-agent's process check sends
//   GET  /debug/stats           every 15 s (the Agent itself asks it at start-up and for
//                               `agent status`; counted as often as a check, to be generous)
//   GET  /metrics               every 15 s (a Prometheus scrape; not the Agent)
// over two keep-alive connections used in turn (the Agent's client keeps at most 2 idle).
// Which modules run comes from one GET /debug/stats before the run.
//
// Every --sample-ms it reads the daemon's /proc/PID/status (VmRSS, VmHWM), /proc/PID/stat
// (utime + stime) and /proc/PID/io (write_bytes: bytes the process sent to the storage layer).
// Prints a summary: requests and failures by route, RSS first / after the first tenth (warm) /
// min / max / last, CPU time and share of one CPU, write_bytes during the run.
#include <simdjson.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "http/client.h"

namespace {

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void sleep_until(uint64_t t_ns) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(t_ns / 1000000000ull);
    ts.tv_nsec = static_cast<long>(t_ns % 1000000000ull);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

struct Route {
    std::string label;
    std::string method;
    std::string path;
    double interval_s;
    bool process_stats = false;
    uint64_t next_ns = 0;
    uint64_t sent = 0;
    uint64_t failed = 0;  // transport error or status != 200
    uint64_t bytes = 0;
};

struct Sample {
    uint64_t t_ns;
    uint64_t rss_kib, hwm_kib, cpu_ticks, write_bytes;
};

bool read_sample(pid_t pid, Sample* s) {
    s->t_ns = now_ns();
    std::ifstream st("/proc/" + std::to_string(pid) + "/status");
    if (!st) return false;
    std::string line;
    while (std::getline(st, line)) {
        if (line.starts_with("VmRSS:")) s->rss_kib = std::strtoull(line.c_str() + 6, nullptr, 10);
        if (line.starts_with("VmHWM:")) s->hwm_kib = std::strtoull(line.c_str() + 6, nullptr, 10);
    }
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    size_t close = text.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream rest(text.substr(close + 2));
    std::string f;
    uint64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> f; ++i) {  // fields 3.. after "pid (comm)"
        if (i == 14) utime = std::strtoull(f.c_str(), nullptr, 10);
        if (i == 15) stime = std::strtoull(f.c_str(), nullptr, 10);
    }
    s->cpu_ticks = utime + stime;
    std::ifstream io("/proc/" + std::to_string(pid) + "/io");
    while (std::getline(io, line))
        if (line.starts_with("write_bytes:"))
            s->write_bytes = std::strtoull(line.c_str() + 12, nullptr, 10);
    return true;
}

// ProcessStatRequest { repeated int32 pids = 1; } (packed) with every pid in /proc.
std::string process_stats_body() {
    std::string varints;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        uint64_t v = std::strtoull(name.c_str(), nullptr, 10);
        do {
            uint8_t b = v & 0x7f;
            v >>= 7;
            varints.push_back(static_cast<char>(v != 0 ? (b | 0x80) : b));
        } while (v != 0);
    }
    std::string body(1, '\x0a');  // field 1, length-delimited
    uint64_t len = varints.size();
    do {
        uint8_t b = len & 0x7f;
        len >>= 7;
        body.push_back(static_cast<char>(len != 0 ? (b | 0x80) : b));
    } while (len != 0);
    return body + varints;
}

int usage() {
    std::fprintf(stderr,
                 "usage: rp_agent_pattern --unix SOCK --pid PID [--hours H] [--speed N] "
                 "[--sample-ms MS] [--json]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string sock;
    pid_t pid = 0;
    double hours = 1, speed = 100;
    int sample_ms = 250;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = nullptr;
        if (a == "--unix" && (v = next()))
            sock = v;
        else if (a == "--pid" && (v = next()))
            pid = static_cast<pid_t>(std::atoi(v));
        else if (a == "--hours" && (v = next()))
            hours = std::atof(v);
        else if (a == "--speed" && (v = next()))
            speed = std::atof(v);
        else if (a == "--sample-ms" && (v = next()))
            sample_ms = std::atoi(v);
        else if (a == "--json")
            json = true;
        else
            return usage();
    }
    if (sock.empty() || pid <= 0 || hours <= 0 || speed <= 0 || sample_ms <= 0) return usage();

    using rp::http::Client;
    using rp::http::Endpoint;
    Client clients[2] = {Client(Endpoint::unix_from(sock)), Client(Endpoint::unix_from(sock))};
    for (auto& c : clients) c.set_user_agent("Go-http-client/1.1");  // what the Agent sends

    // Which modules run.
    auto stats = clients[0].get("/debug/stats");
    if (!stats || stats->status != 200) {
        std::fprintf(
            stderr, "rp_agent_pattern: GET /debug/stats: %s\n",
            stats ? ("status " + std::to_string(stats->status)).c_str() : stats.error().c_str());
        return 1;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(stats->body).get(root) != simdjson::SUCCESS) {
        std::fprintf(stderr, "rp_agent_pattern: /debug/stats is not JSON\n");
        return 1;
    }
    auto running = [&](std::string_view m) {
        simdjson::dom::object o;
        if (root[m].get_object().get(o) != simdjson::SUCCESS) return false;
        simdjson::dom::element err;
        return o["Error"].get(err) != simdjson::SUCCESS;
    };
    std::vector<Route> routes;
    for (std::string_view m :
         {"oom_kill_probe", "tcp_queue_length_tracer", "seccomp_tracer", "ebpf", "noisy_neighbor"})
        if (running(m))
            routes.push_back(
                {std::string(m) + "/check", "GET", "/" + std::string(m) + "/check", 15});
    if (running("discovery")) routes.push_back({"discovery/check", "GET", "/discovery/check", 60});
    if (running("process")) routes.push_back({"process/stats", "POST", "/process/stats", 10, true});
    routes.push_back({"debug/stats", "GET", "/debug/stats", 15});
    routes.push_back({"metrics", "GET", "/metrics", 15});

    const uint64_t t0 = now_ns();
    const uint64_t duration_ns = static_cast<uint64_t>(hours * 3600e9 / speed);
    const uint64_t end = t0 + duration_ns;
    // Spread the first calls over the first interval, as checks scheduled at start are.
    for (size_t i = 0; i < routes.size(); ++i)
        routes[i].next_ns =
            t0 + static_cast<uint64_t>(routes[i].interval_s * 1e9 / speed * i / routes.size());
    std::vector<Sample> samples;
    Sample s{};
    if (!read_sample(pid, &s)) {
        std::fprintf(stderr, "rp_agent_pattern: cannot read /proc/%d\n", static_cast<int>(pid));
        return 1;
    }
    samples.push_back(s);
    uint64_t next_sample = t0 + static_cast<uint64_t>(sample_ms) * 1000000ull;
    size_t turn = 0;
    uint64_t total = 0;
    while (true) {
        uint64_t due = next_sample;
        Route* r = nullptr;
        for (auto& x : routes)
            if (x.next_ns < due) {
                due = x.next_ns;
                r = &x;
            }
        if (due >= end) break;
        sleep_until(due);
        if (r == nullptr) {
            if (read_sample(pid, &s)) samples.push_back(s);
            next_sample += static_cast<uint64_t>(sample_ms) * 1000000ull;
            continue;
        }
        Client& c = clients[turn++ % 2];
        std::expected<rp::http::ClientResponse, std::string> resp;
        if (r->process_stats) {
            resp = c.request(
                "POST", r->path, process_stats_body(),
                {{"Content-Type", "application/protobuf"}, {"Accept", "application/protobuf"}});
        } else {
            resp = c.get(r->path);
        }
        ++r->sent;
        ++total;
        if (!resp || resp->status != 200) {
            ++r->failed;
            if (r->failed == 1)
                std::fprintf(stderr, "rp_agent_pattern: %s %s: %s\n", r->method.c_str(),
                             r->path.c_str(),
                             resp ? ("status " + std::to_string(resp->status)).c_str()
                                  : resp.error().c_str());
        } else {
            r->bytes += resp->body.size();
        }
        r->next_ns += static_cast<uint64_t>(r->interval_s * 1e9 / speed);
    }
    if (read_sample(pid, &s)) samples.push_back(s);

    const double wall_s = static_cast<double>(samples.back().t_ns - samples.front().t_ns) / 1e9;
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double cpu_s =
        static_cast<double>(samples.back().cpu_ticks - samples.front().cpu_ticks) / tick;
    uint64_t rss_min = UINT64_MAX, rss_max = 0;
    for (const auto& x : samples) {
        rss_min = std::min(rss_min, x.rss_kib);
        rss_max = std::max(rss_max, x.rss_kib);
    }
    const Sample& warm = samples[std::min(samples.size() - 1, samples.size() / 10)];
    const uint64_t writes = samples.back().write_bytes - samples.front().write_bytes;
    uint64_t failed = 0;
    for (const auto& x : routes) failed += x.failed;

    if (json) {
        std::printf("{\"wall_s\":%.2f,\"requests\":%" PRIu64 ",\"failed\":%" PRIu64
                    ",\"rss_first_kib\":%" PRIu64 ",\"rss_warm_kib\":%" PRIu64
                    ",\"rss_min_kib\":%" PRIu64 ",\"rss_max_kib\":%" PRIu64
                    ",\"rss_last_kib\":%" PRIu64 ",\"hwm_kib\":%" PRIu64
                    ",\"cpu_s\":%.3f,\"cpu_pct\":%.3f,\"write_bytes\":%" PRIu64
                    ",\"samples\":%zu,"
                    "\"routes\":[",
                    wall_s, total, failed, samples.front().rss_kib, warm.rss_kib, rss_min, rss_max,
                    samples.back().rss_kib, samples.back().hwm_kib, cpu_s, 100.0 * cpu_s / wall_s,
                    writes, samples.size());
        for (size_t i = 0; i < routes.size(); ++i)
            std::printf("%s{\"route\":\"%s %s\",\"every_s\":%.3f,\"sent\":%" PRIu64
                        ",\"failed\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
                        i ? "," : "", routes[i].method.c_str(), routes[i].path.c_str(),
                        routes[i].interval_s / speed, routes[i].sent, routes[i].failed,
                        routes[i].bytes);
        std::printf("]}\n");
    } else {
        std::printf("%-34s %9s %8s %7s %12s\n", "route", "every s", "sent", "failed", "bytes");
        for (const auto& x : routes)
            std::printf("%-34s %9.3f %8" PRIu64 " %7" PRIu64 " %12" PRIu64 "\n",
                        (x.method + " " + x.path).c_str(), x.interval_s / speed, x.sent, x.failed,
                        x.bytes);
        std::printf("wall %.1f s, %" PRIu64 " requests, %" PRIu64 " failed\n", wall_s, total,
                    failed);
        std::printf("RSS KiB: first %" PRIu64 ", warm %" PRIu64 ", min %" PRIu64 ", max %" PRIu64
                    ", last %" PRIu64 " (HWM %" PRIu64 ")\n",
                    samples.front().rss_kib, warm.rss_kib, rss_min, rss_max, samples.back().rss_kib,
                    samples.back().hwm_kib);
        std::printf("CPU %.3f s = %.3f %% of one CPU; write_bytes %" PRIu64 "\n", cpu_s,
                    100.0 * cpu_s / wall_s, writes);
    }
    return failed == 0 ? 0 : 1;
}
