#include "inference/names.hpp"

#include <array>
#include <utility>

namespace lp {
namespace {

template <class E, size_t N>
using Table = std::array<std::pair<E, const char*>, N>;

constexpr Table<Fate, kFates> kFateNames{{
    {Fate::queued, "queued"},
    {Fate::ack_dropped, "ack-dropped"},
    {Fate::reset_after_ack, "reset-after-ack"},
    {Fate::syn_dropped, "syn-dropped"},
    {Fate::half_open, "half-open"},
    {Fate::cookie, "cookie"},
    {Fate::refused, "refused"},
    {Fate::reset_by_client, "reset-by-client"},
    {Fate::probe_reset, "probe-reset"},
    {Fate::unknown, "unknown"},
}};
constexpr Table<PortState, 3> kPortNames{{
    {PortState::open, "open"}, {PortState::closed, "closed"}, {PortState::no_answer, "no-answer"}}};
constexpr Table<SynPolicy, 2> kSynNames{{{SynPolicy::unknown, "unknown"}, {SynPolicy::drop, "drop"}}};
constexpr Table<AckPolicy, 3> kAckNames{{
    {AckPolicy::unknown, "unknown"}, {AckPolicy::drop, "drop"}, {AckPolicy::rst, "rst"}}};
constexpr Table<CookieMode, 4> kCookieNames{{
    {CookieMode::unknown, "unknown"},
    {CookieMode::off, "off"},
    {CookieMode::on_overflow, "on-overflow"},
    {CookieMode::always, "always"},
}};

template <class E, size_t N>
const char* name_of(const Table<E, N>& t, E v) {
    for (const auto& [e, n] : t)
        if (e == v) return n;
    return "unknown";
}
template <class E, size_t N>
std::optional<E> value_of(const Table<E, N>& t, std::string_view s) {
    for (const auto& [e, n] : t)
        if (s == n) return e;
    return std::nullopt;
}

}  // namespace

const char* to_string(Fate v) { return name_of(kFateNames, v); }
const char* to_string(PortState v) { return name_of(kPortNames, v); }
const char* to_string(SynPolicy v) { return name_of(kSynNames, v); }
const char* to_string(AckPolicy v) { return name_of(kAckNames, v); }
const char* to_string(CookieMode v) { return name_of(kCookieNames, v); }
std::optional<Fate> parse_fate(std::string_view s) { return value_of(kFateNames, s); }
std::optional<CookieMode> parse_cookie_mode(std::string_view s) { return value_of(kCookieNames, s); }

}  // namespace lp
