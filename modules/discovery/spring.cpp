// spring.cpp — the application name of a Spring Boot archive (system-probe's usm/spring.go and
// the Rust service_name/spring.rs; docs/modules/discovery.md, "Spring Boot").
//
// A -jar archive is a Spring Boot one when it has an entry under BOOT-INF/. Its name is the first
// spring.application.name found in: --spring.application.name= arguments,
// -Dspring.application.name= arguments, SPRING_APPLICATION_NAME; then, for each active profile
// (spring.profiles.active) and finally the default one, <name>[-<profile>].{properties,yaml,yml}
// (name: spring.config.name, else "application") in the working directory, its config/, and inside
// the archive in BOOT-INF/classes/ and BOOT-INF/classes/config/. Values holding a ${placeholder}
// are skipped (upstream resolves them; ringprobe does not). The archive is read with bounded
// buffers: its central directory (at most kMaxCentralDirBytes) and configuration entries
// (kMaxConfigBytes, inflated with zlib into caller-owned memory: no allocation per request).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "modules/discovery/service_name.h"

namespace rp::modules::discovery {

namespace {

constexpr size_t kMaxCentralDirBytes = 4 << 20;
constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr std::string_view kSpring = "spring";

uint16_t le16(const char* p) {
    return static_cast<uint16_t>(static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[1])
                                                                        << 8);
}
uint32_t le32(const char* p) {
    return static_cast<uint32_t>(le16(p)) | static_cast<uint32_t>(le16(p + 2)) << 16;
}

bool pread_all(int fd, char* buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(off + got));
        if (r <= 0) return false;
        got += static_cast<size_t>(r);
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

// zlib's allocations served from a fixed arena (inflate needs ~7 KiB of state and a 32 KiB
// window): inflating allocates nothing from the heap.
struct ZArena {
    alignas(16) char mem[64 * 1024];
    size_t used = 0;
    static voidpf alloc(voidpf opaque, uInt items, uInt size) {
        auto* a = static_cast<ZArena*>(opaque);
        size_t n = (static_cast<size_t>(items) * size + 15) & ~size_t{15};
        if (a->used + n > sizeof a->mem) return Z_NULL;
        void* p = a->mem + a->used;
        a->used += n;
        return p;
    }
    static void free(voidpf, voidpf) {}
};

// The archive's central directory, read into `cd`.
class Zip {
  public:
    Zip(int fd, std::vector<char>& cd) : fd_(fd), cd_(cd) {}
    bool open() {
        struct stat st;
        if (::fstat(fd_, &st) != 0 || st.st_size < 22) return false;
        auto size = static_cast<uint64_t>(st.st_size);
        size_t tail = static_cast<size_t>(std::min<uint64_t>(size, 22 + 65535));
        if (cd_.size() < tail) cd_.resize(tail);
        if (!pread_all(fd_, cd_.data(), tail, size - tail)) return false;
        for (size_t i = tail - 22 + 1; i-- > 0;) {  // the end-of-central-directory record
            if (le32(cd_.data() + i) != 0x06054b50) continue;
            const char* e = cd_.data() + i;
            entries_ = le16(e + 10);
            cd_size_ = le32(e + 12);
            uint64_t cd_off = le32(e + 16);
            if (cd_size_ > kMaxCentralDirBytes || cd_off + cd_size_ > size) return false;
            if (cd_.size() < cd_size_) cd_.resize(cd_size_);
            return pread_all(fd_, cd_.data(), cd_size_, cd_off);
        }
        return false;  // not a zip (or a zip64 one, not handled)
    }
    // Calls fn(name, method, comp_size, size, local_header_offset) per entry; stops on false.
    template <typename Fn>
    void each(Fn&& fn) const {
        size_t at = 0;
        for (size_t k = 0; k < entries_ && at + 46 <= cd_size_; ++k) {
            const char* h = cd_.data() + at;
            if (le32(h) != 0x02014b50) return;
            size_t nlen = le16(h + 28), xlen = le16(h + 30), clen = le16(h + 32);
            if (at + 46 + nlen > cd_size_) return;
            std::string_view name(h + 46, nlen);
            if (!fn(name, le16(h + 10), le32(h + 20), le32(h + 24), le32(h + 42))) return;
            at += 46 + nlen + xlen + clen;
        }
    }
    // The content of an entry (stored or deflated) into out.
    bool read(uint16_t method, uint32_t comp, uint32_t size, uint32_t local, http::Buffer& out,
              std::vector<char>& tmp) const {
        out.clear();
        if (size > kMaxConfigBytes || comp > kMaxConfigBytes) return false;
        char lh[30];
        if (!pread_all(fd_, lh, sizeof lh, local) || le32(lh) != 0x04034b50) return false;
        uint64_t data = uint64_t{local} + 30 + le16(lh + 26) + le16(lh + 28);
        if (method == 0) {
            out.resize(size);
            return size == comp && pread_all(fd_, out.data(), size, data);
        }
        if (method != 8) return false;
        if (tmp.size() < comp) tmp.resize(comp);
        if (!pread_all(fd_, tmp.data(), comp, data)) return false;
        out.resize(size);
        static ZArena arena;  // the loop is single-threaded
        arena.used = 0;
        z_stream zs{};
        zs.zalloc = &ZArena::alloc;
        zs.zfree = &ZArena::free;
        zs.opaque = &arena;
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return false;
        zs.next_in = reinterpret_cast<Bytef*>(tmp.data());
        zs.avail_in = comp;
        zs.next_out = reinterpret_cast<Bytef*>(out.data());
        zs.avail_out = size;
        int rc = inflate(&zs, Z_FINISH);
        inflateEnd(&zs);
        return rc == Z_STREAM_END && zs.total_out == size;
    }

  private:
    int fd_;
    std::vector<char>& cd_;
    size_t entries_ = 0;
    size_t cd_size_ = 0;
};

// spring.application.name (or another key) in a .properties text.
bool properties_get(std::string_view text, std::string_view key, std::string_view* value) {
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::string_view s = line;
        while (!s.empty() && (s[0] == ' ' || s[0] == '\t' || s[0] == '\f')) s.remove_prefix(1);
        if (s.empty() || s[0] == '#' || s[0] == '!') continue;
        size_t k = 0;
        while (k < s.size() && s[k] != '=' && s[k] != ':' && s[k] != ' ' && s[k] != '\t') {
            if (s[k] == '\\') ++k;
            ++k;
        }
        if (s.substr(0, k) != key) continue;
        std::string_view v = s.substr(std::min(k, s.size()));
        while (!v.empty() && (v[0] == ' ' || v[0] == '\t')) v.remove_prefix(1);
        if (!v.empty() && (v[0] == '=' || v[0] == ':')) v.remove_prefix(1);
        *value = trim(v);
        return true;
    }
    return false;
}

// A dotted key in a YAML text of block mappings (nested "a:\n  b: v" or flat "a.b: v").
bool yaml_get(std::string_view text, std::string_view key, std::string_view* value) {
    struct Level {
        size_t indent;
        std::string_view key;
    } stack[32];
    size_t depth = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        size_t indent = 0;
        while (indent < line.size() && line[indent] == ' ') ++indent;
        std::string_view s = line.substr(indent);
        if (s.empty() || s[0] == '#' || s.starts_with("- ")) continue;
        if (s.starts_with("---") || s.starts_with("...")) {
            depth = 0;
            continue;
        }
        size_t colon = s.find(':');
        if (colon == std::string_view::npos || colon == 0) continue;
        if (colon + 1 < s.size() && s[colon + 1] != ' ' && s[colon + 1] != '\t') continue;
        std::string_view k = trim(s.substr(0, colon));
        std::string_view v = trim(s.substr(colon + 1));
        if (!v.empty() && v[0] == '#') v = {};
        size_t hash = v.find(" #");
        if (hash != std::string_view::npos) v = trim(v.substr(0, hash));
        while (depth > 0 && stack[depth - 1].indent >= indent) --depth;
        if (v.empty()) {
            if (depth < 32) stack[depth++] = {indent, k};
            continue;
        }
        // The full key: the enclosing keys and this one, joined with dots.
        size_t want = 0;
        bool match = true;
        for (size_t i = 0; i <= depth && match; ++i) {
            std::string_view part = i < depth ? stack[i].key : k;
            if (i > 0) match = want < key.size() && key[want++] == '.';
            match = match && key.substr(want, part.size()) == part;
            want += part.size();
        }
        if (!match || want != key.size()) continue;
        if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'') && v.back() == v[0])
            v = v.substr(1, v.size() - 2);
        *value = v;
        return true;
    }
    return false;
}

bool config_get(std::string_view file_name, std::string_view text, std::string_view key,
                std::string_view* value) {
    if (file_name.ends_with(".properties")) return properties_get(text, key, value);
    return yaml_get(text, key, value);
}

// A property from the command line (--key=v, then -Dkey=v) or the environment
// (KEY_WITH_UNDERSCORES).
bool arg_or_env(const Cmdline& c, const TargetEnvs& envs, std::string_view key,
                TargetEnvs::Var env_var, std::string_view* value) {
    for (std::string_view prefix : {std::string_view("--"), std::string_view("-D")}) {
        for (size_t i = 0; i < c.size(); ++i) {
            std::string_view a = c[i];
            if (!a.starts_with(prefix)) continue;
            std::string_view kv = a.substr(prefix.size());
            size_t eq = kv.find('=');
            if (kv.substr(0, eq) != key) continue;
            *value = eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
            return true;
        }
    }
    if (envs.has(env_var)) {
        *value = envs.get(env_var);
        return true;
    }
    return false;
}

bool usable(std::string_view v) { return !v.empty() && v.find("${") == std::string_view::npos; }

}  // namespace

bool spring_boot_name(std::string_view jar, const Cmdline& c, NameContext& ctx, ServiceName& out) {
    constexpr std::string_view kKey = "spring.application.name";
    PathBuf path, resolved;
    if (!path.set(jar)) return false;
    if (ctx.fs.resolve_relative(jar, resolved)) path.set(resolved.view());
    int fd = ctx.fs.open_file(path.view());
    if (fd < 0) return false;
    Zip zip(fd, ctx.scratch);
    bool is_spring = false;
    if (zip.open()) {
        zip.each([&](std::string_view name, uint16_t, uint32_t, uint32_t, uint32_t) {
            is_spring = name.starts_with("BOOT-INF/");
            return !is_spring;
        });
    }
    if (!is_spring) {
        ::close(fd);
        return false;
    }
    std::string_view v;
    if (arg_or_env(c, ctx.envs, kKey, TargetEnvs::SPRING_APPLICATION_NAME, &v) && usable(v)) {
        out.set(v, kSpring);
        ::close(fd);
        return true;
    }
    std::string_view config_name = "application";
    if (arg_or_env(c, ctx.envs, "spring.config.name", TargetEnvs::SPRING_CONFIG_NAME, &v) &&
        usable(v))
        config_name = v;
    std::string_view profiles_raw;
    arg_or_env(c, ctx.envs, "spring.profiles.active", TargetEnvs::SPRING_PROFILES_ACTIVE,
               &profiles_raw);
    std::string_view profiles[16];
    size_t nprof = 0;
    for (std::string_view rest = profiles_raw; !rest.empty() && nprof < 15;) {
        size_t comma = rest.find(',');
        std::string_view p = trim(rest.substr(0, comma));
        if (!p.empty()) profiles[nprof++] = p;
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    profiles[nprof++] = {};  // the default profile last

    static constexpr std::string_view kExts[] = {".properties", ".yaml", ".yml"};
    bool found = false;
    for (size_t p = 0; p < nprof && !found; ++p) {
        char base[PathBuf::kCap];
        size_t blen = 0;
        auto make_base = [&](std::string_view dir) {
            blen = 0;
            auto add = [&](std::string_view s) {
                size_t k = std::min(s.size(), sizeof base - 1 - blen);
                if (k != 0) std::memcpy(base + blen, s.data(), k);
                blen += k;
            };
            add(dir);
            add(config_name);
            if (!profiles[p].empty()) {
                add("-");
                add(profiles[p]);
            }
        };
        // In the working directory, then its config/.
        for (std::string_view dir : {std::string_view(""), std::string_view("config/")}) {
            make_base(dir);
            for (std::string_view ext : kExts) {
                char rel[PathBuf::kCap];
                size_t rlen = std::min(blen, sizeof rel - 16);
                std::memcpy(rel, base, rlen);
                std::memcpy(rel + rlen, ext.data(), ext.size());
                rlen += ext.size();
                PathBuf f;
                if (!ctx.fs.resolve_relative(std::string_view(rel, rlen), f)) continue;
                if (!ctx.fs.read_file(f.view(), ctx.file, kMaxConfigBytes)) continue;
                if (config_get(f.view(), ctx.file.view(), kKey, &v) && usable(v)) {
                    out.set(v, kSpring);
                    found = true;
                    break;
                }
            }
            if (found) break;
        }
        // Inside the archive.
        for (std::string_view dir : {std::string_view("BOOT-INF/classes/"),
                                     std::string_view("BOOT-INF/classes/config/")}) {
            if (found) break;
            make_base(dir);
            std::string_view want(base, blen);
            for (std::string_view ext : kExts) {
                zip.each([&](std::string_view name, uint16_t method, uint32_t comp, uint32_t size,
                             uint32_t local) {
                    if (name.size() != want.size() + ext.size() || !name.starts_with(want) ||
                        !name.ends_with(ext))
                        return true;
                    if (zip.read(method, comp, size, local, ctx.file, ctx.scratch2) &&
                        config_get(name, ctx.file.view(), kKey, &v) && usable(v)) {
                        out.set(v, kSpring);
                        found = true;
                    }
                    return false;
                });
                if (found) break;
            }
        }
    }
    ctx.file.clear();
    ::close(fd);
    return found;
}

}  // namespace rp::modules::discovery
