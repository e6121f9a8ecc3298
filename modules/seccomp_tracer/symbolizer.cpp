// symbolizer.cpp — Symbolizer (symbolizer.h): /proc/<pid>/maps + ELF symbol tables via libelf.
#include "modules/seccomp_tracer/symbolizer.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string_view>

namespace rp::modules {

struct Symbolizer::ElfFile {
    struct Segment {
        uint64_t offset, vaddr, filesz;
    };
    struct Symbol {
        uint64_t addr, size;
        uint32_t name;  // offset into names
    };
    std::vector<Segment> segments;  // PT_LOAD
    std::vector<Symbol> symbols;    // functions, sorted by addr
    std::string names;              // NUL-separated

    // Link-time address of a file offset, or false when no PT_LOAD maps it.
    bool vaddr_of(uint64_t file_offset, uint64_t& vaddr) const {
        for (const auto& s : segments) {
            if (file_offset >= s.offset && file_offset < s.offset + s.filesz) {
                vaddr = file_offset - s.offset + s.vaddr;
                return true;
            }
        }
        return false;
    }
    const Symbol* symbol_at(uint64_t vaddr) const {
        auto it = std::upper_bound(symbols.begin(), symbols.end(), vaddr,
                                   [](uint64_t a, const Symbol& s) { return a < s.addr; });
        if (it == symbols.begin()) return nullptr;
        --it;
        if (vaddr < it->addr + std::max<uint64_t>(it->size, 1)) return &*it;
        return nullptr;
    }
};

namespace {

struct Mapping {
    uint64_t start = 0, end = 0, offset = 0, dev = 0, inode = 0;
    std::string path;
};

bool parse_hex(std::string_view s, uint64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
    return ec == std::errc() && p == s.data() + s.size();
}

// Lines of /proc/<pid>/maps: "start-end perms offset major:minor inode   path".
std::vector<Mapping> read_maps(pid_t pid) {
    std::vector<Mapping> maps;
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(in, line)) {
        std::string_view v(line);
        auto next = [&v]() {
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            size_t sp = v.find(' ');
            std::string_view field = v.substr(0, sp);
            v.remove_prefix(sp == std::string_view::npos ? v.size() : sp);
            return field;
        };
        std::string_view range = next(), perms = next(), offset = next(), dev = next(),
                         inode = next();
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        Mapping m;
        size_t dash = range.find('-');
        size_t colon = dev.find(':');
        uint64_t major = 0, minor = 0;
        if (dash == std::string_view::npos || colon == std::string_view::npos || perms.empty())
            continue;
        if (!parse_hex(range.substr(0, dash), m.start) ||
            !parse_hex(range.substr(dash + 1), m.end) || !parse_hex(offset, m.offset) ||
            !parse_hex(dev.substr(0, colon), major) || !parse_hex(dev.substr(colon + 1), minor))
            continue;
        std::from_chars(inode.data(), inode.data() + inode.size(), m.inode);
        m.dev = (major << 32) | minor;
        m.path = std::string(v);
        maps.push_back(std::move(m));
    }
    return maps;
}

std::unique_ptr<Symbolizer::ElfFile> parse_elf(int fd) {
    Elf* e = elf_begin(fd, ELF_C_READ, nullptr);
    if (e == nullptr) return nullptr;
    auto file = std::make_unique<Symbolizer::ElfFile>();
    size_t nph = 0;
    if (elf_getphdrnum(e, &nph) == 0) {
        for (size_t i = 0; i < nph; ++i) {
            GElf_Phdr ph;
            if (gelf_getphdr(e, static_cast<int>(i), &ph) != nullptr && ph.p_type == PT_LOAD)
                file->segments.push_back({ph.p_offset, ph.p_vaddr, ph.p_filesz});
        }
    }
    // .symtab when present (all functions); .dynsym otherwise (exported ones).
    Elf_Scn* symtab = nullptr;
    Elf_Scn* dynsym = nullptr;
    for (Elf_Scn* scn = elf_nextscn(e, nullptr); scn != nullptr; scn = elf_nextscn(e, scn)) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr) continue;
        if (sh.sh_type == SHT_SYMTAB) symtab = scn;
        if (sh.sh_type == SHT_DYNSYM) dynsym = scn;
    }
    Elf_Scn* scn = symtab != nullptr ? symtab : dynsym;
    GElf_Shdr sh;
    if (scn != nullptr && gelf_getshdr(scn, &sh) != nullptr && sh.sh_entsize != 0) {
        Elf_Data* data = elf_getdata(scn, nullptr);
        size_t n = data != nullptr ? sh.sh_size / sh.sh_entsize : 0;
        for (size_t i = 0; i < n; ++i) {
            GElf_Sym sym;
            if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
            int type = GELF_ST_TYPE(sym.st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_value == 0 ||
                sym.st_shndx == SHN_UNDEF)
                continue;
            const char* name = elf_strptr(e, sh.sh_link, sym.st_name);
            if (name == nullptr || *name == '\0') continue;
            file->symbols.push_back(
                {sym.st_value, sym.st_size, static_cast<uint32_t>(file->names.size())});
            file->names.append(name);
            file->names.push_back('\0');
        }
    }
    elf_end(e);
    std::sort(file->symbols.begin(), file->symbols.end(),
              [](const auto& a, const auto& b) { return a.addr < b.addr; });
    return file;
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

}  // namespace

Symbolizer::Symbolizer() { elf_version(EV_CURRENT); }
Symbolizer::~Symbolizer() = default;

const Symbolizer::ElfFile* Symbolizer::file(pid_t pid, const FileKey& key, uint64_t start,
                                            uint64_t end) {
    if (auto it = files_.find(key); it != files_.end()) return it->second.get();
    if (files_.size() >= kMaxFiles) files_.clear();
    // map_files/<start>-<end> is the mapped file itself, whatever mount namespace it lives in.
    char path[96];
    std::snprintf(path, sizeof path, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, start, end);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    std::unique_ptr<ElfFile> parsed;
    if (fd >= 0) {
        parsed = parse_elf(fd);
        ::close(fd);
    }
    // Remember failures too (as an empty file), so a broken file is not reopened every time.
    if (!parsed) parsed = std::make_unique<ElfFile>();
    return files_.emplace(key, std::move(parsed)).first->second.get();
}

std::vector<std::string> Symbolizer::symbolize(pid_t pid, std::span<const uint64_t> addresses) {
    std::vector<std::string> out;
    out.reserve(addresses.size());
    std::vector<Mapping> maps = read_maps(pid);
    for (size_t i = 0; i < addresses.size(); ++i) {
        uint64_t addr = addresses[i];
        const Mapping* m = nullptr;
        for (const auto& candidate : maps) {
            if (addr >= candidate.start && addr < candidate.end) {
                m = &candidate;
                break;
            }
        }
        if (m == nullptr) {
            out.push_back(hex(addr));
            continue;
        }
        uint64_t file_offset = addr - m->start + m->offset;
        if (m->inode == 0 || m->path.empty() || m->path.front() != '/') {
            out.push_back((m->path.empty() ? std::string("[anon]") : m->path) + "+" +
                          hex(addr - m->start));
            continue;
        }
        const ElfFile* f = file(pid, FileKey{m->dev, m->inode}, m->start, m->end);
        uint64_t vaddr = 0;
        // A return address points after the call: look up the byte before it.
        uint64_t lookup_offset = i == 0 ? file_offset : file_offset - 1;
        const ElfFile::Symbol* sym = nullptr;
        if (f != nullptr && f->vaddr_of(lookup_offset, vaddr)) sym = f->symbol_at(vaddr);
        if (sym != nullptr) {
            uint64_t exact = vaddr + (i == 0 ? 0 : 1);
            out.push_back(std::string(f->names.data() + sym->name) + "+" + hex(exact - sym->addr) +
                          " (" + m->path + ")");
        } else {
            out.push_back(m->path + "+" + hex(file_offset));
        }
    }
    return out;
}

}  // namespace rp::modules
