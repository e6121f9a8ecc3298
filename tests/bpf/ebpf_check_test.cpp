// ebpf_check_test.cpp — the `ebpf` module against the real kernel (root).
//
// With oom_kill_probe loaded, GET /ebpf/check must list its programs and maps under the module
// "oom_kill_probe" with real sizes and instruction counts, and a socket filter and a hash map this
// test creates itself (not ringprobe's) under "unknown". Run once in-process (module objects, a
// router) and once on the daemon, where ebpf_check.kernel_bpf_stats must turn on run-time
// statistics while the module lives and give the previous setting back when it goes. A warm check
// must not allocate (DESIGN.md, memory discipline): this file replaces operator new to count.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <linux/bpf.h>
#include <signal.h>
#include <simdjson.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "bpf/runtime/runtime.h"
#include "conf/config.h"
#include "http/json_writer.h"
#include "http/router.h"
#include "loop/reactor.h"
#include "modules/ebpf/bpf_inventory.h"
#include "modules/module.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"

namespace {

// operator new calls while armed (see the replacements below namespace scope). C code (libbpf,
// rapidjson's stack, http::Buffer) uses malloc and is not counted; ours is C++.
std::atomic<bool> g_count_news{false};
std::atomic<uint64_t> g_news{0};

// operator new calls made by f().
template <typename F>
uint64_t news_during(F&& f) {
    g_news = 0;
    g_count_news = true;
    f();
    g_count_news = false;
    return g_news;
}

void* counted_malloc(std::size_t n) noexcept {
    if (g_count_news.load(std::memory_order_relaxed))
        g_news.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n ? n : 1);
}

}  // namespace

// Every unaligned form is replaced, so that each delete frees what its new (here: malloc) made,
// also under ASan, whose runtime would otherwise serve the forms left out (the aligned ones pair
// among themselves). The deletes are not inlined: GCC would see free() on memory from operator new
// and warn (-Wmismatched-new-delete), not knowing that the new here is malloc.
void* operator new(std::size_t n) {
    if (void* p = counted_malloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
__attribute__((noinline)) void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}

namespace {

// A socket filter and a hash map that belong to no ringprobe module.
class ForeignObjects {
  public:
    ForeignObjects() {
        static const bpf_insn insns[] = {
            {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
            {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
        };
        prog_fd_ =
            bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "rp_test_filter", "GPL", insns, 2, nullptr);
        REQUIRE(prog_fd_ >= 0);
        map_fd_ = bpf_map_create(BPF_MAP_TYPE_HASH, "rp_test_map", 4, 8, 16, nullptr);
        REQUIRE(map_fd_ >= 0);
        prog_id_ = id_of<bpf_prog_info>(prog_fd_);
        map_id_ = id_of<bpf_map_info>(map_fd_);
    }
    ~ForeignObjects() {
        ::close(prog_fd_);
        ::close(map_fd_);
    }
    // Runs the filter `times` times (BPF_PROG_TEST_RUN).
    void run(int times) {
        char packet[64] = {};
        bpf_test_run_opts opts{};
        opts.sz = sizeof opts;
        opts.data_in = packet;
        opts.data_size_in = sizeof packet;
        opts.repeat = times;
        REQUIRE(bpf_prog_test_run_opts(prog_fd_, &opts) == 0);
    }
    uint64_t run_count() const {
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        REQUIRE(bpf_obj_get_info_by_fd(prog_fd_, &info, &len) == 0);
        return info.run_cnt;
    }
    uint32_t prog_id() const { return prog_id_; }
    uint32_t map_id() const { return map_id_; }

  private:
    template <typename Info>
    static uint32_t id_of(int fd) {
        Info info{};
        uint32_t len = sizeof info;
        REQUIRE(bpf_obj_get_info_by_fd(fd, &info, &len) == 0);
        return info.id;
    }
    int prog_fd_ = -1, map_fd_ = -1;
    uint32_t prog_id_ = 0, map_id_ = 0;
};

struct Program {
    uint64_t id = 0, xlated = 0, rss = 0, run_count = 0, verified = 0, runtime = 0;
    uint64_t type_id = 0;                 // "TypeNumber": the kernel's bpf_prog_type
    std::string name, module, tag, type;  // type: "Type", cilium's name
};
struct Map {
    uint64_t id = 0, max_entries = 0, rss = 0, max_size = 0;
    int64_t entries = 0;
    uint64_t type_id = 0;            // "TypeNumber": the kernel's bpf_map_type
    std::string name, module, type;  // type: "Type", cilium's name
};
struct Check {
    std::vector<Program> programs;
    std::vector<Map> maps;
};

Check parse(const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(body);
    Check c;
    for (simdjson::dom::object o : doc["Programs"].get_array()) {
        Program p;
        p.id = uint64_t(o["ID"]);
        p.xlated = uint64_t(o["XlatedProgLen"]);
        p.name = std::string(std::string_view(o["Name"]));
        p.module = std::string(std::string_view(o["Module"]));
        p.tag = std::string(std::string_view(o["Tag"]));
        p.rss = uint64_t(o["RSS"]);
        p.run_count = uint64_t(o["RunCount"]);
        (void)uint64_t(o["RecursionMisses"]);
        p.runtime = uint64_t(o["Runtime"]);
        p.verified = uint64_t(o["VerifiedInsns"]);
        p.type = std::string(std::string_view(o["Type"]));  // the Agent's string (default)
        p.type_id = uint64_t(o["TypeNumber"]);
        c.programs.push_back(std::move(p));
    }
    for (simdjson::dom::object o : doc["Maps"].get_array()) {
        Map m;
        m.id = uint64_t(o["ID"]);
        m.max_entries = uint64_t(o["MaxEntries"]);
        m.name = std::string(std::string_view(o["Name"]));
        m.module = std::string(std::string_view(o["Module"]));
        m.rss = uint64_t(o["RSS"]);
        m.max_size = uint64_t(o["MaxSize"]);
        m.type = std::string(std::string_view(o["Type"]));
        m.type_id = uint64_t(o["TypeNumber"]);
        m.entries = int64_t(o["Entries"]);
        c.maps.push_back(std::move(m));
    }
    return c;
}

// What every check must show about oom_kill_probe and the test's own objects.
void check_inventory(const Check& c, const ForeignObjects& foreign) {
    std::set<std::string> ours;
    for (const auto& p : c.programs) {
        if (p.module != "oom_kill_probe") continue;
        ours.insert(p.name);
        CHECK(p.type == "Tracing");
        CHECK(p.type_id == BPF_PROG_TYPE_TRACING);
        CHECK(p.xlated > 0);
        CHECK(p.verified > 0);
        CHECK(p.rss > 0);
        CHECK(p.tag.size() == 16);
    }
    CHECK(ours ==
          std::set<std::string>{"oom_mark_victim", "oom_memcg_reclaim", "oom_direct_reclaim"});

    std::map<std::string, const Map*> our_maps;
    uint64_t our_bytes = 0;
    for (const auto& m : c.maps) {
        if (m.module != "oom_kill_probe") continue;
        our_maps[m.name] = &m;
        our_bytes += m.rss;
        MESSAGE("oom_kill_probe map " << m.name << " (" << m.type << "): " << m.rss << " bytes");
    }
    MESSAGE("oom_kill_probe maps: " << our_bytes << " bytes of kernel memory in total");
    REQUIRE(our_maps.count("events"));
    CHECK(our_maps["events"]->type == "RingBuf");
    CHECK(our_maps["events"]->type_id == BPF_MAP_TYPE_RINGBUF);
    CHECK(our_maps["events"]->rss >= 64 * 1024);
    CHECK(our_maps["events"]->entries == -1);
    REQUIRE(our_maps.count("lost_events"));
    CHECK(our_maps["lost_events"]->type == "Array");  // mmapable, one slot per CPU
    CHECK(our_maps["lost_events"]->type_id == BPF_MAP_TYPE_ARRAY);
    CHECK(our_maps["lost_events"]->max_entries == uint64_t(libbpf_num_possible_cpus()));
    REQUIRE(our_maps.count("last_reclaim"));
    CHECK(our_maps["last_reclaim"]->type == "LRUHash");
    CHECK(our_maps["last_reclaim"]->type_id == BPF_MAP_TYPE_LRU_HASH);
    CHECK(our_maps["last_reclaim"]->max_entries == 1024);
    CHECK(our_maps["last_reclaim"]->entries >= 0);  // counted for our hash maps

    const Program* filter = nullptr;
    for (const auto& p : c.programs)
        if (p.id == foreign.prog_id()) filter = &p;
    REQUIRE(filter != nullptr);
    CHECK(filter->module == "unknown");
    CHECK(filter->name == "rp_test_filter");
    CHECK(filter->type == "SocketFilter");
    CHECK(filter->type_id == BPF_PROG_TYPE_SOCKET_FILTER);
    CHECK(filter->xlated == 16);  // two instructions
    CHECK(filter->verified > 0);
    const Map* map = nullptr;
    for (const auto& m : c.maps)
        if (m.id == foreign.map_id()) map = &m;
    REQUIRE(map != nullptr);
    CHECK(map->module == "unknown");
    CHECK(map->name == "rp_test_map");
    CHECK(map->type == "Hash");
    CHECK(map->type_id == BPF_MAP_TYPE_HASH);
    CHECK(map->max_entries == 16);
    CHECK(map->entries == -1);  // not counted for other owners' maps
    CHECK(map->rss > 0);
}

const Program* find_program(const Check& c, uint64_t id) {
    for (const auto& p : c.programs)
        if (p.id == id) return &p;
    return nullptr;
}

char read_stats_sysctl() {
    std::ifstream f("/proc/sys/kernel/bpf_stats_enabled");
    char c = 0;
    f >> c;
    return c;
}

std::string call(rp::http::Router& router, std::string_view path) {
    rp::http::Request req;
    req.method = "GET";
    req.target = path;
    req.path = path;
    auto m = router.match("GET", path, req.params);
    REQUIRE(m.outcome == rp::http::Router::Outcome::found);
    rp::http::Buffer body;
    rp::http::JsonWriter writer(body);
    rp::http::Response res(body, writer, false);
    (*m.handler)(req, res);
    REQUIRE(res.status() == 200);
    return std::string(body.view());
}

// Calls one route again and again with the same request, response and body buffer, as the
// server's pools do, so that what allocates is the handler.
class RouteCaller {
  public:
    RouteCaller(rp::http::Router& router, std::string_view path)
        : writer_(body_), res_(body_, writer_, false) {
        req_.method = "GET";
        req_.target = path;
        req_.path = path;
        auto m = router.match("GET", path, req_.params);
        REQUIRE(m.outcome == rp::http::Router::Outcome::found);
        handler_ = m.handler;
    }
    std::string_view call() {
        (*handler_)(req_, res_);
        REQUIRE(res_.status() == 200);
        return body_.view();
    }

  private:
    rp::http::Request req_;
    rp::http::Buffer body_;
    rp::http::JsonWriter writer_;
    rp::http::Response res_;
    const rp::http::HandlerFn* handler_ = nullptr;
};

}  // namespace

TEST_CASE("ebpf: type names beyond cilium/ebpf's tables are MapType(N) and ProgramType(N)") {
    using rp::modules::ebpf::map_type_name;
    using rp::modules::ebpf::program_type_name;
    char buf[rp::modules::ebpf::kTypeNameBytes];
    CHECK(map_type_name(BPF_MAP_TYPE_RINGBUF, buf) == "RingBuf");
    CHECK(map_type_name(33, buf) == "Arena");  // the last known (BPF_MAP_TYPE_ARENA)
    CHECK(map_type_name(34, buf) == "MapType(34)");
    CHECK(map_type_name(UINT32_MAX, buf) == "MapType(4294967295)");
    CHECK(program_type_name(BPF_PROG_TYPE_TRACING, buf) == "Tracing");
    CHECK(program_type_name(BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, buf) == "RawTracepointWritable");
    CHECK(program_type_name(32, buf) == "Netfilter");  // the last known (BPF_PROG_TYPE_NETFILTER)
    CHECK(program_type_name(33, buf) == "ProgramType(33)");
    CHECK(program_type_name(UINT32_MAX, buf) == "ProgramType(4294967295)");
}

TEST_CASE("ebpf: every program and map on the host, ours named by module (in-process)") {
    rp::test::require_bpf_or_skip();
    auto reactor = rp::loop::Reactor::create();
    REQUIRE(reactor);
    auto rt = rp::bpf::Runtime::setup();
    REQUIRE(rt);
    rp::conf::Config cfg;
    rp::modules::Dependencies deps{**reactor, rt->get()};
    auto oom = rp::modules::find_factory("oom_kill_probe")->create(cfg, deps);
    REQUIRE_MESSAGE(oom, (oom ? "" : oom.error()));
    auto ebpf = rp::modules::find_factory("ebpf")->create(cfg, deps);
    REQUIRE_MESSAGE(ebpf, (ebpf ? "" : ebpf.error()));
    rp::http::Router router;
    REQUIRE((*ebpf)->register_routes(router.mount("ebpf")));
    ForeignObjects foreign;

    std::string body = call(router, "/ebpf/check");
    Check c = parse(body);
    MESSAGE(c.programs.size() << " programs, " << c.maps.size() << " maps on the host");
    check_inventory(c, foreign);

    // Unloading the module takes its objects (and their ownership) away.
    (*oom)->close();
    Check after = parse(call(router, "/ebpf/check"));
    for (const auto& p : after.programs) CHECK(p.module != "oom_kill_probe");
    for (const auto& m : after.maps) CHECK(m.module != "oom_kill_probe");
    CHECK(find_program(after, foreign.prog_id()) != nullptr);
}

TEST_CASE(
    "ebpf: type_encoding = \"number\" writes Type as the kernel's number, for Agents before 7.65") {
    rp::test::require_bpf_or_skip();
    auto reactor = rp::loop::Reactor::create();
    REQUIRE(reactor);
    auto rt = rp::bpf::Runtime::setup();
    REQUIRE(rt);
    auto cfg = rp::conf::Config::parse("[ringprobe.ebpf]\ntype_encoding = \"number\"\n", "test", {},
                                       nullptr);
    REQUIRE(cfg);
    rp::modules::Dependencies deps{**reactor, rt->get()};
    auto ebpf = rp::modules::find_factory("ebpf")->create(*cfg, deps);
    REQUIRE(ebpf);
    rp::http::Router router;
    REQUIRE((*ebpf)->register_routes(router.mount("ebpf")));
    ForeignObjects foreign;
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(call(router, "/ebpf/check"));
    bool seen_prog = false, seen_map = false;
    for (simdjson::dom::object o : doc["Programs"].get_array()) {
        if (uint64_t(o["ID"]) != foreign.prog_id()) continue;
        seen_prog = true;
        CHECK(uint64_t(o["Type"]) == BPF_PROG_TYPE_SOCKET_FILTER);  // a JSON number
        CHECK(std::string_view(o["TypeName"]) == "SocketFilter");
    }
    for (simdjson::dom::object o : doc["Maps"].get_array()) {
        if (uint64_t(o["ID"]) != foreign.map_id()) continue;
        seen_map = true;
        CHECK(uint64_t(o["Type"]) == BPF_MAP_TYPE_HASH);
        CHECK(std::string_view(o["TypeName"]) == "Hash");
    }
    CHECK(seen_prog);
    CHECK(seen_map);
    // Anything else is a configuration error naming the key.
    auto bad =
        rp::conf::Config::parse("[ringprobe.ebpf]\ntype_encoding = \"int\"\n", "test", {}, nullptr);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().find("ringprobe.ebpf.type_encoding") != std::string::npos);
}

TEST_CASE("ebpf: daemon check with kernel_bpf_stats counts runs and restores the setting") {
    rp::test::require_bpf_or_skip();
    const char stats_before = read_stats_sysctl();
    ForeignObjects foreign;
    {
        rp::test::DaemonOptions opts;
        opts.toml =
            "[system_probe_config]\nenable_oom_kill = true\n"
            "[ebpf_check]\nenabled = true\nkernel_bpf_stats = true\n";
        rp::test::TestDaemon d(opts);
        REQUIRE_MESSAGE(d.ready(), d.log());
        foreign.run(25);
        auto c = d.client();
        auto r = c.get("/ebpf/check");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        Check check = parse(r->body);
        check_inventory(check, foreign);
        const Program* filter = find_program(check, foreign.prog_id());
        REQUIRE(filter != nullptr);
        CHECK(filter->run_count >= 25);
        CHECK(filter->runtime > 0);

        auto stats = c.get("/debug/stats");
        REQUIRE(stats);
        MESSAGE(stats->body);
        CHECK(stats->body.find("\"kernel_bpf_stats\":\"BPF_ENABLE_STATS\"") != std::string::npos);
        d.signal(SIGTERM);
        CHECK(d.wait_exit() == 0);
    }
    // Statistics are off again (unless someone else had them on): runs no longer count.
    CHECK(read_stats_sysctl() == stats_before);
    if (stats_before == '0') {
        const uint64_t runs = foreign.run_count();
        foreign.run(10);
        CHECK(foreign.run_count() == runs);
    }
}

TEST_CASE("ebpf: a warm check allocates nothing, again once the host outgrows its storage") {
    rp::test::require_bpf_or_skip();
    auto reactor = rp::loop::Reactor::create();
    REQUIRE(reactor);
    auto rt = rp::bpf::Runtime::setup();
    REQUIRE(rt);
    rp::conf::Config cfg;
    rp::modules::Dependencies deps{**reactor, rt->get()};
    auto oom = rp::modules::find_factory("oom_kill_probe")
                   ->create(cfg, deps);  // ours: names, a hash map's entry count
    REQUIRE_MESSAGE(oom, (oom ? "" : oom.error()));
    auto ebpf = rp::modules::find_factory("ebpf")->create(cfg, deps);
    REQUIRE_MESSAGE(ebpf, (ebpf ? "" : ebpf.error()));
    rp::http::Router router;
    REQUIRE((*ebpf)->register_routes(router.mount("ebpf")));
    ForeignObjects foreign;
    RouteCaller check(router, "/ebpf/check");

    const size_t maps_before = parse(std::string(check.call())).maps.size();
    CHECK(news_during([&] { check.call(); }) == 0);
    check_inventory(parse(std::string(check.call())), foreign);

    // Unnamed objects of other owners, more maps than the module can have room for (it reserves
    // 128 and doubles: under twice the most it has seen). The first check after that may
    // allocate; the ones after it must not.
    const size_t extra = 2 * std::max<size_t>(maps_before, 128) - maps_before + 1;
    std::vector<int> fds;
    struct CloseAll {
        std::vector<int>& fds;
        ~CloseAll() {
            for (int fd : fds) ::close(fd);
        }
    } close_all{fds};
    for (size_t i = 0; i < extra; ++i) {
        fds.push_back(bpf_map_create(BPF_MAP_TYPE_ARRAY, nullptr, 4, 4, 1, nullptr));
        REQUIRE(fds.back() >= 0);
    }
    static const bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    fds.push_back(bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, nullptr, "GPL", insns, 2, nullptr));
    REQUIRE(fds.back() >= 0);
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    REQUIRE(bpf_obj_get_info_by_fd(fds.back(), &info, &len) == 0);
    const uint32_t unnamed_prog = info.id;

    const uint64_t growth = news_during([&] { check.call(); });
    MESSAGE(extra << " more maps: the first check after allocated " << growth << " times");
    CHECK(growth > 0);
    CHECK(news_during([&] { check.call(); }) == 0);

    Check c = parse(std::string(check.call()));
    CHECK(c.maps.size() >= maps_before + extra);
    check_inventory(c, foreign);
    const Program* p = find_program(c, unnamed_prog);
    REQUIRE(p != nullptr);
    CHECK(p->name == "socketfilter");  // system-probe: unnamed → the lower-cased type
    CHECK(p->module == "unknown");
    size_t unnamed_arrays = 0;
    for (const auto& m : c.maps) unnamed_arrays += m.name == "Array" && m.module == "unknown";
    CHECK(unnamed_arrays >= extra);  // unnamed → the type name
}
