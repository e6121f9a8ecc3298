// resolver.h — host names and reverse lookups without blocking the loop.
//
// getaddrinfo(3) and getnameinfo(3) block (files, DNS, whatever nsswitch.conf says), so they run
// on at most kThreads helper threads per resolver (ping and traceroute have one each), started
// when a request finds none idle, gone after kIdleExit without work. They do nothing else: a
// request is queued, a helper resolves it and
// queues the answer, then writes the resolver's eventfd, which the reactor watches (FdWatch); the
// answer's callback runs on the loop. Nothing else crosses threads (one mutex guards the two
// queues). Numeric addresses never come here (net::parse_ip answers them at once).
//
// Cancelling (dropping the Ticket) is immediate for the caller: its callback is destroyed and
// never runs. A lookup a helper is already running cannot be interrupted; its answer is thrown
// away when it comes. Closing the resolver does not wait for helpers stuck in a slow lookup:
// they are detached, share only the resolver's queue state (kept alive by them), and exit when
// their lookup returns.
//
// Bounded: at most kMaxQueued requests wait; beyond that lookup() fails at once (counted).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "loop/reactor.h"
#include "modules/netprobe/inet.h"

namespace rp::modules::net {

class Resolver {
  public:
    static constexpr size_t kMaxQueued = 512;
    static constexpr unsigned kThreads = 2;               // helpers at most (started when needed)
    static constexpr std::chrono::seconds kIdleExit{60};  // an idle helper exits after this

    struct Answer {
        std::string error;          // empty on success: "lookup <name>: <gai_strerror>"
        std::vector<IpAddr> addrs;  // forward lookups, in getaddrinfo's order (deduplicated)
        std::string name;           // reverse lookups: the host name
    };
    using Callback = std::function<void(Answer&&)>;

    // A pending request; dropping or reset()ting it cancels the request.
    class Ticket {
      public:
        Ticket() = default;
        Ticket(Ticket&& o) noexcept;
        Ticket& operator=(Ticket&& o) noexcept;
        ~Ticket() { reset(); }
        void reset();
        bool pending() const { return owner_ != nullptr; }

      private:
        friend class Resolver;
        Ticket(Resolver* r, uint64_t id) : owner_(r), id_(id) {}
        Resolver* owner_ = nullptr;
        uint64_t id_ = 0;
    };

    struct Stats {
        uint64_t lookups = 0, reverse_lookups = 0, failures = 0, cancelled = 0, overflows = 0,
                 reverse_cache_hits = 0;
        uint32_t pending = 0, threads = 0;
    };

    explicit Resolver(loop::Reactor& reactor);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Resolves `name` (AF_INET: IPv4 only; AF_UNSPEC: both). The callback runs on the loop, later
    // (never from inside this call); on overflow or failure to start, the Ticket is empty and
    // `*error` says why.
    Ticket lookup(std::string name, int family, Callback cb, std::string* error);
    // The name of `addr` (getnameinfo with NI_NAMEREQD), absolute (with its final dot, as Go's
    // LookupAddr returns it); Answer::error when it has none.
    Ticket reverse(const IpAddr& addr, Callback cb, std::string* error);
    // A reverse answer of the last kReverseCacheTtlMs (datadog-traceroute caches them 10 min),
    // names and failures alike; nullopt when there is none.
    std::optional<Answer> cached_reverse(const IpAddr& addr) const;
    static constexpr size_t kReverseCacheEntries = 1024;
    static constexpr uint64_t kReverseCacheTtlMs = 600'000;

    Stats stats() const;

  private:
    struct Job;
    struct Shared;
    static void helper(std::shared_ptr<Shared> s);  // a helper thread's body
    Ticket submit(std::unique_ptr<Job> job, Callback cb, std::string* error);
    void cancel(uint64_t id);
    void on_ready();

    loop::Reactor& reactor_;
    std::shared_ptr<Shared> shared_;
    loop::FdWatch watch_;
    std::unordered_map<uint64_t, Callback> callbacks_;  // pending requests, by id
    struct CachedName {
        IpAddr addr;
        Answer answer;
        uint64_t expires_ms;
    };
    std::vector<CachedName> reverse_cache_;  // bounded: the oldest entry is replaced
    uint64_t next_id_ = 1;
    Stats stats_;
};

}  // namespace rp::modules::net
