// Picks the reader for an input by its content, not its name.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "segments/error.hpp"
#include "source/pcap_file.hpp"
#include "source/source.hpp"
#include "source/tcpdump_text.hpp"

namespace lp {
namespace {

// A FILE* that first returns bytes already read from `inner`, then the rest of
// `inner`: detection needs to look at the start of stdin, which cannot be rewound.
struct Replayed {
    std::string prefix;
    size_t pos = 0;
    FILE* inner;
};

ssize_t replayed_read(void* cookie, char* buf, size_t size) {
    auto* r = static_cast<Replayed*>(cookie);
    if (r->pos < r->prefix.size()) {
        const size_t n = std::min(size, r->prefix.size() - r->pos);
        std::memcpy(buf, r->prefix.data() + r->pos, n);
        r->pos += n;
        return static_cast<ssize_t>(n);
    }
    const size_t n = std::fread(buf, 1, size, r->inner);
    if (n == 0 && std::ferror(r->inner)) return -1;
    return static_cast<ssize_t>(n);
}

int replayed_close(void* cookie) {
    auto* r = static_cast<Replayed*>(cookie);
    const int rc = r->inner == stdin ? 0 : std::fclose(r->inner);
    delete r;
    return rc;
}

FILE* with_prefix(FILE* inner, std::string prefix) {
    auto* r = new Replayed{std::move(prefix), 0, inner};
    cookie_io_functions_t io{};
    io.read = replayed_read;
    io.close = replayed_close;
    FILE* f = fopencookie(r, "r", io);
    if (!f) {
        delete r;
        throw InputError("cannot read input: " + std::string(std::strerror(errno)));
    }
    return f;
}

}  // namespace

std::unique_ptr<Source> open_source(const std::string& path) {
    const bool is_stdin = path == "-";
    FILE* f = nullptr;
    bool seekable = false;
    std::string shown = is_stdin ? "stdin" : path;
    if (is_stdin) {
        f = stdin;
    } else {
        struct stat st{};
        if (::stat(path.c_str(), &st) != 0)
            throw InputError(path + ": " + std::strerror(errno));
        if (S_ISDIR(st.st_mode)) throw InputError(path + ": is a directory, not a capture");
        f = std::fopen(path.c_str(), "rb");
        if (!f) throw InputError(path + ": " + std::strerror(errno));
        seekable = S_ISREG(st.st_mode);
    }
    std::string prefix(4096, '\0');
    const size_t n = std::fread(prefix.data(), 1, prefix.size(), f);
    if (n == 0 && std::ferror(f)) {
        const std::string why = std::strerror(errno);
        if (!is_stdin) std::fclose(f);
        throw InputError(shown + ": " + why);
    }
    prefix.resize(n);
    if (n == 0) {
        if (!is_stdin) std::fclose(f);
        throw InputError(shown + ": empty input");
    }
    uint32_t magic = 0;
    if (n >= 4) std::memcpy(&magic, prefix.data(), 4);
    const bool pcap = magic == 0xA1B2C3D4 || magic == 0xD4C3B2A1 || magic == 0xA1B23C4D ||
                      magic == 0x4D3CB2A1;
    const bool pcapng = magic == 0x0A0D0D0A;
    if (pcap || pcapng) {
        if (n < 24) {
            if (!is_stdin) std::fclose(f);
            throw InputError(shown + ": truncated capture file header");
        }
        if (seekable) {
            std::rewind(f);
            return make_pcap_source(f, pcapng, path, true);
        }
        return make_pcap_source(with_prefix(f, std::move(prefix)), pcapng, shown, false);
    }
    if (looks_like_tcpdump_text(prefix)) {
        return make_tcpdump_text_source(with_prefix(f, std::move(prefix)), "", shown);
    }
    if (!is_stdin) std::fclose(f);
    throw InputError(shown + ": not a pcap, pcapng or tcpdump -nn text capture");
}

}  // namespace lp
