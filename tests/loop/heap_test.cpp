// heap_test.cpp — BulkHeap: inside the scope big buffers come from the (kept) heap, not from a
// fresh mmap each; leaving it restores malloc's defaults and gives the memory back.
#include "loop/heap.h"

#include <doctest/doctest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace {
// Bytes malloc currently holds in mmapped chunks (one per allocation above the mmap threshold).
size_t mmapped_bytes() { return mallinfo2().hblkhd; }
}  // namespace

TEST_CASE("heap: a 5.5 MB buffer is served from the heap inside BulkHeap, mmapped outside") {
#ifdef __SANITIZE_ADDRESS__
    MESSAGE(
        "AddressSanitizer replaces malloc (no mallopt, no mallinfo2): checked in the other builds");
    return;
#endif
    constexpr size_t kBtfSized = 5520272;  // the kernel BTF libbpf reads, as on Linux 6.18
    {
        rp::loop::BulkHeap heap(size_t{16} << 20);
        // The set-up was timed: a positive wall time, and not a stray clock (1 s is 100 times what
        // faulting 16 MiB takes here).
        CHECK(heap.prepare_ms() > 0.0);
        CHECK(heap.prepare_ms() < 1000.0);
        // With transparent huge pages the region was faulted in and freed into the heap's top,
        // where the next buffers come from (not into an mmap of its own, gone once freed).
        if (heap.huge()) CHECK(mallinfo2().keepcost >= (size_t{16} << 20));
        MESSAGE("start-up heap on huge pages: " << heap.huge());
        const size_t mapped = mmapped_bytes();
        for (int round = 0; round < 3; ++round) {  // libbpf: malloc, fill, free, per BPF object
            void* p = std::malloc(kBtfSized);
            REQUIRE(p != nullptr);
            std::memset(p, round, kBtfSized);
            CHECK(mmapped_bytes() == mapped);  // from the heap: the mmap threshold was raised
            std::free(p);
        }
        // Freed, but kept as releasable top-of-heap space for the next parse.
        CHECK(mallinfo2().keepcost >= kBtfSized);
    }
    // Trimmed on leaving: the top of the heap went back to the kernel.
    CHECK(mallinfo2().keepcost < (size_t{1} << 20));
    // And the default threshold is back: the same buffer is its own mmap again.
    const size_t mapped = mmapped_bytes();
    void* p = std::malloc(kBtfSized);
    REQUIRE(p != nullptr);
    CHECK(mmapped_bytes() >= mapped + kBtfSized);
    std::free(p);
}
