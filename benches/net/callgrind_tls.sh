#!/usr/bin/env bash
# benches/net/callgrind_tls.sh: user-space instructions per full TLS handshake of an HTTPS
# server, counted by valgrind's callgrind, the method of callgrind_http.sh: the server runs
# under callgrind twice, each time for one run of tls_handshake_load (benches/peers: CONNS
# concurrent tasks, each cycle a new TCP connection, a full handshake without resumption,
# one `GET /`, close_notify and close) doing N1, then N2 handshakes, and is stopped with
# SIGINT; instructions per handshake = (Ir at N2 - Ir at N1) / (N2 - N1), which removes
# start-up (certificate loading, the crypto provider) and shutdown.
# ROW=request counts instead the instructions per keep-alive `GET /` over TLS: examples/load
# (squall's HTTP client, CONNS connections, each one handshake) sends N1, then N2 requests.
#   benches/net/callgrind_tls.sh [SERVER_BINARY [SERVER_ARGS...]]
# The server gets `--port 0 --tls-cert CERT --tls-key KEY` appended (a throwaway ECDSA P-256
# certificate from benches/peers/scripts/tls_certs.sh, in a temporary directory) and must
# print `listening on https://HOST:PORT`; the default is target/release/examples/http_server
# (built here). A peer, e.g.:
#   benches/net/callgrind_tls.sh benches/peers/target/release/hyper_tls_hello
# Environment: ROW [handshake] or request, N1 [100; request: 2000], N2 [600; request:
# 12000], CONNS [10], TLS12 [0] (1: TLS 1.2 handshakes), OUT [/tmp/squall-callgrind-tls]
# for the callgrind.out files (read them with callgrind_annotate [--inclusive=yes] FILE),
# BENCH (the peers' scripts, as in callgrind_ws.sh: tls_handshake_load is taken from their
# build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BENCH=${BENCH:-$ROOT/benches/peers/scripts}
source "$BENCH/lib.sh"   # REL: the peers' release binaries
ROW=${ROW:-handshake}; CONNS=${CONNS:-10}; TLS12=${TLS12:-0}
case $ROW in
  handshake) N1=${N1:-100}; N2=${N2:-600}; UNIT=HANDSHAKE ;;
  request) N1=${N1:-2000}; N2=${N2:-12000}; UNIT=REQUEST ;;
  *) echo "ROW is handshake or request" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/squall-callgrind-tls}
mkdir -p "$OUT"
LOAD="$REL/tls_handshake_load"
if [[ $ROW == request ]]; then
  cargo build --release --quiet --example load
else
  [[ -x $LOAD ]] || { echo "build first: (cd benches/peers && cargo build --release -p squall-tls-peers)" >&2; exit 1; }
fi
HSFLAGS=(); [[ $TLS12 == 1 ]] && HSFLAGS=(--tls12)
if [[ $# -eq 0 ]]; then
  cargo build --release --quiet --example http_server
  set -- target/release/examples/http_server
fi
CERTS=$(mktemp -d /tmp/squall-callgrind-tls-certs.XXXXXX)
source "$ROOT/benches/net/callgrind_lib.sh"   # callgrind_per_op (shared with callgrind_http.sh)
trap '[[ -n $PID ]] && kill -9 "$PID" 2>/dev/null; rm -rf "$CERTS"' EXIT
"$BENCH/tls_certs.sh" "$CERTS"

# drive N URL: N handshakes (or N keep-alive requests) against the server at URL; fails
# unless every one succeeded.
drive() {
  local n=$1 url=$2 addr out last
  addr=${url#https://}; addr=${addr%/}
  if [[ $ROW == request ]]; then
    # squall's client trusts the throwaway CA through SSL_CERT_FILE (rustls-native-certs).
    out=$(SSL_CERT_FILE="$CERTS/ca.pem" timeout 900 target/release/examples/load -c "$CONNS" \
      -n "$n" "$url" 2>&1 || true)
    last=$(grep '^requests=' <<<"$out" | tail -1 || true)
    [[ $last == "requests=$n errors=0 "* && $last == *" bad_status=0" ]] ||
      { echo "the load did not complete $n requests:" >&2; tail -5 <<<"$out" >&2; exit 1; }
  else
    out=$(timeout 900 "$LOAD" --addr "$addr" --cacert "$CERTS/ca.pem" --n "$n" --c "$CONNS" \
      --timeout 120 "${HSFLAGS[@]}" 2>&1 || true)
    last=$(grep '^handshakes=' <<<"$out" | tail -1 || true)
    [[ $last == "handshakes=$n errors=0 "* ]] ||
      { echo "the load did not complete $n handshakes:" >&2; tail -5 <<<"$out" >&2; exit 1; }
  fi
  echo "$out"
}

callgrind_per_op https 1200 "$@" --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key"
echo "# callgrind $* row=$ROW conns=$CONNS tls12=$TLS12: Ir $ir1 at N=$N1, $ir2 at N=$N2" \
  "$(grep -h '^negotiated:' "$OUT/load.$N2.out" | head -1 || true)"
echo "IR_PER_$UNIT $per"
