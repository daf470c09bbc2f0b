#!/usr/bin/env bash
# benches/net/idle.sh: server RSS growth and CPU per idle connection, several servers
# measured one after another in the same run (same method as benches/peers/scripts/measure_idle.sh,
# plus CPU use over IDLE_SECS of idleness once every connection is up).
#
#   benches/net/idle.sh "name=port=mode=command args..." ...
#
# mode: get   (each connection sends one keep-alive GET and reads the reply first)
#       noget (connect only: the only mode an echo server can take)
# Environment: NS ["10000 19000"], IDLE_SECS [5], SETTLE [2], BENCH [benches/peers/scripts].
# Prints RESULT lines: label n mode rss_before_kb rss_after_kb bytes_per_conn idle_cpu_pct.
set -euo pipefail
BENCH=${BENCH:-$(cd "$(dirname "$0")/../peers/scripts" && pwd)}
source "$BENCH/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM
NS=${NS:-"10000 19000"}; IDLE_SECS=${IDLE_SECS:-5}; SETTLE=${SETTLE:-2}
IDLE="$REL/idle_clients"; PER_PROC=15000; HZ=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LOGDIR=$(mktemp -d /tmp/squall_idle.XXXXXX)
ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
machine_info
for spec in "$@"; do
  name=${spec%%=*}; rest=${spec#*=}; port=${rest%%=*}; rest=${rest#*=}
  mode=${rest%%=*}; cmd=${rest#*=}; read -ra argv <<<"$cmd"
  flag=(); [[ $mode == get ]] && flag=(--send-get)
  for N in $NS; do
    port_free "$port"
    start_server "$LOGDIR/server.log" - "${argv[@]}"; spid=$SERVER_PID
    wait_listen "$port"
    # warm-up (HTTP servers only; an echo server cannot answer a GET)
    [[ $mode == get ]] && "$IDLE" --addr "127.0.0.1:$port" --n 200 --send-get --hold 0 --src-from 250 >/dev/null
    sleep 1
    before=$(rss_kb "$spid")
    rm -f "$LOGDIR"/clients.*.log
    nproc_c=$(( (N + PER_PROC - 1) / PER_PROC )); cpids=()
    for i in $(seq 0 $((nproc_c - 1))); do
      share=$(( N / nproc_c + (i < N % nproc_c ? 1 : 0) ))
      "$IDLE" --addr "127.0.0.1:$port" --n "$share" "${flag[@]}" --hold 60 \
          --src-from $((2 + i)) --per-src 20000 >"$LOGDIR/clients.$i.log" 2>&1 &
      cpids+=($!); STARTED_PIDS+=($!)
    done
    t0=$SECONDS; ok=1
    for i in $(seq 0 $((nproc_c - 1))); do
      until grep -q '^READY' "$LOGDIR/clients.$i.log"; do
        if ! kill -0 "${cpids[$i]}" 2>/dev/null || (( SECONDS - t0 > 50 )); then ok=0; break; fi
        sleep 0.2
      done
    done
    read -r est failed <<<"$(cat "$LOGDIR"/clients.*.log | awk -F'[ =]' '/^READY/ {e += $3; f += $5} END {print e + 0, f + 0}')"
    sleep "$SETTLE"
    after=$(rss_kb "$spid"); c0=$(ticks "$spid"); sleep "$IDLE_SECS"; c1=$(ticks "$spid")
    cpu=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v s="$IDLE_SECS" 'BEGIN {printf "%.2f", 100 * d / hz / s}')
    if [[ $ok == 1 && $failed == 0 && $est == "$N" ]]; then
      echo "RESULT label=$name n=$N mode=$mode rss_before_kb=$before rss_after_kb=$after bytes_per_conn=$(( (after - before) * 1024 / N )) idle_cpu_pct=$cpu idle_ticks=$((c1 - c0))"
    else
      echo "FAIL label=$name n=$N mode=$mode established=$est failed=$failed"; head -5 "$LOGDIR"/clients.*.log
    fi
    for p in "${cpids[@]}"; do stop_pid "$p"; done
    stop_pid "$spid"; sleep 1
  done
done
rm -rf "$LOGDIR"
