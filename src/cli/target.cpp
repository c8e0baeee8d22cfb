#include "cli/target.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "segments/error.hpp"

namespace lp {
namespace {

std::string quoted(std::string_view what, std::string_view text) {
    return std::string(what) + " '" + std::string(text) + "'";
}

bool all_of(std::string_view s, int (*pred)(int)) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) { return pred(static_cast<unsigned char>(c)) != 0; });
}

int is_digit_or_dot(int c) { return std::isdigit(c) || c == '.'; }
int is_name_char(int c) { return std::isalnum(c) || c == '.' || c == '-' || c == '_'; }
int is_service_char(int c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '+' || c == '/'; }

}  // namespace

TargetParts split_target(std::string_view text, std::string_view what) {
    const std::string w(what);
    if (text.empty()) throw UsageError(w + " is empty: want HOST:PORT or [IPV6]:PORT");
    TargetParts p;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos)
            throw UsageError(quoted(what, text) + ": missing ']' after the IPv6 address");
        p.bracketed = true;
        p.host = std::string(text.substr(1, close - 1));
        const std::string_view rest = text.substr(close + 1);
        if (rest.empty()) throw UsageError(quoted(what, text) + " has no port: want [IPV6]:PORT");
        if (rest.front() != ':') throw UsageError(quoted(what, text) + ": want ':' and a port after ']'");
        p.port = std::string(rest.substr(1));
        if (p.host.empty()) throw UsageError(quoted(what, text) + " has an empty host");
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            if (IpAddress::parse(text) || all_of(text, is_name_char))
                throw UsageError(quoted(what, text) + " has no port: want HOST:PORT");
            throw UsageError(quoted(what, text) + ": want HOST:PORT or [IPV6]:PORT");
        }
        p.host = std::string(text.substr(0, colon));
        p.port = std::string(text.substr(colon + 1));
        if (p.host.find(':') != std::string::npos) {
            // More than one colon: an IPv6 address, which needs brackets around it.
            // "fd09::2:80" is itself an IPv6 address: say both readings.
            const auto whole = IpAddress::parse(text);
            const auto head = IpAddress::parse(p.host);
            if (head && head->family == 6)
                throw UsageError(quoted(what, text) + ": an IPv6 address needs brackets: [" + p.host + "]:" + p.port +
                                 (whole ? " (or [" + std::string(text) + "]:PORT)" : ""));
            if (whole && whole->family == 6)
                throw UsageError(quoted(what, text) + " is an IPv6 address without a port: want [IPV6]:PORT");
            throw UsageError(quoted(what, text) + ": an IPv6 address needs brackets: [IPV6]:PORT");
        }
        if (p.host.empty()) throw UsageError(quoted(what, text) + " has an empty host");
    }
    if (p.port.empty()) throw UsageError(quoted(what, text) + " has an empty port");
    return p;
}

uint16_t resolve_port(std::string_view port, std::string_view what) {
    const std::string w(what);
    std::string_view digits = port;
    const bool signed_number = !port.empty() && (port.front() == '-' || port.front() == '+');
    if (signed_number) digits.remove_prefix(1);
    if (all_of(digits, [](int c) { return std::isdigit(c); })) {
        // Leading zeros are fine ("080"); the value must be 1..65535.
        const auto first = digits.find_first_not_of('0');
        const std::string_view value = first == std::string_view::npos ? "0" : digits.substr(first);
        if (signed_number && port.front() == '+')
            throw UsageError(w + ": port " + std::string(port) + " is not a plain number 1..65535");
        const unsigned long n = value.size() > 5 ? 100000 : std::stoul(std::string(value));
        if (signed_number || n == 0 || n > 65535)
            throw UsageError(w + ": port " + std::string(port) + " is out of range 1..65535");
        return static_cast<uint16_t>(n);
    }
    if (!all_of(port, is_service_char) || port.size() > 64)
        throw UsageError(w + ": '" + std::string(port) + "' is not a port number or service name");
    const std::string name(port);
    const servent* s = ::getservbyname(name.c_str(), "tcp");
    ::endservent();
    if (!s) throw UsageError(w + ": unknown TCP service '" + name + "' (not a number 1..65535, not in /etc/services)");
    return ntohs(static_cast<uint16_t>(s->s_port));
}

Target resolve_target(std::string_view text, AddressFamily family, std::string_view what) {
    const std::string w(what);
    const TargetParts parts = split_target(text, what);
    Target t;
    t.text = std::string(text);
    t.host = parts.host;
    t.endpoint.port = resolve_port(parts.port, what);
    t.port_was_service = !all_of(parts.port, [](int c) { return std::isdigit(c); });

    auto check_family = [&](const IpAddress& a) {
        if (family == AddressFamily::v4 && a.family == 6)
            throw UsageError(quoted(what, text) + " is an IPv6 address, but -4 was given");
        if (family == AddressFamily::v6 && a.family == 4)
            throw UsageError(quoted(what, text) + " is an IPv4 address, but -6 was given");
    };
    if (parts.bracketed) {
        auto a = IpAddress::parse(parts.host);
        if (!a || a->family != 6)
            throw UsageError(quoted(what, text) + ": '" + parts.host + "' is not an IPv6 address (brackets are for IPv6)");
        check_family(*a);
        t.endpoint.addr = *a;
        return t;
    }
    if (auto a = IpAddress::parse(parts.host)) {
        check_family(*a);
        t.endpoint.addr = *a;
        return t;
    }
    // Digits and dots only: meant as an IPv4 address (getaddrinfo would read "10.1" as 10.0.0.1).
    if (all_of(parts.host, is_digit_or_dot))
        throw UsageError(w + ": '" + parts.host + "' is not a valid IPv4 address");
    if (!all_of(parts.host, is_name_char) || parts.host.front() == '-' || parts.host.size() > 253)
        throw UsageError(w + ": '" + parts.host + "' is not a host name or address");

    addrinfo hints{};
    hints.ai_family = family == AddressFamily::v4 ? AF_INET : family == AddressFamily::v6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(parts.host.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
        // With -4/-6: does the name exist with the other family? Then say that.
        if (family != AddressFamily::any && rc != EAI_AGAIN) {
            hints.ai_family = AF_UNSPEC;
            addrinfo* other = nullptr;
            if (::getaddrinfo(parts.host.c_str(), nullptr, &hints, &other) == 0) {
                ::freeaddrinfo(other);
                throw InputError(w + ": " + parts.host + " has no " + (family == AddressFamily::v4 ? "IPv4" : "IPv6") +
                                 " address");
            }
        }
        throw InputError(w + ": cannot resolve " + parts.host + ": " + ::gai_strerror(rc));
    }
    std::vector<IpAddress> found;
    for (const addrinfo* i = res; i; i = i->ai_next) {
        IpAddress a;
        if (i->ai_family == AF_INET)
            a = IpAddress::from_v4(reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(i->ai_addr)->sin_addr));
        else if (i->ai_family == AF_INET6)
            a = IpAddress::from_v6(reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(i->ai_addr)->sin6_addr));
        else
            continue;
        if (std::find(found.begin(), found.end(), a) == found.end()) found.push_back(a);
    }
    ::freeaddrinfo(res);
    if (found.empty()) throw InputError(w + ": " + parts.host + " has no IPv4 or IPv6 address");
    t.host_was_name = true;
    t.endpoint.addr = found.front();
    t.others.assign(found.begin() + 1, found.end());
    return t;
}

std::string Target::resolution_note(std::string_view what) const {
    if (!host_was_name && !port_was_service) return {};
    std::string s = std::string(what) + " " + text + " resolved to " + endpoint.str();
    if (!others.empty()) {
        s += " (the first of " + std::to_string(others.size() + 1) + " addresses; also";
        for (size_t i = 0; i < others.size() && i < 4; ++i) s += (i ? ", " : " ") + others[i].str();
        if (others.size() > 4) s += ", ...";
        s += "; choose a family with -4 or -6)";
    }
    return s;
}

}  // namespace lp
