#!/usr/bin/env bash
# Runs the fuzz targets for SECONDS each (default 30), two at a time, on their corpus
# (fuzz/corpus/<target>, grown by the run) and the committed seeds (fuzz/seeds/<target>).
# Prints each target's last libFuzzer status line (executions, coverage) and fails if a
# target found a crash (kept in fuzz/artifacts/<target>/).
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request_head response_head chunked server_pipeline ws_decoder resp)
export RUSTC_BOOTSTRAP=1 # cargo-fuzz passes nightly-only flags; this toolchain is stable
python3 seeds.py
cargo fuzz build -O
mkdir -p logs
run() {
  local t=$1
  mkdir -p "corpus/$t"
  cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -print_final_stats=1 \
    >"logs/$t.log" 2>&1
}
fail=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for t in "${targets[@]:i:2}"; do
    run "$t" &
    pids+=("$!:$t")
  done
  for p in "${pids[@]}"; do
    if ! wait "${p%%:*}"; then
      echo "${p#*:}: CRASH, see fuzz/logs/${p#*:}.log and fuzz/artifacts/${p#*:}/" >&2
      fail=1
    fi
  done
done
for t in "${targets[@]}"; do
  echo "$t: $(grep -E '^#[0-9]+[[:space:]]+DONE' "logs/$t.log" | tail -1)"
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "logs/$t.log" | sed "s/^/  /"
done
exit $fail
