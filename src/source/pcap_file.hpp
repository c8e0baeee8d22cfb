// pcap and pcapng files through libpcap, decoded by decode.hpp.
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "source/source.hpp"

namespace lp {

// Reads a capture from `f` (owned). `pcapng` selects the kind reported; libpcap
// itself detects the format. For a regular file, `path` is scanned once more
// at the end for the pcapng end-of-capture time.
std::unique_ptr<Source> make_pcap_source(FILE* f, bool pcapng, std::string path, bool seekable);

// Latest time a pcapng file proves the capture ran until (interface statistics
// blocks: isb_endtime or the block's own timestamp), in ns since the epoch.
std::optional<int64_t> pcapng_end_time(const std::string& path);

// The steps a probe's pcapng names in its first section header (the comment
// "listenprobe steps (start-end, ns since the epoch): NAME START-END ..."); empty
// for any other file.
std::vector<ProbeStep> pcapng_probe_steps(const std::string& path);
// Parses that comment; empty when it is not one.
std::vector<ProbeStep> parse_probe_steps_comment(const std::string& comment);
// The requests a probe reset on purpose, from the comment
// "listenprobe probe resets (client, then step:ports): ADDR STEP:P[-Q][,P[-Q]]... ..."
// that the probe writes (format_probe_resets_comment); nullopt for any other comment.
std::optional<ProbeResets> parse_probe_resets_comment(const std::string& comment);
std::string format_probe_resets_comment(const ProbeResets& r);
// Both from the first section header of a probe's pcapng (empty / nullopt otherwise).
void pcapng_probe_comments(const std::string& path, SourceInfo& info);

}  // namespace lp
