// build_info.cpp — see build_info.h.
#include "modules/gobuild/build_info.h"

#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace rp::modules::gobuild {
namespace {

bool pread_all(int fd, void* buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r =
            ::pread(fd, static_cast<char*>(buf) + got, n - got, static_cast<off_t>(off + got));
        if (r <= 0) return false;
        got += static_cast<size_t>(r);
    }
    return true;
}

constexpr size_t kReadLimit = 64 * 1024;  // upstream reads 64 KiB of the data start
constexpr size_t kMaxSections = 1024;
constexpr size_t kMaxPhdrs = 256;
constexpr std::string_view kMagic("\xff Go buildinf:", 14);
constexpr size_t kInfoSize = 32, kAlign = 16;

uint64_t le64(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;  // the file is little-endian, and so are the hosts this reader is built for
}

struct Phdrs {
    Elf64_Phdr ph[kMaxPhdrs];
    size_t n = 0;
    bool loaded = false;
    bool ok = false;
};

bool load_phdrs(int fd, const Elf64_Ehdr& eh, Phdrs& p) {
    if (p.loaded) return p.ok;
    p.loaded = true;
    if (eh.e_phoff == 0 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        eh.e_phnum > kMaxPhdrs)
        return false;
    p.n = eh.e_phnum;
    p.ok = pread_all(fd, p.ph, p.n * sizeof(Elf64_Phdr), eh.e_phoff);
    return p.ok;
}

// upstream's elfExe.ReadData: the first program header whose file-backed range holds `addr`;
// reads up to `size` bytes (fewer at the end of that segment) into `out`. Returns the count read,
// or -1.
ssize_t read_vaddr(int fd, const Phdrs& p, uint64_t addr, size_t size, char* out) {
    for (size_t i = 0; i < p.n; ++i) {
        const Elf64_Phdr& ph = p.ph[i];
        if (ph.p_filesz == 0 || addr < ph.p_vaddr || addr > ph.p_vaddr + ph.p_filesz - 1) continue;
        size_t n = std::min<uint64_t>(ph.p_vaddr + ph.p_filesz - addr, size);
        if (!pread_all(fd, out, n, ph.p_offset + (addr - ph.p_vaddr))) return -1;
        return static_cast<ssize_t>(n);
    }
    return -1;
}

// The offset of the first 16-byte aligned header in data[0, n), or npos.
size_t find_header(const char* data, size_t n) {
    for (size_t at = 0; at + kInfoSize <= n; at += kAlign)
        if (std::memcmp(data + at, kMagic.data(), kMagic.size()) == 0) return at;
    return std::string_view::npos;
}

// Decodes the version of the header at scratch[at, n) (readRawBuildInfo). Pre-1.18 binaries keep
// the string elsewhere: it is read into the front of scratch (the data is no longer needed).
std::string_view decode_version(int fd, const Phdrs& p, std::vector<char>& scratch, size_t at,
                                size_t n) {
    const char* h = scratch.data() + at;
    auto ptr_size = static_cast<uint8_t>(h[14]);
    auto flags = static_cast<uint8_t>(h[15]);
    if (flags & 2) {
        // Inline: uvarint length, then the bytes (Go >= 1.18).
        const char* s = h + kInfoSize;
        size_t left = n - at - kInfoSize;
        uint64_t len = 0;
        size_t used = 0;
        for (int shift = 0; used < left && shift < 64; shift += 7) {
            auto b = static_cast<uint8_t>(s[used++]);
            len |= static_cast<uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) {
                if (len > kMaxVersionBytes || len > left - used) return {};
                return std::string_view(s + used, len);
            }
        }
        return {};
    }
    // Pointers (Go < 1.18): runtime.buildVersion's string header at the address at h[16].
    if (ptr_size != 8 || flags != 0 || !p.ok) return {};  // 32-bit or big-endian: not read
    uint64_t str_hdr = le64(h + 16);
    char sh[16];
    if (read_vaddr(fd, p, str_hdr, sizeof sh, sh) != static_cast<ssize_t>(sizeof sh)) return {};
    uint64_t data = le64(sh), len = le64(sh + 8);
    if (len == 0 || len > kMaxVersionBytes) return {};
    if (read_vaddr(fd, p, data, len, scratch.data()) != static_cast<ssize_t>(len)) return {};
    return std::string_view(scratch.data(), len);
}

}  // namespace

BuildInfo read_build_info(int fd, std::vector<char>& scratch, bool want_version) {
    BuildInfo out;
    Elf64_Ehdr eh;
    if (!pread_all(fd, &eh, sizeof eh, 0)) return out;
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return out;
    if (scratch.size() < kReadLimit) scratch.resize(kReadLimit);
    Phdrs phdrs;

    // 1. A section named .go.buildinfo: upstream's DataStart is its address.
    if (eh.e_shoff != 0 && eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shnum > 0 &&
        eh.e_shnum <= kMaxSections && eh.e_shstrndx < eh.e_shnum) {
        size_t bytes = size_t{eh.e_shnum} * sizeof(Elf64_Shdr);
        if (bytes <= scratch.size() / 2 && pread_all(fd, scratch.data(), bytes, eh.e_shoff)) {
            const auto* sh = reinterpret_cast<const Elf64_Shdr*>(scratch.data());
            const Elf64_Shdr& strtab = sh[eh.e_shstrndx];
            size_t strsz = std::min<size_t>(strtab.sh_size, scratch.size() - bytes);
            char* names = scratch.data() + bytes;
            if (strtab.sh_type == SHT_STRTAB && strsz > 0 &&
                pread_all(fd, names, strsz, strtab.sh_offset)) {
                constexpr std::string_view kName = ".go.buildinfo";
                for (size_t i = 0; i < eh.e_shnum; ++i) {
                    size_t off = sh[i].sh_name;
                    if (off + kName.size() < strsz &&
                        std::memcmp(names + off, kName.data(), kName.size()) == 0 &&
                        names[off + kName.size()] == '\0') {
                        out.is_go = true;
                        if (!want_version) return out;
                        uint64_t addr = sh[i].sh_addr;
                        if (!load_phdrs(fd, eh, phdrs)) return out;
                        ssize_t n = read_vaddr(fd, phdrs, addr, kReadLimit, scratch.data());
                        if (n <= 0) return out;
                        size_t at = find_header(scratch.data(), static_cast<size_t>(n));
                        if (at != std::string_view::npos)
                            out.version =
                                decode_version(fd, phdrs, scratch, at, static_cast<size_t>(n));
                        return out;
                    }
                }
            }
        }
    }

    // 2. The build-info header near the start of the first writable data segment (no section
    // headers, or no such section).
    if (!load_phdrs(fd, eh, phdrs)) return out;
    for (size_t i = 0; i < phdrs.n; ++i) {
        const Elf64_Phdr& ph = phdrs.ph[i];
        if (ph.p_type != PT_LOAD || (ph.p_flags & (PF_X | PF_W)) != PF_W) continue;
        size_t n = std::min<size_t>(ph.p_filesz, kReadLimit);
        if (!pread_all(fd, scratch.data(), n, ph.p_offset)) return out;
        size_t at = find_header(scratch.data(), n);
        if (at == std::string_view::npos) return out;  // only the first data segment, as upstream
        out.is_go = true;
        if (want_version) out.version = decode_version(fd, phdrs, scratch, at, n);
        return out;
    }
    return out;
}

}  // namespace rp::modules::gobuild
