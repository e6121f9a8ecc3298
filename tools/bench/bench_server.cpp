// bench_server.cpp — rp_bench_server: ringprobe's own loop, server and module host, plus what only
// the benchmarks need. Never installed; built with RINGPROBE_BENCH=ON.
//
//   rp_bench_server serve --config C
//       The daemon (same Reactor, Router, modules::Host and http::Server as modules/daemon.cpp,
//       modules from the config) plus GET /bench/check: an oom_kill_probe /check-shaped body with
//       20 events, written by the JsonWriter on every request and never flushed, so the HTTP
//       benchmark can serve a few-KiB check body at full rate (the real /check empties itself).
//   rp_bench_server events --config C --consumer daemon|libbpf [--rate N] [--per-call K]
//                   [--seconds S] [--ring-bytes B] [--driver-cpu 1] [--start-delay-ms MS]
//       Benchmark 5. Forks a driver pinned to --driver-cpu that calls getppid() N/K times per
//       second (0 = as fast as it can) for S seconds; tools/bench/bench_events.bpf.c turns each
//       call into K 64-byte ring-buffer records. consumer=daemon drains them exactly as a module
//       does (bpf::RingBuffer watched by the reactor's FdWatch, while serving HTTP with every
//       configured module); consumer=libbpf drains them with the minimal `ring_buffer__poll` loop.
//       Prints one JSON line: produced, consumed, lost, sequence gaps, consumer CPU, wake-ups,
//       and the event delivery latency (BPF timestamp → consumer callback) percentiles.
//       Diagnostics (how the lost wake-ups of a multishot poll were found): consumer=daemon-mapfd
//       polls the map fd instead of libbpf's epoll fd; consumer=uring-{multishot,oneshot}[-defer]
//       is a bare io_uring poll loop of that shape (-defer: SINGLE_ISSUER|DEFER_TASKRUN) that
//       drains only when a completion says so, so a lost wake-up shows as lost events.
//   rp_bench_server empty-hooks
//       Attaches tools/bench/empty_hooks.bpf.c (programs that do nothing on network_tracer's
//       UDP tracepoints), prints "attached" and waits for SIGTERM or SIGINT: the host-overhead
//       benchmark's floor of any program on those hooks.
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "http/listener.h"
#include "http/router.h"
#include "http/server.h"
#include "loop/log.h"
#include "loop/reactor.h"
#include "loop/signal_watch.h"
#include "loop/timer.h"
#include "modules/host.h"
#include "modules/oom_kill/oom_report.h"
#include "tools/bench/latency_histogram.h"

#if RINGPROBE_WITH_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <liburing.h>

#include "bench_events.skel.h"
#include "bpf/runtime/cpu_slots.h"
#include "bpf/runtime/ring_buffer.h"
#include "bpf/runtime/runtime.h"
#include "bpf/runtime/skeleton.h"
#include "tools/bench/bench_events.h"
static_assert(sizeof(bench_event) == 64, "tools/bench/bench_events.h layout changed");
#endif

using namespace rp;

namespace {

struct Args {
    std::string mode;
    std::string config;
    std::string consumer = "daemon";
    uint64_t rate = 1000000;
    double seconds = 5;
    uint64_t ring_bytes = 4u << 20;
    int driver_cpu = 1;
    int start_delay_ms = 300;
    uint32_t per_call = 1;  // records per getppid() call
};

int usage() {
    std::fprintf(stderr,
                 "usage: rp_bench_server serve --config FILE\n"
                 "       rp_bench_server events --config FILE --consumer "
                 "daemon|daemon-mapfd|libbpf\n                       [--rate N]"
                 "                       [--seconds S] [--ring-bytes B] [--driver-cpu CPU]\n"
                 "                       [--start-delay-ms MS] [--per-call K]\n"
                 "       rp_bench_server empty-hooks\n");
    return 2;
}

uint64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t cpu_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// --- GET /bench/check: 20 OOM events in oom_kill_probe's payload shape.
std::vector<modules::oom::Report> make_fake_ooms() {
    std::vector<modules::oom::Report> v;
    for (uint32_t i = 0; i < 20; ++i) {
        char cg[160];
        std::snprintf(cg, sizeof cg, "cri-containerd-%08x%08x%08x%08x%08x%08x%08x%08x.scope",
                      0x9f3a1c00u + i, 0x5e2b7d41u, 0x0c4f8a93u ^ i, 0x77d210aeu,
                      0x1b6e3f52u + 7 * i, 0xa40c9e18u, 0x3d5b7f21u, 0xe8c6a4b2u ^ (i << 4));
        modules::oom::Report r;
        r.cgroup_name = cg;
        r.victim_pid = 41000 + i * 37;
        r.trigger_pid = 40990 + i * 11;
        r.victim_comm = i % 3 ? "java" : "python3.11";
        r.trigger_comm = i % 2 ? "stress-ng-vm" : "kubelet";
        r.score = 1870 + 13 * i;
        r.score_adj = static_cast<int16_t>(i % 4 == 0 ? 1000 : 0);
        r.pages = 16384 + 1024 * i;
        r.memcg_oom = i % 5 ? 1u : 0u;
        v.push_back(std::move(r));
    }
    return v;
}

void write_fake_check(const std::vector<modules::oom::Report>& ooms, http::JsonWriter& w) {
    // The module's own serialisation, as modules/oom_kill's check() writes a non-empty answer.
    w.start_array();
    for (const auto& r : ooms) modules::oom::write_report(w, r);
    w.end_array();
}

// The daemon's pieces, wired as modules/daemon.cpp wires them.
struct Daemon {
    std::unique_ptr<loop::Reactor> reactor;
    http::Router router;
    std::unique_ptr<modules::Host> host;
    std::unique_ptr<http::Server> server;
    std::string socket_path;
    loop::SignalWatch signals;
    std::vector<modules::oom::Report> ooms = make_fake_ooms();
    std::function<void(http::JsonWriter&)> bench_stats;

    std::string start(const conf::Config& cfg) {
        auto r = loop::Reactor::create();
        if (!r) return r.error();
        reactor = std::move(*r);
        host = std::make_unique<modules::Host>(*reactor, cfg, router);
        host->register_global_routes();
        if (auto s = host->start(); !s) return s.error();
        router.mount("bench").handle("GET", "/check",
                                     [this](const http::Request&, http::Response& res) {
                                         write_fake_check(ooms, res.json());
                                     });
        server = std::make_unique<http::Server>(*reactor, router, modules::http_limits(cfg));
        host->set_extra_stats([this](http::JsonWriter& w) {
            w.start_object();
            w.kv_uint("requests", server->stats().requests);
            w.key("bench");
            if (bench_stats)
                bench_stats(w);
            else
                w.null();
            w.end_object();
        });
        socket_path = cfg.get_string("system_probe_config.sysprobe_socket");
        http::UnixListenOptions uo;
        uo.path = socket_path;
        auto ufd = http::listen_unix(uo);
        if (!ufd) return ufd.error();
        if (auto a = server->add_listener(*ufd, "unix:" + socket_path); !a) return a.error();
        int port = static_cast<int>(cfg.get_int("system_probe_config.debug_port"));
        if (port != 0) {
            std::string host_name = cfg.get_string("system_probe_config.debug_host");
            auto tfd = http::listen_tcp(host_name, port);
            if (!tfd) return tfd.error();
            if (auto a = server->add_listener(*tfd, "tcp"); !a) return a.error();
        }
        std::string e = signals.start(*reactor, {SIGTERM, SIGINT}, [this](int) { stop(); });
        return e;
    }
    void stop() {
        server->shutdown(2000, [this] { reactor->stop(); });
    }
    ~Daemon() {
        if (host) host->close_all();
        if (!socket_path.empty()) unlink(socket_path.c_str());
    }
};

int run_serve(const conf::Config& cfg) {
    Daemon d;
    if (std::string e = d.start(cfg); !e.empty()) {
        LOG_ERROR("%s", e.c_str());
        return 1;
    }
    return d.reactor->run() == 0 ? 0 : 1;
}

#if RINGPROBE_WITH_BPF

// The driver: a child pinned to `cpu` that waits for a byte on `go_fd`, then calls getppid()
// `rate` times per second (0 = flat out) for `seconds`, and exits.
pid_t fork_driver(int cpu, uint64_t rate, double seconds, int* go_write_fd) {
    int p[2];
    if (pipe(p) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid > 0) {
        close(p[0]);
        *go_write_fd = p[1];
        return pid;
    }
    close(p[1]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "rp_ev_driver");
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    char b;
    if (read(p[0], &b, 1) != 1) _exit(1);
    uint64_t start = mono_ns();
    uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
    uint64_t issued = 0;
    for (;;) {
        uint64_t now = mono_ns();
        if (now >= end) break;
        uint64_t batch = 64;
        if (rate > 0) {
            uint64_t due = static_cast<uint64_t>(static_cast<double>(rate) *
                                                 static_cast<double>(now - start) / 1e9);
            if (due <= issued) continue;  // ahead of schedule: spin
            batch = due - issued;
            if (batch > 256) batch = 256;
        }
        for (uint64_t i = 0; i < batch; ++i) syscall(SYS_getppid);
        issued += batch;
    }
    _exit(0);
}

// What every consumer does with a record: copy it out, check the sequence, sample its latency.
struct EventSink {
    uint64_t consumed = 0;
    uint64_t gaps = 0;  // records missing between two received ones
    uint64_t next_seq = 0;
    uint64_t checksum = 0;
    bench::LatencyHistogram latency;

    void on_record(const void* data, size_t size) {
        if (size < sizeof(bench_event)) return;
        bench_event e;
        std::memcpy(&e, data, sizeof e);
        if (e.seq != next_seq) gaps += e.seq > next_seq ? e.seq - next_seq : 0;
        next_seq = e.seq + 1;
        checksum += e.arg;
        if ((consumed++ & 63) == 0) {
            uint64_t now = mono_ns();
            latency.record(now > e.timestamp_ns ? now - e.timestamp_ns : 0);
        }
    }
};

int run_events(const Args& a, const conf::Config& cfg) {
    auto rt_or = bpf::Runtime::setup();
    if (!rt_or) {
        LOG_ERROR("bpf runtime: %s", rt_or.error().c_str());
        return 1;
    }
    bpf::Runtime& rt = **rt_or;
    int go_fd = -1;
    if (a.per_call < 1 || a.per_call > BENCH_MAX_EVENTS_PER_CALL) return usage();
    // The driver paces calls; each call makes per_call records.
    pid_t driver = fork_driver(a.driver_cpu, a.rate / a.per_call, a.seconds, &go_fd);
    if (driver < 0) {
        LOG_ERROR("fork driver: %s", std::strerror(errno));
        return 1;
    }
    auto skel = bpf::Skeleton<bench_events_bpf>::create(
        rt, "bench", "bench_events", [&](bench_events_bpf* s) -> std::expected<void, std::string> {
            s->rodata->target_tgid = static_cast<uint32_t>(driver);
            s->rodata->events_per_call = a.per_call;
            if (int e =
                    bpf_map__set_max_entries(s->maps.events, static_cast<uint32_t>(a.ring_bytes));
                e != 0)
                return std::unexpected("ring buffer size " + std::to_string(a.ring_bytes) + ": " +
                                       std::strerror(-e));
            if (auto r = bpf::size_cpu_slots(s->maps.lost_events); !r) return r;
            return bpf::size_cpu_slots(s->maps.produced);
        });
    if (!skel) {
        LOG_ERROR("%s", skel.error().c_str());
        kill(driver, SIGKILL);
        return 1;
    }
    int ring_fd = bpf_map__fd((*skel)->maps.events);
    int lost_fd = bpf_map__fd((*skel)->maps.lost_events);
    auto produced_slots = bpf::CpuSlots::map(bpf_map__fd((*skel)->maps.produced), "produced");
    auto lost_slots = bpf::CpuSlots::map(lost_fd, "lost_events");
    if (!produced_slots || !lost_slots) {
        LOG_ERROR("%s", (!produced_slots ? produced_slots.error() : lost_slots.error()).c_str());
        kill(driver, SIGKILL);
        return 1;
    }

    EventSink sink;
    uint64_t cpu0 = 0, t0 = 0, wakeups = 0;
    bool ok = true;

    auto start_driver = [&] {
        cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        t0 = mono_ns();
        char b = 1;
        if (write(go_fd, &b, 1) != 1) ok = false;
        close(go_fd);
    };

    if (a.consumer == "libbpf") {
        // The reference: libbpf's own loop, nothing else in the process.
        ring_buffer* rb = ring_buffer__new(
            ring_fd,
            [](void* ctx, void* data, size_t size) -> int {
                static_cast<EventSink*>(ctx)->on_record(data, size);
                return 0;
            },
            &sink, nullptr);
        if (rb == nullptr) {
            LOG_ERROR("ring_buffer__new: %s", std::strerror(errno));
            kill(driver, SIGKILL);
            return 1;
        }
        usleep(static_cast<useconds_t>(a.start_delay_ms) * 1000);
        start_driver();
        for (;;) {
            int n = ring_buffer__poll(rb, 100);
            if (n < 0 && n != -EINTR) {
                LOG_ERROR("ring_buffer__poll: %s", std::strerror(-n));
                ok = false;
                break;
            }
            ++wakeups;
            if (waitpid(driver, nullptr, WNOHANG) == driver) {
                driver = -1;
                break;
            }
        }
        ring_buffer__consume(rb);
        ring_buffer__free(rb);
    } else if (a.consumer.starts_with("uring-")) {
        // Diagnostics: a bare io_uring poll on the ring buffer map fd, without the daemon, in
        // four shapes: uring-{multishot,oneshot}[-defer] (-defer: SINGLE_ISSUER|DEFER_TASKRUN).
        bool multishot = a.consumer.find("multishot") != std::string::npos;
        bool defer = a.consumer.ends_with("-defer");
        ring_buffer* rb = ring_buffer__new(
            ring_fd,
            [](void* ctx, void* data, size_t size) -> int {
                static_cast<EventSink*>(ctx)->on_record(data, size);
                return 0;
            },
            &sink, nullptr);
        io_uring ring;
        io_uring_params p{};
        if (defer) p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        if (rb == nullptr || io_uring_queue_init_params(64, &ring, &p) != 0) {
            LOG_ERROR("set-up failed");
            kill(driver, SIGKILL);
            return 1;
        }
        auto arm = [&] {
            io_uring_sqe* sqe = io_uring_get_sqe(&ring);
            if (multishot)
                io_uring_prep_poll_multishot(sqe, ring_fd, POLLIN);
            else
                io_uring_prep_poll_add(sqe, ring_fd, POLLIN);
        };
        arm();
        usleep(static_cast<useconds_t>(a.start_delay_ms) * 1000);
        start_driver();
        for (;;) {
            io_uring_cqe* cqe = nullptr;
            __kernel_timespec ts{0, 100000000};
            int rc = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
            unsigned head, seen = 0;
            bool rearm = false;
            io_uring_for_each_cqe(&ring, head, cqe) {
                ++seen;
                if (!(cqe->flags & IORING_CQE_F_MORE)) rearm = true;
            }
            io_uring_cq_advance(&ring, seen);
            if (seen > 0) {
                ++wakeups;
                ring_buffer__consume(rb);  // only when told: a lost wake-up shows as lost events
            }
            if (rearm) arm();
            (void)rc;
            if (waitpid(driver, nullptr, WNOHANG) == driver) {
                driver = -1;
                break;
            }
        }
        ring_buffer__consume(rb);
        io_uring_queue_exit(&ring);
        ring_buffer__free(rb);
    } else {
        Daemon d;
        std::unique_ptr<bpf::RingBuffer> ring;
        d.bench_stats = [&](http::JsonWriter& w) {
            w.start_object();
            w.kv_uint("consumed", sink.consumed);
            w.kv_uint("lost", ring ? ring->lost() : 0);
            w.kv_uint("wakeups", ring ? ring->wakeups() : 0);
            w.end_object();
        };
        if (std::string e = d.start(cfg); !e.empty()) {
            LOG_ERROR("%s", e.c_str());
            kill(driver, SIGKILL);
            return 1;
        }
        // consumer=daemon: bpf::RingBuffer, exactly as the modules use it. consumer=daemon-mapfd:
        // the same drain, but the reactor polls the ring buffer map fd itself instead of
        // libbpf's epoll fd (a candidate fix, measured side by side).
        ring_buffer* raw_rb = nullptr;
        loop::FdWatch map_watch;
        uint64_t map_wakeups = 0;
        if (a.consumer == "daemon-mapfd") {
            raw_rb = ring_buffer__new(
                ring_fd,
                [](void* ctx, void* data, size_t size) -> int {
                    static_cast<EventSink*>(ctx)->on_record(data, size);
                    return 0;
                },
                &sink, nullptr);
            if (raw_rb == nullptr) {
                LOG_ERROR("ring_buffer__new: %s", std::strerror(errno));
                kill(driver, SIGKILL);
                return 1;
            }
            map_watch.start(*d.reactor, ring_fd, POLLIN, [&](int res) {
                if (res < 0) return;
                ++map_wakeups;
                ring_buffer__consume(raw_rb);
            });
        } else {
            auto r = bpf::RingBuffer::create(
                *d.reactor, "bench/events", ring_fd, lost_fd,
                [&](std::span<const std::byte> rec) { sink.on_record(rec.data(), rec.size()); });
            if (!r) {
                LOG_ERROR("%s", r.error().c_str());
                kill(driver, SIGKILL);
                return 1;
            }
            ring = std::move(*r);
        }
        // The driver's exit ends the run: a pidfd polled in the same ring.
        int pidfd = static_cast<int>(syscall(SYS_pidfd_open, driver, 0));
        loop::FdWatch exit_watch;
        loop::Timer delay;
        delay.init(*d.reactor, [&] {
            start_driver();
            exit_watch.start(*d.reactor, pidfd, POLLIN, [&](int) {
                exit_watch.stop();
                waitpid(driver, nullptr, 0);
                driver = -1;
                if (ring) {
                    ring->drain();
                    wakeups = ring->wakeups();
                } else {
                    ring_buffer__consume(raw_rb);
                    wakeups = map_wakeups;
                }
                d.stop();
            });
        });
        delay.arm_after(static_cast<uint64_t>(a.start_delay_ms));
        d.reactor->run();
        close(pidfd);
        map_watch.stop();
        ring.reset();
        if (raw_rb != nullptr) ring_buffer__free(raw_rb);
    }
    uint64_t wall = mono_ns() - t0;
    uint64_t cpu = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    if (driver > 0) {
        kill(driver, SIGKILL);
        waitpid(driver, nullptr, 0);
    }
    uint64_t produced = produced_slots->sum(0);
    uint64_t lost = lost_slots->sum(0);
    double secs = static_cast<double>(wall) / 1e9;
    std::printf("{\"consumer\":\"%s\",\"rate\":%" PRIu64 ",\"per_call\":%u,\"ring_bytes\":%" PRIu64
                ",\"seconds\":%.3f,\"produced\":%" PRIu64 ",\"consumed\":%" PRIu64
                ",\"lost\":%" PRIu64 ",\"gaps\":%" PRIu64
                ",\"events_per_s\":%.0f"
                ",\"consumer_cpu_ms\":%.1f,\"cpu_ns_per_event\":%.1f,\"wakeups\":%" PRIu64
                ",\"latency_p50_us\":%.1f,\"latency_p99_us\":%.1f,\"latency_max_us\":%.1f}\n",
                a.consumer.c_str(), a.rate, a.per_call, a.ring_bytes, secs, produced, sink.consumed,
                lost, sink.gaps, secs > 0 ? static_cast<double>(sink.consumed) / secs : 0,
                static_cast<double>(cpu) / 1e6,
                sink.consumed ? static_cast<double>(cpu) / static_cast<double>(sink.consumed) : 0,
                wakeups, static_cast<double>(sink.latency.percentile(0.5)) / 1e3,
                static_cast<double>(sink.latency.percentile(0.99)) / 1e3,
                static_cast<double>(sink.latency.max()) / 1e3);
    std::fflush(stdout);
    return ok ? 0 : 1;
}
#endif

#if RINGPROBE_WITH_BPF
int run_empty_hooks() {
    bpf_object* obj = bpf_object__open_file(RP_EMPTY_HOOKS_OBJ, nullptr);
    if (obj == nullptr) {
        std::fprintf(stderr, "rp_bench_server: open %s: %s\n", RP_EMPTY_HOOKS_OBJ,
                     std::strerror(errno));
        return 1;
    }
    if (int e = bpf_object__load(obj); e != 0) {
        std::fprintf(stderr, "rp_bench_server: load %s: %s\n", RP_EMPTY_HOOKS_OBJ,
                     std::strerror(-e));
        return 1;
    }
    std::vector<bpf_link*> links;
    bpf_program* p = nullptr;
    bpf_object__for_each_program(p, obj) {
        bpf_link* l = bpf_program__attach(p);
        if (l == nullptr) {
            std::fprintf(stderr, "rp_bench_server: attach %s: %s\n", bpf_program__name(p),
                         std::strerror(errno));
            return 1;
        }
        links.push_back(l);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    std::printf("attached\n");
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    for (bpf_link* l : links) bpf_link__destroy(l);
    bpf_object__close(obj);
    return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    Args a;
    a.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string_view k = argv[i];
        if (i + 1 >= argc) return usage();
        const char* v = argv[++i];
        if (k == "--config")
            a.config = v;
        else if (k == "--consumer")
            a.consumer = v;
        else if (k == "--rate")
            a.rate = std::strtoull(v, nullptr, 10);
        else if (k == "--seconds")
            a.seconds = std::atof(v);
        else if (k == "--ring-bytes")
            a.ring_bytes = std::strtoull(v, nullptr, 10);
        else if (k == "--driver-cpu")
            a.driver_cpu = std::atoi(v);
        else if (k == "--start-delay-ms")
            a.start_delay_ms = std::atoi(v);
        else if (k == "--per-call")
            a.per_call = static_cast<uint32_t>(std::atoi(v));
        else
            return usage();
    }
    conf::LoadOptions lo;
    lo.path = a.config;
    lo.file_must_exist = !a.config.empty();
    std::vector<std::string> warnings;
    auto cfg = conf::Config::load(lo, conf::environment_from_process(), &warnings);
    if (!cfg) {
        std::fprintf(stderr, "rp_bench_server: %s\n", cfg.error().c_str());
        return 1;
    }
    if (auto lvl = log::parse_level(cfg->get_string("log_level"))) log::set_level(*lvl);
    std::signal(SIGPIPE, SIG_IGN);
    if (a.mode == "serve") return run_serve(*cfg);
#if RINGPROBE_WITH_BPF
    if (a.mode == "empty-hooks") return run_empty_hooks();
    if (a.mode == "events") {
        if (a.consumer != "daemon" && a.consumer != "daemon-mapfd" && a.consumer != "libbpf" &&
            !a.consumer.starts_with("uring-"))
            return usage();
        return run_events(a, *cfg);
    }
#else
    if (a.mode == "events") {
        std::fprintf(stderr, "rp_bench_server: built without eBPF (RINGPROBE_WITH_BPF=OFF)\n");
        return 77;
    }
#endif
    return usage();
}
