// response.h — what a handler answers with. The handler contract (docs/HTTP.md, "Handlers"):
//
//   whole     the handler writes the body (json(), protobuf(), raw_body(), text(), error()) and
//             returns; the body is written straight into the connection's output buffer, after
//             room kept for the status line and headers, which the server fills in once the body
//             is done (no scratch buffer, no copy of the body).
//   streamed  stream(type, body): the server sends the headers with chunked transfer coding, then
//             pulls the body piece by piece from a StreamBody as the client reads it (about
//             kStreamPieceBytes per piece, one loop turn each), so a multi-megabyte body is never
//             held whole and never stalls other connections for longer than one piece takes.
//   deferred  defer(): the handler keeps the returned Deferred and returns at once; a loop callback
//             (timer, socket, ring buffer) answers later with Deferred::complete(). If the client
//             goes away first the handle says so (alive() is false) and complete() does nothing.
//
// A route's concurrency limit (Router::handle's RouteOptions) counts a request from its handler's
// call until its answer is complete: a deferred or streamed answer holds its slot until then.
// After defer() or stream() the handler does not touch the Response again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "http/buffer.h"
#include "http/json_writer.h"
#include "http/request.h"

namespace rp::http {

class Connection;
class Response;

// A non-owning reference to a callable, valid for one call (no allocation, unlike std::function).
template <typename Sig>
class FnRef;
template <typename R, typename... A>
class FnRef<R(A...)> {
  public:
    template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FnRef>>>
    FnRef(F&& f)  // NOLINT: implicit on purpose, like std::function
        : obj_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* o, A... a) -> R {
              return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...);
          }) {}
    R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

  private:
    void* obj_;
    R (*call_)(void*, A...);
};

// The body of a streamed response, produced on demand. The module that owns it keeps it alive
// until produce() returned true or abandoned() was called; destroying it earlier closes the
// connection that streams it (a chunked body that cannot end properly must not look complete).
class StreamBody {
  public:
    StreamBody() = default;
    virtual ~StreamBody();
    StreamBody(const StreamBody&) = delete;
    StreamBody& operator=(const StreamBody&) = delete;

    // Appends the next part of the body to `out` — about `budget` bytes; more is allowed but holds
    // the loop longer — and returns true once the body is complete. `out` is the same Buffer
    // object at every call (a writer bound to it once stays valid); append only, never clear it.
    // Appending nothing and returning false means "nothing more yet": the connection waits for
    // wake().
    virtual bool produce(Buffer& out, size_t budget) = 0;
    // The client went away, or the server stopped, before the body was complete.
    virtual void abandoned() {}

    // Tells the connection that produce() has something again (after it appended nothing).
    void wake();
    // Whether a connection is streaming this body now.
    bool streaming() const { return conn_ != nullptr; }

  private:
    friend class Connection;
    Connection* conn_ = nullptr;
};

// Shared between a connection and the Deferred handles it gave out; outlives the connection.
struct ResponseAnchor {
    Connection* conn = nullptr;
};

// A request that a handler answers later. Move-only; dropping a live handle without completing it
// answers 500 (a handler bug, logged) so that the client is never left waiting.
class Deferred {
  public:
    Deferred() = default;
    Deferred(Deferred&& o) noexcept
        : anchor_(std::move(o.anchor_)), generation_(std::exchange(o.generation_, 0)) {}
    Deferred& operator=(Deferred&& o) noexcept;
    ~Deferred() { reset(); }
    Deferred(const Deferred&) = delete;
    Deferred& operator=(const Deferred&) = delete;

    // The client still waits for this answer.
    bool alive() const;
    explicit operator bool() const { return alive(); }
    // Answers: fn fills the Response as a handler would (json(), error(), stream(), ...). Returns
    // false, without calling fn, when the client is gone; the handle is spent either way.
    bool complete(FnRef<void(Response&)> fn);
    // Drops the handle (a live one is answered 500).
    void reset();

  private:
    friend class Connection;
    Deferred(std::shared_ptr<ResponseAnchor> a, uint64_t gen)
        : anchor_(std::move(a)), generation_(gen) {}
    std::shared_ptr<ResponseAnchor> anchor_;
    uint64_t generation_ = 0;
};

class Response {
  public:
    // A response whose body is all of `out` (tests, tools): starting a body clears it. Here
    // stream() produces the whole body at once and defer() returns a handle that is never alive.
    Response(Buffer& out, JsonWriter& writer, bool pretty)
        : out_(&out), body_start_(0), writer_(&writer), pretty_(pretty) {}
    ~Response();
    Response(const Response&) = delete;
    Response& operator=(const Response&) = delete;

    void set_status(int code) { status_ = code; }
    int status() const { return status_; }

    // Starts a JSON body (Content-Type: application/json). The server appends the final '\n'.
    JsonWriter& json();
    // A non-JSON body (e.g. /network_id, /metrics). `content_type` must outlive the response (a
    // literal).
    void text(std::string_view body, std::string_view content_type = "text/plain; charset=utf-8");
    // Starts a body of another type: append to the returned buffer — never clear or shrink it,
    // it may hold earlier responses in front of this body.
    Buffer& raw_body(std::string_view content_type);
    // A protobuf body (Content-Type: application/protobuf); see http/protobuf.h for the writer.
    Buffer& protobuf() { return raw_body(kProtobufType); }
    // status + {"error": message}\n
    void error(int status, std::string_view message);
    // One extra header (e.g. Allow). `line` is "Name: value", without CRLF; copied. At most 4 per
    // response and 256 bytes in all; more is dropped.
    void add_header(std::string_view line);

    // Answers later (see the file comment).
    Deferred defer();
    // Streams the body (see the file comment): the status and extra headers set so far are sent
    // now, with `content_type`; a body written before is discarded.
    void stream(std::string_view content_type, StreamBody& body);

    enum class Mode : uint8_t { whole, deferred, streamed };
    // For the server and tests.
    Mode mode() const { return mode_; }
    bool is_json() const { return json_; }
    std::string_view content_type() const { return content_type_; }
    std::string_view body() const {
        return std::string_view(out_->data() + body_start_, out_->size() - body_start_);
    }
    bool pretty() const { return pretty_; }
    size_t header_count() const { return header_count_; }
    std::string_view header(size_t i) const { return headers_[i]; }

  private:
    friend class Connection;
    // A response written into a connection's output buffer, its body starting at body_start.
    Response(Connection& conn, Buffer& out, size_t body_start, JsonWriterPool& pool, bool pretty)
        : out_(&out), body_start_(body_start), pool_(&pool), pretty_(pretty), conn_(&conn) {}
    void clear_body() { out_->resize(body_start_); }

    Buffer* out_;
    size_t body_start_;
    JsonWriter* writer_ = nullptr;
    JsonWriterPool* pool_ = nullptr;  // lends writer_ when the response is a connection's
    bool pretty_;
    Connection* conn_ = nullptr;
    int status_ = 200;
    bool json_ = false;
    Mode mode_ = Mode::whole;
    std::string_view content_type_;
    std::string_view headers_[4];
    size_t header_count_ = 0;
    size_t header_bytes_ = 0;
    char header_store_[256];
};

// Standard reason phrase ("Not Found"); "Unknown" for codes we never send.
std::string_view reason_phrase(int status);

}  // namespace rp::http
