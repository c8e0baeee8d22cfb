#!/usr/bin/env bash
# The replay core links none of the probe's libraries.
#   tests/link_test.sh REPLAY_ONLY_BINARY LISTENPROBE
# REPLAY_ONLY_BINARY (the unit tests of the replay core and the target parsing) must not
# link libtins, libnftables or libcap (its NEEDED entries, readelf; ldd also lists what
# other libraries pull in: libpcap's D-Bus support brings libcap) nor refer to one of
# their symbols (nm); LISTENPROBE must link all three (so the check would see them).
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 REPLAY_ONLY_BINARY LISTENPROBE" >&2; exit 2; }
replay=$1 full=$2
libs='lib(tins|nftables|cap)\.so'
fails=0
needed() { readelf -d "$1" | awk '/\(NEEDED\)/ {gsub(/[][]/, "", $NF); print $NF}'; }
if needed "$replay" | grep -E "$libs"; then
    echo "FAIL $replay links a probe library (above)"
    fails=$((fails + 1))
else
    echo "ok   $replay links no libtins, libnftables or libcap (NEEDED: $(needed "$replay" | tr '\n' ' '))"
fi
# Undefined symbols that would come from them: Tins::..., nft_ctx_*/nft_run_cmd_*, cap_*.
syms=$(nm -C --undefined-only "$replay" | grep -E ' (Tins::|nft_[a-z_]+$|cap_[a-z_]+$)' || true)
if [[ -n $syms ]]; then
    echo "FAIL $replay refers to probe-library symbols:"
    head -10 <<<"$syms"
    fails=$((fails + 1))
else
    echo "ok   $replay refers to no Tins::, nft_* or cap_* symbol"
fi
for l in libtins libnftables libcap; do
    if needed "$full" | grep -q "^$l\.so"; then
        echo "ok   $(basename "$full") links $l"
    else
        echo "FAIL $(basename "$full") does not link $l: the check above proves nothing"
        fails=$((fails + 1))
    fi
done
echo "$((5 - fails)) passed, $fails failed"
[[ $fails -eq 0 ]]
