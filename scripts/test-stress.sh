#!/usr/bin/env bash
# make test-stress: run `make test` RUNS times (default 3) while a CPU hog
# keeps every core busy, and report which runs failed and which tests
# failed in them. A test that fails only under load waits on time instead
# of on a condition, or asserts an order the code does not guarantee.
#
#   RUNS=3 HOGS=2 scripts/test-stress.sh
#
# Logs go to .stress/run-N.log (git-ignored).
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
hogs=${HOGS:-$(nproc)}
mkdir -p .stress

# The hog: stress-ng when installed, else one busy shell loop per core.
pids=()
stop_hogs() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap stop_hogs EXIT
if command -v stress-ng >/dev/null 2>&1; then
  stress-ng --cpu "$hogs" --quiet &
  pids+=($!)
  echo "test-stress: stress-ng --cpu $hogs"
else
  for _ in $(seq "$hogs"); do
    bash -c 'while :; do :; done' &
    pids+=($!)
  done
  echo "test-stress: $hogs busy loops (install stress-ng for a richer load)"
fi

failed=0
for i in $(seq "$runs"); do
  log=".stress/run-$i.log"
  start=$(date +%s)
  if make --no-print-directory test >"$log" 2>&1; then
    echo "run $i/$runs: ok ($(( $(date +%s) - start )) s, load $(cut -d' ' -f1-3 /proc/loadavg))"
  else
    failed=$((failed + 1))
    echo "run $i/$runs: FAILED ($(( $(date +%s) - start )) s, load $(cut -d' ' -f1-3 /proc/loadavg)); failing tests:"
    grep -E '^\s*--- FAIL' "$log" | sed 's/^/    /' | sort -u
    grep -E '^(FAIL|make: \*\*\*)' "$log" | sed 's/^/    /' | sort -u
  fi
done
echo "test-stress: $((runs - failed))/$runs runs passed"
[ "$failed" -eq 0 ]
