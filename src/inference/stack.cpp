#include "inference/stack.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "inference/verdict.hpp"

namespace lp {
namespace {

// SYN-ACK option layouts in p0f's notation (p0f v3 p0f.fp, [tcp:response]; "eol+1" written
// "eol": the analyzer keeps no padding after an EOL).
//
// Linux, tcp_options_write() (net/ipv4/tcp_output.c): MSS; SACK_PERM+TS in one word, or
// NOP,NOP,TS, or NOP,NOP,SACK_PERM; then NOP,WS. The same eight as p0f's "Linux 3.x" and
// "Linux 2.6.x" (and 2.4-2.6) response signatures.
constexpr const char* kLinuxLayouts[] = {
    "mss", "mss,sok,ts", "mss,nop,nop,ts", "mss,nop,nop,sok", "mss,nop,ws", "mss,sok,ts,nop,ws",
    "mss,nop,nop,ts,nop,ws", "mss,nop,nop,sok,nop,ws", nullptr};
// FreeBSD, tcp_addoptions() (sys/netinet/tcp_output.c): MSS; NOP until an odd offset, WS;
// NOP to an even offset, SACK_PERM; NOP until offset % 4 == 2, TS; then EOL and padding to
// a 4-byte boundary. The same as p0f's "FreeBSD 8.x", "9.x" and "8.x-9.x" signatures, plus
// a bare MSS (which p0f leaves out as ambiguous).
constexpr const char* kFreeBsdLayouts[] = {
    "mss", "mss,nop,ws", "mss,sok,eol", "mss,nop,nop,ts", "mss,nop,ws,sok,eol", "mss,nop,ws,nop,nop,ts",
    "mss,sok,ts", "mss,nop,ws,sok,ts", nullptr};
// Windows: p0f's "Windows XP" and "Windows 7 or 8" response signatures (no source to read;
// later versions are assumed to write the same: not verified).
constexpr const char* kWindowsLayouts[] = {
    "mss", "mss,nop,ws", "mss,nop,nop,sok", "mss,nop,nop,ts", "mss,nop,ws,nop,nop,sok", "mss,nop,ws,nop,nop,ts",
    "mss,nop,nop,ts,nop,nop,sok", "mss,nop,ws,nop,nop,ts,nop,nop,sok", "mss,sok,ts", "mss,nop,ws,sok,ts", nullptr};

// The families, as tcpdump keeps its value -> name tables: one row each, in the order reports list them.
constexpr std::array<StackTraits, kStackFamilies> kTable{{
    {StackFamily::linux_modern, "linux", "Linux 3.1 or later",
     1.0, true,  // TCP_TIMEOUT_INIT 1 s (RFC 6298) since 3.1
     5, 255, "tcp_synack_retries=",  // TCP_SYNACK_RETRIES; a u8 sysctl (or TCP_SYNCNT per socket)
     AckPolicy::drop, "tcp_abort_on_overflow=1", kLinuxLayouts, 64, ""},
    {StackFamily::linux_old, "linux-old", "Linux before 3.1",
     3.0, true,  // TCP_TIMEOUT_INIT 3 s (RFC 2988)
     5, 255, "tcp_synack_retries=", AckPolicy::drop, "tcp_abort_on_overflow=1", kLinuxLayouts, 64, ""},
    {StackFamily::freebsd, "freebsd", "FreeBSD (syncache)",
     1.0, false,  // tcp_rexmit_initial (net.inet.tcp.rexmit_initial), 1 s by default
     3, 12, "net.inet.tcp.syncache.rexmtlimit=",  // SYNCACHE_MAXREXMTS 3; the sysctl refuses > TCP_MAXRXTSHIFT (12)
     AckPolicy::rst, "net.inet.tcp.syncache.rst_on_sock_fail=0", kFreeBsdLayouts, 64,
     "releases before tcp_rexmit_initial used TCPTV_RTOBASE (3 s) for the first timeout"},
    {StackFamily::windows, "windows", "Windows",
     3.0, false,  // documented for Windows 2000 and Server 2003 (TcpMaxConnectResponseRetransmissions)
     2, 255, "TcpMaxConnectResponseRetransmissions=", AckPolicy::unknown, "", kWindowsLayouts, 128,
     "the SYN-ACK schedule (3 s, twice) is documented for Windows 2000 and Server 2003 only; the option "
     "layouts are p0f's for XP, 7 and 8"},
}};

std::string normalise(std::string s) {
    // p0f writes "eol+N" (N bytes of padding after it); the analyzer stops at the EOL.
    if (const size_t at = s.find("eol+"); at != std::string::npos) s.erase(at + 3);
    return s;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
    std::string o;
    for (size_t i = 0; i < v.size(); ++i) o += (i ? std::string(sep) : "") + v[i];
    return o;
}

std::string list_names(const std::vector<StackFamily>& fs) {
    std::vector<std::string> names;
    for (StackFamily f : fs) names.push_back(stack_traits(f).name);
    return join(names, ", ");
}

}  // namespace

const StackTraits& stack_traits(StackFamily f) { return kTable[size_t(f)]; }

const StackTraits* stack_traits(std::string_view id) {
    for (const StackTraits& t : kTable)
        if (id == t.id) return &t;
    return nullptr;
}

std::optional<bool> layout_fits(StackFamily f, const std::string& layout) {
    if (layout.empty() || layout.find('?') != std::string::npos || layout.find("...") != std::string::npos ||
        layout.find("sack") != std::string::npos)  // "sok" is not "sack": SACK blocks never come in a SYN-ACK
        return std::nullopt;
    const std::string l = normalise(layout);
    for (const char* const* p = stack_traits(f).layouts; *p; ++p)
        if (normalise(*p) == l) return true;
    return false;
}

void infer_stack(const StackInput& in, ListenerVerdict& v) {
    std::array<bool, kStackFamilies> out{};
    std::array<StackMatch, kStackFamilies> m{};
    for (int i = 0; i < kStackFamilies; ++i) m[size_t(i)].family = StackFamily(i);
    std::vector<std::string> evidence;
    auto note = [&](size_t i, std::string s) {
        m[i].defaults = false;
        m[i].notes.push_back(std::move(s));
    };

    if (in.initial) {
        const double I = *in.initial;
        std::vector<StackFamily> fixed_other, fit;
        for (size_t i = 0; i < kTable.size(); ++i) {
            const StackTraits& t = kTable[i];
            if (std::fabs(t.initial_default - I) < 1e-9) {
                fit.push_back(t.family);
            } else if (t.initial_fixed) {
                out[i] = true;
                fixed_other.push_back(t.family);
            } else {
                fit.push_back(t.family);
                note(i, fmt::format("initial SYN-ACK timeout {:g} s (its default is {:g} s)", I, t.initial_default));
            }
        }
        std::string line = fmt::format("initial SYN-ACK timeout {:g} s (gaps {}): ", I, in.gaps);
        line += fixed_other.empty() ? "possible for every family"
                                    : fmt::format("not {} (always a different initial timeout)", list_names(fixed_other));
        evidence.push_back(std::move(line));
    }

    if (in.retries) {
        const int n = *in.retries;
        std::vector<std::string> parts;
        std::vector<StackFamily> deflt, set;
        for (size_t i = 0; i < kTable.size(); ++i) {
            const StackTraits& t = kTable[i];
            if (n > t.retries_max) {
                out[i] = true;
                parts.push_back(fmt::format("more than {} allows ({})", t.name, t.retries_max));
            } else if (n == t.retries_default) {
                deflt.push_back(t.family);
            } else {
                note(i, fmt::format("{}{} (default {})", t.retries_setting, n, t.retries_default));
                set.push_back(t.family);
            }
        }
        if (!deflt.empty()) parts.push_back(fmt::format("the default of {}", list_names(deflt)));
        if (!set.empty()) parts.push_back(fmt::format("a setting of {} (notes)", list_names(set)));
        evidence.push_back(fmt::format("{} SYN-ACK retransmission(s) before the request was given up{}{}", n,
                                       parts.empty() ? "" : ": ", join(parts, "; ")));
    } else if (in.retries_at_least > 0) {
        std::vector<StackFamily> over;
        for (size_t i = 0; i < kTable.size(); ++i)
            if (in.retries_at_least > kTable[i].retries_max) {
                out[i] = true;
                over.push_back(kTable[i].family);
            }
        if (!over.empty())
            evidence.push_back(fmt::format("at least {} SYN-ACK retransmissions of one request: more than {} allows",
                                           in.retries_at_least, list_names(over)));
    }

    if (in.on_full_ack != AckPolicy::unknown) {
        std::vector<std::string> parts;
        std::vector<StackFamily> yes, set;
        for (size_t i = 0; i < kTable.size(); ++i) {
            const StackTraits& t = kTable[i];
            if (t.ack_default == AckPolicy::unknown) {
                m[i].notes.push_back("what it does with a final ACK on a full accept queue is not documented");
            } else if (t.ack_default == in.on_full_ack) {
                yes.push_back(t.family);
            } else {
                note(i, t.ack_setting);
                set.push_back(t.family);
            }
        }
        if (!yes.empty()) parts.push_back(fmt::format("the default of {}", list_names(yes)));
        if (!set.empty()) parts.push_back(fmt::format("a setting of {} (notes)", list_names(set)));
        evidence.push_back(fmt::format("final ACK on a full accept queue {}: {}",
                                       in.on_full_ack == AckPolicy::rst ? "answered by RST" : "dropped",
                                       join(parts, "; ")));
    }

    for (const StackInput::Layout& l : in.layouts) {
        std::vector<StackFamily> yes, no;
        bool judged = true;
        for (size_t i = 0; i < kTable.size(); ++i) {
            const auto fits = layout_fits(kTable[i].family, l.layout);
            if (!fits) {
                judged = false;
                break;
            }
            (*fits ? yes : no).push_back(kTable[i].family);
        }
        const std::string head = fmt::format("SYN-ACK options [{}] ({} SYN-ACK(s), the first to {})",
                                              l.layout.empty() ? "none" : l.layout, l.count, l.first);
        if (!judged) {
            evidence.push_back(head + ": not judged (no options, options the table has no rule for, or a header "
                                      "the capture cut short)");
            continue;
        }
        for (StackFamily f : no) out[size_t(f)] = true;
        evidence.push_back(head + (yes.empty() ? ": written by none of the families"
                                               : fmt::format(": the order {} writes", list_names(yes))) +
                           (no.empty() ? "" : fmt::format("; not {}", list_names(no))));
    }
    if (in.layouts_more > 0)
        evidence.push_back(fmt::format("{} more SYN-ACK(s) with other option layouts were not kept", in.layouts_more));

    if (in.ttl_max > 0) {
        std::vector<StackFamily> below, above;
        for (size_t i = 0; i < kTable.size(); ++i) {
            const StackTraits& t = kTable[i];
            if (in.ttl_max > t.initial_ttl) {
                above.push_back(t.family);
                note(i, fmt::format("an initial TTL above its default {} (SYN-ACK TTL {})", t.initial_ttl, in.ttl_max));
            } else {
                below.push_back(t.family);
            }
        }
        std::string line = fmt::format("SYN-ACK TTL (hop limit) up to {} (the first to {})", in.ttl_max, in.ttl_first);
        if (!below.empty()) line += fmt::format(": within the default initial TTL of {} (hops unknown)", list_names(below));
        if (!above.empty())
            line += fmt::format("{}above the default of {} (a changed default TTL)", below.empty() ? ": " : "; ",
                                list_names(above));
        evidence.push_back(std::move(line));
    }

    const size_t excluded = size_t(std::count(out.begin(), out.end(), true));
    if (excluded == 0) {
        v.warnings.push_back(
            {"stack-unknown",
             evidence.empty()
                 ? std::string("nothing in the capture tells the stack families apart (no SYN-ACK retransmission "
                               "schedule, no judged SYN-ACK option layout)")
                 : fmt::format("what the capture shows fits every stack family of the table ({})", join(evidence, "; "))});
        return;
    }
    if (excluded == size_t(kStackFamilies)) {
        v.warnings.push_back({"stack-none", fmt::format("no stack family of the table fits: {}", join(evidence, "; "))});
        return;
    }
    StackVerdict s;
    for (size_t i = 0; i < kTable.size(); ++i)
        if (!out[i]) {
            if (kTable[i].uncertain[0]) m[i].notes.push_back(fmt::format("uncertain: {}", kTable[i].uncertain));
            s.families.push_back(std::move(m[i]));
        }
    std::stable_sort(s.families.begin(), s.families.end(),
                     [](const StackMatch& a, const StackMatch& b) { return a.defaults && !b.defaults; });
    s.evidence = std::move(evidence);
    v.stack = std::move(s);
}

namespace {
// "Linux", "FreeBSD", "Windows": the family's OS, for settings named after it.
std::string family_word(StackFamily f) {
    const std::string n = stack_traits(f).name;
    return f == StackFamily::linux_modern || f == StackFamily::linux_old ? "Linux" : n.substr(0, n.find(" ("));
}

std::vector<StackFamily> kept(const std::optional<StackVerdict>& s) {
    std::vector<StackFamily> fs;
    if (s)
        for (const StackMatch& m : s->families) fs.push_back(m.family);
    else
        for (const StackTraits& t : kTable) fs.push_back(t.family);
    return fs;
}
}  // namespace

std::string ack_setting_text(const std::optional<StackVerdict>& s, AckPolicy how) {
    if (how == AckPolicy::unknown) return "";
    const std::string linux_setting = how == AckPolicy::rst ? "tcp_abort_on_overflow=1" : "tcp_abort_on_overflow=0";
    std::vector<std::string> parts;
    bool linux_done = false;
    for (StackFamily f : kept(s)) {
        const StackTraits& t = stack_traits(f);
        if (f == StackFamily::linux_modern || f == StackFamily::linux_old) {
            if (!linux_done) parts.push_back(linux_setting + " (Linux)");
            linux_done = true;
        } else if (t.ack_default == how) {
            parts.push_back(fmt::format("{}'s default", family_word(f)));
        } else if (t.ack_default != AckPolicy::unknown) {
            parts.push_back(fmt::format("{} ({})", t.ack_setting, family_word(f)));
        }
    }
    if (parts.size() == 1 && linux_done) return linux_setting;
    return join(parts, " or ");
}

std::string retries_setting_text(const std::optional<StackVerdict>& s, int n, bool at_least) {
    const std::vector<StackFamily> fs = kept(s);
    auto is_linux = [](StackFamily f) { return f == StackFamily::linux_modern || f == StackFamily::linux_old; };
    auto setting = [&](const StackTraits& t) {
        std::string name = t.retries_setting;
        name.pop_back();  // the '='
        return fmt::format("{}{}{}", name, at_least ? " >= " : "=", n);
    };
    if (std::all_of(fs.begin(), fs.end(), is_linux))
        return at_least ? setting(kTable[0]) : fmt::format("{} (or the listener's TCP_SYNCNT)", setting(kTable[0]));
    std::vector<std::string> parts;
    for (StackFamily f : fs) {
        const StackTraits& t = stack_traits(f);
        std::string p = fmt::format("{} ({})", setting(t), family_word(f));
        if (std::find(parts.begin(), parts.end(), p) == parts.end()) parts.push_back(std::move(p));
    }
    return join(parts, " or ");
}

std::string stack_text(const StackVerdict& s) {
    std::vector<std::string> names;
    for (const StackMatch& m : s.families)
        names.push_back(fmt::format("{}{}", stack_traits(m.family).name, m.defaults ? " (its defaults)" : ""));
    return join(names, ", or ");
}

}  // namespace lp
