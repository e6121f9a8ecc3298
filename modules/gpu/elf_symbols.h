// elf_symbols.h — where named functions start in an ELF file, as the file offsets uprobes take.
//
// One pass over the file's .symtab and .dynsym (libelf, the file mapped read-only): each defined
// function symbol (STT_FUNC or STT_GNU_IFUNC, a section index, an address) whose name — up to a
// symbol version ("cudaMalloc@@libcudart.so.12") — is one of `names` gives a link-time address,
// which the PT_LOAD program header holding it turns into a file offset
// (address - p_vaddr + p_offset). Shared libraries and executables (static or PIE) alike.
//
// Needs: libelf.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rp::modules::gpu {

// For each of `names`, its file offset, or nullopt when the file defines no such function. The
// error names the file and what failed ("open /x: No such file or directory", "/x: not an ELF
// file").
std::expected<std::vector<std::optional<uint64_t>>, std::string> function_offsets(
    const std::string& path, std::span<const std::string_view> names);

}  // namespace rp::modules::gpu
