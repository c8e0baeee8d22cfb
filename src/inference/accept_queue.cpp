#include "inference/accept_queue.hpp"

#include <fmt/format.h>

#include "inference/evidence.hpp"

namespace lp {

void AcceptQueue::entry(EntryClass k, int64_t lo, int64_t hi, const Cite& c, bool after_own_overflow) {
    if (after_own_overflow && !after_overflow_) after_overflow_ = c;
    // The moment it entered, the queue had room for it: lo is the earliest that can be.
    all_.room(lo, c);
    all_.entry(hi);
    if (k == EntryClass::strong) {
        strong_.room(lo, c);
        strong_.entry(hi);
        if (lo > last_lo_strong_) {
            last_lo_strong_ = lo;
            last_strong_ = c;
        }
    } else if (lo > last_lo_room_) {
        last_lo_room_ = lo;
        last_room_ = c;
    }
}

void AcceptQueue::full_ack(int a_max, const Cite& c, AckPolicy how) {
    ack_full_.add(a_max, c);
    if (how == AckPolicy::rst) {
        if (!rst_n_++) rst_ex_ = c;
    } else if (how == AckPolicy::drop) {
        if (!drop_n_++) drop_ex_ = c;
    }
}

void AcceptQueue::syn_drop(int a_max, int q_max, const Cite& c, bool after_room) {
    if (after_room) {
        if (q_max <= 0 && !split_) split_ = c;
        if (q_max > 0 && !split_cookie_) split_cookie_ = c;
    }
    if (q_max <= 0)
        drop_q0_.add(a_max, c);
    else if (q_max == 1)
        drop_q1_.add(a_max, c);
    else
        drop_qn_.add(a_max, c);
}

namespace {

struct FullMoment {
    int value = 0;
    Cite cite;
    std::string why;  // "the SYN of X at T was dropped"
};

std::string syn_why(const Cite& c, int64_t t0) {
    return c.t2 ? fmt::format("the SYNs of {} at {} and {} were dropped", who(c), at_time(c.t, t0), at_time(c.t2, t0))
                : fmt::format("the SYN of {} at {} was dropped", who(c), at_time(c.t, t0));
}

}  // namespace

void AcceptQueue::finish(const Context& cx, ListenerVerdict& v) const {
    auto warn = [&](std::string code, std::string msg) { v.warnings.push_back({std::move(code), std::move(msg)}); };
    auto assume = [&](std::string a) {
        for (const auto& x : v.assumptions)
            if (x == a) return;
        v.assumptions.push_back(std::move(a));
    };
    const int64_t t0 = cx.t0;

    // ---- what a full queue does ----
    if (rst_n_ && drop_n_) {
        warn("on-full-ack-conflict", fmt::format("some final ACKs on a full queue were dropped ({}) and others "
                                                 "answered by RST ({})", who(drop_ex_), who(rst_ex_)));
    } else if (rst_n_) {
        v.on_full_ack = AckPolicy::rst;
        v.evidence.push_back(fmt::format("final ACK on a full queue answered by RST at once: {} at {} — "
                                         "tcp_abort_on_overflow=1", who(rst_ex_), at_time(rst_ex_.t, t0)));
    } else if (drop_n_) {
        v.on_full_ack = AckPolicy::drop;
        v.evidence.push_back(fmt::format("final ACK on a full queue dropped: {} (final ACK at {}, SYN-ACK "
                                         "retransmitted at {}) — tcp_abort_on_overflow=0",
                                         who(drop_ex_), at_time(drop_ex_.t, t0), at_time(drop_ex_.t2, t0)));
    }

    // ---- full moments: upper bounds ----
    // A SYN dropped with no request pending, or with syncookies on, met a full accept queue.
    // With one request pending and cookies maybe off, a full SYN queue would need a
    // capacity of at most 2, so the bound is max(A_MAX, 2).
    std::optional<FullMoment> best;
    std::optional<Cite> unseen;  // full while none of the connections it held is in the capture
    int64_t first_full = INT64_MAX;
    std::optional<Cite> syn_policy;
    auto consider = [&](int value, const Cite& c, std::string why) {
        first_full = std::min(first_full, c.t);
        if (!best || value < best->value) best = FullMoment{value, c, std::move(why)};
    };
    for (const auto& e : ack_full_.best()) {
        if (e.value <= 0) {
            if (!unseen) unseen = e.cite;
            continue;
        }
        consider(e.value, e.cite,
                 fmt::format("the final ACK of {} at {} met it full", who(e.cite), at_time(e.cite.t, t0)));
    }
    if (!ack_full_.empty()) first_full = std::min(first_full, ack_full_.first_t());
    auto syn_drops = [&](const Keeper& k, int floor_value, bool policy_min_a) {
        for (const auto& e : k.best()) {
            if (e.value <= 0) {
                if (!unseen) unseen = e.cite;
                if (!syn_policy) syn_policy = e.cite;
                continue;
            }
            if (e.value >= policy_min_a && !syn_policy) syn_policy = e.cite;
            consider(std::max(e.value, floor_value), e.cite, syn_why(e.cite, t0));
        }
        if (!k.empty()) first_full = std::min(first_full, k.first_t());
    };
    if (cx.port_open) syn_drops(drop_q0_, 1, 1);
    if (cx.cookies_on && cx.port_open) {
        // With syncookies on, a full SYN queue sends cookies: only a full accept queue drops.
        syn_drops(drop_q1_, 1, 1);
        syn_drops(drop_qn_, 1, 1);
    } else if (cx.port_open) {
        // One request pending: a full SYN queue would need capacity <= 2, so the bound is
        // max(A_MAX, 2), and with A_MAX >= 2 the accept queue was full either way.
        for (const auto& e : drop_q1_.best()) {
            if (e.value <= 0) continue;  // a SYN-queue drop, or connections not in the capture
            if (e.value >= 2 && !syn_policy) syn_policy = e.cite;
            consider(std::max(e.value, 2), e.cite, syn_why(e.cite, t0));
        }
        if (!drop_q1_.empty()) first_full = std::min(first_full, drop_q1_.first_t());
    }

    if (best) v.full_at_most = best->value;
    if (syn_policy) {
        v.on_full_syn = SynPolicy::drop;
        v.evidence.push_back(fmt::format("SYN dropped while the accept queue was full: {} at {}", who(*syn_policy),
                                         at_time(syn_policy->t, t0)));
    }

    // ---- several accept queues (an SO_REUSEPORT group): each SYN hashed to one ----
    const std::optional<Cite> split = split_ ? split_ : cx.cookies_on ? split_cookie_ : std::nullopt;
    if (split && !old_kernel_) {
        v.several_queues = true;
        warn("reuseport-group",
             fmt::format("{} at {} met a full accept queue although the SYN of another client was answered (room) "
                         "shortly before and no handshake completed in between: one queue cannot do that, so several "
                         "listening sockets share the port (SO_REUSEPORT, e.g. nginx `reuseport` with several "
                         "workers) and each SYN is hashed to one of them (or the capture misses a completed "
                         "handshake); the counts the capture shows are sums over sockets, so no accept-queue or "
                         "SYN-queue capacity is given",
                         who(*split), at_time(split->t2 ? split->t2 : split->t, t0)));
        return;
    }

    // ---- the application takes connections: only upper bounds hold ----
    std::optional<Cite> took = accepts_;
    std::string took_why;
    if (took) {
        took_why = fmt::format("{} got data or FIN from the listener at {}", who(*took), at_time(took->t, t0));
    } else if (cx.untracked_accepts) {
        took_why = fmt::format("the listener sent data or FIN on {} connection(s) whose handshake is not in the "
                               "capture", cx.untracked_accepts);
    } else if (after_overflow_) {
        took = after_overflow_;
        took_why = fmt::format("{} entered the queue after its final ACK had found it full", who(*took));
    } else if (first_full != INT64_MAX && last_lo_strong_ > first_full) {
        took = last_strong_;
        took_why = fmt::format("{} entered the queue at {}, after it was full at {}", who(*took),
                               at_time(last_lo_strong_, t0), at_time(first_full, t0));
    } else if (first_full != INT64_MAX && !old_kernel_ && last_lo_room_ > first_full) {
        took = last_room_;
        took_why = fmt::format("{} entered the queue at {}, after it was full at {}", who(*took),
                               at_time(last_lo_room_, t0), at_time(first_full, t0));
    }
    const bool accepting = took.has_value() || cx.untracked_accepts > 0;
    // Room after a full moment without a word from the application: it accepted silently, or
    // the later connection went to another socket of the port.
    if (took && !accepts_ && !cx.untracked_accepts)
        took_why += " (the application took one silently, or the port has several listening sockets: SO_REUSEPORT)";

    // ---- lower bound: room moments, while nothing leaves ----
    const LowerCount& low = old_kernel_ ? strong_ : all_;
    const int L = accepting ? 0 : low.value();

    if (unseen) {
        warn("accept-queue-not-in-capture",
             fmt::format("the queue was full at {} ({}), but none of the connections it held is in the capture: they "
                         "were queued before the capture began (or come from elsewhere), so no capacity is given",
                         at_time(unseen->t, t0), who(*unseen)));
        if (L >= 2) v.capacity_at_least = L;
        return;
    }
    if (old_kernel_)
        warn("syn-answered-when-full",
             fmt::format("{}'s SYN was answered although the queue was full by its final ACK and nothing else "
                         "completed in between: an older kernel (before 4.10, which answered SYNs while fewer than "
                         "two young requests were pending) or a changed backlog; answered SYNs prove no room here",
                         who(*old_kernel_)));

    const bool has_u = best.has_value();
    const int u = has_u ? best->value : 0;
    if (has_u && L >= 1 && L > u) {
        warn("accept-queue-inconsistent",
             fmt::format("the queue had room for connection number {} ({} at {}) but was full with at most {} when {}: "
                         "lost packets or a capture that misses connections; no capacity is given",
                         L, who(low.cite()), at_time(low.cite().t, t0), u, best->why));
        return;
    }
    auto room_words = [&]() {
        const Cite& c = low.cite();
        return fmt::format("it had room for connection number {} when {} was admitted at {}", L, who(c),
                           at_time(low.room_t(), t0));
    };
    if (has_u && L == u) {
        v.capacity = L;
        v.backlog = L - 1;
        v.evidence.push_back(fmt::format("accept queue full with at most {} connection(s) in it when {}; {}", L,
                                         best->why, room_words()));
        assume("the capture holds every connection to this listener (a full queue is counted from the capture)");
        assume("the application accepted no connection silently (it never sent data or FIN on one)");
        if (!old_kernel_) assume("Linux 4.10 or later: a SYN is answered only while the accept queue has room");
        return;
    }
    if (has_u) {
        v.capacity_at_most = u;
        v.evidence.push_back(fmt::format("accept queue full with at most {} connection(s) in it when {}", u, best->why));
        assume("the capture holds every connection to this listener (a full queue is counted from the capture)");
    }
    if (L >= 2 && low.uses_conditional())
        assume("the capture holds every connection to this listener (a full queue is counted from the capture)");
    if (L >= 2) {
        v.capacity_at_least = L;
        v.evidence.push_back(fmt::format("accept queue held at least {} connection(s): {}", L, room_words()));
        assume("the application accepted no connection silently (it never sent data or FIN on one)");
        if (!old_kernel_) assume("Linux 4.10 or later: a SYN is answered only while the accept queue has room");
    }
    if (accepting && (has_u || low.entries() > 0))
        warn("listener-accepts",
             fmt::format("the application accepts connections ({}), so the capacity is only bounded from above{}",
                         took_why, has_u ? fmt::format(": at most {}", u) : std::string(" (the queue was never seen full)")));
}

}  // namespace lp
