// connection.h — one HTTP/1.1 connection of the Server (pooled: reused after close).
//
// Output: responses are written straight into out_ (a handler's body after room reserved for
// its headers, see Response), swapped into sending_ when the previous send is done, and sent from
// there. While a request is answered later (deferred) or streamed, further pipelined requests wait:
// their bytes are kept in pending_in_ and parsed once the answer is complete, so answers stay in
// request order.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "http/buffer.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"
#include "loop/reactor.h"
#include "loop/timer.h"

namespace rp::http {

class Server;

class Connection final : private loop::Handler {
  public:
    explicit Connection(Server& server);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void open(int fd);
    // Starts closing: cancels reads, waits for an in-flight send to end, closes the fd, returns to
    // the pool. A deferred or streamed answer in progress is abandoned. Safe to call more than
    // once.
    void close();
    bool idle() const;  // no partial request, no answer in progress and nothing to send
    // Graceful shutdown: close once the current response is out.
    void close_when_done();
    bool open_now() const { return fd_ >= 0; }
    // Frees the request and response buffers of a closed, pooled connection (the pool keeps a
    // few connections warm; the rest give their memory back after a burst).
    // Returns the bytes freed.
    size_t release_buffers();
    size_t buffer_bytes() const;

    // llhttp callbacks (static trampolines in connection.cpp reach these).
    int on_message_begin();
    int on_url(const char* p, size_t n);
    int on_header_field(const char* p, size_t n);
    int on_header_value(const char* p, size_t n);
    int on_headers_complete();
    int on_body(const char* p, size_t n);
    int on_message_complete();

    // --- for Response, Deferred and StreamBody (response.h)
    Deferred begin_deferred(Response& res);
    void begin_stream(Response& res, StreamBody& body);
    bool deferred_alive(uint64_t generation) const;
    bool complete_deferred(uint64_t generation, FnRef<void(Response&)> fn);
    void stream_woken();
    void stream_destroyed();

  private:
    enum Tag : uint32_t { kRecv = 1, kSend = 2 };
    enum class TimerRole { none, idle, request, write };
    enum class Awaiting : uint8_t { none, deferred, stream };
    void on_completion(uint32_t tag, const loop::Completion& c) override;
    void on_recv(const loop::Completion& c);
    void on_send(const loop::Completion& c);
    void feed(const char* data, size_t len);
    void handle_request();
    // Reserves room for a response's headers at the end of out_; returns where its body starts.
    size_t start_response();
    // After a handler (or a deferred completion) filled `res`: frames a whole answer, or leaves a
    // deferred or streamed one in progress.
    void finish_handler(Response& res);
    void finish_whole(Response& res);
    void queue_error(int status, std::string_view message);
    void count_status(int status);
    // Counts an answer (status, time since answer_start_ns_) on its route, or the server's
    // unmatched requests.
    void count_answer(int status);
    size_t format_head(char* out, int status, std::string_view content_type, const Response& res,
                       size_t body_len, bool stream);
    void pump_stream();
    void end_answer();  // a deferred or streamed answer is complete (or abandoned)
    void abandon_answer();
    void schedule_resume();
    void resume_input();
    size_t pending_output() const { return (out_.size() - out_front_) + (sending_.size() - sent_); }
    void flush();
    void after_output_drained();
    void finish_close();
    void arm_timer(TimerRole role);
    void on_timer();

    Server& server_;
    std::shared_ptr<ResponseAnchor> anchor_;
    int fd_ = -1;
    llhttp_t parser_{};
    loop::OpRef recv_ref_;
    loop::OpRef send_ref_;
    loop::Timer timer_;
    loop::Timer resume_timer_;  // parses input kept while an answer was in progress
    TimerRole timer_role_ = TimerRole::none;

    // Request being parsed: URL bytes, header bytes, then body bytes.
    Buffer req_;
    Buffer path_;  // percent-decoded path
    size_t url_len_ = 0;
    size_t body_off_ = 0;
    size_t header_bytes_ = 0;
    size_t header_count_ = 0;
    std::vector<HeaderSpan> headers_;  // grows to the most fields a request had (<= kMaxFields)
    bool in_value_ = false;            // the last header callback was a value
    bool in_message_ = false;
    bool headers_done_ = false;
    bool expect_continue_ = false;
    bool want_close_ = false;    // after the queued output is sent, close
    bool stop_parsing_ = false;  // a fatal request error was answered
    bool closing_ = false;
    int limit_status_ = 0;  // a limit hit inside a callback: answer after execute returns

    // An answer in progress (deferred or streamed) and what it holds.
    Awaiting awaiting_ = Awaiting::none;
    uint64_t deferred_gen_ = 0;
    bool deferred_pretty_ = false;
    StreamBody* stream_ = nullptr;
    bool stream_chunked_ = true;
    bool http10_ = false;
    std::shared_ptr<RouteLoad> load_;  // the route slot the current answer holds
    RouteLoad* count_on_ = nullptr;    // where the current answer is counted (/metrics)
    uint64_t answer_start_ns_ = 0;     // CLOCK_MONOTONIC when its handler was called
    int stream_status_ = 200;
    Buffer pending_in_;  // bytes received while an answer was in progress
    Buffer resume_in_;   // pending_in_ being parsed

    Buffer out_;            // responses waiting to be sent, from out_front_ on
    size_t out_front_ = 0;  // bytes at the front of out_ that are not part of any response
    Buffer sending_;        // bytes the kernel is sending now
    size_t sent_ = 0;       // bytes of sending_ already sent (or skipped)
};

}  // namespace rp::http
