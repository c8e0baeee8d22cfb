#include "inference/syn_queue.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "inference/evidence.hpp"

namespace lp {

void SynQueue::admission(int q_min, const Cite& c) {
    stateful(c);
    if (q_min + 1 > lower_) {
        lower_ = q_min + 1;
        lower_cite_ = c;
    }
}

void SynQueue::note_cookie(const Cite& c, CookieWhy why) {
    if (why != CookieWhy::unrepeated) ++cookie_proven_n_;
    if (!cookie_n_++) {
        cookie_ex_ = c;
        cookie_why_ = why;
    }
}

void SynQueue::cookie(int q_max, const Cite& c, CookieWhy why) {
    note_cookie(c, why);
    cookie_q_.add(q_max, c);
    if (q_max <= 0 && !cookie_q0_) cookie_q0_ = c;
}

void SynQueue::syn_drop(int a_max, int q_max, const Cite& c) {
    if (q_max < 1) return;  // no request pending: not the SYN queue
    constexpr size_t kKeep = 16;
    if (drops_.size() == kKeep && a_max >= drops_.back().a) return;
    auto at = std::upper_bound(drops_.begin(), drops_.end(), a_max, [](int a, const Drop& d) { return a < d.a; });
    drops_.insert(at, {a_max, q_max, c});
    if (drops_.size() > kKeep) drops_.pop_back();
}

namespace {
const char* why_text(CookieWhy w) {
    switch (w) {
        case CookieWhy::unrepeated: return "its SYN-ACK was never retransmitted while other requests' were";
        case CookieWhy::stripped:
            return "its SYN-ACK lacked window scale and SACK, which the SYN offered without timestamps and the "
                   "listener grants otherwise";
        case CookieWhy::always: return "the listener sends cookies to every SYN";
        case CookieWhy::late_ack: return "its final ACK came after the retransmissions were due, found no request, "
                                         "and was taken";
        case CookieWhy::none: break;
    }
    return "proven";
}
}  // namespace

void SynQueue::finish(const Context& cx, ListenerVerdict& v) const {
    auto warn = [&](std::string code, std::string msg) { v.warnings.push_back({std::move(code), std::move(msg)}); };
    const int64_t t0 = cx.t0;

    // SYN drops while the accept queue provably had room, consistent with the requests
    // proven admitted: the SYN queue was full and cookies are off (else: lost SYNs).
    const Drop* off_drop = nullptr;
    bool lost_drop = false;
    if (cx.port_open)
        for (const auto& d : drops_) {
            const bool room = d.a == 0 || (cx.accept_lower > 0 && d.a < cx.accept_lower);
            if (!room) continue;
            if (d.q < lower_) {
                lost_drop = true;  // more requests were admitted later with as many pending
                continue;
            }
            if (!off_drop || d.q < off_drop->q) off_drop = &d;
        }

    std::optional<int> upper;
    Cite upper_cite;
    bool no_lower = false;  // the stateful count is not a bound on one queue
    // A stateful request whose SYN-ACK retransmissions were all lost looks like a cookie
    // that was never retransmitted; with cookies off, a SYN dropped with room in the accept
    // queue says the opposite. Only a cookie proven otherwise (options, a late ACK taken)
    // outweighs the drop; else neither is decided.
    const bool cookie_vs_drop = cookie_n_ > 0 && off_drop && cookie_proven_n_ == 0;
    if (cookie_vs_drop) {
        warn("syncookies-conflict",
             fmt::format("{} SYN-ACK(s) looked like syncookies (never retransmitted, e.g. {}), but the SYN of {} was "
                         "dropped with room in the accept queue as with tcp_syncookies=0: lost SYN-ACK retransmissions "
                         "or a lost SYN; syncookies and the SYN queue are not decided",
                         cookie_n_, who(cookie_ex_), who(off_drop->c)));
    } else if (cookie_n_ > 0) {
        if (off_drop)
            warn("syncookies-conflict", fmt::format("the listener sent syncookies ({}) and also dropped a SYN with "
                                                    "room in its accept queue ({}): a lost SYN, or the setting "
                                                    "changed during the capture", who(cookie_ex_), who(off_drop->c)));
        if (stateful_n_ > 0) {
            v.syncookies = CookieMode::on_overflow;
            v.evidence.push_back(fmt::format("syncookie to {} at {} ({}) and stateful requests (e.g. {}) — "
                                             "tcp_syncookies=1", who(cookie_ex_), at_time(cookie_ex_.t, t0),
                                             why_text(cookie_why_), who(stateful_ex_)));
            // The first cookie moments bound the limit from above; one below the proven
            // lower bound means a stateful request looked like a cookie (its SYN-ACKs lost),
            // and then it is missing from the requests counted at every later cookie too:
            // each such one widens the bound by one.
            int blurred = 0;
            const Keeper::Entry* first_blur = nullptr;
            for (const auto& e : cookie_q_.best()) {
                if (e.value < lower_) {
                    ++blurred;
                    if (!first_blur) first_blur = &e;
                    continue;
                }
                if (!upper) {
                    upper = e.value;
                    upper_cite = e.cite;
                }
            }
            // With SYN-ACKs lost in the capture, the last stateful request before the first
            // cookies may have lost both of its retransmissions and look like a cookie itself.
            if (upper && !cx.loss.empty()) {
                *upper += 1;
                warn("syn-queue-loss",
                     fmt::format("SYN-ACKs were lost in this capture ({}): a stateful request whose retransmissions "
                                 "were both lost looks like a syncookie, so the SYN queue's upper bound allows one more",
                                 cx.loss));
            }
            if (blurred && cx.loss.empty()) {
                // No loss seen: the stateful count may be a sum over several SYN queues (an
                // SO_REUSEPORT group, each SYN hashed to one), so it bounds nothing.
                no_lower = true;
                upper.reset();
                v.queues_blurred = true;
                warn("syn-queue-boundary-blurred",
                     fmt::format("a syncookie ({}) was sent with fewer requests pending ({}) than were later admitted "
                                 "statefully ({}), and no loss shows in the capture: SYN-ACKs lost unseen, or several "
                                 "SYN queues behind the port (SO_REUSEPORT); the SYN queue is not measured",
                                 who(first_blur->cite), first_blur->value, lower_));
            } else if (blurred) {
                if (upper) *upper += blurred + int(cookie_q_.count() > cookie_q_.best().size());
                warn("syn-queue-boundary-blurred",
                     fmt::format("a syncookie ({}) was sent with fewer requests pending ({}) than were later admitted "
                                 "statefully ({}): lost SYN-ACKs blur the boundary, so the bound is widened",
                                 who(first_blur->cite), first_blur->value, lower_));
            }
        } else if (cookie_q0_) {
            v.syncookies = CookieMode::always;
            v.evidence.push_back(fmt::format("syncookie to {} at {} with no request pending, and no stateful "
                                             "request — tcp_syncookies=2 (or listen backlog 0 before Linux 6.13)",
                                             who(*cookie_q0_), at_time(cookie_q0_->t, t0)));
        } else {
            warn("syncookies-mode-unknown",
                 fmt::format("syncookies are on ({} at {}: {}), but no request was seen stateful and none was sent "
                             "a cookie with an empty queue: tcp_syncookies is 1 or 2", who(cookie_ex_),
                             at_time(cookie_ex_.t, t0), why_text(cookie_why_)));
        }
    } else if (off_drop) {
        v.syncookies = CookieMode::off;
        v.evidence.push_back(fmt::format("SYN of {} at {} dropped with {} request(s) pending and room in the accept "
                                         "queue — tcp_syncookies=0", who(off_drop->c), at_time(off_drop->c.t, t0),
                                         off_drop->q));
        upper = off_drop->q;
        upper_cite = off_drop->c;
    } else if (lost_drop) {
        warn("syn-drop-lost", "a SYN met silence with room in both queues (more requests were admitted later with as "
                              "many pending): it was lost, not dropped");
    }

    if (no_lower) return;
    if (upper && lower_ >= 1 && *upper == lower_) {
        v.syn_queue_capacity = lower_;
        v.evidence.push_back(fmt::format("SYN queue holds {} stateful request(s): {} was admitted with {} pending, "
                                         "and {} pending when {} met a full queue", lower_, who(lower_cite_),
                                         lower_ - 1, *upper, who(upper_cite)));
    } else {
        if (upper) v.syn_queue_capacity_at_most = *upper;
        if (lower_ >= 2 || (upper && lower_ >= 1)) v.syn_queue_capacity_at_least = lower_;
    }
}

}  // namespace lp
