#include "report/report.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <cmath>

#include "segments/error.hpp"

namespace lp {
namespace {

using nlohmann::json;

// A busy capture has millions of connections; the report lists the first ones in
// full and counts the rest (fate_counts has them all).
constexpr size_t kMaxReportedConnections = 1000;

json opt_int(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }
json opt_dbl(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
double round_s(double s) { return std::round(s * 1e6) / 1e6; }

json fate_counts(const ListenerVerdict& l) {
    std::map<std::string, uint64_t> n;
    for (int f = 0; f < kFates; ++f)
        if (l.fate_counts[size_t(f)]) n[to_string(Fate(f))] = l.fate_counts[size_t(f)];
    return n;
}

}  // namespace

json connections_json(const Analysis& a, const ListenerVerdict& l) {
    json arr = json::array();
    size_t shown = 0;
    for (const ReportedConnection& rc : l.connections) {
        const ReportedConnection* c = &rc;
        if (++shown > kMaxReportedConnections) break;
        json ev = json::array();
        for (const auto& e : c->events) {
            json j = {{"t", round_s(double(e.t_ns - a.t0_ns) / 1e9)},
                      {"dir", to_string(e.dir)},
                      {"kind", to_string(e.kind)},
                      {"seq", e.seq},
                      {"ack", e.ack}};
            if (e.payload) j["len"] = e.payload;
            if (e.kind == EventKind::synack_retransmit) j["timer"] = e.timer;
            ev.push_back(std::move(j));
        }
        json cj = {{"client", c->client.str()}, {"fate", to_string(c->fate)}, {"reason", c->fate_reason},
                   {"events", std::move(ev)}};
        if (c->cookie) cj["cookie"] = true;
        if (c->established_ns) cj["established_t"] = round_s(double(*c->established_ns - a.t0_ns) / 1e9);
        if (c->events_omitted) cj["events_omitted"] = c->events_omitted;
        arr.push_back(std::move(cj));
    }
    return arr;
}

namespace {
// Marks where analysis_json_text() splices in a listener's connections: a NUL cannot
// occur in any other string of the report.
std::string placeholder(size_t i) { return std::string("\0lp-connections-", 16) + std::to_string(i); }

// `no_answer` (probe only): why the port was silent.
json no_answer_json(const NoAnswer& n) {
    return {{"cause", n.cause},
            {"from", n.from ? json(n.from->str()) : json(nullptr)},
            {"icmp_type", opt_int(n.icmp_type)},
            {"icmp_code", opt_int(n.icmp_code)},
            {"message", n.message}};
}

json analysis_json_impl(const Analysis& a, bool placeholders) {
    json listeners = json::array();
    for (const auto& l : a.listeners) {
        json warnings = json::array();
        for (const auto& w : l.warnings) warnings.push_back({{"code", w.code}, {"message", w.message}});
        json lj = {
            {"address", l.listener.addr.str()},
            {"port", l.listener.port},
            {"family", l.listener.addr.family == 6 ? "ipv6" : "ipv4"},
            {"port_state", to_string(l.port_state)},
            {"accept_queue",
             {{"capacity", opt_int(l.capacity)},
              {"backlog", opt_int(l.backlog)},
              {"capacity_at_most", opt_int(l.capacity_at_most)},
              {"capacity_at_least", opt_int(l.capacity_at_least)}}},
            {"on_full", {{"syn", to_string(l.on_full_syn)}, {"ack", to_string(l.on_full_ack)}}},
            {"synack",
             {{"retries", opt_int(l.retries)},
              {"retries_at_least", l.retries_at_least},
              {"initial_rto_s", opt_dbl(l.initial_rto_s)},
              {"gaps_s", l.gaps_s}}},
            {"rtt_s", l.rtt_s ? json(round_s(*l.rtt_s)) : json(nullptr)},
            {"syncookies", to_string(l.syncookies)},
            {"syn_queue",
             {{"capacity", opt_int(l.syn_queue_capacity)},
              {"capacity_at_least", opt_int(l.syn_queue_capacity_at_least)},
              {"capacity_at_most", opt_int(l.syn_queue_capacity_at_most)}}},
            {"evidence", l.evidence},
            {"assumptions", l.assumptions},
            {"connections_total", l.connections_total},
            {"connections_omitted",
             l.connections_total - std::min<uint64_t>(l.connections.size(), kMaxReportedConnections)},
            {"fate_counts", fate_counts(l)},
            {"warnings", std::move(warnings)},
            {"connections", placeholders ? json(placeholder(listeners.size())) : connections_json(a, l)}};
        if (l.no_answer) lj["no_answer"] = no_answer_json(*l.no_answer);
        listeners.push_back(std::move(lj));
    }
    json src = {{"kind", a.source.kind}, {"path", a.source.path}, {"packets", a.source.packets},
                {"skipped", a.source.skipped}};
    if (a.end_ns) src["duration_s"] = round_s(double(*a.end_ns - a.t0_ns) / 1e9);
    if (!a.source.notes.empty()) src["notes"] = a.source.notes;
    return {{"schema", "listenprobe/1"}, {"source", std::move(src)}, {"listeners", std::move(listeners)}};
}

// Writes the connections array as nlohmann's dump(indent 2) would, keys in the same
// (sorted) order, without building a json value per event: a busy capture reports
// thousands of connections with tens of events each.
void write_connections(std::string& o, const Analysis& a, const ListenerVerdict& l, size_t indent) {
    auto str = [](const std::string& v) { return json(v).dump(-1, ' ', false, json::error_handler_t::replace); };
    auto num = [](double v) { return json(v).dump(); };
    const std::string i1(indent + 2, ' '), i2(indent + 4, ' '), i3(indent + 6, ' '), i4(indent + 8, ' ');
    const size_t n = std::min(l.connections.size(), kMaxReportedConnections);
    if (n == 0) {
        o += "[]";
        return;
    }
    o += "[\n";
    for (size_t k = 0; k < n; ++k) {
        const ReportedConnection* c = &l.connections[k];
        o += i1 + "{\n";
        o += i2 + "\"client\": " + str(c->client.str()) + ",\n";
        if (c->cookie) o += i2 + "\"cookie\": true,\n";
        if (c->established_ns)
            o += i2 + "\"established_t\": " + num(round_s(double(*c->established_ns - a.t0_ns) / 1e9)) + ",\n";
        o += i2 + "\"events\": ";
        if (c->events.empty()) {
            o += "[],\n";
        } else {
            o += "[\n";
            for (size_t j = 0; j < c->events.size(); ++j) {
                const Event& e = c->events[j];
                o += i3 + "{\n";
                fmt::format_to(std::back_inserter(o), "{}\"ack\": {},\n{}\"dir\": \"{}\",\n{}\"kind\": \"{}\",\n", i4,
                               e.ack, i4, to_string(e.dir), i4, to_string(e.kind));
                if (e.payload) fmt::format_to(std::back_inserter(o), "{}\"len\": {},\n", i4, e.payload);
                fmt::format_to(std::back_inserter(o), "{}\"seq\": {},\n{}\"t\": {}", i4, e.seq, i4,
                               num(round_s(double(e.t_ns - a.t0_ns) / 1e9)));
                if (e.kind == EventKind::synack_retransmit)
                    fmt::format_to(std::back_inserter(o), ",\n{}\"timer\": {}", i4, e.timer ? "true" : "false");
                o += "\n" + i3 + (j + 1 < c->events.size() ? "},\n" : "}\n");
            }
            o += i2 + "],\n";
        }
        if (c->events_omitted) fmt::format_to(std::back_inserter(o), "{}\"events_omitted\": {},\n", i2, c->events_omitted);
        o += i2 + "\"fate\": \"" + to_string(c->fate) + "\",\n";
        o += i2 + "\"reason\": " + str(c->fate_reason) + "\n";
        o += i1 + (k + 1 < n ? "},\n" : "}\n");
    }
    o += std::string(indent, ' ') + "]";
}

}  // namespace

json analysis_json(const Analysis& a) { return analysis_json_impl(a, false); }

void write_analysis_json(std::ostream& out, const Analysis& a) {
    const std::string doc =
        analysis_json_impl(a, true).dump(2, ' ', false, json::error_handler_t::replace);
    std::string o;
    size_t pos = 0;
    for (size_t i = 0; i < a.listeners.size(); ++i) {
        const std::string mark = json(placeholder(i)).dump();  // as dump escapes it
        const size_t at = doc.find(mark, pos);
        if (at == std::string::npos) break;  // cannot happen: every listener has one
        const size_t line = doc.rfind('\n', at);
        const size_t indent = doc.find_first_not_of(' ', line + 1) - (line + 1);
        out.write(doc.data() + pos, std::streamsize(at - pos));
        o.clear();
        write_connections(o, a, a.listeners[i], indent);
        out << o;
        pos = at + mark.size();
    }
    out.write(doc.data() + pos, std::streamsize(doc.size() - pos));
    out << '\n';
}

std::string analysis_json_text(const Analysis& a) {
    std::ostringstream s;
    write_analysis_json(s, a);
    return std::move(s).str();
}

std::string analysis_text(const Analysis& a, bool color) {
    const std::string B = color ? "\033[1m" : "", R = color ? "\033[0m" : "", Y = color ? "\033[33m" : "",
                      D = color ? "\033[2m" : "";
    std::string o;
    o += fmt::format("{} {}: {} packets ({} not TCP), {:.3f} s\n", a.source.kind, a.source.path, a.source.packets,
                     a.source.skipped, a.end_ns ? double(*a.end_ns - a.t0_ns) / 1e9 : 0.0);
    for (const auto& n : a.source.notes) o += fmt::format("  note: {}\n", n);
    if (a.listeners.empty()) o += "no listener found (no SYN in the capture)\n";
    for (const auto& l : a.listeners) {
        std::map<std::string, uint64_t> fates = fate_counts(l).get<std::map<std::string, uint64_t>>();
        std::string fate_list;
        for (auto& [k, n] : fates) fate_list += fmt::format("{}{} {}", fate_list.empty() ? "" : ", ", n, k);
        o += fmt::format("\n{}listener {}{}  port {}  ({} connection(s): {})\n", B, l.listener.str(), R,
                         to_string(l.port_state), l.connections_total, fate_list);
        auto unk = [&](const std::string& s) { return s == "unknown" ? D + s + R : s; };
        std::string aq;
        if (l.capacity)
            aq = fmt::format("capacity {}  => listen() backlog in effect {} (Linux keeps backlog+1; "
                             "backlog = min(listen arg, net.core.somaxconn))", *l.capacity, *l.backlog);
        else if (l.capacity_at_most && l.capacity_at_least)
            aq = fmt::format("{}unknown{}, between {} and {}", D, R, *l.capacity_at_least, *l.capacity_at_most);
        else if (l.capacity_at_most)
            aq = fmt::format("{}unknown{}, at most {}", D, R, *l.capacity_at_most);
        else if (l.capacity_at_least)
            aq = fmt::format("{}unknown{}, at least {} (never seen full)", D, R, *l.capacity_at_least);
        else
            aq = D + "unknown" + R;
        o += fmt::format("  accept queue   {}\n", aq);
        std::string ack = l.on_full_ack == AckPolicy::rst    ? "rst (tcp_abort_on_overflow=1)"
                          : l.on_full_ack == AckPolicy::drop ? "drop, SYN-ACK retransmitted (tcp_abort_on_overflow=0)"
                                                             : unk(to_string(l.on_full_ack));
        o += fmt::format("  when full      SYN: {}   final ACK: {}\n", unk(to_string(l.on_full_syn)), ack);
        std::string rt;
        if (l.retries)
            rt = fmt::format("{} retransmission(s) (tcp_synack_retries={})", *l.retries, *l.retries);
        else if (l.retries_at_least > 0)
            rt = fmt::format("{}unknown{}, at least {}", D, R, l.retries_at_least);
        else
            rt = D + "unknown" + R;
        if (l.initial_rto_s) rt += fmt::format(", initial timeout {:g} s", *l.initial_rto_s);
        if (!l.gaps_s.empty()) rt += fmt::format(", gaps {}s", fmt::join(l.gaps_s, "s "));
        o += fmt::format("  SYN-ACK        {}\n", rt);
        std::string sc = l.syncookies == CookieMode::off           ? "off (tcp_syncookies=0)"
                         : l.syncookies == CookieMode::on_overflow ? "on overflow (tcp_syncookies=1)"
                         : l.syncookies == CookieMode::always      ? "always (tcp_syncookies=2)"
                                                                   : unk(to_string(l.syncookies));
        o += fmt::format("  syncookies     {}\n", sc);
        if (l.syn_queue_capacity)
            o += fmt::format("  SYN queue      {} stateful request(s) before overflow\n", *l.syn_queue_capacity);
        else if (l.syn_queue_capacity_at_least && l.syn_queue_capacity_at_most)
            o += fmt::format("  SYN queue      {}unknown{}, between {} and {}\n", D, R, *l.syn_queue_capacity_at_least,
                             *l.syn_queue_capacity_at_most);
        else if (l.syn_queue_capacity_at_least)
            o += fmt::format("  SYN queue      {}unknown{}, at least {}\n", D, R, *l.syn_queue_capacity_at_least);
        else if (l.syn_queue_capacity_at_most)
            o += fmt::format("  SYN queue      {}unknown{}, at most {}\n", D, R, *l.syn_queue_capacity_at_most);
        if (l.rtt_s) o += fmt::format("  RTT            {:.3f} ms\n", *l.rtt_s * 1000);
        for (const auto& e : l.evidence) o += fmt::format("  evidence: {}\n", e);
        for (const auto& e : l.assumptions) o += fmt::format("  assuming: {}\n", e);
        for (const auto& w : l.warnings) o += fmt::format("  {}warning [{}]{}: {}\n", Y, w.code, R, w.message);
    }
    return o;
}

void write_file_atomic(const std::string& path, const std::string& content) {
    // mkstemp (O_EXCL, a random name): a symlink planted under a predictable temporary name in a
    // shared directory cannot redirect the write. Then the mode a new file would get.
    std::string tmp = path + ".tmp.XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) throw InputError(path + ": " + std::strerror(errno));
    const mode_t mask = ::umask(0);
    ::umask(mask);
    FILE* f = ::fchmod(fd, 0666 & ~mask) == 0 ? ::fdopen(fd, "wb") : nullptr;
    if (!f) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        std::remove(tmp.c_str());
        throw InputError(path + ": " + why);
    }
    const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        std::remove(tmp.c_str());
        throw InputError(path + ": " + why);
    }
}

}  // namespace lp
