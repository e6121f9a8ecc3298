// tracer_metadata.cpp — see tracer_metadata.h. A MessagePack reader for exactly what the tracer
// writes: a map of string keys to strings, unsigned integers, booleans, nil and arrays of strings;
// any other value is skipped whole, so an unknown field from a newer tracer is harmless.
#include "modules/discovery/tracer_metadata.h"

namespace rp::modules::discovery {

namespace {

class Reader {
  public:
    explicit Reader(std::string_view d) : d_(d) {}
    bool ok() const { return ok_; }
    bool done() const { return pos_ >= d_.size(); }
    uint8_t peek() const { return pos_ < d_.size() ? static_cast<uint8_t>(d_[pos_]) : 0xc1; }

    uint64_t be(size_t n) {
        if (pos_ + n > d_.size()) {
            ok_ = false;
            return 0;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v = v << 8 | static_cast<uint8_t>(d_[pos_ + i]);
        pos_ += n;
        return v;
    }
    uint8_t byte() { return static_cast<uint8_t>(be(1)); }

    // A map header: its entry count.
    bool map(uint64_t* n) {
        uint8_t b = peek();
        if ((b & 0xf0) == 0x80) return ++pos_, *n = b & 0x0f, true;
        if (b == 0xde) return ++pos_, *n = be(2), ok_;
        if (b == 0xdf) return ++pos_, *n = be(4), ok_;
        return false;
    }
    bool array(uint64_t* n) {
        uint8_t b = peek();
        if ((b & 0xf0) == 0x90) return ++pos_, *n = b & 0x0f, true;
        if (b == 0xdc) return ++pos_, *n = be(2), ok_;
        if (b == 0xdd) return ++pos_, *n = be(4), ok_;
        return false;
    }
    bool str(std::string_view* s) {
        uint8_t b = peek();
        uint64_t n;
        if ((b & 0xe0) == 0xa0) {
            ++pos_;
            n = b & 0x1f;
        } else if (b == 0xd9 || b == 0xda || b == 0xdb) {
            ++pos_;
            n = be(b == 0xd9 ? 1 : b == 0xda ? 2 : 4);
        } else {
            return false;
        }
        if (!ok_ || pos_ + n > d_.size()) return ok_ = false;
        *s = d_.substr(pos_, n);
        pos_ += n;
        return true;
    }
    bool uint(uint64_t* v) {
        uint8_t b = peek();
        if (b <= 0x7f) return ++pos_, *v = b, true;
        if (b >= 0xcc && b <= 0xcf) return ++pos_, *v = be(size_t{1} << (b - 0xcc)), ok_;
        return false;
    }
    bool boolean(bool* v) {
        uint8_t b = peek();
        if (b == 0xc2 || b == 0xc3) return ++pos_, *v = b == 0xc3, true;
        return false;
    }
    bool nil() {
        if (peek() != 0xc0) return false;
        ++pos_;
        return true;
    }
    // Skips any one value (depth-bounded).
    bool skip(int depth = 0) {
        if (depth > 32 || done()) return ok_ = false;
        uint8_t b = byte();
        auto bytes = [&](uint64_t n) {
            if (pos_ + n > d_.size()) return ok_ = false;
            pos_ += n;
            return true;
        };
        auto items = [&](uint64_t n) {
            for (uint64_t i = 0; i < n && ok_; ++i) skip(depth + 1);
            return ok_;
        };
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return true;
        if ((b & 0xf0) == 0x80) return items(2 * (b & 0x0f));
        if ((b & 0xf0) == 0x90) return items(b & 0x0f);
        if ((b & 0xe0) == 0xa0) return bytes(b & 0x1f);
        switch (b) {
            case 0xc4:
            case 0xd9:
                return bytes(be(1));
            case 0xc5:
            case 0xda:
                return bytes(be(2));
            case 0xc6:
            case 0xdb:
                return bytes(be(4));
            case 0xc7:
                return bytes(be(1) + 1);
            case 0xc8:
                return bytes(be(2) + 1);
            case 0xc9:
                return bytes(be(4) + 1);
            case 0xca:
                return bytes(4);
            case 0xcb:
                return bytes(8);
            case 0xcc:
            case 0xd0:
                return bytes(1);
            case 0xcd:
            case 0xd1:
                return bytes(2);
            case 0xce:
            case 0xd2:
                return bytes(4);
            case 0xcf:
            case 0xd3:
                return bytes(8);
            case 0xd4:
                return bytes(2);
            case 0xd5:
                return bytes(3);
            case 0xd6:
                return bytes(5);
            case 0xd7:
                return bytes(9);
            case 0xd8:
                return bytes(17);
            case 0xdc:
                return items(be(2));
            case 0xdd:
                return items(be(4));
            case 0xde:
                return items(2 * be(2));
            case 0xdf:
                return items(2 * be(4));
        }
        return ok_ = false;
    }

  private:
    std::string_view d_;
    size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace

bool TracerMetadata::parse(std::string_view data) {
    *this = TracerMetadata();
    Reader r(data);
    uint64_t n = 0;
    if (!r.map(&n)) return false;
    bool have_language = false;
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
        std::string_view key;
        if (!r.str(&key)) return false;
        std::string_view* s = nullptr;
        if (key == "runtime_id")
            s = &runtime_id;
        else if (key == "tracer_language")
            s = &tracer_language;
        else if (key == "tracer_version")
            s = &tracer_version;
        else if (key == "hostname")
            s = &hostname;
        else if (key == "service_name")
            s = &service_name;
        else if (key == "service_env")
            s = &service_env;
        else if (key == "service_version")
            s = &service_version;
        else if (key == "process_tags")
            s = &process_tags;
        else if (key == "container_id")
            s = &container_id;
        if (s != nullptr) {
            if (r.nil()) continue;  // an absent Option<String>
            if (!r.str(s)) return false;
            if (s == &tracer_language) have_language = true;
            continue;
        }
        if (key == "schema_version") {
            uint64_t v = 0;
            if (!r.uint(&v) || v > 255) return false;
            schema_version = static_cast<uint8_t>(v);
        } else if (key == "logs_collected") {
            if (!r.nil() && !r.boolean(&logs_collected)) return false;
        } else if (key == "threadlocal_attribute_keys") {
            uint64_t count = 0;
            if (r.nil()) continue;
            if (!r.array(&count)) return false;
            for (uint64_t k = 0; k < count; ++k) {
                std::string_view v;
                if (!r.str(&v)) return false;
                if (attribute_keys < kMaxAttributeKeys)
                    threadlocal_attribute_keys[attribute_keys++] = v;
            }
        } else if (!r.skip()) {
            return false;
        }
    }
    return r.ok() && have_language;
}

void TracerMetadata::write_json(http::JsonWriter& w) const {
    w.start_object();
    w.kv_uint("schema_version", schema_version);
    if (!runtime_id.empty()) w.kv("runtime_id", runtime_id);
    w.kv("tracer_language", tracer_language);
    w.kv("tracer_version", tracer_version);
    w.kv("hostname", hostname);
    if (!service_name.empty()) w.kv("service_name", service_name);
    if (!service_env.empty()) w.kv("service_env", service_env);
    if (!service_version.empty()) w.kv("service_version", service_version);
    if (!process_tags.empty()) w.kv("process_tags", process_tags);
    if (!container_id.empty()) w.kv("container_id", container_id);
    if (logs_collected) w.kv_bool("logs_collected", true);
    if (attribute_keys > 0) {
        w.key("threadlocal_attribute_keys");
        w.start_array();
        for (size_t i = 0; i < attribute_keys; ++i) w.string(threadlocal_attribute_keys[i]);
        w.end_array();
    }
    w.end_object();
}

}  // namespace rp::modules::discovery
