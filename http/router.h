// router.h — maps (method, path) to handlers.
//
// Global routes are matched on the whole path ("/debug/stats", "/module-restart/{name}"). Each
// module gets a sub-router mounted at "/<module>/" and, as an alias, "/modules/<module>/"; its
// patterns are relative ("/check", "/ping/{host}"). A pattern segment "{name}" matches one
// non-empty segment and is available as Request::param("name"). A route may be bound to a method; a
// path that matches only under other methods is 405 with Allow. unmount() makes a module's routes
// 404 at once.
//
// A route may limit how many of its requests are answered at once (system-probe's
// utils.WithConcurrencyLimit): a request beyond the limit gets 429. A request counts from its
// handler's call until its answer is complete (a deferred or streamed answer holds its slot).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/metrics.h"
#include "http/request.h"
#include "http/response.h"

namespace rp::http {

using HandlerFn = std::function<void(const Request&, Response&)>;

struct RouteOptions {
    uint32_t max_in_flight = 0;  // 0: no limit
};

// Per-route counters, shared with the connections answering the route (a connection keeps its
// route's counters alive until its answer is complete, even if the module unmounts meanwhile).
struct RouteLoad {
    std::string label;       // "/oom_kill_probe/check": the route as /metrics names it
    uint32_t limit = 0;      // RouteOptions::max_in_flight
    uint32_t in_flight = 0;  // requests whose answer is not complete yet
    uint64_t rejected = 0;   // answered 429
    // Answers by status code (the first kCodes distinct codes; later ones count as `other`) and
    // their duration, from the handler's call to the answer's end (the last byte queued).
    static constexpr size_t kCodes = 8;
    std::array<std::pair<uint16_t, uint64_t>, kCodes> codes{};
    uint64_t other_codes = 0;
    Histogram duration{kLatencyBounds};
    void answered(int status, double seconds) {
        duration.observe(seconds);
        for (auto& [code, n] : codes) {
            if (code == status || code == 0) {
                code = static_cast<uint16_t>(status);
                ++n;
                return;
            }
        }
        ++other_codes;
    }
};

class Router {
  public:
    // method "" = any method. Patterns start with '/'. Later registrations of the same
    // (method, pattern) replace earlier ones.
    void handle(std::string_view method, std::string_view pattern, HandlerFn fn,
                RouteOptions options = {});
    // The sub-router of a module (created on first call).
    Router& mount(std::string_view module);
    // Every route's counters, with the module it is mounted under ("" for global routes).
    template <typename Fn>
    void for_each_route(Fn&& fn) const {
        for (const auto& r : routes_) fn(r.method, *r.load);
        for (const auto& m : mounts_) m.router->for_each_route(fn);
    }
    void unmount(std::string_view module);
    bool mounted(std::string_view module) const;

    enum class Outcome { found, not_found, method_not_allowed };
    struct Match {
        Outcome outcome = Outcome::not_found;
        const HandlerFn* handler = nullptr;
        const std::shared_ptr<RouteLoad>* load = nullptr;  // set when found
        std::string_view module;  // the module whose sub-router matched, if any
        // For 405: the methods allowed on this path, "GET, POST" (points into router storage).
        char allow[64] = {};
    };
    // Matches a decoded path. Fills params with views into `path` and the router's patterns.
    Match match(std::string_view method, std::string_view path, PathParams& params) const;

  private:
    struct Route {
        std::string method;
        std::string pattern;
        std::vector<std::string> segments;
        HandlerFn fn;
        std::shared_ptr<RouteLoad> load;
    };
    struct Mount {
        std::string name;
        std::unique_ptr<Router> router;
    };
    Match match_here(std::string_view method, std::string_view path, PathParams& params) const;
    std::string prefix_;  // "/<module>" for a module's sub-router
    std::vector<Route> routes_;
    std::vector<Mount> mounts_;
};

}  // namespace rp::http
