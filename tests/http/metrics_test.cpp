// metrics_test.cpp — the Prometheus writer: families grouped whatever order samples come in,
// counters named per format, histograms cumulative with +Inf, numbers exact and short, label
// values escaped, nothing allocated once warm.
#include "http/metrics.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace rp::http;

namespace {
constexpr MetricFamily kA{"t_a", MetricKind::counter, "A's help."};
constexpr MetricFamily kB{"t_b_seconds", MetricKind::gauge, "B\nhelp \\ \"q\"", "seconds"};
constexpr double kBounds[] = {0.1, 1, 10};
constexpr MetricFamily kH{"t_h_seconds", MetricKind::histogram, "H.", "seconds"};

std::string finish(MetricsWriter& w, MetricsFormat f) {
    Buffer out;
    w.finish(out, f);
    return std::string(out.view());
}
}  // namespace

TEST_CASE("metrics: a family's samples are printed together, once, in first-seen order") {
    MetricsWriter w;
    w.counter(kA, {{"m", "x"}}, uint64_t{1});
    w.gauge(kB, {}, 0.25);
    w.counter(kA, {{"m", "y"}}, uint64_t{2});  // a second writer of the same family
    CHECK(finish(w, MetricsFormat::text) ==
          "# HELP t_a_total A's help.\n"
          "# TYPE t_a_total counter\n"
          "t_a_total{m=\"x\"} 1\n"
          "t_a_total{m=\"y\"} 2\n"
          "# HELP t_b_seconds B\\nhelp \\\\ \"q\"\n"
          "# TYPE t_b_seconds gauge\n"
          "t_b_seconds 0.25\n");
    CHECK(finish(w, MetricsFormat::openmetrics) ==
          "# HELP t_a A's help.\n"
          "# TYPE t_a counter\n"
          "t_a_total{m=\"x\"} 1\n"
          "t_a_total{m=\"y\"} 2\n"
          "# HELP t_b_seconds B\\nhelp \\\\ \\\"q\\\"\n"
          "# TYPE t_b_seconds gauge\n"
          "# UNIT t_b_seconds seconds\n"
          "t_b_seconds 0.25\n"
          "# EOF\n");
}

TEST_CASE("metrics: histograms are cumulative, end with +Inf, and carry _sum and _count") {
    Histogram h(kBounds);
    for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h.observe(v);
    MetricsWriter w;
    w.histogram(kH, {{"route", "/r"}}, h);
    CHECK(finish(w, MetricsFormat::text) ==
          "# HELP t_h_seconds H.\n"
          "# TYPE t_h_seconds histogram\n"
          "t_h_seconds_bucket{route=\"/r\",le=\"0.1\"} 2\n"
          "t_h_seconds_bucket{route=\"/r\",le=\"1\"} 3\n"
          "t_h_seconds_bucket{route=\"/r\",le=\"10\"} 4\n"
          "t_h_seconds_bucket{route=\"/r\",le=\"+Inf\"} 5\n"
          "t_h_seconds_sum{route=\"/r\"} 55.65\n"
          "t_h_seconds_count{route=\"/r\"} 5\n");
}

TEST_CASE("metrics: numbers print short and exact; label values are escaped") {
    auto num = [](double v) {
        Buffer b;
        MetricsWriter::format_number(v, b);
        return std::string(b.view());
    };
    CHECK(num(0.1) == "0.1");  // not 0.10000000000000001
    CHECK(num(1e-9) == "1e-09");
    CHECK(num(123456789.0) == "123456789");
    CHECK(std::stod(num(1.0 / 3)) == 1.0 / 3);
    CHECK(num(INFINITY) == "+Inf");
    CHECK(num(-INFINITY) == "-Inf");
    CHECK(num(NAN) == "NaN");
    Buffer b;
    MetricsWriter::escape_label_value("a\"b\\c\nd/é", b);
    CHECK(b.view() == "a\\\"b\\\\c\\nd/é");
}

TEST_CASE("metrics: reset starts a new exposition and keeps the storage") {
    MetricsWriter w;
    Buffer out;
    for (int round = 0; round < 3; ++round) {
        w.reset();
        for (int i = 0; i < 100; ++i) w.gauge(kB, {{"i", "v"}}, int64_t{i});
        out.clear();
        w.finish(out, MetricsFormat::text);
        CHECK(out.view().starts_with("# HELP t_b_seconds"));
        CHECK(out.view().find("t_b_seconds{i=\"v\"} 99\n") != std::string_view::npos);
    }
}
