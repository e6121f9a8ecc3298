// heap.h — BulkHeap: a scope in which the heap is pre-grown on transparent huge pages.
//
// libbpf parses the kernel's BTF (5.5 MB on 6.x kernels) for every BPF object it loads, through a
// read buffer and a copy of the same size, and frees both when the load ends. Every 4 KiB page of
// that memory is a page fault on first touch, and on the virtual machines we measured a fault costs
// 13–18 µs: ~2,700 faults, 35–50 ms per object, most of ringprobe's start-up (docs/BENCHMARKS.md,
// benchmark 4). Inside a BulkHeap scope malloc serves those buffers from one heap region that was
// faulted in up front as 2 MiB pages (a fault per 2 MiB) and keeps freed memory for the next parse;
// leaving the scope restores malloc's thresholds and returns the free memory to the kernel, so the
// steady-state RSS is unchanged.
//
// Without transparent huge pages (THP "never" or not built) nothing is faulted in up front (that
// would be 4,096 small faults); the scope still keeps freed buffers for reuse, which saves the
// faults of every parse after the first.
#pragma once

#include <cstddef>

namespace rp::loop {

class BulkHeap {
  public:
    explicit BulkHeap(size_t bytes);
    ~BulkHeap();
    BulkHeap(const BulkHeap&) = delete;
    BulkHeap& operator=(const BulkHeap&) = delete;

    // Whether the region was backed by huge pages (for the start-up log).
    bool huge() const { return huge_; }
    double prepare_ms() const { return prepare_ms_; }

  private:
    bool huge_ = false;
    double prepare_ms_ = 0;
};

}  // namespace rp::loop
