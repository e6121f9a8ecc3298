// latency_histogram.h — a fixed-size log-linear latency histogram for the bench tools.
//
// Values are nanoseconds. Each power of two is split into 64 linear sub-buckets, so any reported
// percentile is within 1/64 (1.6 %) of the true value; 0 ns .. ~2^40 ns (18 min) fit in 2,600
// buckets (20 KiB). Recording is a shift, a count-leading-zeros and an increment: cheap enough to
// run for every request of a load generator without changing what it measures.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace rp::bench {

class LatencyHistogram {
public:
    static constexpr unsigned kSubBits = 6;  // 64 sub-buckets per power of two
    static constexpr unsigned kSub = 1u << kSubBits;
    static constexpr unsigned kMaxExp = 40;
    static constexpr size_t kBuckets = (kMaxExp + 1) * kSub;

    void record(uint64_t ns) {
        ++counts_[index(ns)];
        ++total_;
        if (ns > max_) max_ = ns;
        sum_ += ns;
    }
    void merge(const LatencyHistogram& o) {
        for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
        total_ += o.total_;
        sum_ += o.sum_;
        if (o.max_ > max_) max_ = o.max_;
    }
    void clear() { *this = LatencyHistogram{}; }

    uint64_t count() const { return total_; }
    uint64_t max() const { return max_; }
    double mean() const { return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0; }
    // The value below which a fraction q (0..1) of the samples fall (upper edge of its bucket,
    // capped at the maximum seen).
    uint64_t percentile(double q) const {
        if (total_ == 0) return 0;
        uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_));
        if (rank >= total_) rank = total_ - 1;
        uint64_t seen = 0;
        for (size_t i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen > rank) {
                uint64_t v = upper_edge(i);
                return v < max_ ? v : max_;
            }
        }
        return max_;
    }

private:
    static size_t index(uint64_t ns) {
        if (ns < kSub) return static_cast<size_t>(ns);
        unsigned exp = 63u - static_cast<unsigned>(std::countl_zero(ns));  // >= kSubBits
        if (exp > kMaxExp) return kBuckets - 1;
        unsigned shift = exp - kSubBits;
        uint64_t sub = (ns >> shift) - kSub;  // 0..63
        return static_cast<size_t>((exp - kSubBits + 1) * kSub + sub);
    }
    static uint64_t upper_edge(size_t i) {
        if (i < kSub) return i;
        size_t group = i / kSub;  // >= 1
        uint64_t sub = i % kSub;
        unsigned shift = static_cast<unsigned>(group - 1);
        return ((kSub + sub + 1) << shift) - 1;
    }

    std::array<uint64_t, kBuckets> counts_{};
    uint64_t total_ = 0;
    uint64_t sum_ = 0;
    uint64_t max_ = 0;
};

}  // namespace rp::bench
