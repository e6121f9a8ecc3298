// config.h — how a module reads its keys: the value, or `fallback` when this build's schema has no
// such key (conf::Config's getters throw std::logic_error for a key outside the schema; a module's
// create also runs inside a POST /module-restart handler, which no exception may leave).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace rp::modules::kit {

int64_t config_int(const conf::Config& cfg, std::string_view key, int64_t fallback);
bool config_bool(const conf::Config& cfg, std::string_view key, bool fallback);
std::string config_string(const conf::Config& cfg, std::string_view key, std::string_view fallback);

}  // namespace rp::modules::kit
