// The SYN (request) queue and syncookies: which mode the listener runs
// (tcp_syncookies 0/1/2) and how many stateful requests it holds before it sends
// cookies (or, with cookies off, drops SYNs), as bounds.
//
// A request proven stateful (its SYN-ACK retransmitted by the timer) was admitted
// while the queue had room: the limit is more than the requests surely pending
// then (Q_MIN). A proven syncookie (never retransmitted, or stripped options, or a
// late ACK that found no request) was sent, with cookies on overflow, while the
// queue was full: the limit is at most the requests possibly pending (Q_MAX). With
// cookies off, a SYN dropped while the accept queue provably had room met a full
// SYN queue (or the tcp_max_syn_backlog quarter): the same kind of upper bound.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inference/bounds.hpp"
#include "inference/names.hpp"
#include "inference/verdict.hpp"

namespace lp {

enum class CookieWhy : uint8_t {
    none,
    unrepeated,  // never retransmitted past two due times while other requests were
    stripped,    // no window scale or SACK to a SYN without timestamps that offered them
    always,      // the listener sends cookies to every SYN
    late_ack,    // a final ACK after the retransmissions were due found no request, yet entered
};

class SynQueue {
public:
    // A proven-stateful request admitted while `q_min` requests were surely pending.
    void admission(int q_min, const Cite& c);
    void stateful(const Cite& c) {
        if (!stateful_n_++) stateful_ex_ = c;
    }
    // A proven syncookie sent while `q_max` requests may have been pending.
    void cookie(int q_max, const Cite& c, CookieWhy why);
    void note_cookie(const Cite& c, CookieWhy why);  // proven, but its moment is not asked about
    // A SYN that met silence, with the counts then (the "cookies off" proof).
    void syn_drop(int a_max, int q_max, const Cite& c);

    bool cookies_seen() const { return cookie_n_ > 0; }
    bool stateful_seen() const { return stateful_n_ > 0; }
    // Every SYN gets a cookie: one was sent with no request pending, none is stateful.
    bool always() const { return cookie_q0_.has_value() && stateful_n_ == 0; }

    struct Context {
        int64_t t0 = 0;
        int accept_lower = 0;    // proven lower bound of the accept queue (0: none)
        bool port_open = false;
        std::string loss;        // what shows SYN-ACKs were lost in the capture ("" if nothing)
    };
    void finish(const Context& cx, ListenerVerdict& v) const;

private:
    int lower_ = 0;  // the limit is at least this
    Cite lower_cite_;
    uint64_t stateful_n_ = 0, cookie_n_ = 0;
    uint64_t cookie_proven_n_ = 0;  // cookies proven otherwise than by an unrepeated SYN-ACK (which loss mimics)
    Cite stateful_ex_, cookie_ex_;
    CookieWhy cookie_why_ = CookieWhy::none;
    Keeper cookie_q_;             // Q_MAX when cookies were sent
    std::optional<Cite> cookie_q0_;
    struct Drop {
        int a, q;
        Cite c;
    };
    std::vector<Drop> drops_;     // SYN drops with requests pending, fewest possibly queued first
};

}  // namespace lp
