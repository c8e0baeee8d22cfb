// Terminal colours of the text report and the text timeline: SGR codes around a
// string when `on`, the string as it is otherwise.
#pragma once
#include <fmt/format.h>

#include <string>
#include <string_view>

#include "inference/names.hpp"

namespace lp {

struct Palette {
    bool on = false;
    std::string wrap(std::string_view text, const char* code) const {
        if (!on || text.empty()) return std::string(text);
        return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
    }
    std::string bold(std::string_view t) const { return wrap(t, "1"); }
    std::string dim(std::string_view t) const { return wrap(t, "2"); }
    std::string warn(std::string_view t) const { return wrap(t, "33"); }
    std::string setting(std::string_view t) const { return wrap(t, "36"); }
    std::string fate(std::string_view t, Fate f) const { return wrap(t, fate_code(f)); }
    static const char* fate_code(Fate f) {
        switch (f) {
            case Fate::queued: return "32";
            case Fate::ack_dropped: return "33";
            case Fate::reset_after_ack: return "31";
            case Fate::syn_dropped: return "35";
            case Fate::half_open: return "36";
            case Fate::cookie: return "34";
            case Fate::refused: return "1;31";
            case Fate::reset_by_client: return "2;33";
            case Fate::probe_reset: return "2;36";
            case Fate::unknown: break;
        }
        return "2";
    }
};

}  // namespace lp
