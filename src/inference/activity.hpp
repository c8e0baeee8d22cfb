// A listener's activity over time: per-second counts of what its handshakes met,
// and the overflow episodes they make up (docs/inference.md, "Episodes").
//
// The counts are wire facts with the outcome inference decided for each flow:
// SYNs answered or met by silence, final ACKs that entered, were dropped (the
// SYN-ACK came again) or reset, syncookies, connections that completed late
// because of them (and by how much), handshakes never answered. Each second of
// capture time is a bin, kept only when something happened in it, so memory
// grows with the seconds that saw handshakes, not with the packets.
//
// An episode is a stretch of trouble signs (a SYN met silence, a final ACK
// dropped or reset, a syncookie sent in on-overflow mode). Two signs belong to
// one episode when at most kEpisodeGap lies between them, or when nothing in
// between shows room (no SYN answered, no connection established): a listener
// that stalls for a minute while clients back off 8 s, 16 s, ... stays one
// episode, and two stalls with service in between are two.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "inference/decide.hpp"
#include "inference/episode.hpp"
#include "inference/names.hpp"
#include "segments/segment.hpp"
#include "tracker/flow.hpp"

namespace lp {

class Activity {
public:
    // A client SYN at `t` met silence (a later SYN of the same request shows it).
    void syn_silent(int64_t t, const IpAddress& client);
    // What a flow's story adds, once inference has decided it (the engine calls this when it
    // releases the flow). Its SYN silences before the last one are counted by syn_silent().
    void flow(const Flow& f, const FlowState& st);

    const std::map<int64_t, ActivityBin>& bins() const { return bins_; }
    // The episodes as of capture time `end` (in order). `cookies_always`: every SYN gets a cookie,
    // so a cookie is no sign of trouble.
    std::vector<Episode> episodes(int64_t end, bool cookies_always) const;

private:
    ActivityBin& bin(int64_t t);
    void trouble(ActivityBin& b, int64_t t, const IpAddress& client);
    std::map<int64_t, ActivityBin> bins_;
};

}  // namespace lp
