#!/usr/bin/env bash
# benches/net/callgrind_ws.sh: user-space instructions per WebSocket echo (one binary
# message of SIZE bytes in, the same out) of an echo server, counted by valgrind's
# callgrind, the method of callgrind_http.sh: the server runs under callgrind twice, each
# time for one run of ws_load (benches/peers: CONNS connections, ping-pong) sending N1,
# then N2 messages in all, and is stopped with SIGINT; instructions per message =
# (Ir at N2 - Ir at N1) / (N2 - N1), which removes start-up, handshakes and shutdown.
#   benches/net/callgrind_ws.sh [SERVER_BINARY [SERVER_ARGS...]]
# The server must accept `--port 0` and print `listening on ws://HOST:PORT`; the default
# is target/release/examples/ws_echo (built here). A peer, e.g.:
#   benches/net/callgrind_ws.sh benches/peers/target/release/tungstenite_echo --read-buffer 16384
# Environment: SIZE [65536], N1 [200], N2 [1200], CONNS [10], OUT [/tmp/squall-callgrind-ws]
# for the callgrind.out files (read them with callgrind_annotate [--inclusive=yes] FILE),
# BENCH (the peers' build, as in benches/peers/scripts/lib.sh: ws_load is taken from it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BENCH=${BENCH:-$ROOT/benches/peers/scripts}
source "$BENCH/lib.sh"   # REL: the peers' release binaries
SIZE=${SIZE:-65536}; N1=${N1:-200}; N2=${N2:-1200}; CONNS=${CONNS:-10}
OUT=${OUT:-/tmp/squall-callgrind-ws}
mkdir -p "$OUT"
LOAD="$REL/ws_load"
[[ -x $LOAD ]] || { echo "build first: (cd benches/peers && cargo build --release --bin ws_load)" >&2; exit 1; }
if [[ $# -eq 0 ]]; then
  cargo build --release --quiet --example ws_echo
  set -- target/release/examples/ws_echo
fi
PID=""
trap '[[ -n $PID ]] && kill -9 "$PID" 2>/dev/null || true' EXIT

# total_ir N: runs the server under callgrind for N messages in all; prints its total Ir.
total_ir() {
  local n=$1 url="" i rc=0; shift
  rm -f "$OUT/cg.$n.out" "$OUT/server.$n.out"
  timeout -s KILL 1200 valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$n.out" \
    --log-file="$OUT/valgrind.$n.log" "$@" --port 0 >"$OUT/server.$n.out" 2>&1 &
  PID=$!
  for i in $(seq 1200); do
    url=$(sed -n 's/^listening on \(ws:\/\/[^ ]*\).*/\1/p' "$OUT/server.$n.out")
    [[ -n $url ]] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $url ]] || { echo "the server did not start:" >&2; cat "$OUT/server.$n.out" >&2; exit 1; }
  timeout 900 "$LOAD" -c "$CONNS" -n $((n / CONNS)) --warmup 0 --size "$SIZE" --timeout 300 \
    "${url%/}/" >"$OUT/load.$n.out"
  kill -INT "$PID"
  wait "$PID" || rc=$?
  PID=""
  # A peer without a SIGINT handler dies of it (130); callgrind still writes its counts.
  [[ $rc -eq 0 || $rc -eq 130 ]] && [[ -s "$OUT/cg.$n.out" ]] ||
    { echo "the server exited with $rc:" >&2; cat "$OUT/valgrind.$n.log" >&2; exit 1; }
  awk '/^(summary|totals):/ { print $2; exit }' "$OUT/cg.$n.out"
}

ir1=$(total_ir "$N1" "$@")
ir2=$(total_ir "$N2" "$@")
per=$(( (ir2 - ir1) / (N2 - N1) ))
echo "# callgrind $* conns=$CONNS size=$SIZE: Ir $ir1 at N=$N1, $ir2 at N=$N2"
echo "IR_PER_MESSAGE $per"
