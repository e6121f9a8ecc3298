// connection.h — one HTTP/1.1 connection of the Server (pooled: reused after close).
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string_view>

#include "http/buffer.h"
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
    // the pool. Safe to call more than once.
    void close();
    bool idle() const;  // no partial request and nothing to send
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

private:
    enum Tag : uint32_t { kRecv = 1, kSend = 2 };
    enum class TimerRole { none, idle, request, write };
    void on_completion(uint32_t tag, const loop::Completion& c) override;
    void on_recv(const loop::Completion& c);
    void on_send(const loop::Completion& c);
    void feed(const char* data, size_t len);
    void handle_request();
    void queue_error(int status, std::string_view message);
    void queue_response(int status, std::string_view content_type, std::string_view body,
                        const std::string_view* extra_headers, size_t extra_count);
    void flush();
    void after_output_drained();
    void finish_close();
    void arm_timer(TimerRole role);
    void on_timer();

    Server& server_;
    int fd_ = -1;
    llhttp_t parser_{};
    loop::OpRef recv_ref_;
    loop::OpRef send_ref_;
    loop::Timer timer_;
    TimerRole timer_role_ = TimerRole::none;

    // Request being parsed: URL bytes then body bytes.
    Buffer req_;
    Buffer path_;  // percent-decoded path
    size_t url_len_ = 0;
    size_t header_bytes_ = 0;
    size_t header_count_ = 0;
    bool in_message_ = false;
    bool headers_done_ = false;
    bool expect_continue_ = false;
    bool field_is_expect_ = false;
    bool want_close_ = false;     // after the queued output is sent, close
    bool stop_parsing_ = false;   // a fatal request error was answered
    bool closing_ = false;
    int limit_status_ = 0;        // a limit hit inside a callback: answer after execute returns

    Buffer out_;      // responses waiting to be sent
    Buffer sending_;  // bytes the kernel is sending now
    size_t sent_ = 0; // bytes of sending_ already sent
};

}  // namespace rp::http
