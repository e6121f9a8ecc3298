// loadgen.cpp — rp_loadgen: the benchmark's HTTP/1.1 load generator, for a unix socket or TCP.
//
// One thread, epoll, N keep-alive connections, one fixed request in flight per connection (what
// `wrk -t1 -cN` does), so the same tool measures ringprobe over its unix socket and over TCP and
// the two numbers compare. Reports requests/s and latency percentiles (log-linear histogram, 1.6 %
// resolution) as one JSON line (--json) or as text.
//
//   rp_loadgen --unix /run/ringprobe/sysprobe.sock -c 32 -d 10 --path /debug/stats
//   rp_loadgen --tcp 127.0.0.1:3333 -c 1 -n 100000
//   rp_loadgen --unix S -c 1 --rate 200 -d 3  a paced probe: 200 requests/s (latency under load)
//   rp_loadgen --unix S -c 1000 --hold 30     open 1000 connections, make one request on each,
//                                             keep them open and idle 30 s (prints "holding")
//
// A response is complete when its headers and Content-Length body bytes have arrived; a response
// without Content-Length, a status >= 400, a reset or an early close counts as an error (the
// connection is re-opened, as wrk does). Needs: Linux (epoll).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tools/bench/latency_histogram.h"

namespace {

using rp::bench::LatencyHistogram;

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct Options {
    std::string unix_path;
    std::string tcp_host;
    int tcp_port = 0;
    int connections = 1;
    double duration_s = 0;
    uint64_t requests = 0;  // total requests (instead of a duration)
    double warmup_s = 0;
    double hold_s = -1;
    std::string method = "GET";
    std::string path = "/debug/stats";
    std::string body;
    std::vector<std::string> headers;  // --header "Name: value", repeatable
    bool json = false;
    int timeout_ms = 10000;  // a response slower than this is an error
    double rate = 0;         // requests per second over all connections (0: as fast as answered)
};

void usage() {
    std::fprintf(
        stderr,
        "usage: rp_loadgen (--unix PATH | --tcp HOST:PORT) [-c CONNS] [-d SECONDS | -n REQUESTS]\n"
        "                  [--warmup SECONDS] [--method M] [--path P] [--body DATA]\n"
        "                  [--body-file FILE] [--header 'Name: value']...\n"
        "                  [--timeout-ms MS] [--hold SECONDS] [--rate REQ_PER_S] [--json]\n");
}

bool parse_options(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "rp_loadgen: %s needs a value\n", argv[i]);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--unix") {
            o.unix_path = next();
        } else if (a == "--tcp") {
            std::string hp = next();
            size_t colon = hp.rfind(':');
            if (colon == std::string::npos) return false;
            o.tcp_host = hp.substr(0, colon);
            o.tcp_port = std::atoi(hp.c_str() + colon + 1);
        } else if (a == "-c") {
            o.connections = std::atoi(next());
        } else if (a == "-d") {
            o.duration_s = std::atof(next());
        } else if (a == "-n") {
            o.requests = std::strtoull(next(), nullptr, 10);
        } else if (a == "--warmup") {
            o.warmup_s = std::atof(next());
        } else if (a == "--hold") {
            o.hold_s = std::atof(next());
        } else if (a == "--method") {
            o.method = next();
        } else if (a == "--path") {
            o.path = next();
        } else if (a == "--body") {
            o.body = next();
        } else if (a == "--body-file") {
            const char* path = next();
            std::FILE* f = std::fopen(path, "rb");
            if (f == nullptr) {
                std::fprintf(stderr, "rp_loadgen: --body-file %s: %s\n", path,
                             std::strerror(errno));
                std::exit(2);
            }
            char buf[65536];
            size_t n;
            o.body.clear();
            while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) o.body.append(buf, n);
            std::fclose(f);
        } else if (a == "--header") {
            o.headers.emplace_back(next());
        } else if (a == "--timeout-ms") {
            o.timeout_ms = std::atoi(next());
        } else if (a == "--rate") {
            o.rate = std::atof(next());
        } else if (a == "--json") {
            o.json = true;
        } else {
            return false;
        }
    }
    if (o.unix_path.empty() == o.tcp_host.empty()) return false;
    if (o.connections < 1) return false;
    if (o.hold_s < 0 && o.duration_s <= 0 && o.requests == 0) o.duration_s = 10;
    return true;
}

constexpr size_t kReadBytes = 256 * 1024;

struct Conn {
    int fd = -1;
    bool connecting = false;
    bool in_flight = false;
    size_t write_off = 0;
    uint64_t sent_ns = 0;
    uint64_t next_ns = 0;  // --rate: not before this
    size_t rlen = 0;
    std::unique_ptr<char[]> rbuf;
};

struct Stats {
    uint64_t completed = 0;
    uint64_t connect_errors = 0;
    uint64_t read_errors = 0;
    uint64_t write_errors = 0;
    uint64_t early_close = 0;
    uint64_t bad_responses = 0;
    uint64_t status_errors = 0;  // >= 400
    uint64_t timeouts = 0;
    uint64_t reconnects = 0;
    uint64_t bytes = 0;
    LatencyHistogram lat;
    uint64_t errors() const {
        return connect_errors + read_errors + write_errors + early_close + bad_responses +
               status_errors + timeouts;
    }
};

class LoadGen {
  public:
    explicit LoadGen(const Options& o) : o_(o) {
        request_ =
            o.method + " " + o.path + " HTTP/1.1\r\nHost: sysprobe\r\nUser-Agent: rp_loadgen\r\n";
        bool content_type = false;
        for (const auto& h : o.headers) {
            request_ += h + "\r\n";
            content_type = content_type || strncasecmp(h.c_str(), "content-type:", 13) == 0;
        }
        if (!o.body.empty() || o.method == "POST") {
            if (!content_type) request_ += "Content-Type: application/json\r\n";
            request_ += "Content-Length: " + std::to_string(o.body.size()) + "\r\n";
        }
        request_ += "\r\n" + o.body;
        if (!o.unix_path.empty()) {
            sockaddr_un un{};
            un.sun_family = AF_UNIX;
            std::snprintf(un.sun_path, sizeof un.sun_path, "%s", o.unix_path.c_str());
            std::memcpy(&addr_, &un, sizeof un);
            addr_len_ = sizeof un;
            family_ = AF_UNIX;
        } else {
            sockaddr_in in{};
            in.sin_family = AF_INET;
            in.sin_port = htons(static_cast<uint16_t>(o.tcp_port));
            std::string host = o.tcp_host == "localhost" ? "127.0.0.1" : o.tcp_host;
            if (inet_pton(AF_INET, host.c_str(), &in.sin_addr) != 1) {
                sockaddr_in6 in6{};
                in6.sin6_family = AF_INET6;
                in6.sin6_port = htons(static_cast<uint16_t>(o.tcp_port));
                if (inet_pton(AF_INET6, host.c_str(), &in6.sin6_addr) != 1) {
                    std::fprintf(stderr, "rp_loadgen: bad host %s\n", o.tcp_host.c_str());
                    std::exit(2);
                }
                std::memcpy(&addr_, &in6, sizeof in6);
                addr_len_ = sizeof in6;
                family_ = AF_INET6;
            } else {
                std::memcpy(&addr_, &in, sizeof in);
                addr_len_ = sizeof in;
                family_ = AF_INET;
            }
        }
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        conns_.resize(static_cast<size_t>(o.connections));
        for (auto& c : conns_) c.rbuf = std::make_unique<char[]>(kReadBytes);
        answered_.assign(conns_.size(), false);
    }

    int run() {
        uint64_t start = now_ns();
        uint64_t warm_end = start + static_cast<uint64_t>(o_.warmup_s * 1e9);
        recording_ = o_.warmup_s <= 0;
        measure_start_ = recording_ ? start : 0;
        deadline_ =
            o_.duration_s > 0 ? warm_end + static_cast<uint64_t>(o_.duration_s * 1e9) : UINT64_MAX;
        for (size_t i = 0; i < conns_.size(); ++i) open_conn(i);

        bool hold_started = false;
        uint64_t hold_end = 0;
        std::vector<epoll_event> events(1024);
        for (;;) {
            uint64_t now = now_ns();
            if (!recording_ && now >= warm_end) {
                recording_ = true;
                measure_start_ = now;
                stats_ = Stats{};
            }
            if (hold_mode() && !hold_started && all_answered_once()) {
                hold_started = true;
                hold_end = now + static_cast<uint64_t>(o_.hold_s * 1e9);
                std::printf("holding %zu connections for %.1f s\n", conns_.size(), o_.hold_s);
                std::fflush(stdout);
            }
            if (hold_started && now >= hold_end) break;
            if (!hold_mode() && now >= deadline_) break;
            if (!hold_mode() && o_.requests > 0 && sent_ >= o_.requests && in_flight_ == 0) break;
            retry_pending();
            check_timeouts(now);
            int timeout = pending_.empty() ? 50 : 1;
            if (!paced_.empty()) {
                // --rate: send what is due; sleep at most until the next one is.
                std::vector<size_t> due;
                due.swap(paced_);
                uint64_t next = UINT64_MAX;
                for (size_t i : due) {
                    if (conns_[i].next_ns <= now)
                        send_request(i);
                    else
                        paced_.push_back(i), next = std::min(next, conns_[i].next_ns);
                }
                if (next != UINT64_MAX)
                    timeout =
                        std::min<int>(timeout, static_cast<int>((next - now + 999999) / 1000000));
            }
            int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout);
            if (n < 0) {
                if (errno == EINTR) continue;
                std::perror("epoll_wait");
                return 1;
            }
            for (int i = 0; i < n; ++i)
                on_event(events[static_cast<size_t>(i)].data.u32,
                         events[static_cast<size_t>(i)].events);
        }
        uint64_t end = now_ns();
        report(static_cast<double>(end - measure_start_) / 1e9);
        return 0;
    }

  private:
    bool hold_mode() const { return o_.hold_s >= 0; }
    bool all_answered_once() const { return answered_once_ >= conns_.size(); }

    void open_conn(size_t i) {
        Conn& c = conns_[i];
        c.fd = socket(family_, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) {
            std::perror("socket");
            std::exit(1);
        }
        if (family_ != AF_UNIX) {
            int one = 1;
            setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        c.rlen = 0;
        c.in_flight = false;
        c.write_off = 0;
        int rc = connect(c.fd, reinterpret_cast<sockaddr*>(&addr_), addr_len_);
        if (rc == 0) {
            c.connecting = false;
            add_epoll(i, EPOLLIN);
            send_request(i);
            return;
        }
        if (errno == EINPROGRESS) {
            c.connecting = true;
            add_epoll(i, EPOLLOUT);
            return;
        }
        if (errno == EAGAIN || errno == ECONNREFUSED) {
            // Unix socket backlog full (EAGAIN), or not listening yet: retry shortly.
            ::close(c.fd);
            c.fd = -1;
            ++stats_.connect_errors;
            pending_.push_back(i);
            return;
        }
        std::fprintf(stderr, "rp_loadgen: connect: %s\n", std::strerror(errno));
        ::close(c.fd);
        c.fd = -1;
        ++stats_.connect_errors;
        pending_.push_back(i);
    }

    void retry_pending() {
        if (pending_.empty()) return;
        std::vector<size_t> p;
        p.swap(pending_);
        for (size_t i : p) open_conn(i);
    }

    void add_epoll(size_t i, uint32_t ev) {
        epoll_event e{};
        e.events = ev;
        e.data.u32 = static_cast<uint32_t>(i);
        epoll_ctl(ep_, EPOLL_CTL_ADD, conns_[i].fd, &e);
    }
    void mod_epoll(size_t i, uint32_t ev) {
        epoll_event e{};
        e.events = ev;
        e.data.u32 = static_cast<uint32_t>(i);
        epoll_ctl(ep_, EPOLL_CTL_MOD, conns_[i].fd, &e);
    }

    void reconnect(size_t i) {
        Conn& c = conns_[i];
        if (c.in_flight) --in_flight_;
        c.in_flight = false;
        if (c.fd >= 0) ::close(c.fd);  // also removes it from the epoll set
        c.fd = -1;
        ++stats_.reconnects;
        if (stopping()) return;
        open_conn(i);
    }

    bool stopping() const {
        if (o_.requests > 0 && sent_ >= o_.requests) return true;
        return !hold_mode() && now_ns() >= deadline_;
    }

    void send_request(size_t i) {
        Conn& c = conns_[i];
        if (hold_mode() && !c.in_flight && answered_[i]) return;  // one request each, then idle
        if (!c.in_flight) {
            if (stopping()) return;
            if (o_.rate > 0) {
                uint64_t now = now_ns();
                if (now < c.next_ns) {
                    paced_.push_back(i);
                    return;
                }
                auto interval =
                    static_cast<uint64_t>(1e9 * static_cast<double>(conns_.size()) / o_.rate);
                c.next_ns = std::max(now, c.next_ns) + interval;
            }
            c.in_flight = true;
            ++in_flight_;
            ++sent_;
            c.write_off = 0;
            c.sent_ns = now_ns();
        }
        while (c.write_off < request_.size()) {
            ssize_t n = ::send(c.fd, request_.data() + c.write_off, request_.size() - c.write_off,
                               MSG_NOSIGNAL);
            if (n > 0) {
                c.write_off += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && errno == EAGAIN) {
                mod_epoll(i, EPOLLIN | EPOLLOUT);
                return;
            }
            ++stats_.write_errors;
            reconnect(i);
            return;
        }
    }

    void on_event(uint32_t i, uint32_t ev) {
        Conn& c = conns_[i];
        if (c.fd < 0) return;
        if (c.connecting) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                ++stats_.connect_errors;
                ::close(c.fd);
                c.fd = -1;
                pending_.push_back(i);
                return;
            }
            c.connecting = false;
            mod_epoll(i, EPOLLIN);
            send_request(i);
            return;
        }
        if ((ev & EPOLLOUT) != 0 && c.write_off < request_.size()) {
            mod_epoll(i, EPOLLIN);
            send_request(i);
        }
        if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) on_readable(i);
    }

    void on_readable(size_t i) {
        Conn& c = conns_[i];
        ssize_t n = ::recv(c.fd, c.rbuf.get() + c.rlen, kReadBytes - c.rlen, 0);
        if (n < 0) {
            if (errno == EAGAIN) return;
            ++stats_.read_errors;
            reconnect(i);
            return;
        }
        if (n == 0) {
            if (c.in_flight) ++stats_.early_close;
            reconnect(i);
            return;
        }
        c.rlen += static_cast<size_t>(n);
        for (;;) {
            std::string_view buf(c.rbuf.get(), c.rlen);
            size_t hdr_end = buf.find("\r\n\r\n");
            if (hdr_end == std::string_view::npos) {
                if (c.rlen == kReadBytes) {
                    ++stats_.bad_responses;
                    reconnect(i);
                }
                return;
            }
            int status = 0;
            if (buf.size() < 12 || !buf.starts_with("HTTP/1.")) {
                ++stats_.bad_responses;
                reconnect(i);
                return;
            }
            std::from_chars(buf.data() + 9, buf.data() + 12, status);
            std::string_view head = buf.substr(0, hdr_end + 2);
            size_t clen = 0;
            bool have_len = false, close_after = false;
            size_t pos = head.find("\r\n") + 2;
            while (pos < head.size()) {
                size_t eol = head.find("\r\n", pos);
                std::string_view line = head.substr(pos, eol - pos);
                pos = eol + 2;
                if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0) {
                    std::string_view v = line.substr(15);
                    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
                    std::from_chars(v.data(), v.data() + v.size(), clen);
                    have_len = true;
                } else if (line.size() >= 17 &&
                           strncasecmp(line.data(), "connection: close", 17) == 0) {
                    close_after = true;
                }
            }
            if (!have_len) {
                ++stats_.bad_responses;
                reconnect(i);
                return;
            }
            size_t total = hdr_end + 4 + clen;
            if (total > kReadBytes) {
                ++stats_.bad_responses;
                reconnect(i);
                return;
            }
            if (c.rlen < total) return;
            complete(i, status, total);
            if (c.rlen > total) {
                std::memmove(c.rbuf.get(), c.rbuf.get() + total, c.rlen - total);
                c.rlen -= total;
            } else {
                c.rlen = 0;
            }
            if (close_after) {
                reconnect(i);
                return;
            }
            if (c.in_flight) return;  // unexpected extra bytes: wait
            send_request(i);
            if (c.rlen == 0) return;
        }
    }

    void complete(size_t i, int status, size_t bytes) {
        Conn& c = conns_[i];
        uint64_t t = now_ns();
        if (c.in_flight) {
            c.in_flight = false;
            --in_flight_;
        }
        if (!answered_[i]) {
            answered_[i] = true;
            ++answered_once_;
        }
        if (!recording_) return;
        if (status >= 400 || status < 100) ++stats_.status_errors;
        ++stats_.completed;
        stats_.bytes += bytes;
        stats_.lat.record(t - c.sent_ns);
    }

    void check_timeouts(uint64_t now) {
        if (now < next_timeout_check_) return;
        next_timeout_check_ = now + 100000000ull;
        uint64_t limit = static_cast<uint64_t>(o_.timeout_ms) * 1000000ull;
        for (size_t i = 0; i < conns_.size(); ++i) {
            Conn& c = conns_[i];
            if (c.fd >= 0 && c.in_flight && now - c.sent_ns > limit) {
                ++stats_.timeouts;
                reconnect(i);
            }
        }
    }

    void report(double seconds) {
        const Stats& s = stats_;
        double rps = seconds > 0 ? static_cast<double>(s.completed) / seconds : 0;
        auto us = [&](double q) { return static_cast<double>(s.lat.percentile(q)) / 1000.0; };
        const char* target = o_.unix_path.empty() ? "tcp" : "unix";
        if (o_.json) {
            std::printf(
                "{\"target\":\"%s\",\"connections\":%d,\"seconds\":%.3f,\"requests\":%llu,"
                "\"rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
                "\"max_us\":%.1f,\"mean_us\":%.1f,\"bytes\":%llu,\"errors\":%llu,"
                "\"connect_errors\":%llu,\"read_errors\":%llu,\"write_errors\":%llu,"
                "\"early_close\":%llu,\"bad_responses\":%llu,\"status_errors\":%llu,"
                "\"timeouts\":%llu,\"reconnects\":%llu}\n",
                target, o_.connections, seconds, static_cast<unsigned long long>(s.completed), rps,
                us(0.50), us(0.90), us(0.99), us(0.999), static_cast<double>(s.lat.max()) / 1000.0,
                s.lat.mean() / 1000.0, static_cast<unsigned long long>(s.bytes),
                static_cast<unsigned long long>(s.errors()),
                static_cast<unsigned long long>(s.connect_errors),
                static_cast<unsigned long long>(s.read_errors),
                static_cast<unsigned long long>(s.write_errors),
                static_cast<unsigned long long>(s.early_close),
                static_cast<unsigned long long>(s.bad_responses),
                static_cast<unsigned long long>(s.status_errors),
                static_cast<unsigned long long>(s.timeouts),
                static_cast<unsigned long long>(s.reconnects));
        } else {
            std::printf(
                "%s %s, %d connections, %.2f s: %llu requests, %.0f req/s\n"
                "latency p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n"
                "errors %llu (connect %llu, read %llu, write %llu, early close %llu, bad %llu, "
                "status>=400 %llu, timeouts %llu)\n",
                target, o_.path.c_str(), o_.connections, seconds,
                static_cast<unsigned long long>(s.completed), rps, us(0.50), us(0.90), us(0.99),
                us(0.999), static_cast<double>(s.lat.max()) / 1000.0,
                static_cast<unsigned long long>(s.errors()),
                static_cast<unsigned long long>(s.connect_errors),
                static_cast<unsigned long long>(s.read_errors),
                static_cast<unsigned long long>(s.write_errors),
                static_cast<unsigned long long>(s.early_close),
                static_cast<unsigned long long>(s.bad_responses),
                static_cast<unsigned long long>(s.status_errors),
                static_cast<unsigned long long>(s.timeouts));
        }
    }

    const Options& o_;
    std::string request_;
    sockaddr_storage addr_{};
    socklen_t addr_len_ = 0;
    int family_ = AF_UNIX;
    int ep_ = -1;
    std::vector<Conn> conns_;
    std::vector<size_t> pending_;
    std::vector<size_t> paced_;  // --rate: connections waiting for their next send time
    std::vector<bool> answered_;
    size_t answered_once_ = 0;
    uint64_t sent_ = 0;
    uint64_t in_flight_ = 0;
    uint64_t deadline_ = UINT64_MAX;
    uint64_t measure_start_ = 0;
    uint64_t next_timeout_check_ = 0;
    bool recording_ = true;
    Stats stats_;
};

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse_options(argc, argv, o)) {
        usage();
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    LoadGen g(o);
    return g.run();
}
