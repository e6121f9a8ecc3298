// request.cpp — see request.h.
#include "http/request.h"

#include <strings.h>

namespace rp::http {

std::optional<std::string_view> Request::query_param(std::string_view name) const {
    std::string_view q = query;
    while (!q.empty()) {
        size_t amp = q.find('&');
        std::string_view pair = q.substr(0, amp);
        size_t eq = pair.find('=');
        std::string_view k = pair.substr(0, eq);
        if (k == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

bool is_truthy(std::string_view v) {
    static constexpr std::string_view kTrue[] = {"1", "t", "true", "yes", "y", "on"};
    for (auto t : kTrue)
        if (v.size() == t.size() && strncasecmp(v.data(), t.data(), v.size()) == 0) return true;
    return false;
}

bool Request::pretty() const {
    auto v = query_param("pretty_print");
    return v.has_value() && is_truthy(*v);
}

}  // namespace rp::http
