// listenprobe: the command line (CONTRACT.md). Every path to the analyzer goes
// source -> tracker -> inference -> report; `probe` adds a sender in front.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "inference/engine.hpp"
#include "probe/plan.hpp"
#include "probe/probe.hpp"
#include "probe/guard.hpp"
#include "report/report.hpp"
#include "report/timeline.hpp"
#include "segments/error.hpp"
#include "source/source.hpp"

namespace {

using namespace lp;

struct OutputOpts {
    std::string format;  // "", "text", "json"
    bool json = false;
    std::string timeline;
};

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

std::string resolve_format(const OutputOpts& o) {
    if (o.json) return "json";
    if (!o.format.empty()) return o.format;
    return stdout_is_terminal() ? "text" : "json";
}

const ListenerVerdict& pick_listener(const Analysis& a) {
    if (a.listeners.empty()) throw InputError("no listener in the capture (no SYN or SYN-ACK seen)");
    return a.listeners.front();
}

std::string render_timeline_file(const Analysis& a, const std::string& out) {
    const auto& l = pick_listener(a);
    auto ends = [&](const char* s) {
        const std::string suf = s;
        return out.size() >= suf.size() && out.compare(out.size() - suf.size(), suf.size(), suf) == 0;
    };
    if (ends(".svg")) return render_timeline_svg(a, l);
    if (ends(".txt")) return render_timeline_text(a, l, TimelineOptions{false, 100, 60});
    if (ends(".json"))
        return nlohmann::json{{"schema", "listenprobe/1"},
                              {"listener", l.listener.str()},
                              {"connections", connections_json(a, l)}}
                   .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    throw UsageError("timeline output must end in .svg, .txt or .json: " + out);
}

void check_timeline_name(const std::string& out) {
    if (out.empty()) return;
    for (const char* s : {".svg", ".txt", ".json"}) {
        const std::string suf = s;
        if (out.size() > suf.size() && out.compare(out.size() - suf.size(), suf.size(), suf) == 0) return;
    }
    throw UsageError("timeline output must end in .svg, .txt or .json: " + out);
}

void emit(const Analysis& a, const OutputOpts& o) {
    // Files first: a failure to write one must not leave stdout claiming success.
    if (!o.timeline.empty()) write_file_atomic(o.timeline, render_timeline_file(a, o.timeline));
    if (resolve_format(o) == "json") {
        // A path is bytes, not always UTF-8: replace what JSON cannot hold (U+FFFD).
        write_analysis_json(std::cout, a);
    } else {
        const bool color = stdout_is_terminal();
        std::cout << analysis_text(a, color);
        for (const auto& l : a.listeners) {
            if (l.connections.empty()) continue;
            std::cout << "\n" << render_timeline_text(a, l, TimelineOptions{color, 100, 40});
        }
    }
    std::cout.flush();
    if (!std::cout) throw InputError(std::string("stdout: write error: ") + std::strerror(errno));
}

Analysis replay_file(const std::string& path, const std::string& listener) {
    Engine::Options eo;
    if (!listener.empty()) {
        auto ep = Endpoint::parse(listener);
        if (!ep) throw UsageError("--listener wants ADDR:PORT or [V6]:PORT, got: " + listener);
        eo.listener = *ep;
    }
    // LP_TIMING=1: phase times on stderr, for the benchmark (bench/run_bench.sh).
    const bool timing = std::getenv("LP_TIMING") != nullptr;
    const auto t0 = std::chrono::steady_clock::now();
    auto src = open_source(path);
    Engine engine(eo);
    Segment batch[Engine::kBatch];
    size_t peak_live = 0, peak_moments = 0, n = 0;
    uint64_t batches = 0;
    for (bool more = true; more;) {
        more = src->next(batch[n]);
        if (more && ++n < Engine::kBatch) continue;
        engine.add_batch(batch, n);
        n = 0;
        if (timing && (++batches & 0x7FF) == 0) {
            peak_live = std::max(peak_live, engine.live_flows());
            peak_moments = std::max(peak_moments, engine.pending_moments());
        }
    }
    const auto t1 = std::chrono::steady_clock::now();
    Analysis a = engine.finish(src->info(), src->info().end_ns);
    if (timing) {
        const auto t2 = std::chrono::steady_clock::now();
        auto sec = [](auto d) { return std::chrono::duration<double>(d).count(); };
        fmt::print(stderr, "timing: read+track {:.3f}s finish {:.3f}s; peak live flows {}, pending moments {}\n",
                   sec(t1 - t0), sec(t2 - t1), peak_live, peak_moments);
    }
    return a;
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    CLI::App app{"listenprobe: how does a TCP listener behave when its queues fill?"};
    app.require_subcommand(1);
    app.set_version_flag("--version", LP_VERSION);

    OutputOpts out;
    std::string file, listener, timeline_out;
    // An empty --listener "" is a mistake too, not "every listener".
    const CLI::Validator endpoint_check(
        [](std::string& v) { return Endpoint::parse(v) ? std::string() : "wants ADDR:PORT or [V6]:PORT, got: '" + v + "'"; },
        "ADDR:PORT");
    auto add_output = [&](CLI::App* sub) {
        sub->add_option("--format", out.format, "text or json (text on a terminal, json otherwise)")
            ->check(CLI::IsMember({"text", "json"}));
        sub->add_flag("--json", out.json, "short for --format json");
        sub->add_option("--timeline", out.timeline, "also write a timeline: OUT.svg, OUT.txt or OUT.json");
    };

    auto* replay = app.add_subcommand("replay", "analyze a pcap/pcapng file or tcpdump -nn text (- = stdin)");
    replay->add_option("FILE", file, "capture file, or - for stdin")->required();
    replay->add_option("--listener", listener, "only this listener ADDR:PORT ([V6]:PORT)")
        ->check(endpoint_check);
    add_output(replay);

    auto* tl = app.add_subcommand("timeline", "draw the handshake timeline of a capture");
    tl->add_option("FILE", file, "capture file, or - for stdin")->required();
    tl->add_option("--listener", listener, "the listener ADDR:PORT to draw (default: the first one)")
        ->check(endpoint_check);
    tl->add_option("-o,--output", timeline_out, "OUT.svg, OUT.txt or OUT.json")->required();

    ProbeOptions po;
    std::string target;
    auto* probe = app.add_subcommand("probe", "probe a listener live with hand-made handshakes (root)");
    probe->add_option("TARGET", target, "ADDR:PORT or [V6]:PORT")->required();
    probe->add_option("-i,--interface", po.interface, "capture interface (default: from the route)");
    probe->add_option("--plan", po.plan, "plan name or TOML file (listenprobe plans)")->default_val("all");
    probe->add_option("-w,--write", po.write_pcap, "save everything sent and received (pcapng)");
    probe->add_option("--max-connections", po.max_connections, "connection budget")->default_val(256);
    probe->add_option("--rate", po.rate_pps, "packets per second at most")->default_val(1000);
    probe->add_option("--user", po.user, "user to run as after opening sockets")->default_val("nobody");
    probe->add_option("--max-wait", po.max_wait_s, "longest wait for the listener's timers, seconds")
        ->default_val(200);
    probe->add_flag("--quiet", po.quiet, "no status line");
    add_output(probe);

    app.add_subcommand("plans", "list the probe plans");
    app.add_subcommand("cleanup", "remove firewall tables left by a killed probe");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        // One line, as every other error (CLI11 itself would add a second).
        std::string what = e.what();
        if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-')
            what = std::string("unknown subcommand: ") + argv[1] + " (replay, probe, timeline, plans, cleanup)";
        std::cerr << "listenprobe: " << what << " (see listenprobe --help)\n";
        return kExitUsage;
    }

    try {
        if (replay->parsed()) {
            check_timeline_name(out.timeline);
            const auto t0 = std::chrono::steady_clock::now();
            emit(replay_file(file, listener), out);
            if (std::getenv("LP_TIMING"))
                fmt::print(stderr, "timing: total with report {:.3f}s\n",
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        } else if (tl->parsed()) {
            check_timeline_name(timeline_out);
            const Analysis a = replay_file(file, listener);
            write_file_atomic(timeline_out, render_timeline_file(a, timeline_out));
        } else if (probe->parsed()) {
            check_timeline_name(out.timeline);
            auto ep = Endpoint::parse(target);
            if (!ep) throw UsageError("target wants ADDR:PORT or [V6]:PORT, got: " + target);
            po.target = *ep;
            po.format_json = resolve_format(out) == "json";
            po.timeline = out.timeline;  // opened by the probe before it drops privileges
            out.timeline.clear();
            Analysis a = run_probe(po);
            emit(a, out);
        } else if (app.got_subcommand("plans")) {
            for (const auto& p : list_plans()) std::cout << fmt::format("{:<14} {}\n", p.name, p.description);
        } else if (app.got_subcommand("cleanup")) {
            auto removed = remove_stale_guards();
            for (const auto& t : removed) std::cout << "removed nftables table " << t << "\n";
            if (removed.empty()) std::cout << "nothing to clean up\n";
        }
    } catch (const UsageError& e) {
        std::cerr << "listenprobe: " << e.what() << "\n";
        return kExitUsage;
    } catch (const PrivilegeError& e) {
        std::cerr << "listenprobe: " << e.what() << "\n";
        return kExitPrivilege;
    } catch (const InputError& e) {
        std::cerr << "listenprobe: " << e.what() << "\n";
        return kExitInput;
    } catch (const std::exception& e) {
        std::cerr << "listenprobe: " << e.what() << "\n";
        return kExitInput;
    }
    return kExitOk;
}
