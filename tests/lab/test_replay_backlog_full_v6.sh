#!/usr/bin/env bash
# Lab replay (g): the IPv6 version of backlog_full, captured on "any" (Linux
# cooked capture): listen(2) on fd77::2, five real clients, three fit.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lt_init backlog_full_v6

lt_up
LISTEN_ADDR=fd77::2 lt_listen 8081 2
CAPTURE_IFACE=any lt_capture_start tcp port 8081
lt_clients fill --dst fd77::2 --port 8081 --count 5 --pause 0.2 --timeout 2.5
lt_capture_stop

S='[fd77::2]:8081'
lt_expect_capture "$S" "len(conns) == 5" "five connections"
lt_expect_capture "$S" "all(c['synacks'] == 1 and c['data_acked'] for c in conns[:3])" \
    "the first three are established and their byte is ACKed"
lt_expect_capture "$S" "all(c['syns'] >= 2 and c['synacks'] == 0 and c['rst_from_server'] == 0 for c in conns[3:])" \
    "the last two retransmit their SYN and meet silence"

lt_replay_check '{"listeners": [{
  "address": "fd77::2", "port": 8081, "family": "ipv6", "port_state": "open",
  "accept_queue": {"capacity": 3, "backlog": 2},
  "on_full": {"syn": "drop"},
  "connections": [{"fate": "queued"}, {"fate": "queued"}, {"fate": "queued"},
                  {"fate": "syn-dropped"}, {"fate": "syn-dropped"}]
}]}'
