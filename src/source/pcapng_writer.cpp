#include "source/pcapng_writer.hpp"

#include <cstring>

namespace lp {
namespace {

void put32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put16(std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); }
void pad4(std::string& s) { s.append((4 - s.size() % 4) % 4, '\0'); }
void option(std::string& s, uint16_t code, const void* v, uint16_t len) {
    put16(s, code);
    put16(s, len);
    s.append(static_cast<const char*>(v), len);
    pad4(s);
}
void end_options(std::string& s) { put32(s, 0); }
void put_ts(std::string& s, int64_t t_ns) {
    const uint64_t t = uint64_t(t_ns);
    put32(s, uint32_t(t >> 32));
    put32(s, uint32_t(t));
}

}  // namespace

PcapngWriter::PcapngWriter(FILE* f, int linktype, uint32_t snaplen) : f_(f) {
    std::string shb;
    put32(shb, 0x1A2B3C4D);
    put16(shb, 1);
    put16(shb, 0);
    put32(shb, 0xFFFFFFFF);  // section length unknown
    put32(shb, 0xFFFFFFFF);
    const char app[] = "listenprobe";
    option(shb, 4, app, sizeof app - 1);  // shb_userappl
    end_options(shb);
    block(0x0A0D0D0A, shb);

    std::string idb;
    put16(idb, uint16_t(linktype));
    put16(idb, 0);
    put32(idb, snaplen);
    const uint8_t tsresol = 9;  // nanoseconds
    option(idb, 9, &tsresol, 1);
    end_options(idb);
    block(1, idb);
}

PcapngWriter::~PcapngWriter() {
    if (f_) std::fclose(f_);
}

void PcapngWriter::block(uint32_t type, const std::string& body) {
    if (!f_) return;
    std::string b;
    const uint32_t total = uint32_t(12 + body.size());
    put32(b, type);
    put32(b, total);
    b += body;
    put32(b, total);
    if (std::fwrite(b.data(), 1, b.size(), f_) != b.size()) ok_ = false;
}

void PcapngWriter::packet(int64_t t_ns, const uint8_t* data, uint32_t caplen, uint32_t len) {
    std::string epb;
    put32(epb, 0);  // interface 0
    put_ts(epb, t_ns);
    put32(epb, caplen);
    put32(epb, len);
    epb.append(reinterpret_cast<const char*>(data), caplen);
    pad4(epb);
    end_options(epb);
    block(6, epb);
    ++packets_;
}

bool PcapngWriter::close(int64_t end_ns) {
    if (!f_) return ok_;
    std::string isb;
    put32(isb, 0);
    put_ts(isb, end_ns);
    uint32_t end[2] = {uint32_t(uint64_t(end_ns) >> 32), uint32_t(end_ns)};
    option(isb, 3, end, 8);  // isb_endtime
    uint64_t recv = packets_;
    option(isb, 4, &recv, 8);  // isb_ifrecv
    end_options(isb);
    block(5, isb);
    if (std::fflush(f_) != 0) ok_ = false;
    if (std::fclose(f_) != 0) ok_ = false;
    f_ = nullptr;
    return ok_;
}

}  // namespace lp
