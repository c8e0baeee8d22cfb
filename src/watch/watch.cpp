#include "watch/watch.hpp"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <ostream>
#include <vector>

#include "inference/engine.hpp"
#include "probe/privileges.hpp"
#include "report/report.hpp"
#include "source/live_capture.hpp"

namespace lp {

namespace {

volatile std::sig_atomic_t g_watch_signal = 0;
void on_watch_signal(int sig) { g_watch_signal = sig; }

// No SA_RESTART: poll() returns at once. SA_RESETHAND: a second signal ends the process.
void catch_signals() {
    struct sigaction sa{};
    sa.sa_handler = on_watch_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kSummaryEvery = 5 * kSecond;

// Wall-clock time of day for text lines, as tcpdump prints it (local time).
std::string clock_text(int64_t ns) {
    const time_t s = time_t(ns / kSecond);
    tm t{};
    localtime_r(&s, &t);
    return fmt::format("{:02}:{:02}:{:02}.{:03}", t.tm_hour, t.tm_min, t.tm_sec, int((ns % kSecond) / 1'000'000));
}

// An episode announced, followed from snapshot to snapshot.
struct Followed {
    int id = 0;
    int64_t start = 0, end = 0;
    bool ended = false;
};

struct ListenerState {
    std::vector<Followed> episodes;
    std::string verdict;
};

class Watcher {
public:
    Watcher(const WatchOptions& o, std::ostream& out) : o_(o), out_(out) {}

    void check(const Engine& engine, const SourceInfo& info, int64_t now) {
        const Analysis a = engine.snapshot(info, now);
        for (const ListenerVerdict& l : a.listeners) {
            if (o_.listener && l.listener != *o_.listener) continue;
            ListenerState& st = state_[l.listener.str()];
            for (const Episode& e : l.episodes) follow(a, l, st, e, now);
            const std::string v = verdict_summary(l);
            if (v != st.verdict) {
                st.verdict = v;
                if (o_.jsonl) {
                    nlohmann::json j = listener_summary_json(l, a.t0_ns);
                    j.erase("evidence");
                    j.erase("episodes");
                    line({{"type", "verdict"}, {"at", double(now) / 1e9}, {"listener", std::move(j)}});
                } else {
                    text(now, l.listener.str() + " " + v);
                }
            }
        }
        listeners_ = a.listeners.size();
    }

    void summary(const LiveCapture& cap, const Engine& engine, int64_t now) {
        size_t open = 0;
        for (const auto& [k, st] : state_)
            for (const auto& f : st.episodes) open += !f.ended;
        const auto stats = cap.stats();
        if (o_.jsonl) {
            nlohmann::json j = {{"type", "summary"},
                                {"at", double(now) / 1e9},
                                {"packets", cap.info().packets},
                                {"live_connections", engine.live_flows()},
                                {"listeners", listeners_},
                                {"episodes_open", open}};
            if (stats) j["capture_dropped"] = stats->dropped + stats->if_dropped;
            line(j);
        } else if (o_.summaries) {
            std::string s = fmt::format("{} packets, {} connections in flight, {} listener(s), {} episode(s) on",
                                        cap.info().packets, engine.live_flows(), listeners_, open);
            if (stats && (stats->dropped || stats->if_dropped))
                s += fmt::format(", {} packets dropped by the capture", stats->dropped + stats->if_dropped);
            text(now, s);
        }
    }

    void text(int64_t now, const std::string& s) {
        out_ << clock_text(now) << "  " << s << '\n';
        out_.flush();
    }
    void line(const nlohmann::json& j) {
        out_ << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        out_.flush();
    }

private:
    void follow(const Analysis& a, const ListenerVerdict& l, ListenerState& st, const Episode& e, int64_t now) {
        Followed* f = nullptr;
        for (auto& x : st.episodes)
            if (e.start_ns <= x.end + kEpisodeGap && x.start <= e.end_ns + kEpisodeGap) f = &x;
        if (!f) {
            st.episodes.push_back({++ids_, e.start_ns, e.end_ns, false});
            f = &st.episodes.back();
            announce("episode-start", a, l, e, *f, now);
        }
        f->start = std::min(f->start, e.start_ns);
        f->end = std::max(f->end, e.end_ns);
        if (!e.open_at_end && !f->ended) {
            f->ended = true;
            announce("episode-end", a, l, e, *f, now);
        }
    }

    void announce(const char* type, const Analysis& a, const ListenerVerdict& l, const Episode& e, const Followed& f,
                  int64_t now) {
        if (o_.jsonl) {
            line({{"type", type},
                  {"at", double(now) / 1e9},
                  {"id", f.id},
                  {"listener", {{"address", l.listener.addr.str()}, {"port", l.listener.port}}},
                  {"episode", episode_json(e, a.t0_ns)}});
            return;
        }
        const bool start = std::string_view(type) == "episode-start";
        text(now, fmt::format("{} overflow episode {} {} at {}: {}", l.listener.str(), f.id, start ? "began" : "ended",
                              clock_text(start ? e.start_ns : e.end_ns), episode_text(e, a.t0_ns)));
    }

    const WatchOptions& o_;
    std::ostream& out_;
    std::map<std::string, ListenerState> state_;
    size_t listeners_ = 0;  // in the last snapshot
    int ids_ = 0;
};

}  // namespace

std::string watch_filter(const WatchOptions& o) {
    std::string l = "tcp";
    if (o.listener)
        l = fmt::format("tcp and {} host {} and tcp port {}", o.listener->addr.is_v4() ? "ip" : "ip6",
                        o.listener->addr.str(), o.listener->port);
    if (o.filter.empty()) return l;
    return o.listener ? "(" + l + ") and (" + o.filter + ")" : o.filter;
}

int watch_stop_signal() { return g_watch_signal; }

Analysis run_watch(const WatchOptions& o, std::ostream& out) {
    g_watch_signal = 0;
    catch_signals();
    LiveCapture cap(o.interface, watch_filter(o));
    drop_privileges(o.user);

    Engine::Options eo;
    eo.listener = o.listener;
    Engine engine(eo);
    Watcher w(o, out);
    const int64_t start = now_ns();
    const int64_t until = o.duration_s > 0 ? start + int64_t(o.duration_s * 1e9) : INT64_MAX;
    if (o.jsonl)
        w.line({{"type", "start"},
                {"at", double(start) / 1e9},
                {"interface", o.interface},
                {"filter", cap.filter()},
                {"duration_s", o.duration_s > 0 ? nlohmann::json(o.duration_s) : nlohmann::json(nullptr)}});
    else
        w.text(start, fmt::format("watching {} (filter \"{}\"){}; Ctrl-C ends it with the report", o.interface,
                                  cap.filter(),
                                  o.duration_s > 0 ? fmt::format(" for {:g} s", o.duration_s) : std::string()));
    // A snapshot copies the engine: at most about a tenth of the time goes to them.
    int64_t check_every = kSecond, next_check = start + kSecond, next_summary = start + kSummaryEvery;
    for (;;) {
        int64_t now = now_ns();
        if (g_watch_signal || now >= until) break;
        const int64_t wait_ns = std::min({next_check, next_summary, until}) - now;
        cap.poll(int(std::clamp<int64_t>(wait_ns / 1'000'000, 1, 200)), [&](const Segment& s) { engine.add(s); });
        now = now_ns();
        if (now >= next_check) {
            w.check(engine, cap.info(), now);
            const int64_t took = now_ns() - now;
            check_every = std::max(kSecond, 10 * took);
            next_check = now + check_every;
        }
        if (now >= next_summary) {
            w.summary(cap, engine, now);
            next_summary = now + kSummaryEvery;
        }
    }
    const int64_t end = now_ns();
    cap.poll(0, [&](const Segment& s) { engine.add(s); });  // what the kernel holds already
    SourceInfo info = cap.info();
    if (const auto st = cap.stats(); st && (st->dropped || st->if_dropped))
        info.notes.push_back(fmt::format("the capture dropped {} packet(s) it could not keep up with: verdicts "
                                         "may rest on a capture with gaps",
                                         st->dropped + st->if_dropped));
    Analysis a = engine.finish(info, end);
    if (info.notes.size() > cap.info().notes.size())
        for (ListenerVerdict& l : a.listeners) l.warnings.push_back({"capture-dropped", info.notes.back()});
    return a;
}

}  // namespace lp
