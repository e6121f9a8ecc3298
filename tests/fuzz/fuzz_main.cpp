// fuzz_main.cpp — libFuzzer's entry point for one target; RP_FUZZ_TARGET names the harness function
// (http_one, config_one or json_one), set per executable by tests/fuzz/CMakeLists.txt.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    rp::fuzz::RP_FUZZ_TARGET(data, size);
    return 0;
}
