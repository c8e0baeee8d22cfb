// tcpdump -nn text as a capture source: line formats, flags, options, addresses,
// times, skipped lines, garbage, and the relative -> absolute sequence numbers.
#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "segments/error.hpp"
#include "source/tcpdump_text.hpp"

#ifndef LP_CAPTURES_DIR
#define LP_CAPTURES_DIR "captures"
#endif

namespace {

using lp::Segment;
namespace tcp = lp::tcp;

struct Result {
    std::vector<Segment> segs;
    lp::SourceInfo info;
};

Result drain(lp::Source& src) {
    Result r;
    Segment s;
    while (src.next(s)) r.segs.push_back(s);
    r.info = src.info();
    return r;
}

// The first `split` bytes reach the source as the detection prefix, the rest through the FILE*.
Result read_text(const std::string& text, size_t split = 0) {
    split = std::min(split, text.size());
    FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    std::fwrite(text.data() + split, 1, text.size() - split, f);
    std::rewind(f);
    auto src = lp::make_tcpdump_text_source(f, text.substr(0, split), "test.txt");
    return drain(*src);
}

Result read_capture(const std::string& name) {
    const std::string path = std::string(LP_CAPTURES_DIR) + "/" + name;
    FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE_MESSAGE(f != nullptr, path);
    auto src = lp::make_tcpdump_text_source(f, "", path);
    return drain(*src);
}

Segment one(const std::string& line) {
    auto r = read_text(line + "\n");
    REQUIRE(r.segs.size() == 1);
    return r.segs[0];
}

int64_t tod(int h, int m, int s, int64_t frac_ns) {
    return ((int64_t{h} * 60 + m) * 60 + s) * 1'000'000'000 + frac_ns;
}

const char* kSyn =
    "16:11:58.519076 IP 118.24.105.81.37182 > 10.105.31.91.12345: Flags [S], seq 1450185841, "
    "win 29200, options [mss 1424,sackOK,TS val 3561765739 ecr 0,nop,wscale 7], length 0";

// Every ACK-flagged segment of a connection acknowledges at most `slack` bytes beyond
// the peer's ISN + 1: only true when the numbers are absolute.
void check_absolute(const std::vector<Segment>& segs, uint16_t server_port) {
    std::map<std::pair<uint16_t, bool>, uint32_t> isn;  // (client port, from server) -> ISN
    for (const auto& s : segs) {
        if (!s.has(tcp::SYN)) continue;
        const bool from_server = s.src.port == server_port;
        isn[{from_server ? s.dst.port : s.src.port, from_server}] = s.seq;
    }
    int checked = 0;
    for (const auto& s : segs) {
        if (!s.has(tcp::ACK) || s.src.addr.family != 4) continue;
        const bool from_server = s.src.port == server_port;
        const uint16_t client = from_server ? s.dst.port : s.src.port;
        auto peer = isn.find({client, !from_server});
        if (peer == isn.end()) continue;
        CHECK_MESSAGE(s.ack - (peer->second + 1) <= 200u, "port ", client, " ack ", s.ack);
        if (s.seq_known && !s.has(tcp::SYN)) {
            auto own = isn.find({client, from_server});
            if (own != isn.end()) CHECK(s.seq - (own->second + 1) <= 200u);
        }
        ++checked;
    }
    CHECK(checked > 5);
}

}  // namespace

TEST_CASE("tcpdump text: detection") {
    CHECK(lp::looks_like_tcpdump_text(std::string(kSyn) + "\n"));
    CHECK(lp::looks_like_tcpdump_text("[root@host ~]# tcpdump -nni any port 8088\n"
                                      "tcpdump: verbose output suppressed, use -v or -vv\n"));
    CHECK(lp::looks_like_tcpdump_text(
        "listening on any, link-type LINUX_SLL (Linux cooked), capture size 262144 bytes\n"));
    CHECK(lp::looks_like_tcpdump_text("12:00:00.000001 eth0  In  ARP, Request who-has 10.0.0.1 tell "
                                      "10.0.0.2, length 28\n"));
    CHECK(lp::looks_like_tcpdump_text("2019-02-11 16:11:58.519076 IP6 ::1.1 > ::1.2: Flags [S], seq "
                                      "1, win 1, length 0\n"));
    // a prompt line first, the packet line cut by the end of the prefix: still text
    CHECK(lp::looks_like_tcpdump_text("$ cat out\n16:11:58.519076 IP 1.2.3.4.5 > 6.7.8.9.10: Fl"));
    CHECK_FALSE(lp::looks_like_tcpdump_text(""));
    CHECK_FALSE(lp::looks_like_tcpdump_text("hello world\nthis is a note, 16:00 ok\n"));
    CHECK_FALSE(lp::looks_like_tcpdump_text("12:00:00 the log says hi\n"));
    const char pcap[] = "\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00";
    CHECK_FALSE(lp::looks_like_tcpdump_text(std::string_view(pcap, sizeof pcap - 1)));
    // packet-looking text after a NUL byte is binary, not text
    CHECK_FALSE(lp::looks_like_tcpdump_text(std::string("\0\0", 2) + kSyn));
}

TEST_CASE("tcpdump text: one SYN, every field") {
    const Segment s = one(kSyn);
    CHECK(s.t_ns == tod(16, 11, 58, 519076000));
    CHECK(s.src.str() == "118.24.105.81:37182");
    CHECK(s.dst.str() == "10.105.31.91:12345");
    CHECK(s.flags == tcp::SYN);
    CHECK(s.is_syn());
    CHECK(s.seq_known);
    CHECK(s.seq == 1450185841u);
    CHECK(s.ack == 0u);
    CHECK(s.window == 29200);
    CHECK(s.payload == 0u);
    REQUIRE(s.opt.mss.has_value());
    CHECK(*s.opt.mss == 1424);
    CHECK(s.opt.sack_ok);
    CHECK(s.opt.has_ts);
    CHECK(s.opt.ts_val == 3561765739u);
    CHECK(s.opt.ts_ecr == 0u);
    REQUIRE(s.opt.wscale.has_value());
    CHECK(*s.opt.wscale == 7);
}

TEST_CASE("tcpdump text: flags") {
    const std::vector<std::pair<std::string, uint8_t>> cases = {
        {"S", tcp::SYN},
        {"S.", tcp::SYN | tcp::ACK},
        {".", tcp::ACK},
        {"P.", tcp::PSH | tcp::ACK},
        {"F.", tcp::FIN | tcp::ACK},
        {"FP.", tcp::FIN | tcp::PSH | tcp::ACK},
        {"R", tcp::RST},
        {"R.", tcp::RST | tcp::ACK},
        {"SEW", tcp::SYN | tcp::ECE | tcp::CWR},
        {"S.E", tcp::SYN | tcp::ACK | tcp::ECE},
        {"U.", tcp::URG | tcp::ACK},
        {"Se", tcp::SYN},  // AccECN AE: not one of the 8 flags a Segment keeps
        {"none", 0},
    };
    for (const auto& c : cases) {
        CAPTURE(c.first);
        const Segment s = one("10:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [" + c.first +
                              "], seq 5, ack 7, win 100, urg 3, length 0");
        CHECK(s.flags == c.second);
        CHECK(s.window == 100);
    }
    // letters tcpdump never prints, or no closing bracket: the line is skipped
    for (const char* bad : {"[SX]", "[]", "[S", "[S.] [|tcp]"}) {
        CAPTURE(bad);
        auto r = read_text(std::string("10:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags ") +
                           bad + "\n");
        CHECK(r.segs.empty());
        CHECK(r.info.packets == 1);
        CHECK(r.info.skipped == 1);
    }
}

TEST_CASE("tcpdump text: options") {
    SUBCASE("sack blocks, eol, unknown kinds and length notes are passed over") {
        const Segment s = one(
            "10:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S.], seq 9, ack 10, win 65160, "
            "options [mss 1460[len 5],nop,nop,sack 1 {1:2},unknown-76 0x0102,TS val 1 ecr 4294967295,"
            "nop,wscale 14,eol], length 0");
        REQUIRE(s.opt.mss.has_value());
        CHECK(*s.opt.mss == 1460);
        CHECK_FALSE(s.opt.sack_ok);
        CHECK(s.opt.has_ts);
        CHECK(s.opt.ts_val == 1u);
        CHECK(s.opt.ts_ecr == 4294967295u);
        REQUIRE(s.opt.wscale.has_value());
        CHECK(*s.opt.wscale == 14);
    }
    SUBCASE("a cookie-like SYN-ACK: mss only") {
        const Segment s = one("10:00:00.000000 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 9, ack 10, "
                              "win 65535, options [mss 1460], length 0");
        CHECK(*s.opt.mss == 1460);
        CHECK_FALSE(s.opt.wscale.has_value());
        CHECK_FALSE(s.opt.sack_ok);
        CHECK_FALSE(s.opt.has_ts);
    }
    SUBCASE("no options at all") {
        const Segment s = one("10:00:00.000000 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [R], seq 1, win 0, "
                              "length 0");
        CHECK_FALSE(s.opt.mss.has_value());
        CHECK(s.flags == tcp::RST);
    }
    SUBCASE("[bad opt] inside the brackets") {
        const Segment s = one("10:00:00.000000 IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 3, win 5, "
                              "options [mss 536,[bad opt]], length 0");
        CHECK(*s.opt.mss == 536);
    }
    SUBCASE("option values out of range skip the line") {
        for (const char* o : {"mss 70000", "wscale 256", "TS val 4294967296 ecr 1", "mss x"}) {
            CAPTURE(o);
            auto r = read_text(std::string("10:00:00.000000 IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 3, "
                                           "win 5, options [") + o + "], length 0\n");
            CHECK(r.segs.empty());
            CHECK(r.info.skipped == 1);
        }
    }
}

TEST_CASE("tcpdump text: seq ranges, payload, window") {
    const Segment s = one("10:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 100:182, ack 7, "
                          "win 342, length 82: HTTP: GET / HTTP/1.0");
    CHECK(s.seq == 100u);
    CHECK(s.payload == 82u);
    CHECK(s.window == 342);
    // a range that wraps around 2^32
    const Segment w = one("10:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq "
                          "4294967290:10, ack 7, win 1, length 16");
    CHECK(w.seq == 4294967290u);
    CHECK(w.payload == 16u);
    // a bare ACK prints no seq
    const Segment a = one("10:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 7, win 1, "
                          "length 0");
    CHECK_FALSE(a.seq_known);
    CHECK(a.ack == 7u);
    CHECK(a.payload == 0u);
}

TEST_CASE("tcpdump text: IPv6 addresses end at the last dot") {
    const Segment s = one("20:50:51.727618 IP6 ::1.47368 > ::1.8088: Flags [S], seq 3876113499, win 43690, "
                          "options [mss 65476,sackOK,TS val 2630303458 ecr 0,nop,wscale 7], length 0");
    CHECK(s.src.addr.family == 6);
    CHECK(s.src.addr.str() == "::1");
    CHECK(s.src.port == 47368);
    CHECK(s.dst.str() == "[::1]:8088");
    const Segment g = one("10:00:00.000000 IP6 2001:DB8:0:0::1.443 > fe80::a:b:c:d.55000: Flags [S.], seq 1, "
                          "ack 2, win 3, length 0");
    CHECK(g.src.addr.str() == "2001:db8::1");  // canonical text
    CHECK(g.src.port == 443);
    CHECK(g.dst.addr.str() == "fe80::a:b:c:d");
    CHECK(g.dst.port == 55000);
    const Segment m = one("10:00:00.000000 IP6 ::ffff:10.0.0.1.80 > ::ffff:10.0.0.2.1234: Flags [R], seq 0, "
                          "win 0, length 0");
    CHECK(m.src.addr.family == 6);
    CHECK(m.src.addr.str() == "::ffff:10.0.0.1");
    CHECK(m.src.port == 80);
    // mixed families, bad ports, names instead of numbers: skipped
    const std::string rest = ": Flags [S], seq 1, win 2, length 0\n";
    auto r = read_text("10:00:00.000000 IP6 ::1.5 > 10.0.0.1.6" + rest +
                       "10:00:00.000000 IP 10.0.0.1.65536 > 10.0.0.2.80" + rest +
                       "10:00:00.000000 IP 10.0.0.1.80 > 10.0.0.256.80" + rest +
                       "10:00:00.000000 IP 10.0.0.1 > 10.0.0.2.80" + rest +
                       "10:00:00.000000 IP host.example.com.http > 10.0.0.2.40000" + rest);
    CHECK(r.segs.empty());
    CHECK(r.info.packets == 5);
    CHECK(r.info.skipped == 5);
    bool named = false;
    for (const auto& n : r.info.notes) named = named || n.find("-nn") != std::string::npos;
    CHECK(named);
}

TEST_CASE("tcpdump text: time formats") {
    SUBCASE("microseconds and nanoseconds") {
        CHECK(one(kSyn).t_ns == tod(16, 11, 58, 519076000));
        std::string nano = kSyn;
        nano.replace(0, 15, "16:11:58.519076123");
        CHECK(one(nano).t_ns == tod(16, 11, 58, 519076123));
    }
    SUBCASE("-tttt: a date, ns since the epoch") {
        const Segment s = one(std::string("2019-02-11 ") + kSyn);
        CHECK(s.t_ns == 1549843200LL * 1'000'000'000 + tod(16, 11, 58, 519076000));
        // a date on the next lines carries the day forward without a roll-over guess
        auto r = read_text(std::string("2019-02-11 ") + kSyn + "\n" + "2019-02-12 " + kSyn + "\n");
        REQUIRE(r.segs.size() == 2);
        CHECK(r.segs[1].t_ns - r.segs[0].t_ns == 86400LL * 1'000'000'000);
    }
    SUBCASE("-tt: seconds since the epoch") {
        std::string tt = kSyn;
        tt.replace(0, 15, "1549901518.519076");
        CHECK(one(tt).t_ns == 1549901518519076000LL);
    }
    SUBCASE("out of range times skip the line") {
        for (std::string t : {"10:60:00.000000", "10:00:61.000000", "10:00:00.1234567890", "2019-13-01 10:00:00.000000",
                              "2019-01-01 24:00:00.000000", "10:00:00.", "1:2:3.000000", "123456:00:00.000000",
                              "1549901518.5190"}) {
            CAPTURE(t);
            std::string line = kSyn;
            line.replace(0, 15, t);
            auto r = read_text(std::string(kSyn) + "\n" + line + "\n");
            CHECK(r.segs.size() == 1);
            CHECK(r.info.skipped == 1);
        }
        // without a date, hours past 23 are kept (-ttttt counts from the first packet)
        std::string late = kSyn;
        late.replace(0, 15, "25:00:00.000000");
        CHECK(one(late).t_ns == tod(25, 0, 0, 0));
    }
}

TEST_CASE("tcpdump text: day roll-over") {
    const std::string rest = " IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1, win 2, length 0\n";
    auto r = read_text("23:59:59.900000" + rest + "23:59:59.899990" + rest + "00:00:01.000000" + rest +
                       "00:00:00.999999" + rest + "12:00:00.000000" + rest + "02:00:00.000000" + rest +
                       "23:30:00.000000" + rest + "00:00:02.000000" + rest);
    REQUIRE(r.segs.size() == 8);
    const int64_t day = 86400LL * 1'000'000'000;
    CHECK(r.segs[0].t_ns == tod(23, 59, 59, 900000000));
    CHECK(r.segs[1].t_ns == tod(23, 59, 59, 899990000));  // a small step back stays as printed
    CHECK(r.segs[2].t_ns == day + tod(0, 0, 1, 0));      // midnight passed
    CHECK(r.segs[3].t_ns == day + tod(0, 0, 0, 999999000));
    CHECK(r.segs[4].t_ns == day + tod(12, 0, 0, 0));
    CHECK(r.segs[5].t_ns == day + tod(2, 0, 0, 0));      // 10 h back is nearer than 14 h on
    CHECK(r.segs[6].t_ns == day + tod(23, 30, 0, 0));
    CHECK(r.segs[7].t_ns == 2 * day + tod(0, 0, 2, 0));  // past midnight again
    REQUIRE(r.info.end_ns.has_value());
    CHECK(*r.info.end_ns == r.segs[7].t_ns);
}

TEST_CASE("tcpdump text: -i any, -e and -v line shapes") {
    SUBCASE("tcpdump 4.99 -i any: interface and direction") {
        auto r = read_text(
            "16:11:58.519076 eth0  In  IP 118.24.105.81.37182 > 10.105.31.91.12345: Flags [S], seq 1, win 2, "
            "length 0\n"
            "16:11:58.519145 eth0  Out IP 10.105.31.91.12345 > 118.24.105.81.37182: Flags [S.], seq 5, ack 2, "
            "win 2, length 0\n"
            "16:11:58.519200 lo    In  IP6 ::1.47368 > ::1.8088: Flags [S], seq 3, win 4, length 0\n"
            "16:11:58.519300 any   B   ARP, Request who-has 10.0.0.1 tell 10.0.0.2, length 28\n");
        REQUIRE(r.segs.size() == 3);
        CHECK(r.segs[0].src.port == 37182);
        CHECK(r.segs[1].is_synack());
        CHECK(r.segs[2].src.addr.family == 6);
        CHECK(r.info.packets == 4);
        CHECK(r.info.skipped == 1);
    }
    SUBCASE("-e: link header before the addresses") {
        const Segment s = one("16:11:58.519076 00:11:22:33:44:55 > 66:77:88:99:aa:bb, ethertype IPv4 (0x0800), "
                              "length 74: 10.0.0.1.5000 > 10.0.0.2.80: Flags [S], seq 1, win 2, length 0");
        CHECK(s.src.str() == "10.0.0.1:5000");
    }
    SUBCASE("-v: the TCP part on the line after the IPv4 header") {
        auto r = read_text(
            "16:11:58.519076 IP (tos 0x0, ttl 64, id 4529, offset 0, flags [DF], proto TCP (6), length 60)\n"
            "    118.24.105.81.37182 > 10.105.31.91.12345: Flags [S], cksum 0x2d2f (correct), seq 1450185841, "
            "win 29200, options [mss 1424,sackOK,TS val 3561765739 ecr 0,nop,wscale 7], length 0\n"
            "16:11:58.519145 IP (tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto TCP (6), length 60)\n"
            "    10.105.31.91.12345 > 118.24.105.81.37182: Flags [S.], cksum 0x1111 (incorrect -> 0x2222), "
            "seq 1044766216, ack 1450185842, win 28960, length 0\n"
            "16:11:58.600000 IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto ICMP (1), length 88)\n"
            "    10.0.0.9 > 10.0.0.1: ICMP 10.0.0.2 tcp port 80 unreachable, length 68\n"
            "\tIP (tos 0x0, ttl 64, id 2, offset 0, flags [DF], proto TCP (6), length 60)\n"
            "    10.0.0.1.9 > 10.0.0.2.80: Flags [S], seq 1, win 2, length 0\n"
            "16:11:58.700000 IP6 (flowlabel 0x3ae9d, hlim 64, next-header TCP (6) payload length: 40) ::1.47368 > "
            "::1.8088: Flags [S], cksum 0x0030 (incorrect -> 0x4a5b), seq 3876113499, win 43690, length 0\n"
            "16:11:58.800000 IP (tos 0x0, ttl 64, id 4529, offset 0, flags [DF], proto TCP (6), length 60)\n");
        REQUIRE(r.segs.size() == 3);
        CHECK(r.segs[0].t_ns == tod(16, 11, 58, 519076000));
        CHECK(r.segs[0].seq == 1450185841u);
        CHECK(*r.segs[0].opt.mss == 1424);
        CHECK(r.segs[1].t_ns == tod(16, 11, 58, 519145000));
        CHECK(r.segs[1].ack == 1450185842u);
        CHECK(r.segs[2].src.addr.family == 6);  // the TCP quoted inside the ICMP error is not a segment
        CHECK(r.info.packets == 5);
        // ICMP header + 3 quoted lines, and the last header whose TCP line never came
        CHECK(r.info.skipped == 5);
    }
}

TEST_CASE("tcpdump text: lines that are not TCP segments") {
    const std::string text =
        "[root@leanote ~]# tcpdump -nni any port 8088\n"
        "tcpdump: verbose output suppressed, use -v or -vv for full protocol decode\n"
        "listening on any, link-type LINUX_SLL (Linux cooked), capture size 262144 bytes\n"
        "\n"
        "----\n"
        "16:11:58.000001 IP 10.0.0.1.53 > 10.0.0.2.40000: 1234 1/0/0 A 1.2.3.4 (48)\n"
        "16:11:58.000002 ARP, Request who-has 10.0.0.1 tell 10.0.0.2, length 28\n"
        "16:11:58.000003 IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 1, length 64\n"
        "16:11:58.000004 IP 10.0.0.1.40000 > 10.0.0.2.80: UDP, length 12\n"
        "16:11:58.000005 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1, win 2, length 0\n"
        "\t0x0000:  4500 003c 11b1 4000 4006 2d2f 0a00 0001  E..<..@.@.-/....\n"
        "\n"
        "5 packets captured\n"
        "5 packets received by filter\n"
        "0 packets dropped by kernel\n"
        "16:11:59.000000 IP 10.0.0.1.1 > 10.0.0.2.2: UDP, length 1";  // last line, no newline
    auto r = read_text(text);
    REQUIRE(r.segs.size() == 1);
    CHECK(r.segs[0].t_ns == tod(16, 11, 58, 5000));
    CHECK(r.info.kind == "tcpdump-text");
    CHECK(r.info.path == "test.txt");
    CHECK(r.info.packets == 6);
    CHECK(r.info.skipped == 15);
    REQUIRE(r.info.end_ns.has_value());
    CHECK(*r.info.end_ns == tod(16, 11, 59, 0));  // a later non-TCP packet still proves the capture ran
}

TEST_CASE("tcpdump text: garbage never stops the reader") {
    std::string text;
    text += std::string(kSyn) + "\n";
    text += std::string(3 * 1024 * 1024, 'A') + "\n";                                    // huge line
    const char binary[] = "16:11:58.6 IP \x01\xff\xfe\x80 > \x00\x00: Flags [S]\n";
    text += std::string(binary, sizeof binary - 1);  // binary bytes
    text += "16:11:58.7 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], seq 4294967296, win 1, length 0\n";
    text += "16:11:58.7 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], seq -1, win 1, length 0\n";
    text += "16:11:58.7 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], seq 1, win 65536, length 0\n";
    text += "16:11:58.7 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S.], seq 1, win 6, length 0\n";  // ack missing
    text += "16:11:58.7 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], win 6, length 0\n";          // seq missing
    text += "16:11:58.7 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], seq 1, win 1, length 99999999999\n";
    text += "16:11:58.7 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], seq 12abc, win 1, length 0\n";
    text += "16:11:58.7 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], seq 1, win 1, options [mss 1460, length 0\n";
    text += "999999:00:00.000000 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], seq 1, win 1, length 0\n";
    text += "2300-01-01 00:00:00.000000 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], seq 1, win 1, length 0\n";
    text += "99999999999.000000 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S], seq 1, win 1, length 0\n";
    text += ": Flags [ > : Flags [S\n";
    text += std::string(70000, ' ') + "x";  // over-long last line without a newline
    text += "\n";
    text += std::string(kSyn) + "\r\n";  // pasted with CRLF: still read
    for (size_t split : {size_t{0}, size_t{100}, size_t{4096}}) {
        CAPTURE(split);
        Result r;
        CHECK_NOTHROW(r = read_text(text, split));
        REQUIRE(r.segs.size() == 2);
        CHECK(r.segs[0].seq == 1450185841u);
        CHECK(r.segs[1].seq == 1450185841u);
        CHECK(r.info.skipped == 15);
        bool long_note = false;
        for (const auto& n : r.info.notes) long_note = long_note || n.find("over-long") != std::string::npos;
        CHECK(long_note);
    }
}

TEST_CASE("tcpdump text: text without times is refused with a clear error") {
    CHECK_THROWS_AS(read_text("IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1, win 2, length 0\n"), lp::InputError);
    // an empty text or one with no TCP is simply empty
    CHECK(read_text("").segs.empty());
    CHECK(read_text("hello\n").info.skipped == 1);
}

TEST_CASE("tcpdump text: relative numbers made absolute") {
    SUBCASE("seed 001: the final ACK prints ack 1, which is the server ISN + 1") {
        auto r = read_capture("seed-001-ack-dropped.txt");
        REQUIRE(r.segs.size() == 13);
        CHECK(r.info.packets == 13);
        CHECK(r.info.skipped == 2);  // the two shell prompts
        CHECK(r.info.notes.empty());
        const uint32_t server_isn = 1044766216u;
        CHECK(r.segs[0].is_syn());
        CHECK(r.segs[1].is_synack());
        CHECK(r.segs[1].seq == server_isn);
        CHECK(r.segs[1].ack == 1450185842u);
        int synacks = 0, acks = 0;
        for (size_t i = 1; i < r.segs.size(); ++i) {
            const Segment& s = r.segs[i];
            if (s.is_synack()) {
                ++synacks;
                CHECK(s.seq == server_isn);
                CHECK(s.src.port == 12345);
            } else {
                ++acks;
                CHECK(s.flags == tcp::ACK);
                CHECK_FALSE(s.seq_known);
                CHECK(s.ack == server_isn + 1);
                CHECK(s.window == 229);
            }
            CHECK(s.t_ns >= r.segs[i - 1].t_ns);
        }
        CHECK(synacks == 6);
        CHECK(acks == 6);
        CHECK(r.segs[3].t_ns - r.segs[1].t_ns == 1'334'487'000);
        CHECK(*r.info.end_ns == tod(16, 12, 30, 312821000));
    }
    SUBCASE("seed 003, abort_on_overflow=0: the SYN-ACK of 59836 is missing from the text") {
        auto r = read_capture("seed-003-abort0.txt");
        CHECK(r.info.packets == 59);
        CHECK(r.segs.size() == 59);
        CHECK(r.info.skipped == 6);  // prompt, 2 tcpdump messages, 3 blank lines
        std::vector<Segment> c;      // port 59836, both directions
        for (const auto& s : r.segs)
            if (s.src.port == 59836 || s.dst.port == 59836) c.push_back(s);
        REQUIRE(c.size() == 23);
        CHECK(c[0].is_syn());
        CHECK(c[0].seq == 86886059u);
        // printed absolute (no entry yet): it opens tcpdump's bookkeeping
        CHECK(c[1].seq == 86886060u);
        CHECK(c[1].ack == 2883444459u);
        CHECK(c[1].payload == 82u);
        // "seq 0:82, ack 1": relative to that data segment, the same bytes again
        for (int i = 2; i <= 4; ++i) {
            CHECK(c[static_cast<size_t>(i)].seq == 86886060u);
            CHECK(c[static_cast<size_t>(i)].ack == 2883444459u);
            CHECK(c[static_cast<size_t>(i)].payload == 82u);
        }
        CHECK(c[5].is_synack());
        CHECK(c[5].seq == 2883444458u);
        CHECK(c[5].ack == 86886060u);
        // after the SYN-ACK: "ack 1" is the server ISN + 1, "seq 1:83" the client's ISN + 1
        CHECK(c[6].ack == c[5].seq + 1);
        CHECK_FALSE(c[6].seq_known);
        CHECK(c[7].seq == 86886060u);
        CHECK(c[7].payload == 82u);
        // the server finally takes the data: ack 83 relative = client ISN + 1 + 82
        bool server_acked = false;
        for (const auto& s : c)
            if (s.src.port == 8088 && s.flags == tcp::ACK && s.ack == 86886060u + 82) server_acked = true;
        CHECK(server_acked);
        CHECK(c.back().ack == 86886060u + 82 + 1);  // the final ACK of the FIN
        // the refused IPv6 connection: RST+ACK printed absolute, seq 0
        REQUIRE(r.segs[1].src.addr.family == 6);
        CHECK(r.segs[1].flags == (tcp::RST | tcp::ACK));
        CHECK(r.segs[1].seq == 0u);
        CHECK(r.segs[1].ack == 3876113500u);
        check_absolute(r.segs, 8088);
    }
    SUBCASE("seed 003, abort_on_overflow=1: the RST carries the SYN-ACK's ISN + 1") {
        auto r = read_capture("seed-003-abort1.txt");
        CHECK(r.segs.size() == 31);
        CHECK(r.info.skipped == 5);
        const Segment* synack = nullptr;
        const Segment* rst = nullptr;
        for (const auto& s : r.segs) {
            if (s.src.port == 8088 && s.dst.port == 33542) {
                if (s.is_synack()) synack = &s;
                if (s.is_rst()) rst = &s;
            }
        }
        REQUIRE(synack != nullptr);
        REQUIRE(rst != nullptr);
        CHECK(rst->flags == tcp::RST);
        CHECK(rst->seq == synack->seq + 1);
        CHECK(rst->t_ns - synack->t_ns == 9'000);
        check_absolute(r.segs, 8088);
    }
    SUBCASE("equal ports: the canonical direction comes from the addresses") {
        auto r = read_text(
            "10:00:00.000000 IP 10.0.0.2.5000 > 10.0.0.1.5000: Flags [S], seq 1000000000, win 1, length 0\n"
            "10:00:00.000001 IP 10.0.0.1.5000 > 10.0.0.2.5000: Flags [S.], seq 2000000000, ack 1000000001, win 1, "
            "length 0\n"
            "10:00:00.000002 IP 10.0.0.2.5000 > 10.0.0.1.5000: Flags [P.], seq 1:11, ack 1, win 1, length 10\n"
            "10:00:00.000003 IP 10.0.0.1.5000 > 10.0.0.2.5000: Flags [.], ack 11, win 1, length 0\n");
        REQUIRE(r.segs.size() == 4);
        CHECK(r.segs[2].seq == 1000000001u);
        CHECK(r.segs[2].ack == 2000000001u);
        CHECK(r.segs[3].ack == 1000000011u);
    }
    SUBCASE("a bare ACK opens the bookkeeping: later seqs of its side are unknown") {
        auto r = read_text(
            "10:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000000001, win 1, length 0\n"
            "10:00:00.000001 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:11, ack 1, win 1, length 10\n"
            "10:00:00.000002 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 11, win 1, length 0\n"
            "10:00:00.000003 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 2000000000, ack 1000000001, win 1, "
            "length 0\n"
            "10:00:00.000004 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [R.], seq 1, ack 11, win 1, length 0\n");
        REQUIRE(r.segs.size() == 4);
        CHECK(r.segs[1].ack == 2000000001u);
        CHECK_FALSE(r.segs[1].seq_known);  // relative to a seq tcpdump did not print
        CHECK(r.segs[1].payload == 10u);
        CHECK(r.segs[2].is_synack());       // the server's ack 11 had no base: skipped
        CHECK(r.segs[3].seq == 2000000001u);
        CHECK(r.segs[3].ack == 1000000011u);
        CHECK(r.info.skipped == 1);
        CHECK(r.info.notes.size() == 1);
    }
    SUBCASE("-S text (absolute numbers) is recognised") {
        const std::string hs =
            "10:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 3000000000, win 1, length 0\n"
            "10:00:00.000001 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 1000000000, ack 3000000001, win 1, "
            "length 0\n";
        auto abs = read_text(hs +
                             "10:00:00.000002 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1000000001, win 1, "
                             "length 0\n"
                             "10:00:00.000003 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 3000000001:3000000011, "
                             "ack 1000000001, win 1, length 10\n"
                             "10:00:00.000004 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 3000000011, win 1, "
                             "length 0\n");
        auto rel = read_text(hs +
                             "10:00:00.000002 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 1, length 0\n"
                             "10:00:00.000003 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:11, ack 1, win 1, "
                             "length 10\n"
                             "10:00:00.000004 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 11, win 1, length 0\n");
        REQUIRE(abs.segs.size() == 5);
        REQUIRE(rel.segs.size() == 5);
        for (size_t i = 0; i < 5; ++i) {
            CAPTURE(i);
            CHECK(abs.segs[i].seq == rel.segs[i].seq);
            CHECK(abs.segs[i].ack == rel.segs[i].ack);
            CHECK(abs.segs[i].seq_known == rel.segs[i].seq_known);
        }
        CHECK(rel.segs[2].ack == 1000000001u);
        CHECK(rel.segs[4].ack == 3000000011u);
        REQUIRE(abs.info.notes.size() == 1);
        CHECK(abs.info.notes[0].find("-S") != std::string::npos);
        CHECK(rel.info.notes.empty());
    }
}

TEST_CASE("option layout in order, and the TTL of a -v header") {
    const Result r = read_text(
        "09:00:00.000200 IP (tos 0x0, ttl 128, id 0, offset 0, flags [DF], proto TCP (6), length 52)\n"
        "    10.88.0.2.8080 > 10.88.0.1.43000: Flags [S.], seq 555000, ack 3400000001, win 65535, "
        "options [mss 1460,nop,wscale 8,nop,nop,sackOK], length 0\n"
        "09:00:00.000300 IP 10.88.0.2.8080 > 10.88.0.1.43002: Flags [S.], seq 1, ack 2, win 5, "
        "options [mss 1460,sackOK,TS val 1 ecr 2,nop,wscale 7], length 0\n");
    REQUIRE(r.segs.size() == 2);
    CHECK(r.segs[0].ttl == 128);
    CHECK(lp::layout_str(r.segs[0].opt.layout) == "mss,nop,ws,nop,nop,sok");
    CHECK(r.segs[1].ttl == 0);  // not printed without -v
    CHECK(lp::layout_str(r.segs[1].opt.layout) == "mss,sok,ts,nop,ws");
}
