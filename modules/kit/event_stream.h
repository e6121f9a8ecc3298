// event_stream.h — EventStreams: a module's live event feed, GET /<module>/events (the module kit).
//
// Each client of the route gets its own chunked answer (an http::StreamBody) carrying
// newline-delimited JSON, one line per event as it happens — what `curl --no-buffer` prints as it
// arrives. The module calls publish() where it learns of an event (a ring-buffer callback); the
// line is rendered once and queued for every open stream. Nothing is kept when nobody listens.
//
// Bounded: at most `max_streams` clients at once per module (the route answers 429 beyond), and
// each stream queues at most `queue_bytes` of lines that its client has not read yet. A slow
// reader loses the events that do not fit: they are counted, and once there is room again the
// stream carries one line {"lost":N} where they would have been. A stalled client therefore costs
// its queue and nothing else; neither the daemon nor the other clients wait for it.
//
// Independent of /check: publishing never touches what /check returns and /check never empties a
// stream. end_all() (daemon shutdown) lets every stream send what it holds and end properly; the
// destructor (module closed: restart, reload, shutdown) ends them at once — their connections are
// closed, the client sees the stream cut and reconnects.
//
// Metrics (write_metrics): ringprobe_module_event_streams{module} (open streams),
// ringprobe_module_event_lines_total{module} (lines queued to streams) and
// ringprobe_module_event_lost_total{module} (lines dropped for slow readers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "http/buffer.h"
#include "http/json_writer.h"
#include "http/metrics.h"
#include "http/router.h"

namespace rp::modules::kit {

struct EventStreamLimits {
    size_t max_streams = 8;
    size_t queue_bytes = 256 * 1024;
};
// ringprobe.events.max_streams and ringprobe.events.queue_bytes.
EventStreamLimits event_stream_limits(const conf::Config& cfg);

// Writes "time": the wall-clock time (RFC 3339, UTC, microseconds: "2026-11-26T10:00:00.123456Z")
// of an event the kernel stamped with bpf_ktime_get_ns() (CLOCK_MONOTONIC); 0 means now.
void write_event_time(http::JsonWriter& w, uint64_t monotonic_ns);

class EventStreams {
  public:
    // `module` names the module in metrics (it must outlive this object: a literal).
    EventStreams(std::string_view module, EventStreamLimits limits);
    ~EventStreams();
    EventStreams(const EventStreams&) = delete;
    EventStreams& operator=(const EventStreams&) = delete;

    // Registers GET <pattern> (default /events) on the module's router.
    void register_route(http::Router& router, std::string_view pattern = "/events");
    // Called with true when the first stream opens and false when the last one ends (a probe that
    // produces event records only for listeners turns them on and off here).
    void on_listening(std::function<void(bool)> fn) { on_listening_ = std::move(fn); }

    bool listening() const { return !streams_.empty(); }
    size_t open_streams() const { return streams_.size(); }

    // Renders one event — `write` writes exactly one JSON object — and queues it for every open
    // stream. Does nothing (and does not call `write`) when nobody listens.
    template <typename Write>
    void publish(Write&& write) {
        if (streams_.empty()) return;
        line_.clear();
        writer_.reset(line_, false);
        write(writer_);
        line_.push_back('\n');
        fan_out();
    }
    // Lets every stream send what it has queued, then end (chunked terminator).
    void end_all();

    void write_stats(http::JsonWriter& w) const;  // {"streams", "lines", "lost"}
    void write_metrics(http::MetricsWriter& w) const;

    uint64_t lines() const { return lines_; }
    uint64_t lost() const { return lost_; }

  private:
    class Stream;
    friend class Stream;
    void fan_out();
    void remove(Stream* s);
    void reap_finished();
    void set_listening(bool was);

    std::string_view module_;
    EventStreamLimits limits_;
    std::vector<std::unique_ptr<Stream>> streams_;
    std::function<void(bool)> on_listening_;
    http::Buffer line_;
    http::JsonWriter writer_{line_};
    uint64_t lines_ = 0;
    uint64_t lost_ = 0;
    bool ending_ = false;
    bool fanning_out_ = false;
};

}  // namespace rp::modules::kit
