#include "inference/decide.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "inference/evidence.hpp"
#include "inference/model.hpp"
#include "inference/schedule.hpp"

namespace lp {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;
// A client that reset the handshake within this time of the SYN-ACK did not wait for
// the listener's answer to anything: its own kernel (or a scanner) reset it.
constexpr int64_t kClientResetWindow = kSec / 2;
// A lone SYN that met this much silence, with the client never sending it again, was
// dropped (or lost: a single SYN proves less than two).
constexpr int64_t kLoneSynWait = 3 * kSec / 2;
// How long a connection that entered the queue is kept after its story is decided, to see
// the application take it (its data or FIN): that tells the model it left the queue.
constexpr int64_t kWatchAccept = 2 * kSec;
// A final ACK with more completions than this between its SYN and it is not asked about as
// a conditional entry: it could only count for a queue longer than that.
constexpr uint32_t kMaxCompletions = 64;

int64_t ns(double s) { return int64_t(std::llround(s * 1e9)); }

// A bare RST (no ACK) answering the SYN-ACK comes from a stack that knows no such
// connection, typically the prober's own kernel; a deliberate abort carries ACK.
bool is_spoiled(const Flow& f) {
    if (!Flow::seen(f.client_rst) || !f.has(flowbit::client_rst_bare)) return false;
    if (Flow::seen(f.final_ack) && f.final_ack < f.client_rst) return false;
    if (!f.answered()) return !f.has(flowbit::refused);
    return int64_t(f.client_rst) - int64_t(f.synack) <= kClientResetWindow / 1000;
}

// Linux answers a SYN without timestamps with a syncookie that carries neither window
// scale nor SACK-permitted.
bool options_stripped(const Flow& f) {
    if (!f.has(flowbit::synack_opts) || f.has(flowbit::syn_ts) || !f.has(flowbit::began_syn)) return false;
    const bool offered = f.has(flowbit::syn_wscale) || f.has(flowbit::syn_sack);
    return offered && !f.has(flowbit::synack_wscale) && !f.has(flowbit::synack_sack);
}

struct Ctx {
    const Flow& f;
    const ListenerFacts& lf;
    FlowState& st;
    ListenerModel& m;
    const Knowledge& k;
    int64_t now;
    bool final;
    double I;
    int64_t rtt;
    int64_t next = kNever;
    int64_t u = kNever;
    int64_t release = kNever;

    void want(int64_t t) { next = std::min(next, t); }
    void hold(int64_t t) { u = std::min(u, t); }
    bool is(uint16_t b) const { return (st.done & b) != 0; }
    void set(uint16_t b) { st.done |= b; }
    Cite cite(int64_t t, int64_t t2 = 0) const { return Cite{f.client, t, t2}; }
    int64_t window() const { return std::max<int64_t>(3 * rtt, 20 * kMs); }
    // The client SYN the request answers (its place in the listener's order).
    int64_t s_req() const {
        if (Flow::seen(f.answered_syn)) return f.at(f.answered_syn);
        return std::max(f.t0_ns, f.at(f.synack) - rtt);
    }
    // Where Q_MAX counts the request from: its first SYN. When the first SYN-ACK was lost
    // and the client sent its SYN again, the request existed since the first one, though
    // the SYN-ACK the capture holds answers the later one.
    int64_t q_from() const { return f.has(flowbit::began_syn) ? std::min(f.t0_ns, s_req()) : s_req(); }
    // The capture time by which `n` timer retransmissions should have come after the
    // first SYN-ACK (each gap may run late by its margin).
    int64_t due(int n) const {
        int64_t t = f.at(f.synack);
        for (int i = 0; i < n; ++i) {
            const double g = nominal_gap(I, size_t(i));
            t += ns(g + overdue_margin(g));
        }
        return t;
    }
    // Q_MIN counts a stateful request from `from` until the earliest its next timer
    // retransmission can come: it is surely pending that long, and the end is known now (a
    // later time), so nothing waits for the watermark. A further retransmission extends it.
    void qmin_open(int64_t from) {
        const int64_t end = std::max(from, rtx_earliest(f, I).value_or(from) - rtt);
        m.qmin(from, +1);
        m.qmin(end, -1);
        st.qmin_until = end;
        st.qmin_rtx = f.timer_rtx;
        set(done::qmin);
    }
    void qmin_extend() {
        if (!is(done::qmin) || is(done::end) || f.timer_rtx == st.qmin_rtx) return;
        const int64_t r = f.at(f.rtx_last);
        const int64_t end = std::max(r, rtx_earliest(f, I).value_or(r) - rtt);
        const int64_t from = r <= st.qmin_until ? st.qmin_until : r;  // contiguous, or after a gap
        if (end > from) {
            m.qmin(from, +1);
            m.qmin(end, -1);
            st.qmin_until = end;
        }
        st.qmin_rtx = f.timer_rtx;
    }
    // The request ended at t: Q_MIN stops counting it there if it counted it longer.
    void qmin_cut(int64_t t) {
        if (!is(done::qmin) || t >= st.qmin_until) return;
        m.qmin(t, -1);
        m.qmin(st.qmin_until, +1);
        st.qmin_until = t;
    }
    void qend(int64_t t_max, int64_t t_min) {
        if (is(done::qmax)) m.qmax(t_max, -1);
        qmin_cut(std::max(t_min, s_req()));
        set(done::end);
    }
    void amax_out(int64_t t) {
        if (is(done::amax) && !is(done::leave)) {
            m.amax(t, -1);
            set(done::leave);
        }
    }
};

// Two SYNs of a flow never answered, each after another flow's SYN found room with no
// completion since (the tracker's syn2_after_room): a moment its queue was full while
// another had room, asked about once the silence is long enough (they may come late, when
// the probe looks for a second queue: Prober::check_split).
void split_part(Ctx& c) {
    const Flow& f = c.f;
    if (c.is(done::split) || !f.has(flowbit::syn2_after_room) || f.answered() || f.has(flowbit::refused) ||
        c.st.spoiled)
        return;
    const int64_t tl = f.at(f.last_syn);
    if (c.now >= tl + c.window() || c.final) {
        c.m.syn_drop(c.cite(tl), true);
        c.set(done::split);
    } else {
        c.want(tl + c.window());
        c.hold(tl);
    }
}

void syn_drop_part(Ctx& c) {
    const Flow& f = c.f;
    split_part(c);
    if (c.is(done::syn_drop)) return;
    if (!f.has(flowbit::began_syn) || f.has(flowbit::midstream)) {
        c.set(done::syn_drop);
        return;
    }
    const int64_t t1 = f.t0_ns;
    if (f.answered()) {
        // SYNs before the one the SYN-ACK answered met silence; two of them make a moment
        // (one may have been lost).
        if (Flow::seen(f.answered_syn) && f.answered_syn > 0 && Flow::seen(f.syn2) && f.syn2 < f.answered_syn)
            c.m.syn_drop(c.cite(t1, f.at(f.syn2)));
        c.set(done::syn_drop);
        return;
    }
    if (f.has(flowbit::refused) || c.st.spoiled) {
        c.set(done::syn_drop);
        return;
    }
    if (f.syn_count >= 2) {
        const int64_t t2 = f.at(f.syn2);
        if (c.now >= t2 + c.window() || c.final) {
            c.m.syn_drop(c.cite(t1, t2));
            c.set(done::syn_drop | done::syn_silent);
        } else {
            c.want(t2 + c.window());
        }
    } else if (c.now >= t1 + kLoneSynWait) {
        c.m.syn_drop(c.cite(t1));
        c.set(done::syn_drop | done::syn_silent);
    } else if (c.final) {
        c.set(done::syn_drop);
    } else {
        c.want(t1 + kLoneSynWait);
    }
    if (!c.is(done::syn_drop)) c.hold(t1);
}

void start_unknown(Ctx& c) {
    c.m.qmax(c.q_from(), +1);
    c.set(done::qmax | done::start);
}

void start_part(Ctx& c) {
    const Flow& f = c.f;
    const int64_t s = c.s_req();
    if (c.is(done::start)) {
        // Proven stateful after its start was counted (its final ACK was dropped on a full
        // queue, say): surely pending from now on.
        if (c.st.req == Req::unknown && f.timer_rtx > 0 && !c.st.spoiled && !c.is(done::end)) {
            c.qmin_open(c.now);
            c.st.req = Req::stateful;
            c.m.stateful(c.cite(s));
        }
        return;
    }
    if (c.st.spoiled) {
        start_unknown(c);
        return;
    }
    if (f.timer_rtx > 0) {
        c.m.qmax(c.q_from(), +1);
        c.qmin_open(s);
        c.set(done::qmax | done::start);
        c.st.req = Req::stateful;
        c.st.req_slot = c.m.begin_request(c.cite(s));  // also its admission moment
        return;
    }
    CookieWhy why = CookieWhy::none;
    // Two due retransmissions missed, not one: a single SYN-ACK lost on the way must not
    // make a stateful request a cookie (its count would then be missing from Q_MAX).
    const int64_t due = c.due(2);
    auto before = [&](Off o) { return Flow::seen(o) && f.at(o) < due; };
    const bool ended = before(f.final_ack) || before(f.client_rst) || before(f.server_rst);
    bool held = false;
    if (options_stripped(f) && c.k.options_honoured) {
        why = CookieWhy::stripped;
    } else if (c.k.cookies_always) {
        why = CookieWhy::always;
    } else if (!ended && c.now >= due && !f.has(flowbit::synack_missing)) {
        if (c.k.retransmits)
            why = CookieWhy::unrepeated;
        else
            held = true;  // a cookie if the listener retransmits other requests: not shown yet
    } else if (!ended && options_stripped(f) && !c.k.options_honoured) {
        held = true;  // a cookie if the listener grants the options to others: not shown yet
    }
    if (why != CookieWhy::none) {
        c.st.req = Req::cookie;
        c.st.why = why;
        c.m.cookie(c.cite(s), why, true);
        c.set(done::start | done::cookie_at_s);
        c.st.done &= uint16_t(~done::held);
        return;
    }
    if (ended || c.final || (held && c.st.no_hold)) {
        start_unknown(c);
        c.st.done &= uint16_t(~done::held);
        return;
    }
    if (held) {
        c.set(done::held);
    } else {
        c.want(due);
    }
    c.hold(c.q_from());
}

// A bare final ACK (no payload, no FIN) answered by a SYN-ACK retransmission that the
// client ACKed again. It is deferred, not dropped on a full queue, when that cannot be a
// full queue: its SYN found room and no other handshake completed before the ACK (Linux
// 4.10 or later answers a SYN only while the accept queue has room, and only completions
// fill it), or the listener is known to hold bare ACKs back (entry_part decides). TCP_DEFER_ACCEPT drops a bare ACK while its request
// has had fewer timeouts than the defer period, resends the SYN-ACK at the period's end,
// and takes the ACK that answers it (inet_csk_reqsk_queue / syn_ack_recalc, tcp_check_req).
bool defer_shaped(const Flow& f, int n_before) {
    if (n_before != 0 || f.has(flowbit::ack_data) || f.has(flowbit::synack_missing) || f.data_sends >= 2 ||
        Flow::seen(f.server_rst) || !Flow::seen(f.rtx_last))
        return false;
    return Flow::seen(f.last_client) && f.last_client > f.rtx_last;  // ACKed again
}

void entry_part(Ctx& c) {
    const Flow& f = c.f;
    if (!Flow::seen(f.final_ack)) return;
    const int64_t fa = f.at(f.final_ack);
    FlowState& st = c.st;
    if (c.is(done::entry)) {
        // Taken after all: the listener shows a connection whose ACK met a full queue or
        // whose outcome was open.
        if ((st.entry == Entry::unresolved || st.entry == Entry::overflow_drop) && !c.is(done::late_proof) &&
            Flow::seen(f.proof())) {
            const int64_t hi = f.at(f.last_client);
            c.m.entry(EntryClass::strong, fa, hi, c.cite(fa), st.entry == Entry::overflow_drop);
            if (st.entry == Entry::overflow_drop && !c.is(done::end)) c.qend(hi, hi);
            c.set(done::late_proof);
        }
        return;
    }
    if (!c.is(done::start)) {
        start_unknown(c);
        st.done &= uint16_t(~done::held);
    }
    // Ask, while the watermark cannot have passed its SYN, how full the queue may have been
    // then: if the ACK's outcome stays open, it entered if the capacity exceeds that plus
    // the handshakes completed in between.
    // (With many completions in between the bound is too large to matter: not asked.)
    const bool few = f.cand_at_syn <= kMaxCompletions;
    if (st.cond_slot == ListenerModel::kNoSlot && Flow::seen(f.answered_syn) && f.cand_at_syn != 0xFFFFFFFFu &&
        (few || (c.k.stateful_seen && c.k.retransmits)) && !f.has(flowbit::no_entry_between) &&
        !Flow::seen(f.proof()) && f.rtx_after_ack == 0)
        st.cond_slot = c.m.ask_conditional(c.cite(f.at(f.answered_syn)),
                                           few ? f.cand_at_syn : ListenerModel::kManyCompletions);
    const int n_before = f.timer_rtx - f.rtx_after_ack;
    const int64_t last_before =
        n_before > 0 ? f.rtx_at(size_t(n_before - 1)).value_or(f.at(f.synack)) : (f.answered() ? f.at(f.synack) : fa);
    const double next_gap = nominal_gap(c.I, size_t(std::max(0, n_before)));
    const bool alive = f.has(flowbit::synack_missing) || fa - last_before <= ns(next_gap + overdue_margin(next_gap));
    Entry e = Entry::pending;
    bool due_passed = false;  // its next due retransmission did not come
    if (Flow::seen(f.server_rst) && f.server_rst >= f.final_ack &&
        f.at(f.server_rst) - fa <= 2 * c.rtt + 50 * kMs) {
        if (!alive)
            e = Entry::late_rst;
        else if (f.has(flowbit::server_rst_bare))
            e = Entry::overflow_rst;
        else
            e = Entry::strong;  // RST+ACK: the connection existed and was reset by its owner
    } else if (f.rtx_after_ack > 0) {
        e = Entry::overflow_drop;
        if (f.rtx_after_ack == 1 && defer_shaped(f, n_before)) {
            // Held back on purpose, or dropped on a full queue and taken at the next try: a
            // second retransmission says full; none by its due time, or the listener showing
            // the connection first, says it was taken at the client's answer to the first.
            // Which of the two, only room at the ACK tells (or the listener known to defer).
            const bool room = (f.has(flowbit::no_entry_between) && !c.k.old_kernel) || c.k.defers;
            const double g = nominal_gap(c.I, f.timer_rtx);
            const int64_t next_due = f.at(f.rtx_last) + ns(g + overdue_margin(g));
            const bool taken = Flow::seen(f.proof()) && f.proof() > f.rtx_last;
            st.done &= uint16_t(~done::held);
            if ((taken || c.now >= next_due) && room) {
                e = Entry::deferred;
            } else if (c.final || (st.no_hold && (taken || c.now >= next_due))) {
                if (room) e = Entry::unresolved;  // the capture ends before its story does
            } else {
                // Wait for its next retransmission's due time, then for other flows to show
                // that the listener defers.
                if (taken || c.now >= next_due)
                    c.set(done::held);
                else
                    c.want(next_due);
                c.hold(fa);
                st.entry = Entry::pending;
                return;
            }
        }
    } else if (Flow::seen(f.proof())) {
        e = Entry::strong;
    } else {
        const int64_t dd = std::max(fa + 3 * c.rtt / 2 + 10 * kMs, last_before + ns(next_gap + overdue_margin(next_gap)));
        if (c.now < dd && !c.final) {
            c.want(dd);
            c.hold(fa);
            st.entry = Entry::pending;
            return;
        }
        due_passed = c.now >= dd;
        if (f.data_sends >= 2 && !Flow::seen(f.server_rst))
            e = Entry::silent_drop;  // a connection in the queue ACKs the data it receives
        else if (c.now >= dd && n_before == 1 && c.k.most_rtx >= 2 && !f.has(flowbit::synack_missing))
            e = Entry::silent;
        else if (f.has(flowbit::no_entry_between) && !c.k.old_kernel)
            e = Entry::room;
        else
            e = Entry::unresolved;
    }
    st.entry = e;
    c.set(done::entry);
    if (st.cond_slot != ListenerModel::kNoSlot) {
        // Silence past the next due retransmission, with no retransmission before the ACK, from
        // a listener that retransmits: entered, if the request was stateful.
        const bool stateful_rule = n_before == 0 && due_passed && c.k.retransmits && c.k.stateful_seen &&
                                   !c.k.cookies_always && !f.has(flowbit::synack_missing);
        c.m.settle_conditional(st.cond_slot, e == Entry::unresolved, fa, !c.k.old_kernel, stateful_rule);
        st.cond_slot = ListenerModel::kNoSlot;
    }
    switch (e) {
        case Entry::strong:
        case Entry::silent:
        case Entry::room: {
            const bool data = e == Entry::strong && Flow::seen(f.proof());
            const int64_t hi = data ? f.at(f.last_client) : fa;
            c.m.entry(e == Entry::room ? EntryClass::room : EntryClass::strong, fa, hi, c.cite(fa), false);
            c.m.amax(fa, +1);
            c.set(done::amax);
            if (!c.is(done::end)) c.qend(fa, fa);
            // A final ACK sent after two retransmissions were due, none came, and it was taken:
            // no request existed, the SYN-ACK was a syncookie.
            if (data && n_before == 0 && !f.has(flowbit::synack_missing) && fa >= c.due(2) && st.req != Req::stateful) {
                st.req = Req::cookie;
                st.why = CookieWhy::late_ack;
                c.m.cookie(c.cite(c.s_req()), CookieWhy::late_ack, false);
            }
            break;
        }
        case Entry::overflow_drop:
            if (f.has(flowbit::ack_after_room)) c.m.split(c.cite(fa));
            c.m.full_ack(c.cite(fa, Flow::seen(f.rtx_last) ? f.at(f.rtx_last) : fa), AckPolicy::drop);
            if (f.has(flowbit::no_entry_between)) c.m.old_kernel(c.cite(fa));
            c.m.amax(fa, +1);
            c.set(done::amax);
            break;
        case Entry::overflow_rst:
            if (f.has(flowbit::ack_after_room)) c.m.split(c.cite(fa));
            c.m.full_ack(c.cite(fa, f.at(f.server_rst)), AckPolicy::rst);
            if (f.has(flowbit::no_entry_between)) c.m.old_kernel(c.cite(fa));
            if (!c.is(done::end)) c.qend(f.at(f.server_rst), f.at(f.server_rst) - c.rtt);
            break;
        case Entry::late_rst:
            if (!c.is(done::end)) c.qend(f.at(f.server_rst), f.at(f.server_rst) - c.rtt);
            break;
        case Entry::silent_drop:
            // The ACK met a full accept queue (a cookie ACK is dropped there silently, whatever
            // tcp_abort_on_overflow says), so it shows the queue full but not the policy.
            c.m.full_ack(c.cite(fa, f.at(f.last_client)), AckPolicy::unknown);
            if (!c.is(done::end)) c.qend(fa, fa);
            break;
        case Entry::deferred: {
            // It entered when the client's ACK of the retransmission arrived.
            const int64_t lo = f.at(f.rtx_last), hi = std::max(lo, f.at(f.last_client));
            c.m.entry(EntryClass::strong, lo, hi, c.cite(hi), false);
            c.m.amax(lo, +1);
            c.set(done::amax);
            if (!c.is(done::end)) c.qend(hi, lo);
            c.m.deferred(c.cite(fa, lo));
            break;
        }
        case Entry::unresolved:
            c.m.amax(fa, +1);
            c.set(done::amax);
            if (!c.is(done::end)) c.qend(fa, fa);
            break;
        case Entry::none:
        case Entry::pending:
            break;
    }
}

// When the request leaves the SYN queue, for flows whose final ACK did not settle it.
void end_part(Ctx& c) {
    const Flow& f = c.f;
    if (!c.is(done::start) || c.is(done::end)) return;
    const bool open_ack = Flow::seen(f.final_ack);
    if (open_ack && c.st.entry != Entry::overflow_drop) return;  // entry_part settles it
    if (c.st.req == Req::cookie && !c.is(done::qmax)) {
        c.set(done::end);
        return;
    }
    Off cut = kNoTime;
    bool server_cut = false;
    // A timer retransmission well after the client's RST shows the RST never reached the
    // listener (lost on the way): the request went on, to its deadline or a later end.
    const bool rst_lost = Flow::seen(f.client_rst) && f.timer_rtx > 0 &&
                          f.at(f.rtx_last) > f.at(f.client_rst) + 3 * c.rtt / 2 + 10 * kMs;
    if (Flow::seen(f.client_rst) && !rst_lost) cut = f.client_rst;
    if (Flow::seen(f.server_rst) && f.server_rst < cut) {
        cut = f.server_rst;
        server_cut = true;
    }
    const auto dl = rtx_deadline(f, c.I);
    if (Flow::seen(cut) && (!dl || f.at(cut) < *dl)) {
        const int64_t t = f.at(cut);
        c.qend(t, server_cut ? t - c.rtt : t);
        if (c.st.entry == Entry::overflow_drop) c.amax_out(t);
        return;
    }
    if (dl && c.now >= *dl) {
        const int64_t earliest = rtx_earliest(f, c.I).value_or(*dl);
        c.qend(*dl, earliest - c.rtt);
        if (c.st.entry == Entry::overflow_drop) c.amax_out(*dl);
        return;
    }
    if (c.final) {
        c.set(done::end);  // still pending when the capture ends
        return;
    }
    if (dl) {
        c.want(*dl);
        c.hold(*dl);  // its end, in the future
    }
}

// The request's retransmissions, once nothing more can come.
void request_part(Ctx& c) {
    const Flow& f = c.f;
    if (c.is(done::request) || f.timer_rtx == 0 || c.st.spoiled) return;
    if (!c.is(done::end) && !c.final) return;
    const auto dl = rtx_deadline(f, c.I);
    // Retransmissions after an ACK that entered the queue cannot come; the request is over
    // once its end is known.
    Retries::Request r;
    r.cite = c.cite(f.at(f.synack));
    r.n = f.timer_rtx;
    r.gaps = timer_gaps(f);
    r.deadline = dl.value_or(c.now);
    // A deferred request ended because the connection was created, whatever its retries.
    r.exhausted = dl && c.now >= *dl && !request_cut(f, *dl) && c.st.entry != Entry::deferred;
    if (f.has(flowbit::synack_missing)) {
        r.loss = fmt::format("{} has SYN-ACK retransmissions without the first", f.client.str());
    } else if (c.lf.rtt_ns && f.syn_count == 1 && Flow::seen(f.answered_syn) &&
               f.at(f.synack) - f.at(f.answered_syn) > std::max<int64_t>(3 * *c.lf.rtt_ns, 20 * kMs) + kSec / 2) {
        r.loss = fmt::format("the first SYN-ACK to {} came {:.3f}s after its SYN, the RTT is {:.3f} ms",
                             f.client.str(), double(f.at(f.synack) - f.at(f.answered_syn)) / 1e9,
                             double(*c.lf.rtt_ns) / 1e6);
    } else if (c.k.initial && !r.gaps.empty() && !schedule_fits(r.gaps, *c.k.initial)) {
        r.loss = fmt::format("the SYN-ACK gaps of {} skip a step", f.client.str());
    }
    c.m.request(std::move(r), c.st.req_slot);
    c.st.req_slot = ListenerModel::kNoSlot;
    c.set(done::request);
}

void leave_part(Ctx& c) {
    const Flow& f = c.f;
    if (c.is(done::leave)) return;
    if (Flow::seen(f.app_proof)) {
        if (Flow::seen(f.final_ack) && !c.is(done::entry)) return;  // decided first
        const int64_t t = f.at(f.app_proof);
        c.m.accepts(c.cite(t));
        c.amax_out(t);
        c.set(done::leave);
        return;
    }
    if (Flow::seen(f.server_rst) && c.is(done::amax) && c.st.entry != Entry::overflow_rst &&
        c.st.entry != Entry::overflow_drop && f.server_rst > f.final_ack) {
        const int64_t t = f.at(f.server_rst);
        c.m.accepts(c.cite(t));  // taken and reset by its owner, or the listener closed
        c.amax_out(t);
    }
}

void finish_part(Ctx& c) {
    const Flow& f = c.f;
    if (c.is(done::finished)) return;
    bool over;
    int64_t last = f.t0_ns;
    if (!f.answered()) {
        if (!c.is(done::syn_drop)) return;
        const int64_t last_syn = Flow::seen(f.last_syn) ? f.at(f.last_syn) : f.t0_ns;
        // The client may send its SYN again: exponential backoff doubles the time so far.
        const int64_t again = std::min<int64_t>(last_syn - f.t0_ns + kSec + kSec / 2, 130 * kSec);
        over = c.final || f.has(flowbit::refused) || c.st.spoiled || Flow::seen(f.client_rst) ||
               c.now >= last_syn + again;
        if (!over) c.want(last_syn + again);
        last = last_syn;
    } else {
        over = c.is(done::start) && !c.is(done::held) && (c.is(done::end) || c.final) &&
               (!Flow::seen(f.final_ack) || c.is(done::entry)) &&
               (f.timer_rtx == 0 || c.st.spoiled || c.is(done::request));
        last = c.now;
    }
    if (!over) return;
    c.set(done::finished);
    const bool watch = Flow::seen(f.final_ack) && !Flow::seen(f.app_proof) && c.is(done::amax) && !c.is(done::leave);
    c.release = std::max(c.now, last) + (watch ? kWatchAccept : 0);
}

}  // namespace

void evaluate(const Flow& f, const ListenerFacts& lf, FlowState& st, ListenerModel& m, int64_t now, bool final) {
    const Knowledge& k = m.knowledge();
    Ctx c{f, lf, st, m, k, now, final, k.I(), f.rtt_ns().value_or(lf.rtt_ns.value_or(0))};
    if (f.has(flowbit::midstream)) {
        if (Flow::seen(f.app_proof) && !c.is(done::leave)) {
            m.accepts(c.cite(f.at(f.app_proof)));
            c.set(done::leave);
        }
        st.done |= done::finished | done::syn_drop | done::start | done::end | done::entry | done::request;
        st.deadline = now;
        st.u = kNever;
        return;
    }
    st.spoiled = is_spoiled(f);
    syn_drop_part(c);
    if (!f.answered()) {
        if (!c.is(done::room) && (f.has(flowbit::refused) || c.is(done::syn_drop))) {
            if (f.has(flowbit::refused)) m.refused();
            c.set(done::room);
        }
        if (f.has(flowbit::refused) || c.st.spoiled) st.done |= done::start | done::end | done::entry | done::request;
        finish_part(c);
    } else {
        if (!c.is(done::room)) {
            m.answered();
            if (Flow::seen(f.answered_syn)) m.syn_room(f.at(f.answered_syn), c.cite(f.at(f.answered_syn)));
            if (Flow::seen(f.answered_syn) && f.answered_syn > 0 && f.has(flowbit::began_syn))
                m.answered_late(c.cite(f.at(f.answered_syn)));
            // Signs that SYN-ACKs were lost on their way to the capture.
            if (f.has(flowbit::synack_missing)) {
                m.loss(fmt::format("{} has SYN-ACK retransmissions without the first", f.client.str()));
            } else if (lf.rtt_ns && f.syn_count == 1 && Flow::seen(f.answered_syn) &&
                       f.at(f.synack) - f.at(f.answered_syn) > std::max<int64_t>(3 * *lf.rtt_ns, 20 * kMs) + kSec / 2) {
                m.loss(fmt::format("the first SYN-ACK to {} came {:.3f}s after its SYN, the RTT is {:.3f} ms",
                                   f.client.str(), double(f.at(f.synack) - f.at(f.answered_syn)) / 1e9,
                                   double(*lf.rtt_ns) / 1e6));
            }
            c.set(done::room);
        }
        if (f.timer_rtx >= 1 && !k.initial && !f.has(flowbit::synack_missing)) m.gaps_seen(timer_gaps(f));
        if (st.spoiled && !c.is(done::start)) {
            m.spoiled();
        }
        start_part(c);
        c.qmin_extend();
        entry_part(c);
        end_part(c);
        request_part(c);
        leave_part(c);
        finish_part(c);
    }
    st.u = c.u;
    if (st.done & done::finished)
        st.deadline = c.release != kNever ? c.release : std::min(st.deadline, now);
    else
        st.deadline = c.next;
}

Fate fate_of(const Flow& f, const FlowState& st, bool port_open) {
    if (f.has(flowbit::midstream)) return Fate::unknown;
    if (!f.answered()) {
        if (f.has(flowbit::refused)) return Fate::refused;
        if (st.spoiled) return Fate::reset_by_client;
        return (st.done & done::syn_silent) && port_open ? Fate::syn_dropped : Fate::unknown;
    }
    if (st.spoiled) return Fate::reset_by_client;
    if (Flow::seen(f.final_ack)) {
        switch (st.entry) {
            case Entry::strong:
            case Entry::silent:
            case Entry::room:
            case Entry::deferred: return Fate::queued;
            case Entry::overflow_drop:
            case Entry::silent_drop: return Fate::ack_dropped;
            case Entry::overflow_rst: return Fate::reset_after_ack;
            default: return Fate::unknown;
        }
    }
    if (st.req == Req::cookie) return Fate::cookie;
    return Fate::half_open;
}

std::string fate_reason(const Flow& f, const FlowState& st, const Knowledge& k, bool port_open, int64_t t0) {
    const Fate fate = fate_of(f, st, port_open);
    auto T = [&](Off o) { return at_time(f.at(o), t0); };
    switch (fate) {
        case Fate::refused: return "RST answered the SYN";
        case Fate::probe_reset: return "reset by the probe on purpose";
        case Fate::reset_by_client:
            return f.answered() ? "the client reset the handshake right after the SYN-ACK"
                                : "the client reset before any answer";
        case Fate::syn_dropped: return fmt::format("{} SYN(s) met silence", f.syn_count);
        case Fate::half_open:
            if (f.timer_rtx > 0) return fmt::format("never ACKed; SYN-ACK retransmitted {} time(s)", int(f.timer_rtx));
            return "never ACKed, SYN-ACK not retransmitted (a syncookie, or tcp_synack_retries=0: not proven)";
        case Fate::cookie:
            switch (st.why) {
                case CookieWhy::stripped:
                    return "SYN-ACK without window scale and SACK to a SYN without timestamps that offered them, "
                           "while this listener grants them otherwise: a syncookie";
                case CookieWhy::always: return "never retransmitted, and this listener sends syncookies always";
                default: return "SYN-ACK never retransmitted although other requests of this listener were: a syncookie";
            }
        case Fate::queued: {
            std::string r;
            if (st.entry == Entry::deferred)
                r = fmt::format("its bare final ACK at {} was held back although the queue had room (the listener "
                                "defers accept: TCP_DEFER_ACCEPT) and the client's ACK of the SYN-ACK retransmitted at "
                                "{} created it",
                                T(f.final_ack), T(f.rtx_last));
            else if (st.entry == Entry::room)
                r = "its SYN was answered (the queue had room) and no other handshake completed before its final ACK";
            else if (st.entry == Entry::silent)
                r = "a retransmitting (stateful) request fell silent after the final ACK";
            else if (Flow::seen(f.est_proof) && f.est_proof <= f.app_proof)
                r = fmt::format("the listener acknowledged the client's data at {}", T(f.est_proof));
            else if (Flow::seen(f.app_proof))
                r = fmt::format("the listener sent data or FIN at {}", T(f.app_proof));
            else
                r = "the connection was reset by its owner right after the final ACK (it existed)";
            if (st.why == CookieWhy::late_ack) r += "; its late ACK found no request state: the SYN-ACK was a syncookie";
            return r;
        }
        case Fate::ack_dropped: {
            if (st.entry == Entry::silent_drop)
                return fmt::format("the final ACK at {} and the client's data, sent {} times, met silence: the listener "
                                   "holds no such connection (a syncookie ACK dropped on a full accept queue)",
                                   T(f.final_ack), int(f.data_sends));
            std::string r = fmt::format("SYN-ACK retransmitted at {} after the final ACK at {}",
                                        T(f.rtx_last), T(f.final_ack));
            if (Flow::seen(f.proof())) r += fmt::format("; taken later (the listener answered at {})", T(f.proof()));
            return r;
        }
        case Fate::reset_after_ack:
            return fmt::format("RST {:.1f} ms after the final ACK", double(f.at(f.server_rst) - f.at(f.final_ack)) / 1e6);
        case Fate::unknown:
            if (!f.answered()) {
                return port_open ? "the capture ends before the silence proves a drop" : "no answer at all from this port";
            }
            if (st.entry == Entry::late_rst) return "RST to a late final ACK (the request may have expired)";
            if (Flow::seen(f.final_ack)) {
                if (k.old_kernel && f.has(flowbit::no_entry_between))
                    return "the final ACK met silence; answered SYNs do not prove room on this listener";
                return "the final ACK met silence: taken, or a syncookie ACK dropped on a full queue (not proven)";
            }
            return "no handshake seen";
    }
    return "";
}

void mark_probe_resets(ListenerVerdict& v, const std::function<const char*(const Endpoint&)>& step_of, int64_t t0) {
    uint64_t bare = 0;  // the probe's own bare RSTs (behind a SYN proxy) taken for a kernel's
    for (ReportedConnection& c : v.connections) {
        if (c.fate != Fate::half_open && c.fate != Fate::reset_by_client) continue;
        const char* step = step_of(c.client);
        if (!step) continue;
        if (c.fate == Fate::reset_by_client) ++bare;
        std::optional<int64_t> synack, rst;
        int rtx = 0;
        for (const Event& e : c.events) {
            if (e.dir == Dir::from_listener && e.kind == EventKind::synack && !synack) synack = e.t_ns;
            if (e.dir == Dir::from_listener && e.kind == EventKind::synack_retransmit && e.timer) ++rtx;
            if (e.dir == Dir::to_listener && e.kind == EventKind::rst && !rst) rst = e.t_ns;
        }
        std::string why = fmt::format("reset by the probe on purpose ({} step)", step);
        if (rst) why += " at " + at_time(*rst, t0);
        if (rtx > 0)
            why += fmt::format(", after {} SYN-ACK retransmission(s) (they count for the SYN-ACK schedule)", rtx);
        else if (rst && synack && *rst >= *synack)
            why += fmt::format(", {:.1f} ms after its SYN-ACK, before any retransmission was due: its end shows "
                               "nothing about syncookies or retries", double(*rst - *synack) / 1e6);
        else
            why += ", before any SYN-ACK retransmission";
        --v.fate_counts[size_t(c.fate)];
        ++v.fate_counts[size_t(Fate::probe_reset)];
        c.fate = Fate::probe_reset;
        c.fate_reason = std::move(why);
    }
    if (bare && v.fate_counts[size_t(Fate::reset_by_client)] == 0)
        std::erase_if(v.warnings, [](const Warning& w) { return w.code == "prober-kernel-rst"; });
}

}  // namespace lp
