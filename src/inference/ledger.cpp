#include "inference/ledger.hpp"

namespace lp {
namespace {
int64_t second_of(int64_t t) { return t >= 0 ? t / 1'000'000'000 : -((-t + 999'999'999) / 1'000'000'000); }
int64_t ring_slot(int64_t s, int64_t n) { return ((s % n) + n) % n; }
}  // namespace

void Ledger::push(const Item& x) {
    int64_t b = x.t >> kBucketShift;
    if (bucket_ == std::numeric_limits<int64_t>::min()) bucket_ = b;
    if (b < bucket_) b = bucket_;
    if (b >= bucket_ + kBuckets) b = bucket_ + kBuckets - 1;  // far ahead: kept there until due
    buckets_[size_t(b & (kBuckets - 1))].push_back(x);
    ++pending_;
}

void Ledger::add(Counter c, int64_t t, int delta) {
    if (t < swept_) t = swept_;  // out-of-order capture times: counted from the watermark
    push({t, 0, k_delta, uint8_t(c), int16_t(delta)});
}

void Ledger::query(int64_t t, uint32_t ref) {
    if (t < swept_) t = swept_;
    push({t, ref, k_query, 0, 0});
}

void Ledger::crowd_query(int64_t from, int64_t t, uint32_t ref) {
    if (t < swept_) t = swept_;
    uint32_t slot;
    if (!crowd_free_.empty()) {
        slot = crowd_free_.back();
        crowd_free_.pop_back();
        crowd_from_[slot] = from;
        crowd_ref_[slot] = ref;
    } else {
        slot = uint32_t(crowd_from_.size());
        crowd_from_.push_back(from);
        crowd_ref_.push_back(ref);
    }
    push({t, slot, k_crowd, 0, 0});
}

void Ledger::advance_second(int64_t t) {
    const int64_t s = second_of(t);
    if (second_ == std::numeric_limits<int64_t>::min()) {
        second_ = s;
        peak_[ring_slot(s, kRing)] = value_[q_max];
        return;
    }
    if (s <= second_) return;
    const int64_t from = std::max(second_ + 1, s - kRing + 1);
    for (int64_t k = from; k <= s; ++k) peak_[ring_slot(k, kRing)] = value_[q_max];
    second_ = s;
}

void Ledger::bump_peak() {
    int& p = peak_[ring_slot(second_, kRing)];
    if (value_[q_max] > p) p = value_[q_max];
}

int Ledger::peak_since(int64_t from) const {
    const int64_t f = second_of(from);
    if (second_ - f >= kRing) return kUnknownPeak;
    int best = 0;
    for (int64_t k = std::min(f, second_); k <= second_; ++k) best = std::max(best, peak_[ring_slot(k, kRing)]);
    return best;
}

}  // namespace lp
