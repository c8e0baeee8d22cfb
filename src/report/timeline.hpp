// Retransmission timelines of one listener: which connection sent and got
// what, when. Two renderings of the same lane model: a self-contained SVG
// (for a browser or a report) and aligned terminal text.
//
// Time: the axis starts at the listener's first SYN (0 s); event lines also
// give the report time (seconds from Analysis::t0_ns, as in the JSON).
// One lane per connection, in order of first appearance. With more than
// max_lanes connections, connections with the same pattern are folded into
// one lane ("×N (ports a–b)"); if that is still too many, the first lanes are
// drawn and a line says how many connections were left out.
//
// A live probe (or a pcapng it wrote) names its steps (SourceInfo::steps): the
// time axis is then broken into one panel per step, each at its own scale, so a
// step of a second is as readable as one of a minute. A connection's bar ends at
// its first RST (the probe's reset, or the listener's).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inference/verdict.hpp"
#include "tracker/event.hpp"

namespace lp {

struct TimelineOptions {
    bool color = false;     // text only: ANSI colours (the caller decides, e.g. by isatty)
    int width = 100;        // text only: terminal columns
    size_t max_lanes = 60;  // lanes drawn at most; 0 = no limit
    bool verdicts = true;   // text only: the verdict and warning rows under the header (the text
                            // report's -v leaves them out: its own block above has them)
};

std::string render_timeline_svg(const Analysis& a, const ListenerVerdict& l,
                                const TimelineOptions& o = {});
std::string render_timeline_text(const Analysis& a, const ListenerVerdict& l,
                                 const TimelineOptions& o = {});
// Per-second counts (SYNs answered, met by silence, final ACKs dropped or reset,
// established) with the overflow episodes shaded (chart_svg.cpp), `width` pixels wide.
std::string render_chart_svg(const Analysis& a, const ListenerVerdict& l, int width = 900);
// The lane timeline with that chart under it, one SVG (timeline --chart).
std::string render_timeline_with_chart_svg(const Analysis& a, const ListenerVerdict& l);

// Shared by both renderings (implemented in timeline_text.cpp).
namespace timeline_detail {

// One drawn lane: a connection, or several with the same pattern.
struct Lane {
    std::vector<const ReportedConnection*> members;  // members[0] is the one drawn
    uint16_t port_lo = 0, port_hi = 0;       // client ports of the members
    bool folded() const { return members.size() > 1; }
};

struct LaneLayout {
    std::vector<Lane> lanes;
    size_t total_connections = 0;
    size_t hidden_connections = 0;  // connections in lanes not drawn
    bool folded = false;            // identical lanes were folded
    bool any_events = false;
    int64_t origin_ns = 0;          // the listener's first SYN (or first event)
    int64_t first_ns = 0, last_ns = 0;  // earliest and latest event of the drawn lanes
};

// Folding tolerance for an event `rel_s` seconds after the connection's first SYN.
double fold_tolerance_s(double rel_s);
// Whether two connections have the same pattern (fate, kinds, directions, timers, times).
bool same_pattern(const ReportedConnection& x, const ReportedConnection& y);
LaneLayout layout_lanes(const ListenerVerdict& l, size_t max_lanes);

// A stretch of the time axis drawn at its own scale: one probe step, or the whole capture.
struct Panel {
    std::string name;       // the probe step; empty when the source names no steps
    double t0 = 0, t1 = 0;  // seconds since LaneLayout::origin_ns
};
// The panels covering [t_min, t_max] (seconds since lay.origin_ns): one per step of
// a.source.steps (the first and last stretched to cover the range where events lie
// outside the steps), else a single unnamed panel.
std::vector<Panel> time_panels(const Analysis& a, const LaneLayout& lay, double t_min, double t_max);
// The share of the plot each panel gets: at least `min_share` (less when there are
// many), the rest by the logarithm of its span. Sums to 1.
std::vector<double> panel_shares(const std::vector<Panel>& panels, double min_share);
// Where a time falls on a broken axis: panels side by side from `x0` to `x1`,
// `gap` apart, each linear inside.
struct PanelAxis {
    std::vector<Panel> panels;
    std::vector<double> left, right;  // each panel's extent on the axis
    PanelAxis(std::vector<Panel> p, double x0, double x1, double gap, double min_share);
    size_t panel_of(double t) const;
    double x_of(double t) const;
};
// The event a connection's bar ends at: its first RST, sent or received; else its last
// event. 0 when it has none.
size_t bar_end_index(const ReportedConnection& c);

// The time a connection's relative times count from: its first SYN, else its first event.
int64_t connection_origin_ns(const ReportedConnection& c);

// "SYN", "SYN rtx", "SYN-ACK", "SYN-ACK rtx (timer)", "SYN-ACK rtx (answer)", "ACK", ...
std::string event_label(const Event& e);
// "40001" or "×300 (ports 40000–40299)".
std::string lane_label(const Lane& lane);

// The listener's verdicts as (label, value) rows; null shown as "unknown".
std::vector<std::pair<std::string, std::string>> verdict_rows(const ListenerVerdict& l);

// A round step (1, 2 or 5 times a power of ten) giving about `target` intervals over span.
double nice_step(double span_s, int target);
// The round step after `step`: 1 -> 2 -> 5 -> 10 (times a power of ten).
double next_nice_step(double step);
// A tick label for `t` seconds with a step of `step` seconds ("5s", "0.5s", "20ms").
std::string tick_label(double t, double step);
// A gap between SYN-ACKs: "1.01s", "0.004s".
std::string gap_label(double gap_s);

// Text for an SVG element or attribute: markup characters escaped, bytes that are not
// UTF-8 replaced by U+FFFD (implemented in timeline_svg.cpp; the chart uses it too).
std::string xml_escape(std::string_view s);

}  // namespace timeline_detail
}  // namespace lp
