// session.cpp — see session.h.
#include "modules/traceroute/session.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "loop/log.h"

namespace rp::modules::traceroute {
namespace {

uint64_t ceil_ms(int64_t ns) { return static_cast<uint64_t>((ns + 999'999) / 1'000'000); }

bool same(const in_addr& a, const in_addr& b) { return a.s_addr == b.s_addr; }

// A socket of `type` bound to src:0, which reserves a port for a run; returns the fd and port.
std::expected<std::pair<int, uint16_t>, std::string> reserve_port(int type, in_addr src) {
    int fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr = src;
    socklen_t len = sizeof sa;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
        std::string e = std::string("bind a source port: ") + std::strerror(errno);
        ::close(fd);
        return std::unexpected(e);
    }
    return std::make_pair(fd, ntohs(sa.sin_port));
}

}  // namespace

Session::Session(loop::Reactor& r, net::Resolver& resolver, Params p, uint16_t echo_id, Done done)
    : reactor_(r),
      resolver_(resolver),
      params_(std::move(p)),
      echo_id_(echo_id),
      done_(std::move(done)) {
    resolve_timer_.init(r, [this] {
        lookup_.reset();
        fail(500, "lookup " + params_.target + ": no answer within " +
                      std::to_string(kResolveTimeoutMs) + " ms");
    });
    pace_timer_.init(r, [this] { pace(); });
    window_timer_.init(r, [this] {
        for (auto& run : runs_) run->done = true;
        check_done();
    });
    e2e_launch_timer_.init(r, [this] { launch_e2e(); });
    e2e_expire_timer_.init(r, [this] { expire_e2e(); });
    rdns_timer_.init(r, [this] {
        rdns_tickets_.clear();
        finish();
    });
}

Session::~Session() { cancel(); }

void Session::start() {
    start_ns_ = net::mono_ns();
    if (auto ip = net::parse_ip(params_.target)) {
        begin(*ip);
        return;
    }
    state_ = State::resolving;
    std::string err;
    lookup_ = resolver_.lookup(
        params_.target, AF_INET,
        [this](net::Resolver::Answer&& a) {
            lookup_ = {};
            resolve_timer_.cancel();
            if (!a.error.empty()) {
                fail(500, a.error);
                return;
            }
            begin(a.addrs.front());
        },
        &err);
    if (!lookup_.pending()) {
        fail(500, "lookup " + params_.target + ": " + err);
        return;
    }
    resolve_timer_.arm_after(kResolveTimeoutMs);
}

void Session::begin(const net::IpAddr& target) {
    target_ = target;
    if (!target_.is_v4()) {
        fail(400, "IPv6 traceroute is not supported (system-probe's runner traces IPv4 only)");
        return;
    }
    state_ = State::probing;
    if (std::string err = open_sockets(); !err.empty()) {
        fail(500, err);
        return;
    }
    net::random_bytes(&ip_id_base_, sizeof ip_id_base_);
    net::random_bytes(&seq_base_, sizeof seq_base_);
    probes_.reserve(size_t(params_.queries) * params_.max_ttl + params_.e2e_queries);
    e2e_rtt_ms_.assign(params_.e2e_queries, 0.0);
    e2e_wait_ms_ = ceil_ms(params_.timeout_ns) + (serial() ? 0 : kSendDelayMs);

    if (serial()) {
        for (auto& run : runs_) serial_send(*run);
    } else if (!runs_.empty()) {
        pace_ttl_ = 1;
        pace_timer_.arm_every(kSendDelayMs);
        pace();  // TTL 1 now; cancels the timer itself when nothing is left to send
        // datadog-traceroute's MaxTimeout: the timeout plus the send delay of every TTL.
        window_timer_.arm_after(ceil_ms(params_.timeout_ns) + kSendDelayMs * params_.max_ttl);
    }
    if (params_.e2e_queries > 0) {
        launch_e2e();
        if (e2e_launched_ < params_.e2e_queries) {
            // Upstream's spacing: max_ttl * timeout / e2e_queries.
            uint64_t spacing = ceil_ms(params_.timeout_ns) * params_.max_ttl /
                               std::max<uint32_t>(1, params_.e2e_queries);
            e2e_launch_timer_.arm_every(std::max<uint64_t>(1, spacing));
        }
    }
    check_done();
}

std::string Session::open_sockets() {
    // The source address the kernel would use for the target (datadog-traceroute's
    // LocalAddrForHost: a connected UDP socket, nothing sent).
    {
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return std::string("socket: ") + std::strerror(errno);
        sockaddr_storage ss;
        socklen_t len = target_.to_sockaddr(params_.port, ss);
        sockaddr_in local{};
        socklen_t llen = sizeof local;
        int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
        int e = errno;
        if (rc == 0) rc = ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
        ::close(fd);
        if (rc != 0) return "no route to " + target_.to_string() + ": connect: " + std::strerror(e);
        src_ = local.sin_addr;
    }
    auto send = net::open_raw_socket(AF_INET, IPPROTO_RAW);
    if (!send) return send.error();
    send_fd_ = *send;
    auto icmp = net::open_raw_socket(AF_INET, IPPROTO_ICMP);
    if (!icmp) return icmp.error();
    icmp_fd_ = *icmp;
    net::set_icmp_filter(
        icmp_fd_, (1u << ICMP_ECHOREPLY) | (1u << ICMP_DEST_UNREACH) | (1u << ICMP_TIME_EXCEEDED));
    const uint32_t dst = ntohl(target_.in4().s_addr);
    // x = outer header length. Echo replies from the target; errors quoting a packet to it.
    const sock_filter prog[] = {
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
        BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP_ECHOREPLY, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, dst, 4, 5),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP_TIME_EXCEEDED, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP_DEST_UNREACH, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_IND, 8 + 16),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    if (auto r = net::attach_filter(icmp_fd_, prog); !r) return r.error();
    net::enable_rx_timestamps(icmp_fd_);
    if (!icmp_watch_.start(reactor_, icmp_fd_, POLLIN, [this](int) { on_icmp(); }))
        return "the reactor has no room to watch the traceroute's ICMP socket";

    const int port_type = params_.protocol == Protocol::tcp ? SOCK_STREAM : SOCK_DGRAM;
    if (params_.protocol == Protocol::tcp) {
        auto tcp = net::open_raw_socket(AF_INET, IPPROTO_TCP);
        if (!tcp) return tcp.error();
        tcp_fd_ = *tcp;
        sockaddr_storage ss;
        socklen_t len = target_.to_sockaddr(0, ss);
        // Connected: the kernel hands this socket only the target's segments.
        if (::connect(tcp_fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0)
            return std::string("connect the raw TCP socket: ") + std::strerror(errno);
        tcp_filter_pending_ = true;  // attached once the source ports are known (below)
        net::enable_rx_timestamps(tcp_fd_);
        if (!tcp_watch_.start(reactor_, tcp_fd_, POLLIN, [this](int) { on_tcp(); }))
            return "the reactor has no room to watch the traceroute's TCP socket";
    }
    for (uint32_t i = 0; i < params_.queries; ++i) {
        auto run = std::make_unique<Run>();
        run->hops.resize(size_t(params_.max_ttl) + 1);
        if (params_.protocol != Protocol::icmp) {
            auto p = reserve_port(port_type, src_);
            if (!p) return p.error();
            run->reserve_fd = p->first;
            run->sport = p->second;
        }
        net::random_bytes(&run->paris_seq, sizeof run->paris_seq);
        Run* rp = run.get();
        run->timer.init(reactor_, [this, rp] {
            // serial: either the per-hop timeout or the pause before the next TTL
            if (rp->cur_probe != UINT32_MAX)
                serial_advance(*rp);
            else
                serial_send(*rp);
        });
        runs_.push_back(std::move(run));
    }
    if (params_.e2e_queries > 0 && params_.protocol != Protocol::icmp) {
        auto p = reserve_port(port_type, src_);
        if (!p) return p.error();
        e2e_reserve_fd_ = p->first;
        e2e_sport_ = p->second;
    }
    if (tcp_filter_pending_) {
        // Only segments to our source ports wake us (a busy target's other traffic, and every
        // other traceroute's, stays in the kernel). x = IP header length; [x+2] = dport.
        std::vector<uint16_t> ports;
        for (auto& run : runs_) ports.push_back(run->sport);
        if (e2e_sport_ != 0) ports.push_back(e2e_sport_);
        std::vector<sock_filter> prog;
        prog.push_back(BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0));
        prog.push_back(BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2));
        for (size_t i = 0; i < ports.size(); ++i) {
            // match: jump to the accept after the remaining comparisons and the reject
            const auto to_accept = static_cast<uint8_t>(ports.size() - i);
            prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ports[i], to_accept, 0));
        }
        prog.push_back(BPF_STMT(BPF_RET | BPF_K, 0));
        prog.push_back(BPF_STMT(BPF_RET | BPF_K, 0xffff));
        if (auto r = net::attach_filter(tcp_fd_, prog); !r) return r.error();
    }
    return {};
}

uint32_t Session::send_probe(int run, int ttl, uint32_t e2e_index) {
    // The IP id carries the probe's number; 0 would make the kernel pick one itself.
    if (static_cast<uint16_t>(ip_id_base_ + probes_.size()) == 0)
        probes_.push_back(Probe{-2, 0, 0, 0, 0, true, false});
    const uint32_t idx = static_cast<uint32_t>(probes_.size());
    const uint16_t sport = run >= 0 ? runs_[size_t(run)]->sport : e2e_sport_;
    ProbeSpec spec;
    spec.protocol = params_.protocol;
    spec.src = src_;
    spec.dst = target_.in4();
    spec.ttl = static_cast<uint8_t>(ttl);
    spec.ip_id = static_cast<uint16_t>(ip_id_base_ + idx);
    spec.sport = sport;
    spec.dport = params_.port;
    spec.tcp_seq = (params_.paris && run >= 0) ? runs_[size_t(run)]->paris_seq : seq_base_ + idx;
    spec.echo_id = echo_id_;
    spec.echo_seq = static_cast<uint16_t>(idx);
    uint8_t pkt[kMaxProbeBytes];
    size_t len = build_probe(spec, pkt);
    sockaddr_storage ss;
    socklen_t slen = target_.to_sockaddr(0, ss);
    int64_t now = net::mono_ns();
    probes_.push_back(Probe{static_cast<int16_t>(run), static_cast<uint8_t>(ttl), sport, e2e_index,
                            now, false, false});
    ++counters_.probes_sent;
    ssize_t n = ::sendto(send_fd_, pkt, len, 0, reinterpret_cast<sockaddr*>(&ss), slen);
    if (n != static_cast<ssize_t>(len)) {
        // The probe is lost (no answer will come); the run goes on, as a lost packet would.
        ++counters_.send_errors;
        LOG_DEBUG("traceroute: sendto %s ttl %d: %s", target_.to_string().c_str(), ttl,
                  n < 0 ? std::strerror(errno) : "short write");
    }
    return idx;
}

void Session::pace() {
    if (state_ != State::probing) return;
    bool more = false;
    if (pace_ttl_ <= params_.max_ttl) {
        for (size_t r = 0; r < runs_.size(); ++r) {
            Run& run = *runs_[r];
            if (run.done || run.dest_ttl != 0) continue;
            send_probe(static_cast<int>(r), pace_ttl_, 0);
            run.next_ttl = pace_ttl_ + 1;
        }
        ++pace_ttl_;
        for (auto& run : runs_) more = more || (!run->done && run->dest_ttl == 0);
    }
    if (!more || pace_ttl_ > params_.max_ttl) pace_timer_.cancel();
}

void Session::serial_send(Run& run) {
    if (state_ != State::probing || run.done) return;
    if (run.next_ttl > params_.max_ttl) {
        run.done = true;
        check_done();
        return;
    }
    int r = 0;
    while (runs_[size_t(r)].get() != &run) ++r;
    run.cur_probe = send_probe(r, run.next_ttl, 0);
    run.cur_sent_ms = static_cast<int64_t>(reactor_.now_ms());
    run.timer.arm_after(ceil_ms(params_.timeout_ns));
}

void Session::serial_advance(Run& run) {
    run.timer.cancel();
    run.cur_probe = UINT32_MAX;
    if (run.dest_ttl != 0 || run.next_ttl >= params_.max_ttl) {
        run.done = true;
        check_done();
        return;
    }
    ++run.next_ttl;
    // At least kSendDelayMs between two probes of a run (datadog-traceroute's SendDelay).
    int64_t due = run.cur_sent_ms + int64_t(kSendDelayMs) - int64_t(reactor_.now_ms());
    if (due > 0)
        run.timer.arm_after(static_cast<uint64_t>(due));
    else
        serial_send(run);
}

void Session::launch_e2e() {
    if (state_ != State::probing || e2e_launched_ >= params_.e2e_queries) {
        e2e_launch_timer_.cancel();
        return;
    }
    uint32_t k = e2e_launched_++;
    uint32_t idx = send_probe(-1, params_.max_ttl, k);
    e2e_pending_.push_back({idx, reactor_.now_ms() + e2e_wait_ms_});
    if (!e2e_expire_timer_.armed()) e2e_expire_timer_.arm_after(e2e_wait_ms_);
    if (e2e_launched_ >= params_.e2e_queries) e2e_launch_timer_.cancel();
}

void Session::expire_e2e() {
    const uint64_t now = reactor_.now_ms();
    while (!e2e_pending_.empty() && e2e_pending_.front().deadline_ms <= now) {
        Probe& p = probes_[e2e_pending_.front().probe];
        if (!p.settled) {
            p.settled = true;  // a late answer no longer counts
            ++e2e_settled_;
        }
        e2e_pending_.pop_front();
    }
    if (!e2e_pending_.empty()) e2e_expire_timer_.arm_after(e2e_pending_.front().deadline_ms - now);
    check_done();
}

void Session::on_icmp() {
    alignas(8) uint8_t buf[2048];
    alignas(8) uint8_t control[128];
    for (int i = 0; i < 128 && icmp_fd_ >= 0; ++i) {
        iovec iov{buf, sizeof buf};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(icmp_fd_, &m, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            continue;  // an error the kernel reports on the socket: read, and go on
        }
        const int64_t rx = net::rx_mono_ns(control, m.msg_controllen, net::mono_ns());
        Reply r;
        if (!parse_icmp(buf, static_cast<size_t>(n), r)) {
            ++counters_.foreign;
            continue;
        }
        const in_addr dst = target_.in4();
        uint32_t idx = UINT32_MAX;
        bool is_dest = same(r.from, dst);
        if (r.kind == Reply::Kind::echo_reply) {
            if (params_.protocol == Protocol::icmp && is_dest && r.echo_id == echo_id_)
                idx = r.echo_seq;
        } else if (r.kind == Reply::Kind::quote && same(r.inner_dst, dst) &&
                   same(r.inner_src, src_)) {
            uint32_t i2 = static_cast<uint16_t>(r.inner_ip_id - ip_id_base_);
            bool ok = i2 < probes_.size() && probes_[i2].run != -2;
            switch (params_.protocol) {
                case Protocol::udp:
                    ok = ok && r.inner_protocol == IPPROTO_UDP && r.inner_dport == params_.port &&
                         r.inner_sport == probes_[i2].sport;
                    break;
                case Protocol::tcp:
                    ok = ok && r.inner_protocol == IPPROTO_TCP && r.inner_dport == params_.port &&
                         r.inner_sport == probes_[i2].sport;
                    break;
                case Protocol::icmp:
                    ok = ok && r.inner_protocol == IPPROTO_ICMP && r.inner_echo_id == echo_id_;
                    break;
            }
            if (ok) idx = i2;
        }
        if (idx == UINT32_MAX || idx >= probes_.size()) {
            ++counters_.foreign;
            continue;
        }
        answer(idx, r.from, is_dest, rx);
        if (state_ != State::probing) break;
    }
}

void Session::on_tcp() {
    alignas(8) uint8_t buf[2048];
    alignas(8) uint8_t control[128];
    for (int i = 0; i < 128 && tcp_fd_ >= 0; ++i) {
        iovec iov{buf, sizeof buf};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(tcp_fd_, &m, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            continue;  // e.g. EHOSTUNREACH from an ICMP error the kernel pinned on the socket
        }
        const int64_t rx = net::rx_mono_ns(control, m.msg_controllen, net::mono_ns());
        Reply r;
        if (!parse_tcp(buf, static_cast<size_t>(n), r) || !same(r.from, target_.in4()) ||
            r.tcp_sport != params_.port) {
            ++counters_.foreign;
            continue;
        }
        uint32_t idx = UINT32_MAX;
        uint32_t by_seq = r.tcp_ack - 1 - seq_base_;
        if (by_seq < probes_.size() && probes_[by_seq].sport == r.tcp_dport &&
            !(params_.paris && probes_[by_seq].run >= 0)) {
            idx = by_seq;
        } else if (params_.paris) {
            // One sequence number per run: the run's probe in flight is the one answered.
            for (auto& run : runs_)
                if (run->sport == r.tcp_dport && r.tcp_ack - 1 == run->paris_seq)
                    idx = run->cur_probe;
        }
        if (idx == UINT32_MAX || idx >= probes_.size()) {
            ++counters_.foreign;
            continue;
        }
        answer(idx, r.from, true, rx);
        if (state_ != State::probing) break;
    }
}

void Session::answer(uint32_t idx, const in_addr& from, bool is_dest, int64_t rx_ns) {
    Probe& p = probes_[idx];
    ++counters_.replies;
    const int64_t rtt = std::max<int64_t>(0, rx_ns - p.sent_ns);
    if (p.run == -1) {  // e2e: only the destination's answer counts (upstream's destination hop)
        if (p.settled || !is_dest) return;
        p.settled = true;
        p.answered = true;
        e2e_rtt_ms_[p.e2e_index] = double(rtt) / 1e6;
        ++e2e_settled_;
        check_done();
        return;
    }
    if (p.run < 0) return;
    Run& run = *runs_[size_t(p.run)];
    Hop& hop = run.hops[p.ttl];
    // The first answer for a TTL wins, except that the destination's never loses to a router's
    // (datadog-traceroute's writeProbe).
    if (!hop.answered || (!hop.is_dest && is_dest)) {
        hop.answered = true;
        hop.is_dest = is_dest;
        hop.ip = net::IpAddr::v4(from);
        hop.rtt_ns = rtt;
    }
    p.answered = true;
    if (is_dest && (run.dest_ttl == 0 || p.ttl < run.dest_ttl)) run.dest_ttl = p.ttl;
    if (serial()) {
        if (idx == run.cur_probe) serial_advance(run);
    } else {
        check_run(run);
    }
}

void Session::check_run(Run& run) {
    if (run.done || run.dest_ttl == 0) return;
    for (int t = 1; t < run.dest_ttl; ++t)
        if (!run.hops[size_t(t)].answered) return;
    // Every hop up to the destination answered: nothing left to learn from this run.
    run.done = true;
    check_done();
}

void Session::check_done() {
    if (state_ != State::probing) return;
    for (auto& run : runs_)
        if (!run->done) return;
    if (e2e_settled_ < params_.e2e_queries) return;
    close_sockets();
    if (params_.reverse_dns)
        start_reverse_dns();
    else
        finish();
}

void Session::close_sockets() {
    pace_timer_.cancel();
    window_timer_.cancel();
    e2e_launch_timer_.cancel();
    e2e_expire_timer_.cancel();
    icmp_watch_.stop();
    tcp_watch_.stop();
    for (int* fd : {&send_fd_, &icmp_fd_, &tcp_fd_, &e2e_reserve_fd_}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
    }
    for (auto& run : runs_) {
        run->timer.cancel();
        if (run->reserve_fd >= 0) ::close(run->reserve_fd);
        run->reserve_fd = -1;
    }
}

void Session::start_reverse_dns() {
    state_ = State::reverse_dns;
    std::vector<net::IpAddr> ips{target_};
    for (auto& run : runs_)
        for (auto& h : run->hops)
            if (h.answered && std::find(ips.begin(), ips.end(), h.ip) == ips.end())
                ips.push_back(h.ip);
    if (ips.size() > kMaxReverseLookups) ips.resize(kMaxReverseLookups);
    for (const auto& ip : ips) {
        if (auto cached = resolver_.cached_reverse(ip)) {
            if (cached->error.empty()) rdns_names_.emplace_back(ip, cached->name);
            continue;
        }
        std::string err;
        auto t = resolver_.reverse(
            ip,
            [this, ip](net::Resolver::Answer&& a) {
                if (a.error.empty()) rdns_names_.emplace_back(ip, std::move(a.name));
                if (--rdns_pending_ == 0) {
                    rdns_timer_.cancel();
                    finish();
                }
            },
            &err);
        if (t.pending()) {
            ++rdns_pending_;
            rdns_tickets_.push_back(std::move(t));
        }
    }
    if (rdns_pending_ == 0) {
        finish();
        return;
    }
    rdns_timer_.arm_after(kReverseDnsTimeoutMs);
}

std::string Session::reverse_name(const net::IpAddr& ip) const {
    for (const auto& [a, n] : rdns_names_)
        if (a == ip) return n;
    return {};
}

std::vector<RunResult> Session::runs() const {
    std::vector<RunResult> out;
    for (const auto& run : runs_) out.push_back(RunResult{run->sport, run->hops, run->dest_ttl});
    return out;
}

void Session::finish() {
    if (state_ == State::finished) return;
    close_sockets();
    lookup_.reset();
    resolve_timer_.cancel();
    rdns_timer_.cancel();
    state_ = State::finished;
    end_ns_ = net::mono_ns();
    // The tickets may be the ones whose callback runs now: release them after it returns.
    if (done_) done_(*this);
}

void Session::fail(int status, std::string message) {
    if (state_ == State::finished) return;
    error_status_ = status;
    error_ = std::move(message);
    finish();
}

void Session::cancel() {
    close_sockets();
    lookup_.reset();
    rdns_tickets_.clear();
    resolve_timer_.cancel();
    rdns_timer_.cancel();
    if (state_ != State::finished) end_ns_ = net::mono_ns();
    state_ = State::finished;
}

}  // namespace rp::modules::traceroute
