// response.h — what a handler fills in. The server owns the storage: the body goes into a scratch
// buffer reused for every request, and the server then writes status line, headers and body into
// the connection's output buffer.
#pragma once

#include <string_view>

#include "http/buffer.h"
#include "http/json_writer.h"

namespace rp::http {

class Response {
public:
    Response(Buffer& body, JsonWriter& writer, bool pretty)
        : body_(body), writer_(writer), pretty_(pretty) {}

    void set_status(int code) { status_ = code; }
    int status() const { return status_; }

    // Starts a JSON body (Content-Type: application/json). The server appends the final '\n'.
    JsonWriter& json() {
        body_.clear();
        writer_.reset(body_, pretty_);
        json_ = true;
        content_type_ = "application/json";
        return writer_;
    }
    // A non-JSON body (e.g. /network_id, /metrics).
    void text(std::string_view body, std::string_view content_type = "text/plain; charset=utf-8") {
        body_.clear();
        body_.append(body);
        json_ = false;
        content_type_ = content_type;
    }
    Buffer& raw_body(std::string_view content_type) {
        body_.clear();
        json_ = false;
        content_type_ = content_type;
        return body_;
    }
    // status + {"error": message}\n
    void error(int status, std::string_view message);
    // One extra header (e.g. Allow). `line` is "Name: value", without CRLF; at most 4 per response.
    void add_header(std::string_view line);

    // For the server.
    bool is_json() const { return json_; }
    std::string_view content_type() const { return content_type_; }
    const Buffer& body() const { return body_; }
    bool pretty() const { return pretty_; }
    size_t header_count() const { return header_count_; }
    std::string_view header(size_t i) const { return headers_[i]; }
    void reset(bool pretty) {
        status_ = 200;
        json_ = false;
        content_type_ = {};
        header_count_ = 0;
        pretty_ = pretty;
        body_.clear();
    }

private:
    Buffer& body_;
    JsonWriter& writer_;
    bool pretty_;
    int status_ = 200;
    bool json_ = false;
    std::string_view content_type_;
    std::string_view headers_[4];
    size_t header_count_ = 0;
};

// Standard reason phrase ("Not Found"); "Unknown" for codes we never send.
std::string_view reason_phrase(int status);

}  // namespace rp::http
