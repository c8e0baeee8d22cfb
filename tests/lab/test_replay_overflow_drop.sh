#!/usr/bin/env bash
# Lab replay: tcp_abort_on_overflow=0 and tcp_synack_retries=2. As overflow_rst,
# but the final ACK that finds the queue full is dropped: the listener keeps
# retransmitting its SYN-ACK (about 1 s and 3 s later), the client answers each
# with an ACK, nothing is taken, the request dies about 7 s after the SYN. A real
# client tries after that: its SYNs are dropped (queue still full).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lt_init overflow_drop

lt_up ABORT_ON_OVERFLOW=0 SYNACK_RETRIES=2
lt_listen 8081 2
lt_capture_start tcp port 8081
lt_clients first --port 8081 --count 1
lt_synsend --dport 8081 --count 3 --sport-base 20000 --ack-after-synack --data --wait 9.0
lt_clients late --port 8081 --count 1 --timeout 2.5
lt_capture_stop

S=10.77.0.2:8081
lt_expect_capture $S "len(conns) == 5" "one real client, three hand-made handshakes, one late client"
lt_expect_capture $S "all(c['data_acked'] for c in conns[:3])" "three connections are established"
lt_expect_capture $S "conns[3]['synacks'] == 3 and conns[3]['acks'] == 3 and conns[3]['rst_from_server'] == 0 and not conns[3]['data_acked']" \
    "the fourth: SYN-ACK retransmitted twice, each answered by an ACK, nothing taken"
lt_expect_capture $S "conns[4]['syns'] >= 2 and conns[4]['synacks'] == 0 and conns[4]['first'] - conns[3]['first'] > 8.0" \
    "the late client meets silence after the request died"

lt_replay_check '{"listeners": [{
  "address": "10.77.0.2", "port": 8081, "port_state": "open",
  "accept_queue": {"capacity": 3, "backlog": 2},
  "on_full": {"syn": "drop", "ack": "drop"},
  "synack": {"retries": 2, "gaps_s": [1.0, 2.0]},
  "connections": [{"fate": "queued"}, {"fate": "queued"}, {"fate": "queued"}, {"fate": "ack-dropped"},
                  {"fate": "syn-dropped"}]
}]}'
