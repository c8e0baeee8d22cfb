#include "tracker/flow_table.hpp"

#include <cstring>

namespace lp {
namespace {
uint64_t endpoint_hash64(const Endpoint& e) {
    uint64_t lo, hi;
    std::memcpy(&lo, e.addr.bytes.data(), 8);
    std::memcpy(&hi, e.addr.bytes.data() + 8, 8);
    uint64_t h = (lo ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    h ^= (hi + (uint64_t(e.port) << 8) + e.addr.family) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h * 0xd6e8feb86659fd93ull;
}
}  // namespace

uint64_t FlowTable::pair_hash(const Endpoint& a, const Endpoint& b) {
    uint64_t h = endpoint_hash64(a) + endpoint_hash64(b);  // the same from either side
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 29;
    return h;
}

void FlowTable::insert(uint32_t idx, const Endpoint& client, const Endpoint& server) {
    if ((used_ + 1) * 2 > slots_.size()) grow();
    const uint64_t h = pair_hash(client, server);
    const size_t mask = slots_.size() - 1;
    const uint32_t tag = uint32_t(h >> 32);
    size_t i = size_t(tag) & mask;
    while (slots_[i].idx != kEmpty && slots_[i].idx != kTomb) i = (i + 1) & mask;
    if (slots_[i].idx == kEmpty) ++used_;
    slots_[i] = {tag, idx};
    ++live_;
}

void FlowTable::erase(uint32_t idx, const Endpoint& client, const Endpoint& server) {
    if (slots_.empty()) return;
    const uint64_t h = pair_hash(client, server);
    const size_t mask = slots_.size() - 1;
    for (size_t i = size_t(uint32_t(h >> 32)) & mask; slots_[i].idx != kEmpty; i = (i + 1) & mask)
        if (slots_[i].idx == idx) {
            slots_[i].idx = kTomb;
            --live_;
            return;
        }
}

void FlowTable::grow() {
    // Rebuilt from the slots alone: the tag is the part of the hash that picks the home slot.
    size_t n = 1024;
    while (n < live_ * 4 + 4) n *= 2;
    std::vector<Slot, HugeAlloc<Slot>> old;
    old.swap(slots_);
    slots_.assign(n, Slot{});
    used_ = live_ = 0;
    for (const Slot& s : old)
        if (s.idx != kEmpty && s.idx != kTomb) {
            size_t i = size_t(s.tag) & (n - 1);
            while (slots_[i].idx != kEmpty) i = (i + 1) & (n - 1);
            slots_[i] = s;
            ++used_;
            ++live_;
        }
}

}  // namespace lp
