// restart_test.cpp — kill -9 then start again (root, BTF): nothing BPF is left behind by us and
// the stale socket is replaced.
//
// ringprobe pins nothing, so every BPF program, map and link it creates lives only as long as the
// process's fds (and the io_uring/ring-buffer references those fds hold). While the daemon runs, the
// ids of its objects are read from /proc/<pid>/fdinfo/* (prog_id:, map_id:, link_id:); after
// SIGKILL each id must stop resolving (BPF_*_GET_FD_BY_ID -> ENOENT) within a few seconds (the kernel
// frees them asynchronously). Ids are allocated cyclically, so a freed id is not handed out again
// during the test, and tests of other modules running concurrently do not disturb the check.
#include <doctest/doctest.h>
#include <dirent.h>
#include <linux/bpf.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <simdjson.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "support/bpf_skip.h"
#include "support/daemon.h"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct BpfIds {
    std::set<uint32_t> progs, maps, links;
    size_t total() const { return progs.size() + maps.size() + links.size(); }
};

// The BPF objects `pid` holds through its fds.
BpfIds held_ids(pid_t pid) {
    BpfIds ids;
    std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::ifstream in(e.path());
        std::string line;
        while (std::getline(in, line)) {
            auto take = [&](const char* key, std::set<uint32_t>& into) {
                size_t n = std::strlen(key);
                if (line.compare(0, n, key) == 0)
                    into.insert(static_cast<uint32_t>(std::stoul(line.substr(n))));
            };
            take("prog_id:", ids.progs);
            take("map_id:", ids.maps);
            take("link_id:", ids.links);
        }
    }
    return ids;
}

// Whether the kernel still has the object: GET_FD_BY_ID succeeds (fd closed again) or fails with
// something other than ENOENT.
bool exists(int cmd, uint32_t id) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    if (cmd == BPF_PROG_GET_FD_BY_ID) attr.prog_id = id;
    else if (cmd == BPF_MAP_GET_FD_BY_ID) attr.map_id = id;
    else attr.link_id = id;
    long fd = ::syscall(SYS_bpf, cmd, &attr, sizeof attr);
    if (fd >= 0) {
        ::close(static_cast<int>(fd));
        return true;
    }
    return errno != ENOENT;
}

size_t still_alive(const BpfIds& ids) {
    size_t n = 0;
    for (uint32_t id : ids.progs) n += exists(BPF_PROG_GET_FD_BY_ID, id);
    for (uint32_t id : ids.maps) n += exists(BPF_MAP_GET_FD_BY_ID, id);
    for (uint32_t id : ids.links) n += exists(BPF_LINK_GET_FD_BY_ID, id);
    return n;
}

rp::test::DaemonOptions options(const std::string& socket) {
    rp::test::DaemonOptions o;
    o.write_listen_keys = false;
    o.toml = "[system_probe_config]\nsysprobe_socket = \"" + socket +
             "\"\ndebug_port = {port}\nenable_oom_kill = true\nenable_tcp_queue_length = true\n";
    o.wait_ready = false;  // TestDaemon polls its own socket path, not this one
    return o;
}

bool serves_on(const std::string& socket) {
    rp::http::Client c(rp::http::Endpoint::unix_from(socket), 500ms);
    for (int i = 0; i < 1000; ++i) {
        auto r = c.get("/debug/stats");
        if (r && r->status == 200) return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

bool module_running(rp::http::Client& c, std::string_view name) {
    auto r = c.get("/debug/stats");
    if (!r || r->status != 200) return false;
    simdjson::dom::parser p;
    simdjson::dom::element root;
    if (p.parse(r->body).get(root) != simdjson::SUCCESS) return false;
    simdjson::dom::object o;
    if (root[name].get(o) != simdjson::SUCCESS) return false;
    std::string_view err;
    return o["Error"].get(err) != simdjson::SUCCESS;
}

}  // namespace

TEST_CASE("restart: kill -9 leaves no BPF object of ours; the next start replaces the stale socket") {
    rp::test::require_bpf_or_skip();
    std::string dir = rp::test::make_temp_dir();
    std::string socket = dir + "/sysprobe.sock";

    BpfIds first_ids;
    {
        rp::test::TestDaemon first(options(socket));
        REQUIRE_MESSAGE(serves_on(socket), first.log());
        rp::http::Client c(rp::http::Endpoint::unix_from(socket));
        REQUIRE_MESSAGE(module_running(c, "oom_kill_probe"), first.log());
        REQUIRE_MESSAGE(module_running(c, "tcp_queue_length_tracer"), first.log());
        first_ids = held_ids(first.pid());
        INFO("progs ", first_ids.progs.size(), " maps ", first_ids.maps.size(), " links ",
             first_ids.links.size());
        // Our probes are loaded and attached: several programs, maps and links.
        CHECK(first_ids.progs.size() >= 2);
        CHECK(first_ids.maps.size() >= 2);
        CHECK(first_ids.links.size() >= 2);
        CHECK(still_alive(first_ids) == first_ids.total());

        first.signal(SIGKILL);
        CHECK(first.wait_exit(5000ms) == 128 + SIGKILL);
    }
    // Every object is freed once the process is gone (asynchronously: poll up to 10 s).
    auto deadline = std::chrono::steady_clock::now() + 10s;
    size_t alive = still_alive(first_ids);
    while (alive != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        alive = still_alive(first_ids);
    }
    CHECK_MESSAGE(alive == 0, alive, " of ", first_ids.total(), " BPF objects outlived kill -9");

    struct stat st{};
    REQUIRE(::lstat(socket.c_str(), &st) == 0);  // the killed daemon left its socket behind
    REQUIRE(S_ISSOCK(st.st_mode));

    {
        rp::test::TestDaemon second(options(socket));
        REQUIRE_MESSAGE(serves_on(socket), second.log());
        rp::http::Client c(rp::http::Endpoint::unix_from(socket));
        CHECK(module_running(c, "oom_kill_probe"));
        CHECK(module_running(c, "tcp_queue_length_tracer"));
        auto chk = c.get("/oom_kill_probe/check");
        REQUIRE(chk.has_value());
        CHECK(chk->status == 200);
        REQUIRE(::lstat(socket.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0720);
        // A fresh set of objects, none shared with the killed daemon.
        BpfIds second_ids = held_ids(second.pid());
        CHECK(second_ids.progs.size() == first_ids.progs.size());
        for (uint32_t id : second_ids.progs) CHECK(first_ids.progs.count(id) == 0);
        second.signal(SIGTERM);
        CHECK(second.wait_exit(8000ms) == 0);
        // A clean stop frees everything too and removes the socket.
        deadline = std::chrono::steady_clock::now() + 10s;
        while (still_alive(second_ids) != 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(20ms);
        CHECK(still_alive(second_ids) == 0);
        CHECK(::lstat(socket.c_str(), &st) != 0);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
}
