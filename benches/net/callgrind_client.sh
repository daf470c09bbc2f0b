#!/usr/bin/env bash
# benches/net/callgrind_client.sh: user-space instructions and heap allocations per
# keep-alive request of an HTTP client, counted by valgrind's callgrind (repeatable under
# any machine load). A native mio_hello (benches/peers) serves; the client runs under
# callgrind twice, for N1 then N2 requests over CONNS connections; per request =
# (count at N2 - count at N1) / (N2 - N1), which removes start-up and connecting.
# Allocations are the calls to `malloc` (benches/tools/callgrind_calls.py).
#   benches/net/callgrind_client.sh [CLIENT_BINARY [ARGS...]]
# The client gets `--url URL --n N --c CONNS` appended, as examples/load and
# benches/peers' `hyper_client_bench --mode conn` take them; the default is
# target/release/examples/load (built here). mio_hello must be built:
#   (cd benches/peers && cargo build --release --bin mio_hello --bin hyper_client_bench)
# Environment: N1 [2000], N2 [12000], CONNS [10], PORT [18095], OUT [/tmp/squall-callgrind-client].
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
N1=${N1:-2000}; N2=${N2:-12000}; CONNS=${CONNS:-10}; PORT=${PORT:-18095}
OUT=${OUT:-/tmp/squall-callgrind-client}
mkdir -p "$OUT"
MIO=benches/peers/target/release/mio_hello
[[ -x $MIO ]] || { echo "build $MIO first (see the comment at the top)" >&2; exit 1; }
if [[ $# -eq 0 ]]; then
  cargo build --release --quiet --example load
  set -- target/release/examples/load
fi

"$MIO" --port "$PORT" >"$OUT/server.out" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.05
done

# count N CLIENT [ARGS...]: the client under callgrind for N requests; prints "Ir mallocs".
count() {
  local n=$1 f="$OUT/cg.$1.out"; shift
  rm -f "$f"
  timeout 600 valgrind --tool=callgrind --callgrind-out-file="$f" --log-file="$OUT/valgrind.$n.log" \
    "$@" --url "http://127.0.0.1:$PORT/" --n "$n" --c "$CONNS" >"$OUT/client.$n.out" 2>&1 ||
    { echo "the client failed for N=$n:" >&2; cat "$OUT/client.$n.out" "$OUT/valgrind.$n.log" >&2; exit 1; }
  echo "$(awk '/^(summary|totals):/ { print $2; exit }' "$f") $(python3 benches/tools/callgrind_calls.py "$f" malloc)"
}

read -r ir1 m1 < <(count "$N1" "$@")
read -r ir2 m2 < <(count "$N2" "$@")
echo "# callgrind $* conns=$CONNS: Ir $ir1 / $ir2, mallocs $m1 / $m2 at N=$N1 / $N2"
echo "IR_PER_REQUEST $(( (ir2 - ir1) / (N2 - N1) ))"
awk -v a="$m1" -v b="$m2" -v n="$((N2 - N1))" 'BEGIN { printf "MALLOCS_PER_REQUEST %.2f\n", (b - a) / n }'
