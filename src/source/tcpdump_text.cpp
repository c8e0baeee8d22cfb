// tcpdump -nn text as a capture source: a streaming line reader, a hand-written
// parser for one packet line, and tcpdump's own relative-sequence bookkeeping run
// backwards so every number that leaves here is absolute.
#include "source/tcpdump_text.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

#include "segments/error.hpp"

namespace lp {
namespace {

constexpr int64_t kSecNs = 1'000'000'000;
constexpr int64_t kDayNs = 86'400 * kSecNs;
constexpr int64_t kMaxTimeNs = 8'000'000'000'000'000'000;  // keeps every sum below INT64_MAX
constexpr size_t kMaxLine = 64 * 1024;                      // longer lines are skipped
constexpr size_t kBufSize = 2 * kMaxLine;                  // a whole line always fits, plus as much again

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_space(char c) { return c == ' ' || c == '\t'; }

// Takes a literal off the front of `s` (its length a constant, so the compare stays inline).
template <size_t N>
bool consume(std::string_view& s, const char (&word)[N]) {
    constexpr size_t n = N - 1;
    if (s.size() < n || std::memcmp(s.data(), word, n) != 0) return false;
    s.remove_prefix(n);
    return true;
}

// An unsigned number at the front of `s`, not followed by a letter or digit.
template <class T>
bool take_uint(std::string_view& s, T& v) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end == s.data()) return false;
    s.remove_prefix(static_cast<size_t>(end - s.data()));
    return s.empty() || (!is_digit(s.front()) && !is_alpha(s.front()));
}

// Exactly n digits at s[pos..].
bool fixed_digits(std::string_view s, size_t pos, size_t n, int64_t& v) {
    if (pos + n > s.size()) return false;
    v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
        if (!is_digit(s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

// ---------------------------------------------------------------- timestamps

struct Stamp {
    enum Kind { time_of_day, dated, epoch } kind = time_of_day;
    int64_t ns = 0;  // time of day, or since the epoch for `dated` and `epoch`
};

// ".frac" with 1..9 digits as ns; `s` is just past the dot.
bool take_fraction(std::string_view& s, int64_t& ns, size_t& digits) {
    digits = 0;
    ns = 0;
    while (digits < s.size() && is_digit(s[digits])) {
        if (digits == 9) return false;
        ns = ns * 10 + (s[digits] - '0');
        ++digits;
    }
    if (digits == 0) return false;
    for (size_t i = digits; i < 9; ++i) ns *= 10;
    s.remove_prefix(digits);
    return true;
}

// HH:MM:SS[.frac]; hours may exceed 23 (tcpdump -ttttt counts from the first packet).
bool take_time_of_day(std::string_view& s, int64_t& ns, bool day_hours) {
    size_t h_digits = 0;
    int64_t h = 0;
    while (h_digits < s.size() && is_digit(s[h_digits])) {
        if (h_digits == 5) return false;
        h = h * 10 + (s[h_digits] - '0');
        ++h_digits;
    }
    int64_t m = 0, sec = 0;
    if (h_digits == 0 || s.size() < h_digits + 6 || s[h_digits] != ':' || s[h_digits + 3] != ':' ||
        !fixed_digits(s, h_digits + 1, 2, m) || !fixed_digits(s, h_digits + 4, 2, sec))
        return false;
    if (m > 59 || sec > 60 || (day_hours && h > 23)) return false;
    s.remove_prefix(h_digits + 6);
    int64_t frac = 0;
    if (!s.empty() && s.front() == '.') {
        s.remove_prefix(1);
        size_t digits = 0;
        if (!take_fraction(s, frac, digits)) return false;
    }
    ns = ((h * 60 + m) * 60 + sec) * kSecNs + frac;
    return true;
}

// The packet time at the start of a line, and the blank after it.
bool take_stamp(std::string_view& line, Stamp& st) {
    std::string_view s = line;
    int64_t y = 0, mo = 0, d = 0;
    if (s.size() > 10 && s[4] == '-' && s[7] == '-' && s[10] == ' ' && fixed_digits(s, 0, 4, y) &&
        fixed_digits(s, 5, 2, mo) && fixed_digits(s, 8, 2, d)) {
        if (y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31) return false;
        s.remove_prefix(11);
        int64_t tod = 0;
        if (!take_time_of_day(s, tod, true)) return false;
        st.kind = Stamp::dated;
        st.ns = days_from_civil(y, mo, d) * kDayNs + tod;
    } else if (!s.empty() && is_digit(s.front())) {
        // HH:MM:SS.frac or (-tt) SECONDS.frac
        size_t n = 0;
        while (n < s.size() && is_digit(s[n])) ++n;
        if (n < s.size() && s[n] == ':') {
            int64_t tod = 0;
            if (!take_time_of_day(s, tod, false)) return false;
            st.kind = Stamp::time_of_day;
            st.ns = tod;
        } else if (n < s.size() && s[n] == '.' && n <= 10) {
            int64_t secs = 0;
            fixed_digits(s, 0, n, secs);
            s.remove_prefix(n + 1);
            int64_t frac = 0;
            size_t digits = 0;
            if (!take_fraction(s, frac, digits) || (digits != 6 && digits != 9)) return false;
            if (secs > 7'000'000'000) return false;
            st.kind = Stamp::epoch;
            st.ns = secs * kSecNs + frac;
        } else {
            return false;
        }
    } else {
        return false;
    }
    if (s.empty() || !is_space(s.front())) return false;
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    if (s.empty()) return false;
    line = s;
    return true;
}

// The first word looks like a packet time, read or not ("99999:00:00.000000", "2024-13-01"),
// not like a -e link address ("00:11:22:33:44:55") or the start of a -t line.
bool looks_like_time(std::string_view line) {
    const std::string_view w = line.substr(0, line.find(' '));
    int colons = 0, dots = 0, dashes = 0;
    for (char c : w) {
        if (c == ':') ++colons;
        else if (c == '.') ++dots;
        else if (c == '-') ++dashes;
        else if (!is_digit(c)) return false;
    }
    return !w.empty() && is_digit(w.front()) && colons <= 2 && dots <= 1 && (dashes == 0 || dashes == 2);
}

// ---------------------------------------------------------------- one TCP line

enum class Parse { ok, not_tcp, bad, names };

struct RawTcp {
    Endpoint src, dst;
    uint8_t flags = 0;
    bool has_seq = false, has_seq_end = false, has_ack = false, has_len = false;
    uint32_t seq = 0, seq_end = 0, ack = 0, len = 0;
    uint16_t win = 0;
    uint8_t ttl = 0;  // from a -v header line ("ttl 64", "hlim 64"), 0 when not printed
    TcpOptions opt;
};

bool parse_v4(std::string_view s, IpAddress& a) {
    a = IpAddress{};
    a.family = 4;
    for (int i = 0; i < 4; ++i) {
        unsigned v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        const size_t used = static_cast<size_t>(end - s.data());
        if (ec != std::errc() || used == 0 || used > 3 || v > 255) return false;
        a.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
        s.remove_prefix(used);
        if (i < 3 && !consume(s, ".")) return false;
    }
    return s.empty();
}

// "ADDR.PORT": the last dot separates the port (IPv6 addresses contain none after it).
Parse parse_endpoint(std::string_view tok, Endpoint& e) {
    const size_t dot = tok.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return Parse::bad;
    std::string_view addr = tok.substr(0, dot), port = tok.substr(dot + 1);
    unsigned p = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || port.size() > 5 || ec != std::errc() || end != port.data() + port.size() ||
        p > 65535) {
        const bool word = std::any_of(port.begin(), port.end(), is_alpha);
        return word ? Parse::names : Parse::bad;  // a service name: tcpdump ran without -nn
    }
    e.port = static_cast<uint16_t>(p);
    if (addr.find(':') != std::string_view::npos) {
        auto a = IpAddress::parse(addr);
        if (!a || a->family != 6) return Parse::bad;
        e.addr = *a;
        return Parse::ok;
    }
    if (parse_v4(addr, e.addr)) return Parse::ok;
    return std::any_of(addr.begin(), addr.end(), is_alpha) ? Parse::names : Parse::bad;
}

bool parse_flags(std::string_view s, uint8_t& flags) {
    flags = 0;
    if (s == "none") return true;
    if (s.empty()) return false;
    for (char c : s) {
        switch (c) {
            case 'S': flags |= tcp::SYN; break;
            case 'F': flags |= tcp::FIN; break;
            case 'R': flags |= tcp::RST; break;
            case 'P': flags |= tcp::PSH; break;
            case '.': flags |= tcp::ACK; break;
            case 'U': flags |= tcp::URG; break;
            case 'E': flags |= tcp::ECE; break;
            case 'W': flags |= tcp::CWR; break;
            case 'e': break;  // AccECN's AE bit: outside the 8 flag bits a Segment keeps
            default: return false;
        }
    }
    return true;
}

// Index just past the ']' closing a '[' already consumed, counting nested brackets
// ("[bad opt]", "[len 5]"), or npos.
size_t closing_bracket(std::string_view s) {
    int depth = 1;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '[') {
            ++depth;
        } else if (s[i] == ']' && --depth == 0) {
            return i + 1;
        }
    }
    return std::string_view::npos;
}

// The inside of "options [...]": mss, wscale, sackOK and TS are kept, others passed over.
bool parse_options(std::string_view s, TcpOptions& o) {
    while (!s.empty()) {
        const size_t comma = s.find(',');
        std::string_view item = s.substr(0, comma);
        s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
        while (!item.empty() && is_space(item.front())) item.remove_prefix(1);
        if (item.empty()) continue;
        if (consume(item, "mss ")) {
            uint16_t v = 0;
            if (!take_uint(item, v)) return false;
            o.mss = v;
            o.push_layout(optcode::mss);
        } else if (consume(item, "wscale ")) {
            uint8_t v = 0;
            if (!take_uint(item, v)) return false;
            o.wscale = v;
            o.push_layout(optcode::ws);
        } else if (item == "sackOK" || item.starts_with("sackOK[")) {
            o.sack_ok = true;
            o.push_layout(optcode::sok);
        } else if (consume(item, "TS val ")) {
            uint32_t val = 0, ecr = 0;
            if (!take_uint(item, val) || !consume(item, " ecr ") || !take_uint(item, ecr)) return false;
            o.has_ts = true;
            o.ts_val = val;
            o.ts_ecr = ecr;
            o.push_layout(optcode::ts);
        } else if (item == "nop") {
            o.push_layout(optcode::nop);
        } else if (item == "eol") {
            o.push_layout(optcode::eol);
        } else if (item.starts_with("sack ")) {
            o.push_layout(optcode::sack);
        } else {
            o.push_layout(optcode::other);
        }
    }
    return true;
}

// Parses "... SRC.PORT > DST.PORT: Flags [..], ..." (anything may come before SRC).
Parse parse_tcp(std::string_view s, RawTcp& r) {
    static constexpr std::string_view kFlags = ": Flags [";
    const size_t fp = s.find(kFlags);
    if (fp == std::string_view::npos) return Parse::not_tcp;
    r = RawTcp{};

    std::string_view head = s.substr(0, fp);
    size_t sp = head.rfind(' ');
    if (sp == std::string_view::npos) return Parse::bad;
    const std::string_view dst = head.substr(sp + 1);
    head = head.substr(0, sp);
    if (!head.ends_with(" >")) return Parse::bad;
    head.remove_suffix(2);
    sp = head.rfind(' ');
    const std::string_view src = sp == std::string_view::npos ? head : head.substr(sp + 1);
    const Parse ps = parse_endpoint(src, r.src);
    const Parse pd = parse_endpoint(dst, r.dst);
    if (ps == Parse::names || pd == Parse::names) return Parse::names;
    if (ps != Parse::ok || pd != Parse::ok || r.src.addr.family != r.dst.addr.family)
        return Parse::bad;

    s.remove_prefix(fp + kFlags.size());
    const size_t close = s.find(']');
    if (close == std::string_view::npos || !parse_flags(s.substr(0, close), r.flags))
        return Parse::bad;
    s.remove_prefix(close + 1);

    while (consume(s, ", ")) {
        if (consume(s, "seq ")) {
            if (!take_uint(s, r.seq)) return Parse::bad;
            r.has_seq = true;
            if (consume(s, ":")) {
                if (!take_uint(s, r.seq_end)) return Parse::bad;
                r.has_seq_end = true;
            }
        } else if (consume(s, "ack ")) {
            if (!take_uint(s, r.ack)) return Parse::bad;
            r.has_ack = true;
        } else if (consume(s, "win ")) {
            if (!take_uint(s, r.win)) return Parse::bad;
        } else if (consume(s, "urg ")) {
            uint16_t urg = 0;
            if (!take_uint(s, urg)) return Parse::bad;
        } else if (consume(s, "options [")) {
            const size_t end = closing_bracket(s);
            if (end == std::string_view::npos || !parse_options(s.substr(0, end - 1), r.opt))
                return Parse::bad;
            s.remove_prefix(end);
        } else if (consume(s, "length ")) {
            if (!take_uint(s, r.len)) return Parse::bad;
            r.has_len = true;
            break;  // what follows is the payload's own decoding
        } else {
            // cksum 0x.. (correct), [ack N != 0 while ACK flag not set], ...: up to the next ", "
            size_t i = 0;
            int depth = 0;
            for (; i < s.size(); ++i) {
                if (s[i] == '[' || s[i] == '(') ++depth;
                else if ((s[i] == ']' || s[i] == ')') && depth > 0) --depth;
                else if (depth == 0 && s[i] == ',' && i + 1 < s.size() && s[i + 1] == ' ') break;
            }
            s.remove_prefix(i);
        }
    }
    // tcpdump always prints ack with ACK, and seq with SYN, FIN, RST or payload: a line
    // without them was cut short.
    if ((r.flags & tcp::ACK) && !r.has_ack) return Parse::bad;
    if (!r.has_seq && ((r.flags & (tcp::SYN | tcp::FIN | tcp::RST)) || r.len > 0)) return Parse::bad;
    return Parse::ok;
}

// An IPv4 header printed by -v, with the TCP part on the next line.
bool is_v_tcp_header(std::string_view rest) {
    return rest.find("proto TCP (6)") != std::string_view::npos;
}

// The TTL (hop limit) a -v header prints ("(tos 0x0, ttl 64, id 0, ...)"), 0 when none.
uint8_t v_header_ttl(std::string_view rest) {
    for (std::string_view key : {std::string_view("ttl "), std::string_view("hlim ")}) {
        const size_t at = rest.find(key);
        if (at == std::string_view::npos || (at > 0 && rest[at - 1] != ' ' && rest[at - 1] != '(')) continue;
        std::string_view v = rest.substr(at + key.size());
        uint8_t ttl = 0;
        if (take_uint(v, ttl)) return ttl;
    }
    return 0;
}

// ---------------------------------------------------------------- the source

class TextSource final : public Source {
public:
    TextSource(FILE* f, std::string prefix, std::string path) : f_(f), prefix_(std::move(prefix)) {
        info_.kind = "tcpdump-text";
        info_.path = std::move(path);
    }
    ~TextSource() override { close(); }

    bool next(Segment& out) override;
    const SourceInfo& info() const override { return info_; }

private:
    enum class Read { line, too_long, end };
    enum class Numbers { undecided, relative, absolute };

    // tcpdump's sequence bookkeeping for one connection, in its canonical direction
    // (print-tcp.c: from the lower port, or the lower address when the ports are equal).
    struct ConnKey {
        std::array<uint8_t, 16> a{}, b{};
        uint32_t ports = 0;
        uint8_t family = 0;
        bool operator==(const ConnKey&) const = default;
    };
    struct ConnKeyHash {
        size_t operator()(const ConnKey& k) const noexcept {
            uint64_t h = 1469598103934665603ull ^ (uint64_t{k.ports} << 8 | k.family);
            const size_t n = k.family == 4 ? 4 : 16;
            for (size_t i = 0; i < n; ++i) h = (h ^ k.a[i]) * 1099511628211ull;
            for (size_t i = 0; i < n; ++i) h = (h ^ k.b[i]) * 1099511628211ull;
            return static_cast<size_t>(h ^ (h >> 29));
        }
    };
    struct Bases {
        uint32_t seq = 0, ack = 0;  // th->seq, th->ack
        bool seq_known = true, ack_known = true;
    };

    Read read_line(std::string_view& line);
    void fill();
    bool handle(std::string_view line, Segment& out);
    int64_t place(const Stamp& st, bool& ok);
    bool emit(const RawTcp& r, int64_t t, Segment& out);
    void judge_numbers(const RawTcp& r, const Bases& b, bool rev);
    void drop_pending();
    void finish();
    void close();

    FILE* f_;
    std::string prefix_;
    size_t prefix_pos_ = 0;
    // Not zero-filled: a source per small input (a pasted trace, a fuzz input) would otherwise
    // pay for clearing the whole megabyte.
    std::unique_ptr<char[]> buf_{new char[kBufSize]};
    size_t pos_ = 0, end_ = 0;
    bool eof_ = false, discarding_ = false, finished_ = false;

    SourceInfo info_;
    std::unordered_map<ConnKey, Bases, ConnKeyHash> conns_;
    ConnKey last_key_;
    Bases* last_bases_ = nullptr;
    Numbers numbers_ = Numbers::undecided;
    std::optional<int64_t> pending_;  // time of a -v header whose TCP line comes next
    uint8_t pending_ttl_ = 0;         // its TTL
    std::optional<int64_t> last_t_, max_t_;
    int64_t day_base_ = 0;
    uint64_t delivered_ = 0, untimed_ = 0, names_ = 0, too_long_ = 0, unknown_base_ = 0,
             rollovers_ = 0, bad_time_ = 0, late_start_ = 0;
};

void TextSource::close() {
    if (f_) {
        if (f_ != stdin) std::fclose(f_);
        f_ = nullptr;
    }
}

void TextSource::fill() {
    if (prefix_pos_ < prefix_.size()) {
        const size_t n = std::min(prefix_.size() - prefix_pos_, kBufSize - end_);
        std::memcpy(buf_.get() + end_, prefix_.data() + prefix_pos_, n);
        prefix_pos_ += n;
        end_ += n;
        if (prefix_pos_ == prefix_.size()) {
            std::string().swap(prefix_);
            prefix_pos_ = 0;
        }
        return;
    }
    if (!f_) {
        eof_ = true;
        return;
    }
    const size_t n = std::fread(buf_.get() + end_, 1, kBufSize - end_, f_);
    end_ += n;
    if (n == 0) {
        if (std::ferror(f_)) {
            const std::string why = std::strerror(errno);
            close();
            throw InputError(info_.path + ": read error: " + why);
        }
        eof_ = true;
    }
}

TextSource::Read TextSource::read_line(std::string_view& line) {
    for (;;) {
        const char* b = buf_.get() + pos_;
        const size_t avail = end_ - pos_;
        if (const void* nl = std::memchr(b, '\n', avail)) {
            const size_t len = static_cast<size_t>(static_cast<const char*>(nl) - b);
            pos_ += len + 1;
            if (discarding_) {
                discarding_ = false;  // the end of an over-long line
                continue;
            }
            if (len > kMaxLine) {
                ++too_long_;
                return Read::too_long;
            }
            line = std::string_view(b, len);
            return Read::line;
        }
        if (discarding_) {
            pos_ = end_ = 0;
        } else if (avail > kMaxLine) {
            discarding_ = true;
            pos_ = end_ = 0;
            ++too_long_;
            return Read::too_long;
        }
        if (eof_) {
            if (end_ > pos_ && !discarding_) {
                line = std::string_view(buf_.get() + pos_, end_ - pos_);
                pos_ = end_;
                return Read::line;
            }
            return Read::end;
        }
        if (pos_ > 0) {
            std::memmove(buf_.get(), buf_.get() + pos_, end_ - pos_);
            end_ -= pos_;
            pos_ = 0;
        }
        fill();
    }
}

// Capture time of a packet line; keeps times going forward across midnight.
int64_t TextSource::place(const Stamp& st, bool& ok) {
    int64_t t = 0;
    ok = true;
    if (st.kind == Stamp::dated) {
        t = st.ns;
        day_base_ = t - t % kDayNs;
    } else if (st.kind == Stamp::epoch) {
        t = st.ns;
    } else {
        t = day_base_ + st.ns;
        if (last_t_ && t < *last_t_ - kDayNs / 2) {
            const int64_t days = (*last_t_ - kDayNs / 2 - t) / kDayNs + 1;
            t += days * kDayNs;
            day_base_ += days * kDayNs;
            ++rollovers_;
        }
    }
    if (t > kMaxTimeNs) {
        ok = false;
        return 0;
    }
    last_t_ = t;
    if (!max_t_ || t > *max_t_) max_t_ = t;
    return t;
}

void TextSource::drop_pending() {
    if (pending_) {
        ++info_.skipped;
        pending_.reset();
    }
}

bool TextSource::handle(std::string_view line, Segment& out) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool indented = !line.empty() && is_space(line.front());
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);

    RawTcp raw;
    Stamp st;
    std::string_view rest = line;
    if (take_stamp(rest, st)) {
        drop_pending();
        ++info_.packets;
        bool ok = true;
        const int64_t t = place(st, ok);
        if (!ok) {
            ++bad_time_;
            ++info_.skipped;
            return false;
        }
        const Parse p = parse_tcp(rest, raw);
        if (p == Parse::ok) return emit(raw, t, out);
        if (p == Parse::not_tcp && is_v_tcp_header(rest)) {
            pending_ = t;
            pending_ttl_ = v_header_ttl(rest);
            return false;
        }
        if (p == Parse::names) ++names_;
        ++info_.skipped;
        return false;
    }
    if (pending_) {
        const int64_t t = *pending_;
        pending_.reset();
        if (parse_tcp(line, raw) == Parse::ok) {
            raw.ttl = pending_ttl_;
            return emit(raw, t, out);
        }
        info_.skipped += 2;  // the header and this line
        return false;
    }
    if (!indented && parse_tcp(line, raw) == Parse::ok) {
        ++info_.packets;
        // A time that could not be read (out of range), or tcpdump printed none (-t).
        ++(looks_like_time(line) ? bad_time_ : untimed_);
    }
    ++info_.skipped;
    return false;
}

// Decides once whether the text holds relative numbers (tcpdump's default) or absolute
// ones (-S), from the first segment tcpdump would have printed relative: relative numbers
// sit near 0, absolute ones near the connection's base.
void TextSource::judge_numbers(const RawTcp& r, const Bases& b, bool rev) {
    constexpr uint32_t kNear = 1u << 24, kFar = 1u << 26;
    auto dist = [](uint32_t x, uint32_t y) {
        const uint32_t d = x - y;
        return std::min(d, static_cast<uint32_t>(0u - d));
    };
    int absolute = 0, relative = 0;
    auto vote = [&](uint32_t v, uint32_t base) {
        if (dist(base, 0) < kFar) return;
        const uint32_t d0 = dist(v, 0), db = dist(v, base);
        if (db < kNear && d0 >= kFar) ++absolute;
        if (d0 < kNear && db >= kFar) ++relative;
    };
    const bool seq_base_known = rev ? b.ack_known : b.seq_known;
    const bool ack_base_known = rev ? b.seq_known : b.ack_known;
    if (r.has_seq && seq_base_known) vote(r.seq, rev ? b.ack : b.seq);
    if (ack_base_known) vote(r.ack, rev ? b.seq : b.ack);
    if (absolute > 0 && relative == 0) {
        numbers_ = Numbers::absolute;
        info_.notes.push_back(
            "sequence numbers read as absolute: the text looks printed by tcpdump -S");
    } else if (relative > 0 && absolute == 0) {
        numbers_ = Numbers::relative;
    }
}

bool TextSource::emit(const RawTcp& r, int64_t t, Segment& out) {
    uint32_t seq = r.seq, ack = r.ack;
    bool seq_known = r.has_seq;
    if ((r.flags & tcp::ACK) && numbers_ != Numbers::absolute) {
        // Replays print-tcp.c: only segments with ACK touch the table; a missing entry or
        // a SYN (re)creates it and the segment was printed absolute; otherwise relative.
        const bool rev = r.src.port > r.dst.port ||
                         (r.src.port == r.dst.port && r.src.addr.bytes > r.dst.addr.bytes);
        ConnKey k;
        k.family = r.src.addr.family;
        k.a = rev ? r.dst.addr.bytes : r.src.addr.bytes;
        k.b = rev ? r.src.addr.bytes : r.dst.addr.bytes;
        k.ports = rev ? (uint32_t{r.dst.port} << 16 | r.src.port) : (uint32_t{r.src.port} << 16 | r.dst.port);
        bool fresh = false;
        if (!last_bases_ || !(k == last_key_)) {  // lines of one connection tend to come together
            auto [it, inserted] = conns_.try_emplace(k);
            fresh = inserted;
            last_key_ = k;
            last_bases_ = &it->second;  // nodes of an unordered_map stay put
        }
        Bases& b = *last_bases_;
        if (fresh || (r.flags & tcp::SYN)) {
            if (rev) {
                b.ack = r.seq, b.ack_known = r.has_seq;
                b.seq = r.ack - 1, b.seq_known = true;
            } else {
                b.seq = r.seq, b.seq_known = r.has_seq;
                b.ack = r.ack - 1, b.ack_known = true;
            }
            // An absolute ack this small is improbable: the connection's first lines are
            // missing (filtered text) and these numbers are relative to something unseen.
            if (!(r.flags & tcp::SYN) && r.ack < 65536 && (!r.has_seq || r.seq < 65536)) ++late_start_;
        } else {
            if (numbers_ == Numbers::undecided) judge_numbers(r, b, rev);
            if (numbers_ != Numbers::absolute) {
                const bool sk = rev ? b.ack_known : b.seq_known;
                const bool ak = rev ? b.seq_known : b.ack_known;
                if (!ak) {
                    // The base was set by a bare ACK, whose seq tcpdump does not print.
                    ++unknown_base_;
                    ++info_.skipped;
                    return false;
                }
                ack += rev ? b.seq : b.ack;
                if (seq_known) {
                    if (sk) seq += rev ? b.ack : b.seq;
                    else seq_known = false;
                }
            }
        }
    }
    out.t_ns = t;
    out.src = r.src;
    out.dst = r.dst;
    out.seq = seq_known ? seq : 0;
    out.ack = (r.flags & tcp::ACK) ? ack : 0;
    out.seq_known = seq_known;
    out.flags = r.flags;
    out.window = r.win;
    out.ttl = r.ttl;
    out.payload = r.has_len ? r.len : (r.has_seq_end ? r.seq_end - r.seq : 0);
    out.opt = r.opt;
    ++delivered_;
    return true;
}

void TextSource::finish() {
    if (finished_) return;
    finished_ = true;
    drop_pending();
    close();
    if (max_t_) info_.end_ns = max_t_;
    auto note = [&](uint64_t n, const std::string& what) {
        if (n) info_.notes.push_back(std::to_string(n) + " " + what);
    };
    note(names_, "lines name hosts or ports instead of numbers and were skipped (run tcpdump with -nn)");
    note(too_long_, "over-long lines were skipped");
    note(bad_time_, "lines with times out of range were skipped");
    note(unknown_base_,
         "segments were skipped: their ack is relative to a bare ACK whose seq tcpdump did not print");
    note(late_start_,
         "connections start in the text with tiny sequence numbers: their first lines are probably "
         "missing, so their numbers may be relative to an unseen segment");
    note(rollovers_, "times went back by more than half a day and were read as the next day");
    if (delivered_ == 0 && untimed_ > 0)
        throw InputError(info_.path +
                         ": tcpdump text without packet times (printed with -t); print it again without -t");
}

bool TextSource::next(Segment& out) {
    if (finished_) return false;
    std::string_view line;
    for (;;) {
        const Read r = read_line(line);
        if (r == Read::end) {
            finish();
            return false;
        }
        if (r == Read::too_long) {
            drop_pending();
            ++info_.skipped;
            continue;
        }
        if (handle(line, out)) return true;
    }
}

}  // namespace

bool looks_like_tcpdump_text(std::string_view prefix) {
    if (prefix.empty()) return false;
    int lines = 0;
    while (!prefix.empty() && lines++ < 200) {
        const size_t nl = prefix.find('\n');
        std::string_view line = prefix.substr(0, nl);
        prefix = nl == std::string_view::npos ? std::string_view{} : prefix.substr(nl + 1);
        // Binary junk (a NUL byte) proves nothing either way: the reader skips such lines too.
        if (line.find('\0') != std::string_view::npos) continue;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        while (!line.empty() && is_space(line.front())) line.remove_prefix(1);

        if ((line.starts_with("listening on ") || line.starts_with("reading from file ")) &&
            line.find(", link-type ") != std::string_view::npos)
            return true;
        if (line.starts_with("tcpdump: ")) return true;
        RawTcp raw;
        Stamp st;
        std::string_view rest = line;
        if (take_stamp(rest, st)) {
            if (parse_tcp(rest, raw) == Parse::ok) return true;
            // IP, IP6, ARP ... first, or after an interface and direction (-i any)
            const std::string_view start = rest.substr(0, 24);
            for (std::string_view word : {"IP ", "IP6 ", "ARP, "})
                if (start.starts_with(word)) return true;
            for (std::string_view word : {" IP ", " IP6 ", " ARP, "})
                if (start.find(word) != std::string_view::npos) return true;
        } else if (parse_tcp(line, raw) == Parse::ok) {
            return true;  // printed with -t
        }
    }
    return false;
}

std::unique_ptr<Source> make_tcpdump_text_source(FILE* f, std::string prefix, std::string path) {
    if (!f) throw InputError(path + ": cannot read input");
    return std::make_unique<TextSource>(f, std::move(prefix), std::move(path));
}

}  // namespace lp
