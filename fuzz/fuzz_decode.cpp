// libFuzzer target: the hand-written frame decoder (source/decode.hpp), the code
// every captured byte of a pcap or pcapng goes through first.
//
// Input: byte 0 picks the link type (every one the decoder supports, plus an
// unsupported one), the rest is one captured frame, in a buffer of exactly its
// size so AddressSanitizer sees any read past the captured bytes. The same bytes
// also go to decode_ip and parse_tcp_options directly, and the frame is decoded
// once more cut one byte short: a shorter capture must never decode to more. The
// frame also goes to decode_icmp_error (the live probe's path for ICMP errors).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "source/decode.hpp"

namespace {

constexpr int kLinkTypes[] = {lp::kDltNull,      lp::kDltEthernet, lp::kDltRaw,  lp::kDltRawOpenBsd,
                              lp::kDltLoop,      lp::kDltLinuxSll, lp::kDltIpv4, lp::kDltIpv6,
                              lp::kDltLinuxSll2, 147};

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const int dlt = kLinkTypes[data[0] % (sizeof kLinkTypes / sizeof kLinkTypes[0])];
    // A copy of exactly the frame's size: a read past caplen is a heap overflow.
    std::vector<uint8_t> frame(data + 1, data + size);
    const size_t n = frame.size();
    const uint8_t* p = n ? frame.data() : nullptr;

    lp::Segment s;
    const lp::DecodeResult r = lp::decode_frame(dlt, p, n, 42, s);
    check(s.t_ns == 42);
    if (r == lp::DecodeResult::tcp) {
        check(s.src.addr.family == 4 || s.src.addr.family == 6);
        check(s.src.addr.family == s.dst.addr.family);
        check(s.seq_known);
        check(s.payload <= 65535);  // from a 16-bit IP length
        // One byte fewer captured cannot turn a non-TCP frame into TCP, nor change the ports.
        if (n > 0) {
            std::vector<uint8_t> shorter(frame.begin(), frame.end() - 1);
            lp::Segment s2;
            const lp::DecodeResult r2 =
                lp::decode_frame(dlt, shorter.empty() ? nullptr : shorter.data(), shorter.size(), 42, s2);
            if (r2 == lp::DecodeResult::tcp) {
                check(s2.src == s.src && s2.dst == s.dst && s2.seq == s.seq && s2.flags == s.flags);
                check(s2.payload == s.payload);  // from the IP length, not the capture length
            }
        }
    }

    lp::Segment s3;
    (void)lp::decode_ip(p, n, s3);

    // The live probe's ICMP path: only frames that are not TCP, and what it finds is an
    // error about a TCP segment of one address family.
    lp::IcmpError e;
    if (lp::decode_icmp_error(dlt, p, n, 42, e)) {
        check(r != lp::DecodeResult::tcp);
        check(e.t_ns == 42);
        check(e.from.family == 4 || e.from.family == 6);
        check(e.quoted_src.addr.family == e.quoted_dst.addr.family);
        check(e.v6() ? (e.type == 1 || e.type == 3) : (e.type == 3 || e.type == 11));
    }

    lp::TcpOptions opt;
    lp::parse_tcp_options(p, n, opt);
    return 0;
}
