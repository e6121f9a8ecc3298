// buffer.h — a growable byte buffer that keeps its capacity across clear(), so a connection or a
// pool can reuse it without allocating per request. Also a RapidJSON output stream.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

namespace rp::http {

class Buffer {
  public:
    using Ch = char;  // RapidJSON stream concept
    Buffer() = default;
    explicit Buffer(size_t capacity) { reserve(capacity); }
    ~Buffer() { std::free(data_); }
    Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_), cap_(o.cap_) {
        o.data_ = nullptr;
        o.size_ = o.cap_ = 0;
    }
    Buffer& operator=(Buffer&& o) noexcept {
        if (this != &o) {
            std::free(data_);
            data_ = o.data_;
            size_ = o.size_;
            cap_ = o.cap_;
            o.data_ = nullptr;
            o.size_ = o.cap_ = 0;
        }
        return *this;
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    char* data() { return data_; }
    const char* data() const { return data_; }
    size_t size() const { return size_; }
    size_t capacity() const { return cap_; }
    bool empty() const { return size_ == 0; }
    std::string_view view() const { return {data_, size_}; }
    void clear() { size_ = 0; }

    void reserve(size_t n) {
        if (n <= cap_) return;
        size_t cap = cap_ ? cap_ : 256;
        while (cap < n) cap *= 2;
        char* p = static_cast<char*>(std::realloc(data_, cap));
        if (p == nullptr) throw std::bad_alloc();
        data_ = p;
        cap_ = cap;
    }
    // Frees the storage when it grew past `max_keep` (a pooled buffer that served a huge response).
    void shrink_to(size_t max_keep) {
        if (cap_ > max_keep) {
            std::free(data_);
            data_ = nullptr;
            size_ = cap_ = 0;
        }
    }
    void append(const void* p, size_t n) {
        if (n == 0) return;  // p may be null (an empty string_view): memcpy must not see it
        reserve(size_ + n);
        std::memcpy(data_ + size_, p, n);
        size_ += n;
    }
    void append(std::string_view s) { append(s.data(), s.size()); }
    void push_back(char c) {
        if (size_ == cap_) reserve(size_ + 1);
        data_[size_++] = c;
    }
    // Drops the first n bytes.
    void consume(size_t n) {
        if (n >= size_) {
            size_ = 0;
            return;
        }
        std::memmove(data_, data_ + n, size_ - n);
        size_ -= n;
    }
    void resize(size_t n) {
        reserve(n);
        size_ = n;
    }

    // Unchecked appends: the caller reserved the room (RapidJSON's PutReserve, then PutUnsafe).
    void put_unsafe(char c) { data_[size_++] = c; }
    void append_unsafe(const char* p, size_t n) {
        if (n == 0) return;
        std::memcpy(data_ + size_, p, n);
        size_ += n;
    }

    // RapidJSON stream concept.
    void Put(char c) { push_back(c); }
    void Flush() {}

  private:
    char* data_ = nullptr;
    size_t size_ = 0;
    size_t cap_ = 0;
};

}  // namespace rp::http
