// map_drain.h — MapDrain: reads and deletes every entry of a BPF hash map (GetAndFlush) into
// vectors the caller owns and reuses from one drain to the next.
//
// BPF_MAP_LOOKUP_AND_DELETE_BATCH (hash maps: Linux >= 5.6) takes up to `chunk` entries per call,
// whole buckets at a time. A bucket holding more entries than the chunk answers ENOSPC with
// nothing read: the chunk doubles (up to max_entries, and stays grown) and that bucket is read
// again. ENOENT ends the walk. Where the kernel refuses the batch command on the first call
// (EINVAL before 5.6, ENOTSUPP/EOPNOTSUPP for a map type without it) the drain falls back, for
// good, to BPF_MAP_GET_NEXT_KEY + LOOKUP + DELETE key by key, at most 2 * max_entries keys per
// drain. Key by key, an entry the kernel re-creates during the walk can be read twice: the caller
// merges by key when batch() is false.
//
// Per-CPU maps: values_per_key = libbpf_num_possible_cpus(); each key then comes with that many
// values (V must then be a multiple of 8 bytes, the kernel's per-CPU stride).
//
//   bpf::MapDrain drain(bpf_map__fd(skel->maps.denials), "denials", max_entries);
//   keys.clear(); values.clear();
//   auto n = drain.drain(keys, values);   // error text names the map; what was read stays
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace rp::bpf {

class MapDrain {
  public:
    static constexpr uint32_t kDefaultChunk = 256;  // entries per batch call to start with

    MapDrain() = default;
    // `fd` is a hash map (any BPF_MAP_TYPE_*HASH, or a map type without batch ops) of at most
    // `max_entries` entries; `name` names it in errors.
    MapDrain(int fd, std::string_view name, uint32_t max_entries, uint32_t values_per_key = 1,
             uint32_t first_chunk = kDefaultChunk);

    // Appends every entry to `keys` (and values_per_key values per key to `values`), deleting it
    // from the map. Returns the number of keys appended; on error, what was read (and deleted)
    // before it stays appended and the error names the map.
    template <typename K, typename V>
    std::expected<size_t, std::string> drain(std::vector<K>& keys, std::vector<V>& values) {
        static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>);
        struct Ctx {
            std::vector<K>& k;
            std::vector<V>& v;
            uint32_t per_key;
        } ctx{keys, values, values_per_key_};
        Sink sink{&ctx, sizeof(K), sizeof(V), keys.size(),
                  [](void* c, size_t n, void** kp, void** vp) {
                      auto* x = static_cast<Ctx*>(c);
                      x->k.resize(n);
                      x->v.resize(n * x->per_key);
                      *kp = x->k.data();
                      *vp = x->v.data();
                  }};
        return drain_into(sink);
    }

    // False once the kernel refused the batch command: entries may then repeat within a drain.
    bool batch() const { return batch_; }
    // Entries per batch call now (grown by buckets larger than it).
    uint32_t chunk() const { return chunk_; }
    int fd() const { return fd_; }

  private:
    struct Sink {
        void* ctx;
        size_t key_size;
        size_t value_size;
        size_t size;  // keys in the vectors
        // Resizes the vectors to n keys; returns their data.
        void (*resize)(void* ctx, size_t n, void** keys, void** values);
    };
    std::expected<size_t, std::string> drain_into(Sink& sink);
    std::expected<size_t, std::string> drain_batched(Sink& sink);
    size_t drain_one_by_one(Sink& sink);

    int fd_ = -1;
    std::string name_;
    uint32_t max_entries_ = 0;
    uint32_t values_per_key_ = 1;
    uint32_t chunk_ = kDefaultChunk;
    bool batch_ = true;
};

}  // namespace rp::bpf
