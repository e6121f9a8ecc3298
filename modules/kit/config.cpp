// config.cpp — see config.h.
#include "modules/kit/config.h"

#include <stdexcept>

namespace rp::modules::kit {

int64_t config_int(const conf::Config& cfg, std::string_view key, int64_t fallback) {
    try {
        return cfg.get_int(key);
    } catch (const std::logic_error&) {
        return fallback;
    }
}

bool config_bool(const conf::Config& cfg, std::string_view key, bool fallback) {
    try {
        return cfg.get_bool(key);
    } catch (const std::logic_error&) {
        return fallback;
    }
}

std::string config_string(const conf::Config& cfg, std::string_view key,
                          std::string_view fallback) {
    try {
        return cfg.get_string(key);
    } catch (const std::logic_error&) {
        return std::string(fallback);
    }
}

}  // namespace rp::modules::kit
