#!/usr/bin/env bash
# Lab replay (b): two half-open requests (hand-made SYNs, never ACKed) with
# tcp_synack_retries=2. The listener sends each SYN-ACK three times, about 1 s and
# then 2 s apart, and drops the request about 7 s after the SYN. A real client
# connects after that, so the capture provably lasts past the moment a third
# retransmission would have been due.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lt_init synack_retries

lt_up SYNACK_RETRIES=2
lt_listen 8081 128
lt_capture_start tcp port 8081
lt_synsend --dport 8081 --count 2 --sport-base 20000 --wait 9.5
lt_clients marker --port 8081 --count 1
lt_capture_stop

S=10.77.0.2:8081
lt_expect_capture $S "len(conns) == 3" "two half-open requests and one late client"
lt_expect_capture $S "all(c['synacks'] == 3 and c['acks'] == 0 for c in conns[:2])" \
    "each half-open request gets its SYN-ACK three times"
lt_expect_capture $S "all(0.8 < c['synack_gaps'][0] < 1.5 and 1.7 < c['synack_gaps'][1] < 2.6 for c in conns[:2])" \
    "SYN-ACK gaps are about 1 s and 2 s"
lt_expect_capture $S "conns[2]['data_acked'] and conns[2]['first'] > 9.0" \
    "the late client completes after 9 s"

lt_replay_check '{"listeners": [{
  "address": "10.77.0.2", "port": 8081, "port_state": "open",
  "synack": {"retries": 2, "retries_at_least": 2, "initial_rto_s": 1.0, "gaps_s": [1.0, 2.0]},
  "connections": [{"fate": "half-open"}, {"fate": "half-open"}, {"fate": "queued"}]
}]}'
