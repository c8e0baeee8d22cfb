// Many targets: `probe TARGET...`, `--targets FILE`, `replay FILE...`; a
// deterministic shard of the list (--shard K/N) and what a resume file has done
// already (--resume OUT.jsonl); and a runner that works through the list a few
// at a time, each item in a child process of its own (its own capture, firewall
// scope and clean-up, as one `probe` has), collecting each child's output and
// handing it over whole when the child ends, so lines of two targets never mix.
#pragma once
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace lp {

// One target per line; `#` starts a comment; blank lines are skipped; surrounding
// blanks trimmed. "-" reads standard input. Throws InputError naming the file (and
// the line for a line that is not one word).
std::vector<std::string> read_target_file(const std::string& path);

// --shard K/N: the K-th of N parts (1 <= K <= N). The i-th item of the list (counting
// from 0) belongs to part (i mod N) + 1, so N machines given the same list split it
// without talking to each other, and the parts differ in size by at most one.
struct Shard {
    int k = 1, n = 1;
};
Shard parse_shard(std::string_view text);  // throws UsageError
std::vector<std::string> shard_of(const std::vector<std::string>& items, Shard s);

// The items a JSON-lines file of an earlier run finished: the `run.target.given` (probe)
// or `source.path` (replay) of its `listener` lines. A file that does not exist yet is
// empty; lines that are not JSON (a run cut short mid-line) are skipped.
std::set<std::string> done_in(const std::string& jsonl_path);

struct ChildResult {
    std::string item;
    size_t index = 0;       // position in the list
    int status = 0;         // the child's exit status (128 + signal if a signal ended it)
    std::string out, err;   // everything it wrote to stdout and stderr
    double seconds = 0;     // its wall time
};

// Runs `one(item)` in a child process per item, at most `parallel` at a time, and hands
// each result to `done` in the parent as the child ends. The child's exit status is what
// `one` returns. SIGINT, SIGTERM or SIGHUP to the parent is passed on to the running
// children (they clean up and report what they have), and no further child starts;
// returns that signal, or 0.
int run_children(const std::vector<std::string>& items, int parallel,
                 const std::function<int(const std::string&)>& one, const std::function<void(const ChildResult&)>& done);

}  // namespace lp
