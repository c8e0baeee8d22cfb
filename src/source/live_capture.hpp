// The live probe's capture: libpcap on one interface, immediate mode, a BPF
// filter for the target, nanosecond timestamps. Frames are decoded like a
// replayed file's, so the live probe feeds the very same tracker.
#pragma once
#include <pcap/pcap.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "segments/segment.hpp"
#include "source/pcapng_writer.hpp"
#include "source/source.hpp"

namespace lp {

class LiveCapture {
public:
    // Opens `iface` with a filter for TCP to/from target and ICMP/ICMPv6 errors quoting
    // a TCP segment to it (capture_filter()). Throws PrivilegeError when
    // the kernel refuses (no CAP_NET_RAW), InputError for a missing interface.
    LiveCapture(const std::string& iface, const Endpoint& target);
    // Any traffic `filter` (BPF, as tcpdump takes it) lets through (watch); the snap length
    // is kept small (headers only). Throws InputError for a filter that does not compile.
    LiveCapture(const std::string& iface, const std::string& filter);
    // Frames the kernel dropped because the capture could not keep up, and those the
    // interface dropped (pcap_stats), or nullopt when libpcap cannot tell.
    struct Stats {
        uint64_t received = 0, dropped = 0, if_dropped = 0;
    };
    std::optional<Stats> stats() const;
    ~LiveCapture();
    LiveCapture(const LiveCapture&) = delete;
    LiveCapture& operator=(const LiveCapture&) = delete;

    // Also store every captured frame in `w` (not owned).
    void record_to(PcapngWriter* w) { writer_ = w; }
    // ICMP/ICMPv6 errors quoting a segment to the target (the filter lets them through) go here.
    void on_icmp_error(std::function<void(const IcmpError&)> fn) { on_icmp_ = std::move(fn); }
    // Waits up to timeout_ms for packets and hands each decoded TCP segment to `fn`.
    // Returns the number of frames read.
    int poll(int timeout_ms, const std::function<void(const Segment&)>& fn);
    int linktype() const { return dlt_; }
    const std::string& filter() const { return filter_; }
    const SourceInfo& info() const { return info_; }
    SourceInfo& info() { return info_; }

private:
    void open(const std::string& iface, const std::string& filter);
    pcap_t* p_ = nullptr;
    int dlt_ = 0;
    int fd_ = -1;
    PcapngWriter* writer_ = nullptr;
    SourceInfo info_;
    Endpoint target_;
    std::string filter_;
    std::function<void(const IcmpError&)> on_icmp_;
};

// The BPF filter of a probe of `target`: its TCP segments, and ICMP destination-unreachable
// and time-exceeded errors (ICMPv6 types 1 and 3) whose quoted packet is TCP to the target's
// address and port (quoted headers without options, as the probe sends them).
std::string capture_filter(const Endpoint& target);

// Current time on the capture clock (CLOCK_REALTIME), ns.
int64_t now_ns();

}  // namespace lp
