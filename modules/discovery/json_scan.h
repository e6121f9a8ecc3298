// json_scan.h — a small validating JSON scanner over a string_view, for the two documents
// discovery reads: the request body ({"new_pids": [...], "heartbeat_pids": [...]}) and a
// package.json's "name". It keeps nothing: values are skipped (checked) or decoded into the
// caller's buffer, so neither needs a DOM, a copy or an allocation. Each function consumes what it
// read from the front of `s` and returns false on invalid JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rp::modules::discovery::json {

void skip_ws(std::string_view& s);
// A string: decoded (escapes, \u surrogate pairs; lone surrogates become U+FFFD) into out, at most
// cap bytes stored; *len gets the full decoded length. out may be null (just validated).
bool string(std::string_view& s, char* out, size_t* len, size_t cap);
// Any one value, nested at most 64 deep.
bool skip(std::string_view& s, int depth = 0);
// An integer as encoding/json reads one into an int type: [-]digits, no fraction or exponent;
// false for another value, or one beyond int64.
bool integer(std::string_view& s, int64_t* v);
// null (consumed when there).
bool null(std::string_view& s);

}  // namespace rp::modules::discovery::json
