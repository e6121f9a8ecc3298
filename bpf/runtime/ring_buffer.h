// ring_buffer.h — RingBuffer: a libbpf ring buffer consumed on the reactor.
//
// The ring buffer's epoll fd (ring_buffer__epoll_fd) is watched by the reactor (loop::FdWatch, a
// poll re-armed after each readiness); each readiness drains the buffer completely with
// ring_buffer__consume, handing every record to the callback on the loop thread. Records the BPF
// side could not reserve (buffer full) are counted there in per-CPU slots (bpf/lib/ringbuf.bpf.h:
// RP_LOST_COUNTER, sized with size_cpu_slots before load) that lost() sums from memory, so drops
// are reported, never silent.
//
// Needs: BPF_MAP_TYPE_RINGBUF (Linux >= 5.8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/runtime/cpu_slots.h"
#include "loop/cpu_account.h"
#include "loop/reactor.h"
#include "loop/timer.h"

struct ring_buffer;

namespace rp::bpf {

class RingBuffer {
  public:
    // One record, valid only during the call.
    using Callback = std::function<void(std::span<const std::byte> record)>;

    // ring_fd: the BPF_MAP_TYPE_RINGBUF map; lost_fd: its RP_LOST_COUNTER map (or -1).
    // `name` names the buffer in errors and logs.
    static std::expected<std::unique_ptr<RingBuffer>, std::string> create(loop::Reactor& reactor,
                                                                          std::string_view name,
                                                                          int ring_fd, int lost_fd,
                                                                          Callback cb);
    ~RingBuffer();
    RingBuffer(const RingBuffer&) = delete;
    RingBuffer& operator=(const RingBuffer&) = delete;

    // Consumes every available record now. Returns how many, or -errno.
    int drain();

    uint64_t consumed() const { return consumed_; }  // records handed to the callback
    uint64_t wakeups() const { return wakeups_; }    // readiness notifications handled
    uint64_t errors() const {
        return errors_;
    }  // failed polls or consumes (a failed poll
       // is re-armed after kRearmDelayMs)
    // Records the BPF side could not reserve, summed over CPUs (memory reads, no syscall).
    uint64_t lost() const;
    int epoll_fd() const;
    bool watching() const { return watch_.active(); }
    // Counts the loop's CPU time in this buffer's readiness drains (record callbacks included)
    // into `account` (loop/cpu_account.h; it must outlive the buffer), or nowhere (nullptr).
    void set_cpu_account(loop::CpuAccount* account) { cpu_ = account; }

    static constexpr uint64_t kRearmDelayMs = 1000;

  private:
    RingBuffer() = default;
    static int on_sample(void* ctx, void* data, size_t size);
    bool watch();
    void on_ready(int res);

    std::string name_;
    ring_buffer* rb_ = nullptr;
    CpuSlots lost_;
    Callback cb_;
    loop::Reactor* reactor_ = nullptr;
    loop::FdWatch watch_;
    loop::Timer rearm_;
    loop::CpuAccount* cpu_ = nullptr;
    uint64_t consumed_ = 0;
    uint64_t wakeups_ = 0;
    uint64_t errors_ = 0;
};

}  // namespace rp::bpf
