// libFuzzer target: tcpdump -nn text as a capture source (source/tcpdump_text.hpp):
// the content sniffer and the streaming line reader and parser, including its
// reconstruction of absolute sequence numbers.
//
// Input: byte 0 says how many of the following bytes come as the "prefix" (the
// bytes open_source already read for detection) and the rest through a FILE*,
// so lines split across the two are exercised. Every segment delivered must be
// sane; lp::InputError is the only exception the reader may throw.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "segments/error.hpp"
#include "source/tcpdump_text.hpp"

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
    (void)lp::looks_like_tcpdump_text(all);

    const size_t split = std::min<size_t>(all.size(), size_t(data[0]) * 8);
    std::string prefix(all.substr(0, split));
    std::string rest(all.substr(split));
    // fmemopen cannot open an empty buffer: an empty stream is /dev/null.
    FILE* f = rest.empty() ? std::fopen("/dev/null", "rb") : fmemopen(rest.data(), rest.size(), "rb");
    if (!f) return 0;
    try {
        auto src = lp::make_tcpdump_text_source(f, std::move(prefix), "fuzz");
        lp::Segment s;
        uint64_t n = 0;
        while (src->next(s)) {
            ++n;
            check(s.src.addr.family == 4 || s.src.addr.family == 6);
            check(s.src.addr.family == s.dst.addr.family);
            check(s.t_ns >= 0);
            check(s.seq_known || s.seq == 0);
        }
        const auto& info = src->info();
        check(n <= info.packets);
        check(info.skipped <= size + 1);  // at most one per line
    } catch (const lp::InputError&) {
        // unusable input: the CLI turns this into exit 1
    }
    return 0;
}
