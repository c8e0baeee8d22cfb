// SVG rendering of a listener's timeline: a header with the verdicts, a
// legend, a time axis from the listener's first SYN, and one lane per
// connection with a mark per segment (client above the line, listener below)
// and the gaps between consecutive SYN-ACKs written under them.
// Self-contained SVG 1.1: no scripts, generic font families, deterministic.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "report/timeline.hpp"

namespace lp {

namespace {

using namespace timeline_detail;

constexpr double kMargin = 16;
constexpr double kFont = 12;         // body text
constexpr double kSmall = 10;        // gap labels, fate names, notes
constexpr double kCharW = 0.6;       // monospace advance per font pixel
constexpr double kLaneH = 64;
constexpr double kLaneMid = 26;      // lane line below the lane top
constexpr double kMarkOff = 11;      // marks above/below the lane line
constexpr double kMarkGap = 9;       // least distance between two marks on one side
constexpr double kPanelGap = 14;     // between the panels of a broken time axis
constexpr const char* kInk = "#222222";
constexpr const char* kRstInk = "#c00000";
constexpr const char* kMuted = "#666666";

// Length of the well-formed UTF-8 sequence (of a character XML 1.0 allows) starting `s`
// with a byte >= 0x80, or 0.
size_t utf8_sequence(std::string_view s) {
    const auto at = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = at(0);
    size_t n = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1Fu;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0Fu;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07u;
    else return 0;
    if (s.size() < n) return 0;
    for (size_t k = 1; k < n; ++k) {
        if ((at(k) & 0xC0u) != 0x80u) return 0;
        cp = cp << 6 | (at(k) & 0x3Fu);
    }
    const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) return 0;
    return n;
}

std::string esc(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        const char ch = s[i];
        if (static_cast<unsigned char>(ch) >= 0x80) {
            // A file name is bytes: what is not UTF-8 (Latin-1, say) becomes U+FFFD, or the
            // document would not be XML at all.
            const size_t n = utf8_sequence(s.substr(i));
            if (n == 0) {
                out += "\xEF\xBF\xBD";
            } else {
                out.append(s.substr(i, n));
                i += n - 1;
            }
            continue;
        }
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default:
                // Control characters are not allowed in XML 1.0.
                if (static_cast<unsigned char>(ch) < 0x20 && ch != '\n' && ch != '\t')
                    out += ' ';
                else
                    out += ch;
        }
    }
    return out;
}

// Coordinates with one decimal, never "-0.0".
std::string num(double v) {
    if (std::fabs(v) < 0.05) v = 0;
    return fmt::format("{:.1f}", v);
}

size_t code_points(std::string_view s) {
    size_t n = 0;
    for (unsigned char ch : s)
        if ((ch & 0xC0) != 0x80) ++n;
    return n;
}

double text_w(std::string_view s, double font) {
    return static_cast<double>(code_points(s)) * font * kCharW;
}

// Splits text into lines of at most `max_chars` code points, at spaces when possible.
std::vector<std::string> wrap_words(std::string_view text, size_t max_chars) {
    std::vector<std::string> lines;
    std::string line;
    size_t pos = 0;
    max_chars = std::max<size_t>(max_chars, 20);
    while (pos < text.size()) {
        size_t sp = text.find(' ', pos);
        if (sp == std::string_view::npos) sp = text.size();
        std::string word(text.substr(pos, sp - pos));
        pos = sp + 1;
        if (!line.empty() && code_points(line) + 1 + code_points(word) > max_chars) {
            lines.push_back(line);
            line.clear();
        }
        if (!line.empty()) line += ' ';
        line += word;
        while (code_points(line) > max_chars) {  // one word longer than a line
            lines.push_back(line.substr(0, max_chars));
            line = line.substr(max_chars);
        }
    }
    if (!line.empty() || lines.empty()) lines.push_back(line);
    return lines;
}

// Okabe-Ito based: distinguishable with the common colour-vision deficiencies.
const char* fate_color(Fate f) {
    switch (f) {
        case Fate::queued: return "#009e73";
        case Fate::ack_dropped: return "#e69f00";
        case Fate::reset_after_ack: return "#d55e00";
        case Fate::syn_dropped: return "#cc79a7";
        case Fate::half_open: return "#56b4e9";
        case Fate::cookie: return "#0072b2";
        case Fate::refused: return "#882255";
        case Fate::reset_by_client: return "#999933";
        case Fate::probe_reset: return "#88ccee";
        case Fate::unknown: break;
    }
    return "#aaaaaa";
}

// What a fate means, in a few words for the legend.
const char* fate_meaning(Fate f) {
    switch (f) {
        case Fate::queued: return "held by the accept queue";
        case Fate::ack_dropped: return "final ACK ignored, SYN-ACK resent";
        case Fate::reset_after_ack: return "RST to the final ACK";
        case Fate::syn_dropped: return "SYN got no answer";
        case Fate::half_open: return "SYN-ACKed, never ACKed";
        case Fate::cookie: return "answered by a syncookie";
        case Fate::refused: return "RST to the SYN";
        case Fate::reset_by_client: return "client reset it first";
        case Fate::probe_reset: return "the probe reset it on purpose";
        case Fate::unknown: break;
    }
    return "outcome not proven";
}

constexpr Fate kAllFates[] = {Fate::queued,      Fate::ack_dropped,     Fate::reset_after_ack,
                              Fate::syn_dropped, Fate::half_open,       Fate::cookie,
                              Fate::refused,     Fate::reset_by_client, Fate::probe_reset,
                              Fate::unknown};

// The shape of one mark centred on (x, y). `down` points triangles down
// (towards the lane line from above).
std::string mark_shape(EventKind kind, bool timer, double x, double y, bool down) {
    const double s = 6;
    switch (kind) {
        case EventKind::syn:
        case EventKind::syn_retransmit: {
            const double tip = down ? y + s : y - s, base = down ? y - s : y + s;
            const bool hollow = kind == EventKind::syn_retransmit;
            return fmt::format(
                R"(<polygon points="{},{} {},{} {},{}" fill="{}" stroke="{}" stroke-width="{}"/>)",
                num(x - s), num(base), num(x + s), num(base), num(x), num(tip),
                hollow ? "#ffffff" : kInk, kInk, hollow ? "2" : "1");
        }
        case EventKind::synack:
            return fmt::format(R"(<circle cx="{}" cy="{}" r="5.5" fill="{}"/>)", num(x), num(y), kInk);
        case EventKind::synack_retransmit: {
            std::string c = fmt::format(
                R"(<circle cx="{}" cy="{}" r="5" fill="#ffffff" stroke="{}" stroke-width="2"/>)",
                num(x), num(y), kInk);
            if (!timer)
                c += fmt::format(R"(<circle cx="{}" cy="{}" r="2" fill="{}"/>)", num(x), num(y), kInk);
            return c;
        }
        case EventKind::ack:
            return fmt::format(R"(<rect x="{}" y="{}" width="2.5" height="12" fill="{}"/>)",
                               num(x - 1.25), num(y - 6), kInk);
        case EventKind::data:
            return fmt::format(R"(<polygon points="{},{} {},{} {},{} {},{}" fill="{}"/>)", num(x),
                               num(y - 6), num(x + 5), num(y), num(x), num(y + 6), num(x - 5),
                               num(y), kInk);
        case EventKind::rst:
            return fmt::format(
                R"(<path d="M{},{} L{},{} M{},{} L{},{}" stroke="{}" stroke-width="2.5" fill="none"/>)",
                num(x - 5), num(y - 5), num(x + 5), num(y + 5), num(x - 5), num(y + 5),
                num(x + 5), num(y - 5), kRstInk);
        case EventKind::fin:
            return fmt::format(R"(<rect x="{}" y="{}" width="9" height="9" fill="{}"/>)",
                               num(x - 4.5), num(y - 4.5), kInk);
        case EventKind::other: break;
    }
    return fmt::format(R"(<circle cx="{}" cy="{}" r="2.5" fill="#888888"/>)", num(x), num(y));
}

struct LegendMark {
    EventKind kind;
    bool timer;
    bool client;
    const char* label;
};

constexpr LegendMark kLegendMarks[] = {
    {EventKind::syn, false, true, "SYN"},
    {EventKind::syn_retransmit, false, true, "SYN retransmit"},
    {EventKind::synack, false, false, "SYN-ACK"},
    {EventKind::synack_retransmit, true, false, "SYN-ACK retransmit (timer)"},
    {EventKind::synack_retransmit, false, false, "SYN-ACK retransmit (answer to a SYN)"},
    {EventKind::ack, false, true, "ACK"},
    {EventKind::data, false, true, "data"},
    {EventKind::rst, false, true, "RST"},
    {EventKind::fin, false, true, "FIN"},
    {EventKind::other, false, true, "other"},
};

class Writer {
public:
    template <typename... Args>
    void operator()(fmt::format_string<Args...> f, Args&&... args) {
        fmt::format_to(std::back_inserter(buf_), f, std::forward<Args>(args)...);
        buf_ += '\n';
    }
    void text(double x, double y, std::string_view s, std::string_view attrs = {}) {
        (*this)(R"(<text x="{}" y="{}"{}{}>{}</text>)", num(x), num(y), attrs.empty() ? "" : " ",
                attrs, esc(s));
    }
    std::string& str() { return buf_; }

private:
    std::string buf_;
};

std::string event_tip(const Analysis& a, const ReportedConnection& c, const Event& e) {
    std::string tip = fmt::format("{} {} {}  t={:.6f}s  +{:.3f}s after its first SYN  flags {}  seq {}  ack {}",
                                  c.client.str(), e.dir == Dir::to_listener ? "->" : "<-",
                                  event_label(e), static_cast<double>(e.t_ns - a.t0_ns) / 1e9,
                                  static_cast<double>(e.t_ns - connection_origin_ns(c)) / 1e9,
                                  flags_str(e.flags), e.seq, e.ack);
    if (e.payload) tip += fmt::format("  len {}", e.payload);
    return tip;
}

}  // namespace

std::string render_timeline_svg(const Analysis& a, const ListenerVerdict& l, const TimelineOptions& o) {
    const LaneLayout lay = layout_lanes(l, o.max_lanes);
    auto rel_s = [&](int64_t t_ns) { return static_cast<double>(t_ns - lay.origin_ns) / 1e9; };

    // Time range: from the listener's first SYN (or an earlier event) to the last event,
    // and to the end of the capture when that is not far beyond.
    const double t_min = std::min(0.0, rel_s(lay.first_ns));
    double t_max = rel_s(lay.last_ns);
    const double events_span = t_max - t_min;
    std::optional<double> end_rel;
    bool end_drawn = false;
    if (a.end_ns && lay.any_events) {
        end_rel = rel_s(*a.end_ns);
        if (*end_rel > t_max && *end_rel <= t_max + std::max(0.25 * events_span, 1.0)) {
            t_max = *end_rel;
            end_drawn = true;
        }
    }
    if (t_max - t_min < 1e-3) t_max = t_min + 1e-3;
    const double span = t_max - t_min;

    // Widths: the label column fits the longest lane label; the plot grows with the span.
    std::vector<std::string> labels;
    double label_w = text_w("×9999 (ports 65535–65535)", kFont) * 0.5;
    for (const Lane& lane : lay.lanes) {
        labels.push_back(lane_label(lane));
        label_w = std::max(label_w, text_w(labels.back(), kFont));
        label_w = std::max(label_w, text_w(to_string(lane.members.front()->fate), kSmall));
    }
    label_w = std::min(label_w + 30, 280.0);
    const double width = std::round(std::clamp(900 + 120 * std::log2(1 + span), 900.0, 1400.0));
    const double plot_x0 = kMargin + label_w + 12;
    const double plot_x1 = width - 56;
    // One panel per probe step (a broken axis, each step at its own scale), else one.
    const PanelAxis axis(time_panels(a, lay, t_min, t_max), plot_x0, plot_x1, kPanelGap, 0.08);
    const bool broken = axis.panels.size() > 1;
    auto x_of = [&](double t) { return axis.x_of(t); };
    const size_t wrap_chars = static_cast<size_t>((width - 2 * kMargin) / (kFont * kCharW));

    Writer w;
    double y = 0;
    bool faded_marks = false;

    // Header: the listener and its verdicts.
    y += 30;
    w.text(kMargin, y, fmt::format("Listener {} — handshake timeline", l.listener.str()),
           R"(font-family="sans-serif" font-size="18" font-weight="bold")");
    y += 20;
    {
        std::string sub = fmt::format("{} connection{}", lay.total_connections,
                                      lay.total_connections == 1 ? "" : "s");
        if (!a.source.kind.empty())
            sub += fmt::format(" · source: {}{}{}", a.source.kind, a.source.path.empty() ? "" : " ",
                               a.source.path);
        if (lay.any_events)
            sub += fmt::format(" · time 0 = the listener's first SYN (t={:.3f}s in the capture)",
                               static_cast<double>(lay.origin_ns - a.t0_ns) / 1e9);
        for (const std::string& line : wrap_words(sub, wrap_chars)) {
            w.text(kMargin, y, line, fmt::format(R"(font-size="11" fill="{}")", kMuted));
            y += 15;
        }
    }
    y += 8;
    w(R"(<g id="verdicts">)");
    {
        const double value_x = kMargin + 14 * kFont * kCharW;
        const size_t value_chars = static_cast<size_t>((width - kMargin - value_x) / (kFont * kCharW));
        for (const auto& [label, value] : verdict_rows(l)) {
            w.text(kMargin, y, label, R"(font-weight="bold")");
            for (const std::string& line : wrap_words(value, value_chars)) {
                w.text(value_x, y, line, value.starts_with("unknown") || value.find(" unknown") != std::string::npos
                                             ? R"(fill="#555555")"
                                             : "");
                y += 16;
            }
        }
    }
    w("</g>");
    if (!l.warnings.empty()) {
        y += 4;
        w(R"(<g id="warnings" fill="#9a4a00">)");
        for (const Warning& wn : l.warnings) {
            bool first = true;
            for (const std::string& line :
                 wrap_words(fmt::format("{}: {} [{}]", "warning", wn.message, wn.code), wrap_chars - 2)) {
                w.text(kMargin + (first ? 0 : 2 * kFont * kCharW), y, line);
                first = false;
                y += 16;
            }
        }
        w("</g>");
    }

    // Legend: fates present (lane colour), then the marks.
    y += 12;
    w(R"(<g id="legend">)");
    {
        const double legend_top = y - 4;
        y += 12;
        double x = kMargin + 8;
        const std::string fates_title = "lane colour = fate:";
        w.text(x, y, fates_title, R"(font-weight="bold")");
        x += text_w(fates_title, kFont) + 12;
        for (Fate f : kAllFates) {
            const bool present = std::any_of(l.connections.begin(), l.connections.end(),
                                             [f](const ReportedConnection& c) { return c.fate == f; });
            if (!present) continue;
            const std::string name = to_string(f);
            const std::string meaning = fmt::format("({})", fate_meaning(f));
            const double item_w = 28 + text_w(name, kFont) + 6 + text_w(meaning, kSmall + 1);
            if (x + item_w > width - kMargin) {
                x = kMargin + 8 + text_w(fates_title, kFont) + 12;
                y += 20;
            }
            w(R"(<rect x="{}" y="{}" width="22" height="6" fill="{}" fill-opacity="0.6"/>)", num(x),
              num(y - 7), fate_color(f));
            w.text(x + 28, y, name);
            w.text(x + 28 + text_w(name, kFont) + 6, y, meaning,
                   fmt::format(R"(font-size="11" fill="{}")", kMuted));
            x += item_w + 18;
        }
        y += 24;
        x = kMargin + 8;
        const std::string marks_title = "marks: above the line from the client, below from the listener:";
        w.text(x, y, marks_title, R"(font-weight="bold")");
        y += 22;
        // Two rows: the handshake's segments, then the others.
        for (const LegendMark& m : kLegendMarks) {
            const double item_w = 16 + text_w(m.label, kFont) + 22;
            if (m.kind == EventKind::ack || x + item_w > width - kMargin) {
                x = kMargin + 8;
                y += 22;
            }
            w("{}", mark_shape(m.kind, m.timer, x + 6, y - 4, m.client));
            w.text(x + 18, y, m.label);
            x += item_w;
        }
        y += 20;
        x = kMargin + 8;
        // How a SYN-ACK gap looks.
        w(R"(<path d="M{},{} v4 H{} v-4" stroke="{}" fill="none" stroke-width="1"/>)", num(x), num(y - 12),
          num(x + 40), kMuted);
        w.text(x + 20, y + 2, "1.01s", R"(font-size="10" text-anchor="middle" fill="#333333")");
        w.text(x + 52, y, "time between consecutive SYN-ACKs of one connection (the retransmission schedule)");
        y += 12;
        w(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#cccccc" rx="4"/>)",
          num(kMargin), num(legend_top), num(width - 2 * kMargin), num(y - legend_top));
        y += 10;
    }
    w("</g>");

    if (lay.lanes.empty()) {
        y += 24;
        w.text(kMargin, y, "no connections seen");
        y += 20;
    } else {
        // Axis: per panel its own 1-2-5 ticks; panels after the first start with a boundary
        // line and each is headed by its step's name and time range.
        y += broken ? 44 : 28;
        const double axis_y = y;
        const double lanes_top = axis_y + 8;
        const double lanes_bottom = lanes_top + kLaneH * static_cast<double>(lay.lanes.size());
        const bool bottom_axis = lay.lanes.size() > 8;

        w(R"(<g id="axis" font-size="11">)");
        w.text(plot_x0, axis_y - (broken ? 36 : 20),
               broken ? "seconds since the listener's first SYN; one panel per probe step, each at its own scale"
                      : "seconds since the listener's first SYN",
               fmt::format(R"(fill="{}" font-size="11")", kMuted));
        for (size_t p = 0; p < axis.panels.size(); ++p) {
            const Panel& pn = axis.panels[p];
            const double px0 = axis.left[p], px1 = axis.right[p];
            const double pspan = std::max(pn.t1 - pn.t0, 1e-3);
            const double px_per_s = (px1 - px0) / pspan;
            w(R"(<g class="panel" id="panel-{}">)", p);
            if (broken) {
                w("<title>{}</title>", esc(fmt::format("probe step {}: {:.3f}s to {:.3f}s ({:.3f}s)", pn.name,
                                                       pn.t0, pn.t1, pn.t1 - pn.t0)));
                std::string head = pn.name;
                const std::string range = fmt::format(" {}–{}", tick_label(pn.t0, 0.01), tick_label(pn.t1, 0.01));
                if (text_w(head + range, 11) <= px1 - px0 - 4) head += range;
                else if (text_w(head, 11) > px1 - px0 - 4)
                    head = head.substr(0, static_cast<size_t>(std::max(1.0, (px1 - px0 - 4) / (11 * kCharW))));
                w.text(px0 + 2, axis_y - 20, head, R"(font-weight="bold" fill="#1f4e8c")");
            }
            w(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#444444"/>)", num(px0), num(axis_y), num(px1),
              num(axis_y));
            if (bottom_axis)
                w(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#444444"/>)", num(px0), num(lanes_bottom),
                  num(px1), num(lanes_bottom));
            double step = nice_step(pspan, std::max(1, static_cast<int>((px1 - px0) / 110)));
            auto widest = [&](double st) {
                return std::max(text_w(tick_label(pn.t0, st), kSmall + 1), text_w(tick_label(pn.t1, st), kSmall + 1));
            };
            while (step * px_per_s < widest(step) + 24) step = next_nice_step(step);
            const long k0 = static_cast<long>(std::ceil(pn.t0 / step - 1e-9));
            const long k1 = static_cast<long>(std::floor(pn.t1 / step + 1e-9));
            for (long k = k0; k <= k1; ++k) {
                const double t = static_cast<double>(k) * step;
                const double x = px0 + (t - pn.t0) * px_per_s;
                const std::string lab = tick_label(t, step);
                w(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>)", num(x), num(axis_y - 4), num(x),
                  num(lanes_bottom), k == 0 ? "#999999" : "#e4e4e4");
                // Inside a broken axis a label must not reach into the next panel.
                const double half = text_w(lab, kSmall + 1) / 2;
                if (broken && ((p > 0 && x - half < px0 - 2) || (p + 1 < axis.panels.size() && x + half > px1 + 2)))
                    continue;
                w.text(x, axis_y - 6, lab, R"(text-anchor="middle")");
                if (bottom_axis) w.text(x, lanes_bottom + 14, lab, R"(text-anchor="middle")");
            }
            w("</g>");
        }
        if (end_rel) {
            if (end_drawn) {
                const double x = x_of(*end_rel);
                w(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#555555" stroke-dasharray="4,3"/>)",
                  num(x), num(axis_y), num(x), num(lanes_bottom));
                w.text(x - 4, lanes_top + 10, "capture end", R"(text-anchor="end" font-size="10" fill="#555555")");
            } else if (*end_rel > t_max) {
                w.text(plot_x1, axis_y - (broken ? 36 : 20), fmt::format("capture ends at {:.1f}s →", *end_rel),
                       R"(text-anchor="end" font-size="10" fill="#555555")");
            }
        }
        w("</g>");

        // Lanes.
        w(R"(<g id="lanes">)");
        for (size_t i = 0; i < lay.lanes.size(); ++i) {
            const Lane& lane = lay.lanes[i];
            const ReportedConnection& c = *lane.members.front();
            const double top = lanes_top + kLaneH * static_cast<double>(i);
            const double cy = top + kLaneMid;
            const std::string fate = to_string(c.fate);
            w(R"(<g class="lane" id="lane-{}">)", i);
            if (i % 2 == 1)
                w(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="#f5f5f5"/>)", num(kMargin), num(top),
                  num(width - 2 * kMargin), num(kLaneH));
            // Label: client port (or the folded group), fate below it.
            w(R"(<rect x="{}" y="{}" width="10" height="10" fill="{}"/>)", num(kMargin + 4), num(cy - 13),
              fate_color(c.fate));
            w.text(kMargin + 20, cy - 4, labels[i], R"(font-weight="bold")");
            w.text(kMargin + 20, cy + 10, fate, fmt::format(R"(font-size="10" fill="{}")", kMuted));
            if (c.events_omitted)
                w.text(kMargin + 20, cy + 22, fmt::format("+{} events not drawn", c.events_omitted),
                       fmt::format(R"(font-size="10" fill="{}")", kMuted));

            // Where each mark goes: at its time, but marks of one side closer than their
            // width are set side by side (the tooltip keeps the exact time).
            std::vector<double> xs(c.events.size());
            {
                double last[2] = {-1e9, -1e9};
                for (size_t k = 0; k < c.events.size(); ++k) {
                    const int side = c.events[k].dir == Dir::to_listener ? 0 : 1;
                    xs[k] = std::max(x_of(rel_s(c.events[k].t_ns)), last[side] + kMarkGap);
                    last[side] = xs[k];
                }
                // Pulled back left where that ran past the right edge.
                double limit[2] = {plot_x1 + kMarkGap, plot_x1 + kMarkGap};
                for (size_t k = c.events.size(); k-- > 0;) {
                    const int side = c.events[k].dir == Dir::to_listener ? 0 : 1;
                    xs[k] = std::min(xs[k], limit[side]);
                    limit[side] = xs[k] - kMarkGap;
                }
            }

            // Lane line: grey across, fate colour from the first to the last event.
            w(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#cfcfcf"/>)", num(plot_x0), num(cy),
              num(plot_x1), num(cy));
            const size_t bar_end = bar_end_index(c);
            if (!c.events.empty()) {
                // The bar ends where the connection was reset (or at its last segment): RSTs the
                // probe repeats at its end are drawn faded after it.
                const double xa = x_of(rel_s(c.events.front().t_ns));
                const double xb = std::max(xs[bar_end], xa + 3);
                w(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="5" stroke-opacity="0.55" stroke-linecap="round"><title>{}</title></line>)",
                  num(xa), num(cy), num(xb), num(cy), fate_color(c.fate),
                  esc(lane.folded() ? fmt::format("{}: {} (events of {})", labels[i], fate, c.client.str())
                                    : fmt::format("{}: {}{}{}", c.client.str(), fate,
                                                  c.fate_reason.empty() ? "" : " — ", c.fate_reason)));
            }

            // Gaps between consecutive SYN-ACKs, in two rows when labels would overlap.
            double row_end[2] = {-1e9, -1e9};
            std::optional<size_t> prev_synack;
            for (size_t k = 0; k < c.events.size(); ++k) {
                const Event& e = c.events[k];
                if (e.dir != Dir::from_listener ||
                    (e.kind != EventKind::synack && e.kind != EventKind::synack_retransmit))
                    continue;
                if (prev_synack) {
                    const double x1 = xs[*prev_synack], x2 = xs[k];
                    const std::string lab =
                        gap_label(static_cast<double>(e.t_ns - c.events[*prev_synack].t_ns) / 1e9);
                    const double mid = (x1 + x2) / 2, half = text_w(lab, kSmall) / 2 + 2;
                    w(R"(<path d="M{},{} v4 H{} v-4" stroke="#888888" fill="none"/>)", num(x1 + 1),
                      num(cy + 18), num(x2 - 1));
                    int row = -1;
                    for (int r = 0; r < 2 && row < 0; ++r)
                        if (mid - half > row_end[r]) row = r;
                    if (row >= 0) {
                        w.text(mid, cy + 32 + 10 * row, lab,
                               R"(font-size="10" text-anchor="middle" fill="#333333")");
                        row_end[row] = mid + half;
                    }
                }
                prev_synack = k;
            }

            // Marks: client above the line, listener below.
            for (size_t k = 0; k < c.events.size(); ++k) {
                const Event& e = c.events[k];
                const bool client = e.dir == Dir::to_listener;
                const double x = xs[k];
                const bool after = k > bar_end;
                if (after) faded_marks = true;
                w("<g{}><title>{}{}</title>{}</g>", after ? R"( class="after-reset" opacity="0.35")" : "",
                  esc(event_tip(a, c, e)), after ? " (after the connection was reset)" : "",
                  mark_shape(e.kind, e.timer, x, client ? cy - kMarkOff : cy + kMarkOff, client));
            }
            w("</g>");
        }
        w("</g>");
        // Step boundaries over the lanes, from the panel headings down.
        if (broken) {
            w(R"(<g id="step-boundaries">)");
            for (size_t p = 1; p < axis.panels.size(); ++p) {
                const double x = (axis.right[p - 1] + axis.left[p]) / 2;
                w(R"(<line class="step-boundary" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#1f4e8c" stroke-width="1.5" stroke-dasharray="6,3"/>)",
                  num(x), num(axis_y - 32), num(x), num(lanes_bottom));
            }
            w("</g>");
        }
        y = lanes_bottom + (bottom_axis ? 22 : 6);
    }

    // Notes under the lanes.
    auto note = [&](const std::string& s) {
        for (const std::string& line : wrap_words(s, wrap_chars)) {
            y += 16;
            w.text(kMargin, y, line, fmt::format(R"(fill="{}")", kMuted));
        }
    };
    if (lay.hidden_connections)
        note(fmt::format("… {} more connection{} not drawn", lay.hidden_connections,
                         lay.hidden_connections == 1 ? "" : "s"));
    if (lay.folded)
        note("×N: connections with the same fate and events (times within 0.1s + 5% of their own "
             "first SYN) share one lane; its marks are those of the first of them.");
    if (faded_marks)
        note("A bar ends at the connection's first RST; faded marks after it are later segments of the same "
             "connection (the probe repeats its RSTs when it finishes).");
    if (broken)
        note("The time axis is broken into the probe's steps, each panel at its own scale: compare times by "
             "their labels, not by distance across panels.");
    note("Marks closer in time than their width are drawn side by side. Hover a mark for its exact "
         "time, flags and sequence numbers.");
    y += 16;

    std::string out;
    const double height = std::ceil(y);
    out += R"(<?xml version="1.0" encoding="UTF-8" standalone="no"?>)";
    out += '\n';
    out += fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="monospace" font-size="12" fill="#222222">)",
        width, height);
    out += '\n';
    out += fmt::format("<title>{}</title>\n", esc(fmt::format("listenprobe timeline of {}", l.listener.str())));
    out += fmt::format(R"(<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>)", width, height);
    out += '\n';
    out += w.str();
    out += "</svg>\n";
    return out;
}

std::string timeline_detail::xml_escape(std::string_view s) { return esc(s); }

}  // namespace lp
