#include "inference/engine.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "inference/schedule.hpp"

namespace lp {

namespace {
constexpr int64_t kSweepEvery = 1'000'000'000;  // answer moments about once a second of capture time
}

Engine::Engine(Options o)
    : opt_(o), tracker_(Tracker::Options{o.listener, o.report_first}), wheel_(size_t(kWheel)),
      marks_(size_t(kMarks), 0) {}

ListenerModel& Engine::model_of(const Flow& f) {
    while (models_.size() <= f.listener) {
        models_.emplace_back(tracker_.listeners()[models_.size()].ep);
        version_seen_.push_back(0);
        held_.emplace_back();
    }
    return models_[f.listener];
}

const Flow* Engine::find(const Endpoint& client, const Endpoint& server) const {
    const uint32_t i = tracker_.find(client, server);
    return i == Tracker::kNone ? nullptr : &tracker_.flow(i);
}

size_t Engine::pending_moments() const {
    size_t n = 0;
    for (const auto& m : models_) n += m.pending();
    return n;
}

void Engine::set_u(FlowState& st, int64_t u) {
    int64_t slot = u == kNever ? kNever : std::max(u >> kSlotShift, mark_pos_);
    if (slot != kNever && slot >= mark_pos_ + kMarks) slot = mark_pos_ + kMarks - 1;  // earlier: safe
    const int32_t rel = slot == kNever ? kNoSlot : int32_t(slot - base_slot_);
    if (rel == st.u_slot) return;
    if (st.u_slot != kNoSlot) {
        --marks_[size_t((base_slot_ + st.u_slot) & (kMarks - 1))];
        --marked_;
    }
    if (rel != kNoSlot) {
        ++marks_[size_t(slot & (kMarks - 1))];
        ++marked_;
    }
    st.u_slot = rel;
}

int64_t Engine::watermark() {
    const int64_t now_slot = now_ >> kSlotShift;
    if (marked_ == 0) {
        mark_pos_ = std::max(mark_pos_, now_slot);
    } else {
        while (mark_pos_ < now_slot && marks_[size_t(mark_pos_ & (kMarks - 1))] == 0) ++mark_pos_;
    }
    return std::min(now_, mark_pos_ << kSlotShift);
}

void Engine::evaluate(uint32_t i, bool final) {
    const Flow& f = tracker_.flow(i);
    ListenerModel& m = model_of(f);
    m.refresh(tracker_.listeners()[f.listener]);
    FlowState& st = st_[i];
    const bool was_held = st.done & done::held;
    lp::evaluate(f, tracker_.listeners()[f.listener], st, m, now_, final);
    set_u(st, st.u);
    if (!was_held && (st.done & done::held)) {
        auto& h = held_[f.listener];
        h.push_back({i, st.gen});
        if (h.size() > kMaxHeld) {
            std::vector<Timer> oldest(h.begin(), h.begin() + ptrdiff_t(kMaxHeld / 2));
            h.erase(h.begin(), h.begin() + ptrdiff_t(kMaxHeld / 2));
            for (const Timer& t : oldest) {
                FlowState& o = st_[t.flow];
                if (!o.live || o.gen != t.gen || !(o.done & done::held)) continue;
                o.no_hold = true;
                o.done &= uint16_t(~done::held);
                evaluate(t.flow, false);
                schedule(t.flow);
            }
        }
    }
}

void Engine::schedule(uint32_t i) {
    FlowState& st = st_[i];
    if (st.deadline == kNever) return;
    int64_t slot = std::max(st.deadline >> kSlotShift, wheel_pos_);
    if (slot >= wheel_pos_ + kWheel) slot = wheel_pos_ + kWheel - 1;  // looked at again then
    if (st.wheel_slot != kNoSlot) {
        const int64_t have = base_slot_ + st.wheel_slot;
        if (have <= slot && have >= wheel_pos_) return;  // an earlier entry looks at it first
    }
    wheel_[size_t(slot & (kWheel - 1))].push_back({i, st.gen});
    st.wheel_slot = int32_t(slot - base_slot_);
}

void Engine::release(uint32_t i) {
    const Flow& f = tracker_.flow(i);
    ListenerModel& m = model_of(f);
    FlowState& st = st_[i];
    m.activity().flow(f, st);
    if (f.ordinal < opt_.report_first) {
        uint32_t omitted = 0;
        std::vector<Event> ev = tracker_.take_events(i, &omitted);
        m.keep({f, st, std::move(ev), omitted});
    } else if (!f.answered() && (st.done & done::syn_silent) && !f.has(flowbit::refused) && !st.spoiled) {
        m.count_silent();
    } else {
        m.count(fate_of(f, st, true));
    }
    set_u(st, kNever);
    const uint32_t gen = st.gen + 1;
    st = FlowState{};
    st.gen = gen;
    tracker_.release(i);
}

void Engine::process_slot(int64_t slot) {
    std::vector<Timer>& cell = wheel_[size_t(slot & (kWheel - 1))];
    if (cell.empty()) return;
    scratch_.clear();
    scratch_.swap(cell);
    cell = std::vector<Timer>();  // a cell holds only what is scheduled into it, not an old buffer
    for (size_t k = 0; k < scratch_.size(); ++k) {
        // The flows looked at a few entries ahead, into the cache meanwhile.
        if (k + 8 < scratch_.size()) {
            const uint32_t ahead = scratch_[k + 8].flow;
            if (ahead < st_.size()) {
                __builtin_prefetch(st_.address(ahead));
                __builtin_prefetch(&tracker_.flow(ahead));
            }
        }
        const Timer t = scratch_[k];
        if (t.flow >= st_.size()) continue;
        FlowState& st = st_[t.flow];
        if (!st.live || st.gen != t.gen || base_slot_ + st.wheel_slot != slot) continue;
        st.wheel_slot = kNoSlot;
        look_at(t.flow);
    }
}

// A flow whose wheel entry came up: released, evaluated, or placed again.
void Engine::look_at(uint32_t i) {
    FlowState& st = st_[i];
    if (st.deadline <= now_) {
        if ((st.done & done::finished) && !opt_.keep_flows) {
            release(i);
            return;
        }
        evaluate(i, false);
        if ((st.done & done::finished) && st.deadline <= now_ && !opt_.keep_flows) {
            release(i);
            return;
        }
    }
    schedule(i);
}

void Engine::recheck_held(bool all_flows) {
    for (size_t l = 0; l < models_.size(); ++l) {
        if (models_[l].version() == version_seen_[l]) continue;
        version_seen_[l] = models_[l].version();
        if (all_flows) {
            for (uint32_t i = 0; i < st_.size(); ++i)
                if (st_[i].live && tracker_.flow(i).listener == l) {
                    evaluate(i, false);
                    schedule(i);
                }
            continue;
        }
        std::vector<Timer> list;
        list.swap(held_[l]);
        for (const Timer& t : list) {
            const uint32_t i = t.flow;
            if (i >= st_.size() || !st_[i].live || st_[i].gen != t.gen || !(st_[i].done & done::held)) continue;
            st_[i].done &= uint16_t(~done::held);
            evaluate(i, false);
            schedule(i);
        }
    }
}

void Engine::sweep_models(bool force) {
    const int64_t w = watermark();
    static const bool debug = std::getenv("LP_DEBUG_WATERMARK") != nullptr;
    if (debug && w - swept_to_ >= kSweepEvery) {
        // Which flow holds the watermark back, and why (a development aid).
        uint32_t who = Tracker::kNone;
        int64_t least = kNever;
        for (uint32_t i = 0; i < st_.size(); ++i)
            if (st_[i].live && st_[i].u < least) {
                least = st_[i].u;
                who = i;
            }
        if (who != Tracker::kNone) {
            const Flow& f = tracker_.flow(who);
            const FlowState& st = st_[who];
            std::fprintf(stderr, "watermark lag %.2fs: flow t0 %+.2fs done=%x req=%d entry=%d rtx=%d final_ack=%d held=%d\n",
                         double(now_ - w) / 1e9, double(f.t0_ns - now_) / 1e9, st.done, int(st.req), int(st.entry),
                         f.timer_rtx, Flow::seen(f.final_ack), (st.done & done::held) != 0);
        }
    }
    if (!force && w - swept_to_ < kSweepEvery) return;
    for (auto& m : models_) m.sweep(w);
    swept_to_ = w;
    recheck_held(false);
}

void Engine::advance(int64_t now) {
    if (now_ == INT64_MIN) {
        now_ = now;
        base_slot_ = (now >> kSlotShift) - (int64_t(1) << 24);  // room for capture times that go back
        wheel_pos_ = now >> kSlotShift;
        mark_pos_ = now >> kSlotShift;
        swept_to_ = now;
        return;
    }
    if (now <= now_) return;  // capture times that go back do not move the clock
    now_ = now;
    const int64_t target = now >> kSlotShift;
    if (target - wheel_pos_ > kWheel) {
        // More than a lap went by (a gap in the capture): every entry is due or to be placed
        // again; look at all of them once, from the new position.
        std::vector<Timer> all;
        for (auto& cell : wheel_) {
            all.insert(all.end(), cell.begin(), cell.end());
            cell.clear();
        }
        wheel_pos_ = target;
        for (const Timer& t : all) {
            if (t.flow >= st_.size()) continue;
            FlowState& st = st_[t.flow];
            if (!st.live || st.gen != t.gen || st.wheel_slot == kNoSlot) continue;
            st.wheel_slot = kNoSlot;
            look_at(t.flow);
        }
    } else {
        while (wheel_pos_ < target) process_slot(wheel_pos_++);
    }
    sweep_models(false);
}

void Engine::add(const Segment& s) {
    advance(s.t_ns);
    const Tracker::Result r = tracker_.add(s);
    st_.grow_to(tracker_.pool_size());
    if (r.replaced != Tracker::kNone && st_[r.replaced].live) {
        // Its tuple belongs to a new handshake now: its story is over.
        evaluate(r.replaced, true);
        if (opt_.keep_flows)
            schedule(r.replaced);
        else
            release(r.replaced);
    }
    if (r.flow == Tracker::kNone) return;
    FlowState& st = st_[r.flow];
    if (r.changes & Tracker::ch_new) {
        st.live = true;
        model_of(tracker_.flow(r.flow));
    }
    if (r.changes & Tracker::ch_syn_unanswered) {
        const Flow& f = tracker_.flow(r.flow);
        model_of(f).activity().syn_silent(r.prev_syn_ns, f.client.addr);
    }
    constexpr uint32_t kMatters = Tracker::ch_new | Tracker::ch_syn | Tracker::ch_synack | Tracker::ch_rtx |
                                  Tracker::ch_final_ack | Tracker::ch_proof | Tracker::ch_rst | Tracker::ch_app;
    if (!(r.changes & kMatters) && (st.done & done::finished)) return;
    // Looked at when the clock next crosses a wheel slot: the segments of a handshake, close
    // in time, are decided together. Until then what it may contribute starts no later than
    // this segment.
    if (s.t_ns < st.u) {
        st.u = s.t_ns;
        set_u(st, st.u);
    }
    if (st.deadline > now_) {
        st.deadline = now_;
        schedule(r.flow);
    }
}

void Engine::add_batch(const Segment* segs, size_t n) {
    // A pipeline: the flow table slot of segment k+12 and the flow record of segment k+6
    // are fetched while segment k is processed.
    constexpr size_t kSlotAhead = 24, kFlowAhead = 10;
    for (size_t k = 0; k < std::min(n, kSlotAhead); ++k) tracker_.prefetch_slot(segs[k]);
    for (size_t k = 0; k < std::min(n, kFlowAhead); ++k) prefetch_flow(segs[k]);
    for (size_t k = 0; k < n; ++k) {
        if (k + kSlotAhead < n) tracker_.prefetch_slot(segs[k + kSlotAhead]);
        if (k + kFlowAhead < n) prefetch_flow(segs[k + kFlowAhead]);
        add(segs[k]);
    }
}

void Engine::prefetch_flow(const Segment& s) const {
    const uint32_t i = tracker_.prefetch_flow(s);
    if (i != Tracker::kNone && i < st_.size()) __builtin_prefetch(st_.address(i));
}

Analysis Engine::finish(const SourceInfo& source, std::optional<int64_t> end_ns) {
    Analysis a;
    a.source = source;
    if (now_ == INT64_MIN) return a;  // no TCP packet: no time 0, no duration
    const int64_t end = std::max(now_, end_ns.value_or(now_));
    advance(end);
    auto live = [&] {
        std::vector<uint32_t> v;
        for (uint32_t i = 0; i < st_.size(); ++i)
            if (st_[i].live) v.push_back(i);
        return v;
    };
    // First what the packets decide by the end, until what the models learn from it no
    // longer changes anything; then the end itself.
    for (int round = 0; round < 4; ++round) {
        for (uint32_t i : live()) evaluate(i, false);
        sweep_models(true);
        bool changed = false;
        for (size_t l = 0; l < models_.size(); ++l)
            if (models_[l].version() != version_seen_[l]) changed = true;
        for (size_t l = 0; l < models_.size(); ++l) version_seen_[l] = models_[l].version();
        if (!changed) break;
    }
    for (uint32_t i : live()) evaluate(i, true);
    for (auto& m : models_) m.sweep(kNever);
    for (uint32_t i : live()) release(i);

    a.t0_ns = tracker_.first_ns().value_or(0);
    a.end_ns = end;
    for (size_t l = 0; l < models_.size(); ++l) {
        const ListenerFacts& lf = tracker_.listeners()[l];
        if (opt_.listener && lf.ep != *opt_.listener) continue;
        ListenerModel::Finish fx;
        fx.t0 = a.t0_ns;
        fx.end = end;
        fx.untracked_accepts = lf.untracked_app;
        fx.facts = &lf;
        a.listeners.push_back(models_[l].finish(fx));
    }
    std::erase_if(a.listeners, [](const ListenerVerdict& v) { return v.connections_total == 0; });
    // A probe's pcapng says which of its requests it reset on purpose: the same fate as in
    // the live report (for the connections the report lists with their events).
    if (const auto& pr = a.source.probe_resets) {
        for (ListenerVerdict& v : a.listeners)
            mark_probe_resets(v, [&](const Endpoint& client) -> const char* {
                if (client.addr != pr->client) return nullptr;
                auto it = std::lower_bound(pr->ports.begin(), pr->ports.end(), client.port,
                                           [](const auto& e, uint16_t p) { return e.first < p; });
                return it != pr->ports.end() && it->first == client.port ? it->second.c_str() : nullptr;
            }, a.t0_ns);
    }
    return a;
}

Analysis Engine::snapshot(const SourceInfo& source, int64_t end_ns) const {
    Engine copy = *this;
    return copy.finish(source, end_ns);
}

Analysis analyze_source(Source& src, const Engine::Options& o, std::optional<int64_t> end_ns) {
    Engine e(o);
    Segment batch[Engine::kBatch];
    size_t n = 0;
    while (src.next(batch[n]))
        if (++n == Engine::kBatch) {
            e.add_batch(batch, n);
            n = 0;
        }
    e.add_batch(batch, n);
    std::optional<int64_t> end = src.info().end_ns;
    if (end_ns && (!end || *end_ns > *end)) end = end_ns;
    return e.finish(src.info(), end);
}

}  // namespace lp
