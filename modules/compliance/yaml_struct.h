// yaml_struct.h — decodes a YAML document into a fixed whitelist of fields, the way Go's
// gopkg.in/yaml.v3 Unmarshal fills a Go struct, and writes the result as encoding/json would.
//
// The document is parsed by libyaml (the C library go-yaml was ported from); what is decoded and
// how follows yaml.v3's decoder:
//   - only the first document; an empty document or a null root leaves every field unset;
//   - keys are matched exactly; unknown keys are skipped; a known key given twice is an error;
//     a merge key ("<<") merges the mapping(s) it names, explicit keys winning;
//   - plain scalars are resolved as yaml.v3 does (null: "", ~, null/Null/NULL; bool:
//     true/True/TRUE/false/False/FALSE; ints in Go's base-0 syntax with '_' removed; floats);
//     quoted and block scalars are strings;
//   - int fields take ints (and floats, truncated), bool fields take bools and the YAML 1.1
//     words y/yes/on/n/no/off (all spellings yaml.v3 lists), float fields take ints and floats,
//     string fields take any scalar's text; a null leaves a pointer field unset and a value field
//     zero; a string-list field takes a sequence of scalars (null items dropped);
//   - anything else (a mapping where a scalar is expected, "abc" for an int, ...) is an error:
//     Unmarshal fails as a whole, as yaml.v3 reports its TypeError.
// Output: fields in declaration order; `ptr` fields (Go pointers with omitempty) only when set,
// value fields always (zero when unset).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/json_writer.h"

namespace rp::modules::compliance {

struct YamlField {
    enum class Kind : uint8_t { integer, boolean, string, number, string_list, object };
    std::string_view key;  // the yaml (and json) name
    Kind kind;
    bool ptr;                           // pointer with omitempty (absent when unset)
    std::span<const YamlField> fields;  // Kind::object
};

// A decoded struct: one slot per schema field.
struct YamlValue {
    bool set = false;
    int64_t i = 0;
    bool b = false;
    double d = 0;
    std::string s;
    std::vector<std::string> list;
    std::vector<YamlValue> fields;  // Kind::object: same order as the schema
};

struct YamlResult {
    bool ok = false;
    // The document had a non-null root: yaml.v3 then has already allocated the target when it
    // reports a type error (system-probe's Cassandra loader keeps that half-filled pointer).
    bool root_present = false;
    std::string error;
    YamlValue value;  // of the root object
};

// Decodes `text` into the object described by `fields`.
YamlResult decode_yaml(std::string_view text, std::span<const YamlField> fields);

// Writes `v` (decoded with `fields`) as a JSON object.
void write_yaml_object(http::JsonWriter& w, std::span<const YamlField> fields, const YamlValue& v);

}  // namespace rp::modules::compliance
