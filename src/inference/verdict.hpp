// What the analyzer concludes about each listener, with its evidence.
// A value the trace does not prove stays empty (null / "unknown" in reports),
// and a warning says why.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "segments/segment.hpp"
#include "source/source.hpp"
#include "tracker/connection.hpp"

namespace lp {

struct Warning {
    std::string code;     // stable, e.g. "prober-kernel-rst", "retries-capture-too-short"
    std::string message;  // one sentence for people
};

struct ListenerVerdict {
    Endpoint listener;
    std::string port_state = "no-answer";  // open | closed | no-answer

    std::optional<int> capacity;           // accept-queue capacity (established connections held)
    std::optional<int> capacity_at_most;   // upper bound when the application accepted meanwhile
    std::optional<int> capacity_at_least;  // lower bound when the queue never filled
    std::optional<int> backlog;            // listen() backlog in effect (Linux: capacity - 1)

    std::string on_full_syn = "unknown";   // drop | unknown
    std::string on_full_ack = "unknown";   // drop | rst | unknown

    std::optional<int> retries;            // SYN-ACK retransmissions of one request, exact
    int retries_at_least = 0;
    std::optional<double> initial_rto_s;
    std::vector<double> gaps_s;
    std::optional<double> rtt_s;           // SYN -> SYN-ACK delay of the first answered SYN

    std::string syncookies = "unknown";    // off | on-overflow | always | unknown
    std::optional<int> syn_queue_capacity;
    std::optional<int> syn_queue_capacity_at_least;

    std::vector<Warning> warnings;
    std::vector<std::string> evidence;     // one line per verdict, for the text report
    std::vector<const Connection*> connections;  // in order of first appearance
    // Finished connections not kept in memory (see Tracker::Retired): counted only.
    uint64_t retired_accepted = 0, retired_refused = 0;
};

struct Analysis {
    SourceInfo source;
    int64_t t0_ns = 0;           // first packet of the source: times are reported from here
    std::optional<int64_t> end_ns;  // the capture provably lasted until here
    std::vector<ListenerVerdict> listeners;
    // Keeps the tracked connections (which the verdicts point into) alive.
    std::shared_ptr<const void> owner;
};

}  // namespace lp
