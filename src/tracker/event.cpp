#include "tracker/event.hpp"

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

const char* to_string(Dir d) { return d == Dir::to_listener ? "to-listener" : "from-listener"; }

}  // namespace lp
