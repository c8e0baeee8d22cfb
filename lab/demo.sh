#!/usr/bin/env bash
# The main job on an embedded default: a lab listener (listen(5), never accepts,
# tcp_synack_retries=2 so the whole probe takes ~12 s) in a network namespace,
# probed live from the client namespace; the verdicts printed (the text report),
# then the timeline's lanes; the SVG timeline written to ./demo-timeline.svg, the
# text one (lanes and events) to ./demo-timeline.txt, the capture to ./demo.pcapng.
# Override: BACKLOG=100 SOMAXCONN=3 ABORT_ON_OVERFLOW=1 SYNACK_RETRIES=5 lab/demo.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LAB=${LAB:-demo} LP_BUILD=${LP_BUILD:-$ROOT/build} LAB_QUIET=1
export SYNACK_RETRIES=${SYNACK_RETRIES:-2}
BACKLOG=${BACKLOG:-5}
trap '"$ROOT/lab/lab.sh" down >/dev/null 2>&1 || true' EXIT
"$ROOT/lab/lab.sh" up
"$ROOT/lab/lab.sh" listen 8081 "$BACKLOG"
echo "lab: listener 10.77.0.2:8081 in namespace lp-$LAB-srv, listen($BACKLOG), never accepts;" \
     "somaxconn=${SOMAXCONN:-4096} tcp_synack_retries=$SYNACK_RETRIES" \
     "tcp_abort_on_overflow=${ABORT_ON_OVERFLOW:-0} tcp_syncookies=${SYNCOOKIES:-1}"
echo "probe: ip netns exec lp-$LAB-cli listenprobe probe 10.77.0.2:8081"
echo
ip netns exec "lp-$LAB-cli" "$LP_BUILD/listenprobe" probe 10.77.0.2:8081 --format text \
    --timeline "$PWD/demo-timeline.svg" -w "$PWD/demo.pcapng"
echo
# The timeline in the terminal: its lanes (one per group of alike connections, one panel
# per probe step), from the capture just written; demo-timeline.txt has the events too.
"$LP_BUILD/listenprobe" timeline "$PWD/demo.pcapng" -o "$PWD/demo-timeline.txt"
echo "timeline:"
awk '/^lanes /{on=1} /^events /{exit} on' "$PWD/demo-timeline.txt"
echo "written: demo-timeline.svg (open in a browser), demo-timeline.txt, demo.pcapng (listenprobe replay demo.pcapng)"
