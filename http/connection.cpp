// connection.cpp — see connection.h and server.h.
#include "http/connection.h"

#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "http/request.h"
#include "http/response.h"
#include "http/server.h"
#include "loop/log.h"

namespace rp::http {
namespace {

constexpr size_t kMaxHeaderCount = 100;
constexpr size_t kKeepBufferBytes = 64 * 1024;  // larger buffers are freed when a request ends

Connection* self(llhttp_t* p) { return static_cast<Connection*>(p->data); }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decodes a path into `out`. Fails on bad escapes, NUL, and "." / ".." segments (no route
// has them; refusing them keeps any later file-like use safe).
const char* decode_path(std::string_view in, Buffer& out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            int hi = i + 1 < in.size() ? hex_value(in[i + 1]) : -1;
            int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) return "bad percent-encoding in path";
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') return "NUL byte in path";
        out.push_back(c);
    }
    std::string_view p = out.view();
    if (p.empty() || p.front() != '/') return "path must start with /";
    size_t i = 0;
    while (i < p.size()) {
        size_t j = p.find('/', i + 1);
        if (j == std::string_view::npos) j = p.size();
        std::string_view seg = p.substr(i + 1, j - i - 1);
        if (seg == "." || seg == "..") return "dot segments are not allowed in paths";
        i = j;
    }
    return nullptr;
}

int cb_message_begin(llhttp_t* p) { return self(p)->on_message_begin(); }
int cb_url(llhttp_t* p, const char* at, size_t n) { return self(p)->on_url(at, n); }
int cb_header_field(llhttp_t* p, const char* at, size_t n) { return self(p)->on_header_field(at, n); }
int cb_header_value(llhttp_t* p, const char* at, size_t n) { return self(p)->on_header_value(at, n); }
int cb_headers_complete(llhttp_t* p) { return self(p)->on_headers_complete(); }
int cb_body(llhttp_t* p, const char* at, size_t n) { return self(p)->on_body(at, n); }
int cb_message_complete(llhttp_t* p) { return self(p)->on_message_complete(); }

}  // namespace

void init_parser_settings(llhttp_settings_t& s) {
    llhttp_settings_init(&s);
    s.on_message_begin = cb_message_begin;
    s.on_url = cb_url;
    s.on_header_field = cb_header_field;
    s.on_header_value = cb_header_value;
    s.on_headers_complete = cb_headers_complete;
    s.on_body = cb_body;
    s.on_message_complete = cb_message_complete;
}

Connection::Connection(Server& server) : server_(server) {
    timer_.init(server.reactor(), [this] { on_timer(); });
}

Connection::~Connection() {
    timer_.cancel();
    if (recv_ref_) server_.reactor().cancel(recv_ref_);
    if (send_ref_) server_.reactor().cancel(send_ref_);
    if (fd_ >= 0) ::close(fd_);
}

void Connection::open(int fd) {
    fd_ = fd;
    closing_ = want_close_ = stop_parsing_ = false;
    in_message_ = headers_done_ = false;
    limit_status_ = 0;
    out_.clear();
    sending_.clear();
    sent_ = 0;
    llhttp_init(&parser_, HTTP_REQUEST, &server_.parser_settings());
    parser_.data = this;
    recv_ref_ = server_.reactor().recv_multishot(this, kRecv, fd_);
    if (!recv_ref_) {
        LOG_WARN("http: no reactor slot to read a new connection; closing it");
        close();
        return;
    }
    arm_timer(TimerRole::idle);
}

bool Connection::idle() const {
    return !in_message_ && out_.empty() && !send_ref_.valid();
}

void Connection::close_when_done() {
    if (idle()) {
        close();
        return;
    }
    want_close_ = true;
}

void Connection::close() {
    if (closing_ || fd_ < 0) return;
    closing_ = true;
    timer_.cancel();
    timer_role_ = TimerRole::none;
    if (recv_ref_) server_.reactor().cancel(recv_ref_, loop::Cancel::detach);
    if (send_ref_) {
        // The kernel may still read sending_: wait for the send's final completion.
        server_.reactor().cancel(send_ref_, loop::Cancel::notify);
        return;
    }
    finish_close();
}

void Connection::finish_close() {
    ::close(fd_);
    fd_ = -1;
    req_.clear();
    req_.shrink_to(kKeepBufferBytes);
    out_.clear();
    out_.shrink_to(kKeepBufferBytes);
    sending_.clear();
    sending_.shrink_to(kKeepBufferBytes);
    path_.shrink_to(kKeepBufferBytes);
    server_.release(this);
}

size_t Connection::buffer_bytes() const {
    return req_.capacity() + out_.capacity() + sending_.capacity() + path_.capacity();
}

size_t Connection::release_buffers() {
    size_t bytes = buffer_bytes();
    req_.shrink_to(0);
    out_.shrink_to(0);
    sending_.shrink_to(0);
    path_.shrink_to(0);
    return bytes;
}

void Connection::arm_timer(TimerRole role) {
    timer_role_ = role;
    const ServerLimits& l = server_.limits();
    switch (role) {
        case TimerRole::none: timer_.cancel(); break;
        case TimerRole::idle: timer_.arm_after(l.idle_timeout_ms); break;
        case TimerRole::request: timer_.arm_after(l.header_timeout_ms); break;
        case TimerRole::write: timer_.arm_after(l.write_timeout_ms); break;
    }
}

void Connection::on_timer() {
    ServerStats& st = server_.mutable_stats();
    switch (timer_role_) {
        case TimerRole::idle:
            ++st.closed_idle;
            close();
            break;
        case TimerRole::request:
            ++st.closed_timeout;
            stop_parsing_ = true;
            queue_error(408, "request not complete within the header timeout");
            want_close_ = true;
            flush();
            break;
        case TimerRole::write:
            ++st.closed_backpressure;
            LOG_DEBUG("http: closing a connection whose client stopped reading");
            close();
            break;
        case TimerRole::none: break;
    }
}

void Connection::on_completion(uint32_t tag, const loop::Completion& c) {
    if (tag == kRecv)
        on_recv(c);
    else
        on_send(c);
}

void Connection::on_recv(const loop::Completion& c) {
    if (!c.more()) recv_ref_ = {};
    if (c.res > 0 && c.has_buffer()) {
        uint16_t id = c.buffer_id();
        if (!closing_ && !stop_parsing_) feed(server_.reactor().recv_buffer(id), static_cast<size_t>(c.res));
        server_.reactor().release_recv_buffer(id);
    } else if (c.has_buffer()) {
        server_.reactor().release_recv_buffer(c.buffer_id());
    }
    if (closing_) return;
    if (c.res == 0) {
        // Peer closed its side: finish what we owe, then close.
        if (out_.empty() && !send_ref_) {
            close();
        } else {
            want_close_ = true;
        }
        return;
    }
    if (c.res < 0 && c.res != -ENOBUFS) {
        if (c.res != -ECONNRESET && c.res != -EPIPE)
            LOG_DEBUG("http: recv: %s", std::strerror(-c.res));
        ++server_.mutable_stats().closed_error;
        close();
        return;
    }
    if (!recv_ref_ && !closing_ && !stop_parsing_) {
        // Multishot ended (out of provided buffers, or the kernel's choice): re-arm.
        recv_ref_ = server_.reactor().recv_multishot(this, kRecv, fd_);
        if (!recv_ref_) close();
    }
}

void Connection::feed(const char* data, size_t len) {
    const char* p = data;
    const char* end = data + len;
    while (p < end && !stop_parsing_ && !closing_) {
        llhttp_errno_t err = llhttp_execute(&parser_, p, static_cast<size_t>(end - p));
        if (err == HPE_OK) break;
        if (err == HPE_PAUSED_UPGRADE) {
            // llhttp reports an upgrade only on the execute after the request's own HPE_PAUSED
            // (on_message_complete), so that request was answered already: stop here.
            want_close_ = true;
            stop_parsing_ = true;
            break;
        }
        if (err == HPE_PAUSED) {
            const char* next = llhttp_get_error_pos(&parser_);
            if (parser_.upgrade) {
                // No protocol upgrades here: answer the request ("Connection: close"), then close.
                want_close_ = true;
                stop_parsing_ = true;
            }
            handle_request();
            llhttp_resume(&parser_);
            p = next != nullptr ? next : end;
            continue;
        }
        // A limit hit in a callback, or malformed input.
        stop_parsing_ = true;
        want_close_ = true;
        int status = limit_status_ != 0 ? limit_status_ : 400;
        const char* msg;
        switch (limit_status_) {
            case 400: msg = "bad request: whitespace in a header name"; break;
            case 413: msg = "request body too large"; break;
            case 414: msg = "request URI too long"; break;
            case 431: msg = "request header fields too large"; break;
            default: msg = nullptr; break;
        }
        if (msg != nullptr) {
            queue_error(status, msg);
        } else {
            char buf[160];
            std::snprintf(buf, sizeof buf, "bad request: %s", llhttp_get_error_reason(&parser_));
            queue_error(400, buf);
        }
        break;
    }
    flush();
}

int Connection::on_message_begin() {
    in_message_ = true;
    headers_done_ = false;
    expect_continue_ = false;
    field_is_expect_ = false;
    req_.clear();
    url_len_ = 0;
    header_bytes_ = 0;
    header_count_ = 0;
    arm_timer(TimerRole::request);
    return 0;
}

int Connection::on_url(const char* p, size_t n) {
    url_len_ += n;
    header_bytes_ += n;
    if (url_len_ > server_.limits().max_header_bytes) {
        limit_status_ = 414;
        return -1;
    }
    req_.append(p, n);
    return 0;
}

int Connection::on_header_field(const char* p, size_t n) {
    header_bytes_ += n + 4;  // ": " and CRLF
    if (header_bytes_ > server_.limits().max_header_bytes) {
        limit_status_ = 431;
        return -1;
    }
    // llhttp (non-strict) takes "Name : v" as a field named "Name "; RFC 9112 §5.1 requires a 400
    // (whitespace before the colon is a request smuggling vector).
    if (std::memchr(p, ' ', n) != nullptr || std::memchr(p, '\t', n) != nullptr) {
        limit_status_ = 400;
        return -1;
    }
    // llhttp may split a field across reads; "Expect" only matters when it arrives whole.
    if (n > 0) {
        ++header_count_;
        if (header_count_ > kMaxHeaderCount) {
            limit_status_ = 431;
            return -1;
        }
        field_is_expect_ = n == 6 && strncasecmp(p, "expect", 6) == 0;
    }
    return 0;
}

int Connection::on_header_value(const char* p, size_t n) {
    header_bytes_ += n;
    if (header_bytes_ > server_.limits().max_header_bytes) {
        limit_status_ = 431;
        return -1;
    }
    if (field_is_expect_ && n == 12 && strncasecmp(p, "100-continue", 12) == 0) expect_continue_ = true;
    return 0;
}

int Connection::on_headers_complete() {
    headers_done_ = true;
    uint64_t cl = parser_.content_length;
    bool has_length = (parser_.flags & F_CONTENT_LENGTH) != 0;
    if (has_length && cl > server_.limits().max_body_bytes) {
        limit_status_ = 413;
        return -1;
    }
    if (expect_continue_ && ((has_length && cl > 0) || (parser_.flags & F_CHUNKED) != 0)) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        out_.append(kContinue);
        flush();
    }
    return 0;
}

int Connection::on_body(const char* p, size_t n) {
    if (req_.size() - url_len_ + n > server_.limits().max_body_bytes) {
        limit_status_ = 413;
        return -1;
    }
    req_.append(p, n);
    return 0;
}

int Connection::on_message_complete() {
    in_message_ = false;
    return HPE_PAUSED;  // handled in feed(), outside the parser
}

void Connection::handle_request() {
    Server& s = server_;
    ++s.mutable_stats().requests;
    arm_timer(TimerRole::none);
    if (!llhttp_should_keep_alive(&parser_)) {
        want_close_ = true;
        stop_parsing_ = true;  // nothing after a "Connection: close" request is answered
    }

    Request req;
    req.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    std::string_view target(req_.data(), url_len_);
    req.target = target;
    req.body = std::string_view(req_.data() + url_len_, req_.size() - url_len_);
    // Absolute-form target (GET http://host/path): keep only the path.
    if (target.starts_with("http://") || target.starts_with("https://")) {
        size_t slash = target.find('/', target.find("//") + 2);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    size_t q = target.find('?');
    std::string_view raw_path = target.substr(0, q);
    if (q != std::string_view::npos) req.query = target.substr(q + 1);
    if (size_t h = raw_path.find('#'); h != std::string_view::npos) raw_path = raw_path.substr(0, h);

    if (const char* bad = decode_path(raw_path, path_); bad != nullptr) {
        queue_error(400, bad);
        return;
    }
    req.path = path_.view();

    bool pretty = req.pretty();
    Response res(s.scratch(), s.writer(), pretty);
    char allow[96];
    Router::Match m = s.router().match(req.method, req.path, req.params);
    if (m.outcome == Router::Outcome::not_found) {
        res.error(404, "404 page not found");
    } else if (m.outcome == Router::Outcome::method_not_allowed) {
        res.error(405, "method not allowed");
        int n = std::snprintf(allow, sizeof allow, "Allow: %s", m.allow);
        res.add_header(std::string_view(allow, static_cast<size_t>(n)));
    } else {
        (*m.handler)(req, res);
    }
    std::string_view extra[4];
    for (size_t i = 0; i < res.header_count(); ++i) extra[i] = res.header(i);
    if (res.is_json() && !res.body().empty()) s.scratch().push_back('\n');
    queue_response(res.status(), res.content_type(), s.scratch().view(), extra, res.header_count());
    s.scratch().clear();
}

void Connection::queue_error(int status, std::string_view message) {
    Server& s = server_;
    // Every caller answers a request it cannot go on from (400, 408, 413, 414, 431): nothing
    // pipelined after it is answered, and queue_response must see want_close_ to send
    // "Connection: close".
    want_close_ = true;
    stop_parsing_ = true;
    Response res(s.scratch(), s.writer(), false);
    res.error(status, message);
    s.scratch().push_back('\n');
    queue_response(status, "application/json", s.scratch().view(), nullptr, 0);
    s.scratch().clear();
}

void Connection::queue_response(int status, std::string_view content_type, std::string_view body,
                                const std::string_view* extra_headers, size_t extra_count) {
    ServerStats& st = server_.mutable_stats();
    if (status < 300)
        ++st.responses_2xx;
    else if (status < 500)
        ++st.responses_4xx;
    else
        ++st.responses_5xx;
    // Back-pressure: a client that keeps sending without reading its answers is cut off.
    size_t pending = out_.size() + (sending_.size() - sent_);
    if (pending > 0 && pending + body.size() > server_.limits().max_output_bytes) {
        ++st.closed_backpressure;
        LOG_DEBUG("http: closing a pipelining client with %zu bytes of unread responses", pending);
        stop_parsing_ = true;
        close();
        return;
    }
    // Formatted by hand: two snprintf calls were ~1,600 instructions, 5 % of a /debug/stats request.
    std::string_view reason = reason_phrase(status);
    std::string_view date = server_.date_header();
    char code[8];
    auto code_end = std::to_chars(code, code + sizeof code, status).ptr;
    out_.reserve(out_.size() + 160 + reason.size() + date.size() + content_type.size() + body.size());
    out_.append("HTTP/1.1 ");
    out_.append(code, static_cast<size_t>(code_end - code));
    out_.push_back(' ');
    out_.append(reason);
    out_.append("\r\n");
    out_.append(date);
    out_.append("\r\n");
    if (!content_type.empty() && !body.empty()) {
        out_.append("Content-Type: ");
        out_.append(content_type);
        out_.append("\r\n");
    }
    for (size_t i = 0; i < extra_count; ++i) {
        out_.append(extra_headers[i]);
        out_.append("\r\n");
    }
    char len[24];
    auto len_end = std::to_chars(len, len + sizeof len, body.size()).ptr;
    out_.append("Content-Length: ");
    out_.append(len, static_cast<size_t>(len_end - len));
    out_.append("\r\n");
    if (want_close_ || server_.shutting_down()) {
        out_.append("Connection: close\r\n");
        want_close_ = true;
    }
    out_.append("\r\n");
    out_.append(body);
}

void Connection::flush() {
    if (closing_ || send_ref_) return;
    if (sent_ < sending_.size()) {
        // Remainder of a short send.
    } else {
        sending_.clear();
        sent_ = 0;
        if (out_.empty()) {
            after_output_drained();
            return;
        }
        std::swap(out_, sending_);
    }
    send_ref_ = server_.reactor().send(this, kSend, fd_, sending_.data() + sent_, sending_.size() - sent_);
    if (!send_ref_) {
        LOG_WARN("http: no reactor slot to send a response; closing the connection");
        close();
        return;
    }
    if (timer_role_ != TimerRole::request) arm_timer(TimerRole::write);
}

void Connection::on_send(const loop::Completion& c) {
    send_ref_ = {};
    if (closing_) {
        finish_close();
        return;
    }
    if (c.res < 0) {
        if (c.res != -EPIPE && c.res != -ECONNRESET) LOG_DEBUG("http: send: %s", std::strerror(-c.res));
        ++server_.mutable_stats().closed_error;
        close();
        return;
    }
    sent_ += static_cast<size_t>(c.res);
    if (c.res > 0 && timer_role_ == TimerRole::write) arm_timer(TimerRole::write);  // progress
    flush();
}

void Connection::after_output_drained() {
    if (want_close_) {
        close();
        return;
    }
    if (!in_message_) arm_timer(TimerRole::idle);
    if (!recv_ref_ && !stop_parsing_) {
        recv_ref_ = server_.reactor().recv_multishot(this, kRecv, fd_);
        if (!recv_ref_) close();
    }
}

}  // namespace rp::http
