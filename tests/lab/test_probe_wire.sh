#!/usr/bin/env bash
# Lab test: what the probe writes for others and what it says about silence.
# Its own lab (tests/lab/lib.sh), server sysctl tcp_synack_retries=2, a listener
# that never accepts on 10.77.0.2:8081.
#
#   w  `probe -w FILE --timeline SVG` (plan all): capinfos shows the interface name and
#      description, the capture filter, shb_os, shb_userappl and the section comments
#      (command, plan, step times, verdicts); tshark -V shows a comment on the first
#      packet of each of the five steps and the direction of every packet (from the
#      listener inbound, to it outbound); `replay FILE` gives the live run's verdicts;
#      the live SVG and the replay's timeline both have one panel per step, and the SVG
#      renders in headless Chromium (tests/render_svg.sh)
#   n  "no answer" explained, one probe (plan: baseline only) per cause:
#      a  an address of the server's subnet no host owns (IPv4 and IPv6): not-resolved,
#         the neighbour entry FAILED
#      b  nft `reject with icmpx type port-unreachable` in the server namespace:
#         port-unreachable, ICMP 3/3 (ICMPv6 1/4) from the server
#      c  nft reject with host-unreachable (ICMP 3/1) and admin-prohibited (3/13)
#      d  nft drop: plain silence
#      each: port_state no-answer, the cause in JSON `no_answer` and in the text report
#   m  the server's firewall answers the probe's data with a RST whose TTL nft sets to 50
#      (SYN-ACKs leave with 64): warning rst-ttl-mismatch; none on the plain listener of w
#
# Environment as every lab test (lib.sh): LP_BIN, LP_BUILD, LP_ROOT; LP_KEEP=1.

# shellcheck disable=SC2016  # check's conditions are evaluated when checked
# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e  # every check runs; failures are counted

lt_init probe_wire
for t in nft tshark capinfos chromium; do
    command -v "$t" >/dev/null || lt_fail "$t is not installed"
done
lt_up SYNACK_RETRIES=2
SRV=lp-$LAB-srv
lt_listen 8081 5

# jq_py FILE EXPR: a Python expression over the JSON document `d` in FILE.
jq_py() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }
W=$LT_WORK

lt_log "== w: the -w pcapng, its replay and the timelines"
in_cli timeout 120 "$LP_BIN" probe 10.77.0.2:8081 --plan all --format json --quiet \
    -w "$W/probe.pcapng" --timeline "$W/probe.svg" >"$W/live.json" 2>"$W/live.err"
check "w: probe exit 0" '[[ $? == 0 ]]'
capinfos "$W/probe.pcapng" >"$W/capinfos.txt" 2>&1
check "w: capinfos reads it" '[[ $? == 0 ]]'
for re in 'Name = veth0' 'Description = listenprobe probe capture on veth0' \
    'Filter string = \(tcp and ip host 10.77.0.2 and tcp port 8081\) or \(icmp' \
    'Capture oper-sys: +Linux ' 'Capture application: +listenprobe [0-9]' \
    'Capture comment: +listenprobe probe 10.77.0.2:8081 from 10.77.0.1 on veth0; command: .*probe 10.77.0.2:8081' \
    'Capture comment: +plan all: baseline, syn-queue, retries, accept-queue' \
    'Capture comment: +listenprobe steps \(start-end, ns since the epoch\): baseline [0-9]+-[0-9]+ syn-queue' \
    'Capture comment: +verdicts: port state open; accept queue capacity 6, backlog 5'; do
    check "w: capinfos shows /$re/" 'grep -Eq -- "$re" "$W/capinfos.txt"'
done
tshark -r "$W/probe.pcapng" -Y 'frame.comment' -T fields -e frame.comment >"$W/comments.txt" 2>/dev/null
check "w: one packet comment per step, in order" \
    '[[ $(tr "\n" " " <"$W/comments.txt") == "listenprobe step baseline listenprobe step syn-queue listenprobe step retries listenprobe step accept-queue listenprobe step cleanup " ]]'
n_in=$(tshark -r "$W/probe.pcapng" -Y 'ip.src == 10.77.0.2 && frame.packet_flags_direction == 1' 2>/dev/null | wc -l)
n_out=$(tshark -r "$W/probe.pcapng" -Y 'ip.dst == 10.77.0.2 && frame.packet_flags_direction == 2' 2>/dev/null | wc -l)
n_all=$(tshark -r "$W/probe.pcapng" 2>/dev/null | wc -l)
check "w: direction on every packet (in $n_in + out $n_out = $n_all)" '[[ $n_in -gt 0 && $n_out -gt 0 && $((n_in + n_out)) == "$n_all" ]]'
tshark -r "$W/probe.pcapng" -V -c 1 >"$W/tshark-V.txt" 2>/dev/null
check "w: tshark -V names the interface, the direction and the comment" \
    'grep -q "Interface name: veth0" "$W/tshark-V.txt" && grep -q "Direction: Outbound" "$W/tshark-V.txt" && grep -q "listenprobe step baseline" "$W/tshark-V.txt"'
"$LP_BIN" replay "$W/probe.pcapng" --format json >"$W/replay.json" 2>"$W/replay.err"
check "w: replay exit 0" '[[ $? == 0 ]]'
# fate_counts too: the file names the requests the probe reset on purpose (probe-reset)
verdicts='json.dumps({k: d["listeners"][0][k] for k in ("port_state", "accept_queue", "on_full", "syncookies", "syn_queue", "fate_counts", "connections_total")} | {"retries": d["listeners"][0]["synack"]["retries"]}, sort_keys=True)'
live_v=$(jq_py "$W/live.json" "$verdicts")
replay_v=$(jq_py "$W/replay.json" "$verdicts")
lt_log "live verdicts: $live_v"
check "w: the replay gives the live verdicts" '[[ -n $live_v && $live_v == "$replay_v" ]]'
cap_retries=$(jq_py "$W/live.json" 'd["listeners"][0]["accept_queue"]["capacity"], d["listeners"][0]["synack"]["retries"]')
check "w: the live run found the listener (capacity, retries: $cap_retries)" '[[ $cap_retries == "6 2" ]]'
"$LP_BIN" timeline "$W/probe.pcapng" -o "$W/replay.svg"
check "w: live SVG: five step panels" '[[ $(grep -c "class=\"panel\"" "$W/probe.svg") == 5 ]]'
check "w: the replay's timeline reads the steps back" '[[ $(grep -c "class=\"panel\"" "$W/replay.svg") == 5 ]]'
check "w: the SVG renders" 'bash "$LP_ROOT/tests/render_svg.sh" "$W/probe.svg" "$W/probe.png" 1400,1000 >&2'

lt_log "== n: no answer, and why"
printf 'name = "baseline-only"\ndescription = "one SYN, three tries"\nsteps = ["baseline"]\n' >"$W/baseline.toml"
ip netns exec "$SRV" nft -f - <<'NFT'
table inet lp_wire_test {
    chain input {
        type filter hook input priority 0;
        tcp dport 8082 reject with icmpx type port-unreachable
        tcp dport 8083 reject with icmp type host-unreachable
        tcp dport 8084 reject with icmp type admin-prohibited
        tcp dport 8085 drop
    }
}
NFT
check "n: nft rules in the server namespace" '[[ $? == 0 ]]'
# cause TARGET CAUSE FROM TYPE CODE TEXT-REGEX: port_state no-answer, no_answer as given
# (None: null), and the text report's no-answer line matching TEXT-REGEX.
cause() {
    local target=$1 want="no-answer|$2|$3|$4|$5" re=$6 name=n-${1//[^0-9a-z]/_} got
    in_cli timeout 60 "$LP_BIN" probe "$target" --plan "$W/baseline.toml" --format json --quiet \
        >"$W/$name.json" 2>"$W/$name.err"
    got=$(jq_py "$W/$name.json" '"|".join(str(x) for x in [d["listeners"][0]["port_state"]] + [(d["listeners"][0].get("no_answer") or {}).get(k) for k in ("cause", "from", "icmp_type", "icmp_code")])')
    check "$target: $want (got $got)" '[[ $got == "$want" ]]'
    in_cli timeout 60 "$LP_BIN" probe "$target" --plan "$W/baseline.toml" --format text --quiet >"$W/$name.txt" 2>&1
    check "$target: the text says /$re/" 'grep -Eq -- "$re" "$W/$name.txt"'
}
cause 10.77.0.9:8081 not-resolved 10.77.0.9 None None 'address not resolved on the link.*10\.77\.0\.9.*FAILED'
cause '[fd77::9]:8081' not-resolved fd77::9 None None 'address not resolved on the link.*fd77::9.*FAILED'
cause 10.77.0.2:8082 port-unreachable 10.77.0.2 3 3 'port unreachable \(ICMP type 3 code 3 from 10\.77\.0\.2'
cause '[fd77::2]:8082' port-unreachable fd77::2 1 4 'port unreachable \(ICMPv6 type 1 code 4 from fd77::2'
cause 10.77.0.2:8083 host-unreachable 10.77.0.2 3 1 'host unreachable \(ICMP type 3 code 1'
cause 10.77.0.2:8084 admin-prohibited 10.77.0.2 3 13 'administratively prohibited \(ICMP type 3 code 13'
cause 10.77.0.2:8085 silence None None None 'plain silence'

lt_log "== m: a RST with another TTL than the SYN-ACKs"
# The server's firewall answers the probe's data with a RST whose TTL it sets to 50 (as a
# middlebox would), while the listener's SYN-ACKs leave with 64.
lt_listen 8086 5
ip netns exec "$SRV" nft -f - <<'NFT'
table inet lp_wire_ttl {
    chain input {
        type filter hook input priority 0;
        tcp dport 8086 tcp flags & psh == psh reject with tcp reset
    }
    chain output {
        type filter hook output priority 0;
        tcp sport 8086 tcp flags & rst == rst ip ttl set 50
    }
}
NFT
printf 'name = "aq"\ndescription = "baseline and accept-queue"\nsteps = ["baseline", "accept-queue"]\n' >"$W/aq.toml"
in_cli timeout 60 "$LP_BIN" probe 10.77.0.2:8086 --plan "$W/aq.toml" --format json --quiet >"$W/m.json" 2>"$W/m.err"
ttl_warning=$(jq_py "$W/m.json" '" ".join(w["message"] for w in d["listeners"][0]["warnings"] if w["code"] == "rst-ttl-mismatch")')
check "m: warning rst-ttl-mismatch ($ttl_warning)" '[[ $ttl_warning == *"with TTL 50 while the listener'"'"'s SYN-ACKs came with 64"* ]]'
tcp_ok=$(jq_py "$LT_WORK/live.json" '" ".join(w["code"] for w in d["listeners"][0]["warnings"])')
check "m: no such warning on the plain listener (warnings: ${tcp_ok:-none})" '[[ $tcp_ok != *rst-ttl-mismatch* ]]'

lt_checks_done
