#!/usr/bin/env bash
# Lab test: the accept-queue step on applications that keep up. Its own lab
# (tests/lab/lib.sh); in the server namespace, real servers that accept at once:
#
#   p  `python3 -m http.server` (threads, accepts at once) on 10.77.0.2:8000
#   n  nginx, one worker, running, on 10.77.0.2:8090
#
# Each: `probe --plan accept-queue` half-closes every connection it establishes; the
# application reads the end and closes, its FIN proves it accepted. After 3 accepted
# connections the step stops (warning accept-queue-app-accepts) instead of spending
# the budget of 256: at most 12 connections, done within 10 s; the accept queue's
# capacity is not claimed (null) and the warning listener-accepts says why; a second
# after the probe no connection from its ports is left on the server.
#
# Environment as every lab test (lib.sh): LP_BIN, LP_BUILD, LP_ROOT; LP_KEEP=1.

# shellcheck disable=SC2016  # check's conditions are evaluated when checked
# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e  # every check runs; failures are counted

lt_init probe_accepting
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || lt_fail "nginx is not installed"
# (the servers run in the server namespace: `lab down`, in lt_cleanup, ends them)
lt_up
SRV=lp-$LAB-srv
W=$LT_WORK

# wait_port PORT: until something listens on 10.77.0.2:PORT in the server namespace.
wait_port() {
    for _ in $(seq 100); do
        ip netns exec "$SRV" ss -ltnH "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

jq_py() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }

# probe_accepting NAME TARGET PORT
probe_accepting() {
    local name=$1 target=$2 port=$3 t0 t1
    t0=$EPOCHREALTIME
    in_cli timeout 60 "$LP_BIN" probe "$target" --plan accept-queue --format json --quiet \
        >"$W/$name.json" 2>"$W/$name.err"
    check "$name: probe exit 0" '[[ $? == 0 ]]'
    t1=$EPOCHREALTIME
    check "$name: done within 10 s" "awk -v a=$t0 -v b=$t1 'BEGIN{exit !(b - a < 10)}'"
    local l='[x for x in d["listeners"] if x["port"] == '"$port"'][0]'
    check "$name: at most 12 connections" '(( $(jq_py "$W/$name.json" "len($l[\"connections\"])") <= 12 ))'
    check "$name: warning accept-queue-app-accepts" \
        '[[ $(jq_py "$W/$name.json" "\"accept-queue-app-accepts\" in [w[\"code\"] for w in $l[\"warnings\"]]") == True ]]'
    check "$name: warning listener-accepts" \
        '[[ $(jq_py "$W/$name.json" "\"listener-accepts\" in [w[\"code\"] for w in $l[\"warnings\"]]") == True ]]'
    check "$name: capacity not claimed" \
        '[[ $(jq_py "$W/$name.json" "$l[\"accept_queue\"][\"capacity\"]") == None ]]'
    sleep 1
    ip netns exec "$SRV" ss -tanH >"$W/$name.ss"
    check "$name: no probe connection left on the server" \
        '! grep -v "^LISTEN" "$W/$name.ss" | grep -E ":$port +" | grep -Eq "10.77.0.1:(6[1-5][0-9]{3})"'
}

lt_log "== p: python3 -m http.server"
ip netns exec "$SRV" python3 -m http.server 8000 --bind 10.77.0.2 -d "$W" >"$W/http.log" 2>&1 &
wait_port 8000 || lt_fail "http.server did not listen"
probe_accepting p 10.77.0.2:8000 8000

lt_log "== n: nginx"
mkdir -p "$W/nginx/logs"
cat >"$W/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server { listen 10.77.0.2:8090; root $W; }
}
NGINX
ip netns exec "$SRV" nginx -p "$W/nginx/" -c "$W/nginx/nginx.conf" -e "$W/nginx/logs/error.log" \
    >"$W/nginx/stderr.log" 2>&1 &
wait_port 8090 || lt_fail "nginx did not listen: $(cat "$W/nginx/stderr.log")"
probe_accepting n 10.77.0.2:8090 8090

lt_checks_done
