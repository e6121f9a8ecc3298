// json_writer.h — the JSON writer every handler and module uses.
//
// Wraps RapidJSON's Writer and PrettyWriter (2-space indent, as the Agent's ?pretty_print=1) over a
// Buffer, chosen at run time. Writes straight into the buffer; no DOM, no allocation once the
// buffer has grown (keep one writer and reset() it per document). Strings are escaped by RapidJSON.
#pragma once

#include <rapidjson/prettywriter.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "http/buffer.h"

namespace rp::http {
// Length of the longest prefix of s[0, n) that a JSON string carries unescaped: no control byte,
// '"' or '\\' (bytes >= 0x80 pass through; JsonWriter::string validates UTF-8 first). Eight bytes
// per step.
inline size_t json_plain_prefix(const char* s, size_t n) {
    constexpr uint64_t k01 = 0x0101010101010101ull, k80 = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        std::memcpy(&w, s + i, 8);
        uint64_t q = w ^ (k01 * '"'), b = w ^ (k01 * '\\');
        // High bit set for a byte below 0x20, '"' or '\\' (exact for the lowest such byte; the
        // borrow may flag bytes above it, which does not matter).
        uint64_t hit = (((w - k01 * 0x20) & ~w) | ((q - k01) & ~q) | ((b - k01) & ~b)) & k80;
        if (hit != 0) return i + (static_cast<size_t>(__builtin_ctzll(hit)) >> 3);
    }
    for (; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == '"' || c == '\\') break;
    }
    return i;
}
// Whether all of s[0, n) is ASCII that a JSON string carries unescaped (no byte >= 0x80, below
// 0x20, '"' or '\\').
inline bool json_plain_ascii(const char* s, size_t n) {
    constexpr uint64_t k01 = 0x0101010101010101ull, k80 = 0x8080808080808080ull;
    // High bit of a byte set for a byte >= 0x80, below 0x20, '"' or '\\' — or a false alarm
    // from a borrow out of such a byte, which the exact loop below then settles.
    auto suspect = [](uint64_t w) {
        uint64_t q = w ^ (k01 * '"'), b = w ^ (k01 * '\\');
        return ((w | (w - k01 * 0x20) | (q - k01) | (b - k01)) & k80) != 0;
    };
    if (n >= 8) {  // whole words, the last one overlapping the one before: no byte-wise tail
        uint64_t w;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            std::memcpy(&w, s + i, 8);
            if (suspect(w)) goto exact;
        }
        std::memcpy(&w, s + n - 8, 8);
        if (!suspect(w)) return true;
    }
exact:
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
    }
    return true;
}
}  // namespace rp::http

// RapidJSON's Writer reserves room before each string or number (PutReserve), writes it byte by
// byte with PutUnsafe, and lets ScanWriteUnescapedString copy the runs that need no escaping — but
// does all three only for its own StringBuffer. Buffer gets the same; without them every byte went
// through Put() (a capacity check) and the escape table: ~16 instructions a byte, the largest
// user-space cost of a /check body (docs/BENCHMARKS.md, callgrind table).
namespace rapidjson {
template <>
inline void PutReserve(rp::http::Buffer& stream, size_t count) {
    stream.reserve(stream.size() + count);
}
template <>
inline void PutUnsafe(rp::http::Buffer& stream, char c) {
    stream.put_unsafe(c);
}
template <>
inline bool Writer<rp::http::Buffer>::ScanWriteUnescapedString(StringStream& is, size_t length) {
    size_t left = length - is.Tell();
    size_t n = rp::http::json_plain_prefix(is.src_, left);
    os_->append_unsafe(is.src_, n);  // WriteString reserved 2 + 6 * length
    is.src_ += n;
    return n < left;
}
}  // namespace rapidjson

namespace rp::http {

class JsonWriter {
  public:
    using Compact = rapidjson::Writer<Buffer>;
    using Pretty = rapidjson::PrettyWriter<Buffer>;

    explicit JsonWriter(Buffer& out, bool pretty = false)
        : out_(&out), pretty_(pretty), compact_(out), pretty_w_(out) {
        pretty_w_.SetIndent(' ', 2);
    }
    // Starts a new document into `out` (the writers keep their stack memory: no allocation).
    void reset(Buffer& out, bool pretty) {
        out_ = &out;
        pretty_ = pretty;
        compact_.Reset(out);
        pretty_w_.Reset(out);
    }
    Buffer& buffer() { return *out_; }

    void start_object() {
        call([](auto& w) { w.StartObject(); });
    }
    void end_object() {
        call([](auto& w) { w.EndObject(); });
    }
    void start_array() {
        call([](auto& w) { w.StartArray(); });
    }
    void end_array() {
        call([](auto& w) { w.EndArray(); });
    }
    void key(std::string_view k) {
        if (!pretty_ && json_plain_ascii(k.data(), k.size())) return plain_string(k);
        call([k](auto& w) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); });
    }
    // Invalid UTF-8 (a comm or cgroup name can hold any bytes) is written with each bad byte
    // replaced by U+FFFD, as Go's encoder does.
    void string(std::string_view s);
    void int64(int64_t v) {
        call([v](auto& w) { w.Int64(v); });
    }
    void uint64(uint64_t v) {
        call([v](auto& w) { w.Uint64(v); });
    }
    // NaN and infinities have no JSON form: written as null.
    void number(double v) {
        if (v != v || v - v != 0) {
            null();
            return;
        }
        call([v](auto& w) { w.Double(v); });
    }
    void boolean(bool v) {
        call([v](auto& w) { w.Bool(v); });
    }
    void null() {
        call([](auto& w) { w.Null(); });
    }

    // key + value shorthands.
    void kv(std::string_view k, std::string_view v) {
        key(k);
        string(v);
    }
    void kv(std::string_view k, const char* v) {
        key(k);
        string(v);
    }
    void kv_int(std::string_view k, int64_t v) {
        key(k);
        int64(v);
    }
    void kv_uint(std::string_view k, uint64_t v) {
        key(k);
        uint64(v);
    }
    void kv_bool(std::string_view k, bool v) {
        key(k);
        boolean(v);
    }
    void kv_number(std::string_view k, double v) {
        key(k);
        number(v);
    }

    // One complete value given as compact JSON text, copied as is (a fragment rendered earlier).
    // Compact documents only: returns false and writes nothing in pretty mode.
    bool raw(std::string_view json) {
        if (pretty_) return false;
        compact_.RawValue("", 0, rapidjson::kObjectType);  // the separator, and RapidJSON's state
        out_->append(json);
        return true;
    }

    bool complete() const { return pretty_ ? pretty_w_.IsComplete() : compact_.IsComplete(); }
    bool pretty() const { return pretty_; }

  private:
    // A string that needs neither escaping nor UTF-8 checks (most keys and values): RapidJSON
    // writes the separator (RawValue of nothing, typed as a string, keeps its state right) and
    // the bytes are copied in one go — ~70 instructions a string less than Writer::String's
    // escaping loop (docs/BENCHMARKS.md, instructions per request).
    void plain_string(std::string_view s) {
        compact_.RawValue("", 0, rapidjson::kStringType);
        out_->reserve(out_->size() + s.size() + 2);
        out_->put_unsafe('"');
        out_->append_unsafe(s.data(), s.size());
        out_->put_unsafe('"');
    }
    template <typename F>
    void call(F&& f) {
        if (pretty_)
            f(pretty_w_);
        else
            f(compact_);
    }
    Buffer* out_;
    bool pretty_;
    Compact compact_;
    Pretty pretty_w_;
};

}  // namespace rp::http

namespace rp::http {

// JsonWriters lent to one response at a time (the server's; the loop is single-threaded, but a
// response completed from inside another one's handler — a deferred answer, say — needs a writer
// of its own). Grows only when more responses are written at once than ever before.
class JsonWriterPool {
  public:
    JsonWriterPool() = default;
    JsonWriterPool(const JsonWriterPool&) = delete;
    JsonWriterPool& operator=(const JsonWriterPool&) = delete;

    JsonWriter* acquire() {
        if (free_.empty()) {
            all_.push_back(std::make_unique<JsonWriter>(placeholder_));
            return all_.back().get();
        }
        JsonWriter* w = free_.back();
        free_.pop_back();
        return w;
    }
    void release(JsonWriter* w) { free_.push_back(w); }
    size_t size() const { return all_.size(); }

  private:
    Buffer placeholder_;  // what an idle writer points at
    std::vector<std::unique_ptr<JsonWriter>> all_;
    std::vector<JsonWriter*> free_;
};

}  // namespace rp::http
