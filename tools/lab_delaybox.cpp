// lab_delaybox: the lab's WAN in user space. This kernel has neither sch_netem nor
// nft_queue (NFQUEUE), so the lab's box namespace (between client and server, see
// docs/lab.md "The delay box") is a user-space Ethernet relay: it owns the two
// box-side veth ends (--client-if, --server-if), which carry no address and are
// not bridged, so the box kernel never forwards or answers anything itself. An
// AF_PACKET socket on each end reads every frame, and this program writes it out
// of the other end later:
//
//   up   = client -> server (read on --client-if), down = server -> client.
//
// Per direction: a fixed one-way delay, uniform jitter of +-J ms around it, a
// loss probability and a reorder probability, applied to IPv4/IPv6 frames (ARP
// and the rest pass at once: address resolution is not part of a WAN path).
// Frames leave in arrival order (a frame never overtakes the one before it, as on
// one real path whose delay varies) unless it is picked for reordering: then it
// leaves after half its delay, free to overtake. Lost frames are discarded.
//
// Both sockets use PACKET_VNET_HDR: a veth hands over TCP super-frames (GSO) and
// frames whose checksum is still to be filled in (CHECKSUM_PARTIAL); the virtio
// header read with the frame carries both facts, and writing it back lets the
// kernel segment and checksum on the way out, exactly as it would have.
//
// Prints "ready ..." on stdout once both sockets are bound, and a summary per
// direction on SIGTERM/SIGINT. Options take "V" for both directions or "UP/DOWN".
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++ here):
// flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.
constexpr size_t kVnetHdr = 10;

struct Path {
    double delay_ms = 0, jitter_ms = 0, loss = 0, reorder = 0;  // loss/reorder in percent
};

struct Held {
    Clock::time_point due;
    std::vector<char> frame;  // virtio_net_hdr + Ethernet frame, as read
};

struct Direction {
    const char* name = "";
    Path path;
    int in_fd = -1, out_fd = -1;
    std::deque<Held> fifo;    // in order of departure (due is non-decreasing)
    std::vector<Held> early;  // reordered frames (any order of due)
    Clock::time_point last_due{};
    uint64_t seen = 0, dropped = 0, reordered = 0, passed = 0, send_errors = 0, max_held = 0;
};

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

std::mt19937_64 g_rng{std::random_device{}()};

double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(g_rng); }

// "V" -> {V, V}; "U/D" -> {U, D}.
std::pair<double, double> split_pair(const std::string& s, const char* what) {
    auto parse = [&](const std::string& t) {
        size_t used = 0;
        double v = std::stod(t, &used);
        if (used != t.size() || v < 0) throw std::invalid_argument(t);
        return v;
    };
    try {
        auto slash = s.find('/');
        if (slash == std::string::npos) return {parse(s), parse(s)};
        return {parse(s.substr(0, slash)), parse(s.substr(slash + 1))};
    } catch (const std::exception&) {
        throw CLI::ValidationError(std::string(what) + ": want V or UP/DOWN (non-negative numbers), got '" + s + "'");
    }
}

// A packet socket bound to one interface: all protocols, promiscuous, our own
// writes not read back, virtio header on every frame.
int open_port(const std::string& ifname, int rcvbuf) {
    const unsigned ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) throw std::runtime_error("no interface " + ifname);
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) throw std::runtime_error(std::string("packet socket: ") + std::strerror(errno));
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) {
        close(fd);
        throw std::runtime_error(std::string("packet socket options: ") + std::strerror(errno));
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &rcvbuf, sizeof rcvbuf);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(ifindex);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
        close(fd);
        throw std::runtime_error("bind " + ifname + ": " + std::strerror(errno));
    }
    packet_mreq mr{};
    mr.mr_ifindex = static_cast<int>(ifindex);
    mr.mr_type = PACKET_MR_PROMISC;
    setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr);
    return fd;
}

void send_frame(Direction& d, const std::vector<char>& f) {
    if (send(d.out_fd, f.data(), f.size(), 0) < 0) ++d.send_errors;
}

// One frame read from d.in_fd: pass, drop or hold it.
void on_frame(Direction& d, std::vector<char> f) {
    constexpr size_t vh = kVnetHdr;
    if (f.size() < vh + ETH_HLEN) return;
    uint16_t type;
    std::memcpy(&type, f.data() + vh + 12, 2);
    type = ntohs(type);
    if (type != ETH_P_IP && type != ETH_P_IPV6) {
        ++d.passed;
        send_frame(d, f);
        return;
    }
    ++d.seen;
    const Path& p = d.path;
    if (p.loss > 0 && uniform(0, 100) < p.loss) {
        ++d.dropped;
        return;
    }
    double ms = p.delay_ms + (p.jitter_ms > 0 ? uniform(-p.jitter_ms, p.jitter_ms) : 0.0);
    ms = std::max(ms, 0.0);
    const auto now = Clock::now();
    if (p.reorder > 0 && uniform(0, 100) < p.reorder) {
        ++d.reordered;
        d.early.push_back({now + std::chrono::microseconds(static_cast<int64_t>(ms * 500.0)), std::move(f)});
    } else {
        auto due = now + std::chrono::microseconds(static_cast<int64_t>(ms * 1000.0));
        due = std::max(due, d.last_due);
        d.last_due = due;
        d.fifo.push_back({due, std::move(f)});
    }
    d.max_held = std::max<uint64_t>(d.max_held, d.fifo.size() + d.early.size());
}

// Sends every frame that is due; returns the next due time.
Clock::time_point release(Direction& d, Clock::time_point now) {
    while (!d.fifo.empty() && d.fifo.front().due <= now) {
        send_frame(d, d.fifo.front().frame);
        d.fifo.pop_front();
    }
    Clock::time_point next = d.fifo.empty() ? Clock::time_point::max() : d.fifo.front().due;
    for (size_t i = 0; i < d.early.size();) {
        if (d.early[i].due <= now) {
            send_frame(d, d.early[i].frame);
            d.early[i] = std::move(d.early.back());
            d.early.pop_back();
        } else {
            next = std::min(next, d.early[i].due);
            ++i;
        }
    }
    return next;
}

int run(int argc, char** argv) {
    std::string delay = "0", jitter = "0", loss = "0", reorder = "0";
    std::string client_if = "c0", server_if = "s0";
    CLI::App app{"Lab delay box: relays Ethernet frames between two interfaces, delaying, jittering, dropping "
                 "and reordering IP frames"};
    app.add_option("--delay", delay, "one-way delay in ms: V or UP/DOWN");
    app.add_option("--jitter", jitter, "uniform jitter +-ms around the delay: V or UP/DOWN");
    app.add_option("--loss", loss, "loss in percent: V or UP/DOWN");
    app.add_option("--reorder", reorder, "percent of frames sent after half their delay: V or UP/DOWN");
    app.add_option("--client-if", client_if, "interface towards the client (frames read here go up)");
    app.add_option("--server-if", server_if, "interface towards the server (frames read here go down)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    Direction dirs[2];
    dirs[0].name = "up";
    dirs[1].name = "down";
    try {
        auto [du, dd] = split_pair(delay, "--delay");
        auto [ju, jd] = split_pair(jitter, "--jitter");
        auto [lu, ld] = split_pair(loss, "--loss");
        auto [ru, rd] = split_pair(reorder, "--reorder");
        dirs[0].path = {du, ju, lu, ru};
        dirs[1].path = {dd, jd, ld, rd};
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    for (auto& d : dirs)
        if (d.path.loss > 100 || d.path.reorder > 100) {
            std::fprintf(stderr, "lab_delaybox: loss and reorder are percentages (0..100)\n");
            return 2;
        }
    int cfd = -1, sfd = -1;
    try {
        cfd = open_port(client_if, 16 << 20);
        sfd = open_port(server_if, 16 << 20);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lab_delaybox: %s\n", e.what());
        if (cfd >= 0) close(cfd);
        return 1;
    }
    dirs[0].in_fd = cfd;
    dirs[0].out_fd = sfd;
    dirs[1].in_fd = sfd;
    dirs[1].out_fd = cfd;

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::printf("ready up %.1f±%.1f ms loss %.1f%% reorder %.1f%%, down %.1f±%.1f ms loss %.1f%% reorder %.1f%%\n",
                dirs[0].path.delay_ms, dirs[0].path.jitter_ms, dirs[0].path.loss, dirs[0].path.reorder,
                dirs[1].path.delay_ms, dirs[1].path.jitter_ms, dirs[1].path.loss, dirs[1].path.reorder);
    std::fflush(stdout);

    constexpr size_t kMax = kVnetHdr + 65536 + 64;
    std::vector<char> buf(kMax);
    while (!g_stop) {
        const auto now = Clock::now();
        auto next = std::min(release(dirs[0], now), release(dirs[1], now));
        timespec ts{1, 0};
        if (next != Clock::time_point::max()) {
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(next - Clock::now()).count();
            ns = std::clamp<int64_t>(ns, 0, 1'000'000'000);
            ts = {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
        }
        pollfd p[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        int r = ppoll(p, 2, &ts, nullptr);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (!(p[i].revents & POLLIN)) continue;
            // Read everything waiting before releasing again.
            for (;;) {
                ssize_t n = recv(p[i].fd, buf.data(), buf.size(), MSG_DONTWAIT);
                if (n <= 0) break;
                on_frame(dirs[i], std::vector<char>(buf.begin(), buf.begin() + n));
            }
        }
    }
    for (auto& d : dirs)
        std::printf("%s: %llu IP frames, %llu dropped, %llu reordered, at most %llu held; %llu other frames; "
                    "%llu send errors\n",
                    d.name, static_cast<unsigned long long>(d.seen), static_cast<unsigned long long>(d.dropped),
                    static_cast<unsigned long long>(d.reordered), static_cast<unsigned long long>(d.max_held),
                    static_cast<unsigned long long>(d.passed), static_cast<unsigned long long>(d.send_errors));
    std::fflush(stdout);
    close(cfd);
    close(sfd);
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }
