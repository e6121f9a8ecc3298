// reactor.h — the one io_uring event loop of the daemon.
//
// Everything the daemon waits on is an operation in this ring: socket accept/recv/send, readiness of
// BPF ring-buffer fds (POLL_ADD), signals (a signalfd read) and timers (a user-space heap;
// the loop passes the nearest deadline to io_uring_submit_and_wait_timeout, so an idle daemon with no
// timer sleeps in io_uring_enter and makes no wake-ups).
//
// Operations live in reactor-owned slots. user_data = (generation << 32) | slot index, so a stale
// completion can never reach a reused slot. An owner that goes away calls cancel(): its handler is
// detached at once (no callback runs on a freed owner), and the slot is recycled when the kernel's
// final completion arrives. Owners whose buffers the kernel still reads (a send) cancel with
// Cancel::notify and wait for that final completion before reusing the buffer.
//
// Needs: io_uring with multishot accept/recv/poll and provided buffer rings (Linux >= 6.0).
#pragma once

#include <liburing.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rp::loop {

class Reactor;

// One completion as the handler sees it.
struct Completion {
    int res;         // result, or -errno
    uint32_t flags;  // IORING_CQE_F_*
    // True when this multishot op stays armed and more completions will follow.
    bool more() const { return (flags & IORING_CQE_F_MORE) != 0; }
    bool has_buffer() const { return (flags & IORING_CQE_F_BUFFER) != 0; }
    uint16_t buffer_id() const { return static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT); }
};

// Receives completions of the ops it submitted. `tag` is the owner's own label for the op.
class Handler {
public:
    virtual void on_completion(uint32_t tag, const Completion& c) = 0;

protected:
    ~Handler() = default;
};

// A handle on a submitted op. Invalid (== {}) when not armed.
struct OpRef {
    uint32_t index = UINT32_MAX;
    uint32_t generation = 0;
    bool valid() const { return index != UINT32_MAX; }
    explicit operator bool() const { return valid(); }
};

enum class Cancel {
    detach,  // no further callback at all (the default)
    notify,  // the handler still receives the final completion (res may be -ECANCELED)
};

struct ReactorOptions {
    unsigned entries = 256;           // SQ size; the CQ is 4x
    unsigned max_ops = 8192;          // op slots (each live connection holds up to 2)
    unsigned recv_buffers = 128;      // provided buffers for multishot recv (power of two)
    unsigned recv_buffer_bytes = 4096;
};

class Reactor {
public:
    static std::expected<std::unique_ptr<Reactor>, std::string> create(const ReactorOptions& opts = {});
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // --- low-level: submit an op owned by `h`. Returns the SQE to fill (user_data is already set)
    // through `*sqe`, or an invalid ref when no slot or SQE is available (the caller reports it).
    OpRef prepare(Handler* h, uint32_t tag, io_uring_sqe** sqe);
    // Cancels an armed op. With Cancel::detach the handler is never called again for it.
    void cancel(OpRef& ref, Cancel mode = Cancel::detach);
    // True while the kernel may still complete the op.
    bool armed(const OpRef& ref) const;

    // --- common ops on top of prepare().
    OpRef accept_multishot(Handler* h, uint32_t tag, int listen_fd);
    // Multishot recv into the reactor's provided buffers: each completion carries a buffer
    // (recv_buffer() gives its bytes) that must be handed back with release_recv_buffer().
    OpRef recv_multishot(Handler* h, uint32_t tag, int fd);
    OpRef send(Handler* h, uint32_t tag, int fd, const void* data, size_t len);
    OpRef poll_multishot(Handler* h, uint32_t tag, int fd, unsigned poll_mask);
    OpRef read(Handler* h, uint32_t tag, int fd, void* buf, size_t len);
    char* recv_buffer(uint16_t id);
    void release_recv_buffer(uint16_t id);
    unsigned recv_buffer_bytes() const { return opts_.recv_buffer_bytes; }

    // --- loop.
    // Runs until stop(). Returns 0, or -errno if io_uring_enter failed for good.
    int run();
    // Runs at most one loop turn, waiting at most timeout_ms (tests and benchmarks).
    int run_once(int timeout_ms);
    void stop() { stopping_ = true; }
    bool stopping() const { return stopping_; }

    // Monotonic time in ms, read once per loop turn (cheap to call from handlers).
    uint64_t now_ms() const { return now_ms_; }
    void refresh_now();
    // Wall-clock seconds since the epoch (for payloads).
    static int64_t unix_now_s();

    // --- introspection (for /debug/stats, /metrics and tests).
    struct Counters {
        uint64_t loop_turns = 0;
        uint64_t completions = 0;
        uint64_t submit_failures = 0;  // prepare() found no slot or SQE
        uint32_t ops_in_flight = 0;
        uint32_t timers_armed = 0;
        bool single_issuer = false;    // SINGLE_ISSUER|DEFER_TASKRUN accepted by the kernel
    };
    Counters counters() const;

    // --- timers: used by Timer (timer.h); not for direct use.
    class TimerHeap;
    TimerHeap& timers() { return *timers_; }

private:
    Reactor() = default;
    struct Slot {
        Handler* handler = nullptr;
        uint32_t tag = 0;
        uint32_t generation = 0;
        bool armed = false;
        bool notify_on_final = true;
        uint32_t next_free = UINT32_MAX;
    };
    io_uring_sqe* get_sqe();
    void dispatch(io_uring_cqe* cqe);
    int wait_and_dispatch(int timeout_ms);

    io_uring ring_{};
    bool ring_ok_ = false;
    ReactorOptions opts_;
    std::vector<Slot> slots_;
    uint32_t free_head_ = UINT32_MAX;
    uint32_t ops_in_flight_ = 0;
    io_uring_buf_ring* buf_ring_ = nullptr;
    size_t buf_ring_bytes_ = 0;
    char* buffers_ = nullptr;
    unsigned buf_mask_ = 0;
    bool stopping_ = false;
    uint64_t now_ms_ = 0;
    std::unique_ptr<TimerHeap> timers_;
    Counters counters_;
};

// Watches an fd for readiness and calls `fn` each time it is ready. This is how BPF ring buffers
// are watched. Uses a one-shot poll re-armed after every completion (see reactor.cpp for why).
class FdWatch final : private Handler {
public:
    using Callback = std::function<void(int res)>;  // res: revents, or -errno (then not re-armed)
    FdWatch() = default;
    ~FdWatch() { stop(); }
    FdWatch(const FdWatch&) = delete;
    FdWatch& operator=(const FdWatch&) = delete;

    // Starts watching; returns false when the reactor has no room for the op.
    bool start(Reactor& r, int fd, unsigned poll_mask, Callback fn);
    void stop();
    bool active() const { return ref_.valid(); }

private:
    void on_completion(uint32_t tag, const Completion& c) override;
    Reactor* reactor_ = nullptr;
    int fd_ = -1;
    unsigned mask_ = 0;
    Callback fn_;
    OpRef ref_;
};

}  // namespace rp::loop
