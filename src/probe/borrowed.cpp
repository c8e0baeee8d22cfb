#include "probe/borrowed.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "segments/error.hpp"

namespace lp {

namespace {

constexpr uint16_t kArpRequest = 1, kArpReply = 2;
constexpr uint8_t kNeighbourSolicit = 135, kNeighbourAdvert = 136;

std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

std::string mac_str(const uint8_t* m) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

bool in_prefix(const IpAddress& a, const IpAddress& net, int bits) {
    for (int i = 0; i < bits; ++i) {
        const int byte = i / 8, bit = 7 - i % 8;
        if (((a.bytes[byte] >> bit) & 1) != ((net.bytes[byte] >> bit) & 1)) return false;
    }
    return true;
}

int mask_bits(const sockaddr* m, bool v4) {
    const uint8_t* p = v4 ? reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(m)->sin_addr)
                          : reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(m)->sin6_addr);
    int n = 0;
    for (int i = 0; i < (v4 ? 4 : 16); ++i) n += __builtin_popcount(p[i]);
    return n;
}

IpAddress masked(const IpAddress& a, int bits) {
    IpAddress r = a;
    for (int i = bits; i < (a.is_v4() ? 32 : 128); ++i) r.bytes[i / 8] &= uint8_t(~(1u << (7 - i % 8)));
    return r;
}

// The solicited-node multicast address of `a` (ff02::1:ffXX:XXXX).
IpAddress solicited_node(const IpAddress& a) {
    uint8_t b[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, a.bytes[13], a.bytes[14], a.bytes[15]};
    return IpAddress::from_v6(b);
}

// The Ethernet multicast MAC of an IPv6 multicast group (RFC 2464: 33:33 and its last 32 bits).
std::array<uint8_t, 6> multicast_mac(const IpAddress& g) {
    return {0x33, 0x33, g.bytes[12], g.bytes[13], g.bytes[14], g.bytes[15]};
}

uint16_t csum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum);
}

uint32_t csum_add(uint32_t sum, const uint8_t* p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i]) << 8 | p[i + 1];
    if (n & 1) sum += uint32_t(p[n - 1]) << 8;
    return sum;
}

// An ICMPv6 neighbour message (solicitation or advertisement) in an Ethernet frame:
// 14 + 40 + 24 (+ 8 with a link-layer address option).
size_t build_nd(uint8_t* f, const uint8_t* eth_dst, const uint8_t* eth_src, const IpAddress& src,
                const IpAddress& dst, uint8_t type, uint32_t flags, const IpAddress& target, uint8_t opt_type,
                const uint8_t* opt_mac) {
    const size_t icmp_len = 24 + (opt_mac ? 8 : 0);
    std::memcpy(f, eth_dst, 6);
    std::memcpy(f + 6, eth_src, 6);
    f[12] = 0x86, f[13] = 0xdd;
    uint8_t* ip = f + 14;
    std::memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[4] = uint8_t(icmp_len >> 8), ip[5] = uint8_t(icmp_len);
    ip[6] = 58;    // ICMPv6
    ip[7] = 255;   // neighbour discovery demands hop limit 255
    std::memcpy(ip + 8, src.bytes.data(), 16);
    std::memcpy(ip + 24, dst.bytes.data(), 16);
    uint8_t* m = ip + 40;
    std::memset(m, 0, icmp_len);
    m[0] = type;
    m[4] = uint8_t(flags >> 24), m[5] = uint8_t(flags >> 16), m[6] = uint8_t(flags >> 8), m[7] = uint8_t(flags);
    std::memcpy(m + 8, target.bytes.data(), 16);
    if (opt_mac) {
        m[24] = opt_type;
        m[25] = 1;  // in units of 8 bytes
        std::memcpy(m + 26, opt_mac, 6);
    }
    // Checksum over the pseudo-header (addresses, length, next header) and the message.
    uint32_t sum = csum_add(0, ip + 8, 32);
    sum += uint32_t(icmp_len) + 58;
    sum = csum_add(sum, m, icmp_len);
    const uint16_t c = csum_fold(sum);
    m[2] = uint8_t(c >> 8), m[3] = uint8_t(c);
    return 14 + 40 + icmp_len;
}

size_t build_arp(uint8_t* f, const uint8_t* eth_dst, const uint8_t* eth_src, uint16_t op, const uint8_t* sha,
                 const uint8_t* spa, const uint8_t* tha, const uint8_t* tpa) {
    std::memcpy(f, eth_dst, 6);
    std::memcpy(f + 6, eth_src, 6);
    f[12] = 0x08, f[13] = 0x06;
    uint8_t* a = f + 14;
    a[0] = 0, a[1] = 1;        // Ethernet
    a[2] = 0x08, a[3] = 0x00;  // IPv4
    a[4] = 6, a[5] = 4;
    a[6] = uint8_t(op >> 8), a[7] = uint8_t(op);
    std::memcpy(a + 8, sha, 6);
    std::memcpy(a + 14, spa, 4);
    std::memcpy(a + 18, tha, 6);
    std::memcpy(a + 24, tpa, 4);
    return 14 + 28;
}

}  // namespace

BorrowedSource check_borrowed_source(const IpAddress& addr, const IpAddress& target, const std::string& iface) {
    const std::string a = addr.str();
    if (addr.family != target.family)
        throw UsageError(fmt::format("--source-ip {} is IPv{}, the target {} is IPv{}", a, int(addr.family),
                                     target.str(), int(target.family)));
    const auto& b = addr.bytes;
    const int n = addr.is_v4() ? 4 : 16;
    if (std::all_of(b.begin(), b.begin() + n, [](uint8_t x) { return x == 0; }))
        throw UsageError(fmt::format("--source-ip {} is the unspecified address", a));
    if (addr.is_v4() ? (b[0] >= 224) : b[0] == 0xff)
        throw UsageError(fmt::format("--source-ip {} is a multicast or broadcast address", a));
    if (addr.is_v4() ? b[0] == 127 : (std::all_of(b.begin(), b.begin() + 15, [](uint8_t x) { return x == 0; }) && b[15] == 1))
        throw UsageError(fmt::format("--source-ip {} is a loopback address", a));

    BorrowedSource r;
    r.addr = addr;
    r.iface = iface;
    ifaddrs* ifs = nullptr;
    if (getifaddrs(&ifs) != 0) throw InputError(fmt::format("--source-ip: getifaddrs: {}", std::strerror(errno)));
    std::string owner;
    bool iface_has_family = false;
    for (auto* i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != (addr.is_v4() ? AF_INET : AF_INET6)) continue;
        IpAddress x = addr.is_v4()
                          ? IpAddress::from_v4(reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr))
                          : IpAddress::from_v6(reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr));
        if (x == addr) owner = i->ifa_name;
        if (iface != i->ifa_name || !i->ifa_netmask) continue;
        iface_has_family = true;
        const int bits = mask_bits(i->ifa_netmask, addr.is_v4());
        if (r.prefix.empty() && bits > 0 && in_prefix(addr, x, bits))
            r.prefix = fmt::format("{}/{}", masked(x, bits).str(), bits);
    }
    freeifaddrs(ifs);
    if (!owner.empty())
        throw UsageError(fmt::format("--source-ip {} is an address of this host (on {}): probe without --source-ip "
                                     "(the probe then sends from it, with a firewall rule against the kernel's RSTs)",
                                     a, owner));
    r.ifindex = int(if_nametoindex(iface.c_str()));
    if (r.ifindex == 0) throw InputError(fmt::format("--source-ip: no interface {}", iface));
    const std::string sys = "/sys/class/net/" + iface;
    const std::string type = read_line(sys + "/type");
    unsigned long flags = std::strtoul(read_line(sys + "/flags").c_str(), nullptr, 16);
    if (type != "1" || (flags & IFF_NOARP) || (flags & IFF_LOOPBACK))
        throw InputError(fmt::format("--source-ip needs an Ethernet interface that resolves addresses; {} is not "
                                     "(type {}{}): nothing would claim the listener's answers to {}",
                                     iface, type.empty() ? "?" : type, (flags & IFF_NOARP) ? ", NOARP" : "", a));
    if (r.prefix.empty())
        throw InputError(fmt::format("--source-ip {} is not inside a prefix of {}{}: the listener's answers to it would "
                                     "be routed elsewhere, not to this link",
                                     a, iface, iface_has_family ? "" : fmt::format(" (it has no IPv{} prefix)", int(addr.family))));
    const std::string fwd = addr.is_v4() ? read_line("/proc/sys/net/ipv4/conf/" + iface + "/forwarding")
                                         : read_line("/proc/sys/net/ipv6/conf/" + iface + "/forwarding");
    if (fwd == "1")
        throw InputError(fmt::format("{} forwards packets (net.ipv{}.conf.{}.forwarding=1): the kernel would route the "
                                     "listener's answers to {} back out to the address this probe claims; turn "
                                     "forwarding off on {} or probe without --source-ip",
                                     iface, int(addr.family), iface, a, iface));
    const std::string mac = read_line(sys + "/address");
    unsigned m[6];
    if (std::sscanf(mac.c_str(), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
        throw InputError(fmt::format("--source-ip: {} has no Ethernet address ({})", iface, mac));
    for (int i = 0; i < 6; ++i) r.mac[size_t(i)] = uint8_t(m[i]);
    return r;
}

NeighbourResponder::NeighbourResponder(const BorrowedSource& b) : b_(b) {
    const uint16_t proto = b.addr.is_v4() ? ETH_P_ARP : ETH_P_IPV6;
    fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(proto));
    if (fd_ < 0) {
        const int e = errno;
        std::string msg = fmt::format("--source-ip: cannot open a packet socket on {}: {}", b.iface, std::strerror(e));
        if (e == EPERM || e == EACCES) throw PrivilegeError(msg + " (needs CAP_NET_RAW: run as root)");
        throw InputError(msg);
    }
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(proto);
    sll.sll_ifindex = b.ifindex;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
        const int e = errno;
        ::close(fd_);
        throw InputError(fmt::format("--source-ip: cannot bind a packet socket to {}: {}", b.iface, std::strerror(e)));
    }
    if (!b.addr.is_v4()) {
        // Solicitations for the address go to its solicited-node group: receive that MAC.
        const IpAddress g = solicited_node(b.addr);
        packet_mreq mr{};
        mr.mr_ifindex = b.ifindex;
        mr.mr_type = PACKET_MR_MULTICAST;
        mr.mr_alen = 6;
        const auto mac = multicast_mac(g);
        std::memcpy(mr.mr_address, mac.data(), 6);
        ::setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr);
    }
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0) {
        ::close(fd_);
        throw InputError(fmt::format("--source-ip: eventfd: {}", std::strerror(errno)));
    }
}

NeighbourResponder::~NeighbourResponder() {
    if (thread_.joinable()) {
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t w = ::write(stop_fd_, &one, sizeof one);
        thread_.join();
    }
    ::close(stop_fd_);
    ::close(fd_);
}

void NeighbourResponder::send_frame(const uint8_t* f, size_t n) {
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = b_.ifindex;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, f, 6);
    ::sendto(fd_, f, n, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
}

void NeighbourResponder::check_unused(double wait_s) {
    uint8_t f[128];
    size_t n;
    const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, zero[6] = {};
    if (b_.addr.is_v4()) {
        // An ARP probe (RFC 5227): sender address 0.0.0.0, so no cache learns anything.
        const uint8_t none[4] = {};
        n = build_arp(f, bcast, b_.mac.data(), kArpRequest, b_.mac.data(), none, zero, b_.addr.bytes.data());
    } else {
        // Duplicate address detection (RFC 4862): from ::, to the solicited-node group.
        const IpAddress g = solicited_node(b_.addr);
        const auto mac = multicast_mac(g);
        IpAddress unspec;
        unspec.family = 6;
        n = build_nd(f, mac.data(), b_.mac.data(), unspec, g, kNeighbourSolicit, 0, b_.addr, 0, nullptr);
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
    send_frame(f, n);
    uint8_t buf[2048];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, int(left.count())) <= 0) continue;
        sockaddr_ll from{};
        socklen_t fl = sizeof from;
        const ssize_t r = ::recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fl);
        if (r < 14 || from.sll_pkttype == PACKET_OUTGOING) continue;
        const uint8_t* sender = nullptr;
        if (b_.addr.is_v4()) {
            // A reply (or a request, or another probe) from the address means someone has it.
            if (r >= 42 && buf[12] == 0x08 && buf[13] == 0x06 && std::memcmp(buf + 14 + 14, b_.addr.bytes.data(), 4) == 0)
                sender = buf + 14 + 8;
        } else if (r >= 14 + 40 + 24 && buf[12] == 0x86 && buf[13] == 0xdd && buf[14 + 6] == 58 &&
                   buf[14 + 40] == kNeighbourAdvert && std::memcmp(buf + 14 + 40 + 8, b_.addr.bytes.data(), 16) == 0) {
            sender = buf + 6;
        }
        if (sender)
            throw InputError(fmt::format("--source-ip {} is in use on {}: {} answered for it", b_.addr.str(), b_.iface,
                                         mac_str(sender)));
    }
}

void NeighbourResponder::start() { thread_ = std::thread([this] { run(); }); }

void NeighbourResponder::run() {
    uint8_t buf[2048];
    for (;;) {
        pollfd p[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (p[1].revents) return;
        for (;;) {
            sockaddr_ll from{};
            socklen_t fl = sizeof from;
            const ssize_t r = ::recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fl);
            if (r <= 0) break;
            if (from.sll_pkttype != PACKET_OUTGOING) handle(buf, size_t(r));
        }
    }
}

void NeighbourResponder::handle(const uint8_t* f, size_t n) {
    uint8_t out[128];
    if (b_.addr.is_v4()) {
        if (n < 42 || f[12] != 0x08 || f[13] != 0x06) return;
        const uint8_t* a = f + 14;
        const uint16_t op = uint16_t(a[6] << 8 | a[7]);
        if (a[0] != 0 || a[1] != 1 || a[2] != 0x08 || a[3] != 0 || a[4] != 6 || a[5] != 4 || op != kArpRequest) return;
        if (std::memcmp(a + 24, b_.addr.bytes.data(), 4) != 0) return;
        const uint8_t* sha = a + 8;
        const uint8_t* spa = a + 14;
        const size_t len = build_arp(out, sha, b_.mac.data(), kArpReply, b_.mac.data(), b_.addr.bytes.data(), sha, spa);
        send_frame(out, len);
        ++answered_;
        return;
    }
    // IPv6: a neighbour solicitation (no extension headers) for the address.
    if (n < 14 + 40 + 24 || f[12] != 0x86 || f[13] != 0xdd) return;
    const uint8_t* ip = f + 14;
    const uint8_t* m = ip + 40;
    if (ip[6] != 58 || ip[7] != 255 || m[0] != kNeighbourSolicit || m[1] != 0) return;
    if (std::memcmp(m + 8, b_.addr.bytes.data(), 16) != 0) return;
    const IpAddress src = IpAddress::from_v6(ip + 8);
    IpAddress dst = src;
    uint32_t flags = 0x60000000;  // solicited, override
    const bool from_unspecified = std::all_of(ip + 8, ip + 24, [](uint8_t x) { return x == 0; });
    if (from_unspecified) {
        // Another host's duplicate address detection: tell all nodes (not solicited).
        const uint8_t all[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        dst = IpAddress::from_v6(all);
        flags = 0x20000000;
    }
    const uint8_t all_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
    const size_t len = build_nd(out, from_unspecified ? all_mac : f + 6, b_.mac.data(), b_.addr, dst,
                                kNeighbourAdvert, flags, b_.addr, 2, b_.mac.data());
    send_frame(out, len);
    ++answered_;
}

}  // namespace lp
