// process_test.cpp — the process module's POST /stats, called through the router.
#include <doctest/doctest.h>
#include <simdjson.h>
#include <unistd.h>

#include <protozero/pbf_reader.hpp>
#include <protozero/pbf_writer.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

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
    // POST /process/stats with `body`; `headers` as the client sends them.
    std::string post(std::string_view body_text, int* status,
                     std::vector<std::pair<std::string, std::string>> headers = {},
                     std::string* content_type = nullptr) {
        std::vector<http::HeaderSpan> spans;
        std::string raw;
        for (const auto& [k, v] : headers) {
            http::HeaderSpan h;
            h.name_off = static_cast<uint32_t>(raw.size());
            h.name_len = static_cast<uint32_t>(k.size());
            raw += k;
            h.value_off = static_cast<uint32_t>(raw.size());
            h.value_len = static_cast<uint32_t>(v.size());
            raw += v;
            spans.push_back(h);
        }
        http::Request req;
        req.method = "POST";
        req.path = "/process/stats";
        req.body = body_text;
        req.headers = http::Headers(raw.data(), spans.data(), spans.size());
        auto m = router.match(req.method, req.path, req.params);
        REQUIRE(m.outcome == http::Router::Outcome::found);
        http::Response res(body, writer, false);
        (*m.handler)(req, res);
        *status = res.status();
        if (content_type != nullptr) *content_type = std::string(res.content_type());
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
        {R"({"pids": 5})", "must be an array of integers"},
        {R"({"pids": [1.5]})", "must hold only int32 values"},
        {R"({"pids": ["x"]})", "must hold only int32 values"},
        {R"({"pids": [4294967296]})", "must hold only int32 values"},
        {R"({"pids": [1], "pid": 2})", "unknown field \\\"pid\\\""},
        {R"({"pids": [1]} trailing)", "not valid JSON"},
    };
    for (const auto& c : cases) {
        int status = 0;
        std::string out = f.post(c.body, &status);
        CHECK_MESSAGE(status == 400, c.body);
        CHECK_MESSAGE(out.find(c.error) != std::string::npos, c.body, " -> ", out);
    }
}

TEST_CASE("process: pids that cannot exist are left out, the others answered (as system-probe)") {
    Fixture f;
    std::string self = std::to_string(getpid());
    for (const char* bad : {"-1", "0", "99999999", "2147483647"}) {
        int status = 0;
        std::string out = f.post(std::string(R"({"pids": [)") + bad + ", " + self + "]}", &status);
        CHECK_MESSAGE(status == 200, bad);
        simdjson::dom::parser p;
        simdjson::dom::object by_pid = p.parse(out)["statsByPID"];
        CHECK_MESSAGE(by_pid.size() == 1, bad, " -> ", out);
        CHECK(by_pid[self].error() == simdjson::SUCCESS);
    }
}

TEST_CASE("process: protojson forms: {} and null are no pids, numeric strings are pids") {
    Fixture f;
    int status = 0;
    CHECK(f.post("{}", &status) == R"({"statsByPID":{}})");
    CHECK(status == 200);
    CHECK(f.post(R"({"pids": null})", &status) == R"({"statsByPID":{}})");
    CHECK(status == 200);
    std::string self = std::to_string(getpid());
    std::string out = f.post(R"({"pids": [")" + self + R"("]})", &status);
    CHECK(status == 200);
    CHECK(out.find("\"" + self + "\":{") != std::string::npos);
}

namespace {
// A ProcessStatRequest as the process-agent's gogo code writes it (packed) or one field per pid.
std::string stat_request(const std::vector<int32_t>& pids, bool packed) {
    std::string out;
    protozero::pbf_writer w(out);
    if (packed)
        w.add_packed_int32(1, pids.begin(), pids.end());
    else
        for (int32_t p : pids) w.add_int32(1, p);
    return out;
}

struct PbStats {
    int32_t open_fds = 0;
    int64_t read_count = 0, write_count = 0, read_bytes = 0, write_bytes = 0;
};

// Decodes ProcStatsWithPermByPID{map<int32, ProcStatsWithPerm> statsByPID = 1}.
std::vector<std::pair<int32_t, PbStats>> decode_stats(const std::string& bytes) {
    std::vector<std::pair<int32_t, PbStats>> out;
    protozero::pbf_reader msg(bytes);
    while (msg.next(1)) {
        protozero::pbf_reader entry = msg.get_message();
        int32_t key = 0;
        PbStats v;
        while (entry.next()) {
            if (entry.tag() == 1) {
                key = entry.get_int32();
            } else if (entry.tag() == 2) {
                protozero::pbf_reader s = entry.get_message();
                while (s.next()) {
                    switch (s.tag()) {
                        case 1:
                            v.open_fds = s.get_int32();
                            break;
                        case 2:
                            v.read_count = s.get_int64();
                            break;
                        case 3:
                            v.write_count = s.get_int64();
                            break;
                        case 4:
                            v.read_bytes = s.get_int64();
                            break;
                        case 5:
                            v.write_bytes = s.get_int64();
                            break;
                        default:
                            s.skip();
                    }
                }
            } else {
                entry.skip();
            }
        }
        out.emplace_back(key, v);
    }
    return out;
}
}  // namespace

TEST_CASE("process: protobuf request and answer, packed and unpacked, as the process-agent sends") {
    Fixture f;
    int32_t self = getpid();
    const std::vector<std::pair<std::string, std::string>> pb_headers = {
        {"Content-Type", "application/protobuf"}, {"Accept", "application/protobuf"}};
    for (bool packed : {true, false}) {
        int status = 0;
        std::string ctype;
        std::string out =
            f.post(stat_request({self, 999999999, self, -4}, packed), &status, pb_headers, &ctype);
        CHECK(status == 200);
        CHECK(ctype == "application/protobuf");
        auto stats = decode_stats(out);
        REQUIRE(stats.size() == 1);
        CHECK(stats[0].first == self);
        CHECK(stats[0].second.open_fds >= 3);
        CHECK(stats[0].second.read_count > 0);
    }
    // A protobuf request answered in JSON (no Accept), and a JSON request answered in protobuf.
    int status = 0;
    std::string ctype;
    std::string out = f.post(stat_request({self}, true), &status,
                             {{"Content-Type", "application/protobuf"}}, &ctype);
    CHECK(ctype == "application/json");
    CHECK(out.find("\"" + std::to_string(self) + "\"") != std::string::npos);
    out = f.post("{\"pids\": [" + std::to_string(self) + "]}", &status,
                 {{"Accept", "text/plain, application/protobuf"}}, &ctype);
    CHECK(ctype == "application/protobuf");
    CHECK(decode_stats(out).size() == 1);
    // Not protobuf: 400 with protozero's reason.
    out = f.post(std::string("\x0a\xff\xff", 3), &status, pb_headers, &ctype);
    CHECK(status == 400);
    CHECK(out.find("error") != std::string::npos);
}

TEST_CASE("process: a request for more pids than fit one piece is streamed, and whole") {
    Fixture f;
    // 2,000 pids, ours among them, most of them absent: the answer is the same in JSON and in
    // protobuf, and holds exactly the pids that exist.
    std::vector<int32_t> pids;
    for (int32_t p = 1; p <= 2000; ++p) pids.push_back(p);
    pids.push_back(getpid());
    auto alive = [&] {
        std::set<int32_t> s;
        for (int32_t p : pids)
            if (::access(("/proc/" + std::to_string(p)).c_str(), F_OK) == 0) s.insert(p);
        return s;
    };
    // Every pid alive before and after is answered, once (another may start or exit meanwhile).
    auto check_answer = [&](const std::set<int32_t>& got, const std::set<int32_t>& before,
                            const std::set<int32_t>& after) {
        for (int32_t p : before)
            if (after.count(p) != 0) CHECK_MESSAGE(got.count(p) == 1, p);
        CHECK(got.count(getpid()) == 1);
    };
    int status = 0;
    std::string ctype;
    std::set<int32_t> before = alive();
    std::string pb = f.post(
        stat_request(pids, true), &status,
        {{"Content-Type", "application/protobuf"}, {"Accept", "application/protobuf"}}, &ctype);
    std::set<int32_t> after = alive();
    CHECK(status == 200);
    std::set<int32_t> got;
    for (auto& [k, v] : decode_stats(pb)) CHECK_MESSAGE(got.insert(k).second, "pid twice: ", k);
    check_answer(got, before, after);
    before = alive();
    std::string js =
        f.post(stat_request(pids, true), &status, {{"Content-Type", "application/protobuf"}});
    after = alive();
    simdjson::dom::parser p;
    simdjson::dom::object by_pid = p.parse(js)["statsByPID"];
    got.clear();
    for (auto field : by_pid) CHECK(got.insert(std::stoi(std::string(field.key))).second);
    check_answer(got, before, after);
    CHECK(js.back() == '\n');
}
