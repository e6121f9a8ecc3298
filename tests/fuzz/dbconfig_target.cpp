// dbconfig_target.cpp — the `dbconfig` fuzz target: the parsers the compliance module runs on
// configuration files a (possibly hostile) container controls. Input: byte 0 picks the parser
// (mod 3), the rest is the file:
//   0  postgresql.conf lines through the GUC lexer
//   1  mongod.conf through libyaml and the yaml.v3 typing rules into the mongoDBConfig whitelist
//   2  logback.xml through expat (and cassandra.yaml's whitelist on the same bytes)
// Checks: no crash, no sanitizer report; every JSON written parses; the lexer never returns an
// empty identifier and stops within the line.
#include <simdjson.h>

#include <string>
#include <string_view>

#include "http/json_writer.h"
#include "modules/compliance/db_config.h"
#include "modules/compliance/yaml_struct.h"
#include "tests/fuzz/harness.h"

namespace rp::fuzz {
namespace {

constexpr const char* kTarget = "dbconfig";

void expect_json(const http::Buffer& b, const char* what) {
    simdjson::dom::parser p;
    auto doc = p.parse(b.data(), b.size());
    if (doc.error() != simdjson::SUCCESS)
        fail(kTarget, "%s: the JSON written does not parse (%s): %.*s", what,
             simdjson::error_message(doc.error()), static_cast<int>(b.size()), b.data());
}

}  // namespace

void dbconfig_one(const uint8_t* data, size_t size) {
    if (size == 0) return;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    namespace cp = modules::compliance;
    switch (data[0] % 3) {
        case 0: {
            std::string_view rest = text;
            while (!rest.empty()) {
                size_t nl = rest.find('\n');
                std::string_view line = rest.substr(0, nl);
                rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
                for (const std::string& t : cp::pg_tokens(line))
                    if (t.size() > line.size()) fail(kTarget, "a token longer than its line");
            }
            break;
        }
        case 1: {
            auto r = cp::decode_yaml(text, cp::mongodb_fields());
            if (r.ok) {
                http::Buffer b;
                http::JsonWriter w(b);
                cp::write_yaml_object(w, cp::mongodb_fields(), r.value);
                expect_json(b, "mongoDBConfig");
            } else if (r.error.empty()) {
                fail(kTarget, "a YAML failure without a message");
            }
            break;
        }
        default: {
            if (auto lb = cp::parse_logback(text)) {
                http::Buffer b;
                http::JsonWriter w(b);
                cp::write_logback_json(w, *lb);
                expect_json(b, "cassandraLogback");
            }
            auto r = cp::decode_yaml(text, cp::cassandra_fields());
            if (r.ok) {
                http::Buffer b;
                http::JsonWriter w(b);
                cp::write_yaml_object(w, cp::cassandra_fields(), r.value);
                expect_json(b, "cassandraDBConfig");
            }
            break;
        }
    }
}

}  // namespace rp::fuzz
