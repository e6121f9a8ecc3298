// traceroute_module.cpp — the `traceroute` module: GET /traceroute/traceroute/{host}?port=&max_ttl=
// &timeout=&protocol=&tcp_method=&tcp_syn_paris_traceroute_mode=&reverse_dns=&traceroute_queries=
// &e2e_queries= answered with the Agent's payload.NetworkPath (JSON, as json.Marshal writes it).
//
// The handler checks the parameters (400 with the reason, system-probe's text first), defers the
// answer and starts a Session (session.h): the probes, their replies and every timeout run on the
// reactor. The answer is written when the session ends; a client that leaves is noticed within
// kSweepMs and its session cancelled (sockets closed). Needs CAP_NET_RAW: without it the module is
// not created (the reason is in /debug/stats).
// Field by field, with upstream sources and deviations: docs/modules/traceroute.md.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
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
#include "modules/traceroute/session.h"

#ifndef RINGPROBE_VERSION
#define RINGPROBE_VERSION "dev"
#endif

namespace rp::modules {
namespace {

using traceroute::Params;
using traceroute::Protocol;
using traceroute::Session;

constexpr std::string_view kModuleName = "traceroute";
constexpr std::string_view kNamespaces[] = {"traceroute", "ringprobe.traceroute"};
constexpr uint64_t kSweepMs = 100;
constexpr int64_t kDefaultMaxInFlight = 8;
constexpr int64_t kMaxTimeoutNs = 600'000'000'000;  // 10 minutes per hop

const http::MetricFamily kRequestsFamily{"ringprobe_traceroute_requests", http::MetricKind::counter,
                                         "Traceroute requests by outcome."};
const http::MetricFamily kProbesFamily{"ringprobe_traceroute_probes_sent",
                                       http::MetricKind::counter,
                                       "Traceroute and e2e probes sent, by protocol."};
const http::MetricFamily kRepliesFamily{"ringprobe_traceroute_replies", http::MetricKind::counter,
                                        "Replies matched to a probe."};
const http::MetricFamily kForeignFamily{
    "ringprobe_traceroute_foreign_packets", http::MetricKind::counter,
    "Packets the traceroute sockets received that answered none of their probes."};
const http::MetricFamily kSendErrorsFamily{"ringprobe_traceroute_send_errors",
                                           http::MetricKind::counter,
                                           "Probes the kernel refused to send."};
const http::MetricFamily kInFlightFamily{"ringprobe_traceroute_in_flight", http::MetricKind::gauge,
                                         "Traceroutes running now."};
const http::MetricFamily kDurationFamily{"ringprobe_traceroute_duration_seconds",
                                         http::MetricKind::histogram,
                                         "Time from the request to its answer.", "seconds"};
constexpr double kDurationBounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                      2.5,   5,     10,   20,   30,  60,   120};

std::string_view protocol_name(Protocol p) {
    switch (p) {
        case Protocol::udp:
            return "UDP";
        case Protocol::tcp:
            return "TCP";
        case Protocol::icmp:
            return "ICMP";
    }
    return "UDP";
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// system-probe's parseParams (cmd/system-probe/modules/traceroute.go), then ringprobe's own checks
// of what upstream would only fail on later (or not at all). The error follows upstream's
// "invalid params for host: <host>: <reason>".
std::string parse_params(const http::Request& req, Params& p) {
    p.host = std::string(req.param("host"));
    if (auto id = net::query_value(req.query, "client_id")) p.client_id = *id;
    auto uint_param = [&](std::string_view name, int bits, uint64_t& out) -> std::string {
        auto raw = net::query_value(req.query, name);
        if (!raw) return {};
        auto v = net::go_parse_uint(*raw, bits);
        if (!v) return "invalid " + std::string(name) + ": " + v.error();
        out = *v;
        return {};
    };
    uint64_t port = 0, max_ttl = 0, timeout = 0, queries = 0, e2e = 0;
    struct Field {
        std::string_view name;
        int bits;
        uint64_t* out;
    };
    const Field fields[] = {{"port", 16, &port},
                            {"max_ttl", 8, &max_ttl},
                            {"timeout", 64, &timeout},
                            {"traceroute_queries", 32, &queries},
                            {"e2e_queries", 32, &e2e}};
    for (const Field& f : fields)
        if (std::string e = uint_param(f.name, f.bits, *f.out); !e.empty()) return e;

    std::string proto = lower(net::query_value(req.query, "protocol").value_or(""));
    if (proto.empty() || proto == "udp")
        p.protocol = Protocol::udp;
    else if (proto == "tcp")
        p.protocol = Protocol::tcp;
    else if (proto == "icmp")
        p.protocol = Protocol::icmp;
    else
        return "unknown protocol \"" + proto.substr(0, 32) + "\" (UDP, TCP or ICMP)";
    if (p.protocol == Protocol::tcp) {
        std::string method = lower(net::query_value(req.query, "tcp_method").value_or(""));
        // prefer_sack: upstream falls back to SYN when the target does not do SACK; ringprobe has
        // no SACK traceroute, so it always does.
        if (!method.empty() && method != "syn" && method != "prefer_sack")
            return "tcp_method \"" + method.substr(0, 32) +
                   "\" is not supported (syn; prefer_sack runs syn)";
    }
    p.paris = net::query_value(req.query, "tcp_syn_paris_traceroute_mode").value_or("") == "true";
    p.reverse_dns = net::query_value(req.query, "reverse_dns").value_or("") == "true";

    p.requested_port = static_cast<uint16_t>(port);
    p.port = port != 0 ? static_cast<uint16_t>(port) : traceroute::kDefaultPort;
    p.max_ttl = max_ttl != 0 ? static_cast<uint8_t>(max_ttl) : traceroute::kDefaultMaxTtl;
    if (timeout > static_cast<uint64_t>(kMaxTimeoutNs))
        return "invalid timeout: " + std::to_string(timeout) + " ns is more than 10 minutes";
    p.timeout_ns = timeout != 0 ? static_cast<int64_t>(timeout) : traceroute::kDefaultTimeoutNs;
    if (queries > traceroute::kMaxQueries)
        return "invalid traceroute_queries: " + std::to_string(queries) + " is more than " +
               std::to_string(traceroute::kMaxQueries);
    p.queries = queries != 0 ? static_cast<uint32_t>(queries) : traceroute::kDefaultQueries;
    if (e2e > traceroute::kMaxE2eQueries)
        return "invalid e2e_queries: " + std::to_string(e2e) + " is more than " +
               std::to_string(traceroute::kMaxE2eQueries);
    p.e2e_queries = static_cast<uint32_t>(e2e);
    if (p.host.size() > 253) return "invalid host: longer than 253 bytes";
    // datadog-traceroute's parseTarget: a "host:port" (one colon, or "[v6]:port") names the port.
    p.target = p.host;
    const size_t colon = p.host.rfind(':');
    const bool bracketed = p.host.starts_with('[') && colon != std::string::npos && colon > 0 &&
                           p.host[colon - 1] == ']';
    if (colon != std::string::npos && (bracketed || p.host.find(':') == colon)) {
        auto v = net::go_parse_uint(std::string_view(p.host).substr(colon + 1), 16);
        if (!v || *v == 0) return "invalid port: " + p.host.substr(colon + 1, 16);
        p.port = static_cast<uint16_t>(*v);
        p.target = p.host.substr(0, colon);
    }
    return {};
}

int64_t unix_now_ms() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::string local_hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return {};
    return buf;
}

class TracerouteModule final : public Module {
  public:
    TracerouteModule(loop::Reactor& r, uint32_t max_in_flight)
        : reactor_(r), resolver_(r), max_in_flight_(max_in_flight), hostname_(local_hostname()) {
        net::random_bytes(&next_echo_id_, sizeof next_echo_id_);
        sweep_.init(r, [this] { sweep(); });
        reap_.init(r, [this] { reap(); });
    }
    ~TracerouteModule() override { close(); }

    std::expected<void, std::string> register_routes(http::Router& r) override {
        r.handle(
            "", "/traceroute/{host}",
            [this](const http::Request& req, http::Response& res) { handle(req, res); },
            http::RouteOptions{.max_in_flight = max_in_flight_});
        return {};
    }

    void write_stats(http::JsonWriter& w) const override;
    void write_metrics(http::MetricsWriter& w) const override;

    void close() override {
        sweep_.cancel();
        reap_.cancel();
        for (auto& t : traces_) {
            if (t->session->finished()) continue;
            t->session->cancel();
            t->deferred.complete([](http::Response& r) {
                r.set_status(503);
                r.text("the traceroute module was closed before the traceroute finished");
            });
        }
        traces_.clear();
    }

  private:
    struct Trace {
        http::Deferred deferred;
        std::unique_ptr<Session> session;
        int64_t start_ns = 0;
    };

    void handle(const http::Request& req, http::Response& res);
    void done(Trace& t);
    void write_path(http::JsonWriter& w, const Session& s);
    uint16_t allocate_echo_id();
    void sweep();
    void reap();
    size_t in_flight() const {
        return static_cast<size_t>(std::count_if(traces_.begin(), traces_.end(),
                                                 [](auto& t) { return !t->session->finished(); }));
    }

    loop::Reactor& reactor_;
    net::Resolver resolver_;
    uint32_t max_in_flight_;
    std::string hostname_;
    std::vector<std::unique_ptr<Trace>> traces_;
    loop::Timer sweep_, reap_;
    uint16_t next_echo_id_ = 0;
    http::Buffer placeholder_;
    http::JsonWriter writer_{placeholder_};
    http::Histogram duration_{kDurationBounds};
    uint64_t requests_ = 0, bad_requests_ = 0, reached_ = 0, not_reached_ = 0, failed_ = 0,
             cancelled_ = 0, runs_ = 0;
    uint64_t probes_[3] = {}, replies_ = 0, foreign_ = 0, send_errors_ = 0;
    std::string last_error_;
};

void TracerouteModule::handle(const http::Request& req, http::Response& res) {
    ++requests_;
    Params p;
    if (std::string err = parse_params(req, p); !err.empty()) {
        ++bad_requests_;
        std::string body = "invalid params for host: " + p.host + ": " + err;
        LOG_DEBUG("traceroute: %s", body.c_str());
        res.set_status(400);
        res.text(body);
        return;
    }
    auto t = std::make_unique<Trace>();
    t->deferred = res.defer();
    t->start_ns = net::mono_ns();
    Trace* tp = t.get();
    t->session = std::make_unique<Session>(reactor_, resolver_, std::move(p), allocate_echo_id(),
                                           [this, tp](Session&) { done(*tp); });
    traces_.push_back(std::move(t));
    if (!sweep_.armed()) sweep_.arm_every(kSweepMs);
    tp->session->start();
}

void TracerouteModule::done(Trace& t) {
    const Session& s = *t.session;
    const auto& c = s.counters();
    probes_[static_cast<int>(s.params().protocol)] += c.probes_sent;
    replies_ += c.replies;
    foreign_ += c.foreign;
    send_errors_ += c.send_errors;
    duration_.observe(double(net::mono_ns() - t.start_ns) / 1e9);
    if (!reap_.armed()) reap_.arm_after(0);
    if (s.error_status() != 0) {
        if (s.error_status() == 400)
            ++bad_requests_;
        else
            ++failed_;
        std::string body = (s.error_status() == 400 ? "invalid params for host: "
                                                    : "unable to run traceroute for host: ") +
                           s.params().host + ": " + s.error();
        last_error_ = body;
        LOG_WARN("traceroute: %s", body.c_str());
        t.deferred.complete([&](http::Response& r) {
            r.set_status(s.error_status());
            r.text(body);
        });
        return;
    }
    bool reached = false;
    for (const auto& run : s.runs()) reached = reached || run.dest_ttl != 0;
    ++(reached ? reached_ : not_reached_);
    t.deferred.complete([&](http::Response& r) {
        http::Buffer& out = r.raw_body(http::kJsonType);
        writer_.reset(out, r.pretty());
        write_path(writer_, s);
    });
    ++runs_;
    // As system-probe: the first 5 and every 200th at info, the others at debug.
    bool info = runs_ <= 5 || runs_ % 200 == 0;
    if (info || log::enabled(log::Level::debug))
        log::write(info ? log::Level::info : log::Level::debug,
                   "traceroute: /traceroute/%s (%s, %u queries, %u e2e, count: %llu): retrieved "
                   "traceroute in %.1f ms",
                   s.params().host.c_str(), std::string(protocol_name(s.params().protocol)).c_str(),
                   s.params().queries, s.params().e2e_queries,
                   static_cast<unsigned long long>(runs_), double(s.elapsed_ns()) / 1e6);
}

// payload.NetworkPath (pkg/networkpath/payload/pathevent.go) in its field order, as
// json.Marshal writes it: omitempty fields left out when empty, net.IP as its text ("" when
// unknown), float64 and float32 in Go's formatting.
void TracerouteModule::write_path(http::JsonWriter& w, const Session& s) {
    const Params& p = s.params();
    const auto runs = s.runs();
    const bool icmp = p.protocol == Protocol::icmp;
    auto reverse = [&](const net::IpAddr& ip) {
        std::string n = p.reverse_dns ? s.reverse_name(ip) : std::string();
        if (n.empty()) return;
        w.key("reverse_dns");
        w.start_array();
        w.string(n);
        w.end_array();
    };
    w.start_object();
    w.kv_int("timestamp", unix_now_ms());
    w.kv("agent_version", RINGPROBE_VERSION);
    w.kv("namespace", "");
    w.kv("test_config_id", "");
    w.kv("test_result_id", "");
    w.kv("test_run_id", net::uuid_v4());
    w.kv("origin", "");
    w.kv("test_run_type", "");
    w.kv("source_product", "");
    w.kv("collector_type", "");
    w.kv("protocol", protocol_name(p.protocol));
    w.key("source");
    w.start_object();
    w.kv("name", "");
    w.kv("display_name", "");
    w.kv("hostname", hostname_);
    w.end_object();
    w.key("destination");
    w.start_object();
    w.kv("hostname", p.host);
    w.kv_uint("port", p.requested_port);
    w.end_object();

    w.key("traceroute");
    w.start_object();
    w.key("runs");
    w.start_array();
    std::vector<int> hop_counts;
    for (const auto& run : runs) {
        const int last = run.dest_ttl != 0 ? run.dest_ttl : int(p.max_ttl);
        w.start_object();
        w.kv("run_id", net::uuid_v4());
        w.key("source");
        w.start_object();
        w.kv("ip_address", s.source().to_string());
        w.kv_uint("port", icmp ? 0 : run.sport);
        w.end_object();
        w.key("destination");
        w.start_object();
        w.kv("ip_address", s.target().to_string());
        w.kv_uint("port", icmp ? 0 : p.port);
        reverse(s.target());
        w.end_object();
        w.key("hops");
        w.start_array();
        int hop_count = last;  // datadog-traceroute: the last hop with an address, else all
        for (int t = last; t >= 1; --t) {
            if (run.hops[size_t(t)].answered) {
                hop_count = t;
                break;
            }
        }
        hop_counts.push_back(hop_count);
        for (int t = 1; t <= last; ++t) {
            const auto& h = run.hops[size_t(t)];
            w.start_object();
            w.kv_int("ttl", t);
            w.kv("ip_address", h.answered ? h.ip.to_string() : std::string());
            if (h.answered) reverse(h.ip);
            if (h.answered && h.rtt_ns > 0) {
                w.key("rtt");
                w.go_float(double(h.rtt_ns) / 1e6);
            }
            w.kv_bool("reachable", h.answered);
            w.end_object();
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
    // normalizeTracerouteHopsCount, its "min == 0" test included.
    int hmin = 0, hmax = 0, total = 0;
    for (int c : hop_counts) {
        if (c < hmin || hmin == 0) hmin = c;
        hmax = std::max(hmax, c);
        total += c;
    }
    w.key("hop_count");
    w.start_object();
    w.key("avg");
    w.go_float(hop_counts.empty() ? 0.0 : double(total) / double(hop_counts.size()));
    w.kv_int("min", hmin);
    w.kv_int("max", hmax);
    w.end_object();
    w.end_object();

    // normalizeE2eProbe: every RTT (0 for a probe without an answer), then the statistics of
    // the answered ones; packet_loss_percentage is a fraction (float32), as upstream computes it.
    const auto& rtts = s.e2e_rtts_ms();
    std::vector<double> valid;
    for (double r : rtts)
        if (r > 0) valid.push_back(r);
    w.key("e2e_probe");
    w.start_object();
    w.key("rtts");
    if (rtts.empty()) {
        w.null();
    } else {
        w.start_array();
        for (double r : rtts) w.go_float(r);
        w.end_array();
    }
    w.kv_int("packets_sent", static_cast<int64_t>(rtts.size()));
    w.kv_int("packets_received", static_cast<int64_t>(valid.size()));
    float loss =
        rtts.empty() ? 0.0f : float(int(rtts.size()) - int(valid.size())) / float(rtts.size());
    w.key("packet_loss_percentage");
    w.go_float(loss, true);
    double jitter = 0, avg = 0, mn = 0, mx = 0;
    if (!valid.empty()) {
        mn = mx = valid[0];
        for (double r : valid) {
            avg += r;
            mn = std::min(mn, r);
            mx = std::max(mx, r);
        }
        avg /= double(valid.size());
    }
    if (valid.size() >= 2) {
        for (size_t i = 1; i < valid.size(); ++i) jitter += std::fabs(valid[i] - valid[i - 1]);
        jitter /= double(valid.size() - 1);
    }
    w.key("jitter");
    w.go_float(jitter);
    w.key("rtt");
    w.start_object();
    w.key("avg");
    w.go_float(avg);
    w.key("min");
    w.go_float(mn);
    w.key("max");
    w.go_float(mx);
    w.end_object();
    w.end_object();
    w.end_object();
}

uint16_t TracerouteModule::allocate_echo_id() {
    for (;;) {
        uint16_t id = next_echo_id_++;
        bool used = false;
        for (const auto& t : traces_)
            used = used || (!t->session->finished() && t->session->echo_id() == id);
        if (!used) return id;
    }
}

void TracerouteModule::sweep() {
    for (auto& t : traces_) {
        if (!t->session->finished() && !t->deferred.alive()) {
            t->session->cancel();
            ++cancelled_;
        }
    }
    reap();
}

void TracerouteModule::reap() {
    std::erase_if(traces_, [](const auto& t) { return t->session->finished(); });
    if (traces_.empty()) sweep_.cancel();
}

void TracerouteModule::write_stats(http::JsonWriter& w) const {
    auto rs = resolver_.stats();
    w.start_object();
    w.kv_uint("requests", requests_);
    w.kv_uint("in_flight", in_flight());
    w.kv_uint("max_in_flight", max_in_flight_);
    w.kv_uint("destination_reached", reached_);
    w.kv_uint("destination_not_reached", not_reached_);
    w.kv_uint("bad_requests", bad_requests_);
    w.kv_uint("failed", failed_);
    w.kv_uint("cancelled", cancelled_);
    w.kv_uint("probes_sent", probes_[0] + probes_[1] + probes_[2]);
    w.kv_uint("replies", replies_);
    w.kv_uint("foreign_packets", foreign_);
    w.kv_uint("send_errors", send_errors_);
    w.kv("last_error", last_error_);
    w.key("resolver");
    w.start_object();
    w.kv_uint("lookups", rs.lookups);
    w.kv_uint("reverse_lookups", rs.reverse_lookups);
    w.kv_uint("reverse_cache_hits", rs.reverse_cache_hits);
    w.kv_uint("failures", rs.failures);
    w.kv_uint("cancelled", rs.cancelled);
    w.kv_uint("overflows", rs.overflows);
    w.kv_uint("pending", rs.pending);
    w.kv_uint("threads", rs.threads);
    w.end_object();
    w.end_object();
}

void TracerouteModule::write_metrics(http::MetricsWriter& w) const {
    w.counter(kRequestsFamily, {{"outcome", "reached"}}, reached_);
    w.counter(kRequestsFamily, {{"outcome", "not_reached"}}, not_reached_);
    w.counter(kRequestsFamily, {{"outcome", "bad_request"}}, bad_requests_);
    w.counter(kRequestsFamily, {{"outcome", "error"}}, failed_);
    w.counter(kRequestsFamily, {{"outcome", "cancelled"}}, cancelled_);
    w.counter(kProbesFamily, {{"protocol", "udp"}}, probes_[0]);
    w.counter(kProbesFamily, {{"protocol", "tcp"}}, probes_[1]);
    w.counter(kProbesFamily, {{"protocol", "icmp"}}, probes_[2]);
    w.counter(kRepliesFamily, {}, replies_);
    w.counter(kForeignFamily, {}, foreign_);
    w.counter(kSendErrorsFamily, {}, send_errors_);
    w.gauge(kInFlightFamily, {}, static_cast<int64_t>(in_flight()));
    w.histogram(kDurationFamily, {}, duration_);
}

CreateResult create(const conf::Config& cfg, Dependencies& deps) {
    // Sending needs a raw IPPROTO_RAW socket; fail now, with the reason.
    auto fd = net::open_raw_socket(AF_INET, IPPROTO_RAW);
    if (!fd) return std::unexpected("traceroute: " + fd.error());
    ::close(*fd);
    int64_t limit = kit::config_int(cfg, "ringprobe.traceroute.max_in_flight", kDefaultMaxInFlight);
    return std::make_unique<TracerouteModule>(deps.reactor, static_cast<uint32_t>(limit));
}

}  // namespace

extern const Factory traceroute_factory;
constinit const Factory traceroute_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "traceroute.enabled",
    .create = create,
    .needs_ebpf = false,
};

}  // namespace rp::modules
