// duration.cpp — see duration.h.
#include "conf/duration.h"

namespace rp::conf {

std::optional<uint64_t> parse_go_duration_ns(std::string_view s) {
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    if (s.empty()) return std::nullopt;
    if (s == "0") return 0;
    bool unitless = s.find_first_of("nsuµμmh") == std::string_view::npos;
    long double total = 0;
    size_t i = 0;
    while (i < s.size()) {
        // a number: digits, optionally a fraction
        size_t start = i;
        long double v = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
        if (i < s.size() && s[i] == '.') {
            ++i;
            long double scale = 0.1L;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                v += (s[i++] - '0') * scale;
                scale /= 10;
            }
        }
        if (i == start || (i == start + 1 && s[start] == '.')) return std::nullopt;
        long double unit = 0;
        if (unitless) {
            if (i != s.size()) return std::nullopt;
            unit = 1;
        } else {
            std::string_view rest = s.substr(i);
            struct U {
                std::string_view name;
                long double ns;
            };
            static constexpr U kUnits[] = {{"ns", 1},   {"us", 1e3}, {"µs", 1e3}, {"μs", 1e3},
                                           {"ms", 1e6}, {"s", 1e9},  {"m", 60e9}, {"h", 3600e9}};
            size_t best = 0;
            for (const U& u : kUnits) {
                if (rest.starts_with(u.name) && u.name.size() > best) {
                    best = u.name.size();
                    unit = u.ns;
                }
            }
            if (best == 0) return std::nullopt;
            i += best;
        }
        total += v * unit;
        if (total > 9.2e18L) return std::nullopt;
    }
    return static_cast<uint64_t>(total);
}

}  // namespace rp::conf
