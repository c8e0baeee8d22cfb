// Why a probe met silence, from the kernel's point of view: the route to the target
// (its next hop) and the neighbour table entry of that hop, read over rtnetlink (no
// privilege needed). A FAILED or INCOMPLETE entry means the address was never
// resolved on the link (ARP or neighbour discovery got no answer): nothing owns it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "segments/segment.hpp"

namespace lp {

struct NextHop {
    IpAddress addr;        // the target itself when on-link, else the gateway
    int ifindex = 0;
    bool via_gateway = false;
};

// The next hop the kernel's routing table gives for `target` (RTM_GETROUTE), or nullopt.
std::optional<NextHop> route_next_hop(const IpAddress& target);
// The neighbour table state (NUD_* bits) of `addr` on interface `ifindex`, or nullopt
// when there is no entry (RTM_GETNEIGH).
std::optional<uint16_t> neighbour_state(const IpAddress& addr, int ifindex);
// "FAILED", "INCOMPLETE", "REACHABLE", "STALE", ... as `ip neigh` prints them.
std::string nud_state_name(uint16_t state);
// Whether the state says the address is not resolved (FAILED or INCOMPLETE).
bool nud_unresolved(uint16_t state);

}  // namespace lp
