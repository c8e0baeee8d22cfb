#!/usr/bin/env bash
# Lab replay (d): net.core.somaxconn=3 clamps listen(100) to 3, so the accept
# queue holds four connections; the SYNs of the fifth and sixth client are dropped.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lt_init somaxconn

lt_up SOMAXCONN=3
lt_listen 8081 100
lt_capture_start tcp port 8081
lt_clients fill --port 8081 --count 6 --pause 0.2 --timeout 2.5
lt_capture_stop

S=10.77.0.2:8081
lt_expect_capture $S "len(conns) == 6" "six connections"
lt_expect_capture $S "all(c['data_acked'] for c in conns[:4])" "the first four are established"
lt_expect_capture $S "all(c['syns'] >= 2 and c['synacks'] == 0 for c in conns[4:])" \
    "the last two meet silence"

lt_replay_check '{"listeners": [{
  "address": "10.77.0.2", "port": 8081, "port_state": "open",
  "accept_queue": {"capacity": 4, "backlog": 3},
  "on_full": {"syn": "drop"},
  "connections": [{"fate": "queued"}, {"fate": "queued"}, {"fate": "queued"}, {"fate": "queued"},
                  {"fate": "syn-dropped"}, {"fate": "syn-dropped"}]
}]}'
