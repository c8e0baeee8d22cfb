// Counts over capture time that inference asks about at moments.
//
//   A_MAX  connections that may be in the accept queue (entered or possibly entered,
//          not yet seen leaving it)
//   Q_MAX  requests that may be pending in the SYN queue (not proven syncookies)
//   Q_MIN  requests surely pending (proven stateful, surely not ended yet)
//
// Flows contribute +1/-1 at capture times and ask questions at moments ("how
// many at t", "the most Q_MAX over [a, t]"). Contributions and queries arrive out
// of time order, decided seconds after the moment they are about, but never
// before the watermark: the engine guarantees that nothing earlier than W will
// arrive once it calls sweep(W). sweep() then applies everything before W in
// time order and answers its queries; memory holds only what lies after W.
//
// A query at t sees the contributions strictly before t.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace lp {

class Ledger {
public:
    enum Counter : uint8_t { a_max, q_max, q_min, kCounters };
    struct Values {
        int a_max = 0, q_max = 0, q_min = 0;
        int q_max_peak = 0;  // crowd queries: the most Q_MAX over the seconds of the interval
                             // (kUnknownPeak: too long ago)
        uint64_t q_starts = 0;  // +1s of Q_MAX so far (requests that may have entered the SYN queue)
    };
    static constexpr int kUnknownPeak = std::numeric_limits<int>::max();

    void add(Counter c, int64_t t, int delta);
    // A point query, answered with the counters at t.
    void query(int64_t t, uint32_t ref);
    // An interval query: answered at t, with q_max_peak = the most Q_MAX over [from, t].
    void crowd_query(int64_t from, int64_t t, uint32_t ref);

    // Applies and answers everything before `watermark`, in time order:
    // answer(ref, values) once per query.
    template <class Answer>
    void sweep(int64_t watermark, Answer&& answer);

    size_t pending() const { return items_.size(); }
    int64_t swept_until() const { return swept_; }

private:
    enum Kind : uint8_t { k_query = 0, k_crowd = 1, k_delta = 2 };  // queries sort before deltas
    struct Item {
        int64_t t;
        uint32_t ref;  // query reference, or the crowd interval's index
        uint8_t kind;
        uint8_t counter;
        int16_t delta;
    };
    static_assert(sizeof(Item) == 16);
    void advance_second(int64_t t);
    int peak_since(int64_t from) const;
    void bump_peak();  // Q_MAX changed within the current second

    std::vector<Item> items_, now_;
    std::vector<int64_t> crowd_from_;  // interval starts of crowd queries (slot = Item::ref)
    std::vector<uint32_t> crowd_free_;
    std::vector<uint32_t> crowd_ref_;
    int64_t swept_ = std::numeric_limits<int64_t>::min();
    int value_[kCounters] = {};
    uint64_t q_starts_ = 0;
    // Q_MAX's largest value in each second of capture time, for crowd queries.
    static constexpr int64_t kRing = 512;
    int peak_[kRing] = {};
    int64_t second_ = std::numeric_limits<int64_t>::min();  // second of the last applied item
};

template <class Answer>
void Ledger::sweep(int64_t watermark, Answer&& answer) {
    if (watermark <= swept_) return;
    auto mid = std::partition(items_.begin(), items_.end(), [&](const Item& x) { return x.t < watermark; });
    std::sort(items_.begin(), mid, [](const Item& a, const Item& b) {
        return a.t != b.t ? a.t < b.t : a.kind < b.kind;
    });
    // Answers may add items (at or after the watermark): apply from a copy.
    now_.assign(items_.begin(), mid);
    items_.erase(items_.begin(), mid);
    for (const Item& x : now_) {
        advance_second(x.t);
        if (x.kind == k_delta) {
            value_[x.counter] += x.delta;
            if (x.counter == q_max) {
                if (x.delta > 0) q_starts_ += uint64_t(x.delta);
                bump_peak();
            }
            continue;
        }
        Values v{value_[a_max], value_[q_max], value_[q_min], 0, q_starts_};
        uint32_t ref = x.ref;
        if (x.kind == k_crowd) {
            v.q_max_peak = peak_since(crowd_from_[x.ref]);
            ref = crowd_ref_[x.ref];
            crowd_free_.push_back(x.ref);
        }
        answer(ref, v);
    }
    swept_ = watermark;
}

}  // namespace lp
