// heap.cpp — see heap.h.
#include "loop/heap.h"

#include <malloc.h>
#include <sys/mman.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>

namespace rp::loop {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
// glibc refuses an mmap threshold above 32 MiB on 64-bit (HEAP_MAX/2): mallopt returns 0 and
// keeps the old one, and every big buffer would still come from its own fresh mmap.
constexpr int kMaxMmapThreshold = 32 << 20;
constexpr int kDefaultThreshold = 128 << 10;  // glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD
}  // namespace

BulkHeap::BulkHeap(size_t bytes) {
    auto t0 = std::chrono::steady_clock::now();
    mallopt(M_MMAP_THRESHOLD, kMaxMmapThreshold);  // big buffers from the heap, not one mmap each
    mallopt(M_TRIM_THRESHOLD, INT_MAX);            // and freeing them keeps the pages
    if (bytes > size_t(kMaxMmapThreshold) - kHugePage) bytes = size_t(kMaxMmapThreshold) - kHugePage;
    auto* p = static_cast<char*>(std::malloc(bytes + kHugePage));
    if (p != nullptr) {
        auto begin = (reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1);
        auto end = (reinterpret_cast<uintptr_t>(p) + bytes + kHugePage) & ~(kHugePage - 1);
        if (end > begin) {
            huge_ = madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE) == 0;
            // One write per 4 KiB page: with huge pages only the first of every 512 faults.
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
