#!/usr/bin/env bash
# Lab test: the probe in front of middleboxes and listener set-ups that change what
# a queue looks like from the wire (docs/middleboxes.md). Its own lab (tests/lab/lib.sh,
# named mb<pid>), default server sysctls (tcp_syncookies=1, tcp_synack_retries=5,
# tcp_abort_on_overflow=0, somaxconn 4096). Every scenario probes with --plan quick
# (--format json -w) and asserts that each verdict in the JSON is the truth about the
# listening socket, or null/unknown (a bound: on the right side of the truth):
#
#   s  nftables synproxy on 10.77.0.2:8081 (notrack for SYNs, `synproxy mss 1460 wscale 7
#      timestamp sack-perm` for invalid/untracked) in front of lab_listener backlog 5 that
#      never accepts. Truth (the listener): capacity 6, backlog 5, SYN queue 6,
#      syncookies on-overflow (the proxy's cookies are not the listener's: its
#      TcpExtSyncookiesSent stays 0), retries 5, on full: SYN drop, ACK drop.
#      Set-up proof: the SYN-ACKs in the capture carry window 0 (the proxy's).
#   h  haproxy (TCP mode) on 10.77.0.2:8080, `bind ... backlog 5`, forwarding to
#      lab_listener 10.77.0.2:9000 backlog 5 that never accepts. haproxy accepts every
#      connection at once, so its queue never fills. Truth (haproxy's socket): capacity 6,
#      backlog 5, SYN queue 6, syncookies on-overflow, retries 5, on full drop/drop.
#      Set-up proof: ss shows Send-Q 5 on 8080; the backend queue is full afterwards.
#   d  nginx `listen 10.77.0.2:8090 deferred backlog=5` (TCP_DEFER_ACCEPT), one worker:
#      d1 running, d2 the worker stopped with SIGSTOP. Truth: capacity 6, backlog 5,
#      SYN queue 6, syncookies on-overflow, retries 5, on full drop/drop.
#      Set-up proof: TcpExtTCPDeferAcceptDrop grows (the bare final ACKs were dropped).
#
#   r  nginx `listen 10.77.0.2:8092 reuseport backlog=5` with 3 workers, all stopped: three
#      listening sockets behind one port, each SYN hashed to one of them. Truth (each
#      socket): capacity 6, backlog 5, SYN queue 6, syncookies on-overflow, on full
#      drop/drop; a count over the port is a sum and must not be given as the capacity.
#      Set-up proof: three LISTEN sockets on 8092. Two workers fill evenly in about 1 of 23
#      runs, which no wire probe tells from one queue of the sum (docs/middleboxes.md);
#      with three that is rarer still.
# Data-less clients of a TCP_DEFER_ACCEPT listener, replayed, are the lab replay case
# nginx-deferred (tests/lab/replay_cases.toml).
# After each probe: no `listenprobe*` nftables table left in the client namespace, and a
# second later no connection from the client on the server's port (ss -tan).
# s and h also assert the warning that names the middlebox (synproxy,
# listener-accepts-silently), h that the probe stopped filling (accept-queue-past-syn-queue); s also that the probe opened no connection behind the proxy
# (its resets of requests never ACKed are bare RSTs there).
#
# Environment as every lab test (lib.sh): LP_BIN, LP_BUILD, LP_ROOT; LP_KEEP=1.
# Needs the Debian packages nftables, nginx, haproxy (and what every lab test needs).

# shellcheck disable=SC2016  # check's conditions are evaluated when checked
# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e  # every check runs; failures are counted

lt_init middleboxes
# This test's lab is named mb<pid> (not t<pid>-middleboxes), so it never meets the labs of
# the other tests; lt_cleanup takes it down by this name.
export LAB="mb$$"
for t in nft nginx haproxy nstat; do
    command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] || lt_fail "$t is not installed"
done
lt_up
SRV=lp-$LAB-srv
W=$LT_WORK
PIDS=()  # servers started here (lab down ends them too: they run in the server namespace)

# wait_port PORT [N]: until N sockets (default 1) listen on 10.77.0.2:PORT in the server ns.
wait_port() {
    for _ in $(seq 100); do
        (($(ip netns exec "$SRV" ss -ltnH "sport = :$1" | wc -l) >= ${2:-1})) && return 0
        sleep 0.1
    done
    return 1
}
# nstat_abs COUNTER: its absolute value in the server namespace (no history file involved).
nstat_abs() { ip netns exec "$SRV" nstat -az "$1" | awk -v c="$1" '$1 == c {print $2}'; }

# probe NAME PORT: --plan quick, JSON and the capture into the work dir.
probe() {
    local name=$1 port=$2
    in_cli timeout 120 "$LP_BIN" probe "10.77.0.2:$port" --plan quick --format json --quiet \
        -w "$W/$name.pcapng" >"$W/$name.json" 2>"$W/$name.err"
    check "$name: probe exit 0 ($(head -c 200 "$W/$name.err"))" '[[ $? == 0 ]]'
}

# verdicts NAME PORT key=value..: every verdict of the listener 10.77.0.2:PORT in
# $W/NAME.json is the truth given or null/unknown; bounds on the right side of it.
# Keys: capacity backlog syn_queue syncookies retries syn ack (a key not given: not checked).
verdicts() {
    local name=$1 port=$2; shift 2
    python3 - "$W/$name.json" "$port" "$@" >"$W/$name.verdicts" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); port = int(sys.argv[2])
t = dict(a.split("=", 1) for a in sys.argv[3:])
ls = [l for l in d["listeners"] if l["port"] == port]
if not ls:
    print("FAIL\tno listener on port %d in the report" % port); sys.exit()
L = ls[0]
def say(ok, what): print(("OK" if ok else "FAIL") + "\t" + what)
say(L["port_state"] == "open", "port_state %s (truth open)" % L["port_state"])
aq, sq, sa = L["accept_queue"], L["syn_queue"], L["synack"]
def exact(label, got, truth):
    say(got is None or got == truth, "%s %s (truth %s, or null)" % (label, got, truth))
def at_least(label, got, truth):
    say(got is None or got <= truth, "%s %s (must not exceed the truth %s)" % (label, got, truth))
def at_most(label, got, truth):
    say(got is None or got >= truth, "%s %s (must not be below the truth %s)" % (label, got, truth))
def word(label, got, truth):
    say(got == "unknown" or got == truth, "%s %s (truth %s, or unknown)" % (label, got, truth))
if "capacity" in t:
    c = int(t["capacity"])
    exact("accept_queue.capacity", aq["capacity"], c)
    at_least("accept_queue.capacity_at_least", aq["capacity_at_least"], c)
    at_most("accept_queue.capacity_at_most", aq["capacity_at_most"], c)
if "backlog" in t:
    exact("accept_queue.backlog", aq["backlog"], int(t["backlog"]))
if "syn_queue" in t:
    c = int(t["syn_queue"])
    exact("syn_queue.capacity", sq["capacity"], c)
    at_least("syn_queue.capacity_at_least", sq["capacity_at_least"], c)
    at_most("syn_queue.capacity_at_most", sq["capacity_at_most"], c)
if "syncookies" in t:
    word("syncookies", L["syncookies"], t["syncookies"])
if "retries" in t:
    r = int(t["retries"])
    exact("synack.retries", sa["retries"], r)
    at_least("synack.retries_at_least", sa["retries_at_least"], r)
if "syn" in t:
    word("on_full.syn", L["on_full"]["syn"], t["syn"])
if "ack" in t:
    word("on_full.ack", L["on_full"]["ack"], t["ack"])
print("INFO\twarnings: " + (", ".join(w["code"] for w in L["warnings"]) or "none"))
print("INFO\tfates: " + json.dumps(L["fate_counts"], sort_keys=True))
PY
    [[ -s $W/$name.verdicts ]] || { bad "$name: the verdict check did not run"; return; }
    while IFS=$'\t' read -r st what; do
        case $st in
            OK) ok "$name: $what" ;;
            FAIL) bad "$name: $what" ;;
            INFO) lt_log "$name: $what" ;;
            *) bad "$name: verdict check: $st $what" ;;
        esac
    done <"$W/$name.verdicts"
}

# left_behind NAME PORT: no probe table in the client ns; a second later no connection from
# the client on the server's port.
left_behind() {
    local name=$1 port=$2
    local tables left
    tables=$(in_cli nft list tables 2>/dev/null | grep -c "listenprobe")
    check "$name: no listenprobe nftables table left in the client namespace ($tables)" '[[ $tables == 0 ]]'
    sleep 1
    ip netns exec "$SRV" ss -tanH >"$W/$name.ss-after"
    left=$(awk -v p="10.77.0.2:$port" '$1 != "LISTEN" && $4 == p && $5 ~ /^10\.77\.0\.1:/' "$W/$name.ss-after" | wc -l)
    check "$name: no probe connection left on the server's port $port ($left)" '[[ $left == 0 ]]'
}

# ---------------------------------------------------------------------------------
lt_log "== s: nftables synproxy in front of a listener that never accepts"
lt_listen 8081 5
ip netns exec "$SRV" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
ip netns exec "$SRV" nft -f - <<'NFT'
table inet mb_synproxy {
    chain prerouting {
        type filter hook prerouting priority raw; policy accept;
        tcp dport 8081 tcp flags syn notrack
    }
    chain input {
        type filter hook input priority filter; policy accept;
        tcp dport 8081 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
        tcp dport 8081 ct state invalid drop
    }
}
NFT
check "s: synproxy rules loaded" '[[ $? == 0 ]]'
cookies0=$(nstat_abs TcpExtSyncookiesSent)
probe s 8081
cookies1=$(nstat_abs TcpExtSyncookiesSent)
ip netns exec "$SRV" ss -ltnH "sport = :8081" >"$W/s.ss"
lt_log "s: ground truth: $(tr -s ' ' <"$W/s.ss"); listener's SyncookiesSent +$((cookies1 - cookies0))"
n_win0=$(tcpdump -nn -r "$W/s.pcapng" 2>/dev/null | grep -F "Flags [S.]" | grep -c ", win 0,")
check "s: set-up: the SYN-ACKs are the proxy's (window 0: $n_win0 of them)" '(( n_win0 > 0 ))'
check "s: set-up: the listener itself sent no syncookie" '[[ $((cookies1 - cookies0)) == 0 ]]'
# The listener behind the proxy holds only the accept-queue step's connections (at most 6),
# none of the probe's resets: before bare RSTs the baseline's and the burst's filled it first.
n_bare=$(tcpdump -nn -r "$W/s.pcapng" 2>/dev/null | grep -c "Flags \[R\], seq")
check "s: the probe's resets of requests it never ACKed are bare RSTs ($n_bare)" '(( n_bare > 0 ))'
verdicts s 8081 capacity=6 backlog=5 syn_queue=6 syncookies=on-overflow retries=5 syn=drop ack=drop
check "s: warning synproxy" '[[ $(python3 -c "import json,sys; print(\"synproxy\" in [w[\"code\"] for w in json.load(open(sys.argv[1]))[\"listeners\"][0][\"warnings\"]])" "$W/s.json") == True ]]'
left_behind s 8081
ip netns exec "$SRV" nft delete table inet mb_synproxy

# ---------------------------------------------------------------------------------
lt_log "== h: haproxy (TCP mode, backlog 5) in front of a backend that never accepts"
lt_listen 9000 5
cat >"$W/haproxy.cfg" <<'CFG'
global
    maxconn 1000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 10.77.0.2:8080 backlog 5
    default_backend be
backend be
    server s1 10.77.0.2:9000
CFG
ip netns exec "$SRV" haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 &
PIDS+=($!)
wait_port 8080 || lt_fail "haproxy did not listen: $(cat "$W/haproxy.log")"
probe h 8080
ip netns exec "$SRV" ss -ltnH >"$W/h.ss"
lt_log "h: ground truth: $(grep -E ':(8080|9000) ' "$W/h.ss" | tr -s ' ' | tr '\n' ';')"
check "h: set-up: haproxy listens with backlog 5" '[[ $(awk "\$4 == \"10.77.0.2:8080\" {print \$3}" "$W/h.ss") == 5 ]]'
check "h: set-up: the backend's queue filled (haproxy forwarded)" '[[ $(awk "\$4 == \"10.77.0.2:9000\" {print \$2}" "$W/h.ss") == 6 ]]'
verdicts h 8080 capacity=6 backlog=5 syn_queue=6 syncookies=on-overflow retries=5 syn=drop ack=drop
check "h: the probe stopped filling once more was held than one socket can (accept-queue-past-syn-queue)" '[[ $(python3 -c "import json,sys; print(\"accept-queue-past-syn-queue\" in [w[\"code\"] for w in json.load(open(sys.argv[1]))[\"listeners\"][0][\"warnings\"]])" "$W/h.json") == True ]]'
check "h: warning listener-accepts-silently" '[[ $(python3 -c "import json,sys; print(\"listener-accepts-silently\" in [w[\"code\"] for w in json.load(open(sys.argv[1]))[\"listeners\"][0][\"warnings\"]])" "$W/h.json") == True ]]'
left_behind h 8080
kill "${PIDS[-1]}" 2>/dev/null

# ---------------------------------------------------------------------------------
# nginx_conf DIR WORKERS LISTEN-PARAMETERS
nginx_conf() {
    mkdir -p "$1/logs"
    cat >"$1/nginx.conf" <<NGINX
worker_processes $2;
daemon off;
pid $1/nginx.pid;
error_log $1/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server { listen $3; location / { return 200 "ok\n"; } }
}
NGINX
}
# nginx_start DIR PORT SOCKETS: runs it in the server namespace; waits for its sockets.
nginx_start() {
    ip netns exec "$SRV" nginx -p "$1/" -c "$1/nginx.conf" -e "$1/logs/error.log" >"$1/stderr.log" 2>&1 &
    PIDS+=($!)
    wait_port "$2" "$3" || lt_fail "nginx did not listen on $2: $(cat "$1/stderr.log")"
}
# workers MASTER-PID: nginx's worker processes.
workers() { pgrep -P "$1" | tr '\n' ' '; }

lt_log "== d: nginx deferred (TCP_DEFER_ACCEPT), backlog 5"
nginx_conf "$W/ngx-d" 1 "10.77.0.2:8090 deferred backlog=5"
nginx_start "$W/ngx-d" 8090 1
master_d=${PIDS[-1]}
defer0=$(nstat_abs TcpExtTCPDeferAcceptDrop)
probe d1 8090
defer1=$(nstat_abs TcpExtTCPDeferAcceptDrop)
lt_log "d1: ground truth: $(ip netns exec "$SRV" ss -ltnH "sport = :8090" | tr -s ' '); TCPDeferAcceptDrop +$((defer1 - defer0))"
check "d1: set-up: bare final ACKs dropped (TcpExtTCPDeferAcceptDrop +$((defer1 - defer0)))" '(( defer1 > defer0 ))'
verdicts d1 8090 capacity=6 backlog=5 syn_queue=6 syncookies=on-overflow retries=5 syn=drop ack=drop
left_behind d1 8090
w=$(workers "$master_d")
check "d2: one nginx worker to stop ($w)" '[[ -n $w ]]'
# shellcheck disable=SC2086  # the pids
kill -STOP $w
probe d2 8090
defer2=$(nstat_abs TcpExtTCPDeferAcceptDrop)
lt_log "d2: ground truth: $(ip netns exec "$SRV" ss -ltnH "sport = :8090" | tr -s ' '); TCPDeferAcceptDrop +$((defer2 - defer1))"
verdicts d2 8090 capacity=6 backlog=5 syn_queue=6 syncookies=on-overflow retries=5 syn=drop ack=drop
left_behind d2 8090
# shellcheck disable=SC2086
kill -CONT $w; kill "$master_d" 2>/dev/null

# ---------------------------------------------------------------------------------
lt_log "== r: nginx reuseport, 3 workers stopped: three accept queues behind one port"
nginx_conf "$W/ngx-r" 3 "10.77.0.2:8092 reuseport backlog=5"
nginx_start "$W/ngx-r" 8092 3
master_r=${PIDS[-1]}
for _ in $(seq 50); do [[ $(workers "$master_r" | wc -w) == 3 ]] && break; sleep 0.1; done
w=$(workers "$master_r")
check "r: set-up: three nginx workers to stop ($w)" '[[ $(wc -w <<<"$w") == 3 ]]'
check "r: set-up: three listening sockets on 8092" '[[ $(ip netns exec "$SRV" ss -ltnH "sport = :8092" | wc -l) == 3 ]]'
# shellcheck disable=SC2086
kill -STOP $w
probe r 8092
ip netns exec "$SRV" ss -ltnH "sport = :8092" >"$W/r.ss"
lt_log "r: ground truth: $(tr -s ' ' <"$W/r.ss" | tr '\n' ';')"
verdicts r 8092 capacity=6 backlog=5 syn_queue=6 syncookies=on-overflow syn=drop ack=drop
lt_log "r: reuseport-group named: $(python3 -c "import json,sys; print(\"reuseport-group\" in [w[\"code\"] for w in json.load(open(sys.argv[1]))[\"listeners\"][0][\"warnings\"]])" "$W/r.json")"
left_behind r 8092
# shellcheck disable=SC2086
kill -CONT $w; kill "$master_r" 2>/dev/null

lt_checks_done
