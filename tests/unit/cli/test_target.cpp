// Targets as people type them (probe TARGET, --listener): literals, host names, service
// names, and one message for each mistake.
#include <doctest/doctest.h>

#include <netdb.h>
#include <sys/socket.h>

#include <string>

#include "cli/target.hpp"
#include "segments/error.hpp"

using namespace lp;

namespace {

// The message of the UsageError (exit 2) that `text` raises; "" if it raises none.
std::string usage_error(const std::string& text, AddressFamily f = AddressFamily::any) {
    try {
        resolve_target(text, f, "target");
    } catch (const UsageError& e) {
        return e.what();
    }
    return "";
}

std::string input_error(const std::string& text, AddressFamily f = AddressFamily::any) {
    try {
        resolve_target(text, f, "target");
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("target: literal addresses, as before") {
    auto t = resolve_target("10.77.0.2:8081", AddressFamily::any, "target");
    CHECK(t.endpoint.str() == "10.77.0.2:8081");
    CHECK_FALSE(t.host_was_name);
    CHECK_FALSE(t.port_was_service);
    CHECK(t.resolution_note("target").empty());
    CHECK(resolve_target("[fd77::2]:8081", AddressFamily::any, "target").endpoint.str() == "[fd77::2]:8081");
    CHECK(resolve_target("[FD77:0::2]:80", AddressFamily::any, "target").endpoint.str() == "[fd77::2]:80");
    CHECK(resolve_target("[::1]:1", AddressFamily::v6, "target").endpoint.str() == "[::1]:1");
    CHECK(resolve_target("127.0.0.1:65535", AddressFamily::v4, "target").endpoint.port == 65535);
    CHECK(resolve_target("127.0.0.1:080", AddressFamily::any, "target").endpoint.port == 80);
}

TEST_CASE("target: ports by service name") {
    // /etc/services (netbase) names http and ssh on every Debian system.
    if (!::getservbyname("http", "tcp")) return;
    auto t = resolve_target("10.0.0.1:http", AddressFamily::any, "target");
    CHECK(t.endpoint.port == 80);
    CHECK(t.port_was_service);
    CHECK(t.resolution_note("target") == "target 10.0.0.1:http resolved to 10.0.0.1:80");
    CHECK(resolve_target("[fd77::2]:ssh", AddressFamily::any, "target").endpoint.port == 22);
    CHECK(has(usage_error("10.0.0.1:no-such-service"), "unknown TCP service 'no-such-service'"));
    CHECK(has(usage_error("10.0.0.1:ht tp"), "is not a port number or service name"));
}

TEST_CASE("target: host names, resolved once") {
    // localhost comes from /etc/hosts: no network needed.
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET;
    if (::getaddrinfo("localhost", nullptr, &hints, &res) != 0) {
        MESSAGE("localhost does not resolve to IPv4 here: skipped");
        return;
    }
    ::freeaddrinfo(res);
    auto t = resolve_target("localhost:8080", AddressFamily::v4, "target");
    CHECK(t.endpoint.str() == "127.0.0.1:8080");
    CHECK(t.host_was_name);
    CHECK(t.host == "localhost");
    CHECK(has(t.resolution_note("--listener"), "--listener localhost:8080 resolved to 127.0.0.1:8080"));
    auto any = resolve_target("localhost:8080", AddressFamily::any, "target");
    CHECK((any.endpoint.addr.family == 4 || any.endpoint.addr.family == 6));
    // -6: localhost has ::1, or the message says it has no IPv6 address.
    try {
        const auto v6 = resolve_target("localhost:80", AddressFamily::v6, "target");
        CHECK(v6.endpoint.addr.family == 6);
    } catch (const InputError& e) {
        CHECK(std::string(e.what()) == "target: localhost has no IPv6 address");
    }
    // A name that cannot exist (RFC 6761: .invalid) is an unusable target, exit 1.
    const std::string e = input_error("no-such-host.invalid:80");
    CHECK(has(e, "target: cannot resolve no-such-host.invalid"));
}

TEST_CASE("target: each mistake its own message (usage, exit 2)") {
    CHECK(usage_error("") == "target is empty: want HOST:PORT or [IPV6]:PORT");
    CHECK(has(usage_error("10.9.0.2"), "'10.9.0.2' has no port"));
    CHECK(has(usage_error("example"), "'example' has no port"));
    CHECK(has(usage_error(":80"), "':80' has an empty host"));
    CHECK(has(usage_error("[]:80"), "'[]:80' has an empty host"));
    CHECK(has(usage_error("10.9.0.2:"), "'10.9.0.2:' has an empty port"));
    CHECK(usage_error("10.9.0.2:0") == "target: port 0 is out of range 1..65535");
    CHECK(usage_error("10.9.0.2:65536") == "target: port 65536 is out of range 1..65535");
    CHECK(usage_error("10.9.0.2:99999999999999999999") ==
          "target: port 99999999999999999999 is out of range 1..65535");
    CHECK(usage_error("10.9.0.2:-1") == "target: port -1 is out of range 1..65535");
    CHECK(has(usage_error("10.9.0.2:+80"), "is not a plain number"));
    CHECK(has(usage_error("fd09::2:80"), "an IPv6 address needs brackets: [fd09::2]:80"));
    CHECK(has(usage_error("fd09::2:http"), "an IPv6 address needs brackets: [fd09::2]:http"));
    CHECK(has(usage_error("fd09::2"), "is an IPv6 address without a port"));
    CHECK(has(usage_error("[fd09::2]80"), "want ':' and a port after ']'"));
    CHECK(has(usage_error("[fd09::2]"), "has no port"));
    CHECK(has(usage_error("[fd09::2:80"), "missing ']'"));
    CHECK(has(usage_error("[10.0.0.1]:80"), "is not an IPv6 address (brackets are for IPv6)"));
    CHECK(has(usage_error("10.9.0.256:80"), "'10.9.0.256' is not a valid IPv4 address"));
    CHECK(has(usage_error("10.1:80"), "'10.1' is not a valid IPv4 address"));
    CHECK(has(usage_error("bad_host!:80"), "is not a host name or address"));
    CHECK(has(usage_error("-x:80"), "is not a host name or address"));
    CHECK(has(usage_error("[::1]:80", AddressFamily::v4), "is an IPv6 address, but -4 was given"));
    CHECK(has(usage_error("127.0.0.1:80", AddressFamily::v6), "is an IPv4 address, but -6 was given"));
}

TEST_CASE("target: the name of the option is in the message") {
    try {
        resolve_target("10.9.0.2:0", AddressFamily::any, "--listener");
        FAIL("no error");
    } catch (const UsageError& e) {
        CHECK(std::string(e.what()) == "--listener: port 0 is out of range 1..65535");
    }
}

TEST_CASE("target: split_target keeps the parts") {
    auto p = split_target("[fd77::2]:http", "target");
    CHECK(p.bracketed);
    CHECK(p.host == "fd77::2");
    CHECK(p.port == "http");
    p = split_target("host.example:443", "target");
    CHECK_FALSE(p.bracketed);
    CHECK(p.host == "host.example");
    CHECK(p.port == "443");
}
