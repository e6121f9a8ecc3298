// symbolizer.h — Symbolizer: best-effort names for user-space return addresses of a live process.
//
// For each address: the mapping that holds it in /proc/<pid>/maps gives the file and the file
// offset; the file (opened through /proc/<pid>/map_files/, so paths inside containers resolve) is
// read with libelf, its PT_LOAD headers turn the offset into a link-time address, and .symtab (or
// .dynsym when stripped) gives the function. Results:
//   "getpid+0x1b (/usr/lib/x86_64-linux-gnu/libc.so.6)"   function found
//   "/usr/bin/app+0x1234"                                  file found, no symbol covers it
//   "[heap]+0x10" / "0x7f12..."                            anonymous mapping / no mapping (or the
//                                                          process is gone)
// No DWARF, no inlined frames, no demangling. Parsed files are cached by (device, inode), at most
// kMaxFiles of them (the cache is emptied when full); /proc/<pid>/maps is read once per call.
//
// Needs: libelf; root (or CAP_SYS_ADMIN) for /proc/<pid>/map_files.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace rp::modules {

class Symbolizer {
  public:
    static constexpr size_t kMaxFiles = 64;

    Symbolizer();
    ~Symbolizer();
    Symbolizer(const Symbolizer&) = delete;
    Symbolizer& operator=(const Symbolizer&) = delete;

    // One string per address, in order. The first address is an exact instruction pointer; the
    // others are return addresses (looked up one byte earlier, inside the call).
    std::vector<std::string> symbolize(pid_t pid, std::span<const uint64_t> addresses);

    size_t cached_files() const { return files_.size(); }

    struct ElfFile;  // parsed symbols and load segments of one file (symbolizer.cpp)

  private:
    struct FileKey {
        uint64_t dev = 0;
        uint64_t inode = 0;
        bool operator==(const FileKey&) const = default;
    };
    struct FileKeyHash {
        size_t operator()(const FileKey& k) const { return k.dev * 1000003u ^ k.inode; }
    };
    const ElfFile* file(pid_t pid, const FileKey& key, uint64_t start, uint64_t end);

    std::unordered_map<FileKey, std::unique_ptr<ElfFile>, FileKeyHash> files_;
};

}  // namespace rp::modules
