// SYN-ACK retransmissions: the retry count (tcp_synack_retries or TCP_SYNCNT) and
// the timeout schedule, from the requests the listener's timer retransmitted.
//
// The kernel never sends more than its limit and loss only hides SYN-ACKs, so the
// most retransmissions of any request is a lower bound. It is exact when a request
// left alone until its next retransmission was overdue ("exhausted") shows it, too
// few requests were pending for Linux to prune retries (qlen*2 > max(8, backlog)
// lowers the limit of old requests, never below 2), and nothing suggests that
// request lost its own last SYN-ACK: a second exhausted request agrees, or none
// shows fewer and no request shows loss.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inference/bounds.hpp"
#include "inference/verdict.hpp"

namespace lp {

class Retries {
public:
    struct Request {
        Cite cite;                // the client; t = first SYN-ACK
        int n = 0;                // timer retransmissions
        std::vector<double> gaps; // between its timer SYN-ACKs, seconds
        bool exhausted = false;   // left alone past its next due retransmission
        bool crowded = false;     // enough requests pending at once for Linux to prune retries
        int64_t deadline = 0;     // when its next retransmission was (or will be) overdue
        std::string loss;         // why its count may miss a lost SYN-ACK ("" if nothing shows)
    };
    void add(Request r);
    // Something in the capture shows lost SYN-ACKs (a request's count may miss its last one).
    void note_loss(const std::string& why) {
        if (loss_.empty()) loss_ = why;
    }
    int most() const { return most_; }
    const std::string& loss() const { return loss_; }
    // The first measured schedule's initial timeout (1 or 3 s), once a request showed one.
    std::optional<double> initial() const { return initial_; }

    struct Context {
        int64_t t0 = 0;
        int64_t end = 0;  // the capture lasted until here
    };
    void finish(const Context& cx, ListenerVerdict& v) const;

private:
    int most_ = 0;
    std::optional<Request> best_;  // most retransmissions, exhausted preferred
    std::array<uint32_t, 256> holders_{};      // exhausted, uncrowded requests by count
    std::array<Cite, 256> holder_ex_{};
    uint64_t crowded_ = 0;
    std::string loss_;
    std::optional<double> initial_;
};

}  // namespace lp
