#!/usr/bin/env python3
"""Summarises a lab capture per client connection, independently of listenprobe:
reads `tcpdump -nn -tt -r FILE` and prints, for each client endpoint talking to
--server ADDR:PORT, the handshake events with times relative to the first packet.

  pcapsum.py FILE --server 10.77.0.2:8081 [--json]

Per connection: syns (client SYNs), synacks (server SYN-ACKs, same ISN counted
together), synack_gaps (seconds between consecutive SYN-ACKs), acks (client
pure ACKs), data (client segments with payload), data_acked (server ACKed the
payload), rst_from_server, rst_from_client, first (time of the first packet),
last; syn_times, synack_times, ack_times (client pure ACKs), data_times (client segments with
payload, retransmissions included); fin_from_client, fin_from_server;
server_data (server segments with payload, e.g. an HTTP response).

A client SYN with another sequence number than the SYN that opened the record
starts a new record: clients reuse a port (ab, curl under load) once the
connection before is closed, and each handshake is its own connection.
"""
import argparse
import json
import re
import subprocess
import sys

LINE = re.compile(
    r"^(?P<t>\d+\.\d+) (?:\S+ +)?(?:In|Out|P|M|B)?\s*IP6? (?P<src>\S+) > (?P<dst>\S+): Flags \[(?P<flags>[^\]]*)\]"
    r"(?:, seq (?P<seq>\d+)(?::(?P<seqend>\d+))?)?(?:, ack (?P<ack>\d+))?.*?length (?P<len>\d+)")


def split_ep(ep: str):
    ep = ep.rstrip(":")
    host, _, port = ep.rpartition(".")
    return host, int(port)


def summarise(path: str, server: str):
    host, _, port = server.rpartition(":")
    host = host.strip("[]")
    srv = (host, int(port))
    out = subprocess.run(["tcpdump", "-nn", "-tt", "-r", path], capture_output=True, text=True,
                         check=True).stdout
    conns = []  # in order of first packet
    current = {}  # client key -> its newest record
    t0 = None
    last = None
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        t = float(m["t"])
        t0 = t if t0 is None else t0
        last = t
        src, dst = split_ep(m["src"]), split_ep(m["dst"])
        if dst == srv:
            cli, to_srv = src, True
        elif src == srv:
            cli, to_srv = dst, False
        else:
            continue
        key = f"{cli[0]}:{cli[1]}" if ":" not in cli[0] else f"[{cli[0]}]:{cli[1]}"
        flags, length = m["flags"], int(m["len"])
        c = current.get(key)
        syn = to_srv and "S" in flags and "." not in flags
        if c is not None and syn and m["seq"] and c.get("isn") not in (None, m["seq"]):
            c = None  # the same port, a new handshake
        if c is None:
            c = current[key] = {"client": key, "first": round(t - t0, 6), "syns": 0, "synacks": 0,
                                   "synack_times": [], "acks": 0, "data": 0, "data_acked": False,
                                   "rst_from_server": 0, "rst_from_client": 0, "rst_times": [],
                                   "syn_times": [], "ack_times": [], "data_times": [],
                                   "fin_from_client": 0, "fin_from_server": 0, "server_data": 0}
            conns.append(c)
        if syn and m["seq"] and c.get("isn") is None:
            c["isn"] = m["seq"]
        c["last"] = round(t - t0, 6)
        if to_srv:
            if "F" in flags:
                c["fin_from_client"] += 1
            if "S" in flags and "." not in flags:
                c["syns"] += 1
                c["syn_times"].append(round(t - t0, 6))
            elif "R" in flags:
                c["rst_from_client"] += 1
            elif length > 0:
                c["data"] += 1
                c["data_times"].append(round(t - t0, 6))
            elif "." in flags and "F" not in flags:
                c["acks"] += 1
                c["ack_times"].append(round(t - t0, 6))
        else:
            if "F" in flags:
                c["fin_from_server"] += 1
            if length > 0 and "S" not in flags and "R" not in flags:
                c["server_data"] += 1
            if "S" in flags and "." in flags:
                c["synacks"] += 1
                c["synack_times"].append(t - t0)
            elif "R" in flags:
                c["rst_from_server"] += 1
                c["rst_times"].append(round(t - t0, 6))
            elif "." in flags and c["data"] and m["ack"] and int(m["ack"]) >= 2:
                c["data_acked"] = True
    for c in conns:
        c.pop("isn", None)
        ts = c["synack_times"]
        c["synack_gaps"] = [round(b - a, 3) for a, b in zip(ts, ts[1:])]
        c["synack_times"] = [round(x, 6) for x in ts]
    return {"t_end": round((last or 0) - (t0 or 0), 6), "connections": conns}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--server", required=True)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    s = summarise(a.file, a.server)
    if a.json:
        print(json.dumps(s, indent=1))
        return 0
    print(f"capture lasts {s['t_end']:.3f} s")
    for c in s["connections"]:
        print(f"{c['client']:>22} t={c['first']:7.3f} syn={c['syns']} synack={c['synacks']} "
              f"gaps={c['synack_gaps']} ack={c['acks']} data={c['data']}"
              f"{'(acked)' if c['data_acked'] else ''} rst_srv={c['rst_from_server']}"
              f" rst_cli={c['rst_from_client']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
