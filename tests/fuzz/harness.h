// harness.h — the fuzz targets as plain functions: one input in, abort() on any broken invariant.
//
// The libFuzzer entry point (fuzz_main.cpp, clang fuzz build) and the corpus replay test
// (regression_test.cpp, every build) call the same functions, so each checked-in seed and each
// crash input found so far runs in CI on every test run, with or without libFuzzer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rp::fuzz {

// The whole HTTP connection path: a real reactor, server, router, global routes and the process
// module, one socketpair connection per input. Input layout (all of it is meaningful to the
// fuzzer; seeds start with '@', which means "write everything at once"):
//   byte 0         n: bits 0-3 = how many schedule bytes follow (0..15);
//                     bit 4 = close the client without half-closing and reading the answers
//   n & 15 bytes   chunk sizes, used in turn (0 = all the rest), the loop runs between chunks
//   the rest       bytes written to the connection
// Checks: every response is well-formed (status line, headers, Content-Length, JSON bodies
// parse), nothing follows a "Connection: close" response, and the connection is gone (active
// connections back to 0) once the client has closed.
void http_one(const uint8_t* data, size_t size);

// conf::Config::parse. Input: a first line of space-separated NAME=VALUE environment entries,
// then TOML text. Checks: a loaded config dumps to TOML that loads again to the same values.
void config_one(const uint8_t* data, size_t size);

// POST /process/stats with the input as body, through the router. Checks: 200 or 400, a body
// that parses as JSON, and no pid twice in statsByPID.
void json_one(const uint8_t* data, size_t size);

// The compliance module's file parsers (GUC lexer, YAML whitelists, logback.xml): byte 0 picks
// the parser, the rest is the file (dbconfig_target.cpp). Checks: every JSON written parses.
void dbconfig_one(const uint8_t* data, size_t size);

// The Go build-info reader (modules/gobuild/) on the input as an executable's bytes
// (buildinfo_target.cpp). Checks: a bounded version only with is_go, the quick check agreeing.
void buildinfo_one(const uint8_t* data, size_t size);

// Prints "fuzz: <target>: <message>" to stderr and aborts (libFuzzer reports it as a crash).
[[noreturn]] void fail(const char* target, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

}  // namespace rp::fuzz
