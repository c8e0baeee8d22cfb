// The probe's pcapng writer, read back with the project's own reader (open_source):
// every frame, its time to the nanosecond, and the end-of-capture time it records.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "segments/error.hpp"
#include "source/decode.hpp"
#include "source/pcap_file.hpp"
#include "source/pcapng_writer.hpp"
#include "source/source.hpp"

using namespace lp;

namespace {

// An Ethernet frame with IPv4 and TCP 10.0.0.1:sport -> 10.0.0.2:80 (or back), no options.
std::vector<uint8_t> frame(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack, bool to_server,
                           uint32_t payload = 0) {
    std::vector<uint8_t> f = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
    const uint16_t total = uint16_t(40 + payload);
    const uint8_t a = to_server ? 1 : 2, b = to_server ? 2 : 1;
    const std::vector<uint8_t> ip = {0x45, 0, uint8_t(total >> 8), uint8_t(total), 0, 1, 0x40, 0, 64, 6, 0, 0,
                                     10, 0, 0, a, 10, 0, 0, b};
    const uint16_t sp = to_server ? sport : 80, dp = to_server ? 80 : sport;
    const std::vector<uint8_t> tcp = {uint8_t(sp >> 8), uint8_t(sp), uint8_t(dp >> 8), uint8_t(dp),
                                      uint8_t(seq >> 24), uint8_t(seq >> 16), uint8_t(seq >> 8), uint8_t(seq),
                                      uint8_t(ack >> 24), uint8_t(ack >> 16), uint8_t(ack >> 8), uint8_t(ack),
                                      0x50, flags, 0xff, 0xff, 0, 0, 0, 0};
    f.insert(f.end(), ip.begin(), ip.end());
    f.insert(f.end(), tcp.begin(), tcp.end());
    f.insert(f.end(), payload, 'x');
    return f;
}

struct TempFile {
    std::string path;
    TempFile() {
        char name[] = "/tmp/lp-pcapng-test.XXXXXX";
        const int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        ::close(fd);
        path = name;
    }
    ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("pcapng writer: frames, nanosecond times and the end time come back through the reader") {
    TempFile tmp;
    const int64_t t0 = 1'700'000'000'123'456'789;  // ns since the epoch
    struct Sent {
        int64_t t;
        std::vector<uint8_t> data;
        uint32_t len;  // on the wire (data may be cut to the snaplen)
    };
    std::vector<Sent> sent = {
        {t0, frame(40000, tcp::SYN, 1000, 0, true), 0},
        {t0 + 1'000'001, frame(40000, tcp::SYN | tcp::ACK, 5000, 1001, false), 0},
        {t0 + 2'000'003, frame(40000, tcp::ACK, 1001, 5001, true), 0},
        {t0 + 3'000'007, frame(40000, tcp::ACK | tcp::PSH, 1001, 5001, true, 3), 0},  // odd length: padding
        {t0 + 1'000'000'000, frame(40001, tcp::SYN, 77, 0, true), 0},
    };
    for (auto& s : sent) s.len = uint32_t(s.data.size());
    const int64_t end = t0 + 5'000'000'000;
    {
        FILE* f = std::fopen(tmp.path.c_str(), "wb");
        REQUIRE(f);
        PcapngWriter w(f, kDltEthernet, 256);
        for (const auto& s : sent) w.packet(s.t, s.data.data(), uint32_t(s.data.size()), s.len);
        CHECK(w.close(end));
    }

    auto src = open_source(tmp.path);
    std::vector<Segment> got;
    Segment seg;
    while (src->next(seg)) got.push_back(seg);
    const SourceInfo& info = src->info();
    CHECK(info.kind == "pcapng");
    CHECK(info.packets == sent.size());
    CHECK(info.skipped == 0);
    REQUIRE(info.end_ns.has_value());
    CHECK(*info.end_ns == end);
    CHECK(pcapng_end_time(tmp.path) == std::optional<int64_t>(end));
    REQUIRE(got.size() == sent.size());
    for (size_t i = 0; i < got.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i].t_ns == sent[i].t);
    }
    CHECK(got[0].is_syn());
    CHECK(got[0].src.str() == "10.0.0.1:40000");
    CHECK(got[0].dst.str() == "10.0.0.2:80");
    CHECK(got[0].seq == 1000);
    CHECK(got[1].is_synack());
    CHECK(got[1].ack == 1001);
    CHECK(got[3].payload == 3);
    CHECK(got[4].src.port == 40001);
}

TEST_CASE("pcapng writer: a capture with no packet still records its end") {
    TempFile tmp;
    FILE* f = std::fopen(tmp.path.c_str(), "wb");
    REQUIRE(f);
    {
        PcapngWriter w(f, kDltEthernet, 65535);
        CHECK(w.close(1'000'000'000'000'000'000));
    }
    auto src = open_source(tmp.path);
    Segment seg;
    CHECK_FALSE(src->next(seg));
    CHECK(src->info().kind == "pcapng");
    CHECK(src->info().packets == 0);
    CHECK(pcapng_end_time(tmp.path) == std::optional<int64_t>(1'000'000'000'000'000'000));
}

TEST_CASE("pcapng writer: frames cut to the snaplen keep their length on the wire") {
    TempFile tmp;
    const auto big = frame(40002, tcp::ACK, 1, 1, true, 1000);
    {
        FILE* f = std::fopen(tmp.path.c_str(), "wb");
        REQUIRE(f);
        PcapngWriter w(f, kDltEthernet, 96);
        w.packet(1'000'000'000, big.data(), 96, uint32_t(big.size()));
        CHECK(w.close(2'000'000'000));
    }
    auto src = open_source(tmp.path);
    Segment seg;
    REQUIRE(src->next(seg));
    CHECK(seg.payload == 1000);  // from the IP length, not the captured bytes
    CHECK_FALSE(src->next(seg));  // the end time is known once the reader reached the end
    CHECK(src->info().end_ns == std::optional<int64_t>(2'000'000'000));
}

TEST_CASE("pcapng writer: a write error is reported by close()") {
    FILE* f = std::fopen("/dev/full", "wb");
    if (!f) return;  // no /dev/full here
    PcapngWriter w(f, kDltEthernet, 256);
    const auto syn = frame(40003, tcp::SYN, 1, 0, true);
    for (int i = 0; i < 200; ++i) w.packet(int64_t(i) * 1000, syn.data(), uint32_t(syn.size()), uint32_t(syn.size()));
    CHECK_FALSE(w.close(1'000'000));
}
