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
#include "modules/gobuild/binary_cache.h"

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
// magic "\xff Go buildinf:" 16-byte aligned in the first 64 KiB of the writable data segment
// (modules/gobuild/build_info.h, shared with language_detection). `scratch` is a reusable buffer.
bool is_go_elf(int fd, std::vector<char>& scratch);

// Go-or-not per executable (device, inode), least recently used out; no allocation after
// construction.
using BinaryCache = gobuild::BinaryCache<bool>;

}  // namespace rp::modules::discovery
