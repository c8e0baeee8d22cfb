// The data of a listener's activity over time and its overflow episodes, as the
// verdict carries them (src/inference/activity.hpp computes them).
#pragma once
#include <cstdint>
#include <vector>

#include "segments/segment.hpp"

namespace lp {

inline constexpr int64_t kEpisodeGap = 3'000'000'000;   // ns
inline constexpr size_t kEpisodeClients = 64;            // distinct client addresses named per bin / episode

// One second of a listener's activity (or the sum over an episode).
struct ActivityCounts {
    uint64_t syn_answered = 0;     // requests whose SYN (first or retransmitted) got a SYN-ACK
    uint64_t syn_silent = 0;       // client SYNs that met silence (retransmitted, or never answered)
    uint64_t established = 0;      // final ACKs proven to have entered the accept queue
    uint64_t ack_dropped = 0;      // final ACKs dropped on a full queue (SYN-ACK retransmitted, or silence)
    uint64_t ack_reset = 0;        // final ACKs answered by RST (tcp_abort_on_overflow=1)
    uint64_t cookies = 0;          // SYN-ACKs proven to be syncookies
    uint64_t delayed = 0;          // connections that got through only after a SYN or final ACK was lost on the way
    int64_t delay_min_ns = 0, delay_max_ns = 0;  // how late they were (when delayed > 0)
    uint64_t never_answered = 0;   // handshakes whose SYNs all met silence
    uint64_t affected = 0;         // connections with a trouble sign (counted at their first sign)
    uint64_t trouble(bool cookies_count) const {
        return syn_silent + ack_dropped + ack_reset + (cookies_count ? cookies : 0);
    }
    void add(const ActivityCounts& o);
};

struct ActivityBin {
    int64_t second = 0;            // capture time in whole seconds (floor of the Unix time)
    ActivityCounts n;
    int64_t first_trouble_ns = 0, last_trouble_ns = 0;  // when trouble > 0
    int64_t first_cookie_ns = 0, last_cookie_ns = 0;    // when cookies > 0
    std::vector<IpAddress> clients;  // distinct clients with a trouble sign here, at most kEpisodeClients
    std::vector<IpAddress> cookie_clients;  // the same for syncookies (trouble unless cookies-always)
    bool more_clients = false;       // ... and others
};

struct Episode {
    int64_t start_ns = 0, end_ns = 0;  // first and last trouble sign (capture time)
    bool open_at_end = false;          // its last sign is less than kEpisodeGap before the capture's end
    ActivityCounts n;
    std::vector<IpAddress> clients;    // distinct clients affected (at most kEpisodeClients)
    bool more_clients = false;
};

}  // namespace lp
