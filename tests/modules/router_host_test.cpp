// router_host_test.cpp — the module host: enabled filter, per-module failure, /debug/stats shape,
// restart, "no module could be loaded", Go duration strings.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>

#include "conf/config.h"
#include "http/router.h"
#include "modules/factories.h"
#include "modules/host.h"

using namespace rp;

namespace {

int g_created = 0;
int g_closed = 0;
bool g_fail_next = false;

class FakeModule final : public modules::Module {
public:
    explicit FakeModule(std::string name) : name_(std::move(name)) { ++g_created; }
    std::expected<void, std::string> register_routes(http::Router& r) override {
        r.handle("GET", "/check", [this](const http::Request&, http::Response& res) {
            auto& w = res.json();
            w.start_object();
            w.kv("module", name_);
            w.end_object();
        });
        return {};
    }
    void write_stats(http::JsonWriter& w) const override {
        w.start_object();
        w.kv_int("last_check", 0);
        w.end_object();
    }
    void close() override {
        if (!closed_) ++g_closed;
        closed_ = true;
    }
    ~FakeModule() override { close(); }

private:
    std::string name_;
    bool closed_ = false;
};

modules::CreateResult make_good(const conf::Config&, modules::Dependencies&) {
    if (g_fail_next) {
        g_fail_next = false;
        return std::unexpected("injected failure");
    }
    return std::make_unique<FakeModule>("good");
}
modules::CreateResult make_bad(const conf::Config&, modules::Dependencies&) {
    return std::unexpected("kernel has no BTF (/sys/kernel/btf/vmlinux missing)");
}

constexpr std::string_view kNs[] = {"system_probe_config"};
const modules::Factory kFactories[] = {
    {"bad", kNs, "ping.enabled", make_bad, false},
    {"good", kNs, "traceroute.enabled", make_good, false},
    {"off", kNs, "gpu_monitoring.enabled", make_good, false},
};

conf::Config config(std::string toml) {
    auto c = conf::Config::parse(toml, "test.toml", {}, nullptr);
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error()));
    return *c;
}

std::string call(http::Router& r, std::string_view method, std::string_view path, int* status) {
    http::Buffer body;
    http::JsonWriter w(body);
    http::Request req;
    req.method = method;
    req.path = path;
    http::Response res(body, w, false);
    auto m = r.match(method, path, req.params);
    if (m.outcome != http::Router::Outcome::found) {
        *status = m.outcome == http::Router::Outcome::not_found ? 404 : 405;
        return {};
    }
    (*m.handler)(req, res);
    *status = res.status();
    return std::string(body.view());
}

std::unique_ptr<loop::Reactor> reactor() {
    auto r = loop::Reactor::create();
    REQUIRE(r.has_value());
    return std::move(*r);
}

}  // namespace

TEST_CASE("host: a failing module is reported and the others serve") {
    auto re = reactor();
    auto cfg = config("ping.enabled = true\ntraceroute.enabled = true\n");
    http::Router router;
    modules::Host host(*re, cfg, router, kFactories);
    host.register_global_routes();
    REQUIRE(host.start().has_value());
    CHECK(host.running_count() == 1);

    int status = 0;
    std::string body = call(router, "GET", "/good/check", &status);
    CHECK(status == 200);
    CHECK(body == R"({"module":"good"})");
    call(router, "GET", "/bad/check", &status);
    CHECK(status == 404);
    call(router, "GET", "/off/check", &status);
    CHECK(status == 404);

    body = call(router, "GET", "/debug/stats", &status);
    CHECK(status == 200);
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.parse(body);
    CHECK(std::string_view(doc["bad"]["Error"]) == "kernel has no BTF (/sys/kernel/btf/vmlinux missing)");
    CHECK(int64_t(doc["good"]["last_check"]) == 0);
    CHECK(doc["off"].error() == simdjson::NO_SUCH_FIELD);
    CHECK(int64_t(doc["updated_at"]) > 1700000000);
    CHECK(double(doc["delta_seconds"]) >= 0.0);
    CHECK(std::string_view(doc["uptime"]).ends_with("s"));

    body = call(router, "GET", "/debug/modules", &status);
    simdjson::dom::element mods = p.parse(body);
    REQUIRE(simdjson::dom::array(mods).size() == 3);
    CHECK(std::string_view(mods.at(0)["state"]) == "failed");
    CHECK(std::string_view(mods.at(1)["state"]) == "running");
    CHECK(std::string_view(mods.at(2)["state"]) == "disabled");
    CHECK(bool(mods.at(2)["enabled"]) == false);
}

TEST_CASE("host: module-restart closes and re-creates; unknown or disabled name is 400") {
    auto re = reactor();
    auto cfg = config("traceroute.enabled = true\n");
    http::Router router;
    modules::Host host(*re, cfg, router, kFactories);
    host.register_global_routes();
    REQUIRE(host.start().has_value());
    int created = g_created, closed = g_closed;
    int status = 0;
    std::string body = call(router, "POST", "/module-restart/good", &status);
    CHECK(status == 200);
    CHECK(body.empty());
    CHECK(g_created == created + 1);
    CHECK(g_closed == closed + 1);
    call(router, "GET", "/good/check", &status);
    CHECK(status == 200);

    body = call(router, "POST", "/module-restart/nope", &status);
    CHECK(status == 400);
    CHECK(body == R"({"error":"invalid module"})");
    call(router, "POST", "/module-restart/off", &status);
    CHECK(status == 400);
    call(router, "GET", "/module-restart/good", &status);
    CHECK(status == 405);
}

TEST_CASE("host: a failed restart answers 500, shows the error, and a later restart recovers") {
    auto re = reactor();
    auto cfg = config("traceroute.enabled = true\n");
    http::Router router;
    modules::Host host(*re, cfg, router, kFactories);
    host.register_global_routes();
    REQUIRE(host.start().has_value());
    g_fail_next = true;
    int status = 0;
    std::string body = call(router, "POST", "/module-restart/good", &status);
    CHECK(status == 500);
    CHECK(body == R"({"error":"injected failure"})");
    call(router, "GET", "/good/check", &status);
    CHECK(status == 404);
    body = call(router, "GET", "/debug/stats", &status);
    CHECK(body.find(R"("good":{"Error":"injected failure"})") != std::string::npos);
    call(router, "POST", "/module-restart/good", &status);
    CHECK(status == 200);
    call(router, "GET", "/good/check", &status);
    CHECK(status == 200);
}

TEST_CASE("host: no enabled module could be created → 'no module could be loaded'") {
    auto re = reactor();
    auto cfg = config("ping.enabled = true\n");
    http::Router router;
    modules::Host host(*re, cfg, router, kFactories);
    auto r = host.start();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == "no module could be loaded");
    auto cfg2 = config("");
    modules::Host host2(*re, cfg2, router, kFactories);
    CHECK(host2.start().error() == "no module could be loaded");
}

TEST_CASE("host: close_all closes every module once and unmounts its routes") {
    auto re = reactor();
    auto cfg = config("traceroute.enabled = true\n");
    http::Router router;
    int closed = g_closed;
    {
        modules::Host host(*re, cfg, router, kFactories);
        REQUIRE(host.start().has_value());
        host.close_all();
        CHECK(g_closed == closed + 1);
        CHECK_FALSE(router.mounted("good"));
    }
    CHECK(g_closed == closed + 1);  // the destructor does not close twice
}

TEST_CASE("go_duration: formats like Go's time.Duration.String") {
    using modules::go_duration;
    CHECK(go_duration(0) == "0s");
    CHECK(go_duration(999) == "999ns");
    CHECK(go_duration(1500) == "1.5µs");
    CHECK(go_duration(1500000) == "1.5ms");
    CHECK(go_duration(3500000000) == "3.5s");
    CHECK(go_duration(60000000000) == "1m0s");
    CHECK(go_duration(3723500000000) == "1h2m3.5s");
    CHECK(go_duration(-1500000000) == "-1.5s");
    CHECK(go_duration(1) == "1ns");
    CHECK(go_duration(1000) == "1µs");
    CHECK(go_duration(1001) == "1.001µs");
    CHECK(go_duration(3600000000000) == "1h0m0s");
    CHECK(go_duration(3600000000001) == "1h0m0.000000001s");
    CHECK(go_duration(INT64_MAX) == "2562047h47m16.854775807s");
    CHECK(go_duration(INT64_MIN) == "-2562047h47m16.854775808s");
}

TEST_CASE("host: /metrics exposes module state and numeric stats in Prometheus text format") {
    auto re = reactor();
    auto cfg = config("ping.enabled = true\ntraceroute.enabled = true\n");
    http::Router router;
    modules::Host host(*re, cfg, router, kFactories);
    host.register_global_routes();
    host.set_extra_stats([](http::JsonWriter& w) {
        w.start_object();
        w.kv("version", "x");
        w.key("http");
        w.start_object();
        w.kv_uint("requests", 42);
        w.kv_bool("flag", true);
        w.end_object();
        w.end_object();
    });
    REQUIRE(host.start().has_value());
    http::Buffer body;
    http::JsonWriter w(body);
    http::Request req;
    req.method = "GET";
    req.path = "/metrics";
    http::Response res(body, w, false);
    auto m = router.match("GET", "/metrics", req.params);
    REQUIRE(m.outcome == http::Router::Outcome::found);
    (*m.handler)(req, res);
    std::string text(body.view());
    CHECK(res.content_type().starts_with("text/plain; version=0.0.4"));
    CHECK(text.find("# TYPE ringprobe_module_running gauge\n") != std::string::npos);
    CHECK(text.find("ringprobe_module_running{module=\"bad\"} 0\n") != std::string::npos);
    CHECK(text.find("ringprobe_module_running{module=\"good\"} 1\n") != std::string::npos);
    CHECK(text.find("ringprobe_module_last_check{module=\"good\"} 0\n") != std::string::npos);
    CHECK(text.find("ringprobe_http_requests 42\n") != std::string::npos);
    CHECK(text.find("ringprobe_http_flag 1\n") != std::string::npos);
    CHECK(text.find("version") == std::string::npos);  // strings are not metrics
    CHECK(text.find("ringprobe_uptime_seconds ") != std::string::npos);
}
