#!/usr/bin/env bash
# Replay benchmark: how fast does `listenprobe replay` read a capture, compared with a bare libpcap
# loop over the same file and with tshark extracting the same handshake facts; and how much memory
# does it need?
#
#   bench/run_bench.sh [FILE...]          FILE = MODE-COUNT, e.g. never-close-8M mix-10M mix-500k
#   FILES="never-close-8M mix-10M" bench/run_bench.sh
#
# MODE is an lp_gencap mode (mix, complete-close, never-close), COUNT a packet count with an optional
# k or M suffix. Default: mix-10M complete-close-50M never-close-8M never-close-50M.
#
# Environment:
#   FILES            the files to measure, as above (arguments take precedence)
#   BUILD            build directory holding lp_gencap, lp_bareloop, listenprobe (default: build/
#                    under the source tree; a relative path is taken from the current directory)
#   SEED             generator seed (default 1)
#   LINKTYPE         en10mb | linux_sll | linux_sll2 | raw (default en10mb)
#   TSHARK_PACKETS   packets tshark reads, per mode (default 200000; it needs 25-70 s per million here)
#   REPEAT           timed runs of the bare loop and of replay on each file; the fastest counts
#                    (default 3; a run over 20 s is not repeated)
#   REPLAY_TIMEOUT   seconds one replay run may take (default 900)
#   REPLAY_MEM_MB    address-space limit of a replay run (default half the RAM, at most 8192)
#   BASE_MIX_RATIO, BASE_COMPLETE_CLOSE_RATIO
#                    the recorded "x bare" of the analyzer before the core rewrite (default 4.12 and
#                    2.28, docs/performance.md); a replay more than 10 % worse is a MISS
#   LP_BENCH_CACHE   where generated captures are kept and reused (default /tmp/lp-bench)
#   LP_BENCH_NOCACHE=1  generate into a temporary directory and delete the files at the end
#
# This is a measurement, not a test: it always exits 0 unless it cannot run at all (missing tools,
# bad arguments).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "run_bench: build directory ${BUILD} not found (set BUILD=...)" >&2; exit 2; }
if (( $# > 0 )); then FILES="$*"; fi
FILES=${FILES:-mix-10M complete-close-50M never-close-8M never-close-50M}
SEED=${SEED:-1}
LINKTYPE=${LINKTYPE:-en10mb}
TSHARK_PACKETS=${TSHARK_PACKETS:-200000}
REPEAT=${REPEAT:-3}
CACHE=${LP_BENCH_CACHE:-/tmp/lp-bench}
REPLAY_TIMEOUT=${REPLAY_TIMEOUT:-900}
REPLAY_MEM_MB=${REPLAY_MEM_MB:-$(awk '/MemTotal/ { m = int($2 / 2048); print (m < 8192 ? m : 8192) }' /proc/meminfo)}
BASE_MIX_RATIO=${BASE_MIX_RATIO:-4.12}
BASE_COMPLETE_CLOSE_RATIO=${BASE_COMPLETE_CLOSE_RATIO:-2.28}

# Targets.
NC_RATIO=2.0            # never-close: replay time <= 2.0 x bare loop time (same file) ...
NC_RATIO_GOAL=1.5       # ... and the goal, 1.5 x
NC_RSS_MB=150           # never-close: peak RSS <= 150 MB on every never-close file ...
NC_FLAT=1.2             # ... and flat: largest never-close file's RSS / smallest's <= 1.2
TSHARK_SPEEDUP=100      # never-close: replay >= 100 x faster than tshark per packet
REGRESSION=1.10         # mix, complete-close: x bare at most 10 % above the recorded ratio
CC_RSS_MB=100           # complete-close: peak RSS < 100 MB (the earlier flat-memory target)

GENCAP=$BUILD/lp_gencap
BARELOOP=$BUILD/lp_bareloop
LISTENPROBE=$BUILD/listenprobe
TIME=/usr/bin/time

die() { echo "run_bench: $*" >&2; exit 2; }
num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
[[ $TSHARK_PACKETS =~ ^[0-9]+$ && $TSHARK_PACKETS -gt 0 ]] || die "TSHARK_PACKETS must be a positive integer"
[[ $REPEAT =~ ^[0-9]+$ && $REPEAT -gt 0 ]] || die "REPEAT must be a positive integer"
[[ $REPLAY_TIMEOUT =~ ^[0-9]+$ && $REPLAY_TIMEOUT -gt 0 ]] || die "REPLAY_TIMEOUT must be a positive integer"
[[ $REPLAY_MEM_MB =~ ^[0-9]+$ && $REPLAY_MEM_MB -gt 0 ]] || die "REPLAY_MEM_MB must be a positive integer"
num "$BASE_MIX_RATIO" && num "$BASE_COMPLETE_CLOSE_RATIO" || die "BASE_*_RATIO must be numbers"
[[ -x $GENCAP ]] || die "$GENCAP missing: build it first (cmake --build $BUILD --target lp_gencap)"
[[ -x $BARELOOP ]] || die "$BARELOOP missing: build it first (cmake --build $BUILD --target lp_bareloop)"
[[ -x $TIME ]] || die "$TIME missing (make -f Makefile.helpers deps)"

# FILES -> parallel arrays F_LABEL F_MODE F_N.
F_LABEL=() F_MODE=() F_N=()
file_re='^(mix|complete-close|never-close)-([0-9]+)([kKM]?)$'
for f in $FILES; do
    [[ $f =~ $file_re ]] ||
        die "bad file '$f': want MODE-COUNT, MODE one of mix, complete-close, never-close, e.g. never-close-8M"
    n=${BASH_REMATCH[2]}
    case ${BASH_REMATCH[3]} in k|K) n=$(( n * 1000 ));; M) n=$(( n * 1000000 ));; esac
    (( n > 0 )) || die "bad file '$f': no packets"
    F_LABEL+=("$f") F_MODE+=("${BASH_REMATCH[1]}") F_N+=("$n")
done
(( ${#F_LABEL[@]} > 0 )) || die "no files to measure"

WORK=$(mktemp -d /tmp/lp-bench-run.XXXXXX)
if [[ ${LP_BENCH_NOCACHE:-0} == 1 ]]; then
    CACHE=$WORK/captures
fi
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$CACHE" || die "cannot create $CACHE"

FORMAT=$("$GENCAP" --version | tr '/' '-')
START=$(date +%s)

# ---- helpers ------------------------------------------------------------------------------------
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }                 # KB -> MB
gb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }                  # bytes -> GB
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "inf" }'; }
free_bytes() { df -B1 --output=avail "$1" | tail -1 | tr -d ' '; }
say() { echo "[$(( $(date +%s) - START )) s, load $(cut -d" " -f1 /proc/loadavg)] $*"; }  # progress

# gen_file MODE N -> sets GEN_PATH, GEN_NOTE; returns 1 if there is no room for it or it failed.
gen_file() {
    local mode=$1 n=$2
    local name="${FORMAT}-${mode}-n${n}-s${SEED}-${LINKTYPE}.pcap"
    GEN_PATH=$CACHE/$name
    if [[ -f $GEN_PATH && -f $GEN_PATH.done ]]; then
        GEN_NOTE="reused $(basename "$GEN_PATH") ($(gb "$(stat -c %s "$GEN_PATH")") GB)"
        return 0
    fi
    # ~90-110 bytes a packet at snap length 128; keep 1 GB spare.
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
        [[ $k =~ ^[0-9]+$ ]] || k=0
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
        *) local msg
           msg=$(grep -v '^Command ' "$WORK/m.err" | head -1 | cut -c1-120)
           if grep -qiE 'bad_alloc|cannot allocate|out of memory' "$WORK/m.err"; then
               echo "out of memory under the limit (REPLAY_MEM_MB=${REPLAY_MEM_MB}): exit status $1: $msg"
           else
               echo "exit status $1: $msg"
           fi;;
    esac
}

warm() { cat "$1" >/dev/null; }  # timings are with the file in the page cache

# awk arithmetic on possibly empty values: calc EXPR VAR=VALUE... -> result or "" if any value is empty
calc() {
    local expr=$1
    shift
    local a args=()
    for a in "$@"; do [[ -n ${a#*=} ]] || return 0; args+=(-v "$a"); done
    awk "${args[@]}" "BEGIN { $expr }"
}

# ---- header ---------------------------------------------------------------------------------
echo "listenprobe replay benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(awk '/MemTotal/ { printf "%.1f GB RAM", $2 / 1048576 }' /proc/meminfo)"
if awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
    echo "warning: the host is busy (load above CPU count): timings will be noisy"
fi
echo "build: $BUILD   captures: $CACHE ($(gb "$(free_bytes "$CACHE")") GB free)"
echo "generator: $FORMAT, seed $SEED, link type $LINKTYPE, snap length 128"
echo "files: ${F_LABEL[*]}; REPEAT=$REPEAT, replay limits ${REPLAY_TIMEOUT} s and ${REPLAY_MEM_MB} MB of address space"
echo

# ---- per mode: the tshark subset, tshark, and the check that replay reads it whole --------------
# In mix and never-close mode the first K packets of an N-packet file are the K-packet file (same
# seed), so the subset is the start of the measured files; a complete-close file of K packets is a
# smaller file of the same shape.
declare -A TS_NS TS_SEC TS_RSS TS_PKTS TS_NOTE REPLAY_OK REPLAY_NOTE
have_tshark=0
command -v tshark >/dev/null && have_tshark=1
for mode in $(printf '%s\n' "${F_MODE[@]}" | awk '!seen[$0]++'); do
    sub_n=$TSHARK_PACKETS
    if ! gen_file "$mode" "$sub_n"; then
        TS_NOTE[$mode]="no subset: $GEN_NOTE"
        REPLAY_NOTE[$mode]="not checked (no subset: $GEN_NOTE)"
        say "$mode subset: $GEN_NOTE"
        continue
    fi
    SUB=$GEN_PATH
    say "$mode subset: $GEN_NOTE"
    TS_PKTS[$mode]=$sub_n
    if (( have_tshark )); then
        warm "$SUB"
        measure 1 "$WORK/tshark.out" tshark -n -r "$SUB" -Y "tcp.flags.syn==1 || tcp.flags.reset==1" -T fields \
            -e frame.time_epoch -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport \
            -e tcp.flags -e tcp.seq_raw -e tcp.ack_raw
        if (( M_RC == 0 )); then
            TS_SEC[$mode]=$M_SEC TS_RSS[$mode]=$M_RSS_KB
            TS_NS[$mode]=$(calc 'print s / n * 1e9' s="$M_SEC" n="$sub_n")
            TS_NOTE[$mode]="tshark printed $(wc -l <"$WORK/tshark.out") SYN/RST lines for ${sub_n} packets in ${M_SEC} s"
        else
            TS_NOTE[$mode]="tshark failed (rc=$M_RC): $(tail -1 "$WORK/m.err")"
        fi
        say "$mode: ${TS_NOTE[$mode]}"
    else
        TS_NOTE[$mode]="tshark not installed"
    fi
    # Replay is measured once `listenprobe replay FILE --format json` prints listenprobe JSON that
    # counts every packet of the subset (a replay that stopped early would look fast).
    if [[ ! -x $LISTENPROBE ]]; then
        REPLAY_NOTE[$mode]="not available ($LISTENPROBE not built)"
        continue
    fi
    "${LIMITED[@]}" "$LISTENPROBE" replay "$SUB" --format json >"$WORK/replay-check.json" 2>"$WORK/replay-check.err"
    rc=$?
    if (( rc != 0 )); then
        REPLAY_NOTE[$mode]="not available (replay exits $rc on the ${sub_n}-packet subset: $(head -1 "$WORK/replay-check.err" | cut -c1-160))"
    elif ! got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert d.get("schema","").startswith("listenprobe/"); print(d.get("source",{}).get("packets"))' \
            "$WORK/replay-check.json" 2>/dev/null); then
        REPLAY_NOTE[$mode]="not available (replay does not print listenprobe JSON)"
    else
        REPLAY_OK[$mode]=1
        [[ $got == "$sub_n" ]] ||
            REPLAY_NOTE[$mode]="warning: replay reports source.packets=${got} for the ${sub_n}-packet ${mode} subset"
    fi
    [[ -n ${REPLAY_NOTE[$mode]:-} ]] && say "$mode: replay ${REPLAY_NOTE[$mode]}"
done

# ---- per file: generate, bare loop, replay ------------------------------------------------------
# Results, by file index: B_SEC/B_RSS (bare), R_SEC/R_RSS (replay), R_FAIL (why it failed), SKIP.
declare -A B_SEC B_RSS R_SEC R_RSS R_FAIL SKIP
for i in "${!F_LABEL[@]}"; do
    label=${F_LABEL[$i]} mode=${F_MODE[$i]} n=${F_N[$i]}
    if ! gen_file "$mode" "$n"; then
        SKIP[$i]=$GEN_NOTE
        say "$label: skipped: $GEN_NOTE"
        continue
    fi
    F=$GEN_PATH
    say "$label: $GEN_NOTE"
    warm "$F"
    measure "$REPEAT" "$WORK/bare.out" "$BARELOOP" "$F"
    if (( M_RC != 0 )); then
        SKIP[$i]="lp_bareloop failed (rc=$M_RC): $(tail -1 "$WORK/m.err")"
        say "$label: ${SKIP[$i]}"
        continue
    fi
    B_SEC[$i]=$M_SEC B_RSS[$i]=$M_RSS_KB
    got=$(sed -n 's/^packets=\([0-9]*\) .*/\1/p' "$WORK/bare.out")
    [[ $got == "$n" ]] || say "warning: lp_bareloop counted ${got:-?} packets in $label, expected $n"
    say "$label: lp_bareloop ${M_SEC} s"
    [[ -n ${REPLAY_OK[$mode]:-} ]] || continue
    warm "$F"
    measure "$REPEAT" /dev/null "${LIMITED[@]}" "$LISTENPROBE" replay "$F" --format json
    R_RSS[$i]=$M_RSS_KB
    if (( M_RC != 0 )); then
        R_FAIL[$i]="$(failure "$M_RC") after ${M_SEC} s, peak RSS $(mb "$M_RSS_KB") MB"
        say "$label: replay failed: ${R_FAIL[$i]}"
    else
        R_SEC[$i]=$M_SEC
        say "$label: listenprobe replay ${M_SEC} s, $(mb "$M_RSS_KB") MB"
    fi
done
echo

# ---- the table ----------------------------------------------------------------------------------
# cols PACKETS SECONDS BARE_NS TSHARK_NS -> "packets/s x-bare vs-tshark"
cols() {
    awk -v n="$1" -v s="$2" -v bare="$3" -v ts="$4" 'BEGIN {
        if (s <= 0) { print "- - -"; exit }  # below the 10 ms resolution of %e
        ns = s / n * 1e9
        printf "%.0f %s %s", n / s, (bare > 0 ? sprintf("%.2f", ns / bare) : "-"),
            (ts == "" ? "n/a" : sprintf("%.0fx", ts / ns)) }'
}
FMT='%-19s %-19s %11s %8s %11s %7s %10s %8s\n'
echo "== results (warm page cache; fastest of up to ${REPEAT} runs; x bare = time per packet / lp_bareloop's on the same file)"
printf "$FMT" file tool packets seconds packets/s "x bare" "vs tshark" "RSS MB"
declare -A RATIO SPEEDUP
for i in "${!F_LABEL[@]}"; do
    label=${F_LABEL[$i]} mode=${F_MODE[$i]} n=${F_N[$i]}
    if [[ -n ${SKIP[$i]:-} ]]; then
        printf "$FMT" "$label" "(skipped)" "$n" - - - - -
        continue
    fi
    bare_ns=$(calc 'print s / n * 1e9' s="${B_SEC[$i]}" n="$n")
    read -r pps xb vt < <(cols "$n" "${B_SEC[$i]}" "$bare_ns" "${TS_NS[$mode]:-}")
    printf "$FMT" "$label" lp_bareloop "$n" "${B_SEC[$i]}" "$pps" "$xb" "$vt" "$(mb "${B_RSS[$i]}")"
    if [[ -n ${R_SEC[$i]:-} ]]; then
        read -r pps xb vt < <(cols "$n" "${R_SEC[$i]}" "$bare_ns" "${TS_NS[$mode]:-}")
        printf "$FMT" "" "listenprobe replay" "$n" "${R_SEC[$i]}" "$pps" "$xb" "$vt" "$(mb "${R_RSS[$i]}")"
        RATIO[$i]=$(calc 'if (b > 0) printf "%.2f", r / b' r="${R_SEC[$i]}" b="${B_SEC[$i]}")
        [[ -n ${TS_NS[$mode]:-} ]] &&
            SPEEDUP[$i]=$(calc 'if (r > 0) printf "%.0f", t / (r / n * 1e9)' r="${R_SEC[$i]}" n="$n" t="${TS_NS[$mode]}")
    elif [[ -n ${R_FAIL[$i]:-} ]]; then
        printf "$FMT" "" "listenprobe replay" "$n" failed - - - "$(mb "${R_RSS[$i]}")"
    else
        printf "$FMT" "" "listenprobe replay" "$n" - - - - -
    fi
done
MODES=$(printf '%s\n' "${F_MODE[@]}" | awk '!seen[$0]++')
for mode in $MODES; do
    [[ -n ${TS_SEC[$mode]:-} ]] || continue
    printf "$FMT" "$mode-$(( ${TS_PKTS[$mode]} / 1000 ))k" "tshark (subset)" "${TS_PKTS[$mode]}" "${TS_SEC[$mode]}" \
        "$(rate "${TS_PKTS[$mode]}" "${TS_SEC[$mode]}")" - 1x "$(mb "${TS_RSS[$mode]}")"
done
for i in "${!F_LABEL[@]}"; do
    [[ -n ${SKIP[$i]:-} ]] && echo "${F_LABEL[$i]}: skipped: ${SKIP[$i]}"
    [[ -n ${R_FAIL[$i]:-} ]] && echo "${F_LABEL[$i]}: replay failed: ${R_FAIL[$i]} (counts as MISS)"
done
for mode in $MODES; do
    [[ -n ${TS_NOTE[$mode]:-} ]] && echo "$mode: ${TS_NOTE[$mode]}; vs tshark is per packet"
    [[ -n ${REPLAY_NOTE[$mode]:-} ]] && echo "$mode: replay ${REPLAY_NOTE[$mode]}"
done
echo

# ---- targets --------------------------------------------------------------------------------
# A failed or stopped replay is a MISS; a replay that never ran (not available, file skipped) is n/a.
TFMT='%-70s %-24s %s\n'
target() {  # target TEXT VALUE UNIT LIMIT OP FAILED
    local text=$1 value=$2 unit=$3 limit=$4 op=$5 failed=$6 shown v
    if [[ -n $value ]]; then
        shown="${value}${unit}"
        v=$(awk -v v="$value" -v t="$limit" -v op="$op" 'BEGIN {
            ok = (op == "<=") ? (v <= t) : (op == ">=") ? (v >= t) : (v < t); print ok ? "PASS" : "MISS" }')
        [[ -n $failed ]] && { shown="${shown} (run failed)"; v=MISS; }
    elif [[ -n $failed ]]; then
        shown="run failed" v=MISS
    else
        shown="n/a" v="n/a"
    fi
    printf "$TFMT" "$text" "$shown" "$v"
}
echo "== targets"
printf "$TFMT" target result verdict
NC_FIRST="" NC_LAST=""   # the smallest and the largest never-close file measured
for i in "${!F_LABEL[@]}"; do
    label=${F_LABEL[$i]} mode=${F_MODE[$i]} n=${F_N[$i]}
    fail=${R_FAIL[$i]:+failed}
    rss=""
    [[ -n ${R_SEC[$i]:-} || -n ${R_FAIL[$i]:-} ]] && rss=$(mb "${R_RSS[$i]}")
    if [[ -n ${SKIP[$i]:-} ]]; then
        printf "$TFMT" "$label: every target (file skipped)" "n/a" "n/a"
        continue
    fi
    case $mode in
    never-close)
        target "$label: replay <= ${NC_RATIO}x bare loop" "${RATIO[$i]:-}" x "$NC_RATIO" "<=" "$fail"
        target "$label: replay <= ${NC_RATIO_GOAL}x bare loop (goal)" "${RATIO[$i]:-}" x "$NC_RATIO_GOAL" "<=" "$fail"
        target "$label: replay peak RSS <= ${NC_RSS_MB} MB" "$rss" " MB" "$NC_RSS_MB" "<=" "$fail"
        target "$label: replay >= ${TSHARK_SPEEDUP}x faster than tshark per packet" "${SPEEDUP[$i]:-}" x "$TSHARK_SPEEDUP" ">=" "$fail"
        [[ -z $NC_FIRST ]] || (( n < F_N[NC_FIRST] )) && NC_FIRST=$i
        [[ -z $NC_LAST ]] || (( n > F_N[NC_LAST] )) && NC_LAST=$i
        ;;
    mix|complete-close)
        if [[ $mode == mix ]]; then base=$BASE_MIX_RATIO; else base=$BASE_COMPLETE_CLOSE_RATIO; fi
        lim=$(calc 'printf "%.2f", b * f' b="$base" f="$REGRESSION")
        target "$label: replay <= ${lim}x bare (recorded ${base}x + 10 %)" "${RATIO[$i]:-}" x "$lim" "<=" "$fail"
        [[ $mode == complete-close ]] &&
            target "$label: replay peak RSS < ${CC_RSS_MB} MB" "$rss" " MB" "$CC_RSS_MB" "<" "$fail"
        ;;
    esac
done
# Flat memory: the largest never-close file against the smallest (a failed run's RSS is a lower bound).
if [[ -n $NC_FIRST && -n $NC_LAST && $NC_FIRST != "$NC_LAST" ]]; then
    a=$NC_FIRST b=$NC_LAST flat="" fail=""
    [[ -n ${R_FAIL[$a]:-} || -n ${R_FAIL[$b]:-} ]] && fail=failed
    if [[ -n ${R_SEC[$a]:-}${R_FAIL[$a]:-} && -n ${R_SEC[$b]:-}${R_FAIL[$b]:-} ]]; then
        flat=$(calc 'if (a > 0) printf "%.2f", b / a' a="${R_RSS[$a]}" b="${R_RSS[$b]}")
    fi
    target "never-close flat: RSS ${F_LABEL[$b]} / ${F_LABEL[$a]} <= ${NC_FLAT}" "$flat" "" "$NC_FLAT" "<=" "$fail"
    (( F_N[a] < 6400000 )) &&
        echo "note: ${F_LABEL[$a]} ends before 64 s of capture time (about 6.4M packets): its connections are still growing"
elif printf '%s\n' "${F_MODE[@]}" | grep -qx never-close; then
    printf "$TFMT" "never-close flat: needs two never-close files" "n/a" "n/a"
fi
echo
echo "bench: $(( $(date +%s) - START )) s in all; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
    echo "warning: the host was busy at the end (load above CPU count): timings may be noisy"
fi
exit 0
