#!/usr/bin/env bash
# benches/net/echo.sh: echo ping-pong throughput, squall's echo_server (one reactor) vs
# tokio_echo (current_thread), interleaved in the same run. Server pinned to CPU 1, the
# load generator (examples/echo_load.rs, one epoll thread) to CPU 0.
#   benches/net/echo.sh ["name=port=command" ...]   (default: squall and tokio_echo)
# Environment: ROUNDS [3], CONNS ["1 10 100 1000"], SECS [5], SIZE [64], BENCH.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH:-$ROOT/benches/peers/scripts}
source "$BENCH/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM
ROUNDS=${ROUNDS:-3}; CONNS=${CONNS:-"1 10 100 1000"}; SECS=${SECS:-5}; SIZE=${SIZE:-64}
LOAD="$ROOT/target/release/examples/echo_load"
if [[ $# -eq 0 ]]; then
  set -- "squall=9290=$ROOT/target/release/examples/echo_server --port 9290" \
         "tokio_echo=9283=$REL/tokio_echo --port 9283"
fi
OUT=${OUT:-/tmp/echo_$(date -u +%Y%m%dT%H%M%SZ).log}
machine_info | tee "$OUT"
NAMES=(); PORTS=(); PIDS=()
for spec in "$@"; do
  name=${spec%%=*}; rest=${spec#*=}; port=${rest%%=*}; cmd=${rest#*=}
  read -ra argv <<<"$cmd"; port_free "$port"
  start_server "/tmp/echo_${name}.log" 1 "${argv[@]}"; wait_listen "$port"
  echo "# started $name pid=$SERVER_PID: $cmd" | tee -a "$OUT"
  NAMES+=("$name"); PORTS+=("$port"); PIDS+=("$SERVER_PID")
done
n=${#NAMES[@]}
for r in $(seq "$ROUNDS"); do
  for c in $CONNS; do
    for k in $(seq 0 $((n - 1))); do
      if (( r % 2 == 1 )); then i=$k; else i=$((n - 1 - k)); fi
      out=$(taskset -c 0 "$LOAD" --port "${PORTS[$i]}" --conns "$c" --secs "$SECS" --size "$SIZE" --server-pid "${PIDS[$i]}")
      echo "${out/RESULT/RESULT round=$r label=${NAMES[$i]}}" | tee -a "$OUT"
    done
  done
done
echo
echo "Summary (means over rounds)"
awk '/^RESULT/ { delete v; for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
  k = v["label"] " " v["conns"]; if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  n[k]++; m[k] += v["msgs_per_s"]; cpu[k] += v["srv_cpu_pct"]; us[k] += v["srv_us_per_msg"]; cu[k] += v["client_us_per_msg"] }
  END { printf "%-12s %6s %10s %8s %11s %11s\n", "server", "conns", "msgs/s", "srv_cpu%", "srv_us/msg", "cli_us/msg"
    for (i = 1; i <= nk; i++) { k = order[i]; split(k, p, " ")
      printf "%-12s %6s %10.0f %8.0f %11.2f %11.2f\n", p[1], p[2], m[k] / n[k], cpu[k] / n[k], us[k] / n[k], cu[k] / n[k] } }' "$OUT"
