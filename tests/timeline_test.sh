#!/usr/bin/env bash
# Every committed capture gets a timeline in all three forms; every SVG is
# well-formed (xmllint); the SVG of a lab capture renders in headless Chromium
# to a picture that is not blank (tests/render_svg.sh). --chart adds the per-second
# chart under the lanes, with one shaded stretch per overflow episode.
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
    # --chart: the lanes and the per-second chart in one well-formed SVG, an episode shaded
    # for every episode the JSON report lists
    "$BIN" timeline "$f" --chart "$out/$name.chart.svg"
    xmllint --noout "$out/$name.chart.svg" || { echo "FAIL $name.chart.svg is not well-formed"; exit 1; }
    want=$("$BIN" replay "$f" --format json | python3 -c "import json,sys; print(len(json.load(sys.stdin)['listeners'][0]['episodes']))")
    got=$(grep -c 'class="episode"' "$out/$name.chart.svg" || true)
    [[ $want == "$got" ]] || { echo "FAIL $name.chart.svg shades $got episode(s), the report lists $want"; exit 1; }
    n=$((n + 1))
done
bash "$ROOT/tests/render_svg.sh" "$out/lab-overflow-drop.pcap.svg" "$out/overflow.png" 1400,900
bash "$ROOT/tests/render_svg.sh" "$out/lab-nginx-stall.pcap.chart.svg" "$out/nginx-chart.png" 1400,2400
echo "$n passed, 0 failed"
