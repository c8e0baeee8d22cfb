#!/usr/bin/env bash
# The listenprobe lab: two network namespaces joined by a veth pair, so a real
# Linux TCP listener (server side) can be driven by real and hand-made clients
# (client side) without touching any other network.
#
#   client  lp-$LAB-cli  veth0  10.77.0.1/24  fd77::1/64
#   server  lp-$LAB-srv  veth0  10.77.0.2/24  fd77::2/64
#
# With BOX=1 (or any BOX_* set) at "up", a third namespace lp-$LAB-box sits between
# them: lab_delaybox relays every Ethernet frame between its two veth ends (user
# space, AF_PACKET; this kernel has neither sch_netem nor nft_queue), the lab's WAN: BOX_DELAY, BOX_JITTER (ms, one way), BOX_LOSS, BOX_REORDER (percent),
# each "V" or "UP/DOWN" (up = client -> server). Addresses and names stay the same;
# "box-set DELAY JITTER LOSS REORDER" changes the path of a running lab.
#
# Usage: lab/lab.sh up|down|status|exec-srv CMD..|exec-cli CMD..|exec-box CMD..
#                   |box-set DELAY JITTER LOSS REORDER
#                   |listen PORT BACKLOG [ACCEPT_EVERY]|unlisten PORT
#                   |clients NAME [clients.py options]|clients-bg NAME [..]|clients-stop NAME
#                   |capture-start FILE [PCAP-FILTER..]|capture-stop
#                   |sysctl-srv|sysctl-cli
# See docs/lab.md.
set -euo pipefail

LAB=${LAB:-main}
NS_SRV="lp-${LAB}-srv"
NS_CLI="lp-${LAB}-cli"
NS_BOX="lp-${LAB}-box"
IFACE=veth0
CLI_V4=10.77.0.1
SRV_V4=10.77.0.2
CLI_V6=fd77::1
SRV_V6=fd77::2

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(dirname "$LAB_DIR")
RUN_DIR="${LAB_RUN_DIR:-$LAB_DIR/run}/$LAB"

# Server sysctls (all per network namespace).
SOMAXCONN=${SOMAXCONN:-4096}
SYNACK_RETRIES=${SYNACK_RETRIES:-5}
ABORT_ON_OVERFLOW=${ABORT_ON_OVERFLOW:-0}
SYNCOOKIES=${SYNCOOKIES:-1}
MAX_SYN_BACKLOG=${MAX_SYN_BACKLOG:-512}
# Client sysctls: give up a blocked connect() after a few seconds, not two minutes.
CLI_SYN_RETRIES=${CLI_SYN_RETRIES:-3}

die() { echo "lab.sh: $*" >&2; exit 1; }
log() { [[ -n ${LAB_QUIET:-} ]] || echo "lab.sh[$LAB]: $*" >&2; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"; }

ns_exists() { ip netns list | awk '{print $1}' | grep -qxF "$1"; }

# Finds a helper program built from tools/: $LP_BUILD, then the usual build dirs.
find_tool() {
    local name=$1 d
    for d in "${LP_BUILD:-}" "$ROOT_DIR/build" "$ROOT_DIR/build-lab"; do
        [[ -n $d && -x $d/$name ]] && { echo "$d/$name"; return 0; }
    done
    command -v "$name" 2>/dev/null && return 0
    die "cannot find $name (build it, or set LP_BUILD to the build directory)"
}

# True while the process runs (a zombie waiting for its reaper counts as gone).
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# Stops one process we started (by pid file): TERM, then KILL after 2 s.
stop_pidfile() {
    local f=$1 pid
    [[ -f $f ]] || return 0
    pid=$(cat "$f")
    if [[ -n $pid ]] && alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 40); do alive "$pid" || break; sleep 0.05; done
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$f"
}

set_sysctls_srv() {
    ip netns exec "$NS_SRV" sysctl -qw \
        net.core.somaxconn="$SOMAXCONN" \
        net.ipv4.tcp_synack_retries="$SYNACK_RETRIES" \
        net.ipv4.tcp_abort_on_overflow="$ABORT_ON_OVERFLOW" \
        net.ipv4.tcp_syncookies="$SYNCOOKIES" \
        net.ipv4.tcp_max_syn_backlog="$MAX_SYN_BACKLOG" \
        net.ipv4.tcp_no_metrics_save=1
}

cmd_down() {
    need_root
    local f ns pid
    if [[ -d $RUN_DIR ]]; then
        for f in "$RUN_DIR"/*.pid; do [[ -e $f ]] && stop_pidfile "$f"; done
    fi
    # Anything else still running inside the lab's namespaces was started in the lab.
    for ns in "$NS_SRV" "$NS_CLI" "$NS_BOX"; do
        ns_exists "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    done
    for ns in "$NS_SRV" "$NS_CLI" "$NS_BOX"; do
        ns_exists "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            for _ in $(seq 20); do alive "$pid" || break; sleep 0.05; done
            if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
        done
        ip netns del "$ns"   # takes its end of the veth pair (and so the pair) with it
    done
    rm -rf "$RUN_DIR"
    log "down"
}

cmd_up() {
    need_root
    if ns_exists "$NS_SRV" || ns_exists "$NS_CLI" || ns_exists "$NS_BOX"; then
        log "tearing down the old instance first"
        cmd_down
    fi
    mkdir -p "$RUN_DIR"
    ip netns add "$NS_SRV"
    ip netns add "$NS_CLI"
    # Both ends are created directly inside the namespaces: the same interface name
    # in every lab, nothing in the host namespace, labs coexist.
    if box_wanted; then
        box_up
    else
        ip -n "$NS_CLI" link add "$IFACE" type veth peer name "$IFACE" netns "$NS_SRV"
    fi
    local ns
    for ns in "$NS_SRV" "$NS_CLI"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
            net.ipv6.conf.default.disable_ipv6=0
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_CLI" addr add "$CLI_V4/24" dev "$IFACE"
    ip -n "$NS_CLI" addr add "$CLI_V6/64" dev "$IFACE" nodad
    ip -n "$NS_SRV" addr add "$SRV_V4/24" dev "$IFACE"
    ip -n "$NS_SRV" addr add "$SRV_V6/64" dev "$IFACE" nodad
    ip -n "$NS_CLI" link set "$IFACE" up
    ip -n "$NS_SRV" link set "$IFACE" up
    set_sysctls_srv
    ip netns exec "$NS_CLI" sysctl -qw net.ipv4.tcp_syn_retries="$CLI_SYN_RETRIES" \
        net.ipv4.tcp_no_metrics_save=1
    # Wait until both directions pass traffic (neighbour resolution, link up); through
    # the box, wait for a round trip of its delay plus jitter.
    local w=0.2
    box_wanted && w=$(awk -v d="${BOX_DELAY:-0}" -v j="${BOX_JITTER:-0}" 'BEGIN {
        n = split(d, a, "/"); if (n < 2) a[2] = a[1]; m = split(j, b, "/"); if (m < 2) b[2] = b[1];
        printf "%.2f", 0.2 + (a[1] + a[2] + b[1] + b[2]) * 1.5 / 1000 }')
    for _ in $(seq 50); do
        if ip netns exec "$NS_CLI" ping -c1 -W"$w" -q "$SRV_V4" >/dev/null 2>&1 &&
           ip netns exec "$NS_CLI" ping -6 -c1 -W"$w" -q "$SRV_V6" >/dev/null 2>&1; then
            log "up (srv $NS_SRV $SRV_V4 $SRV_V6, cli $NS_CLI $CLI_V4 $CLI_V6)"
            return 0
        fi
        sleep 0.1
    done
    die "lab is up but $SRV_V4/$SRV_V6 do not answer from the client namespace"
}

box_wanted() { [[ -n ${BOX:-}${BOX_DELAY:-}${BOX_JITTER:-}${BOX_LOSS:-}${BOX_REORDER:-} && ${BOX:-1} != 0 ]]; }

# The box: veth0 of each end is paired with c0 / s0 in the box, where
# lab_delaybox relays frames between the two (this kernel has no nft_queue).
box_up() {
    ip netns add "$NS_BOX"
    ip -n "$NS_BOX" link set lo up
    ip -n "$NS_CLI" link add "$IFACE" type veth peer name c0 netns "$NS_BOX"
    ip -n "$NS_SRV" link add "$IFACE" type veth peer name s0 netns "$NS_BOX"
    ip netns exec "$NS_BOX" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    # No bridge and no address: the box kernel neither forwards nor answers;
    # lab_delaybox relays every frame between c0 and s0 itself.
    ip -n "$NS_BOX" link set c0 up
    ip -n "$NS_BOX" link set s0 up
    box_start "${BOX_DELAY:-0}" "${BOX_JITTER:-0}" "${BOX_LOSS:-0}" "${BOX_REORDER:-0}"
}

# Starts (or restarts) lab_delaybox with this path; waits for its "ready".
box_start() {
    local bin log="$RUN_DIR/delaybox.log" pidf="$RUN_DIR/delaybox.pid"
    bin=$(find_tool lab_delaybox)
    stop_pidfile "$pidf"
    : >"$log"
    ip netns exec "$NS_BOX" "$bin" --delay "$1" --jitter "$2" --loss "$3" --reorder "$4" >"$log" 2>&1 &
    echo $! >"$pidf"
    for _ in $(seq 100); do
        if grep -q '^ready' "$log"; then log "box: $(head -1 "$log")"; return 0; fi
        alive "$(cat "$pidf")" || { cat "$log" >&2; die "lab_delaybox exited"; }
        sleep 0.05
    done
    die "lab_delaybox did not get ready"
}

cmd_box_set() {
    need_root
    [[ $# -eq 4 ]] || die "usage: box-set DELAY JITTER LOSS REORDER"
    ns_exists "$NS_BOX" || die "lab $LAB has no box (up it with BOX=1)"
    box_start "$@"
}

cmd_status() {
    local ns ok=0
    for ns in "$NS_SRV" "$NS_CLI" "$NS_BOX"; do
        [[ $ns == "$NS_BOX" ]] && ! ns_exists "$ns" && continue
        if ns_exists "$ns"; then
            echo "== $ns"
            ip -n "$ns" -br addr show
            ok=1
        else
            echo "== $ns: absent"
        fi
    done
    [[ $ok == 1 ]] || return 1
    if ns_exists "$NS_SRV"; then
        echo "== server sysctls"
        ip netns exec "$NS_SRV" sysctl net.core.somaxconn net.ipv4.tcp_synack_retries \
            net.ipv4.tcp_abort_on_overflow net.ipv4.tcp_syncookies net.ipv4.tcp_max_syn_backlog
        echo "== server listeners (Recv-Q = accept queue length, Send-Q = limit)"
        ip netns exec "$NS_SRV" ss -ltnH || true
    fi
    if [[ -d $RUN_DIR ]]; then
        local f
        for f in "$RUN_DIR"/*.pid; do
            [[ -e $f ]] || continue
            echo "== $(basename "$f" .pid): pid $(cat "$f")"
        done
    fi
}

# listen PORT BACKLOG [ACCEPT_EVERY]: starts lab_listener in the server namespace and
# waits for its "ready". LISTEN_ADDR (default 10.77.0.2) picks the address;
# LISTEN_ARGS adds options (e.g. "--close-accepted", "--relisten 5 --relisten-after 3").
cmd_listen() {
    need_root
    [[ $# -ge 2 ]] || die "usage: listen PORT BACKLOG [ACCEPT_EVERY]"
    local port=$1 backlog=$2 every=${3:-} bin log pidf
    ns_exists "$NS_SRV" || die "lab $LAB is not up"
    bin=$(find_tool lab_listener)
    mkdir -p "$RUN_DIR"
    log="$RUN_DIR/listener-$port.log"
    pidf="$RUN_DIR/listener-$port.pid"
    stop_pidfile "$pidf"
    local args=(--addr "${LISTEN_ADDR:-$SRV_V4}" --port "$port" --backlog "$backlog")
    [[ -n $every ]] && args+=(--accept-every "$every")
    # shellcheck disable=SC2206
    [[ -n ${LISTEN_ARGS:-} ]] && args+=(${LISTEN_ARGS})
    : >"$log"
    ip netns exec "$NS_SRV" "$bin" "${args[@]}" >"$log" 2>&1 &
    echo $! >"$pidf"
    for _ in $(seq 100); do
        if grep -qx ready "$log"; then log "listening on port $port (backlog $backlog)"; return 0; fi
        alive "$(cat "$pidf")" || { cat "$log" >&2; die "lab_listener exited"; }
        sleep 0.05
    done
    die "lab_listener did not get ready"
}

cmd_unlisten() {
    [[ $# -ge 1 ]] || die "usage: unlisten PORT"
    stop_pidfile "$RUN_DIR/listener-$1.pid"
}

# clients NAME [clients.py options..]: real clients (lab/clients.py) in the client
# namespace, in the background; waits until they finished connecting ("done"),
# prints their result lines, and leaves them holding their sockets until
# clients-stop NAME (or down). --dst defaults to 10.77.0.2 (CLIENT_DST).
cmd_clients() {
    need_root
    [[ $# -ge 1 ]] || die "usage: clients NAME [OPTIONS..]"
    local name=$1; shift
    local log="$RUN_DIR/clients-$name.log" pidf="$RUN_DIR/clients-$name.pid"
    ns_exists "$NS_CLI" || die "lab $LAB is not up"
    mkdir -p "$RUN_DIR"
    stop_pidfile "$pidf"
    : >"$log"
    local args=("$@")
    [[ " ${args[*]} " == *" --dst "* ]] || args=(--dst "${CLIENT_DST:-$SRV_V4}" "${args[@]}")
    ip netns exec "$NS_CLI" python3 -u "$LAB_DIR/clients.py" "${args[@]}" >"$log" 2>&1 &
    echo $! >"$pidf"
    for _ in $(seq "${CLIENTS_TIMEOUT:-600}"0); do
        if grep -qx 'done' "$log"; then grep -v '^done$' "$log"; return 0; fi
        if ! alive "$(cat "$pidf")"; then
            grep -qx 'done' "$log" && { grep -v '^done$' "$log"; return 0; }
            cat "$log" >&2; die "clients $name exited early"
        fi
        sleep 0.1
    done
    die "clients $name did not finish"
}

# clients-bg NAME [clients.py options..]: the same clients, but returns at once
# (their log is $RUN_DIR/clients-NAME.log; clients-stop NAME or down ends them).
cmd_clients_bg() {
    need_root
    [[ $# -ge 1 ]] || die "usage: clients-bg NAME [OPTIONS..]"
    local name=$1; shift
    local log="$RUN_DIR/clients-$name.log" pidf="$RUN_DIR/clients-$name.pid"
    ns_exists "$NS_CLI" || die "lab $LAB is not up"
    mkdir -p "$RUN_DIR"
    stop_pidfile "$pidf"
    : >"$log"
    local args=("$@")
    [[ " ${args[*]} " == *" --dst "* ]] || args=(--dst "${CLIENT_DST:-$SRV_V4}" "${args[@]}")
    ip netns exec "$NS_CLI" python3 -u "$LAB_DIR/clients.py" "${args[@]}" >"$log" 2>&1 &
    echo $! >"$pidf"
    echo "$log"
}

cmd_clients_stop() {
    [[ $# -ge 1 ]] || die "usage: clients-stop NAME"
    stop_pidfile "$RUN_DIR/clients-$1.pid"
}

# capture-start FILE [FILTER..]: tcpdump on the server's veth (SNAPLEN, default 128),
# packet-buffered; returns once tcpdump listens. CAPTURE_IFACE=any for cooked captures.
cmd_capture_start() {
    need_root
    [[ $# -ge 1 ]] || die "usage: capture-start FILE [FILTER..]"
    local file=$1; shift
    local filter=("$@") pidf="$RUN_DIR/tcpdump.pid" err="$RUN_DIR/tcpdump.err"
    [[ ${#filter[@]} -gt 0 ]] || filter=(tcp)
    mkdir -p "$RUN_DIR"
    stop_pidfile "$pidf"
    : >"$err"
    ip netns exec "$NS_SRV" tcpdump -i "${CAPTURE_IFACE:-$IFACE}" -nn -U --immediate-mode -s "${SNAPLEN:-128}" \
        -w "$file" "${filter[@]}" </dev/null >/dev/null 2>"$err" &
    echo $! >"$pidf"
    for _ in $(seq 100); do
        grep -q "listening on" "$err" && { log "capturing to $file"; return 0; }
        alive "$(cat "$pidf")" || { cat "$err" >&2; die "tcpdump exited"; }
        sleep 0.05
    done
    die "tcpdump did not start"
}

cmd_capture_stop() {
    local pidf="$RUN_DIR/tcpdump.pid"
    [[ -f $pidf ]] || die "no capture running"
    sleep 0.2   # let the last packets reach the capture
    stop_pidfile "$pidf"
    if [[ -f $RUN_DIR/tcpdump.err ]]; then
        grep -h "captured\|dropped by kernel" "$RUN_DIR/tcpdump.err" >&2 || true
    fi
}

main() {
    local cmd=${1:-}
    [[ -n $cmd ]] || die "usage: lab.sh up|down|status|exec-srv CMD|exec-cli CMD|listen PORT BACKLOG [EVERY]|unlisten PORT|clients NAME [OPTS]|clients-bg NAME [OPTS]|clients-stop NAME|capture-start FILE [FILTER]|capture-stop|sysctl-srv|sysctl-cli"
    shift
    case $cmd in
        up) cmd_up ;;
        down) cmd_down ;;
        status) cmd_status ;;
        exec-srv) need_root; exec ip netns exec "$NS_SRV" "$@" ;;
        exec-cli) need_root; exec ip netns exec "$NS_CLI" "$@" ;;
        exec-box) need_root; exec ip netns exec "$NS_BOX" "$@" ;;
        box-set) cmd_box_set "$@" ;;
        sysctl-srv) need_root; exec ip netns exec "$NS_SRV" sysctl "$@" ;;
        sysctl-cli) need_root; exec ip netns exec "$NS_CLI" sysctl "$@" ;;
        listen) cmd_listen "$@" ;;
        clients) cmd_clients "$@" ;;
        clients-bg) cmd_clients_bg "$@" ;;
        clients-stop) cmd_clients_stop "$@" ;;
        unlisten) cmd_unlisten "$@" ;;
        capture-start) cmd_capture_start "$@" ;;
        capture-stop) cmd_capture_stop ;;
        *) die "unknown command: $cmd" ;;
    esac
}

main "$@"
