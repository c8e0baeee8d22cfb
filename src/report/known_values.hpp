// What a number in a report may mean: the one table of well-known values a
// listen() backlog matches (application defaults, the net.core.somaxconn
// defaults), as tcpdump keeps value -> name tables. A match is a hint for the
// reader ("matches nginx's default"), never a claim: any program may pass any
// number. The table and its sources: docs/report.md.
#pragma once
#include <span>
#include <string>
#include <vector>

namespace lp {

struct KnownValue {
    enum class Kind {
        listen_default,     // a program's default listen() backlog
        somaxconn_default,  // a default of net.core.somaxconn: the backlog may have been clamped to it
    };
    int value;
    Kind kind;
    const char* meaning;  // for people: "nginx default (listen ... backlog=511)"
};

// The whole table, sorted by value (docs/report.md lists the same rows with sources).
std::span<const KnownValue> known_backlogs();

// The rows for one listen() backlog in effect, in table order (empty when none).
std::vector<KnownValue> backlog_matches(int backlog);

// One line for people, or "" when the value matches nothing:
// "matches the nginx default (listen ... backlog=511), the redis default (tcp-backlog 511), ..."
// A somaxconn default adds "perhaps clamped by net.core.somaxconn (its default N on Linux ...)".
std::string backlog_meaning(int backlog);

}  // namespace lp
