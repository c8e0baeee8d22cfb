#!/usr/bin/env bash
# Lab test: `listenprobe watch` on the server's interface, passively, while seed
# 000's experiment runs: listen(5), never accept; a real client calls connect()
# seven times, one at a time, sending nothing; the 7th SYN meets silence and is
# retransmitted until the client gives up (10 s).
#
#   j  --format jsonl --duration 16: each output line is stamped with the time it
#      arrived. While the clients still run: an episode-start line, and a verdict
#      line with capacity 6. After they gave up: an episode-end line. The last line
#      is the listener object (type listener) with capacity 6, backlog 5 and one
#      episode whose never-answered client is the 7th. The watching process runs
#      as nobody with no capability once the capture is open. It sends nothing:
#      a second capture (tcpdump) sees no packet that the clients or the listener
#      did not send.
#   t  --format text, no duration, ended by SIGINT after one connection (to a second
#      listener: the first one's queue is still full): exit 0, the start line, then
#      the full text report of the listener.
#   b  bad input: an interface that does not exist, a filter that does not
#      compile (exit 1), no privilege to capture (exit 3); one line on stderr each.
#
# Environment as every lab test (lib.sh): LP_BIN, LP_BUILD, LP_ROOT; LP_KEEP=1.

# shellcheck disable=SC2016  # check's conditions are evaluated when checked
# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e  # every check runs; failures are counted

lt_init watch
for t in setpriv pgrep; do
    command -v "$t" >/dev/null || lt_fail "$t is not installed"
done
lt_up
SRV=lp-$LAB-srv
lt_listen 8081 5
lt_listen 8082 5  # for t: 8081's queue stays full after j

W=$LT_WORK
# Each line as it arrives, after the time it arrived (seconds since the epoch).
stamp() { while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }

lt_log "== j: JSON lines while seed 000's experiment runs"
lt_capture_start tcp port 8081
( ip netns exec "$SRV" "$LP_BIN" watch -i veth0 --listener 10.77.0.2:8081 --duration 16 --format jsonl \
    2>"$W/watch.err"; echo "$?" >"$W/watch.rc" ) | stamp >"$W/watch.stamped" &
for _ in $(seq 100); do grep -q '"type":"start"' "$W/watch.stamped" 2>/dev/null && break; sleep 0.1; done
check "j: the start line came" 'grep -q "\"type\":\"start\"" "$W/watch.stamped"'
pid=$(pgrep -n -f "$LP_BIN watch -i veth0 --listener")
uid=$(awk '/^Uid:/ {print $3}' "/proc/$pid/status" 2>/dev/null)
capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
check "j: watching as nobody without capabilities (uid $uid, CapEff $capeff)" \
    '[[ $uid == "$(id -u nobody)" && $capeff == 0000000000000000 ]]'
lt_clients seq --port 8081 --count 7 --pause 0.2 --timeout 10 --no-data >"$W/clients.log"
t_clients=$EPOCHREALTIME
lt_log "clients: $(grep -c '"result": "ok"' "$W/clients.log") connected, done at $t_clients"
wait
lt_capture_stop
check "j: watch exit 0 (stderr: $(head -c 300 "$W/watch.err"))" '[[ $(cat "$W/watch.rc") == 0 && ! -s $W/watch.err ]]'
python3 - "$W/watch.stamped" "$t_clients" >"$W/j.txt" 2>&1 <<'PY'
import json, sys
lines = [l.split(" ", 1) for l in open(sys.argv[1]).read().splitlines()]
done = float(sys.argv[2])
objs = [(float(t), json.loads(j)) for t, j in lines]
def first(kind, cond=lambda o: True):
    return next(((t, o) for t, o in objs if o.get("type") == kind and cond(o)), None)
start = first("episode-start")
cap6 = first("verdict", lambda o: o["listener"]["accept_queue"]["capacity"] == 6)
end = first("episode-end")
last = objs[-1][1]
print("episode-start", start and round(done - start[0], 1), "s before the clients were done")
print("verdict capacity 6", cap6 and round(done - cap6[0], 1), "s before the clients were done")
print("episode-end", end is not None, "last", last.get("type"), last.get("listener", {}).get("accept_queue"))
ok = (start is not None and start[0] < done and cap6 is not None and cap6[0] < done and end is not None
      and end[0] > start[0] and last.get("type") == "listener")
l = last.get("listener", {})
ok = ok and l.get("accept_queue", {}).get("capacity") == 6 and l["accept_queue"].get("backlog") == 5
eps = l.get("episodes", [])
print("episodes", json.dumps(eps))
ok = ok and len(eps) == 1 and eps[0]["never_answered"] == 1 and eps[0]["syns_silent"] >= 3 and not eps[0]["open_at_end"]
sys.exit(0 if ok else 1)
PY
rc=$?
while IFS= read -r l; do lt_log "  $l"; done <"$W/j.txt"
check "j: episode-start and capacity 6 while the clients ran; episode-end; the last line is the listener with capacity 6 and the episode" '[[ $rc == 0 ]]'
# Everything on the wire came from the clients or the listener: as many packets as they
# sent, none from the watcher (it has no address of its own to send from, and sends nothing).
others=$(tcpdump -nn -r "$LT_PCAP" 2>/dev/null | grep -Evc '10\.77\.0\.(1|2)\.[0-9]+ > 10\.77\.0\.(1|2)\.[0-9]+')
check "j: the capture holds only the clients' and the listener's packets ($others others)" '[[ $others == 0 ]]'

lt_log "== t: text, ended by SIGINT"
ip netns exec "$SRV" "$LP_BIN" watch -i veth0 --format text tcp port 8082 >"$W/t.txt" 2>"$W/t.err" &
wpid=$!
sleep 1.5
lt_clients one --port 8082 --count 1 --timeout 2 >/dev/null
sleep 1
kill -INT "$(pgrep -n -f "$LP_BIN watch -i veth0 --format text")"
wait "$wpid"
trc=$?
check "t: SIGINT ends it with exit 0 (rc $trc, stderr: $(head -c 200 "$W/t.err"))" '[[ $trc == 0 ]]'
check "t: the start line" 'grep -q "watching veth0 (filter \"tcp port 8082\")" "$W/t.txt"'
check "t: the report of the listener after it" 'grep -q "^listener 10.77.0.2:8082  port open  1 connection: 1 queued" "$W/t.txt"'

lt_log "== b: bad input"
bad_case() {  # NAME WANT_RC REGEX CMD...
    local name=$1 want=$2 re=$3
    shift 3
    "$@" >"$W/b.out" 2>"$W/b.err"
    local rc=$?
    check "b: $name: exit $want, one line /$re/ (rc $rc: $(head -c 200 "$W/b.err"))" \
        '[[ $rc == "$want" && $(wc -l <"$W/b.err") == 1 && ! -s $W/b.out ]] && grep -Eq -- "$re" "$W/b.err"'
}
bad_case "no such interface" 1 'interface nosuch0 does not exist' \
    ip netns exec "$SRV" "$LP_BIN" watch -i nosuch0 --duration 1
bad_case "a filter that does not compile" 1 'capture filter "tcp and and"' \
    ip netns exec "$SRV" "$LP_BIN" watch -i veth0 --duration 1 tcp and and
bad_case "no privilege" 3 'needs CAP_NET_RAW' \
    ip netns exec "$SRV" setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
    "$LP_BIN" watch -i veth0 --duration 1

lt_checks_done
