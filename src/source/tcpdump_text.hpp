// The text `tcpdump -nn` prints, read as a capture source (kind "tcpdump-text").
//
// What it reads:
//  - one packet per line: TIME [IFACE DIR] IP|IP6 SRC.PORT > DST.PORT: Flags [..], seq A[:B],
//    ack N, win W[, urg U][, options [...]], length N. TIME is HH:MM:SS.frac (micro or nano),
//    YYYY-MM-DD HH:MM:SS.frac (-tttt) or SECONDS.frac (-tt). `-i any` interface and direction
//    words, `-e` link headers and `-v` decorations (cksum, the IPv4 header printed on the line
//    before the TCP one) are understood. IPv6 addresses end at the last dot ("::1.8088").
//  - every other line (other protocols, tcpdump's own messages, shell prompts, blank lines,
//    hex dumps, "N packets captured") is counted in info().skipped. info().packets counts the
//    lines that carry a packet time (and untimed TCP lines).
//  - Times: ns since midnight for HH:MM:SS; a time earlier than the previous one by more than
//    half a day is taken as the next day (so a capture across midnight keeps going forward;
//    small steps back, as `-i any` prints them, stay as printed). With a date (-tttt) or -tt,
//    ns since the Unix epoch, the printed local time read as UTC.
//  - Sequence numbers come out absolute: tcpdump prints them relative to the first segment
//    with ACK it saw on the connection (print-tcp.c), and the same bookkeeping undoes that.
//    Text printed with -S (absolute numbers) is recognised on the first segment whose numbers
//    only make sense one way, and a note says so. A bare ACK carries no seq: seq_known=false.
//  - info().end_ns: the time of the last packet line of any kind (the capture ran until then).
//  - A line that cannot be read (binary bytes, too long, numbers out of range, truncated) is
//    skipped. lp::InputError only for a read error or text with no packet times at all (-t).
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "source/source.hpp"

namespace lp {

// True when the first bytes of an input look like tcpdump -nn output.
bool looks_like_tcpdump_text(std::string_view prefix);
// A Source reading tcpdump text from `f` (owned; fclose'd at the end). `prefix` holds bytes already
// read from f by the caller for detection; they come first.
std::unique_ptr<Source> make_tcpdump_text_source(FILE* f, std::string prefix, std::string path);

}  // namespace lp
