#!/usr/bin/env bash
# Lab replay: tcp_abort_on_overflow=1. listen(2); one real client takes a slot,
# then three hand-made SYNs are all SYN-ACKed while the queue still has room;
# their final ACKs arrive together: two fit (queue at 3), the third is answered
# with RST at once (and so is its data byte).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lt_init overflow_rst

lt_up ABORT_ON_OVERFLOW=1
lt_listen 8081 2
lt_capture_start tcp port 8081
lt_clients first --port 8081 --count 1
lt_synsend --dport 8081 --count 3 --sport-base 20000 --ack-after-synack --data --wait 1.0
lt_capture_stop

S=10.77.0.2:8081
lt_expect_capture $S "len(conns) == 4" "one real client and three hand-made handshakes"
lt_expect_capture $S "all(c['data_acked'] for c in conns[:3])" "three connections are established"
lt_expect_capture $S "conns[3]['synacks'] == 1 and conns[3]['acks'] == 1 and conns[3]['rst_from_server'] >= 1 and not conns[3]['data_acked']" \
    "the fourth final ACK is answered by RST"

lt_replay_check '{"listeners": [{
  "address": "10.77.0.2", "port": 8081, "port_state": "open",
  "accept_queue": {"capacity": 3, "backlog": 2},
  "on_full": {"ack": "rst"},
  "connections": [{"fate": "queued"}, {"fate": "queued"}, {"fate": "queued"}, {"fate": "reset-after-ack"}]
}]}'
