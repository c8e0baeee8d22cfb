// lp_gencap: writes a synthetic capture of TCP handshakes towards a few listeners, for the replay
// benchmark and the flat-memory test.
//
// The capture is taken at the server (10.77.0.2 / fd77::2) that hosts the listeners; clients come
// from the benchmarking ranges 198.18.0.0/15 and 2001:2::/48. Connections arrive as a Poisson
// process whose rate changes every second of capture time (50k-200k packets per second at the
// default --pps), and many of them are in flight at once. Kinds of connection in --mode mix:
//   complete      handshake, one to four request/response rounds, FIN close (either side first)
//   half-open     SYN, SYN-ACK and its five retransmissions 1, 2, 4, 8, 16 s apart (coalesced
//                 timers: each gap a little longer), never an ACK
//   refused       SYN to a closed port, RST+ACK
//   ack-dropped   the final ACK and the request meet a full accept queue: the server retransmits
//                 its SYN-ACK, the client answers each with an ACK and retransmits its request;
//                 either a later ACK gets in and the exchange completes, or the request dies and
//                 the next data retransmission gets a RST
//   syn-dropped   the client retransmits its SYN (exponential or linear timeouts) until answered,
//                 or gives up
//   client-reset  a scanner: SYN, SYN-ACK, RST from the client
//   mid-stream    data of a connection opened before the capture began
// plus non-TCP noise (DNS over UDP, ICMP and ICMPv6 echo, ARP, neighbour discovery, statsd).
// --mode complete-close makes every connection a complete one, and the generator stops opening
// connections before the end so that every connection in the file also closes in it.
// --mode never-close is a SYN flood / load-test shape in which no connection ever closes:
//   established   70%: SYN, SYN-ACK, final ACK, then nothing (no data, no FIN, no RST)
//   half-open     20%: SYN, SYN-ACK and its five retransmissions 1, 2, 4, 8, 16 s apart (as in
//                 the mix), never an ACK
//   client-reset  10%: SYN, SYN-ACK, RST from the client
// at a constant arrival rate (Poisson, no per-second rate changes), so the number of connections
// seen within any 64 s of capture time is steady once 64 s have passed (6.4M packets at the
// default --pps): the memory of a streaming analyzer that forgets idle connections stays flat
// however long the file. No client address and port pair is used twice in the file: regular
// clients take ephemeral ports in turn from 8192 addresses, flood and scanner sources from some
// 122k addresses, each source its own ports in turn (a source whose ports are used up hands over
// to the next one).
//
// Same arguments, same bytes. In --mode mix and --mode never-close the first K packets of an
// N-packet file are the K-packet file with the same arguments, so a small prefix can stand for a
// big file.
#include <pcap/pcap.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <queue>
#include <string>
#include <vector>

namespace lp {
namespace {

// Bump whenever the bytes written for the same arguments change (the benchmark caches files by it).
// Adding --mode never-close left the bytes of the other modes as they were.
constexpr const char* kFormatVersion = "lp_gencap/1";

constexpr uint64_t kNs = 1;
constexpr uint64_t kUs = 1000 * kNs;
constexpr uint64_t kMs = 1000 * kUs;
constexpr uint64_t kSec = 1000 * kMs;
constexpr uint64_t kStartEpoch = 1704067200;  // 2024-01-01T00:00:00Z
constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

// ---------------------------------------------------------------------------------------------
// Random numbers: xoshiro256** seeded by splitmix64. Hand-rolled on purpose: the standard
// distributions differ between library versions, and the output must not.
class Rng {
public:
    explicit Rng(uint64_t seed) {
        for (auto& s : s_) s = splitmix(seed);
    }
    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(((next() >> 32) * n) >> 32); }
    uint32_t u32() { return static_cast<uint32_t>(next() >> 32); }
    bool chance(double p) { return uniform() < p; }
    uint64_t range(uint64_t lo, uint64_t hi) { return lo + static_cast<uint64_t>(uniform() * static_cast<double>(hi - lo)); }
    double log_uniform(double lo, double hi) { return lo * std::exp(uniform() * std::log(hi / lo)); }
    uint64_t log_uniform_ns(uint64_t lo, uint64_t hi) {
        return static_cast<uint64_t>(log_uniform(static_cast<double>(lo), static_cast<double>(hi)));
    }
    uint64_t exp_ns(double mean_ns) { return static_cast<uint64_t>(-mean_ns * std::log1p(-uniform())); }

    static uint64_t splitmix(uint64_t& x) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::array<uint64_t, 4> s_{};
};

// ---------------------------------------------------------------------------------------------
// The model.

enum class LinkType { En10mb, LinuxSll, LinuxSll2, Raw };
enum class Mode { Mix, CompleteClose, NeverClose };

enum class Kind : uint8_t { Complete, HalfOpen, Refused, AckDropped, SynDropped, ClientReset, MidStream, Established, Noise };

// What a packet is; TCP kinds first.
enum class PktKind : uint8_t {
    Tcp,     // TCP with the flow's per-segment options (NOP NOP TS when negotiated)
    TcpSyn,  // SYN or SYN-ACK with the handshake options
    TcpBare, // TCP without options (RST)
    DnsQuery, DnsReply, EchoRequest, EchoReply, ArpRequest, ArpReply, NdSolicit, NdAdvert, Statsd,
};

// Client operating systems, by the options of their SYN.
enum Profile : uint8_t { kLinux, kWindows, kMac, kBare };

constexpr uint8_t kToServer = 0;    // towards the capture host
constexpr uint8_t kFromServer = 1;  // sent by the capture host

struct Flow {
    uint32_t refs = 0;       // packets still waiting to be written
    uint32_t host = 0;       // remote host number (address derived from it)
    uint16_t cport = 0, sport = 0;
    uint8_t v6 = 0;
    uint8_t profile = kLinux;
    uint8_t cttl = 64;
    uint8_t ts = 0;          // TCP timestamps negotiated
    uint16_t cid = 0, sid = 0;  // IPv4 identification counters
    uint32_t label = 0;      // IPv6 flow label
    uint16_t cmss = 1460;
};

struct Pkt {
    uint64_t t = 0;          // ns since the start of the capture
    uint64_t order = 0;      // push order, breaks ties
    uint32_t flow = 0;
    uint32_t seq = 0, ack = 0;
    uint32_t tsval = 0, tsecr = 0;
    uint16_t len = 0;        // TCP payload length
    uint16_t off = 0;        // offset into the payload pattern / noise parameter
    uint8_t flags = 0;
    uint8_t dir = kToServer;
    PktKind kind = PktKind::Tcp;
    uint8_t content = 0;     // 0 request text, 1 response text
};

struct Later {
    bool operator()(const Pkt& a, const Pkt& b) const { return a.t != b.t ? a.t > b.t : a.order > b.order; }
};

// ---------------------------------------------------------------------------------------------
// Payload text and its one's-complement prefix sums, so TCP checksums cover payload bytes that are
// never written (the snap length cuts them off) without summing them for every packet.
struct Pattern {
    std::vector<uint8_t> bytes;
    std::vector<uint64_t> prefix;  // prefix[k] = sum of the first k big-endian 16-bit words

    explicit Pattern(const std::string& head) {
        static constexpr size_t kSize = 16384;
        std::string s = head;
        static constexpr const char* kFill =
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
            "incididunt ut labore et dolore magna aliqua. {\"id\":12345,\"state\":\"ok\"}\r\n";
        while (s.size() < kSize) s += kFill;
        bytes.assign(s.begin(), s.begin() + kSize);
        prefix.resize(kSize / 2 + 1);
        for (size_t k = 0; k < kSize / 2; ++k)
            prefix[k + 1] = prefix[k] + ((static_cast<uint64_t>(bytes[2 * k]) << 8) | bytes[2 * k + 1]);
    }
    // Sum of the words of bytes[off, off+len); off is even.
    uint64_t sum(size_t off, size_t len) const {
        uint64_t s = prefix[(off + len) / 2] - prefix[off / 2];
        if (len & 1) s += static_cast<uint64_t>(bytes[off + len - 1]) << 8;
        return s;
    }
};

uint64_t sum_words(const uint8_t* p, size_t len) {
    uint64_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2) s += (static_cast<uint64_t>(p[i]) << 8) | p[i + 1];
    if (len & 1) s += static_cast<uint64_t>(p[len - 1]) << 8;
    return s;
}
uint16_t fold(uint64_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<uint16_t>(~s & 0xffff);
}

void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
void put32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24); p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8); p[3] = static_cast<uint8_t>(v);
}

// ---------------------------------------------------------------------------------------------
struct Options {
    std::string out;
    uint64_t packets = 0;
    uint64_t seed = 1;
    LinkType link = LinkType::En10mb;
    double v6_share = 0.3;
    unsigned listeners = 4;
    Mode mode = Mode::Mix;
    double pps = 100000;
    double noise_share = 0.05;
    int snaplen = 128;
};

constexpr std::array<uint16_t, 8> kListenPorts{8080, 443, 80, 5432, 6379, 3306, 8443, 9090};
constexpr std::array<uint16_t, 5> kClosedPorts{23, 445, 3389, 5900, 8888};
constexpr uint32_t kClientPool = 8192;  // regular clients; floods and scanners use other hosts
constexpr uint32_t kHostSpace = 1u << 17;  // 198.18.0.0/15

uint16_t listen_port(unsigned i) { return i < kListenPorts.size() ? kListenPorts[i] : static_cast<uint16_t>(10000 + i); }

class Generator {
public:
    explicit Generator(const Options& o)
        : o_(o), rng_(o.seed), request_("GET /api/v1/items?page=2 HTTP/1.1\r\nHost: bench.example\r\n"
                                        "User-Agent: lp-bench/1.0\r\nAccept: */*\r\nX-Request-Id: "),
          response_("HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/json\r\n"
                    "Content-Length: 8192\r\n\r\n") {
        client_port_.resize(kClientPool);
        for (auto& p : client_port_) p = static_cast<uint16_t>(32768 + rng_.below(61000 - 32768));
        if (o_.mode == Mode::NeverClose) host_uses_.assign(kHostSpace, 0);
        double w = 0;
        for (unsigned i = 0; i < o_.listeners; ++i) w += 1.0 / (i + 1);
        double acc = 0;
        for (unsigned i = 0; i < o_.listeners; ++i) {
            acc += 1.0 / (i + 1) / w;
            listener_cdf_.push_back(acc);
        }
        calibrate();
    }

    // Writes the capture; returns false (with a message on stderr) if it could not.
    bool run();

private:
    // ---- building the packets of one flow ---------------------------------------------------
    struct Tcb {  // what a flow's builder needs while it lays out packets
        uint64_t rtt = 0;
        uint32_t cseq = 0, sseq = 0;
        uint16_t seg = 1448;     // payload bytes per full server segment
        uint16_t cseg = 1448;    // payload bytes per full client segment
    };

    void add(uint64_t t, uint8_t dir, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t len = 0,
             uint16_t off = 0, uint8_t content = 0, PktKind kind = PktKind::Tcp) {
        Pkt p;
        p.t = t;
        p.dir = dir;
        p.flags = flags;
        p.seq = seq;
        p.ack = ack;
        p.len = len;
        p.off = off;
        p.content = content;
        p.kind = kind;
        scratch_.push_back(p);
    }

    uint16_t request_len() { return static_cast<uint16_t>(rng_.log_uniform(60, 900)); }
    uint64_t kernel_delay() { return rng_.range(5 * kUs, 40 * kUs); }

    void handshake(Tcb& c, uint64_t& t) {
        add(t, kToServer, SYN, c.cseq - 1, 0, 0, 0, 0, PktKind::TcpSyn);
        t += kernel_delay();
        add(t, kFromServer, SYN | ACK, c.sseq - 1, c.cseq, 0, 0, 0, PktKind::TcpSyn);
        t += c.rtt;
        add(t, kToServer, ACK, c.cseq, c.sseq);
    }

    // Request/response rounds from time t (the first request is sent at t), then maybe a close.
    void converse(Tcb& c, uint64_t t, uint16_t first_len, bool close) {
        const unsigned rounds = rng_.chance(0.35) ? 2 + rng_.below(3) : 1;
        const bool server_closes = close && rng_.chance(0.5);
        uint64_t t_last = t;
        for (unsigned r = 0; r < rounds; ++r) {
            const uint16_t rl = r == 0 ? first_len : request_len();
            add(t, kToServer, PSH | ACK, c.cseq, c.sseq, rl, 0, 0);
            c.cseq += rl;
            const uint64_t proc = rng_.log_uniform_ns(30 * kUs, 40 * kMs);
            if (proc > 5 * kMs && rng_.chance(0.5)) add(t + rng_.range(20 * kUs, 200 * kUs), kFromServer, ACK, c.sseq, c.cseq);
            t += proc;
            const uint32_t total = static_cast<uint32_t>(rng_.log_uniform(100, 12000));
            const uint32_t nseg = (total + c.seg - 1) / c.seg;
            uint64_t t_ack = 0;
            for (uint32_t i = 0; i < nseg; ++i) {
                const uint16_t len = static_cast<uint16_t>(std::min<uint32_t>(c.seg, total - i * c.seg));
                const bool last = i + 1 == nseg;
                add(t, kFromServer, static_cast<uint8_t>(ACK | (last ? PSH : 0)), c.sseq, c.cseq, len,
                    static_cast<uint16_t>(i * c.seg), 1);
                c.sseq += len;
                t_last = t;
                // Delayed ACK: one for every second full segment, one for the last (a lone
                // segment waits up to 40 ms); a server that closes gets its data acked with its FIN.
                if ((i & 1) || (last && !(server_closes && r + 1 == rounds))) {
                    t_ack = t + c.rtt + (last && i == 0 ? rng_.range(0, 40 * kMs) : 0);
                    add(t_ack, kToServer, ACK, c.cseq, c.sseq);
                }
                if (!last) t += rng_.range(1 * kUs, 8 * kUs);
            }
            t = std::max(t_last + c.rtt, t_ack) + rng_.range(10 * kUs, 100 * kUs);
            if (r + 1 < rounds) t += rng_.exp_ns(30.0 * kMs);
        }
        if (!close) return;
        if (!server_closes) {
            t += rng_.exp_ns(20.0 * kMs);
            add(t, kToServer, FIN | ACK, c.cseq, c.sseq);
            ++c.cseq;
            t += kernel_delay() + rng_.range(0, 200 * kUs);
            add(t, kFromServer, FIN | ACK, c.sseq, c.cseq);
            ++c.sseq;
            t += c.rtt;
            add(t, kToServer, ACK, c.cseq, c.sseq);
        } else {  // right after its last response
            t = t_last + rng_.range(3 * kUs, 30 * kUs);
            add(t, kFromServer, FIN | ACK, c.sseq, c.cseq);
            ++c.sseq;
            t += c.rtt;
            if (rng_.chance(0.6)) {
                add(t, kToServer, ACK, c.cseq, c.sseq);
                t += rng_.range(10 * kUs, 500 * kUs);
            }
            add(t, kToServer, FIN | ACK, c.cseq, c.sseq);
            ++c.cseq;
            t += kernel_delay();
            add(t, kFromServer, ACK, c.sseq, c.cseq);
        }
    }

    // SYN-ACK retransmission times after the first SYN-ACK at t: gaps 1, 2, 4, 8, 16 s, each a
    // little longer (timers are coalesced).
    void synack_schedule(uint64_t t, std::array<uint64_t, 6>& at) {
        at[0] = t;
        uint64_t gap = kSec;
        for (size_t i = 1; i < at.size(); ++i) {
            at[i] = at[i - 1] + gap + static_cast<uint64_t>(static_cast<double>(gap) * rng_.uniform() * 0.03) +
                    rng_.range(0, 4 * kMs);
            gap *= 2;
        }
    }

    void make_tcp(Kind kind, Flow& f, uint64_t t0) {
        Tcb c;
        c.rtt = rng_.log_uniform_ns(200 * kUs, 120 * kMs);
        c.cseq = rng_.u32() + 1;
        c.sseq = rng_.u32() + 1;
        const uint16_t smss = f.v6 ? 1440 : 1460;
        const uint16_t eff = std::min(smss, f.cmss);
        c.seg = static_cast<uint16_t>(eff - (f.ts ? 12 : 0));
        c.cseg = c.seg;
        uint64_t t = t0;
        switch (kind) {
        case Kind::Complete:
            handshake(c, t);
            converse(c, t + rng_.range(2 * kUs, 60 * kUs), request_len(), true);
            break;
        case Kind::MidStream:
            converse(c, t, request_len(), rng_.chance(0.5));
            break;
        case Kind::Established:  // the handshake and nothing after it
            handshake(c, t);
            break;
        case Kind::Refused:
            add(t, kToServer, SYN, c.cseq - 1, 0, 0, 0, 0, PktKind::TcpSyn);
            add(t + kernel_delay(), kFromServer, RST | ACK, 0, c.cseq, 0, 0, 0, PktKind::TcpBare);
            break;
        case Kind::ClientReset:
            add(t, kToServer, SYN, c.cseq - 1, 0, 0, 0, 0, PktKind::TcpSyn);
            t += kernel_delay();
            add(t, kFromServer, SYN | ACK, c.sseq - 1, c.cseq, 0, 0, 0, PktKind::TcpSyn);
            add(t + c.rtt, kToServer, RST, c.cseq, 0, 0, 0, 0, PktKind::TcpBare);
            break;
        case Kind::HalfOpen: {
            add(t, kToServer, SYN, c.cseq - 1, 0, 0, 0, 0, PktKind::TcpSyn);
            std::array<uint64_t, 6> at{};
            synack_schedule(t + kernel_delay(), at);
            for (uint64_t a : at) add(a, kFromServer, SYN | ACK, c.sseq - 1, c.cseq, 0, 0, 0, PktKind::TcpSyn);
            break;
        }
        case Kind::AckDropped: {
            add(t, kToServer, SYN, c.cseq - 1, 0, 0, 0, 0, PktKind::TcpSyn);
            std::array<uint64_t, 6> at{};
            synack_schedule(t + kernel_delay(), at);
            add(at[0], kFromServer, SYN | ACK, c.sseq - 1, c.cseq, 0, 0, 0, PktKind::TcpSyn);
            const uint64_t t_ack = at[0] + c.rtt;
            add(t_ack, kToServer, ACK, c.cseq, c.sseq);
            const uint16_t len = request_len();
            const uint64_t t_data = t_ack + rng_.range(5 * kUs, 50 * kUs);
            add(t_data, kToServer, PSH | ACK, c.cseq, c.sseq, len);
            // Accepted when the client's answer to retransmission k gets in; 0 = never.
            const unsigned k = rng_.chance(0.3) ? 0 : 1 + rng_.below(4);
            const unsigned n_synack = k ? k : 5;
            for (unsigned i = 1; i <= n_synack; ++i) {
                add(at[i], kFromServer, SYN | ACK, c.sseq - 1, c.cseq, 0, 0, 0, PktKind::TcpSyn);
                add(at[i] + c.rtt, kToServer, ACK, c.cseq + len, c.sseq);
            }
            const uint64_t accepted = k ? at[k] + c.rtt : kNever;
            const uint64_t dies = at[5] + 32 * kSec;  // the request times out a round after the last retry
            const uint64_t rto = 200 * kMs + c.rtt;
            uint64_t step = rto;
            for (uint64_t d = t_data + step;; step = std::min(2 * step, 120 * kSec), d += step) {
                if (d > accepted) {
                    converse(c, d, len, true);
                    break;
                }
                if (d > dies) {
                    add(d, kToServer, PSH | ACK, c.cseq, c.sseq, len);
                    add(d + kernel_delay(), kFromServer, RST, c.sseq, 0, 0, 0, 0, PktKind::TcpBare);
                    break;
                }
                add(d, kToServer, PSH | ACK, c.cseq, c.sseq, len);
            }
            break;
        }
        case Kind::SynDropped: {
            add(t, kToServer, SYN, c.cseq - 1, 0, 0, 0, 0, PktKind::TcpSyn);
            // Gaps between SYNs: exponential, or linear first (tcp_syn_linear_timeouts, Linux 6.5+).
            static constexpr std::array<uint64_t, 6> kExp{1, 2, 4, 8, 16, 32}, kLin{1, 1, 1, 1, 2, 4};
            const auto& gaps = rng_.chance(0.5) ? kLin : kExp;
            const unsigned m = rng_.chance(0.2) ? 0 : 1 + rng_.below(3);
            const unsigned n = m ? m : 6;
            uint64_t s = t;
            for (unsigned i = 0; i < n; ++i) {
                s += gaps[i] * kSec + rng_.range(0, 3 * kMs);
                add(s, kToServer, SYN, c.cseq - 1, 0, 0, 0, 0, PktKind::TcpSyn);
            }
            if (m) {
                t = s + kernel_delay();
                add(t, kFromServer, SYN | ACK, c.sseq - 1, c.cseq, 0, 0, 0, PktKind::TcpSyn);
                t += c.rtt;
                add(t, kToServer, ACK, c.cseq, c.sseq);
                converse(c, t + rng_.range(2 * kUs, 60 * kUs), request_len(), true);
            }
            break;
        }
        case Kind::Noise:
            break;
        }
        finish_tcp(f, c.rtt);
    }

    // Orders a flow's packets by time and fills in its TCP timestamps: the client's clock runs
    // one way-delay behind the capture, each side echoes the last value it has received.
    void finish_tcp(const Flow& f, uint64_t rtt) {
        std::stable_sort(scratch_.begin(), scratch_.end(), [](const Pkt& a, const Pkt& b) { return a.t < b.t; });
        if (!f.ts) return;
        const uint64_t owd = rtt / 2;
        const uint32_t cbase = rng_.u32(), sbase = rng_.u32();
        auto clock = [](uint32_t base, uint64_t t) { return base + static_cast<uint32_t>((t + 10 * kSec) / kMs); };
        server_.clear();
        for (auto& p : scratch_) {
            if (p.kind == PktKind::TcpBare) continue;
            if (p.dir == kToServer) {
                p.tsval = clock(cbase, p.t - std::min(p.t, owd));
            } else {
                p.tsval = clock(sbase, p.t);
                server_.push_back(&p);
            }
        }
        // A connection seen from its middle has exchanged timestamps before the capture began.
        const bool opened_before = !(scratch_.front().flags & SYN);
        const uint64_t t0 = scratch_.front().t;
        uint32_t last_c = opened_before ? clock(cbase, t0 - std::min(t0, rtt)) : 0;
        uint32_t last_s = opened_before ? clock(sbase, t0 - std::min(t0, owd)) : 0;
        size_t j = 0;  // server packets that have reached the client
        for (auto& p : scratch_) {
            if (p.kind == PktKind::TcpBare) continue;
            if (p.dir == kToServer) {
                while (j < server_.size() && server_[j]->t + rtt <= p.t) last_s = server_[j++]->tsval;
                p.tsecr = (p.flags & (SYN | ACK)) == SYN ? 0 : last_s;
                last_c = p.tsval;
            } else {
                p.tsecr = last_c;
            }
        }
    }

    void make_noise(Flow& f, uint64_t t) {
        const double u = rng_.uniform();
        const bool link_noise_ok = o_.link != LinkType::Raw || f.v6;
        if (u < 0.4) {  // the server looks a name up
            f.cport = static_cast<uint16_t>(32768 + rng_.below(28000));
            const uint16_t qid = static_cast<uint16_t>(rng_.u32());
            add(t, kFromServer, 0, 0, 0, 0, qid, 0, PktKind::DnsQuery);
            add(t + rng_.log_uniform_ns(200 * kUs, 5 * kMs), kToServer, 0, 0, 0, 0, qid, 0, PktKind::DnsReply);
        } else if (u < 0.6) {  // someone pings the server
            const uint16_t id = static_cast<uint16_t>(rng_.u32());
            add(t, kToServer, 0, rng_.below(1000), 0, 0, id, 0, PktKind::EchoRequest);
            add(t + rng_.range(8 * kUs, 30 * kUs), kFromServer, 0, scratch_.back().seq, 0, 0, id, 0, PktKind::EchoReply);
        } else if (u < 0.7 && link_noise_ok) {  // ARP or neighbour discovery for the router
            add(t, kFromServer, 0, 0, 0, 0, 0, 0, f.v6 ? PktKind::NdSolicit : PktKind::ArpRequest);
            add(t + rng_.range(30 * kUs, 300 * kUs), kToServer, 0, 0, 0, 0, 0, 0, f.v6 ? PktKind::NdAdvert : PktKind::ArpReply);
        } else {  // metrics leave the server
            f.cport = static_cast<uint16_t>(32768 + rng_.below(28000));
            add(t, kFromServer, 0, rng_.below(100000), 0, 0, 0, 0, PktKind::Statsd);
        }
    }

    Kind pick_kind() {
        if (o_.mode == Mode::CompleteClose) return Kind::Complete;
        const double u = rng_.uniform();
        if (o_.mode == Mode::NeverClose) return u < 0.70 ? Kind::Established : u < 0.90 ? Kind::HalfOpen : Kind::ClientReset;
        if (u < 0.70) return Kind::Complete;
        if (u < 0.76) return Kind::HalfOpen;
        if (u < 0.84) return Kind::Refused;
        if (u < 0.88) return Kind::AckDropped;
        if (u < 0.91) return Kind::SynDropped;
        if (u < 0.95) return Kind::ClientReset;
        return Kind::MidStream;
    }

    // Chooses who talks to whom; regular clients take ephemeral ports in turn, as a kernel does.
    void pick_endpoints(Kind kind, Flow& f) {
        f.v6 = rng_.chance(o_.v6_share);
        f.label = rng_.u32() & 0xfffff;
        f.cid = static_cast<uint16_t>(rng_.u32());
        f.sid = static_cast<uint16_t>(rng_.u32());
        if (kind == Kind::Noise) {
            f.host = 256 + rng_.below(kClientPool);
            f.cttl = 64;
            return;
        }
        const double u = rng_.uniform();
        f.profile = kind == Kind::HalfOpen ? (rng_.chance(0.5) ? kBare : kLinux)
                    : kind == Kind::ClientReset ? kBare
                    : u < 0.6 ? kLinux : u < 0.85 ? kWindows : kMac;
        f.ts = f.profile == kLinux || f.profile == kMac;
        f.cmss = f.profile == kBare ? 1460 : (f.v6 ? 1440 : 1460);
        const unsigned hops = 3 + rng_.below(12);
        f.cttl = static_cast<uint8_t>((f.profile == kWindows ? 128 : 64) - hops);
        if (o_.mode == Mode::NeverClose) {
            unique_source(kind, f);
        } else if (kind == Kind::HalfOpen || kind == Kind::ClientReset) {  // spoofed floods and scanners
            f.host = kClientPool + 256 + rng_.below(kHostSpace - kClientPool - 512);
            f.cport = static_cast<uint16_t>(1024 + rng_.below(64512));
        } else {
            const uint32_t i = rng_.below(kClientPool);
            f.host = 256 + i;
            uint16_t& p = client_port_[i];
            f.cport = p;
            p = p >= 60999 ? 32768 : static_cast<uint16_t>(p + 1);
        }
        if (kind == Kind::Refused) {
            f.sport = kClosedPorts[rng_.below(kClosedPorts.size())];
        } else if ((kind == Kind::HalfOpen || kind == Kind::AckDropped || kind == Kind::SynDropped) && rng_.chance(0.7)) {
            f.sport = listen_port(0);  // the overloaded listener
        } else {
            const double v = rng_.uniform();
            unsigned i = 0;
            while (i + 1 < o_.listeners && v > listener_cdf_[i]) ++i;
            f.sport = listen_port(i);
        }
    }

    // --mode never-close: the same hosts as the mix, but no address and port pair twice in the
    // file. Regular clients take their ports in turn (32768-60999, from a random start), flood
    // and scanner sources theirs in turn too (1024-65535, from a start hashed from the seed and
    // the host); a host whose ports are all used passes the connection on to the next host.
    void unique_source(Kind kind, Flow& f) {
        const bool regular = kind == Kind::Established;
        const uint32_t first = regular ? 256 : kClientPool + 256;
        const uint32_t hosts = regular ? kClientPool : kHostSpace - kClientPool - 512;
        const uint32_t ports = regular ? 61000 - 32768 : 64512;
        uint32_t i = rng_.below(hosts);
        for (uint32_t tried = 0; host_uses_[first + i] >= ports; i = (i + 1) % hosts) {
            if (++tried == hosts) {
                sources_exhausted_ = true;  // run() reports it; far beyond any file size in use
                break;
            }
        }
        f.host = first + i;
        const uint32_t k = host_uses_[f.host]++;
        if (regular) {
            uint16_t& p = client_port_[i];
            f.cport = p;
            p = p >= 60999 ? 32768 : static_cast<uint16_t>(p + 1);
        } else {
            uint64_t x = o_.seed ^ (0x666c6f6f64000000ULL + f.host);
            f.cport = static_cast<uint16_t>(1024 + (Rng::splitmix(x) % ports + k) % ports);
        }
    }

    // Average packets per connection and per noise event, from a throwaway run, so that the
    // arrival rates give the packet rate asked for.
    void calibrate() {
        const Rng saved = rng_;
        const auto saved_ports = client_port_;
        const auto saved_uses = host_uses_;
        rng_ = Rng(o_.seed ^ 0x63616c6962726174ULL);
        constexpr int kRuns = 20000;
        uint64_t tcp = 0, noise = 0;
        for (int i = 0; i < kRuns; ++i) {
            Flow f;
            const Kind k = pick_kind();
            pick_endpoints(k, f);
            scratch_.clear();
            make_tcp(k, f, 0);
            tcp += scratch_.size();
            Flow g;
            pick_endpoints(Kind::Noise, g);
            scratch_.clear();
            make_noise(g, 0);
            noise += scratch_.size();
        }
        scratch_.clear();
        rng_ = saved;
        client_port_ = saved_ports;
        host_uses_ = saved_uses;
        pkts_per_conn_ = static_cast<double>(tcp) / kRuns;
        pkts_per_noise_ = static_cast<double>(noise) / kRuns;
    }

    // Rate multiplier of a second of capture time, 0.5-2 (log-uniform), from the seed alone;
    // constant in --mode never-close.
    double rate_factor(uint64_t t) const {
        if (o_.mode == Mode::NeverClose) return 1.0;
        uint64_t x = o_.seed * 0x9e3779b97f4a7c15ULL + t / kSec;
        const double u = static_cast<double>(Rng::splitmix(x) >> 11) * 0x1.0p-53;
        return std::exp((u * 2 - 1) * std::log(2.0));
    }

    uint32_t alloc_flow() {
        if (!free_.empty()) {
            const uint32_t i = free_.back();
            free_.pop_back();
            flows_[i] = Flow{};
            return i;
        }
        flows_.emplace_back();
        return static_cast<uint32_t>(flows_.size() - 1);
    }

    // Moves the scratch packets (at most room of them) into the queue as flow fid's.
    void enqueue(uint32_t fid, size_t room) {
        const size_t n = std::min(room, scratch_.size());
        flows_[fid].refs = static_cast<uint32_t>(n);
        for (size_t i = 0; i < n; ++i) {
            Pkt p = scratch_[i];
            p.flow = fid;
            p.order = order_++;
            queue_.push(p);
        }
        if (n == 0) free_.push_back(fid);
        scratch_.clear();
    }

    // ---- writing -----------------------------------------------------------------------------
    size_t write_link(uint8_t* b, uint8_t dir, uint16_t ethertype, bool multicast, bool v6) const;
    size_t write_packet(const Pkt& p, const Flow& f, uint8_t* buf, uint32_t& wire_len);

    void server_addr(bool v6, uint8_t* a) const {
        if (v6) {
            static constexpr uint8_t k[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
            std::memcpy(a, k, 16);
        } else {
            static constexpr uint8_t k[4] = {10, 77, 0, 2};
            std::memcpy(a, k, 4);
        }
    }
    void host_addr(bool v6, uint32_t host, uint8_t* a) const {
        if (v6) {
            static constexpr uint8_t k[12] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0};
            std::memcpy(a, k, 12);
            put32(a + 12, host);
        } else {
            a[0] = 198;
            a[1] = static_cast<uint8_t>(18 + (host >> 16));
            a[2] = static_cast<uint8_t>(host >> 8);
            a[3] = static_cast<uint8_t>(host);
        }
    }

    const Options& o_;
    Rng rng_;
    Pattern request_, response_;
    std::vector<uint16_t> client_port_;
    std::vector<uint32_t> host_uses_;  // --mode never-close: connections opened by each host
    bool sources_exhausted_ = false;
    std::vector<double> listener_cdf_;
    std::vector<Pkt> scratch_;
    std::vector<Pkt*> server_;
    std::vector<Flow> flows_;
    std::vector<uint32_t> free_;
    std::priority_queue<Pkt, std::vector<Pkt>, Later> queue_;
    uint64_t order_ = 0;
    double pkts_per_conn_ = 10, pkts_per_noise_ = 1.8;
};

constexpr uint8_t kServerMac[6] = {0x02, 0x4c, 0x50, 0x00, 0x00, 0x02};
constexpr uint8_t kRouterMac[6] = {0x02, 0x4c, 0x50, 0x00, 0x00, 0x01};

size_t Generator::write_link(uint8_t* b, uint8_t dir, uint16_t ethertype, bool multicast, bool v6) const {
    const uint8_t* src = dir == kToServer ? kRouterMac : kServerMac;
    switch (o_.link) {
    case LinkType::En10mb: {
        if (multicast && v6) {
            static constexpr uint8_t k[6] = {0x33, 0x33, 0xff, 0x00, 0x00, 0x01};
            std::memcpy(b, k, 6);
        } else if (multicast) {
            std::memset(b, 0xff, 6);
        } else {
            std::memcpy(b, dir == kToServer ? kServerMac : kRouterMac, 6);
        }
        std::memcpy(b + 6, src, 6);
        put16(b + 12, ethertype);
        return 14;
    }
    case LinkType::LinuxSll: {  // pkttype, ARPHRD, address length, address (8), protocol
        put16(b, dir == kFromServer ? 4 : multicast ? (v6 ? 2 : 1) : 0);
        put16(b + 2, 1);
        put16(b + 4, 6);
        std::memset(b + 6, 0, 8);
        std::memcpy(b + 6, src, 6);
        put16(b + 14, ethertype);
        return 16;
    }
    case LinkType::LinuxSll2: {  // protocol, reserved, ifindex, ARPHRD, pkttype, address length, address (8)
        put16(b, ethertype);
        put16(b + 2, 0);
        put32(b + 4, 2);
        put16(b + 8, 1);
        b[10] = static_cast<uint8_t>(dir == kFromServer ? 4 : multicast ? (v6 ? 2 : 1) : 0);
        b[11] = 6;
        std::memset(b + 12, 0, 8);
        std::memcpy(b + 12, src, 6);
        return 20;
    }
    case LinkType::Raw:
        return 0;
    }
    return 0;
}

// Lays out one packet in buf (headers and as much payload as the snap length keeps); returns the
// bytes written and sets wire_len to the packet's full length.
size_t Generator::write_packet(const Pkt& p, const Flow& f, uint8_t* buf, uint32_t& wire_len) {
    const bool v6 = f.v6;
    const size_t snap = static_cast<size_t>(o_.snaplen);

    if (p.kind == PktKind::ArpRequest || p.kind == PktKind::ArpReply) {
        const bool req = p.kind == PktKind::ArpRequest;
        size_t n = write_link(buf, p.dir, 0x0806, req, false);
        uint8_t* a = buf + n;
        put16(a, 1);
        put16(a + 2, 0x0800);
        a[4] = 6;
        a[5] = 4;
        put16(a + 6, req ? 1 : 2);
        static constexpr uint8_t srv[4] = {10, 77, 0, 2}, gw[4] = {10, 77, 0, 1};
        std::memcpy(a + 8, req ? kServerMac : kRouterMac, 6);
        std::memcpy(a + 14, req ? srv : gw, 4);
        if (req) std::memset(a + 18, 0, 6); else std::memcpy(a + 18, kServerMac, 6);
        std::memcpy(a + 24, req ? gw : srv, 4);
        n += 28;
        if (o_.link == LinkType::En10mb && p.dir == kToServer && n < 60) {
            std::memset(buf + n, 0, 60 - n);
            n = 60;
        }
        wire_len = static_cast<uint32_t>(n);
        return std::min(n, snap);
    }

    // Addresses: the remote end and the capture host.
    uint8_t remote[16], local[16];
    server_addr(v6, local);
    uint8_t proto = 6;
    if (p.kind == PktKind::DnsQuery || p.kind == PktKind::DnsReply) {
        proto = 17;
        if (v6) { server_addr(true, remote); remote[15] = 0x53; }
        else { remote[0] = 10; remote[1] = 77; remote[2] = 0; remote[3] = 53; }
    } else if (p.kind == PktKind::Statsd) {
        proto = 17;
        if (v6) { server_addr(true, remote); remote[15] = 9; }
        else { remote[0] = 10; remote[1] = 77; remote[2] = 0; remote[3] = 9; }
    } else if (p.kind == PktKind::EchoRequest || p.kind == PktKind::EchoReply) {
        proto = v6 ? 58 : 1;
        host_addr(v6, f.host, remote);
    } else if (p.kind == PktKind::NdSolicit || p.kind == PktKind::NdAdvert) {
        proto = 58;
        server_addr(true, remote);
        remote[15] = 1;  // the router, fd77::1
    } else {
        host_addr(v6, f.host, remote);
    }
    const uint8_t* src = p.dir == kToServer ? remote : local;
    const uint8_t* dst = p.dir == kToServer ? local : remote;
    uint8_t nd_dst[16];
    if (p.kind == PktKind::NdSolicit) {  // solicited-node multicast of fd77::1
        static constexpr uint8_t k[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1};
        std::memcpy(nd_dst, k, 16);
        dst = nd_dst;
    }

    size_t n = write_link(buf, p.dir, v6 ? 0x86dd : 0x0800, p.kind == PktKind::NdSolicit, v6);
    uint8_t* ip = buf + n;
    const size_t ip_hlen = v6 ? 40 : 20;
    uint8_t* l4 = ip + ip_hlen;
    size_t l4_hlen = 0;          // bytes of the L4 header (and noise payload) written in full
    uint64_t payload_sum = 0;    // checksum words of payload bytes not laid out in full
    size_t payload_len = 0;      // TCP payload length
    uint8_t ttl = p.dir == kToServer ? f.cttl : 64;

    switch (p.kind) {
    case PktKind::Tcp:
    case PktKind::TcpSyn:
    case PktKind::TcpBare: {
        const bool client = p.dir == kToServer;
        put16(l4, client ? f.cport : f.sport);
        put16(l4 + 2, client ? f.sport : f.cport);
        put32(l4 + 4, p.seq);
        put32(l4 + 8, p.ack);
        l4[13] = p.flags;
        put16(l4 + 16, 0);
        put16(l4 + 18, 0);
        uint8_t* o = l4 + 20;
        uint16_t win;
        auto ts_opt = [&](uint8_t* q) {
            q[0] = 8; q[1] = 10;
            put32(q + 2, p.tsval);
            put32(q + 6, p.tsecr);
        };
        if (p.kind == PktKind::TcpSyn) {
            const uint16_t mss = client ? f.cmss : (v6 ? 1440 : 1460);
            o[0] = 2; o[1] = 4; put16(o + 2, mss);
            o += 4;
            if (client) {
                switch (f.profile) {
                case kLinux:  // MSS, SACK_PERM, TS, NOP, WS 7
                    o[0] = 4; o[1] = 2; ts_opt(o + 2); o[12] = 1; o[13] = 3; o[14] = 3; o[15] = 7;
                    o += 16;
                    win = v6 ? 64800 : 64240;
                    break;
                case kWindows:  // MSS, NOP, WS 8, NOP, NOP, SACK_PERM
                    o[0] = 1; o[1] = 3; o[2] = 3; o[3] = 8; o[4] = 1; o[5] = 1; o[6] = 4; o[7] = 2;
                    o += 8;
                    win = 64240;
                    break;
                case kMac:  // MSS, NOP, WS 6, NOP, NOP, TS, SACK_PERM, EOL
                    o[0] = 1; o[1] = 3; o[2] = 3; o[3] = 6; o[4] = 1; o[5] = 1; ts_opt(o + 6); o[16] = 4; o[17] = 2;
                    o[18] = 0; o[19] = 0;
                    o += 20;
                    win = 65535;
                    break;
                default:  // a flood tool: MSS only
                    win = 1024;
                    break;
                }
            } else {  // Linux answers with what the client offered
                const bool sack = f.profile != kBare, ws = f.profile != kBare;
                if (f.ts) {
                    if (sack) { o[0] = 4; o[1] = 2; } else { o[0] = 1; o[1] = 1; }
                    ts_opt(o + 2);
                    o += 12;
                } else if (sack) {
                    o[0] = 1; o[1] = 1; o[2] = 4; o[3] = 2;
                    o += 4;
                }
                if (ws) { o[0] = 1; o[1] = 3; o[2] = 3; o[3] = 7; o += 4; }
                win = v6 ? 64800 : 65160;
            }
        } else if (p.kind == PktKind::Tcp) {
            if (f.ts) {
                o[0] = 1; o[1] = 1; ts_opt(o + 2);
                o += 12;
            }
            win = client ? (f.profile == kWindows ? 1026 : f.profile == kMac ? 2058 : f.profile == kBare ? 1024 : 502) : 509;
        } else {
            win = 0;
        }
        if (p.flags & RST) win = 0;
        l4_hlen = static_cast<size_t>(o - l4);
        l4[12] = static_cast<uint8_t>((l4_hlen / 4) << 4);
        put16(l4 + 14, win);
        payload_len = p.len;
        const Pattern& pat = p.content ? response_ : request_;
        const size_t off = p.off % (pat.bytes.size() - 2048);
        const size_t room = n + ip_hlen + l4_hlen < snap ? snap - (n + ip_hlen + l4_hlen) : 0;
        std::memcpy(l4 + l4_hlen, pat.bytes.data() + off, std::min(room, payload_len));
        payload_sum = pat.sum(off & ~size_t{1}, payload_len);
        break;
    }
    case PktKind::DnsQuery:
    case PktKind::DnsReply: {
        const bool reply = p.kind == PktKind::DnsReply;
        put16(l4, reply ? 53 : f.cport);
        put16(l4 + 2, reply ? f.cport : 53);
        uint8_t* d = l4 + 8;
        put16(d, p.off);
        put16(d + 2, reply ? 0x8180 : 0x0100);
        put16(d + 4, 1);
        put16(d + 6, reply ? 1 : 0);
        put16(d + 8, 0);
        put16(d + 10, 0);
        size_t q = 12;
        const std::string label = fmt::format("api-{}", p.off % 97);
        d[q++] = static_cast<uint8_t>(label.size());
        std::memcpy(d + q, label.data(), label.size());
        q += label.size();
        static constexpr uint8_t tail[] = {5, 'b', 'e', 'n', 'c', 'h', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
        std::memcpy(d + q, tail, sizeof tail);
        q += sizeof tail;
        put16(d + q, v6 ? 28 : 1);
        put16(d + q + 2, 1);
        q += 4;
        if (reply) {
            put16(d + q, 0xc00c);
            put16(d + q + 2, v6 ? 28 : 1);
            put16(d + q + 4, 1);
            put32(d + q + 6, 60);
            put16(d + q + 10, v6 ? 16 : 4);
            q += 12;
            if (v6) {
                static constexpr uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
                std::memcpy(d + q, a6, 16);
                d[q + 15] = static_cast<uint8_t>(p.off % 97);
                q += 16;
            } else {
                d[q] = 198; d[q + 1] = 51; d[q + 2] = 100; d[q + 3] = static_cast<uint8_t>(p.off % 97);
                q += 4;
            }
        }
        l4_hlen = 8 + q;
        put16(l4 + 4, static_cast<uint16_t>(l4_hlen));
        put16(l4 + 6, 0);
        ttl = 64;
        break;
    }
    case PktKind::Statsd: {
        put16(l4, f.cport);
        put16(l4 + 2, 8125);
        const std::string s = fmt::format("bench.requests:{}|c|#listener:{}", p.seq % 1000, p.seq % 7);
        std::memcpy(l4 + 8, s.data(), s.size());
        l4_hlen = 8 + s.size();
        put16(l4 + 4, static_cast<uint16_t>(l4_hlen));
        put16(l4 + 6, 0);
        break;
    }
    case PktKind::EchoRequest:
    case PktKind::EchoReply: {
        const bool req = p.kind == PktKind::EchoRequest;
        l4[0] = v6 ? (req ? 128 : 129) : (req ? 8 : 0);
        l4[1] = 0;
        put16(l4 + 2, 0);
        put16(l4 + 4, p.off);
        put16(l4 + 6, static_cast<uint16_t>(p.seq));
        for (size_t i = 0; i < 56; ++i) l4[8 + i] = static_cast<uint8_t>(0x10 + i);
        l4_hlen = 64;
        break;
    }
    case PktKind::NdSolicit:
    case PktKind::NdAdvert: {
        const bool sol = p.kind == PktKind::NdSolicit;
        l4[0] = sol ? 135 : 136;
        l4[1] = 0;
        put16(l4 + 2, 0);
        put32(l4 + 4, sol ? 0 : 0x60000000);  // solicited, override
        server_addr(true, l4 + 8);
        l4[23] = 1;  // target fd77::1
        l4[24] = sol ? 1 : 2;  // source / target link-layer address option
        l4[25] = 1;
        std::memcpy(l4 + 26, sol ? kServerMac : kRouterMac, 6);
        l4_hlen = 32;
        ttl = 255;
        break;
    }
    default:
        break;
    }

    const size_t l4_len = l4_hlen + payload_len;
    // IP header.
    if (v6) {
        put32(ip, 0x60000000u | (proto == 6 ? f.label : 0));
        put16(ip + 4, static_cast<uint16_t>(l4_len));
        ip[6] = proto;
        ip[7] = ttl;
        std::memcpy(ip + 8, src, 16);
        std::memcpy(ip + 24, dst, 16);
    } else {
        ip[0] = 0x45;
        ip[1] = 0;
        put16(ip + 2, static_cast<uint16_t>(20 + l4_len));
        Flow& mf = flows_[p.flow];
        put16(ip + 4, p.dir == kToServer ? mf.cid++ : mf.sid++);
        put16(ip + 6, proto == 6 ? 0x4000 : 0);
        ip[8] = ttl;
        ip[9] = proto;
        put16(ip + 10, 0);
        std::memcpy(ip + 12, src, 4);
        std::memcpy(ip + 16, dst, 4);
        put16(ip + 10, fold(sum_words(ip, 20)));
    }
    // Transport checksum (ICMPv4 has no pseudo-header).
    uint64_t sum = sum_words(l4, l4_hlen) + payload_sum;
    if (!(proto == 1)) {
        sum += sum_words(src, v6 ? 16 : 4) + sum_words(dst, v6 ? 16 : 4) + proto + l4_len;
    }
    uint16_t ck = fold(sum);
    const size_t ck_at = proto == 6 ? 16 : proto == 17 ? 6 : 2;
    if (proto == 17 && ck == 0) ck = 0xffff;
    put16(l4 + ck_at, ck);

    size_t total = n + ip_hlen + l4_len;
    if (o_.link == LinkType::En10mb && p.dir == kToServer && total < 60) {  // Ethernet padding
        std::memset(buf + total, 0, 60 - total);
        total = 60;
    }
    wire_len = static_cast<uint32_t>(total);
    return std::min(total, snap);
}

bool Generator::run() {
    int dlt = DLT_EN10MB;
    switch (o_.link) {
    case LinkType::En10mb: dlt = DLT_EN10MB; break;
    case LinkType::LinuxSll: dlt = DLT_LINUX_SLL; break;
    case LinkType::LinuxSll2: dlt = DLT_LINUX_SLL2; break;
    case LinkType::Raw: dlt = DLT_RAW; break;
    }
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(dlt, o_.snaplen, PCAP_TSTAMP_PRECISION_NANO);
    if (!dead) {
        fmt::print(stderr, "lp_gencap: pcap_open_dead failed\n");
        return false;
    }
    const bool to_stdout = o_.out == "-";
    FILE* fp = to_stdout ? stdout : std::fopen(o_.out.c_str(), "wb");
    if (!fp) {
        fmt::print(stderr, "lp_gencap: cannot write {}: {}\n", o_.out, std::strerror(errno));
        pcap_close(dead);
        return false;
    }
    static std::vector<char> iobuf(4 << 20);
    std::setvbuf(fp, iobuf.data(), _IOFBF, iobuf.size());
    pcap_dumper_t* dumper = pcap_dump_fopen(dead, fp);
    if (!dumper) {
        fmt::print(stderr, "lp_gencap: {}\n", pcap_geterr(dead));
        if (!to_stdout) std::fclose(fp);
        pcap_close(dead);
        return false;
    }

    const double conn_rate = o_.pps * (1 - o_.noise_share) / pkts_per_conn_;  // per second
    const double noise_rate = o_.pps * o_.noise_share / pkts_per_noise_;
    uint64_t next_conn = 0, next_noise = noise_rate > 0 ? rng_.exp_ns(1e9 / noise_rate) : kNever;
    bool opening = conn_rate > 0;
    const bool fit = o_.mode == Mode::CompleteClose;
    uint64_t written = 0, connections = 0, bytes = 0, last_t = 0;
    std::vector<uint8_t> buf(4096);
    const auto start = std::chrono::steady_clock::now();

    while (written < o_.packets) {
        const uint64_t th = queue_.empty() ? kNever : queue_.top().t;
        const uint64_t tc = opening ? next_conn : kNever;
        if (th <= tc && th <= next_noise) {
            if (th == kNever) break;  // nothing left to write (cannot happen with noise on)
            const Pkt p = queue_.top();
            queue_.pop();
            uint32_t wire = 0;
            const size_t cap = write_packet(p, flows_[p.flow], buf.data(), wire);
            pcap_pkthdr h{};
            const uint64_t abs = kStartEpoch * kSec + p.t;
            h.ts.tv_sec = static_cast<time_t>(abs / kSec);
            h.ts.tv_usec = static_cast<suseconds_t>(abs % kSec);  // nanoseconds: the file says so
            h.caplen = static_cast<bpf_u_int32>(cap);
            h.len = wire;
            pcap_dump(reinterpret_cast<u_char*>(dumper), &h, buf.data());
            bytes += cap;
            last_t = p.t;
            ++written;
            if (--flows_[p.flow].refs == 0) free_.push_back(p.flow);
            continue;
        }
        const uint64_t pending = written + queue_.size();
        if (tc <= next_noise) {
            const Kind k = pick_kind();
            const uint32_t fid = alloc_flow();
            pick_endpoints(k, flows_[fid]);
            make_tcp(k, flows_[fid], tc);
            if (fit && pending + scratch_.size() > o_.packets) {  // it would not close in the file
                opening = false;
                scratch_.clear();
                free_.push_back(fid);
            } else {
                ++connections;
                enqueue(fid, scratch_.size());
            }
            next_conn = tc + rng_.exp_ns(1e9 / (conn_rate * rate_factor(tc)));
        } else {
            const uint32_t fid = alloc_flow();
            pick_endpoints(Kind::Noise, flows_[fid]);
            make_noise(flows_[fid], next_noise);
            enqueue(fid, fit ? static_cast<size_t>(o_.packets - std::min(o_.packets, pending)) : scratch_.size());
            next_noise += rng_.exp_ns(1e9 / (noise_rate * rate_factor(next_noise)));
        }
    }

    const bool write_error = pcap_dump_flush(dumper) != 0 || std::ferror(fp) != 0;
    if (sources_exhausted_) {
        fmt::print(stderr, "lp_gencap: {}: every client address and port pair is used: the file would reuse some\n", o_.out);
        pcap_dump_close(dumper);
        pcap_close(dead);
        return false;
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
    if (write_error) {
        fmt::print(stderr, "lp_gencap: write error on {}\n", o_.out);
        return false;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print(stderr, "lp_gencap: {} packets, {} connections, {} captured bytes, {:.3f} s of capture time, "
                       "written in {:.2f} s ({:.0f} packets/s)\n",
               written, connections, bytes, static_cast<double>(last_t) / 1e9, secs,
               static_cast<double>(written) / secs);
    return true;
}

}  // namespace
}  // namespace lp

int main(int argc, char** argv) {
    lp::Options o;
    CLI::App app{"Writes a synthetic capture of TCP handshakes towards a few listeners (for the replay benchmark)."};
    std::string link = "en10mb", mode = "mix";
    bool version = false;
    app.add_option("-o,--output", o.out, "pcap file to write ('-' for stdout)");
    app.add_option("-n,--packets", o.packets, "number of packets")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
    app.add_option("--seed", o.seed, "PRNG seed (same arguments, same bytes)")->capture_default_str();
    app.add_option("--linktype", link, "link-layer header")
        ->check(CLI::IsMember({"en10mb", "linux_sll", "linux_sll2", "raw"}))->capture_default_str();
    app.add_option("--ipv6-share", o.v6_share, "share of IPv6 connections")->check(CLI::Range(0.0, 1.0))->capture_default_str();
    app.add_option("--listeners", o.listeners, "number of listening ports")->check(CLI::Range(1u, 64u))->capture_default_str();
    app.add_option("--mode", mode, "mix, complete-close (every connection completes and closes) or never-close "
                                   "(handshakes that never close: 70% established, 20% half-open, 10% client reset)")
        ->check(CLI::IsMember({"mix", "complete-close", "never-close"}))->capture_default_str();
    app.add_option("--pps", o.pps, "mean packets per second of capture time")->check(CLI::Range(1.0, 1e8))->capture_default_str();
    app.add_option("--noise-share", o.noise_share, "share of non-TCP packets")->check(CLI::Range(0.0, 0.9))->capture_default_str();
    app.add_option("--snaplen", o.snaplen, "snap length")->check(CLI::Range(96, 65535))->capture_default_str();
    app.add_flag("--version", version, "print the output format version and exit");
    CLI11_PARSE(app, argc, argv);
    if (version) {
        fmt::print("{}\n", lp::kFormatVersion);
        return 0;
    }
    if (o.out.empty() || o.packets == 0) {
        fmt::print(stderr, "lp_gencap: -o FILE and -n PACKETS are required\n");
        return 2;
    }
    o.link = link == "linux_sll" ? lp::LinkType::LinuxSll : link == "linux_sll2" ? lp::LinkType::LinuxSll2
           : link == "raw" ? lp::LinkType::Raw : lp::LinkType::En10mb;
    o.mode = mode == "complete-close" ? lp::Mode::CompleteClose : mode == "never-close" ? lp::Mode::NeverClose : lp::Mode::Mix;
    lp::Generator g(o);
    return g.run() ? 0 : 1;
}
