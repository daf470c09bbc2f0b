#!/usr/bin/env bash
# run_tls_idle.sh [name=command args ...]
#
# Memory cost of idle TLS keep-alive connections, several servers in one run. Makes an
# ECDSA P-256 CA + server certificate (tls_certs.sh), then for each server in turn: starts
# it fresh with "--port 0 --tls-cert CERT --tls-key KEY" appended (it must print
# "listening on https://HOST:PORT"), warms it with WARM full TLS connections (handshake, one
# GET, close), reads the VmRSS of the process doing the work (nginx_tls_hello.sh: the nginx
# worker), opens N TLS connections with `tls_handshake_load --idle` (handshake, one
# keep-alive GET and its response each, then idle), waits until all are up and SETTLE s
# more, reads VmRSS again and prints
#   RESULT label=.. n=.. rss_before_kb=.. rss_after_kb=.. bytes_per_conn=.. server_fds=A->B
# then stops the client and the server (by PID). A summary follows.
#
# Default servers: nginx (nginx_tls_hello.sh), hyper_tls_hello, and squall's
# examples/http_server when built ($SQUALL). Explicitly, from benches/peers/scripts:
#   ./run_tls_idle.sh "nginx=$PWD/nginx_tls_hello.sh" \
#       "hyper_tls_hello=$BENCH_WORK/target/release/hyper_tls_hello" \
#       "squall=$SQUALL/http_server"
# A server whose listening line says http:// is reported as "NOTLS label=NAME ..." and the
# script exits 3.
#
# Environment: N [10000] (the fd hard limit, 20 000 here, bounds it), ROUNDS [1] (order
#   reversed on even rounds), WARM [200], HOLD [60] (the client's longest hold), SETTLE [2],
#   SERVER_CPU [-] (taskset pinning of the servers), OUT [results/tls_idle_<utc>.log].
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$SCRIPTS_DIR/tls_lib.sh"
trap tls_cleanup EXIT
trap 'exit 130' INT TERM

N=${N:-10000}; ROUNDS=${ROUNDS:-1}; WARM=${WARM:-200}; HOLD=${HOLD:-60}; SETTLE=${SETTLE:-2}
SERVER_CPU=${SERVER_CPU:--}
mkdir -p "$RESULTS"
OUT=${OUT:-$RESULTS/tls_idle_$(date -u +%Y%m%dT%H%M%SZ).log}
LOAD="$REL/tls_handshake_load"
[[ -x "$LOAD" ]] || { echo "build first: benches/peers/scripts/setup.sh (no $LOAD)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $# -eq 0 ]]; then
  set -- "nginx=$SCRIPTS_DIR/nginx_tls_hello.sh" "hyper_tls_hello=$REL/hyper_tls_hello"
  if [[ -x "$SQUALL/http_server" ]]; then set -- "$@" "squall=$SQUALL/http_server"; fi
fi

{
  machine_info
  echo "# tls idle: n=$N rounds=$ROUNDS warm=$WARM settle=$SETTLE server_cpu=$SERVER_CPU $(openssl version | cut -d' ' -f1-2)"
} | tee "$OUT"
tls_make_certs
LOGDIR=$TLS_DIR

# measure NAME CMD...: one fresh server, N idle TLS connections.
measure() {
  local name=$1 rc=0 before after fds0 fds1 cpid t0 ok line est failed; shift
  start_tls_server "$name" "$LOGDIR/server_$name.log" "$SERVER_CPU" "$@" || rc=$?
  (( rc == 0 )) || return "$rc"
  local spid=$SERVER_PID wpid=$WORK_PID port=$SERVER_PORT
  echo "# $name pid=$spid work_pid=$wpid port=$port: $*"
  # Warm-up: lazy initialisation and the handshake's own allocations are not per-connection cost.
  "$LOAD" --addr "127.0.0.1:$port" --cacert "$TLS_CA" --n "$WARM" --c 20 --src-from 250 --nsrc 2 >/dev/null 2>&1 || true
  sleep 1
  before=$(rss_kb "$wpid"); fds0=$(nfds "$wpid")
  "$LOAD" --idle --addr "127.0.0.1:$port" --cacert "$TLS_CA" --n "$N" --hold "$HOLD" \
      --src-from 20 --nsrc 4 --timeout 30 >"$LOGDIR/client_$name.log" 2>&1 &
  cpid=$!; STARTED_PIDS+=("$cpid")
  t0=$SECONDS; ok=1
  until grep -q '^READY' "$LOGDIR/client_$name.log" 2>/dev/null; do
    if ! kill -0 "$cpid" 2>/dev/null || (( SECONDS - t0 > HOLD - 5 )); then ok=0; break; fi
    sleep 0.2
  done
  line=$(grep '^READY' "$LOGDIR/client_$name.log" || true)
  est=$(sed -n 's/.*established=\([0-9]*\).*/\1/p' <<<"$line"); failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$line")
  sleep "$SETTLE"
  after=$(rss_kb "$wpid"); fds1=$(nfds "$wpid")
  if [[ $ok == 1 && "$failed" == 0 && "$est" == "$N" ]]; then
    echo "RESULT label=$name n=$N rss_before_kb=$before rss_after_kb=$after bytes_per_conn=$(( (after - before) * 1024 / N )) server_fds=$fds0->$fds1 tls=$(sed -n 's/^negotiated: version=\([^ ]*\) suite=\([^ ]*\).*/\1,\2/p' "$LOGDIR/client_$name.log")"
  else
    echo "FAIL label=$name n=$N established=${est:-?} failed=${failed:-?} rss_before_kb=$before rss_after_kb=$after server_fds=$fds0->$fds1"
    head -8 "$LOGDIR/client_$name.log" | sed 's/^/    /'
  fi
  stop_pid "$cpid"
  stop_pid "$spid"
  sleep 1
}

n=$#; specs=("$@")
for r in $(seq "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    if (( r % 2 == 1 )); then i=$k; else i=$((n - 1 - k)); fi
    name=${specs[$i]%%=*}; cmd=${specs[$i]#*=}
    read -ra argv <<<"$cmd"
    rc=0; measure "$name" "${argv[@]}" > >(tee -a "$OUT") || rc=$?
    if (( rc != 0 )); then sleep 0.2; exit "$rc"; fi
  done
done
sleep 0.2
echo
echo "Summary: server RSS growth per idle TLS keep-alive connection (bytes, after one GET)" | tee -a "$OUT"
awk '/^RESULT/ { delete v; for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
  printf "%-16s n=%-6s %8s B/conn  (VmRSS %s -> %s kB)\n", v["label"], v["n"], v["bytes_per_conn"], v["rss_before_kb"], v["rss_after_kb"] }
  /^FAIL/' "$OUT" | tee -a "$OUT"
echo "log: $OUT"
