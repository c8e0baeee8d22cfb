#include "inference/schedule.hpp"

#include <cmath>

namespace lp {

double nominal_gap(double initial, size_t k) { return k >= 40 ? 120.0 : std::min(initial * double(uint64_t(1) << k), 120.0); }

double overdue_margin(double nominal) { return 0.15 * nominal + 0.7; }

double shortest_gap(double nominal) { return std::max(0.0, 0.85 * nominal - 0.05); }

bool schedule_fits(const std::vector<double>& gaps, double initial) {
    if (gaps.empty()) return false;
    for (size_t k = 0; k < gaps.size(); ++k) {
        const double nom = nominal_gap(initial, k);
        if (gaps[k] < shortest_gap(nom) || gaps[k] > nom + overdue_margin(nom)) return false;
    }
    return true;
}

std::optional<double> fit_initial(const std::vector<double>& gaps) {
    if (schedule_fits(gaps, 1.0)) return 1.0;
    if (schedule_fits(gaps, 3.0)) return 3.0;
    return std::nullopt;
}

std::vector<double> timer_gaps(const Flow& f) {
    std::vector<double> g;
    if (!f.answered() || f.has(flowbit::synack_missing)) return g;
    int64_t prev = f.at(f.synack);
    for (size_t i = 0; i < f.timer_rtx; ++i) {
        const auto t = f.rtx_at(i);
        if (!t) break;  // not kept: the gaps after it are not consecutive
        g.push_back(double(*t - prev) / double(kSecNs));
        prev = *t;
    }
    return g;
}

namespace {
int64_t to_ns(double s) { return int64_t(std::llround(s * double(kSecNs))); }
}

std::optional<int64_t> rtx_deadline(const Flow& f, double I) {
    const auto last = f.last_timer_synack();
    if (!last) return std::nullopt;
    const double gap = nominal_gap(I, f.timer_rtx);
    return *last + to_ns(gap + overdue_margin(gap));
}

std::optional<int64_t> rtx_earliest(const Flow& f, double I) {
    const auto last = f.last_timer_synack();
    if (!last) return std::nullopt;
    return *last + to_ns(shortest_gap(nominal_gap(I, f.timer_rtx)));
}

bool request_cut(const Flow& f, int64_t deadline) {
    auto before = [&](Off o) { return Flow::seen(o) && f.at(o) < deadline; };
    if (before(f.client_rst) || before(f.server_rst) || before(f.proof())) return true;
    return before(f.final_ack) && f.rtx_after_ack == 0;
}

}  // namespace lp
