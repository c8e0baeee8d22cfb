// The text report (docs/report.md): one block per listener that fits a screen, each
// verdict once, colours only when asked, lanes and events only with `events` (-v);
// and the table of known backlog values behind "matches ...".
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "inference/engine.hpp"
#include "report/known_values.hpp"
#include "report/report.hpp"
#include "source/source.hpp"

#ifndef LP_CAPTURES_DIR
#define LP_CAPTURES_DIR "captures"
#endif

using namespace lp;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// The blocks of a report: each from its "listener ..." line up to the next blank line
// (with -v the lanes follow after a blank line and are not part of the block).
std::vector<std::vector<std::string>> blocks_of(const std::string& text) {
    std::vector<std::vector<std::string>> out;
    bool in_block = false;
    for (const std::string& line : lines_of(text)) {
        if (line.starts_with("listener ") && !in_block) {
            out.emplace_back();
            in_block = true;
        } else if (line.empty()) {
            in_block = false;
        }
        if (in_block) out.back().push_back(line);
    }
    return out;
}

size_t count_lines_starting(const std::vector<std::string>& block, const std::string& prefix) {
    return size_t(std::count_if(block.begin(), block.end(), [&](const std::string& l) { return l.starts_with(prefix); }));
}

// Occurrences of `needle` outside warning lines (a warning may name a setting to explain itself).
size_t count_outside_warnings(const std::vector<std::string>& block, const std::string& needle) {
    size_t n = 0;
    for (const std::string& l : block) {
        if (l.starts_with("  warning [")) continue;
        for (size_t at = l.find(needle); at != std::string::npos; at = l.find(needle, at + 1)) ++n;
    }
    return n;
}

std::vector<std::filesystem::path> captures() {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(LP_CAPTURES_DIR)) {
        const auto ext = e.path().extension();
        if (ext == ".pcap" || ext == ".pcapng" || (ext == ".txt" && e.path().filename().string().starts_with("seed-")))
            out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

Analysis analyze(const std::filesystem::path& p) {
    auto src = open_source(p.string());
    return analyze_source(*src, Engine::Options{});
}

// What every default block must be: short, each verdict once, no lanes or events.
void check_default_block(const std::vector<std::string>& b, const std::string& what) {
    INFO(what);
    CHECK(b.size() <= kTextLinesPerListener);
    for (const char* key : {"  accept queue ", "  when full ", "  SYN-ACK ", "  syncookies "})
        CHECK_MESSAGE(count_lines_starting(b, key) == 1, key);
    CHECK(count_lines_starting(b, "  SYN queue ") <= 1);
    CHECK(count_lines_starting(b, "  RTT ") <= 1);
    for (const char* token : {"tcp_abort_on_overflow=", "tcp_syncookies=", "tcp_synack_retries", "listen() backlog"})
        CHECK_MESSAGE(count_outside_warnings(b, token) <= 1, token);
    CHECK(count_outside_warnings(b, "on overflow") == 0);  // the old second wording of on-overflow
    CHECK(count_lines_starting(b, "lanes") == 0);
    CHECK(count_lines_starting(b, "events") == 0);
}

constexpr int64_t kSec = 1'000'000'000;

// A probe-like analysis with everything a report can hold: exact verdicts, evidence for
// each, assumptions, a dozen warnings and 76 connections.
Analysis probe_like() {
    Analysis a;
    a.source.kind = "live";
    a.source.path = "veth0";
    a.source.packets = 438;
    a.t0_ns = 1'700'000'000LL * kSec;
    a.end_ns = a.t0_ns + 15 * kSec;
    a.source.notes = {"target lab:8081 resolved to 10.77.0.2:8081"};
    ListenerVerdict l;
    l.listener = *Endpoint::parse("10.77.0.2:8081");
    l.port_state = PortState::open;
    l.capacity = 512;
    l.backlog = 511;
    l.on_full_syn = SynPolicy::drop;
    l.on_full_ack = AckPolicy::drop;
    l.retries = 2;
    l.retries_at_least = 2;
    l.initial_rto_s = 1.0;
    l.gaps_s = {1.028, 2.016};
    l.rtt_s = 0.00004;
    l.syncookies = CookieMode::on_overflow;
    l.syn_queue_capacity = 512;
    l.evidence = {
        "SYN-ACK schedule from 10.77.0.1:64649 (first SYN-ACK at 5.122s): 2 retransmission(s), gaps 1.028s, 2.016s",
        "10.77.0.1:64649 was left alone until its next retransmission was overdue",
        "3 exhausted requests agree on 2 retransmission(s)",
        "final ACK on a full queue dropped: 10.77.0.1:64658 (final ACK at 13.693s, SYN-ACK retransmitted at 14.546s) "
        "\u2014 tcp_abort_on_overflow=0",
        "SYN dropped while the accept queue was full: 10.77.0.1:64659 at 13.511s",
        "accept queue full with at most 512 connection(s) in it when the final ACK of 10.77.0.1:64658 at 13.693s met "
        "it full",
        "syncookie to 10.77.0.1:64591 at 0.012328s and stateful requests (e.g. 10.77.0.1:64585) \u2014 tcp_syncookies=1",
        "SYN queue holds 512 stateful request(s): 10.77.0.1:64590 was admitted with 511 pending",
        "something the engine may say one day that belongs to no verdict",
    };
    l.assumptions = {"the capture holds every connection to this listener",
                     "the application accepted no connection silently", "Linux 4.10 or later"};
    for (int i = 0; i < 24; ++i) l.warnings.push_back({fmt::format("code-{}", i), "a warning for people"});
    for (uint16_t i = 0; i < 76; ++i) {
        ReportedConnection c;
        c.ordinal = i;
        c.client = *Endpoint::parse(fmt::format("10.77.0.1:{}", 64584 + i));
        c.server = l.listener;
        c.first_syn_ns = a.t0_ns + i * kSec / 100;
        Event e;
        e.t_ns = *c.first_syn_ns;
        e.dir = Dir::to_listener;
        e.kind = EventKind::syn;
        e.flags = tcp::SYN;
        c.events.push_back(e);
        c.fate = i < 58 ? Fate::cookie : Fate::half_open;
        l.fate_counts[size_t(c.fate)]++;
        l.connections.push_back(std::move(c));
    }
    l.connections_total = 76;
    a.listeners.push_back(std::move(l));
    return a;
}

}  // namespace

TEST_CASE("known values: the backlog table and its lookup") {
    const auto table = known_backlogs();
    REQUIRE(!table.empty());
    CHECK(std::is_sorted(table.begin(), table.end(),
                         [](const KnownValue& x, const KnownValue& y) { return x.value < y.value; }));
    for (const KnownValue& k : table) CHECK(std::string(k.meaning).size() > 10);

    const std::string b511 = backlog_meaning(511);
    CHECK(b511.starts_with("matches "));
    CHECK(b511.find("nginx") != std::string::npos);
    CHECK(b511.find("redis") != std::string::npos);
    CHECK(b511.find("somaxconn") == std::string::npos);  // not a somaxconn default
    CHECK(backlog_meaning(50).find("Java ServerSocket") != std::string::npos);
    CHECK(backlog_meaning(5).find("socketserver") != std::string::npos);
    CHECK(backlog_meaning(5).find("request_queue_size") != std::string::npos);

    const std::string b128 = backlog_meaning(128);
    CHECK(b128.find("perhaps clamped by net.core.somaxconn") != std::string::npos);
    CHECK(b128.find("before Linux 5.4") != std::string::npos);
    const std::string b4096 = backlog_meaning(4096);
    CHECK(b4096.find("perhaps clamped by net.core.somaxconn") != std::string::npos);
    CHECK(b4096.find("since Linux 5.4") != std::string::npos);

    CHECK(backlog_matches(511).size() >= 2);
    CHECK(backlog_matches(7).empty());
    CHECK(backlog_meaning(7).empty());
    CHECK(backlog_meaning(0).empty());
    CHECK(backlog_meaning(-1).empty());
}

TEST_CASE("text report: every committed capture fits a screen per listener, each verdict once") {
    const auto files = captures();
    REQUIRE(files.size() >= 20);
    for (const auto& f : files) {
        const Analysis a = analyze(f);
        const std::string text = analysis_text(a, TextOptions{});
        const auto blocks = blocks_of(text);
        CHECK_MESSAGE(blocks.size() == a.listeners.size(), f.string());
        for (const auto& b : blocks) check_default_block(b, f.filename().string());
        // The whole report: the source line and its notes, then a blank line and a block per listener.
        CHECK(lines_of(text).size() <= 1 + a.source.notes.size() + a.listeners.size() * (1 + kTextLinesPerListener));
        CHECK_MESSAGE(text.find('\x1b') == std::string::npos, f.string());
    }
}

TEST_CASE("text report: a probe-like listener with everything in it still fits, verdicts said once") {
    const Analysis a = probe_like();
    const std::string text = analysis_text(a, TextOptions{});
    const auto blocks = blocks_of(text);
    REQUIRE(blocks.size() == 1);
    const auto& b = blocks[0];
    check_default_block(b, "probe-like");
    CHECK(b.size() == kTextLinesPerListener);  // full: the warnings were cut to fit
    CHECK(text.find("more warning(s)") != std::string::npos);
    CHECK(text.find("backlog 511 matches the nginx default") != std::string::npos);
    CHECK(text.find("on-overflow  => tcp_syncookies=1") != std::string::npos);
    CHECK(text.find("=> tcp_abort_on_overflow=0") != std::string::npos);
    CHECK(text.find("=> tcp_synack_retries=2") != std::string::npos);
    CHECK(text.find("76 connections: 58 cookie, 18 half-open") != std::string::npos);
    CHECK(text.find("-v (--events)") != std::string::npos);

    // Fewer warnings: all of them shown, with evidence under the verdicts.
    Analysis few = probe_like();
    few.listeners[0].warnings.resize(3);
    const std::string t3 = analysis_text(few, TextOptions{});
    const auto b3 = blocks_of(t3).at(0);
    check_default_block(b3, "probe-like, 3 warnings");
    CHECK(count_lines_starting(b3, "  warning [") == 3);
    CHECK(t3.find("evidence: final ACK on a full queue dropped") != std::string::npos);
    CHECK(t3.find("more warning(s)") == std::string::npos);
}

TEST_CASE("text report: colours only when asked") {
    const Analysis a = probe_like();
    TextOptions o;
    CHECK(analysis_text(a, o).find('\x1b') == std::string::npos);
    o.events = true;
    CHECK(analysis_text(a, o).find('\x1b') == std::string::npos);
    o.color = true;
    CHECK(analysis_text(a, o).find('\x1b') != std::string::npos);
    o.events = false;
    CHECK(analysis_text(a, o).find("\x1b[1mlistener 10.77.0.2:8081\x1b[0m") != std::string::npos);
}

TEST_CASE("text report: events (-v) adds every evidence line, the lanes and the events") {
    const Analysis a = analyze(std::filesystem::path(LP_CAPTURES_DIR) / "lab-overflow-drop.pcap");
    TextOptions o;
    const std::string brief = analysis_text(a, o);
    o.events = true;
    const std::string full = analysis_text(a, o);
    CHECK(brief.find("\nlanes ") == std::string::npos);
    CHECK(full.find("\nlanes ") != std::string::npos);
    CHECK(full.find("\nevents ") != std::string::npos);
    for (const auto& c : a.listeners[0].connections) CHECK(full.find(c.client.str()) != std::string::npos);
    CHECK(full.find("SYN-ACK rtx (timer)") != std::string::npos);
    CHECK(full.find("-v (--events)") == std::string::npos);
    // The verdicts stay said once: the lanes' header does not repeat them.
    const auto lines = lines_of(full);
    CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
              return l.find("tcp_abort_on_overflow=") != std::string::npos;
          }) == 1);

    // Every evidence line, where the default shows at most two a verdict.
    const Analysis p = probe_like();
    const std::string pv = analysis_text(p, o);
    for (const char* e : {"3 exhausted requests agree", "belongs to no verdict"}) CHECK(pv.find(e) != std::string::npos);
    for (int i = 0; i < 24; ++i) CHECK(pv.find(fmt::format("[code-{}]", i)) != std::string::npos);
    CHECK(analysis_text(p, TextOptions{}).find("3 exhausted requests agree") == std::string::npos);
}
