#include "inference/activity.hpp"

#include <algorithm>
#include <cstdint>

namespace lp {

void ActivityCounts::add(const ActivityCounts& o) {
    if (o.delayed) {
        delay_min_ns = delayed ? std::min(delay_min_ns, o.delay_min_ns) : o.delay_min_ns;
        delay_max_ns = delayed ? std::max(delay_max_ns, o.delay_max_ns) : o.delay_max_ns;
    }
    syn_answered += o.syn_answered;
    syn_silent += o.syn_silent;
    established += o.established;
    ack_dropped += o.ack_dropped;
    ack_reset += o.ack_reset;
    cookies += o.cookies;
    delayed += o.delayed;
    never_answered += o.never_answered;
    affected += o.affected;
}

ActivityBin& Activity::bin(int64_t t) {
    const int64_t s = t >= 0 ? t / 1'000'000'000 : -((-t + 999'999'999) / 1'000'000'000);
    auto [it, fresh] = bins_.try_emplace(s);
    if (fresh) it->second.second = s;
    return it->second;
}

namespace {
void note_client(std::vector<IpAddress>& v, bool& more, const IpAddress& a) {
    if (std::find(v.begin(), v.end(), a) != v.end()) return;
    if (v.size() < kEpisodeClients)
        v.push_back(a);
    else
        more = true;
}
void note_time(int64_t& first, int64_t& last, bool any, int64_t t) {
    first = any ? std::min(first, t) : t;
    last = any ? std::max(last, t) : t;
}
}  // namespace

void Activity::trouble(ActivityBin& b, int64_t t, const IpAddress& client) {
    note_time(b.first_trouble_ns, b.last_trouble_ns, b.n.trouble(false) > 0, t);
    note_client(b.clients, b.more_clients, client);
}

void Activity::syn_silent(int64_t t, const IpAddress& client) {
    ActivityBin& b = bin(t);
    trouble(b, t, client);
    ++b.n.syn_silent;
}

void Activity::flow(const Flow& f, const FlowState& st) {
    if (st.spoiled || f.has(flowbit::refused) || f.has(flowbit::midstream)) return;
    const bool began = f.has(flowbit::began_syn);
    const bool answered = f.answered() || f.has(flowbit::synack_missing);
    const bool late_answer = began && Flow::seen(f.answered_syn) && f.answered_syn > 0;
    const bool never = began && !answered && (st.done & done::syn_silent);
    std::optional<int64_t> first_trouble;
    auto first = [&](int64_t t) { first_trouble = first_trouble ? std::min(*first_trouble, t) : t; };

    if (answered) {
        const int64_t t = Flow::seen(f.answered_syn) ? f.at(f.answered_syn) : Flow::seen(f.synack) ? f.at(f.synack) : f.t0_ns;
        ++bin(t).n.syn_answered;
        if (late_answer) first(f.t0_ns);
    } else if (never) {
        // The earlier SYNs were counted when the next one came; the last one here.
        syn_silent(f.at(f.last_syn), f.client.addr);
        ++bin(f.t0_ns).n.never_answered;
        first(f.t0_ns);
    }
    if (st.req == Req::cookie && Flow::seen(f.synack)) {
        const int64_t t = f.at(f.synack);
        ActivityBin& b = bin(t);
        ++b.n.cookies;
        note_time(b.first_cookie_ns, b.last_cookie_ns, b.n.cookies > 1, t);
        note_client(b.cookie_clients, b.more_clients, f.client.addr);
        first(t);
    }
    const bool acked = Flow::seen(f.final_ack);
    bool through = false;
    int64_t delay = late_answer ? int64_t(f.answered_syn) * 1000 : 0;
    switch (st.entry) {
        case Entry::strong:
        case Entry::silent:
        case Entry::room:
            if (acked) ++bin(f.at(f.final_ack)).n.established;
            through = true;
            break;
        case Entry::deferred:  // held back on purpose (TCP_DEFER_ACCEPT): no trouble, no delay
            ++bin(f.at(f.rtx_last)).n.established;
            break;
        case Entry::overflow_drop:
        case Entry::silent_drop:
            if (acked) {
                const int64_t t = f.at(f.final_ack);
                ActivityBin& b = bin(t);
                trouble(b, t, f.client.addr);
                ++b.n.ack_dropped;
                first(t);
                // It got in later when the listener showed it exists: late by that much.
                if (Flow::seen(f.proof()) && Flow::seen(f.last_client) && f.last_client > f.final_ack) {
                    delay += int64_t(f.last_client - f.final_ack) * 1000;
                    through = true;
                }
            }
            break;
        case Entry::overflow_rst: {
            const int64_t t = Flow::seen(f.server_rst) ? f.at(f.server_rst) : acked ? f.at(f.final_ack) : f.t0_ns;
            ActivityBin& b = bin(t);
            trouble(b, t, f.client.addr);
            ++b.n.ack_reset;
            first(t);
            break;
        }
        default: break;
    }
    if (through && delay > 0) {
        ActivityBin& b = bin(f.t0_ns);
        b.n.delay_min_ns = b.n.delayed ? std::min(b.n.delay_min_ns, delay) : delay;
        b.n.delay_max_ns = b.n.delayed ? std::max(b.n.delay_max_ns, delay) : delay;
        ++b.n.delayed;
    }
    if (first_trouble) ++bin(*first_trouble).n.affected;
}

std::vector<Episode> Activity::episodes(int64_t end, bool cookies_always) const {
    std::vector<Episode> out;
    const bool cookies = !cookies_always;
    // Room between two signs: a SYN answered or a connection established in a bin between them
    // that has no trouble of its own.
    bool room_since = false;
    ActivityCounts closed;  // the last episode's counts up to its last sign
    for (const auto& [sec, b] : bins_) {
        const bool own = b.n.trouble(false) > 0;
        const bool ck = cookies && b.n.cookies > 0;
        if (!own && !ck) {
            if (b.n.syn_answered > 0 || b.n.established > 0) room_since = true;
            if (!out.empty()) out.back().n.add(b.n);  // its counts if the episode goes on; else taken back
            continue;
        }
        int64_t first = INT64_MAX, last = INT64_MIN;
        if (own) first = b.first_trouble_ns, last = b.last_trouble_ns;
        if (ck) first = std::min(first, b.first_cookie_ns), last = std::max(last, b.last_cookie_ns);
        const bool joins = !out.empty() && (first - out.back().end_ns <= kEpisodeGap || !room_since);
        if (!joins) {
            if (!out.empty()) out.back().n = closed;  // without the quiet bins after its end
            out.push_back({});
            out.back().start_ns = first;
        }
        Episode& e = out.back();
        e.end_ns = std::max(e.end_ns, last);  // bins come in time order: the start stays
        e.n.add(b.n);
        for (const IpAddress& a : b.clients) note_client(e.clients, e.more_clients, a);
        if (ck)
            for (const IpAddress& a : b.cookie_clients) note_client(e.clients, e.more_clients, a);
        if (b.more_clients) e.more_clients = true;
        closed = e.n;
        room_since = false;
    }
    if (!out.empty()) {
        out.back().n = closed;
        out.back().open_at_end = end - out.back().end_ns < kEpisodeGap;
    }
    return out;
}

}  // namespace lp
