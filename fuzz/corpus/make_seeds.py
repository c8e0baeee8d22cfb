#!/usr/bin/env python3
"""Writes the small seed inputs of the fuzzers into fuzz/corpus/<fuzzer>/ (committed;
re-run after changing this file). fuzz/run.sh adds seeds made from captures/ at run time.

fuzz_decode:        1 byte link-type index (see fuzz_decode.cpp) + one captured frame
fuzz_tcpdump_text:  1 byte prefix split (x8 bytes) + tcpdump -nn text
fuzz_replay:        a whole capture file (pcap, pcapng, text)
"""
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
# index into kLinkTypes of fuzz_decode.cpp
NULL, ETH, RAW, RAW14, LOOP, SLL, V4, V6, SLL2, UNSUPPORTED = range(10)

C4, S4 = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])
C6 = bytes.fromhex("fd770000000000000000000000000001")
S6 = bytes.fromhex("fd770000000000000000000000000002")
OPTS = bytes([2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0, 1, 3, 3, 7])


def tcp(sp, dp, flags, seq, ack=0, opts=b"", payload=b""):
    opts += b"\x00" * (-len(opts) % 4)
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, (20 + len(opts)) // 4 << 4, flags, 65535, 0, 0) + opts + payload


def ip4(src, dst, l4, frag=0x4000, proto=6):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, frag, 64, proto, 0, src, dst) + l4


def ip6(src, dst, l4, nxt=6):
    return struct.pack("!IHBB16s16s", 6 << 28, len(l4), nxt, 64, src, dst) + l4


def eth(p, t=0x0800, vlan=False):
    hdr = bytes(range(12))
    if vlan:
        hdr += struct.pack("!HH", 0x8100, 5)
    return hdr + struct.pack("!H", t) + p


def sll(p, t=0x0800):
    return struct.pack("!HHH8sH", 0, 1, 6, bytes(8), t) + p


def sll2(p, t=0x86DD):
    return struct.pack("!HHIHBB8s", t, 0, 2, 1, 0, 6, bytes(8)) + p


SYN4 = ip4(C4, S4, tcp(40000, 8081, 0x02, 1000, opts=OPTS))
SYNACK4 = ip4(S4, C4, tcp(8081, 40000, 0x12, 5000, 1001, opts=OPTS[:4]))
ACK4 = ip4(C4, S4, tcp(40000, 8081, 0x18, 1001, 5001, payload=b"x"))
SYN6 = ip6(C6, S6, tcp(40001, 8081, 0x02, 7, opts=OPTS))
SYNACK6_HBH = ip6(S6, C6, bytes([6, 0, 1, 4, 0, 0, 0, 0]) + tcp(8081, 40001, 0x12, 9, 8), nxt=0)
RST6 = ip6(S6, C6, tcp(8081, 40001, 0x14, 0, 8))

DECODE = {
    "eth-v4-syn": bytes([ETH]) + eth(SYN4),
    "eth-vlan-v6-synack-hbh": bytes([ETH]) + eth(SYNACK6_HBH, 0x86DD, vlan=True),
    "sll-v4-ack-data": bytes([SLL]) + sll(ACK4),
    "sll2-v6-syn": bytes([SLL2]) + sll2(SYN6),
    "null-v6-rst": bytes([NULL]) + struct.pack("<I", 30) + RST6,
    "loop-v4-synack": bytes([LOOP]) + struct.pack(">I", 2) + SYNACK4,
    "raw-v4-fragment": bytes([RAW]) + ip4(C4, S4, tcp(1, 2, 2, 3)[:16], frag=0x2001),
    "raw-v6-fragment": bytes([V6]) + ip6(C6, S6, struct.pack("!BBHI", 6, 0, 8, 1) + b"\x00" * 8, nxt=44),
    "raw-v6-ah": bytes([V6]) + ip6(C6, S6, bytes([6, 1, 0, 0]) + b"\x00" * 8 + tcp(1, 2, 2, 3), nxt=51),
    "v4-udp": bytes([V4]) + ip4(C4, S4, b"\x00" * 8, proto=17),
}

TEXT = {
    "plain": b"12:00:00.000000 IP 10.77.0.1.40000 > 10.77.0.2.8081: Flags [S], seq 1000, win 64240, options "
             b"[mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0\n"
             b"12:00:00.000100 IP 10.77.0.2.8081 > 10.77.0.1.40000: Flags [S.], seq 5000, ack 1001, win 65160, "
             b"options [mss 1460,sackOK,TS val 2 ecr 1,nop,wscale 7], length 0\n"
             b"12:00:00.000200 IP 10.77.0.1.40000 > 10.77.0.2.8081: Flags [.], ack 1, win 502, length 0\n"
             b"12:00:00.000300 IP 10.77.0.1.40000 > 10.77.0.2.8081: Flags [P.], seq 1:2, ack 1, win 502, length 1\n"
             b"12:00:01.020000 IP 10.77.0.2.8081 > 10.77.0.1.40000: Flags [S.], seq 5000, ack 1001, win 65160, "
             b"length 0\n"
             b"12:00:01.020100 IP 10.77.0.1.40000 > 10.77.0.2.8081: Flags [R.], seq 2, ack 1, win 0, length 0\n",
    "any-v6-dated": b"listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes\n"
                    b"2024-02-29 23:59:59.999999999 lo    In  IP6 ::1.59830 > ::1.8088: Flags [S], seq 4294967295, "
                    b"win 65476, length 0\n"
                    b"2024-03-01 00:00:00.000000001 lo    In  IP6 ::1.8088 > ::1.59830: Flags [R.], seq 0, ack 0, "
                    b"win 0, length 0\n",
    "epoch-verbose": b"1700000000.000001 IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 60)\n"
                     b"    10.0.0.1.1234 > 10.0.0.2.80: Flags [S], cksum 0x1234 (correct), seq 1, win 1, length 0\n"
                     b"1700000000.000002 IP 10.0.0.2.80 > 10.0.0.1.1234: Flags [S.E], seq 9, ack 2, win 1, length 0\n",
    "link-headers-absolute": b"23:59:59.000000 00:01:02:03:04:05 > 06:07:08:09:0a:0b, ethertype IPv4 (0x0800), "
                             b"length 74: 10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 3000000000, win 1, length 0\n"
                             b"00:00:00.100000 IP 10.0.0.2.80 > 10.0.0.1.1234: Flags [S.], seq 123456789, "
                             b"ack 3000000001, win 1, length 0\n"
                             b"00:00:00.200000 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [.], seq 3000000001, "
                             b"ack 123456790, win 1, length 0\n"
                             b"00:00:00.300000 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [F.], seq 3000000001, "
                             b"ack 123456790, win 1, length 0\n",
    "names-and-noise": b"$ tcpdump -nn -i eth0\n12:00:00.000000 IP host.http > other.ssh: Flags [S], seq 1, "
                       b"win 1, length 0\n12:00:00.1 ARP, Request who-has 10.0.0.1 tell 10.0.0.2, length 28\n"
                       b"2 packets captured\n",
}


def pcap(frames, link=1, magic=0xA1B2C3D4, endian="<"):
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 262144, link)
    for i, f in enumerate(frames):
        out += struct.pack(endian + "IIII", 1700000000, i * 1000, len(f), len(f)) + f
    return out


def ng_block(t, body, endian="<"):
    body += b"\x00" * (-len(body) % 4)
    return struct.pack(endian + "II", t, len(body) + 12) + body + struct.pack(endian + "I", len(body) + 12)


def pcapng(frames, link=1, endian="<", tsresol=None, isb=True):
    out = ng_block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)
    opts = b""
    if tsresol is not None:
        opts = struct.pack(endian + "HH", 9, 1) + bytes([tsresol, 0, 0, 0]) + struct.pack(endian + "HH", 0, 0)
    out += ng_block(1, struct.pack(endian + "HHI", link, 0, 262144) + opts, endian)
    units = 10 ** 6 if tsresol is None else (2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol)
    for i, f in enumerate(frames):
        ts = (1700000000 + i) * units
        out += ng_block(6, struct.pack(endian + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f, endian)
    if isb:
        ts = (1700000000 + 30) * units
        out += ng_block(5, struct.pack(endian + "III", 0, ts >> 32, ts & 0xFFFFFFFF) +
                        struct.pack(endian + "HHII", 3, 8, ts >> 32, ts & 0xFFFFFFFF) + struct.pack(endian + "HH", 0, 0),
                        endian)
    return out


V4_FLOW = [eth(SYN4), eth(SYNACK4), eth(ACK4)]
REPLAY = {
    "pcap-le-eth.pcap": pcap(V4_FLOW),
    "pcap-be-nsec-sll.pcap": pcap([sll(SYN4), sll(SYNACK4)], link=113, magic=0xA1B23C4D, endian=">"),
    "pcap-raw-v6.pcap": pcap([SYN6, SYNACK6_HBH, RST6], link=101),
    "pcapng-isb.pcapng": pcapng(V4_FLOW),
    "pcapng-be-tsresol9-sll2.pcapng": pcapng([sll2(SYN6), sll2(SYNACK6_HBH)], link=276, endian=">", tsresol=9),
    "pcapng-two-sections-swapped.pcapng": pcapng(V4_FLOW[:1]) + pcapng(V4_FLOW[1:], endian=">", tsresol=0x83),
    "text.txt": TEXT["plain"],
}


def main():
    for name, files in (("fuzz_decode", DECODE), ("fuzz_tcpdump_text", {k: b"\x04" + v for k, v in TEXT.items()}),
                        ("fuzz_replay", REPLAY)):
        d = HERE / name
        d.mkdir(exist_ok=True)
        for fname, data in files.items():
            (d / fname).write_bytes(data)
        print(f"{name}: {len(files)} seeds")


if __name__ == "__main__":
    main()
