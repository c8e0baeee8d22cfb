// Verdict values as enums, each with one name table (the names the JSON contract
// uses). to_string() gives the name, parse_*() reads it back (tests, tools).
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace lp {

// What became of one handshake (per connection in reports).
enum class Fate : uint8_t {
    queued,           // proven established at the listener
    ack_dropped,      // final ACK met a SYN-ACK retransmission: the listener did not take it
    reset_after_ack,  // final ACK answered by RST (abort_on_overflow)
    syn_dropped,      // SYN(s) met silence while the listener answers others
    half_open,        // SYN-ACKed, never ACKed by the client
    cookie,           // SYN-ACK proven stateless (syncookie)
    refused,          // RST to the SYN: closed port
    reset_by_client,  // the client reset the handshake before its outcome (e.g. prober kernel)
    probe_reset,      // the probe's own request, reset by the probe on purpose before any final ACK
    unknown
};
inline constexpr int kFates = 10;

enum class PortState : uint8_t { open, closed, no_answer };
enum class SynPolicy : uint8_t { unknown, drop };
enum class AckPolicy : uint8_t { unknown, drop, rst };
enum class CookieMode : uint8_t { unknown, off, on_overflow, always };

const char* to_string(Fate v);
const char* to_string(PortState v);
const char* to_string(SynPolicy v);
const char* to_string(AckPolicy v);
const char* to_string(CookieMode v);

std::optional<Fate> parse_fate(std::string_view s);
std::optional<CookieMode> parse_cookie_mode(std::string_view s);

}  // namespace lp
