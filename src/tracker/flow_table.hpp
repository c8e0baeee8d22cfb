// Flows by their unordered pair of endpoints: one lookup per segment finds the
// flow and tells from which side the segment came. Open addressing with linear
// probing over a power-of-two table of 8-byte slots (32 bits of the pair's hash,
// which also pick the home slot, and the flow's pool index); released flows
// leave tombstones until the next rebuild.
#pragma once
#include <cstdint>
#include <vector>

#include "segments/segment.hpp"
#include "tracker/huge_alloc.hpp"

namespace lp {

class FlowTable {
public:
    static constexpr uint32_t kNone = 0xFFFFFFFFu;

    static uint64_t pair_hash(const Endpoint& a, const Endpoint& b);

    // The flow whose (client, server) is (a, b) or (b, a); `a_is_client` says which.
    // The (a, b) orientation wins when both exist. `key(i, client, server)` fills the
    // endpoints of pool entry i.
    template <class Key>
    uint32_t find(const Endpoint& a, const Endpoint& b, bool& a_is_client, const Key& key) const {
        if (slots_.empty()) return kNone;
        const uint64_t h = pair_hash(a, b);
        const uint32_t tag = uint32_t(h >> 32);
        const size_t mask = slots_.size() - 1;
        uint32_t reversed = kNone;
        for (size_t i = size_t(tag) & mask;; i = (i + 1) & mask) {
            const Slot& s = slots_[i];
            if (s.idx == kEmpty) break;
            if (s.tag != tag || s.idx == kTomb) continue;
            const Endpoint* client;
            const Endpoint* server;
            key(s.idx, client, server);
            if (*client == a && *server == b) {
                a_is_client = true;
                return s.idx;
            }
            if (reversed == kNone && *client == b && *server == a) reversed = s.idx;
        }
        a_is_client = false;
        return reversed;
    }
    // The home slot of a pair's hash into the cache, and later the pool index its first
    // matching slot names (a guess for prefetching the flow: kNone if none).
    void prefetch(uint64_t h) const {
        if (!slots_.empty()) __builtin_prefetch(&slots_[size_t(uint32_t(h >> 32)) & (slots_.size() - 1)]);
    }
    uint32_t guess(uint64_t h) const {
        if (slots_.empty()) return kNone;
        const uint32_t tag = uint32_t(h >> 32);
        const size_t mask = slots_.size() - 1;
        for (size_t i = size_t(tag) & mask;; i = (i + 1) & mask) {
            const Slot& s = slots_[i];
            if (s.idx == kEmpty) return kNone;
            if (s.tag == tag && s.idx != kTomb) return s.idx;
        }
    }
    void insert(uint32_t idx, const Endpoint& client, const Endpoint& server);
    void erase(uint32_t idx, const Endpoint& client, const Endpoint& server);
    size_t live() const { return live_; }

private:
    static constexpr uint32_t kEmpty = 0xFFFFFFFFu, kTomb = 0xFFFFFFFEu;
    struct Slot {
        uint32_t tag = 0;
        uint32_t idx = kEmpty;
    };
    void grow();
    std::vector<Slot, HugeAlloc<Slot>> slots_;
    size_t used_ = 0, live_ = 0;  // used_ counts tombstones too
};

}  // namespace lp
