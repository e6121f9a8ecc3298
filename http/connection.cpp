// connection.cpp — see connection.h, server.h and response.h (the handler contract).
#include "http/connection.h"

#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include "http/server.h"
#include "loop/log.h"

namespace rp::http {
namespace {

constexpr size_t kKeepBufferBytes = 64 * 1024;  // larger buffers are freed when a request ends
// Room kept in front of a body for its status line and headers: the status line (~40 bytes),
// Date (37), Content-Type (~60), Content-Length (~30), Connection/Transfer-Encoding (~30) and up to
// 256 bytes of extra headers (Response::add_header's bound) with their CRLFs.
constexpr size_t kHeaderRoom = 512;
// A streamed body is produced in pieces of about this size, one loop turn each.
constexpr size_t kStreamPieceBytes = 64 * 1024;
constexpr size_t kChunkHead = 10;  // "XXXXXXXX\r\n": a fixed-width hex chunk size

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

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

char* put(char* p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

int cb_message_begin(llhttp_t* p) { return self(p)->on_message_begin(); }
int cb_url(llhttp_t* p, const char* at, size_t n) { return self(p)->on_url(at, n); }
int cb_header_field(llhttp_t* p, const char* at, size_t n) {
    return self(p)->on_header_field(at, n);
}
int cb_header_value(llhttp_t* p, const char* at, size_t n) {
    return self(p)->on_header_value(at, n);
}
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

// --- StreamBody and Deferred: the halves that reach into a connection.

StreamBody::~StreamBody() {
    if (conn_ != nullptr) conn_->stream_destroyed();
}

void StreamBody::wake() {
    if (conn_ != nullptr) conn_->stream_woken();
}

Deferred& Deferred::operator=(Deferred&& o) noexcept {
    if (this != &o) {
        reset();
        anchor_ = std::move(o.anchor_);
        generation_ = std::exchange(o.generation_, 0);
    }
    return *this;
}

bool Deferred::alive() const {
    return anchor_ && anchor_->conn != nullptr && anchor_->conn->deferred_alive(generation_);
}

bool Deferred::complete(FnRef<void(Response&)> fn) {
    if (!alive()) {
        anchor_.reset();
        return false;
    }
    Connection* c = anchor_->conn;
    anchor_.reset();
    return c->complete_deferred(generation_, fn);
}

void Deferred::reset() {
    if (!alive()) {
        anchor_.reset();
        return;
    }
    LOG_WARN("http: a deferred request was dropped without an answer; answering 500");
    complete(
        [](Response& r) { r.error(500, "the handler dropped this request without answering"); });
}

// --- the connection.

Connection::Connection(Server& server) : server_(server) {
    timer_.init(server.reactor(), [this] { on_timer(); });
    resume_timer_.init(server.reactor(), [this] { resume_input(); });
}

Connection::~Connection() {
    if (anchor_) anchor_->conn = nullptr;
    if (stream_ != nullptr) stream_->conn_ = nullptr;
    timer_.cancel();
    resume_timer_.cancel();
    if (recv_ref_) server_.reactor().cancel(recv_ref_);
    if (send_ref_) server_.reactor().cancel(send_ref_);
    if (fd_ >= 0) ::close(fd_);
}

void Connection::open(int fd) {
    fd_ = fd;
    closing_ = want_close_ = stop_parsing_ = false;
    in_message_ = headers_done_ = false;
    limit_status_ = 0;
    awaiting_ = Awaiting::none;
    out_.clear();
    out_front_ = 0;
    sending_.clear();
    sent_ = 0;
    pending_in_.clear();
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
    return !in_message_ && awaiting_ == Awaiting::none && out_.size() == out_front_ &&
           !send_ref_.valid();
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
    abandon_answer();
    timer_.cancel();
    resume_timer_.cancel();
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
    out_front_ = 0;
    out_.shrink_to(kKeepBufferBytes);
    sending_.clear();
    sending_.shrink_to(kKeepBufferBytes);
    path_.shrink_to(kKeepBufferBytes);
    pending_in_.clear();
    pending_in_.shrink_to(kKeepBufferBytes);
    resume_in_.shrink_to(kKeepBufferBytes);
    server_.release(this);
}

size_t Connection::buffer_bytes() const {
    return req_.capacity() + out_.capacity() + sending_.capacity() + path_.capacity() +
           pending_in_.capacity() + resume_in_.capacity() +
           headers_.capacity() * sizeof(HeaderSpan);
}

size_t Connection::release_buffers() {
    size_t bytes = buffer_bytes();
    req_.shrink_to(0);
    out_.shrink_to(0);
    sending_.shrink_to(0);
    path_.shrink_to(0);
    pending_in_.shrink_to(0);
    resume_in_.shrink_to(0);
    std::vector<HeaderSpan>().swap(headers_);
    return bytes;
}

void Connection::arm_timer(TimerRole role) {
    timer_role_ = role;
    const ServerLimits& l = server_.limits();
    switch (role) {
        case TimerRole::none:
            timer_.cancel();
            break;
        case TimerRole::idle:
            timer_.arm_after(l.idle_timeout_ms);
            break;
        case TimerRole::request:
            timer_.arm_after(l.header_timeout_ms);
            break;
        case TimerRole::write:
            timer_.arm_after(l.write_timeout_ms);
            break;
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
            flush();
            break;
        case TimerRole::write:
            ++st.closed_backpressure;
            LOG_DEBUG("http: closing a connection whose client stopped reading");
            close();
            break;
        case TimerRole::none:
            break;
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
        if (!closing_ && !stop_parsing_)
            feed(server_.reactor().recv_buffer(id), static_cast<size_t>(c.res));
        server_.reactor().release_recv_buffer(id);
    } else if (c.has_buffer()) {
        server_.reactor().release_recv_buffer(c.buffer_id());
    }
    if (closing_) return;
    if (c.res == 0) {
        // Peer closed its side. With an answer still being prepared, the client is gone (as Go's
        // server cancels the request's context on EOF): abandon it. Else finish what we owe.
        if (awaiting_ != Awaiting::none || (out_.size() == out_front_ && !send_ref_)) {
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
    if (awaiting_ != Awaiting::none || resume_timer_.armed()) {
        // An answer is in progress: later requests wait, in order.
        const ServerLimits& l = server_.limits();
        if (pending_in_.size() + len > l.max_header_bytes + l.max_body_bytes) {
            LOG_DEBUG("http: closing a client that sent %zu bytes ahead of an unfinished answer",
                      pending_in_.size() + len);
            ++server_.mutable_stats().closed_backpressure;
            close();
            return;
        }
        pending_in_.append(data, len);
        return;
    }
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
            if (awaiting_ != Awaiting::none && p < end && !stop_parsing_ && !closing_) {
                pending_in_.append(p, static_cast<size_t>(end - p));
                break;
            }
            continue;
        }
        // A limit hit in a callback, or malformed input.
        stop_parsing_ = true;
        want_close_ = true;
        const char* msg;
        switch (limit_status_) {
            case 400:
                msg = "bad request: whitespace in a header name";
                break;
            case 413:
                msg = "request body too large";
                break;
            case 414:
                msg = "request URI too long";
                break;
            case 431:
                msg = "request header fields too large";
                break;
            default:
                msg = nullptr;
                break;
        }
        if (msg != nullptr) {
            queue_error(limit_status_, msg);
        } else {
            char buf[160];
            std::snprintf(buf, sizeof buf, "bad request: %s", llhttp_get_error_reason(&parser_));
            queue_error(400, buf);
        }
        break;
    }
    if (!closing_) flush();
}

int Connection::on_message_begin() {
    in_message_ = true;
    headers_done_ = false;
    expect_continue_ = false;
    in_value_ = false;
    req_.clear();
    url_len_ = 0;
    body_off_ = 0;
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
    if (headers_done_) return 0;  // a chunked body's trailer field: counted, not kept
    // llhttp may split a field across reads: a new field starts after a value (or at the first).
    if (in_value_ || header_count_ == 0) {
        if (header_count_ == Headers::kMaxFields) {
            limit_status_ = 431;
            return -1;
        }
        if (header_count_ == headers_.size()) headers_.emplace_back();
        HeaderSpan& h = headers_[header_count_++];
        h = {};
        h.name_off = static_cast<uint32_t>(req_.size());
        in_value_ = false;
    }
    headers_[header_count_ - 1].name_len += static_cast<uint32_t>(n);
    req_.append(p, n);
    return 0;
}

int Connection::on_header_value(const char* p, size_t n) {
    header_bytes_ += n;
    if (header_bytes_ > server_.limits().max_header_bytes) {
        limit_status_ = 431;
        return -1;
    }
    if (headers_done_ || header_count_ == 0) return 0;
    HeaderSpan& h = headers_[header_count_ - 1];
    if (!in_value_) {
        h.value_off = static_cast<uint32_t>(req_.size());
        in_value_ = true;
    }
    h.value_len += static_cast<uint32_t>(n);
    req_.append(p, n);
    return 0;
}

int Connection::on_headers_complete() {
    headers_done_ = true;
    // Values without trailing whitespace (llhttp drops only the leading one).
    for (size_t i = 0; i < header_count_; ++i) {
        HeaderSpan& h = headers_[i];
        while (h.value_len > 0) {
            char c = req_.data()[h.value_off + h.value_len - 1];
            if (c != ' ' && c != '\t') break;
            --h.value_len;
        }
        std::string_view name(req_.data() + h.name_off, h.name_len);
        std::string_view value(req_.data() + h.value_off, h.value_len);
        if (Headers::equal_names(name, "Expect") && value.size() == 12 &&
            strncasecmp(value.data(), "100-continue", 12) == 0)
            expect_continue_ = true;
    }
    body_off_ = req_.size();
    http10_ = parser_.http_major == 1 && parser_.http_minor == 0;
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
    if (req_.size() - body_off_ + n > server_.limits().max_body_bytes) {
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
    answer_start_ns_ = monotonic_ns();
    count_on_ = nullptr;
    arm_timer(TimerRole::none);
    if (!llhttp_should_keep_alive(&parser_)) {
        want_close_ = true;
        stop_parsing_ = true;  // nothing after a "Connection: close" request is answered
    }
    // Back-pressure: a client that keeps sending requests without reading the answers is cut off.
    if (size_t pending = pending_output(); pending > s.limits().max_output_bytes) {
        ++s.mutable_stats().closed_backpressure;
        LOG_DEBUG("http: closing a pipelining client with %zu bytes of unread responses", pending);
        stop_parsing_ = true;
        close();
        return;
    }

    Request req;
    req.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    std::string_view target(req_.data(), url_len_);
    req.target = target;
    req.body = std::string_view(req_.data() + body_off_, req_.size() - body_off_);
    req.headers = Headers(req_.data(), headers_.data(), header_count_);
    // Absolute-form target (GET http://host/path): keep only the path.
    if (target.starts_with("http://") || target.starts_with("https://")) {
        size_t slash = target.find('/', target.find("//") + 2);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    size_t q = target.find('?');
    std::string_view raw_path = target.substr(0, q);
    if (q != std::string_view::npos) req.query = target.substr(q + 1);
    if (size_t h = raw_path.find('#'); h != std::string_view::npos)
        raw_path = raw_path.substr(0, h);

    if (const char* bad = decode_path(raw_path, path_); bad != nullptr) {
        queue_error(400, bad);
        return;
    }
    req.path = path_.view();

    bool pretty = req.pretty();
    Router::Match m = s.router().match(req.method, req.path, req.params);
    Response res(*this, out_, start_response(), s.writers(), pretty);
    if (m.outcome == Router::Outcome::not_found) {
        res.error(404, "404 page not found");
    } else if (m.outcome == Router::Outcome::method_not_allowed) {
        res.error(405, "method not allowed");
        char allow[96];
        int n = std::snprintf(allow, sizeof allow, "Allow: %s", m.allow);
        res.add_header(std::string_view(allow, static_cast<size_t>(n)));
    } else if (RouteLoad& load = **m.load; load.limit != 0 && load.in_flight >= load.limit) {
        ++load.rejected;
        count_on_ = &load;
        char msg[96];
        std::snprintf(msg, sizeof msg, "too many concurrent requests on this route (limit %u)",
                      load.limit);
        res.error(429, msg);
    } else {
        ++load.in_flight;
        load_ = *m.load;
        count_on_ = &load;
        deferred_pretty_ = pretty;
        (*m.handler)(req, res);
    }
    finish_handler(res);
}

size_t Connection::start_response() {
    if (out_front_ == out_.size()) {  // nothing queued: start from the front again
        out_.clear();
        out_front_ = 0;
    }
    out_.resize(out_.size() + kHeaderRoom);
    return out_.size();
}

void Connection::finish_handler(Response& res) {
    switch (res.mode()) {
        case Response::Mode::whole:
            finish_whole(res);
            if (load_) {
                --load_->in_flight;
                load_.reset();
            }
            break;
        case Response::Mode::deferred:
        case Response::Mode::streamed:
            // defer()/stream() already gave back the room reserved for the headers. An answer
            // that is complete already (a deferred one completed before its handler returned, a
            // stream refused) gives back its route slot now.
            if (awaiting_ == Awaiting::none) end_answer();
            break;
    }
}

size_t Connection::format_head(char* out, int status, std::string_view content_type,
                               const Response& res, size_t body_len, bool stream) {
    // Formatted by hand: two snprintf calls were ~1,600 instructions, 5 % of a /debug/stats
    // request.
    char* p = out;
    p = put(p, "HTTP/1.1 ");
    p = std::to_chars(p, p + 8, status).ptr;
    *p++ = ' ';
    p = put(p, reason_phrase(status));
    p = put(p, "\r\n");
    p = put(p, server_.date_header());
    p = put(p, "\r\n");
    if (!content_type.empty() && (body_len > 0 || stream)) {
        p = put(p, "Content-Type: ");
        p = put(p, content_type.substr(0, 120));
        p = put(p, "\r\n");
    }
    for (size_t i = 0; i < res.header_count(); ++i) {
        p = put(p, res.header(i));
        p = put(p, "\r\n");
    }
    if (!stream) {
        p = put(p, "Content-Length: ");
        p = std::to_chars(p, p + 24, body_len).ptr;
        p = put(p, "\r\n");
    } else if (stream_chunked_) {
        p = put(p, "Transfer-Encoding: chunked\r\n");
    }
    if (want_close_ || server_.shutting_down() || (stream && !stream_chunked_)) {
        p = put(p, "Connection: close\r\n");
        want_close_ = true;
    }
    p = put(p, "\r\n");
    return static_cast<size_t>(p - out);
}

void Connection::count_status(int status) {
    ServerStats& st = server_.mutable_stats();
    if (status < 300)
        ++st.responses_2xx;
    else if (status < 500)
        ++st.responses_4xx;
    else
        ++st.responses_5xx;
}

void Connection::count_answer(int status) {
    RouteLoad& l = count_on_ != nullptr ? *count_on_ : server_.unmatched();
    l.answered(status, static_cast<double>(monotonic_ns() - answer_start_ns_) * 1e-9);
}

void Connection::finish_whole(Response& res) {
    count_status(res.status());
    count_answer(res.status());
    size_t body_start = res.body_start_;
    size_t room_at = body_start - kHeaderRoom;
    if (res.is_json() && out_.size() > body_start) out_.push_back('\n');
    size_t body_len = out_.size() - body_start;
    char head[kHeaderRoom];
    size_t h = format_head(head, res.status(), res.content_type(), res, body_len, false);
    size_t head_at = body_start - h;
    std::memcpy(out_.data() + head_at, head, h);
    size_t dead = head_at - room_at;
    if (room_at == out_front_) {
        out_front_ = head_at;  // nothing queued before this answer: skip the unused room
    } else if (dead > 0) {
        // Answers queued in front of this one (pipelining while a send is in flight): close the
        // gap by moving the smaller side.
        size_t before = room_at - out_front_;
        size_t after = out_.size() - head_at;
        if (before <= after) {
            std::memmove(out_.data() + out_front_ + dead, out_.data() + out_front_, before);
            out_front_ += dead;
        } else {
            std::memmove(out_.data() + room_at, out_.data() + head_at, after);
            out_.resize(room_at + after);
        }
    }
}

void Connection::queue_error(int status, std::string_view message) {
    // Every caller answers a request it cannot go on from (400, 408, 413, 414, 431): nothing
    // pipelined after it is answered, and the head must say "Connection: close".
    want_close_ = true;
    stop_parsing_ = true;
    if (awaiting_ != Awaiting::none) return;  // the answer in progress goes first; then we close
    answer_start_ns_ = monotonic_ns();
    count_on_ = nullptr;
    Response res(*this, out_, start_response(), server_.writers(), false);
    res.error(status, message);
    finish_whole(res);
}

Deferred Connection::begin_deferred(Response& res) {
    out_.resize(res.body_start_ - kHeaderRoom);  // this answer's room is not needed now
    awaiting_ = Awaiting::deferred;
    ++deferred_gen_;
    if (!anchor_) {  // made on the first deferred answer of this (pooled) connection, then kept
        anchor_ = std::make_shared<ResponseAnchor>();
        anchor_->conn = this;
    }
    return Deferred(anchor_, deferred_gen_);
}

bool Connection::deferred_alive(uint64_t generation) const {
    return !closing_ && awaiting_ == Awaiting::deferred && generation == deferred_gen_;
}

bool Connection::complete_deferred(uint64_t generation, FnRef<void(Response&)> fn) {
    if (!deferred_alive(generation)) return false;
    awaiting_ = Awaiting::none;
    ++deferred_gen_;  // the handle is spent
    Response res(*this, out_, start_response(), server_.writers(), deferred_pretty_);
    fn(res);
    if (res.mode() == Response::Mode::deferred) {
        // Deferred again from its own completion: the handler has no handle left to answer with.
        awaiting_ = Awaiting::none;
        ++deferred_gen_;
        Response err(*this, out_, start_response(), server_.writers(), false);
        err.error(500, "a deferred answer deferred itself again");
        finish_whole(err);
    } else {
        finish_handler(res);
    }
    if (awaiting_ == Awaiting::none) end_answer();
    flush();
    return true;
}

void Connection::begin_stream(Response& res, StreamBody& body) {
    out_.resize(res.body_start_ - kHeaderRoom);
    if (body.conn_ != nullptr) {
        // One body streams to one connection at a time.
        Response err(*this, out_, start_response(), server_.writers(), false);
        err.error(500, "this body is already being streamed");
        finish_whole(err);
        return;
    }
    // HTTP/1.0 has no chunked coding: there the body ends with the connection.
    stream_chunked_ = !http10_;
    count_status(res.status());
    stream_status_ = res.status();
    char head[kHeaderRoom];
    size_t h = format_head(head, res.status(), res.content_type(), res, 0, true);
    if (out_front_ == out_.size()) {
        out_.clear();
        out_front_ = 0;
    }
    out_.append(head, h);
    awaiting_ = Awaiting::stream;
    stream_ = &body;
    body.conn_ = this;
}

void Connection::stream_woken() {
    if (closing_ || awaiting_ != Awaiting::stream) return;
    flush();
}

void Connection::stream_destroyed() {
    // The body's owner went away mid-stream: the body cannot end properly, so the client must not
    // mistake what it got for all of it.
    stream_ = nullptr;
    LOG_WARN("http: a streamed body was destroyed before it ended; closing its connection");
    close();
}

void Connection::pump_stream() {
    if (stream_ == nullptr) return;
    size_t at = out_.size();
    if (stream_chunked_) out_.resize(at + kChunkHead);
    size_t body_at = out_.size();
    bool done = stream_->produce(out_, kStreamPieceBytes);
    if (stream_ == nullptr) return;  // the producer destroyed itself (and closed us)
    size_t n = out_.size() - body_at;
    if (stream_chunked_) {
        if (n == 0) {
            out_.resize(at);  // an empty chunk would end the body
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            char* c = out_.data() + at;
            for (int i = 7; i >= 0; --i) *c++ = kHex[(n >> (4 * i)) & 0xf];
            *c++ = '\r';
            *c = '\n';
            out_.append("\r\n");
        }
    }
    if (!done) return;
    if (stream_chunked_) out_.append("0\r\n\r\n");
    stream_->conn_ = nullptr;
    stream_ = nullptr;
    awaiting_ = Awaiting::none;
    count_answer(stream_status_);
    end_answer();
}

void Connection::end_answer() {
    if (load_) {
        --load_->in_flight;
        load_.reset();
    }
    if (!pending_in_.empty()) schedule_resume();
}

void Connection::abandon_answer() {
    // An answer the client did not wait for counts as 499 (nginx's "client closed request").
    if (awaiting_ != Awaiting::none) count_answer(499);
    if (awaiting_ == Awaiting::deferred) ++deferred_gen_;  // every handle is dead now
    if (awaiting_ == Awaiting::stream && stream_ != nullptr) {
        StreamBody* body = stream_;
        stream_ = nullptr;
        body->conn_ = nullptr;
        body->abandoned();
    }
    awaiting_ = Awaiting::none;
    if (load_) {
        --load_->in_flight;
        load_.reset();
    }
}

void Connection::schedule_resume() {
    if (!resume_timer_.armed())
        resume_timer_.arm_after(0);  // next loop turn, not from inside a handler
}

void Connection::resume_input() {
    if (closing_ || awaiting_ != Awaiting::none || pending_in_.empty()) return;
    std::swap(pending_in_, resume_in_);
    feed(resume_in_.data(), resume_in_.size());
    resume_in_.clear();
}

void Connection::flush() {
    if (closing_ || send_ref_) return;
    if (sent_ < sending_.size()) {
        // Remainder of a short send.
    } else {
        sending_.clear();
        sent_ = 0;
        if (out_.size() == out_front_ && awaiting_ == Awaiting::stream) pump_stream();
        if (closing_) return;
        if (out_.size() == out_front_) {
            after_output_drained();
            return;
        }
        std::swap(out_, sending_);
        sent_ = out_front_;
        out_front_ = 0;
        out_.clear();
    }
    send_ref_ =
        server_.reactor().send(this, kSend, fd_, sending_.data() + sent_, sending_.size() - sent_);
    if (!send_ref_) {
        LOG_WARN("http: no reactor slot to send a response; closing the connection");
        close();
        return;
    }
    if (timer_role_ != TimerRole::request) arm_timer(TimerRole::write);
    // The next piece of a stream is made while this one is sent.
    if (awaiting_ == Awaiting::stream && out_.size() == out_front_) pump_stream();
}

void Connection::on_send(const loop::Completion& c) {
    send_ref_ = {};
    if (closing_) {
        finish_close();
        return;
    }
    if (c.res < 0) {
        if (c.res != -EPIPE && c.res != -ECONNRESET)
            LOG_DEBUG("http: send: %s", std::strerror(-c.res));
        ++server_.mutable_stats().closed_error;
        close();
        return;
    }
    sent_ += static_cast<size_t>(c.res);
    if (c.res > 0 && timer_role_ == TimerRole::write) arm_timer(TimerRole::write);  // progress
    flush();
}

void Connection::after_output_drained() {
    if (awaiting_ != Awaiting::none) {
        // A deferred answer, or a stream waiting for wake(): no idle timeout meanwhile.
        if (timer_role_ == TimerRole::write) arm_timer(TimerRole::none);
        return;
    }
    if (want_close_) {
        close();
        return;
    }
    if (!in_message_ && !resume_timer_.armed()) arm_timer(TimerRole::idle);
    if (!recv_ref_ && !stop_parsing_) {
        recv_ref_ = server_.reactor().recv_multishot(this, kRecv, fd_);
        if (!recv_ref_) close();
    }
}

}  // namespace rp::http
