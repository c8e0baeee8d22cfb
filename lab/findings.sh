#!/usr/bin/env bash
# Re-runs the kernel experiments behind docs/kernel-findings.md on this host and
# prints one "RESULT ..." line per measured number. Each experiment uses its own
# lab (LAB=kf-<name>), torn down afterwards; captures stay in $OUT (default
# /tmp/lp-findings). Usage: lab/findings.sh [EXPERIMENT..]   (default: all)
# Needs root, a build with lab_listener and lab_synsend (LP_BUILD).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABSH="$HERE/lab.sh"
OUT=${OUT:-/tmp/lp-findings}
mkdir -p "$OUT"
export LAB_QUIET=1

SYNSEND=""
find_synsend() {
    local d
    for d in "${LP_BUILD:-}" "$HERE/../build" "$HERE/../build-lab"; do
        [[ -n $d && -x $d/lab_synsend ]] && { SYNSEND="$d/lab_synsend"; return; }
    done
    echo "findings.sh: lab_synsend not found (set LP_BUILD)" >&2; exit 1
}
find_synsend

result() { echo "RESULT $*"; }
# Waits (up to 60 s) until FILE contains the fixed string PATTERN.
wait_for() {
    for _ in $(seq 600); do grep -qF "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
    echo "findings.sh: timed out waiting for $1 in $2" >&2; return 1
}
lab() { "$LABSH" "$@"; }
cli() { "$LABSH" exec-cli "$@"; }
srv() { "$LABSH" exec-srv "$@"; }
synsend() { cli "$SYNSEND" --src 10.77.0.1 --dst 10.77.0.2 --dport 8081 "$@" >/dev/null; }
clients() { cli python3 "$HERE/clients.py" --dst 10.77.0.2 --port 8081 "$@"; }
summ() { python3 "$HERE/pcapsum.py" "$1" --server "${2:-10.77.0.2:8081}" --json; }
# Number of connections in a pcapsum JSON (on stdin) for which a python expression holds.
count_where() { python3 -c "import json,sys; s=json.load(sys.stdin); print(sum(1 for c in s['connections'] if $1))"; }
listen_q() { srv ss -ltnH "sport = :8081" | awk '{print "recvq=" $2 " sendq=" $3}'; }
nstat_of() { srv nstat -az "$@" | awk 'NR>1 && $1 !~ /^#/ {printf "%s=%s ", $1, $2}'; }
start() { LAB=kf-$1; export LAB; shift; env "$@" "$LABSH" up; }
stop() { lab capture-stop 2>/dev/null || true; lab down; }

# 1. Accept queue holds backlog+1; SYNs are then dropped silently.
exp_accept_queue() {
    local b f
    for b in 0 1 2 5; do
        start aq$b
        lab listen 8081 "$b"
        f="$OUT/accept-queue-b$b.pcap"
        lab capture-start "$f"
        local ok
        ok=$(clients --count $((b + 3)) --pause 0.1 --timeout 1.5 --hold 0 | grep -c '"ok"' || true)
        local q; q=$(listen_q)
        lab capture-stop 2>/dev/null
        local dropped synacked
        dropped=$(summ "$f" | count_where "c['syns']>0 and c['synacks']==0 and c['rst_from_server']==0")
        synacked=$(summ "$f" | count_where "c['synacks']>0")
        result "accept-queue backlog=$b connected=$ok $q synacked=$synacked syn-dropped=$dropped" \
            "$(nstat_of TcpExtListenOverflows TcpExtListenDrops)"
        lab down
    done
}

# 2. somaxconn clamps the backlog: somaxconn=3, listen(100).
exp_somaxconn() {
    start smx SOMAXCONN=3
    lab listen 8081 100
    local ok; ok=$(clients --count 6 --pause 0.1 --timeout 1.5 --hold 0 | grep -c '"ok"' || true)
    result "somaxconn=3 listen(100): connected=$ok $(listen_q)"
    lab down
}

# 3. Stateful requests before cookies (syncookies=1), empty accept queue.
exp_syn_queue_cookies() {
    local b f
    for b in 0 4 16; do
        start sq$b
        lab listen 8081 "$b"
        f="$OUT/synq-cookies-b$b.pcap"
        lab capture-start "$f"
        synsend --count $((b + 6)) --sport-base 20000 --wait 1.6
        lab capture-stop 2>/dev/null
        local stateful answered
        stateful=$(summ "$f" | count_where "c['synacks']>=2")
        answered=$(summ "$f" | count_where "c['synacks']>=1")
        result "syn-queue syncookies=1 backlog=$b sent=$((b + 6)) stateful(retransmitted)=$stateful" \
            "answered=$answered $(nstat_of TcpExtSyncookiesSent TcpExtTCPReqQFullDoCookies)"
        lab down
    done
}

# 4. syncookies=0: tcp_max_syn_backlog=16 with a big backlog, and a small backlog.
exp_syn_queue_nocookies() {
    local f first
    start nc16 SYNCOOKIES=0 MAX_SYN_BACKLOG=16
    lab listen 8081 128
    f="$OUT/synq-nocookies-msb16.pcap"
    lab capture-start "$f"
    synsend --count 20 --sport-base 20000 --interval-ms 2 --wait 0.5
    lab capture-stop 2>/dev/null
    first=$(summ "$f" | python3 -c "import json,sys; c=json.load(sys.stdin)['connections']; print(next((i+1 for i,x in enumerate(c) if x['synacks']==0), 'none'))")
    result "syncookies=0 max_syn_backlog=16 backlog=128: answered=$(summ "$f" | count_where "c['synacks']>=1") of 20, first dropped SYN is #$first" \
        "$(nstat_of TcpExtListenDrops TcpExtTCPReqQFullDrop)"
    lab down

    start nc4 SYNCOOKIES=0
    lab listen 8081 4
    f="$OUT/synq-nocookies-b4.pcap"
    lab capture-start "$f"
    synsend --count 10 --sport-base 20000 --interval-ms 2 --wait 0.5
    lab capture-stop 2>/dev/null
    result "syncookies=0 max_syn_backlog=512 backlog=4: answered=$(summ "$f" | count_where "c['synacks']>=1") of 10" \
        "$(nstat_of TcpExtTCPReqQFullDrop)"
    lab down

    start cm16 SYNCOOKIES=1 MAX_SYN_BACKLOG=16
    lab listen 8081 128
    f="$OUT/synq-cookies-msb16.pcap"
    lab capture-start "$f"
    synsend --count 20 --sport-base 20000 --interval-ms 2 --wait 1.6
    lab capture-stop 2>/dev/null
    result "syncookies=1 max_syn_backlog=16 backlog=128: stateful=$(summ "$f" | count_where "c['synacks']>=2") of 20" \
        "$(nstat_of TcpExtSyncookiesSent)"
    lab down
}

# 5. SYN-ACK retransmission schedule of one half-open request.
exp_synack_schedule() {
    local r f wait
    for r in 2 5; do
        wait=$(( r == 2 ? 9 : 66 ))
        start rt$r SYNACK_RETRIES=$r
        lab listen 8081 128
        f="$OUT/synack-retries$r.pcap"
        lab capture-start "$f"
        synsend --count 1 --sport-base 20000 --wait "$wait"
        local gaps; gaps=$(summ "$f" | python3 -c "import json,sys; print(json.load(sys.stdin)['connections'][0]['synack_gaps'])")
        lab capture-stop 2>/dev/null
        result "synack_retries=$r: synacks=$(summ "$f" | python3 -c "import json,sys; print(json.load(sys.stdin)['connections'][0]['synacks'])") gaps=$gaps (watched ${wait}s)"
        lab down
    done
}

# 6. A client RST (or FIN) to an established, not yet accepted connection.
exp_client_rst() {
    start rst
    lab listen 8081 2
    local f="$OUT/client-rst.pcap"
    lab capture-start "$f"
    lab clients held --port 8081 --count 3 --rst-after 0:4 --close-after 1:8 >/dev/null
    # shellcheck disable=SC2016  # awk program, expanded by awk
    local states='ss -tanH | awk '"'"'$1!="LISTEN"{print $1}'"'"' | sort | uniq -c | tr -s " \n" " "'
    local log="$HERE/run/$LAB/clients-held.log"
    result "client-rst: 3 queued: $(listen_q); ss -tan:$(srv sh -c "$states")"
    wait_for '"rst": true' "$log"; sleep 0.3
    result "client-rst: after RST of #0: $(listen_q); ss -tan:$(srv sh -c "$states")"
    wait_for '"close": true' "$log"; sleep 0.3
    result "client-rst: after FIN of #1: $(listen_q); ss -tan:$(srv sh -c "$states")"
    local r; r=$(lab clients late --port 8081 --count 1 --timeout 2.5 --hold 0 | head -1)
    result "client-rst: a new connection after the RST and FIN: $r"
    lab capture-stop 2>/dev/null
    result "client-rst: $(nstat_of TcpExtListenOverflows TcpExtListenDrops)"
    lab down
}

# 7. Final ACK meets a full accept queue: abort_on_overflow 1 and 0 (stateful and cookie requests).
exp_abort_on_overflow() {
    local a f
    for a in 1 0; do
        start ab$a ABORT_ON_OVERFLOW=$a SYNACK_RETRIES=2
        lab listen 8081 2
        f="$OUT/overflow-abort$a.pcap"
        lab capture-start "$f"
        lab clients first --port 8081 --count 1 >/dev/null
        synsend --count 3 --sport-base 20000 --ack-after-synack --data --wait 8.5
        lab capture-stop 2>/dev/null
        local info
        info=$(tcpdump -nn -tt -r "$f" 2>/dev/null | python3 -c "
import sys
ack=None; rst=None
for l in sys.stdin:
    t=float(l.split()[0])
    if '10.77.0.1.20002 >' in l and 'Flags [.]' in l and ack is None: ack=t
    if '> 10.77.0.1.20002' in l and 'Flags [R]' in l and rst is None: rst=t
print('rst-after-ack=%s' % ('none' if rst is None else '%.0fus' % ((rst-ack)*1e6)))")
        result "abort_on_overflow=$a backlog=2, 1 queued + 3 SYNs ACKed as a group: $(summ "$f" | python3 -c "
import json,sys
c=[x for x in json.load(sys.stdin)['connections'] if x['client'].endswith(':20002')][0]
print('third request: synacks=%d gaps=%s client-acks=%d data-acked=%s server-rsts=%d' % (c['synacks'], c['synack_gaps'], c['acks'], c['data_acked'], c['rst_from_server']))") $info $(listen_q)"
        lab down
    done
    # Cookie requests (syncookies=2) whose final ACK finds the queue full.
    for a in 1 0; do
        start ck$a ABORT_ON_OVERFLOW=$a SYNCOOKIES=2
        lab listen 8081 1
        f="$OUT/overflow-cookie-abort$a.pcap"
        lab capture-start "$f"
        synsend --count 4 --sport-base 20000 --ack-after-synack --data --wait 2.5
        lab capture-stop 2>/dev/null
        result "syncookies=2 backlog=1 abort_on_overflow=$a: 4 requests ACKed: data-acked=$(summ "$f" | count_where "c['data_acked']")" \
            "server-rsts=$(summ "$f" | count_where "c['rst_from_server']>0") synack-retransmits=$(summ "$f" | count_where "c['synacks']>1") $(listen_q)"
        lab down
    done
}

# 8. syncookies=2: every SYN gets a cookie; options of a cookie SYN-ACK without timestamps.
exp_cookies_always() {
    start ca SYNCOOKIES=2
    lab listen 8081 128
    local f="$OUT/cookies-always.pcap"
    lab capture-start "$f"
    synsend --count 3 --sport-base 20000 --wait 2.5
    synsend --count 1 --sport-base 21000 --no-ts --wait 0.2
    lab capture-stop 2>/dev/null
    result "syncookies=2 backlog=128: 4 SYNs, retransmitted SYN-ACKs: $(summ "$f" | count_where "c['synacks']>1") $(nstat_of TcpExtSyncookiesSent)"
    result "syncookies=2 cookie SYN-ACK to a SYN without TS: $(tcpdump -nn -r "$f" 2>/dev/null | grep '> 10.77.0.1.21000' | sed 's/.*options/options/')"
    lab down
}

ALL=(accept_queue somaxconn syn_queue_cookies syn_queue_nocookies client_rst abort_on_overflow cookies_always synack_schedule)
trap 'lab down >/dev/null 2>&1 || true' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
echo "kernel $(uname -r)"
for e in "${@:-${ALL[@]}}"; do
    t0=$(date +%s.%N)
    "exp_$e"
    echo "# $e took $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"
done
