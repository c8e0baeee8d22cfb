// Decoding every supported link type, IPv4 and IPv6, and malformed headers.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "source/decode.hpp"

using namespace lp;

namespace {

// A TCP SYN 10.0.0.1:1234 -> 10.0.0.2:80 with MSS, SACK, TS, NOP, WS options.
std::vector<uint8_t> ipv4_syn(uint32_t payload = 0) {
    std::vector<uint8_t> tcp = {0x04, 0xd2, 0x00, 0x50, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0xa0, 0x02, 0xfa, 0xf0,
                                0, 0, 0, 0,
                                // options: mss 1460, sackOK, TS val 7 ecr 0, nop, wscale 7
                                2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0, 1, 3, 3, 7};
    const uint16_t total = uint16_t(20 + tcp.size() + payload);
    std::vector<uint8_t> ip = {0x45, 0, uint8_t(total >> 8), uint8_t(total), 0, 1, 0x40, 0, 64, 6, 0, 0,
                               10,   0, 0,                    1,             10, 0, 0, 2};
    ip.insert(ip.end(), tcp.begin(), tcp.end());
    ip.insert(ip.end(), payload, 'x');
    return ip;
}

std::vector<uint8_t> ipv6_synack_with_ext() {
    std::vector<uint8_t> tcp = {0x00, 0x50, 0x04, 0xd2, 0, 0, 0, 9, 0x11, 0x22, 0x33, 0x45, 0x50, 0x12, 0xff, 0xff,
                                0, 0, 0, 0};
    std::vector<uint8_t> hbh = {6, 0, 1, 4, 0, 0, 0, 0};  // hop-by-hop, next = TCP, PadN
    const uint16_t plen = uint16_t(hbh.size() + tcp.size());
    std::vector<uint8_t> ip = {0x60, 0, 0, 0, uint8_t(plen >> 8), uint8_t(plen), 0 /*hbh*/, 64};
    uint8_t src[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    uint8_t dst[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    ip.insert(ip.end(), src, src + 16);
    ip.insert(ip.end(), dst, dst + 16);
    ip.insert(ip.end(), hbh.begin(), hbh.end());
    ip.insert(ip.end(), tcp.begin(), tcp.end());
    return ip;
}

std::vector<uint8_t> with_header(std::vector<uint8_t> hdr, const std::vector<uint8_t>& ip) {
    hdr.insert(hdr.end(), ip.begin(), ip.end());
    return hdr;
}

}  // namespace

TEST_CASE("IPv4 SYN over every link type") {
    const auto ip = ipv4_syn();
    struct Case {
        int dlt;
        std::vector<uint8_t> frame;
    };
    std::vector<Case> cases = {
        {kDltEthernet, with_header({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00}, ip)},
        {kDltEthernet, with_header({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0, 5, 0x08, 0x00}, ip)},
        {kDltLinuxSll, with_header({0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00}, ip)},
        {kDltLinuxSll2, with_header({0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0}, ip)},
        {kDltNull, with_header({2, 0, 0, 0}, ip)},
        {kDltNull, with_header({0, 0, 0, 2}, ip)},
        {kDltLoop, with_header({0, 0, 0, 2}, ip)},
        {kDltRaw, ip},
        {kDltIpv4, ip},
    };
    for (const auto& c : cases) {
        CAPTURE(c.dlt);
        Segment s;
        REQUIRE(decode_frame(c.dlt, c.frame.data(), c.frame.size(), 42, s) == DecodeResult::tcp);
        CHECK(s.t_ns == 42);
        CHECK(s.src.str() == "10.0.0.1:1234");
        CHECK(s.dst.str() == "10.0.0.2:80");
        CHECK(s.is_syn());
        CHECK(s.seq == 0x11223344u);
        CHECK(s.payload == 0);
        REQUIRE(s.opt.mss);
        CHECK(*s.opt.mss == 1460);
        CHECK(s.opt.sack_ok);
        CHECK(s.opt.has_ts);
        CHECK(s.opt.ts_val == 7);
        REQUIRE(s.opt.wscale);
        CHECK(*s.opt.wscale == 7);
    }
}

TEST_CASE("IPv6 SYN-ACK behind a hop-by-hop header") {
    auto ip = ipv6_synack_with_ext();
    Segment s;
    REQUIRE(decode_frame(kDltRaw, ip.data(), ip.size(), 0, s) == DecodeResult::tcp);
    CHECK(s.src.str() == "[fd77::2]:80");
    CHECK(s.dst.str() == "[fd77::1]:1234");
    CHECK(s.is_synack());
    CHECK(s.ack == 0x11223345u);
}

TEST_CASE("payload length comes from the IP header, not the capture length") {
    auto ip = ipv4_syn(100);
    Segment s;
    REQUIRE(decode_frame(kDltRaw, ip.data(), 60, 0, s) == DecodeResult::tcp);  // snaplen cut the payload
    CHECK(s.payload == 100);
}

TEST_CASE("bad and partial headers are reported, never read past") {
    auto ip = ipv4_syn();
    Segment s;
    CHECK(decode_frame(kDltRaw, ip.data(), 10, 0, s) == DecodeResult::truncated);
    CHECK(decode_frame(kDltEthernet, ip.data(), 5, 0, s) == DecodeResult::truncated);
    CHECK(decode_frame(kDltLinuxSll2, ip.data(), 19, 0, s) == DecodeResult::truncated);
    auto bad_ihl = ip;
    bad_ihl[0] = 0x43;
    CHECK(decode_frame(kDltRaw, bad_ihl.data(), bad_ihl.size(), 0, s) == DecodeResult::malformed);
    auto bad_doff = ip;
    bad_doff[20 + 12] = 0xf0;  // 60-byte TCP header in a 40-byte segment
    CHECK(decode_frame(kDltRaw, bad_doff.data(), bad_doff.size(), 0, s) == DecodeResult::malformed);
    auto frag = ip;
    frag[6] = 0x00;
    frag[7] = 0x10;  // offset 16*8
    CHECK(decode_frame(kDltRaw, frag.data(), frag.size(), 0, s) == DecodeResult::fragment);
    auto udp = ip;
    udp[9] = 17;
    CHECK(decode_frame(kDltRaw, udp.data(), udp.size(), 0, s) == DecodeResult::not_tcp);
    std::vector<uint8_t> arp = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x06, 0, 0};
    CHECK(decode_frame(kDltEthernet, arp.data(), arp.size(), 0, s) == DecodeResult::not_ip);
}

TEST_CASE("TCP options running past the header stop cleanly") {
    TcpOptions o;
    const uint8_t opts[] = {2, 4, 0x05, 0xb4, 8, 10, 0, 0};  // TS claims 10 bytes, 4 left
    parse_tcp_options(opts, sizeof opts, o);
    CHECK(o.mss);
    CHECK_FALSE(o.has_ts);
    const uint8_t after_eol[] = {0, 2, 4, 0x05, 0xb4};  // EOL, then an option libtins 4.0 rejects
    TcpOptions o2;
    parse_tcp_options(after_eol, sizeof after_eol, o2);
    CHECK_FALSE(o2.mss);
    const uint8_t zero_len[] = {5, 0, 2, 4, 0x05, 0xb4};
    TcpOptions o3;
    parse_tcp_options(zero_len, sizeof zero_len, o3);
    CHECK_FALSE(o3.mss);
}

TEST_CASE("endpoints parse and print canonically") {
    CHECK(Endpoint::parse("10.77.0.2:8081")->str() == "10.77.0.2:8081");
    CHECK(Endpoint::parse("[fd77:0:0::2]:80")->str() == "[fd77::2]:80");
    CHECK(Endpoint::parse("[::1]:8088")->addr.str() == "::1");
    CHECK_FALSE(Endpoint::parse("10.77.0.2"));
    CHECK_FALSE(Endpoint::parse("10.77.0.2:0"));
    CHECK_FALSE(Endpoint::parse("10.77.0.2:65536"));
    CHECK_FALSE(Endpoint::parse("fd77::2:80"));
    CHECK_FALSE(Endpoint::parse("300.1.1.1:80"));
    CHECK_FALSE(Endpoint::parse("[fd77::2]80"));
}
