// reactor.cpp — see reactor.h.
#include "loop/reactor.h"

#include <poll.h>
#include <sys/mman.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "loop/log.h"
#include "loop/timer.h"

namespace rp::loop {
namespace {

constexpr uint16_t kBufferGroup = 0;

uint64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

uint64_t encode(uint32_t index, uint32_t generation) {
    return (static_cast<uint64_t>(generation) << 32) | index;
}

}  // namespace

std::expected<std::unique_ptr<Reactor>, std::string> Reactor::create(const ReactorOptions& opts) {
    std::unique_ptr<Reactor> r(new Reactor());
    r->opts_ = opts;
    r->timers_ = std::make_unique<TimerHeap>();
    if (opts.recv_buffers == 0 || (opts.recv_buffers & (opts.recv_buffers - 1)) != 0 ||
        opts.recv_buffers > 32768)
        return std::unexpected("reactor: recv_buffers must be a power of two <= 32768");

    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = opts.entries * 4;
    int rc = io_uring_queue_init_params(opts.entries, &r->ring_, &p);
    if (rc == -EINVAL) {
        // Kernels before 6.1 refuse DEFER_TASKRUN; run without it.
        p = {};
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = opts.entries * 4;
        rc = io_uring_queue_init_params(opts.entries, &r->ring_, &p);
    } else if (rc == 0) {
        r->counters_.single_issuer = true;
    }
    if (rc < 0) {
        std::string why = std::strerror(-rc);
        if (rc == -EPERM)
            why += " (io_uring disabled? check sysctl kernel.io_uring_disabled)";
        return std::unexpected("io_uring_queue_init: " + why);
    }
    r->ring_ok_ = true;
    if ((p.features & IORING_FEAT_EXT_ARG) == 0)
        return std::unexpected("io_uring: kernel lacks IORING_FEAT_EXT_ARG (needs Linux >= 5.11)");

    // Provided buffer ring for multishot recv.
    r->buf_ring_bytes_ = sizeof(io_uring_buf) * opts.recv_buffers;
    void* ring_mem = mmap(nullptr, r->buf_ring_bytes_, PROT_READ | PROT_WRITE,
                          MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ring_mem == MAP_FAILED) return std::unexpected(std::string("mmap buffer ring: ") + std::strerror(errno));
    r->buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(ring_mem);
    reg.ring_entries = opts.recv_buffers;
    reg.bgid = kBufferGroup;
    rc = io_uring_register_buf_ring(&r->ring_, &reg, 0);
    if (rc < 0)
        return std::unexpected(std::string("io_uring_register_buf_ring: ") + std::strerror(-rc) +
                               " (needs Linux >= 5.19)");
    io_uring_buf_ring_init(r->buf_ring_);
    // Buffer memory is reserved but only touched (and so only counted in RSS) when used.
    size_t bytes = static_cast<size_t>(opts.recv_buffers) * opts.recv_buffer_bytes;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return std::unexpected(std::string("mmap recv buffers: ") + std::strerror(errno));
    r->buffers_ = static_cast<char*>(mem);
    r->buf_mask_ = io_uring_buf_ring_mask(opts.recv_buffers);
    for (unsigned i = 0; i < opts.recv_buffers; ++i)
        io_uring_buf_ring_add(r->buf_ring_, r->buffers_ + static_cast<size_t>(i) * opts.recv_buffer_bytes,
                              opts.recv_buffer_bytes, static_cast<unsigned short>(i), r->buf_mask_,
                              static_cast<int>(i));
    io_uring_buf_ring_advance(r->buf_ring_, static_cast<int>(opts.recv_buffers));

    r->slots_.resize(opts.max_ops);
    for (uint32_t i = opts.max_ops; i-- > 0;) {
        r->slots_[i].next_free = r->free_head_;
        r->free_head_ = i;
    }
    r->refresh_now();
    return r;
}

Reactor::~Reactor() {
    if (ring_ok_) io_uring_queue_exit(&ring_);
    if (buffers_ != nullptr)
        munmap(buffers_, static_cast<size_t>(opts_.recv_buffers) * opts_.recv_buffer_bytes);
    if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_bytes_);
}

void Reactor::refresh_now() { now_ms_ = monotonic_ms(); }

int64_t Reactor::unix_now_s() { return static_cast<int64_t>(::time(nullptr)); }

io_uring_sqe* Reactor::get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
        // SQ full: flush what is queued and try once more.
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

OpRef Reactor::prepare(Handler* h, uint32_t tag, io_uring_sqe** out) {
    *out = nullptr;
    if (free_head_ == UINT32_MAX) {
        ++counters_.submit_failures;
        return {};
    }
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) {
        ++counters_.submit_failures;
        return {};
    }
    uint32_t idx = free_head_;
    Slot& s = slots_[idx];
    free_head_ = s.next_free;
    s.handler = h;
    s.tag = tag;
    s.armed = true;
    s.notify_on_final = true;
    ++s.generation;
    ++ops_in_flight_;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, encode(idx, s.generation));
    *out = sqe;
    return {idx, s.generation};
}

bool Reactor::armed(const OpRef& ref) const {
    if (!ref.valid() || ref.index >= slots_.size()) return false;
    const Slot& s = slots_[ref.index];
    return s.armed && s.generation == ref.generation;
}

void Reactor::cancel(OpRef& ref, Cancel mode) {
    if (!armed(ref)) {
        ref = {};
        return;
    }
    Slot& s = slots_[ref.index];
    if (mode == Cancel::detach) {
        s.handler = nullptr;
        s.notify_on_final = false;
    }
    io_uring_sqe* sqe = get_sqe();
    if (sqe != nullptr) {
        io_uring_prep_cancel64(sqe, encode(ref.index, ref.generation), 0);
        // The cancel's own completion carries no owner.
        io_uring_sqe_set_data64(sqe, UINT64_MAX);
    }
    // If no SQE is available the op completes on its own (the owner closes the fd next), and a
    // detached slot is recycled then.
    ref = {};
}

OpRef Reactor::accept_multishot(Handler* h, uint32_t tag, int listen_fd) {
    io_uring_sqe* sqe;
    OpRef ref = prepare(h, tag, &sqe);
    if (!ref) return ref;
    uint64_t ud = sqe->user_data;
    io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    sqe->user_data = ud;
    return ref;
}

OpRef Reactor::recv_multishot(Handler* h, uint32_t tag, int fd) {
    io_uring_sqe* sqe;
    OpRef ref = prepare(h, tag, &sqe);
    if (!ref) return ref;
    uint64_t ud = sqe->user_data;
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    sqe->user_data = ud;
    return ref;
}

OpRef Reactor::send(Handler* h, uint32_t tag, int fd, const void* data, size_t len) {
    io_uring_sqe* sqe;
    OpRef ref = prepare(h, tag, &sqe);
    if (!ref) return ref;
    uint64_t ud = sqe->user_data;
    io_uring_prep_send(sqe, fd, data, len, MSG_NOSIGNAL);
    sqe->user_data = ud;
    return ref;
}

OpRef Reactor::poll_multishot(Handler* h, uint32_t tag, int fd, unsigned poll_mask) {
    io_uring_sqe* sqe;
    OpRef ref = prepare(h, tag, &sqe);
    if (!ref) return ref;
    uint64_t ud = sqe->user_data;
    io_uring_prep_poll_multishot(sqe, fd, poll_mask);
    sqe->user_data = ud;
    return ref;
}

OpRef Reactor::read(Handler* h, uint32_t tag, int fd, void* buf, size_t len) {
    io_uring_sqe* sqe;
    OpRef ref = prepare(h, tag, &sqe);
    if (!ref) return ref;
    uint64_t ud = sqe->user_data;
    io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(len), static_cast<uint64_t>(-1));
    sqe->user_data = ud;
    return ref;
}

char* Reactor::recv_buffer(uint16_t id) {
    return buffers_ + static_cast<size_t>(id) * opts_.recv_buffer_bytes;
}

void Reactor::release_recv_buffer(uint16_t id) {
    io_uring_buf_ring_add(buf_ring_, recv_buffer(id), opts_.recv_buffer_bytes, id, buf_mask_, 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
}

void Reactor::dispatch(io_uring_cqe* cqe) {
    uint64_t ud = cqe->user_data;
    if (ud == UINT64_MAX) return;  // completion of a cancel request
    uint32_t idx = static_cast<uint32_t>(ud);
    uint32_t gen = static_cast<uint32_t>(ud >> 32);
    if (idx >= slots_.size()) return;
    Slot& s = slots_[idx];
    if (!s.armed || s.generation != gen) return;  // stale: cannot happen, but never misroute
    Completion c{cqe->res, cqe->flags};
    bool final = !c.more();
    Handler* h = s.handler;
    uint32_t tag = s.tag;
    bool deliver = h != nullptr && (!final || s.notify_on_final);
    if (final) {
        // Recycle before the callback so the handler may re-arm into the same slot.
        s.armed = false;
        s.handler = nullptr;
        s.next_free = free_head_;
        free_head_ = idx;
        --ops_in_flight_;
    }
    if (!deliver) {
        // A detached recv may still hand us a buffer: give it back.
        if (c.has_buffer()) release_recv_buffer(c.buffer_id());
        return;
    }
    h->on_completion(tag, c);
}

int Reactor::wait_and_dispatch(int timeout_ms) {
    ++counters_.loop_turns;
    io_uring_cqe* cqe = nullptr;
    int rc;
    if (timeout_ms < 0) {
        rc = io_uring_submit_and_wait(&ring_, 1);
    } else {
        __kernel_timespec ts{};
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
        rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return rc;
    refresh_now();
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        // Copy out before advancing: a handler may submit and the CQ may be reused.
        io_uring_cqe copy = *cqe;
        io_uring_cq_advance(&ring_, 1);
        ++counters_.completions;
        dispatch(&copy);
        if (stopping_) break;
    }
    timers_->fire_due(now_ms_);
    return 0;
}

int Reactor::run_once(int timeout_ms) {
    int64_t next = timers_->next_timeout_ms(monotonic_ms());
    int t = timeout_ms;
    if (next >= 0 && (t < 0 || next < t)) t = static_cast<int>(next);
    return wait_and_dispatch(t);
}

int Reactor::run() {
    stopping_ = false;
    while (!stopping_) {
        int64_t next = timers_->next_timeout_ms(monotonic_ms());
        int rc = wait_and_dispatch(next < 0 ? -1 : static_cast<int>(std::min<int64_t>(next, INT32_MAX)));
        if (rc < 0) {
            LOG_ERROR("reactor: io_uring_enter: %s", std::strerror(-rc));
            return rc;
        }
    }
    // Flush cancels and closes queued during shutdown.
    io_uring_submit(&ring_);
    return 0;
}

Reactor::Counters Reactor::counters() const {
    Counters c = counters_;
    c.ops_in_flight = ops_in_flight_;
    c.timers_armed = static_cast<uint32_t>(timers_->size());
    return c;
}

// --- FdWatch

namespace {
// FdWatch's poll: a one-shot POLL_ADD, re-armed after every completion. Not multishot: a re-armed
// poll checks readiness again when it is submitted — after the callback drained the source — so
// readiness that arrived meanwhile completes it at once. A multishot poll has no such re-check,
// and on a BPF ring buffer under load it was measured to miss wake-ups for good (the producer then
// only wakes a consumer that has caught up, which it never does: docs/BENCHMARKS.md, benchmark 5).
OpRef poll_oneshot(Reactor& r, Handler* h, int fd, unsigned mask) {
    io_uring_sqe* sqe;
    OpRef ref = r.prepare(h, 0, &sqe);
    if (!ref) return ref;
    uint64_t ud = sqe->user_data;
    io_uring_prep_poll_add(sqe, fd, mask);
    sqe->user_data = ud;
    return ref;
}
}  // namespace

bool FdWatch::start(Reactor& r, int fd, unsigned poll_mask, Callback fn) {
    stop();
    reactor_ = &r;
    fd_ = fd;
    mask_ = poll_mask;
    fn_ = std::move(fn);
    ref_ = poll_oneshot(r, this, fd, poll_mask);
    return ref_.valid();
}

void FdWatch::stop() {
    if (reactor_ != nullptr && ref_.valid()) reactor_->cancel(ref_, Cancel::detach);
    ref_ = {};
}

void FdWatch::on_completion(uint32_t, const Completion& c) {
    if (!c.more()) ref_ = {};
    if (c.res < 0) {
        if (c.res == -ECANCELED) return;
        fn_(c.res);
        return;
    }
    // Re-arm first: the callback may stop() us. The SQE is submitted at the end of this loop turn,
    // after the callback ran, which is what makes the re-check useful.
    if (!ref_) ref_ = poll_oneshot(*reactor_, this, fd_, mask_);
    fn_(c.res);
}

}  // namespace rp::loop
