#!/usr/bin/env bash
# Sluice demo: a proxyless gRPC client follows the routes Sluice serves.
#
# Builds bin/sluice and bin/sluice-demo, starts a single-node Sluice
# (`sluice server --dev`) and two backends of the greeter service (v1 and
# v2), applies the greeter Service, starts a load generator that calls
# greeter through Sluice's xDS server, then shifts the traffic
# 100/0 -> 80/20 -> 50/50 -> 0/100 -> 100/0 by re-applying the Service with
# new weights. Every process it starts is stopped on exit, Ctrl-C included.
#
# Needs only Go. Environment:
#   DEMO_HOLD  seconds to hold each step (default 5)
#   DEMO_RPS   load generator rate (default 50)
#   DEMO_KEEP  set to 1 to keep the work directory with the logs
set -euo pipefail
cd "$(dirname "$0")/.."

HOLD=${DEMO_HOLD:-5}
RPS=${DEMO_RPS:-50}
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-demo.XXXXXX")
pids=()
sleeper=

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() {
  printf '\ndemo failed: %s\n' "$*" >&2
  for f in "$work"/*.log; do
    [ -s "$f" ] || continue
    printf -- '--- last lines of %s ---\n' "$(basename "$f")" >&2
    tail -n 15 "$f" >&2
  done
  exit 1
}

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
  # Stop the newest process first (load generator, backends, then Sluice).
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  # Give each up to 5 s to shut down gracefully, then kill it.
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "${DEMO_KEEP:-}" = 1 ]; then
    echo "logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT
trap 'exit 143' TERM

# hold SECONDS: sleep, but let a trapped signal (Ctrl-C, TERM) end the
# demo at once instead of after the sleep.
hold() {
  sleep "$1" &
  sleeper=$!
  wait "$sleeper" || true
}

# wait_for FILE PATTERN SECONDS WHAT: wait until FILE has a line matching
# PATTERN, or fail after SECONDS.
wait_for() {
  local file=$1 pattern=$2 secs=$3 what=$4 i
  for ((i = 0; i < secs * 10; i++)); do
    if grep -q -- "$pattern" "$file" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$what did not start within ${secs}s"
}

# apply_weights W1 W2: render the Service from its template and apply it,
# retrying while the new node elects itself leader.
apply_weights() {
  sed -e "s/@V1_WEIGHT@/$1/" -e "s/@V2_WEIGHT@/$2/" \
    -e "s/@V1_ADDR@/$v1_grpc/" -e "s/@V2_ADDR@/$v2_grpc/" \
    examples/demo/greeter.yaml.tmpl >"$work/greeter.yaml"
  local i
  for ((i = 0; i < 150; i++)); do
    if bin/sluice --server "$api" apply -f "$work/greeter.yaml" >"$work/apply.out" 2>>"$work/apply.log"; then
      sed 's/^/    sluice: /' "$work/apply.out"
      return 0
    fi
    sleep 0.2
  done
  die "sluice apply kept failing for 30s"
}

say "Building bin/sluice and bin/sluice-demo"
mkdir -p bin
go build -o bin/sluice ./cmd/sluice
go build -o bin/sluice-demo ./cmd/sluice-demo

say "Starting a single-node Sluice (sluice server --dev) on free ports"
bin/sluice server --dev --log-level warn \
  --api-addr 127.0.0.1:0 --xds-addr 127.0.0.1:0 --raft-addr 127.0.0.1:0 \
  >"$work/sluice.log" 2>&1 &
pids+=($!)
wait_for "$work/sluice.log" 'sluice dev server: api' 20 "sluice server"
api=$(sed -n 's|.*sluice dev server: api http://\([^ ]*\) .*|\1|p' "$work/sluice.log" | head -n 1)
xds=$(sed -n 's|.*sluice dev server: .* xds \([^ ]*\) .*|\1|p' "$work/sluice.log" | head -n 1)
[ -n "$api" ] && [ -n "$xds" ] || die "could not read the API and xDS addresses from the sluice server output"
echo "    API http://$api   xDS $xds"

# start_backend VERSION: start a greeter backend and read its ports from
# its "ready grpc=... http=..." line.
start_backend() {
  bin/sluice-demo backend --service greeter --version "$1" \
    --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
    >"$work/greeter-$1.out" 2>"$work/greeter-$1.log" &
  pids+=($!)
  wait_for "$work/greeter-$1.out" '^ready ' 10 "backend greeter $1"
}

say "Starting two greeter backends: v1 (stable) and v2 (new)"
start_backend v1
start_backend v2
v1_grpc=$(sed -n 's/^ready grpc=\([^ ]*\) http=.*/\1/p' "$work/greeter-v1.out")
v2_grpc=$(sed -n 's/^ready grpc=\([^ ]*\) http=.*/\1/p' "$work/greeter-v2.out")
v1_http=$(sed -n 's/^ready .* http=\(.*\)$/\1/p' "$work/greeter-v1.out")
v2_http=$(sed -n 's/^ready .* http=\(.*\)$/\1/p' "$work/greeter-v2.out")
echo "    v1 gRPC $v1_grpc (metrics http://$v1_http/metrics)"
echo "    v2 gRPC $v2_grpc (metrics http://$v2_http/metrics)"

say "Step 1/5: v1 100% / v2 0% (apply the greeter Service: all traffic on the stable version)"
apply_weights 100 0

say "Starting a proxyless gRPC client: $RPS RPC/s to xds:///greeter through Sluice"
echo "    each line: time, RPCs in the last second, share per version, errors, v2 share"
bin/sluice-demo loadgen --xds "$xds" --target greeter --rps "$RPS" \
  --node-id demo-loadgen --cluster demo --region local --zone local-a \
  2>"$work/loadgen.log" &
pids+=($!)
hold "$HOLD"

step=1
for weights in "80 20" "50 50" "0 100" "100 0"; do
  read -r w1 w2 <<<"$weights"
  step=$((step + 1))
  case "$w1/$w2" in
    80/20) what="a canary: 20% of the traffic to v2" ;;
    50/50) what="half and half" ;;
    0/100) what="v2 takes all the traffic" ;;
    100/0) what="roll back: everything back on v1" ;;
  esac
  say "Step $step/5: v1 $w1% / v2 $w2% ($what)"
  apply_weights "$w1" "$w2"
  hold "$HOLD"
done

say "Done: the client followed every route change without a restart."
echo "    Stopping the load generator, the backends and Sluice."
