// regression_test.cpp — replays every checked-in fuzz input (seeds and the crashes found so far,
// tests/fuzz/corpus/<target>/) through the harness functions of the fuzz targets, in the normal
// build: a broken invariant aborts this test as it would abort the fuzzer.
#include <doctest/doctest.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "conf/config.h"
#include "http/router.h"
#include "loop/reactor.h"
#include "modules/module.h"
#include "tests/fuzz/harness.h"

namespace {

namespace fs = std::filesystem;

size_t replay(const char* target, void (*run)(const uint8_t*, size_t)) {
    fs::path dir = fs::path(RINGPROBE_SOURCE_DIR) / "tests/fuzz/corpus" / target;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        INFO("input ", f.string());
        run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }
    return files.size();
}

}  // namespace

TEST_CASE("fuzz: every http corpus input and past crash is served well-formed and released") {
    CHECK(replay("http", rp::fuzz::http_one) >= 20);
}

TEST_CASE("fuzz: every config corpus input and past crash loads or fails cleanly, and round-trips" *
          doctest::test_suite("pure")) {
    CHECK(replay("config", rp::fuzz::config_one) >= 20);
}

TEST_CASE("fuzz: every json corpus input and past crash gets 200 or 400 with a JSON body") {
    CHECK(replay("json", rp::fuzz::json_one) >= 20);
}

TEST_CASE("fuzz: every dbconfig corpus input parses or fails cleanly, its JSON well-formed") {
    CHECK(replay("dbconfig", rp::fuzz::dbconfig_one) >= 12);
}

TEST_CASE("fuzz: every buildinfo corpus input is read within bounds") {
    CHECK(replay("buildinfo", rp::fuzz::buildinfo_one) >= 6);
}

// --- One test per crash the fuzzers found (each input is also in the corpus above).

TEST_CASE("process: a pid asked for twice is answered once (no duplicate key in statsByPID)") {
    auto reactor = std::move(*rp::loop::Reactor::create());
    rp::conf::Config cfg;
    rp::modules::Dependencies deps{*reactor, nullptr};
    auto module = rp::modules::find_factory("process")->create(cfg, deps);
    REQUIRE(module.has_value());
    rp::http::Router router;
    REQUIRE((*module)->register_routes(router.mount("process")).has_value());

    std::string pid = std::to_string(getpid());
    rp::http::Request req;
    req.method = "POST";
    req.path = "/process/stats";
    std::string body = "{\"pids\": [" + pid + ", " + pid + ", 1, " + pid + "]}";
    req.body = body;
    auto m = router.match(req.method, req.path, req.params);
    REQUIRE(m.outcome == rp::http::Router::Outcome::found);
    rp::http::Buffer out;
    rp::http::JsonWriter writer(out);
    rp::http::Response res(out, writer, false);
    (*m.handler)(req, res);
    CHECK(res.status() == 200);

    simdjson::dom::parser parser;
    simdjson::dom::object by_pid = parser.parse(std::string(out.view()))["statsByPID"];
    size_t seen_self = 0;
    for (auto field : by_pid)
        if (field.key == pid) ++seen_self;
    CHECK(seen_self == 1);
}

TEST_CASE("config: non-ASCII characters where toml++ 3.3.0 tests for whitespace are handled" *
          doctest::test_suite("pure")) {
    // toml++ 3.3.0 hit __builtin_unreachable() for these (upstream #190); the sanitizer builds
    // abort here if that comes back.
    std::vector<std::string> warnings;
    auto after_value =
        rp::conf::Config::parse("log_level = 1979-05-27\xce\xab\n", "t.toml", {}, &warnings);
    CHECK_FALSE(after_value.has_value());
    auto after_backslash =
        rp::conf::Config::parse("s = \"\"\"\\\n\xc2\xa7\"\"\"\n", "t.toml", {}, &warnings);
    REQUIRE(after_backslash.has_value());
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("unknown key s") != std::string::npos);
    auto in_string = rp::conf::Config::parse(
        "[system_probe_config]\nsysprobe_socket_owner = \"\xce\xab\xe3\x80\x80\"\n", "t.toml", {},
        nullptr);
    REQUIRE(in_string.has_value());
    CHECK(in_string->get_string("system_probe_config.sysprobe_socket_owner") ==
          "\xce\xab\xe3\x80\x80");
}
