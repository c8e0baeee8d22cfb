#!/usr/bin/env bash
# Lab replay (e): tcp_syncookies=2 answers every SYN with a cookie, even with both
# queues empty. Two hand-made SYNs without timestamps, then six with: every
# SYN-ACK is sent once and never retransmitted; the cookie SYN-ACKs to the SYNs
# without timestamps carry only an MSS option. A real client connects at the end
# (its handshake uses a cookie too, and completes).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lt_init cookies_always

lt_up SYNCOOKIES=2
lt_listen 8081 128
lt_capture_start tcp port 8081
lt_synsend --dport 8081 --count 2 --sport-base 21000 --no-ts --wait 0.1
lt_synsend --dport 8081 --count 6 --sport-base 20000 --wait 2.5
lt_clients marker --port 8081 --count 1
lt_capture_stop

S=10.77.0.2:8081
lt_expect_capture $S "len(conns) == 9" "eight hand-made SYNs and one real client"
lt_expect_capture $S "all(c['synacks'] == 1 for c in conns[:8])" "no SYN-ACK is retransmitted"
lt_expect_capture $S "conns[8]['data_acked'] and conns[8]['first'] - conns[7]['first'] > 2.0" \
    "the real client completes more than 2 s after the last SYN"
if tcpdump -nn -r "$LT_PCAP" 2>/dev/null | grep '> 10.77.0.1.2100[01]: Flags \[S\.\]' | grep -q 'wscale\|sackOK'; then
    lt_fail "cookie SYN-ACKs to SYNs without timestamps must carry MSS only"
fi

lt_replay_check '{"listeners": [{
  "address": "10.77.0.2", "port": 8081, "port_state": "open",
  "syncookies": "always",
  "connections": [{"fate": "cookie"}, {"fate": "cookie"}, {"fate": "cookie"}, {"fate": "cookie"},
                  {"fate": "cookie"}, {"fate": "cookie"}, {"fate": "cookie"}, {"fate": "cookie"}, {}]
}]}'
