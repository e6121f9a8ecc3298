// ring_buffer.cpp — see ring_buffer.h.
#include "bpf/runtime/ring_buffer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

#include "bpf/runtime/runtime.h"
#include "loop/log.h"

namespace rp::bpf {

std::expected<std::unique_ptr<RingBuffer>, std::string> RingBuffer::create(loop::Reactor& reactor,
                                                                           std::string_view name,
                                                                           int ring_fd, int lost_fd,
                                                                           Callback cb) {
    std::unique_ptr<RingBuffer> rb(new RingBuffer());
    rb->name_ = name;
    rb->cb_ = std::move(cb);
    errno = 0;
    rb->rb_ = ring_buffer__new(ring_fd, &RingBuffer::on_sample, rb.get(), nullptr);
    if (rb->rb_ == nullptr)
        return std::unexpected(
            errno_message("ring_buffer__new " + rb->name_, errno ? errno : EINVAL));
    if (lost_fd >= 0) {
        auto lost = CpuSlots::map(lost_fd, "lost-event counter of " + rb->name_);
        if (!lost) return std::unexpected(lost.error());
        rb->lost_ = std::move(*lost);
    }
    rb->reactor_ = &reactor;
    RingBuffer* self = rb.get();
    rb->rearm_.init(reactor, [self] {
        if (!self->watch()) self->rearm_.arm_after(kRearmDelayMs);
    });
    if (!rb->watch())
        return std::unexpected("watch ring buffer " + rb->name_ + ": no free reactor op slot");
    return rb;
}

bool RingBuffer::watch() {
    return watch_.start(*reactor_, ring_buffer__epoll_fd(rb_), POLLIN,
                        [this](int res) { on_ready(res); });
}

RingBuffer::~RingBuffer() {
    rearm_.cancel();
    watch_.stop();
    if (rb_ != nullptr) ring_buffer__free(rb_);
}

int RingBuffer::on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<RingBuffer*>(ctx);
    ++self->consumed_;
    if (self->cb_) self->cb_(std::span<const std::byte>(static_cast<const std::byte*>(data), size));
    return 0;
}

void RingBuffer::on_ready(int res) {
    loop::CpuScope cost(cpu_);
    if (res < 0) {
        // FdWatch does not re-arm after an error; a timer does it (not from inside this callback,
        // which the watch is still running).
        ++errors_;
        LOG_WARN("bpf: ring buffer %s: poll failed: %s; watching again in %llu ms", name_.c_str(),
                 std::strerror(-res), static_cast<unsigned long long>(kRearmDelayMs));
        rearm_.arm_after(kRearmDelayMs);
        drain();
        return;
    }
    ++wakeups_;
    drain();
}

int RingBuffer::drain() {
    int n = ring_buffer__consume(rb_);
    if (n < 0) {
        ++errors_;
        LOG_WARN("bpf: ring buffer %s: consume failed: %s", name_.c_str(), std::strerror(-n));
    }
    return n;
}

uint64_t RingBuffer::lost() const { return lost_ ? lost_.sum(0) : 0; }

int RingBuffer::epoll_fd() const { return rb_ ? ring_buffer__epoll_fd(rb_) : -1; }

}  // namespace rp::bpf
