// config_test.cpp — unit tests of conf/: schema, TOML file, DD_* environment, load() and dump().
#include "conf/config.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

#include "conf/duration.h"

using namespace std::string_literals;

using rp::conf::Config;
using rp::conf::Environment;
using rp::conf::LoadOptions;
using rp::conf::Source;
using rp::conf::Type;

namespace {

// Parses `toml` and requires success; returns the config.
Config parse_ok(std::string_view toml, const Environment& env = {},
                std::vector<std::string>* warnings = nullptr) {
    auto c = Config::parse(toml, "test.toml", env, warnings);
    INFO("error: " << (c ? std::string() : c.error()));
    REQUIRE(c.has_value());
    return std::move(*c);
}

// Parses `toml` and requires failure; returns the message.
std::string parse_error(std::string_view toml, const Environment& env = {}) {
    auto c = Config::parse(toml, "test.toml", env, nullptr);
    REQUIRE_FALSE(c.has_value());
    return c.error();
}

// A temporary directory removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/ringprobe-conf-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, std::string_view text) const {
        std::string p = (path / name).string();
        std::ofstream(p) << text;
        return p;
    }
};

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool same_value(const Config& a, const Config& b, const rp::conf::KeySpec& spec) {
    switch (spec.type) {
        case Type::boolean:
            return a.get_bool(spec.path) == b.get_bool(spec.path);
        case Type::integer:
            return a.get_int(spec.path) == b.get_int(spec.path);
        case Type::string:
            return a.get_string(spec.path) == b.get_string(spec.path);
        case Type::number:
            return a.get_number(spec.path) == b.get_number(spec.path);
        case Type::string_list:
            return a.get_string_list(spec.path) == b.get_string_list(spec.path);
    }
    return false;
}

}  // namespace

// --- schema -----------------------------------------------------------------------------------

// Suite "pure": needs neither io_uring nor a daemon, so it also runs under qemu-user (the arm64
// cross build's tests, tools/test arm64; docs/EDGE.md).
TEST_SUITE_BEGIN("pure");

TEST_CASE("conf: every key has a default of its type, within its range, that passes its check") {
    for (const auto& spec : rp::conf::schema()) {
        CAPTURE(spec.path);
        CHECK_FALSE(spec.help.empty());
        switch (spec.type) {
            case Type::boolean:
                CHECK(std::holds_alternative<bool>(spec.default_value));
                break;
            case Type::string:
                CHECK(std::holds_alternative<std::string>(spec.default_value));
                break;
            case Type::number:
                CHECK(std::holds_alternative<double>(spec.default_value));
                break;
            case Type::string_list:
                CHECK(std::holds_alternative<rp::conf::StringList>(spec.default_value));
                break;
            case Type::integer: {
                REQUIRE(std::holds_alternative<int64_t>(spec.default_value));
                int64_t v = std::get<int64_t>(spec.default_value);
                CHECK(v >= spec.min);
                CHECK(v <= spec.max);
                CHECK(v <= spec.soft_max);
                break;
            }
        }
        if (spec.check != nullptr) CHECK(spec.check(spec.default_value).empty());
    }
}

TEST_CASE("conf: key paths are unique and no key is also a table") {
    auto keys = rp::conf::schema();
    for (const auto& a : keys) {
        for (const auto& b : keys) {
            if (&a == &b) continue;
            CAPTURE(a.path);
            CAPTURE(b.path);
            CHECK(a.path != b.path);
            CHECK_FALSE((b.path.starts_with(a.path) && b.path.size() > a.path.size() &&
                         b.path[a.path.size()] == '.'));
        }
    }
}

TEST_CASE("conf: environment variable names are DD_ + the upper-case path, aliases first") {
    CHECK(rp::conf::env_names("system_probe_config.enable_oom_kill") ==
          std::vector<std::string>{"DD_SYSTEM_PROBE_CONFIG_ENABLE_OOM_KILL"});
    CHECK(rp::conf::env_names("log_level") ==
          std::vector<std::string>{"DD_LOG_LEVEL", "LOG_LEVEL"});
    CHECK(rp::conf::env_names("system_probe_config.sysprobe_socket") ==
          std::vector<std::string>{"DD_SYSPROBE_SOCKET", "DD_SYSTEM_PROBE_CONFIG_SYSPROBE_SOCKET"});
    CHECK(rp::conf::env_names("network_config.enabled") ==
          std::vector<std::string>{"DD_SYSTEM_PROBE_NETWORK_ENABLED", "DD_NETWORK_CONFIG_ENABLED"});

    // No variable sets two keys.
    std::map<std::string, std::string_view> owner;
    for (const auto& spec : rp::conf::schema()) {
        for (const auto& name : rp::conf::env_names(spec.path)) {
            CAPTURE(name);
            auto [it, inserted] = owner.emplace(name, spec.path);
            CHECK(inserted);
        }
    }
}

TEST_CASE("conf: docs/CONFIG.md documents every key and its variables") {
    std::string doc = read_text(RINGPROBE_SOURCE_DIR "/docs/CONFIG.md");
    REQUIRE_FALSE(doc.empty());
    for (const auto& spec : rp::conf::schema()) {
        CAPTURE(spec.path);
        CHECK(doc.find("`" + std::string(spec.path) + "`") != std::string::npos);
        for (const auto& name : rp::conf::env_names(spec.path)) {
            CAPTURE(name);
            CHECK(doc.find(name) != std::string::npos);
        }
    }
}

// --- defaults ---------------------------------------------------------------------------------

TEST_CASE("conf: defaults without file or environment") {
    Config c;
    CHECK(c.get_string("log_level") == "info");
    CHECK(c.get_bool("system_probe_config.enabled") == false);
    CHECK(c.get_string("system_probe_config.sysprobe_socket") == "/run/ringprobe/sysprobe.sock");
    CHECK(c.get_string("system_probe_config.sysprobe_socket_owner") == "");
    CHECK(c.get_string("system_probe_config.sysprobe_socket_group") == "");
    CHECK(c.get_int("system_probe_config.debug_port") == 3333);
    CHECK(c.get_string("system_probe_config.debug_host") == "127.0.0.1");
    CHECK(c.get_int("system_probe_config.max_conns_per_message") == 600);
    CHECK(c.get_bool("system_probe_config.enable_oom_kill") == false);
    CHECK(c.get_bool("system_probe_config.enable_tcp_queue_length") == false);
    CHECK(c.get_bool("system_probe_config.process_config.enabled") == false);
    CHECK(c.get_bool("network_config.enabled") == false);
    CHECK(c.get_bool("ebpf_check.enabled") == false);
    CHECK(c.get_bool("ebpf_check.kernel_bpf_stats") == false);
    CHECK(c.get_bool("seccomp_tracer.enabled") == false);
    CHECK(c.get_bool("seccomp_tracer.stack_traces_enabled") == false);
    for (auto key : {"noisy_neighbor.enabled", "ping.enabled", "traceroute.enabled",
                     "gpu_monitoring.enabled", "ringprobe.drop_capabilities"})
        CHECK(c.get_bool(key) == false);
    // On by default on Linux since datadog-agent PR #48491 (2026-03).
    CHECK(c.get_bool("discovery.enabled") == true);
    CHECK(c.get_string_list("discovery.ignored_command_names") ==
          rp::conf::StringList{"chronyd", "cilium-agent", "containerd", "dhclient", "dockerd",
                               "kubelet", "livenessprobe", "local-volume-pr", "sshd", "systemd"});
    CHECK(c.get_int("ringprobe.discovery.binary_cache_size") == 1000);
    CHECK(c.get_int("ringprobe.http.max_header_bytes") == 8192);
    CHECK(c.get_int("ringprobe.http.max_body_bytes") == 1048576);
    CHECK(c.get_int("ringprobe.http.max_connections") == 1024);
    CHECK(c.get_int("ringprobe.http.header_timeout_ms") == 10000);
    CHECK(c.get_int("ringprobe.http.idle_timeout_ms") == 60000);
    CHECK(c.get_int("ringprobe.http.write_timeout_ms") == 30000);
    CHECK(c.get_int("ringprobe.http.max_output_bytes") == 4194304);
    CHECK(c.get_int("ringprobe.oom_kill.max_events") == 10240);
    CHECK(c.get_int("ringprobe.tcp_queue_length.max_cgroups") == 10240);
    CHECK(c.get_int("ringprobe.seccomp_tracer.max_entries") == 10240);
    CHECK(c.get_string("ringprobe.seccomp_tracer.mode") == "auto");
    CHECK(c.get_int("ringprobe.shutdown_timeout_ms") == 5000);
    for (const auto& spec : rp::conf::schema()) CHECK(c.source(spec.path) == Source::default_value);
}

TEST_CASE("conf: an empty document gives the defaults and no warnings") {
    std::vector<std::string> warnings;
    Config c = parse_ok("", {}, &warnings);
    CHECK(warnings.empty());
    CHECK(c.get_int("system_probe_config.debug_port") == 3333);
    CHECK(c.source("system_probe_config.debug_port") == Source::default_value);
}

TEST_CASE("conf: file values replace defaults and are marked as from the file") {
    Config c = parse_ok(R"(
log_level = "DEBUG"
[system_probe_config]
debug_port = 0
enable_oom_kill = true
process_config.enabled = true
[ringprobe.http]
max_body_bytes = 0
)");
    CHECK(c.get_string("log_level") == "DEBUG");  // levels are case-insensitive, kept as written
    CHECK(c.get_int("system_probe_config.debug_port") == 0);
    CHECK(c.get_bool("system_probe_config.enable_oom_kill"));
    CHECK(c.get_bool("system_probe_config.process_config.enabled"));
    CHECK(c.get_int("ringprobe.http.max_body_bytes") == 0);
    CHECK(c.source("system_probe_config.debug_port") == Source::file);
    CHECK(c.source("system_probe_config.enable_tcp_queue_length") == Source::default_value);
}

TEST_CASE("conf: dotted keys, table headers and inline tables name the same keys") {
    for (std::string_view doc : {"system_probe_config.enable_oom_kill = true",
                                 "[system_probe_config]\nenable_oom_kill = true",
                                 "system_probe_config = { enable_oom_kill = true }"}) {
        CAPTURE(doc);
        CHECK(parse_ok(doc).get_bool("system_probe_config.enable_oom_kill"));
    }
}

// --- type, range and value errors -------------------------------------------------------------

TEST_CASE("conf: a string where an integer is expected names file, line, key and types") {
    CHECK(parse_error("\n[system_probe_config]\ndebug_port = \"abc\"\n") ==
          "test.toml:3: key system_probe_config.debug_port: expected integer, got string");
}

TEST_CASE("conf: an integer where a boolean is expected is an error") {
    CHECK(parse_error("[ebpf_check]\nenabled = 1\n") ==
          "test.toml:2: key ebpf_check.enabled: expected boolean, got integer");
}

TEST_CASE("conf: a boolean where a string is expected is an error") {
    CHECK(parse_error("log_level = true\n") ==
          "test.toml:1: key log_level: expected string, got boolean");
}

TEST_CASE("conf: a float where an integer is expected is an error") {
    CHECK(parse_error("system_probe_config.debug_port = 80.5\n") ==
          "test.toml:1: key system_probe_config.debug_port: expected integer, got float");
}

TEST_CASE("conf: an array or a date where a scalar is expected is an error") {
    CHECK(parse_error("log_level = [\"info\"]\n") ==
          "test.toml:1: key log_level: expected string, got array");
    CHECK(parse_error("log_level = 2024-01-01\n") ==
          "test.toml:1: key log_level: expected string, got date");
}

TEST_CASE("conf: a table where a scalar key is expected is a type error") {
    CHECK(parse_error("[ebpf_check.enabled]\nvalue = true\n") ==
          "test.toml:1: key ebpf_check.enabled: expected boolean, got table");
}

TEST_CASE("conf: a scalar where a table of the schema is expected is a type error") {
    CHECK(parse_error("\nsystem_probe_config = true\n") ==
          "test.toml:2: key system_probe_config: expected table, got boolean");
}

TEST_CASE("conf: a TOML integer is accepted where a number is expected") {
    const rp::conf::KeySpec* number = nullptr;
    for (const auto& spec : rp::conf::schema())
        if (spec.type == Type::number) number = &spec;
    if (number == nullptr) {
        MESSAGE("no number key in the schema yet");
        return;
    }
    std::string path(number->path);
    Config c = parse_ok(path + " = 2\n");
    CHECK(c.get_number(path) == 2.0);
    CHECK(parse_ok(path + " = 2.5\n").get_number(path) == 2.5);
}

TEST_CASE("conf: an integer outside its range is an error naming the range") {
    CHECK(parse_error("[system_probe_config]\ndebug_port = 70000\n") ==
          "test.toml:2: key system_probe_config.debug_port: 70000 is out of range 0..65535");
    CHECK(parse_error("system_probe_config.debug_port = -1\n") ==
          "test.toml:1: key system_probe_config.debug_port: -1 is out of range 0..65535");
    CHECK(parse_error("ringprobe.http.max_header_bytes = 1023\n") ==
          "test.toml:1: key ringprobe.http.max_header_bytes: 1023 is out of range 1024..1048576");
    CHECK(parse_error("system_probe_config.max_conns_per_message = 0\n") ==
          "test.toml:1: key system_probe_config.max_conns_per_message: 0 is out of range "
          "(minimum 1)");
}

TEST_CASE("conf: range bounds themselves are accepted") {
    Config c = parse_ok(
        "[ringprobe.http]\nmax_header_bytes = 1024\nmax_output_bytes = 1073741824\n"
        "[system_probe_config]\ndebug_port = 65535\n");
    CHECK(c.get_int("ringprobe.http.max_header_bytes") == 1024);
    CHECK(c.get_int("ringprobe.http.max_output_bytes") == 1073741824);
    CHECK(c.get_int("system_probe_config.debug_port") == 65535);
}

TEST_CASE("conf: max_conns_per_message above 1000 is clamped to 1000 with a warning") {
    std::vector<std::string> warnings;
    Config c = parse_ok("[system_probe_config]\nmax_conns_per_message = 5000\n", {}, &warnings);
    CHECK(c.get_int("system_probe_config.max_conns_per_message") == 1000);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] ==
          "test.toml:2: key system_probe_config.max_conns_per_message: 5000 is "
          "above 1000, clamped to 1000");

    warnings.clear();
    c = parse_ok("", {{"DD_SYSTEM_PROBE_CONFIG_MAX_CONNS_PER_MESSAGE", "1001"}}, &warnings);
    CHECK(c.get_int("system_probe_config.max_conns_per_message") == 1000);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] ==
          "environment DD_SYSTEM_PROBE_CONFIG_MAX_CONNS_PER_MESSAGE=\"1001\": is "
          "above 1000, clamped to 1000");
}

TEST_CASE("conf: log_level must be a level name, in any case") {
    for (auto level : {"trace", "debug", "info", "warn", "warning", "error", "critical", "off",
                       "WARN", "Info"}) {
        CAPTURE(level);
        CHECK(parse_ok(std::string("log_level = \"") + level + "\"").get_string("log_level") ==
              level);
    }
    CHECK(parse_error("log_level = \"loud\"") ==
          "test.toml:1: key log_level: \"loud\" is not a log level (trace, debug, info, warn, "
          "warning, error, critical, off)");
}

TEST_CASE(
    "conf: seccomp_tracer.mode is auto, entry_marks or signals, anything else names the key") {
    for (auto mode : {"auto", "entry_marks", "signals"}) {
        CAPTURE(mode);
        CHECK(parse_ok(std::string("ringprobe.seccomp_tracer.mode = \"") + mode + "\"")
                  .get_string("ringprobe.seccomp_tracer.mode") == mode);
    }
    CHECK(parse_error("[ringprobe.seccomp_tracer]\nmode = \"replay\"") ==
          "test.toml:2: key ringprobe.seccomp_tracer.mode: \"replay\" is not a seccomp_tracer "
          "mode (auto, entry_marks, signals)");
}

TEST_CASE("conf: shutdown_timeout_ms is a positive number of milliseconds") {
    CHECK(
        parse_ok("ringprobe.shutdown_timeout_ms = 200").get_int("ringprobe.shutdown_timeout_ms") ==
        200);
    CHECK(parse_error("ringprobe.shutdown_timeout_ms = 0") ==
          "test.toml:1: key ringprobe.shutdown_timeout_ms: 0 is out of range 1..3600000");
}

TEST_CASE("conf: sysprobe_socket must be an absolute path that fits sun_path") {
    CHECK(parse_error("system_probe_config.sysprobe_socket = \"run/x.sock\"") ==
          "test.toml:1: key system_probe_config.sysprobe_socket: \"run/x.sock\" must be an "
          "absolute path");
    CHECK(parse_error("system_probe_config.sysprobe_socket = \"\"") ==
          "test.toml:1: key system_probe_config.sysprobe_socket: \"\" must be an absolute path");
    std::string longest = "/" + std::string(106, 'a');  // 107 bytes + NUL = sizeof(sun_path)
    CHECK(parse_ok("system_probe_config.sysprobe_socket = \"" + longest + "\"")
              .get_string("system_probe_config.sysprobe_socket") == longest);
    std::string error = parse_error("system_probe_config.sysprobe_socket = \"" + longest + "a\"");
    CHECK(error.ends_with("must be shorter than 108 bytes"));
    CHECK(parse_error("system_probe_config.sysprobe_socket = \"/a\\u0000b\"")
              .ends_with("must not contain a NUL byte"));
}

TEST_CASE("conf: debug_host must be an IP address") {
    CHECK(parse_ok("system_probe_config.debug_host = \"::1\"")
              .get_string("system_probe_config.debug_host") == "::1");
    CHECK(parse_ok("system_probe_config.debug_host = \"0.0.0.0\"")
              .get_string("system_probe_config.debug_host") == "0.0.0.0");
    CHECK(parse_error("system_probe_config.debug_host = \"localhost\"") ==
          "test.toml:1: key system_probe_config.debug_host: \"localhost\" is not an IPv4 or IPv6 "
          "address");
}

TEST_CASE("conf: every error of the file is reported, in line order") {
    std::string error = parse_error(
        "[system_probe_config]\n"
        "enable_tcp_queue_length = \"yes\"\n"
        "debug_port = 99999\n"
        "enable_oom_kill = 1\n");
    CHECK(error ==
          "test.toml:2: key system_probe_config.enable_tcp_queue_length: expected "
          "boolean, got string\n"
          "test.toml:3: key system_probe_config.debug_port: 99999 is out of range "
          "0..65535\n"
          "test.toml:4: key system_probe_config.enable_oom_kill: expected boolean, got "
          "integer");
}

// --- unknown keys and syntax errors -----------------------------------------------------------

TEST_CASE("conf: an unknown key is a warning with its line, not an error") {
    std::vector<std::string> warnings;
    Config c =
        parse_ok("[system_probe_config]\ndebug_port = 1\n\nenable_oom_kil = true\n", {}, &warnings);
    CHECK(c.get_int("system_probe_config.debug_port") == 1);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] == "test.toml:4: unknown key system_probe_config.enable_oom_kil (ignored)");
}

TEST_CASE("conf: an unknown table is one warning, whatever it holds") {
    std::vector<std::string> warnings;
    parse_ok("log_level = \"info\"\n[foo.bar]\nx = 1\ny = { z = 2 }\n[[baz]]\nq = 1\n", {},
             &warnings);
    REQUIRE(warnings.size() == 2);
    CHECK(warnings[0] == "test.toml:2: unknown key foo (ignored)");
    CHECK(warnings[1] == "test.toml:5: unknown key baz (ignored)");
}

TEST_CASE("conf: an unknown key under a known table names the full path") {
    std::vector<std::string> warnings;
    parse_ok("ringprobe.http.max_bodybytes = 5\n", {}, &warnings);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] == "test.toml:1: unknown key ringprobe.http.max_bodybytes (ignored)");
}

TEST_CASE("conf: a quoted key with a dot is not a dotted path") {
    std::vector<std::string> warnings;
    Config c = parse_ok("\"ebpf_check.enabled\" = true\n", {}, &warnings);
    CHECK_FALSE(c.get_bool("ebpf_check.enabled"));
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] == "test.toml:1: unknown key \"ebpf_check.enabled\" (ignored)");
}

TEST_CASE("conf: a TOML syntax error names file, line and column") {
    std::string error = parse_error("log_level = \"info\"\n[system_probe_config\ndebug_port = 1\n");
    CAPTURE(error);
    CHECK(error.starts_with("test.toml:2:"));
    CHECK(error.size() > std::string_view("test.toml:2:1: ").size());

    error = parse_error("a = 1\nb = = 2\n");
    CAPTURE(error);
    CHECK(error.starts_with("test.toml:2:5: "));
}

TEST_CASE("conf: a key defined twice is a syntax error") {
    CHECK(parse_error("log_level = \"info\"\nlog_level = \"debug\"\n").starts_with("test.toml:2:"));
}

// --- environment ------------------------------------------------------------------------------

TEST_CASE("conf: env DD_* beats the file") {
    Environment env{{"DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT", "4444"},
                    {"DD_SYSTEM_PROBE_CONFIG_ENABLE_OOM_KILL", "false"}};
    Config c = parse_ok("[system_probe_config]\ndebug_port = 5555\nenable_oom_kill = true\n", env);
    CHECK(c.get_int("system_probe_config.debug_port") == 4444);
    CHECK_FALSE(c.get_bool("system_probe_config.enable_oom_kill"));
    CHECK(c.source("system_probe_config.debug_port") == Source::environment);
}

TEST_CASE("conf: every key can be set through its DD_ variable") {
    for (const auto& spec : rp::conf::schema()) {
        CAPTURE(spec.path);
        std::string name = rp::conf::env_names(spec.path).back();  // the derived name
        std::string value;
        switch (spec.type) {
            case Type::boolean:
                value = std::get<bool>(spec.default_value) ? "false" : "true";
                break;
            case Type::integer:
                value = std::to_string(spec.min == INT64_MIN ? 0 : spec.min);
                break;
            case Type::number:
                value = "0.5";
                break;
            case Type::string_list:
                value = "one two";
                break;
            case Type::string:
                value = spec.path == "log_level"                               ? "error"
                        : spec.path == "system_probe_config.sysprobe_socket"   ? "/tmp/x.sock"
                        : spec.path == "system_probe_config.debug_host"        ? "::"
                        : spec.path == "ringprobe.ebpf.type_encoding"          ? "number"
                        : spec.path == "ringprobe.seccomp_tracer.mode"         ? "entry_marks"
                        : spec.path == "ringprobe.gpu.json_keys"               ? "go_field_names"
                        : spec.path == "ringprobe.gpu.library_opens"           ? "scan"
                        : spec.path.find("interval") != std::string_view::npos ? "250ms"
                                                                               : "someone";
                break;
        }
        Config c = parse_ok("", {{name, value}});
        CHECK(c.source(spec.path) == Source::environment);
        CHECK(c.dump().find("# env " + name) != std::string::npos);
    }
}

TEST_CASE("conf: Go durations (gpu_monitoring.*_interval)") {
    using rp::conf::parse_go_duration_ns;
    CHECK(parse_go_duration_ns("1s") == 1'000'000'000ull);
    CHECK(parse_go_duration_ns("500ms") == 500'000'000ull);
    CHECK(parse_go_duration_ns("1m30s") == 90'000'000'000ull);
    CHECK(parse_go_duration_ns("1.5h") == 5'400'000'000'000ull);
    CHECK(parse_go_duration_ns("2us") == 2'000ull);
    CHECK(parse_go_duration_ns("0") == 0ull);
    CHECK(parse_go_duration_ns("1500") ==
          1500ull);  // unitless: nanoseconds, as spf13/cast reads it
    CHECK_FALSE(parse_go_duration_ns(""));
    CHECK_FALSE(parse_go_duration_ns("-1s"));
    CHECK_FALSE(parse_go_duration_ns("1x"));
    CHECK_FALSE(parse_go_duration_ns("s"));
    CHECK_FALSE(parse_go_duration_ns("1s2"));
    CHECK_FALSE(parse_go_duration_ns("99999999999h"));
    std::vector<std::string> warnings;
    auto bad = Config::parse("[gpu_monitoring]\nringbuffer_flush_interval = \"soon\"\n", "t.toml",
                             {}, &warnings);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().find("ringbuffer_flush_interval") != std::string::npos);
    CHECK(bad.error().find("is not a duration") != std::string::npos);
}

TEST_CASE("conf: each alias sets its key") {
    struct {
        const char* var;
        const char* value;
        const char* path;
    } const cases[] = {
        {"DD_LOG_LEVEL", "debug", "log_level"},
        {"LOG_LEVEL", "warn", "log_level"},
        {"DD_SYSPROBE_SOCKET", "/tmp/alias.sock", "system_probe_config.sysprobe_socket"},
        {"DD_SYSTEM_PROBE_ENABLED", "true", "system_probe_config.enabled"},
        {"DD_SYSTEM_PROBE_NETWORK_ENABLED", "true", "network_config.enabled"},
        {"DD_SYSTEM_PROBE_PROCESS_ENABLED", "true", "system_probe_config.process_config.enabled"},
    };
    for (const auto& t : cases) {
        CAPTURE(t.var);
        Config c = parse_ok("", {{t.var, t.value}});
        CHECK(c.source(t.path) == Source::environment);
        if (std::string_view(t.value) == "true")
            CHECK(c.get_bool(t.path));
        else
            CHECK(c.get_string(t.path) == t.value);
    }
}

TEST_CASE("conf: an alias wins over the derived variable name") {
    Config c = parse_ok("", {{"DD_SYSPROBE_SOCKET", "/tmp/alias.sock"},
                             {"DD_SYSTEM_PROBE_CONFIG_SYSPROBE_SOCKET", "/tmp/derived.sock"}});
    CHECK(c.get_string("system_probe_config.sysprobe_socket") == "/tmp/alias.sock");
    CHECK(c.dump().find("# env DD_SYSPROBE_SOCKET") != std::string::npos);

    c = parse_ok(
        "", {{"DD_SYSTEM_PROBE_NETWORK_ENABLED", "false"}, {"DD_NETWORK_CONFIG_ENABLED", "true"}});
    CHECK_FALSE(c.get_bool("network_config.enabled"));
}

TEST_CASE("conf: DD_LOG_LEVEL wins over LOG_LEVEL") {
    Config c = parse_ok("", {{"DD_LOG_LEVEL", "error"}, {"LOG_LEVEL", "trace"}});
    CHECK(c.get_string("log_level") == "error");
}

TEST_CASE("conf: an empty variable counts as unset") {
    Config c = parse_ok(
        "system_probe_config.debug_port = 1\n",
        {{"DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT", ""}, {"DD_LOG_LEVEL", ""}, {"LOG_LEVEL", "debug"}});
    CHECK(c.get_int("system_probe_config.debug_port") == 1);
    CHECK(c.source("system_probe_config.debug_port") == Source::file);
    CHECK(c.get_string("log_level") == "debug");
}

TEST_CASE("conf: env booleans parse like Go's strconv.ParseBool") {
    const char* trues[] = {"1", "t", "T", "TRUE", "true", "True"};
    const char* falses[] = {"0", "f", "F", "FALSE", "false", "False"};
    const char* bad[] = {"yes", "no", "on", "off", "tRUE", "2", " true", "true ", "y"};
    const std::string var = "DD_SYSTEM_PROBE_CONFIG_ENABLE_OOM_KILL";
    for (auto v : trues) {
        CAPTURE(v);
        CHECK(parse_ok("", {{var, v}}).get_bool("system_probe_config.enable_oom_kill"));
    }
    for (auto v : falses) {
        CAPTURE(v);
        CHECK_FALSE(parse_ok("system_probe_config.enable_oom_kill = true", {{var, v}})
                        .get_bool("system_probe_config.enable_oom_kill"));
    }
    for (auto v : bad) {
        CAPTURE(v);
        CHECK(parse_error("", {{var, v}}) ==
              "environment " + var + "=\"" + v + "\": expected boolean (1, t, true, 0, f, false)");
    }
}

TEST_CASE("conf: a bad env value names the variable, its value and the expected type") {
    CHECK(parse_error("", {{"DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT", "abc"}}) ==
          "environment DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT=\"abc\": expected integer");
    CHECK(parse_error("", {{"DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT", "70000"}}) ==
          "environment DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT=\"70000\": is out of range 0..65535");
    CHECK(parse_error("", {{"DD_LOG_LEVEL", "loud"}}) ==
          "environment DD_LOG_LEVEL=\"loud\": is not a log level (trace, debug, info, warn, "
          "warning, error, critical, off)");
    CHECK(parse_error("", {{"DD_SYSPROBE_SOCKET", "x.sock"}}) ==
          "environment DD_SYSPROBE_SOCKET=\"x.sock\": must be an absolute path");
}

TEST_CASE("conf: env integers are decimal with an optional sign") {
    const std::string var = "DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT";
    CHECK(parse_ok("", {{var, "+80"}}).get_int("system_probe_config.debug_port") == 80);
    CHECK(parse_ok("", {{var, "0080"}}).get_int("system_probe_config.debug_port") == 80);
    for (auto bad : {"0x50", " 80", "80 ", "8_0", "80.0", "+-80", "-", "+", "1e3"}) {
        CAPTURE(bad);
        CHECK(parse_error("", {{var, bad}}) ==
              "environment " + var + "=\"" + bad + "\": expected integer");
    }
    CHECK(parse_error("", {{var, "-1"}}).ends_with(": is out of range 0..65535"));
    CHECK(parse_error("", {{var, "99999999999999999999999"}})
              .ends_with(": is out of range 0..65535"));
}

TEST_CASE("conf: env strings must be UTF-8 and are shown escaped in errors") {
    CHECK(parse_error("", {{"DD_SYSTEM_PROBE_CONFIG_SYSPROBE_SOCKET_OWNER", "a\xff"}}) ==
          "environment DD_SYSTEM_PROBE_CONFIG_SYSPROBE_SOCKET_OWNER=\"a\xff\": expected a UTF-8 "
          "string");
    CHECK(parse_error("", {{"DD_LOG_LEVEL", "in\nfo"}}) ==
          "environment DD_LOG_LEVEL=\"in\\nfo\": is not a log level (trace, debug, info, warn, "
          "warning, error, critical, off)");
}

TEST_CASE("conf: errors from the file and the environment are all reported") {
    std::string error = parse_error("system_probe_config.debug_port = \"x\"\n",
                                    {{"DD_EBPF_CHECK_ENABLED", "maybe"}});
    CHECK(error ==
          "test.toml:1: key system_probe_config.debug_port: expected integer, got string\n"
          "environment DD_EBPF_CHECK_ENABLED=\"maybe\": expected boolean (1, t, true, 0, "
          "f, false)");
}

TEST_CASE("conf: environment_from_process reads the process environment") {
    REQUIRE(setenv("RINGPROBE_CONF_TEST_VAR", "a=b", 1) == 0);
    Environment env = rp::conf::environment_from_process();
    unsetenv("RINGPROBE_CONF_TEST_VAR");
    auto it = env.find("RINGPROBE_CONF_TEST_VAR");
    REQUIRE(it != env.end());
    CHECK(it->second == "a=b");
}

// --- load() -----------------------------------------------------------------------------------

TEST_CASE("conf: load without a path gives defaults and environment") {
    std::vector<std::string> warnings;
    auto c = Config::load({}, {{"DD_EBPF_CHECK_ENABLED", "true"}}, &warnings);
    REQUIRE(c.has_value());
    CHECK(warnings.empty());
    CHECK(c->get_bool("ebpf_check.enabled"));
    CHECK(c->file_path().empty());
}

TEST_CASE("conf: load reads the file and names it in messages") {
    TempDir dir;
    std::string path = dir.write("ringprobe.toml", "[system_probe_config]\ndebug_port = 1234\n");
    auto c = Config::load({.path = path}, {}, nullptr);
    REQUIRE(c.has_value());
    CHECK(c->get_int("system_probe_config.debug_port") == 1234);
    CHECK(c->file_path() == path);

    dir.write("ringprobe.toml", "[system_probe_config]\ndebug_port = true\n");
    auto bad = Config::load({.path = path}, {}, nullptr);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error() ==
          path + ":2: key system_probe_config.debug_port: expected integer, got boolean");
}

TEST_CASE("conf: a missing file is a warning unless it must exist") {
    TempDir dir;
    std::string path = (dir.path / "absent.toml").string();
    std::vector<std::string> warnings;
    auto c = Config::load({.path = path, .file_must_exist = false},
                          {{"DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT", "7"}}, &warnings);
    REQUIRE(c.has_value());
    CHECK(c->get_int("system_probe_config.debug_port") == 7);
    CHECK(c->get_string("log_level") == "info");
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] == "config file " + path + " not found: using defaults and environment");

    auto must = Config::load({.path = path, .file_must_exist = true}, {}, nullptr);
    REQUIRE_FALSE(must.has_value());
    CHECK(must.error() == "read config " + path + ": No such file or directory");
}

TEST_CASE("conf: an unreadable path is an error naming it, even when optional") {
    TempDir dir;
    std::string path = dir.path.string();  // a directory
    for (bool must_exist : {false, true}) {
        auto c = Config::load({.path = path, .file_must_exist = must_exist}, {}, nullptr);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error() == "read config " + path + ": Is a directory");
    }
    if (geteuid() != 0) {  // root reads anything
        std::string file = dir.write("secret.toml", "log_level = \"info\"\n");
        REQUIRE(chmod(file.c_str(), 0) == 0);
        auto c = Config::load({.path = file}, {}, nullptr);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error() == "read config " + file + ": Permission denied");
    }
}

TEST_CASE("conf: the shipped conf/ringprobe.toml loads with zero warnings") {
    std::vector<std::string> warnings;
    auto c =
        Config::load({.path = RINGPROBE_SOURCE_DIR "/conf/ringprobe.toml", .file_must_exist = true},
                     {}, &warnings);
    REQUIRE_MESSAGE(c.has_value(), c.error());
    CHECK(warnings.empty());
    for (const auto& w : warnings) MESSAGE(w);
    CHECK(c->get_string("log_level") == "info");
    CHECK(c->get_string("system_probe_config.sysprobe_socket") == "/run/ringprobe/sysprobe.sock");
    CHECK(c->get_int("system_probe_config.debug_port") == 3333);
    CHECK(c->get_bool("system_probe_config.process_config.enabled"));
    CHECK(c->get_bool("system_probe_config.enable_oom_kill"));
    CHECK(c->get_bool("ebpf_check.enabled"));
    // Over 1 % on one of the standard loads (docs/BENCHMARKS.md, "Module cost"): opt-in.
    CHECK_FALSE(c->get_bool("system_probe_config.enable_tcp_queue_length"));
    CHECK_FALSE(c->get_bool("seccomp_tracer.enabled"));
    CHECK_FALSE(c->get_bool("system_probe_config.self_cost"));
    // No cost until asked (no hook, no timer): on.
    CHECK(c->get_bool("ping.enabled"));
    CHECK(c->get_bool("traceroute.enabled"));
}

// --- dump() -----------------------------------------------------------------------------------

TEST_CASE("conf: dump() annotates every key with its source") {
    Config c = parse_ok("[system_probe_config]\ndebug_port = 4000\n",
                        {{"DD_SYSPROBE_SOCKET", "/tmp/a \"quoted\"\\path.sock"}});
    std::string d = c.dump();
    CAPTURE(d);
    CHECK(d.find("\n[system_probe_config]\n") != std::string::npos);
    CHECK(d.find("\ndebug_port = 4000  # file\n") != std::string::npos);
    CHECK(d.find("\nlog_level = \"info\"  # default\n") != std::string::npos);
    CHECK(d.find("\nsysprobe_socket = \"/tmp/a \\\"quoted\\\"\\\\path.sock\"  # env "
                 "DD_SYSPROBE_SOCKET\n") != std::string::npos);
    CHECK(d.find("\n[ringprobe.http]\n") != std::string::npos);
    for (const auto& spec : rp::conf::schema()) {
        std::string_view leaf = spec.path.substr(spec.path.rfind('.') + 1);
        CHECK(d.find("\n" + std::string(leaf) + " = ") != std::string::npos);
    }
}

TEST_CASE("conf: dump() round-trips through parse() to identical values") {
    Environment env{{"DD_LOG_LEVEL", "Debug"},
                    {"DD_SYSTEM_PROBE_CONFIG_SYSPROBE_SOCKET_OWNER", "tab\there \"q\" é"},
                    {"DD_RINGPROBE_HTTP_MAX_CONNECTIONS", "77"}};
    Config original = parse_ok(
        "[system_probe_config]\n"
        "enable_oom_kill = true\n"
        "debug_host = \"::1\"\n"
        "sysprobe_socket_group = 'back\\slash'\n"
        "max_conns_per_message = 2000\n"
        "process_config.enabled = true\n"
        "[ringprobe]\n"
        "drop_capabilities = true\n"
        "http.max_body_bytes = 0\n",
        env);
    std::vector<std::string> warnings;
    auto again = Config::parse(original.dump(), "dump", {}, &warnings);
    REQUIRE_MESSAGE(again.has_value(), again.error());
    CHECK(warnings.empty());
    for (const auto& spec : rp::conf::schema()) {
        CAPTURE(spec.path);
        CHECK(same_value(original, *again, spec));
    }
    CHECK(again->get_int("system_probe_config.max_conns_per_message") == 1000);
    CHECK(again->dump().find("# default") == std::string::npos);  // now every key is in the file

    // The defaults round-trip as well.
    auto defaults = Config::parse(Config().dump(), "dump", {}, &warnings);
    REQUIRE(defaults.has_value());
    for (const auto& spec : rp::conf::schema()) CHECK(same_value(Config(), *defaults, spec));
}

// --- getters ----------------------------------------------------------------------------------

TEST_CASE("conf: getters throw logic_error for a key not in the schema or of another type") {
    Config c;
    CHECK_THROWS_AS(c.get_bool("no.such.key"), std::logic_error);
    CHECK_THROWS_AS(c.get_int("system_probe_config.enable_oom_kill"), std::logic_error);
    CHECK_THROWS_AS(c.get_string("system_probe_config.debug_port"), std::logic_error);
    CHECK_THROWS_AS(c.get_number("log_level"), std::logic_error);
    CHECK_THROWS_AS(c.source("system_probe_config"), std::logic_error);
}

// --- hostile input (the fuzzer's ground) ------------------------------------------------------

TEST_CASE("conf: a very deeply dotted key is an error, not a stack overflow") {
    std::string deep = "a";
    for (int i = 0; i < 200000; ++i) deep += ".a";
    CHECK(parse_error(deep + " = 1\n") == "test.toml:1: key nested deeper than 17 levels");
    CHECK(parse_error("[" + deep + "]\n").starts_with("test.toml:1: key nested deeper"));

    // Quoted segments do not hide the dots between them.
    std::string quoted = "x";
    for (int i = 0; i < 20; ++i) quoted += ".\"=[,\"";
    CHECK(parse_error(quoted + " = 1\n").starts_with("test.toml:1: key nested deeper"));

    // Dots in strings and comments are not keys.
    std::vector<std::string> warnings;
    parse_ok("# " + std::string(100, '.') + "\nlog_level = \"info\" # ....................\n" +
                 "ringprobe.x = \"" + std::string(100, '.') + "\"\nringprobe.y = '''\n" +
                 std::string(100, '.') + "'''\n",
             {}, &warnings);
    CHECK(warnings.size() == 2);
}

TEST_CASE("conf: deeply nested arrays and inline tables are an error, not a stack overflow") {
    std::string arrays = "x = " + std::string(100000, '[') + std::string(100000, ']') + "\n";
    CHECK(parse_error(arrays).starts_with("test.toml:1:"));
    std::string tables = "x = ";
    for (int i = 0; i < 50000; ++i) tables += "{a=";
    tables += "1" + std::string(50000, '}') + "\n";
    CHECK(parse_error(tables).starts_with("test.toml:1:"));
}

TEST_CASE("conf: a document over 1 MiB is refused") {
    std::string big = "# " + std::string((1 << 20) + 1, 'x') + "\n";
    CHECK(parse_error(big) == "test.toml: larger than 1048576 bytes");
}

TEST_CASE("conf: arbitrary bytes never crash parse()") {
    std::mt19937 rng(12345);
    const std::string seed = read_text(RINGPROBE_SOURCE_DIR "/conf/ringprobe.toml");
    REQUIRE_FALSE(seed.empty());
    const std::string alphabet = "[]{}=.,\"'#\n\\ abc_-0123456789tf\x00\xff\xc3\xa9"s;
    for (int round = 0; round < 3000; ++round) {
        std::string doc;
        if (round % 2 == 0) {  // mutations of a real config
            doc = seed;
            int edits = 1 + static_cast<int>(rng() % 8);
            for (int e = 0; e < edits && !doc.empty(); ++e) {
                size_t at = rng() % doc.size();
                switch (rng() % 3) {
                    case 0:
                        doc[at] = alphabet[rng() % alphabet.size()];
                        break;
                    case 1:
                        doc.erase(at, 1 + rng() % 16);
                        break;
                    default:
                        doc.insert(at, doc.substr(rng() % doc.size(), rng() % 64));
                        break;
                }
            }
        } else {  // random bytes from TOML's punctuation
            size_t len = rng() % 256;
            for (size_t i = 0; i < len; ++i) doc += alphabet[rng() % alphabet.size()];
        }
        std::vector<std::string> warnings;
        auto c = Config::parse(doc, "fuzz", {}, &warnings);
        if (c) {  // whatever parses must dump to something that parses to the same values
            auto again = Config::parse(c->dump(), "dump", {}, nullptr);
            REQUIRE_MESSAGE(again.has_value(), doc);
            for (const auto& spec : rp::conf::schema()) CHECK(same_value(*c, *again, spec));
        }
    }
}

// --- arrays of strings ------------------------------------------------------------------------

TEST_CASE("conf: an array-of-strings key reads a TOML array and a whitespace-split variable") {
    const std::string key = "discovery.ignored_command_names";
    Config c = parse_ok("[discovery]\nignored_command_names = [\"sshd\", \"my app\"]\n");
    CHECK(c.get_string_list(key) == rp::conf::StringList{"sshd", "my app"});
    CHECK(c.source(key) == Source::file);
    CHECK(parse_ok("discovery.ignored_command_names = []\n").get_string_list(key).empty());

    // viper splits a []string variable at whitespace; it wins over the file.
    Config e = parse_ok("discovery.ignored_command_names = [\"x\"]\n",
                        {{"DD_DISCOVERY_IGNORED_COMMAND_NAMES", " a\tb  c\n"}});
    CHECK(e.get_string_list(key) == rp::conf::StringList{"a", "b", "c"});
    CHECK(e.source(key) == Source::environment);

    CHECK(parse_error("discovery.ignored_command_names = \"sshd\"\n")
              .find("key discovery.ignored_command_names: expected array of strings, got string") !=
          std::string::npos);
    CHECK(parse_error("discovery.ignored_command_names = [\"a\", 3]\n")
              .find("expected array of strings, got an array containing integer") !=
          std::string::npos);

    // dump() writes a TOML array that reads back the same.
    std::string d = c.dump();
    CHECK(d.find("ignored_command_names = [\"sshd\", \"my app\"]  # file") != std::string::npos);
    CHECK(parse_ok(d).get_string_list(key) == c.get_string_list(key));
    CHECK_THROWS_AS(c.get_string(key), std::logic_error);
}

TEST_SUITE_END();
