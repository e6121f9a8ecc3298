// elf_symbols.cpp — see elf_symbols.h.
#include "modules/gpu/elf_symbols.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rp::modules::gpu {

namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};
struct ElfHandle {
    Elf* elf = nullptr;
    ~ElfHandle() {
        if (elf != nullptr) elf_end(elf);
    }
};

}  // namespace

std::expected<std::vector<std::optional<uint64_t>>, std::string> function_offsets(
    const std::string& path, std::span<const std::string_view> names) {
    static const bool init = elf_version(EV_CURRENT) != EV_NONE;
    if (!init) return std::unexpected("libelf: " + std::string(elf_errmsg(-1)));

    Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) return std::unexpected("open " + path + ": " + std::strerror(errno));
    ElfHandle h{elf_begin(fd.fd, ELF_C_READ_MMAP, nullptr)};
    if (h.elf == nullptr || elf_kind(h.elf) != ELF_K_ELF)
        return std::unexpected(path + ": not an ELF file");

    std::vector<std::optional<uint64_t>> addr(names.size());
    size_t found = 0;
    for (Elf_Scn* scn = nullptr;
         (scn = elf_nextscn(h.elf, scn)) != nullptr && found < names.size();) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr) continue;
        if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
        if (sh.sh_entsize == 0) continue;
        Elf_Data* data = elf_getdata(scn, nullptr);
        if (data == nullptr) continue;
        size_t count = sh.sh_size / sh.sh_entsize;
        for (size_t i = 0; i < count && found < names.size(); ++i) {
            GElf_Sym sym;
            if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
            int type = GELF_ST_TYPE(sym.st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
                sym.st_value == 0)
                continue;
            const char* raw = elf_strptr(h.elf, sh.sh_link, sym.st_name);
            if (raw == nullptr || raw[0] == 0) continue;
            std::string_view name(raw);
            if (size_t at = name.find('@'); at != std::string_view::npos) name = name.substr(0, at);
            for (size_t k = 0; k < names.size(); ++k) {
                if (!addr[k] && names[k] == name) {
                    addr[k] = sym.st_value;
                    ++found;
                }
            }
        }
    }

    std::vector<std::optional<uint64_t>> out(names.size());
    if (found == 0) return out;
    size_t phnum = 0;
    if (elf_getphdrnum(h.elf, &phnum) != 0) return std::unexpected(path + ": no program headers");
    for (size_t p = 0; p < phnum; ++p) {
        GElf_Phdr ph;
        if (gelf_getphdr(h.elf, static_cast<int>(p), &ph) == nullptr || ph.p_type != PT_LOAD)
            continue;
        for (size_t k = 0; k < names.size(); ++k) {
            if (addr[k] && !out[k] && *addr[k] >= ph.p_vaddr && *addr[k] < ph.p_vaddr + ph.p_memsz)
                out[k] = *addr[k] - ph.p_vaddr + ph.p_offset;
        }
    }
    return out;
}

}  // namespace rp::modules::gpu
