// event_stream.cpp — see event_stream.h.
#include "modules/kit/event_stream.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "http/response.h"
#include "modules/kit/config.h"

namespace rp::modules::kit {
namespace {

constexpr std::string_view kNdjsonType = "application/x-ndjson";
// {"lost":18446744073709551615}\n
constexpr size_t kLossLineMax = 32;

constexpr http::MetricFamily kStreams{"ringprobe_module_event_streams", http::MetricKind::gauge,
                                      "Clients reading the module's live event stream now."};
constexpr http::MetricFamily kLines{"ringprobe_module_event_lines", http::MetricKind::counter,
                                    "Event lines queued to the module's live event streams."};
constexpr http::MetricFamily kLost{
    "ringprobe_module_event_lost", http::MetricKind::counter,
    "Event lines a live event stream dropped because its client read too slowly."};

}  // namespace

void write_event_time(http::JsonWriter& w, uint64_t monotonic_ns) {
    timespec mono{}, real{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    auto ns = [](const timespec& t) {
        return static_cast<int64_t>(t.tv_sec) * 1000000000 + static_cast<int64_t>(t.tv_nsec);
    };
    int64_t at = ns(real);
    if (monotonic_ns != 0) at -= ns(mono) - static_cast<int64_t>(monotonic_ns);
    time_t secs = static_cast<time_t>(at / 1000000000);
    tm utc{};
    gmtime_r(&secs, &utc);
    char buf[40];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                          utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                          utc.tm_sec, static_cast<int>((at % 1000000000) / 1000));
    w.kv("time", std::string_view(buf, n > 0 ? static_cast<size_t>(n) : 0));
}

EventStreamLimits event_stream_limits(const conf::Config& cfg) {
    EventStreamLimits l;
    l.max_streams = static_cast<size_t>(std::max<int64_t>(
        1, config_int(cfg, "ringprobe.events.max_streams", static_cast<int64_t>(l.max_streams))));
    l.queue_bytes = static_cast<size_t>(std::max<int64_t>(
        4096,
        config_int(cfg, "ringprobe.events.queue_bytes", static_cast<int64_t>(l.queue_bytes))));
    return l;
}

class EventStreams::Stream final : public http::StreamBody {
  public:
    explicit Stream(EventStreams& hub) : hub_(hub) {}

    bool produce(http::Buffer& out, size_t budget) override {
        if (queue_.empty() && unreported_lost_ != 0) append_loss_line();
        if (!queue_.empty()) {
            std::string_view q = queue_.view();
            size_t n = q.size();
            if (n > budget) {
                // Whole lines: up to the last newline within the budget, or the first line.
                size_t nl = q.substr(0, budget).rfind('\n');
                if (nl == std::string_view::npos) nl = q.find('\n');
                n = nl == std::string_view::npos ? q.size() : nl + 1;
            }
            out.append(q.data(), n);
            queue_.consume(n);
            return false;
        }
        if (ending_) {
            finished_ = true;
            return true;
        }
        waiting_ = true;
        return false;
    }

    void abandoned() override { hub_.remove(this); }

    void push(std::string_view line) {
        size_t room = unreported_lost_ != 0 ? kLossLineMax : 0;
        if (queue_.size() + line.size() + room > hub_.limits_.queue_bytes) {
            ++unreported_lost_;
            ++hub_.lost_;
            return;
        }
        if (unreported_lost_ != 0) append_loss_line();
        queue_.append(line);
        ++hub_.lines_;
        resume();
    }

    void end() {
        ending_ = true;
        resume();
    }
    bool finished() const { return finished_; }
    bool gone = false;  // its client left during fan_out(): removed after it

  private:
    void resume() {
        if (!waiting_) return;
        waiting_ = false;
        wake();
    }
    void append_loss_line() {
        char line[kLossLineMax];
        char* p = line;
        constexpr std::string_view head = "{\"lost\":";
        p = std::copy(head.begin(), head.end(), p);
        p = std::to_chars(p, line + sizeof line - 2, unreported_lost_).ptr;
        *p++ = '}';
        *p++ = '\n';
        queue_.append(line, static_cast<size_t>(p - line));
        unreported_lost_ = 0;
    }

    EventStreams& hub_;
    http::Buffer queue_;  // lines the client has not been sent yet
    uint64_t unreported_lost_ = 0;
    bool waiting_ = false;  // produce() found nothing: the connection waits for wake()
    bool ending_ = false;
    bool finished_ = false;
};

EventStreams::EventStreams(std::string_view module, EventStreamLimits limits)
    : module_(module), limits_(limits) {}

EventStreams::~EventStreams() {
    // Closing the module: destroying a body mid-stream closes its connection (http/response.h).
    auto streams = std::move(streams_);
    streams_.clear();
    streams.clear();
}

void EventStreams::register_route(http::Router& router, std::string_view pattern) {
    http::RouteOptions opts;
    opts.max_in_flight = static_cast<uint32_t>(limits_.max_streams);
    router.handle(
        "GET", pattern,
        [this](const http::Request&, http::Response& res) {
            reap_finished();
            if (ending_) {
                res.error(503, "shutting down");
                return;
            }
            bool was = listening();
            streams_.push_back(std::make_unique<Stream>(*this));
            Stream& s = *streams_.back();
            res.stream(kNdjsonType, s);  // (outside a connection this ends the stream at once)
            set_listening(was);
        },
        opts);
}

void EventStreams::fan_out() {
    // A push may wake a connection whose send then fails and closes it, which abandons its
    // stream: removal waits until the loop is done.
    fanning_out_ = true;
    for (size_t i = 0; i < streams_.size(); ++i)
        if (!streams_[i]->finished() && !streams_[i]->gone) streams_[i]->push(line_.view());
    fanning_out_ = false;
    bool was = listening();
    std::erase_if(streams_, [](const std::unique_ptr<Stream>& s) { return s->gone; });
    set_listening(was);
}

void EventStreams::remove(Stream* s) {
    if (fanning_out_) {
        s->gone = true;
        return;
    }
    bool was = listening();
    auto it = std::find_if(streams_.begin(), streams_.end(),
                           [s](const std::unique_ptr<Stream>& p) { return p.get() == s; });
    if (it == streams_.end()) return;
    std::unique_ptr<Stream> gone = std::move(*it);
    streams_.erase(it);
    set_listening(was);
}

void EventStreams::reap_finished() {
    bool was = listening();
    std::erase_if(streams_, [](const std::unique_ptr<Stream>& s) {
        return s->finished() && !s->streaming();
    });
    set_listening(was);
}

void EventStreams::set_listening(bool was) {
    if (was != listening() && on_listening_) on_listening_(listening());
}

void EventStreams::end_all() {
    ending_ = true;
    for (auto& s : streams_) s->end();
}

void EventStreams::write_stats(http::JsonWriter& w) const {
    w.start_object();
    w.kv_uint("streams", streams_.size());
    w.kv_uint("lines", lines_);
    w.kv_uint("lost", lost_);
    w.end_object();
}

void EventStreams::write_metrics(http::MetricsWriter& w) const {
    w.gauge(kStreams, {{"module", module_}}, static_cast<int64_t>(streams_.size()));
    w.counter(kLines, {{"module", module_}}, lines_);
    w.counter(kLost, {{"module", module_}}, lost_);
}

}  // namespace rp::modules::kit
