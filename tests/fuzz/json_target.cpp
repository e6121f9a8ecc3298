// json_target.cpp — the `json` fuzz target: the input as the body of POST /process/stats, called
// through the router as the server calls it (see harness.h).
#include <simdjson.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "http/router.h"
#include "loop/log.h"
#include "loop/reactor.h"
#include "modules/module.h"
#include "tests/fuzz/harness.h"

namespace rp::fuzz {
namespace {

constexpr const char* kTarget = "json";

struct World {
    std::unique_ptr<loop::Reactor> reactor;
    conf::Config cfg;
    http::Router router;
    std::unique_ptr<modules::Module> module;
    http::Buffer body;
    http::JsonWriter writer{body};
    simdjson::dom::parser json;
};

World& world() {
    static World* w = [] {
        log::set_level(log::Level::off);
        auto* w = new World;
        auto r = loop::Reactor::create();
        if (!r) fail(kTarget, "reactor: %s", r.error().c_str());
        w->reactor = std::move(*r);
        modules::Dependencies deps{*w->reactor, nullptr};
        auto m = modules::find_factory("process")->create(w->cfg, deps);
        if (!m) fail(kTarget, "create process: %s", m.error().c_str());
        w->module = std::move(*m);
        if (auto reg = w->module->register_routes(w->router.mount("process")); !reg)
            fail(kTarget, "register_routes: %s", reg.error().c_str());
        return w;
    }();
    return *w;
}

}  // namespace

void json_one(const uint8_t* data, size_t size) {
    World& w = world();
    http::Request req;
    req.method = "POST";
    req.path = "/process/stats";
    req.target = req.path;
    req.body = std::string_view(reinterpret_cast<const char*>(data), size);
    http::Router::Match m = w.router.match(req.method, req.path, req.params);
    if (m.outcome != http::Router::Outcome::found)
        fail(kTarget, "POST /process/stats is not routed");
    http::Response res(w.body, w.writer, false);
    (*m.handler)(req, res);

    std::string_view body = w.body.view();
    if (res.status() != 200 && res.status() != 400)
        fail(kTarget, "status %d (want 200 or 400): %.*s", res.status(),
             static_cast<int>(body.size()), body.data());
    // A whole JSON body, or a streamed one (more than 1024 pids), which is JSON too.
    if (res.content_type() != http::kJsonType)
        fail(kTarget, "status %d without a JSON body", res.status());
    simdjson::dom::element doc;
    if (w.json.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
        fail(kTarget, "body is not valid JSON: %.*s", static_cast<int>(body.size()), body.data());
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) fail(kTarget, "body is not a JSON object");
    if (res.status() == 400) {
        std::string_view err;
        if (obj["error"].get_string().get(err) != simdjson::SUCCESS || err.empty())
            fail(kTarget, "a 400 body without \"error\": %.*s", static_cast<int>(body.size()),
                 body.data());
        return;
    }
    simdjson::dom::object by_pid;
    if (obj["statsByPID"].get_object().get(by_pid) != simdjson::SUCCESS)
        fail(kTarget, "a 200 body without \"statsByPID\": %.*s", static_cast<int>(body.size()),
             body.data());
    std::set<std::string_view> seen;
    for (auto field : by_pid) {
        if (!seen.insert(field.key).second)
            fail(kTarget, "pid %.*s twice in statsByPID", static_cast<int>(field.key.size()),
                 field.key.data());
        if (!field.value.is_object()) fail(kTarget, "statsByPID value is not an object");
    }
}

}  // namespace rp::fuzz
