#include "inference/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <string_view>

#include "inference/evidence.hpp"
#include "inference/schedule.hpp"
#include "inference/stack.hpp"

namespace lp {

void ListenerModel::refresh(const ListenerFacts& lf) {
    k_.rtt_ns = lf.rtt_ns;
    k_.most_rtx = std::max(k_.most_rtx, int(lf.most_rtx));
    if (lf.retransmits != k_.retransmits || lf.options_honoured != k_.options_honoured) {
        k_.retransmits = lf.retransmits;
        k_.options_honoured = lf.options_honoured;
        ++version_;
    }
}

uint32_t ListenerModel::new_query(QKind k, const Cite& c, uint8_t parts) {
    const uint32_t ref = take(queries_, free_queries_);
    Query& q = queries_[ref];
    q.kind = k;
    q.remaining = parts;
    q.cite = c;
    return ref;
}

void ListenerModel::full_ack(const Cite& c, AckPolicy how) {
    const QKind k = how == AckPolicy::rst ? QKind::full_ack_rst : how == AckPolicy::drop ? QKind::full_ack_drop
                                                                                          : QKind::full_ack_silent;
    ledger_.query(c.t, new_query(k, c, 1));
}

uint32_t ListenerModel::ask_conditional(const Cite& c, uint32_t completions) {
    const uint32_t idx = take(conds_, free_conds_);
    conds_[idx].completions = completions;
    const uint32_t ref = new_query(QKind::conditional, c, 1);
    queries_[ref].request = idx;
    ledger_.query(c.t, ref);
    return idx;
}

void ListenerModel::settle_conditional(uint32_t slot, bool unresolved, int64_t entered_by, bool room_rule,
                                       bool stateful_rule) {
    Conditional& cd = conds_[slot];
    cd.room_rule = room_rule;
    cd.stateful_rule = stateful_rule;
    if (cd.state == 1) {
        if (unresolved) accept_.conditional_entry(conditional_bound(cd), entered_by, Cite{});
        free_conds_.push_back(slot);
        return;
    }
    // Not answered yet: the answer settles it.
    cd.state = unresolved ? 2 : 3;
    cd.at = entered_by;
}

void ListenerModel::syn_drop(const Cite& c, bool after_room) {
    const uint32_t ref = new_query(QKind::syn_drop, c, c.t2 ? 2 : 1);
    queries_[ref].after_room = after_room;
    ledger_.query(c.t, ref);
    if (c.t2) ledger_.query(c.t2, ref);
}

void ListenerModel::cookie(const Cite& c, CookieWhy why, bool ask_moment) {
    if (!ask_moment) {
        syn_.note_cookie(c, why);
        return;
    }
    const uint32_t ref = new_query(QKind::cookie, c, 1);
    queries_[ref].why = why;
    ledger_.query(c.t, ref);
}

void ListenerModel::admission(const Cite& c) { ledger_.query(c.t, new_query(QKind::admission, c, 1)); }

uint32_t ListenerModel::begin_request(const Cite& c) {
    know_stateful();
    const uint32_t idx = take(starts_, free_starts_);
    const uint32_t ref = new_query(QKind::crowd_start, c, 1);
    queries_[ref].request = idx;
    ledger_.query(c.t, ref);
    return idx;
}

void ListenerModel::request(Retries::Request r, uint32_t slot) {
    Crowd cr;
    if (slot != kNoSlot) {
        Start& st = starts_[slot];
        if (st.state == 1) {
            cr.started = true;
            cr.at = st;
            free_starts_.push_back(slot);
        } else {
            st.state = -1;  // its start query, still unanswered, frees the slot
        }
    }
    if (!r.exhausted) {
        retries_.add(std::move(r));
        return;
    }
    const uint32_t idx = take(requests_, free_requests_);
    const int64_t from = r.cite.t, to = r.deadline;
    cr.r = std::move(r);
    requests_[idx] = std::move(cr);
    const uint32_t ref = new_query(QKind::crowd, requests_[idx].r.cite, 1);
    queries_[ref].request = idx;
    ledger_.crowd_query(from, to, ref);
}

void ListenerModel::old_kernel(const Cite& c) {
    accept_.old_kernel(c);
    if (!k_.old_kernel) {
        k_.old_kernel = true;
        ++version_;
    }
}

void ListenerModel::deferred(const Cite& c) {
    if (!deferred_first_ || c.t < deferred_first_->t) deferred_first_ = c;
    ++deferred_;
    if (!k_.defers) {
        k_.defers = true;
        ++version_;
    }
}

void ListenerModel::gaps_seen(const std::vector<double>& gaps) {
    if (k_.initial || gaps.empty()) return;
    if (auto i = fit_initial(gaps)) {
        k_.initial = i;
        ++version_;
    }
}

void ListenerModel::answer(uint32_t ref, const Ledger::Values& v) {
    Query& q = queries_[ref];
    q.a = std::max(q.a, v.a_max);
    q.q = std::max(q.q, v.q_max);
    if (q.remaining > 1) {
        --q.remaining;
        return;
    }
    switch (q.kind) {
        case QKind::full_ack_drop: accept_.full_ack(q.a, q.cite, AckPolicy::drop); break;
        case QKind::full_ack_rst: accept_.full_ack(q.a, q.cite, AckPolicy::rst); break;
        case QKind::full_ack_silent: accept_.full_ack(q.a, q.cite, AckPolicy::unknown); break;
        case QKind::syn_drop:
            accept_.syn_drop(q.a, q.q, q.cite, q.after_room);
            syn_.syn_drop(q.a, q.q, q.cite);
            break;
        case QKind::cookie: syn_.cookie(v.q_max, q.cite, q.why); break;
        case QKind::admission: syn_.admission(v.q_min, q.cite); break;
        case QKind::conditional: {
            Conditional& cd = conds_[q.request];
            const int64_t bound = int64_t(v.a_max) + int64_t(cd.completions);
            cd.v = cd.completions == kManyCompletions ? std::numeric_limits<int>::max()
                                                      : int(std::min<int64_t>(bound, std::numeric_limits<int>::max()));
            cd.vq = v.q_max + 1;
            if (cd.state == 0) {
                cd.state = 1;
            } else {
                if (cd.state == 2) accept_.conditional_entry(conditional_bound(cd), cd.at, q.cite);
                free_conds_.push_back(q.request);
            }
            break;
        }
        case QKind::crowd_start: {
            Start& st = starts_[q.request];
            syn_.admission(v.q_min, q.cite);
            if (st.state < 0) {  // its request was over before this answer
                free_starts_.push_back(q.request);
                break;
            }
            st.state = 1;
            st.q = v.q_max;
            st.starts = v.q_starts;
            break;
        }
        case QKind::crowd: {
            Crowd& p = requests_[q.request];
            // Linux prunes retries when qlen * 2 > max(8, backlog): with 5 or more pending. Two
            // upper bounds of the most pending over its life: the seconds it spans, and those
            // pending at its start plus every request that came after.
            int64_t peak = v.q_max_peak;
            if (p.started) peak = std::min<int64_t>(peak, p.at.q + int64_t(v.q_starts - p.at.starts));
            p.r.crowded = peak >= 5;
            retries_.add(std::move(p.r));
            free_requests_.push_back(q.request);
            break;
        }
        case QKind::free: break;
    }
    q.kind = QKind::free;
    free_queries_.push_back(ref);
}

void ListenerModel::sweep(int64_t watermark) {
    ledger_.sweep(watermark, [&](uint32_t ref, const Ledger::Values& v) { answer(ref, v); });
    const bool always = syn_.always();
    if (always != k_.cookies_always) {
        k_.cookies_always = always;
        ++version_;
    }
    if (!k_.initial && retries_.initial()) {
        k_.initial = retries_.initial();
        ++version_;
    }
}

ListenerVerdict ListenerModel::finish(const Finish& fx) {
    ListenerVerdict v;
    v.listener = ep_;
    const bool open = answered_ > 0;
    v.port_state = open ? PortState::open : refused_ > 0 ? PortState::closed : PortState::no_answer;
    if (open && refused_ > 0)
        v.warnings.push_back({"port-state-changed", "the port both refused and answered SYNs during the capture"});
    if (k_.rtt_ns) v.rtt_s = double(*k_.rtt_ns) / 1e9;
    if (spoiled_ > 0)
        v.warnings.push_back(
            {"prober-kernel-rst",
             fmt::format("{} handshake(s) were reset by the client right after the SYN-ACK (the prober's own kernel, "
                         "or a scanner); no queue or policy verdict is drawn from them", spoiled_)});

    retries_.finish({fx.t0, fx.end}, v);

    AcceptQueue::Context ac;
    ac.cookies_on = syn_.cookies_seen();
    ac.port_open = open;
    ac.t0 = fx.t0;
    ac.untracked_accepts = fx.untracked_accepts;
    accept_.finish(ac, v);

    SynQueue::Context sc;
    sc.t0 = fx.t0;
    sc.port_open = open;
    sc.accept_lower = v.capacity.value_or(v.capacity_at_least.value_or(0));
    sc.loss = retries_.loss();
    if (sc.loss.empty() && late_answer_)
        sc.loss = fmt::format("{} was answered only at a retransmitted SYN", who(*late_answer_));
    syn_.finish(sc, v);
    // No capacity (nor its lower bound) after all: drops them and the evidence lines that
    // begin with `said`.
    auto forget_capacity = [&v](std::string_view said) {
        v.capacity = v.capacity_at_least = v.backlog = std::nullopt;
        std::erase_if(v.evidence, [said](const std::string& e) { return e.starts_with(said); });
    };
    // With syncookies on overflow one socket's SYN queue is full at its backlog (+ 1 from
    // 6.13), so its accept queue holds S or S + 1: a queue seen full with fewer than S in
    // the whole port means the S stateful requests were spread over several sockets.
    if (!v.several_queues && v.syncookies == CookieMode::on_overflow && v.syn_queue_capacity && v.full_at_most &&
        *v.full_at_most < *v.syn_queue_capacity) {
        v.several_queues = true;
        forget_capacity("accept queue held at least");
        v.warnings.push_back(
            {"reuseport-group",
             fmt::format("the SYN queue held {} stateful requests before syncookies, but an accept queue was full "
                         "with at most {} connections in the whole port: one socket's SYN queue holds its backlog "
                         "(+1), no more than its accept queue, so several listening sockets share the port "
                         "(SO_REUSEPORT) and the SYN-queue count is their sum (or the capture misses connections); "
                         "no SYN-queue capacity is given",
                         *v.syn_queue_capacity, *v.full_at_most)});
    }
    // Several accept queues behind the port: every count above is a sum over sockets.
    if (v.several_queues) {
        v.syn_queue_capacity = v.syn_queue_capacity_at_least = v.syn_queue_capacity_at_most = std::nullopt;
        std::erase_if(v.evidence, [](const std::string& e) { return e.starts_with("SYN queue"); });
    }
    // Maybe several (a cookie before a stateful admission with no loss seen): the accept
    // queue's lower bound may be a sum too; the upper bound from a full moment still holds
    // for the queue that was full.
    if (v.queues_blurred && (v.capacity || v.capacity_at_least)) {
        if (v.capacity) v.capacity_at_most = std::min(v.capacity_at_most.value_or(*v.capacity), *v.capacity);
        forget_capacity("accept queue held at least");
        for (auto& w : v.warnings)
            if (w.code == "syn-queue-boundary-blurred")
                w.message += "; with several queues the accept queue's count is a sum too, so only its upper bound "
                             "is given";
    }

    // With syncookies on overflow, Linux calls the SYN queue full at the backlog in effect
    // (backlog + 1 from 6.13): the accept queue holds the SYN queue's capacity or one more.
    // More held than that means someone took connections without a word on the wire (a
    // proxy such as haproxy accepting everything, an application that reads nothing).
    if (v.syncookies == CookieMode::on_overflow && v.syn_queue_capacity) {
        const int s = *v.syn_queue_capacity;
        const int held = v.capacity.value_or(v.capacity_at_least.value_or(0));
        if (held > s + 1) {
            forget_capacity("accept queue");
            v.warnings.push_back(
                {"listener-accepts-silently",
                 fmt::format("the accept queue would hold at least {} connections, but the SYN queue's {} stateful "
                             "requests with syncookies on prove a backlog of {} or {}: the application (or a proxy "
                             "in front) accepts without sending anything, so the capacity is not measured",
                             held, s, s - 1, s)});
        }
    }

    if (deferred_ > 0)
        v.warnings.push_back(
            {"deferred-accept",
             fmt::format("{} bare final ACK(s) were held back although the queue had room, and taken when the client "
                         "ACKed the SYN-ACK retransmission (the first: {} at {}, retransmitted at {}): the listener "
                         "defers accept until data arrives (TCP_DEFER_ACCEPT, nginx `deferred`); these are not "
                         "overflows, and their retransmissions say nothing about tcp_synack_retries",
                         deferred_, deferred_first_->client.str(), at_time(deferred_first_->t, fx.t0),
                         at_time(deferred_first_->t2, fx.t0))});

    // Every SYN-ACK with window 0: a SYN proxy answered for the listener (a Linux listener
    // never advertises a closed window in its SYN-ACK, cookie or not). Its cookies, its
    // silence and what its ACKs meet are the proxy's; the listener's queues sit behind it.
    if (fx.facts && fx.facts->synack_win0 >= 2 && fx.facts->synack_win_open == 0 && fx.facts->later_win_open) {
        const auto& F = *fx.facts;
        v.capacity = v.capacity_at_least = v.capacity_at_most = v.backlog = std::nullopt;
        v.on_full_syn = SynPolicy::unknown;
        v.on_full_ack = AckPolicy::unknown;
        v.retries = std::nullopt;
        v.retries_at_least = 0;
        v.initial_rto_s = std::nullopt;
        v.gaps_s.clear();
        v.syncookies = CookieMode::unknown;
        v.syn_queue_capacity = v.syn_queue_capacity_at_least = v.syn_queue_capacity_at_most = std::nullopt;
        v.evidence.clear();
        v.assumptions.clear();
        v.evidence.push_back(fmt::format("all {} first SYN-ACK(s) had window 0 (the first to {} at {}): a SYN proxy",
                                         F.synack_win0, F.synack_win0_client ? F.synack_win0_client->str() : "?",
                                         at_time(F.synack_win0_ns, fx.t0)));
        v.warnings.push_back(
            {"synproxy",
             fmt::format("every SYN-ACK ({}) had window 0: a SYN proxy (nftables/iptables SYNPROXY) answers for the "
                         "listener with its own syncookies and opens the real handshake behind it; the listener's "
                         "queues, syncookies and retries are not seen from here",
                         F.synack_win0)});
    }

    // Which stack families fit the schedule, the overflow policy and the SYN-ACKs' shape.
    StackInput si;
    if (!v.gaps_s.empty()) {
        si.initial = fit_initial(v.gaps_s);
        si.gaps = fmt::format("{}s", fmt::join(v.gaps_s, "s, "));
    }
    si.retries = v.retries;
    si.retries_at_least = v.retries_at_least;
    si.on_full_ack = v.on_full_ack;
    if (fx.facts) {
        for (size_t k = 0; k < fx.facts->n_layouts; ++k) {
            const auto& l = fx.facts->layouts[k];
            si.layouts.push_back({layout_str(l.layout), l.count, fmt::format("{} at {}", who(Cite{l.client, l.t_ns, 0}),
                                                                            at_time(l.t_ns, fx.t0))});
        }
        si.layouts_more = fx.facts->layouts_more;
        si.ttl_max = fx.facts->synack_ttl_max;
        if (fx.facts->synack_ttl_client) si.ttl_first = fx.facts->synack_ttl_client->str();
    }
    infer_stack(si, v);

    std::sort(kept_.begin(), kept_.end(), [](const Kept& a, const Kept& b) { return a.flow.ordinal < b.flow.ordinal; });
    v.fate_counts = fates_;
    for (auto& k : kept_) {
        ReportedConnection rc;
        const Flow& f = k.flow;
        rc.ordinal = f.ordinal;
        rc.client = f.client;
        rc.server = ep_;
        rc.first_ns = f.t0_ns;
        if (f.has(flowbit::began_syn)) rc.first_syn_ns = f.t0_ns;
        rc.events = std::move(k.events);
        rc.events_omitted = k.omitted;
        rc.fate = fate_of(f, k.st, open);
        rc.fate_reason = fate_reason(f, k.st, k_, open, fx.t0);
        rc.cookie = k.st.req == Req::cookie;
        if (rc.fate == Fate::queued)
            rc.established_ns = k.st.entry == Entry::deferred ? f.at(f.rtx_last) : f.at(f.final_ack);
        if (rc.fate == Fate::ack_dropped && Flow::seen(f.proof())) rc.established_ns = f.at(f.last_client);
        ++v.fate_counts[size_t(rc.fate)];
        v.connections.push_back(std::move(rc));
    }
    kept_.clear();
    // Silent SYNs of flows no report shows: dropped if the listener answered others.
    v.fate_counts[size_t(open ? Fate::syn_dropped : Fate::unknown)] += silent_;
    for (auto n : v.fate_counts) v.connections_total += n;
    // SYNs that meet silence at a port that never answered prove no overflow (a filter, a host
    // that is down): episodes only for a listener seen answering.
    if (open) v.episodes = activity_.episodes(fx.end, v.syncookies == CookieMode::always);
    for (const auto& [sec, b] : activity_.bins()) v.activity.push_back(b);
    return v;
}

}  // namespace lp
