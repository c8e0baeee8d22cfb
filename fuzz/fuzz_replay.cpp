// libFuzzer target: the whole replay pipeline from the bytes of a file, as
// `listenprobe replay FILE --format json --timeline OUT` runs it: the bytes are
// written to a memfd and opened by path (/proc/self/fd/N, a regular file, so the
// pcapng end-of-capture scan runs too), then open_source, the engine, the
// JSON (and JSON lines) and text reports and both timeline renderings. The analysis runs twice:
// over every listener, and with the first listener found as the --listener hint.
//
// lp::InputError (and UsageError) are the CLI's exit 1 and 2; any other exception
// escapes and is reported by libFuzzer as a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "inference/engine.hpp"
#include "report/report.hpp"
#include "report/timeline.hpp"
#include "segments/error.hpp"
#include "source/source.hpp"

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

int memfd() {
    static int fd = -1;
    if (fd < 0) {
        fd = ::memfd_create("fuzz_replay", 0);
        if (fd < 0) std::abort();
    }
    return fd;
}

std::optional<lp::Endpoint> replay(const std::string& path, std::optional<lp::Endpoint> hint) {
    lp::Engine::Options eo;
    eo.listener = hint;
    auto src = lp::open_source(path);
    lp::Engine engine(eo);
    lp::Segment s;
    bool any = false;
    while (src->next(s)) {
        engine.add(s);
        any = true;
    }
    lp::Analysis a = engine.finish(src->info(), src->info().end_ns);

    // Times count from the first packet: the end is never before it, and without a packet
    // there is no duration to report.
    if (a.end_ns) check(*a.end_ns >= a.t0_ns && any);
    const std::string json =
        lp::analysis_json(a).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    check(!json.empty());
    // The fast writer the CLI uses must print exactly the document nlohmann prints.
    check(lp::analysis_json_text(a) == json + "\n");
    // --format jsonl --events: a listener line each, followed by a line per listed connection,
    // each one the object the JSON document has.
    {
        const nlohmann::json doc = nlohmann::json::parse(json);
        std::ostringstream s;
        lp::write_analysis_jsonl(s, a, true);
        std::istringstream in(s.str());
        size_t li = 0, ci = 0;
        for (std::string line; std::getline(in, line);) {
            const nlohmann::json j = nlohmann::json::parse(line);
            check(j.at("schema") == doc.at("schema"));
            if (j.at("type") == "listener") {
                check(li < doc.at("listeners").size());
                nlohmann::json want = doc.at("listeners")[li++];
                want.erase("connections");
                check(j.at("listener") == want && j.at("run") == doc.at("run"));
                ci = 0;
            } else {
                check(j.at("type") == "connection" && li > 0);
                check(j.at("connection") == doc.at("listeners")[li - 1].at("connections").at(ci++));
            }
        }
        check(li == doc.at("listeners").size());
    }
    (void)lp::analysis_text(a, true);
    lp::TextOptions text;
    text.color = true;
    text.events = true;
    (void)lp::analysis_text(a, text);
    std::optional<lp::Endpoint> first;
    for (const auto& l : a.listeners) {
        if (hint) check(l.listener == *hint);
        // The contract's shapes: a capacity comes with its backlog (Linux: capacity - 1),
        // counts are not negative, states are one of the names docs/contract.md lists.
        check(l.capacity.has_value() == l.backlog.has_value());
        if (l.capacity) check(*l.capacity >= 1 && *l.backlog == *l.capacity - 1);
        if (l.retries) check(*l.retries >= 0);
        check(l.retries_at_least >= 0);
        // Bounds contain the exact value and each other.
        if (l.capacity_at_least && l.capacity_at_most) check(*l.capacity_at_least <= *l.capacity_at_most);
        if (l.capacity) check(!l.capacity_at_least && !l.capacity_at_most);
        if (l.syn_queue_capacity_at_least && l.syn_queue_capacity_at_most)
            check(*l.syn_queue_capacity_at_least <= *l.syn_queue_capacity_at_most);
        uint64_t total = 0;
        for (auto n : l.fate_counts) total += n;
        check(total == l.connections_total && l.connections.size() <= total);
        if (!first) first = l.listener;
    }
    if (!a.listeners.empty()) {
        const auto& l = a.listeners.front();
        (void)lp::render_timeline_text(a, l, lp::TimelineOptions{false, 100, 60});
        (void)lp::render_timeline_svg(a, l);
        (void)lp::connections_json(a, l).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return first;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const int fd = memfd();
    if (::ftruncate(fd, 0) != 0) std::abort();
    size_t off = 0;
    while (off < size) {
        const ssize_t n = ::pwrite(fd, data + off, size - off, off_t(off));
        if (n <= 0) std::abort();
        off += size_t(n);
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    try {
        const auto first = replay(path, std::nullopt);
        if (first) replay(path, first);
    } catch (const lp::InputError&) {
    } catch (const lp::UsageError&) {
    }
    return 0;
}
