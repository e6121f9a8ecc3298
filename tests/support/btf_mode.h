// btf_mode.h — whether a BPF test runs with the kernel's BTF hidden (tests/support/
// without_kernel_btf.cpp, CTest's *_no_kernel_btf tests), and what it should then expect.
//
// Set by the wrapper only: RINGPROBE_TEST_NO_KERNEL_BTF=1 and RINGPROBE_TEST_BTF_PATH=<file>.
// TestDaemon passes the file to the daemon as DD_SYSTEM_PROBE_BTF_PATH (unless the test sets that
// variable itself); in-process runtimes take it as RuntimeOptions::btf_path.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>

namespace rp::test {

inline bool without_kernel_btf() {
    const char* v = std::getenv("RINGPROBE_TEST_NO_KERNEL_BTF");
    return v != nullptr && std::string_view(v) == "1";
}

// The external BTF file ("" when the kernel's own is used).
inline std::string external_btf_path() {
    const char* v = std::getenv("RINGPROBE_TEST_BTF_PATH");
    return v == nullptr ? std::string() : std::string(v);
}

// The section name a module's hook attaches as: "raw_tp/<tracepoint>" without kernel BTF, else
// "tp_btf/<tracepoint>".
inline std::string hook(std::string_view tracepoint) {
    return std::string(without_kernel_btf() ? "raw_tp/" : "tp_btf/") + std::string(tracepoint);
}

}  // namespace rp::test
