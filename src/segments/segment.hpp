// One TCP segment as every source delivers it: the unit that flows from a
// source (pcap file, tcpdump text, live capture) to the handshake tracker.
// Plain data, no allocation: the replay hot path fills one per packet.
#pragma once
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lp {

// An IPv4 or IPv6 address (IPv4 in the first four bytes).
struct IpAddress {
    uint8_t family = 0;  // 4 or 6; 0 = unset
    std::array<uint8_t, 16> bytes{};

    bool operator==(const IpAddress&) const = default;
    auto operator<=>(const IpAddress&) const = default;

    // Canonical text: dotted quad, or RFC 5952 for IPv6 ("fd77::2", "::1").
    std::string str() const;
    // Parses IPv4 or IPv6 text (no brackets, no zone); nullopt if invalid.
    static std::optional<IpAddress> parse(std::string_view text);
    static IpAddress from_v4(const uint8_t* four_bytes);
    static IpAddress from_v6(const uint8_t* sixteen_bytes);
    bool is_v4() const { return family == 4; }
};

struct Endpoint {
    IpAddress addr;
    uint16_t port = 0;

    bool operator==(const Endpoint&) const = default;
    auto operator<=>(const Endpoint&) const = default;

    // "10.77.0.2:8081" or "[fd77::2]:8081".
    std::string str() const;
    // Accepts "ADDR:PORT", "[V6]:PORT"; port 1..65535. nullopt if invalid.
    static std::optional<Endpoint> parse(std::string_view text);
};

struct EndpointHash {
    size_t operator()(const Endpoint& e) const noexcept;
};

namespace tcp {
constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20,
                  ECE = 0x40, CWR = 0x80;
}

// The options of a segment in wire order, as p0f and tcpdump write them ("mss,sok,ts,nop,ws"):
// one 4-bit code per option from the low end of TcpOptions::layout, 0 ends the list.
namespace optcode {
inline constexpr uint8_t nop = 1, mss = 2, ws = 3, sok = 4, sack = 5, ts = 6, eol = 7,
                         other = 8,  // any other kind (TFO, MD5, MPTCP, ...)
                         more = 15;  // more options than the 15 kept
inline constexpr int kMax = 15;
}  // namespace optcode

struct TcpOptions {
    std::optional<uint16_t> mss;
    std::optional<uint8_t> wscale;
    bool sack_ok = false;
    bool has_ts = false;
    uint32_t ts_val = 0, ts_ecr = 0;
    uint64_t layout = 0;  // option codes in wire order (optcode::), 4 bits each, 0 ends

    // Appends the next option's code (an EOL ends the list: nothing after it is kept).
    void push_layout(uint8_t code) {
        int n = 0;
        while (n < 16 && ((layout >> (4 * n)) & 0xF) != 0) ++n;
        if (n == 16) return;
        const uint64_t last = n ? (layout >> (4 * (n - 1))) & 0xF : 0;
        if (last == optcode::eol || last == optcode::more) return;
        layout |= uint64_t(n == optcode::kMax ? optcode::more : code & 0xF) << (4 * n);
    }
};

// "mss,sok,ts,nop,ws" (p0f's olayout names; "" without options).
std::string layout_str(uint64_t layout);

struct Segment {
    int64_t t_ns = 0;      // capture time in ns (pcap: since the Unix epoch; text: since midnight)
    Endpoint src, dst;
    uint32_t seq = 0, ack = 0;
    bool seq_known = true; // tcpdump text omits seq on bare ACKs
    uint8_t flags = 0;
    uint16_t window = 0;
    uint32_t payload = 0;  // TCP payload bytes (from the IP length, not the capture length)
    uint8_t ttl = 0;       // IPv4 TTL or IPv6 hop limit (0: not known, e.g. tcpdump text)
    TcpOptions opt;

    bool has(uint8_t f) const { return (flags & f) == f; }
    bool is_syn() const { return (flags & (tcp::SYN | tcp::ACK | tcp::RST)) == tcp::SYN; }
    bool is_synack() const { return (flags & (tcp::SYN | tcp::ACK | tcp::RST)) == (tcp::SYN | tcp::ACK); }
    bool is_rst() const { return flags & tcp::RST; }
};

// An ICMP or ICMPv6 error that quotes a TCP segment (destination unreachable, time
// exceeded): who sent it and about which segment. Rare, so not part of Segment: the
// live probe decodes it on a separate path (decode_icmp_error) for frames that are not TCP.
struct IcmpError {
    int64_t t_ns = 0;
    IpAddress from;                  // the host or router that sent the error
    uint8_t type = 0, code = 0;      // ICMP (IPv4) or ICMPv6 type and code
    Endpoint quoted_src, quoted_dst; // the TCP segment it quotes
    bool v6() const { return from.family == 6; }
};

// "S", "S.", "R.", "P.", "F." ... as tcpdump prints flags.
std::string flags_str(uint8_t flags);

}  // namespace lp
