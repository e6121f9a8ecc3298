// router.cpp — see router.h.
#include "http/router.h"

#include <cstring>

namespace rp::http {
namespace {

// Splits "/a/b/c" into segments; an empty path or "/" has none. A trailing '/' is not a segment.
template <typename Fn>
void for_each_segment(std::string_view path, Fn&& fn) {
    size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        if (!fn(path.substr(i, j - i))) return;
        i = j;
    }
}

bool is_param(std::string_view seg) {
    return seg.size() >= 3 && seg.front() == '{' && seg.back() == '}';
}

}  // namespace

void Router::handle(std::string_view method, std::string_view pattern, HandlerFn fn,
                    RouteOptions options) {
    for (auto& r : routes_) {
        if (r.method == method && r.pattern == pattern) {
            r.fn = std::move(fn);
            r.load = std::make_shared<RouteLoad>();
            r.load->label = prefix_ + r.pattern;
            r.load->limit = options.max_in_flight;
            return;
        }
    }
    Route r;
    r.method = method;
    r.pattern = pattern;
    for_each_segment(r.pattern, [&](std::string_view s) {
        r.segments.emplace_back(s);
        return true;
    });
    r.fn = std::move(fn);
    r.load = std::make_shared<RouteLoad>();
    r.load->label = prefix_ + r.pattern;
    r.load->limit = options.max_in_flight;
    routes_.push_back(std::move(r));
}

Router& Router::mount(std::string_view module) {
    for (auto& m : mounts_)
        if (m.name == module) return *m.router;
    mounts_.push_back({std::string(module), std::make_unique<Router>()});
    mounts_.back().router->prefix_ = prefix_ + "/" + std::string(module);
    return *mounts_.back().router;
}

void Router::unmount(std::string_view module) {
    for (auto it = mounts_.begin(); it != mounts_.end(); ++it) {
        if (it->name == module) {
            mounts_.erase(it);
            return;
        }
    }
}

bool Router::mounted(std::string_view module) const {
    for (const auto& m : mounts_)
        if (m.name == module) return true;
    return false;
}

Router::Match Router::match_here(std::string_view method, std::string_view path,
                                 PathParams& params) const {
    Match result;
    size_t allow_len = 0;
    for (const auto& r : routes_) {
        params.clear();
        size_t k = 0;
        bool ok = true;
        for_each_segment(path, [&](std::string_view seg) {
            if (k >= r.segments.size()) {
                ok = false;
                return false;
            }
            const std::string& want = r.segments[k++];
            if (is_param(want)) {
                params.add(std::string_view(want).substr(1, want.size() - 2), seg);
            } else if (want != seg) {
                ok = false;
                return false;
            }
            return true;
        });
        if (!ok || k != r.segments.size()) continue;
        if (r.method.empty() || r.method == method) {
            result.outcome = Outcome::found;
            result.handler = &r.fn;
            result.load = &r.load;
            return result;
        }
        // Path matches under another method: remember it for Allow.
        result.outcome = Outcome::method_not_allowed;
        size_t need = r.method.size() + (allow_len ? 2 : 0);
        if (allow_len + need < sizeof result.allow &&
            std::strstr(result.allow, r.method.c_str()) == nullptr) {
            if (allow_len) {
                std::memcpy(result.allow + allow_len, ", ", 2);
                allow_len += 2;
            }
            std::memcpy(result.allow + allow_len, r.method.data(), r.method.size());
            allow_len += r.method.size();
            result.allow[allow_len] = '\0';
        }
    }
    params.clear();
    return result;
}

Router::Match Router::match(std::string_view method, std::string_view path,
                            PathParams& params) const {
    Match m = match_here(method, path, params);
    if (m.outcome == Outcome::found) return m;
    // Module prefixes: /<module>/... and /modules/<module>/...
    std::string_view rest = path;
    if (rest.starts_with("/modules/")) rest.remove_prefix(8);
    if (!rest.starts_with('/')) return m;
    size_t end = rest.find('/', 1);
    std::string_view name = rest.substr(1, end == std::string_view::npos ? rest.npos : end - 1);
    std::string_view sub = end == std::string_view::npos ? std::string_view("/") : rest.substr(end);
    for (const auto& mt : mounts_) {
        if (mt.name != name) continue;
        Match sm = mt.router->match_here(method, sub, params);
        sm.module = mt.name;
        if (sm.outcome != Outcome::not_found) return sm;
        break;
    }
    return m;
}

}  // namespace rp::http
