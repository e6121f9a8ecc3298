// ping_module.cpp — the `ping` module: GET /ping/ping/{host}?client_id=&count=&interval=&timeout=
// answered with system-probe's {"can_connect", "packet_loss", "avg_rtt"} after ICMP echo requests
// over a raw socket (IPv4 or IPv6), as system-probe does with pro-bing in privileged mode.
//
// Asynchronous: the handler checks the parameters, defers the answer and returns; the echo
// requests go out from a loop Timer (the first at once, then every `interval`), the replies are
// read when the reactor says the socket is readable (FdWatch), and the answer is written when
// `count` replies are in, when no reply can come any more (every request failed to leave), or when
// `timeout` (the whole run, as pro-bing's) is over. A host name is resolved by net::Resolver
// (helper threads, answer through an eventfd) — never on the loop. A client that leaves is
// noticed within kSweepMs and its ping is stopped and its socket closed.
//
// One raw socket per ping, with ICMP_FILTER (echo replies only) and a classic BPF filter on the
// echo identifier (and, for IPv4, the source), so that the kernel hands each ping only its own
// replies. Needs CAP_NET_RAW: without it the module is not created (the reason is in
// /debug/stats). Rules, sources and deviations: docs/modules/ping.md.
#include <linux/filter.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "http/metrics.h"
#include "loop/log.h"
#include "loop/timer.h"
#include "modules/kit/config.h"
#include "modules/module.h"
#include "modules/netprobe/inet.h"
#include "modules/netprobe/resolver.h"

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "ping";
constexpr std::string_view kNamespaces[] = {"ping", "ringprobe.ping"};

// pkg/networkdevice/pinger/pinger.go: defaults of the raw-socket pinger system-probe runs.
constexpr int64_t kDefaultCount = 2;
constexpr int64_t kDefaultIntervalNs = 20'000'000;
constexpr int64_t kDefaultTimeoutNs = 3'000'000'000;
// Sequence numbers are 16 bits; a run of more packets would reuse them.
constexpr int64_t kMaxCount = 65535;
// pro-bing's payload: an 8-byte send time and a 16-byte tracker.
constexpr size_t kPayloadBytes = 24;
constexpr size_t kPacketBytes = 8 + kPayloadBytes;
// How soon a ping whose client left is stopped.
constexpr uint64_t kSweepMs = 100;
constexpr int64_t kDefaultMaxInFlight = 32;

uint64_t ceil_ms(int64_t ns) { return static_cast<uint64_t>((ns + 999'999) / 1'000'000); }

// Per reply: 50 µs to 10 s.
constexpr double kRttBounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                 0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                 0.5,     1,      2.5,     5,      10};

const http::MetricFamily kRequestsFamily{"ringprobe_ping_requests", http::MetricKind::counter,
                                         "Ping requests by outcome."};
const http::MetricFamily kPacketsSentFamily{"ringprobe_ping_packets_sent",
                                            http::MetricKind::counter,
                                            "ICMP echo requests sent (failed sends included)."};
const http::MetricFamily kPacketsRecvFamily{"ringprobe_ping_packets_received",
                                            http::MetricKind::counter,
                                            "ICMP echo replies received (duplicates excluded)."};
const http::MetricFamily kSendErrorsFamily{"ringprobe_ping_send_errors", http::MetricKind::counter,
                                           "ICMP echo requests the kernel refused to send."};
const http::MetricFamily kInFlightFamily{"ringprobe_ping_in_flight", http::MetricKind::gauge,
                                         "Pings running now."};
const http::MetricFamily kRttFamily{"ringprobe_ping_rtt_seconds", http::MetricKind::histogram,
                                    "Round-trip time of each echo reply.", "seconds"};

struct PingParams {
    std::string host;
    std::string client_id;
    int64_t count = kDefaultCount;
    int64_t interval_ns = kDefaultIntervalNs;
    int64_t timeout_ns = kDefaultTimeoutNs;
};

// count, interval and timeout as system-probe reads them (strconv.Atoi when present; <= 0 means
// the default). The error is the answer's body, starting with system-probe's own text.
std::string parse_params(const http::Request& req, PingParams& p) {
    p.host = std::string(req.param("host"));
    if (auto id = net::query_value(req.query, "client_id")) p.client_id = *id;
    struct Field {
        std::string_view name;
        int64_t* out;
        int64_t dflt;
    } fields[] = {{"count", &p.count, kDefaultCount},
                  {"interval", &p.interval_ns, kDefaultIntervalNs},
                  {"timeout", &p.timeout_ns, kDefaultTimeoutNs}};
    for (auto& f : fields) {
        auto raw = net::query_value(req.query, f.name);
        if (!raw) continue;
        auto v = net::go_atoi(*raw);
        if (!v) return "invalid " + std::string(f.name) + ": " + v.error();
        *f.out = *v > 0 ? *v : f.dflt;
    }
    if (p.count > kMaxCount)
        return "invalid count: " + std::to_string(p.count) + " is more than " +
               std::to_string(kMaxCount) + " (ICMP sequence numbers are 16 bits)";
    if (p.host.size() > 253) return "invalid host: longer than 253 bytes";
    return {};
}

class PingModule;

// One request: resolve (maybe), send `count` echo requests, collect the replies, answer.
class Ping {
  public:
    Ping(PingModule& m, http::Deferred d, PingParams p, uint16_t id)
        : module_(m), deferred_(std::move(d)), params_(std::move(p)), id_(id) {
        net::random_bytes(cookie_, sizeof cookie_);
        started_ns_ = net::mono_ns();
    }
    ~Ping() { stop(); }
    Ping(const Ping&) = delete;
    Ping& operator=(const Ping&) = delete;

    void start();
    bool done() const { return done_; }
    uint16_t id() const { return id_; }
    bool client_alive() const { return deferred_.alive(); }
    // The client left: stop at once, nothing to answer.
    void cancel() {
        stop();
        done_ = true;
    }
    // The module closes: answer 503 if the client still waits.
    void abort();

  private:
    void resolved(net::Resolver::Answer&& a);
    void run(const net::IpAddr& target);
    void send_one();
    void on_readable();
    bool take_reply(const uint8_t* data, size_t len, const net::IpAddr& from, int64_t rx_ns);
    void maybe_finish();
    void finish();
    void fail(std::string message);
    void stop();

    PingModule& module_;
    http::Deferred deferred_;
    PingParams params_;
    uint16_t id_;
    uint8_t cookie_[16];
    net::Resolver::Ticket lookup_;
    net::IpAddr target_;
    int fd_ = -1;
    loop::FdWatch watch_;
    loop::Timer send_timer_, deadline_;
    std::vector<bool> received_;  // by sequence number
    int64_t started_ns_ = 0;
    int64_t attempts_ = 0;  // echo requests tried (pro-bing's PacketsSent, plus failed sends)
    int64_t failed_ = 0;    // of them, refused by the kernel (no route, ...)
    int64_t replies_ = 0;
    int64_t avg_rtt_ns_ = 0;
    std::string last_send_error_;
    bool done_ = false;
};

class PingModule final : public Module {
  public:
    PingModule(loop::Reactor& r, uint32_t max_in_flight)
        : reactor_(r), resolver_(r), max_in_flight_(max_in_flight) {
        net::random_bytes(&next_id_, sizeof next_id_);
        sweep_.init(r, [this] { sweep(); });
        reap_.init(r, [this] { reap(); });
    }
    ~PingModule() override { close(); }

    std::expected<void, std::string> register_routes(http::Router& r) override {
        r.handle(
            "", "/ping/{host}",
            [this](const http::Request& req, http::Response& res) { handle(req, res); },
            http::RouteOptions{.max_in_flight = max_in_flight_});
        return {};
    }

    void write_stats(http::JsonWriter& w) const override;
    void write_metrics(http::MetricsWriter& w) const override;

    void close() override {
        sweep_.cancel();
        reap_.cancel();
        for (auto& p : pings_)
            if (!p->done()) p->abort();
        pings_.clear();
    }

    // --- what a Ping reports.
    loop::Reactor& reactor() { return reactor_; }
    // A writer for answers written into a response's raw body (no trailing newline, as
    // system-probe's json.Marshal + Write), reused from answer to answer.
    http::JsonWriter& writer() { return writer_; }
    net::Resolver& resolver() { return resolver_; }
    // A ping ended: destroy it on the next loop turn (not from inside its own callback).
    void finished() {
        if (!reap_.armed()) reap_.arm_after(0);
    }
    void count_sent(bool ok, std::string_view error) {
        ++packets_sent_;
        if (!ok) {
            ++send_errors_;
            last_error_ = std::string(error);
        }
    }
    void count_reply(double rtt_s) {
        ++packets_received_;
        rtt_.observe(rtt_s);
    }
    void count_duplicate() { ++duplicates_; }
    void count_outcome(bool reachable) { ++(reachable ? reachable_ : unreachable_); }
    void count_failure(std::string_view error) {
        ++failed_;
        last_error_ = std::string(error);
    }
    void log_request(const PingParams& p, int64_t elapsed_ns) {
        ++runs_;
        // As system-probe: the first 5 and every 20th at info, the others at debug.
        bool info = runs_ <= 5 || runs_ % 20 == 0;
        if (info || log::enabled(log::Level::debug))
            log::write(info ? log::Level::info : log::Level::debug,
                       "ping: /ping/%s?client_id=%s&count=%lld&interval=%lld&timeout=%lld "
                       "(count: %llu): retrieved ping in %.3f ms",
                       p.host.c_str(), p.client_id.c_str(), static_cast<long long>(p.count),
                       static_cast<long long>(p.interval_ns), static_cast<long long>(p.timeout_ns),
                       static_cast<unsigned long long>(runs_), double(elapsed_ns) / 1e6);
    }

  private:
    void handle(const http::Request& req, http::Response& res);
    uint16_t allocate_id();
    void sweep();
    void reap();

    loop::Reactor& reactor_;
    net::Resolver resolver_;
    uint32_t max_in_flight_;
    std::vector<std::unique_ptr<Ping>> pings_;
    loop::Timer sweep_, reap_;
    http::Buffer placeholder_;
    http::JsonWriter writer_{placeholder_};
    uint16_t next_id_ = 0;
    http::Histogram rtt_{kRttBounds};
    uint64_t requests_ = 0, bad_requests_ = 0, reachable_ = 0, unreachable_ = 0, failed_ = 0,
             cancelled_ = 0, aborted_ = 0, runs_ = 0;
    uint64_t packets_sent_ = 0, packets_received_ = 0, send_errors_ = 0, duplicates_ = 0;
    std::string last_error_;
};

// --- Ping

void Ping::start() {
    if (auto ip = net::parse_ip(params_.host)) {
        run(*ip);
        return;
    }
    std::string err;
    lookup_ = module_.resolver().lookup(
        params_.host, AF_UNSPEC, [this](net::Resolver::Answer&& a) { resolved(std::move(a)); },
        &err);
    if (!lookup_.pending()) {
        fail("lookup " + params_.host + ": " + err);
        return;
    }
    // The answer comes within `timeout` of the request, name resolution included (pro-bing's
    // timeout starts after it; the Agent's client gives up after 5 s without a response).
    deadline_.init(module_.reactor(), [this] {
        lookup_.reset();
        fail("lookup " + params_.host + ": no answer within the timeout (" +
             std::to_string(ceil_ms(params_.timeout_ns)) + " ms)");
    });
    deadline_.arm_after(ceil_ms(params_.timeout_ns));
}

void Ping::resolved(net::Resolver::Answer&& a) {
    lookup_ = {};
    deadline_.cancel();
    if (!a.error.empty()) {
        fail(a.error);
        return;
    }
    // Go's ResolveIPAddr("ip", ...) takes the first IPv4 address, else the first one.
    auto v4 = std::find_if(a.addrs.begin(), a.addrs.end(), [](auto& x) { return x.is_v4(); });
    run(v4 != a.addrs.end() ? *v4 : a.addrs.front());
}

void Ping::run(const net::IpAddr& target) {
    target_ = target;
    // An IPv4-mapped IPv6 address is IPv4 for Go (To4() != nil) and for us.
    if (!target_.is_v4()) {
        in6_addr a = target_.in6();
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            in_addr v4;
            std::memcpy(&v4, &a.s6_addr[12], 4);
            target_ = net::IpAddr::v4(v4);
        }
    }
    const bool v4 = target_.is_v4();
    auto fd =
        net::open_raw_socket(v4 ? AF_INET : AF_INET6, v4 ? int(IPPROTO_ICMP) : int(IPPROTO_ICMPV6));
    if (!fd) {
        fail(fd.error());
        return;
    }
    fd_ = *fd;
    if (v4) {
        net::set_icmp_filter(fd_, 1u << ICMP_ECHOREPLY);
        in_addr dst = target_.in4();
        // x = IP header length; accept echo replies with our identifier from the target only.
        const sock_filter prog[] = {
            BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
            BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, id_, 0, 5),
            BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP_ECHOREPLY, 0, 3),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 12),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(dst.s_addr), 0, 1),
            BPF_STMT(BPF_RET | BPF_K, 0xffff),
            BPF_STMT(BPF_RET | BPF_K, 0),
        };
        if (auto r = net::attach_filter(fd_, prog); !r) LOG_DEBUG("ping: %s", r.error().c_str());
    } else {
        icmp6_filter filt;
        ICMP6_FILTER_SETBLOCKALL(&filt);
        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filt);
        ::setsockopt(fd_, IPPROTO_ICMPV6, ICMP6_FILTER, &filt, sizeof filt);
        // An ICMPv6 raw socket sees the packet from its ICMPv6 header on.
        const sock_filter prog[] = {
            BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, id_, 0, 3),
            BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP6_ECHO_REPLY, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, 0xffff),
            BPF_STMT(BPF_RET | BPF_K, 0),
        };
        if (auto r = net::attach_filter(fd_, prog); !r) LOG_DEBUG("ping: %s", r.error().c_str());
    }
    net::enable_rx_timestamps(fd_);
    if (!watch_.start(module_.reactor(), fd_, POLLIN, [this](int) { on_readable(); })) {
        fail("the reactor has no room to watch the ping socket");
        return;
    }
    received_.assign(static_cast<size_t>(params_.count), false);
    deadline_.init(module_.reactor(), [this] { finish(); });
    const int64_t left_ns = params_.timeout_ns - (net::mono_ns() - started_ns_);
    deadline_.arm_after(std::max<uint64_t>(1, ceil_ms(std::max<int64_t>(0, left_ns))));
    send_timer_.init(module_.reactor(), [this] { send_one(); });
    send_one();
    if (!done_ && attempts_ < params_.count)
        send_timer_.arm_every(std::max<uint64_t>(1, ceil_ms(params_.interval_ns)));
}

void Ping::send_one() {
    if (done_ || attempts_ >= params_.count) {
        send_timer_.cancel();
        return;
    }
    uint8_t pkt[kPacketBytes] = {};
    const bool v4 = target_.is_v4();
    const uint16_t seq = static_cast<uint16_t>(attempts_);
    pkt[0] = v4 ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
    pkt[1] = 0;
    uint16_t nid = htons(id_), nseq = htons(seq);
    std::memcpy(pkt + 4, &nid, 2);
    std::memcpy(pkt + 6, &nseq, 2);
    int64_t now = net::mono_ns();
    for (int i = 0; i < 8; ++i) pkt[8 + i] = static_cast<uint8_t>(uint64_t(now) >> (56 - 8 * i));
    std::memcpy(pkt + 16, cookie_, sizeof cookie_);
    if (v4) {
        uint16_t ck = net::checksum_fold(net::checksum_add(0, pkt, sizeof pkt));
        std::memcpy(pkt + 2, &ck, 2);
    }  // the kernel computes the ICMPv6 checksum (it needs the pseudo-header)
    sockaddr_storage ss;
    socklen_t len = target_.to_sockaddr(0, ss);
    ++attempts_;
    ssize_t n = ::sendto(fd_, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&ss), len);
    if (n == static_cast<ssize_t>(sizeof pkt)) {
        module_.count_sent(true, {});
    } else {
        // No route, host unreachable, a firewall's EPERM, a full queue: this echo request is
        // lost, as far as the answer is concerned (system-probe fails the whole request on the
        // first such error; see docs/modules/ping.md).
        last_send_error_ = n < 0 ? std::strerror(errno) : "short write";
        ++failed_;
        module_.count_sent(false, "sendto " + target_.to_string() + ": " + last_send_error_);
    }
    if (attempts_ >= params_.count) send_timer_.cancel();
    maybe_finish();
}

void Ping::on_readable() {
    if (done_) return;
    alignas(8) uint8_t buf[2048];
    alignas(8) uint8_t control[128];
    for (int i = 0; i < 64 && !done_; ++i) {
        sockaddr_storage from{};
        iovec iov{buf, sizeof buf};
        msghdr m{};
        m.msg_name = &from;
        m.msg_namelen = sizeof from;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(fd_, &m, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;  // EAGAIN; a pending socket error is cleared by this read
        }
        int64_t rx = net::rx_mono_ns(control, m.msg_controllen, net::mono_ns());
        auto src = net::IpAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&from), m.msg_namelen);
        if (!src) continue;
        take_reply(buf, static_cast<size_t>(n), *src, rx);
    }
    maybe_finish();
}

bool Ping::take_reply(const uint8_t* data, size_t len, const net::IpAddr& from, int64_t rx_ns) {
    const bool v4 = target_.is_v4();
    if (v4) {
        // The IPv4 header comes first on an IPv4 raw socket.
        if (len < 20 || (data[0] >> 4) != 4) return false;
        size_t ihl = size_t(data[0] & 0x0f) * 4;
        if (ihl < 20 || len < ihl + kPacketBytes || data[9] != IPPROTO_ICMP) return false;
        if (std::memcmp(data + 12, target_.bytes.data(), 4) != 0) return false;
        data += ihl;
        len -= ihl;
        if (data[0] != ICMP_ECHOREPLY || data[1] != 0) return false;
    } else {
        if (len < kPacketBytes || data[0] != ICMP6_ECHO_REPLY || data[1] != 0) return false;
        if (std::memcmp(from.bytes.data(), target_.bytes.data(), 16) != 0) return false;
    }
    uint16_t id = uint16_t(data[4] << 8 | data[5]);
    uint16_t seq = uint16_t(data[6] << 8 | data[7]);
    if (id != id_ || std::memcmp(data + 16, cookie_, sizeof cookie_) != 0) return false;
    if (seq >= attempts_) return false;
    if (received_[seq]) {
        module_.count_duplicate();
        return false;
    }
    received_[seq] = true;
    int64_t sent = 0;
    for (int i = 0; i < 8; ++i) sent = int64_t(uint64_t(sent) << 8 | data[8 + i]);
    int64_t rtt = std::max<int64_t>(0, rx_ns - sent);
    ++replies_;
    // pro-bing's running mean, in integer nanoseconds (time.Duration) as it computes it.
    avg_rtt_ns_ += (rtt - avg_rtt_ns_) / replies_;
    module_.count_reply(double(rtt) / 1e9);
    return true;
}

void Ping::maybe_finish() {
    if (done_) return;
    if (replies_ >= params_.count) {
        finish();
        return;
    }
    // Every request is sent and each one either has its reply or never left: nothing to wait for.
    if (attempts_ >= params_.count && replies_ + failed_ >= params_.count) finish();
}

void Ping::finish() {
    if (done_) return;
    stop();
    done_ = true;
    const bool reachable = replies_ > 0;
    // pro-bing: float64(sent-recv) / float64(sent) * 100, 0 when nothing was sent.
    double loss = attempts_ > 0 ? double(attempts_ - replies_) / double(attempts_) * 100 : 0;
    const int64_t avg = avg_rtt_ns_;
    bool answered = deferred_.complete([&](http::Response& r) {
        http::Buffer& out = r.raw_body(http::kJsonType);
        http::JsonWriter& w = module_.writer();
        w.reset(out, r.pretty());
        w.start_object();
        w.kv_bool("can_connect", reachable);
        w.key("packet_loss");
        w.go_float(loss);
        w.kv_int("avg_rtt", avg);
        w.end_object();
    });
    module_.count_outcome(reachable);
    if (answered) module_.log_request(params_, net::mono_ns() - started_ns_);
    module_.finished();
}

void Ping::fail(std::string message) {
    if (done_) return;
    stop();
    done_ = true;
    std::string body = "unable to run ping for host " + params_.host + ": " + message;
    LOG_WARN("ping: %s", body.c_str());
    module_.count_failure(body);
    deferred_.complete([&](http::Response& r) {
        r.set_status(500);
        r.text(body);
    });
    module_.finished();
}

void Ping::abort() {
    stop();
    done_ = true;
    deferred_.complete([](http::Response& r) {
        r.set_status(503);
        r.text("the ping module was closed before the ping finished");
    });
}

void Ping::stop() {
    lookup_.reset();
    send_timer_.cancel();
    deadline_.cancel();
    watch_.stop();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

// --- PingModule

void PingModule::handle(const http::Request& req, http::Response& res) {
    ++requests_;
    PingParams p;
    if (std::string err = parse_params(req, p); !err.empty()) {
        ++bad_requests_;
        LOG_DEBUG("ping: unable to run ping for host %s: %s", p.host.c_str(), err.c_str());
        // system-probe writes this text and then WriteHeader(400), which Go ignores (200 is
        // already sent); the Agent's client checks for 400, so 400 it is (docs/modules/ping.md).
        res.set_status(400);
        res.text(err);
        return;
    }
    auto ping = std::make_unique<Ping>(*this, res.defer(), std::move(p), allocate_id());
    Ping& ref = *ping;
    pings_.push_back(std::move(ping));
    if (!sweep_.armed()) sweep_.arm_every(kSweepMs);
    ref.start();
}

uint16_t PingModule::allocate_id() {
    for (;;) {
        uint16_t id = next_id_++;
        bool used = false;
        for (const auto& p : pings_) used = used || (!p->done() && p->id() == id);
        if (!used) return id;
    }
}

void PingModule::sweep() {
    for (auto& p : pings_) {
        if (!p->done() && !p->client_alive()) {
            p->cancel();
            ++cancelled_;
        }
    }
    reap();
}

void PingModule::reap() {
    std::erase_if(pings_, [](const auto& p) { return p->done(); });
    if (pings_.empty()) sweep_.cancel();
}

void PingModule::write_stats(http::JsonWriter& w) const {
    auto rs = resolver_.stats();
    w.start_object();
    w.kv_uint("requests", requests_);
    w.kv_uint("in_flight", static_cast<uint64_t>(std::count_if(
                               pings_.begin(), pings_.end(), [](auto& p) { return !p->done(); })));
    w.kv_uint("max_in_flight", max_in_flight_);
    w.kv_uint("reachable", reachable_);
    w.kv_uint("unreachable", unreachable_);
    w.kv_uint("bad_requests", bad_requests_);
    w.kv_uint("failed", failed_);
    w.kv_uint("cancelled", cancelled_);
    w.kv_uint("packets_sent", packets_sent_);
    w.kv_uint("packets_received", packets_received_);
    w.kv_uint("send_errors", send_errors_);
    w.kv_uint("duplicates", duplicates_);
    w.kv("last_error", last_error_);
    w.key("resolver");
    w.start_object();
    w.kv_uint("lookups", rs.lookups);
    w.kv_uint("failures", rs.failures);
    w.kv_uint("cancelled", rs.cancelled);
    w.kv_uint("overflows", rs.overflows);
    w.kv_uint("pending", rs.pending);
    w.kv_uint("threads", rs.threads);
    w.end_object();
    w.end_object();
}

void PingModule::write_metrics(http::MetricsWriter& w) const {
    w.counter(kRequestsFamily, {{"outcome", "reachable"}}, reachable_);
    w.counter(kRequestsFamily, {{"outcome", "unreachable"}}, unreachable_);
    w.counter(kRequestsFamily, {{"outcome", "bad_request"}}, bad_requests_);
    w.counter(kRequestsFamily, {{"outcome", "error"}}, failed_);
    w.counter(kRequestsFamily, {{"outcome", "cancelled"}}, cancelled_);
    w.counter(kPacketsSentFamily, {}, packets_sent_);
    w.counter(kPacketsRecvFamily, {}, packets_received_);
    w.counter(kSendErrorsFamily, {}, send_errors_);
    w.gauge(kInFlightFamily, {},
            static_cast<int64_t>(
                std::count_if(pings_.begin(), pings_.end(), [](auto& p) { return !p->done(); })));
    w.histogram(kRttFamily, {}, rtt_);
}

CreateResult create(const conf::Config& cfg, Dependencies& deps) {
    // Fail now, with the reason, rather than at every request.
    auto fd = net::open_raw_socket(AF_INET, IPPROTO_ICMP);
    if (!fd) return std::unexpected("ping: " + fd.error());
    ::close(*fd);
    int64_t limit = kit::config_int(cfg, "ringprobe.ping.max_in_flight", kDefaultMaxInFlight);
    return std::make_unique<PingModule>(deps.reactor, static_cast<uint32_t>(limit));
}

}  // namespace

extern const Factory ping_factory;
constinit const Factory ping_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "ping.enabled",
    .create = create,
    .needs_ebpf = false,
};

}  // namespace rp::modules
