#!/usr/bin/env bash
# run_tls_matrix.sh [name=command args ...]
#
# Server CPU cost of TLS in one interleaved run over several servers, so their ratios are
# comparable. Makes an ECDSA P-256 CA + server certificate (tls_certs.sh) in a temporary
# directory, starts every server with "--port 0 --tls-cert CERT --tls-key KEY" appended
# (each must print "listening on https://HOST:PORT"), then for each round and row prints one
# RESULT line per server (servers in turn, order reversed on even rounds):
#   handshake  tls_handshake_load: HS_N full handshakes (new TCP connection, handshake, one
#              GET /, close_notify + close; no resumption) from HS_C concurrent tasks, run
#              in HS_SLICES slices that rotate over the servers:
#              RESULT round=R label=NAME row=handshake n=.. c=.. slices=.. errors=.. per_s=..
#                     srv_cpu_pct=.. srv_us_per_hs=.. tls=VERSION,SUITE,GROUP,ALPN
#   request    measure_http.sh over https (wrk -t1 -cCONNS, keep-alive connections):
#              RESULT round=R label=NAME ... srv_us_per_req=..
# Server CPU is utime+stime from /proc/PID/stat of the process doing the work (the bottom of
# the server's single-child chain: for nginx_tls_hello.sh the nginx worker), over the
# measured run, divided by the handshakes or requests done. Then a summary; every server
# started is stopped by PID.
#
# Default servers: nginx (nginx_tls_hello.sh, one worker), hyper_tls_hello, and squall's
# examples/http_server when built ($SQUALL). Explicitly, from benches/peers/scripts:
#   ./run_tls_matrix.sh "nginx=$PWD/nginx_tls_hello.sh" \
#       "hyper_tls_hello=$BENCH_WORK/target/release/hyper_tls_hello" \
#       "squall=$SQUALL/http_server"
# A server whose listening line says http:// is reported as "NOTLS label=NAME ..." and the
# script exits 3 before measuring.
#
# Environment: ROUNDS [2], ROWS ["handshake request"], HS_N [8000], HS_C [20],
#   HS_WARMUP [300], HS_SLICES [4], TLS12 [0] (1: handshakes over TLS 1.2), CONNS [100],
#   DURATION [6s], WARMUP [1s], SERVER_CPU [1] and LOAD_CPU [0] (taskset pinning of the servers and of
#   tls_handshake_load / wrk; SERVER_CPU=- and LOAD_CPU= to disable),
#   OUT [results/tls_<utc>.log].
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$SCRIPTS_DIR/tls_lib.sh"
trap tls_cleanup EXIT
trap 'exit 130' INT TERM

ROUNDS=${ROUNDS:-2}
ROWS=${ROWS:-"handshake request"}
HS_N=${HS_N:-8000}; HS_C=${HS_C:-20}; HS_WARMUP=${HS_WARMUP:-300}; HS_SLICES=${HS_SLICES:-4}; TLS12=${TLS12:-0}
CONNS=${CONNS:-100}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU-0}
export DURATION=${DURATION:-6s} WARMUP=${WARMUP:-1s}
mkdir -p "$RESULTS"
OUT=${OUT:-$RESULTS/tls_$(date -u +%Y%m%dT%H%M%SZ).log}
LOAD="$REL/tls_handshake_load"
[[ -x "$LOAD" ]] || { echo "build first: benches/peers/scripts/setup.sh (no $LOAD)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found (setup.sh installs it)" >&2; exit 1; }
PIN=(); [[ -n "$LOAD_CPU" ]] && PIN=(taskset -c "$LOAD_CPU")
HSFLAGS=(); [[ "$TLS12" == 1 ]] && HSFLAGS=(--tls12)

if [[ $# -eq 0 ]]; then
  set -- "nginx=$SCRIPTS_DIR/nginx_tls_hello.sh" "hyper_tls_hello=$REL/hyper_tls_hello"
  if [[ -x "$SQUALL/http_server" ]]; then set -- "$@" "squall=$SQUALL/http_server"; fi
fi

{
  machine_info
  echo "# rounds=$ROUNDS rows=[$ROWS] hs_n=$HS_N hs_c=$HS_C hs_slices=$HS_SLICES tls12=$TLS12 conns=$CONNS duration=$DURATION warmup=$WARMUP server_cpu=$SERVER_CPU load_cpu=${LOAD_CPU:-none} wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f2) $(openssl version | cut -d' ' -f1-2)"
} | tee "$OUT"
tls_make_certs

NAMES=(); PORTS=(); PIDS=(); WPIDS=()
for spec in "$@"; do
  name=${spec%%=*}; cmd=${spec#*=}
  read -ra argv <<<"$cmd"
  rc=0; start_tls_server "$name" "$RESULTS/tls_server_${name}.log" "$SERVER_CPU" "${argv[@]}" || rc=$?
  if (( rc != 0 )); then exit "$rc"; fi
  echo "# started $name pid=$SERVER_PID work_pid=$WORK_PID port=$SERVER_PORT: $cmd" | tee -a "$OUT"
  NAMES+=("$name"); PORTS+=("$SERVER_PORT"); PIDS+=("$SERVER_PID"); WPIDS+=("$WORK_PID")
done

emit() { printf '%s\n' "$@" | tee -a "$OUT"; }

# handshake_round ROUND: HS_N full handshakes per server (after HS_WARMUP unrecorded ones), in
# HS_SLICES slices that rotate over the servers (order reversed on every other slice), so a
# drift in the machine's load falls on every server alike; server CPU summed over the slices.
handshake_round() {
  local r=$1 s k i t0 t1 out last h e sec per=$(( (HS_N + HS_SLICES - 1) / HS_SLICES ))
  local -a ticks=() ok=() err=() secs=() neg=() args
  for i in "${!NAMES[@]}"; do
    ticks[i]=0; ok[i]=0; err[i]=0; secs[i]=0; neg[i]=-
    args=(--addr "127.0.0.1:${PORTS[$i]}" --cacert "$TLS_CA" --c "$HS_C" "${HSFLAGS[@]}")
    if (( HS_WARMUP > 0 )); then "${PIN[@]}" "$LOAD" "${args[@]}" --n "$HS_WARMUP" >/dev/null 2>&1 || true; fi
  done
  for s in $(seq "$HS_SLICES"); do
    for k in "${!NAMES[@]}"; do
      if (( (r + s) % 2 == 0 )); then i=$k; else i=$((n - 1 - k)); fi
      args=(--addr "127.0.0.1:${PORTS[$i]}" --cacert "$TLS_CA" --c "$HS_C" "${HSFLAGS[@]}")
      t0=$(cpu_ticks "${WPIDS[$i]}")
      out=$("${PIN[@]}" "$LOAD" "${args[@]}" --n "$per" 2>&1) || true
      t1=$(cpu_ticks "${WPIDS[$i]}")
      last=$(grep '^handshakes=' <<<"$out" | tail -1 || true)
      if [[ -z "$last" || "$t0" == "-" || "$t1" == "-" ]]; then
        emit "FAIL round=$r slice=$s label=${NAMES[$i]} row=handshake: $(tail -3 <<<"$out" | tr '\n' ' ')"
        err[i]=$(( err[i] + per )); continue
      fi
      read -r h e sec < <(sed -n 's/^handshakes=\([0-9]*\) errors=\([0-9]*\) secs=\([0-9.]*\).*/\1 \2 \3/p' <<<"$last") ||
        { emit "FAIL round=$r slice=$s label=${NAMES[$i]} row=handshake: unparsed '$last'"; err[i]=$(( err[i] + per )); continue; }
      ticks[i]=$(( ticks[i] + t1 - t0 )); ok[i]=$(( ok[i] + h )); err[i]=$(( err[i] + e ))
      secs[i]=$(awk -v a="${secs[$i]}" -v b="$sec" 'BEGIN {printf "%.3f", a + b}')
      # "negotiated: version=V suite=S kx=K alpn=A" -> V,S,K,A
      [[ "${neg[$i]}" == - ]] && neg[i]=$(sed -n 's/^negotiated: version=\([^ ]*\) suite=\([^ ]*\) kx=\([^ ]*\) alpn=\([^ ]*\)$/\1,\2,\3,\4/p' <<<"$out" | head -1)
      { grep -v -e '^handshakes=' -e '^negotiated: ' -e '^phases_ms' <<<"$out" || true; } | head -3 | sed "s/^/    ${NAMES[$i]}: /" | tee -a "$OUT"
    done
  done
  for k in "${!NAMES[@]}"; do
    if (( r % 2 == 1 )); then i=$k; else i=$((n - 1 - k)); fi
    emit "$(awk -v r="$r" -v name="${NAMES[$i]}" -v c="$HS_C" -v d="${ticks[$i]}" -v hz="$HZ" -v t="${secs[$i]}" \
        -v ok="${ok[$i]}" -v e="${err[$i]}" -v sl="$HS_SLICES" -v neg="${neg[$i]:--}" 'BEGIN {
      printf "RESULT round=%s label=%s row=handshake n=%d c=%s slices=%s errors=%d per_s=%.0f srv_cpu_pct=%.0f srv_us_per_hs=%s tls=%s\n",
        r, name, ok, c, sl, e, (t > 0 ? ok / t : 0), (t > 0 ? 100 * d / hz / t : 0), (ok > 0 ? sprintf("%.1f", 1e6 * d / hz / ok) : "nan"), neg }')"
  done
}

n=${#NAMES[@]}
for r in $(seq "$ROUNDS"); do
  for row in $ROWS; do
    case $row in
      handshake)
        emit "# round $r handshake: $HS_SLICES slices of $(( (HS_N + HS_SLICES - 1) / HS_SLICES )) per server"
        handshake_round "$r" ;;
      request)
        for k in $(seq 0 $((n - 1))); do
          if (( r % 2 == 1 )); then i=$k; else i=$((n - 1 - k)); fi
          emit "# round $r request ${NAMES[$i]}"
          SERVER_PID=${WPIDS[$i]} LABEL=${NAMES[$i]} CONNS=$CONNS SCHEME=https WRK_CPU=$LOAD_CPU \
            "$SCRIPTS_DIR/measure_http.sh" "${PORTS[$i]}" 2>&1 | sed "s/^RESULT /RESULT round=$r row=request /" | tee -a "$OUT"
        done ;;
      *) echo "unknown row $row (handshake, request)" >&2; exit 2 ;;
    esac
  done
done

for k in $(seq 0 $((n - 1))); do
  echo "# ${NAMES[$k]} work pid=${WPIDS[$k]} rss_after_kb=$(rss_kb "${WPIDS[$k]}" 2>/dev/null || echo gone)" >>"$OUT"
done

echo
echo "Summary (means over rounds): server CPU us per full handshake (handshakes/s) and per" | tee -a "$OUT"
echo "keep-alive request over TLS (req/s); errors summed" | tee -a "$OUT"
awk '/^RESULT/ {
  delete v
  for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
  k = v["label"]; if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  if (v["row"] == "handshake") { hs[k] += v["srv_us_per_hs"]; hsn[k]++; hsr[k] += v["per_s"]; hse[k] += v["errors"]; tls[k] = v["tls"] }
  if (v["row"] == "request") { rq[k] += v["srv_us_per_req"]; rqn[k]++; rqr[k] += v["rps"]; rqe[k] += v["errors"] }
}
END {
  printf "%-16s %9s %8s %6s   %9s %8s %6s   %s\n", "server", "us/hs", "hs/s", "err", "us/req", "req/s", "err", "negotiated"
  for (i = 1; i <= nk; i++) {
    k = order[i]
    printf "%-16s %9s %8s %6s   %9s %8s %6s   %s\n", k,
      (hsn[k] ? sprintf("%.1f", hs[k] / hsn[k]) : "-"), (hsn[k] ? sprintf("%.0f", hsr[k] / hsn[k]) : "-"), (hsn[k] ? hse[k] : "-"),
      (rqn[k] ? sprintf("%.2f", rq[k] / rqn[k]) : "-"), (rqn[k] ? sprintf("%.0f", rqr[k] / rqn[k]) : "-"), (rqn[k] ? rqe[k] : "-"), tls[k]
  }
}' "$OUT" | tee -a "$OUT"
echo "log: $OUT"
