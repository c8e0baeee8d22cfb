#!/bin/bash
# Lab test of the live probe's firewall guard (nftables table + watchdog) and
# privilege handling. Runs as root, inside two network namespaces it creates
# and deletes: lp-guardtest-PID (the prober, 10.77.0.1 / fd77::1) and
# lp-guardtest-PID-p (the peer, 10.77.0.2 / fd77::2, a listener on 8081/8082).
# Nothing is sent outside them.
#
#   LP_BUILD=build-dir bash tests/lab/test_guard.sh
#
# Checks:
#  1 a guard installs its table with the right rule; release() removes it (IPv4, IPv6);
#    a forked copy of the probe cannot release it
#  2 SIGKILL of the probe: the watchdog removes the table within 1 s and sends
#    a RST for every registered connection
#  3 SIGTERM, SIGINT, ^C to the probe's process group, an exception, _exit():
#    the table is gone
#  4 remove_stale_guards() removes tables of dead pids and of reused pids, keeps live ones
#  5 drop_privileges(): CapEff/CapPrm 0, Uid nobody, NoNewPrivs; the open raw
#    socket still sends; the watchdog keeps CAP_NET_ADMIN only
#  6 without privilege: exit 3 and one line on stderr
#  7 on the wire: with the guard a SYN-ACK to the probe's port range draws no
#    kernel RST (and without it, it does); a RST with the mark gets out; one
#    without the mark does not
set -u

if [[ $EUID -ne 0 ]]; then
    echo "SKIP: test_guard.sh needs root (network namespaces, nftables)"
    exit 77
fi
BUILD=${LP_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
TOOL=$BUILD/lp_guard_check
[[ -x $TOOL ]] || { echo "FAIL: $TOOL not built"; exit 1; }
for cmd in ip nft tcpdump setpriv python3 ss; do
    command -v $cmd >/dev/null || { echo "FAIL: $cmd missing"; exit 1; }
done

A=lp-guardtest-$$
B=lp-guardtest-$$-p
WORK=$(mktemp -d /tmp/lp-guardtest.XXXXXX)
chmod 755 "$WORK"
BG_PIDS=()
FAILS=0

cleanup() {
    local p
    if ((FAILS)) && [[ -s $WORK/wire.pcap ]]; then
        echo "-- what the peer saw:"
        tcpdump -nn -r "$WORK/wire.pcap" 2>/dev/null | tail -40
    fi
    for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$A" 2>/dev/null
    ip netns del "$B" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# check DESCRIPTION CONDITION: CONDITION is shell text, evaluated now.
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }

# (Background jobs call ip netns exec directly: it execs, so $! is the program.)
inA() { ip netns exec "$A" "$@"; }
inB() { ip netns exec "$B" "$@"; }

ip netns add "$A" || exit 1
ip netns add "$B" || exit 1
ip link add va netns "$A" type veth peer name vb netns "$B" || exit 1
inA ip addr add 10.77.0.1/24 dev va
inB ip addr add 10.77.0.2/24 dev vb
inA ip addr add fd77::1/64 dev va nodad
inB ip addr add fd77::2/64 dev vb nodad
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
inA ip link set va up
inB ip link set vb up

# The tool, where the unprivileged user can run it too.
cp "$TOOL" "$WORK/lp_guard_check" && chmod 755 "$WORK/lp_guard_check"
T=$WORK/lp_guard_check

# wait_line FILE REGEX [SECONDS]: until a line of FILE matches.
wait_line() {
    local i
    for ((i = 0; i < ${3:-5} * 50; i++)); do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.02
    done
    return 1
}
table_exists() { inA nft list tables 2>/dev/null | grep -qx "table inet $1"; }
guard_tables() { inA nft list tables 2>/dev/null | grep -c 'listenprobe_' ; }
# wait_gone TABLE SECONDS: true when the table disappeared within SECONDS;
# sets GONE_MS to how long it took.
wait_gone() {
    local t0 now
    t0=$(date +%s%N)
    while table_exists "$1"; do
        now=$(date +%s%N)
        if (((now - t0) / 1000000 > $2 * 1000)); then GONE_MS=$(((now - t0) / 1000000)); return 1; fi
        sleep 0.01
    done
    GONE_MS=$((($(date +%s%N) - t0) / 1000000))
    return 0
}
# gone_pid PID: the process no longer runs (absent or zombie).
gone_pid() {
    [[ ! -e /proc/$1/stat ]] && return 0
    [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]
}
# start_hold OUTFILE ARGS...: starts `hold` in the probe namespace, waits for
# "ready", sets HOLD_PID, TABLE, WD.
start_hold() {
    local out=$1
    shift
    ip netns exec "$A" "$T" hold "$@" >"$out" 2>&1 &
    HOLD_PID=$!
    BG_PIDS+=("$HOLD_PID")
    if ! wait_line "$out" '^ready$' 10; then
        TABLE=none WD=0
        echo "  hold did not get ready:"; sed 's/^/    /' "$out"
        return 1
    fi
    TABLE=$(awk '/^table /{print $2}' "$out")
    WD=$(awk '/^table /{print $4}' "$out")
}
V4=(--target 10.77.0.2:8081 --source 10.77.0.1 --sports 61000-61999 --mark 0x6c70)
V6=(--target '[fd77::2]:8082' --source fd77::1 --sports 61000-61999 --mark 0x6c70)

echo "== 1: install and release"
for fam in 4 6; do
    if [[ $fam == 4 ]]; then args=("${V4[@]}"); daddr="ip daddr 10.77.0.2 tcp dport 8081"
    else args=("${V6[@]}"); daddr="ip6 daddr fd77::2 tcp dport 8082"; fi
    start_hold "$WORK/h1" "${args[@]}" --release-after 3
    check "IPv$fam: table is named after the probe's pid" '[ "$TABLE" = "listenprobe_$HOLD_PID" ]'
    check "IPv$fam: nft list tables shows it" 'table_exists "$TABLE"'
    inA nft list table inet "$TABLE" >"$WORK/rules" 2>&1
    check "IPv$fam: the rule drops our unmarked RSTs to the target only" \
        'grep -q "$daddr tcp sport 61000-61999 tcp flags & rst == rst meta mark != 0x00006c70 drop" "$WORK/rules"'
    check "IPv$fam: one rule, in a chain on the output hook" \
        '[ "$(grep -c " drop$" "$WORK/rules")" = 1 ] && grep -q "type filter hook output" "$WORK/rules"'
    wait "$HOLD_PID"
    rc=$?
    check "IPv$fam: release() reports success, exit 0" '[ $rc = 0 ] && grep -qx "released ok" "$WORK/h1"'
    check "IPv$fam: table gone after release" '! table_exists "$TABLE"'
    check "IPv$fam: watchdog gone after release" 'gone_pid "$WD"'
done

# 3 s: the table must still be there when the check runs, also on a loaded machine
start_hold "$WORK/h1f" "${V4[@]}" --fork-copy --release-after 3
check "a forked copy of the probe cannot end the guard" 'grep -qx "fork copy released: no" "$WORK/h1f" && table_exists "$TABLE"'
wait "$HOLD_PID"
check "the probe itself still can" 'grep -qx "released ok" "$WORK/h1f" && ! table_exists "$TABLE"'

echo "== 2: SIGKILL of the probe"
start_hold "$WORK/h2" "${V4[@]}"
check "watchdog is its own process" '[ "$WD" -gt 0 ] && [ "$WD" != "$HOLD_PID" ]'
kill -KILL "$HOLD_PID"
if wait_gone "$TABLE" 1; then pass "table gone ${GONE_MS} ms after SIGKILL (limit 1000)"
else fail "table still there ${GONE_MS} ms after SIGKILL"; fi
wait "$HOLD_PID" 2>/dev/null  # reap quietly (no "Killed" notice)
sleep 0.2
check "watchdog exited after cleaning up" 'gone_pid "$WD"'
check "watchdog said why on stderr" 'grep -q "probe ended without releasing its guard" "$WORK/h2"'

echo "== 3: SIGTERM, SIGINT, ^C, exception, _exit"
for sig in TERM INT; do
    start_hold "$WORK/h3" "${V4[@]}"
    kill -$sig "$HOLD_PID"
    wait "$HOLD_PID"
    rc=$?
    check "SIG$sig: orderly release (exit 0, released ok)" '[ $rc = 0 ] && grep -qx "released ok" "$WORK/h3"'
    check "SIG$sig: table gone" '! table_exists "$TABLE"'
done
# ^C: SIGINT to the whole foreground process group. The probe has dropped to
# nobody, so only the watchdog (in a group of its own) can remove the table.
ip netns exec "$A" setsid "$T" hold "${V4[@]}" --drop-user nobody >"$WORK/h3c" 2>&1 &
HOLD_PID=$!
BG_PIDS+=("$HOLD_PID")
wait_line "$WORK/h3c" '^ready$' 10
TABLE=$(awk '/^table /{print $2}' "$WORK/h3c")
WD=$(awk '/^table /{print $4}' "$WORK/h3c")
check "^C: probe leads its own group, watchdog is in another" \
    '[ "$(ps -o pgid= -p "$HOLD_PID" | tr -d " ")" = "$HOLD_PID" ] && [ "$(ps -o pgid= -p "$WD" | tr -d " ")" = "$WD" ]'
kill -INT -- "-$HOLD_PID"
wait "$HOLD_PID"
rc=$?
check "^C to the process group: released by the watchdog (exit 0)" '[ $rc = 0 ] && grep -qx "released ok" "$WORK/h3c"'
check "^C: table gone" '! table_exists "$TABLE"'
start_hold "$WORK/h3e" "${V4[@]}" --throw-after 0.5
wait "$HOLD_PID"
rc=$?
check "exception: the error reaches main (exit 1)" '[ $rc = 1 ] && grep -q "leaving through an exception" "$WORK/h3e"'
check "exception: table gone (destructor released)" '! table_exists "$TABLE"'
check "exception: released in order (the watchdog saw release)" '! grep -q "without releasing" "$WORK/h3e"'
start_hold "$WORK/h3x" "${V4[@]}" --exit-after 0.5
wait "$HOLD_PID"
if wait_gone "$TABLE" 1; then pass "_exit() without release: table gone within ${GONE_MS} ms"
else fail "_exit() without release: table still there"; fi

echo "== 4: remove_stale_guards"
true &
dead=$!
wait $dead
while [[ -e /proc/$dead ]]; do true & dead=$!; wait $dead; done
mystart=$(awk '{print $22}' /proc/$$/stat)
inA nft "add table inet listenprobe_$dead; add table inet listenprobe_${dead}_2;
add table inet listenprobe_$$ { comment \"listenprobe pid $$ start $((mystart + 1))\"; };
add table inet listenprobe_${BASHPID}_3 { comment \"listenprobe pid ${BASHPID} start $mystart\"; };
add table inet listenprobe_1; add table inet listenprobe_x; add table inet filter"
inA "$T" stale >"$WORK/stale" 2>&1
rc=$?
check "stale: exit 0" '[ $rc = 0 ]'
check "stale: removed the dead pid's tables" 'grep -qx "listenprobe_$dead" "$WORK/stale" && grep -qx "listenprobe_${dead}_2" "$WORK/stale"'
check "stale: removed the table of a reused pid (start time differs)" 'grep -qx "listenprobe_$$" "$WORK/stale"'
check "stale: reported exactly those three" '[ "$(wc -l <"$WORK/stale")" = 3 ]'
check "stale: kept the live pid's table" 'table_exists "listenprobe_${BASHPID}_3"'
check "stale: kept a live pid's table without comment (pid 1)" 'table_exists listenprobe_1'
check "stale: kept tables that are not guards" 'table_exists listenprobe_x && table_exists filter'
check "stale: the dead pid's tables are gone" '! table_exists "listenprobe_$dead" && ! table_exists "listenprobe_${dead}_2"'
inA nft "delete table inet listenprobe_${BASHPID}_3; delete table inet listenprobe_1; delete table inet listenprobe_x; delete table inet filter"
inA setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$T" stale 2>/dev/null
rc=$?
check "stale: without CAP_NET_ADMIN it is exit 3" '[ $rc = 3 ]'

echo "== 5: drop_privileges"
ip netns exec "$B" python3 -c '
import socket, time
a = socket.socket(); a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); a.bind(("0.0.0.0", 8081)); a.listen(8)
b = socket.socket(socket.AF_INET6); b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); b.bind(("::", 8082)); b.listen(8)
time.sleep(600)' &
BG_PIDS+=($!)
for i in $(seq 50); do inB ss -ltn | grep -q ':8082' && break; sleep 0.1; done
ip netns exec "$B" tcpdump -i vb -nn -U --immediate-mode -w "$WORK/wire.pcap" tcp >"$WORK/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
BG_PIDS+=("$TCPDUMP_PID")
wait_line "$WORK/tcpdump.log" 'listening on' 5 || fail "tcpdump did not start"
sleep 0.2
wire() { tcpdump -nn -r "$WORK/wire.pcap" 2>/dev/null; }

ip netns exec "$A" "$T" drop --source 10.77.0.1 --target 10.77.0.2:9 --sport 61500 --user nobody >"$WORK/d5" 2>&1 &
DPID=$!
BG_PIDS+=("$DPID")
wait_line "$WORK/d5" '^dropped$' 5
st=/proc/$DPID/status
check "drop: CapEff 0" 'grep -qP "^CapEff:\t0{16}$" "$st"'
check "drop: CapPrm, CapInh, CapAmb, CapBnd 0" '[ "$(grep -cP "^Cap(Prm|Inh|Amb|Bnd):\t0{16}$" "$st")" = 4 ]'
check "drop: Uid of nobody (real, effective, saved, fs)" 'grep -qP "^Uid:\t65534\t65534\t65534\t65534$" "$st"'
check "drop: Gid of nogroup, no supplementary groups" \
    'grep -qP "^Gid:\t65534\t65534\t65534\t65534$" "$st" && grep -qP "^Groups:\t *$" "$st"'
check "drop: NoNewPrivs" 'grep -qP "^NoNewPrivs:\t1$" "$st"'
check "drop: not dumpable (status owned by root)" '[ "$(stat -c %U "$st")" = root ]'
kill -USR1 "$DPID"
wait_line "$WORK/d5" '^(sent|send failed)' 3
check "drop: the raw socket opened before still sends" 'grep -qx sent "$WORK/d5"'
sleep 0.3
check "drop: its SYN is on the wire" 'wire | grep -q "10.77.0.1.61500 > 10.77.0.2.9: Flags \[S\]"'
kill -TERM "$DPID"
wait "$DPID"

start_hold "$WORK/h5" "${V4[@]}" --drop-user nobody
check "hold+drop: probe dropped" 'grep -qP "^CapEff:\t0{16}$" "/proc/$HOLD_PID/status"'
check "hold+drop: watchdog keeps CAP_NET_ADMIN only" 'grep -qP "^CapEff:\t0000000000001000$" "/proc/$WD/status"'
check "hold+drop: watchdog permitted and bounding sets: CAP_NET_ADMIN only" \
    '[ "$(grep -cP "^Cap(Prm|Bnd):\t0000000000001000$" "/proc/$WD/status")" = 2 ]'
check "hold+drop: watchdog NoNewPrivs" 'grep -qP "^NoNewPrivs:\t1$" "/proc/$WD/status"'
kill -KILL "$HOLD_PID"
if wait_gone "$TABLE" 1; then pass "hold+drop: SIGKILL -> table gone in ${GONE_MS} ms"
else fail "hold+drop: table still there after SIGKILL"; fi
wait "$HOLD_PID" 2>/dev/null  # reap quietly (no "Killed" notice)

echo "== 6: without privilege"
inA "$T" require >"$WORK/r0" 2>&1
rc=$?
check "require as root: exit 0, silent" '[ $rc = 0 ] && [ ! -s "$WORK/r0" ]'
inA setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$T" require >"$WORK/r1.out" 2>"$WORK/r1.err"
rc=$?
check "require as nobody: exit 3" '[ $rc = 3 ]'
check "require as nobody: one line on stderr naming both capabilities" \
    '[ "$(wc -l <"$WORK/r1.err")" = 1 ] && grep -q "CAP_NET_RAW and CAP_NET_ADMIN" "$WORK/r1.err"'
echo "  $(cat "$WORK/r1.err")"
check "require as nobody: nothing on stdout" '[ ! -s "$WORK/r1.out" ]'
inA setpriv --inh-caps=-all --bounding-set=-net_admin "$T" require 2>"$WORK/r2.err"
rc=$?
check "require without CAP_NET_ADMIN only: exit 3, names it" '[ $rc = 3 ] && grep -q "CAP_NET_ADMIN is missing" "$WORK/r2.err"'
inA setpriv --inh-caps=-all --bounding-set=-net_admin "$T" hold "${V4[@]}" >/dev/null 2>"$WORK/r3.err"
rc=$?
check "guard without CAP_NET_ADMIN: exit 3, one line" '[ $rc = 3 ] && [ "$(wc -l <"$WORK/r3.err")" = 1 ]'
echo "  $(cat "$WORK/r3.err")"
check "guard without CAP_NET_ADMIN: no table left" '[ "$(guard_tables)" = 0 ]'
inA "$T" hold --target 10.77.0.2:8081 --source 10.77.0.1 --mark 0 >/dev/null 2>"$WORK/r4.err"
rc=$?
check "guard with mark 0: exit 1 (unusable input), one line" '[ $rc = 1 ] && [ "$(wc -l <"$WORK/r4.err")" = 1 ]'

echo "== 7: on the wire"
snd() { inA "$T" send --source "$1" --target "$2" --sport "$3" --flags "$4" --seq "$5" ${6:+--mark "$6"}; }
synrecv() { inB ss -Htn state syn-recv "( sport = :$2 )" 2>/dev/null | grep -c "$1"; }
# Control: no guard, the kernel resets the hand-made handshake.
snd 10.77.0.1 10.77.0.2:8081 61001 S 1000
sleep 0.3
check "control: without the guard the kernel RST goes out" \
    'wire | grep -q "10.77.0.1.61001 > 10.77.0.2.8081: Flags \[R\], seq 1001"'
start_hold "$WORK/h7" "${V4[@]}" --conn 61004:4001
snd 10.77.0.1 10.77.0.2:8081 61002 S 2000
snd 10.77.0.1 10.77.0.2:8081 61003 S 3000
snd 10.77.0.1 10.77.0.2:8081 61004 S 4000
sleep 1.6   # the first SYN-ACK retransmission comes after about 1 s
check "guard: SYN-ACKs answered by no RST from the probe's kernel" \
    '! wire | grep -Eq "10.77.0.1.6100[234] > .*Flags \[R"'
check "guard: the server retransmitted its SYN-ACK (request alive)" \
    '[ "$(wire | grep -c "10.77.0.2.8081 > 10.77.0.1.61002: Flags \[S.\]")" -ge 2 ]'
check "guard: the server holds the three requests in SYN-RECV" '[ "$(synrecv 10.77.0.1:6100 8081)" = 3 ]'
snd 10.77.0.1 10.77.0.2:8081 61002 R 2001 0x6c70
rc=$?
check "guard: a RST with the mark is sent" '[ $rc = 0 ]'
snd 10.77.0.1 10.77.0.2:8081 61003 R 3001 0x1 2>"$WORK/unmarked.err"
rc=$?
check "guard: a RST without the mark is refused (EPERM from the drop rule)" \
    '[ $rc != 0 ] && grep -q "Operation not permitted" "$WORK/unmarked.err"'
sleep 0.3
check "guard: the marked RST is on the wire" \
    'wire | grep -q "10.77.0.1.61002 > 10.77.0.2.8081: Flags \[R\], seq 2001"'
check "guard: the unmarked one is not" '! wire | grep -q "10.77.0.1.61003 > 10.77.0.2.8081: Flags \[R"'
check "guard: the marked RST ended its request, the others live" \
    '[ "$(synrecv 10.77.0.1:61002 8081)" = 0 ] && [ "$(synrecv 10.77.0.1:61003 8081)" = 1 ]'
kill -KILL "$HOLD_PID"
wait_gone "$TABLE" 1 || fail "wire: table still there after SIGKILL"
wait "$HOLD_PID" 2>/dev/null  # reap quietly (no "Killed" notice)
sleep 0.3
check "SIGKILL: the watchdog reset the registered connection (seq 4001)" \
    'wire | grep -q "10.77.0.1.61004 > 10.77.0.2.8081: Flags \[R\], seq 4001"'
check "SIGKILL: that request is gone from the server" '[ "$(synrecv 10.77.0.1:61004 8081)" = 0 ]'
check "SIGKILL: one RST for the one registered connection" 'grep -q "sent 1 RST(s) for 1 connection(s)" "$WORK/h7"'
# IPv6, same behaviour.
start_hold "$WORK/h7b" "${V6[@]}"
snd fd77::1 '[fd77::2]:8082' 61020 S 20000
sleep 0.4
snd fd77::1 '[fd77::2]:8082' 61020 R 20001 0x6c70
sleep 0.3
kill -TERM "$HOLD_PID"
wait "$HOLD_PID"
check "IPv6 guard: the SYN-ACK came, drew no kernel RST; the marked RST went out" \
    '[ "$(wire | grep -c "fd77::2.8082 > fd77::1.61020: Flags \[S.\]")" -ge 1 ] &&
     [ "$(wire | grep "fd77::1.61020 > fd77::2.8082: Flags \[R" | sed "s/.*Flags/Flags/")" = "Flags [R], seq 20001, win 0, length 0" ]'
check "IPv6 guard: table gone after SIGTERM" '[ "$(guard_tables)" = 0 ]'

kill -INT "$TCPDUMP_PID" 2>/dev/null
echo
if ((FAILS)); then echo "test_guard: $FAILS check(s) failed"; exit 1; fi
echo "test_guard: all checks passed"
