// Decoding one captured frame into a Segment, by hand, for every link type the
// replay supports. No allocation; this is the replay hot path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "segments/segment.hpp"

namespace lp {

enum class DecodeResult : uint8_t {
    tcp,          // `out` holds a TCP segment
    not_ip,       // ARP, LLDP, ... (link layer protocol other than IPv4/IPv6)
    not_tcp,      // IP but another transport (UDP, ICMP, ...)
    fragment,     // a non-first IP fragment
    truncated,    // the capture does not hold the headers
    malformed     // header fields that contradict each other
};

// Link types (DLT values as libpcap reports them) the decoder understands.
constexpr int kDltNull = 0, kDltEthernet = 1, kDltRaw = 12, kDltRawOpenBsd = 14, kDltLoop = 108,
              kDltLinuxSll = 113, kDltIpv4 = 228, kDltIpv6 = 229, kDltLinuxSll2 = 276;

bool link_type_supported(int dlt);
// "Ethernet", "Linux cooked v2", ... or "link type N".
std::string link_type_name(int dlt);

// Decodes a frame of link type `dlt` with `caplen` captured bytes. `t_ns` is copied into out.
DecodeResult decode_frame(int dlt, const uint8_t* data, size_t caplen, int64_t t_ns, Segment& out);
// Decodes from the IP header on (version taken from the first nibble).
DecodeResult decode_ip(const uint8_t* data, size_t caplen, Segment& out);
// Decodes a frame that decode_frame() called not_tcp as an ICMP destination-unreachable
// or time-exceeded error (ICMPv6: types 1 and 3) quoting a TCP segment; false otherwise.
// Not on the replay's path: the live probe calls it for the few frames that are not TCP.
bool decode_icmp_error(int dlt, const uint8_t* data, size_t caplen, int64_t t_ns, IcmpError& out);
// Parses TCP options (kind/length list) into `opt`; stops at EOL or at a bad length.
void parse_tcp_options(const uint8_t* p, size_t len, TcpOptions& opt);

}  // namespace lp
