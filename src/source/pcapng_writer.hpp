// A minimal pcapng writer: one section, one interface (nanosecond timestamps),
// enhanced packet blocks, and an interface statistics block with isb_endtime
// at close, so a replay knows how long the capture provably lasted.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace lp {

class PcapngWriter {
public:
    // Writes to `f` (owned, closed by close()).
    PcapngWriter(FILE* f, int linktype, uint32_t snaplen);
    ~PcapngWriter();
    PcapngWriter(const PcapngWriter&) = delete;
    PcapngWriter& operator=(const PcapngWriter&) = delete;

    void packet(int64_t t_ns, const uint8_t* data, uint32_t caplen, uint32_t len);
    // Records the end-of-capture time and closes the file; false on a write error.
    bool close(int64_t end_ns);

private:
    void block(uint32_t type, const std::string& body);
    FILE* f_;
    uint64_t packets_ = 0;
    bool ok_ = true;
};

}  // namespace lp
