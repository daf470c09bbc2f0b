#!/usr/bin/env bash
# benches/valgrind/memcheck.sh: the demo HTTP server (examples/http_server) and the
# WebSocket echo server (examples/ws_echo) under valgrind's memcheck with a short load,
# each stopped with SIGINT (a clean exit, so the leak check runs). Fails (exit 1) when
# memcheck reports a definitely lost block or any memory error, or when a server does not
# start, answer or stop in time. Every step is bounded (`timeout`); about a minute in all.
#   benches/valgrind/memcheck.sh
# Environment: REQUESTS [2000] GET requests (10 at a time, keep-alive) plus one request
# per other route; WS_CLIENTS [6] WebSocket clients (half with permessage-deflate) of
# WS_MESSAGES [200] messages each; OUT [/tmp/squall-memcheck] for the valgrind logs.
# Needs valgrind (apt-get install valgrind), curl and the release examples (built here).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
REQUESTS=${REQUESTS:-2000}
WS_CLIENTS=${WS_CLIENTS:-6}
WS_MESSAGES=${WS_MESSAGES:-200}
OUT=${OUT:-/tmp/squall-memcheck}
mkdir -p "$OUT"
EX=target/release/examples
cargo build --release --quiet --example http_server --example ws_echo --example load \
  --example ws_client

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME CMD...: runs CMD under memcheck (memcheck's process is the server's own, so
# signals reach the server); sets PID and URL (from its `listening on` line).
start() {
  local name=$1 i; shift
  rm -f "$OUT/$name.out"
  timeout -s KILL 300 valgrind --tool=memcheck --leak-check=full \
    --errors-for-leak-kinds=definite --error-exitcode=99 --suppressions="$ROOT/benches/valgrind/http.supp" \
    --log-file="$OUT/$name.valgrind" \
    "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
  PID=$!
  PIDS+=("$PID")
  URL=""
  for i in $(seq 1200); do # 60 s: memcheck starts a program in a few seconds
    URL=$(sed -n 's/^listening on \([a-z]*:\/\/[^ ]*\).*/\1/p' "$OUT/$name.out")
    [[ -n $URL ]] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "memcheck: $name did not start" >&2
  cat "$OUT/$name.err" "$OUT/$name.valgrind" >&2
  exit 1
}

# stop NAME: SIGINT, wait for the clean exit, then judge memcheck's report.
stop() {
  local name=$1 rc=0
  kill -INT "$PID"
  wait "$PID" || rc=$?
  grep -E "definitely lost|indirectly lost|possibly lost|still reachable|ERROR SUMMARY" \
    "$OUT/$name.valgrind" | sed "s/^==[0-9]*==/memcheck: $name:/"
  if [[ $rc -ne 0 ]]; then
    echo "memcheck: $name FAILED (exit $rc; 99: memory errors or definite leaks):" >&2
    cat "$OUT/$name.valgrind" >&2
    exit 1
  fi
}

start http_server "$EX/http_server" --port 0
base=${URL%/}
timeout 120 "$EX/load" -c 10 -n "$REQUESTS" "$base/" | tail -1
c=(timeout 30 curl -sS -o /dev/null)
"${c[@]}" --data-binary @Cargo.toml "$base/echo"
"${c[@]}" "$base/stream?chunks=50&size=4096"
"${c[@]}" "$base/sleep?ms=20"
"${c[@]}" "$base/missing"
# A client that leaves in the middle of a long chunked response.
timeout 30 curl -sS --max-time 0.5 -o /dev/null "$base/stream?chunks=100000&size=65536" || true
stop http_server

start ws_echo "$EX/ws_echo" --port 0 --deflate
ws=()
for i in $(seq "$WS_CLIENTS"); do
  flags=()
  (( i % 2 )) && flags=(--deflate)
  seq -f "message %g from client $i" "$WS_MESSAGES" \
    | timeout 120 "$EX/ws_client" "${flags[@]}" "$URL" >"$OUT/ws_client.$i.out" &
  ws+=($!)
done
for i in "${!ws[@]}"; do
  wait "${ws[$i]}" || { echo "memcheck: ws_client $((i + 1)) failed" >&2; exit 1; }
  got=$(grep -c "^message" "$OUT/ws_client.$((i + 1)).out" || true)
  [[ $got -eq $WS_MESSAGES ]] || { echo "memcheck: ws_client $((i + 1)) got $got of $WS_MESSAGES echoes" >&2; exit 1; }
done
stop ws_echo
echo "memcheck: no memory errors, no definite leaks"
