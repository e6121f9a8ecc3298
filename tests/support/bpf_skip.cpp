// bpf_skip.cpp — see bpf_skip.h.
#include "support/bpf_skip.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

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
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        skip_unless("kernel has no BTF (/sys/kernel/btf/vmlinux missing)");
}

}  // namespace rp::test
