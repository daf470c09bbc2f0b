#!/usr/bin/env bash
# run_http_matrix.sh [SPEC...]
#
# Interleaved wrk run over several servers, so their ratios are comparable:
# starts every server, then for each round and each connection count runs
# measure_http.sh against each server in turn (order reversed on even rounds),
# prints a summary table, and stops every server it started (by PID).
#
# SPEC is "name=port=command args..." (command split on whitespace). Default:
#   mio_hello, hyper_hello, tornado_hello (web.Application) and tornado_raw
#   (bare HTTPServer delegate), on ports 8082, 8081, 8084, 8085, and squall's
#   examples/http_server on 8090 when it is built (cargo build --release --examples at the
#   repository root; $SQUALL, default <repo>/target/release/examples).
# Relative paths in a command are relative to benches/peers. Example, from the repository root:
#   R=$PWD/benches/peers/target/release S=$PWD/target/release/examples
#   benches/peers/scripts/run_http_matrix.sh "mio_hello=8082=$R/mio_hello --port 8082" \
#       "hyper_hello=8081=$R/hyper_hello --port 8081" \
#       "squall=8090=$S/http_server --port 8090"
#
# Environment: ROUNDS [2], CONNS ["100 1000"], DURATION [10s], WARMUP [2s],
#   SERVER_CPU [1] and WRK_CPU [0] (taskset pinning; SERVER_CPU=- and WRK_CPU=
#   to disable), PIPELINE [1] (see measure_http.sh), OUT [results/http_<utc>.log].
set -euo pipefail
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-"100 1000"}
SERVER_CPU=${SERVER_CPU:-1}
export WRK_CPU=${WRK_CPU-0}
export DURATION=${DURATION:-10s} WARMUP=${WARMUP:-2s}
mkdir -p "$RESULTS"
OUT=${OUT:-$RESULTS/http_$(date -u +%Y%m%dT%H%M%SZ).log}

if [[ $# -eq 0 ]]; then
  set -- "mio_hello=8082=$REL/mio_hello --port 8082" \
         "hyper_hello=8081=$REL/hyper_hello --port 8081" \
         "tornado_hello=8084=$PY $PEERS_DIR/tornado_hello.py --port 8084" \
         "tornado_raw=8085=$PY $PEERS_DIR/tornado_hello.py --mode raw --port 8085"
  if [[ -x "$SQUALL/http_server" ]]; then set -- "$@" "squall=8090=$SQUALL/http_server --port 8090"; fi
fi

NAMES=(); PORTS=(); PIDS=()
{
  machine_info
  echo "# rounds=$ROUNDS conns=[$CONNS] duration=$DURATION warmup=$WARMUP server_cpu=$SERVER_CPU wrk_cpu=${WRK_CPU:-none} wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
} | tee "$OUT"

cd "$PEERS_DIR"
for spec in "$@"; do
  name=${spec%%=*}; rest=${spec#*=}; port=${rest%%=*}; cmd=${rest#*=}
  read -ra argv <<<"$cmd"
  port_free "$port"
  start_server "$RESULTS/server_${name}.log" "$SERVER_CPU" "${argv[@]}"
  wait_listen "$port"
  echo "# started $name pid=$SERVER_PID port=$port: $cmd" | tee -a "$OUT"
  NAMES+=("$name"); PORTS+=("$port"); PIDS+=("$SERVER_PID")
done

n=${#NAMES[@]}
for r in $(seq "$ROUNDS"); do
  for c in $CONNS; do
    for k in $(seq 0 $((n - 1))); do
      if (( r % 2 == 1 )); then i=$k; else i=$((n - 1 - k)); fi
      echo "# round $r c=$c ${NAMES[$i]}" | tee -a "$OUT"
      SERVER_PID=${PIDS[$i]} LABEL=${NAMES[$i]} CONNS=$c "$SCRIPTS_DIR/measure_http.sh" "${PORTS[$i]}" 2>&1 | sed "s/^RESULT /RESULT round=$r /" | tee -a "$OUT"
    done
  done
done

for pid in "${STARTED_PIDS[@]}"; do
  echo "# server pid=$pid rss_after_kb=$(rss_kb "$pid" 2>/dev/null || echo gone)" >>"$OUT"
done

echo
echo "Summary: rps mean [per round]; p50/p99 ms per round; server CPU % of one core and" | tee -a "$OUT"
echo "server CPU us per request (means); wrk CPU % (mean; ~100 = wrk-bound); errors summed" | tee -a "$OUT"
awk '/^RESULT/ {
  delete v
  for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
  key = v["label"] " c=" v["c"]
  if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
  sum[key] += v["rps"]; cnt[key]++
  rps[key] = rps[key] sprintf(" %.0f", v["rps"])
  lat[key] = lat[key] sprintf(" %s/%s", v["p50_ms"], v["p99_ms"])
  err[key] += v["errors"]; scpu[key] += v["srv_cpu_pct"]; us[key] += v["srv_us_per_req"]; wcpu[key] += v["wrk_cpu_pct"]
}
END {
  printf "%-15s %-6s %8s %-17s %-26s %5s %7s %5s %s\n", "server", "conns", "rps", "[rounds]", "p50/p99_ms", "srv%", "us/req", "wrk%", "err"
  for (i = 1; i <= nk; i++) {
    k = order[i]; split(k, p, " "); n = cnt[k]
    printf "%-15s %-6s %8.0f %-17s %-26s %5.0f %7.2f %5.0f %d\n", p[1], p[2], sum[k] / n, "[" substr(rps[k], 2) "]", substr(lat[k], 2), scpu[k] / n, us[k] / n, wcpu[k] / n, err[k]
  }
}' "$OUT" | tee -a "$OUT"
echo "log: $OUT"
