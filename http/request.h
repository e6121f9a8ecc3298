// request.h — one parsed HTTP request as a handler sees it. Every view points into the connection's
// request buffer and is valid only during the handler call (a deferred handler copies what it
// needs before it returns).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
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

// Where one header field lies in the connection's request buffer (offsets, so that the buffer may
// grow while the request is read).
struct HeaderSpan {
    uint32_t name_off = 0, name_len = 0;
    uint32_t value_off = 0, value_len = 0;
};

// The request's header fields in arrival order, as sent (names case-preserved, values without the
// surrounding whitespace). Bounded by the server's header limits (at most kMaxFields fields and
// max_header_bytes in all); nothing is allocated: the fields are views into the request buffer.
class Headers {
  public:
    static constexpr size_t kMaxFields = 100;
    Headers() = default;
    Headers(const char* base, const HeaderSpan* spans, size_t count)
        : base_(base), spans_(spans), count_(count) {}

    size_t size() const { return count_; }
    std::string_view name(size_t i) const {
        return {base_ + spans_[i].name_off, spans_[i].name_len};
    }
    std::string_view value(size_t i) const {
        return {base_ + spans_[i].value_off, spans_[i].value_len};
    }
    // The first field named `name` (compared case-insensitively), or nullopt.
    std::optional<std::string_view> get(std::string_view name) const;
    // Every field named `name`, in order: fn(value) for each; returns how many there were.
    template <typename Fn>
    size_t each(std::string_view name, Fn&& fn) const {
        size_t n = 0;
        for (size_t i = 0; i < count_; ++i) {
            if (equal_names(this->name(i), name)) {
                fn(value(i));
                ++n;
            }
        }
        return n;
    }
    // Whether any field named `name` contains `needle` (case-insensitive), e.g. an Accept listing
    // application/protobuf among other types, or split over two Accept fields.
    bool contains(std::string_view name, std::string_view needle) const;

    static bool equal_names(std::string_view a, std::string_view b);

  private:
    const char* base_ = nullptr;
    const HeaderSpan* spans_ = nullptr;
    size_t count_ = 0;
};

// How a body is (or is to be) encoded. system-probe's process and network_tracer handlers pick
// protobuf when the header contains "application/protobuf" (strings.Contains), JSON otherwise.
enum class Encoding : uint8_t { json, protobuf };
inline constexpr std::string_view kProtobufType = "application/protobuf";
inline constexpr std::string_view kJsonType = "application/json";

struct Request {
    std::string_view method;  // "GET", "POST", ...
    std::string_view target;  // as sent: path and query, percent-encoded
    std::string_view path;    // percent-decoded path, without the query
    std::string_view query;   // raw query string without '?', may be empty
    std::string_view body;    // de-chunked body
    PathParams params;        // values of {name} segments of the matched pattern
    Headers headers;

    std::string_view param(std::string_view name) const { return params.get(name); }
    // Value of the first `name=` in the query (raw, not percent-decoded); nullopt if absent.
    std::optional<std::string_view> query_param(std::string_view name) const;
    // ?pretty_print=1|t|true|yes|y|on (case-insensitive), as system-probe's
    // utils.GetPrettyPrintFromQueryParams.
    bool pretty() const;
    // The encoding the client asked the answer in: protobuf when an Accept field contains
    // application/protobuf, else JSON.
    Encoding accepts() const;
    // The encoding of the body: protobuf when a Content-Type field contains application/protobuf,
    // else JSON (also when there is no Content-Type).
    Encoding body_encoding() const;
};

// Exposed for tests: Go's strconv.ParseBool-like truth used by pretty_print.
bool is_truthy(std::string_view v);

}  // namespace rp::http
