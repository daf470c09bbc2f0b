#!/usr/bin/env bash
# run_udp.sh: UDP echo, squall's examples/udp_echo beside tokio_udp_echo (tokio
# current_thread), in the same run. Starts both on port 0 (pinned to SERVER_CPU), reads
# their `listening on udp://HOST:PORT` line, then for each round runs udp_load against each
# in turn (order reversed on even rounds) with the server's PID, and stops both by PID.
# The figure that separates them is the server's CPU per datagram (utime+stime from
# /proc/PID/stat over the run / datagrams echoed).
#
# Environment: ROUNDS [3], SECS [5] per run, CLIENTS [2], WINDOW [16], SIZE [64] bytes,
#   SERVER_CPU [1], CLIENT_CPU [0] ("-" to disable pinning).
# Needs: cargo build --release --example udp_echo (root) and
#   cargo build --release --bin tokio_udp_echo --bin udp_load (benches/peers).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
CLIENTS=${CLIENTS:-2}
WINDOW=${WINDOW:-16}
SIZE=${SIZE:-64}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
cpin=""
[[ "$CLIENT_CPU" != "-" ]] && cpin="taskset -c $CLIENT_CPU"

machine_info
declare -A PID ADDR
for name in squall tokio; do
  case $name in
    squall) cmd=("$SQUALL/udp_echo" --port 0) ;;
    tokio) cmd=("$REL/tokio_udp_echo" --port 0) ;;
  esac
  start_server "$RESULTS/udp_$name.log" "$SERVER_CPU" "${cmd[@]}"
  PID[$name]=$SERVER_PID
  for _ in $(seq 100); do
    grep -q '^listening on udp://' "$RESULTS/udp_$name.log" 2>/dev/null && break
    sleep 0.1
  done
  ADDR[$name]=$(sed -n 's|^listening on udp://||p' "$RESULTS/udp_$name.log" | head -1)
  [[ -n "${ADDR[$name]}" ]] || { echo "$name did not start" >&2; exit 1; }
done

for round in $(seq "$ROUNDS"); do
  order="squall tokio"
  (( round % 2 == 0 )) && order="tokio squall"
  for name in $order; do
    out=$($cpin "$REL/udp_load" --addr "${ADDR[$name]}" --server-pid "${PID[$name]}" \
      --clients "$CLIENTS" --window "$WINDOW" --size "$SIZE" --secs "$SECS")
    echo "RESULT $name round=$round $(echo "$out" | tr '\n' ' ')"
  done
done
