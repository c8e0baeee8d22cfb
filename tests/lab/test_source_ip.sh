#!/usr/bin/env bash
# Lab test: `probe --source-ip ADDR`, from an address the prober's kernel does not own.
# Its own lab (tests/lab/lib.sh), listeners that never accept: listen(5) on
# 10.77.0.2:8081, listen(3) on [fd77::2]:8083.
#
#   v4/v6  `probe --plan quick --source-ip 10.77.0.99` (IPv6: fd77::99) gives the
#          truth (capacity 6 / 4, backlog 5 / 3, final ACK dropped, syncookies
#          on-overflow); while it runs the prober namespace has no nftables table (none
#          is needed: the kernel owns no socket for the address, so it sends no RST);
#          the -w capture has no RST without ACK from the address (a kernel RST) and
#          every connection in the JSON comes from it; the server's neighbour entry for
#          it holds the prober's MAC (the probe answered ARP / neighbour solicitations);
#          run.options.source_ip says it; a second after the probe no connection from it
#          is left on the server.
#   r      refused, one line on stderr and the documented exit code: an address of the
#          prober (2), one another host answers for (1: the server's own, IPv4 and IPv6),
#          outside the interface's prefixes (1), the other family (2), -i lo (1),
#          forwarding on (1), not an address (2); no table left behind.
#
# Environment as every lab test (lib.sh): LP_BIN, LP_BUILD, LP_ROOT; LP_KEEP=1.

# shellcheck disable=SC2016  # check's conditions are evaluated when checked
# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e  # every check runs; failures are counted

lt_init source_ip
command -v nft >/dev/null || lt_fail "nft is not installed"
lt_up
SRV=lp-$LAB-srv
lt_listen 8081 5
LISTEN_ADDR=fd77::2 lt_listen 8083 3
W=$LT_WORK
MAC=$(in_cli cat /sys/class/net/veth0/address)

jq_py() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }

# borrowed NAME SOURCE TARGET PORT CAPACITY
borrowed() {
    local name=$1 src=$2 target=$3 port=$4 cap=$5 pid tables=""
    in_cli timeout 60 "$LP_BIN" probe "$target" --plan quick --format json --quiet --source-ip "$src" \
        -w "$W/$name.pcapng" >"$W/$name.json" 2>"$W/$name.err" &
    pid=$!
    for _ in $(seq 20); do
        sleep 0.2
        tables+=$(in_cli nft list tables 2>&1)
    done
    wait $pid
    check "$name: probe exit 0" '[[ $? == 0 ]]'
    check "$name: no nftables table while probing" '[[ -z $tables ]]'
    local l='[x for x in d["listeners"] if x["port"] == '"$port"'][0]'
    check "$name: capacity $cap" '[[ $(jq_py "$W/$name.json" "$l[\"accept_queue\"][\"capacity\"]") == "$cap" ]]'
    check "$name: backlog $((cap - 1))" '[[ $(jq_py "$W/$name.json" "$l[\"accept_queue\"][\"backlog\"]") == "$((cap - 1))" ]]'
    check "$name: final ACK dropped" '[[ $(jq_py "$W/$name.json" "$l[\"on_full\"][\"ack\"]") == drop ]]'
    check "$name: syncookies on-overflow" '[[ $(jq_py "$W/$name.json" "$l[\"syncookies\"]") == on-overflow ]]'
    check "$name: every connection from $src" \
        '[[ $(jq_py "$W/$name.json" "set(c[\"client_address\"] for c in $l[\"connections\"])") == "{'"'$src'"'}" ]]'
    check "$name: run.options.source_ip" '[[ $(jq_py "$W/$name.json" "d[\"run\"][\"options\"][\"source_ip\"]") == "$src" ]]'
    local n
    n=$(tcpdump -nn -r "$W/$name.pcapng" "src host $src and tcp[tcpflags] & tcp-rst != 0 and tcp[tcpflags] & tcp-ack == 0" 2>/dev/null | wc -l)
    check "$name: no kernel RST from $src in the capture" '[[ $n == 0 ]]'
    check "$name: the server resolved $src to the prober ($MAC)" \
        'ip netns exec "$SRV" ip neigh show "$src" | grep -q "lladdr $MAC"'
    sleep 1
    check "$name: no connection from $src left on the server" '! ip netns exec "$SRV" ss -tanH | grep -v "^LISTEN" | grep -qF "$src"'
}

lt_log "== v4"
borrowed v4 10.77.0.99 10.77.0.2:8081 8081 6
lt_log "== v6"
borrowed v6 fd77::99 '[fd77::2]:8083' 8083 4

lt_log "== r: refusals"
# refused NAME EXIT STDERR-REGEX ARGS..
refused() {
    local name=$1 want=$2 re=$3 rc
    shift 3
    in_cli timeout 30 "$LP_BIN" probe --plan quick --quiet "$@" >"$W/r-$name.out" 2>"$W/r-$name.err"
    rc=$?
    check "r $name: exit $want (got $rc)" '[[ $rc == "$want" ]]'
    check "r $name: one line on stderr /$re/" '[[ $(wc -l <"$W/r-$name.err") == 1 ]] && grep -Eq -- "$re" "$W/r-$name.err"'
    check "r $name: nothing on stdout" '[[ ! -s $W/r-$name.out ]]'
}
refused own 2 'is an address of this host' --source-ip 10.77.0.1 10.77.0.2:8081
refused in-use 1 'is in use on veth0: .* answered for it' --source-ip 10.77.0.2 10.77.0.2:8081
refused in-use-v6 1 'is in use on veth0: .* answered for it' --source-ip fd77::2 '[fd77::2]:8083'
refused off-link 1 'not inside a prefix of veth0' --source-ip 10.9.9.9 10.77.0.2:8081
refused family 2 'is IPv6, the target 10.77.0.2 is IPv4' --source-ip fd77::99 10.77.0.2:8081
refused lo 1 'needs an Ethernet interface' --source-ip 10.77.0.99 -i lo 10.77.0.2:8081
refused bogus 2 'not an IPv4 or IPv6 address' --source-ip 10.77.0.x 10.77.0.2:8081
in_cli sysctl -qw net.ipv4.conf.veth0.forwarding=1
refused forwarding 1 'forwards packets' --source-ip 10.77.0.99 10.77.0.2:8081
in_cli sysctl -qw net.ipv4.conf.veth0.forwarding=0
check "r: no table left behind" '[[ -z $(in_cli nft list tables) ]]'

lt_checks_done
