// language.cpp — see language.h.
#include "modules/discovery/language.h"

#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace rp::modules::discovery {

std::string_view language_name(Language l) {
    switch (l) {
        case Language::none:
            return "";
        case Language::unknown:
            return "unknown";
        case Language::jvm:
            return "jvm";
        case Language::nodejs:
            return "nodejs";
        case Language::python:
            return "python";
        case Language::ruby:
            return "ruby";
        case Language::dotnet:
            return "dotnet";
        case Language::go:
            return "go";
        case Language::cpp:
            return "cpp";
        case Language::php:
            return "php";
    }
    return "unknown";
}

Language language_from_tracer(std::string_view t) {
    if (t == "jvm") return Language::jvm;
    if (t == "nodejs") return Language::nodejs;
    if (t == "python") return Language::python;
    if (t == "ruby") return Language::ruby;
    if (t == "dotnet") return Language::dotnet;
    if (t == "go") return Language::go;
    if (t == "cpp") return Language::cpp;
    if (t == "php") return Language::php;
    return Language::none;  // unknown to the Agent: detect it as if there were no metadata
}

namespace {

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ^ruby\d+\.\d+$
bool is_ruby_versioned(std::string_view c) {
    if (!c.starts_with("ruby")) return false;
    std::string_view v = c.substr(4);
    size_t dot = v.find('.');
    return dot != std::string_view::npos && all_digits(v.substr(0, dot)) &&
           all_digits(v.substr(dot + 1));
}

// ^php(-fpm)?\d(\.\d)?$
bool is_php_versioned(std::string_view c) {
    if (!c.starts_with("php")) return false;
    std::string_view v = c.substr(3);
    if (v.starts_with("-fpm")) v.remove_prefix(4);
    if (v.empty() || !std::isdigit(static_cast<unsigned char>(v[0]))) return false;
    v.remove_prefix(1);
    if (v.empty()) return true;
    return v.size() == 2 && v[0] == '.' && std::isdigit(static_cast<unsigned char>(v[1]));
}

std::string_view basename(std::string_view p) {
    size_t slash = p.rfind('/');
    return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

bool ieq(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim_space(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

}  // namespace

Language language_from_command(std::string_view c) {
    if (c == "py" || c == "python") return Language::python;
    if (c == "java") return Language::jvm;
    if (c == "npm" || c == "node") return Language::nodejs;
    if (c == "dotnet") return Language::dotnet;
    if (c == "ruby" || c == "rubyw") return Language::ruby;
    if (c == "php" || c == "php-fpm") return Language::php;
    if (c.starts_with("python")) return Language::python;
    if (c.starts_with("java") && c != "javac") return Language::jvm;
    if (is_ruby_versioned(c)) return Language::ruby;
    if (is_php_versioned(c)) return Language::php;
    return Language::none;
}

std::string_view command_name(std::string_view exe) {
    while (!exe.empty() && exe.front() == '"') exe.remove_prefix(1);
    while (!exe.empty() && exe.back() == '"') exe.remove_suffix(1);
    while (!exe.empty() && exe.back() == '/') exe.remove_suffix(1);
    exe = basename(exe);
    if (exe == "..") return {};
    auto alnum = [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) ||
               static_cast<unsigned char>(ch) >= 0x80;  // non-ASCII letters count, as in Rust
    };
    while (!exe.empty() && !alnum(exe.front())) exe.remove_prefix(1);
    while (!exe.empty() && !alnum(exe.back())) exe.remove_suffix(1);
    return exe;
}

Language language_from_cmdline(const Cmdline& cmdline, std::string_view exe_path) {
    if (cmdline.size() > 0) {
        // jruby: java running org.jruby.Main.
        if (ieq(basename(cmdline[0]), "java")) {
            for (std::string_view a : cmdline.args())
                if (trim_space(a) == "org.jruby.Main") return Language::ruby;
        }
        std::string_view c = command_name(cmdline[0]);
        if (!c.empty()) {
            Language l = language_from_command(c);
            if (l != Language::none) return l;
        }
    }
    std::string_view e = basename(exe_path);
    if (!e.empty()) return language_from_command(e);
    return Language::none;
}

// ---------------------------------------------------------------- Go build info

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

constexpr size_t kElfReadLimit = 64 * 1024;
constexpr size_t kMaxSections = 1024;

}  // namespace

bool is_go_elf(int fd, std::vector<char>& scratch) {
    Elf64_Ehdr eh;
    if (!pread_all(fd, &eh, sizeof eh, 0)) return false;
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return false;  // 32-bit and big-endian binaries are not checked (docs)
    if (scratch.size() < kElfReadLimit) scratch.resize(kElfReadLimit);

    // 1. A section named .go.buildinfo.
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
                        names[off + kName.size()] == '\0')
                        return true;
                }
            }
        }
    }

    // 2. The build-info magic near the start of the data segment (no section headers).
    if (eh.e_phoff == 0 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        eh.e_phnum > 256)
        return false;
    Elf64_Phdr ph[256];
    if (!pread_all(fd, ph, size_t{eh.e_phnum} * sizeof(Elf64_Phdr), eh.e_phoff)) return false;
    for (size_t i = 0; i < eh.e_phnum; ++i) {
        if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & (PF_X | PF_W)) != PF_W) continue;
        size_t n = std::min<size_t>(ph[i].p_filesz, kElfReadLimit);
        if (!pread_all(fd, scratch.data(), n, ph[i].p_offset)) return false;
        constexpr std::string_view kMagic("\xff Go buildinf:", 14);
        constexpr size_t kInfoSize = 32, kAlign = 16;
        for (size_t at = 0; at + kInfoSize <= n; at += kAlign)
            if (std::memcmp(scratch.data() + at, kMagic.data(), kMagic.size()) == 0) return true;
        return false;  // only the first data segment, as upstream
    }
    return false;
}

// ---------------------------------------------------------------- BinaryCache

BinaryCache::BinaryCache(size_t capacity) : nodes_(std::max<size_t>(capacity, 1)) {
    size_t b = 1;
    while (b < nodes_.size() * 2) b <<= 1;
    buckets_.assign(b, -1);
}

size_t BinaryCache::bucket(uint64_t dev, uint64_t ino) const {
    uint64_t h = (ino * 0x9e3779b97f4a7c15ull) ^ (dev * 0xc2b2ae3d27d4eb4full);
    return static_cast<size_t>(h >> 17) & (buckets_.size() - 1);
}

void BinaryCache::unlink(int32_t i) {
    Node& n = nodes_[i];
    if (n.prev >= 0)
        nodes_[n.prev].next = n.next;
    else
        head_ = n.next;
    if (n.next >= 0)
        nodes_[n.next].prev = n.prev;
    else
        tail_ = n.prev;
    n.prev = n.next = -1;
}

void BinaryCache::push_front(int32_t i) {
    Node& n = nodes_[i];
    n.prev = -1;
    n.next = head_;
    if (head_ >= 0) nodes_[head_].prev = i;
    head_ = i;
    if (tail_ < 0) tail_ = i;
}

void BinaryCache::unhash(int32_t i) {
    int32_t* link = &buckets_[bucket(nodes_[i].dev, nodes_[i].ino)];
    while (*link >= 0 && *link != i) link = &nodes_[*link].chain;
    if (*link == i) *link = nodes_[i].chain;
    nodes_[i].chain = -1;
}

const bool* BinaryCache::find(uint64_t dev, uint64_t ino) {
    for (int32_t i = buckets_[bucket(dev, ino)]; i >= 0; i = nodes_[i].chain) {
        if (nodes_[i].dev == dev && nodes_[i].ino == ino) {
            ++hits_;
            unlink(i);
            push_front(i);
            return &nodes_[i].is_go;
        }
    }
    ++misses_;
    return nullptr;
}

void BinaryCache::insert(uint64_t dev, uint64_t ino, bool is_go) {
    for (int32_t i = buckets_[bucket(dev, ino)]; i >= 0; i = nodes_[i].chain) {
        if (nodes_[i].dev == dev && nodes_[i].ino == ino) {
            nodes_[i].is_go = is_go;
            return;
        }
    }
    int32_t slot;
    if (size_ < nodes_.size()) {
        slot = static_cast<int32_t>(size_++);
    } else {
        slot = tail_;
        unlink(slot);
        unhash(slot);
        ++evictions_;
    }
    Node& n = nodes_[slot];
    n.dev = dev;
    n.ino = ino;
    n.is_go = is_go;
    n.used = true;
    size_t b = bucket(dev, ino);
    n.chain = buckets_[b];
    buckets_[b] = slot;
    push_front(slot);
}

}  // namespace rp::modules::discovery
