// metrics.cpp — see metrics.h.
#include "http/metrics.h"

#include <charconv>
#include <cmath>

namespace rp::http {
namespace {

std::string_view kind_name(MetricKind k) {
    switch (k) {
        case MetricKind::counter:
            return "counter";
        case MetricKind::gauge:
            return "gauge";
        case MetricKind::histogram:
            return "histogram";
    }
    return "untyped";
}

// HELP text: backslash and newline escaped (both formats); OpenMetrics also escapes '"'.
void append_help(std::string_view help, Buffer& out, bool quote) {
    for (char c : help) {
        if (c == '\\')
            out.append("\\\\");
        else if (c == '\n')
            out.append("\\n");
        else if (c == '"' && quote)
            out.append("\\\"");
        else
            out.push_back(c);
    }
}

void append_uint(uint64_t v, Buffer& out) {
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    out.append(buf, static_cast<size_t>(end - buf));
}

}  // namespace

MetricsFormat negotiate_metrics(const Request& req) {
    return req.headers.contains("Accept", "application/openmetrics-text")
               ? MetricsFormat::openmetrics
               : MetricsFormat::text;
}

void MetricsWriter::reset() {
    families_.clear();
    samples_.clear();
    lines_.clear();
}

void MetricsWriter::escape_label_value(std::string_view v, Buffer& out) {
    for (char c : v) {
        if (c == '\\')
            out.append("\\\\");
        else if (c == '"')
            out.append("\\\"");
        else if (c == '\n')
            out.append("\\n");
        else
            out.push_back(c);
    }
}

void MetricsWriter::format_number(double v, Buffer& out) {
    if (std::isnan(v)) return out.append("NaN");
    if (std::isinf(v)) return out.append(v > 0 ? "+Inf" : "-Inf");
    char buf[32];
    auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    out.append(buf, static_cast<size_t>(end - buf));
}

size_t MetricsWriter::family_index(const MetricFamily& f) {
    for (size_t i = 0; i < families_.size(); ++i)
        if (families_[i].name == f.name) return i;
    families_.push_back(f);
    return families_.size() - 1;
}

void MetricsWriter::start_line(std::string_view name, std::string_view suffix, MetricLabels labels,
                               std::string_view extra_name, double extra_value) {
    lines_.append(name);
    lines_.append(suffix);
    if (labels.size() != 0 || !extra_name.empty()) {
        lines_.push_back('{');
        bool first = true;
        for (const MetricLabel& l : labels) {
            if (!first) lines_.push_back(',');
            first = false;
            lines_.append(l.name);
            lines_.append("=\"");
            escape_label_value(l.value, lines_);
            lines_.push_back('"');
        }
        if (!extra_name.empty()) {
            if (!first) lines_.push_back(',');
            lines_.append(extra_name);
            lines_.append("=\"");
            format_number(extra_value, lines_);
            lines_.push_back('"');
        }
        lines_.push_back('}');
    }
    lines_.push_back(' ');
}

void MetricsWriter::add(const MetricFamily& f, size_t begin) {
    samples_.push_back({family_index(f), begin, lines_.size() - begin});
}

void MetricsWriter::append_value(uint64_t v) { append_uint(v, lines_); }

void MetricsWriter::append_value(int64_t v) {
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    lines_.append(buf, static_cast<size_t>(end - buf));
}

void MetricsWriter::append_value(double v) { format_number(v, lines_); }

template <typename V>
void MetricsWriter::sample(const MetricFamily& f, std::string_view suffix, MetricLabels labels,
                           V value) {
    size_t begin = lines_.size();
    start_line(f.name, suffix, labels);
    append_value(value);
    lines_.push_back('\n');
    add(f, begin);
}

void MetricsWriter::counter(const MetricFamily& f, MetricLabels labels, uint64_t value) {
    sample(f, "_total", labels, value);
}

void MetricsWriter::counter(const MetricFamily& f, MetricLabels labels, double value) {
    sample(f, "_total", labels, value);
}

void MetricsWriter::gauge(const MetricFamily& f, MetricLabels labels, double value) {
    sample(f, "", labels, value);
}

void MetricsWriter::gauge(const MetricFamily& f, MetricLabels labels, int64_t value) {
    sample(f, "", labels, value);
}

void MetricsWriter::histogram(const MetricFamily& f, MetricLabels labels, const Histogram& h) {
    size_t begin = lines_.size();
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds().size(); ++i) {
        cumulative += h.bucket(i);
        start_line(f.name, "_bucket", labels, "le", h.bounds()[i]);
        append_uint(cumulative, lines_);
        lines_.push_back('\n');
    }
    start_line(f.name, "_bucket", labels, "le", INFINITY);
    append_uint(h.count(), lines_);
    lines_.push_back('\n');
    start_line(f.name, "_sum", labels);
    format_number(h.sum(), lines_);
    lines_.push_back('\n');
    start_line(f.name, "_count", labels);
    append_uint(h.count(), lines_);
    lines_.push_back('\n');
    add(f, begin);
}

void MetricsWriter::finish(Buffer& out, MetricsFormat format) {
    const bool om = format == MetricsFormat::openmetrics;
    out.reserve(out.size() + lines_.size() + families_.size() * 160 + 8);
    for (size_t fi = 0; fi < families_.size(); ++fi) {
        const MetricFamily& f = families_[fi];
        // The text format names a counter by its samples (x_total); OpenMetrics by its family.
        std::string_view suffix = !om && f.kind == MetricKind::counter ? "_total" : "";
        out.append("# HELP ");
        out.append(f.name);
        out.append(suffix);
        out.push_back(' ');
        append_help(f.help, out, om);
        out.append("\n# TYPE ");
        out.append(f.name);
        out.append(suffix);
        out.push_back(' ');
        out.append(kind_name(f.kind));
        out.push_back('\n');
        if (om && !f.unit.empty()) {
            out.append("# UNIT ");
            out.append(f.name);
            out.push_back(' ');
            out.append(f.unit);
            out.push_back('\n');
        }
        // Few families and samples per scrape: a scan per family keeps them together without
        // sorting (and without a sort's scratch allocation).
        for (const Sample& s : samples_)
            if (s.family == fi) out.append(lines_.data() + s.begin, s.size);
    }
    if (om) out.append("# EOF\n");
}

}  // namespace rp::http
