// tcp_queue_length_test.cpp — tcp_queue_length_tracer against the real kernel (root).
//
// A loopback TCP pair runs in two child processes placed in a fresh memory cgroup made for the
// test: the receiver does not read while the sender fills the connection, then reads it all back in
// small pieces. A real daemon (TestDaemon) with enable_tcp_queue_length = true must report that
// cgroup's full send queue, then its full receive queue, then forget both (GetAndFlush); and
// POST /module-restart/tcp_queue_length_tracer must not leak a file descriptor.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/bpf_skip.h"
#include "support/btf_mode.h"
#include "support/daemon.h"

namespace {

using rp::test::DaemonOptions;
using rp::test::TestDaemon;
namespace fs = std::filesystem;

constexpr const char* kConfig = "[system_probe_config]\nenable_tcp_queue_length = true\n";
constexpr const char* kModule = "tcp_queue_length_tracer";

// ---------------------------------------------------------------------------------------------
// Cgroup made for the test, in the hierarchy whose leaf names the module reports (the memory
// controller's: cgroup v1 "memory", else the unified v2 hierarchy). It is created under this
// process's own memory cgroup, so whatever limits apply to the test keep applying to its children.

// Mount point of the hierarchy with `option` among its super options ("memory"), or of cgroup2.
std::string cgroup_mount(bool v2, std::string_view option) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // ... mount-point ... - fstype source super-options
        std::istringstream ls(line);
        std::string id, parent, devno, root, mount_point;
        ls >> id >> parent >> devno >> root >> mount_point;
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream tail(line.substr(dash + 3));
        std::string fstype, source, options;
        tail >> fstype >> source >> options;
        if (v2 && fstype == "cgroup2") return mount_point;
        if (!v2 && fstype == "cgroup") {
            std::istringstream os(options);
            std::string opt;
            while (std::getline(os, opt, ','))
                if (opt == option) return mount_point;
        }
    }
    return {};
}

// Directory of this process's memory cgroup, or empty when there is none to nest under.
std::string own_memory_cgroup_dir() {
    std::ifstream in("/proc/self/cgroup");
    std::string line, v2_path;
    while (std::getline(in, line)) {
        // hierarchy-id:controller-list:path
        auto c1 = line.find(':');
        auto c2 = line.find(':', c1 + 1);
        if (c1 == std::string::npos || c2 == std::string::npos) continue;
        std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
        std::string path = line.substr(c2 + 1);
        if (controllers.empty() && line.starts_with("0:")) {
            v2_path = path;
            continue;
        }
        std::istringstream cs(controllers);
        std::string c;
        while (std::getline(cs, c, ','))
            if (c == "memory") {
                std::string mount = cgroup_mount(false, "memory");
                return mount.empty() ? std::string() : mount + path;
            }
    }
    std::string mount = cgroup_mount(true, "");
    if (mount.empty() || v2_path.empty()) return {};
    return mount + v2_path;
}

class TestCgroup {
  public:
    TestCgroup() {
        std::string parent = own_memory_cgroup_dir();
        if (parent.empty()) {
            error_ =
                "no memory cgroup hierarchy found in /proc/self/cgroup and /proc/self/mountinfo";
            return;
        }
        name_ = "rp-tcpq-" + std::to_string(getpid());
        dir_ = parent + "/" + name_;
        std::error_code ec;
        fs::create_directory(dir_, ec);
        if (ec) error_ = "mkdir " + dir_ + ": " + ec.message();
    }
    ~TestCgroup() {
        if (!error_.empty() || dir_.empty()) return;
        // rmdir succeeds once the last member has exited; give exiting children a moment.
        for (int i = 0; i < 100 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::string& error() const { return error_; }
    const std::string& name() const { return name_; }
    const std::string& dir() const { return dir_; }
    bool add(pid_t pid) const {
        std::ofstream procs(dir_ + "/cgroup.procs");
        procs << pid << std::flush;
        return static_cast<bool>(procs);
    }

  private:
    std::string name_, dir_, error_;
};

// ---------------------------------------------------------------------------------------------
// Child processes, driven over pipes. A child waits for its first command before doing anything,
// so the parent can move it into the cgroup first.

bool write_all(int fd, const void* p, size_t n) {
    auto* b = static_cast<const char*>(p);
    while (n > 0) {
        ssize_t w = ::write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        b += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_all(int fd, void* p, size_t n) {
    auto* b = static_cast<char*>(p);
    while (n > 0) {
        ssize_t r = ::read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        b += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

class Child {
  public:
    // Runs fn(to_child_read_fd, to_parent_write_fd) in a new process, which then _exits.
    template <typename Fn>
    explicit Child(Fn fn) {
        int down[2], up[2];
        if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(down[1]);
            ::close(up[0]);
            ::_exit(fn(down[0], up[1]));
        }
        ::close(down[0]);
        ::close(up[1]);
        to_ = down[1];
        from_ = up[0];
    }
    ~Child() {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (to_ >= 0) ::close(to_);
        if (from_ >= 0) ::close(from_);
    }
    pid_t pid() const { return pid_; }
    template <typename T>
    bool send(const T& v) {
        return write_all(to_, &v, sizeof v);
    }
    template <typename T>
    bool receive(T& v) {
        return read_all(from_, &v, sizeof v);
    }
    // Exit status, or -1.
    int wait() {
        int status = 0;
        if (::waitpid(pid_, &status, 0) != pid_) return -1;
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

  private:
    pid_t pid_ = -1;
    int to_ = -1, from_ = -1;
    bool reaped_ = false;
};

// Receiver: listens on 127.0.0.1, reports the port, accepts one connection and does not read it
// until told how many bytes to read; then reads them in small pieces (a slow reader) and reports.
int receiver_main(int in, int out) {
    char go;
    if (!read_all(in, &go, 1)) return 10;
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 1) != 0 ||
        ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        return 11;
    uint16_t port = ntohs(a.sin_port);
    if (!write_all(out, &port, sizeof port)) return 12;
    int c = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return 13;
    int64_t expect = 0;
    if (!read_all(in, &expect, sizeof expect)) return 14;
    char buf[2048];
    int64_t got = 0;
    while (got < expect) {
        ssize_t r = ::recv(c, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 15;
        got += r;
    }
    if (!write_all(out, &got, sizeof got)) return 16;
    if (!read_all(in, &go, 1)) return 17;
    ::close(c);
    ::close(l);
    return 0;
}

// Sender: connects to the port it is given and writes without blocking until the connection takes
// nothing more for 300 ms (receive window closed and send buffer full); reports the byte count.
int sender_main(int in, int out) {
    uint16_t port = 0;
    if (!read_all(in, &port, sizeof port)) return 20;
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 21;
    ::fcntl(s, F_SETFL, O_NONBLOCK);
    static char buf[65536];
    int64_t total = 0;
    for (;;) {
        ssize_t w = ::send(s, buf, sizeof buf, MSG_NOSIGNAL);
        if (w > 0) {
            total += w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) return 22;
        pollfd p{s, POLLOUT, 0};
        if (::poll(&p, 1, 300) == 0) break;  // full
    }
    if (!write_all(out, &total, sizeof total)) return 23;
    char go;
    if (!read_all(in, &go, 1)) return 24;
    ::close(s);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Daemon helpers.

struct Usage {
    uint64_t read = 0, write = 0;
};

std::string get_ok(rp::http::Client& c, const std::string& path) {
    auto r = c.get(path);
    REQUIRE_MESSAGE(r.has_value(), path << ": " << (r ? "" : r.error()));
    REQUIRE_MESSAGE(r->status == 200, path << ": " << r->status << " " << r->body);
    return r->body;
}

// Entries of one /check: cgroup name -> usage. Fails the test on a malformed body.
std::map<std::string, Usage> check(rp::http::Client& c) {
    std::string body = get_ok(c, std::string("/") + kModule + "/check");
    REQUIRE(!body.empty());
    CHECK(body.back() == '\n');
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element doc;
    REQUIRE_MESSAGE(parser.parse(padded).get(doc) == simdjson::SUCCESS, body);
    simdjson::dom::object obj;
    REQUIRE_MESSAGE(doc.get_object().get(obj) == simdjson::SUCCESS, body);
    std::map<std::string, Usage> out;
    for (auto field : obj) {
        simdjson::dom::object v;
        REQUIRE(field.value.get_object().get(v) == simdjson::SUCCESS);
        Usage u;
        REQUIRE(v["read_buffer_max_usage"].get_uint64().get(u.read) == simdjson::SUCCESS);
        REQUIRE(v["write_buffer_max_usage"].get_uint64().get(u.write) == simdjson::SUCCESS);
        CHECK(v.size() == 2);
        out.emplace(std::string(field.key), u);
    }
    if (out.empty()) CHECK(body == "{}\n");
    return out;
}

// The module's object in /debug/stats, as text (parsed again by the caller as needed).
struct ModuleStats {
    int64_t last_check = -1;
    std::map<std::string, uint64_t> samples;
    std::vector<std::string> hooks;
};

ModuleStats module_stats(rp::http::Client& c) {
    std::string body = get_ok(c, "/debug/stats");
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element doc;
    REQUIRE_MESSAGE(parser.parse(padded).get(doc) == simdjson::SUCCESS, body);
    simdjson::dom::object m;
    REQUIRE_MESSAGE(doc[kModule].get_object().get(m) == simdjson::SUCCESS, body);
    REQUIRE_MESSAGE(m["Error"].error() == simdjson::NO_SUCH_FIELD, body);
    ModuleStats s;
    REQUIRE_MESSAGE(m["last_check"].get_int64().get(s.last_check) == simdjson::SUCCESS, body);
    simdjson::dom::array hooks;
    if (m["hooks"].get_array().get(hooks) == simdjson::SUCCESS)
        for (auto h : hooks) {
            std::string_view name;
            if (h.get_string().get(name) == simdjson::SUCCESS) s.hooks.emplace_back(name);
        }
    simdjson::dom::object samples;
    if (m["samples"].get_object().get(samples) == simdjson::SUCCESS)
        for (auto f : samples) {
            uint64_t n = 0;
            if (f.value.get_uint64().get(n) == simdjson::SUCCESS) s.samples[std::string(f.key)] = n;
        }
    return s;
}

bool has_hook(const ModuleStats& s, std::string_view hook) {
    for (const auto& h : s.hooks)
        if (h == hook) return true;
    return false;
}

DaemonOptions daemon_options() {
    DaemonOptions o;
    o.toml = kConfig;
    return o;
}

size_t count_fds(pid_t pid) {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e :
         fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("tcp_queue_length: a cgroup's full send queue, then its drained receive queue, then {}") {
    rp::test::require_bpf_or_skip();
    TestCgroup cg;
    rp::test::skip_unless(cg.error());

    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();

    ModuleStats before = module_stats(client);
    CHECK(before.last_check == 0);
    CHECK(has_hook(before, rp::test::hook("tcp_sendmsg_locked")));
    CHECK(has_hook(before, rp::test::hook("tcp_rcv_space_adjust")));
    check(client);  // start from an empty map

    Child receiver(receiver_main);
    Child sender(sender_main);
    REQUIRE(receiver.pid() > 0);
    REQUIRE(sender.pid() > 0);
    REQUIRE(cg.add(receiver.pid()));
    REQUIRE(cg.add(sender.pid()));

    char go = 'g';
    REQUIRE(receiver.send(go));
    uint16_t port = 0;
    REQUIRE(receiver.receive(port));
    REQUIRE(sender.send(port));
    int64_t sent = 0;
    REQUIRE(sender.receive(sent));
    MESSAGE("sender queued " << sent << " bytes before the connection was full");
    REQUIRE(sent > 0);

    // 1. Nobody read: the sender's queue is full. (tcp_probe also sees the receiver's full
    //    receive queue, credited through the cgroup the listening socket was tagged with.)
    auto first = check(client);
    REQUIRE_MESSAGE(first.count(cg.name()) == 1, "cgroup " << cg.name() << " missing");
    Usage u1 = first[cg.name()];
    MESSAGE("full send queue: write_buffer_max_usage=" << u1.write
                                                       << " read_buffer_max_usage=" << u1.read);
    CHECK(u1.write > 300);
    CHECK(u1.write <= 1100);
    ModuleStats mid = module_stats(client);
    CHECK(mid.last_check > 0);
    if (has_hook(mid, rp::test::hook("tcp_probe"))) CHECK(u1.read > 300);

    // 2. A slow reader drains the full receive queue, 2 KiB per recv.
    REQUIRE(receiver.send(sent));
    int64_t got = 0;
    REQUIRE(receiver.receive(got));
    CHECK(got == sent);
    auto second = check(client);
    REQUIRE_MESSAGE(second.count(cg.name()) == 1, "cgroup " << cg.name() << " missing");
    Usage u2 = second[cg.name()];
    MESSAGE("slow reader: read_buffer_max_usage=" << u2.read
                                                  << " write_buffer_max_usage=" << u2.write);
    CHECK(u2.read > 300);
    ModuleStats after = module_stats(client);
    // The reads themselves were sampled (tcp_recvmsg path), not only incoming segments.
    CHECK(after.samples["tcp_rcv_space_adjust"] > mid.samples["tcp_rcv_space_adjust"]);

    // 3. Flushed: nothing new from our cgroup. Other processes on the host may use TCP meanwhile;
    //    only an empty object is expected from ours.
    auto third = check(client);
    CHECK(third.count(cg.name()) == 0);
    if (!third.empty()) MESSAGE("third check has " << third.size() << " other cgroup(s)");

    REQUIRE(receiver.send(go));
    REQUIRE(sender.send(go));
    CHECK(receiver.wait() == 0);
    CHECK(sender.wait() == 0);
}

TEST_CASE("tcp_queue_length: module restart leaves the daemon's fd count unchanged") {
    rp::test::require_bpf_or_skip();
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    check(client);  // the connection and the module's lazily made state exist from here on
    module_stats(client);

    size_t fds_before = count_fds(d.pid());
    for (int i = 0; i < 3; ++i) {
        auto r = client.post(std::string("/module-restart/") + kModule, "");
        REQUIRE(r.has_value());
        CHECK_MESSAGE(r->status == 200, r->body);
    }
    check(client);
    ModuleStats s = module_stats(client);
    CHECK(s.last_check > 0);
    CHECK(has_hook(s, rp::test::hook("tcp_sendmsg_locked")));
    size_t fds_after = count_fds(d.pid());
    CHECK(fds_after == fds_before);
    MESSAGE("daemon fds: " << fds_before << " before, " << fds_after << " after 3 restarts");
}

TEST_CASE(
    "tcp_queue_length: /metrics shows a cgroup's peak as a ratio and empties nothing /check "
    "returns") {
    rp::test::require_bpf_or_skip();
    TestCgroup cg;
    rp::test::skip_unless(cg.error());
    TestDaemon d(daemon_options());
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto client = d.client();
    check(client);

    Child receiver(receiver_main);
    Child sender(sender_main);
    REQUIRE(receiver.pid() > 0);
    REQUIRE(sender.pid() > 0);
    REQUIRE(cg.add(receiver.pid()));
    REQUIRE(cg.add(sender.pid()));
    char go = 'g';
    REQUIRE(receiver.send(go));
    uint16_t port = 0;
    REQUIRE(receiver.receive(port));
    REQUIRE(sender.send(port));
    int64_t sent = 0;
    REQUIRE(sender.receive(sent));
    REQUIRE(sent > 0);

    // The scrape first: it drains the kernel map, and must keep what it took for /check.
    auto gauge = [&](const std::string& text, const char* family) {
        std::string series = std::string(family) + "{cgroup=\"" + cg.name() + "\"} ";
        size_t at = text.find(series);
        return at == std::string::npos ? -1.0
                                       : std::strtod(text.c_str() + at + series.size(), nullptr);
    };
    std::string m1 = get_ok(client, "/metrics");
    double write_ratio = gauge(m1, "ringprobe_tcp_queue_write_buffer_max_usage_ratio");
    MESSAGE("write_buffer_max_usage_ratio " << write_ratio);
    CHECK(write_ratio > 0.3);
    CHECK(write_ratio <= 1.1);
    CHECK(gauge(m1, "ringprobe_tcp_queue_read_buffer_max_usage_ratio") >= 0);

    auto first = check(client);
    REQUIRE_MESSAGE(first.count(cg.name()) == 1, "cgroup " << cg.name() << " missing from /check");
    CHECK(first[cg.name()].write / 1000.0 == doctest::Approx(write_ratio).epsilon(0.2));
    // /check emptied its own view; the peak stays in /metrics for the rest of its window.
    CHECK(check(client).count(cg.name()) == 0);
    std::string m2 = get_ok(client, "/metrics");
    CHECK(gauge(m2, "ringprobe_tcp_queue_write_buffer_max_usage_ratio") >= write_ratio);

    REQUIRE(receiver.send(sent));
    int64_t got = 0;
    REQUIRE(receiver.receive(got));
    REQUIRE(receiver.send(go));
    REQUIRE(sender.send(go));
    CHECK(receiver.wait() == 0);
    CHECK(sender.wait() == 0);
}
