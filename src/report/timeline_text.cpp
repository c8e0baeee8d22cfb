// Terminal rendering of a listener's timeline, and the lane model both
// renderings share (folding, labels, verdict rows, axis steps).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "report/palette.hpp"
#include "report/timeline.hpp"

namespace lp {
namespace timeline_detail {

namespace {

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

// The discrete part of a connection's pattern: fate, then kind/direction/timer per event.
std::string pattern_key(const ReportedConnection& c) {
    std::string key;
    key.reserve(c.events.size() * 3 + 8);
    key += static_cast<char>('A' + static_cast<int>(c.fate));
    key += static_cast<char>(c.events_omitted ? 'o' : '-');
    for (const Event& e : c.events) {
        key += static_cast<char>('a' + static_cast<int>(e.kind));
        key += e.dir == Dir::to_listener ? '>' : '<';
        key += e.timer ? 't' : '-';
    }
    return key;
}

}  // namespace

double fold_tolerance_s(double rel_s) { return 0.1 + 0.05 * std::fabs(rel_s); }

int64_t connection_origin_ns(const ReportedConnection& c) {
    if (c.first_syn_ns) return *c.first_syn_ns;
    if (!c.events.empty()) return c.events.front().t_ns;
    return 0;
}

bool same_pattern(const ReportedConnection& x, const ReportedConnection& y) {
    if (x.fate != y.fate || x.events.size() != y.events.size() ||
        (x.events_omitted == 0) != (y.events_omitted == 0))
        return false;
    const int64_t ox = connection_origin_ns(x), oy = connection_origin_ns(y);
    for (size_t i = 0; i < x.events.size(); ++i) {
        const Event& ex = x.events[i];
        const Event& ey = y.events[i];
        if (ex.kind != ey.kind || ex.dir != ey.dir || ex.timer != ey.timer) return false;
        const double rx = seconds(ex.t_ns - ox), ry = seconds(ey.t_ns - oy);
        if (std::fabs(rx - ry) > fold_tolerance_s(rx)) return false;
    }
    return true;
}

LaneLayout layout_lanes(const ListenerVerdict& l, size_t max_lanes) {
    LaneLayout out;
    out.total_connections = l.connections.size();

    std::optional<int64_t> first_syn, first_event;
    for (const ReportedConnection& conn_ : l.connections) {
        const ReportedConnection* c = &conn_;
        if (c->first_syn_ns && (!first_syn || *c->first_syn_ns < *first_syn))
            first_syn = c->first_syn_ns;
        for (const Event& e : c->events)
            if (!first_event || e.t_ns < *first_event) first_event = e.t_ns;
    }
    out.origin_ns = first_syn ? *first_syn : first_event.value_or(0);

    const bool may_fold = max_lanes != 0 && l.connections.size() > max_lanes;
    std::map<std::string, std::vector<size_t>> buckets;  // pattern key -> lanes
    for (const ReportedConnection& conn_ : l.connections) {
        const ReportedConnection* c = &conn_;
        std::optional<size_t> target;
        if (may_fold) {
            // Only the first max_lanes lanes of a shape can be drawn (a lane's place among its
            // shape is at most its place among all lanes): comparing with more would only
            // merge lanes that are not drawn, at quadratic cost when every connection differs.
            auto& bucket = buckets[pattern_key(*c)];
            const size_t n_compare = std::min(bucket.size(), max_lanes);
            for (size_t idx : std::span(bucket).first(n_compare)) {
                if (same_pattern(*out.lanes[idx].members.front(), *c)) {
                    target = idx;
                    break;
                }
            }
            if (!target) bucket.push_back(out.lanes.size());
        }
        if (!target) {
            target = out.lanes.size();
            Lane lane;
            lane.port_lo = lane.port_hi = c->client.port;
            out.lanes.push_back(std::move(lane));
        }
        Lane& lane = out.lanes[*target];
        lane.members.push_back(c);
        lane.port_lo = std::min(lane.port_lo, c->client.port);
        lane.port_hi = std::max(lane.port_hi, c->client.port);
    }
    for (const Lane& lane : out.lanes)
        if (lane.folded()) out.folded = true;

    if (max_lanes != 0 && out.lanes.size() > max_lanes) {
        for (size_t i = max_lanes; i < out.lanes.size(); ++i)
            out.hidden_connections += out.lanes[i].members.size();
        out.lanes.resize(max_lanes);
    }

    out.first_ns = out.last_ns = out.origin_ns;
    for (const Lane& lane : out.lanes) {
        for (const Event& e : lane.members.front()->events) {
            out.any_events = true;
            out.first_ns = std::min(out.first_ns, e.t_ns);
            out.last_ns = std::max(out.last_ns, e.t_ns);
        }
    }
    return out;
}

std::vector<Panel> time_panels(const Analysis& a, const LaneLayout& lay, double t_min, double t_max) {
    std::vector<Panel> out;
    for (const ProbeStep& st : a.source.steps) {
        const double t0 = seconds(st.start_ns - lay.origin_ns), t1 = seconds(st.end_ns - lay.origin_ns);
        if (!(t1 > t0)) continue;
        out.push_back(Panel{st.name, t0, t1});
    }
    if (out.empty()) return {Panel{"", t_min, t_max}};
    out.front().t0 = std::min(out.front().t0, t_min);
    out.back().t1 = std::max(out.back().t1, t_max);
    // Steps are consecutive; should two overlap, the later one starts where the earlier ended.
    for (size_t i = 1; i < out.size(); ++i) out[i].t0 = std::max(out[i].t0, out[i - 1].t1);
    std::erase_if(out, [](const Panel& p) { return !(p.t1 > p.t0); });
    return out;
}

std::vector<double> panel_shares(const std::vector<Panel>& panels, double min_share) {
    const size_t n = panels.size();
    if (n == 0) return {};
    min_share = std::min(min_share, 0.6 / static_cast<double>(n));
    std::vector<double> w(n);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += w[i] = std::log1p(std::max(0.0, panels[i].t1 - panels[i].t0) / 0.05);
    const double rest = 1.0 - min_share * static_cast<double>(n);
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i)
        out[i] = min_share + (sum > 0 ? rest * w[i] / sum : rest / static_cast<double>(n));
    return out;
}

PanelAxis::PanelAxis(std::vector<Panel> p, double x0, double x1, double gap, double min_share)
    : panels(std::move(p)) {
    const std::vector<double> share = panel_shares(panels, min_share);
    const double usable = std::max(1.0, x1 - x0 - gap * static_cast<double>(panels.size() > 0 ? panels.size() - 1 : 0));
    double x = x0;
    for (size_t i = 0; i < panels.size(); ++i) {
        left.push_back(x);
        x += share[i] * usable;
        right.push_back(i + 1 == panels.size() ? x1 : x);
        x += gap;
    }
}

size_t PanelAxis::panel_of(double t) const {
    for (size_t i = 0; i + 1 < panels.size(); ++i)
        if (t < panels[i].t1) return i;
    return panels.empty() ? 0 : panels.size() - 1;
}

double PanelAxis::x_of(double t) const {
    if (panels.empty()) return 0;
    const size_t i = panel_of(t);
    const Panel& p = panels[i];
    const double span = std::max(p.t1 - p.t0, 1e-9);
    return left[i] + std::clamp((t - p.t0) / span, 0.0, 1.0) * (right[i] - left[i]);
}

size_t bar_end_index(const ReportedConnection& c) {
    for (size_t k = 0; k < c.events.size(); ++k)
        if (c.events[k].kind == EventKind::rst) return k;
    return c.events.empty() ? 0 : c.events.size() - 1;
}

std::string event_label(const Event& e) {
    switch (e.kind) {
        case EventKind::syn: return "SYN";
        case EventKind::syn_retransmit: return "SYN rtx";
        case EventKind::synack: return "SYN-ACK";
        case EventKind::synack_retransmit:
            return e.timer ? "SYN-ACK rtx (timer)" : "SYN-ACK rtx (answer)";
        case EventKind::ack: return "ACK";
        case EventKind::data: return "data";
        case EventKind::rst: return "RST";
        case EventKind::fin: return "FIN";
        case EventKind::other: break;
    }
    return "other";
}

std::string lane_label(const Lane& lane) {
    if (!lane.folded()) return std::to_string(lane.members.front()->client.port);
    if (lane.port_lo == lane.port_hi)
        return fmt::format("×{} (port {})", lane.members.size(), lane.port_lo);
    return fmt::format("×{} (ports {}–{})", lane.members.size(), lane.port_lo, lane.port_hi);
}

std::vector<std::pair<std::string, std::string>> verdict_rows(const ListenerVerdict& l) {
    std::vector<std::pair<std::string, std::string>> rows;
    rows.emplace_back("port state", to_string(l.port_state));

    std::string aq;
    if (l.capacity) {
        aq = fmt::format("capacity {}", *l.capacity);
    } else {
        aq = "capacity unknown";
        if (l.capacity_at_least && l.capacity_at_most)
            aq += fmt::format(" ({}..{})", *l.capacity_at_least, *l.capacity_at_most);
        else if (l.capacity_at_least)
            aq += fmt::format(" (at least {})", *l.capacity_at_least);
        else if (l.capacity_at_most)
            aq += fmt::format(" (at most {})", *l.capacity_at_most);
    }
    aq += l.backlog ? fmt::format(", backlog {}", *l.backlog) : std::string(", backlog unknown");
    rows.emplace_back("accept queue", aq);

    rows.emplace_back("on full", fmt::format("SYN {}, ACK {}", to_string(l.on_full_syn), to_string(l.on_full_ack)));

    std::string rt;
    if (l.retries)
        rt = fmt::format("retries {}", *l.retries);
    else if (l.retries_at_least > 0)
        rt = fmt::format("retries unknown (at least {})", l.retries_at_least);
    else
        rt = "retries unknown";
    rt += l.initial_rto_s ? fmt::format(", initial RTO {:.2f}s", *l.initial_rto_s)
                          : std::string(", initial RTO unknown");
    if (!l.gaps_s.empty()) {
        rt += ", gaps";
        for (double g : l.gaps_s) rt += ' ' + gap_label(g);
    }
    rows.emplace_back("SYN-ACK", rt);

    rows.emplace_back("syncookies", to_string(l.syncookies));

    std::string sq;
    if (l.syn_queue_capacity)
        sq = fmt::format("capacity {}", *l.syn_queue_capacity);
    else if (l.syn_queue_capacity_at_least)
        sq = fmt::format("capacity unknown (at least {})", *l.syn_queue_capacity_at_least);
    else
        sq = "capacity unknown";
    rows.emplace_back("SYN queue", sq);

    rows.emplace_back("RTT", l.rtt_s ? fmt::format("{:.3f}ms", *l.rtt_s * 1e3) : "unknown");
    return rows;
}

double nice_step(double span_s, int target) {
    if (!(span_s > 0) || target < 1) return 1.0;
    const double raw = span_s / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double norm = raw / mag;
    const double f = norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10;
    return f * mag;
}

double next_nice_step(double step) {
    const double mag = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    const double norm = step / mag;
    return (norm < 1.5 ? 2 : norm < 3.5 ? 5 : 10) * mag;
}

std::string tick_label(double t, double step) {
    int decimals = 0;
    if (step > 0) decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6);
    if (std::fabs(t) < step * 1e-6) return "0s";
    return fmt::format("{:.{}f}s", t, decimals);
}

std::string gap_label(double gap_s) {
    if (gap_s >= 0.1) return fmt::format("{:.2f}s", gap_s);
    if (gap_s >= 0.01) return fmt::format("{:.3f}s", gap_s);
    return fmt::format("{:.1f}ms", gap_s * 1e3);
}

}  // namespace timeline_detail

namespace {

using namespace timeline_detail;

// Columns a UTF-8 string takes on a terminal (every code point counts one).
size_t display_width(std::string_view s) {
    size_t n = 0;
    for (unsigned char ch : s)
        if ((ch & 0xC0) != 0x80) ++n;
    return n;
}

std::string pad_right(std::string s, size_t width) {
    const size_t w = display_width(s);
    if (w < width) s.append(width - w, ' ');
    return s;
}

// Splits text into lines of at most `width` columns, at spaces when possible.
std::vector<std::string> wrap_words(std::string_view text, size_t width) {
    width = std::max<size_t>(width, 20);
    std::vector<std::string> lines;
    std::string line;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t sp = text.find(' ', pos);
        if (sp == std::string_view::npos) sp = text.size();
        const std::string_view word = text.substr(pos, sp - pos);
        pos = sp + 1;
        if (!line.empty() && display_width(line) + 1 + display_width(word) > width) {
            lines.push_back(line);
            line.clear();
        }
        if (!line.empty()) line += ' ';
        line += word;
    }
    if (!line.empty() || lines.empty()) lines.push_back(line);
    return lines;
}

// Cuts a UTF-8 string to at most `width` columns, ending in "…" when cut.
std::string clip(std::string_view s, size_t width) {
    if (display_width(s) <= width) return std::string(s);
    std::string out;
    size_t n = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const unsigned char ch = static_cast<unsigned char>(s[i]);
        if ((ch & 0xC0) != 0x80) {
            if (n + 1 >= width) break;
            ++n;
        }
        out += s[i];
    }
    return out + "…";
}


char strip_char(const Event& e) {
    switch (e.kind) {
        case EventKind::syn: return 'S';
        case EventKind::syn_retransmit: return 's';
        case EventKind::synack: return 'A';
        case EventKind::synack_retransmit: return 'a';
        case EventKind::ack: return '.';
        case EventKind::data: return 'd';
        case EventKind::rst: return 'R';
        case EventKind::fin: return 'F';
        case EventKind::other: break;
    }
    return '?';
}

double seconds_from(int64_t from_ns, int64_t t_ns) { return static_cast<double>(t_ns - from_ns) / 1e9; }

const char* strip_code(char ch) {
    switch (ch) {
        case 'R': return "31";
        case 's':
        case 'a': return "33";
        case 'S':
        case 'A': return "1";
        default: return nullptr;
    }
}

}  // namespace

std::string render_timeline_text(const Analysis& a, const ListenerVerdict& l,
                                 const TimelineOptions& o) {
    const Palette pal{o.color};
    const LaneLayout lay = layout_lanes(l, o.max_lanes);
    const size_t width = static_cast<size_t>(std::max(o.width, 60));
    std::string out;

    // Header: the listener and what the analyzer concluded about it.
    out += pal.bold(fmt::format("listener {}", l.listener.str()));
    out += fmt::format("  {} connection{}", lay.total_connections,
                       lay.total_connections == 1 ? "" : "s");
    if (!a.source.kind.empty())
        out += fmt::format("  (source: {}{}{})", a.source.kind, a.source.path.empty() ? "" : " ",
                           a.source.path);
    out += '\n';
    constexpr size_t kKey = 14;
    const size_t value_w = width - 2 - kKey;
    for (const auto& [label, value] : o.verdicts ? verdict_rows(l) : decltype(verdict_rows(l)){}) {
        std::string key = label;
        for (const std::string& line : wrap_words(value, value_w)) {
            out += fmt::format("  {}{}\n", pad_right(key, kKey), line);
            key.clear();
        }
    }
    for (const Warning& w : o.verdicts ? l.warnings : std::vector<Warning>{}) {
        std::string key = "warning";
        for (const std::string& line : wrap_words(fmt::format("{}: {}", w.code, w.message), value_w)) {
            out += fmt::format("  {}{}\n", pad_right(key, kKey), pal.warn(line));
            key.clear();
        }
    }
    if (lay.any_events)
        out += fmt::format("  {}the listener's first SYN, t={:.3f}s in the capture\n",
                           pad_right("time 0", kKey), seconds_from(a.t0_ns, lay.origin_ns));
    if (l.connections.empty()) {
        out += "\n  no connections seen\n";
        return out;
    }

    // Lane view: one line per lane, a character per slice of time.
    std::vector<std::string> labels;
    size_t label_w = 4;
    for (const Lane& lane : lay.lanes) {
        labels.push_back(lane_label(lane));
        label_w = std::max(label_w, display_width(labels.back()));
    }
    label_w = std::min<size_t>(label_w, 28);
    size_t fate_w = 4;
    for (const Lane& lane : lay.lanes)
        fate_w = std::max(fate_w, std::string_view(to_string(lane.members.front()->fate)).size());
    const size_t prefix_w = 2 + label_w + 2 + fate_w + 2;
    const size_t cols = width > prefix_w + 20 ? width - prefix_w : 20;

    const double t_min = std::min(0.0, static_cast<double>(lay.first_ns - lay.origin_ns) / 1e9);
    const double t_max = std::max(static_cast<double>(lay.last_ns - lay.origin_ns) / 1e9, t_min + 1e-3);

    // Columns per panel (one per probe step, each at its own scale), a ':' column between two.
    const std::vector<Panel> panels = time_panels(a, lay, t_min, t_max);
    const size_t np = panels.size();
    const bool broken = np > 1;
    std::vector<size_t> c0(np), cw(np);
    {
        const std::vector<double> share = panel_shares(panels, 0.08);
        const size_t usable = cols > np - 1 + 4 * np ? cols - (np - 1) : 4 * np;
        size_t c = 0;
        for (size_t i = 0; i < np; ++i) {
            c0[i] = c;
            cw[i] = i + 1 == np ? (usable + (np - 1) > c ? usable + (np - 1) - c : 4)
                                : std::max<size_t>(4, static_cast<size_t>(std::lround(share[i] * static_cast<double>(usable))));
            c += cw[i] + 1;
        }
    }
    const size_t strip_cols = c0.back() + cw.back();
    auto panel_of = [&](double t) {
        for (size_t i = 0; i + 1 < np; ++i)
            if (t < panels[i].t1) return i;
        return np - 1;
    };
    auto col_of = [&](double t) {
        const size_t i = panel_of(t);
        const double span = std::max(panels[i].t1 - panels[i].t0, 1e-9);
        const double c = (t - panels[i].t0) / span * static_cast<double>(cw[i] - 1);
        return c0[i] + std::clamp<size_t>(static_cast<size_t>(std::floor(std::max(0.0, c) + 1e-9)), 0, cw[i] - 1);
    };

    out += '\n';
    out += pal.bold("lanes") +
           "  S SYN  s SYN rtx  A SYN-ACK  a SYN-ACK rtx  . ACK  d data  R RST  F FIN  ? other\n";
    out += "       (events closer than one column are written in order in the next free columns;\n"
           "        - the connection until its first RST, r a RST after that one)\n";
    if (broken)
        out += "       (one panel per probe step, each at its own scale, ':' between two)\n";

    const std::string lane_prefix = fmt::format("  {}  {}  ", pad_right("", label_w), pad_right("", fate_w));
    // Step names over their panels.
    if (broken) {
        std::string names(strip_cols, ' ');
        for (size_t i = 0; i < np; ++i) {
            std::string n = panels[i].name;
            const std::string range = fmt::format(" {}-{}", tick_label(panels[i].t0, 0.1), tick_label(panels[i].t1, 0.1));
            if (n.size() + range.size() <= cw[i]) n += range;
            if (n.size() > cw[i]) n.resize(cw[i]);
            names.replace(c0[i], n.size(), n);
            if (i > 0) names[c0[i] - 1] = ':';
        }
        while (!names.empty() && names.back() == ' ') names.pop_back();
        out += lane_prefix + pal.bold(names) + '\n';
    }
    // Axis: "|0s       |10s" per panel, with labels where they fit.
    {
        std::string axis(strip_cols, ' ');
        for (size_t i = 0; i < np; ++i) {
            const Panel& p = panels[i];
            const double span = std::max(p.t1 - p.t0, 1e-3);
            const double col_s = span / static_cast<double>(std::max<size_t>(cw[i] - 1, 1));
            double step = nice_step(span, std::max<int>(1, static_cast<int>(cw[i] / 12)));
            while (step / col_s < 10) step = next_nice_step(step);
            const double first_tick = std::ceil(p.t0 / step - 1e-9) * step;
            for (double t = first_tick; t <= p.t1 + step * 1e-6; t += step) {
                const size_t c = col_of(std::min(t, p.t1 - 1e-12 * span));
                const std::string lab = "|" + tick_label(t, step);
                if (c + lab.size() > c0[i] + cw[i]) break;
                axis.replace(c, lab.size(), lab);
            }
            if (i > 0) axis[c0[i] - 1] = ':';
        }
        while (!axis.empty() && axis.back() == ' ') axis.pop_back();
        out += fmt::format("  {}  {}  {}\n", pad_right("port", label_w), pad_right("fate", fate_w),
                           pal.dim(axis));
    }
    for (size_t i = 0; i < lay.lanes.size(); ++i) {
        const ReportedConnection& c = *lay.lanes[i].members.front();
        // Columns: at the event's time, pushed right past the previous event, then pulled
        // back left where that ran past the end of the strip.
        std::vector<size_t> pos(c.events.size());
        for (size_t k = 0; k < c.events.size(); ++k) {
            pos[k] = col_of(static_cast<double>(c.events[k].t_ns - lay.origin_ns) / 1e9);
            if (k > 0) pos[k] = std::max(pos[k], pos[k - 1] + 1);
        }
        size_t limit = strip_cols - 1;
        for (size_t k = c.events.size(); k-- > 0;) {
            pos[k] = std::min(pos[k], limit);
            limit = pos[k] > 0 ? pos[k] - 1 : 0;
        }
        std::string cells(strip_cols, ' ');
        for (size_t p = 1; p < np; ++p) cells[c0[p] - 1] = ':';
        const size_t bar_end = bar_end_index(c);
        if (!c.events.empty())
            for (size_t col = pos.front(); col <= pos[bar_end]; ++col)
                if (cells[col] == ' ') cells[col] = '-';
        for (size_t k = 0; k < c.events.size(); ++k) {
            const char ch = strip_char(c.events[k]);
            // A RST after the connection's first one: 'r' (the probe repeats its RSTs at the end).
            cells[pos[k]] = k > bar_end && ch == 'R' ? 'r' : ch;
        }
        while (!cells.empty() && cells.back() == ' ') cells.pop_back();
        std::string strip;
        for (char ch : cells) {
            const char* code = strip_code(ch);
            strip += code ? pal.wrap(std::string(1, ch), code) : std::string(1, ch);
        }
        const std::string fate = to_string(c.fate);
        out += fmt::format("  {}  {}  {}\n", pad_right(clip(labels[i], label_w), label_w),
                           pal.fate(pad_right(fate, fate_w), c.fate), strip);
    }
    if (lay.hidden_connections)
        out += fmt::format("  … {} more connection{} not drawn\n", lay.hidden_connections,
                           lay.hidden_connections == 1 ? "" : "s");
    if (lay.folded)
        for (const std::string& line :
             wrap_words("×N: connections with the same fate and events (times within 0.1s + 5% of "
                        "their own first SYN) share a lane; the first of them is shown",
                        width - 2))
            out += "  " + pal.dim(line) + '\n';

    // Events: one aligned line per event, grouped per lane.
    size_t label_col = 0;
    for (const Lane& lane : lay.lanes)
        for (const Event& e : lane.members.front()->events)
            label_col = std::max(label_col, event_label(e).size());
    out += '\n';
    out += pal.bold("events") +
           "  t: seconds in the capture   +: since the connection's first SYN   -> to the listener   "
           "<- from it\n";
    for (size_t i = 0; i < lay.lanes.size(); ++i) {
        const Lane& lane = lay.lanes[i];
        const ReportedConnection& c = *lane.members.front();
        const int64_t corigin = connection_origin_ns(c);
        out += '\n';
        const std::string head =
            lane.folded() ? fmt::format("{} {}", pal.bold(labels[i]),
                                        pal.dim(fmt::format("(events of {})", c.client.str())))
                          : pal.bold(c.client.str());
        out += fmt::format("{}  {}", head, pal.fate(to_string(c.fate), c.fate));
        if (c.first_syn_ns)
            out += fmt::format("  first SYN t={:.3f}s", seconds_from(a.t0_ns, *c.first_syn_ns));
        out += '\n';
        if (!c.fate_reason.empty()) out += fmt::format("  {}\n", pal.dim(c.fate_reason));
        for (const Event& e : c.events) {
            const double t = seconds_from(a.t0_ns, e.t_ns);
            const double rel = static_cast<double>(e.t_ns - corigin) / 1e9;
            const char* arrow = e.dir == Dir::to_listener ? "->" : "<-";
            std::string line = fmt::format("  {:>13.6f}s  {:>+9.3f}s  {}  {}  {:<4}  seq {:>10}  ack {:>10}",
                                           t, rel, arrow, pad_right(event_label(e), label_col),
                                           flags_str(e.flags), e.seq, e.ack);
            if (e.payload) line += fmt::format("  len {}", e.payload);
            if (o.color) {
                if (e.kind == EventKind::rst)
                    line = pal.wrap(line, "31");
                else if (e.kind == EventKind::synack_retransmit || e.kind == EventKind::syn_retransmit)
                    line = pal.wrap(line, "33");
            }
            while (!line.empty() && line.back() == ' ') line.pop_back();
            out += line + '\n';
        }
        if (c.events_omitted)
            out += fmt::format("  … {} more event{} not recorded\n", c.events_omitted,
                               c.events_omitted == 1 ? "" : "s");
        if (c.events.empty()) out += "  (no events recorded)\n";
    }
    return out;
}

}  // namespace lp
