#!/usr/bin/env bash
# The Ray tests and the executor benchmark's fault run, N times in a row (default 10), while
# another model job runs beside them: the smoke spec on a loop with an empty generation cache.
# Every process gets OMP_NUM_THREADS=1 (two torch processes on 2 cores with 2 threads each
# thrash). Prints each round's outcome and time, and the total; exits non-zero on the first
# failure.   bash scripts/ray_soak.sh [N]
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
export OMP_NUM_THREADS=1
PY=.venv/bin/python
load_dir=$(mktemp -d)
logs=${SOAK_LOGS:-$(mktemp -d /tmp/ray-soak-logs.XXXX)}   # kept: each round's output
mkdir -p "$logs"
echo "logs: $logs"
(
  while true; do
    LLAMA_GENCACHE_DIR="$load_dir/gen" $PY -m pytest specs/smoke.yaml -q -p no:cacheprovider \
      --llama-cache off --llama-results="$load_dir/results" >/dev/null 2>&1
    echo "load job: one smoke run done $(date +%T)" >>"$load_dir/log"
  done
) &
loader=$!
trap 'kill $loader 2>/dev/null; pkill -f "$load_dir" 2>/dev/null; cp "$load_dir/log" "$logs/load.log" 2>/dev/null; rm -rf "$load_dir"' EXIT
began=$(date +%s)
for i in $(seq 1 "$N"); do
  t0=$(date +%s)
  $PY -m pytest tests/test_ray.py tests/test_ray_ports.py -q -p no:cacheprovider >"$logs/tests.$i" 2>&1
  tests=$?
  $PY benchmarks/executor_scaling.py --smallest >"$logs/bench.$i" 2>&1
  bench=$?
  echo "round $i: tests $(tail -1 "$logs/tests.$i" | tr -d '=')  fault run: $(grep -m1 'completed' "$logs/bench.$i" | xargs)  ($(( $(date +%s) - t0 )) s)"
  if [ $tests -ne 0 ] || [ $bench -ne 0 ]; then
    echo "round $i failed:"; tail -n 40 "$logs/tests.$i" "$logs/bench.$i"; exit 1
  fi
done
echo "$N rounds passed in $(( $(date +%s) - began )) s, beside $(wc -l <"$load_dir/log" 2>/dev/null || echo 0) smoke runs of the load job"
