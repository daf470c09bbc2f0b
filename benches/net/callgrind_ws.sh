#!/usr/bin/env bash
# benches/net/callgrind_ws.sh: user-space instructions per WebSocket echo (one binary
# message of SIZE bytes in, the same out) of an echo server, counted by valgrind's
# callgrind, the method of callgrind_http.sh (in callgrind_lib.sh, which both source): the
# server runs under callgrind twice, each time for one run of ws_load (benches/peers:
# CONNS connections, ping-pong) sending N1, then N2 messages in all, and is stopped with
# SIGINT; instructions per message = (Ir at N2 - Ir at N1) / (N2 - N1), which removes
# start-up, handshakes and shutdown.
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
source "$ROOT/benches/net/callgrind_lib.sh"

# drive N URL: N messages in all over CONNS connections, ping-pong.
drive() {
  timeout 900 "$LOAD" -c "$CONNS" -n $(($1 / CONNS)) --warmup 0 --size "$SIZE" --timeout 300 "$2"
}

callgrind_per_op ws 1200 "$@"
echo "# callgrind $* conns=$CONNS size=$SIZE: Ir $ir1 at N=$N1, $ir2 at N=$N2"
echo "IR_PER_MESSAGE $per"
