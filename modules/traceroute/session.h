// session.h — one traceroute request, run on the reactor from start to answer.
//
// A Session resolves the host (IPv4, as system-probe's runner asks for), opens its sockets, sends
// `queries` traceroute runs and `e2e_queries` end-to-end probes, matches every reply to the probe
// it answers, and calls its `done` callback once with the result (or the error). Nothing blocks:
// probes leave from Timers, replies are read when the reactor reports the sockets readable
// (FdWatch), name lookups go through net::Resolver.
//
// Sockets (all closed as soon as the last probe is answered or has timed out, and by cancel()):
//   send   AF_INET, SOCK_RAW, IPPROTO_RAW: whole probes, IP header included (probe_packet.h)
//   icmp   AF_INET, SOCK_RAW, IPPROTO_ICMP, with ICMP_FILTER (echo reply, destination
//          unreachable, time exceeded) and a classic BPF filter that keeps only ICMP about our
//          target (an error quoting a packet to it, or an echo reply from it)
//   tcp    AF_INET, SOCK_RAW, IPPROTO_TCP, connected to the target (TCP mode): its SYN-ACKs/RSTs
//   ports  one UDP or TCP socket bound per run (and one for the e2e probes) that reserves the
//          run's source port, so no other program uses it meanwhile
//
// How the runs go, as datadog-traceroute does it (docs/modules/traceroute.md has the sources):
//   UDP, ICMP  parallel: TTL 1, 2, ... every kSendDelayMs, no more once the destination answered;
//              the run ends when the destination and every hop before it answered, or at
//              `timeout` + kSendDelayMs per TTL after the start (upstream always waits that long)
//   TCP SYN    serial: one TTL at a time, waiting up to `timeout` for its answer and at least
//              kSendDelayMs between probes; ends at the destination or at max_ttl
//   e2e        one probe at TTL max_ttl every max_ttl * timeout / e2e_queries, each waiting
//              `timeout` (+ kSendDelayMs for UDP/ICMP, as upstream) for the destination
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loop/reactor.h"
#include "loop/timer.h"
#include "modules/netprobe/inet.h"
#include "modules/netprobe/resolver.h"
#include "modules/traceroute/probe_packet.h"

namespace rp::modules::traceroute {

constexpr uint64_t kSendDelayMs = 50;  // datadog-traceroute's DefaultDelay
constexpr uint16_t kDefaultPort = 33434;
constexpr int64_t kDefaultTimeoutNs = 1'000'000'000;  // the Agent's DefaultNetworkPathTimeout
constexpr uint8_t kDefaultMaxTtl = 30;
constexpr uint32_t kDefaultQueries = 3;
constexpr uint32_t kMaxQueries = 10;
constexpr uint32_t kMaxE2eQueries = 1000;
constexpr uint64_t kResolveTimeoutMs = 5000;
constexpr uint64_t kReverseDnsTimeoutMs = 2000;
constexpr size_t kMaxReverseLookups = 64;

struct Params {
    std::string host;    // as requested (the payload's destination.hostname)
    std::string target;  // what to resolve: host without a ":port" suffix
    std::string client_id;
    Protocol protocol = Protocol::udp;
    uint16_t requested_port = 0;   // the query's port (0 when absent): the payload's destination
    uint16_t port = kDefaultPort;  // the port probed (UDP, TCP)
    uint8_t max_ttl = kDefaultMaxTtl;
    int64_t timeout_ns = kDefaultTimeoutNs;
    uint32_t queries = kDefaultQueries;
    uint32_t e2e_queries = 0;
    bool paris = false;  // TCP: one sequence number per run
    bool reverse_dns = false;
};

struct Hop {
    bool answered = false;
    bool is_dest = false;
    net::IpAddr ip;
    int64_t rtt_ns = 0;
};

struct RunResult {
    uint16_t sport = 0;
    std::vector<Hop> hops;  // hops[ttl], ttl 1..max_ttl (hops[0] unused)
    int dest_ttl = 0;       // lowest TTL the destination answered, 0 if none
};

struct SessionCounters {
    uint64_t probes_sent = 0, send_errors = 0, replies = 0, foreign = 0;
};

class Session {
  public:
    using Done = std::function<void(Session&)>;
    Session(loop::Reactor& r, net::Resolver& resolver, Params p, uint16_t echo_id, Done done);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Begins; `done` may run before this returns (a numeric host with no route, say).
    void start();
    // Stops everything and closes every socket; `done` is not called.
    void cancel();
    bool finished() const { return state_ == State::finished; }

    // --- the outcome, valid once finished.
    int error_status() const { return error_status_; }  // 0: success
    const std::string& error() const { return error_; }
    const Params& params() const { return params_; }
    const net::IpAddr& target() const { return target_; }
    net::IpAddr source() const { return net::IpAddr::v4(src_); }
    std::vector<RunResult> runs() const;
    const std::vector<double>& e2e_rtts_ms() const { return e2e_rtt_ms_; }
    // Reverse DNS names found (reverse_dns=true), by address text.
    std::string reverse_name(const net::IpAddr& ip) const;
    int64_t elapsed_ns() const { return end_ns_ - start_ns_; }
    uint16_t echo_id() const { return echo_id_; }
    const SessionCounters& counters() const { return counters_; }

  private:
    enum class State : uint8_t { idle, resolving, probing, reverse_dns, finished };
    struct Run {
        uint16_t sport = 0;
        int reserve_fd = -1;
        std::vector<Hop> hops;
        int dest_ttl = 0;
        int next_ttl = 1;  // the next TTL to send (serial: the current one until answered)
        bool done = false;
        uint32_t cur_probe = UINT32_MAX;  // serial: the probe waiting for its answer
        int64_t cur_sent_ms = 0;
        uint32_t paris_seq = 0;
        loop::Timer timer;  // serial pacing and per-hop timeout
    };
    struct Probe {
        int16_t run;  // -1: an e2e probe
        uint8_t ttl;
        uint16_t sport;
        uint32_t e2e_index;
        int64_t sent_ns;
        bool answered = false;
        bool settled = false;  // e2e: answered by the destination, or timed out
    };
    struct E2ePending {
        uint32_t probe;
        uint64_t deadline_ms;
    };

    void begin(const net::IpAddr& target);
    std::string open_sockets();
    uint32_t send_probe(int run, int ttl, uint32_t e2e_index);
    void pace();
    void serial_send(Run& run);
    void serial_advance(Run& run);
    void launch_e2e();
    void expire_e2e();
    void on_icmp();
    void on_tcp();
    void answer(uint32_t probe, const in_addr& from, bool is_dest, int64_t rx_ns);
    void check_run(Run& run);
    void check_done();
    void close_sockets();
    void start_reverse_dns();
    void finish();
    void fail(int status, std::string message);
    bool serial() const { return params_.protocol == Protocol::tcp; }

    loop::Reactor& reactor_;
    net::Resolver& resolver_;
    Params params_;
    uint16_t echo_id_;
    Done done_;
    State state_ = State::idle;
    int error_status_ = 0;
    std::string error_;

    net::IpAddr target_;
    in_addr src_{};
    int send_fd_ = -1, icmp_fd_ = -1, tcp_fd_ = -1;
    bool tcp_filter_pending_ = false;
    loop::FdWatch icmp_watch_, tcp_watch_;
    net::Resolver::Ticket lookup_;
    loop::Timer resolve_timer_, pace_timer_, window_timer_, e2e_launch_timer_, e2e_expire_timer_,
        rdns_timer_;

    std::vector<std::unique_ptr<Run>> runs_;
    std::vector<Probe> probes_;
    uint16_t ip_id_base_ = 0;
    uint32_t seq_base_ = 0;
    int pace_ttl_ = 1;

    uint16_t e2e_sport_ = 0;
    int e2e_reserve_fd_ = -1;
    std::vector<double> e2e_rtt_ms_;
    uint32_t e2e_launched_ = 0, e2e_settled_ = 0;
    std::deque<E2ePending> e2e_pending_;
    uint64_t e2e_wait_ms_ = 0;

    std::vector<net::Resolver::Ticket> rdns_tickets_;
    std::vector<std::pair<net::IpAddr, std::string>> rdns_names_;
    size_t rdns_pending_ = 0;

    int64_t start_ns_ = 0, end_ns_ = 0;
    SessionCounters counters_;
};

}  // namespace rp::modules::traceroute
