// btf_index.h — finds the ids of named types in raw kernel BTF, without loading it.
//
// The runtime answers every BTF question of the feature probes and of the modules (Runtime::
// btf_has, has_tracepoint) from one index, built at set-up for the names they declare (the
// probes' three, plus each enabled Factory's btf_names). libbpf's btf__parse_raw() copies and
// indexes the whole 5 MB file (~130k types); on the project VM, where every fresh page costs a
// slow fault, that was 250+ ms of daemon start-up. This maps the file (Linux >= 6.16; ~2 ms) or
// else streams it through one 64 KiB buffer (~9 ms), in two passes — the string section to find
// the names' offsets, the type section to find the types that use them — and keeps only the
// answers. A BTF kind it does not know makes load() fail; the caller then falls back to libbpf
// (from_btf()).
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct btf;

namespace rp::bpf {

class BtfIndex {
  public:
    // Scans `path` for the types named in `names`. Errors name the file and what was wrong.
    // `map` false: stream the file even where it could be mapped (tests of the fallback).
    static std::expected<BtfIndex, std::string> load(const std::string& path,
                                                     std::span<const std::string_view> names,
                                                     bool map = true);

    // The same answers from BTF libbpf has parsed (for a file load() cannot walk).
    static BtfIndex from_btf(const struct btf* btf, std::span<const std::string_view> names);

    // Id of the first type of `kind` (BTF_KIND_*) named `name` — one of the names given to
    // load() — or -1.
    int find(std::string_view name, uint32_t kind) const;
    // Whether `name` was among the names looked for (find() then answers for it).
    bool covers(std::string_view name) const;
    // Adds the answers of another index of the same file.
    void merge(BtfIndex&& other);
    // Types in the file (ids 1..type_count()).
    uint32_t type_count() const { return type_count_; }

  private:
    template <typename In, typename Fail>
    static std::expected<BtfIndex, std::string> scan(In& in,
                                                     std::span<const std::string_view> names,
                                                     Fail& fail);
    struct Found {
        std::string name;
        uint32_t kind;
        int id;
    };
    void add(std::string_view name, uint32_t kind, int id);
    std::vector<Found> found_;
    std::vector<std::string> names_;  // looked for
    uint32_t type_count_ = 0;
};

}  // namespace rp::bpf
