// process_test.cpp — the process module's POST /stats, called through the router.
#include <doctest/doctest.h>
#include <simdjson.h>
#include <unistd.h>

#include <string>

#include "conf/config.h"
#include "http/router.h"
#include "modules/module.h"

using namespace rp;

namespace {

struct Fixture {
    std::unique_ptr<loop::Reactor> reactor = std::move(*loop::Reactor::create());
    conf::Config cfg;
    http::Router router;
    std::unique_ptr<modules::Module> module;
    http::Buffer body;
    http::JsonWriter writer{body};

    Fixture() {
        modules::Dependencies deps{*reactor, nullptr};
        auto m = modules::find_factory("process")->create(cfg, deps);
        REQUIRE(m.has_value());
        module = std::move(*m);
        REQUIRE(module->register_routes(router.mount("process")).has_value());
    }
    std::string post(std::string_view json, int* status) {
        http::Request req;
        req.method = "POST";
        req.path = "/process/stats";
        req.body = json;
        auto m = router.match(req.method, req.path, req.params);
        REQUIRE(m.outcome == http::Router::Outcome::found);
        http::Response res(body, writer, false);
        (*m.handler)(req, res);
        *status = res.status();
        return std::string(body.view());
    }
};

}  // namespace

TEST_CASE("process: own pid reports open fds and I/O counters; a missing pid is left out") {
    Fixture f;
    int status = 0;
    std::string pid = std::to_string(getpid());
    std::string out = f.post(R"({"pids": [)" + pid + R"(, 4194303]})", &status);
    CHECK(status == 200);
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.parse(out);
    simdjson::dom::object by_pid = doc["statsByPID"];
    CHECK(by_pid.size() == 1);
    int64_t fds = by_pid[pid]["openFDCount"];
    CHECK(fds >= 3);
    CHECK(int64_t(by_pid[pid]["readCount"]) > 0);
}

TEST_CASE("process: an empty pid list gives an empty statsByPID") {
    Fixture f;
    int status = 0;
    CHECK(f.post(R"({"pids": []})", &status) == R"({"statsByPID":{}})");
    CHECK(status == 200);
}

TEST_CASE("process: bad bodies get 400 naming the problem") {
    Fixture f;
    struct Case {
        const char* body;
        const char* error;
    } cases[] = {
        {"", "request body is empty"},
        {"not json", "not valid JSON"},
        {"[1,2]", "must be a JSON object"},
        {"{}", "missing field \\\"pids\\\""},
        {R"({"pids": 5})", "must be an array of integers"},
        {R"({"pids": ["12"]})", "must hold only integers"},
        {R"({"pids": [1.5]})", "must hold only integers"},
        {R"({"pids": [-1]})", "pid out of range"},
        {R"({"pids": [0]})", "pid out of range"},
        {R"({"pids": [99999999]})", "pid out of range"},
        {R"({"pids": [1]} trailing)", "not valid JSON"},
    };
    for (const auto& c : cases) {
        int status = 0;
        std::string out = f.post(c.body, &status);
        CHECK_MESSAGE(status == 400, c.body);
        CHECK_MESSAGE(out.find(c.error) != std::string::npos, c.body, " -> ", out);
    }
}
