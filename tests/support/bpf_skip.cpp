// bpf_skip.cpp — see bpf_skip.h.
#include "support/bpf_skip.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "support/btf_mode.h"

namespace rp::test {

void skip_unless(const std::string& reason) {
    if (reason.empty()) return;
    const char* req = std::getenv("RINGPROBE_REQUIRE_BPF");
    if (req != nullptr && std::strcmp(req, "1") == 0) {
        std::fprintf(stderr, "FAIL: RINGPROBE_REQUIRE_BPF=1 but this test cannot run: %s\n",
                     reason.c_str());
        std::exit(1);
    }
    std::fprintf(stderr, "SKIP: %s\n", reason.c_str());
    std::exit(77);
}

void require_bpf_or_skip() {
    if (geteuid() != 0) skip_unless("needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)");
    // Under tests/support/without_kernel_btf the kernel's BTF is hidden on purpose and an external
    // file stands in for it.
    if (without_kernel_btf()) {
        if (access(external_btf_path().c_str(), R_OK) != 0)
            skip_unless("RINGPROBE_TEST_BTF_PATH names no readable file");
        return;
    }
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        skip_unless("kernel has no BTF (/sys/kernel/btf/vmlinux missing)");
}

}  // namespace rp::test
