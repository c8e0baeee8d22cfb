// --source-ip ADDR: probing from an address this host does not own. The listener's
// answers to ADDR reach this host only if the link resolves ADDR to our interface, so
// while probing a NeighbourResponder answers ARP requests (IPv4) and neighbour
// solicitations (IPv6) for ADDR with the interface's MAC. The kernel owns no socket and
// no address for ADDR: it drops those answers silently (no RST, so no firewall rule is
// needed), while the capture sees them.
//
// It cannot work, and check_borrowed_source() refuses with the reason, when: ADDR is
// of the other family than the target, special (unspecified, multicast, loopback,
// broadcast), an address of this host; the interface does not resolve addresses
// (loopback, tun, NOARP); ADDR is not inside a prefix of that interface (the answers
// would be routed elsewhere); or the interface forwards (the kernel would send the
// answers back out to ADDR, that is to us). NeighbourResponder::check_unused() then
// asks the link whether another host already has ADDR (an ARP probe, or a duplicate
// address detection solicitation) and refuses if one answers.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "segments/segment.hpp"

namespace lp {

struct BorrowedSource {
    IpAddress addr;
    std::string iface;
    int ifindex = 0;
    std::array<uint8_t, 6> mac{};
    std::string prefix;  // the interface's prefix that holds addr, "10.77.0.0/24"
};

// Throws UsageError (exit 2) for an address that can never work, InputError (exit 1)
// for a host or interface where it cannot; the message says which and why.
BorrowedSource check_borrowed_source(const IpAddress& addr, const IpAddress& target, const std::string& iface);

class NeighbourResponder {
public:
    // Opens the packet socket (needs CAP_NET_RAW: before privileges are dropped).
    explicit NeighbourResponder(const BorrowedSource& b);
    ~NeighbourResponder();  // stops the thread
    NeighbourResponder(const NeighbourResponder&) = delete;
    NeighbourResponder& operator=(const NeighbourResponder&) = delete;

    // Asks the link for `wait_s` seconds whether a host already uses the address;
    // throws InputError naming its MAC if one answers. Before start().
    void check_unused(double wait_s);
    // Answers for the address from a thread until destruction.
    void start();
    uint64_t answered() const { return answered_.load(); }

private:
    void run();
    void handle(const uint8_t* f, size_t n);
    void send_frame(const uint8_t* f, size_t n);

    BorrowedSource b_;
    int fd_ = -1;
    int stop_fd_ = -1;  // eventfd: wakes the thread to end
    std::thread thread_;
    std::atomic<uint64_t> answered_{0};
};

}  // namespace lp
