#!/usr/bin/env bash
# Lab replay (c): nothing listens on the port; a real client's SYN is answered
# with RST+ACK at once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lt_init closed_port

lt_up
lt_capture_start tcp port 8081
lt_clients refused --port 8081 --count 2 --pause 0.2
lt_capture_stop

S=10.77.0.2:8081
lt_expect_capture $S "len(conns) == 2 and all(c['syns'] == 1 and c['synacks'] == 0 and c['rst_from_server'] == 1 for c in conns)" \
    "each SYN is answered by one RST"

lt_replay_check '{"listeners": [{
  "address": "10.77.0.2", "port": 8081, "port_state": "closed",
  "accept_queue": {"capacity": null},
  "connections": [{"fate": "refused"}, {"fate": "refused"}]
}]}'
