#!/usr/bin/env python3
"""Hostile and odd input for `listenprobe replay` / `timeline` and the command line.

Usage: bad_input_test.py LISTENPROBE [--only SUBSTRING] [--keep]

Every input is generated here at run time (pcap and pcapng written with struct),
except the inputs fuzzing found, kept as fuzz/corpus/fuzz_replay/regress-*.
Each row runs in a fresh directory and checks the exit-status contract
(docs/contract.md: 0 done, 1 input unusable, 2 usage, 3 privilege, 130 interrupted):

  * the exit status is the expected one and the process was not killed by a signal;
  * an error exit prints exactly one line on stderr, starting with "listenprobe: ";
  * a successful replay prints one JSON object whose source counts (packets,
    skipped) are the expected ones: odd-but-valid frames are skipped, not fatal;
  * no file is left behind half-written: the directory holds exactly the files it
    held before (plus the output the row asks for, when it succeeds), nothing
    named *.tmp.*.

The unreadable-file rows need root (they run the binary as `nobody` through
setpriv, because root reads any file); without root they are skipped.
"""
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
REGRESS = ROOT / "fuzz" / "corpus" / "fuzz_replay"  # regress-*: inputs fuzzing found

# ---------------------------------------------------------------- packets

CLI4, SRV4 = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2])
CLI6 = bytes.fromhex("fd090000000000000000000000000001")
SRV6 = bytes.fromhex("fd090000000000000000000000000002")
SYN, ACK, RST, PSH = 0x02, 0x10, 0x04, 0x08

OPTS_SYN = bytes([2, 4, 0x05, 0xB4, 4, 2, 1, 3, 3, 7])  # mss 1460, sackOK, nop, wscale 7


def tcp(sport, dport, flags, seq, ack=0, opts=b"", payload=b"", doff=None):
    opts = opts + b"\x00" * (-len(opts) % 4)
    if doff is None:
        doff = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, 65535, 0, 0) + opts + payload


def ipv4(src, dst, l4, proto=6, ihl=5, total=None, frag=0x4000, ident=1):
    opts = b"\x01" * (ihl * 4 - 20) if ihl > 5 else b""
    if total is None:
        total = max(ihl, 5) * 4 + len(l4)
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, frag, 64, proto, 0, src, dst) + opts + l4


def ipv6(src, dst, l4, nxt=6, plen=None):
    if plen is None:
        plen = len(l4)
    return struct.pack("!IHBB16s16s", 6 << 28, plen, nxt, 64, src, dst) + l4


def eth(payload, ethertype=0x0800):
    return bytes(range(1, 7)) + bytes(range(7, 13)) + struct.pack("!H", ethertype) + payload


def handshake4(port=8080, sport=40000, t0=1000.0):
    """A complete, well-formed handshake on Ethernet: SYN, SYN-ACK, ACK (times, frames)."""
    return [
        (t0, eth(ipv4(CLI4, SRV4, tcp(sport, port, SYN, 1000, opts=OPTS_SYN)))),
        (t0 + 0.001, eth(ipv4(SRV4, CLI4, tcp(port, sport, SYN | ACK, 5000, 1001, opts=OPTS_SYN)))),
        (t0 + 0.002, eth(ipv4(CLI4, SRV4, tcp(sport, port, ACK, 1001, 5001)))),
    ]


# ---------------------------------------------------------------- files

def pcap_header(linktype=1, snaplen=65535, magic=0xA1B2C3D4):
    return struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(t, data, caplen=None, origlen=None):
    sec = int(t)
    usec = int(round((t - sec) * 1e6))
    caplen = len(data) if caplen is None else caplen
    origlen = len(data) if origlen is None else origlen
    return struct.pack("<IIII", sec, usec, caplen, origlen) + data


def pcap(frames, linktype=1, snaplen=65535):
    return pcap_header(linktype, snaplen) + b"".join(pcap_record(t, d) for t, d in frames)


def ng_block(btype, body):
    body = body + b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def ng_shb():
    return ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def ng_idb(linktype, snaplen=65535):
    return ng_block(1, struct.pack("<HHI", linktype, 0, snaplen))


def ng_epb(ifc, t, data):
    ts = int(round(t * 1e6))
    return ng_block(6, struct.pack("<IIIII", ifc, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)


# ---------------------------------------------------------------- rows

class Row:
    def __init__(self, name, args, rc, files=None, packets=None, skipped=None, listeners=None, stderr_has=None,
                 as_nobody=False, stdin=None, stdout_to=None, setup=None, outputs=(), note_has=None, check=None,
                 wrap=None, planted=None, after=None, quiet=False, no_json=False, stdout_has=None):
        self.name, self.args, self.rc = name, args, rc
        self.files = files or {}          # name -> bytes, written into the row's directory
        self.packets, self.skipped, self.listeners = packets, skipped, listeners
        self.stderr_has = stderr_has      # text the one error line must contain
        self.note_has = note_has          # text one of source.notes must contain
        self.as_nobody, self.stdin, self.stdout_to = as_nobody, stdin, stdout_to
        self.setup = setup                # fn(dir) for chmod and friends
        self.check = check                # fn(json output) -> error text, or a false value
        self.wrap = wrap                  # fn(command list) -> command list (runs it through a shell)
        self.planted = planted            # prefix of files the wrapper plants (not leftovers)
        self.after = after                # fn(row directory) -> error text, or a false value
        self.outputs = set(outputs)       # files the row creates when it succeeds
        self.quiet = quiet                # nothing at all on stderr (a success, or a closed pipe)
        self.no_json = no_json            # stdout is not checked as JSON (a closed pipe took it)
        self.stdout_has = stdout_has      # regular expression stdout must match


def xml_error(name):
    """An `after` check: the file NAME of the row's directory is well-formed XML."""
    def check(d):
        try:
            ElementTree.fromstring((d / name).read_bytes())
        except (ElementTree.ParseError, OSError) as e:
            return f"{name} is not well-formed XML: {e}"
        return None
    return check


def rows():
    hs = handshake4()
    good = pcap(hs)
    r = []

    # ---- not a capture at all
    r.append(Row("empty file", ["replay", "in"], 1, {"in": b""}, stderr_has="empty"))
    r.append(Row("empty stdin", ["replay", "-"], 1, stdin=b"", stderr_has="empty"))
    rnd = random.Random(1)
    junk = rnd.randbytes(61)
    r.append(Row("random bytes", ["replay", "in"], 1, {"in": junk}, stderr_has="not a pcap"))
    r.append(Row("random bytes, 1 MiB", ["replay", "in"], 1,
                 {"in": random.Random(2).randbytes(1 << 20)}))
    r.append(Row("random bytes on stdin", ["replay", "-"], 1, stdin=junk))
    r.append(Row("garbage text", ["replay", "in"], 1,
                 {"in": b"hello world\nthis is not a capture\n12:34 what\n" * 50}, stderr_has="not a pcap"))
    r.append(Row("nonexistent file", ["replay", "nosuchfile.pcap"], 1, stderr_has="No such file"))
    r.append(Row("a directory", ["replay", "adir"], 1, setup=lambda d: (d / "adir").mkdir(),
                 stderr_has="directory"))
    r.append(Row("unreadable file (as nobody)", ["replay", "in"], 1, {"in": good}, as_nobody=True,
                 setup=lambda d: os.chmod(d / "in", 0), stderr_has="Permission denied"))
    r.append(Row("unreadable directory entry (as nobody)", ["replay", "sub/in"], 1, as_nobody=True,
                 setup=lambda d: ((d / "sub").mkdir(), (d / "sub" / "in").write_bytes(good),
                                  os.chmod(d / "sub", 0o700)), stderr_has="Permission denied"))

    # ---- damaged pcap / pcapng
    r.append(Row("truncated pcap header", ["replay", "in"], 1, {"in": pcap_header()[:16]}, stderr_has="truncated"))
    r.append(Row("pcap header only 4 bytes", ["replay", "in"], 1, {"in": pcap_header()[:4]}))
    r.append(Row("truncated pcap header on stdin", ["replay", "-"], 1, stdin=pcap_header()[:20]))
    r.append(Row("truncated pcapng section header", ["replay", "in"], 1, {"in": ng_shb()[:20]}))
    r.append(Row("pcapng section header without interface", ["replay", "in"], 1, {"in": ng_shb()},
                 stderr_has="Interface Description"))
    # No listener at all: replay and timeline agree (exit 1, one line).
    r.append(Row("pcap header, no records", ["replay", "in"], 1, {"in": pcap_header()}, stderr_has="no listener"))
    r.append(Row("pcap header, no records: timeline", ["timeline", "in", "-o", "t.svg"], 1, {"in": pcap_header()},
                 stderr_has="no listener in the capture"))
    r.append(Row("truncated last record", ["replay", "in"], 0, {"in": good + pcap_record(1000.003, hs[2][1])[:30]},
                 packets=3, skipped=0, listeners=1, note_has="truncated"))
    r.append(Row("truncated last record header", ["replay", "in"], 0,
                 {"in": good + pcap_record(1000.003, hs[2][1])[:7]}, packets=3, listeners=1))
    r.append(Row("truncated last record on stdin", ["replay", "-"], 0,
                 stdin=good + pcap_record(1000.003, hs[2][1])[:30], packets=3, listeners=1))
    ng = ng_shb() + ng_idb(1) + b"".join(ng_epb(0, t, d) for t, d in hs)
    r.append(Row("pcapng truncated last block", ["replay", "in"], 0, {"in": ng + ng_epb(0, 1000.01, hs[0][1])[:40]},
                 packets=3, listeners=1))
    r.append(Row("snaplen 0", ["replay", "in"], 0, {"in": pcap(hs, snaplen=0)}, packets=3, skipped=0, listeners=1))
    r.append(Row("snaplen huge", ["replay", "in"], 0, {"in": pcap(hs, snaplen=0xFFFFFFFF)}, packets=3, skipped=0,
                 listeners=1))
    r.append(Row("snaplen 40, frames cut at 40 bytes", ["replay", "in"], 1,
                 {"in": pcap_header(snaplen=40) + b"".join(pcap_record(t, d[:40], origlen=len(d)) for t, d in hs)},
                 stderr_has="no listener"))
    r.append(Row("record caplen 0", ["replay", "in"], 0,
                 {"in": pcap(hs) + pcap_record(1000.01, b"")}, packets=4, skipped=1, listeners=1))
    r.append(Row("record caplen beyond any snaplen", ["replay", "in"], 1,
                 {"in": good + struct.pack("<IIII", 1001, 0, 0x7FFFFFF0, 0x7FFFFFF0) + b"x" * 64},
                 stderr_has="record 4"))
    r.append(Row("unknown link type (DLT 147)", ["replay", "in"], 1, {"in": pcap(hs, linktype=147)},
                 stderr_has="147"))
    r.append(Row("pcapng, unknown link type", ["replay", "in"], 1,
                 {"in": ng_shb() + ng_idb(147) + ng_epb(0, 1.0, hs[0][1])}, stderr_has="147"))
    two_types = (ng_shb() + ng_idb(1) + ng_idb(113) + ng_epb(0, 1000.0, hs[0][1]) +
                 ng_epb(1, 1000.001, b"\x00" * 16 + hs[1][1][14:]))
    r.append(Row("pcapng, two interfaces of different link types", ["replay", "in"], 1, {"in": two_types},
                 stderr_has="link type"))
    same_types = ng_shb() + ng_idb(1) + ng_idb(1) + ng_epb(0, 1000.0, hs[0][1]) + ng_epb(1, 1000.001, hs[1][1])
    r.append(Row("pcapng, two interfaces of the same link type", ["replay", "in"], 0, {"in": same_types},
                 packets=2, skipped=0, listeners=1))
    huge_ts = ng_block(6, struct.pack("<IIIII", 0, 0x889F2A03, 0, len(hs[0][1]), len(hs[0][1])) + hs[0][1])
    r.append(Row("pcapng, a timestamp far beyond 2200 (found by fuzz_replay)", ["replay", "in"], 0,
                 {"in": ng + huge_ts}, packets=4, skipped=1, listeners=1, note_has="out of range"))
    isb = ng_block(5, struct.pack("<III", 0, 0x5F5E1, 0))
    r.append(Row("pcapng with statistics but no packet", ["replay", "in"], 1,
                 {"in": ng_shb() + ng_idb(1) + isb}, stderr_has="no listener"))
    r.append(Row("pcapng, packet names an interface that does not exist", ["replay", "in"], 1,
                 {"in": ng_shb() + ng_idb(1) + ng_epb(5, 1000.0, hs[0][1])}))

    # ---- odd frames inside a valid capture: skipped, never fatal
    syn = tcp(40001, 8080, SYN, 77, opts=OPTS_SYN, payload=b"x" * 40)
    # The first fragment holds the whole TCP header (decoded), the others are skipped.
    frag_first = ipv4(CLI4, SRV4, syn[:40], frag=0x2000, total=20 + 40)
    frag_rest = ipv4(CLI4, SRV4, syn[40:], frag=0x0005, total=20 + len(syn) - 40)
    v6_frag_rest = ipv6(CLI6, SRV6, struct.pack("!BBHI", 6, 0, (5 << 3), 99) + syn[40:], nxt=44)
    r.append(Row("IP fragments", ["replay", "in"], 0,
                 {"in": pcap(hs + [(1000.01, eth(frag_first)), (1000.02, eth(frag_rest)),
                                   (1000.03, eth(v6_frag_rest, 0x86DD))])},
                 packets=6, skipped=2, listeners=1))
    bogus = [
        ipv4(CLI4, SRV4, tcp(40002, 8080, SYN, 1), ihl=3),                    # IHL below 5
        ipv4(CLI4, SRV4, tcp(40002, 8080, SYN, 1), total=12),                 # total below the header
        ipv4(CLI4, SRV4, tcp(40002, 8080, SYN, 1), ihl=15),                   # IHL 60, header present
        ipv4(CLI4, SRV4, tcp(40002, 8080, SYN, 1))[:30],                      # TCP cut inside
        ipv4(CLI4, SRV4, tcp(40002, 8080, SYN, 1, doff=2)),                   # data offset 8 bytes
        ipv4(CLI4, SRV4, tcp(40002, 8080, SYN, 1, doff=15)),                  # data offset past the segment
        ipv4(CLI4, SRV4, b""),                                                # no TCP at all
        ipv4(CLI4, SRV4, tcp(40002, 8080, SYN, 1), total=0),                  # total length 0 (TSO)
        ipv6(CLI6, SRV6, tcp(40002, 8080, SYN, 1), plen=4),                   # payload length too short
        ipv6(CLI6, SRV6, struct.pack("!BB", 6, 200) + b"\x00" * 6 + tcp(40002, 8080, SYN, 1), nxt=0),  # ext hdr len
        ipv6(CLI6, SRV6, b"\x00" * 8 * 20, nxt=0),                            # extension header chain
        b"\x45",                                                              # one byte of IP
    ]
    odd = [(1000.01 + i * 0.001, eth(f, 0x86DD if f[0] >> 4 == 6 else 0x0800)) for i, f in enumerate(bogus)]
    # IHL 15 with the options present is valid IP: its TCP is decoded (1 of the 12).
    r.append(Row("bogus IP and TCP header lengths", ["replay", "in"], 0, {"in": pcap(hs + odd)},
                 packets=3 + len(bogus), skipped=len(bogus) - 1, listeners=1))
    r.append(Row("bogus headers, raw IP link type", ["replay", "in"], 0,
                 {"in": pcap([(t, d[14:]) for t, d in hs] + [(t, d[14:]) for t, d in odd], linktype=101)},
                 packets=3 + len(bogus), skipped=len(bogus) - 1, listeners=1))
    past = [
        bytes([2, 4, 5, 0xB4, 3, 9, 7]),          # wscale claims 9 bytes, 3 left
        bytes([2, 4, 5, 0xB4, 8, 40]),            # timestamp runs far past
        bytes([2, 4, 5, 0xB4, 1, 1, 1, 5]),       # kind without length at the end
        bytes([2, 0, 2, 4, 5, 0xB4]),             # length 0 (would loop forever)
        bytes([2, 1, 2, 4, 5, 0xB4]),             # length 1
        bytes([2, 255] + [0] * 38),               # length 255 in a 40-byte option space
    ]
    frames = []
    for i, o in enumerate(past):
        sport = 41000 + i
        frames.append((1000.1 + i * 0.01, eth(ipv4(CLI4, SRV4, tcp(sport, 8080, SYN, 9, opts=o)))))
        frames.append((1000.1 + i * 0.01 + 0.001, eth(ipv4(SRV4, CLI4, tcp(8080, sport, SYN | ACK, 7, 10)))))
    r.append(Row("TCP options running past the header", ["replay", "in"], 0, {"in": pcap(hs + frames)},
                 packets=3 + len(frames), skipped=0, listeners=1))

    # ---- tcpdump text
    text = (b"reading from file x.pcap, link-type EN10MB (Ethernet), snapshot length 262144\n"
            b"12:00:00.000000 IP 10.9.0.1.40000 > 10.9.0.2.8080: Flags [S], seq 1000, win 65535, "
            b"options [mss 1460,sackOK,nop,wscale 7], length 0\n"
            b"\x00\x01\x02\xff\xfe binary junk \x00\x00\x7f\n"
            b"12:00:00.001000 IP 10.9.0.2.8080 > 10.9.0.1.40000: Flags [S.], seq 5000, ack 1001, win 65535, "
            b"options [mss 1460], length 0\n"
            + random.Random(3).randbytes(300).replace(b"\n", b" ") + b"\n"
            b"12:00:00.002000 IP 10.9.0.1.40000 > 10.9.0.2.8080: Flags [.], ack 1, win 65535, length 0\n"
            b"12:00:00.00\xff IP garbled time\n"
            + b"\xee" * 200000 + b"\n")
    r.append(Row("tcpdump text with binary junk lines", ["replay", "in"], 0, {"in": text}, packets=3, listeners=1))
    r.append(Row("tcpdump text with binary junk lines, on stdin", ["replay", "-"], 0, stdin=text, packets=3,
                 listeners=1))
    r.append(Row("tcpdump text, one over-long line only", ["replay", "in"], 1,
                 {"in": b"12:00:00.000000 IP " + b"9" * 300000}, stderr_has="no listener"))
    r.append(Row("tcpdump text printed with -t", ["replay", "in"], 1,
                 {"in": b"IP 10.9.0.1.40000 > 10.9.0.2.8080: Flags [S], seq 1000, win 65535, length 0\n"},
                 stderr_has="-t"))
    absurd = (b"12:00:00.000000 IP 10.9.0.1.40000 > 10.9.0.2.8080: Flags [S], seq 99999999999, "
              b"win 99999999, length 99999999999\n"
              b"12:00:00.000001 IP 10.9.0.2.8080 > 10.9.0.1.40000: Flags [S.], seq 4294967295, "
              b"ack 2, win 65535, options [mss 99999,wscale 300,TS val 99999999999 ecr 1], length 0\n"
              b"12:00:00.000002 IP 10.9.0.2.8080 > 10.9.0.1.40000: Flags [SFRPUEW.], seq 4294967295:4294967294, "
              b"ack 4294967295, win 65535, length 4294967295\n"
              b"12:00:00.000003 IP 10.9.0.1.40000 > 10.9.0.2.8080: Flags [S], seq 1, win 1, length 0\n"
              b"12:00:00.000004 IP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff.65535 > ::.0: Flags [S.], seq 0, "
              b"ack 0, win 0, length 0\n")
    r.append(Row("tcpdump text, numbers out of range", ["replay", "in"], 0, {"in": absurd}, packets=5, listeners=2))
    r.append(Row("tcpdump text printed with -e -t (a link address first)", ["replay", "in"], 1,
                 {"in": b"00:11:22:33:44:55 > 66:77:88:99:aa:bb, ethertype IPv4 (0x0800), length 74: 10.9.0.1.40000 > "
                        b"10.9.0.2.8080: Flags [S], seq 1000, win 65535, length 0\n"}, stderr_has="-t"))
    # Not "printed with -t": the times are there, out of range (skipped, with a note).
    r.append(Row("tcpdump text, times out of range only", ["replay", "in"], 1, stderr_has="no listener",
                 files={"in": b"123456:00:00.000000 IP 10.9.0.1.40000 > 10.9.0.2.8080: Flags [S], seq 1, win 1, "
                        b"length 0\n9999999999.999999 IP 10.9.0.1.40000 > 10.9.0.2.8080: Flags [S], seq 1, win 1, "
                        b"length 0\n"}))

    # ---- output files
    r.append(Row("--timeline into a directory that does not exist", ["replay", "in", "--timeline", "no/such/t.svg"],
                 1, {"in": good}, stderr_has="no/such/t.svg"))
    r.append(Row("--timeline onto an existing directory", ["replay", "in", "--timeline", "d.svg"], 1, {"in": good},
                 setup=lambda d: (d / "d.svg").mkdir()))
    r.append(Row("--timeline in a directory without write permission (as nobody)",
                 ["replay", "in", "--timeline", "ro/t.svg"], 1, {"in": good}, as_nobody=True,
                 setup=lambda d: ((d / "ro").mkdir(), os.chmod(d / "ro", 0o555))))
    # The old temporary name was OUT.tmp.PID: a symlink planted there made root write through it.
    # `exec` keeps the shell's pid, so the planted name is the one that pid would have used.
    r.append(Row("--timeline with a symlink planted at OUT.tmp.PID", ["replay", "in", "--timeline", "out.svg"], 0,
                 {"in": good, "victim": b"precious\n"}, outputs=["out.svg"], planted="out.svg.tmp.",
                 wrap=lambda cmd: ["sh", "-c", 'ln -s victim out.svg.tmp.$$ && exec "$0" "$@"'] + cmd,
                 after=lambda d: (d / "victim").read_bytes() != b"precious\n" and "the planted symlink was followed"))
    r.append(Row("--timeline out.png", ["replay", "in", "--timeline", "out.png"], 2, {"in": good},
                 stderr_has="out.png"))
    r.append(Row("--timeline out.svg (works)", ["replay", "in", "--timeline", "out.svg"], 0, {"in": good},
                 packets=3, listeners=1, outputs=["out.svg"]))
    r.append(Row("--timeline of a capture without listener", ["replay", "in", "--timeline", "t.svg"], 1,
                 {"in": pcap_header()}, stderr_has="no listener"))
    r.append(Row("timeline -o into a directory that does not exist", ["timeline", "in", "-o", "no/t.txt"], 1,
                 {"in": good}))
    r.append(Row("timeline -o out.png", ["timeline", "in", "-o", "out.png"], 2, {"in": good}))
    r.append(Row("timeline of an empty file", ["timeline", "in", "-o", "t.json"], 1, {"in": b""}))
    r.append(Row("timeline -o t.json (works)", ["timeline", "in", "-o", "t.json"], 0, {"in": good},
                 outputs=["t.json"]))
    r.append(Row("file name that is not UTF-8, JSON output", ["replay", "caf\udce9.pcap", "--format", "json"], 0,
                 {"caf\udce9.pcap": good}, packets=3, listeners=1))
    r.append(Row("file name that is not UTF-8, SVG timeline", ["timeline", "caf\udce9.pcap", "-o", "t.svg"], 0,
                 {"caf\udce9.pcap": good}, outputs=["t.svg"], after=xml_error("t.svg")))
    r.append(Row("stdout is a full disk", ["replay", "in", "--format", "json"], 1, {"in": good},
                 stdout_to="/dev/full", stderr_has="stdout"))

    # ---- usage
    for bad, says in (("10.9.0.2", "has no port"), ("10.9.0.2:0", "port 0 is out of range 1..65535"),
                      ("10.9.0.2:65536", "port 65536 is out of range 1..65535"),
                      ("10.9.0.2:-1", "port -1 is out of range"),
                      ("fd09::2:80", "an IPv6 address needs brackets: [fd09::2]:80"),
                      ("[fd09::2]80", "want ':' and a port after ']'"), ("[fd09::2:80", "missing ']'"),
                      ("10.9.0.256:80", "'10.9.0.256' is not a valid IPv4 address"), (":80", "has an empty host"),
                      ("10.9.0.2:", "has an empty port"), ("", "--listener is empty"),
                      ("10.9.0.2:no-such-service", "unknown TCP service 'no-such-service'"),
                      ("[10.9.0.2]:80", "brackets are for IPv6")):
        r.append(Row(f"bad --listener {bad!r}", ["replay", "in", "--listener", bad], 2, {"in": good},
                     stderr_has=says))
        r.append(Row(f"bad --listener {bad!r}, timeline", ["timeline", "in", "--listener", bad, "-o", "t.svg"], 2,
                     {"in": good}, stderr_has=says))
    r.append(Row("--listener of the other family than -4", ["replay", "in", "--listener", "[fd09::2]:80", "-4"], 2,
                 {"in": good}, stderr_has="is an IPv6 address, but -4 was given"))
    r.append(Row("-4 and -6 together", ["replay", "in", "-4", "-6"], 2, {"in": good}))
    # A well-formed name that does not resolve (RFC 6761 .invalid): the target is unusable.
    for sub in (["replay", "in"], ["timeline", "in", "-o", "t.svg"]):
        r.append(Row(f"{sub[0]} --listener that does not resolve", sub + ["--listener", "no-such-host.invalid:80"], 1,
                     {"in": good}, stderr_has="--listener: cannot resolve no-such-host.invalid"))
        # --listener that matches nothing: replay and timeline say so alike, exit 1.
        r.append(Row(f"{sub[0]} --listener that matches no listener", sub + ["--listener", "10.9.0.3:80"], 1,
                     {"in": good}, stderr_has="no listener 10.9.0.3:80 in the capture"))
        r.append(Row(f"{sub[0]} --listener, right address, other port", sub + ["--listener", "10.9.0.2:8081"], 1,
                     {"in": good}, stderr_has="no listener 10.9.0.2:8081 in the capture"))
    # Host and service names: resolved once, the address in the output.
    lo = bytes([127, 0, 0, 1])
    lo_hs = [(1000.0, eth(ipv4(lo, lo, tcp(40000, 80, SYN, 1000, opts=OPTS_SYN)))),
             (1000.001, eth(ipv4(lo, lo, tcp(80, 40000, SYN | ACK, 5000, 1001, opts=OPTS_SYN)))),
             (1000.002, eth(ipv4(lo, lo, tcp(40000, 80, ACK, 1001, 5001))))]
    r.append(Row("--listener localhost:http -4 (name and service)", ["replay", "in", "--listener", "localhost:http", "-4"],
                 0, {"in": pcap(lo_hs)}, packets=3, listeners=1,
                 note_has="--listener localhost:http resolved to 127.0.0.1:80",
                 check=lambda out: (out["listeners"][0]["address"], out["listeners"][0]["port"]) != ("127.0.0.1", 80)
                 and f"listener {out['listeners'][0]['address']}:{out['listeners'][0]['port']}"))
    r.append(Row("timeline --listener localhost:80 -4", ["timeline", "in", "--listener", "localhost:80", "-4",
                                                          "-o", "t.svg"], 0, {"in": pcap(lo_hs)}, outputs=["t.svg"]))
    # A closed pipe (`listenprobe replay f | head -c1`): quiet, exit 0. Enough connections that
    # the report is far larger than a pipe holds.
    many = []
    for i in range(1500):
        many += handshake4(sport=20000 + i, t0=1000.0 + i * 0.01)
    big = pcap(many)
    closed_pipe = lambda cmd: ["bash", "-c", '"$0" "$@" | head -c1 >/dev/null; exit "${PIPESTATUS[0]}"'] + cmd
    for fmt in ("json", "text"):
        r.append(Row(f"stdout closed early ({fmt})", ["replay", "in", "--format", fmt], 0, {"in": big},
                     wrap=closed_pipe, quiet=True, no_json=True))
    r.append(Row("stdout closed early (plans)", ["plans"], 0, wrap=lambda cmd: ["bash", "-c",
                 '"$0" "$@" | true; exit "${PIPESTATUS[0]}"'] + cmd, quiet=True, no_json=True))
    r.append(Row("--version", ["--version"], 0, quiet=True,
                 stdout_has=r"^listenprobe \d+\.\d+\.\d+ \(commit [^)]+\)\n$"))
    r.append(Row("unknown subcommand", ["frobnicate"], 2, stderr_has="frobnicate"))
    r.append(Row("no subcommand", [], 2))
    r.append(Row("replay without FILE", ["replay"], 2))
    r.append(Row("unknown option", ["replay", "in", "--colour"], 2, {"in": good}))
    r.append(Row("--format xml", ["replay", "in", "--format", "xml"], 2, {"in": good}))
    r.append(Row("probe target without port", ["probe", "10.9.0.2"], 2, stderr_has="target '10.9.0.2' has no port"))
    r.append(Row("probe target port 0", ["probe", "10.9.0.2:0"], 2, stderr_has="port 0 is out of range"))
    r.append(Row("probe target port 65536", ["probe", "10.9.0.2:65536"], 2, stderr_has="port 65536 is out of range"))
    r.append(Row("probe empty target", ["probe", ""], 2, stderr_has="target is empty"))
    r.append(Row("probe empty host", ["probe", ":80"], 2, stderr_has="has an empty host"))
    r.append(Row("probe IPv6 without brackets", ["probe", "fd09::2:80"], 2,
                 stderr_has="an IPv6 address needs brackets: [fd09::2]:80"))
    r.append(Row("probe unknown service", ["probe", "10.9.0.2:no-such-service"], 2, stderr_has="unknown TCP service"))
    r.append(Row("probe -6 with an IPv4 target", ["probe", "-6", "10.9.0.2:80"], 2,
                 stderr_has="is an IPv4 address, but -6 was given"))
    r.append(Row("probe a name that does not resolve", ["probe", "no-such-host.invalid:80"], 1,
                 stderr_has="target: cannot resolve no-such-host.invalid"))

    # ---- inputs fuzzing found (fuzz/corpus/fuzz_replay/regress-*): no crash, exit 0 or 1
    if REGRESS.is_dir():
        for p in sorted(REGRESS.glob("regress-*")):
            if p.is_file():
                r.append(Row(f"fuzz regression {p.name}", ["replay", "in"], None, {"in": p.read_bytes()}))
    return r


# ---------------------------------------------------------------- running

def listing(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def run_row(binary, row, base):
    d = base / f"row{run_row.n:03d}"
    run_row.n += 1
    d.mkdir()
    os.chmod(d, 0o777)  # `nobody` rows write here (and must not be able to elsewhere)
    for name, data in row.files.items():
        (d / name).write_bytes(data)
        os.chmod(d / name, 0o644)
    if row.setup:
        row.setup(d)
    before = listing(d)
    cmd = [binary] + row.args
    if row.wrap:
        cmd = row.wrap(cmd)
    if row.as_nobody:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
               "--bounding-set=-all"] + cmd
    stdout = open(row.stdout_to, "wb") if row.stdout_to else subprocess.PIPE
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=d, input=row.stdin if row.stdin is not None else b"",
                           stdout=stdout, stderr=subprocess.PIPE, timeout=60)
    finally:
        if row.stdout_to:
            stdout.close()
    dt = time.monotonic() - t0
    errs = []
    if p.returncode < 0:
        errs.append(f"killed by signal {-p.returncode}")
    elif row.rc is not None and p.returncode != row.rc:
        errs.append(f"exit {p.returncode}, expected {row.rc}")
    elif row.rc is None and p.returncode not in (0, 1):
        errs.append(f"exit {p.returncode}, expected 0 or 1")
    err = p.stderr.decode("utf-8", "replace")
    lines = err.splitlines()
    if p.returncode != 0:
        if len(lines) != 1:
            errs.append(f"{len(lines)} lines on stderr, expected exactly one: {err[:400]!r}")
        elif not lines[0].startswith("listenprobe: "):
            errs.append(f"stderr does not start with 'listenprobe: ': {lines[0][:200]!r}")
        if row.stderr_has and row.stderr_has not in err:
            errs.append(f"stderr does not mention {row.stderr_has!r}: {err.strip()[:200]!r}")
        if p.stdout:
            errs.append(f"an error exit printed on stdout: {p.stdout[:200]!r}")
    elif row.quiet and err:
        errs.append(f"stderr is not empty: {err[:300]!r}")
    if p.returncode == 0 and row.stdout_has:
        import re
        if not re.search(row.stdout_has, p.stdout.decode("utf-8", "replace")):
            errs.append(f"stdout does not match {row.stdout_has!r}: {p.stdout[:200]!r}")
    if p.returncode != 0 or row.no_json:
        pass
    elif row.args and row.args[0] == "replay" and not row.stdout_to:
        try:
            out = json.loads(p.stdout)
        except ValueError as e:
            errs.append(f"stdout is not one JSON object ({e}): {p.stdout[:200]!r}")
            out = None
        if out is not None:
            src = out["source"]
            if row.packets is not None and src["packets"] != row.packets:
                errs.append(f"source.packets {src['packets']}, expected {row.packets}")
            if row.skipped is not None and src["skipped"] != row.skipped:
                errs.append(f"source.skipped {src['skipped']}, expected {row.skipped}")
            if row.listeners is not None and len(out["listeners"]) != row.listeners:
                errs.append(f"{len(out['listeners'])} listeners, expected {row.listeners}")
            if row.note_has and not any(row.note_has in n for n in src.get("notes", [])):
                errs.append(f"no note mentions {row.note_has!r}: {src.get('notes')}")
            if row.check and (e := row.check(out)):
                errs.append(e)
    if row.after and (e := row.after(d)):
        errs.append(e)
    after = listing(d)
    expected = set(before) | (row.outputs if p.returncode == 0 else set())
    extra = [f for f in after if f not in expected and not (row.planted and f.startswith(row.planted))]
    missing = [f for f in before if f not in after]
    if extra:
        errs.append(f"files left behind: {extra}")
    if missing:
        errs.append(f"files gone: {missing}")
    for f in row.outputs:
        if p.returncode == 0 and (not (d / f).is_file() or (d / f).stat().st_size == 0):
            errs.append(f"output {f} missing or empty")
    return errs, p.returncode, dt, (lines[0] if lines else "")


run_row.n = 0


def signal_rows(binary, base):
    """SIGINT/SIGTERM while replay or timeline reads a pipe that stays open: they stop reading,
    report what was read (warning `interrupted`, a source note), one line on stderr, exit 128+N.
    Yields (name, errors, exit status, stderr line)."""
    import signal
    frames = []
    for i in range(5):
        frames += handshake4(sport=30000 + i, t0=1000.0 + i)
    data = pcap(frames)
    cases = [("SIGINT during replay of a pipe", ["replay", "-", "--format", "json", "--timeline", "t.svg"],
              signal.SIGINT, 130, ["t.svg"]),
             ("SIGTERM during replay of a pipe", ["replay", "-", "--format", "json"], signal.SIGTERM, 143, []),
             ("SIGINT during timeline of a pipe", ["timeline", "-", "-o", "t.txt"], signal.SIGINT, 130, ["t.txt"])]
    for name, args, sig, rc, outputs in cases:
        d = base / f"sig{signal_rows.n}"
        signal_rows.n += 1
        d.mkdir()
        errs = []
        p = subprocess.Popen([binary] + args, cwd=d, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdin.write(data)
        p.stdin.flush()
        time.sleep(0.5)  # the records are read; the pipe stays open
        t0 = time.monotonic()
        p.send_signal(sig)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            errs.append("still running 10 s after the signal")
        dt = time.monotonic() - t0
        err = err.decode("utf-8", "replace")
        lines = err.splitlines()
        if p.returncode != rc:
            errs.append(f"exit {p.returncode}, expected {rc}")
        if len(lines) != 1 or not lines[0].startswith("listenprobe: interrupted by "):
            errs.append(f"stderr is not one 'listenprobe: interrupted by' line: {err[:300]!r}")
        if dt > 2:
            errs.append(f"took {dt:.1f} s to stop")
        if args[0] == "replay":
            try:
                doc = json.loads(out)
                if len(doc["listeners"]) != 1 or doc["listeners"][0]["connections_total"] != 5:
                    errs.append(f"the partial report lacks the 5 connections read: {doc['listeners']}")
                elif "interrupted" not in [w["code"] for w in doc["listeners"][0]["warnings"]]:
                    errs.append("no warning 'interrupted'")
                if not any("interrupted" in n for n in doc["source"].get("notes", [])):
                    errs.append("no source note says interrupted")
            except ValueError as e:
                errs.append(f"stdout is not one JSON object ({e}): {out[:200]!r}")
        for f in outputs:
            if not (d / f).is_file() or (d / f).stat().st_size == 0:
                errs.append(f"{f} was not written")
        extra = [f for f in listing(d) if f not in outputs]
        if extra:
            errs.append(f"files left behind: {extra}")
        yield name, errs, p.returncode, (lines[0] if lines else "")


signal_rows.n = 0


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.abspath(args[0])
    only = args[args.index("--only") + 1] if "--only" in args else None
    keep = "--keep" in args
    root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="lp-bad-input."))
    os.chmod(base, 0o755)
    failed = skipped = passed = 0
    t_start = time.monotonic()
    try:
        for row in rows():
            if only and only not in row.name:
                continue
            if row.as_nobody and not root:
                print(f"SKIP {row.name} (needs root to run as nobody)")
                skipped += 1
                continue
            errs, rc, dt, line = run_row(binary, row, base)
            if errs:
                failed += 1
                print(f"FAIL {row.name} (exit {rc}, {dt:.2f} s)")
                for e in errs:
                    print(f"     {e}")
            else:
                passed += 1
                print(f"ok   {row.name}: exit {rc}, {dt:.2f} s" + (f"  | {line}" if line else ""))
        for name, errs, rc, line in signal_rows(binary, base):
            if only and only not in name:
                continue
            if errs:
                failed += 1
                print(f"FAIL {name} (exit {rc})")
                for e in errs:
                    print(f"     {e}")
            else:
                passed += 1
                print(f"ok   {name}: exit {rc}  | {line}")
    finally:
        if keep or failed:
            print(f"work dir kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped in {time.monotonic() - t_start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
