// Targets as people type them: `listenprobe probe TARGET`, `--listener TARGET`.
//
//   TARGET = HOST:PORT | [IPV6]:PORT
//   HOST   = an IPv4 address, or a host name (resolved once, getaddrinfo)
//   PORT   = 1..65535, or a TCP service name from /etc/services (getservbyname)
//
// Each mistake has its own one-line message. Text that cannot be a target is a
// usage error (exit 2); a well-formed name that does not resolve, or has no
// address of the family asked for, makes the target unusable (exit 1).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "segments/segment.hpp"

namespace lp {

enum class AddressFamily { any, v4, v6 };  // -4 / -6

struct Target {
    Endpoint endpoint;               // what the probe or the filter uses
    std::string text;                // as given
    std::string host;                // the HOST part, without brackets
    bool host_was_name = false;      // resolved with getaddrinfo
    bool port_was_service = false;   // resolved with getservbyname
    std::vector<IpAddress> others;   // further addresses the name had (not used)

    // One line saying what a name or service resolved to; empty for a literal target.
    std::string resolution_note(std::string_view what) const;
};

// Splits and checks the syntax only (no lookup). Throws lp::UsageError.
struct TargetParts {
    std::string host, port;
    bool bracketed = false;
};
TargetParts split_target(std::string_view text, std::string_view what);

// The port of a target: a number 1..65535 or a TCP service name. Throws lp::UsageError.
uint16_t resolve_port(std::string_view port, std::string_view what);

// Parses and resolves a target. `what` names it in messages ("target", "--listener").
// Throws lp::UsageError (exit 2) or lp::InputError (exit 1).
Target resolve_target(std::string_view text, AddressFamily family, std::string_view what);

}  // namespace lp
