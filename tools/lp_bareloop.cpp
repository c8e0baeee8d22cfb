// lp_bareloop: the replay benchmark's reference — a bare libpcap read loop that only counts packets
// and captured bytes. Replaying a file cannot be faster than reading it this way.
#include <pcap/pcap.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    if (argc != 2 || std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0) {
        std::fprintf(stderr, "usage: lp_bareloop FILE   (pcap or pcapng; '-' for stdin)\n"
                             "prints packets=N bytes=M (M = captured bytes)\n");
        return 2;
    }
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(argv[1], PCAP_TSTAMP_PRECISION_NANO, err);
    if (!p) {
        std::fprintf(stderr, "lp_bareloop: %s\n", err);
        return 1;
    }
    uint64_t packets = 0, bytes = 0;
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        ++packets;
        bytes += h->caplen;
    }
    if (rc == PCAP_ERROR) {
        std::fprintf(stderr, "lp_bareloop: %s (after %" PRIu64 " packets)\n", pcap_geterr(p), packets);
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    std::printf("packets=%" PRIu64 " bytes=%" PRIu64 "\n", packets, bytes);
    return 0;
}
