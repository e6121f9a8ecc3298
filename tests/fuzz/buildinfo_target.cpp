// buildinfo_target.cpp — the `buildinfo` fuzz target: the Go build-info reader
// (modules/gobuild/) that discovery and language_detection run, as root, on executables a
// (possibly hostile) container controls. Input: the file's bytes, written to a memfd. Checks: no
// crash, no sanitizer report, no endless search; a version is at most kMaxVersionBytes and only
// comes with is_go; the quick check (discovery's) agrees with the full one on is_go; a second
// read gives the same answer (the reader keeps no state but its scratch buffer).
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "modules/gobuild/build_info.h"
#include "tests/fuzz/harness.h"

namespace rp::fuzz {

void buildinfo_one(const uint8_t* data, size_t size) {
    constexpr const char* kTarget = "buildinfo";
    static int fd = ::memfd_create("rp-fuzz-buildinfo", MFD_CLOEXEC);
    if (fd < 0) fail(kTarget, "memfd_create failed");
    if (::ftruncate(fd, 0) != 0) fail(kTarget, "ftruncate failed");
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
        if (n <= 0) fail(kTarget, "pwrite failed");
        done += static_cast<size_t>(n);
    }
    static std::vector<char> scratch;
    auto full = modules::gobuild::read_build_info(fd, scratch, true);
    std::string version(full.version);
    if (version.size() > modules::gobuild::kMaxVersionBytes)
        fail(kTarget, "a version of %zu bytes", version.size());
    if (!version.empty() && !full.is_go) fail(kTarget, "a version without is_go");
    auto quick = modules::gobuild::read_build_info(fd, scratch, false);
    if (quick.is_go != full.is_go)
        fail(kTarget, "the quick check says %d, the full one %d", quick.is_go, full.is_go);
    if (!quick.version.empty()) fail(kTarget, "a version from the quick check");
    auto again = modules::gobuild::read_build_info(fd, scratch, true);
    if (again.is_go != full.is_go || std::string(again.version) != version)
        fail(kTarget, "a second read differs");
}

}  // namespace rp::fuzz
