// response.cpp — see response.h. The connection-side halves of Deferred and StreamBody live in
// connection.cpp, next to the state they touch.
#include "http/response.h"

#include <algorithm>
#include <cstring>

#include "http/connection.h"

namespace rp::http {

Response::~Response() {
    if (pool_ != nullptr && writer_ != nullptr) pool_->release(writer_);
}

JsonWriter& Response::json() {
    clear_body();
    if (writer_ == nullptr) writer_ = pool_->acquire();
    writer_->reset(*out_, pretty_);
    json_ = true;
    content_type_ = kJsonType;
    return *writer_;
}

void Response::text(std::string_view body, std::string_view content_type) {
    clear_body();
    out_->append(body);
    json_ = false;
    content_type_ = content_type;
}

Buffer& Response::raw_body(std::string_view content_type) {
    clear_body();
    json_ = false;
    content_type_ = content_type;
    return *out_;
}

void Response::error(int status, std::string_view message) {
    set_status(status);
    JsonWriter& w = json();
    w.start_object();
    w.kv("error", message);
    w.end_object();
}

void Response::add_header(std::string_view line) {
    if (header_count_ == std::size(headers_) || header_bytes_ + line.size() > sizeof header_store_)
        return;
    char* at = header_store_ + header_bytes_;
    std::memcpy(at, line.data(), line.size());
    header_bytes_ += line.size();
    headers_[header_count_++] = std::string_view(at, line.size());
}

Deferred Response::defer() {
    mode_ = Mode::deferred;
    clear_body();
    if (conn_ == nullptr) return {};
    return conn_->begin_deferred(*this);
}

void Response::stream(std::string_view content_type, StreamBody& body) {
    clear_body();
    json_ = false;
    content_type_ = content_type;
    mode_ = Mode::streamed;
    if (conn_ != nullptr) {
        conn_->begin_stream(*this, body);
        return;
    }
    // Not a connection's response: the whole body at once, or what there is of it.
    for (;;) {
        size_t before = out_->size();
        if (body.produce(*out_, SIZE_MAX)) return;
        if (out_->size() == before) break;
    }
    body.abandoned();  // nothing will ask for the rest
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 301:
            return "Moved Permanently";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 411:
            return "Length Required";
        case 413:
            return "Request Entity Too Large";
        case 414:
            return "Request URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

}  // namespace rp::http
