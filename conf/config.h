// config.h — ringprobe's configuration: TOML with system-probe's key tree, DD_* environment
// overrides (environment wins), defaults for every key, typed and validated.
//
// The set of known keys is one schema table (conf/schema.cpp). Loading checks every key of the file
// against it: a wrong type or out-of-range value is an error naming file, line, key and the
// expected type; an unknown key is a warning naming it. Environment values are parsed with the
// key's type and errors name the variable. docs/CONFIG.md documents every key.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rp::conf {

// string_list: a TOML array of strings; from the environment, the variable's value split at
// whitespace (as system-probe's viper reads a []string key from DD_*).
enum class Type { boolean, integer, string, number, string_list };
// "boolean", "integer", "string", "number", "array of strings"
std::string_view type_name(Type t);

using StringList = std::vector<std::string>;
using Value = std::variant<bool, int64_t, std::string, double, StringList>;

enum class Source { default_value, file, environment };

struct KeySpec {
    std::string_view path;  // "system_probe_config.debug_port"
    Type type;
    Value default_value;
    int64_t min = INT64_MIN;  // integers only: outside min..max is an error
    int64_t max = INT64_MAX;
    std::string_view help;
    int64_t soft_max = INT64_MAX;  // integers only: above it the value is clamped, with a warning
    // Extra validation after type and range checks: returns what is wrong ("" when the value is
    // valid), phrased to follow the quoted value ("must be an absolute path").
    std::string_view (*check)(const Value& value) = nullptr;
};

// The schema: every key ringprobe knows.
std::span<const KeySpec> schema();

// Environment as name → value (Environment::from_process() reads environ). Tests pass their own.
using Environment = std::map<std::string, std::string, std::less<>>;
Environment environment_from_process();

// Name of the environment variable for a key: DD_ + upper(path with '.' → '_'), or its alias.
std::vector<std::string> env_names(std::string_view path);

struct LoadOptions {
    std::string path;              // config file; empty = none (built-in defaults)
    bool file_must_exist = false;  // true when the user passed --config explicitly
};

class Config {
  public:
    // Defaults only.
    Config();
    // Loads and validates. Warnings (unknown keys) are appended to `warnings`.
    static std::expected<Config, std::string> load(const LoadOptions& opts, const Environment& env,
                                                   std::vector<std::string>* warnings);
    // Parses TOML text (for tests and the fuzzer). `origin` names the text in messages.
    static std::expected<Config, std::string> parse(std::string_view toml, std::string_view origin,
                                                    const Environment& env,
                                                    std::vector<std::string>* warnings);

    // Typed getters. The path must be in the schema with that type (else std::logic_error).
    bool get_bool(std::string_view path) const;
    int64_t get_int(std::string_view path) const;
    const std::string& get_string(std::string_view path) const;
    double get_number(std::string_view path) const;
    const StringList& get_string_list(std::string_view path) const;
    Source source(std::string_view path) const;

    // The effective config as TOML, each key annotated with where it came from.
    std::string dump() const;
    const std::string& file_path() const { return file_; }

  private:
    struct Entry {
        const KeySpec* spec;
        Value value;
        Source source;
        std::string env_name;  // the variable that set it, when source == environment
    };
    friend class ConfigLoader;
    const Entry& entry(std::string_view path, Type t) const;
    std::vector<Entry> entries_;  // parallel to schema()
    std::string file_;
};

}  // namespace rp::conf
