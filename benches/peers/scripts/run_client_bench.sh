#!/usr/bin/env bash
# run_client_bench.sh [CLIENT_SPEC...]
#
# HTTP client throughput against mio_hello (the fastest server, so the client is
# the bottleneck). Starts mio_hello on $PORT (pinned to SERVER_CPU), then for
# each round, each concurrency C in $CS and each client runs one client with
# N requests (client pinned to CLIENT_CPU), interleaved (order reversed on
# even rounds); prints a summary and stops mio_hello (by PID).
#
# CLIENT_SPEC is "name=command args..." where the command gets
#   --url URL --n N --c C appended. Defaults:
#   hyper_conn   hyper_client_bench --mode conn  (C explicit keep-alive connections)
#   hyper_pool   hyper_client_bench --mode pool  (hyper_util pooled Client)
#   tornado_simple  tornado_client_bench.py --impl simple (new connection per request)
#   tornado_curl    tornado_client_bench.py --impl curl   (libcurl, keep-alive)
#   squall_load     squall's examples/load, when built ($SQUALL, default
#                   <repo>/target/release/examples: cargo build --release --examples)
# Each client must print a line containing "req_per_s=<number>".
# Relative paths in a command are relative to benches/peers. Example, from the repository root:
#   benches/peers/scripts/run_client_bench.sh \
#       "hyper_conn=$PWD/benches/peers/target/release/hyper_client_bench --mode conn" \
#       "squall_load=$PWD/target/release/examples/load"
#
# Environment: N [20000], CS ["1 10 100"], ROUNDS [2], PORT [8082],
#   SERVER_CPU [1], CLIENT_CPU [0] ("-" disables pinning), OUT [results/client_<utc>.log]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

N=${N:-20000}; CS=${CS:-"1 10 100"}; ROUNDS=${ROUNDS:-2}; PORT=${PORT:-8082}
SERVER_CPU=${SERVER_CPU:-1}; CLIENT_CPU=${CLIENT_CPU:-0}
mkdir -p "$RESULTS"
OUT=${OUT:-$RESULTS/client_$(date -u +%Y%m%dT%H%M%SZ).log}
URL="http://127.0.0.1:$PORT/"
cd "$PEERS_DIR"

if [[ $# -eq 0 ]]; then
  set -- "hyper_conn=$REL/hyper_client_bench --mode conn" \
         "hyper_pool=$REL/hyper_client_bench --mode pool" \
         "tornado_simple=$PY $PEERS_DIR/tornado_client_bench.py --impl simple" \
         "tornado_curl=$PY $PEERS_DIR/tornado_client_bench.py --impl curl"
  if [[ -x "$SQUALL/load" ]]; then set -- "$@" "squall_load=$SQUALL/load"; fi
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PIN=(); [[ "$CLIENT_CPU" != "-" ]] && PIN=(taskset -c "$CLIENT_CPU")

{ machine_info; echo "# n=$N cs=[$CS] rounds=$ROUNDS server=mio_hello:$PORT server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU"; } | tee "$OUT"
port_free "$PORT"
start_server "$RESULTS/server_mio_hello_client.log" "$SERVER_CPU" "$REL/mio_hello" --port "$PORT"
wait_listen "$PORT"

names=(); cmds=()
for spec in "$@"; do names+=("${spec%%=*}"); cmds+=("${spec#*=}"); done
n=${#names[@]}
for r in $(seq "$ROUNDS"); do
  for c in $CS; do
    for k in $(seq 0 $((n - 1))); do
      if (( r % 2 == 1 )); then i=$k; else i=$((n - 1 - k)); fi
      read -ra argv <<<"${cmds[$i]}"
      tf=$(mktemp); TIMEFORMAT='%U %S'
      { time "${PIN[@]}" "${argv[@]}" --url "$URL" --n "$N" --c "$c" >"$tf.out" 2>&1 ; } 2>"$tf" || true
      line=$(tail -1 "$tf.out"); cpu=$(tail -1 "$tf"); rm -f "$tf" "$tf.out"
      rps=$(grep -o 'req_per_s=[0-9.]*' <<<"$line" | cut -d= -f2)
      # client CPU (user+sys) microseconds per request
      cus=$(awk -v w="$cpu" -v n="$N" 'BEGIN {split(w, x, " "); printf "%.1f", 1e6 * (x[1] + x[2]) / n}')
      echo "RESULT round=$r client=${names[$i]} c=$c rps=${rps:-FAIL} cli_us_per_req=$cus :: $line" | tee -a "$OUT"
    done
  done
done

echo
echo "Summary: requests/s mean [per round]; client CPU us per request (mean)" | tee -a "$OUT"
awk '/^RESULT/ {
  for (f = 2; f <= 6; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
  key = v["client"] " c=" v["c"]
  if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
  sum[key] += v["rps"]; cnt[key]++; per[key] = per[key] " " v["rps"]; cus[key] += v["cli_us_per_req"]
}
END { for (i = 1; i <= nk; i++) { k = order[i]; split(k, p, " ");
  printf "%-16s %-6s %10.0f  %-18s cli_us/req=%.1f\n", p[1], p[2], sum[k] / cnt[k], "[" substr(per[k], 2) "]", cus[k] / cnt[k] } }' "$OUT" | tee -a "$OUT"
echo "log: $OUT"
