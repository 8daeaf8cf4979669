#!/usr/bin/env bash
# What the README's "One node" walkthrough needs besides `sluice server`:
# `make one-node` runs this. On loopback, at the addresses the examples and
# the server's defaults name:
#
#   - the greeter backends of examples/services.yaml: v1 on 127.0.0.1:9101
#     and :9102, v2 on :9111 and :9112 (sluice-demo backend);
#   - Prometheus on 127.0.0.1:9090 (PROM_ADDR), scraping them every second;
#   - a proxyless gRPC client calling xds:///greeter through the Sluice
#     node's xDS port 127.0.0.1:18000 (XDS_ADDR), RPS calls a second
#     (default 100), so that each version has requests to judge. It keeps
#     trying until the node is up.
#
# It runs until interrupted; logs go to a temporary directory, removed on
# exit. Needs bin/sluice-demo (`make build`) and Prometheus
# (scripts/prometheus.sh finds or installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

PROM_ADDR=${PROM_ADDR:-127.0.0.1:9090}
XDS_ADDR=${XDS_ADDR:-127.0.0.1:18000}
RPS=${RPS:-100}
demo=bin/sluice-demo

die() { printf 'one-node: %s\n' "$*" >&2; exit 1; }
[ -x "$demo" ] || die "$demo is missing: run make build first"
prom_bin=$(./scripts/prometheus.sh) || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-one-node.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# backend VERSION GRPC_ADDR REGION: one greeter backend; its metrics
# address goes into targets once it listens.
backend() {
  local out=$work/greeter-$1-${2##*:}.out
  port_in_use "$2" && die "$2 is already in use (a backend of examples/services.yaml listens there)"
  "$demo" backend --service greeter --version "$1" --region "$3" --grpc-addr "$2" --http-addr 127.0.0.1:0 \
    --log-level warn >"$out" 2>"$work/greeter-$1-${2##*:}.log" &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q '^ready ' "$out" 2>/dev/null; then
      targets+=("$(sed -n 's/^ready .* http=\(.*\)$/\1/p' "$out")")
      return
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || die "backend greeter $1 on $2 exited: $(cat "$work/greeter-$1-${2##*:}.log")"
    sleep 0.1
  done
  die "backend greeter $1 on $2 did not start within 10s"
}

targets=()
backend v1 127.0.0.1:9101 eu-west
backend v1 127.0.0.1:9102 us-east
backend v2 127.0.0.1:9111 eu-west
backend v2 127.0.0.1:9112 us-east
echo "greeter backends: v1 127.0.0.1:9101 127.0.0.1:9102, v2 127.0.0.1:9111 127.0.0.1:9112"

port_in_use "$PROM_ADDR" && die "$PROM_ADDR is already in use: stop what listens there, or set PROM_ADDR and pass the same URL to --prometheus-url"
list=$(printf '"%s", ' "${targets[@]}")
sed "s|@TARGETS@|${list%, }|" examples/demo/prometheus.yml.tmpl >"$work/prometheus.yml"
"$prom_bin" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus-data" \
  --web.listen-address="$PROM_ADDR" >"$work/prometheus.log" 2>&1 &
pids+=($!)
"$demo" wait-prometheus --url "http://$PROM_ADDR" --query 'vector(1)' --timeout 30s >/dev/null ||
  die "Prometheus did not answer on $PROM_ADDR: $(tail -n 3 "$work/prometheus.log")"
echo "Prometheus: http://$PROM_ADDR (scraping the backends every second)"

"$demo" loadgen --xds "$XDS_ADDR" --target greeter --rps "$RPS" --report 10s \
  --node-id one-node-client --cluster web --region eu-west --zone eu-west-1a \
  >"$work/loadgen.out" 2>"$work/loadgen.log" &
pids+=($!)
echo "client: $RPS calls/s to xds:///greeter through $XDS_ADDR"
echo "ready; Ctrl-C stops everything"
wait -n "${pids[@]}" || true
die "a process exited; last lines of the logs:
$(tail -n 3 "$work"/*.log)"
