#!/usr/bin/env bash
# Lab replay (f): tcp_syncookies=0 and tcp_max_syn_backlog=16 with listen(128):
# the listener keeps 13 requests (it drops a SYN once fewer than 16/4 slots
# remain: 16 - 13 < 4), the 14th to 20th SYN are dropped silently. The 13 kept
# requests are stateful: their SYN-ACKs are retransmitted after about 1 and 3 s
# (watched that long so the dropped SYNs provably met seconds of silence).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lt_init syn_backlog_nocookies

lt_up SYNCOOKIES=0 MAX_SYN_BACKLOG=16
lt_listen 8081 128
lt_capture_start tcp port 8081
lt_synsend --dport 8081 --count 20 --sport-base 20000 --interval-ms 2 --wait 3.5
lt_capture_stop

S=10.77.0.2:8081
lt_expect_capture $S "len(conns) == 20" "twenty SYNs"
lt_expect_capture $S "all(c['synacks'] == 3 for c in conns[:13])" "the first 13 are stateful (SYN-ACK retransmitted at ~1 and ~3 s)"
lt_expect_capture $S "all(c['synacks'] == 0 and c['rst_from_server'] == 0 for c in conns[13:])" \
    "the 14th to 20th SYN meet silence"

lt_replay_check '{"listeners": [{
  "address": "10.77.0.2", "port": 8081, "port_state": "open",
  "syncookies": "off",
  "syn_queue": {"capacity": 13},
  "accept_queue": {"capacity": null},
  "connections": [
    {"fate": "half-open"}, {"fate": "half-open"}, {"fate": "half-open"}, {"fate": "half-open"},
    {"fate": "half-open"}, {"fate": "half-open"}, {"fate": "half-open"}, {"fate": "half-open"},
    {"fate": "half-open"}, {"fate": "half-open"}, {"fate": "half-open"}, {"fate": "half-open"},
    {"fate": "half-open"},
    {"fate": "syn-dropped"}, {"fate": "syn-dropped"}, {"fate": "syn-dropped"}, {"fate": "syn-dropped"},
    {"fate": "syn-dropped"}, {"fate": "syn-dropped"}, {"fate": "syn-dropped"}]
}]}'
