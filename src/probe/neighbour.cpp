#include "probe/neighbour.hpp"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace lp {
namespace {

class NetlinkSocket {
public:
    NetlinkSocket() {
        fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd_ >= 0) {
            timeval tv{1, 0};  // the kernel answers at once; never hang the probe's report on it
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
    }
    ~NetlinkSocket() {
        if (fd_ >= 0) ::close(fd_);
    }
    NetlinkSocket(const NetlinkSocket&) = delete;
    NetlinkSocket& operator=(const NetlinkSocket&) = delete;
    bool ok() const { return fd_ >= 0; }

    bool send(const void* req, size_t len) const {
        sockaddr_nl kernel{};
        kernel.nl_family = AF_NETLINK;
        return ::sendto(fd_, req, len, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) == ssize_t(len);
    }
    // Calls fn(header) for each message of the answer until NLMSG_DONE, an error, or (for a
    // request without NLM_F_DUMP) the first message.
    template <typename Fn>
    void receive(uint32_t seq, bool dump, Fn&& fn) const {
        std::vector<char> buf(32768);
        for (int rounds = 0; rounds < 1000; ++rounds) {
            const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
            if (n <= 0) return;
            size_t left = size_t(n);
            for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
                if (h->nlmsg_seq != seq) continue;
                if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return;
                fn(h);
                if (!dump) return;
            }
        }
    }

private:
    int fd_ = -1;
};

size_t addr_len(const IpAddress& a) { return a.is_v4() ? 4 : 16; }

}  // namespace

std::optional<NextHop> route_next_hop(const IpAddress& target) {
    NetlinkSocket nl;
    if (!nl.ok()) return std::nullopt;
    struct {
        nlmsghdr h;
        rtmsg r;
        char attrs[64];
    } req{};
    const size_t alen = addr_len(target);
    req.h.nlmsg_type = RTM_GETROUTE;
    req.h.nlmsg_flags = NLM_F_REQUEST;
    req.h.nlmsg_seq = 1;
    req.r.rtm_family = target.is_v4() ? AF_INET : AF_INET6;
    req.r.rtm_dst_len = uint8_t(alen * 8);
    auto* rta = reinterpret_cast<rtattr*>(req.attrs);
    rta->rta_type = RTA_DST;
    rta->rta_len = uint16_t(RTA_LENGTH(alen));
    std::memcpy(RTA_DATA(rta), target.bytes.data(), alen);
    req.h.nlmsg_len = uint32_t(NLMSG_LENGTH(sizeof(rtmsg)) + RTA_ALIGN(rta->rta_len));
    if (!nl.send(&req, req.h.nlmsg_len)) return std::nullopt;
    std::optional<NextHop> out;
    nl.receive(1, false, [&](nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWROUTE) return;
        auto* r = static_cast<rtmsg*>(NLMSG_DATA(h));
        NextHop hop;
        hop.addr = target;
        int len = int(RTM_PAYLOAD(h));
        for (auto* a = RTM_RTA(r); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int)) std::memcpy(&hop.ifindex, RTA_DATA(a), sizeof(int));
            if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) == alen) {
                hop.addr = target.is_v4() ? IpAddress::from_v4(static_cast<const uint8_t*>(RTA_DATA(a)))
                                          : IpAddress::from_v6(static_cast<const uint8_t*>(RTA_DATA(a)));
                hop.via_gateway = true;
            }
        }
        if (r->rtm_type == RTN_UNICAST && hop.ifindex > 0) out = hop;
    });
    return out;
}

std::optional<uint16_t> neighbour_state(const IpAddress& addr, int ifindex) {
    NetlinkSocket nl;
    if (!nl.ok()) return std::nullopt;
    struct {
        nlmsghdr h;
        ndmsg n;
    } req{};
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
    req.h.nlmsg_type = RTM_GETNEIGH;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = 2;
    req.n.ndm_family = addr.is_v4() ? AF_INET : AF_INET6;
    if (!nl.send(&req, req.h.nlmsg_len)) return std::nullopt;
    const size_t alen = addr_len(addr);
    std::optional<uint16_t> out;
    nl.receive(2, true, [&](nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWNEIGH) return;
        auto* n = static_cast<ndmsg*>(NLMSG_DATA(h));
        if (n->ndm_ifindex != ifindex) return;
        int len = int(h->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
        for (auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(n) + NLMSG_ALIGN(sizeof(ndmsg)));
             RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == alen &&
                std::memcmp(RTA_DATA(a), addr.bytes.data(), alen) == 0)
                out = n->ndm_state;
        }
    });
    return out;
}

std::string nud_state_name(uint16_t s) {
    if (s & NUD_FAILED) return "FAILED";
    if (s & NUD_INCOMPLETE) return "INCOMPLETE";
    if (s & NUD_REACHABLE) return "REACHABLE";
    if (s & NUD_STALE) return "STALE";
    if (s & NUD_DELAY) return "DELAY";
    if (s & NUD_PROBE) return "PROBE";
    if (s & NUD_PERMANENT) return "PERMANENT";
    if (s & NUD_NOARP) return "NOARP";
    if (s == NUD_NONE) return "NONE";
    return "state " + std::to_string(s);
}

bool nud_unresolved(uint16_t s) { return (s & (NUD_FAILED | NUD_INCOMPLETE)) != 0; }

}  // namespace lp
