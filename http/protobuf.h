// protobuf.h — protobuf bodies with protozero (Debian libprotozero-dev), written into the same
// Buffer as JSON bodies.
//
//   http::Buffer& out = res.protobuf();            // Content-Type: application/protobuf
//   http::PbfWriter w(out);                        // appends to the body, nothing held aside
//   w.add_int32(Msg::field, v);
//   { http::PbfWriter sub(w, Msg::nested); ... }   // a nested message, length filled on close
//
// Reading: protozero::pbf_reader over the request body. protozero reports malformed input by
// throwing (protozero::exception); decode() below turns that into an error text, so no exception
// ever leaves a handler.
//
// The field numbers of the upstream messages live in modules/proto/, one namespace per message.
#pragma once

#include <cstring>
#include <protozero/basic_pbf_writer.hpp>
#include <protozero/buffer_tmpl.hpp>
#include <protozero/exception.hpp>
#include <protozero/pbf_reader.hpp>
#include <string>
#include <string_view>

#include "http/buffer.h"

namespace protozero {

// rp::http::Buffer as a protozero output buffer (protozero/buffer_tmpl.hpp's customization point).
template <>
struct buffer_customization<rp::http::Buffer> {
    static std::size_t size(const rp::http::Buffer* b) noexcept { return b->size(); }
    static void append(rp::http::Buffer* b, const char* data, std::size_t count) {
        b->append(data, count);
    }
    static void append_zeros(rp::http::Buffer* b, std::size_t count) {
        size_t at = b->size();
        b->resize(at + count);
        std::memset(b->data() + at, 0, count);
    }
    static void resize(rp::http::Buffer* b, std::size_t size) { b->resize(size); }
    static void reserve_additional(rp::http::Buffer* b, std::size_t size) {
        b->reserve(b->size() + size);
    }
    static void erase_range(rp::http::Buffer* b, std::size_t from, std::size_t to) {
        std::memmove(b->data() + from, b->data() + to, b->size() - to);
        b->resize(b->size() - (to - from));
    }
    static char* at_pos(rp::http::Buffer* b, std::size_t pos) { return b->data() + pos; }
    static void push_back(rp::http::Buffer* b, char ch) { b->push_back(ch); }
};

}  // namespace protozero

namespace rp::http {

using PbfWriter = protozero::basic_pbf_writer<Buffer>;

// Runs fn(reader) over a serialized message; returns "" or the decoding error ("truncated
// message", "unknown pbf field type", ...). fn may return a non-empty error text of its own.
template <typename Fn>
std::string decode(std::string_view bytes, Fn&& fn) {
    try {
        protozero::pbf_reader reader(bytes.data(), bytes.size());
        return fn(reader);
    } catch (const protozero::exception& e) {
        return e.what();
    }
}

}  // namespace rp::http
