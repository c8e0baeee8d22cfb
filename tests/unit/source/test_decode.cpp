// Decoding every supported link type, IPv4 and IPv6, and malformed headers; ICMP errors
// and the probe's capture filter.
#include <doctest/doctest.h>

#include <pcap/pcap.h>

#include <cstring>
#include <string>
#include <vector>

#include "source/decode.hpp"
#include "source/live_capture.hpp"

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

namespace {

// An ICMP error from `from` (IPv4: 10.0.0.<from>) quoting the first 28 bytes of ipv4_syn().
std::vector<uint8_t> ipv4_icmp_error(uint8_t from, uint8_t type, uint8_t code) {
    std::vector<uint8_t> quoted = ipv4_syn();
    quoted.resize(28);
    std::vector<uint8_t> icmp = {type, code, 0, 0, 0, 0, 0, 0};
    icmp.insert(icmp.end(), quoted.begin(), quoted.end());
    const uint16_t total = uint16_t(20 + icmp.size());
    std::vector<uint8_t> ip = {0x45, 0, uint8_t(total >> 8), uint8_t(total), 0, 2, 0, 0, 63, 1, 0, 0,
                               10,   0, 0,                    from,          10, 0, 0, 1};
    ip.insert(ip.end(), icmp.begin(), icmp.end());
    return ip;
}

// An ICMPv6 error from fd77::2 quoting an IPv6 SYN fd77::1:1234 -> fd77::2:80.
std::vector<uint8_t> ipv6_icmp_error(uint8_t type, uint8_t code) {
    const uint8_t a1[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t a2[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::vector<uint8_t> quoted = {0x60, 0, 0, 0, 0, 20, 6, 64};
    quoted.insert(quoted.end(), a1, a1 + 16);
    quoted.insert(quoted.end(), a2, a2 + 16);
    const std::vector<uint8_t> tcp = {0x04, 0xd2, 0x00, 0x50, 1, 2, 3, 4, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0};
    quoted.insert(quoted.end(), tcp.begin(), tcp.end());
    std::vector<uint8_t> icmp = {type, code, 0, 0, 0, 0, 0, 0};
    icmp.insert(icmp.end(), quoted.begin(), quoted.end());
    std::vector<uint8_t> ip = {0x60, 0, 0, 0, 0, uint8_t(icmp.size()), 58, 64};
    ip.insert(ip.end(), a2, a2 + 16);
    ip.insert(ip.end(), a1, a1 + 16);
    ip.insert(ip.end(), icmp.begin(), icmp.end());
    return ip;
}

std::vector<uint8_t> ether(const std::vector<uint8_t>& ip, uint16_t type) {
    std::vector<uint8_t> f = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, uint8_t(type >> 8), uint8_t(type)};
    f.insert(f.end(), ip.begin(), ip.end());
    return f;
}

}  // namespace

TEST_CASE("ICMP errors quoting a TCP segment: a separate decoder, not a Segment") {
    const auto f4 = ether(ipv4_icmp_error(2, 3, 3), 0x0800);
    Segment s;
    CHECK(decode_frame(kDltEthernet, f4.data(), f4.size(), 7, s) == DecodeResult::not_tcp);
    IcmpError e;
    REQUIRE(decode_icmp_error(kDltEthernet, f4.data(), f4.size(), 7, e));
    CHECK(e.t_ns == 7);
    CHECK(e.from.str() == "10.0.0.2");
    CHECK(e.type == 3);
    CHECK(e.code == 3);
    CHECK_FALSE(e.v6());
    CHECK(e.quoted_src.str() == "10.0.0.1:1234");
    CHECK(e.quoted_dst.str() == "10.0.0.2:80");

    const auto raw6 = ipv6_icmp_error(1, 4);
    REQUIRE(decode_icmp_error(kDltRaw, raw6.data(), raw6.size(), 0, e));
    CHECK(e.v6());
    CHECK(e.from.str() == "fd77::2");
    CHECK(e.type == 1);
    CHECK(e.code == 4);
    CHECK(e.quoted_dst.str() == "[fd77::2]:80");
    CHECK(e.quoted_src.port == 1234);

    // Not errors about TCP: an echo request, a SYN itself, a cut frame.
    const auto echo = ether(ipv4_icmp_error(2, 8, 0), 0x0800);
    CHECK_FALSE(decode_icmp_error(kDltEthernet, echo.data(), echo.size(), 0, e));
    const auto syn = ether(ipv4_syn(), 0x0800);
    CHECK_FALSE(decode_icmp_error(kDltEthernet, syn.data(), syn.size(), 0, e));
    CHECK_FALSE(decode_icmp_error(kDltEthernet, f4.data(), 14 + 20 + 8 + 10, 0, e));

    // The TTL (hop limit) comes with every TCP segment.
    REQUIRE(decode_frame(kDltEthernet, syn.data(), syn.size(), 0, s) == DecodeResult::tcp);
    CHECK(s.ttl == 64);
}

TEST_CASE("the probe's capture filter takes its TCP and the ICMP errors about it, nothing else") {
    auto accepts = [](const std::string& filter, int dlt, const std::vector<uint8_t>& frame) {
        pcap_t* p = pcap_open_dead(dlt, 65535);
        REQUIRE(p);
        bpf_program prog{};
        REQUIRE(pcap_compile(p, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0);
        pcap_pkthdr h{};
        h.caplen = h.len = uint32_t(frame.size());
        const bool ok = pcap_offline_filter(&prog, &h, frame.data()) != 0;
        pcap_freecode(&prog);
        pcap_close(p);
        return ok;
    };
    const std::string f80 = capture_filter(*Endpoint::parse("10.0.0.2:80"));
    const std::string f81 = capture_filter(*Endpoint::parse("10.0.0.2:81"));
    const std::string f3 = capture_filter(*Endpoint::parse("10.0.0.3:80"));
    const auto syn = ether(ipv4_syn(), 0x0800);
    CHECK(accepts(f80, kDltEthernet, syn));
    CHECK_FALSE(accepts(f81, kDltEthernet, syn));
    for (auto [type, code] : {std::pair{3, 3}, {3, 1}, {3, 13}, {11, 0}}) {
        const auto err = ether(ipv4_icmp_error(9, uint8_t(type), uint8_t(code)), 0x0800);  // from a router
        CHECK(accepts(f80, kDltEthernet, err));
        CHECK_FALSE(accepts(f81, kDltEthernet, err));  // about another port
        CHECK_FALSE(accepts(f3, kDltEthernet, err));   // about another host
    }
    CHECK_FALSE(accepts(f80, kDltEthernet, ether(ipv4_icmp_error(2, 8, 0), 0x0800)));  // echo request

    const std::string f6 = capture_filter(*Endpoint::parse("[fd77::2]:80"));
    const std::string f6b = capture_filter(*Endpoint::parse("[fd77::2]:81"));
    for (auto [type, code] : {std::pair{1, 4}, {1, 3}, {1, 1}, {3, 0}}) {
        const auto err = ether(ipv6_icmp_error(uint8_t(type), uint8_t(code)), 0x86DD);
        CHECK(accepts(f6, kDltEthernet, err));
        CHECK_FALSE(accepts(f6b, kDltEthernet, err));
    }
    CHECK_FALSE(accepts(f6, kDltEthernet, ether(ipv6_icmp_error(128, 0), 0x86DD)));  // echo request
}
