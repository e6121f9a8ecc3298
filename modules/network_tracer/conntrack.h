// conntrack.h — Conntrack: NAT translations from the kernel's connection tracking, over netlink
// (libmnl sockets and attribute parsing), on the reactor: each namespace's ctnetlink
// socket is an FdWatch on the one io_uring.
//
//   start()   one socket per network namespace (the daemon's, and with all_namespaces every one
//             found in /proc/*/ns/net and /run/netns, looked for again every rescan_ms: a new
//             one gets a socket and a dump, a vanished one's socket is closed), joined to the NEW
//             and DESTROY event groups, then a dump of each namespace's table. (Per-namespace
//             sockets, not upstream's NETLINK_LISTEN_ALL_NSID: with nf_conntrack_events = 2, the
//             kernel's default, a namespace emits events only while a socket of its own
//             listens.) The dumps must end within
//             init_timeout_ms; otherwise (or when a socket cannot be opened) the enrichment is
//             degraded with a stated reason (status()), and what arrived is still used.
//   events    NEW: a NAT entry is cached (TranslationCache); DESTROY: it expires 2 minutes later.
//             Upstream's rate limit: an EWMA of event messages per second checked every
//             rate_interval_ms; above rate_limit, a socket filter samples events to that rate
//             (counted: throttles, sampling_pct). ENOBUFS (events lost): counted, and the
//             namespace's table is dumped again (a resync), at most once per 10 s.
//   lookup()  the translation of a connection: its namespace first, then the daemon's (where
//             kube-proxy's and Docker's NAT of traffic routed through the host happens).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/network_tracer.h"
#include "http/json_writer.h"
#include "http/metrics.h"
#include "loop/reactor.h"
#include "loop/timer.h"
#include "modules/network_tracer/translation.h"

struct mnl_socket;
struct nlmsghdr;

namespace rp::modules::network_tracer {

struct ConntrackOptions {
    bool enabled = true;
    bool all_namespaces = true;
    uint64_t init_timeout_ms = 10000;
    uint32_t max_state = 131072;
    int64_t rate_limit = 500;  // event messages per second; -1: no limit
    uint64_t rate_interval_ms = 3000;
    uint64_t rescan_ms = 10000;  // namespaces looked for again (all_namespaces)
};

class Conntrack final : public Translator {
  public:
    Conntrack(loop::Reactor& r, ConntrackOptions o);
    ~Conntrack();
    Conntrack(const Conntrack&) = delete;
    Conntrack& operator=(const Conntrack&) = delete;

    void start();
    void stop();

    // The kernel's endpoints map (struct nt_ep_key -> count), for local_endpoint().
    void set_endpoints_fd(int fd) { endpoints_fd_ = fd; }

    const IpTranslation* lookup(const nt_conn& c) override;
    void prefetch(const nt_conn& c) const override;
    bool local_endpoint(const nt_addr& a, uint16_t port, uint8_t type) const override;
    void begin_poll() override { ++memo_gen_; }

    // "ready", "initializing", "degraded: <reason>" or "off: <reason>".
    std::string status() const;
    bool ready() const { return state_ == State::ready; }
    bool running() const { return state_ != State::off; }  // not disabled, not failed
    // connTelemetryMap's conntrack_registers (upstream's registers_total) and
    // conntrack_sampling_percent (100 unless the rate limit samples events).
    uint64_t registers() const { return registers_; }
    int64_t sampling_percent() const { return static_cast<int64_t>(sampling_ * 100 + 0.5); }
    void write_stats(http::JsonWriter& w) const;
    void write_metrics(http::MetricsWriter& m) const;

  private:
    enum class State : uint8_t { off, initializing, ready, degraded };
    struct Source {
        uint32_t netns = 0;
        mnl_socket* nl = nullptr;
        int fd = -1;
        loop::FdWatch watch;
        loop::Timer resume;     // watches the socket again after a batch
        uint32_t dump_seq = 0;  // the dump in progress (0: none)
        bool dumped = false;    // a dump of this namespace ended
        uint64_t last_resync_ms = 0;
        uint64_t entries = 0;  // NAT entries learnt from it (dump and NEW events)
    };

    bool open_source(uint32_t netns, int ns_fd, std::string& err);
    void scan_namespaces(bool rescan);
    bool request_dump(Source& s);
    void on_readable(Source& s, int res);
    void drain(Source& s);
    void handle(Source& s, const void* buf, size_t len);
    void entry(Source& s, const ::nlmsghdr* nlh, bool event);
    void dump_ended(Source& s, int error);
    void check_init();
    void tick();  // the rate limit's period
    void set_sampling(double rate);
    void degrade(std::string reason);
    uint64_t now_ms() const;

    loop::Reactor& reactor_;
    ConntrackOptions o_;
    TranslationCache cache_;
    std::vector<std::unique_ptr<Source>> sources_;
    uint32_t self_netns_ = 0;
    int endpoints_fd_ = -1;
    // local_endpoint() answers of this poll (many clients of a service share its backend's
    // endpoint): one map lookup (a system call) per distinct endpoint. Direct-mapped, compared
    // whole (a colliding endpoint replaces the answer, never takes it); an answer of an earlier
    // poll (gen != memo_gen_) is not used.
    struct Memo {
        nt_addr addr;
        uint16_t port;
        uint8_t type;
        bool found;
        uint32_t gen;  // 0: never set
    };
    mutable std::vector<Memo> endpoint_memo_;
    uint32_t memo_gen_ = 1;
    mutable uint64_t endpoint_lookups_ = 0;
    uint32_t next_seq_ = 1;
    State state_ = State::off;
    std::string reason_;
    bool timeout_only_ = false;  // degraded only because the dump was slow
    uint64_t late_inits_ = 0;
    loop::Timer init_timer_, rate_timer_, compact_timer_, rescan_timer_;
    uint64_t start_ms_ = 0;
    double init_ms_ = 0;

    // Rate limit (upstream's CircuitBreaker and sampler).
    uint64_t window_events_ = 0;
    double ewma_rate_ = 0;
    uint64_t last_tick_ms_ = 0;
    double sampling_ = 1.0;

    // Counters.
    uint64_t events_ = 0, dump_entries_ = 0, registers_ = 0, registers_dropped_ = 0;
    uint64_t destroys_ = 0, evicts_ = 0, expired_ = 0, gets_ = 0, hits_ = 0;
    uint64_t recv_calls_ = 0;
    uint64_t enobufs_ = 0, read_errors_ = 0, msg_errors_ = 0, throttles_ = 0, resyncs_ = 0;
    uint64_t namespaces_failed_ = 0, namespaces_added_ = 0, namespaces_gone_ = 0;
    std::vector<uint32_t> scan_seen_, scan_have_;  // scan_namespaces(), kept between scans
};

}  // namespace rp::modules::network_tracer
