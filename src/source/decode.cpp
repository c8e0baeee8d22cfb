#include "source/decode.hpp"

#include <cstring>

namespace lp {
namespace {

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

constexpr uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86DD, kEtherVlan = 0x8100,
                   kEtherQinQ = 0x88A8, kEtherVlan9100 = 0x9100;

DecodeResult decode_ethertype(uint16_t type, const uint8_t* p, size_t len, Segment& out) {
    if (type == kEtherIpv4 || type == kEtherIpv6) return decode_ip(p, len, out);
    return DecodeResult::not_ip;
}

DecodeResult decode_tcp(const uint8_t* p, size_t caplen, size_t tcp_len_on_wire, Segment& out) {
    if (caplen < 20) return DecodeResult::truncated;
    const size_t doff = size_t(p[12] >> 4) * 4;
    if (doff < 20 || doff > tcp_len_on_wire) return DecodeResult::malformed;
    out.src.port = be16(p);
    out.dst.port = be16(p + 2);
    out.seq = be32(p + 4);
    out.ack = be32(p + 8);
    out.seq_known = true;
    out.flags = p[13];
    out.window = be16(p + 14);
    out.payload = static_cast<uint32_t>(tcp_len_on_wire - doff);
    out.opt = TcpOptions{};
    // Options only as far as they were captured.
    const size_t opt_avail = (doff <= caplen ? doff : caplen) - 20;
    if (opt_avail > 0) parse_tcp_options(p + 20, opt_avail, out.opt);
    if (doff > caplen) out.opt.push_layout(optcode::more);  // the layout is incomplete
    return DecodeResult::tcp;
}

}  // namespace

bool link_type_supported(int dlt) {
    switch (dlt) {
        case kDltNull: case kDltEthernet: case kDltRaw: case kDltRawOpenBsd: case kDltLoop:
        case kDltLinuxSll: case kDltIpv4: case kDltIpv6: case kDltLinuxSll2:
            return true;
        default:
            return false;
    }
}

std::string link_type_name(int dlt) {
    switch (dlt) {
        case kDltNull: return "BSD loopback (NULL)";
        case kDltEthernet: return "Ethernet";
        case kDltRaw: case kDltRawOpenBsd: return "raw IP";
        case kDltLoop: return "OpenBSD loopback";
        case kDltLinuxSll: return "Linux cooked v1";
        case kDltLinuxSll2: return "Linux cooked v2";
        case kDltIpv4: return "raw IPv4";
        case kDltIpv6: return "raw IPv6";
        default: return "link type " + std::to_string(dlt);
    }
}

void parse_tcp_options(const uint8_t* p, size_t len, TcpOptions& opt) {
    size_t i = 0;
    while (i < len) {
        const uint8_t kind = p[i];
        if (kind == 0) {  // end of option list
            opt.push_layout(optcode::eol);
            break;
        }
        if (kind == 1) {  // NOP
            opt.push_layout(optcode::nop);
            ++i;
            continue;
        }
        if (i + 1 >= len || p[i + 1] < 2 || i + p[i + 1] > len) {
            opt.push_layout(optcode::more);  // runs past the header: stop, keep what we have
            break;
        }
        const uint8_t olen = p[i + 1];
        const uint8_t* v = p + i + 2;
        opt.push_layout(kind == 2 ? optcode::mss : kind == 3 ? optcode::ws : kind == 4 ? optcode::sok
                        : kind == 5 ? optcode::sack : kind == 8 ? optcode::ts : optcode::other);
        switch (kind) {
            case 2: if (olen == 4) opt.mss = be16(v); break;
            case 3: if (olen == 3) opt.wscale = v[0]; break;
            case 4: if (olen == 2) opt.sack_ok = true; break;
            case 8:
                if (olen == 10) {
                    opt.has_ts = true;
                    opt.ts_val = be32(v);
                    opt.ts_ecr = be32(v + 4);
                }
                break;
            default: break;
        }
        i += olen;
    }
}

DecodeResult decode_ip(const uint8_t* p, size_t caplen, Segment& out) {
    if (caplen < 1) return DecodeResult::truncated;
    const int version = p[0] >> 4;
    if (version == 4) {
        if (caplen < 20) return DecodeResult::truncated;
        const size_t ihl = size_t(p[0] & 0x0F) * 4;
        const size_t total = be16(p + 2);
        if (ihl < 20 || total < ihl) return DecodeResult::malformed;
        if (caplen < ihl) return DecodeResult::truncated;
        const uint16_t frag = be16(p + 6);
        if ((frag & 0x1FFF) != 0) return DecodeResult::fragment;
        if (p[9] != 6) return DecodeResult::not_tcp;
        out.src.addr = IpAddress::from_v4(p + 12);
        out.dst.addr = IpAddress::from_v4(p + 16);
        out.ttl = p[8];
        const size_t avail = caplen - ihl;
        return decode_tcp(p + ihl, avail, total - ihl, out);
    }
    if (version == 6) {
        if (caplen < 40) return DecodeResult::truncated;
        size_t remaining = be16(p + 4);  // payload length (jumbograms are not supported)
        uint8_t next = p[6];
        size_t off = 40;
        // Walk extension headers up to TCP.
        for (int guard = 0; guard < 16; ++guard) {
            if (next == 6) {
                out.src.addr = IpAddress::from_v6(p + 8);
                out.dst.addr = IpAddress::from_v6(p + 24);
                out.ttl = p[7];
                if (off > caplen) return DecodeResult::truncated;
                return decode_tcp(p + off, caplen - off, remaining, out);
            }
            if (next == 0 || next == 43 || next == 60 || next == 135 || next == 51 || next == 44) {
                if (off + 8 > caplen) return DecodeResult::truncated;
                size_t hlen;
                if (next == 44) {
                    hlen = 8;
                    if ((be16(p + off + 2) & 0xFFF8) != 0) return DecodeResult::fragment;
                } else if (next == 51) {
                    hlen = (size_t(p[off + 1]) + 2) * 4;
                } else {
                    hlen = (size_t(p[off + 1]) + 1) * 8;
                }
                if (hlen > remaining) return DecodeResult::malformed;
                next = p[off];
                off += hlen;
                remaining -= hlen;
                continue;
            }
            return DecodeResult::not_tcp;
        }
        return DecodeResult::malformed;
    }
    return DecodeResult::not_ip;
}

DecodeResult decode_frame(int dlt, const uint8_t* p, size_t caplen, int64_t t_ns, Segment& out) {
    out.t_ns = t_ns;
    switch (dlt) {
        case kDltEthernet: {
            if (caplen < 14) return DecodeResult::truncated;
            size_t off = 12;
            uint16_t type = be16(p + off);
            off += 2;
            while (type == kEtherVlan || type == kEtherQinQ || type == kEtherVlan9100) {
                if (caplen < off + 4) return DecodeResult::truncated;
                type = be16(p + off + 2);
                off += 4;
            }
            if (type <= 1500) return DecodeResult::not_ip;  // 802.3 length field (LLC)
            return decode_ethertype(type, p + off, caplen - off, out);
        }
        case kDltLinuxSll:
            if (caplen < 16) return DecodeResult::truncated;
            return decode_ethertype(be16(p + 14), p + 16, caplen - 16, out);
        case kDltLinuxSll2:
            if (caplen < 20) return DecodeResult::truncated;
            return decode_ethertype(be16(p), p + 20, caplen - 20, out);
        case kDltNull:
        case kDltLoop: {
            if (caplen < 4) return DecodeResult::truncated;
            uint32_t fam;
            std::memcpy(&fam, p, 4);
            if (dlt == kDltLoop) fam = be32(p);
            // NULL carries the family in the capturing host's byte order: accept both.
            const uint32_t swapped = __builtin_bswap32(fam);
            auto is_v4 = [](uint32_t f) { return f == 2; };
            auto is_v6 = [](uint32_t f) { return f == 10 || f == 24 || f == 28 || f == 30; };
            if (is_v4(fam) || is_v6(fam) || is_v4(swapped) || is_v6(swapped))
                return decode_ip(p + 4, caplen - 4, out);
            return DecodeResult::not_ip;
        }
        case kDltRaw:
        case kDltRawOpenBsd:
        case kDltIpv4:
        case kDltIpv6:
            return decode_ip(p, caplen, out);
        default:
            return DecodeResult::not_ip;
    }
}

namespace {

// Where the IP header of a frame starts, for the link types decode_frame() knows; nullptr if
// the frame is not IP. (decode_frame() keeps its own copy of this: it is the replay's hot path.)
const uint8_t* link_payload(int dlt, const uint8_t* p, size_t caplen, size_t& len) {
    size_t off = 0;
    switch (dlt) {
        case kDltEthernet: {
            if (caplen < 14) return nullptr;
            off = 12;
            uint16_t type = be16(p + off);
            off += 2;
            while (type == kEtherVlan || type == kEtherQinQ || type == kEtherVlan9100) {
                if (caplen < off + 4) return nullptr;
                type = be16(p + off + 2);
                off += 4;
            }
            if (type != kEtherIpv4 && type != kEtherIpv6) return nullptr;
            break;
        }
        case kDltLinuxSll:
            if (caplen < 16 || (be16(p + 14) != kEtherIpv4 && be16(p + 14) != kEtherIpv6)) return nullptr;
            off = 16;
            break;
        case kDltLinuxSll2:
            if (caplen < 20 || (be16(p) != kEtherIpv4 && be16(p) != kEtherIpv6)) return nullptr;
            off = 20;
            break;
        case kDltNull:
        case kDltLoop:
            if (caplen < 4) return nullptr;
            off = 4;
            break;
        case kDltRaw:
        case kDltRawOpenBsd:
        case kDltIpv4:
        case kDltIpv6:
            break;
        default:
            return nullptr;
    }
    len = caplen - off;
    return p + off;
}

// The TCP endpoints of the IP packet quoted in an ICMP error (its header and 8 bytes).
bool quoted_tcp(const uint8_t* q, size_t len, IcmpError& out) {
    if (len < 1) return false;
    if ((q[0] >> 4) == 4) {
        if (len < 20) return false;
        const size_t ihl = size_t(q[0] & 0x0F) * 4;
        if (ihl < 20 || q[9] != 6 || len < ihl + 4) return false;
        out.quoted_src = {IpAddress::from_v4(q + 12), be16(q + ihl)};
        out.quoted_dst = {IpAddress::from_v4(q + 16), be16(q + ihl + 2)};
        return true;
    }
    if ((q[0] >> 4) == 6) {
        if (len < 44 || q[6] != 6) return false;  // TCP right after the quoted header (the probe's own)
        out.quoted_src = {IpAddress::from_v6(q + 8), be16(q + 40)};
        out.quoted_dst = {IpAddress::from_v6(q + 24), be16(q + 42)};
        return true;
    }
    return false;
}

}  // namespace

bool decode_icmp_error(int dlt, const uint8_t* data, size_t caplen, int64_t t_ns, IcmpError& out) {
    size_t len = 0;
    const uint8_t* p = link_payload(dlt, data, caplen, len);
    if (!p || len < 1) return false;
    out = IcmpError{};
    out.t_ns = t_ns;
    if ((p[0] >> 4) == 4) {
        if (len < 20) return false;
        const size_t ihl = size_t(p[0] & 0x0F) * 4;
        if (ihl < 20 || p[9] != 1 || len < ihl + 8 || (be16(p + 6) & 0x1FFF) != 0) return false;
        const uint8_t type = p[ihl];
        if (type != 3 && type != 11) return false;  // destination unreachable, time exceeded
        out.from = IpAddress::from_v4(p + 12);
        out.type = type;
        out.code = p[ihl + 1];
        return quoted_tcp(p + ihl + 8, len - ihl - 8, out);
    }
    if ((p[0] >> 4) == 6) {
        // ICMPv6 right after the fixed header (errors carry no extension headers in practice).
        if (len < 48 || p[6] != 58) return false;
        const uint8_t type = p[40];
        if (type != 1 && type != 3) return false;  // destination unreachable, time exceeded
        out.from = IpAddress::from_v6(p + 8);
        out.type = type;
        out.code = p[41];
        return quoted_tcp(p + 48, len - 48, out);
    }
    return false;
}

}  // namespace lp
