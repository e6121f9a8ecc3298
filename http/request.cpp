// request.cpp — see request.h.
#include "http/request.h"

#include <strings.h>

namespace rp::http {

bool Headers::equal_names(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
    for (size_t i = 0; i < count_; ++i)
        if (equal_names(this->name(i), name)) return value(i);
    return std::nullopt;
}

bool Headers::contains(std::string_view name, std::string_view needle) const {
    for (size_t i = 0; i < count_; ++i) {
        if (!equal_names(this->name(i), name)) continue;
        std::string_view v = value(i);
        if (needle.empty()) return true;
        for (size_t j = 0; j + needle.size() <= v.size(); ++j)
            if (strncasecmp(v.data() + j, needle.data(), needle.size()) == 0) return true;
    }
    return false;
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
    std::string_view q = query;
    while (!q.empty()) {
        size_t amp = q.find('&');
        std::string_view pair = q.substr(0, amp);
        size_t eq = pair.find('=');
        std::string_view k = pair.substr(0, eq);
        if (k == name)
            return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
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

Encoding Request::accepts() const {
    return headers.contains("Accept", kProtobufType) ? Encoding::protobuf : Encoding::json;
}

Encoding Request::body_encoding() const {
    return headers.contains("Content-Type", kProtobufType) ? Encoding::protobuf : Encoding::json;
}

}  // namespace rp::http
