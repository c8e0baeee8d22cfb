// A source turns some input (a capture file, tcpdump text, a live capture)
// into TCP segments, in capture order.
//
// Contract for implementations:
//  - next() fills `out` with the next TCP segment and returns true, or returns
//    false at the end of the input. Frames that are not TCP (other protocols,
//    IP fragments after the first, ICMP, ...) are counted in info().skipped and
//    never returned.
//  - Input that cannot be used at all (not a capture, truncated header, unknown
//    link type) throws lp::InputError with one line fit for stderr. A record
//    truncated at the very end of a file ends the input with a warning instead.
//  - info().end_ns is set when the source proves the capture lasted until that
//    time (pcapng end-of-capture statistics, the live probe's clock).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "segments/segment.hpp"

namespace lp {

// A step of a live probe (baseline, syn-queue, retries, accept-queue, cleanup): what the
// probe was doing from start_ns to end_ns. Timelines draw one panel per step.
struct ProbeStep {
    std::string name;
    int64_t start_ns = 0, end_ns = 0;
};

// A probe's own requests that it reset on purpose before any final ACK (its pcapng says
// which): client ports by the step that opened them.
struct ProbeResets {
    IpAddress client;
    std::vector<std::pair<uint16_t, std::string>> ports;  // port, step; ascending ports
};

struct SourceInfo {
    std::string kind;   // "pcap", "pcapng", "tcpdump-text", "live"
    std::string path;
    uint64_t packets = 0;   // records read, TCP or not
    uint64_t skipped = 0;   // records that were not (decodable) TCP
    std::optional<int64_t> end_ns;  // capture provably lasted until here
    std::vector<std::string> notes;  // things the reader noticed (truncation, ...)
    std::vector<ProbeStep> steps;    // a live probe's steps, or those a probe's pcapng names; in order
    std::optional<ProbeResets> probe_resets;  // a probe's pcapng: the requests it reset on purpose
};

class Source {
public:
    virtual ~Source() = default;
    virtual bool next(Segment& out) = 0;
    virtual const SourceInfo& info() const = 0;
};

// Opens FILE ("-" = standard input) and picks the reader by content:
// pcap (either byte order, micro or nano), pcapng, or tcpdump -nn text.
std::unique_ptr<Source> open_source(const std::string& path);

}  // namespace lp
