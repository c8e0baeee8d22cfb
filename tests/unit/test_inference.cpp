// Schedule fitting and the fate rules, on segments fed through the real tracker.
#include <doctest/doctest.h>

#include "inference/infer.hpp"
#include "tracker/tracker.hpp"

using namespace lp;

namespace {

constexpr int64_t S = 1'000'000'000;

struct Trace {
    Tracker tracker;
    Endpoint server = *Endpoint::parse("10.77.0.2:8081");
    void seg(double t, uint16_t cport, bool to_server, uint8_t flags, uint32_t seq, uint32_t ack,
             uint32_t payload = 0, bool ts = true) {
        Segment s;
        s.t_ns = int64_t(t * S);
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
        tracker.add(s);
    }
    Analysis run(double end = 0) {
        SourceInfo si;
        si.kind = "test";
        InferOptions io;
        if (end > 0) io.end_ns = int64_t(end * S);
        return analyze(tracker, si, io);
    }
};

const Connection* conn(const Analysis& a, uint16_t port) {
    for (auto* c : a.listeners.at(0).connections)
        if (c->client.port == port) return c;
    return nullptr;
}

}  // namespace

TEST_CASE("doubling schedules fit with coalesced timers, others do not") {
    CHECK(schedule_fits({1.01, 2.02, 4.25, 8.2, 16.1}, 1.0));    // 6.18
    CHECK(schedule_fits({1.334, 2.2, 4.2, 8.0, 16.0}, 1.0));     // seed 001, kernel 3.10
    CHECK(schedule_fits({3.0, 6.1, 12.0, 24.2, 48.0}, 3.0));     // old stacks
    CHECK_FALSE(schedule_fits({3.0, 6.1, 12.0}, 1.0));
    CHECK_FALSE(schedule_fits({1.0, 1.0, 1.0}, 1.0));            // linear, not doubling
    CHECK_FALSE(schedule_fits({}, 1.0));
    CHECK(nominal_gap(1.0, 7) == doctest::Approx(120.0));        // capped at TCP_RTO_MAX
    CHECK(overdue_margin(32.0) > 4.0);                           // wide enough for HZ=100 timer wheels
}

TEST_CASE("a final ACK followed by a timer SYN-ACK retransmission is ack-dropped") {
    Trace t;
    t.seg(0.000, 40000, true, tcp::SYN, 100, 0);
    t.seg(0.001, 40000, false, tcp::SYN | tcp::ACK, 900, 101);
    t.seg(0.002, 40000, true, tcp::ACK, 101, 901);
    t.seg(1.001, 40000, false, tcp::SYN | tcp::ACK, 900, 101);
    t.seg(1.002, 40000, true, tcp::ACK, 101, 901);
    Analysis a = t.run();
    REQUIRE(a.listeners.size() == 1);
    CHECK(conn(a, 40000)->fate == Fate::ack_dropped);
    CHECK(a.listeners[0].on_full_ack == "drop");
    CHECK_FALSE(a.listeners[0].retries);             // the capture ends right after: not exhausted
    CHECK(a.listeners[0].retries_at_least == 1);
}

TEST_CASE("RST right after the final ACK is reset-after-ack; a late one is not") {
    Trace t;
    t.seg(0.000, 40001, true, tcp::SYN, 100, 0);
    t.seg(0.001, 40001, false, tcp::SYN | tcp::ACK, 900, 101);
    t.seg(0.002, 40001, true, tcp::ACK, 101, 901);
    t.seg(0.0021, 40001, false, tcp::RST, 901, 0);
    Analysis a = t.run();
    CHECK(conn(a, 40001)->fate == Fate::reset_after_ack);
    CHECK(a.listeners[0].on_full_ack == "rst");
}

TEST_CASE("a bare client RST right after the SYN-ACK spoils the handshake; RST+ACK does not") {
    Trace t;
    t.seg(0.000, 40002, true, tcp::SYN, 100, 0);
    t.seg(0.001, 40002, false, tcp::SYN | tcp::ACK, 900, 101);
    t.seg(0.0011, 40002, true, tcp::RST, 101, 0);        // the prober's kernel
    t.seg(0.100, 40003, true, tcp::SYN, 200, 0);
    t.seg(0.101, 40003, false, tcp::SYN | tcp::ACK, 950, 201);
    t.seg(0.102, 40003, true, tcp::RST | tcp::ACK, 201, 951);  // a deliberate abort
    Analysis a = t.run();
    CHECK(conn(a, 40002)->fate == Fate::reset_by_client);
    CHECK(conn(a, 40003)->fate == Fate::half_open);
    REQUIRE_FALSE(a.listeners[0].warnings.empty());
    CHECK(a.listeners[0].warnings[0].code == "prober-kernel-rst");
}

TEST_CASE("queued connections then a dropped SYN give the capacity; retries exact only past the deadline") {
    Trace t;
    // Three connections established (their byte is ACKed), the fourth client's SYNs meet silence.
    for (uint16_t i = 0; i < 3; ++i) {
        const double b = 0.01 * i;
        const uint32_t isn = 1000 * (i + 1), sisn = 50000 * (i + 1);
        t.seg(b, 41000 + i, true, tcp::SYN, isn, 0);
        t.seg(b + 0.001, 41000 + i, false, tcp::SYN | tcp::ACK, sisn, isn + 1);
        t.seg(b + 0.002, 41000 + i, true, tcp::ACK, isn + 1, sisn + 1);
        t.seg(b + 0.003, 41000 + i, true, tcp::ACK | tcp::PSH, isn + 1, sisn + 1, 1);
        t.seg(b + 0.004, 41000 + i, false, tcp::ACK, sisn + 1, isn + 2);
    }
    t.seg(0.1, 41003, true, tcp::SYN, 9000, 0);
    t.seg(1.1, 41003, true, tcp::SYN, 9000, 0);
    // A half-open request left alone: SYN-ACK at 0.2, retransmitted at 1.2 and 3.2 (retries 2).
    t.seg(0.199, 41004, true, tcp::SYN, 7000, 0);
    t.seg(0.2, 41004, false, tcp::SYN | tcp::ACK, 70000, 7001);
    t.seg(1.21, 41004, false, tcp::SYN | tcp::ACK, 70000, 7001);
    t.seg(3.22, 41004, false, tcp::SYN | tcp::ACK, 70000, 7001);
    Analysis early = t.run(4.0);
    CHECK_FALSE(early.listeners[0].retries);  // 4.0 s: the third retransmission is not overdue yet
    Analysis a = t.run(9.0);
    const auto& v = a.listeners[0];
    REQUIRE(v.capacity);
    CHECK(*v.capacity == 3);
    CHECK(*v.backlog == 2);
    CHECK(v.on_full_syn == "drop");
    REQUIRE(v.retries);
    CHECK(*v.retries == 2);
    REQUIRE(v.initial_rto_s);
    CHECK(*v.initial_rto_s == doctest::Approx(1.0));
    CHECK(conn(a, 41003)->fate == Fate::syn_dropped);
}

TEST_CASE("silence after a final ACK proves nothing without a stateful request") {
    Trace t;
    t.seg(0.000, 42000, true, tcp::SYN, 100, 0);
    t.seg(0.001, 42000, false, tcp::SYN | tcp::ACK, 900, 101);
    t.seg(0.002, 42000, true, tcp::ACK, 101, 901);
    Analysis a = t.run(30.0);
    CHECK(conn(a, 42000)->fate == Fate::unknown);
    CHECK_FALSE(a.listeners[0].capacity);
}

namespace {
// A half-open request: SYN at b, SYN-ACK at b+0.001, then timer retransmissions at the
// given offsets from the first SYN-ACK.
void request(Trace& t, uint16_t port, double b, std::initializer_list<double> rtx) {
    const uint32_t isn = 1000u * port, sisn = 7u * port;
    t.seg(b, port, true, tcp::SYN, isn, 0);
    t.seg(b + 0.001, port, false, tcp::SYN | tcp::ACK, sisn, isn + 1);
    for (double r : rtx) t.seg(b + 0.001 + r, port, false, tcp::SYN | tcp::ACK, sisn, isn + 1);
}
bool warned(const ListenerVerdict& v, const std::string& code) {
    for (const auto& w : v.warnings)
        if (w.code == code) return true;
    return false;
}
}  // namespace

TEST_CASE("retries: one exhausted request showing fewer than another leaves the count a lower bound") {
    Trace t;
    request(t, 42000, 0.0, {1.01, 3.02});
    request(t, 42001, 0.01, {1.01});  // its second retransmission lost on the way
    Analysis a = t.run(12.0);
    const auto& v = a.listeners[0];
    CHECK_FALSE(v.retries);
    CHECK(v.retries_at_least == 2);
    CHECK(warned(v, "retries-disagree"));
}

TEST_CASE("retries: two exhausted requests confirm the larger count; a third with fewer is explained") {
    Trace t;
    request(t, 42010, 0.0, {1.01, 3.02});
    request(t, 42011, 0.01, {1.01, 3.02});
    request(t, 42012, 0.02, {1.01});
    Analysis a = t.run(12.0);
    const auto& v = a.listeners[0];
    REQUIRE(v.retries);
    CHECK(*v.retries == 2);
    CHECK(warned(v, "retries-some-fewer"));
}

TEST_CASE("retries: a lone exhausted request is not enough when the capture shows loss") {
    Trace t;
    request(t, 42020, 0.0, {1.01});
    // Another request whose first SYN-ACK never reached the capture.
    const uint32_t isn = 555;
    t.seg(0.01, 42021, true, tcp::SYN, isn, 0);
    t.seg(1.011, 42021, false, tcp::SYN | tcp::ACK, 77, isn + 1);
    Analysis a = t.run(12.0);
    const auto& v = a.listeners[0];
    CHECK_FALSE(v.retries);
    CHECK(v.retries_at_least == 1);
    CHECK(warned(v, "retries-loss"));
    // Without the lossy request, the same lone request proves the count.
    Trace u;
    request(u, 42020, 0.0, {1.01});
    Analysis b = u.run(12.0);
    REQUIRE(b.listeners[0].retries);
    CHECK(*b.listeners[0].retries == 1);
}

TEST_CASE("retries: a final ACK dropped on a full queue does not end the request") {
    Trace t;
    t.seg(0.000, 42030, true, tcp::SYN, 100, 0);
    t.seg(0.001, 42030, false, tcp::SYN | tcp::ACK, 900, 101);
    t.seg(0.002, 42030, true, tcp::ACK, 101, 901);
    t.seg(1.011, 42030, false, tcp::SYN | tcp::ACK, 900, 101);
    t.seg(3.021, 42030, false, tcp::SYN | tcp::ACK, 900, 101);
    Analysis a = t.run(12.0);
    const auto& v = a.listeners[0];
    CHECK(conn(a, 42030)->fate == Fate::ack_dropped);
    REQUIRE(v.retries);
    CHECK(*v.retries == 2);
    // Analysing again (the live probe does, every 100 ms) gives the same verdict.
    Analysis b = t.run(12.0);
    REQUIRE(b.listeners[0].retries);
    CHECK(*b.listeners[0].retries == 2);
}

TEST_CASE("retries: a final ACK the listener took ends the request") {
    Trace t;
    t.seg(0.000, 42040, true, tcp::SYN, 100, 0);
    t.seg(0.001, 42040, false, tcp::SYN | tcp::ACK, 900, 101);
    t.seg(1.011, 42040, false, tcp::SYN | tcp::ACK, 900, 101);
    t.seg(1.012, 42040, true, tcp::ACK, 101, 901);  // taken: no more SYN-ACKs
    Analysis a = t.run(12.0);
    const auto& v = a.listeners[0];
    CHECK_FALSE(v.retries);
    CHECK(v.retries_at_least == 1);
    CHECK(warned(v, "retries-request-ended"));
}

TEST_CASE("a new handshake on the tuple of a finished one is a new connection that gets the later segments") {
    Trace t;
    t.seg(0.000, 42050, true, tcp::SYN, 100, 0);
    t.seg(0.001, 42050, false, tcp::RST | tcp::ACK, 0, 101);  // refused
    t.seg(2.000, 42050, true, tcp::SYN, 5000, 0);            // the same tuple, a new ISN
    t.seg(2.001, 42050, false, tcp::SYN | tcp::ACK, 900, 5001);
    t.seg(2.002, 42050, true, tcp::ACK, 5001, 901);
    t.seg(3.011, 42050, false, tcp::SYN | tcp::ACK, 900, 5001);
    Analysis a = t.run(4.0);
    const auto& conns = a.listeners.at(0).connections;
    REQUIRE(conns.size() == 2);
    CHECK(conns[0]->fate == Fate::refused);
    CHECK(conns[0]->synack_ns.empty());
    CHECK(conns[1]->fate == Fate::ack_dropped);
    CHECK(conns[1]->synack_ns.size() == 2);
    // The flow table finds the newer one.
    const Connection* found = t.tracker.find(*Endpoint::parse("10.77.0.1:42050"), t.server);
    REQUIRE(found);
    CHECK(found->client_isn == 5000);
}
