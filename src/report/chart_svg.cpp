// Per-second activity of a listener as an SVG chart (timeline --chart): one
// column group a second for SYNs answered, SYNs met by silence, final ACKs
// dropped or reset and connections established, with the overflow episodes
// shaded behind them. Counts are drawn on a square-root scale, so a burst of
// thousands does not flatten the seconds with a handful.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "report/timeline.hpp"

namespace lp {

namespace {

struct Series {
    const char* name;
    const char* color;
    uint64_t ActivityCounts::*field;
};
constexpr Series kSeries[] = {
    {"SYNs answered", "#4a90d9", &ActivityCounts::syn_answered},
    {"SYNs met silence", "#d0021b", &ActivityCounts::syn_silent},
    {"final ACKs dropped", "#f5a623", &ActivityCounts::ack_dropped},
    {"final ACKs reset", "#8b572a", &ActivityCounts::ack_reset},
    {"established", "#417505", &ActivityCounts::established},
};

}  // namespace

std::string render_chart_svg(const Analysis& a, const ListenerVerdict& l, int width) {
    const int left = 60, right = 20, top = 40, plot_h = 180, bottom = 60;
    const int height = top + plot_h + bottom;
    const int plot_w = std::max(200, width - left - right);
    const int64_t t0s = a.t0_ns / 1'000'000'000;
    int64_t first = t0s, last = a.end_ns ? *a.end_ns / 1'000'000'000 : t0s;
    for (const auto& b : l.activity) {
        first = std::min(first, b.second);
        last = std::max(last, b.second);
    }
    const int64_t seconds = last - first + 1;
    uint64_t peak = 1;
    for (const auto& b : l.activity)
        for (const Series& s : kSeries) peak = std::max(peak, b.n.*s.field);
    const double col = double(plot_w) / double(seconds);
    const double bar = std::max(1.0, col / (std::size(kSeries) + 1));
    auto x_of_sec = [&](double s) { return left + (s - double(first)) * col; };
    auto y_of = [&](uint64_t n) { return top + plot_h - plot_h * std::sqrt(double(n) / double(peak)); };

    std::string o = fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="monospace" font-size="12" fill="#222222">)"
        "\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
        left + plot_w + right, height);
    o += fmt::format("<text x=\"{}\" y=\"20\" font-weight=\"bold\">{} per second ({} overflow episode(s))</text>\n",
                     left, timeline_detail::xml_escape(l.listener.str()), l.episodes.size());
    // Episodes behind the columns.
    for (size_t i = 0; i < l.episodes.size(); ++i) {
        const Episode& e = l.episodes[i];
        // Whole seconds, as the columns are: from the second of its first sign to the end of its last.
        const double x0 = x_of_sec(std::floor(double(e.start_ns) / 1e9)),
                     x1 = x_of_sec(std::floor(double(e.end_ns) / 1e9) + 1);
        o += fmt::format("<rect class=\"episode\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"#fde8e8\">"
                         "<title>episode {}: {:.3f}-{:.3f} s, {} SYNs met silence, {} final ACKs dropped, {} reset</title></rect>\n",
                         x0, top, x1 - x0, plot_h, i + 1, double(e.start_ns - a.t0_ns) / 1e9,
                         double(e.end_ns - a.t0_ns) / 1e9, e.n.syn_silent, e.n.ack_dropped, e.n.ack_reset);
    }
    // Axes: counts at 0, a quarter, the peak; seconds at up to 10 ticks.
    o += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#888888\"/>\n", left, top, top + plot_h);
    o += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#888888\"/>\n", left, top + plot_h,
                     left + plot_w);
    for (uint64_t n : {uint64_t(0), std::max<uint64_t>(1, peak / 4), peak}) {
        o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6, y_of(n) + 4, n);
    }
    const int64_t step = std::max<int64_t>(1, (seconds + 9) / 10);
    for (int64_t s = 0; s < seconds; s += step)
        o += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}s</text>\n",
                         x_of_sec(double(first + s)) + col / 2, top + plot_h + 16, first + s - t0s);
    // Columns.
    for (const auto& b : l.activity) {
        for (size_t k = 0; k < std::size(kSeries); ++k) {
            const uint64_t n = b.n.*kSeries[k].field;
            if (!n) continue;
            const double x = x_of_sec(double(b.second)) + bar * (double(k) + 0.5);
            const double y = y_of(n);
            o += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\">"
                             "<title>{}s: {} {}</title></rect>\n",
                             x, y, bar, top + plot_h - y, kSeries[k].color, b.second - t0s, n, kSeries[k].name);
        }
    }
    // Legend.
    double lx = left;
    for (const Series& s : kSeries) {
        o += fmt::format("<rect x=\"{:.0f}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>"
                         "<text x=\"{:.0f}\" y=\"{}\">{}</text>\n",
                         lx, top + plot_h + 34, s.color, lx + 14, top + plot_h + 43, s.name);
        lx += 14 + 8.0 * double(std::string_view(s.name).size()) + 16;
    }
    o += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#666666\">square-root scale; shaded: overflow episodes</text>\n",
                     left, top + plot_h + 58);
    o += "</svg>\n";
    return o;
}

std::string render_timeline_with_chart_svg(const Analysis& a, const ListenerVerdict& l) {
    const std::string lanes = render_timeline_svg(a, l);
    auto attr = [](const std::string& svg, const char* name) {
        const std::string key = std::string(name) + "=\"";
        const size_t p = svg.find(key);
        return p == std::string::npos ? 0 : std::atoi(svg.c_str() + p + key.size());
    };
    const int w = std::max(attr(lanes, "width"), 600), h1 = attr(lanes, "height");
    const std::string chart = render_chart_svg(a, l, w);
    const int h2 = attr(chart, "height");
    std::string o = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
        R"(<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{0}" height="{1}" viewBox="0 0 {0} {1}">)"
        "\n",
        w, h1 + h2);
    // Each part as its own nested document, the chart under the lanes.
    auto nest = [](const std::string& svg, int y) {
        const size_t open = svg.find("<svg");  // without the XML declaration before it
        return "<svg y=\"" + std::to_string(y) + "\"" + svg.substr(open + 4);
    };
    o += nest(lanes, 0);
    o += nest(chart, h1);
    o += "</svg>\n";
    return o;
}

}  // namespace lp
