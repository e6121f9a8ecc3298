// request_test.cpp — query parameters and pretty_print truth values.
#include "http/request.h"

#include <doctest/doctest.h>

#include <string>

#include "http/buffer.h"

using namespace rp::http;

// Suite "pure": needs neither io_uring nor a daemon, so it also runs under qemu-user (the arm64
// cross build's tests, tools/test arm64; docs/EDGE.md).
TEST_SUITE_BEGIN("pure");

TEST_CASE("request: query_param finds the first occurrence, raw") {
    Request r;
    r.query = "a=1&client_id=x%20y&a=2&flag";
    CHECK(r.query_param("a").value() == "1");
    CHECK(r.query_param("client_id").value() == "x%20y");
    CHECK(r.query_param("flag").value().empty());
    CHECK_FALSE(r.query_param("missing").has_value());
    CHECK_FALSE(r.query_param("").has_value());
}

TEST_CASE("request: pretty_print accepts 1, t, true, yes, y, on in any case") {
    for (const char* v : {"1", "t", "true", "TRUE", "yes", "Y", "on", "On"}) {
        Request r;
        std::string q = std::string("pretty_print=") + v;
        r.query = q;
        CHECK_MESSAGE(r.pretty(), v);
    }
    for (const char* v : {"0", "false", "no", "off", "", "2", "tru"}) {
        Request r;
        std::string q = std::string("pretty_print=") + v;
        r.query = q;
        CHECK_FALSE_MESSAGE(r.pretty(), v);
    }
    Request none;
    CHECK_FALSE(none.pretty());
}

TEST_CASE("buffer: keeps capacity across clear and consumes prefixes") {
    Buffer b;
    b.append("hello world");
    size_t cap = b.capacity();
    b.consume(6);
    CHECK(b.view() == "world");
    b.clear();
    CHECK(b.capacity() == cap);
    b.shrink_to(1);
    CHECK(b.capacity() == 0);
}

TEST_SUITE_END();
