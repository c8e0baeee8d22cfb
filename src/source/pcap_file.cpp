#include "source/pcap_file.hpp"

#include <pcap/pcap.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <sstream>
#include <string_view>
#include <fstream>
#include <vector>

#include "segments/error.hpp"
#include "source/decode.hpp"

namespace lp {
namespace {

constexpr int64_t kMaxSec = 7'258'118'400;  // 2200-01-01: every ns sum stays far from INT64_MAX

class PcapSource final : public Source {
public:
    PcapSource(FILE* f, bool pcapng, std::string path, bool seekable) : seekable_(seekable) {
        char err[PCAP_ERRBUF_SIZE] = {};
        info_.kind = pcapng ? "pcapng" : "pcap";
        info_.path = std::move(path);
        handle_ = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, err);
        if (!handle_) {
            std::fclose(f);
            throw InputError(info_.path + ": " + describe(err));
        }
        dlt_ = pcap_datalink(handle_);
        if (!link_type_supported(dlt_)) {
            const char* name = pcap_datalink_val_to_name(dlt_);
            std::string what = "link type " + std::to_string(dlt_);
            if (name) what += std::string(" (") + name + ")";
            pcap_close(handle_);
            handle_ = nullptr;
            throw InputError(info_.path + ": " + what +
                             " is not supported (Ethernet, Linux cooked v1/v2, NULL/LOOP, raw IP)");
        }
    }
    ~PcapSource() override {
        if (handle_) pcap_close(handle_);
    }

    bool next(Segment& out) override {
        if (!handle_) return false;
        for (;;) {
            pcap_pkthdr* hdr = nullptr;
            const u_char* data = nullptr;
            const int rc = pcap_next_ex(handle_, &hdr, &data);
            if (rc == 1) {
                ++info_.packets;
                // A pcapng timestamp has 64 bits of any unit: one beyond year 2223 (or before 1970)
                // would overflow the ns arithmetic downstream. Such a record is skipped.
                int64_t t = 0;
                if (hdr->ts.tv_sec < 0 || hdr->ts.tv_sec > kMaxSec ||
                    __builtin_mul_overflow(int64_t(hdr->ts.tv_sec), int64_t(1'000'000'000), &t) ||
                    __builtin_add_overflow(t, int64_t(hdr->ts.tv_usec), &t)) {
                    ++bad_time_;
                    ++info_.skipped;
                    continue;
                }
                if (decode_frame(dlt_, data, hdr->caplen, t, out) == DecodeResult::tcp) return true;
                ++info_.skipped;
                continue;
            }
            if (rc == PCAP_ERROR) {
                // A record cut short at the end of the file (a capture still being written, or
                // copied while tcpdump ran): keep what was read, say so. Anything else (a record
                // or block that contradicts the file, a second link type) makes the file unusable.
                const std::string err = describe(pcap_geterr(handle_));
                if (err.find("truncated") == std::string::npos) {
                    finish();
                    throw InputError(info_.path + ": record " + std::to_string(info_.packets + 1) + ": " + err);
                }
                info_.notes.push_back(err);
            }
            finish();
            return false;
        }
    }
    const SourceInfo& info() const override { return info_; }

private:
    static std::string describe(const char* err) {
        std::string e = err ? err : "unreadable capture";
        if (e.find("unknown file format") != std::string::npos) return "not a pcap or pcapng file";
        if (e.find("different from the type of the first interface") != std::string::npos)
            return e + " (interfaces of different link types in one pcapng are not supported: "
                       "save each interface to its own file)";
        return e;
    }
    void finish() {
        if (!handle_) return;
        pcap_close(handle_);
        handle_ = nullptr;
        if (bad_time_)
            info_.notes.push_back(std::to_string(bad_time_) + " records with timestamps out of range "
                                  "(before 1970 or after 2200) were skipped");
        if (info_.kind == "pcapng" && seekable_) {
            info_.end_ns = pcapng_end_time(info_.path);
            pcapng_probe_comments(info_.path, info_);
        }
    }

    pcap_t* handle_ = nullptr;
    int dlt_ = 0;
    uint64_t bad_time_ = 0;
    bool seekable_;
    SourceInfo info_;
};

}  // namespace

std::unique_ptr<Source> make_pcap_source(FILE* f, bool pcapng, std::string path, bool seekable) {
    return std::make_unique<PcapSource>(f, pcapng, std::move(path), seekable);
}

std::optional<int64_t> pcapng_end_time(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    bool swap = false;
    std::vector<uint64_t> units_per_sec;  // per interface of the current section
    std::optional<int64_t> best;
    auto rd32 = [&](const uint8_t* p) {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return swap ? __builtin_bswap32(v) : v;
    };
    auto rd16 = [&](const uint8_t* p) {
        uint16_t v;
        std::memcpy(&v, p, 2);
        return swap ? __builtin_bswap16(v) : v;
    };
    std::vector<uint8_t> block;
    for (int count = 0; count < 50'000'000; ++count) {
        uint8_t head[12];
        if (!in.read(reinterpret_cast<char*>(head), 8)) break;
        uint32_t type;
        std::memcpy(&type, head, 4);
        if (type == 0x0A0D0D0A) {
            if (!in.read(reinterpret_cast<char*>(head + 8), 4)) break;
            uint32_t magic;
            std::memcpy(&magic, head + 8, 4);
            swap = magic == 0x4D3C2B1A;
            units_per_sec.clear();
            in.seekg(-4, std::ios::cur);
        } else if (swap) {
            type = __builtin_bswap32(type);
        }
        const uint32_t len = rd32(head + 4);
        if (len < 12 || len % 4 != 0 || len > (64u << 20)) break;
        const uint32_t body_len = len - 8;
        if (type != 1 && type != 5) {  // only interface descriptions and statistics matter here
            in.seekg(body_len, std::ios::cur);
            if (!in) break;
            continue;
        }
        block.resize(body_len);
        if (!in.read(reinterpret_cast<char*>(block.data()), body_len)) break;
        const uint8_t* b = block.data();
        const size_t n = body_len - 4;  // without the trailing length
        auto walk_options = [&](size_t off, auto&& fn) {
            while (off + 4 <= n) {
                const uint16_t code = rd16(b + off), olen = rd16(b + off + 2);
                if (code == 0) break;
                if (off + 4 + olen > n) break;
                fn(code, b + off + 4, olen);
                off += 4 + ((olen + 3u) & ~3u);
            }
        };
        if (type == 1) {  // IDB: linktype(2) reserved(2) snaplen(4) options
            uint64_t units = 1'000'000;
            walk_options(8, [&](uint16_t code, const uint8_t* v, uint16_t olen) {
                if (code == 9 && olen >= 1) {
                    const uint8_t r = v[0];
                    units = 1;
                    const uint64_t base = (r & 0x80) ? 2 : 10;
                    for (int i = 0; i < (r & 0x7F) && units < (1ull << 62) / base; ++i) units *= base;
                }
            });
            units_per_sec.push_back(units);
        } else {  // ISB: interface(4) ts high(4) ts low(4) options
            if (n < 12) continue;
            const uint32_t ifc = rd32(b);
            if (ifc >= units_per_sec.size()) continue;
            const uint64_t units = units_per_sec[ifc];
            auto to_ns = [&](uint32_t hi, uint32_t lo) -> int64_t {
                const uint64_t ticks = uint64_t(hi) << 32 | lo;
                const uint64_t sec = std::min<uint64_t>(ticks / units, kMaxSec), frac = ticks % units;
                return int64_t(sec * 1'000'000'000ull + (frac * 1'000'000'000ull) / units);
            };
            int64_t t = to_ns(rd32(b + 4), rd32(b + 8));
            walk_options(12, [&](uint16_t code, const uint8_t* v, uint16_t olen) {
                if (code == 3 && olen == 8) t = std::max(t, to_ns(rd32(v), rd32(v + 4)));
            });
            if (!best || t > *best) best = t;
        }
    }
    return best;
}

constexpr char kStepsComment[] = "listenprobe steps (start-end, ns since the epoch):";

std::vector<ProbeStep> parse_probe_steps_comment(const std::string& comment) {
    std::vector<ProbeStep> out;
    if (!comment.starts_with(kStepsComment)) return out;
    std::istringstream in(comment.substr(sizeof kStepsComment - 1));
    std::string name, range;
    while (in >> name >> range) {
        const size_t dash = range.find('-');
        if (dash == std::string::npos || name.size() > 64) return {};
        ProbeStep st;
        st.name = name;
        const char* b = range.data();
        const auto r1 = std::from_chars(b, b + dash, st.start_ns);
        const auto r2 = std::from_chars(b + dash + 1, b + range.size(), st.end_ns);
        if (r1.ptr != b + dash || r2.ptr != b + range.size() || st.end_ns < st.start_ns) return {};
        out.push_back(std::move(st));
        if (out.size() > 64) return {};
    }
    return out;
}

namespace {
// The comments of the first section header of a little-endian pcapng (the probe's own files).
std::vector<std::string> section_comments(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path, std::ios::binary);
    uint8_t head[12];
    if (!in.read(reinterpret_cast<char*>(head), 12)) return out;
    uint32_t type, len, magic;
    std::memcpy(&type, head, 4);
    std::memcpy(&len, head + 4, 4);
    std::memcpy(&magic, head + 8, 4);
    // The probe writes little-endian files on the machines it runs on; others are not its own.
    if (type != 0x0A0D0D0A || magic != 0x1A2B3C4D || len < 28 || len % 4 != 0 || len > (1u << 20)) return out;
    std::vector<uint8_t> b(len - 12);
    if (!in.read(reinterpret_cast<char*>(b.data()), std::streamsize(b.size()))) return out;
    size_t off = 12;  // version(4) section length(8)
    const size_t n = b.size() - 4;
    while (off + 4 <= n) {
        uint16_t code, olen;
        std::memcpy(&code, b.data() + off, 2);
        std::memcpy(&olen, b.data() + off + 2, 2);
        if (code == 0 || off + 4 + olen > n) break;
        if (code == 1) out.emplace_back(reinterpret_cast<const char*>(b.data() + off + 4), olen);
        off += 4 + ((olen + 3u) & ~3u);
    }
    return out;
}
}  // namespace

std::vector<ProbeStep> pcapng_probe_steps(const std::string& path) {
    for (const std::string& c : section_comments(path)) {
        auto steps = parse_probe_steps_comment(c);
        if (!steps.empty()) return steps;
    }
    return {};
}

void pcapng_probe_comments(const std::string& path, SourceInfo& info) {
    for (const std::string& c : section_comments(path)) {
        if (info.steps.empty()) info.steps = parse_probe_steps_comment(c);
        if (!info.probe_resets) info.probe_resets = parse_probe_resets_comment(c);
    }
}

constexpr char kResetsComment[] = "listenprobe probe resets (client, then step:ports):";

std::string format_probe_resets_comment(const ProbeResets& r) {
    std::string o = std::string(kResetsComment) + " " + r.client.str();
    for (size_t i = 0; i < r.ports.size();) {
        const std::string& step = r.ports[i].second;
        o += " " + step + ":";
        bool first = true;
        while (i < r.ports.size() && r.ports[i].second == step) {
            size_t j = i;
            while (j + 1 < r.ports.size() && r.ports[j + 1].second == step && r.ports[j + 1].first == r.ports[j].first + 1)
                ++j;
            o += (first ? "" : ",") + std::to_string(r.ports[i].first);
            if (j > i) o += "-" + std::to_string(r.ports[j].first);
            first = false;
            i = j + 1;
        }
    }
    return o;
}

std::optional<ProbeResets> parse_probe_resets_comment(const std::string& comment) {
    if (!comment.starts_with(kResetsComment)) return std::nullopt;
    std::istringstream in(comment.substr(sizeof kResetsComment - 1));
    std::string addr, item;
    if (!(in >> addr)) return std::nullopt;
    auto client = IpAddress::parse(addr);
    if (!client) return std::nullopt;
    ProbeResets r{*client, {}};
    while (in >> item) {
        const size_t colon = item.find(':');
        if (colon == 0 || colon == std::string::npos || colon > 64) return std::nullopt;
        const std::string step = item.substr(0, colon);
        std::string_view list(item);
        list.remove_prefix(colon + 1);
        while (!list.empty()) {
            const size_t comma = std::min(list.find(','), list.size());
            const std::string_view range = list.substr(0, comma);
            const size_t dash = std::min(range.find('-'), range.size());
            unsigned lo = 0, hi = 0;
            auto r1 = std::from_chars(range.data(), range.data() + dash, lo);
            if (r1.ptr != range.data() + dash) return std::nullopt;
            hi = lo;
            if (dash < range.size()) {
                auto r2 = std::from_chars(range.data() + dash + 1, range.data() + range.size(), hi);
                if (r2.ptr != range.data() + range.size()) return std::nullopt;
            }
            if (lo == 0 || hi > 65535 || hi < lo || r.ports.size() + (hi - lo) > 65535) return std::nullopt;
            for (unsigned p = lo; p <= hi; ++p) r.ports.emplace_back(uint16_t(p), step);
            list.remove_prefix(std::min(comma + 1, list.size()));
        }
    }
    std::sort(r.ports.begin(), r.ports.end());
    return r;
}

}  // namespace lp
