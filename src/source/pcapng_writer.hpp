// A minimal pcapng writer for the probe's -w file: one section, one interface
// (nanosecond timestamps), enhanced packet blocks with their direction
// (epb_flags) and, where given, a comment, and an interface statistics block
// with isb_endtime, so a replay knows how long the capture provably lasted.
//
// Packets are kept in memory and the file is made at the end (finish()): the
// section header's comments can then say how the probe ended, and the caller
// writes the file in one piece.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lp {

class PcapngWriter {
public:
    enum class Direction : uint8_t { unknown = 0, inbound = 1, outbound = 2 };  // epb_flags bits 0-1

    // Section header options (shb_hardware, shb_os, shb_userappl, one opt_comment each).
    struct Section {
        std::string hardware, os, userappl;
        std::vector<std::string> comments;
    };
    // Interface description options (if_name, if_description, if_filter as a libpcap filter string).
    struct Interface {
        std::string name, description, filter;
    };

    PcapngWriter(int linktype, uint32_t snaplen) : linktype_(linktype), snaplen_(snaplen) {}

    void packet(int64_t t_ns, const uint8_t* data, uint32_t caplen, uint32_t len,
                Direction dir = Direction::unknown);
    // The opt_comment of the next packet (several before one packet are joined with "; ").
    void comment_next(const std::string& comment);
    uint64_t packets() const { return packets_; }

    Section section;
    Interface interface;

    // The whole file: section header, interface description, the packets, and the
    // statistics with the end-of-capture time.
    std::string finish(int64_t end_ns) const;

private:
    int linktype_;
    uint32_t snaplen_;
    std::string packets_blocks_;
    std::string next_comment_;
    uint64_t packets_ = 0;
};

}  // namespace lp
