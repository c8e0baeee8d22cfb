// Hand-written segments fed through the real engine, for the inference tests.
#pragma once
#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "inference/engine.hpp"

namespace lp::test {

constexpr int64_t S = 1'000'000'000;

// Segments are collected and fed in capture-time order, as a capture holds them.
struct Trace {
    std::vector<Segment> segs;
    Endpoint server = *Endpoint::parse("10.77.0.2:8081");
    void seg(double t, uint16_t cport, bool to_server, uint8_t flags, uint32_t seq, uint32_t ack,
             uint32_t payload = 0, bool ts = true) {
        Segment s;
        s.t_ns = int64_t(t * S) + 1000 * S;
        Endpoint client = *Endpoint::parse("10.77.0.1:" + std::to_string(cport));
        s.src = to_server ? client : server;
        s.dst = to_server ? server : client;
        s.flags = flags;
        s.seq = seq;
        s.ack = ack;
        s.payload = payload;
        s.opt.has_ts = ts;
        s.opt.wscale = 7;
        s.opt.sack_ok = true;
        segs.push_back(s);
    }
    Engine build() const {
        std::vector<Segment> v = segs;
        std::stable_sort(v.begin(), v.end(), [](const Segment& a, const Segment& b) { return a.t_ns < b.t_ns; });
        Engine e;
        for (const auto& s : v) e.add(s);
        return e;
    }
    // The verdicts as if the capture ended at `end` (the last packet when 0).
    Analysis run(double end = 0) const {
        SourceInfo si;
        si.kind = "test";
        Engine e = build();
        return e.finish(si, end > 0 ? std::optional<int64_t>(int64_t(end * S) + 1000 * S) : std::nullopt);
    }
    // A complete handshake without data: SYN, SYN-ACK, final ACK.
    void handshake(double b, uint16_t port) {
        const uint32_t isn = 1000u * port, sisn = 7u * port;
        seg(b, port, true, tcp::SYN, isn, 0);
        seg(b + 0.0001, port, false, tcp::SYN | tcp::ACK, sisn, isn + 1);
        seg(b + 0.0002, port, true, tcp::ACK, isn + 1, sisn + 1);
    }
    // A half-open request: SYN at b, SYN-ACK at b+0.001, then timer retransmissions at the
    // given offsets from the first SYN-ACK.
    void request(uint16_t port, double b, std::initializer_list<double> rtx) {
        const uint32_t isn = 1000u * port, sisn = 7u * port;
        seg(b, port, true, tcp::SYN, isn, 0);
        seg(b + 0.001, port, false, tcp::SYN | tcp::ACK, sisn, isn + 1);
        for (double r : rtx) seg(b + 0.001 + r, port, false, tcp::SYN | tcp::ACK, sisn, isn + 1);
    }
};

}  // namespace lp::test
