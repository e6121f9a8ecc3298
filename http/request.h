// request.h — one parsed HTTP request as a handler sees it. Every view points into the connection's
// request buffer and is valid only during the handler call.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace rp::http {

struct PathParams {
    static constexpr size_t kMax = 4;
    struct Entry {
        std::string_view name;
        std::string_view value;
    };
    std::array<Entry, kMax> entries{};
    size_t count = 0;
    void clear() { count = 0; }
    bool add(std::string_view name, std::string_view value) {
        if (count == kMax) return false;
        entries[count++] = {name, value};
        return true;
    }
    std::string_view get(std::string_view name) const {
        for (size_t i = 0; i < count; ++i)
            if (entries[i].name == name) return entries[i].value;
        return {};
    }
};

struct Request {
    std::string_view method;  // "GET", "POST", ...
    std::string_view target;  // as sent: path and query, percent-encoded
    std::string_view path;    // percent-decoded path, without the query
    std::string_view query;   // raw query string without '?', may be empty
    std::string_view body;    // de-chunked body
    PathParams params;        // values of {name} segments of the matched pattern

    std::string_view param(std::string_view name) const { return params.get(name); }
    // Value of the first `name=` in the query (raw, not percent-decoded); nullopt if absent.
    std::optional<std::string_view> query_param(std::string_view name) const;
    // ?pretty_print=1|t|true|yes|y|on (case-insensitive), as system-probe's utils.GetPrettyPrintFromQueryParams.
    bool pretty() const;
};

// Exposed for tests: Go's strconv.ParseBool-like truth used by pretty_print.
bool is_truthy(std::string_view v);

}  // namespace rp::http
