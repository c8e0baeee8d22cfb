#!/usr/bin/env python3
"""Real TCP clients for the lab: connect to a listener one at a time, send one
byte on each connection that completes, and hold the sockets open.

Prints one JSON line per connection ({"i", "sport", "result", "t"}), then
"done", then holds every socket until SIGTERM/SIGINT or --hold seconds pass.
result: ok | timeout | refused | error:<text>.
--rst-after I:S resets connection I (0-based) S seconds after "done"
(SO_LINGER 0 + close), --close-after does the same with a normal close (FIN).
--concurrent starts every connect at once (non-blocking sockets, one SYN burst)
and waits for them together, as a client with many threads would; the byte is
sent on each as soon as it connects.
"""
import argparse
import errno
import json
import select
import signal
import socket
import struct
import sys
import time


def connect_all(a, family, t0, stop):
    """Every connect at once; results in the order the connections were started."""
    pending = {}
    for i in range(a.count):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((a.dst, a.port))
        if err not in (0, errno.EINPROGRESS):
            pending[i] = (s, "error:" + errno.errorcode.get(err, str(err)), 0.0)
        else:
            pending[i] = (s, None, None)
    deadline = time.monotonic() + a.timeout
    while not stop and any(r is None for _, r, _ in pending.values()):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        waiting = [s for s, r, _ in pending.values() if r is None]
        _, writable, _ = select.select([], waiting, [], min(left, 0.1))
        for i, (s, r, _) in list(pending.items()):
            if r is None and s in writable:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                result = "ok" if err == 0 else ("refused" if err == errno.ECONNREFUSED else
                                                "timeout" if err == errno.ETIMEDOUT else
                                                "error:" + errno.errorcode.get(err, str(err)))
                if result == "ok" and not a.no_data:
                    s.send(b"x")
                pending[i] = (s, result, time.monotonic() - t0)
    socks = []
    for i, (s, r, t) in pending.items():
        if r is None:
            r, t = "timeout", time.monotonic() - t0
        print(json.dumps({"i": i, "sport": s.getsockname()[1], "result": r, "t": round(t, 3)}), flush=True)
        if r == "ok":
            socks.append((i, s))
        else:
            s.close()
    return socks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--pause", type=float, default=0.2, help="seconds between connects")
    ap.add_argument("--timeout", type=float, default=2.5, help="connect timeout, seconds")
    ap.add_argument("--hold", type=float, default=-1, help="seconds to hold after done (-1: until signal)")
    ap.add_argument("--no-data", action="store_true", help="do not send the one byte")
    ap.add_argument("--rst-after", action="append", default=[], metavar="I:S")
    ap.add_argument("--close-after", action="append", default=[], metavar="I:S")
    ap.add_argument("--concurrent", action="store_true", help="all connects at once (one SYN burst)")
    a = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    family = socket.AF_INET6 if ":" in a.dst else socket.AF_INET
    t0 = time.monotonic()
    socks = []
    if a.concurrent:
        socks = connect_all(a, family, t0, stop)
    for i in range(0 if a.concurrent else a.count):
        if stop:
            break
        if i:
            time.sleep(a.pause)
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(a.timeout)
        result = "ok"
        try:
            s.connect((a.dst, a.port))
            if not a.no_data:
                s.send(b"x")
        except socket.timeout:
            result = "timeout"
        except ConnectionRefusedError:
            result = "refused"
        except OSError as e:
            result = "error:" + (e.strerror or str(e))
        sport = s.getsockname()[1]
        print(json.dumps({"i": i, "sport": sport, "result": result,
                          "t": round(time.monotonic() - t0, 3)}), flush=True)
        if result == "ok":
            socks.append((i, s))
        else:
            s.close()
    print("done", flush=True)

    actions = []
    for spec, how in [(x, "rst") for x in a.rst_after] + [(x, "close") for x in a.close_after]:
        idx, after = spec.split(":")
        actions.append((time.monotonic() + float(after), int(idx), how))
    actions.sort()
    end = None if a.hold < 0 else time.monotonic() + a.hold
    by_index = dict(socks)
    while not stop and (end is None or time.monotonic() < end):
        now = time.monotonic()
        while actions and actions[0][0] <= now:
            _, idx, how = actions.pop(0)
            s = by_index.pop(idx, None)
            if s is None:
                continue
            if how == "rst":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            print(json.dumps({"i": idx, how: True, "t": round(now - t0, 3)}), flush=True)
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
