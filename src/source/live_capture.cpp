#include "source/live_capture.hpp"

#include <net/if.h>
#include <poll.h>
#include <time.h>

#include <cstring>

#include "segments/error.hpp"
#include "source/decode.hpp"

namespace lp {

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

LiveCapture::LiveCapture(const std::string& iface, const Endpoint& target) : target_(target) {
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
    const std::string host = target.addr.is_v4() ? "ip host " : "ip6 host ";
    filter_ = "tcp and " + host + target.addr.str() + " and tcp port " + std::to_string(target.port);
    bpf_program prog{};
    if (pcap_compile(p_, &prog, filter_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 ||
        pcap_setfilter(p_, &prog) != 0) {
        std::string e = pcap_geterr(p_);
        pcap_freecode(&prog);
        pcap_close(p_);
        p_ = nullptr;
        throw InputError("capture filter failed: " + e);
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
            writer_->packet(t, data, hdr->caplen, hdr->len, !tcp ? D::unknown : s.src.addr == target_.addr ? D::inbound : D::outbound);
        }
        if (tcp)
            fn(s);
        else
            ++info_.skipped;
    }
    return frames;
}

}  // namespace lp
