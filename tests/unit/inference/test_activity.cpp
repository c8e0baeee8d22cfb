// Per-second activity and overflow episodes (src/inference/activity.*), on segments
// fed through the real engine.
#include <doctest/doctest.h>

#include "inference/engine.hpp"
#include "trace.hpp"

using namespace lp;
using namespace lp::test;

namespace {

// A client whose SYNs at the given times all meet silence.
void silent_syns(Trace& t, uint16_t port, std::initializer_list<double> times) {
    for (double x : times) t.seg(x, port, true, tcp::SYN, 1000u * port, 0);
}

// A connection that gets in: SYN, SYN-ACK, ACK, data, the listener ACKs the data.
void served(Trace& t, double b, uint16_t port) {
    t.handshake(b, port);
    const uint32_t isn = 1000u * port, sisn = 7u * port;
    t.seg(b + 0.0003, port, true, tcp::ACK | tcp::PSH, isn + 1, sisn + 1, 10);
    t.seg(b + 0.0004, port, false, tcp::ACK, sisn + 1, isn + 11);
}

double rel(const Analysis& a, int64_t t) { return double(t - a.t0_ns) / 1e9; }

}  // namespace

TEST_CASE("SYNs that meet silence make one episode with their counts and clients") {
    Trace t;
    served(t, 0.0, 40000);
    silent_syns(t, 40001, {0.5, 1.5, 2.5});
    silent_syns(t, 40002, {0.6, 1.6});
    const Analysis a = t.run(4.0);
    const ListenerVerdict& l = a.listeners.at(0);
    REQUIRE(l.episodes.size() == 1);
    const Episode& e = l.episodes[0];
    CHECK(rel(a, e.start_ns) == doctest::Approx(0.5));
    CHECK(rel(a, e.end_ns) == doctest::Approx(2.5));
    CHECK(e.n.syn_silent == 5);
    CHECK(e.n.never_answered == 2);
    CHECK(e.n.affected == 2);
    CHECK(e.clients.size() == 1);
    CHECK(e.open_at_end);  // 1.5 s before the end: it may go on
    // The per-second bins add up to the same SYN counts.
    uint64_t silent = 0, answered = 0;
    for (const auto& b : l.activity) silent += b.n.syn_silent, answered += b.n.syn_answered;
    CHECK(silent == 5);
    CHECK(answered == 1);
}

TEST_CASE("service in between splits episodes; a quiet back-off does not") {
    Trace t;
    silent_syns(t, 40001, {0.0, 1.0});  // first stall
    for (int i = 0; i < 3; ++i) served(t, 5.0 + 0.1 * i, uint16_t(40010 + i));  // room again
    silent_syns(t, 40002, {10.0, 11.0, 13.0, 17.0});  // second stall: backs off 2 s, then 4 s, nothing in between
    const Analysis a = t.run(30.0);
    const auto& ep = a.listeners.at(0).episodes;
    REQUIRE(ep.size() == 2);
    CHECK(rel(a, ep[0].end_ns) == doctest::Approx(1.0));
    CHECK(rel(a, ep[1].start_ns) == doctest::Approx(10.0));
    CHECK(rel(a, ep[1].end_ns) == doctest::Approx(17.0));
    CHECK(ep[1].n.syn_silent == 4);
    CHECK(!ep[1].open_at_end);
    // The connections served between the episodes count in neither.
    CHECK(ep[0].n.established == 0);
    CHECK(ep[1].n.established == 0);
}

TEST_CASE("a connection answered at a retransmitted SYN is late by the time it lost") {
    Trace t;
    const uint16_t p = 40003;
    const uint32_t isn = 1000u * p, sisn = 7u * p;
    t.seg(0.0, p, true, tcp::SYN, isn, 0);
    t.seg(1.0, p, true, tcp::SYN, isn, 0);
    t.seg(1.0001, p, false, tcp::SYN | tcp::ACK, sisn, isn + 1);
    t.seg(1.0002, p, true, tcp::ACK, isn + 1, sisn + 1);
    t.seg(1.0003, p, true, tcp::ACK | tcp::PSH, isn + 1, sisn + 1, 10);
    t.seg(1.0004, p, false, tcp::ACK, sisn + 1, isn + 11);
    const Analysis a = t.run(6.0);
    const auto& ep = a.listeners.at(0).episodes;
    REQUIRE(ep.size() == 1);
    CHECK(ep[0].n.syn_silent == 1);
    CHECK(ep[0].n.never_answered == 0);
    CHECK(ep[0].n.delayed == 1);
    CHECK(double(ep[0].n.delay_max_ns) / 1e9 == doctest::Approx(1.0).epsilon(0.001));
}

TEST_CASE("a final ACK dropped on a full queue is a sign of its own") {
    Trace t;
    const uint16_t p = 40004;
    const uint32_t isn = 1000u * p, sisn = 7u * p;
    t.request(p, 0.0, {1.0, 3.0});  // SYN-ACK again after the final ACK: the ACK was dropped
    t.seg(0.002, p, true, tcp::ACK, isn + 1, sisn + 1);
    const Analysis a = t.run(10.0);
    const auto& ep = a.listeners.at(0).episodes;
    REQUIRE(ep.size() == 1);
    CHECK(ep[0].n.ack_dropped == 1);
    CHECK(ep[0].n.syn_silent == 0);
    CHECK(rel(a, ep[0].start_ns) == doctest::Approx(0.002));
}

TEST_CASE("a listener without trouble has activity but no episode") {
    Trace t;
    for (int i = 0; i < 5; ++i) served(t, 0.3 * i, uint16_t(40020 + i));
    const Analysis a = t.run(3.0);
    const auto& l = a.listeners.at(0);
    CHECK(l.episodes.empty());
    uint64_t est = 0;
    for (const auto& b : l.activity) est += b.n.established;
    CHECK(est == 5);
}
