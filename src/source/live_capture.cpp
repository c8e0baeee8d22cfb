#include "source/live_capture.hpp"

#include <net/if.h>
#include <poll.h>
#include <time.h>

#include <fmt/format.h>

#include <cstring>

#include "segments/error.hpp"
#include "source/decode.hpp"

namespace lp {

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string capture_filter(const Endpoint& target) {
    const auto& b = target.addr.bytes;
    auto word = [&](size_t i) {
        return fmt::format("0x{:02x}{:02x}{:02x}{:02x}", b[i], b[i + 1], b[i + 2], b[i + 3]);
    };
    const std::string port = std::to_string(target.port);
    if (target.addr.is_v4())
        return fmt::format("(tcp and ip host {0} and tcp port {1}) or (icmp and (icmp[0] == 3 or icmp[0] == 11) "
                           "and icmp[17] == 6 and icmp[24:4] == {2} and icmp[30:2] == {1})",
                           target.addr.str(), port, word(0));
    // ICMPv6 (next header 58 right after the fixed header), the quoted header from byte 48.
    return fmt::format("(tcp and ip6 host {0} and tcp port {1}) or (ip6 and ip6[6] == 58 and (ip6[40] == 1 or "
                       "ip6[40] == 3) and ip6[54] == 6 and ip6[72:4] == {2} and ip6[76:4] == {3} and "
                       "ip6[80:4] == {4} and ip6[84:4] == {5} and ip6[90:2] == {1})",
                       target.addr.str(), port, word(0), word(4), word(8), word(12));
}

LiveCapture::LiveCapture(const std::string& iface, const Endpoint& target) : target_(target) {
    open(iface, capture_filter(target));
}

LiveCapture::LiveCapture(const std::string& iface, const std::string& filter) { open(iface, filter); }

std::optional<LiveCapture::Stats> LiveCapture::stats() const {
    pcap_stat st{};
    if (!p_ || pcap_stats(p_, &st) != 0) return std::nullopt;
    return Stats{st.ps_recv, st.ps_drop, st.ps_ifdrop};
}

void LiveCapture::open(const std::string& iface, const std::string& filter) {
    info_.kind = "live";
    info_.path = iface;
    if (if_nametoindex(iface.c_str()) == 0)
        throw InputError("interface " + iface + " does not exist");
    char err[PCAP_ERRBUF_SIZE] = {};
    p_ = pcap_create(iface.c_str(), err);
    if (!p_) throw InputError("cannot capture on " + iface + ": " + err);
    pcap_set_snaplen(p_, 256);
    pcap_set_immediate_mode(p_, 1);
    pcap_set_timeout(p_, 10);
    pcap_set_buffer_size(p_, 4 << 20);
    pcap_set_tstamp_precision(p_, PCAP_TSTAMP_PRECISION_NANO);
    const int rc = pcap_activate(p_);
    if (rc < 0) {
        std::string e = pcap_geterr(p_);
        pcap_close(p_);
        p_ = nullptr;
        if (rc == PCAP_ERROR_PERM_DENIED)
            throw PrivilegeError("capturing on " + iface + " needs CAP_NET_RAW (run as root): " + e);
        if (rc == PCAP_ERROR_NO_SUCH_DEVICE) throw InputError("interface " + iface + " does not exist");
        throw InputError("cannot capture on " + iface + ": " + e);
    }
    dlt_ = pcap_datalink(p_);
    if (!link_type_supported(dlt_)) {
        pcap_close(p_);
        p_ = nullptr;
        throw InputError("interface " + iface + " has unsupported " + link_type_name(dlt_));
    }
    filter_ = filter;
    bpf_program prog{};
    if (pcap_compile(p_, &prog, filter_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 ||
        pcap_setfilter(p_, &prog) != 0) {
        std::string e = pcap_geterr(p_);
        pcap_freecode(&prog);
        pcap_close(p_);
        p_ = nullptr;
        throw InputError("capture filter \"" + filter_ + "\": " + e);
    }
    pcap_freecode(&prog);
    pcap_setnonblock(p_, 1, err);
    fd_ = pcap_get_selectable_fd(p_);
}

LiveCapture::~LiveCapture() {
    if (p_) pcap_close(p_);
}

int LiveCapture::poll(int timeout_ms, const std::function<void(const Segment&)>& fn) {
    if (!p_) return 0;
    pollfd pfd{fd_, POLLIN, 0};
    if (timeout_ms > 0) ::poll(&pfd, 1, timeout_ms);
    int frames = 0;
    for (;;) {
        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        const int rc = pcap_next_ex(p_, &hdr, &data);
        if (rc != 1) break;
        ++frames;
        ++info_.packets;
        const int64_t t = int64_t(hdr->ts.tv_sec) * 1'000'000'000 + hdr->ts.tv_usec;
        Segment s;
        const bool tcp = decode_frame(dlt_, data, hdr->caplen, t, s) == DecodeResult::tcp;
        if (writer_) {
            // Direction as the prober sees it: from the target (or about it, an ICMP error) is inbound.
            using D = PcapngWriter::Direction;
            // Not TCP: an ICMP error the filter let through, which comes to the prober.
            writer_->packet(t, data, hdr->caplen, hdr->len,
                            !tcp || s.src.addr == target_.addr ? D::inbound : D::outbound);
        }
        if (tcp) {
            fn(s);
            continue;
        }
        ++info_.skipped;
        IcmpError e;
        if (on_icmp_ && decode_icmp_error(dlt_, data, hdr->caplen, t, e)) on_icmp_(e);
    }
    return frames;
}

}  // namespace lp
