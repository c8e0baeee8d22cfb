// Reports of an Analysis: the JSON of docs/contract.md and the text for people.
#pragma once
#include <nlohmann/json.hpp>
#include <cstddef>
#include <ostream>
#include <string>

#include "inference/verdict.hpp"

namespace lp {

// The `schema` of every JSON document listenprobe writes (docs/contract.md).
inline constexpr const char* kJsonSchema = "listenprobe/2";

nlohmann::json analysis_json(const Analysis& a);
// The same document as analysis_json(a).dump(2) plus a newline, written faster and
// one listener's connections at a time.
void write_analysis_json(std::ostream& out, const Analysis& a);
std::string analysis_json_text(const Analysis& a);
// --format jsonl: one line per listener (schema, type "listener", run, source, and the
// listener without its connections); with `events`, after each listener one line per
// connection (type "connection": the connections[] object, with the listener it belongs to).
void write_analysis_jsonl(std::ostream& out, const Analysis& a, bool events);
// The `run` object: what was run, with which options, when and for how long.
nlohmann::json run_json(const RunInfo& r);
// One overflow episode (times relative to t0, the capture's first packet).
nlohmann::json episode_json(const Episode& e, int64_t t0);
// A fate as a JSON object key: its name with '-' written '_' ("syn-dropped" -> "syn_dropped").
std::string fate_key(Fate f);
// The `connections` array of one listener (docs/contract.md), times from a.t0_ns.
nlohmann::json connections_json(const Analysis& a, const ListenerVerdict& l);

// The text report (src/report/text.cpp; docs/report.md): by default one block per
// listener that fits a screen (at most kTextLinesPerListener lines): each verdict
// once, with the Linux setting or listen() value it implies, what a backlog matches
// (known_values.hpp), the evidence behind it (the first lines), assumptions and
// warnings. `events` (-v) adds every evidence line and each listener's lanes and events.
struct TextOptions {
    bool color = false;   // ANSI colours (the caller decides: --color, isatty, TERM, NO_COLOR)
    bool events = false;  // -v/--events: all evidence, then the lanes and events of each listener
    int width = 100;      // columns of the lanes (with `events`)
};
inline constexpr size_t kTextLinesPerListener = 30;
std::string analysis_text(const Analysis& a, const TextOptions& o);
inline std::string analysis_text(const Analysis& a, bool color) {
    TextOptions o;
    o.color = color;
    return analysis_text(a, o);
}

// One overflow episode on one line (times relative to t0), as the text report has it.
std::string episode_text(const Episode& e, int64_t t0);
// "capacity 6", "capacity 3-9", "capacity <= 9", "capacity unknown".
std::string capacity_text(const ListenerVerdict& l);
// Every verdict of a listener on one line (watch prints it when it changes).
std::string verdict_summary(const ListenerVerdict& l);
// A listener of `listeners[]` without its connections (times relative to t0).
nlohmann::json listener_summary_json(const ListenerVerdict& l, int64_t t0);

// Writes `content` to `path` through a temporary file in the same directory and a
// rename, so a failure never leaves a half-written file. Throws lp::InputError.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace lp
