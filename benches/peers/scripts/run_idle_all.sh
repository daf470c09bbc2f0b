#!/usr/bin/env bash
# run_idle_all.sh: measure_idle.sh for every peer server, after one GET per
# connection (keep-alive idle) and with no request at all (--no-get).
# Environment: NS ["10000 19000 50000"] (an N the fd limit cannot hold is
# reported as SKIP), OUT [results/idle_<utc>.log]. Extra arguments are passed
# as more server specs "name=port=command args...".
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
NS=${NS:-"10000 19000 50000"}
OUT=${OUT:-$RESULTS/idle_$(date -u +%Y%m%dT%H%M%SZ).log}
specs=("mio_hello=9182=$REL/mio_hello --port 9182"
       "hyper_hello=9181=$REL/hyper_hello --port 9181"
       "tornado_hello=9184=$PY $PEERS_DIR/tornado_hello.py --port 9184"
       "tornado_raw=9185=$PY $PEERS_DIR/tornado_hello.py --mode raw --port 9185")
# squall's examples/http_server, when built ($SQUALL: cargo build --release --examples).
if [[ -x "$SQUALL/http_server" ]]; then specs+=("squall_http=9191=$SQUALL/http_server --port 9191"); fi
specs+=("$@")
machine_info | tee "$OUT"
for mode in get noget; do
  for spec in "${specs[@]}"; do
    name=${spec%%=*}; rest=${spec#*=}; port=${rest%%=*}; cmd=${rest#*=}
    read -ra argv <<<"$cmd"
    flag=(); ns=$NS
    if [[ $mode == noget ]]; then flag=(--no-get); ns=${NS%% *}; fi
    ./measure_idle.sh --label "$name" --port "$port" --n "$ns" "${flag[@]}" -- "${argv[@]}" 2>&1 | tee -a "$OUT"
  done
done
echo
echo "Summary: server RSS growth per idle connection (bytes)" | tee -a "$OUT"
awk '/^RESULT/ { for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
  printf "%-15s n=%-6s %-9s %7s B/conn  (VmRSS %s -> %s kB)\n", v["label"], v["n"], (v["send_get"] == 1 ? "after-GET" : "no-request"), v["bytes_per_conn"], v["rss_before_kb"], v["rss_after_kb"] }
  /^SKIP/ { print "  " $0 }' "$OUT" | tee -a "$OUT"
echo "log: $OUT"
