// The accept queue: its capacity (Linux: backlog + 1) and what the listener does
// when it is full, as bounds that moments of the capture narrow.
//
// Upper bounds (sound whatever the application does): at a moment the queue was
// full, the capacity is at most the connections that may have been in it then
// (A_MAX: entered or possibly entered, not seen leaving). Full moments are a final
// ACK that overflowed (SYN-ACK retransmitted after it, or RST at once), and a SYN
// dropped while no request (or one) was pending or syncookies are on: then only a
// full accept queue drops a SYN (a full SYN queue sends cookies instead; with
// cookies off and at most one request pending it would need capacity <= 2).
//
// Lower bounds (only while the application is not seen accepting): at a moment the
// queue had room (a SYN answered, on Linux 4.10+; a connection entering), every
// connection that had entered before was still in it, so capacity >= 1 + their
// number. An application seen accepting (data or FIN from the listener, or a
// connection entering after a full moment) leaves only the upper bound.
//
// Exact when the two meet. Every number states what it assumes in `assumptions`.
#pragma once
#include <cstdint>
#include <limits>
#include <optional>

#include "inference/bounds.hpp"
#include "inference/names.hpp"
#include "inference/verdict.hpp"

namespace lp {

enum class EntryClass : uint8_t {
    strong,  // the listener showed the connection exists (ACKed data, data, FIN), or a
             // stateful request fell silent after its final ACK
    room,    // its SYN found room and no other handshake completed before its final ACK
};

class AcceptQueue {
public:
    void syn_room(int64_t t, const Cite& c) { all_.room(t, c); }
    // A connection that entered the queue between `lo` and `hi`.
    void entry(EntryClass k, int64_t lo, int64_t hi, const Cite& c, bool after_own_overflow);
    // A final ACK whose outcome is open, but that found at most `v` connections in the queue
    // (v = A_MAX at its SYN + handshakes completed in between): it entered if capacity > v.
    void conditional_entry(int v, int64_t at, const Cite& c) {
        (void)c;
        if (v == std::numeric_limits<int>::max()) return;
        all_.entry(at, v);
    }
    // A final ACK that met a full queue (c.t), with A_MAX then.
    void full_ack(int a_max, const Cite& c, AckPolicy how);
    // A client SYN that met silence (c.t, and c.t2 for a second one), with the counts then.
    // after_room: the second SYN came after another flow's SYN found room, with no
    // completion in between; then, when the drop was the accept queue's (no request pending,
    // or syncookies on), the port has several accept queues.
    void syn_drop(int a_max, int q_max, const Cite& c, bool after_room = false);
    // A final ACK that met a full queue after another flow's SYN found room, with no
    // completion in between: on Linux 4.10+ one accept queue cannot go from room to full
    // without an entry, so the port has several (an SO_REUSEPORT group).
    void split(const Cite& c) {
        if (!split_) split_ = c;
    }
    void accepts(const Cite& c) {
        if (!accepts_) accepts_ = c;
    }
    // A SYN answered while the accept queue was full (older kernels answered SYNs while
    // fewer than two young requests were pending): room moments from SYNs do not hold.
    void old_kernel(const Cite& c) {
        if (!old_kernel_) old_kernel_ = c;
    }
    bool old_kernel() const { return old_kernel_.has_value(); }

    struct Context {
        bool cookies_on = false;  // a syncookie was proven: a full SYN queue never drops SYNs
        bool port_open = false;   // the listener answered some SYN: silence to others is a drop
        int64_t t0 = 0;           // report times from here
        uint64_t untracked_accepts = 0;  // listener data or FIN on flows the tracker does not hold
    };
    void finish(const Context& cx, ListenerVerdict& v) const;

private:
    LowerCount all_, strong_;
    int64_t last_lo_strong_ = INT64_MIN, last_lo_room_ = INT64_MIN;
    Cite last_strong_, last_room_;
    Keeper ack_full_;
    Keeper drop_q0_, drop_q1_, drop_qn_;  // SYN drops with 0, 1, 2+ requests pending: value A_MAX
    uint64_t rst_n_ = 0, drop_n_ = 0;
    Cite rst_ex_, drop_ex_;
    std::optional<Cite> accepts_, old_kernel_, after_overflow_;
    std::optional<Cite> split_, split_cookie_;  // split_cookie_: a SYN drop that proves it with cookies on
};

}  // namespace lp
