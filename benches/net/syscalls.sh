#!/usr/bin/env bash
# benches/net/syscalls.sh: syscalls per echoed message / per HTTP request, from
# `strace -c -f -p PID` attached for the whole of one load run (no warm-up), divided by
# the messages / requests the load generator counted.
#   benches/net/syscalls.sh echo NAME PORT CMD...   (load: examples/echo_load, CONNS [100])
#   benches/net/syscalls.sh http NAME PORT CMD...   (load: wrk -t1 -cCONNS, PIPELINE [1])
# Environment: CONNS [100], SECS [5], PIPELINE [1], BENCH.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH:-$ROOT/benches/peers/scripts}
source "$BENCH/lib.sh"
trap cleanup EXIT
kind=$1 name=$2 port=$3; shift 3
CONNS=${CONNS:-100}; SECS=${SECS:-5}; PIPELINE=${PIPELINE:-1}
port_free "$port"
start_server "/tmp/sys_${name}.log" 1 "$@"; spid=$SERVER_PID; wait_listen "$port"
if [[ $kind == http ]]; then wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null; fi
st=$(mktemp)
strace -c -f -p "$spid" -o "$st" & tpid=$!; STARTED_PIDS+=("$tpid"); sleep 1
if [[ $kind == echo ]]; then
  out=$(taskset -c 0 "$ROOT/target/release/examples/echo_load" --port "$port" --conns "$CONNS" --secs "$SECS" --warmup 0)
  # connects happen before the count starts; the count is messages completed
  n=$(sed -n 's/.*msgs=\([0-9]*\).*/\1/p' <<<"$out")
else
  script=(); luaargs=()
  if (( PIPELINE > 1 )); then script=(-s "$BENCH/pipeline.lua"); luaargs=(-- "$PIPELINE"); fi
  out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" "${script[@]}" "http://127.0.0.1:$port/" "${luaargs[@]}")
  n=$(awk '/requests in/ {print $1; exit}' <<<"$out")
fi
sleep 0.5; kill -INT "$tpid"; wait "$tpid" 2>/dev/null || true
echo "# $kind $name conns=$CONNS pipeline=$PIPELINE units=$n cmd: $*"
awk -v n="$n" -v name="$name" '$1 ~ /^[0-9.]+$/ && NF >= 5 { calls = $4; sc = $NF; if (sc == "total") next;
   printf "SYSCALL label=%s %-16s %10d calls %7.3f per unit\n", name, sc, calls, calls / n; tot += calls }
  END { printf "SYSCALL label=%s %-16s %10d calls %7.3f per unit\n", name, "TOTAL", tot, tot / n }' "$st"
rm -f "$st"
