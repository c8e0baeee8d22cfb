// The live probe: set-up, the send/receive loop, the plan steps, clean-up.
// Reads top to bottom as the design: Prober::run() is the whole job.
#include "probe/probe.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <tins/ip.h>
#include <tins/ipv6.h>
#include <tins/rawpdu.h>
#include <tins/tcp.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>

#include "inference/engine.hpp"
#include "inference/schedule.hpp"
#include "probe/borrowed.hpp"
#include "probe/guard.hpp"
#include "probe/neighbour.hpp"
#include "probe/plan.hpp"
#include "probe/privileges.hpp"
#include "report/report.hpp"
#include "report/timeline.hpp"
#include "segments/error.hpp"
#include "source/live_capture.hpp"
#include "source/pcap_file.hpp"
#include "source/pcapng_writer.hpp"

namespace lp {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;
constexpr uint32_t kMark = 0x6c70;  // "lp": the probe's own packets pass the RST filter

volatile std::sig_atomic_t g_stop = 0;  // the signal that stopped the probe, 0 while it runs
void on_signal(int sig) { g_stop = sig; }

// ---- where to send from --------------------------------------------------

struct Route {
    IpAddress source;
    std::string iface;
};

Route find_route(const Endpoint& target, const std::string& iface_opt) {
    const bool v4 = target.addr.is_v4();
    int fd = ::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0) throw InputError(std::string("socket: ") + std::strerror(errno));
    sockaddr_storage ss{};
    socklen_t len;
    if (v4) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(target.port);
        std::memcpy(&a->sin_addr, target.addr.bytes.data(), 4);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(target.port);
        std::memcpy(&a->sin6_addr, target.addr.bytes.data(), 16);
        len = sizeof *a;
    }
    if (!iface_opt.empty()) {
        if (if_nametoindex(iface_opt.c_str()) == 0) {
            ::close(fd);
            throw InputError("interface " + iface_opt + " does not exist");
        }
    }
    // A UDP connect sends nothing; it asks the routing table for the source address.
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        const int e = errno;
        ::close(fd);
        // EACCES: the route is a broadcast one (a subnet's broadcast address, without SO_BROADCAST).
        if (e == EACCES) throw InputError(target.addr.str() + " is a broadcast address: refusing");
        throw InputError("no route to " + target.addr.str() + ": " + std::strerror(e));
    }
    sockaddr_storage local{};
    socklen_t llen = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
    ::close(fd);
    Route r;
    r.source = v4 ? IpAddress::from_v4(reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr))
                  : IpAddress::from_v6(reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr));
    ifaddrs* ifs = nullptr;
    bool local_target = false;
    if (getifaddrs(&ifs) == 0) {
        for (auto* i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr) continue;
            IpAddress a;
            if (i->ifa_addr->sa_family == AF_INET && v4)
                a = IpAddress::from_v4(reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr));
            else if (i->ifa_addr->sa_family == AF_INET6 && !v4)
                a = IpAddress::from_v6(reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr));
            else
                continue;
            if (a == r.source && r.iface.empty()) r.iface = i->ifa_name;
            // A local address is reached through the loopback device, whichever interface holds it.
            if (a == target.addr) local_target = true;
            // The target must not be a broadcast address of a local network. (Without a broadcast
            // address configured, getifaddrs gives the interface's own address there.)
            if (v4 && (i->ifa_flags & IFF_BROADCAST) && i->ifa_broadaddr && a != target.addr &&
                std::memcmp(&reinterpret_cast<sockaddr_in*>(i->ifa_broadaddr)->sin_addr, target.addr.bytes.data(), 4) == 0) {
                freeifaddrs(ifs);
                throw InputError(target.addr.str() + " is the broadcast address of " + i->ifa_name + ": refusing");
            }
        }
        freeifaddrs(ifs);
    }
    if (local_target) r.iface = "lo";
    if (!iface_opt.empty()) r.iface = iface_opt;
    if (r.iface.empty())
        throw InputError("the route to " + target.addr.str() + " leaves by an interface without the source address " +
                         r.source.str() + "; name one with -i");
    return r;
}

void refuse_special(const IpAddress& a) {
    const auto& b = a.bytes;
    bool unspecified = std::all_of(b.begin(), b.begin() + (a.is_v4() ? 4 : 16), [](uint8_t x) { return x == 0; });
    bool multicast = a.is_v4() ? (b[0] >= 224 && b[0] <= 239) : b[0] == 0xff;
    bool broadcast = a.is_v4() && b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255;
    if (unspecified) throw InputError(a.str() + " is the unspecified address: name a listener's address");
    if (multicast) throw InputError(a.str() + " is a multicast address: the probe only talks to one listener");
    if (broadcast) throw InputError(a.str() + " is a broadcast address: the probe only talks to one listener");
}

// Source ports no local socket uses: a window of `n` ports above the ephemeral range.
uint16_t pick_port_range(const IpAddress& src, int n) {
    const int lo_min = 61000, hi_max = 65535 - n;
    std::mt19937 rng(std::random_device{}());
    for (int attempt = 0; attempt < 20; ++attempt) {
        const int base = lo_min + int(rng() % uint32_t(std::max(1, hi_max - lo_min)));
        bool free = true;
        for (int p = base; p < base + n && free; ++p) {
            int fd = ::socket(src.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM, 0);
            if (fd < 0) break;
            sockaddr_storage ss{};
            socklen_t len;
            if (src.is_v4()) {
                auto* a = reinterpret_cast<sockaddr_in*>(&ss);
                a->sin_family = AF_INET;
                a->sin_port = htons(uint16_t(p));
                len = sizeof *a;
            } else {
                auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
                a->sin6_family = AF_INET6;
                a->sin6_port = htons(uint16_t(p));
                len = sizeof *a;
            }
            if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) free = false;
            ::close(fd);
        }
        if (free) return uint16_t(base);
    }
    throw InputError(fmt::format("no window of {} free source ports above 61000", n));
}

// ---- the prober ------------------------------------------------------------

struct ProbeConn {
    uint16_t sport = 0;
    uint32_t isn = 0;
    uint32_t sent_payload = 0;
    bool sent_fin = false;  // a FIN after the payload (accept-queue step): it takes one sequence number
    int64_t ack_sent_ns = 0;
    bool reset = false;
    bool no_timestamps = false;
    std::optional<uint32_t> synack_tsval;  // the latest SYN-ACK's timestamp, to echo
    const char* step = "";                 // the plan step that opened it
};

class Prober {
public:
    // Every connection is listed with its events (at most 4000: --max-connections), so that the
    // probe can tell its own resets apart (mark_probe_resets); the JSON lists the first 1000.
    explicit Prober(const ProbeOptions& o) : o_(o), engine_(Engine::Options{o.target, true, 4096}) {}
    ~Prober() = default;
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;
    Analysis run();

private:
    // set-up and clean-up
    void setup();
    void cleanup();
    // the loop
    void feed(const Segment& s);
    bool wait_until(int64_t deadline, const std::function<bool()>& done, const std::string& what = {});
    void status(const std::string& what, int64_t deadline);
    // progress: what the plan is expected to take, from the schedule measured so far
    struct Assume {
        double rtt_s = 0.001;     // before the baseline: a round trip under 1 ms
        double initial_s = 1.0;   // the initial SYN-ACK timeout (Linux: 1 s)
        int retries = 5;          // tcp_synack_retries (Linux default 5); -1: until --max-wait
    };
    double step_expected_s(const std::string& step, const Assume& a, int& conns) const;
    // Steps from index `from` on and the clean-up, with `conns` connections opened before.
    double plan_expected_s(size_t from, const Assume& a, int conns) const;
    Assume measured() const;
    void announce();
    void begin_step(size_t i);
    Analysis snapshot(int64_t end = 0);
    // How often the waits look at a snapshot: every 100 ms, or 20 times what one costs (a
    // copy of the engine, finished), so that many probes on a busy machine do not spend it
    // on snapshots.
    int64_t snap_every_ = 100 * kMs;
    // sending
    ProbeConn* new_conn();
    void send(ProbeConn& c, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t payload, bool syn_options);
    // Half-closes an established connection (after its payload). A connection still in
    // the accept queue stays there (CLOSE_WAIT); one the application took gets its own
    // FIN when the application reads the end and closes: proof that it accepts.
    void send_fin(ProbeConn& c);
    void send_syn(ProbeConn& c) { send(c, tcp::SYN, c.isn, 0, 0, true); }
    // RST+ACK for every sequence number the listener may expect; `again` repeats it.
    void send_rst(ProbeConn& c, bool again = false);
    // Every first SYN-ACK so far had window 0: a SYN proxy answers (docs/middleboxes.md).
    bool behind_synproxy() const {
        for (const auto& l : engine_.tracker().listeners())
            if (l.ep == o_.target) return l.synack_win0 > 0 && l.synack_win_open == 0;
        return false;
    }
    void complete(ProbeConn& c);  // final ACK and one byte of data
    const Flow* seen(const ProbeConn& c) const { return engine_.find(client_ep(c), o_.target); }
    Endpoint client_ep(const ProbeConn& c) const { return Endpoint{route_.source, c.sport}; }
    bool answered(const ProbeConn& c) const {
        auto* k = seen(c);
        return k && (k->answered() || k->has(flowbit::refused));
    }
    bool open_request(ProbeConn& c);
    // reset by the probe on purpose before any final ACK: the fate probe-reset
    static bool deliberate_reset(const ProbeConn& c) { return c.reset && c.ack_sent_ns == 0; }  // SYN (with retries) until a SYN-ACK; false if dropped
    int64_t drop_wait() const;
    double initial_rto() const { return initial_rto_.value_or(3.0); }
    // plan steps, and where each began and ended (for the timeline and the pcapng)
    void record_step(const std::string& name);
    void end_step();
    std::vector<ProbeStep> steps_;
    // why the target was silent: ICMP errors about the probe's segments, the neighbour table
    std::vector<IcmpError> icmp_;
    void on_icmp(const IcmpError& e);
    NoAnswer explain_silence() const;
    std::optional<NoAnswer> no_answer_;
    // TTLs (hop limits) of the listener's SYN-ACKs and RSTs: a RST that differs came from elsewhere
    std::vector<uint8_t> synack_ttls_;
    std::optional<std::pair<uint8_t, Endpoint>> odd_rst_;  // TTL and client of a RST that differs
    bool step_baseline();
    void step_syn_queue();
    void step_retries();
    void step_accept_queue();
    void check_split(ProbeConn& silent);

    ProbeOptions o_;
    Plan plan_;
    Route route_;
    Engine engine_;
    std::unique_ptr<LiveCapture> cap_;
    std::unique_ptr<MarkedRawSocket> raw_;
    std::unique_ptr<RstGuard> guard_;
    std::unique_ptr<NeighbourResponder> responder_;  // --source-ip only
    std::unique_ptr<PcapngWriter> writer_;  // packets in memory, the file made at the end
    void describe_capture(const Analysis& a);
    int pcap_fd_ = -1, timeline_fd_ = -1;
    std::vector<std::string> created_;  // output files this probe created (removed if it fails)
    void remove_created() {
        for (const auto& p : created_) ::unlink(p.c_str());  // may fail once privileges are dropped
        created_.clear();
    }
    std::vector<std::unique_ptr<ProbeConn>> conns_;
    uint16_t sport_base_ = 0;
    std::mt19937 rng_{std::random_device{}()};
    int64_t start_ns_ = 0, last_send_ns_ = 0;
    int64_t rtt_ns_ = 0;
    std::optional<double> initial_rto_;
    std::vector<Warning> notes_;
    bool status_shown_ = false;
    const char* step_ = "";  // the plan step running
    int64_t step_end_ns_ = 0;   // when the running step is expected to end
    double rest_s_ = 0;         // what the later steps and the clean-up are expected to take
    std::string status_extra_;  // said after the remaining time
    double expected_s_ = 0;     // announced before sending (from the start of run())
    int64_t run_start_ns_ = 0;
    int64_t last_status_ns_ = 0;
};

int open_output(const std::string& path, std::vector<std::string>& created) {
    if (path.empty()) return -1;
    // Opened before privileges are dropped, written at the end in one piece. Not truncated
    // here: a probe that fails or is killed leaves an existing file as it was.
    struct stat st{};
    const bool existed = ::stat(path.c_str(), &st) == 0;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw InputError(path + ": " + std::strerror(errno));
    if (!existed) created.push_back(path);
    return fd;
}

// Replaces the whole content of the file open at `fd`.
void write_all(int fd, const std::string& path, const char* data, size_t len) {
    if (::ftruncate(fd, 0) != 0) throw InputError(path + ": " + std::strerror(errno));
    while (len > 0) {
        const ssize_t n = ::write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw InputError(path + ": " + std::strerror(errno));
        }
        data += n;
        len -= size_t(n);
    }
}

void Prober::setup() {
    // Caught from the start: a signal during set-up (capture, firewall rule, watchdog)
    // ends the probe through the same path as one while it runs, with its report.
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: poll() returns at once
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    plan_ = load_plan(o_.plan);
    refuse_special(o_.target.addr);
    if (o_.max_connections < 2 || o_.max_connections > 4000)
        throw UsageError("--max-connections must be 2..4000");
    // Written so that NaN fails too.
    if (!(o_.rate_pps >= 1 && o_.rate_pps <= 100000))
        throw UsageError("--rate must be 1..100000 packets per second");
    if (!(o_.max_wait_s > 0 && o_.max_wait_s <= 86400))
        throw UsageError("--max-wait must be more than 0 and at most 86400 seconds");
    route_ = find_route(o_.target, o_.interface);
    std::optional<BorrowedSource> borrowed;
    if (!o_.source_ip.empty()) {
        const auto a = IpAddress::parse(o_.source_ip);
        if (!a) throw UsageError("--source-ip " + o_.source_ip + ": not an IPv4 or IPv6 address");
        borrowed = check_borrowed_source(*a, o_.target.addr, route_.iface);
        route_.source = *a;
    }
    require_probe_capabilities();
    if (borrowed) {
        responder_ = std::make_unique<NeighbourResponder>(*borrowed);
        // Long enough for an owner on the link to answer; nothing is sent from the address before.
        responder_->check_unused(0.5);
    }
    cap_ = std::make_unique<LiveCapture>(route_.iface, o_.target);
    raw_ = std::make_unique<MarkedRawSocket>(o_.target.addr.family, kMark);
    sport_base_ = pick_port_range(route_.source, o_.max_connections);
    try {
        pcap_fd_ = open_output(o_.write_pcap, created_);
        timeline_fd_ = open_output(o_.timeline, created_);
        if (pcap_fd_ >= 0) {
            writer_ = std::make_unique<PcapngWriter>(cap_->linktype(), 256);
            cap_->record_to(writer_.get());
        }
        cap_->on_icmp_error([this](const IcmpError& e) { on_icmp(e); });
        RstFilter f{o_.target.addr, o_.target.port, sport_base_, uint16_t(sport_base_ + o_.max_connections - 1),
                    kMark};
        guard_ = std::make_unique<RstGuard>(f, route_.source, !borrowed);
        drop_privileges(o_.user);
        if (responder_) responder_->start();  // after the drop: the thread holds no capability
    } catch (...) {
        remove_created();  // no empty output file left by a probe that never ran
        throw;
    }
    start_ns_ = now_ns();
}

ProbeConn* Prober::new_conn() {
    if (int(conns_.size()) >= o_.max_connections) return nullptr;
    auto c = std::make_unique<ProbeConn>();
    c->sport = uint16_t(sport_base_ + conns_.size());
    c->isn = uint32_t(rng_());
    c->step = step_;
    conns_.push_back(std::move(c));
    guard_->add_connection(conns_.back()->sport, conns_.back()->isn + 1);
    return conns_.back().get();
}

void Prober::send(ProbeConn& c, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t payload, bool syn_options) {
    // Pace: at most rate_pps packets per second, reading the capture meanwhile.
    // Waits in poll() (a packet ends the wait early), and sleeps the last sub-millisecond: many
    // probes at a low rate each must not spin a CPU.
    const int64_t gap = int64_t(1e9 / o_.rate_pps);
    for (int64_t left; (left = gap - (now_ns() - last_send_ns_)) > 0;) {
        if (left >= kMs) {
            cap_->poll(int(left / kMs), [&](const Segment& s) { feed(s); });
        } else {
            cap_->poll(0, [&](const Segment& s) { feed(s); });
            const timespec ts{0, long(left)};
            ::nanosleep(&ts, nullptr);
        }
    }
    last_send_ns_ = now_ns();

    Tins::TCP t(o_.target.port, c.sport);
    t.flags(flags);
    t.seq(seq);
    t.ack_seq(ack);
    t.window(plan_.tcp.window);
    const uint32_t tsval = uint32_t((now_ns() - start_ns_) / kMs) + 1000;
    if (syn_options) {
        if (plan_.tcp.mss) t.mss(plan_.tcp.mss);
        if (plan_.tcp.sack) t.sack_permitted();
        if (plan_.tcp.timestamps && !c.no_timestamps) t.timestamp(tsval, 0);
        if (plan_.tcp.wscale >= 0) {
            t.add_option(Tins::TCP::option(Tins::TCP::NOP));
            t.winscale(uint8_t(plan_.tcp.wscale));
        }
    } else if (plan_.tcp.timestamps && !(flags & tcp::RST)) {
        if (c.synack_tsval) {
            t.add_option(Tins::TCP::option(Tins::TCP::NOP));
            t.add_option(Tins::TCP::option(Tins::TCP::NOP));
            t.timestamp(tsval, *c.synack_tsval);
        }
    }
    std::vector<uint8_t> bytes;
    if (o_.target.addr.is_v4()) {
        Tins::IP ip(Tins::IPv4Address(o_.target.addr.str()), Tins::IPv4Address(route_.source.str()));
        ip.ttl(64);
        ip.id(uint16_t(rng_()));
        auto pkt = payload ? ip / t / Tins::RawPDU(std::vector<uint8_t>(payload, 'x')) : ip / t;
        bytes = pkt.serialize();
    } else {
        Tins::IPv6 ip(Tins::IPv6Address(o_.target.addr.str()), Tins::IPv6Address(route_.source.str()));
        ip.hop_limit(64);
        auto pkt = payload ? ip / t / Tins::RawPDU(std::vector<uint8_t>(payload, 'x')) : ip / t;
        bytes = pkt.serialize();
    }
    sockaddr_storage ss{};
    socklen_t len;
    if (o_.target.addr.is_v4()) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        std::memcpy(&a->sin_addr, o_.target.addr.bytes.data(), 4);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        std::memcpy(&a->sin6_addr, o_.target.addr.bytes.data(), 16);
        len = sizeof *a;
    }
    if (::sendto(raw_->fd(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0)
        notes_.push_back({"send-failed", fmt::format("sending to {} failed: {}", o_.target.str(), std::strerror(errno))});
}

void Prober::send_rst(ProbeConn& c, bool again) {
    if (c.reset && !again) return;
    c.reset = true;
    auto* k = seen(c);
    if (!k || (!k->answered() && !Flow::seen(k->final_ack))) return;  // no state was created
    // RST with ACK: a deliberate abort, which the analyzer tells from the bare RST a
    // kernel sends for a connection it does not know. Behind a SYN proxy (its SYN-ACKs
    // have window 0) an ACK flag passes the proxy's cookie check and opens a real
    // connection to the listener behind it, which then stays in its queue: a request that
    // was never ACKed gets a bare RST there (the proxy, which keeps no state for it, drops
    // it). A request reset on purpose gets its RST twice: one lost on the way leaves it
    // pending at the listener, where it fills the SYN queue the steps after count (measured
    // once in the 3 %-loss WAN rows: SYN queue 1 for 2).
    const bool isn = k->has(flowbit::server_isn);
    const uint32_t ack = isn ? k->server_isn + 1 : 0;
    const bool bare = !isn || (c.ack_sent_ns == 0 && behind_synproxy());
    const uint8_t flags = bare ? tcp::RST : (tcp::RST | tcp::ACK);
    send(c, flags, c.isn + 1, ack, 0, false);
    if (!again && c.ack_sent_ns == 0) send(c, flags, c.isn + 1, ack, 0, false);
    if (c.sent_payload) send(c, flags, c.isn + 1 + c.sent_payload, ack, 0, false);
    if (c.sent_fin) send(c, flags, c.isn + 2 + c.sent_payload, ack, 0, false);
}

void Prober::send_fin(ProbeConn& c) {
    auto* k = seen(c);
    if (!k || !k->has(flowbit::server_isn) || c.sent_fin) return;
    send(c, tcp::FIN | tcp::ACK, c.isn + 1 + c.sent_payload, k->server_isn + 1, 0, false);
    c.sent_fin = true;
    guard_->add_connection(c.sport, c.isn + 2 + c.sent_payload);
}

void Prober::complete(ProbeConn& c) {
    auto* k = seen(c);
    if (!k || !k->has(flowbit::server_isn)) return;
    const uint32_t ack = k->server_isn + 1;
    c.ack_sent_ns = now_ns();
    send(c, tcp::ACK, c.isn + 1, ack, 0, false);
    send(c, tcp::ACK | tcp::PSH, c.isn + 1, ack, 1, false);
    c.sent_payload = 1;
    // If the probe dies now, the watchdog resets this connection at its new sequence number.
    guard_->add_connection(c.sport, c.isn + 2);
}

int64_t Prober::drop_wait() const {
    // How long a SYN may stay unanswered before it is sent again or called dropped.
    return std::clamp<int64_t>(10 * rtt_ns_ + 20 * kMs, 60 * kMs, kSec);
}

bool Prober::wait_until(int64_t deadline, const std::function<bool()>& done, const std::string& what) {
    for (;;) {
        if (done()) return true;
        const int64_t now = now_ns();
        if (g_stop || now >= deadline) return done();
        const int ms = int(std::clamp<int64_t>((deadline - now) / kMs, 1, 50));
        cap_->poll(ms, [&](const Segment& s) { feed(s); });
        if (!what.empty()) status(what, deadline);
    }
}

void Prober::status(const std::string& what, int64_t deadline) {
    if (o_.quiet || !::isatty(STDERR_FILENO)) return;
    const int64_t now = now_ns();
    if (now - last_status_ns_ < 200 * kMs) return;
    last_status_ns_ = now;
    // The remaining time from the schedule measured so far: the running step's expected end
    // (never past the deadline of this wait, nor before now), then the later steps.
    const int64_t end = std::clamp<int64_t>(step_end_ns_ ? step_end_ns_ : deadline, now, std::max(now, deadline));
    const double left = double(end - now) / 1e9 + rest_s_;
    std::fprintf(stderr, "\r\033[K[%6.1fs] %s; about %.0f s more%s", double(now - start_ns_) / 1e9, what.c_str(),
                 std::ceil(left), status_extra_.c_str());
    status_shown_ = true;
}

void Prober::feed(const Segment& s) {
    engine_.add(s);
    if (s.src == o_.target && s.ttl) {
        if (s.is_synack() && std::find(synack_ttls_.begin(), synack_ttls_.end(), s.ttl) == synack_ttls_.end())
            synack_ttls_.push_back(s.ttl);
        if (s.is_rst() && !odd_rst_ && !synack_ttls_.empty() &&
            std::find(synack_ttls_.begin(), synack_ttls_.end(), s.ttl) == synack_ttls_.end())
            odd_rst_ = std::make_pair(s.ttl, s.dst);
    }
    // The listener's timestamp, echoed in the probe's final ACKs and data.
    if (s.src == o_.target && s.is_synack() && s.opt.has_ts && s.dst.addr == route_.source && s.dst.port >= sport_base_ &&
        size_t(s.dst.port - sport_base_) < conns_.size())
        conns_[s.dst.port - sport_base_]->synack_tsval = s.opt.ts_val;
}

Analysis Prober::snapshot(int64_t end) {
    const int64_t t0 = now_ns();
    Analysis a = engine_.snapshot(cap_->info(), end ? end : t0);
    snap_every_ = std::max<int64_t>(100 * kMs, 20 * (now_ns() - t0));
    return a;
}

bool Prober::open_request(ProbeConn& c) {
    for (int i = 0; i < plan_.syn_tries && !g_stop; ++i) {
        send_syn(c);
        if (wait_until(now_ns() + drop_wait(), [&] { return answered(c); })) return true;
    }
    return answered(c);
}

void Prober::on_icmp(const IcmpError& e) {
    // Only errors about the probe's own segments to the target.
    if (e.quoted_src.addr != route_.source || e.quoted_dst != o_.target || e.quoted_src.port < sport_base_ ||
        e.quoted_src.port >= sport_base_ + o_.max_connections)
        return;
    if (icmp_.size() < 1000) icmp_.push_back(e);
}

// What the kernel and the network said about the silence: an ICMP error about the probe's
// segments (which, from whom), else the neighbour entry of the next hop, else nothing.
NoAnswer Prober::explain_silence() const {
    NoAnswer n;
    if (!icmp_.empty()) {
        const IcmpError& e = icmp_.back();
        n.from = e.from;
        n.icmp_type = e.type;
        n.icmp_code = e.code;
        const bool v6 = e.v6();
        std::string what;
        if ((!v6 && e.type == 11) || (v6 && e.type == 3)) {
            n.cause = "ttl-exceeded", what = "time exceeded in transit (a routing loop?)";
        } else if (!v6) {
            switch (e.code) {
                case 0: case 6: n.cause = "no-route", what = "network unreachable"; break;
                case 1: case 7: n.cause = "host-unreachable", what = "host unreachable"; break;
                case 3: n.cause = "port-unreachable", what = "port unreachable"; break;
                case 9: case 10: case 13: n.cause = "admin-prohibited", what = "communication administratively prohibited"; break;
                default: n.cause = "unreachable", what = "destination unreachable"; break;
            }
        } else {
            switch (e.code) {
                case 0: n.cause = "no-route", what = "no route to destination"; break;
                case 3: n.cause = "host-unreachable", what = "address unreachable"; break;
                case 4: n.cause = "port-unreachable", what = "port unreachable"; break;
                case 1: case 5: case 6: n.cause = "admin-prohibited", what = "communication administratively prohibited"; break;
                default: n.cause = "unreachable", what = "destination unreachable"; break;
            }
        }
        n.message = fmt::format("{} (ICMP{} type {} code {} from {}{})", what, v6 ? "v6" : "", e.type, e.code,
                                e.from.str(), e.from == o_.target.addr ? ", the target itself" : "");
        return n;
    }
    if (route_.iface != "lo") {
        if (auto hop = route_next_hop(o_.target.addr)) {
            if (auto st = neighbour_state(hop->addr, hop->ifindex); st && nud_unresolved(*st)) {
                n.cause = "not-resolved";
                n.from = hop->addr;
                n.message = fmt::format("address not resolved on the link: the neighbour entry of {}{} on {} is {} "
                                        "(nothing answered ARP / neighbour discovery)",
                                        hop->via_gateway ? "the gateway " : "", hop->addr.str(), route_.iface,
                                        nud_state_name(*st));
                return n;
            }
        }
    }
    n.cause = "silence";
    n.message = "plain silence, no ICMP error and the address resolved: filtered (dropped), down, or the accept queue "
                "is already full";
    return n;
}

// baseline: is anybody there, and how far away?
bool Prober::step_baseline() {
    ProbeConn* c = new_conn();
    if (!c) return false;
    const int64_t t0 = now_ns();
    for (int i = 0; i < 3 && !g_stop && !answered(*c); ++i) {
        send_syn(*c);
        wait_until(now_ns() + (i == 0 ? kSec : 2 * kSec), [&] { return answered(*c); }, "baseline: waiting for an answer to the SYN");
    }
    auto* k = seen(*c);
    if (!answered(*c)) {
        no_answer_ = explain_silence();
        notes_.push_back({"no-answer", fmt::format("no answer to 3 SYNs in {:.1f} s: {}", double(now_ns() - t0) / 1e9,
                                                   no_answer_->message)});
        return false;
    }
    if (k->has(flowbit::refused)) return false;  // closed: nothing more to learn
    rtt_ns_ = k->rtt_ns().value_or(k->at(k->synack) - k->t0_ns);
    send_rst(*c);
    return true;
}

// syn-queue: a burst of half-open SYNs; which requests are stateful, cookies, dropped.
void Prober::step_syn_queue() {
    std::vector<ProbeConn*> burst;
    const int reserve = plan_.retries_requests + 8;
    const int n = std::min(plan_.syn_burst, o_.max_connections - int(conns_.size()) - reserve);
    if (n < 2) {
        notes_.push_back({"budget", "the connection budget leaves no room for the SYN burst"});
        return;
    }
    // The first SYN offers window scale and SACK without timestamps: a syncookie answer
    // cannot carry them (the rest, with timestamps, show the listener honours them).
    for (int i = 0; i < n && !g_stop; ++i) {
        ProbeConn* c = new_conn();
        c->no_timestamps = i == 0;
        send_syn(*c);
        burst.push_back(c);
    }
    // A SYN lost on the way looks like a dropped one: send unanswered SYNs once more.
    wait_until(now_ns() + drop_wait(), [] { return false; });
    for (auto* c : burst)
        if (!answered(*c)) send_syn(*c);
    auto resolved = [&](Analysis& a) {
        for (auto* c : burst) {
            auto* k = seen(*c);
            if (!k) continue;  // no answer to either SYN: dropped (decided by the analyzer)
            if (!k->answered() || k->has(flowbit::refused)) continue;
            if (k->timer_rtx > 0) continue;
            if (!a.listeners.empty())
                if (auto* rc = a.listeners[0].find(client_ep(*c)); rc && rc->cookie) continue;
            // Unproven either way: wait until its second retransmission is overdue (the analyzer
            // calls a SYN-ACK a cookie only when two due retransmissions did not come).
            const double I = initial_rto();
            const int64_t due = k->at(k->synack) + int64_t((3 * I + overdue_margin(I) + overdue_margin(2 * I)) * 1e9);
            if (now_ns() >= due && initial_rto_) continue;
            return false;
        }
        return true;
    };
    const double I0 = initial_rto();
    const int64_t deadline = now_ns() + int64_t((3 * I0 + overdue_margin(I0) + overdue_margin(2 * I0) + 0.5) * 1e9);
    int64_t next_check = 0;
    wait_until(deadline, [&] {
        if (now_ns() < next_check) return false;
        next_check = now_ns() + snap_every_;
        Analysis a = snapshot();
        if (!a.listeners.empty() && a.listeners[0].initial_rto_s) initial_rto_ = a.listeners[0].initial_rto_s;
        return resolved(a);
    }, "syn-queue: waiting for SYN-ACK retransmissions (stateful) or their absence (syncookies)");
    for (auto* c : burst) send_rst(*c);
    wait_until(now_ns() + drop_wait(), [] { return false; });
}

// retries: a few half-open requests left alone until their retransmissions stop.
void Prober::step_retries() {
    std::vector<ProbeConn*> reqs;
    for (int i = 0; i < plan_.retries_requests; ++i) {
        ProbeConn* c = new_conn();
        if (!c) break;
        send_syn(*c);
        reqs.push_back(c);
    }
    if (reqs.empty()) return;
    const int64_t deadline = now_ns() + int64_t(o_.max_wait_s * 1e9);
    int64_t next_check = 0;
    std::string what = "retries: waiting for SYN-ACK retransmissions";
    wait_until(deadline, [&] {
        if (now_ns() < next_check) return false;
        next_check = now_ns() + snap_every_;
        Analysis a = snapshot();
        if (a.listeners.empty()) return false;
        const auto& v = a.listeners[0];
        if (v.initial_rto_s) initial_rto_ = v.initial_rto_s;
        if (v.retries) return true;
        // Done as well when every request is settled: its next retransmission is overdue,
        // or something ended it, or its SYN was never answered.
        bool all_settled = true;
        int most = 0;
        const int64_t now = now_ns();
        for (auto* c : reqs) {
            auto* k = seen(*c);
            if (!k) { all_settled = false; continue; }
            most = std::max(most, int(k->timer_rtx));
            if (k->has(flowbit::refused)) continue;
            if (!k->answered()) {
                if (now - k->t0_ns < 3 * kSec) all_settled = false;
                continue;
            }
            const auto dl = rtx_deadline(*k, initial_rto());
            if (dl && now < *dl && !request_cut(*k, *dl)) all_settled = false;
        }
        what = fmt::format("retries: {} SYN-ACK retransmission(s) so far, waiting for the next or its absence", most);
        // The end if no request retransmits again, and if the listener retries as Linux does by
        // default (5), from the schedule measured: gaps doubling from the initial timeout.
        int64_t end_last = 0, end_default = 0;
        const double I = initial_rto();
        const int R = std::max(5, most);
        for (auto* c : reqs) {
            auto* k = seen(*c);
            if (!k || !k->answered()) continue;
            if (const auto dl = rtx_deadline(*k, I)) end_last = std::max(end_last, *dl);
            double t = 0;
            for (int g = 0; g <= R; ++g) t += nominal_gap(I, size_t(g));
            t += overdue_margin(nominal_gap(I, size_t(R)));
            end_default = std::max(end_default, k->at(k->synack) + int64_t(t * 1e9));
        }
        if (end_default) {
            step_end_ns_ = std::min(deadline, std::max(end_default, end_last));
            status_extra_ = end_last && end_last < step_end_ns_
                                ? fmt::format(" (if the listener retries {} times; {:.0f} s if that was the last)", R,
                                              std::ceil(std::max(0.0, double(end_last - now) / 1e9) + rest_s_))
                                : "";
        }
        return all_settled;
    }, what);
    status_extra_.clear();
    if (now_ns() >= deadline)
        notes_.push_back({"max-wait", fmt::format("stopped waiting for SYN-ACK retransmissions after {:.0f} s "
                                                  "(--max-wait)", o_.max_wait_s)});
    for (auto* c : reqs) send_rst(*c);
}

// accept-queue: fill one proven connection at a time, keeping one request pending
// that was admitted while there was room; when a SYN is dropped the queue is full,
// and the pending request's final ACK shows the overflow policy.
void Prober::step_accept_queue() {
    ProbeConn* pending = new_conn();
    if (!pending || !open_request(*pending)) {
        notes_.push_back({"accept-queue-no-room", "the first SYN of the accept-queue step was not answered: the "
                                                  "queue was already full (or the port stopped answering)"});
        return;
    }
    auto established = [&](ProbeConn* c) {
        auto* k = seen(*c);
        return k && Flow::seen(k->est_proof);
    };
    auto finish_pending = [&](ProbeConn* c, int64_t deadline) {
        complete(*c);
        for (int i = 0; i < 3 && !g_stop; ++i) {
            if (wait_until(std::min(deadline, now_ns() + drop_wait()), [&] { return established(c); })) return true;
            auto* k = seen(*c);
            if (Flow::seen(k->server_rst)) return false;
            if (i < 2) send(*c, tcp::ACK | tcp::PSH, c->isn + 1, k->server_isn + 1, 1, false);
        }
        return established(c);
    };
    // An application that keeps up empties the queue as fast as the probe fills it: each
    // established connection is half-closed, and once the application has answered
    // kAppKeepsUp of them with data or its own FIN (it accepted and read them) the step
    // stops instead of spending the whole budget on a queue that never fills.
    constexpr int kAppKeepsUp = 3;
    // With syncookies on overflow and the SYN queue's count S measured, one Linux socket
    // holds S or S + 1 established connections: far more held means something accepts
    // without a word on the wire (a proxy such as haproxy in front of a stalled backend),
    // and filling on would only spend the budget. Twice S and two more leaves room for a
    // few sockets behind the port (SO_REUSEPORT, where S is their sum).
    size_t most = std::numeric_limits<size_t>::max();
    int syn_queue = 0;
    {
        Analysis a = snapshot();
        if (!a.listeners.empty() && a.listeners[0].syncookies == CookieMode::on_overflow &&
            a.listeners[0].syn_queue_capacity) {
            syn_queue = *a.listeners[0].syn_queue_capacity;
            most = size_t(2 * syn_queue + 2);
        }
    }
    std::vector<ProbeConn*> filled;
    auto accepted = [&] {
        int n = 0;
        for (auto* c : filled)
            if (auto* k = seen(*c); k && Flow::seen(k->app_proof)) ++n;
        return n;
    };
    // `pending` is in the queue: half-close it and count it.
    auto established_one = [&](ProbeConn* c) {
        send_fin(*c);
        filled.push_back(c);
    };
    // There was room for `next`, so `pending` fits too: establish it, go on with `next`.
    auto advance = [&](ProbeConn* next) {
        if (!finish_pending(pending, now_ns() + 3 * drop_wait())) {
            notes_.push_back({"accept-queue-unexpected", "a request admitted while the queue had room was not "
                                                         "established by its final ACK"});
            return false;
        }
        established_one(pending);
        pending = next;
        return true;
    };
    while (!g_stop) {
        if (const int n = accepted(); n >= kAppKeepsUp) {
            notes_.push_back({"accept-queue-app-accepts",
                              fmt::format("the application accepted {} of the {} connections the probe established "
                                          "(it answered their FIN with data or its own FIN): it keeps up, so the "
                                          "accept queue does not fill; stopped filling",
                                          n, filled.size())});
            break;
        }
        if (filled.size() >= most) {
            notes_.push_back({"accept-queue-past-syn-queue",
                              fmt::format("{} connections held, while the SYN queue's {} stateful requests before "
                                          "syncookies say one socket holds {} or {}: something accepts without "
                                          "sending anything (a proxy in front, an application that reads nothing); "
                                          "stopped filling",
                                          filled.size(), syn_queue, syn_queue, syn_queue + 1)});
            break;
        }
        ProbeConn* next = new_conn();
        if (!next) {
            notes_.push_back({"budget", fmt::format("connection budget ({}) reached after {} queued connections",
                                                    o_.max_connections, filled.size())});
            break;
        }
        // One SYN of `next`, and the wait for its answer.
        auto try_next = [&] {
            send_syn(*next);
            return wait_until(now_ns() + drop_wait(), [&] { return answered(*next); });
        };
        // `next`'s first SYN: answered, there is room.
        if (try_next()) {
            if (seen(*next)->has(flowbit::refused) || !advance(next)) break;
            continue;
        }
        // No answer to `next`: the queue is full (or the SYN queue is, or the SYN was lost).
        // `next`'s SYN is retried (a drop is proven by a retransmitted SYN meeting silence),
        // then the queue is overflowed with the pending request, admitted while there was
        // room, and what its final ACK meets shows the policy. The ACK must come before the
        // pending request's second SYN-ACK retransmission is due (Linux sends at least two:
        // tcp_synack_retries >= 2 but for a tuned host), or nothing after it can tell a dropped
        // ACK from a taken one; over a long round trip the SYN tries would take longer, so the
        // ACK then goes first and the remaining tries follow it.
        // (Flow pointers are looked up again after sending: the engine's pool may grow.)
        const Flow* k = seen(*pending);
        const double I = initial_rto();
        const int64_t ack_by = k->answered() ? k->at(k->synack) + int64_t((3 * I - 0.25) * 1e9) : now_ns();
        int tries = 1;
        for (; tries < plan_.syn_tries && !g_stop && !answered(*next) && now_ns() + drop_wait() <= ack_by; ++tries)
            try_next();
        k = seen(*pending);
        const int n = k->timer_rtx;
        const double gap = nominal_gap(I, size_t(n));
        const int64_t last = k->answered() ? k->at(k->synack_last) : now_ns();
        const unsigned synacks_before = k->synack_count;
        if (!answered(*next)) complete(*pending);
        const int64_t ack_at = now_ns();
        const int64_t deadline = std::max(ack_at, last + int64_t((gap + overdue_margin(gap)) * 1e9)) + 3 * drop_wait();
        for (; tries < plan_.syn_tries && !g_stop && !answered(*next); ++tries) try_next();
        if (answered(*next) && !seen(*next)->has(flowbit::refused)) {
            // A SYN of `next` was lost, not dropped: there is room, so `pending` is being
            // established by the ACK just sent.
            if (!advance(next)) break;
            continue;
        }
        if (answered(*next)) break;  // refused
        wait_until(deadline, [&] {
            const Flow* kk = seen(*pending);
            return Flow::seen(kk->server_rst) || Flow::seen(kk->est_proof) ||
                   (kk->synack_count > synacks_before && kk->at(kk->synack_last) > ack_at);
        }, "accept-queue: final ACK sent to a full queue; waiting for RST, a SYN-ACK retransmission, or its absence");
        if (established(pending)) {
            // There was room after all (the drop was the SYN queue's): go on filling.
            established_one(pending);
            pending = new_conn();
            if (!pending) break;
            if (!open_request(*pending)) {
                check_split(*pending);  // its queue is full although `pending`'s had room
                break;
            }
            continue;
        }
        check_split(*next);
        break;
    }
}

// The queue was found full (`silent`'s SYNs met silence, a final ACK met it full). SYNs
// from up to three fresh source ports, one at a time: one answered means some queue has
// room although `silent`'s does not; an application that accepted in between would have
// made room for `silent` too, so `silent`'s SYN is sent twice more right after the answer.
// Both silent, with no handshake completed since the answered SYN, is what one accept
// queue cannot do (Linux 4.10+ answers a SYN only with room, and only completions fill
// it): several sockets share the port (SO_REUSEPORT). The analyzer draws that from the
// capture (src/tracker/tracker.cpp after_room, warning reuseport-group); the fresh
// requests are reset at once.
void Prober::check_split(ProbeConn& silent) {
    for (int i = 0; i < 3 && !g_stop; ++i) {
        ProbeConn* f = new_conn();
        if (!f) return;
        const int64_t sent = now_ns();
        send_syn(*f);
        if (!wait_until(now_ns() + drop_wait(), [&] { return answered(*f); })) continue;
        if (seen(*f)->has(flowbit::refused)) return;
        // More than two round trips after the answered SYN, as the analyzer's rule asks.
        const int64_t m = 2 * rtt_ns_ + 3 * kMs;
        wait_until(sent + m, [] { return false; });
        for (int k = 0; k < 2 && !g_stop && !answered(silent); ++k) {
            send_syn(silent);
            wait_until(now_ns() + drop_wait(), [&] { return answered(silent); });
        }
        send_rst(*f);
        return;
    }
}

void Prober::cleanup() {
    for (auto& c : conns_) send_rst(*c);
    // A RST is never answered, so its loss cannot be seen: every connection that may hold
    // state at the listener gets two more, a few round trips apart, so one RST lost on the
    // way does not leave an established connection behind (measured: 3 % loss did).
    for (int round = 0; round < 2 && cap_; ++round) {
        wait_until(now_ns() + drop_wait() / 2, [] { return false; }, "clean-up: resetting every connection");
        for (auto& c : conns_) send_rst(*c, true);
    }
    // Let the last answers arrive into the capture.
    if (cap_) wait_until(now_ns() + drop_wait(), [] { return false; });
    if (guard_) guard_->release();
}

// ---- progress ---------------------------------------------------------------
// What each step waits for, in the words of the step code above: the same deadlines,
// timeouts and pacing, for a listener that answers with the round trip and initial
// SYN-ACK timeout of `a`. Not a bound on a listener that behaves otherwise (a longer
// round trip, more retries): the status line then follows what was measured.

namespace {
double drop_wait_s(double rtt_s) { return std::clamp(10 * rtt_s + 0.02, 0.06, 1.0); }
}  // namespace

double Prober::step_expected_s(const std::string& step, const Assume& a, int& conns) const {
    const double dw = drop_wait_s(a.rtt_s), pkt = 1.0 / o_.rate_pps, I = a.initial_s;
    if (step == "baseline") {
        conns += 1;
        return a.rtt_s + 2 * pkt + 0.05;
    }
    if (step == "syn-queue") {
        const int n = std::min(plan_.syn_burst, o_.max_connections - conns - (plan_.retries_requests + 8));
        if (n < 2) return 0;
        conns += n;
        // the burst, its repeat and its RSTs; until a cookie's second retransmission is overdue
        return 3 * n * pkt + 2 * dw + 3 * I + overdue_margin(I) + overdue_margin(2 * I) + 0.1 + a.rtt_s;
    }
    if (step == "retries") {
        const int n = std::min(plan_.retries_requests, o_.max_connections - conns);
        if (n < 1) return 0;
        conns += n;
        if (a.retries < 0) return o_.max_wait_s + 2 * n * pkt;
        // the last retransmission, then the next one overdue
        double t = 0;
        for (int g = 0; g <= a.retries; ++g) t += nominal_gap(I, size_t(g));
        return std::min(o_.max_wait_s, t + overdue_margin(nominal_gap(I, size_t(a.retries))) + 0.1) + 2 * n * pkt +
               a.rtt_s;
    }
    if (step == "accept-queue") {
        // Filling: at most the rest of the budget, a SYN, the final ACK and a byte each, a
        // round trip for each answer; then the dropped SYN (syn_tries waits) and the wait for
        // what the final ACK to the full queue meets.
        const int n = std::max(0, o_.max_connections - conns);
        conns += n;
        // (and the fresh ports of check_split)
        return n * (3 * pkt + 2 * a.rtt_s) + plan_.syn_tries * dw + I + overdue_margin(I) + 6 * dw;
    }
    return 0;
}

double Prober::plan_expected_s(size_t from, const Assume& a, int conns) const {
    double t = 0;
    for (size_t i = from; i < plan_.steps.size(); ++i) t += step_expected_s(plan_.steps[i], a, conns);
    // clean-up: a RST (two after data) to each connection, three times, and the waits between
    const double dw = drop_wait_s(a.rtt_s);
    return t + 3 * 2 * conns / o_.rate_pps + 2 * dw;
}

Prober::Assume Prober::measured() const {
    Assume a;
    if (rtt_ns_ > 0) a.rtt_s = double(rtt_ns_) / 1e9;
    if (initial_rto_) a.initial_s = *initial_rto_;
    return a;
}

void Prober::announce() {
    const double setup_s = double(now_ns() - run_start_ns_) / 1e9;
    const double about = plan_expected_s(0, Assume{}, 0);
    // the same with an old stack's 3 s initial timeout, and the retries step until --max-wait
    double most = plan_expected_s(0, Assume{0.001, 3.0, -1}, 0);
    const bool waits = std::find(plan_.steps.begin(), plan_.steps.end(), "retries") != plan_.steps.end();
    // from the start of run() to the report: set-up so far and a little for the report
    expected_s_ = setup_s + about + 0.2;
    if (o_.quiet) return;
    std::string steps;
    for (const auto& s : plan_.steps) steps += (steps.empty() ? "" : ", ") + s;
    // (the timers matter only to the steps after the baseline)
    const bool timers = std::ceil(most) > std::ceil(about);
    std::string line = fmt::format("listenprobe: probing {} with plan {} ({}): about {:.0f} s (a round trip under 1 ms",
                                   o_.target.str(), plan_.name, steps, std::ceil(about));
    if (timers)
        line += fmt::format(", a 1 s initial SYN-ACK timeout{}), up to {:.0f} s (3 s initial timeout{})",
                            waits ? ", tcp_synack_retries=5 as Linux by default" : "", std::ceil(most),
                            waits ? fmt::format(", --max-wait {:g}", o_.max_wait_s) : "");
    else
        line += ")";
    std::fprintf(stderr, "%s\n", line.c_str());
}

void Prober::begin_step(size_t i) {
    step_ = plan_.steps[i].c_str();
    const Assume a = measured();
    int conns = int(conns_.size());
    const double here = step_expected_s(plan_.steps[i], a, conns);
    step_end_ns_ = now_ns() + int64_t(here * 1e9);
    rest_s_ = plan_expected_s(i + 1, a, conns);
    status_extra_.clear();
    record_step(plan_.steps[i]);
}

// What the -w file says about itself (tshark -V, capinfos): the interface, the system, the
// command, the plan, each step's times and the verdicts.
void Prober::describe_capture(const Analysis& a) {
    utsname u{};
    auto& sec = writer_->section;
    if (::uname(&u) == 0) {
        sec.os = fmt::format("{} {} {}", u.sysname, u.release, u.version);
        sec.hardware = u.machine;
    }
    sec.userappl = o_.version.empty() ? std::string("listenprobe") : o_.version;
    auto& ifc = writer_->interface;
    ifc.name = route_.iface;
    ifc.description = fmt::format("listenprobe probe capture on {}: {} to and from {}", route_.iface,
                                  route_.source.str(), o_.target.str());
    ifc.filter = cap_->filter();

    sec.comments.push_back(fmt::format("listenprobe probe {} from {} on {}{}{}", o_.target.str(), route_.source.str(),
                                       route_.iface, o_.command_line.empty() ? "" : "; command: ", o_.command_line));
    std::string plan = fmt::format("plan {}:", plan_.name);
    for (size_t i = 0; i < plan_.steps.size(); ++i) plan += (i ? ", " : " ") + plan_.steps[i];
    plan += fmt::format("; syn_tries {}, syn-queue burst {}, retries requests {}; --max-connections {}, --rate {}, "
                        "--max-wait {}", plan_.syn_tries, plan_.syn_burst, plan_.retries_requests, o_.max_connections,
                        o_.rate_pps, o_.max_wait_s);
    sec.comments.push_back(plan);
    // Exact step times, which a replay of this file reads back for its timeline.
    if (!steps_.empty()) {
        std::string st = "listenprobe steps (start-end, ns since the epoch):";
        for (const ProbeStep& p : steps_) st += fmt::format(" {} {}-{}", p.name, p.start_ns, p.end_ns);
        sec.comments.push_back(st);
    }
    // Which requests the probe reset on purpose, so that a replay of the file gives them the
    // live report's fate (probe-reset).
    ProbeResets pr{route_.source, {}};
    for (const auto& c : conns_)
        if (deliberate_reset(*c)) pr.ports.emplace_back(c->sport, c->step);
    if (!pr.ports.empty()) sec.comments.push_back(format_probe_resets_comment(pr));
    const ListenerVerdict& v = a.listeners.front();
    std::string verdicts = "verdicts:";
    bool first = true;
    for (const auto& [label, value] : timeline_detail::verdict_rows(v)) {
        verdicts += fmt::format("{} {} {}", first ? "" : ";", label, value);
        first = false;
    }
    if (!v.warnings.empty()) {
        verdicts += "; warnings:";
        for (const Warning& w : v.warnings) verdicts += " " + w.code;
    }
    sec.comments.push_back(verdicts);
}

void Prober::record_step(const std::string& name) {
    end_step();
    steps_.push_back(ProbeStep{name, now_ns(), 0});
    if (writer_) writer_->comment_next("listenprobe step " + name);
}

void Prober::end_step() {
    if (!steps_.empty() && steps_.back().end_ns == 0) steps_.back().end_ns = now_ns();
}

Analysis Prober::run() {
    run_start_ns_ = now_ns();
    setup();
    announce();
    try {
        bool go_on = true;
        for (size_t i = 0; i < plan_.steps.size(); ++i) {
            const std::string& step = plan_.steps[i];
            if (g_stop || !go_on) break;
            begin_step(i);
            if (step == "baseline") go_on = step_baseline();
            else if (step == "syn-queue") step_syn_queue();
            else if (step == "retries") step_retries();
            else if (step == "accept-queue") step_accept_queue();
        }
    } catch (...) {
        cleanup();
        remove_created();
        throw;
    }
    record_step("cleanup");
    if (g_stop) {
        const char* sig = g_stop == SIGINT ? "SIGINT" : g_stop == SIGTERM ? "SIGTERM" : g_stop == SIGHUP ? "SIGHUP" : "a signal";
        notes_.push_back({"interrupted", fmt::format("interrupted by {}: the verdicts cover what was probed until then", sig)});
    }
    step_ = "clean-up";
    step_end_ns_ = now_ns() + int64_t(plan_expected_s(plan_.steps.size(), measured(), int(conns_.size())) * 1e9);
    rest_s_ = 0;
    cleanup();
    if (status_shown_) std::fprintf(stderr, "\r\033[K");
    const int64_t end = now_ns();
    if (!steps_.empty()) steps_.back().end_ns = end;
    Analysis a = snapshot(end);
    a.source.kind = "live";
    a.source.path = route_.iface;
    RunInfo::Plan rp;
    rp.name = plan_.name;
    rp.path = plan_.path;
    rp.description = plan_.description;
    rp.steps = plan_.steps;
    rp.syn_tries = plan_.syn_tries;
    rp.syn_burst = plan_.syn_burst;
    rp.retries_requests = plan_.retries_requests;
    rp.mss = plan_.tcp.mss;
    rp.sack = plan_.tcp.sack;
    rp.timestamps = plan_.tcp.timestamps;
    rp.wscale = plan_.tcp.wscale;
    rp.window = plan_.tcp.window;
    a.run.plan = std::move(rp);
    a.run.probe = RunInfo::ProbeOptions{route_.iface, o_.max_connections, o_.rate_pps, o_.max_wait_s,
                                        o_.user,      o_.write_pcap,      o_.quiet,      o_.source_ip};
    a.run.expected_duration_s = expected_s_;
    a.source.steps = steps_;
    if (a.listeners.empty()) {
        ListenerVerdict v;
        v.listener = o_.target;
        a.listeners.push_back(std::move(v));
    }
    for (auto& w : notes_) a.listeners[0].warnings.push_back(w);
    // Requests the probe reset on purpose before any final ACK: not half-open connections of the listener.
    mark_probe_resets(a.listeners[0], [&](const Endpoint& client) -> const char* {
        if (client.addr != route_.source || client.port < sport_base_) return nullptr;
        const size_t i = size_t(client.port - sport_base_);
        if (i >= conns_.size()) return nullptr;
        const ProbeConn& c = *conns_[i];
        return deliberate_reset(c) ? c.step : nullptr;
    }, a.t0_ns);
    if (no_answer_ && a.listeners[0].port_state == PortState::no_answer) a.listeners[0].no_answer = no_answer_;
    if (odd_rst_) {
        std::string ttls;
        for (uint8_t t : synack_ttls_) ttls += (ttls.empty() ? "" : "/") + std::to_string(t);
        a.listeners[0].warnings.push_back(
            {"rst-ttl-mismatch", fmt::format("a RST to {} came with {} {} while the listener's SYN-ACKs came with {}: "
                                             "something between the prober and the listener (a firewall, a load "
                                             "balancer) may have sent it", odd_rst_->second.str(),
                                             o_.target.addr.is_v4() ? "TTL" : "hop limit", odd_rst_->first, ttls)});
    }

    if (writer_) {
        describe_capture(a);
        const std::string file = writer_->finish(end);
        cap_->record_to(nullptr);
        writer_.reset();
        write_all(pcap_fd_, o_.write_pcap, file.data(), file.size());
        ::close(pcap_fd_);
    }
    if (timeline_fd_ >= 0) {
        std::string svg;
        const std::string& t = o_.timeline;
        if (t.ends_with(".svg")) svg = render_timeline_svg(a, a.listeners[0]);
        else if (t.ends_with(".txt")) svg = render_timeline_text(a, a.listeners[0]);
        else svg = nlohmann::json{{"schema", kJsonSchema}, {"listener", a.listeners[0].listener.str()},
                                  {"connections", connections_json(a, a.listeners[0])}}.dump(2) + "\n";
        write_all(timeline_fd_, t, svg.data(), svg.size());
        ::close(timeline_fd_);
    }
    return a;
}

}  // namespace

int probe_stop_signal() { return g_stop; }

Analysis run_probe(const ProbeOptions& o) {
    Prober p(o);
    return p.run();
}

}  // namespace lp
