// What the analyzer concludes about each listener, with its evidence: the
// output of the engine, read by every report. A value the trace does not prove
// stays empty (null / "unknown" in reports) and a warning says why.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inference/episode.hpp"
#include "inference/names.hpp"
#include "inference/stack.hpp"
#include "segments/segment.hpp"
#include "source/source.hpp"
#include "tracker/event.hpp"

namespace lp {

struct Warning {
    std::string code;     // stable, e.g. "prober-kernel-rst", "retries-capture-too-short"
    std::string message;  // one sentence for people
};

// One connection as a report shows it: its events and what became of it.
struct ReportedConnection {
    uint32_t ordinal = 0;     // order of first appearance among the listener's connections
    Endpoint client, server;
    std::optional<int64_t> first_syn_ns;
    int64_t first_ns = 0;     // its first segment
    std::vector<Event> events;
    uint32_t events_omitted = 0;
    Fate fate = Fate::unknown;
    std::string fate_reason;
    std::optional<int64_t> established_ns;  // when it entered the accept queue, if proven
    bool cookie = false;                    // its SYN-ACK was proven to be a syncookie
};

// Probe only: why the target did not answer (docs/contract.md, `no_answer`).
struct NoAnswer {
    // "not-resolved" (the next hop's neighbour entry FAILED/INCOMPLETE), "port-unreachable",
    // "host-unreachable", "admin-prohibited", "no-route", "unreachable" (another ICMP code),
    // "ttl-exceeded", "silence"
    std::string cause;
    std::optional<IpAddress> from;      // who sent the ICMP error, or the unresolved neighbour
    std::optional<int> icmp_type, icmp_code;
    std::string message;                // one line for people
};

struct ListenerVerdict {
    Endpoint listener;
    PortState port_state = PortState::no_answer;

    std::optional<int> capacity;           // accept-queue capacity (established connections held)
    std::optional<int> capacity_at_most;   // bounds when it is not proven exactly
    std::optional<int> capacity_at_least;
    std::optional<int> backlog;            // listen() backlog in effect (Linux: capacity - 1)

    SynPolicy on_full_syn = SynPolicy::unknown;
    AckPolicy on_full_ack = AckPolicy::unknown;

    std::optional<int> retries;            // SYN-ACK retransmissions of one request, exact
    int retries_at_least = 0;
    std::optional<double> initial_rto_s;
    std::vector<double> gaps_s;
    std::optional<double> rtt_s;           // SYN -> SYN-ACK delay of the first answered SYN

    CookieMode syncookies = CookieMode::unknown;
    std::optional<int> syn_queue_capacity;
    std::optional<int> syn_queue_capacity_at_least;
    std::optional<int> syn_queue_capacity_at_most;

    std::optional<StackVerdict> stack;     // stack families consistent with the wire (src/inference/stack.hpp)

    bool several_queues = false;  // several accept queues behind the port (warning reuseport-group)
    bool queues_blurred = false;  // a cookie before a stateful admission, no loss seen: maybe several
    std::optional<int> full_at_most;  // the tightest full-moment bound, even when no capacity is given
    std::vector<Warning> warnings;
    std::optional<NoAnswer> no_answer;     // probe: the port did not answer, and why
    std::vector<std::string> evidence;     // one line per verdict, for people
    std::vector<std::string> assumptions;  // what the exact values rest on beyond the packets

    std::vector<Episode> episodes;         // overflow episodes, in order (src/inference/activity.hpp)
    std::vector<ActivityBin> activity;     // per-second counts, seconds with something in them

    std::vector<ReportedConnection> connections;  // the first ones, in order of first appearance
    uint64_t connections_total = 0;
    std::array<uint64_t, kFates> fate_counts{};   // every connection, reported or not

    const ReportedConnection* find(const Endpoint& client) const {
        for (const auto& c : connections)
            if (c.client == client) return &c;
        return nullptr;
    }
};

// What was run: filled by the command line (and the probe), reported as `run`
// (docs/contract.md). Not part of what the packets prove.
struct RunInfo {
    std::string version, commit;     // as --version prints them
    std::string command;             // "replay" or "probe"
    std::vector<std::string> argv;
    std::string target_given;        // TARGET (probe) or --listener (replay) as given; empty: none
    std::optional<Endpoint> target;  // what it resolved to
    std::string family = "any";      // -4: "ipv4", -6: "ipv6"
    std::string format;              // "text", "json", "jsonl"
    bool events = false;             // --events
    std::string timeline;            // --timeline OUT, empty: none
    double started_at = 0;           // Unix time in seconds when the command started
    double duration_s = 0;           // wall time from then until the report was written
    // probe only
    struct Plan {
        std::string name, path, description;
        std::vector<std::string> steps;
        int syn_tries = 0, syn_burst = 0, retries_requests = 0;
        int mss = 0, wscale = 0, window = 0;
        bool sack = false, timestamps = false;
    };
    struct ProbeOptions {
        std::string interface;   // the capture interface used (-i, or from the route)
        int max_connections = 0;
        double rate_pps = 0, max_wait_s = 0;
        std::string user, write;
        bool quiet = false;
        std::string source_ip;   // --source-ip: an address this host does not own ("" = the route's)
    };
    std::optional<Plan> plan;
    std::optional<ProbeOptions> probe;
    std::optional<double> expected_duration_s;  // what the probe announced before sending
};

struct Analysis {
    RunInfo run;
    SourceInfo source;
    int64_t t0_ns = 0;              // first packet of the source: times are reported from here
    std::optional<int64_t> end_ns;  // the capture provably lasted until here
    std::vector<ListenerVerdict> listeners;
};

}  // namespace lp
