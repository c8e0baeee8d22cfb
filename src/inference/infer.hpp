// Inference: from tracked connections to per-listener verdicts. It only states
// what the trace proves (see ../shared/CONTRACT.md); everything else stays
// unknown with a warning that says why.
#pragma once
#include <optional>

#include "inference/verdict.hpp"
#include "tracker/tracker.hpp"

namespace lp {

struct InferOptions {
    std::optional<Endpoint> listener;  // report only this listener
    // The capture provably lasted until here (pcapng end, live clock); else the last packet.
    std::optional<int64_t> end_ns;
};

// Classifies every connection (fate, timers) and derives the listener verdicts.
// Safe to call repeatedly on a growing tracker (the live probe does).
Analysis analyze(Tracker& tracker, const SourceInfo& source, const InferOptions& opt);

// Schedule fitting, exposed for tests: the nominal doubling schedule from `initial`
// (capped at 120 s) fits `gaps` within the tolerance of coalesced kernel timers.
bool schedule_fits(const std::vector<double>& gaps, double initial);
// Tolerance (seconds) allowed after a nominal gap before a retransmission counts as overdue.
double overdue_margin(double nominal_gap_s);
// When the next SYN-ACK retransmission of a request is overdue (its retries are then
// exhausted, unless something ended the request first); nullopt without a SYN-ACK.
std::optional<int64_t> request_deadline(const Connection& c, double initial);
// Whether something ended the request before `deadline`: a RST from either side, proof the
// listener took the handshake (data, its ACK of data, FIN), or a final ACK it did not answer
// with further timer-driven SYN-ACKs (a final ACK dropped on a full queue ends nothing).
// Needs the timer marks that analyze() sets.
bool request_cut(const Connection& c, int64_t deadline);
// Nominal gap k (0-based) of a doubling schedule.
double nominal_gap(double initial, size_t k);

}  // namespace lp
