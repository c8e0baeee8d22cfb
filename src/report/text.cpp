// The text report for people (docs/report.md). One block per listener that fits a
// screen: each verdict once, with the Linux setting or listen() value it implies and
// what a backlog matches, the evidence behind it, assumptions and warnings. With
// TextOptions::events (-v) every evidence line, then the listener's lanes and events.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "report/known_values.hpp"
#include "report/report.hpp"
#include "report/timeline.hpp"

#include "report/palette.hpp"

namespace lp {
namespace {

using Style = Palette;

// Which verdict an evidence line of the engine supports, from its first words
// (src/inference: accept_queue.cpp, retries.cpp, syn_queue.cpp).
enum class Group { accept_queue, on_full, synack, syncookies, syn_queue, stack, other };

Group group_of(std::string_view e) {
    auto starts = [&](std::string_view p) { return e.starts_with(p); };
    auto has = [&](std::string_view p) { return e.find(p) != std::string_view::npos; };
    if (starts("accept queue")) return Group::accept_queue;
    if (starts("final ACK on a full queue") || starts("SYN dropped while the accept queue was full"))
        return Group::on_full;
    if (starts("SYN-ACK schedule") || has(" was left alone until its next retransmission") ||
        has(" exhausted requests agree on "))
        return Group::synack;
    if (starts("syncookie") || (starts("SYN of ") && has("tcp_syncookies"))) return Group::syncookies;
    if (starts("SYN queue")) return Group::syn_queue;
    return Group::other;
}

// One verdict: "KEY  VALUE  => IMPLIES", then notes (what the number matches), then evidence.
struct Row {
    Group group = Group::other;
    std::string key;
    std::string value;
    std::string implies;  // the setting it implies, shown after "=>"; may be empty
    std::vector<std::string> notes;
    std::vector<std::string> evidence;
};

constexpr size_t kKeyWidth = 15;

std::string plural(uint64_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string gaps_text(const std::vector<double>& gaps) {
    std::string o;
    for (double g : gaps) o += fmt::format("{}{:g}", o.empty() ? "" : " ", std::round(g * 1000) / 1000);
    return o + " s";
}

std::vector<Row> verdict_rows(const ListenerVerdict& l, const Style& st) {
    const std::string unknown = st.dim("unknown");
    std::vector<Row> rows;

    Row aq{Group::accept_queue, "accept queue", "", "", {}, {}};
    if (l.capacity) {
        aq.value = fmt::format("capacity {}", *l.capacity);
        if (l.backlog) {
            aq.implies = fmt::format("listen() backlog {} in effect (= min(listen() argument, net.core.somaxconn); "
                                     "Linux holds backlog + 1)", *l.backlog);
            if (std::string m = backlog_meaning(*l.backlog); !m.empty())
                aq.notes.push_back(fmt::format("backlog {} {}", *l.backlog, m));
        }
    } else if (l.capacity_at_least && l.capacity_at_most) {
        aq.value = fmt::format("capacity {}, between {} and {}", unknown, *l.capacity_at_least, *l.capacity_at_most);
        aq.implies = fmt::format("listen() backlog in effect between {} and {}", *l.capacity_at_least - 1,
                                 *l.capacity_at_most - 1);
    } else if (l.capacity_at_most) {
        aq.value = fmt::format("capacity {}, at most {}", unknown, *l.capacity_at_most);
        aq.implies = fmt::format("listen() backlog in effect at most {}", *l.capacity_at_most - 1);
    } else if (l.capacity_at_least) {
        aq.value = fmt::format("capacity {}, at least {} (never seen full)", unknown, *l.capacity_at_least);
        aq.implies = fmt::format("listen() backlog in effect at least {}", *l.capacity_at_least - 1);
    } else {
        aq.value = unknown;
    }
    rows.push_back(std::move(aq));

    Row full{Group::on_full, "when full", "", "", {}, {}};
    if (l.on_full_syn == SynPolicy::unknown && l.on_full_ack == AckPolicy::unknown) {
        full.value = unknown;
    } else {
        const std::string syn = l.on_full_syn == SynPolicy::drop ? "drop" : unknown;
        const std::string ack = l.on_full_ack == AckPolicy::drop  ? "drop (SYN-ACK retransmitted)"
                                : l.on_full_ack == AckPolicy::rst ? "rst"
                                                                  : unknown;
        full.value = fmt::format("SYN {}, final ACK {}", syn, ack);
        full.implies = ack_setting_text(l.stack, l.on_full_ack);
    }
    rows.push_back(std::move(full));

    Row rt{Group::synack, "SYN-ACK", "", "", {}, {}};
    if (l.retries) {
        rt.value = plural(uint64_t(*l.retries), "retransmission", "retransmissions");
        rt.implies = retries_setting_text(l.stack, *l.retries);
    } else if (l.retries_at_least > 0) {
        rt.value = fmt::format("{}, at least {}", unknown,
                               plural(uint64_t(l.retries_at_least), "retransmission", "retransmissions"));
        rt.implies = retries_setting_text(l.stack, l.retries_at_least, true);
    } else {
        rt.value = unknown;
    }
    if (l.initial_rto_s) rt.value += fmt::format(", initial timeout {:g} s", *l.initial_rto_s);
    if (!l.gaps_s.empty()) rt.value += ", gaps " + gaps_text(l.gaps_s);
    rows.push_back(std::move(rt));

    Row sc{Group::syncookies, "syncookies", "", "", {}, {}};
    switch (l.syncookies) {
        case CookieMode::off: sc.value = "off", sc.implies = "tcp_syncookies=0"; break;
        case CookieMode::on_overflow: sc.value = "on-overflow", sc.implies = "tcp_syncookies=1"; break;
        case CookieMode::always: sc.value = "always", sc.implies = "tcp_syncookies=2"; break;
        case CookieMode::unknown: sc.value = unknown; break;
    }
    rows.push_back(std::move(sc));

    if (l.syn_queue_capacity || l.syn_queue_capacity_at_least || l.syn_queue_capacity_at_most) {
        Row sq{Group::syn_queue, "SYN queue", "", "", {}, {}};
        if (l.syn_queue_capacity)
            sq.value = fmt::format("{} before overflow",
                                   plural(uint64_t(*l.syn_queue_capacity), "stateful request", "stateful requests"));
        else if (l.syn_queue_capacity_at_least && l.syn_queue_capacity_at_most)
            sq.value = fmt::format("{}, between {} and {} stateful requests", unknown, *l.syn_queue_capacity_at_least,
                                   *l.syn_queue_capacity_at_most);
        else if (l.syn_queue_capacity_at_least)
            sq.value = fmt::format("{}, at least {} stateful requests", unknown, *l.syn_queue_capacity_at_least);
        else
            sq.value = fmt::format("{}, at most {} stateful requests", unknown, *l.syn_queue_capacity_at_most);
        if (l.syncookies == CookieMode::off)
            sq.implies = "limited by net.ipv4.tcp_max_syn_backlog (cookies off: about 3/4 of it) or the backlog";
        else if (l.syn_queue_capacity && l.backlog && *l.syn_queue_capacity == *l.backlog + 1)
            sq.implies = "matches backlog + 1, the SYN-queue limit of Linux 6.13 and later";
        else if (l.syn_queue_capacity && l.backlog && *l.syn_queue_capacity == *l.backlog)
            sq.implies = "matches the backlog, the SYN-queue limit before Linux 6.13";
        else if (l.syn_queue_capacity)
            sq.implies = "limited by the backlog in effect (+1 from Linux 6.13)";
        rows.push_back(std::move(sq));
    }

    Row sk{Group::stack, "stack", "", "", {}, {}};
    if (l.stack) {
        sk.value = stack_text(*l.stack);
        // Notes that name a setting another row implies already (tcp_synack_retries=3) are not repeated.
        for (const StackMatch& m : l.stack->families) {
            std::vector<std::string> notes;
            for (const std::string& n : m.notes) {
                const std::string token = n.substr(0, n.find(' '));
                const bool shown = std::any_of(rows.begin(), rows.end(), [&](const Row& r) {
                    return !r.implies.empty() && r.implies.find(token) != std::string::npos;
                });
                if (!shown) notes.push_back(n);
            }
            if (!notes.empty())
                sk.notes.push_back(fmt::format("{}: {}", stack_traits(m.family).name, fmt::join(notes, "; ")));
        }
        sk.evidence = l.stack->evidence;
    } else {
        sk.value = unknown;
    }
    rows.push_back(std::move(sk));

    if (l.rtt_s) rows.push_back(Row{Group::other, "RTT", fmt::format("{:.3f} ms", *l.rtt_s * 1000), "", {}, {}});
    return rows;
}

// Hands each evidence line to its verdict's row. A line that ends in the setting its
// row already shows ("... — tcp_abort_on_overflow=0") loses that ending: the verdict
// is said once; what follows the setting (an alternative) moves to the row.
std::vector<std::string> distribute_evidence(std::vector<Row>& rows, const ListenerVerdict& l) {
    std::vector<std::string> other;
    for (const std::string& e : l.evidence) {
        const Group g = group_of(e);
        Row* row = nullptr;
        for (Row& r : rows)
            if (r.group == g && g != Group::other) row = &r;
        if (!row) {
            other.push_back(e);
            continue;
        }
        std::string line = e;
        if (!row->implies.empty()) {
            const std::string token = row->implies.substr(0, row->implies.find(' '));
            const std::string tail = std::string(" \u2014 ") + token;
            if (const size_t at = line.rfind(tail); at != std::string::npos) {
                const std::string rest = line.substr(at + tail.size());
                line.erase(at);
                if (!rest.empty() && row->implies.find(rest) == std::string::npos) row->implies += rest;
            }
        }
        row->evidence.push_back(std::move(line));
    }
    return other;
}

struct Block {
    std::string title;
    std::vector<Row> rows;
    std::vector<std::string> other_evidence;
    std::vector<std::string> assumptions;
    std::vector<Warning> warnings;
    std::vector<std::string> episodes;  // one line each
    size_t evidence_total = 0;
    uint64_t connections = 0;
};

// Episodes shown without -v; the rest are counted.
constexpr size_t kEpisodesShown = 3;

std::string seconds_text(int64_t ns) {
    const double s = double(ns) / 1e9;
    return s < 10 ? fmt::format("{:.1f} s", s) : fmt::format("{:.0f} s", s);
}

// One overflow episode on one line: when, how long, what the wire showed, who was hit.
std::string episode_line(const Episode& e, int64_t t0) {
    const ActivityCounts& n = e.n;
    std::vector<std::string> what;
    if (n.syn_silent) what.push_back(plural(n.syn_silent, "SYN met silence", "SYNs met silence"));
    if (n.ack_dropped) what.push_back(plural(n.ack_dropped, "final ACK dropped", "final ACKs dropped"));
    if (n.ack_reset) what.push_back(plural(n.ack_reset, "final ACK reset", "final ACKs reset"));
    if (n.cookies) what.push_back(plural(n.cookies, "syncookie", "syncookies"));
    if (n.delayed) {
        const std::string lo = seconds_text(n.delay_min_ns), hi = seconds_text(n.delay_max_ns);
        what.push_back(fmt::format("{} late by {}", plural(n.delayed, "connection", "connections"),
                                   lo == hi ? hi : lo + " to " + hi));
    }
    if (n.never_answered) what.push_back(fmt::format("{} never answered", n.never_answered));
    std::string line = fmt::format("{:.3f}-{:.3f}s ({}{})", double(e.start_ns - t0) / 1e9,
                                   double(e.end_ns - t0) / 1e9, seconds_text(e.end_ns - e.start_ns),
                                   e.open_at_end ? ", on at the end" : "");
    for (size_t i = 0; i < what.size(); ++i) line += (i ? ", " : ": ") + what[i];
    line += fmt::format("; {} from {}{}", plural(n.affected, "connection hit", "connections hit"),
                        e.more_clients ? "more than " : "",
                        plural(e.clients.size(), "client", "clients"));
    return line;
}

// The block's lines with at most `cap` evidence lines per verdict and `max_warnings` warnings.
std::vector<std::string> render(const Block& b, const Style& st, size_t cap, size_t max_warnings, bool events) {
    std::vector<std::string> out;
    out.push_back(b.title);
    const std::string pad(2 + kKeyWidth, ' ');
    auto key = [&](std::string_view k) { return fmt::format("  {:<{}}", k, kKeyWidth); };
    size_t shown = 0;
    for (const Row& r : b.rows) {
        std::string line = key(r.key) + r.value;
        if (!r.implies.empty()) line += "  " + st.setting("=> " + r.implies);
        out.push_back(std::move(line));
        for (const std::string& n : r.notes) out.push_back(pad + n);
        for (size_t i = 0; i < r.evidence.size() && i < cap; ++i, ++shown)
            out.push_back(pad + "evidence: " + r.evidence[i]);
    }
    for (size_t i = 0; i < b.other_evidence.size() && i < cap; ++i, ++shown)
        out.push_back(key("evidence") + b.other_evidence[i]);
    const size_t episodes = events ? b.episodes.size() : std::min(b.episodes.size(), kEpisodesShown);
    for (size_t i = 0; i < episodes; ++i) out.push_back((i == 0 ? key("overflows") : pad) + b.episodes[i]);
    if (episodes < b.episodes.size())
        out.push_back(pad + st.dim(fmt::format("… {} more episode(s): -v or --format json", b.episodes.size() - episodes)));
    for (size_t i = 0; i < b.assumptions.size(); ++i)
        out.push_back((i == 0 ? key("assuming") : pad) + b.assumptions[i]);
    for (size_t i = 0; i < b.warnings.size() && i < max_warnings; ++i)
        out.push_back("  " + st.warn(fmt::format("warning [{}]", b.warnings[i].code)) + ": " + b.warnings[i].message);
    if (b.warnings.size() > max_warnings)
        out.push_back("  " + st.warn(fmt::format("… {} more warning(s): -v or --format json",
                                                  b.warnings.size() - max_warnings)));
    if (!events) {
        std::vector<std::string> more;
        if (shown < b.evidence_total) more.push_back(fmt::format("all {} evidence lines", b.evidence_total));
        if (b.connections) more.push_back("the lanes and events of " + plural(b.connections, "connection", "connections"));
        if (!more.empty()) {
            std::string hint = "-v (--events): ";
            for (size_t i = 0; i < more.size(); ++i) hint += (i ? ", " : "") + more[i];
            out.push_back("  " + st.dim(hint));
        }
    }
    return out;
}

std::string listener_block(const Analysis& a, const ListenerVerdict& l, const TextOptions& o) {
    const Style st{o.color};
    Block b;
    std::vector<std::pair<uint64_t, Fate>> fates;
    for (int f = 0; f < kFates; ++f)
        if (l.fate_counts[size_t(f)]) fates.emplace_back(l.fate_counts[size_t(f)], Fate(f));
    std::stable_sort(fates.begin(), fates.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    std::string fate_list;
    for (const auto& [n, f] : fates) fate_list += fmt::format("{}{} {}", fate_list.empty() ? "" : ", ", n, to_string(f));
    b.title = fmt::format("{}  port {}  {}{}{}", st.bold("listener " + l.listener.str()), to_string(l.port_state),
                          plural(l.connections_total, "connection", "connections"), fate_list.empty() ? "" : ": ",
                          fate_list);
    b.rows = verdict_rows(l, st);
    b.other_evidence = distribute_evidence(b.rows, l);
    b.assumptions = l.assumptions;
    b.warnings = l.warnings;
    for (const Episode& e : l.episodes) b.episodes.push_back(episode_line(e, a.t0_ns));
    b.evidence_total = l.evidence.size() + (l.stack ? l.stack->evidence.size() : 0);
    b.connections = l.connections.empty() ? 0 : l.connections_total;

    std::vector<std::string> lines;
    if (o.events) {
        lines = render(b, st, std::numeric_limits<size_t>::max(), std::numeric_limits<size_t>::max(), true);
    } else {
        // As much evidence as fits: two lines per verdict, else one, else none; then fewer warnings.
        for (size_t cap : {size_t(2), size_t(1), size_t(0)}) {
            lines = render(b, st, cap, std::numeric_limits<size_t>::max(), false);
            if (lines.size() <= kTextLinesPerListener) break;
        }
        for (size_t w = b.warnings.size(); lines.size() > kTextLinesPerListener && w-- > 0;)
            lines = render(b, st, 0, w, false);
    }
    std::string out;
    for (const std::string& line : lines) out += line + '\n';
    if (o.events && !l.connections.empty()) {
        TimelineOptions t;
        t.color = o.color;
        t.width = o.width;
        t.max_lanes = 40;
        t.verdicts = false;
        out += '\n' + render_timeline_text(a, l, t);
    }
    return out;
}

}  // namespace

std::string episode_text(const Episode& e, int64_t t0) { return episode_line(e, t0); }

std::string capacity_text(const ListenerVerdict& l) {
    if (l.capacity) return fmt::format("capacity {}", *l.capacity);
    if (l.capacity_at_least && l.capacity_at_most)
        return fmt::format("capacity {}-{}", *l.capacity_at_least, *l.capacity_at_most);
    if (l.capacity_at_least) return fmt::format("capacity >= {}", *l.capacity_at_least);
    if (l.capacity_at_most) return fmt::format("capacity <= {}", *l.capacity_at_most);
    return "capacity unknown";
}

std::string verdict_summary(const ListenerVerdict& l) {
    std::string o = "port " + std::string(to_string(l.port_state)) + ", accept queue " + capacity_text(l);
    if (l.backlog) o += fmt::format(" (backlog {})", *l.backlog);
    o += fmt::format("; when full: SYN {}, final ACK {}", to_string(l.on_full_syn), to_string(l.on_full_ack));
    o += fmt::format("; syncookies {}", to_string(l.syncookies));
    if (l.syn_queue_capacity) o += fmt::format("; SYN queue {}", *l.syn_queue_capacity);
    if (l.retries)
        o += fmt::format("; SYN-ACK retries {}", *l.retries);
    else if (l.retries_at_least)
        o += fmt::format("; SYN-ACK retries >= {}", l.retries_at_least);
    return o;
}

std::string analysis_text(const Analysis& a, const TextOptions& o) {
    std::string out = fmt::format("{} {}: {} packets", a.source.kind, a.source.path, a.source.packets);
    if (a.source.skipped) out += fmt::format(" ({} not TCP)", a.source.skipped);
    out += fmt::format(", {:.3f} s\n", a.end_ns ? double(*a.end_ns - a.t0_ns) / 1e9 : 0.0);
    for (const auto& n : a.source.notes) out += fmt::format("  note: {}\n", n);
    if (a.run.plan) out += fmt::format("  probe: plan {}, {:.1f} s\n", a.run.plan->name, a.run.duration_s);
    if (a.listeners.empty()) out += "no listener found (no SYN in the capture)\n";
    if (a.listeners.size() > 1) {
        // Several listeners: one line each first, then a block each.
        out += '\n';
        for (const auto& l : a.listeners) {
            const std::string cap = capacity_text(l);
            out += fmt::format("  {:<28} {:<9} {:>7} conn  {:<18} {}\n", l.listener.str(), to_string(l.port_state),
                               l.connections_total, cap, plural(l.episodes.size(), "overflow episode", "overflow episodes"));
        }
    }
    for (const auto& l : a.listeners) out += '\n' + listener_block(a, l, o);
    return out;
}

}  // namespace lp
