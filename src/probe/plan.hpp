// Probe plans: data files under probes/ (TOML) that say which steps a probe
// runs, in which order, with which sizes and TCP options.
#pragma once
#include <string>
#include <vector>

namespace lp {

struct TcpProfile {
    uint16_t mss = 1460;
    bool sack = true;
    bool timestamps = true;
    int wscale = 7;  // -1: no window scale option
    uint16_t window = 64240;
};

struct Plan {
    std::string name, description, path;
    // Steps, from: baseline, syn-queue, retries, accept-queue.
    std::vector<std::string> steps;
    int syn_burst = 64;          // syn-queue: SYNs in the half-open burst
    int retries_requests = 3;    // retries: half-open requests left alone
    int syn_tries = 3;           // SYNs sent before a handshake counts as dropped
    TcpProfile tcp;
};

struct PlanInfo {
    std::string name, description, path;
};

// Directories searched for NAME.toml, in order: $LISTENPROBE_PLANS (when set); then,
// beside the running binary (`exe`, default /proc/self/exe): in a build directory (it
// holds the file listenprobe-source-dir) the source tree's probes/, otherwise the
// installed ../share/listenprobe/probes. No path is compiled in.
std::vector<std::string> plan_dirs(const std::string& exe = {});
std::vector<PlanInfo> list_plans();
// A plan by name (probes/NAME.toml) or by file path. Throws UsageError.
Plan load_plan(const std::string& name_or_file);
// Parses plan text; `origin` names it in errors. Throws UsageError.
Plan parse_plan(const std::string& text, const std::string& origin);

}  // namespace lp
