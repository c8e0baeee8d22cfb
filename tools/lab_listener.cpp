// lab_listener: the lab's TCP listener. It binds, listens with the given
// backlog, prints "ready" and then never accepts, so its accept queue fills;
// or it accepts one connection every S seconds (holding it open, or closing it).
// Optionally it calls listen() again with a new backlog after T seconds.
// Exits on SIGTERM or SIGINT. Every event is one line on stdout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "segments/segment.hpp"

namespace lp {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string addr;
    uint16_t port = 0;
    int backlog = 0;
    double accept_every = 0;   // 0 = never accept
    bool close_accepted = false;
    std::optional<int> relisten;
    double relisten_after = 0;
    std::optional<int> syncnt;  // TCP_SYNCNT on the listening socket
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "lab_listener: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

void say(const std::string& line) {
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

std::string peer_str(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
    }
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
}

int open_listener(const Options& o) {
    auto ip = IpAddress::parse(o.addr);
    if (!ip) {
        std::fprintf(stderr, "lab_listener: not an IP address: %s\n", o.addr.c_str());
        std::exit(2);
    }
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (ip->is_v4()) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(o.port);
        std::memcpy(&a->sin_addr, ip->bytes.data(), 4);
        len = sizeof(sockaddr_in);
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(o.port);
        std::memcpy(&a->sin6_addr, ip->bytes.data(), 16);
        len = sizeof(sockaddr_in6);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) fail("SO_REUSEADDR");
    if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        fail("IPV6_V6ONLY");
    if (o.syncnt && setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &*o.syncnt, sizeof(int)) < 0)
        fail("TCP_SYNCNT");
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) fail("bind");
    if (listen(fd, o.backlog) < 0) fail("listen");
    return fd;
}

int run(const Options& o) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) fail("sigprocmask");
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) fail("signalfd");

    int lfd = open_listener(o);
    say("ready");

    const auto start = Clock::now();
    auto secs = [](double s) {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    };
    constexpr auto never = Clock::time_point::max();
    auto next_accept = o.accept_every > 0 ? start + secs(o.accept_every) : never;
    auto relisten_at = o.relisten ? start + secs(o.relisten_after) : never;
    std::vector<int> held;

    for (;;) {
        const auto now = Clock::now();
        if (relisten_at != never && now >= relisten_at) {
            if (listen(lfd, o.relisten.value_or(0)) < 0) fail("listen (again)");
            say("relisten " + std::to_string(o.relisten.value_or(0)));
            relisten_at = never;
        }
        // Due to accept: wait for the listening socket to become readable.
        const bool want_accept = next_accept != never && now >= next_accept;

        int timeout_ms = -1;
        auto consider = [&](Clock::time_point t) {
            if (t == never) return;
            auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - now).count();
            if (ms < 0) ms = 0;
            if (timeout_ms < 0 || ms < timeout_ms) timeout_ms = static_cast<int>(ms);
        };
        if (!want_accept) consider(next_accept);
        consider(relisten_at);

        pollfd fds[2] = {{sfd, POLLIN, 0}, {lfd, static_cast<short>(want_accept ? POLLIN : 0), 0}};
        int n = poll(fds, 2, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("poll");
        }
        if (fds[0].revents & POLLIN) break;
        if (want_accept && (fds[1].revents & POLLIN)) {
            sockaddr_storage peer{};
            socklen_t plen = sizeof peer;
            int cfd = accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
            if (cfd < 0) {
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
                fail("accept");
            }
            say("accepted " + peer_str(peer));
            if (o.close_accepted)
                close(cfd);
            else
                held.push_back(cfd);
            next_accept = Clock::now() + secs(o.accept_every);
        }
    }
    for (int fd : held) close(fd);
    close(lfd);
    say("bye");
    return 0;
}

}  // namespace
}  // namespace lp

int main(int argc, char** argv) {
    lp::Options o;
    CLI::App app{"Lab TCP listener: listens and (by default) never accepts"};
    app.add_option("--addr", o.addr, "address to bind (IPv4 or IPv6)")->required();
    app.add_option("--port", o.port, "port")->required()->check(CLI::Range(1, 65535));
    app.add_option("--backlog", o.backlog, "listen() backlog")->required();
    app.add_option("--accept-every", o.accept_every,
                   "accept one connection every S seconds (default: never)")
        ->check(CLI::PositiveNumber);
    app.add_flag("--close-accepted", o.close_accepted, "close accepted connections at once");
    auto* rl = app.add_option("--relisten", o.relisten, "call listen() again with this backlog");
    app.add_option("--relisten-after", o.relisten_after, "seconds after ready for --relisten")
        ->needs(rl)
        ->check(CLI::NonNegativeNumber);
    app.add_option("--syncnt", o.syncnt, "TCP_SYNCNT on the listening socket (SYN-ACK retries)")
        ->check(CLI::Range(1, 255));
    CLI11_PARSE(app, argc, argv);
    return lp::run(o);
}
