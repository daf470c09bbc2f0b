#!/usr/bin/env bash
# benches/net/callgrind_http.sh: user-space instructions per keep-alive `GET /` of the demo
# HTTP server (examples/http_server), counted by valgrind's callgrind (repeatable under
# any machine load, unlike CPU time). The server runs under callgrind twice, each time
# for one run of examples/load (CONNS connections, keep-alive) sending N1, then N2
# requests, and is stopped with SIGINT; instructions per request =
# (Ir at N2 - Ir at N1) / (N2 - N1), which removes start-up and shutdown.
#   benches/net/callgrind_http.sh [SERVER_BINARY [SERVER_ARGS...]]
# The server must accept `--port 0` and print `listening on http://HOST:PORT`; the
# default is target/release/examples/http_server (built here).
# Environment: N1 [2000], N2 [12000], CONNS [10], OUT [/tmp/squall-callgrind] for the
# callgrind.out files (read them with callgrind_annotate [--inclusive=yes] FILE).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
N1=${N1:-2000}; N2=${N2:-12000}; CONNS=${CONNS:-10}
OUT=${OUT:-/tmp/squall-callgrind}
mkdir -p "$OUT"
cargo build --release --quiet --example load
if [[ $# -eq 0 ]]; then
  cargo build --release --quiet --example http_server
  set -- target/release/examples/http_server
fi
PID=""
trap '[[ -n $PID ]] && kill -9 "$PID" 2>/dev/null || true' EXIT

# total_ir N: runs the server under callgrind for N requests; prints its total Ir.
total_ir() {
  local n=$1 url="" i rc=0; shift
  rm -f "$OUT/cg.$n.out" "$OUT/server.$n.out"
  timeout -s KILL 900 valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$n.out" \
    --log-file="$OUT/valgrind.$n.log" "$@" --port 0 >"$OUT/server.$n.out" 2>&1 &
  PID=$!
  for i in $(seq 1200); do
    url=$(sed -n 's/^listening on \(http:\/\/[^ ]*\).*/\1/p' "$OUT/server.$n.out")
    [[ -n $url ]] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $url ]] || { echo "the server did not start:" >&2; cat "$OUT/server.$n.out" >&2; exit 1; }
  timeout 600 target/release/examples/load -c "$CONNS" -n "$n" "${url%/}/" >"$OUT/load.$n.out"
  kill -INT "$PID"
  wait "$PID" || rc=$?
  PID=""
  # 130: a peer without a SIGINT handler ends by the signal (callgrind still writes its file).
  [[ $rc -eq 0 || $rc -eq 130 ]] || { echo "the server exited with $rc:" >&2; cat "$OUT/valgrind.$n.log" >&2; exit 1; }
  awk '/^(summary|totals):/ { print $2; exit }' "$OUT/cg.$n.out"
}

ir1=$(total_ir "$N1" "$@")
ir2=$(total_ir "$N2" "$@")
per=$(( (ir2 - ir1) / (N2 - N1) ))
echo "# callgrind $* conns=$CONNS: Ir $ir1 at N=$N1, $ir2 at N=$N2"
echo "IR_PER_REQUEST $per"
