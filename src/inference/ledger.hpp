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

    size_t pending() const { return pending_; }
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

    // Items by time in buckets of 2^28 ns (~0.27 s), so a sweep touches only what it applies.
    static constexpr int kBucketShift = 28;
    static constexpr int64_t kBuckets = 1024;
    void push(const Item& x);
    std::vector<std::vector<Item>> buckets_ = std::vector<std::vector<Item>>(size_t(kBuckets));
    int64_t bucket_ = std::numeric_limits<int64_t>::min();  // no item lies in an earlier bucket
    size_t pending_ = 0;
    std::vector<Item> now_, keep_;
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
    now_.clear();
    keep_.clear();
    if (bucket_ != std::numeric_limits<int64_t>::min()) {
        const int64_t last = std::min(watermark >> kBucketShift, bucket_ + kBuckets - 1);
        for (int64_t b = bucket_; b <= last; ++b) {
            auto& cell = buckets_[size_t(b & (kBuckets - 1))];
            for (const Item& x : cell) (x.t < watermark ? now_ : keep_).push_back(x);
            std::vector<Item>().swap(cell);  // a bucket keeps no buffer once swept
        }
        bucket_ = std::max(bucket_, watermark >> kBucketShift);
        pending_ -= now_.size() + keep_.size();
        for (const Item& x : keep_) push(x);  // into the bucket their time names now
    }
    std::sort(now_.begin(), now_.end(), [](const Item& a, const Item& b) {
        return a.t != b.t ? a.t < b.t : a.kind < b.kind;
    });
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
