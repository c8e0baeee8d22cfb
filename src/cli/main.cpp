// listenprobe: the command line (docs/contract.md). Every path to the analyzer goes
// source -> tracker -> inference -> report; `probe` adds a sender in front.
#include <poll.h>
#include <sys/stat.h>
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
#include <optional>
#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "cli/many.hpp"
#include "cli/target.hpp"
#include "inference/engine.hpp"
#include "probe/plan.hpp"
#include "probe/probe.hpp"
#include "probe/guard.hpp"
#include "report/report.hpp"
#include "report/timeline.hpp"
#include "segments/error.hpp"
#include "source/source.hpp"
#include "watch/watch.hpp"

namespace {

using namespace lp;

// Set by SIGINT, SIGTERM or SIGHUP during a replay: stop reading, analyze what was read.
// What the reader already holds (stdio buffers, the pipe) is still read for up to a
// second (SIGALRM then ends a read that blocks), so a pipe that stays open cannot hold
// the report back, and the packets before the signal are not lost.
volatile std::sig_atomic_t g_replay_signal = 0;
volatile std::sig_atomic_t g_drain_over = 0;
void on_replay_signal(int sig) {
    if (!g_replay_signal) ::alarm(1);
    g_replay_signal = sig;
}
void on_drain_alarm(int) { g_drain_over = 1; }

// While reading: no SA_RESTART, so the alarm interrupts a read blocked on a pipe.
// Afterwards (analysis, output): SA_RESTART, so a signal cannot cut a write short.
// SA_RESETHAND: a second signal ends the process as usual.
void catch_replay_signals(bool reading) {
    struct sigaction sa{};
    sa.sa_handler = on_replay_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | (reading ? 0 : SA_RESTART);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
        struct sigaction old{};
        sigaction(sig, nullptr, &old);
        if (!reading && old.sa_handler != on_replay_signal) continue;  // already reset by a first signal
        sigaction(sig, &sa, nullptr);
    }
    struct sigaction al{};
    al.sa_handler = reading ? on_drain_alarm : SIG_DFL;
    sigemptyset(&al.sa_mask);
    sigaction(SIGALRM, &al, nullptr);
}

// A signal came before the input could even be recognised: nothing to report.
struct InterruptedEarly {};

const char* signal_name(int sig) {
    switch (sig) {
        case SIGINT: return "SIGINT";
        case SIGTERM: return "SIGTERM";
        case SIGHUP: return "SIGHUP";
        default: return "a signal";
    }
}

// One line on stderr for an error, and its exit status (docs/contract.md).
int report_error(const std::exception& e) {
    std::cerr << "listenprobe: " << e.what() << "\n";
    if (dynamic_cast<const UsageError*>(&e)) return kExitUsage;
    if (dynamic_cast<const PrivilegeError*>(&e)) return kExitPrivilege;
    return kExitInput;
}

// The reader of stdout went away (`listenprobe replay f | head -1`): end quietly.
struct StdoutClosed {};

bool stdout_broken_pipe(int err) {
    if (err == EPIPE) return true;
    struct stat st{};
    if (::fstat(STDOUT_FILENO, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) return false;
    pollfd p{STDOUT_FILENO, POLLOUT, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

// Flushes stdout: a closed pipe ends quietly (StdoutClosed), another failure is an error.
void finish_stdout() {
    errno = 0;
    std::cout.flush();
    const bool ok = std::cout && std::fflush(stdout) == 0 && !std::ferror(stdout);
    if (ok) return;
    const int err = errno;
    if (stdout_broken_pipe(err)) throw StdoutClosed{};
    throw InputError(std::string("stdout: write error: ") + std::strerror(err ? err : EIO));
}

struct OutputOpts {
    std::string format;  // "", "text", "json", "jsonl"
    bool json = false;
    std::string timeline;
    std::string color = "auto";  // --color: auto, always, never
    bool events = false;         // -v/--events: the text report adds all evidence, lanes and events
};

// ---- the run object of the JSON (docs/contract.md, `run`) ----------------
// When the command started: wall clock for `run.started_at`, a steady clock for its duration.
const double g_started_at =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
const auto g_started = std::chrono::steady_clock::now();

RunInfo run_info(const char* command, int argc, char** argv, const std::string& format, const OutputOpts& o,
                 bool only_v4, bool only_v6) {
    RunInfo r;
    r.version = LP_VERSION;
    r.commit = LP_GIT_COMMIT;
    r.command = command;
    r.argv.assign(argv, argv + argc);
    r.family = only_v4 ? "ipv4" : only_v6 ? "ipv6" : "any";
    r.format = format;
    r.events = o.events;
    r.timeline = o.timeline;
    r.started_at = g_started_at;
    return r;
}
// ---------------------------------------------------------------------------

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

// --color=auto: colours only on a terminal that is not dumb (TERM set, not "dumb") and
// without NO_COLOR (set and not empty, https://no-color.org). always/never: as told.
bool use_color(const std::string& mode) {
    if (mode == "always") return true;
    if (mode == "never") return false;
    const char* term = std::getenv("TERM");
    const char* no_color = std::getenv("NO_COLOR");
    return stdout_is_terminal() && term && *term && std::strcmp(term, "dumb") != 0 && !(no_color && *no_color);
}

std::string resolve_format(const OutputOpts& o) {
    if (o.json) return "json";
    if (!o.format.empty()) return o.format;
    return stdout_is_terminal() ? "text" : "json";
}

// The same words and exit status for replay and timeline when the capture has no listener.
void require_listener(const Analysis& a, const std::optional<Endpoint>& wanted) {
    if (!a.listeners.empty()) return;
    if (wanted) throw InputError("no listener " + wanted->str() + " in the capture (no SYN or SYN-ACK of it seen)");
    throw InputError("no listener in the capture (no SYN or SYN-ACK seen)");
}

const ListenerVerdict& pick_listener(const Analysis& a) {
    require_listener(a, std::nullopt);
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
        return nlohmann::json{{"schema", kJsonSchema},
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

void emit(Analysis& a, const OutputOpts& o) {
    a.run.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_started).count();
    // Files first: a failure to write one must not leave stdout claiming success.
    // (An interrupted replay may have no listener yet: then there is no timeline to draw.)
    if (!o.timeline.empty() && !a.listeners.empty())
        write_file_atomic(o.timeline, render_timeline_file(a, o.timeline));
    const std::string format = resolve_format(o);
    if (format == "json") {
        // A path is bytes, not always UTF-8: replace what JSON cannot hold (U+FFFD).
        write_analysis_json(std::cout, a);
    } else if (format == "jsonl") {
        write_analysis_jsonl(std::cout, a, o.events);
    } else {
        TextOptions t;
        t.color = use_color(o.color);
        t.events = o.events;
        std::cout << analysis_text(a, t);
    }
    finish_stdout();
}

// Reads the whole input (or until a signal), then analyzes it. A --listener given by
// name is resolved by the caller; `note` says what it resolved to.
Analysis replay_file(const std::string& path, const std::optional<Endpoint>& listener, const std::string& note) {
    Engine::Options eo;
    eo.listener = listener;
    // LP_TIMING=1: phase times on stderr, for the benchmark (bench/run_bench.sh).
    const bool timing = std::getenv("LP_TIMING") != nullptr;
    const auto t0 = std::chrono::steady_clock::now();
    catch_replay_signals(true);
    std::unique_ptr<Source> src;
    try {
        src = open_source(path);
    } catch (const InputError&) {
        if (!g_replay_signal) throw;
        throw InterruptedEarly{};
    }
    Engine engine(eo);
    Segment batch[Engine::kBatch];
    size_t peak_live = 0, peak_moments = 0, n = 0;
    uint64_t batches = 0;
    try {
        for (bool more = true; more;) {
            more = !g_drain_over && src->next(batch[n]);
            if (more && ++n < Engine::kBatch) continue;
            engine.add_batch(batch, n);
            n = 0;
            if (timing && (++batches & 0x7FF) == 0) {
                peak_live = std::max(peak_live, engine.live_flows());
                peak_moments = std::max(peak_moments, engine.pending_moments());
            }
        }
    } catch (const InputError&) {
        if (!g_replay_signal) throw;  // a read cut short by the signal: analyze what was read
        engine.add_batch(batch, n);
    }
    ::alarm(0);
    catch_replay_signals(false);
    const auto t1 = std::chrono::steady_clock::now();
    Analysis a = engine.finish(src->info(), src->info().end_ns);
    if (!note.empty()) a.source.notes.push_back(note);
    if (const int sig = g_replay_signal) {
        const std::string why = fmt::format("interrupted by {} after {} packet(s): the verdicts cover what was read "
                                            "until then", signal_name(sig), a.source.packets);
        a.source.notes.push_back(why);
        for (auto& l : a.listeners) l.warnings.push_back({"interrupted", why});
    } else {
        require_listener(a, listener);
    }
    if (timing) {
        const auto t2 = std::chrono::steady_clock::now();
        auto sec = [](auto d) { return std::chrono::duration<double>(d).count(); };
        fmt::print(stderr, "timing: read+track {:.3f}s finish {:.3f}s; peak live flows {}, pending moments {}\n",
                   sec(t1 - t0), sec(t2 - t1), peak_live, peak_moments);
    }
    return a;
}

// The command line as a shell would take it back: words with special characters quoted.
std::string shell_words(int argc, char** argv) {
    std::string out;
    for (int i = 0; i < argc; ++i) {
        const std::string w = argv[i];
        if (i) out += ' ';
        if (!w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                              "@%+=:,./_-[]") == std::string::npos) {
            out += w;
            continue;
        }
        out += '\'';
        for (char c : w) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
        out += '\'';
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);  // a closed stdout is seen as EPIPE, and ends quietly
    CLI::App app{"listenprobe: how does a TCP listener behave when its queues fill?"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("listenprobe ") + LP_VERSION + " (commit " + LP_GIT_COMMIT + ")");

    OutputOpts out;
    std::string file, listener, timeline_out, chart_out;
    bool only_v4 = false, only_v6 = false;
    auto add_output = [&](CLI::App* sub) {
        sub->add_option("--format", out.format, "text, json or jsonl (text on a terminal, json otherwise)")
            ->check(CLI::IsMember({"text", "json", "jsonl"}));
        sub->add_flag("--json", out.json, "short for --format json");
        sub->add_option("--timeline", out.timeline, "also write a timeline: OUT.svg, OUT.txt or OUT.json");
        sub->add_option("--color", out.color, "colours in the text report: auto (on a terminal), always, never")
            ->check(CLI::IsMember({"auto", "always", "never"}));
        sub->add_flag("-v,--events", out.events,
                      "per-connection events: text adds every evidence line, lanes and events; jsonl one line per connection");
    };
    auto add_family = [&](CLI::App* sub) {
        auto* f4 = sub->add_flag("-4", only_v4, "resolve host names to IPv4 addresses only");
        auto* f6 = sub->add_flag("-6", only_v6, "resolve host names to IPv6 addresses only");
        f4->excludes(f6);
    };

    // Several targets or files (src/cli/many.hpp).
    struct Many {
        std::vector<std::string> items;
        std::string list_file, shard, resume;
        int parallel = 0;
        bool given(CLI::App* sub) const {
            return items.size() > 1 || !list_file.empty() || !shard.empty() || !resume.empty() || sub->count("--parallel");
        }
    } many;
    auto add_many = [&](CLI::App* sub, const char* list_opt, const char* what) {
        if (list_opt)
            sub->add_option(list_opt, many.list_file, fmt::format("{} from a file, one a line, # comments (- = stdin)", what));
        sub->add_option("--shard", many.shard, fmt::format("K/N: only the K-th of N parts of the {} (item i to part i mod N + 1)", what));
        sub->add_option("--resume", many.resume, fmt::format("OUT.jsonl of an earlier run: skip the {} it has", what));
        sub->add_option("--parallel", many.parallel, fmt::format("{} at once", what))->check(CLI::Range(1, 256));
    };

    auto* replay = app.add_subcommand("replay", "analyze pcap/pcapng files or tcpdump -nn text (- = stdin)");
    replay->add_option("FILE", many.items, "capture files, or - for stdin")->required();
    add_many(replay, nullptr, "files");
    auto* replay_listener =
        replay->add_option("--listener", listener, "only this listener HOST:PORT ([IPV6]:PORT; name or number)");
    add_family(replay);
    add_output(replay);

    auto* tl = app.add_subcommand("timeline", "draw the handshake timeline of a capture");
    tl->add_option("FILE", file, "capture file, or - for stdin")->required();
    auto* tl_listener =
        tl->add_option("--listener", listener, "the listener HOST:PORT to draw (default: the first one)");
    tl->add_option("-o,--output", timeline_out, "OUT.svg, OUT.txt or OUT.json");
    tl->add_option("--chart", chart_out, "OUT.svg: the lanes with per-second counts and the overflow episodes under them");
    add_family(tl);

    ProbeOptions po;
    auto* probe = app.add_subcommand("probe", "probe a listener live with hand-made handshakes (root)");
    probe->add_option("TARGET", many.items, "HOST:PORT or [IPV6]:PORT; HOST a name or address, PORT a number or service");
    add_many(probe, "--targets", "targets");
    add_family(probe);
    probe->add_option("-i,--interface", po.interface, "capture interface (default: from the route)");
    probe->add_option("--source-ip", po.source_ip,
                      "send from ADDR, an unused address of the interface's subnet this host does not own "
                      "(ARP/ND answered for it while probing; no firewall rule)");
    probe->add_option("--plan", po.plan, "plan name or TOML file (listenprobe plans)")->default_val("all");
    probe->add_option("-w,--write", po.write_pcap, "save everything sent and received (pcapng)");
    probe->add_option("--max-connections", po.max_connections, "connection budget")->default_val(256);
    probe->add_option("--rate", po.rate_pps, "packets per second at most")->default_val(1000);
    probe->add_option("--user", po.user, "user to run as after opening sockets")->default_val("nobody");
    probe->add_option("--max-wait", po.max_wait_s, "longest wait for the listener's timers, seconds")
        ->default_val(200);
    probe->add_flag("--quiet", po.quiet, "no status line");
    add_output(probe);

    WatchOptions wo;
    std::vector<std::string> watch_bpf;
    auto* watch = app.add_subcommand("watch", "watch listeners live on an interface; sends nothing (root)");
    watch->add_option("-i,--interface", wo.interface, "interface to capture on")->required();
    auto* watch_listener =
        watch->add_option("--listener", listener, "only this listener HOST:PORT ([IPV6]:PORT; name or number)");
    watch->add_option("FILTER", watch_bpf, "a BPF filter as tcpdump takes it (default: tcp)");
    watch->add_option("--duration", wo.duration_s, "stop after this many seconds (default: at Ctrl-C)")
        ->check(CLI::PositiveNumber);
    watch->add_option("--user", wo.user, "user to run as once the capture is open")->default_val("nobody");
    add_family(watch);
    add_output(watch);

    app.add_subcommand("plans", "list the probe plans");
    app.add_subcommand("cleanup", "remove firewall tables left by a killed probe");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) {  // --help, --version
            const int rc = app.exit(e);
            try {
                finish_stdout();
            } catch (const InterruptedEarly&) {
        std::cerr << "listenprobe: interrupted by " << signal_name(g_replay_signal)
                  << " before the input could be read: nothing to report\n";
        return kExitSignalBase + g_replay_signal;
    } catch (const StdoutClosed&) {
            } catch (const std::exception& x) {
                std::cerr << "listenprobe: " << x.what() << "\n";
                return kExitInput;
            }
            return rc;
        }
        // One line, as every other error (CLI11 itself would add a second).
        std::string what = e.what();
        if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-')
            what = std::string("unknown subcommand: ") + argv[1] + " (replay, probe, watch, timeline, plans, cleanup)";
        std::cerr << "listenprobe: " << what << " (see listenprobe --help)\n";
        return kExitUsage;
    }

    const AddressFamily family = only_v4 ? AddressFamily::v4 : only_v6 ? AddressFamily::v6 : AddressFamily::any;
    int stopped_by = 0;  // the signal that cut a replay or probe short
    try {
        // --listener, resolved once, before the input is opened.
        auto listener_of = [&](CLI::Option* opt, std::optional<Endpoint>& ep, std::string& note) {
            if (opt->count() == 0) return;
            const Target t = resolve_target(listener, family, "--listener");
            ep = t.endpoint;
            note = t.resolution_note("--listener");
        };
        // Several targets or files: each in a child process, a few at a time; their output
        // handed on whole as each ends (jsonl: one line per listener as it finishes).
        // The inputs as given: the arguments, then the --targets file's (read once: it may be stdin).
        auto many_items = [&](const char* command) {
            std::vector<std::string> items = many.items;
            if (!many.list_file.empty())
                for (auto& t : read_target_file(many.list_file)) items.push_back(std::move(t));
            if (items.empty()) throw UsageError(std::string(command) + ": nothing to do (no target given)");
            return items;
        };
        auto run_many = [&](CLI::App* sub, const char* command, std::vector<std::string> items, int parallel,
                            const std::function<void(const std::string&)>& one_item) {
            const size_t listed = items.size();
            if (!many.shard.empty()) items = shard_of(items, parse_shard(many.shard));
            size_t resumed = 0;
            if (!many.resume.empty()) {
                const std::set<std::string> done = done_in(many.resume);
                std::erase_if(items, [&](const std::string& i) { return done.count(i) && ++resumed; });
            }
            if (out.json || out.format == "json")
                throw UsageError(std::string(command) + " with several inputs writes --format jsonl or text "
                                 "(one JSON document per input would not make one document)");
            if (out.format.empty() && !stdout_is_terminal()) out.format = "jsonl";
            const bool jsonl = resolve_format(out) == "jsonl";
            // Progress for a person watching (stderr a terminal); failures are said in any case.
            const bool progress = ::isatty(STDERR_FILENO) == 1 && !(sub == probe && po.quiet);
            if (progress)
                fmt::print(stderr, "listenprobe: {} {} of {}{}{}, {} at a time\n", command, items.size(), listed,
                           many.shard.empty() ? "" : " (shard " + many.shard + ")",
                           resumed ? fmt::format(", {} done already", resumed) : "", std::max(1, parallel));
            int first_failure = 0;
            size_t finished = 0;
            const int sig = run_children(items, parallel, [&](const std::string& item) {
                try {
                    one_item(item);
                } catch (const StdoutClosed&) {
                } catch (const std::exception& e) {
                    return report_error(e);
                }
                const int stop = command == std::string("probe") ? probe_stop_signal() : int(g_replay_signal);
                return stop ? kExitSignalBase + stop : int(kExitOk);
            }, [&](const ChildResult& r) {
                ++finished;
                std::cout << r.out;
                std::string msg = r.err;
                while (!msg.empty() && msg.back() == '\n') msg.pop_back();
                if (const size_t nl = msg.rfind('\n'); nl != std::string::npos) msg = msg.substr(nl + 1);
                if (msg.rfind("listenprobe: ", 0) == 0) msg = msg.substr(13);
                if (r.status != 0 && jsonl && r.status < kExitSignalBase)
                    std::cout << nlohmann::json{{"schema", kJsonSchema}, {"type", "error"}, {"command", command},
                                                {"given", r.item}, {"exit_status", r.status}, {"message", msg}}
                                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                              << '\n';
                finish_stdout();
                if (r.status != 0 && !first_failure) first_failure = r.status;
                if (r.status != 0 && !msg.empty()) fmt::print(stderr, "listenprobe: {}: {}\n", r.item, msg);
                if (progress)
                    fmt::print(stderr, "listenprobe: [{}/{}] {} {} in {:.1f} s\n", finished, items.size(), r.item,
                               r.status == 0 ? "done" : fmt::format("failed (exit {})", r.status), r.seconds);
            });
            if (sig) {
                fmt::print(stderr, "listenprobe: interrupted by {}; {} of {} finished\n", signal_name(sig), finished,
                           items.size());
                return kExitSignalBase + sig;
            }
            return first_failure;
        };

        auto replay_one = [&](const std::string& file) {
            check_timeline_name(out.timeline);
            std::optional<Endpoint> ep;
            std::string note;
            listener_of(replay_listener, ep, note);
            const auto t0 = std::chrono::steady_clock::now();
            Analysis a = replay_file(file, ep, note);
            a.run = run_info("replay", argc, argv, resolve_format(out), out, only_v4, only_v6);
            if (ep) {
                a.run.target_given = listener;
                a.run.target = ep;
            }
            stopped_by = g_replay_signal;
            emit(a, out);
            if (std::getenv("LP_TIMING"))
                fmt::print(stderr, "timing: total with report {:.3f}s\n",
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        };

        auto probe_one = [&](const std::string& target) {
            check_timeline_name(out.timeline);
            const Target t = resolve_target(target, family, "target");
            po.target = t.endpoint;
            po.format_json = resolve_format(out) == "json";
            po.timeline = out.timeline;  // opened by the probe before it drops privileges
            RunInfo run = run_info("probe", argc, argv, resolve_format(out), out, only_v4, only_v6);
            run.target_given = target;
            run.target = t.endpoint;
            out.timeline.clear();
            po.version = std::string("listenprobe ") + LP_VERSION + " (commit " + LP_GIT_COMMIT + ")";
            po.command_line = shell_words(argc, argv);  // the -w file's section comment
            Analysis a = run_probe(po);
            run.plan = a.run.plan;  // what the probe ran
            run.probe = a.run.probe;
            run.expected_duration_s = a.run.expected_duration_s;
            a.run = std::move(run);
            if (const std::string note = t.resolution_note("target"); !note.empty()) a.source.notes.push_back(note);
            stopped_by = probe_stop_signal();
            emit(a, out);
        };

        if (replay->parsed()) {
            if (!many.given(replay)) {
                replay_one(many.items.at(0));
            } else {
                if (!out.timeline.empty()) throw UsageError("--timeline names one file: replay one input at a time with it");
                if (std::count(many.items.begin(), many.items.end(), "-") > 0 && many.items.size() > 1)
                    throw UsageError("- (stdin) cannot be one of several inputs");
                const int rc = run_many(replay, "replay", many_items("replay"), many.parallel ? many.parallel : 1,
                                        replay_one);
                if (rc) return rc;
            }
        } else if (tl->parsed()) {
            if (timeline_out.empty() && chart_out.empty())
                throw UsageError("timeline needs -o OUT (.svg, .txt, .json) or --chart OUT.svg");
            if (!timeline_out.empty()) check_timeline_name(timeline_out);
            if (!chart_out.empty() && (chart_out.size() < 5 || !chart_out.ends_with(".svg")))
                throw UsageError("--chart output must end in .svg: " + chart_out);
            std::optional<Endpoint> ep;
            std::string note;
            listener_of(tl_listener, ep, note);
            const Analysis a = replay_file(file, ep, note);
            stopped_by = g_replay_signal;
            if (!a.listeners.empty() && !timeline_out.empty())
                write_file_atomic(timeline_out, render_timeline_file(a, timeline_out));
            if (!a.listeners.empty() && !chart_out.empty())
                write_file_atomic(chart_out, render_timeline_with_chart_svg(a, pick_listener(a)));
        } else if (probe->parsed()) {
            if (!many.given(probe)) {
                if (many.items.empty()) throw UsageError("probe: TARGET is required (or --targets FILE)");
                probe_one(many.items[0]);
            } else {
                if (!out.timeline.empty() || !po.write_pcap.empty())
                    throw UsageError("-w and --timeline name one file: probe one target at a time with them");
                // Every target's syntax before anything is sent; names are resolved by each probe.
                std::vector<std::string> all = many_items("probe");
                for (const auto& t : all) resolve_port(split_target(t, "target").port, "target");
                // One packet rate and one connection budget for the whole run, shared by the
                // targets probed at once.
                const int parallel = many.parallel ? many.parallel : std::min<int>(8, int(all.size()));
                po.rate_pps /= parallel;
                po.max_connections = std::max(1, po.max_connections / parallel);
                const int rc = run_many(probe, "probe", std::move(all), parallel, [&](const std::string& t) {
                    po.quiet = true;  // no status lines of several probes on one terminal
                    probe_one(t);
                });
                if (rc) return rc;
            }
        } else if (watch->parsed()) {
            check_timeline_name(out.timeline);
            std::optional<Endpoint> ep;
            std::string note;
            listener_of(watch_listener, ep, note);
            wo.listener = ep;
            for (const auto& w : watch_bpf) wo.filter += (wo.filter.empty() ? "" : " ") + w;
            // Findings as they come: text on a terminal, JSON lines otherwise (or as asked);
            // --format json prints only the report at the end.
            if (out.format.empty() && !out.json && !stdout_is_terminal()) out.format = "jsonl";
            const std::string format = resolve_format(out);
            wo.jsonl = format == "jsonl";
            wo.summaries = stdout_is_terminal();
            std::ostringstream none;
            Analysis a = run_watch(wo, format == "json" ? static_cast<std::ostream&>(none) : std::cout);
            a.run = run_info("watch", argc, argv, format, out, only_v4, only_v6);
            if (ep) {
                a.run.target_given = listener;
                a.run.target = ep;
            }
            if (!note.empty()) a.source.notes.push_back(note);
            if (format == "text") std::cout << '\n';
            emit(a, out);
        } else if (app.got_subcommand("plans")) {
            const auto plans = list_plans();
            if (plans.empty()) {
                std::string where;
                for (const auto& d : plan_dirs()) where += (where.empty() ? "" : ", ") + d;
                throw InputError("no probe plans found (looked in " + (where.empty() ? "no directory" : where) +
                                 "; set LISTENPROBE_PLANS)");
            }
            for (const auto& p : plans) std::cout << fmt::format("{:<14} {}\n", p.name, p.description);
            finish_stdout();
        } else if (app.got_subcommand("cleanup")) {
            auto removed = remove_stale_guards();
            for (const auto& t : removed) std::cout << "removed nftables table " << t << "\n";
            if (removed.empty()) std::cout << "nothing to clean up\n";
            finish_stdout();
        }
    } catch (const InterruptedEarly&) {
        std::cerr << "listenprobe: interrupted by " << signal_name(g_replay_signal)
                  << " before the input could be read: nothing to report\n";
        return kExitSignalBase + g_replay_signal;
    } catch (const StdoutClosed&) {
        return stopped_by ? kExitSignalBase + stopped_by : kExitOk;  // nobody reads any more: nothing to say
    } catch (const std::exception& e) {
        return report_error(e);
    }
    if (stopped_by) {
        // The partial report is out; the status says it was cut short (128 + signal, as a shell reports it).
        std::cerr << "listenprobe: interrupted by " << signal_name(stopped_by) << "; the report covers what was "
                  << (probe->parsed() ? "probed" : "read") << " until then\n";
        return kExitSignalBase + stopped_by;
    }
    return kExitOk;
}
