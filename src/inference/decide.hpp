// Per-handshake decisions: from a flow's facts (src/tracker/flow.hpp) and what is
// known of its listener so far, what the flow contributes to the listener model,
// part by part, as soon as each part can no longer change:
//
//   syn-drop   client SYNs that met silence (a moment the queues were full, or lost)
//   room       its SYN was answered: the accept queue had room then
//   start      its request: stateful (timer retransmissions), a syncookie, or not proven
//   entry      its final ACK: entered the accept queue (and how that is proven),
//              overflowed (SYN-ACK retransmitted after it, or RST), or unresolved
//   end        when its request left the SYN queue (entered, reset, expired)
//   leave      the application took it (listener data or FIN)
//   request    its retransmission count and schedule, once its story is over
//
// State that inference keeps per flow lives in FlowState, never in the Flow.
// Every time a part waits for something, evaluate() says when to look again
// (deadline) and the earliest capture time of what it may still contribute (u):
// the engine's watermark is the least u of all flows.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "inference/names.hpp"
#include "inference/syn_queue.hpp"
#include "inference/verdict.hpp"
#include "tracker/flow.hpp"
#include "tracker/tracker.hpp"

namespace lp {

class ListenerModel;

inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// What inference knows about a listener while the capture streams by: wire facts
// from the tracker plus what the model has proven so far.
struct Knowledge {
    std::optional<int64_t> rtt_ns;
    std::optional<double> initial;  // measured initial SYN-ACK timeout (1 or 3 s)
    bool retransmits = false;       // some request was retransmitted by the timer
    int most_rtx = 0;               // most timer retransmissions of one request so far
    bool options_honoured = false;  // window scale or SACK granted to some SYN
    bool cookies_always = false;    // proven: every SYN gets a cookie
    bool old_kernel = false;        // proven: answered SYNs do not mean room
    bool stateful_seen = false;     // some request was proven stateful (so not cookies-always)
    bool defers = false;            // proven: bare final ACKs are held back (TCP_DEFER_ACCEPT)
    double I() const { return initial.value_or(3.0); }
};

enum class Req : uint8_t { unknown, stateful, cookie };
enum class Entry : uint8_t {
    none,           // no final ACK (yet)
    pending,        // final ACK seen, outcome not decided yet
    strong,         // entered: the listener showed the connection exists
    silent,         // entered: a stateful request fell silent after its final ACK
    room,           // entered: its SYN found room and nothing else completed before its ACK
    unresolved,     // taken, or a syncookie ACK dropped on a full queue: not proven
    overflow_drop,  // the final ACK met a full queue and was dropped (SYN-ACK retransmitted)
    overflow_rst,   // the final ACK met a full queue and was answered by RST
    late_rst,       // RST to a final ACK that came after the request had expired
    silent_drop,    // the final ACK and the client's data, sent again, met silence: no connection
                    // exists (a syncookie ACK dropped on a full queue, or one that found none)
    deferred,       // entered at the client's ACK of the SYN-ACK retransmission: the bare final
                    // ACK before it was held back on purpose (TCP_DEFER_ACCEPT), not by a full queue
};

namespace done {
inline constexpr uint16_t syn_drop = 1u << 0;
inline constexpr uint16_t room = 1u << 1;
inline constexpr uint16_t start = 1u << 2;
inline constexpr uint16_t entry = 1u << 3;
inline constexpr uint16_t late_proof = 1u << 4;
inline constexpr uint16_t end = 1u << 5;
inline constexpr uint16_t leave = 1u << 6;
inline constexpr uint16_t request = 1u << 7;
inline constexpr uint16_t amax = 1u << 8;      // counted in A_MAX (+1 at its final ACK)
inline constexpr uint16_t qmin = 1u << 9;      // counted in Q_MIN
inline constexpr uint16_t qmax = 1u << 10;     // counted in Q_MAX
inline constexpr uint16_t held = 1u << 11;     // waits for something the listener has not shown yet
inline constexpr uint16_t finished = 1u << 12; // nothing more to decide: the flow may be released
inline constexpr uint16_t cookie_at_s = 1u << 13;  // the cookie's moment was asked about
inline constexpr uint16_t syn_silent = 1u << 14;   // its SYNs met silence long enough to be a moment
inline constexpr uint16_t split = 1u << 15;        // its SYNs after another's room were asked about
}  // namespace done

inline constexpr int32_t kNoSlot = INT32_MAX;

struct FlowState {
    int64_t deadline = kNever;  // evaluate again at this capture time (finished: release it then)
    int64_t u = kNever;         // earliest capture time of a contribution not yet made
    int64_t qmin_until = kNever;  // Q_MIN counts it until here (the earliest its next retransmission can be)
    int32_t wheel_slot = kNoSlot;  // the timer wheel slot of its live entry (engine's numbering)
    int32_t u_slot = kNoSlot;      // the watermark slot its u is counted in (engine's numbering)
    uint32_t gen = 0;             // bumps when the pool slot is reused
    uint32_t req_slot = 0xFFFFFFFFu;   // the model's record of its request (ListenerModel::begin_request)
    uint32_t cond_slot = 0xFFFFFFFFu;  // the model's record of its final ACK (ListenerModel::ask_conditional)
    bool live = false;            // the pool slot holds a flow
    uint8_t qmin_rtx = 0;         // timer retransmissions that Q_MIN has taken into account
    bool no_hold = false;         // decide now with what is known (too many flows wait already)
    uint16_t done = 0;
    Req req = Req::unknown;
    CookieWhy why = CookieWhy::none;
    Entry entry = Entry::none;
    bool spoiled = false;
};

// Decides what can be decided of flow `f` at capture time `now` (final: the capture
// ended at `now`), makes the contributions into `m`, and updates st.deadline, st.u
// (finished flows: when to release them).
void evaluate(const Flow& f, const ListenerFacts& lf, FlowState& st, ListenerModel& m, int64_t now, bool final);

// The fate of a flow and a sentence saying why, from its facts and decisions.
Fate fate_of(const Flow& f, const FlowState& st, bool port_open);
std::string fate_reason(const Flow& f, const FlowState& st, const Knowledge& k, bool port_open, int64_t t0);

// The probe's own requests that it reset on purpose before sending any final ACK: `step_of`
// gives the plan step that opened the request of a client, or nullptr when the probe did not
// reset it so. Those the analysis calls half-open (a syncookie or tcp_synack_retries=0 when
// not retransmitted, which their end does not show) get the fate probe-reset and are counted
// as such. Only the fate, its reason and fate_counts change: the inference has used their
// facts already (RTT, SYN-ACK schedule, stateful requests). Every connection must be listed
// in v.connections (the probe's engine lists them all).
void mark_probe_resets(ListenerVerdict& v, const std::function<const char*(const Endpoint&)>& step_of, int64_t t0);

}  // namespace lp
