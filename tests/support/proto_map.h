// proto_map.h — decoding one entry of a protobuf map<string, int64> (key = field 1, value =
// field 2), e.g. Connections.connTelemetryMap, for the tests that read /network_tracer payloads.
#pragma once

#include <cstdint>
#include <protozero/pbf_reader.hpp>
#include <string>
#include <utility>

#include "modules/proto/messages.h"

namespace rp::test {

inline std::pair<std::string, int64_t> string_int64_entry(protozero::data_view entry) {
    protozero::pbf_reader e(entry.data(), entry.size());
    std::pair<std::string, int64_t> kv{std::string(), 0};
    while (e.next()) {
        if (e.tag() == rp::proto::MapEntry::key)
            kv.first = std::string(e.get_view());
        else if (e.tag() == rp::proto::MapEntry::value)
            kv.second = e.get_int64();
        else
            e.skip();
    }
    return kv;
}

}  // namespace rp::test
