// router_test.cpp — Router matching: exact, parameterised, method-bound, module mounts and aliases.
#include "http/router.h"

#include <doctest/doctest.h>

#include <string>

using namespace rp::http;

namespace {
HandlerFn tag(std::string* hit, std::string name) {
    return [hit, name](const Request&, Response&) { *hit = name; };
}
void call(const Router::Match& m) {
    Buffer b;
    JsonWriter w(b);
    Response res(b, w, false);
    (*m.handler)(Request{}, res);
}
}  // namespace

// Suite "pure": needs neither io_uring nor a daemon, so it also runs under qemu-user (the arm64
// cross build's tests, tools/test arm64; docs/EDGE.md).
TEST_SUITE_BEGIN("pure");

TEST_CASE("router: exact global route matches, unknown path is not_found") {
    Router r;
    std::string hit;
    r.handle("GET", "/debug/stats", tag(&hit, "stats"));
    PathParams p;
    auto m = r.match("GET", "/debug/stats", p);
    REQUIRE(m.outcome == Router::Outcome::found);
    call(m);
    CHECK(hit == "stats");
    CHECK(r.match("GET", "/debug/stat", p).outcome == Router::Outcome::not_found);
    CHECK(r.match("GET", "/debug/stats/extra", p).outcome == Router::Outcome::not_found);
    CHECK(r.match("GET", "/", p).outcome == Router::Outcome::not_found);
}

TEST_CASE("router: wrong method is 405 with every allowed method listed") {
    Router r;
    std::string hit;
    r.handle("POST", "/x/stats", tag(&hit, "post"));
    r.handle("PUT", "/x/stats", tag(&hit, "put"));
    PathParams p;
    auto m = r.match("GET", "/x/stats", p);
    CHECK(m.outcome == Router::Outcome::method_not_allowed);
    CHECK(std::string(m.allow) == "POST, PUT");
    CHECK(r.match("PUT", "/x/stats", p).outcome == Router::Outcome::found);
}

TEST_CASE("router: a route without method accepts any method") {
    Router r;
    std::string hit;
    r.handle("", "/any", tag(&hit, "any"));
    PathParams p;
    CHECK(r.match("DELETE", "/any", p).outcome == Router::Outcome::found);
    CHECK(r.match("GET", "/any", p).outcome == Router::Outcome::found);
}

TEST_CASE("router: {param} segments capture one non-empty segment") {
    Router r;
    std::string hit;
    r.handle("POST", "/module-restart/{name}", tag(&hit, "restart"));
    PathParams p;
    auto m = r.match("POST", "/module-restart/oom_kill_probe", p);
    REQUIRE(m.outcome == Router::Outcome::found);
    CHECK(p.get("name") == "oom_kill_probe");
    CHECK(r.match("POST", "/module-restart/", p).outcome == Router::Outcome::not_found);
    CHECK(r.match("POST", "/module-restart/a/b", p).outcome == Router::Outcome::not_found);
}

TEST_CASE("router: module routes answer at /<module>/ and /modules/<module>/") {
    Router r;
    std::string hit;
    r.mount("ping").handle("GET", "/ping/{host}", tag(&hit, "ping"));
    r.mount("process").handle("POST", "/stats", tag(&hit, "stats"));
    PathParams p;
    auto m = r.match("GET", "/ping/ping/example", p);
    REQUIRE(m.outcome == Router::Outcome::found);
    CHECK(m.module == "ping");
    CHECK(p.get("host") == "example");
    m = r.match("GET", "/modules/ping/ping/h2", p);
    REQUIRE(m.outcome == Router::Outcome::found);
    CHECK(p.get("host") == "h2");
    m = r.match("POST", "/modules/process/stats", p);
    REQUIRE(m.outcome == Router::Outcome::found);
    call(m);
    CHECK(hit == "stats");
    CHECK(r.match("GET", "/process/stats", p).outcome == Router::Outcome::method_not_allowed);
    CHECK(r.match("POST", "/process", p).outcome == Router::Outcome::not_found);
    CHECK(r.match("POST", "/modules/nope/stats", p).outcome == Router::Outcome::not_found);
}

TEST_CASE("router: unmount makes a module's routes 404 at once, mount again restores them") {
    Router r;
    std::string hit;
    r.mount("oom_kill_probe").handle("GET", "/check", tag(&hit, "a"));
    PathParams p;
    CHECK(r.mounted("oom_kill_probe"));
    r.unmount("oom_kill_probe");
    CHECK_FALSE(r.mounted("oom_kill_probe"));
    CHECK(r.match("GET", "/oom_kill_probe/check", p).outcome == Router::Outcome::not_found);
    r.mount("oom_kill_probe").handle("GET", "/check", tag(&hit, "b"));
    auto m = r.match("GET", "/oom_kill_probe/check", p);
    REQUIRE(m.outcome == Router::Outcome::found);
    call(m);
    CHECK(hit == "b");
}

TEST_CASE("router: global routes win over a module of the same first segment") {
    Router r;
    std::string hit;
    r.handle("GET", "/debug/stats", tag(&hit, "global"));
    r.mount("debug").handle("GET", "/stats", tag(&hit, "module"));
    PathParams p;
    auto m = r.match("GET", "/debug/stats", p);
    REQUIRE(m.outcome == Router::Outcome::found);
    call(m);
    CHECK(hit == "global");
}

TEST_CASE("router: registering the same method and pattern twice replaces the handler") {
    Router r;
    std::string hit;
    r.handle("GET", "/a", tag(&hit, "1"));
    r.handle("GET", "/a", tag(&hit, "2"));
    PathParams p;
    call(r.match("GET", "/a", p));
    CHECK(hit == "2");
}

TEST_SUITE_END();
