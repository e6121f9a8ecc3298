// language_detection_test.cpp — the language_detection module in the real daemon: a Go binary
// (tests/modules/fixtures/gosvc.go, built as for discovery_test, and a copy of it whose
// .go.buildinfo section name is renamed), a shell, a pid that has exited and a kernel thread, in
// one protobuf request sent on a GET; each answer compared whole (name and version, the version
// checked against `go version <file>`), in request order, duplicates included. Then a request
// over 1024 pids (streamed), the bad bodies (not protobuf, wrong wire types, pid missing or <= 0,
// more processes than max_pids) with their 400 texts, the empty request, and the counters in
// /debug/stats and /metrics. The shared Go build-info reader is also checked directly against
// discovery's rule, and on synthetic ELF files with the Go < 1.18 and >= 1.18 layouts.
#include <doctest/doctest.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <ostream>
#include <protozero/buffer_string.hpp>
#include <protozero/pbf_reader.hpp>
#include <protozero/pbf_writer.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "modules/discovery/language.h"
#include "modules/gobuild/build_info.h"
#include "modules/proto/messages.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"

namespace {

namespace P = rp::proto;

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void require_go_fixture() {
    if (::access(RP_DISC_GOSVC, X_OK) != 0)
        rp::test::skip_unless(std::string("the Go fixture was not built (") + RP_DISC_GOSVC +
                              "): golang-go is missing");
}

// What `go version <file>` says the toolchain was ("<file>: go1.19.8").
std::string go_tool_version(const std::string& file) {
    std::string cmd = std::string(RP_GO_TOOL) + " version " + file + " 2>/dev/null";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[512] = {};
    size_t n = std::fread(buf, 1, sizeof buf - 1, p);
    ::pclose(p);
    std::string out(buf, n);
    size_t at = out.find(": ");
    REQUIRE_MESSAGE(at != std::string::npos, out);
    out = out.substr(at + 2);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

// A child process, killed and reaped by the destructor.
class Child {
  public:
    explicit Child(std::vector<std::string> argv) {
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
            std::vector<char*> av;
            for (auto& a : argv) av.push_back(a.data());
            av.push_back(nullptr);
            ::execvp(av[0], av.data());
            ::_exit(127);
        }
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    pid_t pid() const { return pid_; }
    // Waits until /proc/<pid>/exe is `exe` (the exec happened).
    void wait_exec(const std::string& exe) const {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        char link[64], target[4096];
        std::snprintf(link, sizeof link, "/proc/%d/exe", pid_);
        for (;;) {
            ssize_t n = ::readlink(link, target, sizeof target);
            if (n > 0 && std::string(target, static_cast<size_t>(n)) == exe) return;
            REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, exe << " did not start");
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

  private:
    pid_t pid_ = -1;
};

// A pid that existed and has exited (reaped).
pid_t exited_pid() {
    pid_t p = ::fork();
    REQUIRE(p >= 0);
    if (p == 0) ::_exit(0);
    ::waitpid(p, nullptr, 0);
    return p;
}

std::string request(const std::vector<int32_t>& pids) {
    std::string out;
    protozero::pbf_writer w(out);
    for (int32_t pid : pids) {
        protozero::pbf_writer proc(w, P::DetectLanguageRequest::processes);
        proc.add_int32(P::Process::pid, pid);
    }
    return out;
}

struct Lang {
    std::string name, version;
    bool operator==(const Lang&) const = default;
};
std::ostream& operator<<(std::ostream& os, const std::vector<Lang>& v) {
    os << "[";
    for (const Lang& l : v) os << "{" << l.name << ", " << l.version << "}";
    return os << "]";
}

std::vector<Lang> decode(const std::string& body) {
    std::vector<Lang> out;
    protozero::pbf_reader r(body);
    while (r.next()) {
        REQUIRE(r.tag() == P::DetectLanguageResponse::languages);
        protozero::pbf_reader l = r.get_message();
        Lang lang;
        while (l.next()) {
            if (l.tag() == P::Language::name)
                lang.name = l.get_string();
            else if (l.tag() == P::Language::version)
                lang.version = l.get_string();
            else
                FAIL("unexpected field " << l.tag() << " in Language");
        }
        out.push_back(lang);
    }
    return out;
}

struct Daemon {
    explicit Daemon(const std::string& extra = {}) : d(options(extra)) { REQUIRE(d.ready()); }
    static rp::test::DaemonOptions options(const std::string& extra) {
        rp::test::DaemonOptions o;
        o.toml = "[system_probe_config.language_detection]\nenabled = true\n" + extra;
        return o;
    }
    rp::http::ClientResponse detect(const std::string& body) {
        auto c = d.client();
        auto r = c.request("GET", "/language_detection/detect", body);
        REQUIRE_MESSAGE(r.has_value(), r.error());
        return *r;
    }
    std::string get(const std::string& path) {
        auto c = d.client();
        auto r = c.get(path);
        REQUIRE_MESSAGE(r.has_value(), r.error());
        REQUIRE(r->status == 200);
        return r->body;
    }
    rp::test::TestDaemon d;
};

// A copy of the Go fixture whose section name is renamed: only the header in the data segment is
// left (as discovery_test does).
std::string nosect_copy(const std::string& dir) {
    std::string bin = read_text(RP_DISC_GOSVC);
    size_t at = bin.find(std::string(".go.buildinfo\0", 14));
    REQUIRE(at != std::string::npos);
    bin.replace(at, 13, ".xx.buildinfo");
    std::string path = dir + "/rp-gosvc-nosect";
    std::ofstream(path, std::ios::binary) << bin;
    ::chmod(path.c_str(), 0755);
    return path;
}

pid_t kthreadd() {
    std::string comm = read_text("/proc/2/comm");
    return comm == "kthreadd\n" ? 2 : 0;
}

}  // namespace

TEST_CASE("language_detection: the shared Go build-info reader, and discovery's rule with it") {
    require_go_fixture();
    std::string dir = "/tmp/rp-langdet-unit-" + std::to_string(::getpid());
    ::mkdir(dir.c_str(), 0700);
    std::string nosect = nosect_copy(dir);
    std::string want = go_tool_version(RP_DISC_GOSVC);
    CHECK(want.starts_with("go1."));
    std::vector<char> scratch;
    for (const std::string& file : {std::string(RP_DISC_GOSVC), nosect}) {
        CAPTURE(file);
        int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        auto info = rp::modules::gobuild::read_build_info(fd, scratch, true);
        CHECK(info.is_go);
        CHECK(std::string(info.version) == want);
        auto quick = rp::modules::gobuild::read_build_info(fd, scratch, false);
        CHECK(quick.is_go);
        CHECK(quick.version.empty());
        CHECK(rp::modules::discovery::is_go_elf(fd, scratch));
        ::close(fd);
    }
    for (const char* file : {"/bin/sh", "/proc/self/exe", "/etc/hostname"}) {
        CAPTURE(file);
        int fd = ::open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        auto info = rp::modules::gobuild::read_build_info(fd, scratch, true);
        CHECK_FALSE(info.is_go);
        CHECK(info.version.empty());
        CHECK_FALSE(rp::modules::discovery::is_go_elf(fd, scratch));
        ::close(fd);
    }
    ::unlink(nosect.c_str());
    ::rmdir(dir.c_str());
}

// A minimal ELF64 little-endian executable: a text segment and a data segment (file offset 0x1000,
// vaddr 0x601000) whose bytes are `data`, no section headers. Written to a memfd.
int synthetic_elf(const std::string& data) {
    std::string f(0x1000, '\0');
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 2;
    Elf64_Phdr ph[2]{};
    ph[0].p_type = PT_LOAD;
    ph[0].p_flags = PF_R | PF_X;
    ph[0].p_vaddr = 0x400000;
    ph[0].p_filesz = 0x100;
    ph[1].p_type = PT_LOAD;
    ph[1].p_flags = PF_R | PF_W;
    ph[1].p_offset = 0x1000;
    ph[1].p_vaddr = 0x601000;
    ph[1].p_filesz = data.size();
    std::memcpy(f.data(), &eh, sizeof eh);
    std::memcpy(f.data() + sizeof eh, ph, sizeof ph);
    f += data;
    int fd = ::memfd_create("rp-elf", MFD_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, f.data(), f.size()) == static_cast<ssize_t>(f.size()));
    return fd;
}

void put64(std::string& s, size_t at, uint64_t v) { std::memcpy(s.data() + at, &v, sizeof v); }

TEST_CASE("language_detection: the build-info layouts of Go < 1.18 and >= 1.18, without sections") {
    const std::string magic("\xff Go buildinf:", 14);
    std::vector<char> scratch;
    auto read = [&](const std::string& data) {
        int fd = synthetic_elf(data);
        auto info = rp::modules::gobuild::read_build_info(fd, scratch, true);
        std::pair<bool, std::string> out{info.is_go, std::string(info.version)};
        CHECK(rp::modules::gobuild::read_build_info(fd, scratch, false).is_go == out.first);
        ::close(fd);
        return out;
    };
    // Go >= 1.18: flags & 2, the version inline after the 32-byte header (here at offset 0x10).
    std::string inl(0x100, '\0');
    inl.replace(0x10, 14, magic);
    inl[0x10 + 14] = 8;
    inl[0x10 + 15] = 2;
    inl[0x30] = 8;
    inl.replace(0x31, 8, "go1.18.1");
    CHECK(read(inl) == std::pair<bool, std::string>{true, "go1.18.1"});
    // Go < 1.18: pointers: header+16 → a string header {data, len} at 0x601040 → 0x601060.
    std::string ptr(0x100, '\0');
    ptr.replace(0x10, 14, magic);
    ptr[0x10 + 14] = 8;
    ptr[0x10 + 15] = 0;
    put64(ptr, 0x20, 0x601040);
    put64(ptr, 0x40, 0x601060);
    put64(ptr, 0x48, 9);
    ptr.replace(0x60, 9, "go1.16.15");
    CHECK(read(ptr) == std::pair<bool, std::string>{true, "go1.16.15"});
    // A pointer outside every segment, a length beyond the segment: Go to discovery, no version.
    std::string bad = ptr;
    put64(bad, 0x20, 0x900000);
    CHECK(read(bad) == std::pair<bool, std::string>{true, ""});
    bad = ptr;
    put64(bad, 0x48, 0x1000);
    CHECK(read(bad) == std::pair<bool, std::string>{true, ""});
    // An inline length past the data: no version.
    bad = inl;
    bad[0x30] = static_cast<char>(0xf0);
    CHECK(read(bad) == std::pair<bool, std::string>{true, ""});
    // The magic at an unaligned offset only: not Go (and no endless search).
    std::string unaligned(0x100, '\0');
    unaligned.replace(0x13, 14, magic);
    CHECK(read(unaligned) == std::pair<bool, std::string>{false, ""});
    // 32-bit pointers are not read: Go, no version.
    bad = ptr;
    bad[0x10 + 14] = 4;
    CHECK(read(bad) == std::pair<bool, std::string>{true, ""});
}

TEST_CASE("language_detection: a Go binary and a shell in one request, in request order") {
    require_go_fixture();
    Daemon d;
    std::string nosect = nosect_copy(d.d.dir());
    std::string version = go_tool_version(RP_DISC_GOSVC);
    Child go({RP_DISC_GOSVC, "0"});
    Child go2({nosect, "0"});
    // A shell that stays the shell (its loop forks each sleep).
    Child sh({"/bin/sh", "-c", "while :; do sleep 1; done"});
    go.wait_exec(RP_DISC_GOSVC);
    go2.wait_exec(nosect);
    char shell[4096];
    REQUIRE(::realpath("/bin/sh", shell) != nullptr);
    sh.wait_exec(shell);
    pid_t gone = exited_pid();
    std::vector<int32_t> pids = {go.pid(), sh.pid(), gone, go.pid(), go2.pid(), sh.pid()};
    std::vector<Lang> want = {{"go", version}, {}, {}, {"go", version}, {"go", version}, {}};
    pid_t kt = kthreadd();
    if (kt != 0) {
        pids.push_back(kt);
        want.push_back({});
    }
    auto r = d.detect(request(pids));
    REQUIRE(r.status == 200);
    CHECK(decode(r.body) == want);

    // Asked again: the same answers, now from the executable cache.
    auto again = d.detect(request(pids));
    REQUIRE(again.status == 200);
    CHECK(decode(again.body) == want);

    std::string stats = d.get("/debug/stats");
    auto at = stats.find("\"language_detection\":{");
    REQUIRE(at != std::string::npos);
    std::string s = stats.substr(at, stats.find("}}", at) - at);
    CAPTURE(s);
    CHECK(s.find("\"requests\":2,") != std::string::npos);
    CHECK(s.find("\"go\":6,") != std::string::npos);
    CHECK(s.find("\"not_go\":4,") != std::string::npos);
    CHECK(s.find("\"vanished\":2,") != std::string::npos);
    CHECK(s.find(std::string("\"no_executable\":") + (kt != 0 ? "2," : "0,")) != std::string::npos);
    // Three executables (the fixture, its copy, dash): read once each, then hits.
    CHECK(s.find("\"entries\":3,") != std::string::npos);
    CHECK(s.find("\"misses\":3,") != std::string::npos);
    CHECK(s.find("\"hits\":7,") != std::string::npos);
    std::string metrics = d.get("/metrics");
    CHECK(metrics.find("ringprobe_language_detection_pids_total{answer=\"go\"} 6\n") !=
          std::string::npos);
    CHECK(metrics.find("ringprobe_language_detection_pids_total{answer=\"vanished\"} 2\n") !=
          std::string::npos);
    CHECK(metrics.find("ringprobe_language_detection_binary_cache_entries 3\n") !=
          std::string::npos);
}

TEST_CASE("language_detection: a request over 1024 processes is streamed, in order") {
    require_go_fixture();
    Daemon d;
    std::string version = go_tool_version(RP_DISC_GOSVC);
    Child go({RP_DISC_GOSVC, "0"});
    go.wait_exec(RP_DISC_GOSVC);
    pid_t self = ::getpid();
    std::vector<int32_t> pids;
    std::vector<Lang> want;
    for (int i = 0; i < 3000; ++i) {
        bool g = i % 3 == 1;
        pids.push_back(g ? go.pid() : self);
        want.push_back(g ? Lang{"go", version} : Lang{});
    }
    auto r = d.detect(request(pids));
    REQUIRE(r.status == 200);
    CHECK(r.header("transfer-encoding") == "chunked");
    CHECK(decode(r.body) == want);
    CHECK(d.get("/debug/stats").find("\"streamed\":1,") != std::string::npos);
}

TEST_CASE("language_detection: bad bodies are 400 with the reason; the empty request is 200") {
    Daemon d("[ringprobe.language_detection]\nmax_pids = 4\n");
    auto check_400 = [&](const std::string& body, const std::string& error) {
        auto r = d.detect(body);
        CHECK(r.status == 400);
        CHECK(r.body == "{\"error\":\"" + error + "\"}\n");
    };
    check_400("{\"pids\":[1]}",
              "request body is not a protobuf DetectLanguageRequest: unknown pbf field type "
              "exception");
    check_400(std::string("\x0a\x05\x08\x01", 4),
              "request body is not a protobuf DetectLanguageRequest: end of buffer exception");
    check_400(std::string("\x08\x01", 2),
              "field 1 (processes) of DetectLanguageRequest must be a Process message");
    check_400(std::string("\x0a\x02\x0d\x01", 4),
              "processes[0]: field 1 (pid) of Process must be an int32");
    check_400(std::string("\x0a\x05\x0d\x01\x00\x00\x00", 7),
              "processes[0]: field 1 (pid) of Process must be an int32");
    check_400(std::string("\x0a\x02\x10\x01", 4),
              "processes[0]: field 2 of Process must be a string");
    check_400(std::string("\x0a\x00", 2), "processes[0]: pid missing is not a process id");
    check_400(request({1, -5}), "processes[1]: pid -5 is not a process id");
    check_400(request({1, 1, 1, 1, 1}),
              "the request names 5 processes; at most 4 per request "
              "(ringprobe.language_detection.max_pids)");

    // The Agent sends an empty body when it knows every language already: an empty answer.
    auto empty = d.detect("");
    CHECK(empty.status == 200);
    CHECK(empty.body.empty());
    // command and cmdline (newer Agents' Process fields) and unknown fields are accepted.
    std::string body;
    {
        protozero::pbf_writer w(body);
        protozero::pbf_writer proc(w, P::DetectLanguageRequest::processes);
        proc.add_int32(P::Process::pid, ::getpid());
        proc.add_string(P::Process::command, "language_detection_test");
        proc.add_string(P::Process::cmdline, "a");
        proc.add_string(P::Process::cmdline, "b");
        proc.add_uint64(15, 7);
    }
    body += std::string("\x78\x01", 2);  // field 15 of the request itself
    auto ok = d.detect(body);
    REQUIRE(ok.status == 200);
    CHECK(decode(ok.body) == std::vector<Lang>{{}});
    // POST is accepted too (upstream's route has no method).
    auto c = d.d.client();
    auto post = c.post("/language_detection/detect", request({::getpid()}), "");
    REQUIRE(post.has_value());
    CHECK(post->status == 200);

    std::string stats = d.get("/debug/stats");
    CHECK(stats.find("\"bad_requests\":9,\"too_many_pids\":1,\"max_pids\":4,") !=
          std::string::npos);
    CHECK(d.get("/metrics")
              .find("ringprobe_language_detection_requests_total{outcome=\"bad_request\"} 8\n") !=
          std::string::npos);
}
