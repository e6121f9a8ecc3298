// binary_cache.h — what is known about an executable, keyed by its (device, inode), least recently
// used out; a fixed number of nodes allocated at construction, no allocation afterwards (as long
// as V's copy does not allocate). discovery keeps BinaryCache<bool> (Go or not);
// language_detection keeps its answer (language name and version) per executable, as upstream's
// privileged detector's LRU of 1000 binaries.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rp::modules::gobuild {

template <typename V>
class BinaryCache {
  public:
    explicit BinaryCache(size_t capacity) : nodes_(std::max<size_t>(capacity, 1)) {
        size_t b = 1;
        while (b < nodes_.size() * 2) b <<= 1;
        buckets_.assign(b, -1);
    }
    // nullptr when unknown; else the value (valid until the next insert).
    const V* find(uint64_t dev, uint64_t ino) {
        for (int32_t i = buckets_[bucket(dev, ino)]; i >= 0; i = nodes_[i].chain) {
            if (nodes_[i].dev == dev && nodes_[i].ino == ino) {
                ++hits_;
                unlink(i);
                push_front(i);
                return &nodes_[i].value;
            }
        }
        ++misses_;
        return nullptr;
    }
    void insert(uint64_t dev, uint64_t ino, const V& value) {
        for (int32_t i = buckets_[bucket(dev, ino)]; i >= 0; i = nodes_[i].chain) {
            if (nodes_[i].dev == dev && nodes_[i].ino == ino) {
                nodes_[i].value = value;
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
        n.value = value;
        size_t b = bucket(dev, ino);
        n.chain = buckets_[b];
        buckets_[b] = slot;
        push_front(slot);
    }
    size_t size() const { return size_; }
    size_t capacity() const { return nodes_.size(); }
    uint64_t hits() const { return hits_; }
    uint64_t misses() const { return misses_; }
    uint64_t evictions() const { return evictions_; }

  private:
    struct Node {
        uint64_t dev = 0, ino = 0;
        int32_t prev = -1, next = -1;  // LRU list, most recent at head_
        int32_t chain = -1;            // next node in the same hash bucket
        V value{};
    };
    size_t bucket(uint64_t dev, uint64_t ino) const {
        uint64_t h = (ino * 0x9e3779b97f4a7c15ull) ^ (dev * 0xc2b2ae3d27d4eb4full);
        return static_cast<size_t>(h >> 17) & (buckets_.size() - 1);
    }
    void unlink(int32_t i) {
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
    void push_front(int32_t i) {
        Node& n = nodes_[i];
        n.prev = -1;
        n.next = head_;
        if (head_ >= 0) nodes_[head_].prev = i;
        head_ = i;
        if (tail_ < 0) tail_ = i;
    }
    void unhash(int32_t i) {
        int32_t* link = &buckets_[bucket(nodes_[i].dev, nodes_[i].ino)];
        while (*link >= 0 && *link != i) link = &nodes_[*link].chain;
        if (*link == i) *link = nodes_[i].chain;
        nodes_[i].chain = -1;
    }

    std::vector<Node> nodes_;
    std::vector<int32_t> buckets_;
    int32_t head_ = -1, tail_ = -1;
    size_t size_ = 0;
    uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace rp::modules::gobuild
