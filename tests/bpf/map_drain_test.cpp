// map_drain_test.cpp — bpf::MapDrain (bpf/runtime/map_drain.h) against real kernel maps (root):
// every entry read once and deleted, per-CPU values, a bucket larger than the chunk, and the
// key-by-key fallback on a map type the kernel has no batch operation for.
#include "bpf/runtime/map_drain.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "support/bpf_skip.h"

namespace {

// An owned map fd.
struct Map {
    int fd = -1;
    Map(bpf_map_type type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
        uint32_t flags = 0) {
        LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
        fd = bpf_map_create(type, "rp_drain_test", key_size, value_size, max_entries, &opts);
        REQUIRE_MESSAGE(fd >= 0, "bpf_map_create: " << std::strerror(errno));
    }
    ~Map() {
        if (fd >= 0) ::close(fd);
    }
    size_t count() const {
        std::vector<unsigned char> key(64), next(64);
        size_t n = 0;
        const void* prev = nullptr;
        while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
            ++n;
            key = next;
            prev = key.data();
        }
        return n;
    }
};

}  // namespace

TEST_CASE("bpf map drain: a hash map is read whole, each key once, and left empty") {
    rp::test::require_bpf_or_skip();
    constexpr uint32_t kEntries = 1000;
    Map m(BPF_MAP_TYPE_HASH, sizeof(uint32_t), sizeof(uint64_t), 1024);
    for (uint32_t k = 0; k < kEntries; ++k) {
        uint64_t v = uint64_t(k) * 3 + 1;
        REQUIRE(bpf_map_update_elem(m.fd, &k, &v, BPF_NOEXIST) == 0);
    }
    rp::bpf::MapDrain drain(m.fd, "test_hash", 1024);
    std::vector<uint32_t> keys = {12345};  // appended to, not replaced
    std::vector<uint64_t> values = {0};
    auto n = drain.drain(keys, values);
    REQUIRE_MESSAGE(n, (n ? "" : n.error()));
    CHECK(*n == kEntries);
    CHECK(drain.batch());
    REQUIRE(keys.size() == kEntries + 1);
    REQUIRE(values.size() == kEntries + 1);
    CHECK(keys[0] == 12345);
    std::vector<bool> seen(kEntries);
    for (size_t i = 1; i < keys.size(); ++i) {
        REQUIRE(keys[i] < kEntries);
        CHECK_FALSE(seen[keys[i]]);
        seen[keys[i]] = true;
        CHECK(values[i] == uint64_t(keys[i]) * 3 + 1);
    }
    CHECK(m.count() == 0);

    // Empty: nothing, no error.
    keys.clear();
    values.clear();
    n = drain.drain(keys, values);
    REQUIRE(n);
    CHECK(*n == 0);
    CHECK(keys.empty());
}

TEST_CASE("bpf map drain: a bucket larger than the chunk grows the chunk and is read again") {
    rp::test::require_bpf_or_skip();
    // 64 keys in 64 buckets: some bucket holds two or more (the chance of none is ~1e-27).
    constexpr uint32_t kEntries = 64;
    Map m(BPF_MAP_TYPE_HASH, sizeof(uint32_t), sizeof(uint32_t), kEntries);
    for (uint32_t k = 0; k < kEntries; ++k) REQUIRE(bpf_map_update_elem(m.fd, &k, &k, 0) == 0);
    rp::bpf::MapDrain drain(m.fd, "test_buckets", kEntries, 1, /*first_chunk=*/1);
    std::vector<uint32_t> keys, values;
    auto n = drain.drain(keys, values);
    REQUIRE_MESSAGE(n, (n ? "" : n.error()));
    CHECK(*n == kEntries);
    CHECK(drain.chunk() > 1);
    std::sort(keys.begin(), keys.end());
    for (uint32_t k = 0; k < kEntries; ++k) CHECK(keys[k] == k);
    CHECK(m.count() == 0);
}

TEST_CASE("bpf map drain: a per-CPU hash map gives every CPU's value of each key") {
    rp::test::require_bpf_or_skip();
    const int ncpus = libbpf_num_possible_cpus();
    REQUIRE(ncpus > 0);
    Map m(BPF_MAP_TYPE_PERCPU_HASH, sizeof(uint32_t), sizeof(uint64_t), 128);
    std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpus));
    for (uint32_t k = 0; k < 100; ++k) {
        for (int c = 0; c < ncpus; ++c) per_cpu[size_t(c)] = uint64_t(k) * 1000 + uint64_t(c);
        REQUIRE(bpf_map_update_elem(m.fd, &k, per_cpu.data(), 0) == 0);
    }
    rp::bpf::MapDrain drain(m.fd, "test_percpu", 128, static_cast<uint32_t>(ncpus), 16);
    std::vector<uint32_t> keys;
    std::vector<uint64_t> values;
    auto n = drain.drain(keys, values);
    REQUIRE_MESSAGE(n, (n ? "" : n.error()));
    CHECK(*n == 100);
    REQUIRE(values.size() == keys.size() * size_t(ncpus));
    for (size_t i = 0; i < keys.size(); ++i)
        for (int c = 0; c < ncpus; ++c)
            CHECK(values[i * size_t(ncpus) + size_t(c)] == uint64_t(keys[i]) * 1000 + uint64_t(c));
    CHECK(m.count() == 0);
}

TEST_CASE("bpf map drain: a map type without batch deletes is drained key by key") {
    rp::test::require_bpf_or_skip();
    // LPM tries have no BPF_MAP_LOOKUP_AND_DELETE_BATCH: the kernel answers ENOTSUPP (524) without
    // writing the count back. Regression: the two copies this replaced took only EINVAL, ENOTSUP
    // and EOPNOTSUPP for "unsupported", and only with a count of 0 — which a refused command never
    // returns (the count stays as passed in), so not even EINVAL (< 5.6) reached the fallback.
    struct Key {
        uint32_t prefixlen;
        uint8_t addr[4];
    };
    Map m(BPF_MAP_TYPE_LPM_TRIE, sizeof(Key), sizeof(uint32_t), 64, BPF_F_NO_PREALLOC);
    for (uint32_t i = 0; i < 40; ++i) {
        Key k{32, {10, 0, 0, uint8_t(i)}};
        REQUIRE(bpf_map_update_elem(m.fd, &k, &i, 0) == 0);
    }
    rp::bpf::MapDrain drain(m.fd, "test_lpm", 64);
    std::vector<Key> keys;
    std::vector<uint32_t> values;
    auto n = drain.drain(keys, values);
    REQUIRE_MESSAGE(n, (n ? "" : n.error()));
    CHECK_FALSE(drain.batch());
    CHECK(*n == 40);
    std::map<uint32_t, uint32_t> got;
    for (size_t i = 0; i < keys.size(); ++i) got[keys[i].addr[3]] = values[i];
    CHECK(got.size() == 40);
    for (const auto& [last, v] : got) CHECK(v == last);
    CHECK(m.count() == 0);

    // Stays key by key; a later drain of new entries works the same.
    Key k{32, {10, 0, 0, 99}};
    uint32_t v = 99;
    REQUIRE(bpf_map_update_elem(m.fd, &k, &v, 0) == 0);
    keys.clear();
    values.clear();
    n = drain.drain(keys, values);
    REQUIRE(n);
    CHECK(*n == 1);
    CHECK_FALSE(drain.batch());
    CHECK(values == std::vector<uint32_t>{99});
}
