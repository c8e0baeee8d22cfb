// The model of one listener: everything its flows contributed, kept as bounds
// that narrow as the capture streams by, and the verdict they give at the end.
//
// Flows (src/inference/decide.cpp) contribute counts over time and moments to ask
// about; the ledger answers the moments once the watermark has passed them, and
// the answers go to the three questions (accept queue, SYN queue and cookies,
// retries). The model also keeps what the rules of later flows need to know
// (Knowledge) and the flows a report shows.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "inference/accept_queue.hpp"
#include "inference/activity.hpp"
#include "inference/bounds.hpp"
#include "inference/decide.hpp"
#include "inference/ledger.hpp"
#include "inference/retries.hpp"
#include "inference/syn_queue.hpp"
#include "inference/verdict.hpp"
#include "tracker/event.hpp"
#include "tracker/flow.hpp"

namespace lp {

class ListenerModel {
public:
    explicit ListenerModel(Endpoint ep) : ep_(ep) {}

    const Endpoint& endpoint() const { return ep_; }
    const Knowledge& knowledge() const { return k_; }
    // Bumps whenever knowledge that held flows wait for changes.
    uint32_t version() const { return version_; }
    // Takes in the tracker's wire facts about the listener.
    void refresh(const ListenerFacts& lf);

    // ---- contributions from flows ----
    void amax(int64_t t, int d) { ledger_.add(Ledger::a_max, t, d); }
    void qmax(int64_t t, int d) { ledger_.add(Ledger::q_max, t, d); }
    void qmin(int64_t t, int d) { ledger_.add(Ledger::q_min, t, d); }
    void syn_room(int64_t t, const Cite& c) { accept_.syn_room(t, c); }
    void entry(EntryClass k, int64_t lo, int64_t hi, const Cite& c, bool after_own_overflow) {
        accept_.entry(k, lo, hi, c, after_own_overflow);
    }
    void full_ack(const Cite& c, AckPolicy how);
    // A final ACK whose outcome may stay open: asks A_MAX at its SYN (c.t) and adds the
    // completions in between, so that an unresolved ACK can count as an entry if the
    // capacity is larger than that. Returns the slot to give to settle_conditional().
    static constexpr uint32_t kManyCompletions = 0xFFFFFFFFu;  // too many for the A_MAX bound
    uint32_t ask_conditional(const Cite& c, uint32_t completions);
    // Its outcome: unresolved (counts as a conditional entry at `entered_by`) or not.
    // `stateful_rule`: the ACK met silence past its next due retransmission, the listener
    // retransmits and is not in cookies-always mode: if its request was stateful, the ACK
    // entered; and it was stateful if fewer requests were pending at its SYN than the
    // SYN queue holds (at least capacity - 1), i.e. if the capacity exceeds Q_MAX + 1.
    // `room_rule`: the bound from A_MAX holds (not an older kernel that answers SYNs when full).
    void settle_conditional(uint32_t slot, bool unresolved, int64_t entered_by, bool room_rule, bool stateful_rule);
    // c.t, and c.t2 when two SYNs met silence; `after_room`: they came after another flow's
    // SYN found room with no completion in between (a split, if the drop was the accept
    // queue's).
    void syn_drop(const Cite& c, bool after_room = false);
    // A final ACK that met a full queue after another flow's SYN found room, with no
    // completion in between: one accept queue cannot do that (SO_REUSEPORT group).
    void split(const Cite& c) { accept_.split(c); }
    void cookie(const Cite& c, CookieWhy why, bool ask_moment);
    void admission(const Cite& c);
    void stateful(const Cite& c) {
        syn_.stateful(c);
        know_stateful();
    }
    // A request proven stateful at its start (c.t = its SYN): an admission moment (the SYN
    // queue had room), and how many requests were pending then, so that its end can tell
    // how crowded the queue became. Returns the slot to give to request().
    uint32_t begin_request(const Cite& c);
    // A request's retransmissions once its story is over; exhausted ones ask how crowded
    // the SYN queue was over [r.cite.t, r.deadline]. `slot`: from begin_request, or kNoSlot.
    static constexpr uint32_t kNoSlot = 0xFFFFFFFFu;
    void request(Retries::Request r, uint32_t slot);
    void accepts(const Cite& c) { accept_.accepts(c); }
    void old_kernel(const Cite& c);
    // A bare final ACK held back on purpose and taken at the client's next ACK (c.t the
    // final ACK, c.t2 the SYN-ACK retransmission): the listener defers accept.
    void deferred(const Cite& c);
    void spoiled() { ++spoiled_; }
    void answered() { ++answered_; }
    void refused() { ++refused_; }
    void gaps_seen(const std::vector<double>& gaps);
    void loss(const std::string& why) { retries_.note_loss(why); }
    // A request answered at a retransmitted SYN: its first SYN or SYN-ACK may have been lost.
    void answered_late(const Cite& c) {
        if (!late_answer_) late_answer_ = c;
    }
    void count(Fate f) { ++fates_[size_t(f)]; }
    // A flow no report shows whose SYNs met silence: dropped if the listener answers others.
    void count_silent() { ++silent_; }
    // Activity over time (episodes): the engine adds SYN silences and each flow's story.
    Activity& activity() { return activity_; }

    // A flow a report shows, kept once the engine lets go of it.
    struct Kept {
        Flow flow;
        FlowState st;
        std::vector<Event> events;
        uint32_t omitted = 0;
    };
    void keep(Kept k) { kept_.push_back(std::move(k)); }

    // Answers every moment before the watermark.
    void sweep(int64_t watermark);
    size_t pending() const { return ledger_.pending(); }

    struct Finish {
        int64_t t0 = 0;
        int64_t end = 0;
        uint64_t untracked_accepts = 0;  // listener data or FIN on flows whose handshake was not tracked
        const ListenerFacts* facts = nullptr;  // the tracker's wire facts (SYN-ACK layouts, TTL) for the stack verdict
    };
    ListenerVerdict finish(const Finish& fx);

private:
    enum class QKind : uint8_t { free, full_ack_drop, full_ack_rst, full_ack_silent, conditional, syn_drop, cookie, admission, crowd_start, crowd };
    struct Query {
        QKind kind = QKind::free;
        uint8_t remaining = 0;  // sub-queries not answered yet (a two-SYN drop asks twice)
        CookieWhy why = CookieWhy::none;
        int a = 0, q = 0;       // the largest counts over its sub-queries
        Cite cite;
        uint32_t request = 0;   // crowd: index into requests_
        bool after_room = false;  // syn_drop: its second SYN came after room, no completion between
    };
    uint32_t new_query(QKind k, const Cite& c, uint8_t parts);
    // A free slot of `pool` (reused from `free`, else appended), reset to T{}.
    template <class T>
    static uint32_t take(std::vector<T>& pool, std::vector<uint32_t>& free) {
        uint32_t i;
        if (!free.empty()) {
            i = free.back();
            free.pop_back();
            pool[i] = T{};
        } else {
            i = uint32_t(pool.size());
            pool.emplace_back();
        }
        return i;
    }
    void know_stateful() {
        if (!k_.stateful_seen) {
            k_.stateful_seen = true;
            ++version_;
        }
    }
    void answer(uint32_t ref, const Ledger::Values& v);

    Endpoint ep_;
    Knowledge k_;
    uint32_t version_ = 0;
    Ledger ledger_;
    std::vector<Query> queries_;
    std::vector<uint32_t> free_queries_;
    // A stateful request's count at its start (begin_request), until its end asks.
    struct Start {
        uint64_t starts = 0;   // Q_MAX +1s before it
        int q = 0;             // Q_MAX at its SYN
        int8_t state = 0;      // 0 asked, 1 answered, -1 over before the answer (free it then)
    };
    std::vector<Start> starts_;
    std::vector<uint32_t> free_starts_;
    // An exhausted request waiting for the answer to how crowded its life was.
    struct Crowd {
        Retries::Request r;
        bool started = false;
        Start at;
    };
    std::vector<Crowd> requests_;
    struct Conditional {
        int v = 0;              // A_MAX at its SYN + completions in between (INT_MAX: too many)
        int vq = 0;             // Q_MAX at its SYN + 1
        int8_t state = 0;       // 0 asked, 1 answered, 2 settled unresolved before the answer, 3 settled else
        bool room_rule = true, stateful_rule = false;
        uint32_t completions = 0;
        int64_t at = 0;
    };
    static int conditional_bound(const Conditional& cd) {
        const int inf = std::numeric_limits<int>::max();
        return std::min(cd.room_rule ? cd.v : inf, cd.stateful_rule ? cd.vq : inf);
    }
    std::vector<Conditional> conds_;
    std::vector<uint32_t> free_conds_;
    std::vector<uint32_t> free_requests_;
    AcceptQueue accept_;
    SynQueue syn_;
    Retries retries_;
    uint64_t spoiled_ = 0, answered_ = 0, refused_ = 0, silent_ = 0, deferred_ = 0;
    std::optional<Cite> deferred_first_;
    std::array<uint64_t, kFates> fates_{};
    std::vector<Kept> kept_;
    std::optional<Cite> late_answer_;
    Activity activity_;
};

}  // namespace lp
