// tracer_metadata.h — what a Datadog tracer publishes about itself in a memfd named
// datadog-tracer-info-*: a MessagePack map (libdatadog's TracerMetadata; the Agent's
// pkg/discovery/tracermetadata/model). Decoded without allocation: the strings are views into the
// caller's buffer holding the memfd's content (at most kMaxBytes, as upstream).
#pragma once

#include <cstdint>
#include <string_view>

#include "http/json_writer.h"

namespace rp::modules::discovery {

struct TracerMetadata {
    static constexpr size_t kMaxBytes = 64 * 1024;
    static constexpr size_t kMaxAttributeKeys = 64;

    uint8_t schema_version = 0;
    std::string_view runtime_id, tracer_language, tracer_version, hostname, service_name,
        service_env, service_version, process_tags, container_id;
    bool logs_collected = false;
    std::string_view threadlocal_attribute_keys[kMaxAttributeKeys];
    size_t attribute_keys = 0;

    // False when `data` is not a MessagePack map holding a string tracer_language.
    bool parse(std::string_view data);
    // One element of the service's "tracer_metadata" array, with the Agent's JSON tags
    // (omitempty where the Agent's struct has it).
    void write_json(http::JsonWriter& w) const;
};

}  // namespace rp::modules::discovery
