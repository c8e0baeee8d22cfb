// Timers and the SYN-ACK retransmission schedule.
//
// Linux retransmits a request's SYN-ACK after an initial timeout I (1 s; 3 s on
// old stacks), doubling each time, capped at 120 s; timers are coalesced, so a
// gap comes a little late, never early. These helpers turn that into the times
// inference asks about: when a request's next retransmission is overdue, the
// earliest it could come, whether measured gaps follow a doubling schedule.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "tracker/flow.hpp"

namespace lp {

inline constexpr int64_t kSecNs = 1'000'000'000;
// When a listener's initial timeout is not measured, wait as long as the slowest
// common stack (3 s: old Linux, old Windows) before calling a SYN-ACK unrepeated.
inline constexpr double kDefaultInitialRto = 3.0;

// Nominal gap k (0-based) of a doubling schedule from `initial`, capped at 120 s.
double nominal_gap(double initial, size_t k);
// Tolerance after a nominal gap before a retransmission counts as overdue.
double overdue_margin(double nominal_gap_s);
// The shortest a gap of nominal length `nominal_gap_s` can be (timers fire late, not early).
double shortest_gap(double nominal_gap_s);
// Whether the measured gaps follow the doubling schedule from `initial`.
bool schedule_fits(const std::vector<double>& gaps, double initial);
// 1 or 3 when the gaps fit that schedule, else nothing.
std::optional<double> fit_initial(const std::vector<double>& gaps);

// Gaps (seconds) between the SYN-ACKs a request's timer sent, from its first SYN-ACK;
// only consecutive ones the flow keeps (all of them up to five retransmissions).
std::vector<double> timer_gaps(const Flow& f);
// When the next timer retransmission of a request is overdue, with initial timeout I;
// nothing without a SYN-ACK from its timer.
std::optional<int64_t> rtx_deadline(const Flow& f, double I);
// The earliest the next timer retransmission could come (the request lives at least that long).
std::optional<int64_t> rtx_earliest(const Flow& f, double I);
// Whether something ended the request before `deadline`: a RST from either side, proof
// that the listener took the handshake, or a final ACK the listener did not answer with
// a further timer retransmission (a final ACK dropped on a full queue ends nothing).
bool request_cut(const Flow& f, int64_t deadline);

}  // namespace lp
