// series_counters.h — SeriesCounters<N>: counters of a metric family by N label values, for a
// module's own /metrics families (the module kit).
//
// Kept apart from what /check returns (reading them flushes nothing) and bounded: at most
// `max_series` label sets; events of a new label set beyond that are counted under the label
// values "(other)" (one extra series), and overflowed() says how many were.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "http/metrics.h"

namespace rp::modules::kit {

inline constexpr std::string_view kOtherSeries = "(other)";

template <size_t N>
class SeriesCounters {
  public:
    using Key = std::array<std::string, N>;

    explicit SeriesCounters(size_t max_series = 1024) : max_series_(max_series) {}

    void add(const std::array<std::string_view, N>& labels, uint64_t n = 1) {
        Key k;
        for (size_t i = 0; i < N; ++i) k[i] = std::string(labels[i]);
        auto it = counts_.find(k);
        if (it == counts_.end()) {
            if (counts_.size() >= max_series_) {
                overflowed_ += n;
                for (auto& v : k) v = std::string(kOtherSeries);
                it = counts_.try_emplace(std::move(k), 0).first;
            } else {
                it = counts_.try_emplace(std::move(k), 0).first;
            }
        }
        it->second += n;
    }

    // Writes one counter sample per label set; `names` are the label names.
    void write(http::MetricsWriter& w, const http::MetricFamily& f,
               const std::array<std::string_view, N>& names) const {
        for (const auto& [k, v] : counts_) write_one(w, f, names, k, v);
    }

    size_t size() const { return counts_.size(); }
    uint64_t overflowed() const { return overflowed_; }
    size_t max_series() const { return max_series_; }

  private:
    static void write_one(http::MetricsWriter& w, const http::MetricFamily& f,
                          const std::array<std::string_view, N>& names, const Key& k, uint64_t v) {
        if constexpr (N == 1) {
            w.counter(f, {{names[0], k[0]}}, v);
        } else if constexpr (N == 2) {
            w.counter(f, {{names[0], k[0]}, {names[1], k[1]}}, v);
        } else {
            static_assert(N == 3, "SeriesCounters: 1 to 3 labels");
            w.counter(f, {{names[0], k[0]}, {names[1], k[1]}, {names[2], k[2]}}, v);
        }
    }

    size_t max_series_;
    std::map<Key, uint64_t> counts_;
    uint64_t overflowed_ = 0;
};

}  // namespace rp::modules::kit
