#!/usr/bin/env bash
# Live benchmark (root; its own lab, LAB=bench-live): does `watch` keep up with traffic,
# and what do many targets cost against one?
#
#   bench/live_bench.sh
#
# 1. watch: a synthetic capture (lp_gencap --mode mix, PACKETS packets) is sent through the
#    lab's veth by tcpreplay at a fixed rate (PPS) from the client namespace, while in the
#    server namespace `listenprobe watch` and, as the reference capturer in the same run,
#    `tcpdump -w /dev/null` capture the same interface. Printed: packets each one
#    captured and dropped (pcap statistics: watch's `capture_dropped`, tcpdump's "dropped by
#    kernel"), watch's peak RSS, its share of tcpdump's packets, and the offline replay time
#    of the same file against the time tcpreplay needed to send it.
# 2. many targets: LISTENERS lab listeners (listen(3), never accepting, capacity 4) probed
#    with --plan quick in one command, all at once, against one of them alone; the wall-time
#    ratio and how many verdicts came out right.
#
# Environment: BUILD (default build/), PACKETS (default 1000000), PPS (default 100000),
# LISTENERS (default 64). A measurement, not a test: exits 0 unless it cannot run.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
LP=$BUILD/listenprobe
GENCAP=$BUILD/lp_gencap
PACKETS=${PACKETS:-1000000}
PPS=${PPS:-100000}
LISTENERS=${LISTENERS:-64}
export LAB=bench-live LAB_QUIET=1
LABSH=$ROOT/lab/lab.sh
SRV=lp-$LAB-srv CLI=lp-$LAB-cli
die() { echo "live_bench: $*" >&2; exit 2; }
[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
for t in tcpreplay tcpdump /usr/bin/time python3; do command -v "$t" >/dev/null || die "$t is not installed"; done
[[ -x $LP && -x $GENCAP ]] || die "build first ($LP, $GENCAP)"
WORK=$(mktemp -d /tmp/lp-live-bench.XXXXXX)
cleanup() { "$LABSH" down >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
"$LABSH" up >/dev/null || die "lab up failed"

echo "== 1. watch under tcpreplay: $PACKETS packets at $PPS packets/s"
"$GENCAP" -o "$WORK/mix.pcap" -n "$PACKETS" --mode mix --seed 7 2>"$WORK/gen.err" || die "lp_gencap: $(tail -1 "$WORK/gen.err")"
/usr/bin/time -f '%e %M' -o "$WORK/replay.time" "$LP" replay "$WORK/mix.pcap" --format json >/dev/null
read -r replay_s replay_kb <"$WORK/replay.time"
dur=$(awk -v n="$PACKETS" -v r="$PPS" 'BEGIN{printf "%d", n / r + 8}')
ip netns exec "$SRV" /usr/bin/time -f '%e %M' -o "$WORK/watch.time" \
    "$LP" watch -i veth0 --duration "$dur" --format jsonl >"$WORK/watch.jsonl" 2>"$WORK/watch.err" &
wpid=$!
ip netns exec "$SRV" tcpdump -i veth0 -nn -s 128 -B 4096 -w /dev/null tcp 2>"$WORK/tcpdump.err" &
tpid=$!
sleep 2
t0=$EPOCHREALTIME
ip netns exec "$CLI" tcpreplay -i veth0 --pps="$PPS" "$WORK/mix.pcap" >"$WORK/tcpreplay.out" 2>&1
t1=$EPOCHREALTIME
wait "$wpid"
kill -INT "$tpid" 2>/dev/null
wait "$tpid"
send_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')
read -r _ watch_kb <"$WORK/watch.time"
python3 - "$WORK/watch.jsonl" "$WORK/tcpdump.err" "$PACKETS" "$send_s" "$replay_s" "$replay_kb" "$watch_kb" <<'PY'
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
summ = [l for l in lines if l.get("type") == "summary"]
last = [l for l in lines if l.get("type") == "listener"]
packets = last[0]["source"]["packets"] if last else 0
dropped = max((s.get("capture_dropped", 0) for s in summ), default=0)
td = open(sys.argv[2]).read()
m_cap = re.search(r"(\d+) packets captured", td)
m_drop = re.search(r"(\d+) packets dropped by kernel", td)
tcap, tdrop = int(m_cap[1]) if m_cap else 0, int(m_drop[1]) if m_drop else 0
sent, send_s, replay_s = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(f"tcpreplay sent {sent} packets in {send_s:.2f} s ({sent / send_s:.0f}/s)")
print(f"tcpdump (reference): {tcap} captured, {tdrop} dropped by the kernel")
print(f"watch: {packets} captured, {dropped} dropped (pcap statistics), peak RSS {int(sys.argv[7]) // 1024} MB, "
      f"{len(last)} listeners reported")
if tcap:
    print(f"watch / tcpdump packets: {packets / tcap:.3f}")
print(f"offline replay of the same file: {replay_s:.2f} s ({sent / replay_s:.0f} packets/s, "
      f"{sent / replay_s / (sent / send_s):.1f}x the sending rate), peak RSS {int(sys.argv[6]) // 1024} MB")
PY

echo "== 2. $LISTENERS listeners probed at once against one alone"
for ((i = 0; i < LISTENERS; i++)); do "$LABSH" listen $((9000 + i)) 3 || die "listener $((9000 + i))"; done
for ((i = 0; i < LISTENERS; i++)); do echo "10.77.0.2:$((9000 + i))"; done >"$WORK/targets"
opts=(--plan quick --format jsonl --quiet --max-connections 4000 --rate 20000)
t0=$EPOCHREALTIME
ip netns exec "$CLI" "$LP" probe 10.77.0.2:9000 "${opts[@]}" >"$WORK/one.jsonl" 2>&1 || die "one target: $(tail -1 "$WORK/one.jsonl")"
t1=$EPOCHREALTIME
ip netns exec "$CLI" "$LP" probe --targets "$WORK/targets" --parallel "$LISTENERS" "${opts[@]}" >"$WORK/all.jsonl" 2>"$WORK/all.err"
t2=$EPOCHREALTIME
right=$(python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("type") == "listener"
          and json.loads(l)["listener"]["accept_queue"]["capacity"] == 4))' "$WORK/all.jsonl")
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$LISTENERS" -v r="$right" 'BEGIN{
    printf "one target alone (same rate and budget): %.1f s\n", b - a
    printf "%d targets at once: %.1f s, ratio %.2f; %d of %d capacities 4 (right)\n", n, c - b, (c - b) / (b - a), r, n }'
left=$(ip netns exec "$CLI" nft list tables 2>/dev/null | grep -c listenprobe)
echo "nftables tables left in the client namespace: $left"
