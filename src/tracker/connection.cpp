#include "tracker/connection.hpp"

namespace lp {

const char* to_string(EventKind k) {
    switch (k) {
        case EventKind::syn: return "syn";
        case EventKind::syn_retransmit: return "syn-retransmit";
        case EventKind::synack: return "synack";
        case EventKind::synack_retransmit: return "synack-retransmit";
        case EventKind::ack: return "ack";
        case EventKind::data: return "data";
        case EventKind::rst: return "rst";
        case EventKind::fin: return "fin";
        case EventKind::other: return "other";
    }
    return "other";
}

const char* to_string(Fate f) {
    switch (f) {
        case Fate::queued: return "queued";
        case Fate::ack_dropped: return "ack-dropped";
        case Fate::reset_after_ack: return "reset-after-ack";
        case Fate::syn_dropped: return "syn-dropped";
        case Fate::half_open: return "half-open";
        case Fate::cookie: return "cookie";
        case Fate::refused: return "refused";
        case Fate::reset_by_client: return "reset-by-client";
        case Fate::unknown: return "unknown";
    }
    return "unknown";
}

const char* to_string(Dir d) { return d == Dir::to_listener ? "to-listener" : "from-listener"; }

}  // namespace lp
