#!/usr/bin/env python3
"""Checks the shape of an lp_gencap capture (nanosecond pcap, en10mb link type).

    bench/check_capture.py FILE.pcap

Prints the TCP connections by their sequence of flags (share of connections), the number of client
address and port pairs that open more than one connection (SYNs with different initial sequence
numbers on the same pair; retransmitted SYNs do not count), and the packets per second of capture
time at the start and at the end. Exits 1 if a pair is reused. Plain Python: about a minute per
10M packets.
"""
import collections
import struct
import sys


def main(path):
    f = open(path, 'rb')
    magic, _, _, _, _, _, link = struct.unpack('<IHHiIII', f.read(24))
    if magic != 0xa1b23c4d or link != 1:
        sys.exit(f'{path}: not a nanosecond little-endian en10mb pcap')
    flows = {}
    isns = collections.defaultdict(set)  # client pair -> initial sequence numbers of its SYNs
    per_sec = collections.Counter()
    packets = 0
    while True:
        h = f.read(16)
        if len(h) < 16:
            break
        sec, _, cap, _ = struct.unpack('<IIII', h)
        d = f.read(cap)
        packets += 1
        per_sec[sec] += 1
        ethertype = struct.unpack('>H', d[12:14])[0]
        if ethertype == 0x0800:
            proto, src, dst, l4 = d[23], d[26:30], d[30:34], 14 + (d[14] & 15) * 4
        elif ethertype == 0x86dd:
            proto, src, dst, l4 = d[20], d[22:38], d[38:54], 54
        else:
            continue
        if proto != 6:
            continue
        sport, dport = struct.unpack('>HH', d[l4:l4 + 4])
        flags = d[l4 + 13]
        to_server = dst[:2] in (b'\x0a\x4d', b'\xfd\x77')  # 10.77.0.0/16, fd77::/16
        key = (src, sport, dst, dport) if to_server else (dst, dport, src, sport)
        if flags == 0x02:
            isns[key].add(d[l4 + 4:l4 + 8])
        flows.setdefault(key, []).append(flags)
    shapes = collections.Counter(tuple(v) for v in flows.values())
    reused = sum(1 for v in isns.values() if len(v) > 1)
    print(f'{packets} packets, {len(flows)} TCP flows, {reused} client pairs that open more than one connection')
    for shape, count in shapes.most_common(12):
        print(f'  {count / len(flows):6.1%} {count:9d}  ' + ' '.join(f'{x:02x}' for x in shape))
    secs = sorted(per_sec)
    print('packets per second of capture time: first',
          [per_sec[s] for s in secs[:3]], 'last', [per_sec[s] for s in secs[-4:-1]])
    return 1 if reused else 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
