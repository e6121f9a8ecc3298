// db_config.h — system-probe's pkg/compliance/dbconfig: finds the configuration of a PostgreSQL,
// MongoDB or Cassandra server process and turns it into the Agent's dbconfig.DBResource JSON.
//
// Detection, file locations, parsing and the JSON shape follow the upstream loader (the rules and
// where ringprobe deliberately differs are in docs/modules/compliance.md):
//   postgres  process name "postgres"; config from -D <dir>/postgresql.conf, --config-file[=],
//             else the first of five well-known globs; GUC lexer, include / include_if_exists /
//             include_dir followed to depth 10, whitelisted keys only, booleans as on/off, then
//             whitelisted --key=value flags of the command line; no file: config_data from the
//             command line alone
//   mongod    process name "mongod"; --config <path> (else /etc/mongod.conf); YAML into the
//             upstream whitelist struct; process_flags from the command line, secrets redacted
//   cassandra process name "java" whose last argument is
//             org.apache.cassandra.service.CassandraDaemon; /etc/cassandra/cassandra.y?ml (first
//             that parses) and /etc/cassandra/logback.xml (appenders, loggers, root)
// Every file is read under the process's root (proc_root.h) with upstream's checks and 1 MiB cap.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/json_writer.h"
#include "modules/compliance/proc_root.h"
#include "modules/compliance/yaml_struct.h"

namespace rp::modules::compliance {

// Go's encoding/xml view of logback.xml (cassandraLogback; JSON keys are its Go field names).
struct Logback {
    std::string space, local;  // XMLName
    struct Appender {
        std::string name, cls;
    };
    struct Logger {
        std::string name, level, additivity;
        std::vector<std::string> refs;
    };
    std::vector<Appender> appenders;
    std::vector<Logger> loggers;
    std::string root_level;
    std::vector<std::string> root_refs;
};
// Parses logback.xml as encoding/xml.Unmarshal into cassandraLogback would; nullopt on error.
std::optional<Logback> parse_logback(std::string_view xml);

// The postgres GUC parse of one line's tokens (exposed for tests): the tokens system-probe's
// lexer returns, in order, until it stops.
std::vector<std::string> pg_tokens(std::string_view line);

struct DbResource {
    enum class Type { postgresql, mongodb, cassandra } type{};
    std::string container_id;
    std::string process_name, process_user;
    std::map<std::string, std::string> process_flags;  // mongod only
    std::string config_file_path, config_file_user, config_file_group;
    uint32_t config_file_mode = 0;  // Go's os.FileMode bits
    // config_data, by type:
    std::map<std::string, std::string> pg;  // postgresql
    bool data_null = false;                 // cassandra's half-decoded quirk: "config_data": null
    YamlValue yaml;                         // mongodb / cassandra
    std::string logback_file_path;          // cassandra
    std::optional<Logback> logback;         // cassandra
};

// Counters of a loader run (summed into the module's stats).
struct LoadStats {
    size_t files_read = 0;
    size_t truncated = 0;
    bool budget_exceeded = false;
};

// The resource of process `pid`, or nullopt ("resource not found").
std::optional<DbResource> load_db_resource(int pid, LoadStats& stats);

// The config_data whitelists (for tests and the fuzz target).
std::span<const YamlField> mongodb_fields();
std::span<const YamlField> cassandra_fields();
// A Logback as its JSON object (cassandraLogback's Go field names).
void write_logback_json(http::JsonWriter& w, const Logback& lb);

// The DBResource JSON object.
void write_db_resource(http::JsonWriter& w, const DbResource& r);

std::string_view resource_type_name(DbResource::Type t);

}  // namespace rp::modules::compliance
