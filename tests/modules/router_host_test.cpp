// router_host_test.cpp — the module host: enabled filter, per-module failure, /debug/stats shape,
// restart, "no module could be loaded", Go duration strings.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <regex>
#include <string>

#include "conf/config.h"
#include "http/router.h"
#include "modules/host.h"
#include "modules/module.h"

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
    void write_metrics(http::MetricsWriter& w) const override {
        static constexpr http::MetricFamily kChecks{
            "ringprobe_fake_checks", http::MetricKind::counter, "Checks \"served\"."};
        w.counter(kChecks, {{"module", name_}, {"odd", "a\"b\\c\nd"}}, uint64_t{7});
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
    CHECK(std::string_view(doc["bad"]["Error"]) ==
          "kernel has no BTF (/sys/kernel/btf/vmlinux missing)");
    CHECK(int64_t(doc["good"]["last_check"]) == 0);
    CHECK(doc["off"].error() == simdjson::NO_SUCH_FIELD);
    CHECK(int64_t(doc["updated_at"]) > 1700000000);
    CHECK(double(doc["delta_seconds"]) >= 0.0);
    // Go's time.Duration.String() of the time since the Host was made, a moment ago.
    std::string uptime{std::string_view(doc["uptime"])};
    static const std::regex kGoDuration(R"(^(\d+h)?(\d+m)?\d+(\.\d+)?(ns|µs|ms|s)$)");
    CHECK_MESSAGE(std::regex_match(uptime, kGoDuration), uptime);
    double seconds = std::stod(uptime);
    if (uptime.ends_with("ms"))
        seconds /= 1e3;
    else if (uptime.ends_with("µs"))
        seconds /= 1e6;
    else if (uptime.ends_with("ns"))
        seconds /= 1e9;
    CHECK_MESSAGE(seconds > 0.0, uptime);
    CHECK_MESSAGE(uptime.find('h') == std::string::npos, uptime);
    CHECK_MESSAGE(seconds < 60.0, uptime);

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

TEST_CASE("go_duration: formats like Go's time.Duration.String" * doctest::test_suite("pure")) {
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

TEST_CASE(
    "host: /metrics has typed families with HELP, module state, module metrics; OpenMetrics on "
    "request") {
    auto re = reactor();
    auto cfg = config("ping.enabled = true\ntraceroute.enabled = true\n");
    http::Router router;
    modules::Host host(*re, cfg, router, kFactories);
    host.register_global_routes();
    host.set_extra_metrics([](http::MetricsWriter& w) {
        static constexpr http::MetricFamily kExtra{"ringprobe_extra_bytes", http::MetricKind::gauge,
                                                   "An extra family.", "bytes"};
        w.gauge(kExtra, {}, 1.5);
    });
    REQUIRE(host.start().has_value());
    auto scrape = [&](std::string_view accept, std::string* type) {
        http::Buffer body;
        http::JsonWriter w(body);
        std::string raw = "Accept" + std::string(accept);
        http::HeaderSpan h{0, 6, 6, static_cast<uint32_t>(accept.size())};
        http::Request req;
        req.method = "GET";
        req.path = "/metrics";
        req.headers = http::Headers(raw.data(), &h, accept.empty() ? 0 : 1);
        http::Response res(body, w, false);
        auto m = router.match("GET", "/metrics", req.params);
        REQUIRE(m.outcome == http::Router::Outcome::found);
        (*m.handler)(req, res);
        *type = std::string(res.content_type());
        return std::string(body.view());
    };
    std::string type;
    std::string text = scrape("", &type);
    INFO(text);
    CHECK(type == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(text.find("# HELP ringprobe_module_up ") != std::string::npos);
    CHECK(text.find("# TYPE ringprobe_module_up gauge\n") != std::string::npos);
    CHECK(text.find("ringprobe_module_up{module=\"bad\"} 0\n") != std::string::npos);
    CHECK(text.find("ringprobe_module_up{module=\"good\"} 1\n") != std::string::npos);
    CHECK(text.find("ringprobe_module_load_seconds{module=\"good\"} ") != std::string::npos);
    // A module's own family: counter named for its samples in the text format, label values
    // escaped, HELP's quote left alone.
    CHECK(text.find("# HELP ringprobe_fake_checks_total Checks \"served\".\n") !=
          std::string::npos);
    CHECK(text.find("# TYPE ringprobe_fake_checks_total counter\n") != std::string::npos);
    CHECK(text.find("ringprobe_fake_checks_total{module=\"good\",odd=\"a\\\"b\\\\c\\nd\"} 7\n") !=
          std::string::npos);
    CHECK(text.find("ringprobe_extra_bytes 1.5\n") != std::string::npos);
    CHECK(text.find("ringprobe_uptime_seconds ") != std::string::npos);
    CHECK(text.find("# EOF") == std::string::npos);
    // Each family once, its samples together.
    size_t first = text.find("# TYPE ringprobe_module_up ");
    CHECK(text.find("# TYPE ringprobe_module_up ", first + 1) == std::string::npos);
    CHECK(text.find("# UNIT") == std::string::npos);

    std::string om = scrape("application/openmetrics-text;version=1.0.0,text/plain;q=0.5", &type);
    INFO(om);
    CHECK(type.starts_with("application/openmetrics-text; version=1.0.0"));
    CHECK(om.find("# TYPE ringprobe_fake_checks counter\n") != std::string::npos);  // family name
    CHECK(om.find("ringprobe_fake_checks_total{") != std::string::npos);            // sample name
    CHECK(om.find("# HELP ringprobe_fake_checks Checks \\\"served\\\".\n") != std::string::npos);
    CHECK(om.find("# UNIT ringprobe_extra_bytes bytes\n") != std::string::npos);
    CHECK(om.ends_with("# EOF\n"));
}
