// Timelines (SVG and text) drawn from a hand-built analysis.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "report/timeline.hpp"

using namespace lp;

namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'000LL * kSec;  // first packet of the source
constexpr int64_t kStart = kT0 + kSec / 2;       // listener's first SYN: t=0.500s

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

Event ev(int64_t t_ns, Dir d, EventKind k, uint8_t flags, uint32_t seq, uint32_t ack, bool timer = false) {
    Event e;
    e.t_ns = t_ns;
    e.dir = d;
    e.kind = k;
    e.flags = flags;
    e.seq = seq;
    e.ack = ack;
    e.timer = timer;
    return e;
}

constexpr Dir C = Dir::to_listener, L = Dir::from_listener;

// A connection that was SYN-ACKed, ACKed and held by the queue.
ReportedConnection queued_conn(uint64_t id, uint16_t port, int64_t at) {
    ReportedConnection c;
    c.ordinal = uint32_t(id);
    c.client = ep(("10.77.0.1:" + std::to_string(port)).c_str());
    c.server = ep("10.77.0.2:8081");
    c.first_syn_ns = at;
    c.events = {ev(at, C, EventKind::syn, tcp::SYN, 1000, 0),
                ev(at + 80'000, L, EventKind::synack, tcp::SYN | tcp::ACK, 5000, 1001),
                ev(at + 150'000, C, EventKind::ack, tcp::ACK, 1001, 5001)};
    c.fate = Fate::queued;
    return c;
}

// The final ACK met a full queue: the listener retransmits its SYN-ACK at 1, 3, 7, 15, 31 s
// and the client answers each one.
ReportedConnection ack_dropped_conn(uint64_t id, uint16_t port, int64_t at) {
    ReportedConnection c;
    c.ordinal = uint32_t(id);
    c.client = ep(("10.77.0.1:" + std::to_string(port)).c_str());
    c.server = ep("10.77.0.2:8081");
    c.first_syn_ns = at;
    const int64_t sa = at + 80'000;
    c.events = {ev(at, C, EventKind::syn, tcp::SYN, 2000, 0),
                ev(sa, L, EventKind::synack, tcp::SYN | tcp::ACK, 6000, 2001),
                ev(sa + 70'000, C, EventKind::ack, tcp::ACK, 2001, 6001)};
    for (int64_t s : {1, 3, 7, 15, 31}) {
        c.events.push_back(ev(sa + s * kSec, L, EventKind::synack_retransmit, tcp::SYN | tcp::ACK, 6000,
                              2001, true));
        c.events.push_back(ev(sa + s * kSec + 70'000, C, EventKind::ack, tcp::ACK, 2001, 6001));
    }
    c.fate = Fate::ack_dropped;
    c.fate_reason = "final ACK met SYN-ACK retransmissions";
    return c;
}

// SYNs met silence.
ReportedConnection syn_dropped_conn(uint64_t id, uint16_t port, int64_t at) {
    ReportedConnection c;
    c.ordinal = uint32_t(id);
    c.client = ep(("10.77.0.1:" + std::to_string(port)).c_str());
    c.server = ep("10.77.0.2:8081");
    c.first_syn_ns = at;
    c.events = {ev(at, C, EventKind::syn, tcp::SYN, 3000, 0)};
    for (int64_t s : {1, 2, 3, 4, 5})
        c.events.push_back(ev(at + s * kSec, C, EventKind::syn_retransmit, tcp::SYN, 3000, 0));
    c.fate = Fate::syn_dropped;
    return c;
}

struct Fixture {
    std::vector<ReportedConnection> conns;  // owns what the verdict points to
    Analysis a;

    void finish() {
        a.source.kind = "pcap";
        a.source.path = "lab/<full>&queue.pcap";
        a.t0_ns = kT0;
        a.end_ns = kStart + 35 * kSec;
        ListenerVerdict l;
        l.listener = ep("10.77.0.2:8081");
        l.port_state = PortState::open;
        l.capacity = 2;
        l.backlog = 1;
        l.on_full_syn = SynPolicy::drop;
        l.on_full_ack = AckPolicy::drop;
        l.retries = 5;
        l.retries_at_least = 5;
        l.initial_rto_s = 1.0;
        l.gaps_s = {1, 2, 4, 8, 16};
        l.rtt_s = 0.00008;
        l.syncookies = CookieMode::off;
        l.warnings.push_back({"retries-capture-too-short", "the capture ends < 2 s after the last SYN-ACK & more"});
        for (const ReportedConnection& c : conns) l.connections.push_back(c);
        for (const ReportedConnection& c : conns) ++l.fate_counts[size_t(c.fate)];
        l.connections_total = conns.size();
        a.listeners.push_back(std::move(l));
    }
    const ListenerVerdict& l() const { return a.listeners.front(); }
};

Fixture three() {
    Fixture f;
    f.conns.push_back(queued_conn(0, 40001, kStart));
    f.conns.push_back(ack_dropped_conn(1, 40002, kStart + 10'000'000));
    f.conns.push_back(syn_dropped_conn(2, 40003, kStart + 20'000'000));
    f.finish();
    return f;
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
    return n;
}

// Minimal well-formedness: every element closed in order, quotes balanced in tags,
// no raw '&' outside an entity. Returns an empty string or what is wrong.
std::string xml_problem(const std::string& s) {
    std::vector<std::string> stack;
    size_t i = 0;
    while (i < s.size()) {
        if (s[i] == '&') {
            const size_t semi = s.find(';', i);
            if (semi == std::string::npos || semi - i > 8) return "raw & at " + std::to_string(i);
            const std::string ent = s.substr(i, semi - i + 1);
            if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;")
                return "unknown entity " + ent;
            i = semi + 1;
            continue;
        }
        if (s[i] == '>') return "stray > at " + std::to_string(i);
        if (s[i] != '<') {
            ++i;
            continue;
        }
        if (s.compare(i, 2, "<?") == 0) {
            i = s.find("?>", i);
            if (i == std::string::npos) return "unclosed <?";
            i += 2;
            continue;
        }
        size_t j = i + 1;
        bool in_quote = false;
        while (j < s.size() && (in_quote || s[j] != '>')) {
            if (s[j] == '"') in_quote = !in_quote;
            if (!in_quote && s[j] == '<') return "< inside a tag at " + std::to_string(j);
            ++j;
        }
        if (j >= s.size()) return "unclosed tag";
        std::string tag = s.substr(i + 1, j - i - 1);
        i = j + 1;
        if (tag.empty()) return "empty tag";
        if (tag.front() == '/') {
            const std::string name = tag.substr(1);
            if (stack.empty() || stack.back() != name) return "mismatched </" + name + ">";
            stack.pop_back();
        } else if (tag.back() != '/') {
            stack.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
        }
    }
    return stack.empty() ? "" : "unclosed <" + stack.back() + ">";
}

// xmllint, when installed, as a second opinion.
bool xmllint_accepts(const std::string& svg) {
    if (std::system("command -v xmllint >/dev/null 2>&1") != 0) return true;
    char path[] = "/tmp/lp_timeline_XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    {
        std::ofstream out(path);
        out << svg;
    }
    const int rc = std::system((std::string("xmllint --noout ") + path + " 2>/dev/null").c_str());
    std::remove(path);
    return rc == 0;
}

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    size_t p = 0;
    while (p < s.size()) {
        size_t nl = s.find('\n', p);
        if (nl == std::string::npos) nl = s.size();
        out.push_back(s.substr(p, nl - p));
        p = nl + 1;
    }
    return out;
}

}  // namespace

TEST_CASE("timeline helpers: steps, labels, tolerance") {
    using namespace timeline_detail;
    CHECK(nice_step(31, 10) == doctest::Approx(2));
    CHECK(nice_step(40, 10) == doctest::Approx(5));
    CHECK(nice_step(10, 10) == doctest::Approx(1));
    CHECK(nice_step(0.02, 10) == doctest::Approx(0.002));
    CHECK(next_nice_step(1) == doctest::Approx(2));
    CHECK(next_nice_step(2) == doctest::Approx(5));
    CHECK(next_nice_step(5) == doctest::Approx(10));
    CHECK(next_nice_step(0.05) == doctest::Approx(0.1));
    CHECK(tick_label(10, 5) == "10s");
    CHECK(tick_label(0.5, 0.5) == "0.5s");
    CHECK(tick_label(-1e-12, 0.5) == "0s");
    CHECK(gap_label(1.0137) == "1.01s");
    CHECK(gap_label(16) == "16.00s");
    CHECK(gap_label(0.0042) == "4.2ms");

    const ReportedConnection a = ack_dropped_conn(0, 1, kStart);
    ReportedConnection b = ack_dropped_conn(1, 2, kStart + 7 * kSec);  // shifted: relative times match
    CHECK(same_pattern(a, b));
    b.events[5].t_ns += kSec / 20;  // 50 ms later at ~3 s: within tolerance
    CHECK(same_pattern(a, b));
    b.events[5].t_ns += kSec;  // 1 s later: another pattern
    CHECK_FALSE(same_pattern(a, b));
    ReportedConnection d = ack_dropped_conn(2, 3, kStart);
    d.events[3].timer = false;  // an answer to a SYN, not the timer
    CHECK_FALSE(same_pattern(a, d));
    ReportedConnection e = ack_dropped_conn(3, 4, kStart);
    e.fate = Fate::half_open;
    CHECK_FALSE(same_pattern(a, e));
}

TEST_CASE("timeline SVG of three connections") {
    const Fixture f = three();
    const std::string svg = render_timeline_svg(f.a, f.l());

    CHECK(svg.starts_with("<?xml"));
    CHECK(svg.ends_with("</svg>\n"));
    CHECK(xml_problem(svg) == "");
    CHECK(xmllint_accepts(svg));
    CHECK(svg.find("<script") == std::string::npos);
    CHECK(svg.find("@font-face") == std::string::npos);
    CHECK(svg.find("http://www.w3.org/2000/svg") != std::string::npos);
    CHECK(svg.find(R"(version="1.1")") != std::string::npos);

    // One lane per connection, labelled with the client port.
    CHECK(count(svg, R"(class="lane")") == 3);
    CHECK(svg.find(">40001<") != std::string::npos);
    CHECK(svg.find(">40002<") != std::string::npos);
    CHECK(svg.find(">40003<") != std::string::npos);

    // Gaps between consecutive SYN-ACKs of the ack-dropped connection.
    for (const char* gap : {">1.00s<", ">2.00s<", ">4.00s<", ">8.00s<", ">16.00s<"})
        CHECK_MESSAGE(svg.find(gap) != std::string::npos, gap);
    // The other connections have a single SYN-ACK or none: exactly five gap brackets.
    CHECK(count(svg, R"(stroke="#888888" fill="none")") == 5);

    // Legend: the fates present, and every mark.
    CHECK(svg.find(R"(id="legend")") != std::string::npos);
    const std::string legend = svg.substr(svg.find(R"(id="legend")"));
    CHECK(legend.find(">queued<") != std::string::npos);
    CHECK(legend.find(">ack-dropped<") != std::string::npos);
    CHECK(legend.find(">syn-dropped<") != std::string::npos);
    CHECK(legend.find(">half-open<") > legend.find("</g>"));  // absent fates are not listed
    CHECK(legend.find("SYN-ACK retransmit (timer)") != std::string::npos);
    CHECK(legend.find("SYN-ACK retransmit (answer to a SYN)") != std::string::npos);

    // Header: the listener, its verdicts, unknowns and the (escaped) warning.
    CHECK(svg.find("Listener 10.77.0.2:8081") != std::string::npos);
    CHECK(svg.find("capacity 2, backlog 1") != std::string::npos);
    CHECK(svg.find("SYN drop, ACK drop") != std::string::npos);
    CHECK(svg.find("retries 5, initial RTO 1.00s") != std::string::npos);
    CHECK(svg.find(">off<") != std::string::npos);
    CHECK(svg.find(">capacity unknown<") != std::string::npos);  // the SYN queue is null
    CHECK(svg.find("ends &lt; 2 s after the last SYN-ACK &amp; more") != std::string::npos);
    CHECK(svg.find("lab/&lt;full&gt;&amp;queue.pcap") != std::string::npos);
    CHECK(svg.find("t=0.500s in the capture") != std::string::npos);

    // The axis starts at the listener's first SYN and the 31 s retransmission fits.
    CHECK(svg.find(">0s<") != std::string::npos);
    CHECK(svg.find(">30s<") != std::string::npos);
    CHECK(svg.find("capture end") != std::string::npos);

    // Deterministic.
    CHECK(render_timeline_svg(f.a, f.l()) == svg);
}

TEST_CASE("timeline SVG with null verdicts and no connections") {
    Analysis a;
    ListenerVerdict l;
    l.listener = *Endpoint::parse("[fd77::2]:8081");
    a.listeners.push_back(l);
    const std::string svg = render_timeline_svg(a, a.listeners.front());
    CHECK(xml_problem(svg) == "");
    CHECK(xmllint_accepts(svg));
    CHECK(svg.find("[fd77::2]:8081") != std::string::npos);
    CHECK(svg.find("capacity unknown, backlog unknown") != std::string::npos);
    CHECK(svg.find("SYN unknown, ACK unknown") != std::string::npos);
    CHECK(svg.find("retries unknown, initial RTO unknown") != std::string::npos);
    CHECK(svg.find("no connections seen") != std::string::npos);
    CHECK(render_timeline_text(a, a.listeners.front()).find("no connections seen") != std::string::npos);
}

TEST_CASE("300 identical connections fold into one lane") {
    Fixture f;
    for (uint16_t i = 0; i < 300; ++i)
        f.conns.push_back(ack_dropped_conn(i, static_cast<uint16_t>(40000 + i), kStart + i * 3'000'000));
    f.finish();
    const std::string svg = render_timeline_svg(f.a, f.l());
    CHECK(xml_problem(svg) == "");
    CHECK(xmllint_accepts(svg));
    CHECK(count(svg, R"(class="lane")") == 1);
    CHECK(svg.find("×300 (ports 40000–40299)") != std::string::npos);
    CHECK(svg.find("not drawn") == std::string::npos);

    const std::string text = render_timeline_text(f.a, f.l());
    CHECK(text.find("×300 (ports 40000–40299)") != std::string::npos);
    CHECK(count(text, "SYN-ACK rtx (timer)") == 5);  // the events of one connection, once

    // Below max_lanes nothing is folded.
    TimelineOptions wide;
    wide.max_lanes = 300;
    CHECK(count(render_timeline_svg(f.a, f.l(), wide), R"(class="lane")") == 300);
}

TEST_CASE("too many distinct lanes: the first are drawn, the rest counted") {
    Fixture f;
    // 100 connections, each with a different number of SYN retransmissions: nothing folds.
    for (uint16_t i = 0; i < 100; ++i) {
        ReportedConnection c = syn_dropped_conn(i, static_cast<uint16_t>(41000 + i), kStart);
        for (int k = 0; k < i; ++k)
            c.events.push_back(ev(kStart + (6 + k) * kSec, C, EventKind::syn_retransmit, tcp::SYN, 3000, 0));
        f.conns.push_back(c);
    }
    f.finish();
    TimelineOptions o;
    o.max_lanes = 10;
    const std::string svg = render_timeline_svg(f.a, f.l(), o);
    CHECK(xml_problem(svg) == "");
    CHECK(count(svg, R"(class="lane")") == 10);
    CHECK(svg.find("… 90 more connections not drawn") != std::string::npos);
    CHECK(svg.find("×") == std::string::npos);
    const std::string text = render_timeline_text(f.a, f.l(), o);
    CHECK(text.find("… 90 more connections not drawn") != std::string::npos);
}

TEST_CASE("timeline text: aligned, one line per event, colour only on request") {
    const Fixture f = three();
    TimelineOptions o;
    o.width = 100;
    const std::string text = render_timeline_text(f.a, f.l(), o);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find("listener 10.77.0.2:8081") != std::string::npos);
    CHECK(text.find("capacity 2, backlog 1") != std::string::npos);
    CHECK(text.find("retries-capture-too-short") != std::string::npos);
    CHECK(text.find("ack-dropped") != std::string::npos);

    // Event lines: one per event (3 + 13 + 6), the arrow and the "seq" in the same column.
    size_t arrow_col = std::string::npos, seq_col = std::string::npos, n_events = 0;
    for (const std::string& line : lines_of(text)) {
        size_t p = line.find("s  -> ");
        if (p == std::string::npos) p = line.find("s  <- ");
        if (p == std::string::npos) continue;
        ++n_events;
        if (arrow_col == std::string::npos) arrow_col = p, seq_col = line.find(" seq ");
        CHECK(p == arrow_col);
        CHECK(line.find(" seq ") == seq_col);
        CHECK(line.size() <= 100);
    }
    CHECK(n_events == 22);
    CHECK(text.find("+1.000s  <-  SYN-ACK rtx (timer)") != std::string::npos);
    CHECK(text.find("+31.000s  <-  SYN-ACK rtx (timer)") != std::string::npos);
    CHECK(text.find("+5.000s  ->  SYN rtx") != std::string::npos);
    CHECK(text.find("0.500000s     +0.000s  ->  SYN") != std::string::npos);  // report and relative time

    // Lane view: one line per connection, strips starting in the same column, within the width.
    std::vector<std::string> lane_lines;
    for (const std::string& line : lines_of(text))
        if (line.starts_with("  4000")) lane_lines.push_back(line);
    REQUIRE(lane_lines.size() == 3);
    CHECK(lane_lines[0].find("SA.") != std::string::npos);
    CHECK(lane_lines[1].find("SA.") != std::string::npos);
    const size_t strip_col = lane_lines[0].find("SA.");
    CHECK(count(lane_lines[1].substr(strip_col), "a") == 5);
    CHECK(count(lane_lines[2].substr(strip_col), "s") == 5);
    CHECK(lane_lines[1].find("SA.") == strip_col);
    CHECK(lane_lines[2].find('S') == strip_col);  // first SYN 20 ms later: same column
    for (const std::string& line : lane_lines) CHECK(line.size() <= 100);

    o.color = true;
    const std::string colored = render_timeline_text(f.a, f.l(), o);
    CHECK(colored.find("\x1b[") != std::string::npos);
    CHECK(render_timeline_text(f.a, f.l(), o) == colored);
}

TEST_CASE("timeline: events before the first SYN, a short span, an empty connection") {
    Fixture f;
    f.conns.push_back(queued_conn(0, 40001, kStart));
    ReportedConnection mid;  // already established when the capture began: no SYN, data 2 s earlier
    mid.ordinal = 1;
    mid.client = ep("10.77.0.1:39999");
    mid.server = ep("10.77.0.2:8081");
    mid.events = {ev(kStart - 2 * kSec, C, EventKind::data, tcp::ACK | tcp::PSH, 10, 20),
                  ev(kStart - 2 * kSec + 100'000, L, EventKind::fin, tcp::FIN | tcp::ACK, 20, 15)};
    mid.events[0].payload = 5;
    f.conns.push_back(mid);
    ReportedConnection empty;
    empty.ordinal = 2;
    empty.client = ep("10.77.0.1:40009");
    f.conns.push_back(empty);
    f.finish();
    const std::string svg = render_timeline_svg(f.a, f.l());
    CHECK(xml_problem(svg) == "");
    CHECK(xmllint_accepts(svg));
    CHECK(svg.find(">-2.0s<") != std::string::npos);  // the axis reaches back
    CHECK(count(svg, R"(class="lane")") == 3);
    const std::string text = render_timeline_text(f.a, f.l());
    CHECK(text.find("-1.500000s     +0.000s  ->  data") != std::string::npos);  // its own first event
    CHECK(text.find("len 5") != std::string::npos);
    CHECK(text.find("(no events recorded)") != std::string::npos);

    // A handshake of 150 µs: ticks in fractions of a millisecond.
    Fixture g;
    g.conns.push_back(queued_conn(0, 40001, kStart));
    g.finish();
    g.a.end_ns.reset();
    const std::string short_svg = render_timeline_svg(g.a, g.l());
    CHECK(xml_problem(short_svg) == "");
    CHECK(short_svg.find(">0s<") != std::string::npos);
    CHECK(short_svg.find(">0.0002s<") != std::string::npos);
}

TEST_CASE("timeline: 20000 connections that mostly differ stay bounded") {
    Fixture f;
    f.conns.reserve(20000);
    for (int i = 0; i < 20000; ++i) {
        ReportedConnection c = syn_dropped_conn(static_cast<uint64_t>(i), static_cast<uint16_t>(1024 + i), kStart);
        c.events.back().t_ns += static_cast<int64_t>(i) * kSec;  // the last retransmissions differ
        f.conns.push_back(c);
    }
    f.finish();
    const auto lay = timeline_detail::layout_lanes(f.l(), 60);
    REQUIRE(lay.lanes.size() == 60);
    size_t drawn = 0;
    for (const auto& lane : lay.lanes) drawn += lane.members.size();
    CHECK(drawn + lay.hidden_connections == 20000);
    CHECK(lay.hidden_connections > 19000);
    CHECK(lay.lanes[0].members.size() == 1);  // 0 s and 1 s later at +5 s: beyond the tolerance

    const std::string svg = render_timeline_svg(f.a, f.l());
    CHECK(count(svg, R"(class="lane")") == 60);
    CHECK(svg.find(fmt::format("… {} more connections not drawn", lay.hidden_connections)) != std::string::npos);
    CHECK(svg.size() < 400'000);
}

TEST_CASE("timeline: a burst at the end of the axis keeps all its events") {
    Fixture f;
    f.conns.push_back(queued_conn(0, 40001, kStart));
    ReportedConnection late = queued_conn(1, 40002, kStart + 10 * kSec);
    late.events.push_back(ev(kStart + 10 * kSec + 200'000, C, EventKind::data, tcp::ACK | tcp::PSH, 1001, 5001));
    late.events.back().payload = 1;
    late.events.push_back(ev(kStart + 10 * kSec + 250'000, L, EventKind::rst, tcp::RST, 5001, 0));
    late.fate = Fate::reset_after_ack;
    f.conns.push_back(late);
    f.finish();
    f.a.end_ns.reset();
    const std::string text = render_timeline_text(f.a, f.l());
    std::string lane;
    for (const std::string& line : lines_of(text))
        if (line.starts_with("  40002")) lane = line;
    CHECK(lane.ends_with("SA.dR"));
    CHECK(lane.size() <= 100);

    // In the SVG the marks stay within the picture.
    const std::string svg = render_timeline_svg(f.a, f.l());
    const size_t w_at = svg.find("width=\"", svg.find("<svg")) + 7;
    const double width = std::stod(svg.substr(w_at));
    size_t p = svg.find(R"(stroke="#c00000")");
    REQUIRE(p != std::string::npos);
    const size_t d_at = svg.rfind("d=\"M", p) + 4;
    CHECK(std::stod(svg.substr(d_at)) < width - 10);
}

namespace {

// A probe's steps (seconds from the listener's first SYN) with a half-open request of the
// syn-queue step that the probe reset at 2 s and reset twice more in its cleanup at 68 s,
// and a queued connection of the short accept-queue step at 66 s.
Fixture probe_like() {
    Fixture f;
    auto at = [](double s) { return kStart + static_cast<int64_t>(s * 1e9); };
    ReportedConnection h;
    h.ordinal = 0;
    h.client = ep("10.77.0.1:61650");
    h.server = ep("10.77.0.2:8081");
    h.first_syn_ns = at(0.02);
    h.events = {ev(at(0.02), C, EventKind::syn, tcp::SYN, 100, 0),
                ev(at(0.0201), L, EventKind::synack, tcp::SYN | tcp::ACK, 900, 101),
                ev(at(1.03), L, EventKind::synack_retransmit, tcp::SYN | tcp::ACK, 900, 101, true),
                ev(at(2.0), C, EventKind::rst, tcp::RST | tcp::ACK, 101, 901),
                ev(at(68.1), C, EventKind::rst, tcp::RST | tcp::ACK, 101, 901),
                ev(at(68.2), C, EventKind::rst, tcp::RST | tcp::ACK, 101, 901)};
    h.fate = Fate::half_open;
    f.conns.push_back(h);
    f.conns.push_back(queued_conn(1, 61716, at(66.2)));
    f.finish();
    f.a.end_ns = at(68.3);
    f.a.source.kind = "live";
    f.a.source.steps = {{"baseline", at(-0.01), at(0.01)},   {"syn-queue", at(0.01), at(3.6)},
                        {"retries", at(3.6), at(66.0)},      {"accept-queue", at(66.0), at(68.0)},
                        {"cleanup", at(68.0), at(68.3)}};
    return f;
}

// The value of attribute `name` in the first tag at or after `from`.
double attr(const std::string& s, size_t from, const std::string& name) {
    const size_t p = s.find(" " + name + "=\"", from);
    REQUIRE(p != std::string::npos);
    return std::stod(s.substr(p + name.size() + 3));
}

}  // namespace

TEST_CASE("timeline of a probe: one panel per step, bars end at the reset") {
    const Fixture f = probe_like();
    const std::string svg = render_timeline_svg(f.a, f.l());
    CHECK(xml_problem(svg) == "");
    CHECK(xmllint_accepts(svg));

    // Five panels headed by their step, four boundaries between them.
    CHECK(count(svg, R"(class="panel")") == 5);
    CHECK(count(svg, R"(class="step-boundary")") == 4);
    for (const char* name : {">baseline", ">syn-queue", ">retries", ">accept-queue", ">cleanup"})
        CHECK_MESSAGE(svg.find(name) != std::string::npos, name);

    // The accept-queue step (2 s of 68) gets a fair share of the width, not 3 %.
    using namespace timeline_detail;
    const LaneLayout lay = layout_lanes(f.l(), 60);
    const PanelAxis axis(time_panels(f.a, lay, -0.01, 68.3), 0, 1000, 14, 0.08);
    REQUIRE(axis.panels.size() == 5);
    CHECK(axis.panels[3].name == "accept-queue");
    CHECK(axis.right[3] - axis.left[3] > 150);
    CHECK(axis.right[2] - axis.left[2] < 500);  // the 62 s retries step does not take everything
    const double aq0 = axis.panels[3].t0;  // 66 s after kStart, from the first SYN at 0.02 s
    CHECK(aq0 == doctest::Approx(65.98));
    CHECK(axis.x_of(aq0) == doctest::Approx(axis.left[3]));
    CHECK(axis.x_of(aq0 + 1) > axis.left[3] + 50);
    CHECK(axis.x_of(aq0 + 1) < axis.right[3] - 50);

    // The half-open request's bar ends at its first RST (2 s), not at the cleanup's RSTs.
    const size_t lane0 = svg.find(R"(id="lane-0")");
    REQUIRE(lane0 != std::string::npos);
    const size_t bar = svg.find(R"(stroke-width="5")", lane0);
    const size_t bar_tag = svg.rfind("<line", bar);
    const double bar_x2 = attr(svg, bar_tag, "x2");
    const size_t first_rst = svg.find(R"(stroke="#c00000")", lane0);
    const double rst_x = std::stod(svg.substr(svg.rfind("d=\"M", first_rst) + 4)) + 5;
    CHECK(bar_x2 == doctest::Approx(rst_x).epsilon(0.01));
    // The cleanup's two RSTs are drawn faded, after the bar, in the last panel.
    CHECK(count(svg, R"(class="after-reset")") == 2);
    const size_t later = svg.find(R"(class="after-reset")", lane0);
    const double later_x = std::stod(svg.substr(svg.find("d=\"M", later) + 4)) + 5;
    CHECK(later_x > bar_x2 + 100);

    // The same in text: a panel per step, the bar ('-') until the R, 'r' after it.
    TimelineOptions o;
    o.width = 120;
    const std::string text = render_timeline_text(f.a, f.l(), o);
    std::string names_line, lane;
    for (const std::string& line : lines_of(text)) {
        if (line.find("syn-queue") != std::string::npos && line.find("accept-queue") != std::string::npos)
            names_line = line;
        if (line.starts_with("  61650")) lane = line;
    }
    CHECK(!names_line.empty());
    REQUIRE(!lane.empty());
    CHECK(lane.size() <= 120);
    const size_t s_col = lane.find('S'), r_col = lane.find('R');
    REQUIRE(s_col != std::string::npos);
    REQUIRE(r_col != std::string::npos);
    CHECK(lane.find(' ', s_col) > r_col);          // no hole in the bar before the reset
    CHECK(lane.substr(r_col + 1).find('-') == std::string::npos);  // nothing drawn as alive after it
    CHECK(count(lane, "r") == 2);
    CHECK(count(lane, ":") == 4);                   // panel separators

    // A narrow terminal: every panel keeps a few columns, nothing runs past the width.
    o.width = 60;
    for (const std::string& line : lines_of(render_timeline_text(f.a, f.l(), o)))
        if (line.starts_with("  61") || line.find(":cleanup") != std::string::npos) CHECK(line.size() <= 60);

    // Without steps: one panel, as before.
    Fixture g = probe_like();
    g.a.source.steps.clear();
    const std::string plain = render_timeline_svg(g.a, g.l());
    CHECK(count(plain, R"(class="panel")") == 1);
    CHECK(count(plain, R"(class="step-boundary")") == 0);
}
