#include "tracker/tracker.hpp"

#include <algorithm>

namespace lp {

Tracker::Tracker(Options o) : opt_(std::move(o)) {}

namespace {
constexpr int64_t kMs = 1'000'000;

// The option layout and TTL of a request's first SYN-ACK: wire facts of the listener's stack.
void note_synack_shape(ListenerFacts& L, const Flow& f, const Segment& s) {
    if (s.window == 0) {
        if (!L.synack_win0++) {
            L.synack_win0_client = f.client;
            L.synack_win0_ns = s.t_ns;
        }
    } else {
        ++L.synack_win_open;
    }
    bool kept = false;
    for (size_t k = 0; k < L.n_layouts; ++k)
        if (L.layouts[k].layout == s.opt.layout) {
            ++L.layouts[k].count;
            kept = true;
            break;
        }
    if (!kept) {
        if (L.n_layouts < ListenerFacts::kLayouts)
            L.layouts[L.n_layouts++] = {s.opt.layout, 1, f.client, s.t_ns};
        else
            ++L.layouts_more;
    }
    if (s.ttl > L.synack_ttl_max) {
        L.synack_ttl_max = s.ttl;
        L.synack_ttl_client = f.client;
    }
}
}  // namespace

std::optional<uint32_t> Tracker::listener_index(const Endpoint& ep) const {
    auto it = listener_ids_.find(ep);
    if (it == listener_ids_.end()) return std::nullopt;
    return it->second;
}

uint32_t Tracker::listener_for(const Endpoint& server) {
    auto [it, fresh] = listener_ids_.try_emplace(server, uint32_t(listeners_.size()));
    if (fresh) {
        listeners_.push_back({});
        listeners_.back().ep = server;
    }
    return it->second;
}

uint32_t Tracker::find(const Endpoint& client, const Endpoint& server) const {
    bool client_first = false;
    const uint32_t i = table_.find(client, server, client_first, [&](uint32_t k, const Endpoint*& c, const Endpoint*& s) {
        c = &pool_[k].client;
        s = &listeners_[pool_[k].listener].ep;
    });
    return i != kNone && client_first ? i : kNone;
}

uint32_t Tracker::start(const Endpoint& client, const Endpoint& server, int64_t t_ns) {
    const uint32_t lid = listener_for(server);
    uint32_t i;
    if (!free_.empty()) {
        i = free_.back();
        free_.pop_back();
        pool_[i] = Flow{};
    } else {
        i = pool_.push();
    }
    Flow& f = pool_[i];
    f.t0_ns = t_ns;
    f.client = client;
    f.listener = lid;
    f.ordinal = listeners_[lid].flows++;
    ++live_;
    table_.insert(i, client, server);
    if (f.ordinal < opt_.events_for_first) events_[i].ev.reserve(8);
    return i;
}

void Tracker::release(uint32_t i) {
    Flow& f = pool_[i];
    table_.erase(i, f.client, listeners_[f.listener].ep);  // no-op when a new handshake took the tuple
    if (f.ordinal < opt_.events_for_first) events_.erase(i);
    free_.push_back(i);
    --live_;
}

const std::vector<Event>* Tracker::events(uint32_t i) const {
    auto it = events_.find(i);
    return it == events_.end() ? nullptr : &it->second.ev;
}

uint32_t Tracker::events_omitted(uint32_t i) const {
    auto it = events_.find(i);
    return it == events_.end() ? 0 : it->second.omitted;
}

std::vector<Event> Tracker::take_events(uint32_t i, uint32_t* omitted) {
    auto it = events_.find(i);
    if (it == events_.end()) {
        if (omitted) *omitted = 0;
        return {};
    }
    if (omitted) *omitted = it->second.omitted;
    std::vector<Event> ev = std::move(it->second.ev);
    events_.erase(it);
    return ev;
}

void Tracker::push(uint32_t i, const Flow& f, const Segment& s, Dir d, EventKind k, bool timer) {
    if (f.ordinal >= opt_.events_for_first) return;
    EventBuf& b = events_[i];
    const bool key = k != EventKind::data && k != EventKind::ack && k != EventKind::other;
    if (b.ev.size() >= kMaxEvents && !(key && b.ev.size() < kMaxKeyEvents)) {
        ++b.omitted;
        return;
    }
    Event e;
    e.t_ns = s.t_ns;
    e.dir = d;
    e.kind = k;
    e.seq = s.seq;
    e.ack = s.ack;
    e.flags = s.flags;
    e.payload = s.payload;
    e.timer = timer;
    b.ev.push_back(e);
}

// How long after a client SYN a SYN-ACK counts as its answer (Linux resends the
// SYN-ACK at once for a retransmitted SYN): three round trips, at least 20 ms.
int64_t Tracker::answer_window(const Flow& f) const {
    std::optional<int64_t> rtt = f.rtt_ns();
    if (!rtt) rtt = listeners_[f.listener].rtt_ns;
    return std::max<int64_t>(3 * rtt.value_or(0), 20 * kMs);
}

void Tracker::untracked_segment(const Segment& s) {
    ++untracked_;
    // A listener's port on a flow whose handshake is not (or no longer) tracked: its
    // payload or FIN still shows that the application accepts connections.
    if (listeners_.empty()) return;
    if (auto it = listener_ids_.find(s.src); it != listener_ids_.end()) {
        ListenerFacts& L = listeners_[it->second];
        ++L.midstream;
        if (s.payload > 0 || (s.flags & tcp::FIN)) {
            if (!L.untracked_app++) {
                L.untracked_app_ns = s.t_ns;
                L.untracked_app_client = s.dst;
            }
        }
    } else if (auto it2 = listener_ids_.find(s.dst); it2 != listener_ids_.end()) {
        ++listeners_[it2->second].midstream;
    }
}

Tracker::Result Tracker::add(const Segment& s) {
    Result r;
    if (!first_ns_) first_ns_ = s.t_ns;
    if (!last_ns_ || s.t_ns > *last_ns_) last_ns_ = s.t_ns;

    if (opt_.hint && !(s.dst == *opt_.hint || s.src == *opt_.hint)) {
        ++untracked_;
        return r;
    }
    bool from_client = true;
    uint32_t i = table_.find(s.src, s.dst, from_client, [&](uint32_t k, const Endpoint*& c, const Endpoint*& sv) {
        c = &pool_[k].client;
        sv = &listeners_[pool_[k].listener].ep;
    });

    // A new SYN (another ISN) on a tuple whose earlier handshake is over starts a new flow;
    // the earlier one is handed back (replaced) for the engine to finish.
    if (i != kNone && from_client && s.is_syn()) {
        const Flow& f = pool_[i];
        if (f.has(flowbit::client_isn) && s.seq != f.client_isn &&
            (Flow::seen(f.client_rst) || Flow::seen(f.server_rst) || f.has(flowbit::refused) ||
             f.has(flowbit::server_fin) || Flow::seen(f.final_ack) || !f.answered())) {
            table_.erase(i, f.client, listeners_[f.listener].ep);
            r.replaced = i;
            i = kNone;
        }
    }
    if (i == kNone) {
        if (s.is_syn() && (!opt_.hint || s.dst == *opt_.hint)) {
            i = start(s.src, s.dst, s.t_ns);
            pool_[i].bits |= flowbit::began_syn;
            from_client = true;
        } else if (s.is_synack() && (!opt_.hint || s.src == *opt_.hint)) {
            i = start(s.dst, s.src, s.t_ns);
            from_client = false;
        } else if (opt_.hint) {
            from_client = s.dst == *opt_.hint;
            i = from_client ? start(s.src, s.dst, s.t_ns) : start(s.dst, s.src, s.t_ns);
            pool_[i].bits |= flowbit::midstream;
        } else {
            untracked_segment(s);
            return r;
        }
        r.changes |= ch_new;
    }
    r.flow = i;
    if (from_client)
        on_client(i, pool_[i], s, r);
    else
        on_server(i, pool_[i], s, r);
    return r;
}

void Tracker::on_client(uint32_t i, Flow& f, const Segment& s, Result& r) {
    r.changes |= ch_client;
    const Off t = f.off(s.t_ns);
    ListenerFacts& L = listeners_[f.listener];
    // Room a while ago (more than a round trip or two either side, so that what the capture
    // shows in this order reached the listener in it) and no completion since.
    auto after_room = [&] {
        const int64_t m = 2 * L.rtt_ns.value_or(0) + kMs / 5;
        return L.room_ns != INT64_MIN && L.room_ordinal != f.ordinal && L.completions == L.room_completions &&
               s.t_ns - L.room_ns >= m && (L.completion_ns == INT64_MIN || L.room_ns - L.completion_ns >= m);
    };
    if (s.flags & tcp::RST) {
        if (!Flow::seen(f.client_rst)) {
            f.client_rst = t;
            if (!(s.flags & tcp::ACK)) f.bits |= flowbit::client_rst_bare;
        }
        r.changes |= ch_rst;
        push(i, f, s, Dir::to_listener, EventKind::rst);
        return;
    }
    if (!Flow::seen(f.proof())) f.last_client = t;
    if (s.is_syn()) {
        r.changes |= ch_syn;
        if (!f.has(flowbit::client_isn) || f.syn_count == 0) {
            f.client_isn = s.seq;
            f.bits |= flowbit::client_isn;
            if (s.opt.has_ts) f.bits |= flowbit::syn_ts;
            if (s.opt.wscale) f.bits |= flowbit::syn_wscale;
            if (s.opt.sack_ok) f.bits |= flowbit::syn_sack;
            f.syn_count = 1;
            f.last_syn = t;
            push(i, f, s, Dir::to_listener, EventKind::syn);
        } else {
            if (f.syn_count < 0xFFFF) ++f.syn_count;
            if (!f.answered() && !f.has(flowbit::synack_missing) && Flow::seen(f.last_syn)) {
                r.changes |= ch_syn_unanswered;
                r.prev_syn_ns = f.at(f.last_syn);
            }
            if (!Flow::seen(f.syn2)) f.syn2 = t;
            f.last_syn = t;
            push(i, f, s, Dir::to_listener, EventKind::syn_retransmit);
        }
        if (!f.answered()) {
            f.cand_at_syn = L.completions;
            // Two of its SYNs after room, each with no completion since: both met another queue
            // if the flow is never answered (one could be lost).
            if (after_room()) f.bits |= f.has(flowbit::syn_after_room) ? flowbit::syn2_after_room : flowbit::syn_after_room;
        }
        return;
    }
    if (s.flags & tcp::SYN) {  // SYN with ACK from the client side: simultaneous open; not ours
        f.bits |= flowbit::client_synack;
        push(i, f, s, Dir::to_listener, EventKind::other);
        return;
    }
    if (s.flags & tcp::ACK) {
        // The first ACK of the SYN-ACK is the final ACK of the handshake. When the capture
        // missed the SYN-ACK, the client's ACK still proves it existed and gives its ISN.
        if (!f.has(flowbit::server_isn) && f.has(flowbit::client_isn) && !f.has(flowbit::midstream)) {
            f.server_isn = s.ack - 1;
            f.bits |= flowbit::server_isn;
        }
        if (f.has(flowbit::server_isn) && !Flow::seen(f.final_ack) && s.ack == f.server_isn + 1) {
            f.final_ack = t;
            r.changes |= ch_final_ack;
            if (s.payload > 0 || (s.flags & tcp::FIN)) f.bits |= flowbit::ack_data;
            if (after_room()) f.bits |= flowbit::ack_after_room;
            if (!f.answered()) f.bits |= flowbit::synack_missing;
            if (Flow::seen(f.answered_syn)) {
                if (L.completions == f.cand_at_syn) f.bits |= flowbit::no_entry_between;
                f.cand_at_syn = L.completions - f.cand_at_syn;  // now: completions in between
            } else {
                f.cand_at_syn = 0xFFFFFFFFu;
            }
        }
        if (s.payload > 0 && s.seq_known && !Flow::seen(f.est_proof)) {
            if (f.data_sends == 0) {
                f.data_seq = s.seq;
                f.data_sends = 1;
            } else if (s.seq == f.data_seq && f.data_sends < 0xFF) {
                ++f.data_sends;
            }
        }
        // Any ACK of a flow the listener has not yet shown to exist may be the one that
        // puts it into the accept queue.
        if (f.has(flowbit::server_isn) && !Flow::seen(f.proof()) && !f.has(flowbit::midstream)) {
            ++L.completions;
            L.completion_ns = s.t_ns;
        }
        EventKind k = s.payload > 0 ? EventKind::data : EventKind::ack;
        if (s.flags & tcp::FIN) {
            k = EventKind::fin;
            f.bits |= flowbit::client_fin;
            r.changes |= ch_fin;
        }
        push(i, f, s, Dir::to_listener, k);
        return;
    }
    if (s.flags & tcp::FIN) {
        f.bits |= flowbit::client_fin;
        r.changes |= ch_fin;
        push(i, f, s, Dir::to_listener, EventKind::fin);
        return;
    }
    push(i, f, s, Dir::to_listener, EventKind::other);
}

void Tracker::on_server(uint32_t i, Flow& f, const Segment& s, Result& r) {
    const Off t = f.off(s.t_ns);
    ListenerFacts& L = listeners_[f.listener];
    if (s.flags & tcp::RST) {
        // A RST before any SYN-ACK or final ACK answers the SYN: the port is closed.
        if (!f.answered() && !Flow::seen(f.final_ack) && !f.has(flowbit::refused) && !f.has(flowbit::midstream)) {
            f.bits |= flowbit::refused;
        }
        if (!Flow::seen(f.server_rst)) {
            f.server_rst = t;
            if (!(s.flags & tcp::ACK)) f.bits |= flowbit::server_rst_bare;
        }
        r.changes |= ch_rst;
        push(i, f, s, Dir::from_listener, EventKind::rst);
        return;
    }
    if (s.is_synack()) {
        if (!f.has(flowbit::client_isn)) {  // the capture started after the SYN
            f.client_isn = s.ack - 1;
            f.bits |= flowbit::client_isn;
        }
        if (!f.has(flowbit::server_isn) || (!f.answered() && !Flow::seen(f.final_ack))) {
            f.server_isn = s.seq;
            f.bits |= flowbit::server_isn;
        }
        if (s.seq != f.server_isn) {
            if (f.synack_other < 0xFF) ++f.synack_other;
            push(i, f, s, Dir::from_listener, EventKind::other);
            return;
        }
        if (f.synack_count < 0xFF) ++f.synack_count;
        const bool first = !f.answered();
        if (first && !Flow::seen(f.final_ack)) {
            f.synack = t;
            f.synack_last = t;
            f.answered_syn = f.last_syn;
            // Less than half a round trip after the client's latest SYN it cannot answer that
            // SYN: it answers an earlier one. Within the answer window of the first SYN it is
            // that SYN's answer; later, it is a timer retransmission whose first SYN-ACK the
            // capture lacks (lost on the way), and its time says nothing of the schedule.
            if (f.syn_count >= 2 && L.rtt_ns && Flow::seen(f.last_syn) && t >= f.last_syn &&
                2 * int64_t(t - f.last_syn) * 1000 < *L.rtt_ns) {
                if (f.syn_count == 2 && int64_t(t) * 1000 <= answer_window(f))
                    f.answered_syn = 0;  // the first SYN began the flow
                else
                    f.bits |= flowbit::synack_missing;
            }
            if (s.opt.has_ts) f.bits |= flowbit::synack_ts;
            if (s.opt.wscale) f.bits |= flowbit::synack_wscale;
            if (s.opt.sack_ok) f.bits |= flowbit::synack_sack;
            f.bits |= flowbit::synack_opts;
            if (!L.rtt_ns)
                if (auto rtt = f.rtt_ns(); rtt && f.syn_count == 1) L.rtt_ns = rtt;
            if (!f.has(flowbit::synack_missing) && f.answered_syn == f.last_syn && f.at(f.last_syn) > L.room_ns) {
                L.room_ns = f.at(f.last_syn);
                L.room_completions = f.cand_at_syn;  // completions at its latest SYN
                L.room_ordinal = f.ordinal;
            }
            if ((f.has(flowbit::syn_wscale) && s.opt.wscale) || (f.has(flowbit::syn_sack) && s.opt.sack_ok))
                L.options_honoured = true;
            note_synack_shape(L, f, s);
            r.changes |= ch_synack;
            push(i, f, s, Dir::from_listener, EventKind::synack);
            return;
        }
        // A retransmission (or the first one the capture holds after the client's ACK). It
        // answers a client SYN that came shortly before it and after the previous SYN-ACK;
        // otherwise the listener's timer sent it.
        const Off prev = first ? kNoTime : f.synack_last;
        bool answers_syn = false;
        if (Flow::seen(f.last_syn) && f.last_syn <= t && (prev == kNoTime || f.last_syn > prev) &&
            int64_t(t - f.last_syn) * 1000 <= answer_window(f))
            answers_syn = true;
        if (first) {
            f.synack = t;
            f.answered_syn = f.last_syn;
        }
        f.synack_last = t;
        if (!answers_syn) {
            if (f.timer_rtx < 4) f.rtx[f.timer_rtx] = t;
            f.rtx_last = t;
            if (f.timer_rtx < 0xFF) ++f.timer_rtx;
            // A SYN-ACK in flight when the final ACK left may arrive up to a round trip later.
            if (Flow::seen(f.final_ack)) {
                const int64_t slack = 3 * f.rtt_ns().value_or(L.rtt_ns.value_or(0)) / 2 + 10 * kMs;
                if (int64_t(t) * 1000 > int64_t(f.final_ack) * 1000 + slack && f.rtx_after_ack < 0xFF)
                    ++f.rtx_after_ack;
            }
            L.retransmits = true;
            L.most_rtx = std::max(L.most_rtx, f.timer_rtx);
        }
        r.changes |= ch_rtx;
        push(i, f, s, Dir::from_listener, EventKind::synack_retransmit, !answers_syn);
        return;
    }
    if (s.flags & tcp::SYN) {
        push(i, f, s, Dir::from_listener, EventKind::other);
        return;
    }
    // Established-side segments: they prove the listener created the connection.
    if (s.window) L.later_win_open = true;
    const bool had_proof = Flow::seen(f.proof());
    if ((s.payload > 0 || (s.flags & tcp::FIN)) && !Flow::seen(f.app_proof)) {
        f.app_proof = t;
        r.changes |= ch_app;
    }
    if (s.flags & tcp::FIN) {
        f.bits |= flowbit::server_fin;
        r.changes |= ch_fin;
    }
    if ((s.flags & tcp::ACK) && f.has(flowbit::client_isn) && !Flow::seen(f.est_proof) &&
        int32_t(s.ack - (f.client_isn + 1)) > 0)
        f.est_proof = t;
    if (!had_proof && Flow::seen(f.proof())) r.changes |= ch_proof;
    EventKind k = s.payload > 0 ? EventKind::data : EventKind::ack;
    if (s.flags & tcp::FIN) k = EventKind::fin;
    push(i, f, s, Dir::from_listener, k);
}

}  // namespace lp
