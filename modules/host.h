// host.h — the module host: builds the enabled modules in registry order, serves the global routes
// (/debug/stats, /debug/modules, /module-restart/{name}) and closes modules on shutdown.
//
// Lifecycle (REFERENCE.md "Registry and lifecycle"): keep the enabled factories; if any needs eBPF,
// set up the BPF runtime once; create each; a create or register error is logged as
// "error creating module <name>: <error>" and served in /debug/stats, and the others go on.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "http/router.h"
#include "http/server.h"
#include "loop/reactor.h"
#include "modules/module.h"

namespace rp::modules {

enum class ModuleState { disabled, running, failed };
std::string_view state_name(ModuleState s);

// A snapshot of extra daemon facts shown under "ringprobe" in /debug/stats (HTTP counters etc.).
using ExtraStatsFn = std::function<void(http::JsonWriter&)>;

class Host {
  public:
    Host(loop::Reactor& reactor, const conf::Config& cfg, http::Router& router,
         std::span<const Factory> factories = registry());
    ~Host();
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;

    // Registers /debug/stats, /debug/modules and /module-restart/{name}. Call before start() so
    // that /debug/stats answers from the moment the socket is up.
    void register_global_routes();
    // Creates every enabled module. Error "no module could be loaded" when none could be.
    std::expected<void, std::string> start();
    // Closes every module (reverse order) and unmounts its routes.
    void close_all();
    // Closes and re-creates one module. Error text on failure (also kept for /debug/stats).
    std::expected<void, std::string> restart(std::string_view name);

    // Sets up the BPF runtime now if an enabled module needs it (for --check-config).
    void prepare_bpf();
    // Whether an enabled module needs the eBPF runtime (start() will load BPF objects).
    bool needs_bpf() const;
    void set_extra_stats(ExtraStatsFn fn) { extra_stats_ = std::move(fn); }
    size_t running_count() const;
    // For /debug/stats and --check-config: BPF runtime facts (features), or nothing without eBPF.
    void write_bpf_features(http::JsonWriter& w) const;

    // Writes the /debug/stats object.
    void write_debug_stats(http::JsonWriter& w);
    void write_modules(http::JsonWriter& w) const;
    // The /metrics families of the daemon (uptime, module up and load time, HTTP requests by route
    // and code, durations), of every running module (Module::write_metrics), then the extra ones.
    void write_metrics(http::MetricsWriter& w) const;
    void set_extra_metrics(std::function<void(http::MetricsWriter&)> fn) {
        extra_metrics_ = std::move(fn);
    }

  private:
    struct Entry {
        const Factory* factory;
        bool enabled = false;
        ModuleState state = ModuleState::disabled;
        std::unique_ptr<Module> module;
        std::string error;
        double load_seconds = 0;  // the latest create
    };
    Entry* find(std::string_view name);
    std::expected<void, std::string> create(Entry& e);
    void close(Entry& e);
    std::expected<void, std::string> ensure_bpf_runtime();

    loop::Reactor& reactor_;
    const conf::Config& cfg_;
    http::Router& router_;
    std::vector<Entry> entries_;
    struct BpfState;
    std::unique_ptr<BpfState> bpf_;
    ExtraStatsFn extra_stats_;
    std::function<void(http::MetricsWriter&)> extra_metrics_;
    http::MetricsWriter metrics_;  // reused by every scrape
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point last_stats_;
};

// Go's time.Duration.String() for a duration in nanoseconds ("1h2m3.5s", "1.5ms", "0s"), written
// into out (kGoDurationMax bytes); returns its length. The longest, "-2562047h47m16.854775808s",
// has 25.
inline constexpr size_t kGoDurationMax = 32;

// The HTTP server's limits from the [ringprobe.http] keys (where the config and HTTP layers meet).
http::ServerLimits http_limits(const conf::Config& cfg);
// ringprobe_http_requests_total{route, code}, ringprobe_http_request_duration_seconds{route} and
// ringprobe_http_requests_in_flight{route} of one route's counters.
void write_route_metrics(http::MetricsWriter& w, const http::RouteLoad& load,
                         std::string_view route);
size_t format_go_duration(int64_t ns, char* out);
std::string go_duration(int64_t ns);

}  // namespace rp::modules
