// map_drain.cpp — see map_drain.h.
#include "bpf/runtime/map_drain.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bpf/runtime/runtime.h"
#include "loop/log.h"

namespace rp::bpf {
namespace {

constexpr int kENOTSUPP = 524;  // the kernel's internal "operation not supported" (no uapi name)

// What the kernel answers a batch command it does not have: EINVAL (no such command, < 5.6),
// ENOTSUPP (the map type has no batch op), EOPNOTSUPP.
bool batch_unsupported(int err) {
    return err == -EINVAL || err == -kENOTSUPP || err == -ENOTSUP || err == -EOPNOTSUPP;
}

// Errors the kernel returns before reading any entry, leaving `count` as we passed it in (it
// writes the count back only once the map's batch op ran).
bool refused_before_reading(int err) {
    return batch_unsupported(err) || err == -EPERM || err == -EBADF;
}

}  // namespace

MapDrain::MapDrain(int fd, std::string_view name, uint32_t max_entries, uint32_t values_per_key,
                   uint32_t first_chunk)
    : fd_(fd),
      name_(name),
      max_entries_(std::max<uint32_t>(max_entries, 1)),
      values_per_key_(std::max<uint32_t>(values_per_key, 1)),
      chunk_(std::clamp<uint32_t>(first_chunk, 1, std::max<uint32_t>(max_entries, 1))) {}

std::expected<size_t, std::string> MapDrain::drain_into(Sink& sink) {
    const size_t start = sink.size;
    if (batch_) {
        auto r = drain_batched(sink);
        if (batch_ || !r) return r;
    }
    drain_one_by_one(sink);
    return sink.size - start;
}

std::expected<size_t, std::string> MapDrain::drain_batched(Sink& sink) {
    const size_t start = sink.size;
    const size_t value_bytes = sink.value_size * values_per_key_;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    // A hash map's batch position is a bucket index (u32); keep room for any layout.
    alignas(8) unsigned char in_batch[8] = {}, out_batch[8] = {};
    bool first = true;
    for (;;) {
        const size_t base = sink.size;
        void* keys = nullptr;
        void* values = nullptr;
        sink.resize(sink.ctx, base + chunk_, &keys, &values);
        uint32_t n = chunk_;
        int err = bpf_map_lookup_and_delete_batch(fd_, first ? nullptr : in_batch, out_batch,
                                                  static_cast<char*>(keys) + base * sink.key_size,
                                                  static_cast<char*>(values) + base * value_bytes,
                                                  &n, &opts);
        if (err < 0 && refused_before_reading(err)) n = 0;
        n = std::min(n, chunk_);
        sink.resize(sink.ctx, base + n, &keys, &values);
        sink.size = base + n;
        if (err < 0 && first && base == start && batch_unsupported(err)) {
            batch_ = false;
            LOG_INFO("bpf: %s: no batch map operations (%s), reading it key by key", name_.c_str(),
                     errno_message("BPF_MAP_LOOKUP_AND_DELETE_BATCH", -err).c_str());
            return 0;
        }
        if (err == -ENOENT) return sink.size - start;  // past the last bucket
        if (err == -ENOSPC && n == 0) {
            // One bucket holds more entries than a chunk: grow it and read that bucket again.
            if (chunk_ >= max_entries_)
                return std::unexpected("read " + name_ + ": a bucket holds more than " +
                                       std::to_string(max_entries_) + " entries");
            chunk_ = std::min(chunk_ * 2, max_entries_);
            continue;
        }
        if (err < 0) return std::unexpected(errno_message("read " + name_ + " (batch)", -err));
        std::memcpy(in_batch, out_batch, sizeof in_batch);
        first = false;
    }
}

size_t MapDrain::drain_one_by_one(Sink& sink) {
    const size_t start = sink.size;
    const size_t value_bytes = sink.value_size * values_per_key_;
    // Each key is read into the slot after the last one; a key gone meanwhile gives it back.
    for (uint64_t i = 0; i < 2ULL * max_entries_; ++i) {
        const size_t at = sink.size;
        void* keys = nullptr;
        void* values = nullptr;
        sink.resize(sink.ctx, at + 1, &keys, &values);
        void* key = static_cast<char*>(keys) + at * sink.key_size;
        void* value = static_cast<char*>(values) + at * value_bytes;
        if (bpf_map_get_next_key(fd_, nullptr, key) != 0) {
            sink.resize(sink.ctx, at, &keys, &values);
            break;  // empty
        }
        int err = bpf_map_lookup_elem(fd_, key, value);
        bpf_map_delete_elem(fd_, key);
        if (err != 0) {
            sink.resize(sink.ctx, at, &keys, &values);  // deleted meanwhile
            continue;
        }
        sink.size = at + 1;
    }
    return sink.size - start;
}

}  // namespace rp::bpf
