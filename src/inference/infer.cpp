// Inference rules. Each rule states the evidence it needs; the kernel behaviour
// they rest on is in ../shared/KERNEL-FACTS.md and docs/inference.md.
#include "inference/infer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace lp {
namespace {

constexpr int64_t kNs = 1'000'000'000;
constexpr int64_t kInf = std::numeric_limits<int64_t>::max() / 4;
// When a listener's initial SYN-ACK timeout is not measured, wait as long as the
// slowest common stack (3 s: old Linux, old Windows) before calling a SYN-ACK unrepeated.
constexpr double kDefaultInitialRto = 3.0;
// A client that reset the handshake within this time of the SYN-ACK did not wait for
// the listener's answer to anything: its own kernel (or a scanner) reset it.
constexpr int64_t kClientResetWindow = kNs / 2;

double secs(int64_t ns) { return double(ns) / double(kNs); }
int64_t to_ns(double s) { return int64_t(std::llround(s * double(kNs))); }
std::string fmt_t(int64_t ns, int64_t t0) {
    const double s = secs(ns - t0);
    return s < 1.0 ? fmt::format("{:.6f}s", s) : fmt::format("{:.3f}s", s);
}

struct ListenerCtx {
    Endpoint ep;
    const Tracker::Retired* retired = nullptr;
    std::vector<Connection*> conns;
    int64_t rtt_ns = 0;
    bool rtt_known = false;
    std::optional<double> initial;  // fitted initial SYN-ACK timeout
    int64_t end_ns = 0;
    int64_t t0 = 0;
};

int64_t answer_window(const ListenerCtx& L) {
    return std::max<int64_t>(3 * L.rtt_ns, 20'000'000);
}

// Times of the SYN-ACKs the listener's timer sent, starting with the first SYN-ACK.
std::vector<int64_t> timer_times(const Connection& c) {
    std::vector<int64_t> t;
    for (size_t i = 0; i < c.synack_ns.size(); ++i)
        if ((i == 0 && !c.first_synack_missing) || (i < c.synack_timer.size() && c.synack_timer[i]))
            t.push_back(c.synack_ns[i]);
    return t;
}

// The last timer-driven SYN-ACK (or the first SYN-ACK) and how many there were,
// without building the list: this runs for every connection in the hot loops.
struct LastTimer {
    int64_t t = 0;
    size_t n = 0;
};
LastTimer last_timer(const Connection& c) {
    LastTimer r;
    for (size_t i = 0; i < c.synack_ns.size(); ++i)
        if ((i == 0 && !c.first_synack_missing) || (i < c.synack_timer.size() && c.synack_timer[i])) {
            r.t = c.synack_ns[i];
            ++r.n;
        }
    return r;
}

std::optional<int64_t> proof_ns(const Connection& c) {
    std::optional<int64_t> p;
    for (auto v : {c.server_ack_data_ns, c.server_payload_ns, c.server_fin_ns})
        if (v && (!p || *v < *p)) p = v;
    return p;
}

std::optional<int64_t> known_accepted_ns(const Connection& c) {
    std::optional<int64_t> p;
    for (auto v : {c.server_payload_ns, c.server_fin_ns})
        if (v && (!p || *v < *p)) p = v;
    return p;
}

// Marks SYN-ACK retransmissions as timer-driven unless they answer a client SYN
// that came just before.
void mark_timers(Connection& c, const ListenerCtx& L) {
    c.synack_timer.assign(c.synack_ns.size(), false);
    const int64_t w = answer_window(L);
    std::vector<int64_t> syns;
    for (const auto& e : c.events)
        if (e.kind == EventKind::syn || e.kind == EventKind::syn_retransmit) syns.push_back(e.t_ns);
    int n = 0;
    for (size_t i = 0; i < c.synack_ns.size(); ++i) {
        if (i == 0 && !c.first_synack_missing) continue;  // the answer to the SYN itself
        const int64_t t = c.synack_ns[i];
        bool answers_syn = false;
        for (auto s : syns)
            if (s <= t && t - s <= w && (i == 0 || s > c.synack_ns[i - 1])) answers_syn = true;
        c.synack_timer[i] = !answers_syn;
        if (!answers_syn) ++n;
    }
    c.timer_retransmits = n;
    size_t j = 0;
    for (auto& e : c.events)
        if ((e.kind == EventKind::synack || e.kind == EventKind::synack_retransmit) && e.dir == Dir::from_listener &&
            j < c.synack_timer.size())
            e.timer = c.synack_timer[j++];
}

// A bare RST (no ACK) answering the SYN-ACK comes from a stack that knows no such
// connection, typically the prober's own kernel; a deliberate abort carries ACK.
bool spoiled(const Connection& c) {
    if (!c.client_rst_ns || !c.client_rst_bare) return false;
    if (c.final_ack_ns && *c.final_ack_ns < *c.client_rst_ns) return false;
    if (c.synack_ns.empty()) return !c.refused_ns;  // the client gave up before any answer
    return *c.client_rst_ns - c.synack_ns.front() <= kClientResetWindow;
}

// Linux answers a SYN without timestamps with a syncookie that carries neither
// window scale nor SACK-permitted. When the same listener put them in a SYN-ACK to
// another SYN that offered them (so they are enabled), their absence proves a cookie.
bool options_stripped(const Connection& c) {
    if (!c.synack_options_seen || c.syn_options.has_ts || !c.first_syn_ns) return false;
    const bool offered = c.syn_options.wscale.has_value() || c.syn_options.sack_ok;
    return offered && !c.synack_options.wscale && !c.synack_options.sack_ok;
}
bool options_honoured(const Connection& c) {
    return c.synack_options_seen && c.first_syn_ns &&
           ((c.syn_options.wscale && c.synack_options.wscale) || (c.syn_options.sack_ok && c.synack_options.sack_ok));
}

}  // namespace

std::optional<int64_t> request_deadline(const Connection& c, double initial) {
    const LastTimer lt = last_timer(c);
    if (lt.n == 0) return std::nullopt;
    const double gap = nominal_gap(initial, size_t(c.timer_retransmits));
    return lt.t + to_ns(gap + overdue_margin(gap));
}

bool request_cut(const Connection& c, int64_t deadline) {
    auto before = [&](const std::optional<int64_t>& t) { return t && *t < deadline; };
    if (before(c.client_rst_ns) || before(c.server_rst_ns) || before(proof_ns(c))) return true;
    if (!before(c.final_ack_ns)) return false;
    // A final ACK the listener answered with further timer-driven SYN-ACKs was dropped on a
    // full accept queue: the request lives on with the same retry limit. A SYN-ACK in flight
    // when the ACK left may arrive up to one round trip later.
    const int64_t rtt = c.first_syn_ns && !c.synack_ns.empty() && !c.first_synack_missing
                            ? std::max<int64_t>(0, c.synack_ns.front() - *c.first_syn_ns)
                            : 0;
    for (size_t i = 0; i < c.synack_ns.size() && i < c.synack_timer.size(); ++i)
        if (c.synack_timer[i] && c.synack_ns[i] > *c.final_ack_ns + rtt + 10'000'000) return false;
    return true;
}

double nominal_gap(double initial, size_t k) {
    return std::min(initial * std::pow(2.0, double(k)), 120.0);
}

double overdue_margin(double nominal) { return 0.15 * nominal + 0.7; }

bool schedule_fits(const std::vector<double>& gaps, double initial) {
    if (gaps.empty()) return false;
    for (size_t k = 0; k < gaps.size(); ++k) {
        const double nom = nominal_gap(initial, k);
        if (gaps[k] < 0.85 * nom - 0.05 || gaps[k] > nom + overdue_margin(nom)) return false;
    }
    return true;
}

namespace {

// ---- per-connection fates -------------------------------------------------

void classify(Connection& c, const ListenerCtx& L, bool listener_open, bool retries_positive, bool options_on) {
    c.fate = Fate::unknown;
    c.fate_reason.clear();
    c.established_ns.reset();
    c.stateless = false;
    const double I = L.initial.value_or(kDefaultInitialRto);
    const int64_t slack = 3 * L.rtt_ns / 2 + 10'000'000;  // a segment in flight when another was sent

    if (c.synack_ns.empty() && c.refused_ns) {
        c.fate = Fate::refused;
        c.fate_reason = "RST answered the SYN";
        return;
    }
    if (spoiled(c)) {
        c.fate = Fate::reset_by_client;
        c.fate_reason = c.synack_ns.empty() ? "the client reset before any answer"
                                            : "the client reset the handshake right after the SYN-ACK";
        return;
    }
    if (c.synack_ns.empty()) {
        const bool waited = c.syn_count >= 2 || (c.first_syn_ns && L.end_ns - *c.first_syn_ns >= kNs);
        if (listener_open && waited) {
            c.fate = Fate::syn_dropped;
            c.fate_reason = fmt::format("{} SYN(s) met silence", c.syn_count);
        } else {
            c.fate_reason = waited ? "no answer at all from this port" : "the capture ends before an answer was due";
        }
        return;
    }
    const auto proof = proof_ns(c);
    const int64_t synack0 = c.synack_ns.front();
    const int64_t due0 = synack0 + to_ns(I + overdue_margin(I));

    const bool stripped = options_on && options_stripped(c) && c.timer_retransmits == 0;
    if (!c.final_ack_ns) {
        if (stripped) {
            c.fate = Fate::cookie;
            c.stateless = true;
            c.fate_reason = "SYN-ACK without window scale and SACK to a SYN without timestamps that offered them, "
                            "while this listener sends them otherwise: a syncookie";
        } else if (c.timer_retransmits > 0) {
            c.fate = Fate::half_open;
            c.fate_reason = fmt::format("never ACKed; SYN-ACK retransmitted {} time(s)", c.timer_retransmits);
        } else if (L.end_ns >= due0 && (!c.client_rst_ns || *c.client_rst_ns >= due0) && retries_positive) {
            c.fate = Fate::cookie;
            c.stateless = true;
            c.fate_reason = "SYN-ACK never retransmitted although other requests of this listener were: a syncookie";
        } else {
            c.fate = Fate::half_open;
            c.fate_reason = L.end_ns >= due0 ? "never ACKed, SYN-ACK not retransmitted (syncookie or tcp_synack_retries=0: not proven)"
                                             : "never ACKed";
        }
        return;
    }

    const int64_t ack = *c.final_ack_ns;
    // Abort on overflow: RST right after the final ACK, while the request was alive.
    if (c.server_rst_ns && *c.server_rst_ns >= ack && *c.server_rst_ns - ack <= 2 * L.rtt_ns + 50'000'000) {
        int64_t last_before = synack0;
        int n_before = 0;
        for (size_t i = 0; i < c.synack_ns.size(); ++i)
            if (c.synack_ns[i] <= ack && (i == 0 || c.synack_timer[i])) { last_before = c.synack_ns[i]; ++n_before; }
        const double next_gap = nominal_gap(I, size_t(std::max(0, n_before - 1)));
        if (ack - last_before <= to_ns(next_gap + overdue_margin(next_gap)) || c.first_synack_missing) {
            c.fate = Fate::reset_after_ack;
            c.fate_reason = fmt::format("RST {:.1f} ms after the final ACK", secs(*c.server_rst_ns - ack) * 1000);
            return;
        }
        c.fate_reason = "RST to a late final ACK (the request may have expired)";
        return;
    }
    // The listener kept retransmitting its SYN-ACK after the final ACK: it did not take it.
    for (size_t i = 0; i < c.synack_ns.size(); ++i) {
        if (c.synack_timer[i] && c.synack_ns[i] > ack + slack) {
            c.fate = Fate::ack_dropped;
            c.fate_reason = fmt::format("SYN-ACK retransmitted at {} after the final ACK at {}",
                                        fmt_t(c.synack_ns[i], L.t0), fmt_t(ack, L.t0));
            if (proof) c.established_ns = c.last_client_ack_before_proof_ns.value_or(*proof);
            return;
        }
    }
    if (stripped) c.stateless = true;
    if (proof) {
        c.fate = Fate::queued;
        c.established_ns = ack;
        c.fate_reason = fmt::format("the listener acknowledged the client's data at {}", fmt_t(*proof, L.t0));
        // No retransmission before a final ACK sent after two were due, yet established:
        // no request state existed, the SYN-ACK was a syncookie.
        bool rtx_before_ack = false;
        for (size_t i = 1; i < c.synack_ns.size(); ++i)
            if (c.synack_timer[i] && c.synack_ns[i] < ack) rtx_before_ack = true;
        // Two retransmissions must have been missed: one may be lost on the way.
        const int64_t due1 = synack0 + to_ns(3 * I + overdue_margin(2 * I));
        if (!rtx_before_ack && ack >= due1 && !c.first_synack_missing) {
            c.stateless = true;
            c.fate_reason += "; its late ACK found no request state: the SYN-ACK was a syncookie";
        }
        return;
    }
    // Silence after the final ACK proves the ACK was taken only for a stateful request
    // (a syncookie ACK dropped on a full queue is silent too).
    if (c.timer_retransmits > 0) {
        int64_t last = synack0;
        int n = 0;
        for (size_t i = 0; i < c.synack_ns.size(); ++i)
            if (c.synack_ns[i] <= ack && (i == 0 || c.synack_timer[i])) { last = c.synack_ns[i]; ++n; }
        const double gap = nominal_gap(I, size_t(std::max(0, n - 1)) + 1);
        if (L.end_ns >= last + to_ns(gap + overdue_margin(gap))) {
            c.fate = Fate::queued;
            c.established_ns = ack;
            c.fate_reason = "a retransmitting (stateful) request fell silent after the final ACK";
            return;
        }
    }
    c.fate_reason = "the final ACK met silence: taken, or a syncookie ACK dropped on a full queue (not proven)";
}

// ---- listener verdicts ----------------------------------------------------

struct FullEvent {
    int64_t t;
    const Connection* c;
    bool syn;  // a dropped SYN (else an overflowing final ACK)
};

// Whether the request of `c` may still be pending at the listener at time t.
bool pending_at(const Connection& c, int64_t t, double I) {
    if (c.synack_ns.empty() || c.stateless || c.fate == Fate::reset_by_client) return false;
    if (c.synack_ns.front() > t) return false;
    if (c.established_ns && *c.established_ns <= t) return false;
    if (c.client_rst_ns && *c.client_rst_ns <= t) return false;
    if (c.server_rst_ns && *c.server_rst_ns <= t) return false;
    // Expired: beyond the next nominal retransmission after the last one (with margin).
    const LastTimer lt = last_timer(c);
    const double gap = nominal_gap(I, lt.n);
    if (lt.n && t > lt.t + to_ns(gap + overdue_margin(gap)) && !c.final_ack_ns) return false;
    return true;
}

// The end of the interval in which pending_at() holds (kInf: still pending at the end).
int64_t pending_end(const Connection& c, double I) {
    int64_t end = kInf;
    for (auto v : {c.established_ns, c.client_rst_ns, c.server_rst_ns})
        if (v) end = std::min(end, *v);
    const LastTimer lt = last_timer(c);
    const double gap = nominal_gap(I, lt.n);
    if (lt.n && !c.final_ack_ns) end = std::min(end, lt.t + to_ns(gap + overdue_margin(gap)) + 1);
    return end;
}

// A connection is in the accept queue at t when established_ns < t <= queue_end: it entered,
// and neither the application took it (its data or FIN) nor the listener reset it.
int64_t queue_end(const Connection& c) {
    int64_t end = kInf;
    if (auto a = known_accepted_ns(c)) end = std::min(end, *a);
    if (c.server_rst_ns && c.established_ns && *c.server_rst_ns > *c.established_ns) end = std::min(end, *c.server_rst_ns);
    return end;
}

// Most intervals [begin, end) open at once: a sweep, O(n log n).
int max_overlap(std::vector<std::pair<int64_t, int64_t>> iv) {
    std::vector<std::pair<int64_t, int>> pts;
    pts.reserve(iv.size() * 2);
    for (auto [b, e] : iv)
        if (e > b) {
            pts.push_back({b, +1});
            pts.push_back({e, -1});
        }
    std::sort(pts.begin(), pts.end());  // at equal times the end (-1) sorts first
    int cur = 0, best = 0;
    for (auto [t, d] : pts) {
        cur += d;
        best = std::max(best, cur);
    }
    return best;
}

// How many intervals hold a moment t, in O(log n) per question: `lo_in` says whether an
// interval includes its begin ([b, e) pending requests) or not ((b, e] queued connections).
class IntervalCount {
public:
    IntervalCount(std::vector<std::pair<int64_t, int64_t>> iv, bool lo_in) : lo_in_(lo_in) {
        for (auto [b, e] : iv)
            if (e > b) {
                begins_.push_back(b);
                ends_.push_back(e);
            }
        std::sort(begins_.begin(), begins_.end());
        std::sort(ends_.begin(), ends_.end());
    }
    int at(int64_t t) const {
        // [b, e): b <= t < e.   (b, e]: b < t <= e.
        const auto started = lo_in_ ? std::upper_bound(begins_.begin(), begins_.end(), t) - begins_.begin()
                                    : std::lower_bound(begins_.begin(), begins_.end(), t) - begins_.begin();
        const auto over = lo_in_ ? std::upper_bound(ends_.begin(), ends_.end(), t) - ends_.begin()
                                 : std::lower_bound(ends_.begin(), ends_.end(), t) - ends_.begin();
        return int(started - over);
    }

private:
    bool lo_in_;
    std::vector<int64_t> begins_, ends_;
};

// Bounds on the per-event scans below, so a capture of a SYN flood stays linear.
constexpr size_t kMaxEventScans = 256;

void infer_listener(ListenerCtx& L, ListenerVerdict& v) {
    auto warn = [&](std::string code, std::string msg) { v.warnings.push_back({std::move(code), std::move(msg)}); };
    const int64_t t0 = L.t0;

    // RTT: the first SYN answered without retransmission.
    for (auto* c : L.conns) {
        if (c->first_syn_ns && !c->synack_ns.empty() && !c->first_synack_missing && c->syn_count == 1) {
            L.rtt_ns = std::max<int64_t>(0, c->synack_ns.front() - *c->first_syn_ns);
            L.rtt_known = true;
            v.rtt_s = secs(L.rtt_ns);
            break;
        }
    }
    if (!L.rtt_known && L.retired && L.retired->rtt_ns) {
        L.rtt_ns = *L.retired->rtt_ns;
        L.rtt_known = true;
        v.rtt_s = secs(L.rtt_ns);
    }
    for (auto* c : L.conns) mark_timers(*c, L);

    bool open = L.retired && L.retired->accepted_closed > 0, refused = L.retired && L.retired->refused > 0;
    for (auto* c : L.conns) {
        if (!c->synack_ns.empty()) open = true;
        if (c->refused_ns && c->synack_ns.empty()) refused = true;
    }
    v.port_state = open ? "open" : refused ? "closed" : "no-answer";
    if (open && refused)
        warn("port-state-changed", "the port both refused and answered SYNs during the capture");

    // Spoiled handshakes first: nothing below uses them.
    int spoiled_n = 0;
    for (auto* c : L.conns)
        if (spoiled(*c) && !c->synack_ns.empty()) ++spoiled_n;
    if (spoiled_n > 0)
        warn("prober-kernel-rst",
             fmt::format("{} handshake(s) were reset by the client right after the SYN-ACK (the prober's own "
                         "kernel, or a scanner); no queue or policy verdict is drawn from them",
                         spoiled_n));

    // SYN-ACK schedule: from the request with the most timer retransmissions (loss only
    // hides SYN-ACKs, so more is closer to the truth), preferring one left alone until it
    // was exhausted. Uses only wire facts: fates are not known yet.
    const Connection* best = nullptr;
    bool best_exhausted = false;
    {
        const double I0 = 1.0;  // only for ranking; the fitted value is used below
        for (auto* c : L.conns) {
            if (spoiled(*c) || c->first_synack_missing || c->timer_retransmits == 0) continue;
            const auto dl = request_deadline(*c, I0);
            const bool ex = dl && L.end_ns >= *dl && !request_cut(*c, *dl);
            if (!best || c->timer_retransmits > best->timer_retransmits ||
                (c->timer_retransmits == best->timer_retransmits && ex && !best_exhausted)) {
                best = c;
                best_exhausted = ex;
            }
        }
    }
    bool retries_positive = false;
    for (auto* c : L.conns)
        if (!spoiled(*c) && c->timer_retransmits > 0) {
            retries_positive = true;
            v.retries_at_least = std::max(v.retries_at_least, c->timer_retransmits);
        }
    if (best) {
        const auto tt = timer_times(*best);
        for (size_t i = 1; i < tt.size(); ++i) v.gaps_s.push_back(std::round(secs(tt[i] - tt[i - 1]) * 1000) / 1000);
        if (schedule_fits(v.gaps_s, 1.0)) L.initial = 1.0;
        else if (schedule_fits(v.gaps_s, 3.0)) L.initial = 3.0;
        else {
            L.initial = v.gaps_s.front();
            warn("schedule-irregular", "the SYN-ACK gaps do not follow a doubling schedule from 1 s or 3 s");
        }
        v.initial_rto_s = L.initial;
    }

    // Fates (need the initial timeout for "overdue").
    bool options_on = false;
    for (auto* c : L.conns)
        if (options_honoured(*c)) options_on = true;
    for (auto* c : L.conns) classify(*c, L, open, retries_positive, options_on);
    const double I = L.initial.value_or(kDefaultInitialRto);
    // Requests pending at a moment (pending_at), from interval counts: a SYN flood has many
    // moments to ask about.
    std::vector<std::pair<int64_t, int64_t>> p_iv;
    for (auto* c : L.conns)
        if (!c->synack_ns.empty() && !c->stateless && c->fate != Fate::reset_by_client)
            p_iv.push_back({c->synack_ns.front(), pending_end(*c, I)});
    const IntervalCount pending_count(std::move(p_iv), true);
    auto pending = [&](int64_t t) { return pending_count.at(t); };

    // Exact retry count. A request shows the limit when it was left alone until its next
    // retransmission was overdue ("exhausted") with too few requests pending for Linux to
    // prune retries. The kernel never sends more than the limit and loss only hides
    // SYN-ACKs, so the most retransmissions seen anywhere is a lower bound, exact when an
    // exhausted request shows it and nothing suggests that request lost its last SYN-ACK:
    // either a second exhausted request agrees, or no request of the listener shows loss
    // and none shows fewer.
    if (best) {
        const auto tt = timer_times(*best);
        const int n = v.retries_at_least;
        v.evidence.push_back(fmt::format("SYN-ACK schedule from {} (first SYN-ACK at {}): {} retransmission(s), gaps {}s",
                                         best->client.str(), fmt_t(tt.front(), t0), best->timer_retransmits,
                                         fmt::join(v.gaps_s, "s, ")));
        int holders = 0, fewer = 0;
        const Connection *holder = nullptr, *short_one = nullptr;
        const std::optional<int64_t> best_deadline = request_deadline(*best, I);
        bool loss_seen = false;
        std::string loss_why;
        for (auto* c : L.conns) {
            if (spoiled(*c) || c->synack_ns.empty()) continue;
            if (L.rtt_known && c->first_syn_ns && c->syn_count == 1 &&
                c->synack_ns.front() - *c->first_syn_ns > answer_window(L) + kNs / 2) {
                if (!loss_seen)
                    loss_why = fmt::format("the first SYN-ACK to {} came {:.3f}s after its SYN, the RTT is {:.3f} ms",
                                           c->client.str(), secs(c->synack_ns.front() - *c->first_syn_ns),
                                           secs(L.rtt_ns) * 1000);
                loss_seen = true;
                continue;  // its count misses the lost SYN-ACK
            }
            if (c->stateless) continue;
            if (c->first_synack_missing) {
                if (!loss_seen) loss_why = fmt::format("{} has SYN-ACK retransmissions without the first", c->client.str());
                loss_seen = true;
                continue;
            }
            if (c->timer_retransmits == 0) continue;
            const auto t2 = timer_times(*c);
            std::vector<double> g2;
            for (size_t i = 1; i < t2.size(); ++i) g2.push_back(secs(t2[i] - t2[i - 1]));
            if (!g2.empty() && !schedule_fits(g2, I)) {
                if (!loss_seen) loss_why = fmt::format("the SYN-ACK gaps of {} skip a step", c->client.str());
                loss_seen = true;
            }
            const auto dl = request_deadline(*c, I);
            if (!dl || L.end_ns < *dl || request_cut(*c, *dl)) continue;
            if (c->timer_retransmits == n) {
                ++holders;
                if (!holder || c == best) holder = c;
            } else {
                ++fewer;
                if (!short_one) short_one = c;
            }
        }
        const Connection* sched = holder ? holder : best;
        int max_pending = 0;
        for (auto t : timer_times(*sched)) max_pending = std::max(max_pending, pending(t));
        if (!holder && best_deadline && L.end_ns < *best_deadline) {
            warn("retries-capture-too-short",
                 fmt::format("the capture ends at {}, before the next SYN-ACK retransmission of {} would have been "
                             "overdue ({}): the retry count is a lower bound",
                             fmt_t(L.end_ns, t0), best->client.str(), fmt_t(*best_deadline, t0)));
        } else if (!holder) {
            warn("retries-request-ended",
                 fmt::format("no request with {} retransmission(s) was left alone until its next one was overdue "
                             "(an ACK, RST or data ended it{}): the retry count is a lower bound",
                             n, fewer ? fmt::format("; {} exhausted request(s) show fewer", fewer) : ""));
        } else if (max_pending >= 5) {
            warn("retries-pruning-possible",
                 fmt::format("{} requests were pending at once; Linux may lower the retries of old requests when "
                             "more than half the queue is pending: the count is a lower bound", max_pending));
        } else if (holders == 1 && fewer > 0) {
            warn("retries-disagree",
                 fmt::format("{} exhausted after {} retransmission(s) but {} after {} (a lost SYN-ACK or pruning); "
                             "no second request confirms the larger count: it is a lower bound",
                             holder->client.str(), n, short_one->client.str(), short_one->timer_retransmits));
        } else if (holders == 1 && loss_seen) {
            warn("retries-loss",
                 fmt::format("SYN-ACKs were lost in this capture ({}) and only {} shows {} retransmission(s): its "
                             "last one may be lost too, so the count is a lower bound",
                             loss_why, holder->client.str(), n));
        } else {
            v.retries = n;
            if (holder != best)
                v.evidence.push_back(fmt::format("{} was left alone until its next retransmission was overdue", holder->client.str()));
            if (holders > 1)
                v.evidence.push_back(fmt::format("{} exhausted requests agree on {} retransmission(s)", holders, n));
            if (fewer > 0)
                warn("retries-some-fewer",
                     fmt::format("{} exhausted request(s) showed fewer retransmissions (e.g. {}: {}), explained by a "
                                 "lost SYN-ACK or pruning; {} agree on {}",
                                 fewer, short_one->client.str(), short_one->timer_retransmits, holders, n));
        }
    }

    // ---- accept queue ----
    std::vector<FullEvent> events;
    // Connections in the accept queue at a moment (see queue_end), from interval counts.
    std::vector<std::pair<int64_t, int64_t>> q_iv;
    for (auto* c : L.conns)
        if (c->established_ns) q_iv.push_back({*c->established_ns, queue_end(*c)});
    const IntervalCount queued_count(std::move(q_iv), false);
    auto E = [&](int64_t t) { return queued_count.at(t); };
    int rst_n = 0, drop_n = 0;
    const Connection *rst_ex = nullptr, *drop_ex = nullptr;
    for (auto* c : L.conns) {
        if (c->fate == Fate::ack_dropped || c->fate == Fate::reset_after_ack) {
            events.push_back({*c->final_ack_ns, c, false});
            if (c->fate == Fate::reset_after_ack) { ++rst_n; if (!rst_ex) rst_ex = c; }
            else { ++drop_n; if (!drop_ex) drop_ex = c; }
        }
    }
    bool syn_drop_full = false;
    const Connection* syn_drop_ex = nullptr;
    int64_t syn_drop_t = 0;
    std::vector<Connection*> dropped;
    for (auto* c : L.conns)
        if (c->fate == Fate::syn_dropped && c->first_syn_ns) dropped.push_back(c);
    std::sort(dropped.begin(), dropped.end(),
              [](const Connection* a, const Connection* b) { return *a->first_syn_ns < *b->first_syn_ns; });
    if (dropped.size() > kMaxEventScans) dropped.resize(kMaxEventScans);
    for (auto* c : dropped) {
        const int64_t t = *c->first_syn_ns;
        const int p = pending(t), e = E(t);
        // With at most one request pending (and no more than are queued), a dropped SYN
        // means the accept queue was full: a SYN-queue drop would need qlen >= capacity.
        if (e >= 1 && p <= 1 && p <= e) {
            events.push_back({t, c, true});
            if (!syn_drop_full) { syn_drop_full = true; syn_drop_ex = c; syn_drop_t = t; }
        }
    }
    std::sort(events.begin(), events.end(), [](const FullEvent& a, const FullEvent& b) { return a.t < b.t; });
    if (events.size() > kMaxEventScans) events.resize(kMaxEventScans);

    bool app_accepts = false;
    std::string accepted_ex;
    for (auto* c : L.conns)
        if (known_accepted_ns(*c)) { app_accepts = true; if (accepted_ex.empty()) accepted_ex = c->client.str(); }
    const bool evicted = L.retired && L.retired->accepted_closed > 0;
    if (evicted) {
        app_accepts = true;
        if (accepted_ex.empty()) accepted_ex = L.retired->example;
    }

    if (!events.empty()) {
        const FullEvent& first = events.front();
        const int members = E(first.t);
        int unresolved = 0;
        for (auto* c : L.conns)
            if (c->final_ack_ns && *c->final_ack_ns < first.t && c->fate == Fate::unknown) ++unresolved;
        bool entered_later = false;
        for (auto* c : L.conns)
            if (c->established_ns && *c->established_ns > first.t) entered_later = true;
        const std::string why_full = first.syn
            ? fmt::format("the SYN of {} at {} was dropped", first.c->client.str(), fmt_t(first.t, t0))
            : fmt::format("the final ACK of {} at {} was {}", first.c->client.str(), fmt_t(first.t, t0),
                          first.c->fate == Fate::reset_after_ack ? "answered by RST" : "dropped");
        if (unresolved > 0) {
            warn("accept-queue-unresolved",
                 fmt::format("the queue was full when {}, but {} earlier handshake(s) have no proven outcome, so "
                             "the number queued is unknown", why_full, unresolved));
        } else if (members < 1) {
            warn("accept-queue-not-in-capture", fmt::format("the queue was full when {}, but the connections it "
                                                            "held are not in the capture", why_full));
        } else if (evicted) {
            warn("listener-accepts",
                 fmt::format("the application accepted connections during the capture ({} got data or FIN), so "
                             "the capacity is not proven; {} finished connections were not kept in memory, so no "
                             "upper bound is given either", accepted_ex, L.retired->accepted_closed));
        } else if (app_accepts || entered_later) {
            v.capacity_at_most = members;
            warn("listener-accepts",
                 fmt::format("the application accepted connections during the capture{}, so the {} connection(s) "
                             "queued when {} are an upper bound of the capacity",
                             accepted_ex.empty() ? "" : " (" + accepted_ex + " got data or FIN)", members,
                             why_full));
        } else {
            bool consistent = true;
            for (const auto& ev : events)
                if (E(ev.t) != members) consistent = false;
            if (!consistent) {
                warn("accept-queue-inconsistent", "the number of queued connections differs between the moments "
                                                  "the queue was seen full");
            } else {
                v.capacity = members;
                v.backlog = members - 1;
                v.evidence.push_back(fmt::format("accept queue full with {} connection(s) established when {}",
                                                 members, why_full));
            }
        }
    } else {
        std::vector<std::pair<int64_t, int64_t>> iv;
        for (auto* c : L.conns)
            if (c->established_ns) iv.push_back({*c->established_ns, queue_end(*c)});
        const int most = max_overlap(std::move(iv));
        if (most > 0) {
            v.capacity_at_least = most;
            if (!app_accepts)
                v.evidence.push_back(fmt::format("accept queue held at least {} connection(s); it never showed full",
                                                 most));
        }
    }
    if (syn_drop_full) {
        v.on_full_syn = "drop";
        v.evidence.push_back(fmt::format("SYN dropped while the accept queue was full: {} at {}",
                                         syn_drop_ex->client.str(), fmt_t(syn_drop_t, t0)));
    }
    if (rst_n && drop_n) {
        warn("on-full-ack-conflict", "some final ACKs were dropped and others answered by RST");
    } else if (rst_n) {
        v.on_full_ack = "rst";
        v.evidence.push_back(fmt::format("final ACK on a full queue answered by RST: {} ({}) — tcp_abort_on_overflow=1",
                                         rst_ex->client.str(), rst_ex->fate_reason));
    } else if (drop_n) {
        v.on_full_ack = "drop";
        v.evidence.push_back(fmt::format("final ACK on a full queue dropped: {} ({}) — tcp_abort_on_overflow=0",
                                         drop_ex->client.str(), drop_ex->fate_reason));
    }

    // ---- SYN queue and syncookies ----
    // A request's place in the listener's order is the client SYN it answered (a SYN
    // lost on the way and sent again is admitted later than its first SYN).
    auto answered_syn = [](const Connection& c) -> int64_t {
        int64_t t = c.first_syn_ns.value_or(c.synack_ns.empty() ? 0 : c.synack_ns.front());
        if (c.synack_ns.empty()) return t;
        for (const auto& e : c.events)
            if ((e.kind == EventKind::syn || e.kind == EventKind::syn_retransmit) && e.t_ns <= c.synack_ns.front())
                t = e.t_ns;
        return t;
    };
    auto stateful_pending = [&](int64_t t, bool& all_proven) {
        int n = 0;
        all_proven = true;
        for (auto* c : L.conns) {
            if (!pending_at(*c, t, I)) continue;
            if (answered_syn(*c) >= t) continue;
            ++n;
            if (c->timer_retransmits == 0) all_proven = false;
        }
        return n;
    };
    // No stateful request may have been admitted after the boundary, or the boundary
    // is blurred (a lost SYN-ACK makes a stateful request look admitted late).
    auto stateful_after = [&](int64_t t) {
        // Requests pending at t stay pending until the earliest of their ends.
        int64_t until = kInf;
        for (auto* c : L.conns)
            if (pending_at(*c, t, I) && answered_syn(*c) < t) until = std::min(until, pending_end(*c, I));
        for (auto* c : L.conns) {
            if (c->timer_retransmits == 0 || spoiled(*c)) continue;
            const int64_t u = answered_syn(*c);
            if (u > t && u < until) return true;
        }
        return false;
    };
    const Connection* first_cookie = nullptr;
    for (auto* c : L.conns)
        if (c->stateless && (!first_cookie || answered_syn(*c) < answered_syn(*first_cookie))) first_cookie = c;
    const Connection* first_sq_drop = nullptr;
    {
        std::vector<Connection*> drops;
        for (auto* c : dropped)
            if (E(*c->first_syn_ns) == 0) drops.push_back(c);
        int64_t first_admitted = kInf;  // the earliest request proven stateful
        if (!drops.empty())
            for (auto* s : L.conns)
                if (s->timer_retransmits > 0) first_admitted = std::min(first_admitted, answered_syn(*s));
        for (auto* c : drops) {
            const int64_t t = *c->first_syn_ns;
            const bool admitted_before = first_admitted < t;
            // A SYN met silence while later SYNs were still admitted: lost, not dropped.
            if (admitted_before && !stateful_after(t)) {
                first_sq_drop = c;
                break;
            }
        }
    }
    if (first_cookie && first_sq_drop) {
        warn("syncookies-conflict", "the listener both sent syncookies and dropped SYNs with room in its accept queue");
    } else if (first_cookie) {
        bool proven = true;
        const int64_t tc = answered_syn(*first_cookie);
        const int p = stateful_pending(tc, proven);
        if (p == 0 && proven) {
            v.syncookies = "always";
            v.evidence.push_back(fmt::format("syncookie sent to {} with no request pending — tcp_syncookies=2",
                                             first_cookie->client.str()));
            // In that mode every SYN-ACK is a cookie (a full accept queue drops the SYN
            // instead): each half-open request that never retransmitted is one.
            for (auto* c : L.conns) {
                if (c->fate != Fate::half_open || c->timer_retransmits > 0 || c->synack_ns.empty()) continue;
                c->fate = Fate::cookie;
                c->stateless = true;
                c->fate_reason = "never retransmitted, and this listener sends syncookies always";
            }
        } else if (retries_positive) {
            v.syncookies = "on-overflow";
            if (stateful_after(tc)) {
                warn("syn-queue-boundary-blurred", "a stateful request was admitted after the first syncookie "
                                                   "(lost SYNs or SYN-ACKs): SYN-queue capacity not proven");
            } else if (proven) {
                v.syn_queue_capacity = p;
                v.evidence.push_back(fmt::format("{} stateful request(s) pending, then a syncookie to {} — "
                                                 "tcp_syncookies=1", p, first_cookie->client.str()));
            } else {
                warn("syn-queue-unresolved", "some requests pending before the first syncookie are not proven "
                                             "stateful: SYN-queue capacity unknown");
            }
        }
    } else if (first_sq_drop) {
        bool proven = true;
        const int p = stateful_pending(*first_sq_drop->first_syn_ns, proven);
        v.syncookies = "off";
        v.evidence.push_back(fmt::format("SYN of {} dropped with {} stateful request(s) pending and room in the "
                                         "accept queue — tcp_syncookies=0", first_sq_drop->client.str(), p));
        if (proven && p > 0) v.syn_queue_capacity = p;
    } else {
        std::vector<std::pair<int64_t, int64_t>> iv;
        for (auto* c : L.conns)
            if (c->timer_retransmits > 0 && !c->synack_ns.empty() && !spoiled(*c))
                iv.push_back({c->synack_ns.front(), pending_end(*c, I)});
        const int most = max_overlap(std::move(iv));
        if (most > 1) v.syn_queue_capacity_at_least = most;
    }
}

}  // namespace

Analysis analyze(Tracker& tracker, const SourceInfo& source, const InferOptions& opt) {
    Analysis a;
    a.source = source;
    a.t0_ns = tracker.first_ns().value_or(0);
    int64_t end = tracker.last_ns().value_or(0);
    if (opt.end_ns) end = std::max(end, *opt.end_ns);
    if (source.end_ns) end = std::max(end, *source.end_ns);
    // Without a TCP packet there is no time 0 to count from, so no duration either
    // (a probe whose SYNs never left, a pcapng holding only statistics).
    if (tracker.first_ns()) a.end_ns = end;

    // Listeners in order of first appearance.
    std::map<Endpoint, size_t> index;
    std::vector<ListenerCtx> ctxs;
    for (const auto& ep : tracker.listeners()) {
        if (opt.listener && ep != *opt.listener) continue;
        index.emplace(ep, ctxs.size());
        ctxs.push_back({});
        ctxs.back().ep = ep;
        ctxs.back().retired = tracker.retired(ep);
    }
    for (Connection* c : tracker.connections_mut()) {
        if (!c) continue;  // retired
        auto it = index.find(c->server);
        if (it == index.end()) continue;
        if (!c->first_syn_ns && c->synack_ns.empty() && !opt.listener) continue;
        ctxs[it->second].conns.push_back(c);
    }
    std::erase_if(ctxs, [](const ListenerCtx& L) { return L.conns.empty() && !L.retired; });
    for (auto& L : ctxs) {
        L.end_ns = end;
        L.t0 = a.t0_ns;
        ListenerVerdict v;
        v.listener = L.ep;
        infer_listener(L, v);
        for (auto* c : L.conns) v.connections.push_back(c);
        if (L.retired) {
            v.retired_accepted = L.retired->accepted_closed;
            v.retired_refused = L.retired->refused;
        }
        a.listeners.push_back(std::move(v));
    }
    return a;
}

}  // namespace lp
