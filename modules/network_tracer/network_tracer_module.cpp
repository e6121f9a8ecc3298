// network_tracer_module.cpp — network_tracer: system-probe's per-connection TCP and UDP data for
// NPM, as the process-agent asks for it:
//
//   GET /network_tracer/connections?client_id=X   model.Connections: protobuf when Accept holds
//                                                 application/protobuf, else gogo-jsonpb JSON
//   GET /network_tracer/register?client_id=X      creates the client (200, empty body)
//   GET /network_tracer/network_id                network_config.network_id, else 500
//   GET /network_tracer/debug/net_state?client_id= the client's baselines (upstream DumpState)
//
// Each client gets what changed since its own last poll (upstream pkg/network/state.go): closed
// connections buffered for it, open connections with last* = now - its baseline, connections whose
// delta is all zero left out. Kernel side: bpf/network_tracer.bpf.c (no kprobe, no fentry, no
// per-packet program for TCP); the baselines of open connections live in the kernel, so a poll is
// one iteration of the BPF task_file iterator streamed into the answer. docs/modules/
// network_tracer.md says how each field is obtained and what is not filled.
//
// Needs: kernel BTF, tp_btf, BPF iterators, ring buffers (Linux >= 6.3 for the UDP hooks).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "bpf/network_tracer.h"
#include "bpf/runtime/cpu_slots.h"
#include "bpf/runtime/ring_buffer.h"
#include "http/metrics.h"
#include "loop/log.h"
#include "loop/timer.h"
#include "modules/kit/bpf_module.h"
#include "modules/kit/config.h"
#include "modules/kit/event_stream.h"
#include "modules/network_tracer/client_table.h"
#include "modules/network_tracer/connections_stream.h"
#include "modules/network_tracer/conntrack.h"
#include "modules/network_tracer/dns.h"
#include "network_tracer.skel.h"

static_assert(sizeof(nt_counters) == 64, "bpf/network_tracer.h changed: update both sides");
static_assert(sizeof(nt_slot) == 72);
static_assert(sizeof(nt_addr) == 16);
static_assert(sizeof(nt_conn) == 136);
static_assert(offsetof(nt_conn, c) == 72);
static_assert(sizeof(nt_closed) == 136 + 72 * NT_MAX_CLIENTS);
static_assert(sizeof(nt_dump) == 72);
static_assert(sizeof(nt_counters_cpu) == 128);
static_assert(sizeof(nt_iter_stats) == 40);

namespace rp::modules {
namespace {

using network_tracer::Client;
using network_tracer::ClientTable;
using network_tracer::ConnectionsStream;
using network_tracer::PortRange;
using network_tracer::Trailer;

constexpr std::string_view kModuleName = "network_tracer";
constexpr uint64_t kEventsDrainMs = 100;  // /events: closed connections at most this late
constexpr std::string_view kNamespaces[] = {"network_config", "system_probe_config",
                                            "ringprobe.events"};
constexpr std::string_view kBtfNames[] = {
    "btf_trace_inet_sock_set_state", "btf_trace_tcp_cong_state_set", "btf_trace_sock_send_length",
    "btf_trace_sock_recv_length", "bpf_iter__task_file"};
constexpr std::string_view kDebugClient = "-1";  // upstream's DEBUGCLIENT
constexpr size_t kLogFirst = 5, kLogEvery = 20;  // upstream's log cadence

constexpr http::MetricFamily kTracked{
    "ringprobe_network_tracer_tracked_connections", http::MetricKind::gauge,
    "Sockets the last /connections poll found tracked (open TCP and UDP connections)."};
constexpr http::MetricFamily kClosedBuffered{
    "ringprobe_network_tracer_closed_buffered", http::MetricKind::gauge,
    "Closed connections waiting for their clients' next poll."};
constexpr http::MetricFamily kClients{"ringprobe_network_tracer_clients", http::MetricKind::gauge,
                                      "Clients (client_id) known."};
constexpr http::MetricFamily kClosed{"ringprobe_network_tracer_closed_connections",
                                     http::MetricKind::counter,
                                     "Closed connections the kernel reported, by type."};
constexpr http::MetricFamily kDropped{
    "ringprobe_network_tracer_dropped", http::MetricKind::counter,
    "Connections not reported in full, by reason (see docs/modules/network_tracer.md)."};
constexpr http::MetricFamily kDnsPackets{
    "ringprobe_network_tracer_dns_packets", http::MetricKind::counter,
    "DNS packets the packet socket read, by kind (query, success, failure, not_parsed)."};
constexpr http::MetricFamily kDnsTimeouts{
    "ringprobe_network_tracer_dns_timeouts", http::MetricKind::counter,
    "DNS queries without a response within dns_timeout_in_s."};
constexpr http::MetricFamily kDnsPending{"ringprobe_network_tracer_dns_pending_queries",
                                         http::MetricKind::gauge,
                                         "DNS queries waiting for their response."};
constexpr http::MetricFamily kDnsCache{"ringprobe_network_tracer_dns_reverse_cache_entries",
                                       http::MetricKind::gauge,
                                       "Addresses in the reverse DNS cache."};
constexpr http::MetricFamily kPolls{"ringprobe_network_tracer_polls", http::MetricKind::counter,
                                    "/connections answers."};
constexpr http::MetricFamily kPollDuration{
    "ringprobe_network_tracer_poll_duration_seconds", http::MetricKind::histogram,
    "/connections answers, from the request to the last byte produced.", "seconds"};

struct Options {
    uint32_t max_tracked = 65536;
    uint32_t max_closed = 65536;
    uint32_t max_stats = 75000;
    uint32_t max_clients = 16;
    uint64_t expiry_ms = 120000;
    uint32_t ring_bytes = 1u << 20;
    std::string network_id;
    network_tracer::ConntrackOptions conntrack;
    bool dns = true;  // ! system_probe_config.disable_dns_inspection
    network_tracer::DnsOptions dns_opts;
    kit::EventStreamLimits events;  // GET /network_tracer/events
};

// The mount point of the cgroup v2 hierarchy ("" when none is mounted).
std::string cgroup2_mount() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
        std::string id, parent, devno, root, mount_point, fstype;
        head >> id >> parent >> devno >> root >> mount_point;
        tail >> fstype;
        if (fstype == "cgroup2") return mount_point;
    }
    return {};
}

uint32_t ring_size(int64_t bytes) {
    uint32_t page = static_cast<uint32_t>(std::max(4096L, ::sysconf(_SC_PAGESIZE)));
    uint32_t n = page;
    while (n < bytes && n < (1u << 30)) n <<= 1;
    return n;
}

class NetworkTracerModule final : public kit::BpfModule, private network_tracer::PollOwner {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps);
    ~NetworkTracerModule() override { close(); }

    void close() override {
        events_.end_all();
        events_drain_.cancel();
        stream_.set_translator(nullptr);
        conntrack_.reset();
        dns_.reset();
        expiry_.cancel();
        resume_.cancel();
        pending_.reset();
        track_ring(nullptr);
        ring_.reset();
        skel_.destroy();
        counters_ = {};
    }

  private:
    NetworkTracerModule(loop::Reactor& reactor, const Options& o)
        : BpfModule(kModuleName, CheckRoute::none),
          reactor_(reactor),
          opts_(o),
          clients_(o.max_clients, o.max_closed, o.max_stats),
          stream_(*this, PortRange::read_sysctl()),
          events_(kModuleName, o.events) {
        // Closed records are made in the kernel only while someone wants them: a client, or a
        // listener of /events.
        // The kernel wakes the loop for closed records only once a quarter of the ring waits
        // (a poll drains them): a listener's lines come from a drain every 100 ms instead.
        events_.on_listening([this](bool on) {
            clients_changed();
            if (!on)
                events_drain_.cancel();
            else if (!events_drain_.armed())
                events_drain_.arm_every(kEventsDrainMs);
        });
        events_drain_.init(reactor_, [this] {
            if (ring_) ring_->drain();
        });
    }
    void end_streams() override { events_.end_all(); }
    // One closed connection on /events (NDJSON): its whole life's counters, as a person reads
    // them (not the per-client deltas of /connections).
    void publish_closed(const nt_conn& c);

    void register_extra_routes(http::Router& r) override;
    void write_extra_stats(http::JsonWriter& w) const override;
    void write_extra_metrics(http::MetricsWriter& w) const override;

    std::expected<void, std::string> load(bpf::Runtime& rt);
    // The iterator, opened for one pass with these parameters; the fd or the error.
    std::expected<int, std::string> open_iter(uint32_t mode, const Client* c);
    // The load-time pass: tracks the sockets that exist already.
    std::expected<void, std::string> track_existing();

    void handle_connections(const http::Request& req, http::Response& res);
    void handle_register(const http::Request& req, http::Response& res);
    void handle_net_state(const http::Request& req, http::Response& res);
    // Answers a poll (the iterator free): drains closed connections and starts the stream.
    void start_poll(http::Response& res, Client& c, ConnectionsStream::Mode mode,
                    http::Encoding enc, bool pretty);
    void on_closed(std::span<const std::byte> rec);
    void expire_clients();
    void clients_changed();

    Trailer poll_trailer(Client& c) override;
    void poll_done(Client& c, size_t connections, bool complete) override;

    loop::Reactor& reactor_;
    Options opts_;
    bpf::Skeleton<network_tracer_bpf> skel_;
    std::unique_ptr<bpf::RingBuffer> ring_;
    bpf::CpuSlots counters_;
    int iter_link_fd_ = -1;
    ClientTable clients_;
    ConnectionsStream stream_;
    kit::EventStreams events_;
    loop::Timer events_drain_;  // drains closed records while /events has listeners
    std::unique_ptr<network_tracer::Conntrack> conntrack_;  // NAT translations
    loop::Timer expiry_;
    loop::Timer resume_;  // starts the pending poll on a fresh loop turn

    // A poll that arrived while another iteration was running (the route allows 2 at once).
    struct Pending {
        http::Deferred answer;
        std::string client;
        ConnectionsStream::Mode mode;
        http::Encoding enc;
        bool pretty;
    };
    std::optional<Pending> pending_;

    // The current poll.
    std::chrono::steady_clock::time_point poll_start_;
    ConnectionsStream::Mode poll_mode_ = ConnectionsStream::Mode::connections;
    nt_iter_stats poll_stats_{};
    std::array<network_tracer::TelemetryEntry, 12> telemetry_{};
    size_t telemetry_n_ = 0;

    // Totals.
    uint64_t requests_ = 0;
    uint64_t polls_ = 0;
    uint64_t polls_abandoned_ = 0;
    uint64_t polls_deferred_ = 0;
    uint64_t iter_errors_ = 0;
    uint64_t conn_dropped_ = 0;   // reported without a baseline (client stats cap)
    uint64_t over_limit_ = 0;     // not reported: max_tracked_connections per poll
    uint64_t shared_visits_ = 0;  // sockets shared by several processes, visited once
    uint64_t reruns_ = 0;
    uint64_t underflows_ = 0;
    uint64_t late_tracked_ = 0;
    uint64_t racy_closes_ = 0;
    uint64_t closed_records_ = 0;
    uint64_t bad_records_ = 0;
    uint64_t network_id_errors_ = 0;
    size_t last_connections_ = 0;
    uint32_t last_tracked_ = 0;
    double last_poll_ms_ = 0;
    double max_poll_ms_ = 0;
    http::Histogram poll_seconds_{http::kLatencyBounds};
    uint64_t map_memlock_ = 0;
    nt_iter_stats init_stats_{};
    double init_ms_ = 0;
    bool udp_ = false;
    std::unique_ptr<network_tracer::DnsTracker> dns_;
    std::vector<std::string_view> poll_ids_;  // the client ids a poll hands the DNS tracker
    std::string dns_error_;
};

CreateResult NetworkTracerModule::create(const conf::Config& cfg, Dependencies& deps) {
    using F = bpf::FeatureId;
    auto rt = runtime(deps, {F::bpf_syscall, F::btf, F::tp_btf, F::iterators, F::ring_buffer});
    if (!rt) return std::unexpected(rt.error());

    Options o;
    auto clamp = [](int64_t v, int64_t lo, int64_t hi) {
        return static_cast<uint32_t>(std::clamp(v, lo, hi));
    };
    o.max_tracked = clamp(
        kit::config_int(cfg, "system_probe_config.max_tracked_connections", 65536), 1, 1 << 24);
    int64_t max_closed =
        kit::config_int(cfg, "system_probe_config.max_closed_connections_buffered", 0);
    o.max_closed = max_closed > 0 ? clamp(max_closed, 1, 1 << 24) : o.max_tracked;
    o.max_stats =
        clamp(kit::config_int(cfg, "system_probe_config.max_connection_state_buffered", 75000), 0,
              1 << 24);
    o.max_clients =
        clamp(kit::config_int(cfg, "ringprobe.network_tracer.max_clients", 16), 1, 1024);
    o.expiry_ms = static_cast<uint64_t>(std::max<int64_t>(
        1, kit::config_int(cfg, "ringprobe.network_tracer.client_expiry_ms", 120000)));
    o.ring_bytes =
        ring_size(kit::config_int(cfg, "ringprobe.network_tracer.closed_ring_bytes", 1 << 20));
    o.network_id = kit::config_string(cfg, "network_config.network_id", "");
    auto& ct = o.conntrack;
    ct.enabled = kit::config_bool(cfg, "system_probe_config.enable_conntrack", true);
    ct.all_namespaces =
        kit::config_bool(cfg, "system_probe_config.enable_conntrack_all_namespaces", true);
    ct.init_timeout_ms = static_cast<uint64_t>(
        std::clamp<int64_t>(kit::config_int(cfg, "network_config.conntrack_init_timeout", 10), 1,
                            3600) *
        1000);
    ct.max_state = clamp(
        kit::config_int(cfg, "system_probe_config.conntrack_max_state_size", 131072), 0, 1 << 24);
    ct.rescan_ms = static_cast<uint64_t>(std::max<int64_t>(
        100, kit::config_int(cfg, "ringprobe.network_tracer.conntrack_rescan_ms", 10000)));
    ct.rate_limit = std::max<int64_t>(
        -1, kit::config_int(cfg, "system_probe_config.conntrack_rate_limit", 500));
    o.dns = !kit::config_bool(cfg, "system_probe_config.disable_dns_inspection", false);
    auto& d = o.dns_opts;
    d.stats = kit::config_bool(cfg, "system_probe_config.collect_dns_stats", true);
    d.domains = kit::config_bool(cfg, "system_probe_config.collect_dns_domains", true);
    d.local = kit::config_bool(cfg, "system_probe_config.collect_local_dns", false);
    d.by_query_type = kit::config_bool(cfg, "network_config.enable_dns_by_querytype", false);
    d.max_stats =
        clamp(kit::config_int(cfg, "system_probe_config.max_dns_stats", 20000), 0, 1 << 24);
    d.max_buffered = clamp(
        kit::config_int(cfg, "ringprobe.network_tracer.max_dns_stats_buffered", 75000), 0, 1 << 24);
    d.timeout_us = static_cast<uint64_t>(std::clamp<int64_t>(
                       kit::config_int(cfg, "system_probe_config.dns_timeout_in_s", 15), 1, 3600)) *
                   1000000u;

    o.events = kit::event_stream_limits(cfg);
    std::unique_ptr<NetworkTracerModule> m(new NetworkTracerModule(deps.reactor, o));
    if (auto r = m->load(**rt); !r) return std::unexpected(r.error());
    return m;
}

std::expected<void, std::string> NetworkTracerModule::load(bpf::Runtime& rt) {
    std::string why;
    if (!rt.has_tracepoint("sock", "inet_sock_set_state", &why))
        return std::unexpected("kernel has no tracepoint sock/inet_sock_set_state (" + why + ")");
    bool cong = rt.has_tracepoint("tcp", "tcp_cong_state_set", &why);
    if (!cong)
        add_missing_hook("tcp_cong_state_set", why +
                                                   ": lastTcpRtoCount and "
                                                   "lastTcpRecoveryCount stay 0");
    bool io = rt.has_tracepoint("sock", "sock_send_length", &why) &&
              rt.has_tracepoint("sock", "sock_recv_length", &why);
    if (!io)
        add_missing_hook("sock_send_length", why +
                                                 ": no UDP connections; accepted TCP "
                                                 "connections get their pid from a poll");
    std::string cgroup2 = cgroup2_mount();
    if (cgroup2.empty())
        add_missing_hook("cgroup/sock_release",
                         "no cgroup v2 hierarchy mounted: no UDP connections (their close "
                         "cannot be seen)");
    udp_ = io && !cgroup2.empty();

    const Options& o = opts_;
    auto skel = bpf::Skeleton<network_tracer_bpf>::create(
        rt, kModuleName, "network_tracer",
        [&](network_tracer_bpf* s) -> std::expected<void, std::string> {
            bpf_program__set_autoload(s->progs.nt_cong_state, cong);
            bpf_program__set_autoload(s->progs.nt_send_length, io);
            bpf_program__set_autoload(s->progs.nt_recv_length, io);
            bpf_program__set_autoload(s->progs.nt_sock_release, udp_);
            // Attached here, not by the skeleton: they need a cgroup, or are read on demand.
            bpf_program__set_autoattach(s->progs.nt_iter, false);
            bpf_program__set_autoattach(s->progs.nt_sock_release, false);
            for (auto [map, n, what] : {std::tuple{s->maps.socks, o.max_tracked, "socks"},
                                        std::tuple{s->maps.endpoints, o.max_tracked, "endpoints"},
                                        std::tuple{s->maps.closed, o.ring_bytes, "closed"}}) {
                if (int err = bpf_map__set_max_entries(map, n); err != 0)
                    return std::unexpected(bpf::errno_message(std::string("size ") + what, -err));
            }
            if (auto r = bpf::size_cpu_slots(s->maps.counters); !r) return r;
            return bpf::size_cpu_slots(s->maps.closed_lost);
        });
    if (!skel) return std::unexpected(skel.error());
    skel_ = std::move(*skel);
    track(skel_.core());

    errno = 0;
    bpf_link* iter = bpf_program__attach_iter(skel_->progs.nt_iter, nullptr);
    if (iter == nullptr)
        return std::unexpected(bpf::errno_message("attach iter/task_file", errno ? errno : EINVAL));
    skel_.adopt(iter, "iter/task_file");
    iter_link_fd_ = bpf_link__fd(iter);
    if (udp_) {
        int cg = ::open(cgroup2.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg < 0)
            return std::unexpected(bpf::errno_message("open cgroup v2 root " + cgroup2, errno));
        errno = 0;
        bpf_link* rel = bpf_program__attach_cgroup(skel_->progs.nt_sock_release, cg);
        int err = errno;
        ::close(cg);
        if (rel == nullptr)
            return std::unexpected(
                bpf::errno_message("attach cgroup/sock_release to " + cgroup2, err ? err : EINVAL));
        skel_.adopt(rel, "cgroup/sock_release");
    }

    auto counters =
        bpf::CpuSlots::map(bpf_map__fd(skel_->maps.counters), "network_tracer counters");
    if (!counters) return std::unexpected(counters.error());
    counters_ = std::move(*counters);
    skel_->bss->wakeup_bytes = o.ring_bytes / 4;
    auto ring =
        bpf::RingBuffer::create(reactor_, "network_tracer/closed", bpf_map__fd(skel_->maps.closed),
                                bpf_map__fd(skel_->maps.closed_lost),
                                [this](std::span<const std::byte> rec) { on_closed(rec); });
    if (!ring) return std::unexpected(ring.error());
    ring_ = std::move(*ring);
    track_ring(ring_.get());

    if (auto r = track_existing(); !r) return r;
    expiry_.init(reactor_, [this] { expire_clients(); });
    resume_.init(reactor_, [this] {
        if (!pending_ || stream_.busy()) return;
        Pending p = std::move(*pending_);
        pending_.reset();
        Client* c = clients_.get_or_create(p.client, reactor_.now_ms());
        p.answer.complete([&](http::Response& res) {
            if (c == nullptr) {
                res.error(503, "network_tracer: client table full");
                return;
            }
            start_poll(res, *c, p.mode, p.enc, p.pretty);
        });
    });
    // NAT translations: a failure degrades the enrichment (stated in /debug/stats), never the
    // module.
    conntrack_ = std::make_unique<network_tracer::Conntrack>(reactor_, o.conntrack);
    conntrack_->set_endpoints_fd(bpf_map__fd(skel_->maps.endpoints));
    conntrack_->start();
    stream_.set_translator(conntrack_.get());
    if (opts_.dns) {
        // DNS degrades the module, never fails it: connections are served without DNS stats.
        auto dns = network_tracer::DnsTracker::create(reactor_, opts_.dns_opts);
        if (dns) {
            dns_ = std::move(*dns);
        } else {
            dns_error_ = dns.error();
            add_missing_hook("dns socket filter", dns_error_ + ": no DNS stats and no dns map");
        }
    }
    map_memlock_ = skel_.core().map_bytes();
    log_attached("max_tracked_connections " + std::to_string(o.max_tracked) + ", " +
                 std::to_string(init_stats_.visited) + " sockets already open tracked in " +
                 std::to_string(static_cast<int>(init_ms_)) + " ms");
    return {};
}

std::expected<int, std::string> NetworkTracerModule::open_iter(uint32_t mode, const Client* c) {
    auto* bss = skel_->bss;
    bss->iter_id += 1;
    bss->iter_mode = mode;
    bss->poll_slot = c != nullptr ? c->slot : NT_NO_SLOT;
    bss->poll_gen = c != nullptr ? c->gen : 0;
    bss->poll_budget = c != nullptr ? clients_.budget(*c) : 0;
    bss->poll_max = opts_.max_tracked;
    bss->poll_created = 0;
    std::memset(&bss->iter_stats, 0, sizeof bss->iter_stats);
    int fd = bpf_iter_create(iter_link_fd_);
    if (fd < 0) {
        ++iter_errors_;
        return std::unexpected(bpf::errno_message("network_tracer: bpf_iter_create", errno));
    }
    return fd;
}

std::expected<void, std::string> NetworkTracerModule::track_existing() {
    auto t0 = std::chrono::steady_clock::now();
    auto fd = open_iter(NT_MODE_INIT, nullptr);
    if (!fd) return std::unexpected(fd.error());
    char buf[4096];
    ssize_t n;
    while ((n = ::read(*fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(*fd);
            return std::unexpected(bpf::errno_message("network_tracer: read the iterator", err));
        }
    }
    ::close(*fd);
    init_stats_ = skel_->bss->iter_stats;
    init_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return {};
}

void NetworkTracerModule::register_extra_routes(http::Router& r) {
    events_.register_route(r);
    // system-probe: utils.WithConcurrencyLimit(DefaultMaxConcurrentRequests = 2), any method.
    http::RouteOptions limit{.max_in_flight = 2};
    r.handle(
        "", "/connections",
        [this](const http::Request& req, http::Response& res) { handle_connections(req, res); },
        limit);
    r.handle(
        "", "/register",
        [this](const http::Request& req, http::Response& res) { handle_register(req, res); },
        limit);
    r.handle(
        "", "/network_id",
        [this](const http::Request&, http::Response& res) {
            if (!opts_.network_id.empty()) {
                res.text(opts_.network_id);
                return;
            }
            // Upstream asks the EC2 metadata service and answers a bare 500 when it cannot; the
            // Agent reads only the status, so the body says why (for a person with curl).
            static constexpr std::string_view kWhy =
                "unable to retrieve network_id: network_config.network_id is not set "
                "(ringprobe does not query cloud metadata)\n";
            if (network_id_errors_++ == 0)
                LOG_ERROR("network_tracer: %.*s", static_cast<int>(kWhy.size() - 1), kWhy.data());
            res.set_status(500);
            res.text(kWhy);
        },
        limit);
    r.handle(
        "", "/debug/net_state",
        [this](const http::Request& req, http::Response& res) { handle_net_state(req, res); },
        limit);
}

std::string_view client_id(const http::Request& req) {
    auto id = req.query_param("client_id");
    return id && !id->empty() ? *id : kDebugClient;
}

void NetworkTracerModule::handle_register(const http::Request& req, http::Response& res) {
    if (!skel_) {
        res.error(503, "network_tracer is closed");
        return;
    }
    if (clients_.get_or_create(client_id(req), reactor_.now_ms()) == nullptr) {
        res.error(500, "network_tracer: client table full (ringprobe.network_tracer.max_clients)");
        return;
    }
    clients_changed();
}

void NetworkTracerModule::handle_connections(const http::Request& req, http::Response& res) {
    if (!skel_) {
        res.error(503, "network_tracer is closed");
        return;
    }
    mark_check();
    ++requests_;
    uint64_t now = reactor_.now_ms();
    // Upstream removes expired clients on every request.
    clients_.expire(now, opts_.expiry_ms);
    std::string_view id = client_id(req);
    Client* c = clients_.get_or_create(id, now);
    clients_changed();
    if (c == nullptr) {
        res.error(500, "network_tracer: client table full (ringprobe.network_tracer.max_clients)");
        return;
    }
    if (stream_.busy() || pending_) {
        // One iteration at a time: this one waits for the running one (as upstream's state
        // lock makes it wait). The route limit keeps it to one waiting.
        ++polls_deferred_;
        pending_.emplace(Pending{res.defer(), std::string(id), ConnectionsStream::Mode::connections,
                                 req.accepts(), req.pretty()});
        return;
    }
    start_poll(res, *c, ConnectionsStream::Mode::connections, req.accepts(), req.pretty());
}

void NetworkTracerModule::handle_net_state(const http::Request& req, http::Response& res) {
    if (!skel_) {
        res.error(503, "network_tracer is closed");
        return;
    }
    Client* c = clients_.find(client_id(req));
    if (c == nullptr) {
        res.json().start_object();
        res.json().end_object();
        return;
    }
    if (stream_.busy() || pending_) {
        pending_.emplace(Pending{res.defer(), c->id, ConnectionsStream::Mode::dump,
                                 http::Encoding::json, req.pretty()});
        return;
    }
    start_poll(res, *c, ConnectionsStream::Mode::dump, http::Encoding::json, req.pretty());
}

void NetworkTracerModule::start_poll(http::Response& res, Client& c, ConnectionsStream::Mode mode,
                                     http::Encoding enc, bool pretty) {
    bool dump = mode == ConnectionsStream::Mode::dump;
    if (!dump) {
        // DNS packets first, then closed connections: a lookup's response comes before its socket
        // closes, so a socket whose DNS stats this poll takes is either open for the iterator or
        // in the closed records drained next (the other order lost the stats of sockets closed
        // between the two reads: their connection came a poll after their stats).
        if (dns_) dns_->drain();
        ring_->drain();  // every connection closed so far goes to the clients' buffers first
        c.last_fetch_ms = reactor_.now_ms();
    }
    auto fd = open_iter(dump ? NT_MODE_DUMP : NT_MODE_POLL, &c);
    if (!fd) {
        LOG_WARN("%s", fd.error().c_str());
        res.error(500, fd.error());
        return;
    }
    poll_start_ = std::chrono::steady_clock::now();
    poll_mode_ = mode;
    if (!dump) clients_.begin_user_poll(c);
    c.streaming = true;
    network_tracer::DnsPoll* dns = nullptr;
    if (!dump && dns_) {
        poll_ids_.clear();  // kept between polls: no allocation once it has grown
        for (const auto& k : clients_.clients()) poll_ids_.emplace_back(k->id);
        dns = &dns_->begin_poll(c.id, poll_ids_);
    }
    stream_.encoder().set_dns(dns);
    stream_.start(c, *fd, mode, enc, pretty);
    res.stream(enc == http::Encoding::protobuf ? http::kProtobufType : http::kJsonType, stream_);
}

Trailer NetworkTracerModule::poll_trailer(Client& c) {
    poll_stats_ = skel_->bss->iter_stats;
    conn_dropped_ += poll_stats_.no_baseline;
    if (c.ub) {
        conn_dropped_ += c.ub->dropped;  // beyond the stats cap of a client without a slot
        c.ub->dropped = 0;
    }
    const auto k = counters_.sum_as<nt_counters_cpu>();
    network_tracer::Telemetry now{
        .conns_closed = k.tcp_closed + k.udp_closed,
        .closed_conn_dropped = clients_.closed_dropped(),
        .conn_dropped = conn_dropped_,
        .perf_lost = ring_->lost(),
        .udp_sends_processed = k.udp_sends,
        .udp_sends_missed = k.udp_sends_missed,
    };
    const bool ct = conntrack_ && conntrack_->running();
    if (ct) now.conntrack_registers = conntrack_->registers();
    if (dns_) {
        const auto& d = dns_->counters();
        now.dns_packets_processed = d.packets;
        now.dns_packets_dropped = d.socket_drops;
        now.dns_stats_dropped = d.stats_dropped;
    }
    auto delta = [](uint64_t a, uint64_t b) { return static_cast<int64_t>(a >= b ? a - b : 0); };
    // connTelemetryMap, upstream's keys: the monotonic ones as deltas since this client's last poll
    // (upstream's GetTelemetryDelta), conns_bpf_map_size and conntrack_sampling_percent as they
    // are; the conntrack and DNS keys only while that part runs (upstream's no-op conntracker and
    // DNS snooper report none). Sorted by key.
    telemetry_n_ = 0;
    auto add = [&](std::string_view key, int64_t v) { telemetry_[telemetry_n_++] = {key, v}; };
    add("closed_conn_dropped", delta(now.closed_conn_dropped, c.seen.closed_conn_dropped));
    add("conn_dropped", delta(now.conn_dropped, c.seen.conn_dropped));
    add("conns_bpf_map_size", poll_stats_.visited);
    add("conns_closed", delta(now.conns_closed, c.seen.conns_closed));
    if (ct) {
        add("conntrack_registers", delta(now.conntrack_registers, c.seen.conntrack_registers));
        add("conntrack_sampling_percent", conntrack_->sampling_percent());
    }
    if (dns_) {
        add("dns_packets_dropped", delta(now.dns_packets_dropped, c.seen.dns_packets_dropped));
        add("dns_packets_processed",
            delta(now.dns_packets_processed, c.seen.dns_packets_processed));
        add("dns_stats_dropped", delta(now.dns_stats_dropped, c.seen.dns_stats_dropped));
    }
    add("perf_lost", delta(now.perf_lost, c.seen.perf_lost));
    add("udp_sends_missed", delta(now.udp_sends_missed, c.seen.udp_sends_missed));
    add("udp_sends_processed", delta(now.udp_sends_processed, c.seen.udp_sends_processed));
    c.seen = now;
    return Trailer{.telemetry = std::span(telemetry_.data(), telemetry_n_)};
}

void NetworkTracerModule::poll_done(Client& c, size_t connections, bool complete) {
    c.streaming = false;
    stream_.encoder().set_dns(nullptr);
    if (dns_) dns_->end_poll();
    const nt_iter_stats& s = skel_ ? skel_->bss->iter_stats : poll_stats_;
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - poll_start_)
            .count();
    if (poll_mode_ == ConnectionsStream::Mode::connections) {
        ++polls_;
        if (!complete) {
            ++polls_abandoned_;
            conn_dropped_ += s.no_baseline;  // poll_trailer did not run
        }
        if (c.ub) conn_dropped_ += c.ub->dropped;  // 0 once poll_trailer ran
        network_tracer::ClientTable::end_user_poll(c, complete, s.over_limit == 0);
        // Reported (or lost with the client that left, as upstream after a failed write).
        size_t closed = std::min(c.closed.size(), connections);
        clients_.take_closed(c, closed);
        ++c.polls;
        c.held = s.held;
        over_limit_ += s.over_limit;
        shared_visits_ += s.shared;
        reruns_ += s.reruns;
        underflows_ += s.underflows;
        late_tracked_ += s.late_tracked;
        last_connections_ = connections;
        last_tracked_ = s.visited;
        last_poll_ms_ = ms;
        max_poll_ms_ = std::max(max_poll_ms_, ms);
        poll_seconds_.observe(ms / 1e3);
        if (s.reruns != 0)
            LOG_WARN("network_tracer: %u socket(s) shown twice by the iterator (data lost)",
                     s.reruns);
        if (polls_ <= kLogFirst || polls_ % kLogEvery == 0)
            LOG_INFO(
                "Got request on /connections?client_id=%s (count: %llu): retrieved %zu "
                "connections in %.3f ms",
                c.id.c_str(), static_cast<unsigned long long>(polls_), connections, ms);
        if (skel_) map_memlock_ = skel_.core().map_bytes();  // it grows with the sockets
    }
    clients_changed();
    if (pending_) resume_.arm_after(0);
}

void NetworkTracerModule::on_closed(std::span<const std::byte> rec) {
    if (rec.size() < sizeof(nt_closed)) {
        ++bad_records_;
        return;
    }
    nt_closed r;
    std::memcpy(&r, rec.data(), sizeof r);
    ++closed_records_;
    if (r.conn.flags & NT_C_RACY) ++racy_closes_;
    clients_.add_closed(r);
    publish_closed(r.conn);
}

void NetworkTracerModule::publish_closed(const nt_conn& c) {
    events_.publish([&](http::JsonWriter& w) {
        char ip[64];
        bool intra = (c.flags & NT_C_INTRA_HOST) != 0;
        uint8_t dir = network_tracer::fixed_direction(c, intra, stream_.range());
        auto addr = [&](std::string_view key, const nt_addr& a, uint16_t port) {
            w.key(key);
            w.start_object();
            size_t n = network_tracer::format_ip(a, c.family, ip);
            w.kv("ip", std::string_view(ip, n));
            w.kv_uint("port", port);
            w.end_object();
        };
        w.start_object();
        kit::write_event_time(w, 0);
        w.kv("type", c.type == NT_TYPE_TCP ? "tcp" : "udp");
        w.kv("family", c.family == NT_FAMILY_V6 ? "v6" : "v4");
        w.kv_uint("pid", c.pid);
        w.kv_uint("netNS", c.netns);
        addr("laddr", c.saddr, c.sport);
        addr("raddr", c.daddr, c.dport);
        w.kv("direction", dir == NT_DIR_INCOMING   ? "incoming"
                          : dir == NT_DIR_OUTGOING ? "outgoing"
                                                   : "none");
        w.kv_bool("intraHost", intra);
        w.kv_uint("bytesSent", c.c.bytes_sent);
        w.kv_uint("bytesReceived", c.c.bytes_recv);
        w.kv_uint("packetsSent", c.c.pkts_sent);
        w.kv_uint("packetsReceived", c.c.pkts_recv);
        if (c.type == NT_TYPE_TCP) {
            w.kv_uint("retransmits", c.c.retrans);
            w.kv_uint("rtt", c.rtt_us);
            w.kv_uint("rttVar", c.rttvar_us);
            w.kv_bool("established", c.c.established != 0);
            w.kv_uint("failure", c.failure);  // errno, 0: none
        }
        w.kv_uint("cookie", c.cookie);
        w.end_object();
    });
}

void NetworkTracerModule::expire_clients() {
    clients_.expire(reactor_.now_ms(), opts_.expiry_ms);
    clients_changed();
}

void NetworkTracerModule::clients_changed() {
    if (!skel_) return;
    skel_->bss->clients_active =
        static_cast<uint32_t>(clients_.size()) + (events_.listening() ? 1u : 0u);
    uint64_t next = clients_.next_expiry_ms(opts_.expiry_ms);
    if (next == 0) {
        expiry_.cancel();
        return;
    }
    uint64_t now = reactor_.now_ms();
    if (!expiry_.armed() || expiry_.deadline_ms() != next)
        expiry_.arm_after(next > now ? next - now : 0);
}

void NetworkTracerModule::write_extra_metrics(http::MetricsWriter& w) const {
    const auto k = counters_.sum_as<nt_counters_cpu>();
    events_.write_metrics(w);
    w.gauge(kTracked, {}, static_cast<int64_t>(last_tracked_));
    w.gauge(kClosedBuffered, {}, static_cast<int64_t>(clients_.closed_buffered()));
    w.gauge(kClients, {}, static_cast<int64_t>(clients_.size()));
    w.counter(kClosed, {{"type", "tcp"}}, static_cast<uint64_t>(k.tcp_closed));
    w.counter(kClosed, {{"type", "udp"}}, static_cast<uint64_t>(k.udp_closed));
    const std::pair<std::string_view, uint64_t> drops[] = {
        {"closed_conn_dropped", clients_.closed_dropped()},
        {"closed_ring_full", ring_ ? ring_->lost() : 0},
        {"conn_dropped", conn_dropped_},
        {"over_max_tracked_per_poll", over_limit_},
        {"socks_table_full", k.socks_full},
        {"udp_sends_missed", k.udp_sends_missed},
        {"endpoints_table_full", k.endpoints_full},
        {"listeners_table_full", k.listeners_full},
        {"clients_refused", clients_.refused()},
    };
    for (const auto& [reason, n] : drops) w.counter(kDropped, {{"reason", reason}}, n);
    if (dns_) {
        const auto& d = dns_->counters();
        const std::pair<std::string_view, uint64_t> dns_drops[] = {
            {"dns_pending_full", d.pending_full},
            {"dns_max_dns_stats", d.stats_dropped},
            {"dns_client_buffer_full", d.buffered_dropped},
            {"dns_reverse_cache_full", d.cache_full},
            {"dns_reverse_cache_names", d.cache_names_dropped},
            {"dns_socket_drops", d.socket_drops},
        };
        for (const auto& [reason, n] : dns_drops) w.counter(kDropped, {{"reason", reason}}, n);
        w.counter(kDnsPackets, {{"kind", "query"}}, d.queries);
        w.counter(kDnsPackets, {{"kind", "success"}}, d.successes);
        w.counter(kDnsPackets, {{"kind", "failure"}}, d.failures);
        w.counter(kDnsPackets, {{"kind", "not_parsed"}},
                  d.skipped + d.truncated + d.decoding_errors);
        w.counter(kDnsTimeouts, {}, d.timeouts);
        w.gauge(kDnsPending, {}, static_cast<int64_t>(dns_->pending()));
        w.gauge(kDnsCache, {}, static_cast<int64_t>(dns_->cache_entries()));
    }
    w.counter(kPolls, {}, polls_);
    w.histogram(kPollDuration, {}, poll_seconds_);
    if (conntrack_) conntrack_->write_metrics(w);
}

void NetworkTracerModule::write_extra_stats(http::JsonWriter& w) const {
    const auto k = counters_.sum_as<nt_counters_cpu>();
    w.key("events");
    events_.write_stats(w);
    w.kv_uint("max_tracked_connections", opts_.max_tracked);
    w.kv_uint("max_closed_connections_buffered", opts_.max_closed);
    w.kv_uint("max_connection_state_buffered", opts_.max_stats);
    w.kv_bool("udp", udp_);
    w.key("clients");
    w.start_object();
    for (const auto& c : clients_.clients()) {
        w.key(c->id);
        w.start_object();
        w.kv_int("slot", c->slot == NT_NO_SLOT ? -1 : static_cast<int64_t>(c->slot));
        w.kv_uint("closed_buffered", c->closed.size());
        w.kv_uint("baselines", c->ub && !c->ub->migrating ? c->ub->map.size() : c->held);
        w.kv_uint("polls", c->polls);
        w.kv_uint("idle_ms", reactor_.now_ms() - c->last_fetch_ms);
        w.end_object();
    }
    w.end_object();
    w.kv_uint("requests", requests_);
    w.kv_uint("polls", polls_);
    w.kv_uint("polls_abandoned", polls_abandoned_);
    w.kv_uint("polls_deferred", polls_deferred_);
    w.kv_number("last_poll_ms", last_poll_ms_);
    w.kv_number("max_poll_ms", max_poll_ms_);
    w.kv_uint("last_poll_connections", last_connections_);
    w.kv_uint("tracked_connections", last_tracked_);
    w.kv_uint("closed_buffered", clients_.closed_buffered());
    w.kv_uint("closed_connections", closed_records_);
    w.key("closed_by_type");
    w.start_object();
    w.kv_uint("tcp", k.tcp_closed);
    w.kv_uint("udp", k.udp_closed);
    w.end_object();
    w.key("dropped");
    w.start_object();
    w.kv_uint("closed_conn_dropped", clients_.closed_dropped());
    w.kv_uint("closed_ring_full", ring_ ? ring_->lost() : 0);
    w.kv_uint("conn_dropped", conn_dropped_);
    w.kv_uint("over_max_tracked_per_poll", over_limit_);
    w.kv_uint("socks_table_full", k.socks_full);
    w.kv_uint("udp_sends_missed", k.udp_sends_missed);
    w.kv_uint("endpoints_table_full", k.endpoints_full);
    w.kv_uint("listeners_table_full", k.listeners_full);
    w.kv_uint("clients_refused", clients_.refused());
    w.end_object();
    w.kv_uint("clients_expired", clients_.expired());
    w.kv_uint("clients_slot_given_late", clients_.slots_given());
    w.kv_uint("closed_untracked", k.closed_untracked);
    w.kv_uint("close_lock_timeouts", k.lock_timeouts);
    w.kv_uint("racy_closes", racy_closes_);
    w.kv_uint("udp_sends", k.udp_sends);
    w.kv_uint("udp_recvs", k.udp_recvs);
    w.kv_uint("tcp_pid_from_syscall", k.tcp_attributed);
    w.kv_uint("shared_socket_visits", shared_visits_);
    w.kv_uint("late_tracked", late_tracked_);
    w.kv_uint("stats_underflows", underflows_);
    w.kv_uint("iterator_reruns", reruns_);
    w.kv_uint("iterator_errors", iter_errors_ + stream_.read_errors());
    w.kv_uint("iterator_reads", stream_.reads());
    w.kv_uint("bad_records", bad_records_);
    w.kv_uint("tracked_at_start", init_stats_.visited);
    w.kv_number("track_existing_ms", init_ms_);
    w.kv_uint("map_memlock_bytes", map_memlock_);
    if (conntrack_) conntrack_->write_stats(w);
    w.key("dns");
    if (dns_) {
        dns_->write_stats(w);
    } else {
        w.start_object();
        w.kv_bool("enabled", false);
        w.kv("error", opts_.dns ? dns_error_ : "system_probe_config.disable_dns_inspection");
        w.end_object();
    }
}

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory network_tracer_factory;
constinit const Factory network_tracer_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "network_config.enabled",
    .create = NetworkTracerModule::create,
    .needs_ebpf = true,
    .btf_names = kBtfNames,
};

}  // namespace rp::modules
