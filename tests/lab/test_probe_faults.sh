#!/usr/bin/env bash
# Lab test: the live probe under faults, hostile targets and missing privileges.
# Its own lab (tests/lab/lib.sh), server sysctl tcp_synack_retries=2, real Linux
# listeners that never accept (a fresh port for every probe, so no probe meets a
# queue an earlier one filled).
#
#   a  unprivileged (nobody, no capability; root without CAP_NET_ADMIN or without
#      CAP_NET_RAW): exit 3, one line naming the capability
#   b  -i nosuchif: exit 1 "interface nosuchif does not exist"
#   c  an on-link address with no host: exit 0, port_state no-answer, warning
#      no-answer, no duration made up; no route (outside the lab's /24, or from a
#      namespace with only lo up): exit 1
#   d  multicast, broadcast (limited and the subnet's), unspecified targets: exit 1
#   h  --max-connections 1, --rate 0, --rate nan, --max-wait 0: exit 2 (before any
#      privilege check: also as nobody)
#      ... and for a, b, c(no route), d, h: not one TCP packet left the client
#      namespace (tcpdump -i any there)
#   o  output files: a probe that fails during set-up (--user nosuchuser) creates no
#      -w/--timeline file and leaves an existing one untouched; a probe that works
#      replaces an existing longer file with a valid pcapng
#   e  SIGINT and SIGTERM 0.3 s, 1.5 s and 4 s into a probe (plan all): exit 130 / 143
#      (128 + the signal), one stderr line "listenprobe: interrupted ...", the warning
#      "interrupted" and valid JSON on stdout, -w written whole; then no
#      listenprobe_* table in the client namespace and, one second later, no probe
#      connection (client port 61000+) on the server
#   f  SIGKILL during the retries step, with half-open probe requests on the server:
#      within 1 s the watchdog removed the table and its RSTs reached the server (no
#      SYN-RECV of probe ports 1 s after the kill); `listenprobe cleanup` finds
#      nothing. SIGKILL of watchdog and probe together: the table stays, and
#      `listenprobe cleanup` removes it.
#   r  (what remains, asserted so the documentation stays true) after a probe filled the
#      accept queue of a never-accepting listener and reset its connections, ss shows no
#      probe connection, but the listener's Recv-Q stays full: no one but the application
#      (accept) or closing the listener frees those slots
#   g  while the probe waits for SYN-ACK retransmissions, /proc/PID/status of the
#      probe (every thread) shows uid/gid nobody, no capability, NoNewPrivs 1; its
#      watchdog holds CAP_NET_ADMIN alone
#
# Environment as every lab test (lib.sh): LP_BIN, LP_BUILD, LP_ROOT; LP_KEEP=1.

# check's conditions are single-quoted on purpose: evaluated when checked.
# shellcheck disable=SC2016
# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e  # every check runs; failures are counted

lt_init probe_faults
for t in nft setpriv capsh env pgrep; do
    command -v "$t" >/dev/null || lt_fail "$t is not installed"
done
lt_up SYNACK_RETRIES=2
CLI=lp-$LAB-cli
SRV=lp-$LAB-srv
EMPTY=lp-$LAB-empty
chmod 755 "$LT_WORK"
# The binary where `nobody` can run it, whatever the build directory's permissions.
BIN=$LT_WORK/listenprobe
cp "$LP_BIN" "$BIN" && chmod 755 "$BIN"

BG=()
faults_cleanup() {
    local rc=$? p
    for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$EMPTY" 2>/dev/null
    ip netns exec "$CLI" "$BIN" cleanup >/dev/null 2>&1
    (exit $rc)
    lt_cleanup
}
trap faults_cleanup EXIT

IN_CLI=(ip netns exec "$CLI")  # for `run`, which cannot call a shell function
in_srv() { ip netns exec "$SRV" "$@"; }
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all)

# run NAME CMD..: runs CMD (timeout 120 s), stdout/stderr to $LT_WORK/NAME.{out,err}; sets RC.
run() {
    local name=$1
    shift
    timeout 120 "$@" >"$LT_WORK/$name.out" 2>"$LT_WORK/$name.err"
    RC=$?
}
# expect NAME RC REGEX: exit status RC; for RC != 0 exactly one line on stderr, starting
# "listenprobe: " and matching REGEX; nothing on stdout.
expect() {
    local name=$1 rc=$2 re=$3 err lines
    err=$(cat "$LT_WORK/$name.err")
    lines=$(wc -l <"$LT_WORK/$name.err")
    if [[ $RC != "$rc" ]]; then
        bad "$name: exit $RC, expected $rc (stderr: ${err:0:300})"
        return 1
    fi
    if [[ $rc != 0 ]]; then
        if [[ $lines != 1 || $err != "listenprobe: "* ]]; then
            bad "$name: stderr is not one 'listenprobe: ' line: ${err:0:300}"
            return 1
        fi
        if ! grep -Eq -- "$re" <<<"$err"; then
            bad "$name: stderr does not match /$re/: $err"
            return 1
        fi
        if [[ -s $LT_WORK/$name.out ]]; then
            bad "$name: an error exit printed on stdout"
            return 1
        fi
    fi
    ok "$name: exit $RC${err:+ | $err}"
}
# expect_interrupted NAME RC: a probe ended by a signal: exit status RC (128 + the signal),
# exactly one stderr line "listenprobe: interrupted ...", the (partial) report on stdout.
expect_interrupted() {
    local name=$1 rc=$2 err lines
    err=$(cat "$LT_WORK/$name.err")
    lines=$(wc -l <"$LT_WORK/$name.err")
    if [[ $RC != "$rc" ]]; then
        bad "$name: exit $RC, expected $rc (stderr: ${err:0:300})"
        return 1
    fi
    if [[ $lines != 1 || $err != "listenprobe: interrupted"* ]]; then
        bad "$name: stderr is not one 'listenprobe: interrupted' line: ${err:0:300}"
        return 1
    fi
    if [[ ! -s $LT_WORK/$name.out ]]; then
        bad "$name: no report on stdout"
        return 1
    fi
    ok "$name: exit $RC | $err"
}
tables() { in_cli nft list tables 2>/dev/null | grep -o 'listenprobe_[0-9_]*'; }
# probe_conns PORT: connections of the server's PORT from a probe port (61000+), except LISTEN.
probe_conns() {
    in_srv ss -tanH "( sport = :$1 )" | awk '$1 != "LISTEN" {n = split($5, a, ":"); if (a[n] + 0 >= 61000) print}'
}
# clean NAME PORT: no guard table now, and one second later no probe connection on the server.
clean() {
    local t c
    t=$(tables)
    if [[ -z $t ]]; then ok "$1: no listenprobe table in the client namespace"; else bad "$1: tables left: $t"; fi
    sleep 1
    c=$(probe_conns "$2")
    if [[ -z $c ]]; then
        ok "$1: no probe connection on the server 1 s later"
    else
        bad "$1: probe connections on the server 1 s later: $(head -3 <<<"$c" | tr '\n' ';')"
    fi
}
# running PID: the process runs (a zombie does not).
running() { [[ -d /proc/$1 && $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
NEXT_PORT=8100
# listener BACKLOG: a fresh never-accepting listener; sets PORT.
listener() {
    PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
    lt_listen "$PORT" "$1" || lt_fail "cannot start a listener on $PORT"
}

# ---------------------------------------------------------------- nothing may be sent
# (ip netns exec execs: $! is tcpdump itself)
ip netns exec "$CLI" tcpdump -i any -nn -U --immediate-mode -w "$LT_WORK/quiet.pcap" tcp 2>"$LT_WORK/quiet.tcpdump" &
DUMP=$!
BG+=("$DUMP")
for _ in $(seq 100); do grep -q "listening on" "$LT_WORK/quiet.tcpdump" && break; sleep 0.05; done
listener 5
P_A=$PORT

lt_log "== a: without privilege"
run a-nobody "${IN_CLI[@]}" "${NOBODY[@]}" "$BIN" probe "10.77.0.2:$P_A" --plan baseline
expect a-nobody 3 'CAP_NET_RAW.*CAP_NET_ADMIN'
run a-no-net-admin "${IN_CLI[@]}" capsh --drop=cap_net_admin -- -c "exec $BIN probe 10.77.0.2:$P_A --plan baseline"
expect a-no-net-admin 3 'CAP_NET_ADMIN is missing'
run a-no-net-raw "${IN_CLI[@]}" capsh --drop=cap_net_raw -- -c "exec $BIN probe 10.77.0.2:$P_A --plan baseline"
expect a-no-net-raw 3 'CAP_NET_RAW is missing'

lt_log "== b: no such interface"
run b-nosuchif "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" -i nosuchif --plan baseline
expect b-nosuchif 1 'interface nosuchif does not exist'

lt_log "== c: no route"
run c-no-route "${IN_CLI[@]}" "$BIN" probe 10.77.9.9:80 --plan baseline
expect c-no-route 1 'no route to 10\.77\.9\.9'
ip netns add "$EMPTY" && ip -n "$EMPTY" link set lo up
run c-only-lo-v4 ip netns exec "$EMPTY" "$BIN" probe "10.77.0.2:$P_A" --plan baseline
expect c-only-lo-v4 1 'no route to 10\.77\.0\.2'
run c-only-lo-v6 ip netns exec "$EMPTY" "$BIN" probe "[fd77::2]:$P_A" --plan baseline
expect c-only-lo-v6 1 'no route to fd77::2'

lt_log "== d: multicast, broadcast, unspecified"
for t in 224.0.0.1:80 239.255.255.250:80 255.255.255.255:80 10.77.0.255:80 0.0.0.0:80 '[ff02::1]:80' \
    '[ff05::2]:80' '[::]:80'; do
    name="d-${t//[^0-9a-f.]/_}"
    run "$name" "${IN_CLI[@]}" "$BIN" probe "$t" --plan baseline
    expect "$name" 1 'multicast|broadcast|unspecified'
done

lt_log "== h: usage"
run h-max-conn "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" --max-connections 1
expect h-max-conn 2 'max-connections'
run h-max-conn-nobody "${IN_CLI[@]}" "${NOBODY[@]}" "$BIN" probe "10.77.0.2:$P_A" --max-connections 1
expect h-max-conn-nobody 2 'max-connections'
run h-rate0 "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" --rate 0
expect h-rate0 2 'rate'
run h-rate-nan "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" --rate nan
expect h-rate-nan 2 'rate'
run h-max-wait0 "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" --max-wait 0
expect h-max-wait0 2 'max-wait'
run h-plan "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" --plan nosuchplan
expect h-plan 2 'nosuchplan'
run h-timeline-png "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" --timeline "$LT_WORK/x.png"
expect h-timeline-png 2 'x\.png'

sleep 0.3
kill -TERM "$DUMP"
wait "$DUMP" 2>/dev/null
n=$(tcpdump -nn -r "$LT_WORK/quiet.pcap" 2>/dev/null | wc -l)
check "a, b, c, d, h: not one TCP packet left the client namespace ($n)" '[[ $n == 0 ]]'
check "a, b, c, d, h: no listenprobe table" '[[ -z $(tables) ]]'
check "a, b, c, d, h: the listener saw no connection" '[[ -z $(probe_conns $P_A) ]]'

lt_log "== c: an on-link address where no host answers"
t0=$EPOCHREALTIME
run c-no-host "${IN_CLI[@]}" "$BIN" probe 10.77.0.9:8081 --plan all --format json --quiet
dt=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')
if expect c-no-host 0 ''; then
    out=$LT_WORK/c-no-host.out
    check "c-no-host: port_state no-answer" '[[ $(json_get "$out" "d[\"listeners\"][0][\"port_state\"]") == no-answer ]]'
    check "c-no-host: warning no-answer" \
        '[[ $(json_get "$out" "[w[\"code\"] for w in d[\"listeners\"][0][\"warnings\"]]") == *no-answer* ]]'
    check "c-no-host: no capacity or retry count guessed" \
        '[[ $(json_get "$out" "(d[\"listeners\"][0][\"accept_queue\"][\"capacity\"], d[\"listeners\"][0][\"synack\"][\"retries\"])") == "(None, None)" ]]'
    check "c-no-host: no made-up duration (got: $(json_get "$out" "d[\"source\"].get(\"duration_s\")"))" \
        '[[ $(json_get "$out" "d[\"source\"].get(\"duration_s\") is None or d[\"source\"][\"duration_s\"] < 30") == True ]]'
    check "c-no-host: gives up within 10 s ($dt s)" '(( ${dt%.*} < 10 ))'
fi
check "c-no-host: no listenprobe table" '[[ -z $(tables) ]]'

lt_log "== o: output files"
echo "an older file" >"$LT_WORK/old.pcapng"
run o-setup-fails "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" --plan baseline --user nosuchuser \
    -w "$LT_WORK/new.pcapng" --timeline "$LT_WORK/new.svg"
expect o-setup-fails 1 'nosuchuser'
check "o: no -w or --timeline file created by a failed set-up" \
    '[[ ! -e $LT_WORK/new.pcapng && ! -e $LT_WORK/new.svg ]]'
run o-setup-fails-old "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" --plan baseline --user nosuchuser -w "$LT_WORK/old.pcapng"
expect o-setup-fails-old 1 'nosuchuser'
check "o: an existing -w file is left as it was" '[[ $(cat "$LT_WORK/old.pcapng") == "an older file" ]]'
check "o: no table after a failed set-up" '[[ -z $(tables) ]]'
head -c 300000 /dev/urandom >"$LT_WORK/big.pcapng"
run o-replace "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_A" --plan baseline --quiet --format json -w "$LT_WORK/big.pcapng"
if expect o-replace 0 ''; then
    size=$(stat -c %s "$LT_WORK/big.pcapng")
    run o-replay "$LP_BIN" replay "$LT_WORK/big.pcapng" --format json
    expect o-replay 0 ''
    check "o: the replaced -w file is a whole pcapng ($size bytes) with the probe's packets" \
        '(( size < 300000 )) && [[ $(json_get "$LT_WORK/o-replay.out" "d[\"source\"][\"kind\"] == \"pcapng\" and d[\"source\"][\"packets\"] > 0") == True ]]'
fi

lt_log "== g: privileges while the probe runs"
listener 5
P_G=$PORT
env --default-signal=INT,TERM ip netns exec "$CLI" "$BIN" probe "10.77.0.2:$P_G" --plan retries --format json --quiet \
    >"$LT_WORK/g.out" 2>"$LT_WORK/g.err" &
PID=$!
BG+=("$PID")
sleep 0.5
# Sampled for 2.5 s of wall time (one awk a round, so a loaded machine samples less often
# but never outlasts the probe's ~8 s retries step).
samples=0 rounds=0 wrong=()
WD=""
t_end=$(($(date +%s%N) + 2500000000))
while (($(date +%s%N) < t_end)); do
    [[ -d /proc/$PID ]] || break
    while IFS='|' read -r st u g ce cp nnp grp; do
        samples=$((samples + 1))
        [[ $u == "65534 65534 65534 65534" && $g == "65534 65534 65534 65534" && $ce == 0000000000000000 &&
            $cp == 0000000000000000 && $nnp == 1 && -z $grp ]] ||
            wrong+=("$st: Uid $u Gid $g CapEff $ce CapPrm $cp NoNewPrivs $nnp Groups '$grp'")
    done < <(awk -v OFS='|' '
        function out() { if (f != "") print f, u, g, ce, cp, nnp, grp }
        FNR == 1 { out(); f = FILENAME; u = g = ce = cp = nnp = grp = "" }
        /^Uid:/ { u = $2 " " $3 " " $4 " " $5 }
        /^Gid:/ { g = $2 " " $3 " " $4 " " $5 }
        /^CapEff:/ { ce = $2 }
        /^CapPrm:/ { cp = $2 }
        /^NoNewPrivs:/ { nnp = $2 }
        /^Groups:/ { grp = $2 }
        END { out() }' /proc/"$PID"/task/*/status 2>/dev/null)
    rounds=$((rounds + 1))
    [[ -z $WD ]] && WD=$(pgrep -P "$PID" | head -1)
    sleep 0.1
done
check "g: $samples samples of the probe's threads in $rounds rounds over 2.5 s: uid/gid 65534, CapEff/CapPrm 0, NoNewPrivs 1, no groups" \
    '(( rounds >= 3 && samples >= rounds )) && (( ${#wrong[@]} == 0 ))'
((${#wrong[@]})) && lt_log "  first wrong sample: ${wrong[0]}"
if [[ -n $WD ]]; then
    wce=$(awk '/^CapEff:/ {print $2}' "/proc/$WD/status" 2>/dev/null)
    check "g: the watchdog ($WD) holds CAP_NET_ADMIN alone (CapEff $wce)" '[[ $wce == 0000000000001000 ]]'
else
    bad "g: no watchdog process found under the probe"
fi
kill -TERM "$PID"
wait "$PID"
RC=$?
expect_interrupted g 143
clean g "$P_G"

lt_log "== e: SIGINT and SIGTERM at several phases"
for sig in INT TERM; do
    for delay in 0.3 1.5 4; do
        listener 5
        name="e-$sig-$delay"
        env --default-signal=INT,TERM ip netns exec "$CLI" "$BIN" probe "10.77.0.2:$PORT" --plan all --format json \
            --quiet -w "$LT_WORK/$name.pcapng" >"$LT_WORK/$name.out" 2>"$LT_WORK/$name.err" &
        PID=$!
        BG+=("$PID")
        # the delay counts from the watchdog's start (the probe is in set-up then), so a
        # loaded machine that starts the binary slowly does not shift the phase
        for _ in $(seq 100); do [[ -n $(pgrep -P "$PID") ]] && break; sleep 0.05; done
        sleep "$delay"
        kill -"$sig" "$PID"
        t0=$EPOCHREALTIME
        for _ in $(seq 100); do running "$PID" || break; sleep 0.05; done
        took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b - a}')
        if running "$PID"; then
            bad "$name: still running 5 s after SIG$sig"
            kill -KILL "$PID"
        fi
        wait "$PID"
        RC=$?
        want=130
        [[ $sig == TERM ]] && want=143
        if expect_interrupted "$name" "$want"; then
            out=$LT_WORK/$name.out
            check "$name: exited $took s after the signal, warning 'interrupted', valid JSON" \
                '[[ $(json_get "$out" "[w[\"code\"] for w in d[\"listeners\"][0][\"warnings\"]]") == *interrupted* ]]'
            run "$name-replay" "$LP_BIN" replay "$LT_WORK/$name.pcapng" --format json
            expect "$name-replay" 0 ''
        fi
        clean "$name" "$PORT"
    done
done

lt_log "== f: SIGKILL during the retries step"
listener 5
P_F=$PORT
lt_capture_start tcp port "$P_F"
env --default-signal=INT,TERM ip netns exec "$CLI" "$BIN" probe "10.77.0.2:$P_F" --plan retries --format json --quiet \
    >"$LT_WORK/f.out" 2>"$LT_WORK/f.err" &
PID=$!
BG+=("$PID")
sleep 2.5
WD=$(pgrep -P "$PID" | head -1)
TABLE=$(tables)
half=$(probe_conns "$P_F" | grep -c SYN-RECV)
check "f: before the kill: table $TABLE, watchdog ${WD:-none}, $half half-open probe request(s) on the server" \
    '[[ -n $TABLE && -n $WD ]] && (( half >= 1 ))'
kill_t=$(date +%s.%N)
kill -KILL "$PID"
gone=""
for i in $(seq 100); do
    [[ -z $(tables) ]] && { gone=$((i * 10)); break; }
    sleep 0.01
done
check "f: the watchdog removed the table within 1 s (${gone:-never} ms)" '[[ -n $gone ]] && (( gone <= 1000 ))'
sleep 0.2
check "f: the watchdog exited" '! running "$WD"'
sleep 0.8
left=$(probe_conns "$P_F")
check "f: 1 s after the kill no probe request on the server${left:+: $left}" '[[ -z $left ]]'
lt_capture_stop >/dev/null
rsts=$(tcpdump -nn -tt -r "$LT_PCAP" 2>/dev/null |
    awk -v k="$kill_t" '$1 >= k && /Flags \[R/ {split($3, a, "."); if (a[5] + 0 >= 61000) n++} END {print n + 0}')
check "f: the watchdog's RSTs reached the server after the kill ($rsts)" '(( rsts >= half ))'
run f-cleanup "${IN_CLI[@]}" "$BIN" cleanup
expect f-cleanup 0 ''
check "f: listenprobe cleanup finds nothing left" 'grep -qx "nothing to clean up" "$LT_WORK/f-cleanup.out"'
wait "$PID" 2>/dev/null

lt_log "== f: SIGKILL of the watchdog and the probe together"
listener 5
P_F2=$PORT
env --default-signal=INT,TERM ip netns exec "$CLI" "$BIN" probe "10.77.0.2:$P_F2" --plan retries --format json --quiet \
    >"$LT_WORK/f2.out" 2>"$LT_WORK/f2.err" &
PID=$!
BG+=("$PID")
sleep 2.5
WD=$(pgrep -P "$PID" | head -1)
TABLE=$(tables)
kill -KILL "$WD" "$PID"
wait "$PID" 2>/dev/null
sleep 0.5
check "f2: with its watchdog killed too, the table $TABLE stays" '[[ -n $TABLE && $(tables) == "$TABLE" ]]'
left=$(probe_conns "$P_F2" | grep -c SYN-RECV)
lt_log "f2: half-open probe requests left on the server (no RST was sent; the listener drops them when its retries end): $left"
run f2-cleanup "${IN_CLI[@]}" "$BIN" cleanup
expect f2-cleanup 0 ''
check "f2: listenprobe cleanup removes it" \
    'grep -qx "removed nftables table $TABLE" "$LT_WORK/f2-cleanup.out" && [[ -z $(tables) ]]'
run f2-cleanup-again "${IN_CLI[@]}" "$BIN" cleanup
check "f2: a second cleanup finds nothing" 'grep -qx "nothing to clean up" "$LT_WORK/f2-cleanup-again.out"'
run f2-cleanup-nobody "${IN_CLI[@]}" "${NOBODY[@]}" "$BIN" cleanup
expect f2-cleanup-nobody 3 'CAP_NET_ADMIN|Operation not permitted|permission'

lt_log "== r: what no one can clean up: the accept queue of a listener that never accepts"
listener 2
P_R=$PORT
run r-fill "${IN_CLI[@]}" "$BIN" probe "10.77.0.2:$P_R" --plan accept-queue --format json --quiet
if expect r-fill 0 ''; then
    cap=$(json_get "$LT_WORK/r-fill.out" "d[\"listeners\"][0][\"accept_queue\"][\"capacity\"]")
    clean r-fill "$P_R"
    recvq=$(in_srv ss -ltnH "( sport = :$P_R )" | awk '{print $2}')
    check "r: the probe filled the queue (capacity $cap) and reset its connections, yet the listener's accept queue still holds $recvq: only the application (accept) or closing the listener frees it" \
        '[[ $cap == 3 && $recvq == 3 ]]'
fi

lt_checks_done
