// without_kernel_btf.cpp — runs a test as on a kernel built without BTF, with an external BTF file.
//
//   without_kernel_btf full|min <bpftool> <bpf objects dir> -- <test> [args...]
//
// In a private mount namespace of its own (unshare(CLONE_NEWNS), mounts made private so nothing
// leaks to the host), it copies the kernel's /sys/kernel/btf/vmlinux to a temporary directory —
// `full`: the copy itself; `min`: a minimized BTF made from it with `bpftool gen min_core_btf` for
// every <name>.bpf.o of the probes, as BTFHub-style tools do — then mounts an empty tmpfs over
// /sys/kernel/btf, so that neither the daemon nor libbpf can find the kernel's BTF, and runs the
// test with
//   RINGPROBE_TEST_BTF_PATH=<the file>   (tests/support/btf_mode.h: the daemon gets it as
//                                         DD_SYSTEM_PROBE_BTF_PATH, in-process runtimes as
//                                         RuntimeOptions::btf_path)
//   RINGPROBE_TEST_NO_KERNEL_BTF=1       (tests expect the raw_tp hooks)
// The kernel itself still has its BTF, so this checks that nothing of ours needs the file: a real
// kernel without BTF also refuses BTF-typed helpers in the verifier, which the raw_tp programs do
// not call (bpf/README.md, "Kernels without BTF"). Exit status: the test's; 77 (skip) when the
// namespace cannot be made (not root), unless RINGPROBE_REQUIRE_BPF=1.
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";

int skip(const std::string& why) {
    std::printf("SKIP: %s\n", why.c_str());
    const char* req = std::getenv("RINGPROBE_REQUIRE_BPF");
    if (req != nullptr && std::string_view(req) == "1") {
        std::printf("FAIL: RINGPROBE_REQUIRE_BPF=1\n");
        return 1;
    }
    return 77;
}

int fail(const std::string& why) {
    std::fprintf(stderr, "without_kernel_btf: %s\n", why.c_str());
    return 1;
}

// Runs argv, returns its exit status (128+signal when killed).
int run(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::execv(argv[0], argv.data());
        std::fprintf(stderr, "without_kernel_btf: exec %s: %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 6 || std::string_view(argv[4]) != "--") {
        std::fprintf(stderr,
                     "usage: without_kernel_btf full|min <bpftool> <bpf objects dir> -- <test> "
                     "[args...]\n");
        return 2;
    }
    const std::string kind = argv[1];
    const std::string bpftool = argv[2];
    const std::string objects = argv[3];
    if (kind != "full" && kind != "min") return fail("first argument must be full or min");
    if (::geteuid() != 0) return skip("hiding the kernel's BTF needs root (a mount namespace)");
    if (!fs::exists(kKernelBtf)) return skip(std::string("no ") + kKernelBtf + " to copy from");

    if (::unshare(CLONE_NEWNS) != 0)
        return skip(std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno));
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return fail(std::string("make / private: ") + std::strerror(errno));

    char tmpl[] = "/tmp/ringprobe-nobtf-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return fail(std::string("mkdtemp: ") + std::strerror(errno));
    const std::string dir = tmpl;
    std::string btf = dir + "/vmlinux.btf";
    std::error_code ec;
    fs::copy_file(kKernelBtf, btf, ec);
    if (ec) return fail("copy " + std::string(kKernelBtf) + ": " + ec.message());
    if (kind == "min") {
        std::vector<std::string> args = {bpftool, "gen", "min_core_btf", btf, dir + "/min.btf"};
        for (const char* probe : {"oom_kill", "tcp_queue_length", "seccomp_tracer"})
            args.push_back(objects + "/" + probe + ".bpf.o");
        if (int rc = run(args); rc != 0)
            return fail("bpftool gen min_core_btf exited with " + std::to_string(rc));
        btf = dir + "/min.btf";
    }
    std::printf("without_kernel_btf: %s hidden; external BTF %s (%ju bytes)\n", kKernelBtf,
                btf.c_str(), static_cast<uintmax_t>(fs::file_size(btf)));
    std::fflush(stdout);

    if (::mount("tmpfs", "/sys/kernel/btf", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=64k,mode=0755") != 0)
        return fail(std::string("mount tmpfs on /sys/kernel/btf: ") + std::strerror(errno));
    if (fs::exists(kKernelBtf)) return fail(std::string(kKernelBtf) + " still visible");

    ::setenv("RINGPROBE_TEST_BTF_PATH", btf.c_str(), 1);
    ::setenv("RINGPROBE_TEST_NO_KERNEL_BTF", "1", 1);
    std::vector<std::string> test(argv + 5, argv + argc);
    int rc = run(test);
    fs::remove_all(dir, ec);
    return rc;
}
