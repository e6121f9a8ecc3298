// language.h — the language of a process, as system-probe's discovery decides it
// (pkg/discovery/module/rust/src/language.rs; docs/modules/discovery.md, "Language"):
//
//   1. tracer metadata, when the process has a tracer memfd (the caller does this);
//   2. jruby: argv[0]'s basename is java and an argument is org.jruby.Main;
//   3. the command name: argv[0]'s basename (quotes and non-alphanumerics trimmed), then the
//      executable's basename: py/python*, java* (not javac), npm/node, dotnet, ruby/rubyw/rubyX.Y,
//      php/php-fpm/phpN[.N]/php-fpmN[.N];
//   4. the binary: the injector's /memfd:dd_language_detected, Go build info in the executable
//      (cached per executable by device and inode), /System.Runtime.dll mapped (.NET).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "modules/discovery/procfs.h"

namespace rp::modules::discovery {

enum class Language : uint8_t { none, unknown, jvm, nodejs, python, ruby, dotnet, go, cpp, php };

// The JSON value ("jvm", "nodejs", ..., "unknown"); "" for none (a heartbeat's zero value).
std::string_view language_name(Language l);
// A tracer's tracer_language ("jvm", "nodejs", "python", "ruby", "dotnet", "go", "cpp", "php").
Language language_from_tracer(std::string_view tracer_language);
// Step 3 for one command name.
Language language_from_command(std::string_view comm);
// Steps 2 and 3: from the command line and the executable path.
Language language_from_cmdline(const Cmdline& cmdline, std::string_view exe_path);

// argv[0] trimmed as upstream's get_exe: quotes, directory, leading/trailing non-alphanumerics.
std::string_view command_name(std::string_view argv0);

// Whether the ELF file open at `fd` is a Go binary: a .go.buildinfo section, or the build-info
// magic "\xff Go buildinf:" 16-byte aligned in the first 64 KiB of the writable data segment.
// `scratch` is a reusable buffer.
bool is_go_elf(int fd, std::vector<char>& scratch);

// Go-or-not per executable (device, inode), least recently used out; no allocation after
// construction.
class BinaryCache {
  public:
    explicit BinaryCache(size_t capacity);
    // nullptr when unknown; else whether it is a Go binary (valid until the next insert).
    const bool* find(uint64_t dev, uint64_t ino);
    void insert(uint64_t dev, uint64_t ino, bool is_go);
    size_t size() const { return size_; }
    size_t capacity() const { return nodes_.size(); }
    uint64_t hits() const { return hits_; }
    uint64_t misses() const { return misses_; }
    uint64_t evictions() const { return evictions_; }

  private:
    struct Node {
        uint64_t dev = 0, ino = 0;
        int32_t prev = -1, next = -1;  // LRU list, most recent at head_
        int32_t chain = -1;            // next node in the same hash bucket
        bool is_go = false;
        bool used = false;
    };
    size_t bucket(uint64_t dev, uint64_t ino) const;
    void unlink(int32_t i);
    void push_front(int32_t i);
    void unhash(int32_t i);

    std::vector<Node> nodes_;
    std::vector<int32_t> buckets_;
    int32_t head_ = -1, tail_ = -1;
    size_t size_ = 0;
    uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace rp::modules::discovery
