// oom_victim.h — a real OOM kill for root tests: a fresh cgroup v1 memory cgroup limited to
// 64 MiB and a child that names itself rp-oom-victim, sets oom_score_adj 500 and touches 300 MiB
// in it, so that the kernel's memcg OOM killer kills it (KERNEL.md: memory cgroups).
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace rp::test {

constexpr const char* kVictimComm = "rp-oom-victim";
constexpr int kScoreAdj = 500;
constexpr uint64_t kLimitBytes = 64ull << 20;
constexpr uint64_t kAllocBytes = 300ull << 20;
constexpr const char* kMemcgRoot = "/sys/fs/cgroup/memory";

// A v1 memory cgroup directly under the hierarchy's root, removed when the test is done.
class MemoryCgroup {
  public:
    MemoryCgroup() {
        static int seq = 0;
        name_ = "rp-oom-" + std::to_string(::getpid()) + "-" + std::to_string(++seq);
        dir_ = std::string(kMemcgRoot) + "/" + name_;
        if (!std::filesystem::exists(std::string(kMemcgRoot) + "/memory.limit_in_bytes")) {
            error_ = std::string("no cgroup v1 memory controller at ") + kMemcgRoot;
            return;
        }
        std::error_code ec;
        std::filesystem::create_directory(dir_, ec);
        if (ec) {
            error_ = "mkdir " + dir_ + ": " + ec.message();
            return;
        }
        std::ofstream(dir_ + "/memory.limit_in_bytes") << kLimitBytes << std::flush;
    }
    ~MemoryCgroup() {
        if (!error_.empty()) return;
        for (int i = 0; i < 100 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::string& error() const { return error_; }
    const std::string& name() const { return name_; }
    const std::string& dir() const { return dir_; }

  private:
    std::string name_, dir_, error_;
};

struct Victim {
    pid_t pid = -1;
    int signal = 0;  // the signal that ended it, 0 if it exited
};

// Forks a child into `cg` that allocates kAllocBytes; returns once the child is dead and reaped.
inline Victim run_victim(const MemoryCgroup& cg) {
    int go[2];
    REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(go[1]);
        char c;
        if (::read(go[0], &c, 1) != 1) ::_exit(2);  // wait until moved into the cgroup
        ::prctl(PR_SET_NAME, kVictimComm);
        int fd = ::open("/proc/self/oom_score_adj", O_WRONLY);
        if (fd >= 0) {
            const char* adj = "500";
            (void)!::write(fd, adj, std::strlen(adj));
            ::close(fd);
        }
        void* p = ::mmap(nullptr, kAllocBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
        if (p == MAP_FAILED) ::_exit(3);
        for (uint64_t off = 0; off < kAllocBytes; off += 4096) static_cast<char*>(p)[off] = 1;
        ::_exit(0);  // not killed: the test fails on the exit status
    }
    ::close(go[0]);
    {
        std::ofstream procs(cg.dir() + "/cgroup.procs");
        procs << pid << std::flush;
        CHECK(static_cast<bool>(procs));
    }
    CHECK(::write(go[1], "g", 1) == 1);
    ::close(go[1]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    Victim v;
    v.pid = pid;
    v.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return v;
}

}  // namespace rp::test
