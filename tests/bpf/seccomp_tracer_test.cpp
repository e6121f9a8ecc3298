// seccomp_tracer_test.cpp — seccomp_tracer against the real kernel (root).
//
// Child processes install real seccomp filters (SECCOMP_SET_MODE_FILTER with no_new_privs) and then
// make the denied system call; a real daemon (TestDaemon) with seccomp_tracer.enabled = true must
// report each denial exactly: one entry per (pid, syscall, action) with the right count, syscallNr,
// seccompAction (ret & SECCOMP_RET_ACTION_FULL, as system-probe) and actionData (the filter's
// SECCOMP_RET_DATA, ringprobe's addition) — and nothing for processes whose system calls were
// allowed, whether they have a filter or not. /check flushes; a module restart leaks no fd.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/bpf_skip.h"
#include "support/btf_mode.h"
#include "support/daemon.h"
#include "support/event_stream_client.h"

namespace {

using rp::test::DaemonOptions;
using rp::test::TestDaemon;
namespace fs = std::filesystem;

constexpr const char* kConfig = "[seccomp_tracer]\nenabled = true\n";
constexpr const char* kConfigStacks =
    "[seccomp_tracer]\nenabled = true\nstack_traces_enabled = true\n";
constexpr const char* kModule = "seccomp_tracer";
// The denied system call: nothing in a child's path calls it but the test itself.
constexpr long kDeniedNr = SYS_getppid;
constexpr int kCalls = 25;

// ---------------------------------------------------------------------------------------------
// Filters and children.

// Installs a filter: `action` for system call `nr` (x86-64 ABI), allow everything else.
bool install_filter(long nr, uint32_t action) {
    sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof f / sizeof f[0]), f};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
    return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

struct ChildResult {
    pid_t pid = -1;
    int status = 0;  // waitpid status
};

// Runs fn() in a child process that exits with its return value; waits for it.
template <typename Fn>
ChildResult run_child(Fn fn) {
    ChildResult r;
    r.pid = ::fork();
    if (r.pid == 0) ::_exit(fn());
    REQUIRE(r.pid > 0);
    REQUIRE(::waitpid(r.pid, &r.status, 0) == r.pid);
    return r;
}

int exit_code(const ChildResult& r) { return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1; }
int term_signal(const ChildResult& r) { return WIFSIGNALED(r.status) ? WTERMSIG(r.status) : 0; }

// Child body: filter `action` on kDeniedNr, then call it `calls` times; exit code 0 when every call
// failed with `expect_errno` (ERRNO) — the kernel really denied it.
int errno_child(uint32_t action, int calls, int expect_errno) {
    if (!install_filter(kDeniedNr, action)) return 10;
    for (int i = 0; i < calls; ++i) {
        errno = 0;
        long r = ::syscall(kDeniedNr);
        if (r != -1 || errno != expect_errno) return 11;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Daemon helpers.

struct Stack {
    int64_t id = 0;
    uint64_t count = 0;
    size_t addresses = 0;
    std::vector<std::string> symbols;
};

struct Entry {
    std::string cgroup, comm;
    uint64_t syscall_nr = 0, action = 0, pid = 0, count = 0;
    std::optional<uint64_t> action_data;
    std::vector<Stack> stacks;
    uint64_t dropped_stacks = 0;
};

std::string get_ok(rp::http::Client& c, const std::string& path) {
    auto r = c.get(path);
    REQUIRE_MESSAGE(r.has_value(), path << ": " << (r ? "" : r.error()));
    REQUIRE_MESSAGE(r->status == 200, path << ": " << r->status << " " << r->body);
    return r->body;
}

// Every entry of one /check. Fails the test on a malformed body.
std::vector<Entry> check(rp::http::Client& c) {
    std::string body = get_ok(c, std::string("/") + kModule + "/check");
    REQUIRE(!body.empty());
    CHECK(body.back() == '\n');
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element doc;
    REQUIRE_MESSAGE(parser.parse(padded).get(doc) == simdjson::SUCCESS, body);
    simdjson::dom::array arr;
    REQUIRE_MESSAGE(doc.get_array().get(arr) == simdjson::SUCCESS,
                    body);  // [] when empty, not null
    std::vector<Entry> out;
    for (auto el : arr) {
        simdjson::dom::object o;
        REQUIRE(el.get_object().get(o) == simdjson::SUCCESS);
        Entry e;
        std::string_view s;
        REQUIRE(o["cgroupName"].get_string().get(s) == simdjson::SUCCESS);
        e.cgroup = s;
        if (o["comm"].get_string().get(s) == simdjson::SUCCESS) e.comm = s;
        REQUIRE(o["syscallNr"].get_uint64().get(e.syscall_nr) == simdjson::SUCCESS);
        REQUIRE(o["seccompAction"].get_uint64().get(e.action) == simdjson::SUCCESS);
        REQUIRE(o["pid"].get_uint64().get(e.pid) == simdjson::SUCCESS);
        REQUIRE(o["count"].get_uint64().get(e.count) == simdjson::SUCCESS);
        uint64_t data = 0;
        if (o["actionData"].get_uint64().get(data) == simdjson::SUCCESS) e.action_data = data;
        if (o["droppedStacks"].get_uint64().get(e.dropped_stacks) != simdjson::SUCCESS)
            e.dropped_stacks = 0;  // omitempty
        simdjson::dom::array stacks;
        if (o["stackTraces"].get_array().get(stacks) == simdjson::SUCCESS) {
            for (auto st : stacks) {
                Stack k;
                REQUIRE(st["stackId"].get_int64().get(k.id) == simdjson::SUCCESS);
                REQUIRE(st["count"].get_uint64().get(k.count) == simdjson::SUCCESS);
                simdjson::dom::array addrs;
                if (st["addresses"].get_array().get(addrs) == simdjson::SUCCESS)
                    k.addresses = addrs.size();
                simdjson::dom::array syms;
                if (st["symbols"].get_array().get(syms) == simdjson::SUCCESS)
                    for (auto sym : syms)
                        if (sym.get_string().get(s) == simdjson::SUCCESS) k.symbols.emplace_back(s);
                e.stacks.push_back(std::move(k));
            }
        }
        out.push_back(std::move(e));
    }
    if (out.empty()) CHECK(body == "[]\n");
    return out;
}

std::vector<Entry> entries_of(const std::vector<Entry>& all, pid_t pid) {
    std::vector<Entry> out;
    for (const auto& e : all)
        if (e.pid == static_cast<uint64_t>(pid)) out.push_back(e);
    return out;
}

// The module's last_check from /debug/stats; its hooks, mode and one counter when asked for.
int64_t module_stats(rp::http::Client& c, std::set<std::string>* hooks = nullptr,
                     std::string* mode = nullptr, const char* counter = nullptr,
                     uint64_t* counter_value = nullptr) {
    std::string body = get_ok(c, "/debug/stats");
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element doc;
    REQUIRE_MESSAGE(parser.parse(padded).get(doc) == simdjson::SUCCESS, body);
    simdjson::dom::object m;
    REQUIRE_MESSAGE(doc[kModule].get_object().get(m) == simdjson::SUCCESS, body);
    REQUIRE_MESSAGE(m["Error"].error() == simdjson::NO_SUCH_FIELD, body);
    int64_t last_check = -1;
    REQUIRE_MESSAGE(m["last_check"].get_int64().get(last_check) == simdjson::SUCCESS, body);
    if (hooks != nullptr) {
        simdjson::dom::array arr;
        REQUIRE(m["hooks"].get_array().get(arr) == simdjson::SUCCESS);
        for (auto h : arr) {
            std::string_view name;
            if (h.get_string().get(name) == simdjson::SUCCESS) hooks->emplace(name);
        }
    }
    if (mode != nullptr) {
        std::string_view v;
        REQUIRE(m["mode"].get_string().get(v) == simdjson::SUCCESS);
        *mode = v;
    }
    if (counter != nullptr)
        REQUIRE_MESSAGE(
            m["counters"][counter].get_uint64().get(*counter_value) == simdjson::SUCCESS, body);
    return last_check;
}

size_t count_fds(pid_t pid) {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e :
         fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        ++n;
    return n;
}

// `no_replay`: ringprobe.seccomp_tracer.mode = "entry_marks", the module's entry_marks mode.
std::unique_ptr<TestDaemon> start_daemon(const char* toml, bool no_replay = false) {
    DaemonOptions opts;
    opts.toml = toml;
    if (no_replay) opts.toml += "[ringprobe.seccomp_tracer]\nmode = \"entry_marks\"\n";
    auto d = std::make_unique<TestDaemon>(std::move(opts));
    REQUIRE_MESSAGE(d->ready(), d->log());
    return d;
}

}  // namespace

TEST_CASE(
    "seccomp_tracer: ERRNO(EPERM) N times is one entry with count N, then the check is empty") {
    rp::test::require_bpf_or_skip();
    auto d = start_daemon(kConfig);
    auto client = d->client();

    std::set<std::string> hooks;
    std::string mode;
    CHECK(module_stats(client, &hooks, &mode) == 0);
    CHECK(mode == "replay");
    for (std::string h : {rp::test::hook("sys_exit"), rp::test::hook("signal_generate"),
                          rp::test::hook("sched_process_exit")})
        CHECK_MESSAGE(hooks.count(h) == 1, "hook " << h << " not attached");
    CHECK(hooks.count(rp::test::hook("sys_enter")) == 0);  // replay needs no per-call entry hook

    auto child = run_child([] { return errno_child(SECCOMP_RET_ERRNO | EPERM, kCalls, EPERM); });
    REQUIRE_MESSAGE(exit_code(child) == 0, "child status " << child.status);

    auto first = check(client);
    auto mine = entries_of(first, child.pid);
    REQUIRE_MESSAGE(mine.size() == 1, first.size() << " entries in all");
    const Entry& e = mine[0];
    CHECK(e.count == static_cast<uint64_t>(kCalls));
    CHECK(e.syscall_nr == static_cast<uint64_t>(kDeniedNr));
    // The action alone (ret & SECCOMP_RET_ACTION_FULL), the errno in actionData.
    CHECK(e.action == SECCOMP_RET_ERRNO);
    REQUIRE(e.action_data.has_value());
    CHECK(*e.action_data == static_cast<uint64_t>(EPERM));
    CHECK(!e.comm.empty());
    CHECK(!e.cgroup.empty());
    CHECK(e.stacks.empty());  // stack traces are off by default
    CHECK(module_stats(client) > 0);

    // Flushed.
    auto second = check(client);
    CHECK(entries_of(second, child.pid).empty());
    if (!second.empty())
        MESSAGE("second check has " << second.size() << " entries of other processes");
}

TEST_CASE("seccomp_tracer: no entry for allowed system calls, with or without a filter") {
    rp::test::require_bpf_or_skip();
    auto d = start_daemon(kConfig);
    auto client = d->client();
    check(client);

    // No filter at all.
    auto plain = run_child([] {
        for (int i = 0; i < kCalls; ++i)
            if (::syscall(kDeniedNr) < 0) return 11;
        return 0;
    });
    REQUIRE(exit_code(plain) == 0);
    // A filter that denies something else: getppid passes it (sys_enter seen, replay not needed).
    auto filtered = run_child([] {
        if (!install_filter(SYS_getpriority, SECCOMP_RET_ERRNO | EACCES)) return 10;
        for (int i = 0; i < kCalls; ++i)
            if (::syscall(kDeniedNr) < 0) return 11;
        return 0;
    });
    REQUIRE(exit_code(filtered) == 0);
    // SECCOMP_RET_TRACE without a tracer fails with ENOSYS but is not a denial (system-probe
    // ignores TRACE): it must not look like ERRNO(ENOSYS).
    auto traced = run_child([] { return errno_child(SECCOMP_RET_TRACE, 3, ENOSYS); });
    REQUIRE(exit_code(traced) == 0);

    auto all = check(client);
    CHECK(entries_of(all, plain.pid).empty());
    CHECK(entries_of(all, filtered.pid).empty());
    CHECK(entries_of(all, traced.pid).empty());
}

TEST_CASE("seccomp_tracer: an argument-dependent rule counts only the denied arguments") {
    rp::test::require_bpf_or_skip();
    auto d = start_daemon(kConfig);
    auto client = d->client();
    check(client);

    // close(fd) is denied with EPERM for fd 999 only. close(998) is allowed and fails by itself
    // with EBADF: the kernel's allow cache cannot say so (the verdict depends on an argument), so
    // the module replays the filter and must find ALLOW.
    constexpr int kDenied = 4, kAllowed = 6;
    auto child = run_child([] {
        sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close, 0, 3),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 999, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog prog{static_cast<unsigned short>(sizeof f / sizeof f[0]), f};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
            return 10;
        for (int i = 0; i < kAllowed; ++i)
            if (::syscall(SYS_close, 998) != -1 || errno != EBADF) return 11;
        for (int i = 0; i < kDenied; ++i)
            if (::syscall(SYS_close, 999) != -1 || errno != EPERM) return 12;
        return 0;
    });
    REQUIRE_MESSAGE(exit_code(child) == 0, "child status " << child.status);

    auto mine = entries_of(check(client), child.pid);
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].syscall_nr == static_cast<uint64_t>(SYS_close));
    CHECK(mine[0].action == SECCOMP_RET_ERRNO);
    CHECK(mine[0].count == static_cast<uint64_t>(kDenied));
    REQUIRE(mine[0].action_data.has_value());
    CHECK(*mine[0].action_data == static_cast<uint64_t>(EPERM));
}

TEST_CASE("seccomp_tracer: KILL_PROCESS, TRAP and KILL_THREAD each have their action") {
    rp::test::require_bpf_or_skip();
    auto d = start_daemon(kConfig);
    auto client = d->client();
    check(client);

    auto killed = run_child([] {
        if (!install_filter(kDeniedNr, SECCOMP_RET_KILL_PROCESS | 9)) return 10;
        ::syscall(kDeniedNr);
        return 12;  // not reached
    });
    CHECK_MESSAGE(term_signal(killed) == SIGSYS, "status " << killed.status);

    // TRAP: SIGSYS with the filter's data, handled; the process goes on.
    auto trapped = run_child([] {
        struct sigaction sa {};
        sa.sa_handler = [](int) {};
        ::sigaction(SIGSYS, &sa, nullptr);
        if (!install_filter(kDeniedNr, SECCOMP_RET_TRAP | 42)) return 10;
        for (int i = 0; i < 3; ++i) ::syscall(kDeniedNr);
        return 0;
    });
    CHECK(exit_code(trapped) == 0);

    // KILL_THREAD in a two-thread process: only the thread dies (do_exit, no signal); the main
    // thread goes on and exits normally.
    auto thread_killed = run_child([] {
        if (!install_filter(kDeniedNr, SECCOMP_RET_KILL_THREAD)) return 10;
        pthread_t t;
        if (::pthread_create(
                &t, nullptr,
                [](void*) -> void* {
                    ::syscall(kDeniedNr);
                    return nullptr;
                },
                nullptr) != 0)
            return 13;
        ::pthread_join(t, nullptr);
        return 0;
    });
    CHECK(exit_code(thread_killed) == 0);

    // A thread that handled a TRAP and is later killed by KILL_THREAD: both counted.
    auto trap_then_kill = run_child([] {
        struct sigaction sa {};
        sa.sa_handler = [](int) {};
        ::sigaction(SIGSYS, &sa, nullptr);
        if (!install_filter(kDeniedNr, SECCOMP_RET_TRAP | 5)) return 10;
        if (!install_filter(SYS_getpriority, SECCOMP_RET_KILL_THREAD)) return 10;
        pthread_t t;
        if (::pthread_create(
                &t, nullptr,
                [](void*) -> void* {
                    ::syscall(kDeniedNr);
                    ::syscall(SYS_getpriority, 0, 0);
                    return nullptr;
                },
                nullptr) != 0)
            return 13;
        ::pthread_join(t, nullptr);
        return 0;
    });
    CHECK(exit_code(trap_then_kill) == 0);

    // KILL_THREAD of a single-threaded process goes through SIGSYS like KILL_PROCESS; the replayed
    // filter still tells them apart.
    auto lone_killed = run_child([] {
        if (!install_filter(kDeniedNr, SECCOMP_RET_KILL_THREAD)) return 10;
        ::syscall(kDeniedNr);
        return 12;
    });
    CHECK(term_signal(lone_killed) == SIGSYS);

    auto all = check(client);
    auto k = entries_of(all, killed.pid);
    REQUIRE(k.size() == 1);
    CHECK(k[0].action == SECCOMP_RET_KILL_PROCESS);
    CHECK(k[0].syscall_nr == static_cast<uint64_t>(kDeniedNr));
    CHECK(k[0].count == 1);
    REQUIRE(k[0].action_data.has_value());
    CHECK(*k[0].action_data == 9);

    auto t = entries_of(all, trapped.pid);
    REQUIRE(t.size() == 1);
    CHECK(t[0].action == SECCOMP_RET_TRAP);
    CHECK(t[0].count == 3);
    REQUIRE(t[0].action_data.has_value());
    CHECK(*t[0].action_data == 42);

    auto kt = entries_of(all, thread_killed.pid);
    REQUIRE(kt.size() == 1);
    CHECK(kt[0].action == SECCOMP_RET_KILL_THREAD);
    CHECK(kt[0].count == 1);
    CHECK(!kt[0].action_data.has_value());  // seen only at the thread's exit: data unknown

    auto tk = entries_of(all, trap_then_kill.pid);
    REQUIRE(tk.size() == 2);  // ordered by syscall: getppid (110) before getpriority (140)
    CHECK(tk[0].syscall_nr == static_cast<uint64_t>(kDeniedNr));
    CHECK(tk[0].action == SECCOMP_RET_TRAP);
    CHECK(tk[0].count == 1);
    CHECK(tk[1].syscall_nr == static_cast<uint64_t>(SYS_getpriority));
    CHECK(tk[1].action == SECCOMP_RET_KILL_THREAD);
    CHECK(tk[1].count == 1);

    auto lk = entries_of(all, lone_killed.pid);
    REQUIRE(lk.size() == 1);
    CHECK(lk[0].action == SECCOMP_RET_KILL_THREAD);
    CHECK(lk[0].count == 1);
}

TEST_CASE(
    "seccomp_tracer: a forked child's first system call denied is counted, errnos kept apart") {
    rp::test::require_bpf_or_skip();
    auto d = start_daemon(kConfig);
    auto client = d->client();
    check(client);

    // The parent installs the filter; the child's very first system call after fork is the denied
    // one (its first system-call exit, the return from fork, never passed sys_enter in it).
    pid_t grandchild = -1;
    int pipefd[2];
    REQUIRE(::pipe(pipefd) == 0);
    auto parent = run_child([&] {
        if (!install_filter(kDeniedNr, SECCOMP_RET_ERRNO | EACCES)) return 10;
        pid_t c = ::fork();
        if (c == 0) {
            long r = ::syscall(kDeniedNr);
            ::_exit(r == -1 && errno == EACCES ? 0 : 11);
        }
        int status = 0;
        ::waitpid(c, &status, 0);
        (void)!::write(pipefd[1], &c, sizeof c);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 12;
    });
    REQUIRE(exit_code(parent) == 0);
    REQUIRE(::read(pipefd[0], &grandchild, sizeof grandchild) == sizeof grandchild);
    ::close(pipefd[0]);
    ::close(pipefd[1]);

    auto all = check(client);
    CHECK(entries_of(all, parent.pid).empty());
    auto g = entries_of(all, grandchild);
    REQUIRE(g.size() == 1);
    CHECK(g[0].action == SECCOMP_RET_ERRNO);
    CHECK(g[0].count == 1);
    REQUIRE(g[0].action_data.has_value());
    CHECK(*g[0].action_data == static_cast<uint64_t>(EACCES));
}

TEST_CASE("seccomp_tracer: stack traces name the user stack of the denied call") {
    rp::test::require_bpf_or_skip();
    auto d = start_daemon(kConfigStacks);
    auto client = d->client();
    check(client);

    // The child stays alive until the check, so that its mappings can be read for symbols.
    int go[2], done[2];
    REQUIRE(::pipe(go) == 0);
    REQUIRE(::pipe(done) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        int rc = errno_child(SECCOMP_RET_ERRNO | EPERM, kCalls, EPERM);
        char c = static_cast<char>(rc);
        (void)!::write(done[1], &c, 1);
        (void)!::read(go[0], &c, 1);
        ::_exit(rc);
    }
    REQUIRE(pid > 0);
    char rc = 1;
    REQUIRE(::read(done[0], &rc, 1) == 1);
    CHECK(rc == 0);

    auto all = check(client);
    char c = 'g';
    (void)!::write(go[1], &c, 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (int fd : {go[0], go[1], done[0], done[1]}) ::close(fd);

    auto mine = entries_of(all, pid);
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].count == static_cast<uint64_t>(kCalls));
    REQUIRE(!mine[0].stacks.empty());
    uint64_t sum = mine[0].dropped_stacks;
    for (const auto& s : mine[0].stacks) sum += s.count;
    CHECK(sum == mine[0].count);
    const Stack& top = mine[0].stacks[0];
    CHECK(top.id >= 0);
    CHECK(top.addresses >= 1);
    REQUIRE(top.symbols.size() == top.addresses);
    MESSAGE("innermost frame: " << top.symbols[0]);
    // The call went through the C library's syscall() wrapper.
    CHECK(top.symbols[0].starts_with("syscall+"));
}

TEST_CASE(
    "seccomp_tracer: without replay (entry marks), denials are still counted and actions "
    "inferred") {
    rp::test::require_bpf_or_skip();
    auto d = start_daemon(kConfig, /*no_replay=*/true);
    auto client = d->client();
    std::set<std::string> hooks;
    std::string mode;
    module_stats(client, &hooks, &mode);
    CHECK(mode == "entry_marks");
    CHECK(hooks.count(rp::test::hook("sys_enter")) == 1);
    CHECK(hooks.count(rp::test::hook("sys_exit")) == 1);
    check(client);

    auto denied = run_child([] { return errno_child(SECCOMP_RET_ERRNO | EPERM, kCalls, EPERM); });
    REQUIRE(exit_code(denied) == 0);
    auto plain = run_child([] {
        for (int i = 0; i < kCalls; ++i)
            if (::syscall(kDeniedNr) < 0) return 11;
        return 0;
    });
    REQUIRE(exit_code(plain) == 0);
    auto filtered = run_child([] {
        if (!install_filter(SYS_getpriority, SECCOMP_RET_ERRNO | EACCES)) return 10;
        for (int i = 0; i < kCalls; ++i)
            if (::syscall(kDeniedNr) < 0) return 11;
        return 0;
    });
    REQUIRE(exit_code(filtered) == 0);
    auto killed = run_child([] {
        if (!install_filter(kDeniedNr, SECCOMP_RET_KILL_PROCESS)) return 10;
        ::syscall(kDeniedNr);
        return 12;
    });
    CHECK(term_signal(killed) == SIGSYS);
    auto trapped = run_child([] {
        struct sigaction sa {};
        sa.sa_handler = [](int) {};
        ::sigaction(SIGSYS, &sa, nullptr);
        if (!install_filter(kDeniedNr, SECCOMP_RET_TRAP | 42)) return 10;
        for (int i = 0; i < 3; ++i) ::syscall(kDeniedNr);
        return 0;
    });
    CHECK(exit_code(trapped) == 0);

    auto all = check(client);
    auto e = entries_of(all, denied.pid);
    REQUIRE(e.size() == 1);
    CHECK(e[0].count == static_cast<uint64_t>(kCalls));
    CHECK(e[0].action == SECCOMP_RET_ERRNO);
    REQUIRE(e[0].action_data.has_value());
    CHECK(*e[0].action_data == static_cast<uint64_t>(EPERM));
    CHECK(entries_of(all, plain.pid).empty());
    CHECK(entries_of(all, filtered.pid).empty());
    auto k = entries_of(all, killed.pid);
    REQUIRE(k.size() == 1);
    CHECK(k[0].action == SECCOMP_RET_KILL_PROCESS);
    auto t = entries_of(all, trapped.pid);
    REQUIRE(t.size() == 1);
    CHECK(t[0].action == SECCOMP_RET_TRAP);
    CHECK(t[0].count == 3);
    uint64_t inferred = 0;
    module_stats(client, nullptr, nullptr, "inferred", &inferred);
    CHECK(inferred >= static_cast<uint64_t>(kCalls));
}

TEST_CASE("seccomp_tracer: module restart leaves the daemon's fd count unchanged") {
    rp::test::require_bpf_or_skip();
    auto d = start_daemon(kConfigStacks);
    auto client = d->client();
    check(client);  // the connection and the module's lazily made state exist from here on
    module_stats(client);

    size_t fds_before = count_fds(d->pid());
    for (int i = 0; i < 3; ++i) {
        auto r = client.post(std::string("/module-restart/") + kModule, "");
        REQUIRE(r.has_value());
        CHECK_MESSAGE(r->status == 200, r->body);
    }
    check(client);
    std::set<std::string> hooks;
    CHECK(module_stats(client, &hooks) > 0);
    CHECK(hooks.count(rp::test::hook("sys_exit")) == 1);
    size_t fds_after = count_fds(d->pid());
    CHECK(fds_after == fds_before);
    MESSAGE("daemon fds: " << fds_before << " before, " << fds_after << " after 3 restarts");

    // Still counting after the restarts.
    auto child = run_child([] { return errno_child(SECCOMP_RET_ERRNO | EPERM, 4, EPERM); });
    REQUIRE(exit_code(child) == 0);
    auto mine = entries_of(check(client), child.pid);
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].count == 4);
}

// ---------------------------------------------------------------------------------------------
// /metrics and /events.

namespace {

// ENOANO: an errno no other test (or system service) denies with, so that this host-wide counter
// is the test's own.
constexpr int kRareErrno = ENOANO;

// The value of one sample line `<series> <value>` in a text exposition, or -1.
double sample(const std::string& text, const std::string& series) {
    size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

std::string metrics(rp::http::Client& c) { return get_ok(c, "/metrics"); }

template <typename Pred>
bool eventually_true(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

}  // namespace

TEST_CASE(
    "seccomp_tracer: denials are counted by syscall and action in /metrics and streamed on "
    "/events, one line each; neither empties /check") {
    rp::test::require_bpf_or_skip();
    auto d = start_daemon(kConfig);
    auto client = d->client();
    check(client);
    const std::string series =
        "ringprobe_seccomp_denials_total{syscall=\"getppid\",action=\"errno_ENOANO\"}";
    const double before = std::max(0.0, sample(metrics(client), series));

    rp::test::EventStreamClient events(d->socket_path(), kModule);
    REQUIRE(events.ok());
    REQUIRE(events.read_until([&] { return events.status() != 0; }));
    CHECK(events.status() == 200);

    auto child =
        run_child([] { return errno_child(SECCOMP_RET_ERRNO | kRareErrno, kCalls, kRareErrno); });
    REQUIRE_MESSAGE(exit_code(child) == 0, "child status " << child.status);
    const std::string pid_field = "\"pid\":" + std::to_string(child.pid) + ",";
    REQUIRE_MESSAGE(events.read_until([&] { return events.count(pid_field) == kCalls; }),
                    events.count(pid_field) << " lines for the child");
    std::string line;
    for (const auto& l : events.lines())
        if (l.find(pid_field) != std::string::npos) line = l;
    MESSAGE(line);
    simdjson::dom::parser parser;
    simdjson::padded_string padded(line);
    simdjson::dom::object o = parser.parse(padded).get_object();
    CHECK(std::string_view(o["syscall"]) == "getppid");
    CHECK(uint64_t(o["syscallNr"]) == static_cast<uint64_t>(kDeniedNr));
    CHECK(uint64_t(o["seccompAction"]) == SECCOMP_RET_ERRNO);
    CHECK(std::string_view(o["action"]) == "errno_ENOANO");
    CHECK(uint64_t(o["actionData"]) == static_cast<uint64_t>(kRareErrno));
    CHECK(uint64_t(o["tid"]) == static_cast<uint64_t>(child.pid));
    CHECK(!std::string_view(o["comm"]).empty());
    CHECK(!std::string_view(o["cgroupName"]).empty());

    std::string text = metrics(client);
    CHECK_MESSAGE(sample(text, series) == before + kCalls, text);
    auto mine = entries_of(check(client), child.pid);
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].count == static_cast<uint64_t>(kCalls));
    CHECK(sample(metrics(client), series) == before + kCalls);  // /check took nothing from it

    // Nobody listening: the BPF side stops sending events (their count stays).
    events.close();
    REQUIRE(eventually_true([&] {
        return sample(metrics(client),
                      "ringprobe_module_event_streams{module=\"seccomp_tracer\"}") == 0;
    }));
    std::string stats = get_ok(client, "/debug/stats");
    auto received = [](const std::string& s) {
        size_t at = s.find("\"events_received\":");
        return at == std::string::npos ? -1 : std::atol(s.c_str() + at + 18);
    };
    long received_before = received(stats);
    auto quiet =
        run_child([] { return errno_child(SECCOMP_RET_ERRNO | kRareErrno, kCalls, kRareErrno); });
    REQUIRE(exit_code(quiet) == 0);
    CHECK(entries_of(check(client), quiet.pid).size() == 1);  // still counted for /check
    CHECK(received(get_ok(client, "/debug/stats")) == received_before);
}

TEST_CASE(
    "seccomp_tracer: a slow /events reader loses lines, counted in a {\"lost\":N} line; the "
    "daemon and a reader that keeps up are not held up") {
    rp::test::require_bpf_or_skip();
    auto d =
        start_daemon("[seccomp_tracer]\nenabled = true\n[ringprobe.events]\nqueue_bytes = 65536\n");
    auto client = d->client();
    rp::test::EventStreamClient slow(d->socket_path(), kModule);
    rp::test::EventStreamClient fast(d->socket_path(), kModule);
    REQUIRE(slow.read_until([&] { return slow.status() != 0; }));
    REQUIRE(fast.read_until([&] { return fast.status() != 0; }));
    const std::string ring_lost_series =
        "ringprobe_module_ring_lost_events_total{module=\"seccomp_tracer\"}";
    const double ring_lost_before = sample(metrics(client), ring_lost_series);

    // 4000 denials (about 1 MB of lines), in bursts of 20 every 2 ms: every burst fits a
    // stream's 64 KiB queue, the whole does not fit the slow reader's queue and socket buffer.
    constexpr int kDenials = 4000;
    pid_t pid = ::fork();
    if (pid == 0) {
        if (!install_filter(kDeniedNr, SECCOMP_RET_ERRNO | kRareErrno)) ::_exit(10);
        for (int i = 0; i < kDenials; ++i) {
            if (::syscall(kDeniedNr) != -1 || errno != kRareErrno) ::_exit(11);
            if (i % 20 == 19) ::usleep(2000);
        }
        ::_exit(0);
    }
    REQUIRE(pid > 0);
    const std::string pid_field = "\"pid\":" + std::to_string(pid) + ",";
    int status = 0;
    double worst_ms = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        fast.read_some(std::chrono::milliseconds(5));  // the slow one does not read at all
        auto t0 = std::chrono::steady_clock::now();
        REQUIRE(client.get("/debug/stats"));
        worst_ms = std::max(worst_ms, std::chrono::duration<double, std::milli>(
                                          std::chrono::steady_clock::now() - t0)
                                          .count());
    }
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    MESSAGE("slowest /debug/stats during the flood: " << worst_ms << " ms");
    CHECK(worst_ms < 500);
    const double ring_lost = sample(metrics(client), ring_lost_series) - ring_lost_before;
    CHECK(ring_lost == 0);
    const size_t delivered = kDenials - static_cast<size_t>(ring_lost);
    // The reader that kept up got every event, in order, and lost none.
    REQUIRE_MESSAGE(fast.read_until([&] { return fast.count(pid_field) == delivered; }),
                    fast.count(pid_field) << " of " << delivered);
    CHECK(fast.count("{\"lost\":") == 0);

    // Now the slow reader reads: a prefix of the events, then one loss line with the rest.
    REQUIRE(slow.read_until([&] { return slow.count("{\"lost\":") == 1; }));
    size_t got = slow.count(pid_field);
    uint64_t lost = 0;
    for (const auto& l : slow.lines())
        if (l.starts_with("{\"lost\":")) lost = std::stoull(l.substr(8));
    MESSAGE("slow reader: " << got << " lines, then {\"lost\":" << lost << "}");
    CHECK(lost > 0);
    CHECK(got + lost == delivered);
    CHECK(sample(metrics(client), "ringprobe_module_event_lost_total{module=\"seccomp_tracer\"}") ==
          static_cast<double>(lost));
}

TEST_CASE("seccomp_tracer: mode \"signals\" hooks no system call; TRAP is seen, ERRNO is not") {
    rp::test::require_bpf_or_skip();
    if (rp::test::without_kernel_btf()) {
        // raw_tp hooks need sys_exit to find a thread's registers: signals mode is refused with
        // the reason, and the daemon serves the rest.
        DaemonOptions opts;
        opts.toml =
            "[seccomp_tracer]\nenabled = true\n"
            "[ringprobe.seccomp_tracer]\nmode = \"signals\"\n"
            "[system_probe_config.process_config]\nenabled = true\n";
        TestDaemon d(std::move(opts));
        REQUIRE_MESSAGE(d.ready(), d.log());
        auto c = d.client();
        std::string body = get_ok(c, "/debug/stats");
        CHECK_MESSAGE(body.find("mode \\\"signals\\\" needs the kernel's own BTF (tp_btf)") !=
                          std::string::npos,
                      body);
        CHECK_MESSAGE(body.find("\"process\":{") != std::string::npos, body);
        return;
    }
    auto d = start_daemon(
        "[seccomp_tracer]\nenabled = true\n"
        "[ringprobe.seccomp_tracer]\nmode = \"signals\"\n");
    auto client = d->client();
    std::set<std::string> hooks;
    std::string mode;
    module_stats(client, &hooks, &mode);
    CHECK(mode == "signals");
    CHECK(hooks.count("tp_btf/sys_exit") == 0);
    CHECK(hooks.count("tp_btf/sys_enter") == 0);
    CHECK(hooks.count("tp_btf/signal_generate") == 1);
    check(client);

    auto errno_kid =
        run_child([] { return errno_child(SECCOMP_RET_ERRNO | EPERM, kCalls, EPERM); });
    REQUIRE(exit_code(errno_kid) == 0);
    // TRAP: SIGSYS, handled by the default action (the child dies of it).
    auto trap_kid = run_child([] {
        if (!install_filter(kDeniedNr, SECCOMP_RET_TRAP | 7)) return 10;
        ::syscall(kDeniedNr);
        return 11;
    });
    CHECK(term_signal(trap_kid) == SIGSYS);
    auto all = check(client);
    CHECK(entries_of(all, errno_kid.pid).empty());
    auto trap = entries_of(all, trap_kid.pid);
    REQUIRE(trap.size() == 1);
    CHECK(trap[0].action == SECCOMP_RET_TRAP);
    CHECK(trap[0].count == 1);
}
