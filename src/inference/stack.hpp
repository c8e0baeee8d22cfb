// Which TCP stack families are consistent with what a listener showed on the wire: the
// SYN-ACK retransmission schedule (initial timeout, retransmission count when a request was
// proven exhausted), the overflow policy for final ACKs, the SYN-ACK option layout and
// TTL. The table of families (stack.cpp) holds each family's documented behaviour and
// where it comes from (docs/inference.md, *Stack*).
//
// A family is excluded only by what its stack cannot do whatever its settings: an
// initial timeout it never uses, more retransmissions than its setting allows, an option
// layout it never writes. What its settings could explain (a retry count, a TTL, an
// overflow policy other than the default) keeps it, marked as not its defaults.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/names.hpp"

namespace lp {

struct ListenerVerdict;

enum class StackFamily : uint8_t { linux_modern, linux_old, freebsd, windows };
inline constexpr int kStackFamilies = 4;

struct StackTraits {
    StackFamily family;
    const char* id;             // stable name in the JSON contract: "linux", "linux-old", ...
    const char* name;           // for people: "Linux 3.1 or later"
    double initial_default;     // initial SYN-ACK timeout by default (s)
    bool initial_fixed;         // the stack cannot use another initial timeout
    int retries_default;        // SYN-ACK retransmissions by default
    int retries_max;            // the most its setting allows
    const char* retries_setting;  // "tcp_synack_retries=", printed with the count
    AckPolicy ack_default;      // final ACK on a full accept queue by default (unknown: not documented)
    const char* ack_setting;    // the setting for the other policy ("" when none is known)
    const char* const* layouts; // SYN-ACK option layouts it writes (p0f notation), null-terminated
    int initial_ttl;            // default IPv4 TTL / IPv6 hop limit (settable)
    const char* uncertain;      // what is not documented ("" when nothing)
};

const StackTraits& stack_traits(StackFamily f);
const StackTraits* stack_traits(std::string_view id);

// Whether a SYN-ACK option layout (p0f notation, "mss,sok,ts,nop,ws") can come from the
// family: true, false, or nullopt when the layout is not judged (no options, options the
// table has no rule for, or an incomplete capture of the header).
std::optional<bool> layout_fits(StackFamily f, const std::string& layout);

struct StackInput {
    std::optional<double> initial;  // the initial timeout the measured gaps fit (1 or 3 s)
    std::string gaps;               // the gaps, for the evidence ("1.007s, 2.016s")
    std::optional<int> retries;     // proven exact
    int retries_at_least = 0;
    AckPolicy on_full_ack = AckPolicy::unknown;
    struct Layout {
        std::string layout;         // p0f notation
        uint32_t count = 0;         // first SYN-ACKs with it
        std::string first;          // "10.0.0.1:4000 at 0.100s"
    };
    std::vector<Layout> layouts;
    uint32_t layouts_more = 0;      // first SYN-ACKs with layouts not kept
    int ttl_max = 0;                // highest TTL of a first SYN-ACK (0: not known)
    std::string ttl_first;
};

struct StackMatch {
    StackFamily family;
    bool defaults = true;            // every value seen is what the family does by default
    std::vector<std::string> notes;  // settings it needs, what is not documented
};

struct StackVerdict {
    std::vector<StackMatch> families;  // consistent with the evidence: defaults first, then table order
    std::vector<std::string> evidence;
};

// Sets v.stack, or leaves it empty with a warning (`stack-unknown`: nothing tells the
// families apart; `stack-none`: no family of the table fits).
void infer_stack(const StackInput& in, ListenerVerdict& v);

// "tcp_synack_retries=3 (or the listener's TCP_SYNCNT)" for a Linux-only verdict; else the
// setting of each family the verdict keeps (all of them when there is none), "=" or ">=".
std::string retries_setting_text(const std::optional<StackVerdict>& s, int n, bool at_least = false);

// "tcp_abort_on_overflow=1" for a Linux-only verdict; else what each kept family needs for
// that policy ("FreeBSD's default", "net.inet.tcp.syncache.rst_on_sock_fail=0 (FreeBSD)").
std::string ack_setting_text(const std::optional<StackVerdict>& s, AckPolicy how);

// "Linux 3.1 or later (its defaults) or FreeBSD (syncache) (tcp_synack_retries ...)": one line.
std::string stack_text(const StackVerdict& s);

}  // namespace lp
