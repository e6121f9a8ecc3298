// json_scan.cpp — see json_scan.h.
#include "modules/discovery/json_scan.h"

#include <cctype>
#include <charconv>

namespace rp::modules::discovery::json {

void skip_ws(std::string_view& s) {
    while (!s.empty() && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r'))
        s.remove_prefix(1);
}

// A JSON string at the start of s (consumed); its decoded value appended to *out when out is set.
bool string(std::string_view& s, char* out, size_t* out_len, size_t cap) {
    if (s.empty() || s[0] != '"') return false;
    s.remove_prefix(1);
    size_t n = 0;
    auto put = [&](char ch) {
        if (out != nullptr && n < cap) out[n] = ch;
        ++n;
    };
    while (!s.empty()) {
        char ch = s[0];
        s.remove_prefix(1);
        if (ch == '"') {
            if (out_len != nullptr) *out_len = n;  // the full length; at most cap were stored
            return true;
        }
        if (static_cast<unsigned char>(ch) < 0x20) return false;
        if (ch != '\\') {
            put(ch);
            continue;
        }
        if (s.empty()) return false;
        char e = s[0];
        s.remove_prefix(1);
        switch (e) {
            case '"':
                put('"');
                break;
            case '\\':
                put('\\');
                break;
            case '/':
                put('/');
                break;
            case 'b':
                put('\b');
                break;
            case 'f':
                put('\f');
                break;
            case 'n':
                put('\n');
                break;
            case 'r':
                put('\r');
                break;
            case 't':
                put('\t');
                break;
            case 'u': {
                auto hex4 = [&](uint32_t* v) {
                    if (s.size() < 4) return false;
                    *v = 0;
                    for (int k = 0; k < 4; ++k) {
                        char h = s[k];
                        *v <<= 4;
                        if (h >= '0' && h <= '9')
                            *v |= static_cast<uint32_t>(h - '0');
                        else if (h >= 'a' && h <= 'f')
                            *v |= static_cast<uint32_t>(h - 'a' + 10);
                        else if (h >= 'A' && h <= 'F')
                            *v |= static_cast<uint32_t>(h - 'A' + 10);
                        else
                            return false;
                    }
                    s.remove_prefix(4);
                    return true;
                };
                uint32_t cp = 0;
                if (!hex4(&cp)) return false;
                if (cp >= 0xd800 && cp < 0xdc00 && s.starts_with("\\u")) {
                    std::string_view save = s;
                    s.remove_prefix(2);
                    uint32_t lo = 0;
                    if (hex4(&lo) && lo >= 0xdc00 && lo < 0xe000)
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    else
                        s = save, cp = 0xfffd;
                } else if (cp >= 0xd800 && cp < 0xe000) {
                    cp = 0xfffd;
                }
                if (cp < 0x80) {
                    put(static_cast<char>(cp));
                } else if (cp < 0x800) {
                    put(static_cast<char>(0xc0 | (cp >> 6)));
                    put(static_cast<char>(0x80 | (cp & 0x3f)));
                } else if (cp < 0x10000) {
                    put(static_cast<char>(0xe0 | (cp >> 12)));
                    put(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
                    put(static_cast<char>(0x80 | (cp & 0x3f)));
                } else {
                    put(static_cast<char>(0xf0 | (cp >> 18)));
                    put(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
                    put(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
                    put(static_cast<char>(0x80 | (cp & 0x3f)));
                }
                break;
            }
            default:
                return false;
        }
    }
    return false;
}

// Skips one JSON value (validating it); depth-bounded.
bool skip(std::string_view& s, int depth) {
    skip_ws(s);
    if (s.empty() || depth > 64) return false;
    char ch = s[0];
    if (ch == '"') return string(s, nullptr, nullptr, 0);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        s.remove_prefix(1);
        skip_ws(s);
        if (!s.empty() && s[0] == close) {
            s.remove_prefix(1);
            return true;
        }
        for (;;) {
            if (ch == '{') {
                skip_ws(s);
                if (!string(s, nullptr, nullptr, 0)) return false;
                skip_ws(s);
                if (s.empty() || s[0] != ':') return false;
                s.remove_prefix(1);
            }
            if (!skip(s, depth + 1)) return false;
            skip_ws(s);
            if (s.empty()) return false;
            if (s[0] == ',') {
                s.remove_prefix(1);
                continue;
            }
            if (s[0] != close) return false;
            s.remove_prefix(1);
            return true;
        }
    }
    for (std::string_view lit : {"true", "false", "null"}) {
        if (s.starts_with(lit)) {
            s.remove_prefix(lit.size());
            return true;
        }
    }
    size_t n = 0;  // a number: [-] digits [. digits] [e [+-] digits]
    if (n < s.size() && s[n] == '-') ++n;
    size_t d = n;
    while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
    if (n == d) return false;
    if (n - d > 1 && s[d] == '0') return false;  // no leading zero
    if (n < s.size() && s[n] == '.') {
        size_t f = ++n;
        while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
        if (n == f) return false;
    }
    if (n < s.size() && (s[n] == 'e' || s[n] == 'E')) {
        ++n;
        if (n < s.size() && (s[n] == '+' || s[n] == '-')) ++n;
        size_t e = n;
        while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
        if (n == e) return false;
    }
    s.remove_prefix(n);
    return true;
}

bool integer(std::string_view& s, int64_t* v) {
    size_t n = 0;
    if (n < s.size() && s[n] == '-') ++n;
    size_t digits = n;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    if (n == digits) return false;
    if (n < s.size() && (s[n] == '.' || s[n] == 'e' || s[n] == 'E')) return false;  // not an int
    if (n - digits > 1 && s[digits] == '0') return false;  // JSON allows no leading zero
    auto [end, ec] = std::from_chars(s.data(), s.data() + n, *v);
    if (ec != std::errc() || end != s.data() + n) return false;
    s.remove_prefix(n);
    return true;
}

bool null(std::string_view& s) {
    if (!s.starts_with("null")) return false;
    s.remove_prefix(4);
    return true;
}

}  // namespace rp::modules::discovery::json
