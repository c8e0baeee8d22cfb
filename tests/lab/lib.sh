# shellcheck shell=bash
# Shared helpers for the lab test scripts (tests/lab/test_*.sh), sourced. The
# replay cases have their own runner (tests/lab/replay.py, replay_cases.toml);
# these helpers do the same steps for scripts that need more than a table.
#
# A test brings up its own lab (a unique LAB name, so tests never share
# namespaces), captures on the server's side with tcpdump, drives a real Linux
# listener with real clients (lab/clients.py) or hand-made SYNs (lab_synsend),
# checks the capture itself with lab/pcapsum.py (independently of listenprobe),
# then replays it with `$LP_BIN replay FILE --format json` and matches the
# verdicts with check_json.py. Everything is torn down on exit.
#
# Environment: LP_BIN (listenprobe), LP_BUILD (build dir with lab_listener and
# lab_synsend), LP_ROOT (source dir); LP_KEEP=1 keeps the work dir; LP_RECORD=1
# also stores the capture and expectation as captures/lab-<case>.{pcap,expect.json}
# (underscores in the case name become dashes).
set -euo pipefail

LP_ROOT=${LP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LP_BUILD=${LP_BUILD:-$LP_ROOT/build}
LP_BIN=${LP_BIN:-$LP_BUILD/listenprobe}
export LP_ROOT LP_BUILD LP_BIN
LABSH="$LP_ROOT/lab/lab.sh"
LT_CASE=""
LT_WORK=""
LT_PCAP=""
LT_T0=""

lt_log() { echo "[$LT_CASE $(lt_elapsed)s] $*" >&2; }
lt_elapsed() { awk -v a="${LT_T0:-0}" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}'; }
lt_fail() { echo "FAIL [$LT_CASE]: $*" >&2; exit 1; }

lt_cleanup() {
    local rc=$?
    set +e
    [[ -n $LT_CASE ]] || return
    "$LABSH" capture-stop >/dev/null 2>&1
    "$LABSH" down >/dev/null 2>&1
    if [[ ${LP_KEEP:-0} == 1 || $rc != 0 ]]; then
        echo "[$LT_CASE] work dir kept: $LT_WORK" >&2
    else
        rm -rf "$LT_WORK"
    fi
    echo "[$LT_CASE] $([[ $rc == 0 ]] && echo PASS || echo FAIL) in $(lt_elapsed) s" >&2
}

# lt_init CASE: checks prerequisites, names the lab, prepares a work dir.
lt_init() {
    LT_CASE=$1
    LT_T0=$EPOCHREALTIME
    [[ $(id -u) -eq 0 ]] || { echo "FAIL [$LT_CASE]: lab tests need root (network namespaces)" >&2; exit 1; }
    local t
    for t in ip tcpdump python3 ss; do
        command -v "$t" >/dev/null || { echo "FAIL [$LT_CASE]: $t is not installed" >&2; exit 1; }
    done
    for t in lab_listener lab_synsend; do
        [[ -x $LP_BUILD/$t ]] || { echo "FAIL [$LT_CASE]: $LP_BUILD/$t is not built" >&2; exit 1; }
    done
    export LAB="t$$-$LT_CASE"
    export LAB_QUIET=1
    LT_WORK=$(mktemp -d "/tmp/lp-lab-$LT_CASE.XXXXXX")
    LT_PCAP="$LT_WORK/lab-$LT_CASE.pcap"
    trap lt_cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
}

# lt_up [VAR=VALUE..]: the lab with these server sysctls (SOMAXCONN, SYNACK_RETRIES,
# ABORT_ON_OVERFLOW, SYNCOOKIES, MAX_SYN_BACKLOG; see lab/lab.sh).
# shellcheck disable=SC2120  # arguments are optional
lt_up() { env "$@" "$LABSH" up; lt_log "lab up ($*)"; }

# lt_listen PORT BACKLOG [ACCEPT_EVERY]  (LISTEN_ADDR picks the address)
lt_listen() { "$LABSH" listen "$@"; }

# lt_capture_start [PCAP-FILTER..]: server-side capture, snap length 128.
lt_capture_start() { SNAPLEN=128 "$LABSH" capture-start "$LT_PCAP" "$@"; }
lt_capture_stop() {
    "$LABSH" capture-stop 2>/dev/null
    lt_log "capture: $(stat -c %s "$LT_PCAP") bytes, $(tcpdump -nn -r "$LT_PCAP" 2>/dev/null | wc -l) packets"
}

# lt_clients NAME [clients.py options]: real clients; prints their result lines.
lt_clients() { "$LABSH" clients "$@"; }
lt_clients_stop() { "$LABSH" clients-stop "$1"; }

# lt_synsend [lab_synsend options]: hand-made SYNs from the client namespace
# (--src/--dst default to the lab's IPv4 addresses). Output goes to the work dir.
lt_synsend() {
    local args=("$@")
    [[ " ${args[*]} " == *" --src "* ]] || args=(--src 10.77.0.1 "${args[@]}")
    [[ " ${args[*]} " == *" --dst "* ]] || args=(--dst 10.77.0.2 "${args[@]}")
    "$LABSH" exec-cli "$LP_BUILD/lab_synsend" "${args[@]}" >>"$LT_WORK/synsend.log"
}

# lt_pcapsum SERVER: the capture summarised per connection (JSON), from tcpdump's view
# (computed once per capture and server).
lt_pcapsum() {
    local f="$LT_WORK/pcapsum-${1//[^0-9a-zA-Z]/_}.json"
    [[ -s $f && $f -nt $LT_PCAP ]] || python3 "$LP_ROOT/lab/pcapsum.py" "$LT_PCAP" --server "$1" --json >"$f"
    cat "$f"
}

# lt_expect_capture SERVER PYTHON-EXPR MESSAGE: asserts a fact about the capture
# itself. The expression sees `conns` (pcapsum's list, in order of first packet)
# and `s` (the whole summary).
lt_expect_capture() {
    local server=$1 expr=$2 msg=$3
    if ! lt_pcapsum "$server" | python3 -c "
import json, sys
s = json.load(sys.stdin); conns = s['connections']
ok = bool($expr)
if not ok:
    for c in conns: print('  ', json.dumps(c), file=sys.stderr)
sys.exit(0 if ok else 1)"; then
        lt_fail "capture check failed: $msg"
    fi
    lt_log "capture ok: $msg"
}

# lt_replay_check EXPECT_JSON: replays the capture with listenprobe and matches the
# JSON output against the expectation; with LP_RECORD=1 also stores both under captures/.
lt_replay_check() {
    local expect=$1
    printf '%s\n' "$expect" | python3 -m json.tool >"$LT_WORK/expect.json" ||
        lt_fail "the expectation is not valid JSON"
    if [[ ${LP_RECORD:-0} == 1 ]]; then
        local name="lab-${LT_CASE//_/-}"
        cp "$LT_PCAP" "$LP_ROOT/captures/$name.pcap"
        cp "$LT_WORK/expect.json" "$LP_ROOT/captures/$name.expect.json"
        lt_log "recorded captures/$name.pcap ($(stat -c %s "$LT_PCAP") bytes)"
    fi
    [[ -x $LP_BIN ]] || lt_fail "listenprobe is not built ($LP_BIN)"
    local rc=0
    "$LP_BIN" replay "$LT_PCAP" --format json >"$LT_WORK/out.json" 2>"$LT_WORK/replay.err" || rc=$?
    [[ $rc == 0 ]] || { cat "$LT_WORK/replay.err" >&2; lt_fail "listenprobe replay exited with $rc"; }
    if ! python3 "$LP_ROOT/tests/lab/check_json.py" "$LT_WORK/expect.json" "$LT_WORK/out.json"; then
        echo "--- listenprobe output:" >&2
        python3 -m json.tool "$LT_WORK/out.json" | head -c 4000 >&2 || cat "$LT_WORK/out.json" >&2
        lt_fail "verdicts do not match"
    fi
    lt_log "verdicts match"
}

# Checks that count instead of ending the script (for scripts that `set +e` so every
# check runs): check NAME CONDITION evaluates CONDITION (a shell command line, e.g.
# '[[ $rc == 0 ]]', evaluated when checked); lt_checks_done fails the test when any failed.
FAILS=0
ok() { lt_log "ok: $*"; }
bad() { lt_log "FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
lt_checks_done() {
    ((FAILS == 0)) || lt_fail "$FAILS check(s) failed"
    lt_log "all checks passed"
}
# in_cli CMD..: run in the client namespace of this test's lab.
in_cli() { ip netns exec "lp-$LAB-cli" "$@"; }
