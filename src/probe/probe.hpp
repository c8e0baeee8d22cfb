// The live probe: a sender in front of the analyzer. It crafts SYNs, final ACKs
// and RSTs by hand (libtins), captures the listener's answers (libpcap) into
// the same Tracker a replay uses, and asks the same inference what is proven
// yet, step by step of a plan (probes/*.toml).
//
// Promises: only the named target is sent to; the prober kernel's RSTs are held
// back by a scoped nftables table removed on every exit path (RstGuard); every
// probe connection gets a RST at the end; privileges are dropped once sockets
// and files are open.
#pragma once
#include <string>

#include "inference/verdict.hpp"
#include "segments/segment.hpp"

namespace lp {

struct ProbeOptions {
    Endpoint target;
    std::string interface;      // empty: from the route
    std::string source_ip;      // --source-ip: send from this address, not one of this host (src/probe/borrowed.hpp)
    std::string plan = "all";
    std::string write_pcap;     // -w: pcapng of everything sent and received
    std::string timeline;       // --timeline OUT (written by the probe: files are opened before the drop)
    std::string user = "nobody";
    int max_connections = 256;
    double rate_pps = 1000;
    double max_wait_s = 200;
    bool quiet = false;
    bool format_json = false;
    std::string version;        // "listenprobe X (commit Y)": the -w file's shb_userappl
    std::string command_line;   // as typed: the -w file's section comment
};

// Runs the plan against the target and returns the analysis of everything captured.
// Throws PrivilegeError (exit 3), InputError (exit 1), UsageError (exit 2).
// SIGINT, SIGTERM or SIGHUP end the plan early: the probe cleans up as usual and the
// analysis carries the warning "interrupted".
Analysis run_probe(const ProbeOptions& o);
// The signal that ended the last run_probe() early, or 0.
int probe_stop_signal();

}  // namespace lp
