#!/usr/bin/env bash
# Replay benchmark: how fast does `listenprobe replay` read a capture, compared with a bare libpcap
# loop over the same file and with tshark extracting the same handshake facts; and does its memory
# stay flat on a big file whose connections all finish?
#
#   bench/run_bench.sh [PACKETS=10000000] [BIG=50000000]      (BIG=0 skips the big file)
#
# Environment:
#   BUILD            build directory holding lp_gencap, lp_bareloop, listenprobe (default: build/
#                    under the source tree; a relative path is taken from the current directory)
#   SEED             generator seed (default 1)
#   LINKTYPE         en10mb | linux_sll | linux_sll2 | raw (default en10mb)
#   TSHARK_PACKETS   packets tshark reads (default 200000; it needs 25-70 s per million here)
#   REPEAT           timed runs of the bare loop and replay on the main file; the fastest counts (default 3)
#   REPLAY_TIMEOUT   seconds one replay run may take (default 900)
#   REPLAY_MEM_MB    address-space limit of a replay run (default half the RAM, at most 8192)
#   LP_BENCH_CACHE   where generated captures are kept and reused (default /tmp/lp-bench)
#   LP_BENCH_NOCACHE=1  generate into a temporary directory and delete the files at the end
#
# This is a measurement, not a test: it always exits 0 unless it cannot run at all (missing tools).
set -uo pipefail

PACKETS=${1:-10000000}
BIG=${2:-50000000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "run_bench: build directory ${BUILD} not found (set BUILD=...)" >&2; exit 2; }
SEED=${SEED:-1}
LINKTYPE=${LINKTYPE:-en10mb}
TSHARK_PACKETS=${TSHARK_PACKETS:-200000}
REPEAT=${REPEAT:-3}
CACHE=${LP_BENCH_CACHE:-/tmp/lp-bench}
REPLAY_TIMEOUT=${REPLAY_TIMEOUT:-900}
REPLAY_MEM_MB=${REPLAY_MEM_MB:-$(awk '/MemTotal/ { m = int($2 / 2048); print (m < 8192 ? m : 8192) }' /proc/meminfo)}

# Targets.
TARGET_BARE_RATIO=1.5      # replay time <= 1.5 x bare loop time (same file)
TARGET_TSHARK_SPEEDUP=100  # replay >= 100 x faster than tshark per packet
TARGET_BIG_RSS_MB=100      # replay peak RSS < 100 MB on the big file

GENCAP=$BUILD/lp_gencap
BARELOOP=$BUILD/lp_bareloop
LISTENPROBE=$BUILD/listenprobe
TIME=/usr/bin/time

die() { echo "run_bench: $*" >&2; exit 2; }
[[ $PACKETS =~ ^[0-9]+$ && $PACKETS -gt 0 ]] || die "PACKETS must be a positive integer"
[[ $BIG =~ ^[0-9]+$ ]] || die "BIG must be a non-negative integer"
[[ $TSHARK_PACKETS =~ ^[0-9]+$ && $TSHARK_PACKETS -gt 0 ]] || die "TSHARK_PACKETS must be a positive integer"
[[ $REPEAT =~ ^[0-9]+$ && $REPEAT -gt 0 ]] || die "REPEAT must be a positive integer"
[[ $REPLAY_TIMEOUT =~ ^[0-9]+$ && $REPLAY_TIMEOUT -gt 0 ]] || die "REPLAY_TIMEOUT must be a positive integer"
[[ $REPLAY_MEM_MB =~ ^[0-9]+$ && $REPLAY_MEM_MB -gt 0 ]] || die "REPLAY_MEM_MB must be a positive integer"
[[ -x $GENCAP ]] || die "$GENCAP missing: build it first (cmake --build $BUILD --target lp_gencap)"
[[ -x $BARELOOP ]] || die "$BARELOOP missing: build it first (cmake --build $BUILD --target lp_bareloop)"
[[ -x $TIME ]] || die "$TIME missing (apt-get install time)"
(( TSHARK_PACKETS > PACKETS )) && TSHARK_PACKETS=$PACKETS

WORK=$(mktemp -d /tmp/lp-bench-run.XXXXXX)
if [[ ${LP_BENCH_NOCACHE:-0} == 1 ]]; then
    CACHE=$WORK/captures
fi
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$CACHE" || die "cannot create $CACHE"

FORMAT=$("$GENCAP" --version | tr '/' '-')

# ---- helpers ------------------------------------------------------------------------------------
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }                 # KB -> MB
gb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }                  # bytes -> GB
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "inf" }'; }
free_bytes() { df -B1 --output=avail "$1" | tail -1 | tr -d ' '; }

# gen_file MODE N -> sets GEN_PATH, GEN_NOTE; returns 1 if there is no room for it.
gen_file() {
    local mode=$1 n=$2
    local name="${FORMAT}-${mode}-n${n}-s${SEED}-${LINKTYPE}.pcap"
    GEN_PATH=$CACHE/$name
    if [[ -f $GEN_PATH && -f $GEN_PATH.done ]]; then
        GEN_NOTE="reused $(basename "$GEN_PATH") ($(gb "$(stat -c %s "$GEN_PATH")") GB)"
        return 0
    fi
    # ~110 bytes a packet at snap length 128; keep 1 GB spare.
    local need=$(( n * 120 + 1000000000 )) avail
    avail=$(free_bytes "$CACHE")
    if (( avail < need )); then
        GEN_NOTE="not enough disk for ${n} packets in ${CACHE}: need ~$(gb $need) GB, $(gb "$avail") GB free"
        return 1
    fi
    rm -f "$GEN_PATH" "$GEN_PATH.done"
    if ! $TIME -f '%e %M' -o "$WORK/gen.time" "$GENCAP" -o "$GEN_PATH.tmp" -n "$n" --seed "$SEED" \
            --linktype "$LINKTYPE" --mode "$mode" 2>"$WORK/gen.err"; then
        GEN_NOTE="lp_gencap failed: $(tail -1 "$WORK/gen.err")"
        rm -f "$GEN_PATH.tmp"
        return 1
    fi
    mv "$GEN_PATH.tmp" "$GEN_PATH" && touch "$GEN_PATH.done"
    local secs
    secs=$(tail -1 "$WORK/gen.time" | cut -d' ' -f1)
    GEN_NOTE="generated $(basename "$GEN_PATH"): ${n} packets in ${secs} s ($(rate "$n" "$secs") packets/s), $(gb "$(stat -c %s "$GEN_PATH")") GB"
    return 0
}

# measure REPS OUTFILE CMD... -> M_SEC (fastest run), M_RSS_KB (largest), M_RC (0, or the exit
# status of the first failed run, whose time and RSS are then reported). A run longer than 20 s is
# not repeated.
measure() {
    local reps=$1 out=$2
    shift 2
    M_SEC="" M_RSS_KB=0 M_RC=0
    local i rc s k
    for (( i = 0; i < reps; i++ )); do
        $TIME -f '%e %M' -o "$WORK/m.time" "$@" >"$out" 2>"$WORK/m.err"
        rc=$?
        read -r s k < <(tail -1 "$WORK/m.time")
        (( k > M_RSS_KB )) && M_RSS_KB=$k
        if (( rc != 0 )); then M_RC=$rc; M_SEC=$s; return; fi
        if [[ -z $M_SEC ]] || awk -v a="$s" -v b="$M_SEC" 'BEGIN { exit !(a < b) }'; then M_SEC=$s; fi
        awk -v a="$s" 'BEGIN { exit !(a > 20) }' && break
    done
}

# The replay runs under a time limit and an address-space limit, so that a slow or leaking build
# cannot take the host down; hitting either is reported (and is a MISS).
LIMITED=(bash -c 'ulimit -v "$0" && exec timeout -k 10 "$@"' "$(( REPLAY_MEM_MB * 1024 ))" "$REPLAY_TIMEOUT")
failure() {  # failure RC -> text
    case $1 in
        124|137) echo "stopped by the time limit (REPLAY_TIMEOUT=${REPLAY_TIMEOUT} s)";;
        *) echo "exit status $1: $(grep -v '^Command ' "$WORK/m.err" | head -1 | cut -c1-160)";;
    esac
}

warm() { cat "$1" >/dev/null; }  # timings are with the file in the page cache

# Table rows: tool packets seconds packets/s x-bare speedup-vs-tshark rss
ROWS=()
row() { ROWS+=("$(printf '%-28s %11s %9s %12s %9s %11s %9s' "$@")"); }
print_rows() {
    printf '%-28s %11s %9s %12s %9s %11s %9s\n' tool packets seconds packets/s "x bare" "vs tshark" "RSS MB"
    printf '%s\n' "${ROWS[@]}"
    ROWS=()
}
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v == "") { print "n/a"; exit }
    ok = (op == "<=") ? (v <= t) : (op == ">=") ? (v >= t) : (v < t); print ok ? "PASS" : "MISS" }'; }

# ---- header ---------------------------------------------------------------------------------
echo "listenprobe replay benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(awk '/MemTotal/ { printf "%.1f GB RAM", $2 / 1048576 }' /proc/meminfo)"
if awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
    echo "warning: the host is busy (load above CPU count): timings will be noisy"
fi
echo "build: $BUILD   captures: $CACHE ($(gb "$(free_bytes "$CACHE")") GB free)"
echo "generator: $FORMAT, seed $SEED, link type $LINKTYPE, snap length 128"
echo

# ---- main file ------------------------------------------------------------------------------
if ! gen_file mix "$PACKETS"; then
    echo "main file: $GEN_NOTE"
    echo "cannot run without the main file"
    exit 0
fi
MAIN=$GEN_PATH
echo "main file: $GEN_NOTE"
# The tshark subset: in mix mode the first K packets of the file are the K-packet file (same seed).
if (( TSHARK_PACKETS == PACKETS )); then
    SUB=$MAIN
else
    gen_file mix "$TSHARK_PACKETS" || { echo "tshark subset: $GEN_NOTE"; exit 0; }
    SUB=$GEN_PATH
    echo "tshark subset: $GEN_NOTE (the first $TSHARK_PACKETS packets of the main file)"
fi
echo

warm "$MAIN"
measure "$REPEAT" "$WORK/bare.out" "$BARELOOP" "$MAIN"
if (( M_RC != 0 )); then
    echo "lp_bareloop failed (rc=$M_RC): $(tail -1 "$WORK/m.err")"
    exit 0
fi
BARE_SEC=$M_SEC BARE_RSS=$M_RSS_KB
BARE_PKTS=$(sed -n 's/^packets=\([0-9]*\) .*/\1/p' "$WORK/bare.out")
[[ $BARE_PKTS == "$PACKETS" ]] || echo "warning: lp_bareloop counted ${BARE_PKTS:-?} packets, expected $PACKETS"
BARE_NS=$(awk -v s="$BARE_SEC" -v n="$PACKETS" 'BEGIN { print s / n * 1e9 }')  # ns per packet

# tshark on the subset: the same per-connection handshake facts.
TSHARK_NS="" TSHARK_SEC="" TSHARK_RSS=0
if command -v tshark >/dev/null; then
    warm "$SUB"
    measure 1 "$WORK/tshark.out" tshark -n -r "$SUB" -Y "tcp.flags.syn==1 || tcp.flags.reset==1" -T fields \
        -e frame.time_epoch -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport \
        -e tcp.flags -e tcp.seq_raw -e tcp.ack_raw
    if (( M_RC == 0 )); then
        TSHARK_SEC=$M_SEC TSHARK_RSS=$M_RSS_KB
        TSHARK_NS=$(awk -v s="$M_SEC" -v n="$TSHARK_PACKETS" 'BEGIN { print s / n * 1e9 }')
        TSHARK_LINES=$(wc -l <"$WORK/tshark.out")
    else
        echo "tshark failed (rc=$M_RC): $(tail -1 "$WORK/m.err")"
    fi
else
    echo "tshark not installed: its row is not available"
fi

# per_packet_cols PACKETS SECONDS -> "packets/s x-bare vs-tshark"
cols() {
    awk -v n="$1" -v s="$2" -v bare="$BARE_NS" -v ts="$TSHARK_NS" 'BEGIN {
        if (s <= 0) { print "- - -"; exit }  # below the 10 ms resolution of %e
        ns = s / n * 1e9
        printf "%.0f %s %s", n / s, (bare > 0 ? sprintf("%.2f", ns / bare) : "-"),
            (ts == "" ? "n/a" : sprintf("%.0fx", ts / ns)) }'
}

# Replay: available once `listenprobe replay FILE --format json` works on the subset.
REPLAY_STATUS="" REPLAY_SEC="" REPLAY_RSS=0 REPLAY_FAILED_SEC=""
if [[ ! -x $LISTENPROBE ]]; then
    REPLAY_STATUS="not available ($LISTENPROBE not built)"
else
    "${LIMITED[@]}" "$LISTENPROBE" replay "$SUB" --format json >"$WORK/replay-check.json" 2>"$WORK/replay-check.err"
    rc=$?
    if (( rc != 0 )); then
        REPLAY_STATUS="not available (replay exits $rc: $(head -c 200 "$WORK/replay-check.err" | head -1))"
    elif ! REPLAY_SUB_PACKETS=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert d.get("schema","").startswith("listenprobe/"); print(d.get("source",{}).get("packets"))' \
            "$WORK/replay-check.json" 2>/dev/null); then
        REPLAY_STATUS="not available (replay does not print listenprobe JSON yet)"
    else
        # A replay that stops early would look fast: check it read the whole subset.
        [[ $REPLAY_SUB_PACKETS == "$TSHARK_PACKETS" ]] ||
            echo "warning: replay reports source.packets=${REPLAY_SUB_PACKETS} for the ${TSHARK_PACKETS}-packet subset"
        warm "$MAIN"
        measure "$REPEAT" /dev/null "${LIMITED[@]}" "$LISTENPROBE" replay "$MAIN" --format json
        REPLAY_RSS=$M_RSS_KB
        if (( M_RC != 0 )); then
            REPLAY_STATUS="failed on the main file: $(failure "$M_RC") (after ${M_SEC} s, peak RSS $(mb "$M_RSS_KB") MB)"
            REPLAY_FAILED_SEC=$M_SEC
        else
            REPLAY_SEC=$M_SEC
        fi
    fi
fi

echo "== main file: ${PACKETS} packets, mode mix (warm page cache; fastest of up to ${REPEAT} runs)"
read -r pps xb vt < <(cols "$PACKETS" "$BARE_SEC")
row lp_bareloop "$PACKETS" "$BARE_SEC" "$pps" "$xb" "$vt" "$(mb "$BARE_RSS")"
if [[ -n $REPLAY_SEC ]]; then
    read -r pps xb vt < <(cols "$PACKETS" "$REPLAY_SEC")
    row "listenprobe replay" "$PACKETS" "$REPLAY_SEC" "$pps" "$xb" "$vt" "$(mb "$REPLAY_RSS")"
elif [[ -n $REPLAY_FAILED_SEC ]]; then
    row "listenprobe replay" "$PACKETS" "failed" - - - "$(mb "$REPLAY_RSS")"
else
    row "listenprobe replay" "$PACKETS" - - - - -
fi
if [[ -n $TSHARK_SEC ]]; then
    read -r pps xb vt < <(cols "$TSHARK_PACKETS" "$TSHARK_SEC")
    row "tshark (subset)" "$TSHARK_PACKETS" "$TSHARK_SEC" "$pps" "$xb" "1x" "$(mb "$TSHARK_RSS")"
else
    row "tshark (subset)" "$TSHARK_PACKETS" - - - - -
fi
print_rows
[[ -n $REPLAY_STATUS ]] && echo "listenprobe replay: $REPLAY_STATUS"
[[ -n $TSHARK_SEC ]] && echo "tshark printed ${TSHARK_LINES} SYN/RST lines for ${TSHARK_PACKETS} packets; its rate is scaled per packet"
echo

RATIO="" SPEEDUP=""
if [[ -n $REPLAY_SEC ]]; then
    RATIO=$(awk -v r="$REPLAY_SEC" -v b="$BARE_SEC" 'BEGIN { if (b > 0) printf "%.2f", r / b }')
    if [[ -n $TSHARK_NS ]]; then
        SPEEDUP=$(awk -v r="$REPLAY_SEC" -v n="$PACKETS" -v t="$TSHARK_NS" 'BEGIN { if (r > 0) printf "%.0f", t / (r / n * 1e9) }')
    fi
fi

# ---- big file -------------------------------------------------------------------------------
BIG_RSS="" BIG_FAILED=""
if (( BIG > 0 )); then
    echo "== big file: ${BIG} packets, mode complete-close (every connection completes and closes)"
    if gen_file complete-close "$BIG"; then
        BIGF=$GEN_PATH
        echo "big file: $GEN_NOTE"
        warm "$BIGF"
        measure 1 "$WORK/bigbare.out" "$BARELOOP" "$BIGF"
        M_BARE_BIG_RSS=$M_RSS_KB
        if (( M_RC == 0 )); then
            read -r pps xb vt < <(cols "$BIG" "$M_SEC")
            row lp_bareloop "$BIG" "$M_SEC" "$pps" "$xb" "$vt" "$(mb "$M_RSS_KB")"
        else
            row lp_bareloop "$BIG" "failed rc=$M_RC" - - - -
        fi
        if [[ -n $REPLAY_SEC || -n $REPLAY_FAILED_SEC ]]; then
            measure 1 /dev/null "${LIMITED[@]}" "$LISTENPROBE" replay "$BIGF" --format json
            BIG_RSS=$M_RSS_KB
            if (( M_RC == 0 )); then
                read -r pps xb vt < <(cols "$BIG" "$M_SEC")
                row "listenprobe replay" "$BIG" "$M_SEC" "$pps" "$xb" "$vt" "$(mb "$M_RSS_KB")"
            else
                BIG_FAILED="$(failure "$M_RC") after ${M_SEC} s"
                row "listenprobe replay" "$BIG" "failed" - - - "$(mb "$M_RSS_KB")"
            fi
        else
            row "listenprobe replay" "$BIG" - - - - -
        fi
        print_rows
        [[ -n $BIG_FAILED ]] && echo "listenprobe replay on the big file: $BIG_FAILED (peak RSS so far is shown)"
        [[ -n $BIG_RSS ]] &&
            echo "replay peak RSS: $(mb "$REPLAY_RSS") MB on ${PACKETS} packets (mix), $(mb "$BIG_RSS") MB on ${BIG} packets (complete-close); bare loop $(mb "$M_BARE_BIG_RSS") MB"
    else
        echo "big file skipped: $GEN_NOTE"
    fi
    echo
fi

# ---- targets --------------------------------------------------------------------------------
# A failed or stopped replay is a MISS; a replay that never ran is n/a.
target() {  # target TEXT VALUE UNIT LIMIT OP FAILED
    local text=$1 value=$2 unit=$3 limit=$4 op=$5 failed=$6 shown verdict_text
    if [[ -n $value ]]; then
        shown="${value}${unit}"
        verdict_text=$(verdict "$value" "$limit" "$op")
        [[ -n $failed ]] && { shown="${shown} (run failed)"; verdict_text=MISS; }
    elif [[ -n $failed ]]; then
        shown="run failed" verdict_text=MISS
    else
        shown="n/a" verdict_text="n/a"
    fi
    printf '%-62s %-22s %s\n' "$text" "$shown" "$verdict_text"
}
echo "== targets"
printf '%-62s %-22s %s\n' target result verdict
target "replay time <= ${TARGET_BARE_RATIO}x bare loop (${PACKETS} packets)" "$RATIO" x "$TARGET_BARE_RATIO" "<=" "$REPLAY_FAILED_SEC"
target "replay >= ${TARGET_TSHARK_SPEEDUP}x faster than tshark per packet" "$SPEEDUP" x "$TARGET_TSHARK_SPEEDUP" ">=" "$REPLAY_FAILED_SEC"
BIG_MB=""
[[ -n $BIG_RSS ]] && BIG_MB=$(mb "$BIG_RSS")
target "replay peak RSS < ${TARGET_BIG_RSS_MB} MB ($( (( BIG > 0 )) && echo "${BIG} packets, complete-close" || echo "big file skipped"))" "$BIG_MB" " MB" "$TARGET_BIG_RSS_MB" "<" "$BIG_FAILED"
exit 0
