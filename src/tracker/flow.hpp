// One handshake attempt between a client endpoint and a listener: the facts the
// wire shows, kept in a fixed record of at most 128 bytes with no heap behind it,
// so a capture with millions of handshakes in flight stays small.
//
// Facts only: what was seen and when. What they mean (fates, cookies, queue
// entries) is inference's (src/inference), which never writes into a Flow.
//
// Times are microseconds after the flow's first segment (t0_ns), kNoTime when
// the thing was not seen; a time later than ~71 minutes after t0 is kLateTime.
#pragma once
#include <cstdint>
#include <optional>

#include "segments/segment.hpp"

namespace lp {

using Off = uint32_t;
inline constexpr Off kNoTime = 0xFFFFFFFFu;
inline constexpr Off kLateTime = 0xFFFFFFFEu;

namespace flowbit {
inline constexpr uint32_t client_isn = 1u << 0;        // client_isn holds the client's ISN
inline constexpr uint32_t server_isn = 1u << 1;        // server_isn holds the request's ISN
inline constexpr uint32_t refused = 1u << 2;           // a listener RST answered the SYN, before any SYN-ACK
inline constexpr uint32_t client_rst_bare = 1u << 3;   // the first client RST had no ACK flag
inline constexpr uint32_t server_rst_bare = 1u << 4;   // the first listener RST had no ACK flag
inline constexpr uint32_t synack_missing = 1u << 5;    // the client ACKed a SYN-ACK the capture does not hold
inline constexpr uint32_t client_fin = 1u << 6;
inline constexpr uint32_t server_fin = 1u << 7;
inline constexpr uint32_t syn_ts = 1u << 8;            // options of the client's first SYN
inline constexpr uint32_t syn_wscale = 1u << 9;
inline constexpr uint32_t syn_sack = 1u << 10;
inline constexpr uint32_t synack_ts = 1u << 11;        // options of the first SYN-ACK
inline constexpr uint32_t synack_wscale = 1u << 12;
inline constexpr uint32_t synack_sack = 1u << 13;
inline constexpr uint32_t synack_opts = 1u << 14;      // the first SYN-ACK's options were seen
inline constexpr uint32_t no_entry_between = 1u << 15; // no other handshake completed between the
                                                       // answered SYN and this flow's final ACK
inline constexpr uint32_t midstream = 1u << 16;        // no handshake seen: the capture began later
inline constexpr uint32_t client_synack = 1u << 17;    // the client side sent SYN+ACK (not ours)
inline constexpr uint32_t began_syn = 1u << 18;        // the flow's first segment was the client's SYN
inline constexpr uint32_t ack_data = 1u << 19;         // the final ACK carried payload or FIN (not a bare ACK)
// The listener's accept queue had room (another flow's SYN was answered) a while before one
// of this flow's SYNs (syn_after_room), before two of them (syn2_after_room), before its
// final ACK (ack_after_room), and no handshake completed in between (ListenerFacts::room_ns).
inline constexpr uint32_t syn_after_room = 1u << 20;
inline constexpr uint32_t syn2_after_room = 1u << 21;
inline constexpr uint32_t ack_after_room = 1u << 22;
}  // namespace flowbit

struct Flow {
    int64_t t0_ns = 0;          // capture time of the flow's first segment
    Endpoint client;
    uint32_t listener = 0;      // index into Tracker::listeners()
    uint32_t ordinal = 0;       // order of first appearance among the listener's flows
    uint32_t client_isn = 0, server_isn = 0;
    uint32_t bits = 0;          // flowbit::
    // The listener's completion counter at the answered SYN; from the final ACK on, how many
    // other flows' segments that may have completed a handshake came in between.
    uint32_t cand_at_syn = 0;

    // Client segments.
    Off syn2 = kNoTime;          // the second client SYN
    Off last_syn = kNoTime;      // the latest client SYN
    Off answered_syn = kNoTime;  // the client SYN that the first SYN-ACK answered
    Off final_ack = kNoTime;     // the first client segment acknowledging the SYN-ACK
    Off client_rst = kNoTime;    // the first client RST
    Off last_client = kNoTime;   // the latest client segment other than RST, until the first proof
                                 // from the listener (then: the last one before it)
    // Listener segments.
    Off synack = kNoTime;        // the first SYN-ACK with the request's ISN
    Off synack_last = kNoTime;   // the latest SYN-ACK with the request's ISN
    Off rtx[4] = {kNoTime, kNoTime, kNoTime, kNoTime};  // the first timer-driven retransmissions
    Off rtx_last = kNoTime;      // the latest timer-driven retransmission
    Off server_rst = kNoTime;    // the first listener RST
    Off est_proof = kNoTime;     // the first listener ACK of client payload: the connection exists
    Off app_proof = kNoTime;     // the first listener payload or FIN: the application accepted it
    uint16_t syn_count = 0;      // client SYNs (saturating)
    uint8_t synack_count = 0;    // SYN-ACKs with the request's ISN (saturating)
    uint8_t timer_rtx = 0;       // of them, sent by the listener's timer (saturating)
    uint8_t rtx_after_ack = 0;   // timer retransmissions later than the final ACK + slack
    uint8_t synack_other = 0;    // SYN-ACKs with another ISN
    uint8_t data_sends = 0;      // client segments carrying its first payload (saturating), until the
                                 // listener ACKs client data: 2+ means it was sent again unanswered
    uint32_t data_seq = 0;       // sequence number of the client's first payload

    bool has(uint32_t bit) const { return (bits & bit) != 0; }
    static bool seen(Off o) { return o != kNoTime; }
    // Absolute capture time of an offset that was seen.
    int64_t at(Off o) const { return t0_ns + int64_t(o) * 1000; }
    std::optional<int64_t> opt(Off o) const { return seen(o) ? std::optional<int64_t>(at(o)) : std::nullopt; }
    Off off(int64_t t_ns) const {
        if (t_ns <= t0_ns) return 0;
        const int64_t us = (t_ns - t0_ns) / 1000;
        return us >= int64_t(kLateTime) ? kLateTime : Off(us);
    }
    bool answered() const { return seen(synack); }
    // The i-th timer retransmission (0-based) when it is kept: the first four and the last.
    std::optional<int64_t> rtx_at(size_t i) const {
        if (i >= timer_rtx) return std::nullopt;
        if (i + 1 == timer_rtx) return at(rtx_last);
        if (i < 4) return at(rtx[i]);
        return std::nullopt;
    }
    // The last SYN-ACK the listener's timer sent (the first SYN-ACK counts), or none.
    std::optional<int64_t> last_timer_synack() const {
        if (timer_rtx) return at(rtx_last);
        if (seen(synack) && !has(flowbit::synack_missing)) return at(synack);
        return std::nullopt;
    }
    // SYN -> first SYN-ACK, when both were seen and the SYN-ACK answered that SYN.
    std::optional<int64_t> rtt_ns() const {
        if (!seen(answered_syn) || !seen(synack) || has(flowbit::synack_missing)) return std::nullopt;
        return (int64_t(synack) - int64_t(answered_syn)) * 1000;
    }
    // The first proof from the listener that the connection exists (data ACKed, data, FIN).
    Off proof() const { return est_proof < app_proof ? est_proof : app_proof; }
};
static_assert(sizeof(Flow) <= 128, "a flow record must stay within two cache lines");

}  // namespace lp
