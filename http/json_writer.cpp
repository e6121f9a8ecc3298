// json_writer.cpp — see json_writer.h.
#include "http/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

namespace rp::http {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if the byte there does not start one.
size_t utf8_seq_len(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    if (c < 0x80) return 1;
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

}  // namespace

void JsonWriter::go_float(double v, bool f32) {
    if (std::isnan(v) || std::isinf(v)) {
        null();
        return;
    }
    char buf[64];
    double a = std::fabs(v);
    bool exp_form = false;
    if (a != 0) {
        if (f32) {
            float af = static_cast<float>(a);
            exp_form = af < 1e-6f || af >= 1e21f;
        } else {
            exp_form = a < 1e-6 || a >= 1e21;
        }
    }
    // The shortest digits that read back, from the scientific form ("d.ddde±XX").
    constexpr auto sci = std::chars_format::scientific;
    std::to_chars_result r = f32 ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v), sci)
                                 : std::to_chars(buf, buf + sizeof buf, v, sci);
    size_t n = static_cast<size_t>(r.ptr - buf);
    if (exp_form) {
        // Go writes e-07 as e-7 (and keeps two digits for positive exponents: e+21).
        if (n >= 4 && buf[n - 4] == 'e' && buf[n - 3] == '-' && buf[n - 2] == '0') {
            buf[n - 2] = buf[n - 1];
            --n;
        }
        call([&](auto& w) { w.RawValue(buf, n, rapidjson::kNumberType); });
        return;
    }
    // 'f' with those digits (strconv's %f at precision -1): 1.2345e+20 is 123450000000000000000,
    // not the binary value's exact 123449999999999995904 that a fixed to_chars would print.
    std::string_view text(buf, n);
    const size_t e = text.find('e');
    const bool neg = text[0] == '-';
    char digits[32];
    size_t nd = 0;
    for (size_t i = neg ? 1 : 0; i < e && nd < sizeof digits; ++i)
        if (text[i] != '.') digits[nd++] = text[i];
    int exp10 = 0;
    std::from_chars(text.data() + e + 1 + (text[e + 1] == '+' ? 1 : 0), text.data() + n, exp10);
    char out[64];  // |v| < 1e21 and >= 1e-6: at most 1 + 22 + 1 + 6 + 17 characters
    size_t no = 0;
    if (neg) out[no++] = '-';
    if (exp10 >= 0) {
        const size_t int_len = static_cast<size_t>(exp10) + 1;
        for (size_t i = 0; i < int_len; ++i) out[no++] = i < nd ? digits[i] : '0';
        if (nd > int_len) {
            out[no++] = '.';
            for (size_t i = int_len; i < nd; ++i) out[no++] = digits[i];
        }
    } else {
        out[no++] = '0';
        out[no++] = '.';
        for (int i = 0; i < -exp10 - 1; ++i) out[no++] = '0';
        for (size_t i = 0; i < nd; ++i) out[no++] = digits[i];
    }
    call([&](auto& w) { w.RawValue(out, no, rapidjson::kNumberType); });
}

void JsonWriter::string(std::string_view s) {
    if (!pretty_ && json_plain_ascii(s.data(), s.size())) return plain_string(s);
    size_t i = 0;
    bool ascii = true;
    for (; i + 8 <= s.size(); i += 8) {  // eight bytes per step while all are ASCII
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        if ((w & 0x8080808080808080ull) != 0) break;
    }
    for (; i < s.size(); ++i) {
        if (static_cast<unsigned char>(s[i]) >= 0x80) {
            ascii = false;
            break;
        }
    }
    bool valid = ascii;
    if (!ascii) {
        valid = true;
        for (size_t k = i; k < s.size();) {
            size_t n = utf8_seq_len(s, k);
            if (n == 0) {
                valid = false;
                break;
            }
            k += n;
        }
    }
    if (valid) {
        call([s](auto& w) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); });
        return;
    }
    // Rare path: rebuild with replacement characters.
    std::string fixed;
    fixed.reserve(s.size() + 8);
    for (size_t k = 0; k < s.size();) {
        size_t n = utf8_seq_len(s, k);
        if (n == 0) {
            fixed += "\xEF\xBF\xBD";
            ++k;
        } else {
            fixed.append(s.substr(k, n));
            k += n;
        }
    }
    call([&fixed](auto& w) {
        w.String(fixed.data(), static_cast<rapidjson::SizeType>(fixed.size()));
    });
}

}  // namespace rp::http
