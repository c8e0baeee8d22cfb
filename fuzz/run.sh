#!/usr/bin/env bash
# Runs every libFuzzer target for FUZZ_SECONDS (default 60) each, one after the other.
#
#   FUZZ_DIR      build directory with the fuzz_* binaries (default: build-fuzz; build it with
#                 make -f Makefile.helpers fuzz, or CC=clang CXX=clang++ cmake -B build-fuzz
#                 -DLP_FUZZ=ON -DLP_SANITIZE=ON && cmake --build build-fuzz)
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  which targets (default: fuzz_decode fuzz_tcpdump_text fuzz_replay)
#
# Corpus of each target: a working corpus under $FUZZ_DIR/fuzz-work/<target>/corpus (kept
# between runs, grows), seeded from fuzz/corpus/<target>/ (committed seeds and regression
# inputs) and from captures/ (fuzz_replay: the files; fuzz_tcpdump_text: the .txt files;
# fuzz_decode: every frame of the .pcap files). Dictionaries: fuzz/corpus/<target>.dict.
#
# A crash, leak, timeout or out-of-memory input is written to fuzz/crashes/<target>-*; the
# script goes on with the other targets, prints a summary (runs, executions per second, new
# crash files) and exits 1 if any target failed or left a crash input. Reproduce one with
#   $FUZZ_DIR/<target> fuzz/crashes/<file>
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ_DIR=${FUZZ_DIR:-$ROOT/build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-"fuzz_decode fuzz_tcpdump_text fuzz_replay"}
CRASHES=$ROOT/fuzz/crashes
WORK=$FUZZ_DIR/fuzz-work

[[ $FUZZ_SECONDS =~ ^[0-9]+$ && $FUZZ_SECONDS -gt 0 ]] || { echo "fuzz: FUZZ_SECONDS must be a positive integer" >&2; exit 2; }
mkdir -p "$CRASHES" "$WORK"

# Seeds made from captures/ (regenerated each run; small).
make_capture_seeds() {
    local target=$1 out=$2
    rm -rf "$out"
    mkdir -p "$out"
    case $target in
    fuzz_replay)
        find "$ROOT/captures" -maxdepth 1 -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.txt' \) \
            -exec cp -t "$out" {} +
        ;;
    fuzz_tcpdump_text)
        local f
        for f in "$ROOT"/captures/*.txt; do
            [[ -e $f ]] || continue
            { printf '\x10'; cat "$f"; } >"$out/$(basename "$f")"  # first byte: 128 bytes come as the prefix
        done
        ;;
    fuzz_decode)
        python3 - "$ROOT/captures" "$out" <<'PY'
import struct, sys
from pathlib import Path
# index into kLinkTypes of fuzz_decode.cpp, by the DLT a pcap file declares
INDEX = {0: 0, 1: 1, 12: 2, 101: 2, 14: 3, 108: 4, 113: 5, 228: 6, 229: 7, 276: 8}
src, out = Path(sys.argv[1]), Path(sys.argv[2])
seen = set()
for p in sorted(src.glob("*.pcap")):
    b = p.read_bytes()
    if len(b) < 24:
        continue
    magic = struct.unpack("<I", b[:4])[0]
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(e + "I", b[20:24])[0] & 0xFFFF
    if link not in INDEX:
        continue
    off = 24
    while off + 16 <= len(b):
        caplen = struct.unpack(e + "I", b[off + 8:off + 12])[0]
        frame = b[off + 16:off + 16 + caplen]
        off += 16 + caplen
        key = bytes([INDEX[link]]) + frame
        if key not in seen:
            seen.add(key)
            (out / f"{p.stem}-{len(seen):04d}").write_bytes(key)
PY
        ;;
    esac
}

declare -A RUNS EPS STATUS NEW_CRASHES
failed=0
t_all=$SECONDS
for target in $FUZZ_TARGETS; do
    bin=$FUZZ_DIR/$target
    if [[ ! -x $bin ]]; then
        echo "fuzz: $bin is not built (make -f Makefile.helpers fuzz)" >&2
        STATUS[$target]="not built"
        failed=1
        continue
    fi
    corpus=$WORK/$target/corpus
    seeds=$WORK/$target/capture-seeds
    log=$WORK/$target/last.log
    mkdir -p "$corpus"
    make_capture_seeds "$target" "$seeds"
    seed_dirs=("$seeds")
    [[ -d $ROOT/fuzz/corpus/$target ]] && seed_dirs+=("$ROOT/fuzz/corpus/$target")
    dict=()
    [[ -f $ROOT/fuzz/corpus/$target.dict ]] && dict=(-dict="$ROOT/fuzz/corpus/$target.dict")
    max_len=()
    [[ $target == fuzz_tcpdump_text ]] && max_len=(-max_len=16384)
    [[ $target == fuzz_replay ]] && max_len=(-max_len=16384)
    before=$(find "$CRASHES" -maxdepth 1 -type f -name "$target-*" | wc -l)
    echo "=== $target: ${FUZZ_SECONDS}s, corpus $corpus ($(find "$corpus" -type f | wc -l) inputs) + seeds" \
        "$(find "${seed_dirs[@]}" -type f | wc -l)"
    rc=0
    # The first directory receives new inputs; the seed directories are only read.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$CRASHES/$target-" "${dict[@]}" "${max_len[@]}" \
        "$corpus" "${seed_dirs[@]}" >"$log" 2>&1 || rc=$?
    after=$(find "$CRASHES" -maxdepth 1 -type f -name "$target-*" | wc -l)
    RUNS[$target]=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    EPS[$target]=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -1)
    NEW_CRASHES[$target]=$((after - before))
    if [[ $rc != 0 || $after != "$before" ]]; then
        STATUS[$target]="FAIL (exit $rc)"
        failed=1
        echo "--- $target failed (exit $rc); the end of its log ($log):"
        grep -E "ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==" "$log" | head -20 || true
        tail -n 30 "$log"
    else
        STATUS[$target]=ok
    fi
done

echo
printf '%-20s %-16s %12s %10s %8s\n' target result runs "exec/s" crashes
for target in $FUZZ_TARGETS; do
    printf '%-20s %-16s %12s %10s %8s\n' "$target" "${STATUS[$target]}" "${RUNS[$target]:--}" "${EPS[$target]:--}" \
        "${NEW_CRASHES[$target]:--}"
done
echo "total $((SECONDS - t_all)) s; crash inputs: $CRASHES ($(find "$CRASHES" -maxdepth 1 -type f ! -name ".*" | wc -l) files)"
# Crash inputs found earlier and not yet turned into regression seeds also fail the run.
if [[ $(find "$CRASHES" -maxdepth 1 -type f ! -name ".*" | wc -l) -gt 0 ]]; then
    echo "fuzz: crash inputs in $CRASHES; fix them, move each to fuzz/corpus/<target>/ as a regression seed" >&2
    failed=1
fi
exit $failed
