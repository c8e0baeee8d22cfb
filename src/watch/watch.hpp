// Passive live watching: a live capture (the source) into the streaming engine
// replay uses, and findings printed as they become provable. Sends nothing.
//
//   capture (libpcap, immediate mode, BPF) -> Engine -> every second a snapshot
//   (the verdicts as if the capture ended now) -> findings:
//     episode-start  an overflow episode the wire now shows (SYNs met silence,
//                    final ACKs dropped or reset, syncookies in on-overflow mode)
//     episode-end    the episode is over (no sign for kEpisodeGap), with its counts
//     verdict        the verdicts of a listener changed (bounds narrowed)
//     summary        packets, connections, open episodes, capture drops (every 5 s)
// Ctrl-C (SIGINT, SIGTERM, SIGHUP) or --duration ends it; the caller prints the
// full report of Engine::finish.
//
// Privileges are dropped (to `user`) right after the capture is open.
#pragma once
#include <iosfwd>
#include <optional>
#include <string>

#include "inference/verdict.hpp"
#include "segments/segment.hpp"

namespace lp {

struct WatchOptions {
    std::string interface;
    std::optional<Endpoint> listener;  // only this listener
    std::string filter;                // BPF; empty: tcp (to and from the listener when given)
    double duration_s = 0;             // 0: until a signal
    bool jsonl = false;                // findings as JSON lines (a "type" each), else text lines
    bool summaries = false;            // text: a summary line every few seconds (on a terminal)
    std::string user = "nobody";
};

// The BPF filter watch uses: `o.filter` (and the listener's TCP when one is given), else TCP.
std::string watch_filter(const WatchOptions& o);

// Watches until the duration is over or a signal comes; findings go to `out` as they
// are proven (flushed each). Returns the analysis of everything captured. Throws
// PrivilegeError (exit 3) when the capture cannot be opened for lack of privilege,
// InputError (exit 1) for a missing interface or a bad filter.
Analysis run_watch(const WatchOptions& o, std::ostream& out);
// The signal that ended the last run_watch(), or 0 (the duration ended it).
int watch_stop_signal();

}  // namespace lp
