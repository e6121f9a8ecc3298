// json_writer_test.cpp — JsonWriter: compact and pretty output, escaping, invalid UTF-8, reuse.
#include "http/json_writer.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <cmath>
#include <string>

#include "http/response.h"

using namespace rp::http;

// Suite "pure": needs neither io_uring nor a daemon, so it also runs under qemu-user (the arm64
// cross build's tests, tools/test arm64; docs/EDGE.md).
TEST_SUITE_BEGIN("pure");

TEST_CASE("json: compact object with every value kind") {
    Buffer b;
    JsonWriter w(b);
    w.start_object();
    w.kv("s", "x\"y\\z\n");
    w.kv_int("i", -5);
    w.kv_uint("u", 18446744073709551615ull);
    w.kv_bool("b", true);
    w.key("n");
    w.null();
    w.kv_number("f", 1.5);
    w.key("a");
    w.start_array();
    w.int64(1);
    w.int64(2);
    w.end_array();
    w.end_object();
    CHECK(w.complete());
    CHECK(
        b.view() ==
        R"({"s":"x\"y\\z\n","i":-5,"u":18446744073709551615,"b":true,"n":null,"f":1.5,"a":[1,2]})");
}

// Regression (fuzz_dbconfig, UBSan): an empty string_view has a null data pointer, which reached
// memcpy through plain_string / Buffer::append.
TEST_CASE("json: an empty string_view with a null data pointer is written as \"\"") {
    rp::http::Buffer out;
    rp::http::JsonWriter w(out);
    w.start_object();
    w.kv("a", std::string_view());
    w.key("b");
    w.string(std::string_view());
    w.end_object();
    CHECK(out.view() == R"({"a":"","b":""})");
    rp::http::Buffer raw;
    raw.append(std::string_view());
    CHECK(raw.size() == 0);
}

TEST_CASE("json: pretty output uses a 2-space indent") {
    Buffer b;
    JsonWriter w(b, true);
    w.start_object();
    w.kv_int("a", 1);
    w.key("b");
    w.start_array();
    w.int64(2);
    w.end_array();
    w.end_object();
    CHECK(b.view() == "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}");
}

TEST_CASE("json: invalid UTF-8 bytes become U+FFFD, valid multibyte text is kept") {
    Buffer b;
    JsonWriter w(b);
    w.start_array();
    w.string(std::string_view("ok\xC3\xA9", 4));    // é
    w.string(std::string_view("bad\xFF\xC3", 5));   // stray byte, truncated sequence
    w.string(std::string_view("\xED\xA0\x80", 3));  // UTF-16 surrogate encoded: invalid
    w.end_array();
    CHECK(b.view() ==
          "[\"ok\xC3\xA9\",\"bad\xEF\xBF\xBD\xEF\xBF\xBD\","
          "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"]");
}

TEST_CASE("json: NaN and infinity are written as null") {
    Buffer b;
    JsonWriter w(b);
    w.start_array();
    w.number(std::nan(""));
    w.number(INFINITY);
    w.end_array();
    CHECK(b.view() == "[null,null]");
}

TEST_CASE("json: reset() starts a new document into another buffer and mode") {
    Buffer a, b;
    JsonWriter w(a);
    w.start_object();
    w.end_object();
    w.reset(b, true);
    w.start_array();
    w.int64(7);
    w.end_array();
    CHECK(a.view() == "{}");
    CHECK(b.view() == "[\n  7\n]");
}

TEST_CASE("json: Response::error writes {\"error\": message} with the status") {
    Buffer b;
    JsonWriter w(b);
    Response res(b, w, false);
    res.error(400, "invalid module");
    CHECK(res.status() == 400);
    CHECK(res.is_json());
    CHECK(res.content_type() == "application/json");
    CHECK(b.view() == R"({"error":"invalid module"})");
}

TEST_CASE("json: reason phrases") {
    CHECK(reason_phrase(200) == "OK");
    CHECK(reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(reason_phrase(503) == "Service Unavailable");
    CHECK(reason_phrase(299) == "Unknown");
}

// The writer copies runs that need no escaping eight bytes at a time (json_plain_prefix); every
// character class at every offset and string length round-trips through an independent parser.
TEST_CASE("json: escaping is exact at every offset of the 8-byte fast path") {
    const std::string specials[] = {"\"", "\\",   "\n",       "\x01", "\x1f",
                                    " ",  "\x7f", "\xC3\xA9", "\t",   "/"};
    simdjson::ondemand::parser parser;
    int checked = 0;
    for (const std::string& sp : specials) {
        for (size_t len = 0; len < 20; ++len) {
            for (size_t pos = 0; pos <= len; ++pos) {
                std::string s(len, 'a');
                s.insert(pos, sp);
                for (bool pretty : {false, true}) {
                    Buffer b;
                    JsonWriter w(b, pretty);
                    w.start_object();
                    w.kv(s, s);  // the key and the value take the same path
                    w.kv_int("n", 1);
                    w.end_object();
                    REQUIRE(w.complete());
                    simdjson::padded_string json(b.view());
                    auto doc = parser.iterate(json);
                    simdjson::ondemand::object obj;
                    REQUIRE(doc.get_object().get(obj) == simdjson::SUCCESS);
                    size_t fields = 0;
                    for (auto field : obj) {
                        std::string_view key;
                        REQUIRE(field.unescaped_key().get(key) == simdjson::SUCCESS);
                        if (fields == 0) {
                            std::string_view back;
                            REQUIRE(field.value().get_string().get(back) == simdjson::SUCCESS);
                            REQUIRE(key == s);
                            REQUIRE(back == s);
                        } else {
                            REQUIRE(key == "n");
                        }
                        ++fields;
                    }
                    REQUIRE(fields == 2);
                    ++checked;
                }
            }
        }
    }
    CHECK(checked == 2 * 10 * 210);
}

TEST_CASE("json: json_plain_prefix and json_plain_ascii match a byte-by-byte scan") {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 20000; ++round) {
        char s[40];
        size_t n = static_cast<size_t>(round % 40);
        for (size_t i = 0; i < n; ++i) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            // Mostly plain bytes, sometimes a byte that must stop the run.
            unsigned char c = static_cast<unsigned char>(x);
            s[i] = (x >> 8) % 8 == 0 ? static_cast<char>(c) : static_cast<char>('a' + c % 26);
        }
        size_t expect = 0;
        while (expect < n) {
            unsigned char c = static_cast<unsigned char>(s[expect]);
            if (c < 0x20 || c == '"' || c == '\\') break;
            ++expect;
        }
        REQUIRE(json_plain_prefix(s, n) == expect);
        bool ascii = expect == n;
        for (size_t i = 0; i < n; ++i) ascii &= static_cast<unsigned char>(s[i]) < 0x80;
        REQUIRE(json_plain_ascii(s, n) == ascii);
    }
}

TEST_SUITE_END();
