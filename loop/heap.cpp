// heap.cpp — see heap.h.
#include "loop/heap.h"

#include <malloc.h>
#include <sys/mman.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace rp::loop {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
// Inside the scope, allocations up to this size come from the heap (libbpf's 5.5 MB BTF buffers
// included) rather than from an mmap each, whose pages would be unmapped, and lost, on free. The
// pre-faulted region itself must stay below it to land in the heap too.
constexpr int kMaxMmapThreshold = 32 << 20;
constexpr int kDefaultThreshold = 128 << 10;  // glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD

// Whether MADV_HUGEPAGE can give huge pages: THP "always" or "madvise". With "never" the madvise
// still succeeds but every fault stays 4 KiB — and touching 16 MiB would then cost 4,096 faults.
bool thp_usable() {
    std::FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
    if (f == nullptr) return false;
    char buf[128] = {};
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string_view v(buf, n);
    return v.find("[always]") != std::string_view::npos || v.find("[madvise]") != std::string_view::npos;
}
}  // namespace

BulkHeap::BulkHeap(size_t bytes) {
    auto t0 = std::chrono::steady_clock::now();
    mallopt(M_MMAP_THRESHOLD, kMaxMmapThreshold);  // big buffers from the heap, not one mmap each
    mallopt(M_TRIM_THRESHOLD, INT_MAX);            // and freeing them keeps the pages
    if (bytes > size_t(kMaxMmapThreshold) - kHugePage) bytes = size_t(kMaxMmapThreshold) - kHugePage;
    auto* p = thp_usable() ? static_cast<char*>(std::malloc(bytes + kHugePage)) : nullptr;
    if (p != nullptr) {
        auto begin = (reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1);
        auto end = (reinterpret_cast<uintptr_t>(p) + bytes + kHugePage) & ~(kHugePage - 1);
        if (end > begin) {
            huge_ = madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE) == 0;
            // One write per 4 KiB page: with huge pages only the first of every 512 faults.
            if (huge_)
                for (uintptr_t a = begin; a < end; a += 4096) *reinterpret_cast<volatile char*>(a) = 0;
        }
        std::free(p);  // back to malloc's top chunk, kept (trim threshold above), already faulted in
    }
    prepare_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

BulkHeap::~BulkHeap() {
    mallopt(M_TRIM_THRESHOLD, kDefaultThreshold);
    mallopt(M_MMAP_THRESHOLD, kDefaultThreshold);
    malloc_trim(0);  // the free pages (huge ones are split) go back to the kernel
}

}  // namespace rp::loop
