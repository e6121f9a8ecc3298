// harness.cpp — what the fuzz targets share: fail().
#include "tests/fuzz/harness.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace rp::fuzz {

void fail(const char* target, const char* fmt, ...) {
    std::fprintf(stderr, "fuzz: %s: ", target);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
    std::fflush(stderr);
    std::abort();
}

}  // namespace rp::fuzz
