// duration.h — Go duration strings ("1s", "500ms", "1m30s", "2.5h"), as system-probe's YAML
// config gives durations (viper's GetDuration: time.ParseDuration; a number without a unit is
// nanoseconds, as spf13/cast reads it).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rp::conf {

// Nanoseconds, or nullopt for a string that is not a non-negative Go duration (or overflows).
std::optional<uint64_t> parse_go_duration_ns(std::string_view s);

}  // namespace rp::conf
