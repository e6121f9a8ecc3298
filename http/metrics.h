// metrics.h — Prometheus metrics: the writer every module and the daemon write /metrics with.
//
// A family is declared once, as a constant (name, kind, help, unit), and whoever has samples of
// it writes them: MetricsWriter::counter / gauge / histogram. Samples of one family may come from
// several writers (every module writes its own `ringprobe_module_ring_events_total{module=...}`):
// the writer keeps them in arrival order and, when finished, prints each family once — HELP, TYPE
// (and UNIT in OpenMetrics) — with all its samples together, as both formats require.
//
// Conventions (what `promtool check metrics` enforces): names in base units (`_seconds`,
// `_bytes`), a counter's family name without `_total` (its samples end in `_total`), label
// values escaped (\\, \", \n). Numbers print in the shortest form that reads back exactly.
//
// Formats: the text exposition format 0.0.4 (Prometheus' default), or OpenMetrics 1.0 when the
// scraper's Accept asks for application/openmetrics-text (then `# UNIT` lines and `# EOF`).
//
// Memory: the writer keeps its buffers between scrapes (reuse one writer): no allocation in the
// steady state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "http/buffer.h"
#include "http/request.h"

namespace rp::http {

enum class MetricKind : uint8_t { counter, gauge, histogram };

// One metric family. `name` is the family name (a counter's without its `_total`); `unit` is
// empty or the unit the name ends with ("seconds", "bytes"). All strings are literals.
struct MetricFamily {
    std::string_view name;
    MetricKind kind;
    std::string_view help;
    std::string_view unit = {};
};

struct MetricLabel {
    std::string_view name;
    std::string_view value;
};
using MetricLabels = std::initializer_list<MetricLabel>;

// A histogram with fixed upper bounds (ascending, without +Inf); at most kMaxBuckets of them.
class Histogram {
  public:
    static constexpr size_t kMaxBuckets = 24;
    explicit Histogram(std::span<const double> bounds) : bounds_(bounds) {}
    void observe(double v) {
        size_t i = 0;
        while (i < bounds_.size() && v > bounds_[i]) ++i;
        ++counts_[i];  // counts_[bounds.size()] is +Inf's own bucket
        sum_ += v;
        ++count_;
    }
    std::span<const double> bounds() const { return bounds_; }
    // Non-cumulative count of bucket i (i == bounds().size(): above the last bound).
    uint64_t bucket(size_t i) const { return counts_[i]; }
    double sum() const { return sum_; }
    uint64_t count() const { return count_; }

  private:
    std::span<const double> bounds_;
    std::array<uint64_t, kMaxBuckets + 1> counts_{};
    double sum_ = 0;
    uint64_t count_ = 0;
};

// Request durations: 100 µs to 10 s.
inline constexpr double kLatencyBounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                            0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                            1,      2.5,     5,      10};

enum class MetricsFormat : uint8_t { text, openmetrics };
inline constexpr std::string_view kTextMetricsType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kOpenMetricsType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
// OpenMetrics when an Accept field names application/openmetrics-text, else the text format.
MetricsFormat negotiate_metrics(const Request& req);

class MetricsWriter {
  public:
    MetricsWriter() = default;
    MetricsWriter(const MetricsWriter&) = delete;
    MetricsWriter& operator=(const MetricsWriter&) = delete;

    // Starts a new exposition (keeps the buffers).
    void reset();

    void counter(const MetricFamily& f, MetricLabels labels, uint64_t value);
    void counter(const MetricFamily& f, MetricLabels labels, double value);
    void gauge(const MetricFamily& f, MetricLabels labels, double value);
    void gauge(const MetricFamily& f, MetricLabels labels, int64_t value);
    void histogram(const MetricFamily& f, MetricLabels labels, const Histogram& h);

    // Appends the exposition to `out`: every family once, in the order it was first written.
    void finish(Buffer& out, MetricsFormat format);

    // Exposed for tests: a label value as the text format writes it.
    static void escape_label_value(std::string_view v, Buffer& out);
    // The shortest decimal that reads back as v; "+Inf", "-Inf", "NaN".
    static void format_number(double v, Buffer& out);

  private:
    struct Sample {
        size_t family;       // index in families_
        size_t begin, size;  // the sample lines in lines_
    };
    size_t family_index(const MetricFamily& f);
    // Writes `<name><suffix>{labels[,extra]} ` (the value follows).
    void start_line(std::string_view name, std::string_view suffix, MetricLabels labels,
                    std::string_view extra_name = {}, double extra_value = 0);
    void add(const MetricFamily& f, size_t begin);
    void append_value(uint64_t v);
    void append_value(int64_t v);
    void append_value(double v);
    template <typename V>
    void sample(const MetricFamily& f, std::string_view suffix, MetricLabels labels, V value);

    std::vector<MetricFamily> families_;
    std::vector<Sample> samples_;
    Buffer lines_;
};

}  // namespace rp::http
