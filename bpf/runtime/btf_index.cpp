// btf_index.cpp — see btf_index.h. Format: include/uapi/linux/btf.h, Documentation/bpf/btf.rst.
#include "bpf/runtime/btf_index.h"

#include <bpf/btf.h>
#include <fcntl.h>
#include <linux/btf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <type_traits>

#include "bpf/runtime/runtime.h"

namespace rp::bpf {
namespace {

// Bytes that follow struct btf_type for a type of `kind` with `vlen` members; -1 if unknown.
long trailing_bytes(uint32_t kind, uint32_t vlen) {
    switch (kind) {
        case BTF_KIND_INT:
            return 4;
        case BTF_KIND_PTR:
        case BTF_KIND_FWD:
        case BTF_KIND_TYPEDEF:
        case BTF_KIND_VOLATILE:
        case BTF_KIND_CONST:
        case BTF_KIND_RESTRICT:
        case BTF_KIND_FUNC:
        case BTF_KIND_FLOAT:
        case 18 /* BTF_KIND_TYPE_TAG */:
            return 0;
        case BTF_KIND_ARRAY:
            return sizeof(struct btf_array);
        case BTF_KIND_STRUCT:
        case BTF_KIND_UNION:
            return long(vlen) * sizeof(struct btf_member);
        case BTF_KIND_ENUM:
            return long(vlen) * sizeof(struct btf_enum);
        case BTF_KIND_FUNC_PROTO:
            return long(vlen) * sizeof(struct btf_param);
        case BTF_KIND_VAR:
            return sizeof(struct btf_var);
        case BTF_KIND_DATASEC:
            return long(vlen) * sizeof(struct btf_var_secinfo);
        case 17 /* BTF_KIND_DECL_TAG */:
            return 4;
        case 19 /* BTF_KIND_ENUM64 */:
            return long(vlen) * 12;
        default:
            return -1;
    }
}

// Sequential reads of a region of a file through one buffer (sysfs hands out a page per read).
class Reader {
  public:
    Reader(int fd, std::vector<char>& buf) : fd_(fd), buf_(buf) {}
    void seek(uint64_t off) {
        pos_ = off;
        at_ = len_ = 0;
    }
    // Copies n bytes (or skips them when out is null). False at EOF or on error (errno set).
    bool read(void* out, size_t n) {
        auto* o = static_cast<char*>(out);
        while (n > 0) {
            if (at_ == len_ && !fill()) return false;
            size_t k = std::min(n, len_ - at_);
            if (o != nullptr) {
                std::memcpy(o, buf_.data() + at_, k);
                o += k;
            }
            at_ += k;
            n -= k;
        }
        return true;
    }
    int next_byte() {
        if (at_ == len_ && !fill()) return -1;
        return static_cast<unsigned char>(buf_[at_++]);
    }

  private:
    bool fill() {
        ssize_t n;
        do n = ::pread(fd_, buf_.data(), buf_.size(), static_cast<off_t>(pos_));
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            if (n == 0) errno = ENODATA;
            return false;
        }
        pos_ += static_cast<uint64_t>(n);
        at_ = 0;
        len_ = static_cast<size_t>(n);
        return true;
    }
    int fd_;
    std::vector<char>& buf_;
    uint64_t pos_ = 0;
    size_t at_ = 0, len_ = 0;
};

// The same interface over the file mapped into memory.
class MemReader {
  public:
    MemReader(const char* data, size_t size) : data_(data), size_(size) {}
    void seek(uint64_t off) { pos_ = off; }
    bool read(void* out, size_t n) {
        if (pos_ > size_ || n > size_ - pos_) {
            errno = ENODATA;
            return false;
        }
        if (out != nullptr) std::memcpy(out, data_ + pos_, n);
        pos_ += n;
        return true;
    }
    // [off, off + n) clipped to the file.
    std::string_view view(uint64_t off, uint64_t n) const {
        if (off > size_) return {};
        return {data_ + off, size_t(std::min<uint64_t>(n, size_ - off))};
    }
    int next_byte() {
        if (pos_ >= size_) {
            errno = ENODATA;
            return -1;
        }
        return static_cast<unsigned char>(data_[pos_++]);
    }

  private:
    const char* data_;
    size_t size_;
    uint64_t pos_ = 0;
};

}  // namespace

template <typename In, typename Fail>
std::expected<BtfIndex, std::string> BtfIndex::scan(In& in, std::span<const std::string_view> names,
                                                    Fail& fail) {
    btf_header hdr{};
    errno = 0;
    if (!in.read(&hdr, sizeof hdr)) return fail("read header");
    errno = 0;
    if (hdr.magic != BTF_MAGIC) return fail("not BTF (bad magic)");
    const uint64_t types_at = uint64_t(hdr.hdr_len) + hdr.type_off;
    const uint64_t strs_at = uint64_t(hdr.hdr_len) + hdr.str_off;

    // Pass 1: offsets of the wanted names in the string section (names start after a NUL).
    std::vector<uint32_t> name_offs(names.size(), UINT32_MAX);
    size_t longest = 0;
    for (auto n : names) longest = std::max(longest, n.size());
    if constexpr (std::is_same_v<In, MemReader>) {
        // Mapped: whole strings at a time (memchr), compared only when the length matches.
        std::string_view strs = in.view(strs_at, hdr.str_len);
        if (strs.size() != hdr.str_len) return fail("read strings");
        size_t at = 0;
        while (at < strs.size()) {
            size_t end = strs.find('\0', at);
            if (end == std::string_view::npos) end = strs.size();
            std::string_view cur = strs.substr(at, end - at);
            for (size_t i = 0; i < names.size(); ++i)
                if (name_offs[i] == UINT32_MAX && cur == names[i]) name_offs[i] = uint32_t(at);
            at = end + 1;
        }
    } else {
        std::string cur;
        uint32_t cur_start = 0;
        bool too_long = false;
        in.seek(strs_at);
        for (uint32_t off = 0; off < hdr.str_len; ++off) {
            int c = in.next_byte();
            if (c < 0) return fail("read strings");
            if (c != 0) {
                if (cur.size() < longest)
                    cur.push_back(static_cast<char>(c));
                else
                    too_long = true;
                continue;
            }
            if (!too_long) {
                for (size_t i = 0; i < names.size(); ++i)
                    if (name_offs[i] == UINT32_MAX && cur == names[i]) name_offs[i] = cur_start;
            }
            cur.clear();
            too_long = false;
            cur_start = off + 1;
        }
    }

    // Pass 2: the types (ids from 1) whose name_off is one of those.
    BtfIndex idx;
    in.seek(types_at);
    uint32_t id = 0;
    for (uint64_t off = 0; off < hdr.type_len;) {
        btf_type t{};
        if (!in.read(&t, sizeof t)) return fail("read types");
        ++id;
        uint32_t kind = BTF_INFO_KIND(t.info);
        long extra = trailing_bytes(kind, BTF_INFO_VLEN(t.info));
        errno = 0;
        if (extra < 0) return fail("unknown BTF kind " + std::to_string(kind));
        if (t.name_off != 0) {
            for (size_t i = 0; i < names.size(); ++i)
                if (name_offs[i] == t.name_off) idx.add(names[i], kind, int(id));
        }
        if (extra > 0 && !in.read(nullptr, size_t(extra))) return fail("read types");
        off += sizeof t + uint64_t(extra);
    }
    idx.type_count_ = id;
    for (auto n : names) idx.names_.emplace_back(n);
    return idx;
}

std::expected<BtfIndex, std::string> BtfIndex::load(const std::string& path,
                                                    std::span<const std::string_view> names,
                                                    bool map_file) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_message("open " + path, errno));
    auto fail = [&](const std::string& what) -> std::expected<BtfIndex, std::string> {
        int err = errno;
        return std::unexpected(err != 0 ? errno_message(path + ": " + what, err)
                                        : path + ": " + what);
    };
    // Linux >= 6.16 lets /sys/kernel/btf/vmlinux be mapped: the kernel's own pages, no copy and
    // no read() per page (sysfs hands out 4 KiB per call: ~1,350 calls per pass otherwise).
    std::expected<BtfIndex, std::string> r;
    struct stat st {};
    void* map = MAP_FAILED;
    if (map_file && ::fstat(fd, &st) == 0 && st.st_size > 0)
        map = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (map != MAP_FAILED) {
        MemReader in(static_cast<const char*>(map), size_t(st.st_size));
        r = scan(in, names, fail);
        ::munmap(map, size_t(st.st_size));
    } else {
        std::vector<char> buf(64 * 1024);
        Reader in(fd, buf);
        r = scan(in, names, fail);
    }
    ::close(fd);
    return r;
}

BtfIndex BtfIndex::from_btf(const struct btf* btf, std::span<const std::string_view> names) {
    BtfIndex idx;
    idx.type_count_ = btf__type_cnt(btf) - 1;
    for (uint32_t id = 1; id <= idx.type_count_; ++id) {
        const btf_type* t = btf__type_by_id(btf, id);
        if (t == nullptr || t->name_off == 0) continue;
        const char* name = btf__name_by_offset(btf, t->name_off);
        if (name == nullptr) continue;
        for (auto n : names)
            if (n == name) idx.add(n, BTF_INFO_KIND(t->info), int(id));
    }
    for (auto n : names) idx.names_.emplace_back(n);
    return idx;
}

// Keeps the first (lowest) id per (name, kind), as btf__find_by_name_kind() answers.
void BtfIndex::add(std::string_view name, uint32_t kind, int id) {
    for (const auto& f : found_)
        if (f.kind == kind && f.name == name) return;
    found_.push_back({std::string(name), kind, id});
}

int BtfIndex::find(std::string_view name, uint32_t kind) const {
    for (const auto& f : found_)
        if (f.kind == kind && f.name == name) return f.id;
    return -1;
}

bool BtfIndex::covers(std::string_view name) const {
    for (const auto& n : names_)
        if (n == name) return true;
    return false;
}

void BtfIndex::merge(BtfIndex&& other) {
    for (auto& f : other.found_) add(f.name, f.kind, f.id);
    for (auto& n : other.names_)
        if (!covers(n)) names_.push_back(std::move(n));
    if (type_count_ == 0) type_count_ = other.type_count_;
}

}  // namespace rp::bpf
