#include "source/pcapng_writer.hpp"

#include <algorithm>
#include <cstring>

namespace lp {
namespace {

// Block and option codes (draft-ietf-opsawg-pcapng).
constexpr uint32_t kShb = 0x0A0D0D0A, kIdb = 1, kIsb = 5, kEpb = 6;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kShbHardware = 2, kShbOs = 3, kShbUserappl = 4;
constexpr uint16_t kIfName = 2, kIfDescription = 3, kIfTsresol = 9, kIfFilter = 11;
constexpr uint16_t kEpbFlags = 2;
constexpr uint16_t kIsbEndtime = 3, kIsbIfrecv = 4;

void put32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put16(std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); }
void pad4(std::string& s) { s.append((4 - s.size() % 4) % 4, '\0'); }
void option(std::string& s, uint16_t code, const void* v, uint16_t len) {
    put16(s, code);
    put16(s, len);
    s.append(static_cast<const char*>(v), len);
    pad4(s);
}
// A UTF-8 string option; empty ones are left out, long ones cut (an option holds 65535 bytes).
void option(std::string& s, uint16_t code, const std::string& v) {
    if (v.empty()) return;
    option(s, code, v.data(), uint16_t(std::min<size_t>(v.size(), 65532)));
}
void end_options(std::string& s) { put32(s, 0); }
void put_ts(std::string& s, int64_t t_ns) {
    const uint64_t t = uint64_t(t_ns);
    put32(s, uint32_t(t >> 32));
    put32(s, uint32_t(t));
}
void block(std::string& out, uint32_t type, const std::string& body) {
    const uint32_t total = uint32_t(12 + body.size());
    put32(out, type);
    put32(out, total);
    out += body;
    put32(out, total);
}

}  // namespace

void PcapngWriter::packet(int64_t t_ns, const uint8_t* data, uint32_t caplen, uint32_t len, Direction dir) {
    std::string epb;
    put32(epb, 0);  // interface 0
    put_ts(epb, t_ns);
    put32(epb, caplen);
    put32(epb, len);
    epb.append(reinterpret_cast<const char*>(data), caplen);
    pad4(epb);
    if (dir != Direction::unknown) {
        const uint32_t flags = uint32_t(dir);
        option(epb, kEpbFlags, &flags, 4);
    }
    if (!next_comment_.empty()) {
        option(epb, kOptComment, next_comment_);
        next_comment_.clear();
    }
    end_options(epb);
    block(packets_blocks_, kEpb, epb);
    ++packets_;
}

void PcapngWriter::comment_next(const std::string& comment) {
    if (!next_comment_.empty()) next_comment_ += "; ";
    next_comment_ += comment;
}

std::string PcapngWriter::finish(int64_t end_ns) const {
    std::string out;
    std::string shb;
    put32(shb, 0x1A2B3C4D);
    put16(shb, 1);
    put16(shb, 0);
    put32(shb, 0xFFFFFFFF);  // section length unknown
    put32(shb, 0xFFFFFFFF);
    for (const std::string& c : section.comments) option(shb, kOptComment, c);
    option(shb, kShbHardware, section.hardware);
    option(shb, kShbOs, section.os);
    option(shb, kShbUserappl, section.userappl.empty() ? std::string("listenprobe") : section.userappl);
    end_options(shb);
    block(out, kShb, shb);

    std::string idb;
    put16(idb, uint16_t(linktype_));
    put16(idb, 0);
    put32(idb, snaplen_);
    option(idb, kIfName, interface.name);
    option(idb, kIfDescription, interface.description);
    if (!interface.filter.empty()) {
        std::string f(1, '\0');  // 0: a libpcap filter string
        f += interface.filter;
        option(idb, kIfFilter, f);
    }
    const uint8_t tsresol = 9;  // nanoseconds
    option(idb, kIfTsresol, &tsresol, 1);
    end_options(idb);
    block(out, kIdb, idb);

    out += packets_blocks_;

    std::string isb;
    put32(isb, 0);
    put_ts(isb, end_ns);
    const uint32_t end[2] = {uint32_t(uint64_t(end_ns) >> 32), uint32_t(end_ns)};
    option(isb, kIsbEndtime, end, 8);
    const uint64_t recv = packets_;
    option(isb, kIsbIfrecv, &recv, 8);
    end_options(isb);
    block(out, kIsb, isb);
    return out;
}

}  // namespace lp
