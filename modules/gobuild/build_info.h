// build_info.h — Go build info in an ELF executable, shared by discovery (is it Go?) and
// language_detection (is it Go, and which toolchain built it?).
//
// A Go linker writes a 32-byte header, "\xff Go buildinf:" (14 bytes), the pointer size and a flags
// byte, 16-byte aligned at the start of the .go.buildinfo section (Go >= 1.13), or near the start
// of the first writable, non-executable PT_LOAD segment. Since Go 1.18 (flags & 2) the toolchain
// version follows the header inline, uvarint-length-prefixed; before, the header holds the virtual
// address of a Go string header {data pointer, length} (upstream's reader: DataDog/datadog-agent
// pkg/network/go/binversion/buildinfo.go, from Go's debug/buildinfo).
//
// Only 64-bit little-endian ELF files are read (x86-64, arm64); others are "not Go". Reads are
// bounded: the ELF header, at most 256 program headers, at most 512 section headers and their name
// table within 64 KiB, 64 KiB of data, and a version string of at most kMaxVersionBytes.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace rp::modules::gobuild {

inline constexpr size_t kMaxVersionBytes = 4096;

struct BuildInfo {
    // Discovery's rule: a section named .go.buildinfo, or the magic 16-byte aligned in the first
    // 64 KiB of the first writable data segment.
    bool is_go = false;
    // The toolchain version (runtime.buildVersion, "go1.19.8"), decoded only when asked for;
    // empty when it could not be decoded (upstream's detector then says "not a Go executable").
    // Points into `scratch`: valid until its next use.
    std::string_view version;
};

// Reads the ELF file open at `fd` (pread only: the offset is not moved). `scratch` is a reusable
// buffer (grown to 64 KiB once). With want_version false, only is_go is decided, with the fewest
// reads (discovery).
BuildInfo read_build_info(int fd, std::vector<char>& scratch, bool want_version);

}  // namespace rp::modules::gobuild
