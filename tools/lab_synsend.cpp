// lab_synsend: sends hand-made TCP SYNs (IPv4 or IPv6) from the lab's client
// namespace, to make half-open requests and SYN bursts against a real listener.
//
// One SYN per source port sport-base .. sport-base+count-1. The local kernel
// knows none of these connections and would answer the listener's SYN-ACKs with
// RST, so an nftables table in this namespace drops those RSTs while the tool
// runs (removed at exit). With --ack-after-synack the tool completes the
// handshakes as a group: once every SYN got its SYN-ACK (or --ack-delay ms
// passed) it sends all final ACKs, then answers each retransmitted SYN-ACK with
// an ACK again, as an established client would. With --sequential it makes one
// handshake at a time instead, as a scapy-style script would: SYN, wait for the
// SYN-ACK (retransmitting the SYN after --syn-timeout, --syn-retries times), ACK
// it, then the next source port. Lines on stdout tell what happened; a summary
// per source port ends the output.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tins/tins.h>
#include <vector>

#include "segments/segment.hpp"

namespace lp {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string src, dst;
    uint16_t dport = 0;
    int count = 1;
    uint16_t sport_base = 20000;
    bool ack_after_synack = false;
    bool sequential = false;
    double syn_timeout_ms = 1000;
    int syn_retries = 2;
    bool data = false;
    bool no_ts = false;
    bool no_firewall = false;
    double interval_ms = 0;
    double ack_delay_ms = 500;
    double wait_s = 2;
    uint16_t mss = 1460;
    int wscale = 7;
};

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

// The nftables table that keeps the local kernel's RSTs for our ports off the wire.
class RstFilter {
public:
    RstFilter(const IpAddress& dst, uint16_t dport, uint16_t sport_lo, uint16_t sport_hi)
        : table_("lp_synsend_" + std::to_string(getpid())), ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
        if (!ctx_) throw std::runtime_error("nft_ctx_new failed");
        nft_ctx_buffer_output(ctx_);
        nft_ctx_buffer_error(ctx_);
        const std::string fam = dst.is_v4() ? "ip" : "ip6";
        const std::string cmds =
            "add table inet " + table_ + "\n" +
            "add chain inet " + table_ + " out { type filter hook output priority 0; policy accept; }\n" +
            "add rule inet " + table_ + " out " + fam + " daddr " + dst.str() + " tcp dport " +
            std::to_string(dport) + " tcp sport " + std::to_string(sport_lo) + "-" +
            std::to_string(sport_hi) + " tcp flags & rst == rst counter drop\n";
        run(cmds);
        installed_ = true;
    }
    RstFilter(const RstFilter&) = delete;
    RstFilter& operator=(const RstFilter&) = delete;
    ~RstFilter() {
        if (installed_) {
            try {
                run("delete table inet " + table_ + "\n");
            } catch (const std::exception& e) {
                std::fprintf(stderr, "lab_synsend: %s\n", e.what());
            }
        }
        nft_ctx_free(ctx_);
    }
    // How many RSTs the rule dropped so far.
    long dropped() {
        try {
            run("list table inet " + table_ + "\n");
        } catch (const std::exception&) {
            return -1;
        }
        std::string out = nft_ctx_get_output_buffer(ctx_);
        std::smatch m;
        if (std::regex_search(out, m, std::regex("counter packets ([0-9]+)"))) return std::stol(m[1]);
        return -1;
    }

private:
    void run(const std::string& cmds) {
        if (nft_run_cmd_from_buffer(ctx_, cmds.c_str()) != 0)
            throw std::runtime_error("nftables: " + std::string(nft_ctx_get_error_buffer(ctx_)));
    }
    std::string table_;
    nft_ctx* ctx_;
    bool installed_ = false;
};

struct Conn {
    uint16_t sport = 0;
    uint32_t isn = 0;
    uint32_t snd_nxt = 0;
    std::optional<uint32_t> peer_isn;
    uint32_t peer_tsval = 0;
    int synacks = 0;
    int acks_sent = 0;
    int rsts = 0;
    bool acked = false;
};

class Sender {
public:
    Sender(const Options& o, IpAddress src, IpAddress dst)
        : o_(o), src_(src), dst_(dst), v4_(src.is_v4()), rng_(std::random_device{}()) {
        const int fam = v4_ ? AF_INET : AF_INET6;
        tx_ = socket(fam, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
        if (tx_ < 0) throw std::system_error(errno, std::generic_category(), "raw socket (IPPROTO_RAW)");
        rx_ = socket(fam, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
        if (rx_ < 0) throw std::system_error(errno, std::generic_category(), "raw socket (IPPROTO_TCP)");
        std::memset(&to_, 0, sizeof to_);
        if (v4_) {
            auto* a = reinterpret_cast<sockaddr_in*>(&to_);
            a->sin_family = AF_INET;
            std::memcpy(&a->sin_addr, dst_.bytes.data(), 4);
            to_len_ = sizeof(sockaddr_in);
        } else {
            auto* a = reinterpret_cast<sockaddr_in6*>(&to_);
            a->sin6_family = AF_INET6;
            std::memcpy(&a->sin6_addr, dst_.bytes.data(), 16);
            to_len_ = sizeof(sockaddr_in6);
        }
        ts_base_ = static_cast<uint32_t>(rng_());
        t0_ = Clock::now();
    }
    ~Sender() {
        close(tx_);
        close(rx_);
    }
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;

    int run() {
        for (int i = 0; i < o_.count; ++i) {
            Conn c;
            c.sport = static_cast<uint16_t>(o_.sport_base + i);
            c.isn = static_cast<uint32_t>(rng_());
            c.snd_nxt = c.isn + 1;
            conns_[c.sport] = c;
        }
        if (o_.sequential) return run_sequential();
        for (auto& [sport, c] : conns_) {
            if (g_stop) break;
            send_syn(c);
            if (o_.interval_ms > 0)
                std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(o_.interval_ms));
            drain(0);
        }
        const auto last_syn = Clock::now();
        const auto ack_at = last_syn + ms(o_.ack_delay_ms);
        const auto end = last_syn + ms(o_.wait_s * 1000.0);
        bool group_acked = !o_.ack_after_synack;
        while (!g_stop) {
            const auto now = Clock::now();
            if (!group_acked && (now >= ack_at || all_answered())) {
                for (auto& [sport, c] : conns_)
                    if (c.peer_isn && !c.acked && c.rsts == 0) send_ack(c, o_.data);
                group_acked = true;
            }
            if (now >= end) break;
            auto until = group_acked ? end : std::min(end, ack_at);
            drain(std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count()));
        }
        for (const auto& [sport, c] : conns_)
            say(fmt("summary sport=%u synacks=%d acks=%d rsts=%d", sport, c.synacks, c.acks_sent, c.rsts));
        return 0;
    }

private:
    // One handshake at a time: SYN (retransmitted while unanswered), SYN-ACK, ACK.
    int run_sequential() {
        for (auto& [sport, c] : conns_) {
            if (g_stop) break;
            for (int attempt = 0; attempt <= o_.syn_retries && !g_stop; ++attempt) {
                send_syn(c);
                const auto deadline = Clock::now() + ms(o_.syn_timeout_ms);
                while (!g_stop && !c.peer_isn && c.rsts == 0 && Clock::now() < deadline)
                    drain(std::max<int64_t>(1, std::min<int64_t>(10, std::chrono::duration_cast<
                        std::chrono::milliseconds>(deadline - Clock::now()).count())));
                if (c.peer_isn || c.rsts) break;
            }
            if (c.peer_isn && c.rsts == 0) send_ack(c, o_.data);
            else if (!c.peer_isn) say(fmt("unanswered sport=%u", c.sport));
            if (o_.interval_ms > 0)
                std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(o_.interval_ms));
            drain(0);
        }
        const auto end = Clock::now() + ms(o_.wait_s * 1000.0);
        while (!g_stop && Clock::now() < end)
            drain(std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count()));
        for (const auto& [sport, c] : conns_)
            say(fmt("summary sport=%u synacks=%d acks=%d rsts=%d", sport, c.synacks, c.acks_sent, c.rsts));
        return 0;
    }

    static Clock::duration ms(double v) {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(v));
    }
    double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
    uint32_t tsval() const {
        return ts_base_ + static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0_).count());
    }
    template <typename... A>
    static std::string fmt(const char* f, A... a) {
        char buf[256];
        std::snprintf(buf, sizeof buf, f, a...);
        return buf;
    }
    void say(const std::string& s) const {
        std::printf("%.6f %s\n", elapsed(), s.c_str());
        std::fflush(stdout);
    }

    bool all_answered() const {
        for (const auto& [sport, c] : conns_)
            if (!c.peer_isn && c.rsts == 0) return false;
        return true;
    }

    void send(Tins::TCP& tcp, const std::string& payload = {}) {
        Tins::PDU::serialization_type buf;
        if (v4_) {
            Tins::IP ip(Tins::IPv4Address(dst_.str()), Tins::IPv4Address(src_.str()));
            ip.ttl(64);
            ip.id(static_cast<uint16_t>(rng_()));
            ip.flags(Tins::IP::DONT_FRAGMENT);
            Tins::IP pkt = ip / tcp;
            if (!payload.empty()) pkt /= Tins::RawPDU(payload);
            buf = pkt.serialize();
        } else {
            Tins::IPv6 ip(Tins::IPv6Address(dst_.str()), Tins::IPv6Address(src_.str()));
            ip.hop_limit(64);
            Tins::IPv6 pkt = ip / tcp;
            if (!payload.empty()) pkt /= Tins::RawPDU(payload);
            buf = pkt.serialize();
        }
        if (sendto(tx_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&to_), to_len_) < 0)
            throw std::system_error(errno, std::generic_category(), "sendto");
    }

    void send_syn(Conn& c) {
        Tins::TCP tcp(o_.dport, c.sport);
        tcp.flags(Tins::TCP::SYN);
        tcp.seq(c.isn);
        tcp.window(64240);
        tcp.mss(o_.mss);
        if (o_.no_ts) {
            tcp.add_option(Tins::TCP::option(Tins::TCP::NOP));
            tcp.add_option(Tins::TCP::option(Tins::TCP::NOP));
            tcp.sack_permitted();
        } else {
            tcp.sack_permitted();
            tcp.timestamp(tsval(), 0);
        }
        if (o_.wscale >= 0) {
            tcp.add_option(Tins::TCP::option(Tins::TCP::NOP));
            tcp.winscale(static_cast<uint8_t>(o_.wscale));
        }
        send(tcp);
        say(fmt("syn sport=%u seq=%u", c.sport, c.isn));
    }

    void send_ack(Conn& c, bool with_data) {
        Tins::TCP tcp(o_.dport, c.sport);
        tcp.flags(Tins::TCP::ACK);
        tcp.seq(c.snd_nxt);
        tcp.ack_seq(*c.peer_isn + 1);
        tcp.window(502);
        if (!o_.no_ts) {
            tcp.add_option(Tins::TCP::option(Tins::TCP::NOP));
            tcp.add_option(Tins::TCP::option(Tins::TCP::NOP));
            tcp.timestamp(tsval(), c.peer_tsval);
        }
        send(tcp);
        ++c.acks_sent;
        say(fmt("ack sport=%u ack=%u", c.sport, *c.peer_isn + 1));
        if (with_data) {
            tcp.flags(Tins::TCP::PSH | Tins::TCP::ACK);
            send(tcp, "x");
            c.snd_nxt += 1;
            say(fmt("data sport=%u len=1", c.sport));
        }
        c.acked = true;
    }

    // Reads what arrived from the listener for up to timeout_ms.
    void drain(int64_t timeout_ms) {
        const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
            pollfd p{rx_, POLLIN, 0};
            int n = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left)));
            if (n < 0) {
                if (errno == EINTR) return;
                throw std::system_error(errno, std::generic_category(), "poll");
            }
            if (n == 0) return;
            uint8_t buf[2048];
            sockaddr_storage from{};
            socklen_t flen = sizeof from;
            ssize_t len = recvfrom(rx_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
            if (len <= 0) continue;
            handle(buf, static_cast<size_t>(len), from);
            if (g_stop) return;
        }
    }

    void handle(const uint8_t* buf, size_t len, const sockaddr_storage& from) {
        try {
            std::optional<Tins::TCP> tcp;
            if (v4_) {
                Tins::IP ip(buf, static_cast<uint32_t>(len));
                if (ip.src_addr() != Tins::IPv4Address(dst_.str())) return;
                if (const auto* t = ip.find_pdu<Tins::TCP>()) tcp = *t;
            } else {
                if (from.ss_family != AF_INET6) return;
                const auto* a = reinterpret_cast<const sockaddr_in6*>(&from);
                if (std::memcmp(&a->sin6_addr, dst_.bytes.data(), 16) != 0) return;
                tcp.emplace(buf, static_cast<uint32_t>(len));
            }
            if (!tcp || tcp->sport() != o_.dport) return;
            auto it = conns_.find(tcp->dport());
            if (it == conns_.end()) return;
            Conn& c = it->second;
            const auto fl = tcp->flags();
            if (fl & Tins::TCP::RST) {
                ++c.rsts;
                say(fmt("rst sport=%u", c.sport));
                return;
            }
            if ((fl & (Tins::TCP::SYN | Tins::TCP::ACK)) != (Tins::TCP::SYN | Tins::TCP::ACK)) return;
            if (tcp->ack_seq() != c.isn + 1) return;
            ++c.synacks;
            c.peer_isn = tcp->seq();
            try {
                c.peer_tsval = tcp->timestamp().first;
            } catch (const Tins::option_not_found&) {
            }
            say(fmt("synack sport=%u seq=%u n=%d", c.sport, tcp->seq(), c.synacks));
            // An established client answers a retransmitted SYN-ACK with an ACK.
            if ((o_.ack_after_synack || o_.sequential) && c.acked) send_ack(c, false);
        } catch (const Tins::malformed_packet&) {
        }
    }

    const Options& o_;
    IpAddress src_, dst_;
    bool v4_;
    std::mt19937 rng_;
    int tx_ = -1, rx_ = -1;
    sockaddr_storage to_;
    socklen_t to_len_ = 0;
    uint32_t ts_base_ = 0;
    Clock::time_point t0_;
    std::map<uint16_t, Conn> conns_;
};

}  // namespace
}  // namespace lp

int main(int argc, char** argv) {
    lp::Options o;
    CLI::App app{"Lab SYN sender: hand-made SYNs (and optional final ACKs) to a listener"};
    app.add_option("--src", o.src, "source address (this namespace's own)")->required();
    app.add_option("--dst", o.dst, "listener address")->required();
    app.add_option("--dport", o.dport, "listener port")->required()->check(CLI::Range(1, 65535));
    app.add_option("--count", o.count, "number of SYNs (one per source port)")->check(CLI::Range(1, 10000));
    app.add_option("--sport-base", o.sport_base, "first source port")->check(CLI::Range(1, 65535));
    auto* group = app.add_flag("--ack-after-synack", o.ack_after_synack,
                               "complete the handshakes as a group, then ACK every retransmitted SYN-ACK");
    auto* seq = app.add_flag("--sequential", o.sequential,
                             "one handshake at a time: SYN, wait for the SYN-ACK, ACK, next port")
                    ->excludes(group);
    app.add_option("--syn-timeout", o.syn_timeout_ms,
                   "with --sequential: ms to wait for a SYN-ACK before the SYN is sent again")
        ->needs(seq)
        ->check(CLI::PositiveNumber);
    app.add_option("--syn-retries", o.syn_retries,
                   "with --sequential: SYN retransmissions before giving up on a port")
        ->needs(seq)
        ->check(CLI::Range(0, 20));
    app.add_flag("--data", o.data, "send one payload byte after each final ACK");
    app.add_flag("--no-ts", o.no_ts, "no TCP timestamp option in the SYN");
    app.add_flag("--no-firewall", o.no_firewall,
                 "do not filter this namespace's RSTs (the kernel will reset the requests)");
    app.add_option("--interval-ms", o.interval_ms, "pause between SYNs")->check(CLI::NonNegativeNumber);
    app.add_option("--ack-delay", o.ack_delay_ms,
                   "with --ack-after-synack: latest time (ms after the last SYN) to send the ACKs")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--wait", o.wait_s, "seconds to keep listening (and filtering) after the last SYN")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--mss", o.mss, "MSS option value");
    app.add_option("--wscale", o.wscale, "window scale option (-1: none)")->check(CLI::Range(-1, 14));
    CLI11_PARSE(app, argc, argv);

    auto src = lp::IpAddress::parse(o.src);
    auto dst = lp::IpAddress::parse(o.dst);
    if (!src || !dst || src->family != dst->family) {
        std::fprintf(stderr, "lab_synsend: --src and --dst must be addresses of the same family\n");
        return 2;
    }
    if (o.sport_base + o.count - 1 > 65535) {
        std::fprintf(stderr, "lab_synsend: source ports run past 65535\n");
        return 2;
    }
    struct sigaction sa {};
    sa.sa_handler = lp::on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    try {
        std::optional<lp::RstFilter> filter;
        if (!o.no_firewall)
            filter.emplace(*dst, o.dport, o.sport_base, static_cast<uint16_t>(o.sport_base + o.count - 1));
        lp::Sender sender(o, *src, *dst);
        int rc = sender.run();
        if (filter) std::printf("kernel-rsts-dropped %ld\n", filter->dropped());
        return rc;
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "lab_synsend: %s\n", e.what());
        return (e.code().value() == EPERM || e.code().value() == EACCES) ? 3 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lab_synsend: %s\n", e.what());
        return 1;
    }
}
