#!/usr/bin/env bash
# run_ws_broadcast.sh CHAT_WS_LOAD name=port=command ...
#
# WebSocket broadcast: one message to 10 000 connected clients. For each round and each
# server (interleaved), starts the server fresh, runs squall's `chat_ws_load` against it
# (CLIENTS WebSocket users, then MESSAGES messages from one more user, each timed until every
# user has it; the server's CPU time over those messages), prints its RESULT line, stops the
# server by PID. The servers speak the chat's WebSocket protocol: squall's
# `examples/chat` (`/chatsocket`), `tungstenite_broadcast`, Tornado's websocket chat demo.
#
#   ulimit -n 20000 is raised here (the client and the server each hold CLIENTS sockets).
#   Knobs: ROUNDS (3), CLIENTS (10000), MESSAGES (5), SERVER_CPU (1), CLIENT_CPU (0)
#   (taskset; empty: no pinning).
set -euo pipefail
LOAD=${1:?usage: run_ws_broadcast.sh CHAT_WS_LOAD name=port=command ...}
shift
ROUNDS=${ROUNDS:-3}; CLIENTS=${CLIENTS:-10000}; MESSAGES=${MESSAGES:-5}
SERVER_CPU=${SERVER_CPU-1}; CLIENT_CPU=${CLIENT_CPU-0}
pin() { if [[ -n "$1" ]]; then echo "taskset -c $1"; fi; }
ulimit -n 20000
pid=""
trap '[[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true' EXIT
echo "# $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; port=${rest%%=*}; cmd=${rest#*=}
    # shellcheck disable=SC2086
    RUST_LOG=warn $(pin "$SERVER_CPU") $cmd >/dev/null 2>"/tmp/ws_broadcast.$name.err" &
    pid=$!
    for _ in $(seq 100); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
    line=$($(pin "$CLIENT_CPU") "$LOAD" --ports "$port" --clients "$CLIENTS" --rounds "$MESSAGES" \
      --server-pid "$pid" --idle-secs 2 2>/dev/null | grep RESULT || echo "RESULT failed")
    echo "$name round=$r $line"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
