#include "inference/retries.hpp"

#include <fmt/format.h>

#include <cmath>

#include "inference/evidence.hpp"
#include "inference/schedule.hpp"

namespace lp {

void Retries::add(Request r) {
    if (r.n <= 0) return;
    if (!r.loss.empty() && loss_.empty()) loss_ = r.loss;
    if (!initial_ && !r.gaps.empty() && r.loss.empty())
        if (auto i = fit_initial(r.gaps)) initial_ = i;
    const size_t n = size_t(std::min(r.n, 255));
    if (r.exhausted && r.loss.empty()) {
        if (r.crowded) {
            ++crowded_;
        } else if (!holders_[n]++) {
            holder_ex_[n] = r.cite;
        }
    }
    most_ = std::max(most_, r.n);
    if (!best_ || r.n > best_->n || (r.n == best_->n && r.exhausted && !best_->exhausted)) best_ = std::move(r);
}

void Retries::finish(const Context& cx, ListenerVerdict& v) const {
    auto warn = [&](std::string code, std::string msg) { v.warnings.push_back({std::move(code), std::move(msg)}); };
    if (!best_) return;
    const Request& b = *best_;
    for (double g : b.gaps) v.gaps_s.push_back(std::round(g * 1000) / 1000);
    if (auto i = fit_initial(v.gaps_s)) {
        v.initial_rto_s = *i;
    } else if (!v.gaps_s.empty()) {
        v.initial_rto_s = v.gaps_s.front();
        warn("schedule-irregular", "the SYN-ACK gaps do not follow a doubling schedule from 1 s or 3 s");
    }
    v.retries_at_least = most_;
    v.evidence.push_back(fmt::format("SYN-ACK schedule from {} (first SYN-ACK at {}): {} retransmission(s){}", who(b.cite),
                                     at_time(b.cite.t, cx.t0), b.n,
                                     v.gaps_s.empty() ? std::string(" (the capture misses its first SYN-ACK)")
                                                      : fmt::format(", gaps {}s", fmt::join(v.gaps_s, "s, "))));
    const size_t n = size_t(std::min(most_, 255));
    const uint32_t holders = holders_[n];
    uint32_t fewer = 0;
    size_t fewer_n = 0;
    for (size_t k = 1; k < n; ++k)
        if (holders_[k]) {
            fewer += holders_[k];
            fewer_n = k;
        }
    if (holders == 0) {
        if (!b.exhausted && b.deadline > cx.end) {
            warn("retries-capture-too-short",
                 fmt::format("the capture ends at {}, before the next SYN-ACK retransmission of {} would have been "
                             "overdue ({}): the retry count is a lower bound",
                             at_time(cx.end, cx.t0), who(b.cite), at_time(b.deadline, cx.t0)));
        } else if (crowded_ > 0) {
            warn("retries-pruning-possible",
                 fmt::format("the requests left alone until their retransmissions stopped had 5 or more requests "
                             "pending at once; Linux may lower the retries of old requests when more than half the "
                             "queue is pending: the count is a lower bound"));
        } else {
            warn("retries-request-ended",
                 fmt::format("no request with {} retransmission(s) was left alone until its next one was overdue "
                             "(an ACK, RST or data ended it{}): the retry count is a lower bound",
                             most_, fewer ? fmt::format("; {} exhausted request(s) show fewer", fewer) : ""));
        }
        return;
    }
    if (holders == 1 && fewer > 0) {
        warn("retries-disagree",
             fmt::format("{} exhausted after {} retransmission(s) but {} after {} (a lost SYN-ACK or pruning); no "
                         "second request confirms the larger count: it is a lower bound",
                         who(holder_ex_[n]), most_, who(holder_ex_[fewer_n]), fewer_n));
        return;
    }
    if (holders == 1 && !loss_.empty()) {
        warn("retries-loss",
             fmt::format("SYN-ACKs were lost in this capture ({}) and only {} shows {} retransmission(s): its last one "
                         "may be lost too, so the count is a lower bound", loss_, who(holder_ex_[n]), most_));
        return;
    }
    v.retries = most_;
    v.evidence.push_back(fmt::format("{} was left alone until its next retransmission was overdue", who(holder_ex_[n])));
    if (holders > 1) v.evidence.push_back(fmt::format("{} exhausted requests agree on {} retransmission(s)", holders, most_));
    if (fewer > 0)
        warn("retries-some-fewer",
             fmt::format("{} exhausted request(s) showed fewer retransmissions (e.g. {}: {}), explained by a lost "
                         "SYN-ACK or pruning; {} agree on {}", fewer, who(holder_ex_[fewer_n]), fewer_n, holders, most_));
}

}  // namespace lp
