// lp_guard_check: drives the probe's firewall guard and privilege handling
// for tests/lab/test_guard.sh (run as root inside a network namespace).
//
//   lp_guard_check require
//       require_probe_capabilities(); exit 0, or 3 with one line.
//   lp_guard_check hold --target ADDR:PORT --source ADDR [--sports LO-HI] [--mark M]
//                       [--conn PORT:SEQ]... [--drop-user USER]
//                       [--release-after S | --throw-after S | --exit-after S]
//       Creates an RstGuard, prints "table NAME watchdog PID" and "ready", then waits for
//       SIGINT/SIGTERM (or the timer) and releases: prints "released ok" or
//       "released failed". --throw-after leaves through an exception (the
//       destructor releases); --exit-after calls _exit() without releasing.
//       --fork-copy: a forked child destroys its copy of the guard first
//       (prints "fork copy released: yes|no"; it must be "no").
//   lp_guard_check stale
//       remove_stale_guards(); prints one removed table name a line.
//   lp_guard_check send --source ADDR --target ADDR:PORT --sport P --flags S|R|A|SA|RA
//                       --seq N [--ack N] [--mark M]
//       Sends one hand-made TCP segment through a raw socket carrying mark M.
//   lp_guard_check drop --source ADDR --target ADDR:PORT --sport P [--mark M] [--user U]
//       Opens a raw socket, drops privileges, prints "dropped"; each SIGUSR1
//       sends a SYN through the already-open socket and prints "sent" or
//       "send failed: ..."; SIGTERM ends it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "probe/guard.hpp"
#include "probe/privileges.hpp"
#include "segments/error.hpp"

namespace {

uint32_t parse_u32(const std::string& s, const char* what) {
    uint32_t v = 0;
    int base = 10;
    std::string_view t = s;
    if (t.starts_with("0x") || t.starts_with("0X")) {
        base = 16;
        t.remove_prefix(2);
    }
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size())
        throw lp::UsageError(std::string("bad ") + what + ": " + s);
    return v;
}

uint16_t parse_port(const std::string& s, const char* what) {
    uint32_t v = parse_u32(s, what);
    if (v == 0 || v > 65535) throw lp::UsageError(std::string("bad ") + what + ": " + s);
    return static_cast<uint16_t>(v);
}

lp::IpAddress parse_addr(const std::string& s) {
    auto a = lp::IpAddress::parse(s);
    if (!a) throw lp::UsageError("bad address: " + s);
    return *a;
}

lp::Endpoint parse_endpoint(const std::string& s) {
    auto e = lp::Endpoint::parse(s);
    if (!e) throw lp::UsageError("bad ADDR:PORT: " + s);
    return *e;
}

uint8_t parse_flags(const std::string& s) {
    uint8_t f = 0;
    for (char c : s) {
        switch (c) {
            case 'S': f |= lp::tcp::SYN; break;
            case 'R': f |= lp::tcp::RST; break;
            case 'A': f |= lp::tcp::ACK; break;
            case 'F': f |= lp::tcp::FIN; break;
            default: throw lp::UsageError("bad flags: " + s + " (use S, R, A, F)");
        }
    }
    return f;
}

void say(const std::string& line) {
    std::cout << line << std::endl;  // flushes: the test reads it from a pipe or file
}

// Blocks `sigs` (to take them with sigwaitinfo). Their disposition goes back
// to the default first: a shell starts background jobs with SIGINT ignored.
sigset_t block_signals(std::initializer_list<int> sigs) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : sigs) {
        ::signal(s, SIG_DFL);
        sigaddset(&set, s);
    }
    sigprocmask(SIG_BLOCK, &set, nullptr);
    return set;
}

// Waits for one of `set` or `seconds` (<= 0: forever); returns the signal or 0 on timeout.
int wait_signal(const sigset_t& set, double seconds) {
    for (;;) {
        int sig;
        if (seconds > 0) {
            timespec ts{static_cast<time_t>(seconds), static_cast<long>((seconds - static_cast<long>(seconds)) * 1e9)};
            sig = sigtimedwait(&set, nullptr, &ts);
            if (sig < 0 && errno == EAGAIN) return 0;
        } else {
            sig = sigwaitinfo(&set, nullptr);
        }
        if (sig > 0) return sig;
        if (errno != EINTR) return 0;
    }
}

struct HoldOptions {
    std::string target, source, sports = "61000-61999", mark = "0x6c70", drop_user;
    std::vector<std::string> conns;
    double release_after = 0, throw_after = 0, exit_after = 0;
    bool fork_copy = false;
};

int hold(const HoldOptions& o) {
    lp::Endpoint target = parse_endpoint(o.target);
    lp::RstFilter f;
    f.target = target.addr;
    f.target_port = target.port;
    auto dash = o.sports.find('-');
    f.sport_lo = parse_port(o.sports.substr(0, dash), "port range");
    f.sport_hi = dash == std::string::npos ? f.sport_lo : parse_port(o.sports.substr(dash + 1), "port range");
    f.mark = parse_u32(o.mark, "mark");

    sigset_t set = block_signals({SIGINT, SIGTERM});
    lp::RstGuard guard(f, parse_addr(o.source));
    for (const auto& c : o.conns) {
        auto colon = c.find(':');
        if (colon == std::string::npos) throw lp::UsageError("bad --conn (PORT:SEQ): " + c);
        guard.add_connection(parse_port(c.substr(0, colon), "--conn port"), parse_u32(c.substr(colon + 1), "--conn seq"));
    }
    say("table " + guard.table() + " watchdog " + std::to_string(guard.watchdog_pid()));
    if (o.fork_copy) {
        pid_t child = ::fork();
        if (child == 0) ::_exit(guard.release() ? 1 : 0);
        int status = 0;
        ::waitpid(child, &status, 0);
        say(std::string("fork copy released: ") + (WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "no" : "yes"));
    }
    if (!o.drop_user.empty()) {
        lp::drop_privileges(o.drop_user);
        say("dropped");
    }
    say("ready");
    double timer = o.release_after > 0 ? o.release_after : o.throw_after > 0 ? o.throw_after : o.exit_after;
    int sig = wait_signal(set, timer);
    if (sig == 0 && o.exit_after > 0) ::_exit(0);  // no destructor, no release()
    if (sig == 0 && o.throw_after > 0) throw std::runtime_error("leaving through an exception");
    if (sig) say(std::string("signal ") + strsignal(sig));
    bool ok = guard.release();
    say(ok ? "released ok" : "released failed");
    return ok ? 0 : 1;
}

int send_one(const std::string& source, const std::string& target_s, const std::string& sport,
             const std::string& flags, const std::string& seq, const std::string& ack, const std::string& mark) {
    lp::Endpoint target = parse_endpoint(target_s);
    lp::Endpoint src{parse_addr(source), parse_port(sport, "--sport")};
    lp::MarkedRawSocket raw(target.addr.family, parse_u32(mark, "mark"));
    if (!raw.send_tcp(src, target, parse_flags(flags), parse_u32(seq, "seq"), parse_u32(ack, "ack"),
                      parse_flags(flags) & lp::tcp::SYN ? 64240 : 0))
        throw lp::InputError(std::string("send failed: ") + std::strerror(errno));
    return 0;
}

int drop(const std::string& source, const std::string& target_s, const std::string& sport,
         const std::string& mark, const std::string& user) {
    lp::Endpoint target = parse_endpoint(target_s);
    lp::Endpoint src{parse_addr(source), parse_port(sport, "--sport")};
    sigset_t set = block_signals({SIGUSR1, SIGTERM, SIGINT});
    lp::MarkedRawSocket raw(target.addr.family, parse_u32(mark, "mark"));
    lp::drop_privileges(user);
    say("dropped");
    uint32_t seq = 1000;
    for (;;) {
        int sig = wait_signal(set, 0);
        if (sig != SIGUSR1) return 0;
        if (raw.send_tcp(src, target, lp::tcp::SYN, seq, 0, 64240)) say("sent");
        else say(std::string("send failed: ") + std::strerror(errno));
        seq += 1000;
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"drives the listenprobe firewall guard and privilege handling (lab tests)"};
    app.require_subcommand(1);

    auto* req = app.add_subcommand("require", "check CAP_NET_RAW and CAP_NET_ADMIN");

    HoldOptions ho;
    auto* hl = app.add_subcommand("hold", "hold an RST guard until SIGINT/SIGTERM");
    hl->add_option("--target", ho.target, "ADDR:PORT")->required();
    hl->add_option("--source", ho.source, "probe source address")->required();
    hl->add_option("--sports", ho.sports, "source-port range LO-HI");
    hl->add_option("--mark", ho.mark, "packet mark of the probe's own RSTs");
    hl->add_option("--conn", ho.conns, "PORT:SEQ a connection the watchdog resets if we die");
    hl->add_option("--drop-user", ho.drop_user, "drop privileges to USER after the guard is up");
    hl->add_flag("--fork-copy", ho.fork_copy, "a forked child first releases its copy of the guard");
    auto* timers = hl->add_option_group("timer");
    timers->add_option("--release-after", ho.release_after, "release after S seconds");
    timers->add_option("--throw-after", ho.throw_after, "throw an exception after S seconds");
    timers->add_option("--exit-after", ho.exit_after, "_exit(0) after S seconds without releasing");
    timers->require_option(0, 1);

    auto* st = app.add_subcommand("stale", "remove guard tables of dead processes");

    std::string source, target, sport, flags, seq = "0", ack = "0", mark = "0x6c70", user = "nobody";
    auto* sd = app.add_subcommand("send", "send one TCP segment through a marked raw socket");
    sd->add_option("--source", source)->required();
    sd->add_option("--target", target)->required();
    sd->add_option("--sport", sport)->required();
    sd->add_option("--flags", flags)->required();
    sd->add_option("--seq", seq);
    sd->add_option("--ack", ack);
    sd->add_option("--mark", mark);

    auto* dr = app.add_subcommand("drop", "open a raw socket, drop privileges, send on SIGUSR1");
    dr->add_option("--source", source)->required();
    dr->add_option("--target", target)->required();
    dr->add_option("--sport", sport)->required();
    dr->add_option("--mark", mark);
    dr->add_option("--user", user);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : lp::kExitUsage;
    }

    try {
        if (*req) {
            lp::require_probe_capabilities();
            return 0;
        }
        if (*hl) return hold(ho);
        if (*st) {
            for (const auto& name : lp::remove_stale_guards()) say(name);
            return 0;
        }
        if (*sd) return send_one(source, target, sport, flags, seq, ack, mark);
        if (*dr) return drop(source, target, sport, mark, user);
    } catch (const lp::PrivilegeError& e) {
        std::cerr << "lp_guard_check: " << e.what() << "\n";
        return lp::kExitPrivilege;
    } catch (const lp::UsageError& e) {
        std::cerr << "lp_guard_check: " << e.what() << "\n";
        return lp::kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "lp_guard_check: " << e.what() << "\n";
        return lp::kExitInput;
    }
    return 0;
}
