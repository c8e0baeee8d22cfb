// What the report keeps of one segment of a handshake: the events of the
// connections a report shows (the first N of each listener). Nothing else in
// the engine keeps segments; the facts it reasons on are in Flow.
#pragma once
#include <cstdint>

namespace lp {

enum class Dir : uint8_t { to_listener, from_listener };

enum class EventKind : uint8_t {
    syn, syn_retransmit, synack, synack_retransmit, ack, data, rst, fin, other
};

struct Event {  // 24 bytes
    int64_t t_ns = 0;
    uint32_t seq = 0, ack = 0;
    uint32_t payload = 0;
    Dir dir = Dir::to_listener;
    EventKind kind = EventKind::other;
    uint8_t flags = 0;
    // SYN-ACK retransmissions only: true when the listener's timer sent it,
    // false when it answered a retransmitted client SYN.
    bool timer = false;
};
static_assert(sizeof(Event) == 24);

const char* to_string(EventKind k);
const char* to_string(Dir d);

}  // namespace lp
