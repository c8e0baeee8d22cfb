#!/usr/bin/env bash
# Every committed capture gets a timeline in all three forms; every SVG is
# well-formed (xmllint); the SVG of a lab capture renders in headless Chromium
# to a picture that is not blank (tests/render_svg.sh).
set -euo pipefail
BIN=$1 CAPS=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0
for f in "$CAPS"/*.pcap "$CAPS"/*.txt; do
    [[ $f == */README* ]] && continue
    name=$(basename "$f")
    for ext in svg txt json; do
        "$BIN" timeline "$f" -o "$out/$name.$ext"
        [[ -s $out/$name.$ext ]] || { echo "FAIL $name.$ext is empty"; exit 1; }
    done
    xmllint --noout "$out/$name.svg" || { echo "FAIL $name.svg is not well-formed"; exit 1; }
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['connections'], 'no connections'" "$out/$name.json"
    grep -q "SYN" "$out/$name.txt" || { echo "FAIL $name.txt has no SYN"; exit 1; }
    n=$((n + 1))
done
bash "$ROOT/tests/render_svg.sh" "$out/lab-overflow-drop.pcap.svg" "$out/overflow.png" 1400,900
echo "$n passed, 0 failed"
