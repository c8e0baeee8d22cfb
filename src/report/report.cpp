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

// fate_counts as the JSON has it: keys a jq path can name without quotes.
json fate_counts_json(const ListenerVerdict& l) {
    json n = json::object();
    for (int f = 0; f < kFates; ++f)
        if (l.fate_counts[size_t(f)]) n[fate_key(Fate(f))] = l.fate_counts[size_t(f)];
    return n;
}

json opt_str(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

std::string fate_key(Fate f) {
    std::string k = to_string(f);
    for (char& ch : k)
        if (ch == '-') ch = '_';
    return k;
}

json run_json(const RunInfo& r) {
    json target = nullptr;
    if (r.target)
        target = {{"given", r.target_given}, {"address", r.target->addr.str()}, {"port", r.target->port}};
    json options = {{"family", r.family}, {"format", r.format}, {"events", r.events}, {"timeline", opt_str(r.timeline)}};
    if (r.probe) {
        options["interface"] = r.probe->interface;
        options["max_connections"] = r.probe->max_connections;
        options["rate_pps"] = r.probe->rate_pps;
        options["max_wait_s"] = r.probe->max_wait_s;
        options["user"] = r.probe->user;
        options["write"] = opt_str(r.probe->write);
        options["quiet"] = r.probe->quiet;
        options["source_ip"] = opt_str(r.probe->source_ip);
    }
    json j = {{"tool", "listenprobe"},
              {"version", r.version},
              {"commit", r.commit},
              {"command", r.command},
              {"argv", r.argv},
              {"target", std::move(target)},
              {"options", std::move(options)},
              {"started_at", std::round(r.started_at * 1e6) / 1e6},
              {"duration_s", std::round(r.duration_s * 1e3) / 1e3}};
    if (r.plan) {
        const auto& p = *r.plan;
        j["plan"] = {{"name", p.name},
                     {"path", p.path},
                     {"description", p.description},
                     {"steps", p.steps},
                     {"syn_tries", p.syn_tries},
                     {"syn_queue_burst", p.syn_burst},
                     {"retries_requests", p.retries_requests},
                     {"tcp",
                      {{"mss", p.mss}, {"sack", p.sack}, {"timestamps", p.timestamps}, {"wscale", p.wscale},
                       {"window", p.window}}}};
    }
    if (r.expected_duration_s) j["expected_duration_s"] = std::round(*r.expected_duration_s * 10) / 10;
    return j;
}

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
        json cj = {{"client", c->client.str()},
                   {"client_address", c->client.addr.str()},
                   {"client_port", c->client.port},
                   {"fate", to_string(c->fate)},
                   {"reason", c->fate_reason},
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

json source_json(const Analysis& a) {
    json src = {{"kind", a.source.kind}, {"path", a.source.path}, {"packets", a.source.packets},
                {"skipped", a.source.skipped}};
    if (a.end_ns) src["duration_s"] = round_s(double(*a.end_ns - a.t0_ns) / 1e9);
    if (!a.source.notes.empty()) src["notes"] = a.source.notes;
    return src;
}

}  // namespace

json episode_json(const Episode& e, int64_t t0) {
    const ActivityCounts& n = e.n;
    json clients = json::array();
    for (const auto& c : e.clients) clients.push_back(c.str());
    json delayed = {{"connections", n.delayed}};
    if (n.delayed) {
        delayed["min_s"] = round_s(double(n.delay_min_ns) / 1e9);
        delayed["max_s"] = round_s(double(n.delay_max_ns) / 1e9);
    }
    return {{"start_t", round_s(double(e.start_ns - t0) / 1e9)},
            {"end_t", round_s(double(e.end_ns - t0) / 1e9)},
            {"start_at", round_s(double(e.start_ns) / 1e9)},
            {"duration_s", round_s(double(e.end_ns - e.start_ns) / 1e9)},
            {"open_at_end", e.open_at_end},
            {"syns_silent", n.syn_silent},
            {"syns_answered", n.syn_answered},
            {"acks_dropped", n.ack_dropped},
            {"acks_reset", n.ack_reset},
            {"cookies", n.cookies},
            {"established", n.established},
            {"delayed", std::move(delayed)},
            {"never_answered", n.never_answered},
            {"connections_affected", n.affected},
            {"clients", std::move(clients)},
            {"clients_more", e.more_clients}};
}

namespace {

// The stack families consistent with the wire, or null (docs/contract.md, `stack`).
json stack_json(const std::optional<StackVerdict>& s) {
    if (!s) return nullptr;
    json families = json::array();
    for (const StackMatch& m : s->families) {
        const StackTraits& t = stack_traits(m.family);
        families.push_back({{"id", t.id}, {"name", t.name}, {"defaults", m.defaults}, {"notes", m.notes}});
    }
    return {{"families", std::move(families)}, {"evidence", s->evidence}};
}

// One listener of `listeners[]`; `connections` is left out when null.
json listener_json(const ListenerVerdict& l, json connections, int64_t t0) {
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
        {"stack", stack_json(l.stack)},
        {"evidence", l.evidence},
        {"assumptions", l.assumptions},
        {"connections_total", l.connections_total},
        {"connections_omitted",
         l.connections_total - std::min<uint64_t>(l.connections.size(), kMaxReportedConnections)},
        {"fate_counts", fate_counts_json(l)},
        {"episodes", [&] {
             json e = json::array();
             for (const auto& ep : l.episodes) e.push_back(episode_json(ep, t0));
             return e;
         }()},
        {"warnings", std::move(warnings)}};
    if (l.no_answer) lj["no_answer"] = no_answer_json(*l.no_answer);
    if (!connections.is_null()) lj["connections"] = std::move(connections);
    return lj;
}

json analysis_json_impl(const Analysis& a, bool placeholders) {
    json listeners = json::array();
    for (const auto& l : a.listeners)
        listeners.push_back(
            listener_json(l, placeholders ? json(placeholder(listeners.size())) : connections_json(a, l), a.t0_ns));
    return {{"schema", kJsonSchema},
            {"run", run_json(a.run)},
            {"source", source_json(a)},
            {"listeners", std::move(listeners)}};
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
        o += i2 + "\"client_address\": \"" + c->client.addr.str() + "\",\n";
        fmt::format_to(std::back_inserter(o), "{}\"client_port\": {},\n", i2, c->client.port);
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

json listener_summary_json(const ListenerVerdict& l, int64_t t0) { return listener_json(l, nullptr, t0); }

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

void write_analysis_jsonl(std::ostream& out, const Analysis& a, bool events) {
    const auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
    const json run = run_json(a.run), source = source_json(a);
    for (const auto& l : a.listeners) {
        out << dump({{"schema", kJsonSchema}, {"type", "listener"}, {"run", run}, {"source", source},
                     {"listener", listener_json(l, nullptr, a.t0_ns)}})
            << '\n';
        if (!events) continue;
        const json of = {{"address", l.listener.addr.str()},
                         {"port", l.listener.port},
                         {"family", l.listener.addr.family == 6 ? "ipv6" : "ipv4"}};
        for (json& c : connections_json(a, l))
            out << dump({{"schema", kJsonSchema}, {"type", "connection"}, {"run_started_at", run["started_at"]},
                         {"listener", of}, {"connection", std::move(c)}})
                << '\n';
    }
}

std::string analysis_json_text(const Analysis& a) {
    std::ostringstream s;
    write_analysis_json(s, a);
    return std::move(s).str();
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
