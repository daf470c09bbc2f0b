#!/usr/bin/env bash
# benches/net/callgrind_http.sh: user-space instructions per keep-alive `GET /` of the demo
# HTTP server (examples/http_server), counted by valgrind's callgrind (repeatable under
# any machine load, unlike CPU time). The server runs under callgrind twice, each time
# for one run of examples/load (CONNS connections, keep-alive) sending N1, then N2
# requests, and is stopped with SIGINT; instructions per request =
# (Ir at N2 - Ir at N1) / (N2 - N1), which removes start-up and shutdown (the method is
# in callgrind_lib.sh, shared with callgrind_ws.sh).
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
source "$ROOT/benches/net/callgrind_lib.sh"

# drive N URL: N keep-alive `GET /` over CONNS connections.
drive() {
  timeout 600 target/release/examples/load -c "$CONNS" -n "$1" "$2"
}

callgrind_per_op http 900 "$@"
echo "# callgrind $* conns=$CONNS: Ir $ir1 at N=$N1, $ir2 at N=$N2"
echo "IR_PER_REQUEST $per"
