#include "probe/guard.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <tins/ip.h>
#include <tins/ipv6.h>
#include <tins/tcp.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "probe/privileges.hpp"
#include "segments/error.hpp"

namespace lp {

namespace {

constexpr std::string_view kTablePrefix = "listenprobe_";
constexpr std::string_view kCommentPrefix = "listenprobe pid ";
constexpr char kEnoent[] = "No such file or directory";
constexpr char kEperm[] = "Operation not permitted";

// Messages on the socket pair (SOCK_SEQPACKET keeps their boundaries).
// Probe -> watchdog.
constexpr char kMsgConnection = 'C';  // + u16 port + u32 seq, native byte order
constexpr char kMsgRelease = 'R';
// Watchdog -> probe.
constexpr char kMsgReady = 'K';
constexpr char kMsgPrivilege = 'P';  // + one-line text
constexpr char kMsgError = 'E';      // + one-line text
constexpr char kMsgDone = 'D';       // + '1' removed / '0' not + text

// How long the probe waits for the watchdog.
constexpr int kSetupTimeoutMs = 15000;
constexpr int kReleaseTimeoutMs = 10000;

bool parse_u64(std::string_view s, uint64_t& out) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

struct NftCtxDeleter {
    void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};

// Runs `commands`; returns true on success. `out` gets the output buffer,
// `err` the error buffer (raw, several lines).
bool nft_try(const std::string& commands, bool json, std::string& out, std::string& err) {
    out.clear();
    if (!has_capability(CAP_NET_ADMIN)) {
        // Do not even ask: libnftables would print a line of its own on
        // stderr ("Operation not permitted (you must be root)").
        err = std::string("Error: ") + kEperm;
        return false;
    }
    std::unique_ptr<nft_ctx, NftCtxDeleter> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
    if (!ctx) {
        err = "Error: cannot create a libnftables context";
        return false;
    }
    if (json) nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON);
    nft_ctx_buffer_output(ctx.get());
    nft_ctx_buffer_error(ctx.get());
    int rc = nft_run_cmd_from_buffer(ctx.get(), commands.c_str());
    const char* o = nft_ctx_get_output_buffer(ctx.get());
    const char* e = nft_ctx_get_error_buffer(ctx.get());
    out = o ? o : "";
    err = e ? e : "";
    return rc == 0;
}

bool is_eperm(const std::string& err) { return err.find(kEperm) != std::string::npos; }
bool is_enoent(const std::string& err) { return err.find(kEnoent) != std::string::npos; }

// Deletes `table`; true when it is gone (also when it was already gone).
bool delete_table(const std::string& table, std::string& err) {
    std::string out;
    if (nft_try("delete table inet " + table, false, out, err)) return true;
    return is_enoent(err);
}

bool send_msg(int fd, const void* data, size_t len) {
    for (;;) {
        ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
        if (n >= 0) return static_cast<size_t>(n) == len;
        if (errno != EINTR) return false;
    }
}

bool send_text(int fd, char kind, std::string_view text) {
    std::string m(1, kind);
    m.append(text.substr(0, 2000));
    return send_msg(fd, m.data(), m.size());
}

// Waits up to `timeout_ms` for one message. Returns its bytes; an empty
// string on EOF or error; nullopt on timeout.
std::optional<std::string> recv_msg(int fd, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left < 0) left = 0;
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return std::string();
        if (r == 0) return std::nullopt;
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::string();
        return std::string(buf, static_cast<size_t>(n));
    }
}

void reap(pid_t pid) {
    if (pid <= 0) return;
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
}

// ---------------------------------------------------------------- watchdog

volatile sig_atomic_t g_watchdog_signal = 0;
extern "C" void watchdog_on_signal(int) { g_watchdog_signal = 1; }

struct WatchdogPlan {
    std::string table;
    std::string install;  // nftables commands that create the table
    RstFilter filter;
    IpAddress source;
    pid_t parent = 0;
};

// Keeps only CAP_NET_ADMIN (to delete the table); the raw socket is open
// already. Best effort: the watchdog works without it.
void watchdog_shed_privileges() {
    if (cap_t cur = cap_get_proc()) {
        cap_flag_value_t setpcap = CAP_CLEAR;
        cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
        cap_free(cur);
        if (setpcap == CAP_SET) {
            for (cap_value_t c = 0; c < static_cast<cap_value_t>(cap_max_bits()); ++c)
                if (c != CAP_NET_ADMIN && CAP_IS_SUPPORTED(c)) cap_drop_bound(c);
        }
    }
    if (cap_t keep = cap_init()) {
        cap_value_t admin[] = {CAP_NET_ADMIN};
        cap_set_flag(keep, CAP_PERMITTED, 1, admin, CAP_SET);
        cap_set_flag(keep, CAP_EFFECTIVE, 1, admin, CAP_SET);
        cap_set_proc(keep);
        cap_free(keep);
    }
    cap_reset_ambient();
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

[[noreturn]] void watchdog_main(int sock, const WatchdogPlan& plan) {
    // Its own process group: a terminal's ^C or ^Z for the probe's group must
    // not stop or kill the watchdog before it has cleaned up.
    ::setpgid(0, 0);

    // Signals: default everything the probe may have installed; ignore the
    // terminal and pipe signals; SIGTERM (also the parent-death signal) asks
    // for cleanup and is only delivered inside ppoll().
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s)
        if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    for (int s : {SIGINT, SIGQUIT, SIGHUP, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2})
        ::sigaction(s, &ign, nullptr);
    struct sigaction term {};
    term.sa_handler = watchdog_on_signal;
    ::sigaction(SIGTERM, &term, nullptr);
    sigset_t only_term, none;
    sigemptyset(&only_term);
    sigaddset(&only_term, SIGTERM);
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &only_term, nullptr);

    ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (::getppid() != plan.parent) ::_exit(0);  // gone before anything was installed

    // File descriptors: the socket pair end as fd 3, the probe's stderr as
    // fd 4 for one line of diagnosis, 0-2 on /dev/null (libraries print
    // nothing on the probe's terminal); nothing else: an inherited copy of
    // another guard's socket would hide that guard's EOF.
    {
        // Copies above 10 first, so that no dup2 below overwrites a source.
        int hi_sock = ::fcntl(sock, F_DUPFD_CLOEXEC, 10);
        int hi_err = ::fcntl(2, F_DUPFD_CLOEXEC, 10);
        int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        int hi_null = null_fd >= 0 ? ::fcntl(null_fd, F_DUPFD_CLOEXEC, 10) : -1;
        if (hi_sock < 0 || hi_null < 0) ::_exit(1);
        for (int fd = 0; fd <= 2; ++fd) ::dup2(hi_null, fd);
        ::dup2(hi_sock, 3);
        ::dup2(hi_err >= 0 ? hi_err : hi_null, 4);
        ::close_range(5, ~0U, 0);
        ::fcntl(3, F_SETFD, FD_CLOEXEC);
        ::fcntl(4, F_SETFD, FD_CLOEXEC);
        sock = 3;
    }

    std::optional<MarkedRawSocket> raw;
    try {
        raw.emplace(plan.filter.target.family, plan.filter.mark);
        if (!plan.install.empty())
            nft_run(plan.install, "cannot install the nftables RST guard (table inet " + plan.table + ")");
    } catch (const PrivilegeError& e) {
        send_text(sock, kMsgPrivilege, e.what());
        ::_exit(3);
    } catch (const std::exception& e) {
        send_text(sock, kMsgError, e.what());
        ::_exit(1);
    }
    watchdog_shed_privileges();
    ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);  // credentials changed: arm again
    send_msg(sock, &kMsgReady, 1);

    std::map<uint16_t, uint32_t> connections;
    bool released = false, eof = false;
    while (!released && !eof && !g_watchdog_signal) {
        pollfd p{sock, POLLIN, 0};
        int r = ::ppoll(&p, 1, nullptr, &none);
        if (r < 0) {
            if (errno == EINTR) continue;
            eof = true;
            break;
        }
        char buf[64];
        ssize_t n = ::recv(sock, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {
            eof = true;
            break;
        }
        if (buf[0] == kMsgRelease) {
            released = true;
        } else if (buf[0] == kMsgConnection && n == 7) {
            uint16_t port;
            uint32_t seq;
            std::memcpy(&port, buf + 1, 2);
            std::memcpy(&seq, buf + 3, 4);
            connections[port] = seq;
        }
    }
    bool parent_gone = eof || ::getppid() != plan.parent;

    size_t rsts = 0;
    if (!released && parent_gone) {
        Endpoint dst{plan.filter.target, plan.filter.target_port};
        for (auto [port, seq] : connections)
            if (raw->send_tcp(Endpoint{plan.source, port}, dst, tcp::RST, seq)) ++rsts;
    }
    std::string err;
    bool removed = plan.table.empty();  // no table to remove
    for (int attempt = 0; attempt < 3 && !removed; ++attempt) {
        if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        removed = delete_table(plan.table, err);
    }
    if (!released) {
        std::string line = fmt::format(
            "listenprobe watchdog: the probe {} without releasing its guard; sent {} RST(s) for {} "
            "connection(s); {}\n",
            parent_gone ? "ended" : "was stopped", rsts, connections.size(),
            plan.table.empty() ? std::string("no nftables table (--source-ip)")
                               : fmt::format("nftables table inet {} {}", plan.table,
                                             removed ? "removed" : "NOT removed: " + nft_error_line(err)));
        [[maybe_unused]] ssize_t w = ::write(4, line.data(), line.size());
    }
    send_text(sock, kMsgDone, std::string(removed ? "1" : "0") + nft_error_line(err));
    ::_exit(removed ? 0 : 1);
}

std::atomic<unsigned> g_guard_serial{0};

}  // namespace

// ---------------------------------------------------------------- rule text

void validate_rst_filter(const RstFilter& f) {
    if (f.target.family != 4 && f.target.family != 6)
        throw InputError("RST guard: the target address is not set");
    if (f.target_port == 0) throw InputError("RST guard: the target port is 0");
    if (f.sport_lo == 0 || f.sport_lo > f.sport_hi)
        throw InputError(fmt::format("RST guard: bad source-port range {}-{}", f.sport_lo, f.sport_hi));
    if (f.mark == 0)
        throw InputError("RST guard: the packet mark must not be 0 (the kernel's own RSTs carry mark 0)");
}

std::string rst_filter_ruleset(const RstFilter& f, const std::string& table) {
    validate_rst_filter(f);
    std::string sports = f.sport_lo == f.sport_hi ? fmt::format("{}", f.sport_lo)
                                                  : fmt::format("{}-{}", f.sport_lo, f.sport_hi);
    return fmt::format(
        "add table inet {0}; "
        "add chain inet {0} out {{ type filter hook output priority 0; policy accept; }}; "
        "add rule inet {0} out {1} daddr {2} tcp dport {3} tcp sport {4} "
        "tcp flags & rst == rst meta mark != {5:#x} drop",
        table, f.target.is_v4() ? "ip" : "ip6", f.target.str(), f.target_port, sports, f.mark);
}

std::string guard_table_name(pid_t pid, unsigned serial) {
    if (serial <= 1) return fmt::format("{}{}", kTablePrefix, pid);
    return fmt::format("{}{}_{}", kTablePrefix, pid, serial);
}

std::optional<pid_t> guard_table_pid(std::string_view name) {
    if (!name.starts_with(kTablePrefix)) return std::nullopt;
    name.remove_prefix(kTablePrefix.size());
    std::string_view pid_text = name.substr(0, name.find('_'));
    uint64_t pid = 0, serial = 0;
    if (!parse_u64(pid_text, pid) || pid == 0 || pid > 0x3fffffff) return std::nullopt;
    if (pid_text.size() < name.size()) {
        if (!parse_u64(name.substr(pid_text.size() + 1), serial) || serial < 2) return std::nullopt;
    }
    return static_cast<pid_t>(pid);
}

std::vector<std::string> guard_tables_in_listing(std::string_view nft_json) {
    std::vector<std::string> names;
    auto doc = nlohmann::json::parse(nft_json, nullptr, false);
    if (doc.is_discarded() || !doc.contains("nftables") || !doc["nftables"].is_array()) return names;
    for (const auto& item : doc["nftables"]) {
        if (!item.is_object() || !item.contains("table")) continue;
        const auto& t = item["table"];
        if (t.value("family", "") != "inet") continue;
        std::string name = t.value("name", "");
        if (guard_table_pid(name)) names.push_back(name);
    }
    return names;
}

std::string guard_table_comment(pid_t pid, uint64_t start_ticks) {
    return fmt::format("{}{} start {}", kCommentPrefix, pid, start_ticks);
}

std::optional<uint64_t> guard_comment_start(std::string_view listing) {
    auto at = listing.find(fmt::format("comment \"{}", kCommentPrefix));
    if (at == std::string_view::npos) return std::nullopt;
    auto close = listing.find('"', at + 9);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view body = listing.substr(at + 9, close - at - 9);  // listenprobe pid N start M
    auto s = body.find(" start ");
    if (s == std::string_view::npos) return std::nullopt;
    uint64_t v = 0;
    if (!parse_u64(body.substr(s + 7), v)) return std::nullopt;
    return v;
}

std::optional<uint64_t> process_start_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    auto paren = line.rfind(')');  // the command name may hold spaces and parentheses
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream rest(line.substr(paren + 1));
    std::string field;
    for (int i = 3; i <= 22; ++i)  // field 3 is the state
        if (!(rest >> field)) return std::nullopt;
    uint64_t v = 0;
    if (!parse_u64(field, v)) return std::nullopt;
    return v;
}

std::string nft_error_line(std::string_view text) {
    std::vector<std::string> parts;
    std::string first;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
            line.remove_suffix(1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (line.empty()) continue;
        if (first.empty()) first = line;
        auto e = line.find("Error: ");
        if (e == std::string_view::npos) continue;
        std::string msg(line.substr(e + 7));
        bool seen = false;
        for (const auto& p : parts) seen = seen || p == msg;
        if (!seen) parts.push_back(std::move(msg));
    }
    if (parts.empty()) return first.empty() ? "nftables failed without a message" : first;
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
    return out;
}

std::string nft_run(const std::string& commands, const std::string& what, bool json) {
    std::string out, err;
    if (nft_try(commands, json, out, err)) return out;
    std::string msg = what + ": " + nft_error_line(err);
    if (is_eperm(err)) throw PrivilegeError(msg + " (needs CAP_NET_ADMIN: run as root)");
    throw InputError(msg);
}

// ---------------------------------------------------------------- RstGuard

namespace {
// Guards are installed one at a time on a machine: probes started together (many targets,
// shards run side by side) would otherwise contend for the nftables commit and the watchdog's
// setup would time out. An exclusive flock on a file in /run/lock, held from the fork of the
// watchdog until it is ready (or failed); the kernel releases it if the process dies. Without
// the file (no /run/lock) the guard is installed without waiting.
class SetupLock {
public:
    SetupLock() {
        fd_ = ::open("/run/lock/listenprobe-guard.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd_ >= 0)
            while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
            }
    }
    ~SetupLock() {
        if (fd_ >= 0) ::close(fd_);
    }
    SetupLock(const SetupLock&) = delete;
    SetupLock& operator=(const SetupLock&) = delete;

private:
    int fd_ = -1;
};
}  // namespace

RstGuard::RstGuard(const RstFilter& f, const IpAddress& source, bool table) : filter_(f), source_(source) {
    validate_rst_filter(f);
    if (source.family != f.target.family)
        throw InputError(fmt::format("RST guard: source {} and target {} are not of one address family",
                                     source.str(), f.target.str()));
    pid_t self = ::getpid();
    table_ = guard_table_name(self, ++g_guard_serial);
    WatchdogPlan plan;
    plan.table = table_;
    plan.filter = f;
    plan.source = source;
    plan.parent = self;
    // A table of the same name can only be a leftover of a dead process that
    // had our pid: replace it in the same transaction.
    plan.install = fmt::format("add table inet {0}; delete table inet {0}; add table inet {0} {{ comment \"{1}\"; }}; ",
                               table_, guard_table_comment(self, process_start_ticks(self).value_or(0))) +
                   rst_filter_ruleset(f, table_);
    if (!table) {
        table_.clear();
        plan.table.clear();
        plan.install.clear();
    }

    const SetupLock one_at_a_time;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        throw InputError(fmt::format("RST guard: socketpair: {}", std::strerror(errno)));
    pid_t child = ::fork();
    if (child < 0) {
        int e = errno;
        ::close(sv[0]);
        ::close(sv[1]);
        throw InputError(fmt::format("RST guard: cannot fork the watchdog: {}", std::strerror(e)));
    }
    if (child == 0) {
        ::close(sv[0]);
        watchdog_main(sv[1], plan);
    }
    ::close(sv[1]);
    sock_ = sv[0];
    watchdog_ = child;
    owner_ = self;

    auto reply = recv_msg(sock_, kSetupTimeoutMs);
    if (reply && !reply->empty() && (*reply)[0] == kMsgReady) return;

    // Setup failed: the watchdog removes whatever it installed when it sees EOF.
    ::close(sock_);
    sock_ = -1;
    if (!reply) ::kill(watchdog_, SIGTERM);
    reap(watchdog_);
    watchdog_ = -1;
    released_ = false;
    if (!reply) throw InputError("RST guard: the watchdog did not answer within 15 s");
    if (reply->empty()) throw InputError("RST guard: the watchdog process died during setup");
    std::string text = reply->substr(1);
    if ((*reply)[0] == kMsgPrivilege) throw PrivilegeError(text);
    throw InputError(text);
}

RstGuard::~RstGuard() {
    try {
        release();
    } catch (...) {
    }
}

void RstGuard::add_connection(uint16_t src_port, uint32_t seq_for_rst) {
    if (released_ || sock_ < 0 || ::getpid() != owner_) return;
    char m[7];
    m[0] = kMsgConnection;
    std::memcpy(m + 1, &src_port, 2);
    std::memcpy(m + 3, &seq_for_rst, 4);
    send_msg(sock_, m, sizeof m);
}

bool RstGuard::release() {
    if (released_) return *released_;
    if (::getpid() != owner_) {
        // A forked copy of the probe: the guard is not ours to end.
        if (sock_ >= 0) ::close(sock_);
        sock_ = -1;
        released_ = false;
        return false;
    }
    send_msg(sock_, &kMsgRelease, 1);
    std::optional<bool> removed;
    auto wait_done = [&](int timeout_ms) -> bool {  // true once the watchdog answered or left
        for (;;) {
            auto m = recv_msg(sock_, timeout_ms);
            if (!m) return false;
            if (m->empty()) return true;
            if ((*m)[0] == kMsgDone) {
                removed = m->size() > 1 && (*m)[1] == '1';
                return true;
            }
        }
    };
    if (!wait_done(kReleaseTimeoutMs)) {
        ::kill(watchdog_, SIGTERM);
        if (!wait_done(3000)) ::kill(watchdog_, SIGKILL);
    }
    ::close(sock_);
    sock_ = -1;
    reap(watchdog_);
    if (!removed) {
        // The watchdog left without a word (killed): try ourselves; this
        // works while we still hold CAP_NET_ADMIN, and tells "already gone".
        std::string err;
        removed = delete_table(table_, err);
    }
    released_ = *removed;
    return *released_;
}

std::vector<std::string> remove_stale_guards() {
    std::vector<std::string> removed;
    std::string listing = nft_run("list tables", "cannot list the nftables tables", true);
    for (const auto& name : guard_tables_in_listing(listing)) {
        pid_t pid = *guard_table_pid(name);
        bool stale = ::kill(pid, 0) < 0 && errno == ESRCH;
        if (!stale) {
            // The pid runs: stale all the same if it now names a process
            // started after the one that made the table.
            std::string out, err;
            if (nft_try("list table inet " + name, false, out, err)) {
                auto made_by = guard_comment_start(out);
                auto now = process_start_ticks(pid);
                stale = made_by && now && *made_by != 0 && *made_by != *now;
            }
        }
        if (!stale) continue;
        std::string err;
        std::string out;
        if (nft_try("delete table inet " + name, false, out, err)) {
            removed.push_back(name);
        } else if (!is_enoent(err)) {  // ENOENT: its watchdog was quicker
            std::string msg = "cannot delete nftables table inet " + name + ": " + nft_error_line(err);
            if (is_eperm(err)) throw PrivilegeError(msg);
            throw InputError(msg);
        }
    }
    return removed;
}

// ---------------------------------------------------------------- MarkedRawSocket

MarkedRawSocket::MarkedRawSocket(uint8_t family, uint32_t mark) : family_(family) {
    if (family != 4 && family != 6) throw InputError("raw socket: address family not set");
    fd_ = ::socket(family == 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd_ < 0) {
        int e = errno;
        std::string msg = fmt::format("cannot open a raw IPv{} socket: {}", family, std::strerror(e));
        if (e == EPERM || e == EACCES) throw PrivilegeError(msg + " (needs CAP_NET_RAW: run as root)");
        throw InputError(msg);
    }
    if (::setsockopt(fd_, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) {
        int e = errno;
        ::close(fd_);
        fd_ = -1;
        std::string msg = fmt::format("cannot set SO_MARK {:#x} on the raw socket: {}", mark, std::strerror(e));
        if (e == EPERM || e == EACCES) throw PrivilegeError(msg + " (needs CAP_NET_ADMIN: run as root)");
        throw InputError(msg);
    }
}

MarkedRawSocket::~MarkedRawSocket() {
    if (fd_ >= 0) ::close(fd_);
}

bool MarkedRawSocket::send_tcp(const Endpoint& src, const Endpoint& dst, uint8_t flags, uint32_t seq,
                               uint32_t ack, uint16_t window) const {
    if (src.addr.family != family_ || dst.addr.family != family_) {
        errno = EAFNOSUPPORT;
        return false;
    }
    Tins::TCP tcp(dst.port, src.port);
    tcp.flags(flags);
    tcp.seq(seq);
    tcp.ack_seq(ack);
    tcp.window(window);
    Tins::PDU::serialization_type bytes;
    sockaddr_storage to{};
    socklen_t to_len = 0;
    if (family_ == 4) {
        Tins::IP ip(dst.addr.str(), src.addr.str());
        ip.ttl(64);
        ip.id(0);  // the kernel picks one
        bytes = (ip / tcp).serialize();
        auto* sin = reinterpret_cast<sockaddr_in*>(&to);
        sin->sin_family = AF_INET;
        std::memcpy(&sin->sin_addr, dst.addr.bytes.data(), 4);
        to_len = sizeof(sockaddr_in);
    } else {
        Tins::IPv6 ip(dst.addr.str(), src.addr.str());
        ip.hop_limit(64);
        bytes = (ip / tcp).serialize();
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&to);
        sin6->sin6_family = AF_INET6;
        std::memcpy(&sin6->sin6_addr, dst.addr.bytes.data(), 16);
        to_len = sizeof(sockaddr_in6);
    }
    ssize_t n = ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), to_len);
    return n == static_cast<ssize_t>(bytes.size());
}

}  // namespace lp
