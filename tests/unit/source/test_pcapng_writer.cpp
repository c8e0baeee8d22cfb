// The probe's pcapng writer, read back with the project's own reader (open_source):
// every frame, its time to the nanosecond, and the end-of-capture time it records; the
// section, interface and packet options it writes, checked block by block.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
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

void save(const std::string& path, const std::string& bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    CHECK(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
    CHECK(std::fclose(f) == 0);
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
        PcapngWriter w(kDltEthernet, 256);
        for (const auto& s : sent) w.packet(s.t, s.data.data(), uint32_t(s.data.size()), s.len);
        save(tmp.path, w.finish(end));
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
    {
        PcapngWriter w(kDltEthernet, 65535);
        save(tmp.path, w.finish(1'000'000'000'000'000'000));
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
        PcapngWriter w(kDltEthernet, 96);
        w.packet(1'000'000'000, big.data(), 96, uint32_t(big.size()));
        save(tmp.path, w.finish(2'000'000'000));
    }
    auto src = open_source(tmp.path);
    Segment seg;
    REQUIRE(src->next(seg));
    CHECK(seg.payload == 1000);  // from the IP length, not the captured bytes
    CHECK_FALSE(src->next(seg));  // the end time is known once the reader reached the end
    CHECK(src->info().end_ns == std::optional<int64_t>(2'000'000'000));
}

namespace {

// The blocks of a pcapng file as (type, body without the trailing length); options of a
// block as (code, value). Little-endian, as the writer makes it.
struct Block {
    uint32_t type;
    std::string body;
};
std::vector<Block> blocks_of(const std::string& f) {
    std::vector<Block> out;
    size_t off = 0;
    while (off + 12 <= f.size()) {
        uint32_t type, len;
        std::memcpy(&type, f.data() + off, 4);
        std::memcpy(&len, f.data() + off + 4, 4);
        REQUIRE(len % 4 == 0);
        REQUIRE(off + len <= f.size());
        uint32_t trail;
        std::memcpy(&trail, f.data() + off + len - 4, 4);
        REQUIRE(trail == len);
        out.push_back({type, f.substr(off + 8, len - 12)});
        off += len;
    }
    CHECK(off == f.size());
    return out;
}
std::vector<std::pair<uint16_t, std::string>> options_of(const std::string& body, size_t off) {
    std::vector<std::pair<uint16_t, std::string>> out;
    while (off + 4 <= body.size()) {
        uint16_t code, len;
        std::memcpy(&code, body.data() + off, 2);
        std::memcpy(&len, body.data() + off + 2, 2);
        if (code == 0) break;
        REQUIRE(off + 4 + len <= body.size());
        out.emplace_back(code, body.substr(off + 4, len));
        off += 4 + ((len + 3u) & ~3u);
    }
    return out;
}
std::vector<std::string> option_values(const std::vector<std::pair<uint16_t, std::string>>& opts, uint16_t code) {
    std::vector<std::string> out;
    for (const auto& [c, v] : opts)
        if (c == code) out.push_back(v);
    return out;
}
uint32_t u32(const std::string& v) {
    uint32_t x = 0;
    REQUIRE(v.size() == 4);
    std::memcpy(&x, v.data(), 4);
    return x;
}

}  // namespace

TEST_CASE("pcapng writer: section, interface, direction and comment options") {
    PcapngWriter w(kDltEthernet, 256);
    const auto syn = frame(40000, tcp::SYN, 1000, 0, true);
    const auto synack = frame(40000, tcp::SYN | tcp::ACK, 5000, 1001, false);
    using D = PcapngWriter::Direction;
    w.comment_next("listenprobe step baseline");
    w.packet(1'000, syn.data(), uint32_t(syn.size()), uint32_t(syn.size()), D::outbound);
    w.packet(2'000, synack.data(), uint32_t(synack.size()), uint32_t(synack.size()), D::inbound);
    w.comment_next("listenprobe step retries");
    w.comment_next("and one more");
    w.packet(3'000, syn.data(), uint32_t(syn.size()), uint32_t(syn.size()));
    // The section's options are known only at the end: set after the packets.
    w.section.os = "Linux 6.1.0";
    w.section.hardware = "x86_64";
    w.section.userappl = "listenprobe 1.2.3 (commit abc)";
    w.section.comments = {"listenprobe probe 10.0.0.2:80 from 10.0.0.1 on veth0; command: listenprobe probe 10.0.0.2:80",
                          "listenprobe steps (start-end, ns since the epoch): baseline 500-2500 retries 2500-9000",
                          "verdicts: port state open"};
    w.interface = {"veth0", "listenprobe probe capture on veth0", "tcp and ip host 10.0.0.2 and tcp port 80"};
    CHECK(w.packets() == 3);
    const std::string file = w.finish(10'000);
    const auto bl = blocks_of(file);
    REQUIRE(bl.size() == 6);  // SHB, IDB, 3 EPB, ISB
    CHECK(bl[0].type == 0x0A0D0D0A);
    CHECK(bl[1].type == 1);
    CHECK(bl[2].type == 6);
    CHECK(bl[5].type == 5);

    const auto shb = options_of(bl[0].body, 16);  // magic, version, section length
    CHECK(option_values(shb, 1).size() == 3);     // opt_comment, one each
    CHECK(option_values(shb, 1)[0].starts_with("listenprobe probe 10.0.0.2:80"));
    CHECK(option_values(shb, 2) == std::vector<std::string>{"x86_64"});
    CHECK(option_values(shb, 3) == std::vector<std::string>{"Linux 6.1.0"});
    CHECK(option_values(shb, 4) == std::vector<std::string>{"listenprobe 1.2.3 (commit abc)"});

    const auto idb = options_of(bl[1].body, 8);
    CHECK(option_values(idb, 2) == std::vector<std::string>{"veth0"});
    CHECK(option_values(idb, 3) == std::vector<std::string>{"listenprobe probe capture on veth0"});
    REQUIRE(option_values(idb, 11).size() == 1);
    CHECK(option_values(idb, 11)[0] == std::string(1, '\0') + "tcp and ip host 10.0.0.2 and tcp port 80");
    CHECK(option_values(idb, 9) == std::vector<std::string>{std::string(1, '\x09')});

    auto epb_opts = [&](const Block& b) {
        uint32_t caplen;
        std::memcpy(&caplen, b.body.data() + 12, 4);
        return options_of(b.body, 20 + ((caplen + 3u) & ~3u));
    };
    const auto e1 = epb_opts(bl[2]), e2 = epb_opts(bl[3]), e3 = epb_opts(bl[4]);
    REQUIRE(option_values(e1, 2).size() == 1);
    CHECK(u32(option_values(e1, 2)[0]) == 2);  // epb_flags: outbound
    CHECK(option_values(e1, 1) == std::vector<std::string>{"listenprobe step baseline"});
    REQUIRE(option_values(e2, 2).size() == 1);
    CHECK(u32(option_values(e2, 2)[0]) == 1);  // inbound
    CHECK(option_values(e2, 1).empty());        // a comment goes on one packet only
    CHECK(option_values(e3, 2).empty());        // direction unknown: no flags
    CHECK(option_values(e3, 1) == std::vector<std::string>{"listenprobe step retries; and one more"});

    // libpcap still reads it, and the reader takes the steps back from the section comment.
    TempFile tmp;
    save(tmp.path, file);
    auto src = open_source(tmp.path);
    Segment seg;
    int n = 0;
    while (src->next(seg)) ++n;
    CHECK(n == 3);
    CHECK(src->info().end_ns == std::optional<int64_t>(10'000));
    const auto& steps = src->info().steps;
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].name == "baseline");
    CHECK(steps[0].start_ns == 500);
    CHECK(steps[0].end_ns == 2500);
    CHECK(steps[1].name == "retries");
    CHECK(steps[1].end_ns == 9000);
}

TEST_CASE("pcapng writer: the steps comment is parsed strictly") {
    CHECK(parse_probe_steps_comment("listenprobe steps (start-end, ns since the epoch): a 1-2 b 2-5").size() == 2);
    CHECK(parse_probe_steps_comment("listenprobe steps (start-end, ns since the epoch):").empty());
    CHECK(parse_probe_steps_comment("listenprobe steps (start-end, ns since the epoch): a 1-x").empty());
    CHECK(parse_probe_steps_comment("listenprobe steps (start-end, ns since the epoch): a 5-2").empty());
    CHECK(parse_probe_steps_comment("some other comment a 1-2").empty());
}

TEST_CASE("pcapng writer: the probe-resets comment, written and read back") {
    ProbeResets r{*IpAddress::parse("10.77.0.1"), {}};
    r.ports = {{61000, "baseline"}, {61001, "syn-queue"}, {61002, "syn-queue"}, {61003, "syn-queue"},
               {61005, "syn-queue"}, {61006, "retries"}, {61007, "retries"}};
    const std::string c = format_probe_resets_comment(r);
    CHECK(c == "listenprobe probe resets (client, then step:ports): 10.77.0.1 baseline:61000 "
               "syn-queue:61001-61003,61005 retries:61006-61007");
    auto back = parse_probe_resets_comment(c);
    REQUIRE(back);
    CHECK(back->client == r.client);
    CHECK(back->ports == r.ports);
    auto v6 = parse_probe_resets_comment("listenprobe probe resets (client, then step:ports): fd77::1 a:1-3");
    REQUIRE(v6);
    CHECK(v6->ports.size() == 3);
    // strict: anything else is not the probe's comment
    for (const char* bad : {"listenprobe probe resets (client, then step:ports):",
                            "listenprobe probe resets (client, then step:ports): nohost a:1",
                            "listenprobe probe resets (client, then step:ports): 10.77.0.1 a:5-2",
                            "listenprobe probe resets (client, then step:ports): 10.77.0.1 a:0",
                            "listenprobe probe resets (client, then step:ports): 10.77.0.1 a:70000",
                            "listenprobe probe resets (client, then step:ports): 10.77.0.1 a:1x",
                            "listenprobe probe resets (client, then step:ports): 10.77.0.1 :1",
                            "some other comment"})
        CHECK_MESSAGE(!parse_probe_resets_comment(bad), bad);
}
