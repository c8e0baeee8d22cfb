// Building blocks of the listener model: what a piece of evidence cites, a
// keeper of the tightest upper-bound candidates, and the count behind the lower
// bound of a queue that nothing leaves.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "segments/segment.hpp"

namespace lp {

// The connection and moment a piece of evidence points at.
struct Cite {
    Endpoint client;
    int64_t t = 0;         // the moment cited
    int64_t t2 = 0;        // a second time it rests on (0: none)
};

// The smallest values seen, each with what proves it (ties keep the earliest). Upper
// bounds are minima over moments; a few are kept, not one, so that a moment a later
// proof shows to be wrong (a lost SYN taken for a dropped one) can be set aside.
class Keeper {
public:
    struct Entry {
        int value;
        Cite cite;
    };
    static constexpr size_t kKeep = 8;

    void add(int value, const Cite& c) {
        ++count_;
        if (c.t < first_t_) first_t_ = c.t;
        if (best_.size() == kKeep && value >= best_.back().value) return;
        auto at = std::upper_bound(best_.begin(), best_.end(), value,
                                   [](int v, const Entry& e) { return v < e.value; });
        best_.insert(at, {value, c});
        if (best_.size() > kKeep) best_.pop_back();
    }
    bool empty() const { return best_.empty(); }
    uint64_t count() const { return count_; }
    int64_t first_t() const { return first_t_; }  // earliest moment added
    const std::vector<Entry>& best() const { return best_; }
    // The smallest value that is at least `floor`, if any.
    const Entry* least_at_least(int floor) const {
        for (const auto& e : best_)
            if (e.value >= floor) return &e;
        return nullptr;
    }

private:
    std::vector<Entry> best_;
    uint64_t count_ = 0;
    int64_t first_t_ = std::numeric_limits<int64_t>::max();
};

// Lower bound of a queue's capacity when nothing leaves it: at a moment T when the
// queue had room, the connections that had entered before T were all still in it, so
// capacity >= 1 + #{entries before T}. Entries only accumulate, so the latest room
// moment gives the largest count. Entries and room moments arrive in any order.
//
// A conditional entry entered if the capacity exceeds `v` (its final ACK found at most v
// connections in the queue): the bound is the least fixpoint L = 1 + certain + #{v < L},
// found by taking conditional entries in order of v.
class LowerCount {
public:
    static constexpr int kCertain = -1;
    void room(int64_t t, const Cite& c) {
        if (have_room_ && t <= room_t_) return;
        have_room_ = true;
        room_t_ = t;
        room_cite_ = c;
        while (!later_.empty() && later_.begin()->first < room_t_) {
            count_below(later_.begin()->second);
            later_.erase(later_.begin());
        }
    }
    // A connection that entered the queue at the latest at `entered_by` (if capacity > v).
    void entry(int64_t entered_by, int v = kCertain) {
        ++entries_;
        if (have_room_ && entered_by < room_t_)
            count_below(v);
        else
            later_.emplace(entered_by, v);
    }
    bool has_room_moment() const { return have_room_; }
    int value() const {
        if (!have_room_) return 0;
        int64_t l = 1 + int64_t(below_);
        for (const auto& [v, n] : cond_)
            if (v < l)
                l += int64_t(n);
            else
                break;
        return int(std::min<int64_t>(l, std::numeric_limits<int>::max()));
    }
    // Whether value() counts conditional entries (it then rests on A_MAX being complete).
    bool uses_conditional() const {
        if (!have_room_ || cond_.empty()) return false;
        return cond_.begin()->first < 1 + int64_t(below_);
    }
    uint64_t entries() const { return entries_; }
    const Cite& cite() const { return room_cite_; }
    int64_t room_t() const { return room_t_; }

private:
    void count_below(int v) {
        if (v == kCertain) {
            ++below_;
            return;
        }
        ++cond_[v];
        // Only the smallest bounds can ever count (the fixpoint takes them in order); the
        // largest are let go, which can only lower the bound.
        if (++cond_n_ > kMaxConditional) {
            auto last = std::prev(cond_.end());
            if (--last->second == 0) cond_.erase(last);
            --cond_n_;
        }
    }
    static constexpr uint64_t kMaxConditional = 4096;
    uint64_t cond_n_ = 0;
    bool have_room_ = false;
    int64_t room_t_ = 0;
    Cite room_cite_;
    uint64_t below_ = 0, entries_ = 0;
    std::map<int, uint64_t> cond_;
    std::multiset<std::pair<int64_t, int>> later_;
};

}  // namespace lp
