#include "segments/segment.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace lp {

std::string IpAddress::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == 4) {
        inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
    } else if (family == 6) {
        // glibc's inet_ntop follows RFC 5952 (lower case, longest zero run compressed).
        inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    } else {
        return "?";
    }
    return buf;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN] = {};
    std::memcpy(buf, text.data(), text.size());
    IpAddress a;
    if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
        a.family = 4;
        return a;
    }
    if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
        a.family = 6;
        return a;
    }
    return std::nullopt;
}

IpAddress IpAddress::from_v4(const uint8_t* p) {
    IpAddress a;
    a.family = 4;
    std::memcpy(a.bytes.data(), p, 4);
    return a;
}

IpAddress IpAddress::from_v6(const uint8_t* p) {
    IpAddress a;
    a.family = 6;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
}

std::string Endpoint::str() const {
    if (addr.family == 6) return "[" + addr.str() + "]:" + std::to_string(port);
    return addr.str() + ":" + std::to_string(port);
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return std::nullopt;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6 needs []
    }
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
        return std::nullopt;
    auto a = IpAddress::parse(host);
    if (!a) return std::nullopt;
    return Endpoint{*a, static_cast<uint16_t>(value)};
}

size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
    uint64_t h = 1469598103934665603ull ^ e.addr.family;
    for (size_t i = 0; i < (e.addr.family == 4 ? 4u : 16u); ++i) h = (h ^ e.addr.bytes[i]) * 1099511628211ull;
    h = (h ^ e.port) * 1099511628211ull;
    h ^= h >> 29;  // FNV leaves the low bits weak for the bucket index
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return static_cast<size_t>(h);
}

std::string layout_str(uint64_t layout) {
    static constexpr const char* kNames[16] = {"", "nop", "mss", "ws", "sok", "sack", "ts", "eol",
                                               "?", "?", "?", "?", "?", "?", "?", "..."};
    std::string o;
    for (int n = 0; n < 16; ++n) {
        const uint64_t c = (layout >> (4 * n)) & 0xF;
        if (c == 0) break;
        if (!o.empty()) o += ',';
        o += kNames[c];
    }
    return o;
}

std::string flags_str(uint8_t f) {
    std::string s;
    if (f & tcp::SYN) s += 'S';
    if (f & tcp::FIN) s += 'F';
    if (f & tcp::PSH) s += 'P';
    if (f & tcp::RST) s += 'R';
    if (f & tcp::URG) s += 'U';
    if (f & tcp::ECE) s += 'E';
    if (f & tcp::CWR) s += 'W';
    if (f & tcp::ACK) s += '.';
    return s.empty() ? "none" : s;
}

}  // namespace lp
