// A growable array whose elements never move: chunks of 2^Bits elements, so that
// growing never copies (or page-faults a second copy of) millions of records.
// Copyable (the live probe's snapshot copies the engine).
#pragma once
#include <cstdint>
#include <vector>

#include "tracker/huge_alloc.hpp"

namespace lp {

template <class T, unsigned Bits = 14>
class ChunkedPool {
public:
    static constexpr uint32_t kChunk = 1u << Bits;

    T& operator[](uint32_t i) { return chunks_[i >> Bits][i & (kChunk - 1)]; }
    const T& operator[](uint32_t i) const { return chunks_[i >> Bits][i & (kChunk - 1)]; }
    uint32_t size() const { return size_; }
    // Appends a default element and returns its index.
    uint32_t push() {
        if ((size_ & (kChunk - 1)) == 0) chunks_.emplace_back(kChunk);
        return size_++;
    }
    // Grows to at least n elements (default-constructed).
    void grow_to(uint32_t n) {
        while (size_ < n) push();
    }
    const T* address(uint32_t i) const { return &(*this)[i]; }

private:
    std::vector<std::vector<T, HugeAlloc<T>>> chunks_;
    uint32_t size_ = 0;
};

}  // namespace lp
