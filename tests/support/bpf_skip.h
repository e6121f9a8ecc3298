// bpf_skip.h — how a root/BPF test says it cannot run here.
//
// require_bpf_or_skip(): when the process lacks what BPF tests need (root, BTF — the kernel's, or
// under tests/support/without_kernel_btf the external file that stands in for it), prints
// "SKIP: <reason>" and exits 77 (CTest reports the test as skipped) — unless the environment sets
// RINGPROBE_REQUIRE_BPF=1 (CI does), in which case the missing prerequisite fails the test.
#pragma once

#include <string>

namespace rp::test {

// Returns normally when BPF tests can run.
void require_bpf_or_skip();
// Same contract for any other prerequisite: `reason` empty = can run.
void skip_unless(const std::string& reason);

}  // namespace rp::test
