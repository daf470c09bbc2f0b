# benches/net/callgrind_lib.sh: the method of callgrind_http.sh and callgrind_ws.sh,
# sourced by both (after `set -euo pipefail`, with OUT made and CONNS set). A server runs
# under valgrind's callgrind twice, each time for one run of a load that makes N1, then
# N2 operations, and is stopped with SIGINT; instructions per operation =
# (Ir at N2 - Ir at N1) / (N2 - N1), which removes start-up, handshakes and shutdown.
# The script defines `drive N URL`: the load for N operations against URL (its output
# goes to $OUT/load.N.out).

# The server under callgrind, killed if the script ends early.
PID=""
trap '[[ -n $PID ]] && kill -9 "$PID" 2>/dev/null || true' EXIT

# callgrind_total_ir N SCHEME LIMIT SERVER [ARGS...]: runs `SERVER ARGS --port 0` under
# callgrind (killed after LIMIT s) until it prints `listening on SCHEME://HOST:PORT`, then
# `drive N URL`, then stops it with SIGINT; prints the server's total Ir.
callgrind_total_ir() {
  local n=$1 scheme=$2 limit=$3 url="" i rc=0; shift 3
  rm -f "$OUT/cg.$n.out" "$OUT/server.$n.out"
  timeout -s KILL "$limit" valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$n.out" \
    --log-file="$OUT/valgrind.$n.log" "$@" --port 0 >"$OUT/server.$n.out" 2>&1 &
  PID=$!
  for i in $(seq 1200); do
    url=$(sed -n "s|^listening on \\($scheme://[^ ]*\\).*|\\1|p" "$OUT/server.$n.out")
    [[ -n $url ]] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $url ]] || { echo "the server did not start:" >&2; cat "$OUT/server.$n.out" >&2; exit 1; }
  drive "$n" "${url%/}/" >"$OUT/load.$n.out"
  # A run whose operations failed measured nothing: stop rather than print a false figure.
  if grep -q 'errors=[1-9]' "$OUT/load.$n.out"; then
    echo "the load reported errors:" >&2; cat "$OUT/load.$n.out" >&2; exit 1
  fi
  kill -INT "$PID"
  wait "$PID" || rc=$?
  PID=""
  # A peer without a SIGINT handler dies of it (130); callgrind still writes its counts.
  [[ $rc -eq 0 || $rc -eq 130 ]] && [[ -s "$OUT/cg.$n.out" ]] ||
    { echo "the server exited with $rc:" >&2; cat "$OUT/valgrind.$n.log" >&2; exit 1; }
  awk '/^(summary|totals):/ { print $2; exit }' "$OUT/cg.$n.out"
}

# callgrind_per_op SCHEME LIMIT SERVER [ARGS...]: sets ir1 and ir2 (the totals at N1 and
# N2) and per (instructions per operation).
callgrind_per_op() {
  ir1=$(callgrind_total_ir "$N1" "$@")
  ir2=$(callgrind_total_ir "$N2" "$@")
  per=$(( (ir2 - ir1) / (N2 - N1) ))
}
