#!/usr/bin/env bash
# Lab test: many targets in one command (`probe TARGET...`, `--targets FILE`).
# Three lab listeners that never accept, listen(2), listen(4) and listen(6) on
# 10.77.0.2:8081-8083 (capacities 3, 5, 7).
#
#   a  `probe --targets FILE --plan quick --format jsonl` (a file with comments and a
#      blank line): three listener lines, each with its target's capacity and backlog;
#      the whole run's wall time against one target's alone (printed; concurrent
#      probing keeps it well under the sum); no nftables table left in the client
#      namespace, no connection left on the listeners beyond their queues
#   e  a target that does not resolve among them: its error line (type error, exit
#      status 1, the message), the others probed; the run's status is 1
#   u  a target that is not one (no port): exit 2 before anything is sent
#   s  SIGINT to the run: passed on to each probe, which cleans up and reports what it
#      has (listener lines, warning interrupted); exit 130; no table left
#
# Environment as every lab test (lib.sh): LP_BIN, LP_BUILD, LP_ROOT; LP_KEEP=1.

# shellcheck disable=SC2016  # check's conditions are evaluated when checked
# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e  # every check runs; failures are counted

lt_init many
lt_up
lt_listen 8081 2
lt_listen 8082 4
lt_listen 8083 6

W=$LT_WORK
tables() { in_cli nft list tables 2>/dev/null | grep -c listenprobe; }

lt_log "== a: three targets from a file"
printf '# the lab listeners\n10.77.0.2:8081\n\n10.77.0.2:8082   # listen(4)\n10.77.0.2:8083\n' >"$W/targets"
t0=$EPOCHREALTIME
in_cli timeout 120 "$LP_BIN" probe --targets "$W/targets" --plan quick --format jsonl >"$W/a.jsonl" 2>"$W/a.err"
arc=$?
t1=$EPOCHREALTIME
check "a: exit 0 (stderr: $(head -c 300 "$W/a.err"))" '[[ $arc == 0 ]]'
got=$(python3 -c '
import json, sys
caps = {}
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["type"] == "listener":
        caps[d["run"]["target"]["given"]] = (d["listener"]["accept_queue"]["capacity"], d["listener"]["accept_queue"]["backlog"])
print(" ".join(f"{k}={v[0]}/{v[1]}" for k, v in sorted(caps.items())))' "$W/a.jsonl")
check "a: three lines, capacity/backlog per target ($got)" \
    '[[ $got == "10.77.0.2:8081=3/2 10.77.0.2:8082=5/4 10.77.0.2:8083=7/6" ]]'
in_cli timeout 60 "$LP_BIN" probe 10.77.0.2:8083 --plan quick --format json --quiet >"$W/one.json" 2>&1
t2=$EPOCHREALTIME
ratio=$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{printf "%.2f", (b - a) / (c - b)}')
lt_log "a: three targets took $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s, one alone $(awk -v b="$t1" -v c="$t2" 'BEGIN{printf "%.1f", c - b}') s: ratio $ratio"
check "a: three at once take less than twice one alone (ratio $ratio)" 'awk -v r="$ratio" "BEGIN{exit !(r < 2.0)}"'
check "a: no nftables table left ($(tables))" '[[ $(tables) == 0 ]]'

lt_log "== e: a target that does not resolve among them"
in_cli timeout 120 "$LP_BIN" probe 10.77.0.2:8081 no-such-host.invalid:80 --plan quick --format jsonl >"$W/e.jsonl" 2>"$W/e.err"
erc=$?
summary=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    print(d["type"], d.get("given") or d["run"]["target"]["given"], d.get("exit_status", ""), d.get("message", ""))' "$W/e.jsonl")
while IFS= read -r l; do lt_log "  $l"; done <<<"$summary"
check "e: exit 1" '[[ $erc == 1 ]]'
check "e: the listener line of 10.77.0.2:8081" 'grep -q "^listener 10.77.0.2:8081" <<<"$summary"'
check "e: an error line for the name, exit status 1, with the message" \
    'grep -Eq "^error no-such-host.invalid:80 1 .*no-such-host.invalid" <<<"$summary"'
check "e: stderr names the target" 'grep -q "no-such-host.invalid:80: " "$W/e.err"'

lt_log "== u: a target without a port"
in_cli "$LP_BIN" probe 10.77.0.2:8081 10.77.0.2 --plan quick --format jsonl >"$W/u.out" 2>"$W/u.err"
urc=$?
check "u: exit 2, one line, nothing on stdout ($(cat "$W/u.err"))" '[[ $urc == 2 && $(wc -l <"$W/u.err") == 1 && ! -s $W/u.out ]]'

lt_log "== s: SIGINT to a run of three"
in_cli "$LP_BIN" probe --targets "$W/targets" --plan all --format jsonl >"$W/s.jsonl" 2>"$W/s.err" &
spid=$!
sleep 3
pkill -INT -f "^$LP_BIN probe --targets $W/targets --plan all"
wait "$spid"
src=$?
n=$(python3 -c '
import json, sys
n = 0
for l in open(sys.argv[1]):
    d = json.loads(l)
    n += d["type"] == "listener" and any(w["code"] == "interrupted" for w in d["listener"]["warnings"])
print(n)' "$W/s.jsonl")
check "s: exit 130 (rc $src)" '[[ $src == 130 ]]'
check "s: three listener lines with the warning interrupted ($n)" '[[ $n == 3 ]]'
check "s: no nftables table left ($(tables))" '[[ $(tables) == 0 ]]'
check "s: stderr says so ($(tail -1 "$W/s.err"))" 'grep -q "interrupted by SIGINT; 3 of 3 finished" "$W/s.err"'

lt_checks_done
