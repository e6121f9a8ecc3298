// conntrack.cpp — see conntrack.h. Facts from upstream DataDog/datadog-agent
// pkg/network/netlink/{conntracker,consumer,circuit_breaker}.go (docs/modules/network_tracer.md,
// "NAT translation").
#include "modules/network_tracer/conntrack.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/filter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "loop/log.h"

namespace rp::modules::network_tracer {
namespace {

constexpr int kRcvBuf = 1 << 20;          // upstream's netlinkBufferSize
constexpr double kEwmaWeight = 0.2;       // upstream's ewmaWeight
constexpr double kOvershoot = 0.95;       // upstream's overshootFactor
constexpr uint64_t kCompactMs = 60000;    // upstream's compactInterval
constexpr uint64_t kResyncGapMs = 10000;  // at most one resync dump per namespace per 10 s
constexpr size_t kReadsPerTurn = 64;      // reads of one socket per readiness
constexpr uint64_t kCoalesceMs = 10;      // events wait at most this long to be read
constexpr size_t kMemo = 4096;            // local_endpoint() answers kept per poll (slots)

constexpr http::MetricFamily kEntries{"ringprobe_network_tracer_conntrack_entries",
                                      http::MetricKind::gauge,
                                      "NAT tuples in the conntrack translation cache."};
constexpr http::MetricFamily kMessages{
    "ringprobe_network_tracer_conntrack_messages", http::MetricKind::counter,
    "Conntrack netlink messages read, by kind (dump, new, destroy)."};
constexpr http::MetricFamily kCtErrors{
    "ringprobe_network_tracer_conntrack_errors", http::MetricKind::counter,
    "Conntrack netlink problems, by kind (enobufs, read, message, evicted, throttled)."};
constexpr http::MetricFamily kSampling{
    "ringprobe_network_tracer_conntrack_sampling_ratio", http::MetricKind::gauge,
    "Share of conntrack events read (1: all; below 1 after the rate limit tripped)."};
constexpr http::MetricFamily kReady{
    "ringprobe_network_tracer_conntrack_ready", http::MetricKind::gauge,
    "1 when the conntrack tables were dumped in time and events are read, else 0."};

uint32_t ns_inode(const char* path) {
    struct stat st {};
    return ::stat(path, &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

// Walks the attributes in [begin, end) (libmnl's mnl_attr_for_each, whose macro C++ cannot take).
template <typename F>
void each_attr(const void* begin, const void* end, F&& f) {
    for (auto* a = static_cast<const nlattr*>(begin); mnl_attr_ok(
             a, static_cast<int>(static_cast<const char*>(end) - reinterpret_cast<const char*>(a)));
         a = mnl_attr_next(a))
        f(a);
}

template <typename F>
void each_nested(const nlattr* nest, F&& f) {
    const char* p = static_cast<const char*>(mnl_attr_get_payload(nest));
    each_attr(p, p + mnl_attr_get_payload_len(nest), f);
}

// One direction of a conntrack message (CTA_TUPLE_ORIG or CTA_TUPLE_REPLY), read with libmnl's
// attribute walk straight into `t` (nothing allocated; an attribute missing or too short leaves
// its field zero, which is_nat() rejects). `l4`: CTA_PROTO_NUM.
void parse_tuple(const nlattr* tuple, Tuple& t, uint8_t& l4) {
    each_nested(tuple, [&](const nlattr* a) {
        uint16_t type = mnl_attr_get_type(a);
        if (type == CTA_TUPLE_IP) {
            each_nested(a, [&](const nlattr* ip) {
                uint16_t it = mnl_attr_get_type(ip);
                nt_addr* dst = it == CTA_IP_V4_SRC || it == CTA_IP_V6_SRC   ? &t.src
                               : it == CTA_IP_V4_DST || it == CTA_IP_V6_DST ? &t.dst
                                                                            : nullptr;
                if (dst == nullptr) return;
                bool v4 = it == CTA_IP_V4_SRC || it == CTA_IP_V4_DST;
                if (mnl_attr_get_payload_len(ip) < (v4 ? 4u : 16u)) return;
                std::memset(dst->a, 0, 16);
                if (v4) {
                    dst->a[10] = dst->a[11] = 0xff;
                    std::memcpy(dst->a + 12, mnl_attr_get_payload(ip), 4);
                } else {
                    std::memcpy(dst->a, mnl_attr_get_payload(ip), 16);
                }
            });
        } else if (type == CTA_TUPLE_PROTO) {
            each_nested(a, [&](const nlattr* p) {
                uint16_t pt = mnl_attr_get_type(p);
                uint16_t len = mnl_attr_get_payload_len(p);
                if (pt == CTA_PROTO_NUM && len >= 1)
                    l4 = mnl_attr_get_u8(p);
                else if (pt == CTA_PROTO_SRC_PORT && len >= 2)
                    t.sport = ntohs(mnl_attr_get_u16(p));
                else if (pt == CTA_PROTO_DST_PORT && len >= 2)
                    t.dport = ntohs(mnl_attr_get_u16(p));
            });
        }
    });
}

}  // namespace

Conntrack::Conntrack(loop::Reactor& r, ConntrackOptions o)
    : reactor_(r), o_(o), cache_(o.max_state) {}

Conntrack::~Conntrack() { stop(); }

uint64_t Conntrack::now_ms() const { return reactor_.now_ms(); }

void Conntrack::degrade(std::string reason) {
    timeout_only_ = false;
    if (state_ == State::degraded) {
        reason_ += "; " + reason;
    } else {
        state_ = State::degraded;
        reason_ = std::move(reason);
    }
    LOG_WARN("network_tracer: NAT translation (conntrack) degraded: %s", reason_.c_str());
}

bool Conntrack::open_source(uint32_t netns, int ns_fd, std::string& err) {
    int self = -1;
    if (ns_fd >= 0) {
        self = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0 || ::setns(ns_fd, CLONE_NEWNET) != 0) {
            err = std::string("setns: ") + std::strerror(errno);
            if (self >= 0) ::close(self);
            return false;
        }
    }
    // The socket belongs to the namespace it is created in.
    mnl_socket* nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int open_errno = errno;
    if (self >= 0) {
        if (::setns(self, CLONE_NEWNET) != 0)
            LOG_ERROR("network_tracer: conntrack: cannot return to the daemon's namespace: %s",
                      std::strerror(errno));
        ::close(self);
    }
    if (nl == nullptr) {
        err = std::string("netlink socket: ") + std::strerror(open_errno);
        return false;
    }
    if (mnl_socket_bind(nl, NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_DESTROY,
                        MNL_SOCKET_AUTOPID) < 0) {
        err = std::string("joining the conntrack event groups: ") + std::strerror(errno) +
              (errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
        mnl_socket_close(nl);
        return false;
    }
    int fd = mnl_socket_get_fd(nl);
    int size = kRcvBuf;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    auto s = std::make_unique<Source>();
    s->netns = netns;
    s->nl = nl;
    s->fd = fd;
    Source* sp = s.get();
    s->resume.init(reactor_, [this, sp] {
        if (!sp->watch.start(reactor_, sp->fd, POLLIN,
                             [this, sp](int res) { on_readable(*sp, res); }))
            ++read_errors_;
    });
    if (!s->watch.start(reactor_, fd, POLLIN, [this, sp](int res) { on_readable(*sp, res); })) {
        err = "the reactor has no room for the socket";
        mnl_socket_close(nl);
        return false;
    }
    sources_.push_back(std::move(s));
    return true;
}

bool Conntrack::request_dump(Source& s) {
    char buf[MNL_SOCKET_BUFFER_SIZE];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    s.dump_seq = next_seq_++;
    if (next_seq_ == 0) next_seq_ = 1;
    nlh->nlmsg_seq = s.dump_seq;
    auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    g->nfgen_family = AF_UNSPEC;  // IPv4 and IPv6 in one dump
    g->version = NFNETLINK_V0;
    g->res_id = 0;
    if (mnl_socket_sendto(s.nl, nlh, nlh->nlmsg_len) < 0) {
        s.dump_seq = 0;
        return false;
    }
    return true;
}

void Conntrack::start() {
    if (!o_.enabled) {
        state_ = State::off;
        reason_ = "system_probe_config.enable_conntrack is false";
        return;
    }
    start_ms_ = now_ms();
    state_ = State::initializing;
    self_netns_ = ns_inode("/proc/self/ns/net");
    std::string err;
    if (!open_source(self_netns_, -1, err)) {
        state_ = State::off;
        reason_ = "the daemon's namespace: " + err;
        LOG_WARN("network_tracer: no NAT translation (conntrack): %s", reason_.c_str());
        return;
    }
    if (o_.all_namespaces) scan_namespaces(false);
    for (auto& s : sources_)
        if (!request_dump(*s)) {
            degrade("dump request in namespace " + std::to_string(s->netns) + ": " +
                    std::strerror(errno));
            s->dumped = true;
        }
    init_timer_.init(reactor_, [this] {
        if (state_ != State::initializing) return;
        size_t pending = 0;
        for (auto& s : sources_) pending += !s->dumped;
        bool first = state_ == State::initializing;
        degrade("the initial conntrack dump did not end within " +
                std::to_string(o_.init_timeout_ms / 1000.0).substr(0, 5) + " s (" +
                std::to_string(pending) + " of " + std::to_string(sources_.size()) +
                " namespaces pending; network_config.conntrack_init_timeout)");
        timeout_only_ = first;  // ready again if the dumps end later and nothing else failed
    });
    init_timer_.arm_after(o_.init_timeout_ms);
    last_tick_ms_ = now_ms();
    rate_timer_.init(reactor_, [this] { tick(); });
    rate_timer_.arm_every(std::max<uint64_t>(o_.rate_interval_ms, 100));
    compact_timer_.init(reactor_, [this] { expired_ += cache_.compact(now_ms()); });
    compact_timer_.arm_every(kCompactMs);
    if (o_.all_namespaces) {
        rescan_timer_.init(reactor_, [this] { scan_namespaces(true); });
        rescan_timer_.arm_every(std::max<uint64_t>(o_.rescan_ms, 100));
    }
    check_init();
}

// Every namespace of /proc/*/ns/net and /run/netns/* gets a socket; at a rescan, a new one also
// gets a dump (its live entries), and the socket of a namespace no longer found is closed (a
// socket would keep its namespace alive).
void Conntrack::scan_namespaces(bool rescan) {
    // Runs every conntrack_rescan_ms: paths built in place and the namespace lists kept between
    // scans (namespaces are few, processes many): no allocation once they have grown.
    scan_seen_.assign(1, self_netns_);
    scan_have_.clear();
    for (auto& s : sources_) scan_have_.push_back(s->netns);
    auto contains = [](const std::vector<uint32_t>& v, uint32_t x) {
        return std::find(v.begin(), v.end(), x) != v.end();
    };
    auto visit = [&](const char* p) {
        uint32_t ino = ns_inode(p);
        if (ino == 0 || contains(scan_seen_, ino)) return;
        scan_seen_.push_back(ino);
        if (contains(scan_have_, ino)) return;
        int fd = ::open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;  // the process left
        std::string e;
        if (!open_source(ino, fd, e)) {
            ++namespaces_failed_;
            LOG_WARN("network_tracer: conntrack: namespace %u (%s): %s", ino, p, e.c_str());
        } else if (rescan) {
            ++namespaces_added_;
            Source& s = *sources_.back();
            s.dumped = true;  // not part of the initial dump (no init timeout)
            request_dump(s);
        }
        ::close(fd);
    };
    char path[300];
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] >= '1' && e->d_name[0] <= '9') {
                std::snprintf(path, sizeof path, "/proc/%s/ns/net", e->d_name);
                visit(path);
            }
        ::closedir(d);
    }
    if (DIR* d = ::opendir("/run/netns")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') {
                std::snprintf(path, sizeof path, "/run/netns/%s", e->d_name);
                visit(path);
            }
        ::closedir(d);
    }
    if (!rescan) return;
    for (size_t i = 0; i < sources_.size();) {
        if (contains(scan_seen_, sources_[i]->netns)) {
            ++i;
            continue;
        }
        sources_[i]->resume.cancel();
        sources_[i]->watch.stop();
        mnl_socket_close(sources_[i]->nl);
        sources_.erase(sources_.begin() + static_cast<std::ptrdiff_t>(i));
        ++namespaces_gone_;
    }
}

void Conntrack::stop() {
    rescan_timer_.cancel();
    init_timer_.cancel();
    rate_timer_.cancel();
    compact_timer_.cancel();
    for (auto& s : sources_) {
        s->resume.cancel();
        s->watch.stop();
        if (s->nl) mnl_socket_close(s->nl);
    }
    sources_.clear();
    cache_.clear();
}

void Conntrack::check_init() {
    bool late = state_ == State::degraded && timeout_only_;
    if (state_ != State::initializing && !late) return;
    for (auto& s : sources_)
        if (!s->dumped) return;
    if (late) {
        LOG_INFO("network_tracer: conntrack: the initial dump ended after the timeout: ready");
        reason_.clear();
        timeout_only_ = false;
        ++late_inits_;
    }
    state_ = State::ready;
    init_ms_ = static_cast<double>(now_ms() - start_ms_);
    init_timer_.cancel();
    LOG_INFO("network_tracer: conntrack: %zu namespaces dumped in %.0f ms, %zu NAT tuples",
             sources_.size(), init_ms_, cache_.size());
}

void Conntrack::dump_ended(Source& s, int error) {
    s.dump_seq = 0;
    bool first = !s.dumped;
    s.dumped = true;
    if (error != 0 && first)
        degrade("the conntrack dump of namespace " + std::to_string(s.netns) +
                " failed: " + std::strerror(error));
    check_init();
}

void Conntrack::on_readable(Source& s, int res) {
    if (res < 0) {
        ++read_errors_;
        return;
    }
    drain(s);
    // Events are read in batches: the socket is watched again kCoalesceMs later (the kernel
    // queues them meanwhile; 1 MiB holds over 1,000), so that a steady stream costs one wake-up
    // and a few system calls per batch, not per event. A dump is read at once.
    if (s.dump_seq == 0 && s.watch.active()) {
        s.watch.stop();
        s.resume.arm_after(kCoalesceMs);
    }
}

void Conntrack::drain(Source& s) {
    // Up to kBatch messages per system call (an event is one datagram): recvmmsg.
    constexpr size_t kBatch = 32, kSlot = 16384;
    alignas(8) static char bufs[kBatch][kSlot];
    static mmsghdr msgs[kBatch];
    static iovec iov[kBatch];
    for (size_t i = 0; i < kReadsPerTurn; ++i) {
        for (size_t j = 0; j < kBatch; ++j) {
            iov[j] = {bufs[j], kSlot};
            msgs[j] = {};
            msgs[j].msg_hdr.msg_iov = &iov[j];
            msgs[j].msg_hdr.msg_iovlen = 1;
        }
        int n = ::recvmmsg(s.fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            if (errno == ENOBUFS) {
                // Events were lost: the cache may miss NAT entries. Dump the table again.
                ++enobufs_;
                uint64_t now = now_ms();
                if (s.dump_seq == 0 && now - s.last_resync_ms >= kResyncGapMs) {
                    s.last_resync_ms = now;
                    if (request_dump(s)) ++resyncs_;
                }
                continue;
            }
            ++read_errors_;
            return;
        }
        ++recv_calls_;
        for (int j = 0; j < n; ++j) {
            if (msgs[j].msg_hdr.msg_flags & MSG_TRUNC) {
                ++msg_errors_;  // a dump batch larger than a slot: its entries are lost
                continue;
            }
            handle(s, bufs[j], msgs[j].msg_len);
        }
        if (static_cast<size_t>(n) < kBatch) return;
    }
}

void Conntrack::handle(Source& s, const void* buf, size_t len) {
    int left = static_cast<int>(len);
    for (auto* nlh = static_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
        bool dump = s.dump_seq != 0 && nlh->nlmsg_seq == s.dump_seq;
        if (nlh->nlmsg_type == NLMSG_DONE) {
            if (dump) dump_ended(s, 0);
            continue;
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) {
            const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
            if (e->error == 0) continue;  // an acknowledgement
            ++msg_errors_;
            if (dump) dump_ended(s, -e->error);
            continue;
        }
        if (nlh->nlmsg_type < NLMSG_MIN_TYPE) continue;
        if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK) continue;
        entry(s, nlh, !dump);
    }
}

void Conntrack::entry(Source& s, const nlmsghdr* nlh, bool event) {
    // The attributes are walked in place (libmnl): no per-message object (libnetfilter_conntrack's
    // nfct_new + nfct_nlmsg_parse + nfct_destroy allocated and parsed every attribute).
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg))) {
        ++msg_errors_;
        return;
    }
    const auto* g = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    int l3 = g->nfgen_family;
    Tuple o, r;
    uint8_t l4 = 0, l4_reply = 0;
    each_attr(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)), mnl_nlmsg_get_payload_tail(nlh),
              [&](const nlattr* a) {
                  uint16_t type = mnl_attr_get_type(a);
                  if (type == CTA_TUPLE_ORIG)
                      parse_tuple(a, o, l4);
                  else if (type == CTA_TUPLE_REPLY)
                      parse_tuple(a, r, l4_reply);
              });
    bool destroy = (nlh->nlmsg_type & 0xff) == IPCTNL_MSG_CT_DELETE;
    if (event) {
        ++events_;
        if (destroy)
            ++destroys_;
        else
            ++window_events_;  // the rate limit counts NEW events, as upstream reads only those
    } else {
        ++dump_entries_;
    }
    uint8_t t;
    if (l4 == IPPROTO_TCP)
        t = NT_TYPE_TCP;
    else if (l4 == IPPROTO_UDP)
        t = NT_TYPE_UDP;
    else
        return;
    if (l3 != AF_INET && l3 != AF_INET6) return;
    if (destroy) {
        cache_.destroyed(o, r, t, s.netns, now_ms());
        return;
    }
    if (!TranslationCache::is_nat(o, r)) {
        ++registers_dropped_;
        return;
    }
    ++registers_;
    ++s.entries;
    evicts_ += cache_.add(o, r, t, s.netns, event, now_ms());
}

const IpTranslation* Conntrack::lookup(const nt_conn& c) {
    if (state_ == State::off) return nullptr;
    ++gets_;
    Tuple t{.src = c.saddr, .dst = c.daddr, .sport = c.sport, .dport = c.dport};
    const IpTranslation* tr = cache_.get(t, c.type, c.netns);
    if (tr == nullptr && c.netns != self_netns_) tr = cache_.get(t, c.type, self_netns_);
    hits_ += tr != nullptr;
    return tr;
}

void Conntrack::prefetch(const nt_conn& c) const {
    if (state_ == State::off) return;
    cache_.prefetch(Tuple{.src = c.saddr, .dst = c.daddr, .sport = c.sport, .dport = c.dport},
                    c.type, c.netns);
}

bool Conntrack::local_endpoint(const nt_addr& a, uint16_t port, uint8_t type) const {
    if (endpoints_fd_ < 0) return false;
    if (endpoint_memo_.empty()) endpoint_memo_.resize(kMemo);
    uint64_t w[2];
    std::memcpy(w, a.a, 16);
    uint64_t h = (w[0] ^ (w[1] * 0x9e3779b97f4a7c15ull) ^ (uint64_t{port} << 8 | type)) *
                 0xbf58476d1ce4e5b9ull;
    Memo& m = endpoint_memo_[(h >> 40) % kMemo];
    if (m.gen == memo_gen_ && m.port == port && m.type == type &&
        std::memcmp(m.addr.a, a.a, 16) == 0)
        return m.found;
    struct {
        nt_addr addr;
        uint16_t port;
        uint8_t type;
        uint8_t pad;
    } k{a, port, type, 0};  // bpf/network_tracer.bpf.c's struct nt_ep_key
    static_assert(sizeof k == 20);
    uint32_t n = 0;
    ++endpoint_lookups_;
    bool found = bpf_map_lookup_elem(endpoints_fd_, &k, &n) == 0;
    m = Memo{.addr = a, .port = port, .type = type, .found = found, .gen = memo_gen_};
    return found;
}

// Upstream's CircuitBreaker.update: an EWMA of the event rate; above the limit, the sockets
// sample events so that the rate read falls to the limit (upstream's throttle()).
void Conntrack::tick() {
    uint64_t now = now_ms();
    double secs = std::max(static_cast<double>(now - last_tick_ms_) / 1000.0, 1.0);
    last_tick_ms_ = now;
    double rate = static_cast<double>(window_events_) / secs;
    window_events_ = 0;
    ewma_rate_ = ewma_rate_ == 0 ? rate : kEwmaWeight * rate + (1 - kEwmaWeight) * ewma_rate_;
    if (o_.rate_limit < 0 || ewma_rate_ <= static_cast<double>(o_.rate_limit)) return;
    ++throttles_;
    double next = static_cast<double>(o_.rate_limit) / ewma_rate_ * sampling_ * kOvershoot;
    LOG_WARN(
        "network_tracer: conntrack: %.0f events/s above conntrack_rate_limit %lld: "
        "sampling %.1f%% of events",
        ewma_rate_, static_cast<long long>(o_.rate_limit), next * 100);
    set_sampling(next);
    ewma_rate_ = 0;
}

void Conntrack::set_sampling(double rate) {
    sampling_ = std::clamp(rate, 0.0, 1.0);
    // Messages of a dump (nlmsg_seq != 0) always pass; an event (seq 0) passes when a random
    // 32-bit number is below sampling * 2^32.
    auto threshold = static_cast<uint32_t>(std::min(sampling_ * 4294967296.0, 4294967295.0));
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(nlmsghdr, nlmsg_seq)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, threshold, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
    };
    sock_fprog prog{.len = static_cast<unsigned short>(std::size(code)), .filter = code};
    for (auto& s : sources_)
        if (::setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
            LOG_WARN("network_tracer: conntrack: sampling filter: %s", std::strerror(errno));
}

std::string Conntrack::status() const {
    switch (state_) {
        case State::off:
            return "off: " + reason_;
        case State::initializing:
            return "initializing";
        case State::ready:
            return "ready";
        case State::degraded:
            return "degraded: " + reason_;
    }
    return "";
}

void Conntrack::write_stats(http::JsonWriter& w) const {
    w.key("conntrack");
    w.start_object();
    w.kv("status", status());
    w.kv_uint("namespaces", sources_.size());
    w.kv_uint("namespaces_failed", namespaces_failed_);
    w.kv_uint("namespaces_added", namespaces_added_);
    w.kv_uint("namespaces_gone", namespaces_gone_);
    w.kv_number("init_ms", init_ms_);
    w.kv_uint("init_after_timeout", late_inits_);
    w.kv_uint("state_size", cache_.size());
    w.kv_uint("orphan_size", cache_.orphans());
    w.kv_uint("max_state_size", cache_.max_entries());
    w.kv_uint("memory_bytes", cache_.memory_bytes());
    w.kv_uint("dump_entries", dump_entries_);
    w.kv_uint("events", events_);
    w.kv_uint("destroy_events", destroys_);
    w.kv_uint("registers_total", registers_);
    w.kv_uint("registers_dropped", registers_dropped_);
    w.kv_uint("evicts_total", evicts_);
    w.kv_uint("expired_total", expired_);
    w.kv_uint("gets_total", gets_);
    w.kv_uint("hits_total", hits_);
    w.kv_uint("endpoint_lookups", endpoint_lookups_);
    w.kv_uint("enobufs", enobufs_);
    w.kv_uint("resyncs", resyncs_);
    w.kv_uint("read_errors", read_errors_);
    w.kv_uint("recv_calls", recv_calls_);
    w.kv_uint("msg_errors", msg_errors_);
    w.kv_uint("throttles", throttles_);
    w.kv_number("sampling_pct", sampling_ * 100);
    w.kv_number("event_rate", ewma_rate_);
    // The namespaces read, each with the NAT entries learnt from it (which namespaces are covered).
    w.key("sources");
    w.start_array();
    for (const auto& s : sources_) {
        w.start_object();
        w.kv_uint("netns", s->netns);
        w.kv_bool("dumped", s->dumped);
        w.kv_uint("nat_entries", s->entries);
        w.end_object();
    }
    w.end_array();
    w.end_object();
}

void Conntrack::write_metrics(http::MetricsWriter& m) const {
    m.gauge(kEntries, {}, static_cast<int64_t>(cache_.size()));
    m.counter(kMessages, {{"kind", "dump"}}, dump_entries_);
    m.counter(kMessages, {{"kind", "new"}}, events_ - destroys_);
    m.counter(kMessages, {{"kind", "destroy"}}, destroys_);
    m.counter(kCtErrors, {{"kind", "enobufs"}}, enobufs_);
    m.counter(kCtErrors, {{"kind", "read"}}, read_errors_);
    m.counter(kCtErrors, {{"kind", "message"}}, msg_errors_);
    m.counter(kCtErrors, {{"kind", "evicted"}}, evicts_);
    m.counter(kCtErrors, {{"kind", "throttled"}}, throttles_);
    m.gauge(kSampling, {}, sampling_);
    m.gauge(kReady, {}, static_cast<int64_t>(state_ == State::ready));
}

}  // namespace rp::modules::network_tracer
