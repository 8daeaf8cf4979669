#!/usr/bin/env bash
# Sluice demo: two progressive releases, judged by a real Prometheus.
#
# `make demo` runs this script. It builds bin/sluice and bin/sluice-demo,
# finds Prometheus (installing the Debian package when it is missing and the
# script runs as root), and starts, all on loopback and free ports:
#
#   - a single-node Sluice (`sluice server --dev`) that asks Prometheus;
#   - three backends of the greeter service, v1, v2 and v3;
#   - Prometheus scraping the backends every second;
#   - a proxyless gRPC client (`sluice-demo loadgen`) calling greeter
#     through Sluice's xDS server;
#   - a real Envoy 1.40 (`make envoy` finds or installs it) taking its
#     configuration from the same Sluice, and a second client calling
#     greeter through Envoy's gateway listener. Without Envoy the demo
#     says why and runs with the proxyless client alone.
#
# It applies the greeter Service and a demo-speed ReleasePolicy
# (examples/demo/greeter.yaml.tmpl), then releases greeter v1 -> v2, which
# is promoted step by step, and v2 -> v3: v3 has a latent bug that the demo
# switches on (through the backend's /admin/faults) once v3 takes 30% of
# the traffic, and Sluice rolls the release back by itself when v3 burns
# its error budget. Logs go to a temporary directory; every process and the
# directory are removed on exit, Ctrl-C included.
#
# Environment:
#   DEMO_RPS        client calls per second (default 100, at least 50: the
#                   policy wants 30 calls to the new version in 10 s at 10%)
#   DEMO_BAKE       how long each release step bakes (default 6s, at least 5s)
#   DEMO_V3_ERRORS  share of v3's calls that fail once its bug kicks in,
#                   0..1 (default 0.25; above 0.1 to burn the budget)
#   DEMO_KEEP=1     keep everything running at the end to explore it;
#                   Ctrl-C stops it and keeps the logs
#   PROMETHEUS      the prometheus binary to use (default: from PATH)
#   ENVOY           the Envoy 1.40 binary to use (default: scripts/envoy.sh)
#   DEMO_ENVOY=0    leave Envoy out
set -euo pipefail
cd "$(dirname "$0")/.."

RPS=${DEMO_RPS:-100}
BAKE=${DEMO_BAKE:-6s}
V3_ERRORS=${DEMO_V3_ERRORS:-0.25}
KEEP=${DEMO_KEEP:-}
REPORT=2s

bad() { printf 'demo: %s\n' "$*" >&2; exit 2; }
[[ $RPS =~ ^[0-9]+$ ]] && ((RPS >= 50 && RPS <= 2000)) ||
  bad "DEMO_RPS=$RPS: want a whole number from 50 to 2000 (the policy wants 30 calls to the new version in 10 s)"
[[ $BAKE =~ ^[0-9]+m$ ]] || { [[ $BAKE =~ ^[0-9]+s$ ]] && ((${BAKE%s} >= 5)); } ||
  bad "DEMO_BAKE=$BAKE: want whole seconds or minutes, at least 5s (v3's bug needs a few seconds to be caught)"
[[ $V3_ERRORS =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] || bad "DEMO_V3_ERRORS=$V3_ERRORS: want a ratio from 0 to 1, such as 0.25"

if [ -t 1 ]; then
  BOLD=$'\033[1m' DIM=$'\033[2m' RED=$'\033[31m' GREEN=$'\033[32m' CYAN=$'\033[36m' RESET=$'\033[0m'
else
  BOLD='' DIM='' RED='' GREEN='' CYAN='' RESET=''
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-demo.XXXXXX")
pids=()     # every long-running process, in start order
followers=() # the background jobs printing the clients' reports
injector=   # the background job switching on v3's fault
fg_job=     # the command in_bg waits for
sleeper=
t_begin=$SECONDS

say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$RESET"; }
note() { printf '    %s\n' "$*"; }
# show CMD...: print a command the way a user would type it.
show() { printf '    %s$ %s%s\n' "$DIM" "$*" "$RESET"; }
indent() { sed 's/^/    /'; }

die() {
  printf '\n%sdemo failed: %s%s\n' "$RED" "$*" "$RESET" >&2
  local f
  for f in "$work"/*.log; do
    [ -s "$f" ] || continue
    printf -- '--- last lines of %s ---\n' "$f" >&2
    tail -n 12 "$f" >&2
  done
  [ "$KEEP" = 1 ] || printf '(set DEMO_KEEP=1 to keep the logs in %s)\n' "$work" >&2
  exit 1
}

# stop_job PID: stop a background job of this script and wait for it.
stop_job() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
stop_follower() {
  local f
  for f in ${followers[@]+"${followers[@]}"}; do stop_job "$f"; done
  followers=()
}
stop_injector() { stop_job "$injector"; injector=; }

# in_bg CMD...: run CMD and wait for it. It runs in the background so that
# Ctrl-C reaches the INT trap at once: bash skips the trap when a
# foreground child handles SIGINT itself, as the Go programs here do.
in_bg() {
  local rc=0
  "$@" &
  fg_job=$!
  wait "$fg_job" || rc=$?
  fg_job=
  return "$rc"
}

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
  stop_job "$fg_job"
  stop_follower
  stop_injector
  # Stop the newest process first: the client, Sluice, Prometheus, then
  # the backends. Each gets 5 s to shut down before it is killed.
  local i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for pid in ${pids[@]+"${pids[@]}"}; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP" = 1 ]; then
    echo "Stopped. Logs kept in $work (remove with: rm -rf $work)"
  else
    rm -rf "$work"
  fi
  exit "$code"
}
trap cleanup EXIT
exploring= # set while DEMO_KEEP=1 waits for Ctrl-C: then Ctrl-C is no error
trap 'if [ -n "$exploring" ]; then echo; exit 0; fi; echo; echo "interrupted"; exit 130' INT
trap 'exit 143' TERM

# hold SECONDS: sleep, letting Ctrl-C end the demo at once.
hold() {
  sleep "$1" &
  sleeper=$!
  wait "$sleeper" || true
  sleeper=
}

# wait_line FILE PATTERN SECONDS WHAT [PID]: wait until FILE has a line
# matching the extended regexp PATTERN; fail after SECONDS, or as soon as
# PID exits.
wait_line() {
  local file=$1 pattern=$2 secs=$3 what=$4 pid=${5:-} i
  for ((i = 0; i < secs * 10; i++)); do
    if grep -Eq -- "$pattern" "$file" 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then die "$what exited (log above)"; fi
    sleep 0.1
  done
  die "$what: no line matching '$pattern' in $file within ${secs}s"
}

# sluice ARGS...: the CLI, pointed at the demo's server (SLUICE_ADDR).
sluice() { bin/sluice "$@"; }

# --- the client's reports ----------------------------------------------

# client_lines HIDE [LABEL]: format a client's report lines (stdin) for the
# screen. HIDE is a version whose column is dropped while it is at 0%;
# LABEL names the client (default "grpc ", the proxyless one).
client_lines() {
  awk -v hide="$1" -v lbl="${GREEN}${2:-grpc }${RESET}" '{
    if (hide != "") sub(hide " +0\\.0% \\| ", "")
    print "  " lbl "  " $0
    fflush()
  }'
}

# follow_client FROM HIDE [FILE LABEL]: in the background, print a client's
# reports (default: the proxyless client's) from line FROM+1 on as they
# come.
follow_client() {
  local from=$1 hide=$2 file=${3:-$work/loadgen.out} label=${4:-}
  (
    trap 'exit 0' TERM # after the lines being printed
    n=$from
    while :; do
      total=$(wc -l <"$file")
      if ((total > n)); then
        sed -n "$((n + 1)),${total}p" "$file" | client_lines "$hide" "$label"
        n=$total
      fi
      sleep 0.2
    done
  ) &
  followers+=($!)
}

client_count() { wc -l <"${1:-$work/loadgen.out}" | tr -d ' '; }

# --- a release's decisions ----------------------------------------------

# decision_lines: condense `sluice release watch` lines (stdin) to one
# screen line each: time, action, step, canary weight, and the first clause
# of the message (the full text stays in `sluice release history`). A bash
# loop, not awk: some awks read a pipe in blocks and would print late.
decision_lines() {
  local line t act phase word step bar w msg n color
  while IFS= read -r line; do
    if ! read -r t act phase word step bar w msg <<<"$line" || [ "$word" != step ] || ! [[ $w =~ ^[0-9]+%$ ]]; then
      printf '  %s  %s\n' "${CYAN}sluice${RESET}" "$line"
      continue
    fi
    msg=${msg#analysis }
    msg=${msg/all checks passed: /}
    if [[ $msg =~ ^(.*)", rolls back after "[0-9]+(.*)$ ]]; then msg=${BASH_REMATCH[1]}${BASH_REMATCH[2]}; fi
    if [[ $msg =~ ^(.*)"analysis failed "[^:]*": "(.*)$ ]]; then msg=${BASH_REMATCH[1]}${BASH_REMATCH[2]}; fi
    msg=${msg%%; *}
    n=$((${w%\%} / 10))
    bar=$(printf '%*s' "$n" '' | tr ' ' '#')$(printf '%*s' $((10 - n)) '' | tr ' ' '.')
    case $act in
      promote) color=$GREEN ;;
      rollback | abort) color=$RED ;;
      *) color= ;;
    esac
    printf '  %s  %s  %s%-9s %-4s %4s [%s]  %s%s\n' "${CYAN}sluice${RESET}" "$t" "$color" "$act" "$step" "$w" "$bar" "$msg" "${color:+$RESET}"
  done
}

# watch_release NAME HIDE: follow a release with `sluice release watch`
# and the client's reports side by side, until the release ends. Returns
# watch's exit code (0 promoted, 2 rolled back or aborted).
watch_release() {
  local name=$1 hide=$2 rc=0
  show "sluice release watch $name"
  note "${CYAN}sluice${RESET}: each decision as Sluice records it (step, canary weight, reason)"
  note "${GREEN}grpc${RESET}:  what the proxyless gRPC client saw in the last $REPORT (calls, share per version, errors)"
  if [ -n "$envoy_admin" ]; then
    note "${GREEN}envoy${RESET}: the same for the calls that went through Envoy"
  fi
  echo
  follow_client "$(client_count)" "$hide"
  if [ -n "$envoy_admin" ]; then
    follow_client "$(client_count "$work/envoy-load.out")" "$hide" "$work/envoy-load.out" "envoy"
  fi
  {
    wrc=0
    sluice release watch "$name" 2>"$work/watch-$name.log" || wrc=$?
    echo "$wrc" >"$work/watch-$name.rc"
  } | decision_lines &
  fg_job=$!
  wait "$fg_job" || true
  fg_job=
  rc=$(cat "$work/watch-$name.rc" 2>/dev/null) || rc=1
  # Let the client's report for the last interval through.
  hold 2.2
  stop_follower
  return "$rc"
}

# start_release SERVICE VERSION: start the release SERVICE-VERSION.
start_release() {
  show "sluice release start $1 --to $2 --name $1-$2"
  in_bg sluice release start "$1" --to "$2" --name "$1-$2" >"$work/start.out" 2>&1 ||
    die "sluice release start failed: $(cat "$work/start.out")"
  indent <"$work/start.out"
}

# inject_fault_at NAME STEP: in the background, once release NAME's step
# STEP holds its routes and has baked a second, switch on v3's fault.
inject_fault_at() {
  local name=$1 step=$2
  (
    trap 'exit 0' TERM
    st=
    until grep -Eq "^Step: +$step/" <<<"$st" && grep -q '^Bake:' <<<"$st"; do
      if grep -Eq '^Phase: +(Promoted|RolledBack|Aborted)' <<<"$st"; then exit 0; fi
      sleep 0.2
      st=$(sluice release status "$name" 2>/dev/null) || st=
    done
    sleep 1
    if at=$(bin/sluice-demo faults --addr "$(http_of v3)" --error-ratio "$V3_ERRORS" 2>>"$work/faults.log"); then
      printf '%s\n' "$at" >"$work/fault-at"
      printf '  %s  %s  %s\n' "${RED}demo  ${RESET}" "${at:0:8}" \
        "${RED}v3's bug kicks in: $v3_pct% of its calls fail from now on (sluice-demo faults --error-ratio $V3_ERRORS)${RESET}"
    else
      printf '  demo    could not switch on v3'"'"'s fault: %s\n' "$(tail -n 1 "$work/faults.log")"
    fi
  ) &
  injector=$!
}

# http_get HOST:PORT PATH: print the body of a plain HTTP GET (Envoy's
# admin interface, which wants HTTP/1.1), with bash alone.
http_get() {
  local hp=$1 path=$2
  exec 5<>"/dev/tcp/${hp%:*}/${hp##*:}" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hp" >&5
  sed '1,/^\r\{0,1\}$/d' <&5
  exec 5<&-
}

# envoy_upstream: Envoy's own count of requests sent to each greeter
# version, "v1=N v2=N v3=N".
envoy_upstream() {
  http_get "$envoy_admin" '/stats?filter=upstream_rq_total' |
    sed -n 's|^cluster\.greeter/\(v[0-9]*\)\.upstream_rq_total: \([0-9]*\)|\1=\2|p' | tr '\n' ' '
}

# ms_of HH:MM:SS.mmm: milliseconds since midnight.
ms_of() { awk -v t="$1" 'BEGIN { split(t, p, ":"); printf "%.0f\n", ((p[1] * 60 + p[2]) * 60 + p[3]) * 1000 }'; }

# short_status NAME: `sluice release status`, its long lines cut at the
# first "; ".
short_status() {
  sluice release status "$1" | awk '{
    if ((i = index($0, "; ")) > 0) $0 = substr($0, 1, i - 1) " ..."
    print "    " $0
  }'
}

# --- 1. build ------------------------------------------------------------

command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || die "Go is needed to build the demo: https://go.dev/dl/"

say "Building bin/sluice and bin/sluice-demo"
mkdir -p bin
in_bg go build -o bin/sluice ./cmd/sluice || die "go build ./cmd/sluice failed"
in_bg go build -o bin/sluice-demo ./cmd/sluice-demo || die "go build ./cmd/sluice-demo failed"
if [ "$KEEP" = 1 ]; then
  note "logs and generated files: $work (kept)"
else
  note "logs and generated files: $work (removed at the end; DEMO_KEEP=1 keeps them)"
fi

# --- 2. Prometheus ---------------------------------------------------------

if ! prom_bin=$(./scripts/prometheus.sh 2>"$work/prometheus-install.log"); then
  cat "$work/prometheus-install.log" >&2
  exit 1
fi
say "Prometheus: $prom_bin"
note "$("$prom_bin" --version 2>&1 | head -n 1)"

# --- Envoy -------------------------------------------------------------------

envoy_bin= envoy_admin= envoy_why=
if [ "${DEMO_ENVOY:-1}" = 0 ]; then
  envoy_why="DEMO_ENVOY=0"
elif envoy_bin=$(./scripts/envoy.sh 2>"$work/envoy-install.log"); then
  say "Envoy: $envoy_bin"
  note "$("$envoy_bin" --version 2>&1 | grep -o 'version: .*' | head -n 1)"
else
  envoy_bin=
  envoy_why=$(grep -m 1 '^envoy: ' "$work/envoy-install.log" | sed 's/^envoy: //')
  say "Envoy is not available: ${envoy_why:-see $work/envoy-install.log}"
  note "the demo goes on with the proxyless gRPC client alone; \`make envoy\` says how to get Envoy"
fi

# --- 3. backends, Prometheus, Sluice ----------------------------------------

# start_backend VERSION ERROR_RATIO: start a greeter backend; its ports come
# from its "ready grpc=... http=..." line.
start_backend() {
  bin/sluice-demo backend --service greeter --version "$1" --error-ratio "$2" \
    --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
    >"$work/greeter-$1.out" 2>"$work/greeter-$1.log" &
  pids+=($!)
  wait_line "$work/greeter-$1.out" '^ready ' 10 "backend greeter $1" "$!"
}
grpc_of() { sed -n 's/^ready grpc=\([^ ]*\) http=.*/\1/p' "$work/greeter-$1.out"; }
http_of() { sed -n 's/^ready .* http=\(.*\)$/\1/p' "$work/greeter-$1.out"; }

v3_pct=$(awk -v r="$V3_ERRORS" 'BEGIN { printf "%g", r * 100 }')
say "Starting three greeter backends: v1, v2 and v3 (sluice-demo backend)"
start_backend v1 0
start_backend v2 0
start_backend v3 0
for v in v1 v2 v3; do
  note "$v  gRPC $(grpc_of $v)   metrics http://$(http_of $v)/metrics"
done

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

say "Starting Prometheus, scraping the backends every second"
sed "s|@TARGETS@|\"$(http_of v1)\", \"$(http_of v2)\", \"$(http_of v3)\"|" \
  examples/demo/prometheus.yml.tmpl >"$work/prometheus.yml"
prom=
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 12000))
  port_in_use "$port" && continue
  "$prom_bin" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus-data-$attempt" \
    --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
  prom_pid=$!
  pids+=("$prom_pid")
  # Wait for the API (not for data: the first sample comes seconds later).
  for ((i = 0; i < 30; i++)); do
    kill -0 "$prom_pid" 2>/dev/null || break
    if in_bg bin/sluice-demo wait-prometheus --url "http://127.0.0.1:$port" --query 'vector(1)' --timeout 1s >/dev/null 2>&1; then
      prom=127.0.0.1:$port
      break
    fi
  done
  [ -z "$prom" ] || break
  kill -0 "$prom_pid" 2>/dev/null && die "Prometheus did not answer on 127.0.0.1:$port within 30s"
  grep -q 'address already in use' "$work/prometheus.log" || die "Prometheus exited"
  note "port $port was taken; trying another"
done
[ -n "$prom" ] || die "could not find a free port for Prometheus"
note "Prometheus http://$prom (config $work/prometheus.yml)"

say "Starting a single-node Sluice (sluice server --dev) that asks Prometheus"
bin/sluice server --dev --log-level warn --data-dir "$work/sluice-data" \
  --api-addr 127.0.0.1:0 --xds-addr 127.0.0.1:0 --raft-addr 127.0.0.1:0 \
  --prometheus-url "http://$prom" --controller-tick 100ms \
  >"$work/sluice.log" 2>&1 &
pids+=($!)
wait_line "$work/sluice.log" 'sluice dev server: api' 20 "sluice server" "$!"
api=$(sed -n 's|.*sluice dev server: api http://\([^ ]*\) .*|\1|p' "$work/sluice.log" | head -n 1)
xds=$(sed -n 's|.*sluice dev server: .* xds \([^ ]*\) .*|\1|p' "$work/sluice.log" | head -n 1)
[ -n "$api" ] && [ -n "$xds" ] || die "could not read the API and xDS addresses from the sluice server output"
export SLUICE_ADDR=$api
note "API http://$api   xDS $xds"

# --- 4. Service, policy, client, data -------------------------------------

say "Applying the greeter Service (v1 takes all traffic) and its ReleasePolicy"
note "policy: SLO 99% of calls succeed (error budget 1%); an analysis every second; burn rule: the"
note "error ratio above 10x the budget (10%) over both the last 10s and 3s rolls back;"
note "steps 10% -> 30% -> 60% -> promoted, each baked $BAKE"
# The port Envoy's gateway listener serves greeter on.
gateway=
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 12000))
  port_in_use "$port" || { gateway=$port; break; }
done
[ -n "$gateway" ] || die "could not find a free port for Envoy's gateway listener"
sed -e "s/@V1_ADDR@/$(grpc_of v1)/" -e "s/@V2_ADDR@/$(grpc_of v2)/" -e "s/@V3_ADDR@/$(grpc_of v3)/" \
  -e "s/@BAKE@/$BAKE/g" -e "s/@GATEWAY_PORT@/$gateway/" examples/demo/greeter.yaml.tmpl >"$work/greeter.yaml"
show "sluice apply -f greeter.yaml     # from examples/demo/greeter.yaml.tmpl"
applied=
for ((i = 0; i < 100; i++)); do # the new node elects itself leader first
  if in_bg sluice apply -f "$work/greeter.yaml" >"$work/apply.out" 2>"$work/apply.log"; then
    rm -f "$work/apply.log" # only the errors while no leader was elected
    applied=1
    break
  fi
  sleep 0.2
done
[ -n "$applied" ] || die "sluice apply kept failing for 20s"
indent <"$work/apply.out"

say "Starting the client: $RPS calls/s to xds:///greeter, routed by Sluice (no proxy)"
bin/sluice-demo loadgen --xds "$xds" --target greeter --rps "$RPS" --report "$REPORT" --bar-version latest \
  --node-id demo-client --cluster demo --region local --zone local-a \
  >"$work/loadgen.out" 2>"$work/loadgen.log" &
pids+=($!)
wait_line "$work/loadgen.out" 'v1 100\.0%' 20 "the client's calls to greeter v1" "$!"
client_lines "" <"$work/loadgen.out"

if [ -n "$envoy_bin" ]; then
  say "Starting Envoy on a bootstrap from \`sluice envoy bootstrap\`, and a client calling greeter through it"
  show "sluice envoy bootstrap --node-id demo-envoy --cluster demo --region local --zone local-a --xds $xds --gateway-address 127.0.0.1 > envoy.yaml"
  sluice envoy bootstrap --node-id demo-envoy --cluster demo --region local --zone local-a --xds "$xds" \
    --gateway-address 127.0.0.1 --admin 127.0.0.1:0 >"$work/envoy.yaml" || die "sluice envoy bootstrap failed"
  "$envoy_bin" -c "$work/envoy.yaml" --admin-address-path "$work/envoy-admin" --disable-hot-restart \
    --concurrency 1 -l warn >"$work/envoy.log" 2>&1 &
  pids+=($!)
  wait_line "$work/envoy-admin" ':' 30 "envoy" "$!"
  envoy_admin=$(cat "$work/envoy-admin")
  note "Envoy admin http://$envoy_admin   gateway 127.0.0.1:$gateway (greeter.demo.internal)"
  note "greeter has port $gateway, so Sluice gives Envoy a gateway listener for it: Envoy routes the"
  note "same split as the proxyless client, from the same Raft state."
  bin/sluice-demo loadgen --proxy "127.0.0.1:$gateway" --authority greeter.demo.internal --rps "$RPS" \
    --report "$REPORT" --bar-version latest >"$work/envoy-load.out" 2>"$work/envoy-load.log" &
  pids+=($!)
  wait_line "$work/envoy-load.out" 'v1 100\.0%' 30 "the calls to greeter v1 through Envoy" "$!"
  client_lines "" envoy <"$work/envoy-load.out"
fi

note "waiting for Prometheus to have the calls (its first samples come a few seconds after it starts)"
in_bg bin/sluice-demo wait-prometheus --url "http://$prom" --timeout 40s \
  --query 'sum(rate(requests_total{service="greeter",version="v1"}[5s])) > 0' >"$work/promwait.out" 2>"$work/promwait.log" ||
  die "Prometheus has no greeter traffic after 40s: $(cat "$work/promwait.log")"
got=$(cat "$work/promwait.out")
note "Prometheus has them: rate(requests_total{service=\"greeter\",version=\"v1\"}) > 0 ${got#* }"

# --- 5. release #1: healthy --------------------------------------------------

say "Release #1: greeter v1 -> v2 (v2 is healthy)"
start_release greeter v2
rc=0
watch_release greeter-v2 "" || rc=$?
[ "$rc" = 0 ] || die "release greeter-v2 was not promoted: $(cat "$work/watch-greeter-v2.log")"

say "Promoted: all of greeter's traffic is on v2"
show "sluice release status greeter-v2"
short_status greeter-v2
show "sluice release history greeter-v2      # the analyses left out"
sluice release history greeter-v2 | awk 'NR == 1 || $4 != "analysis" {
  if ((i = index($0, "; ")) > 0) $0 = substr($0, 1, i - 1)
  print "    " $0 }'
n=$(sluice release history greeter-v2 | awk 'NR > 1 && $4 == "analysis"' | wc -l | tr -d ' ')
note "... and $n analyses, one a second while each step baked (all of them: sluice release history greeter-v2 -o json)"

# --- 6. release #2: bad -------------------------------------------------------

say "Release #2: greeter v2 -> v3 (v3 has a latent bug)"
note "v3 is healthy at first. Once it takes 30% of the traffic, the demo switches its bug on:"
note "from then on $v3_pct% of its calls fail (the backend's /admin/faults endpoint)."
start_release greeter v3
rel2_client=$(client_count)
inject_fault_at greeter-v3 2
rc=0
watch_release greeter-v3 v1 || rc=$?
stop_injector
[ "$rc" = 2 ] || die "release greeter-v3 was expected to roll back (watch exit code $rc)"

say "Sluice rolled greeter-v3 back by itself. Why, as recorded:"
show "sluice release status greeter-v3"
short_status greeter-v3
reason=$(sluice release status greeter-v3 | sed -n 's/^Ended: *//p')
echo
burn='burn rule ([^ ]+) fired: ([0-9a-z]+) burn ([0-9.]+) > ([0-9.]+) and ([0-9a-z]+) burn ([0-9.]+)'
if [[ $reason =~ $burn ]]; then
  note "${BOLD}Burn rule \"${BASH_REMATCH[1]}\" fired: v3 failed ${BASH_REMATCH[3]}% of its calls over the last ${BASH_REMATCH[2]}, ${BASH_REMATCH[6]}% over the last ${BASH_REMATCH[5]}.${RESET}"
  note "A burn rate is the error ratio over the error budget (1% for a 99% SLO); the rule fires when"
  note "both windows burn faster than ${BASH_REMATCH[4]}, here from ${BASH_REMATCH[4]}% of failed calls."
else
  note "${BOLD}${reason#rolled back at step * (*): }${RESET}"
fi
query=$(sluice release history greeter-v3 -o json | grep -m 1 -E '"[^"]*code!=.*\[3s\]' |
  sed -e 's/^ *"query": "//' -e 's/^ *"//' -e 's/",\{0,1\}$//' -e 's/\\"/"/g') || true
if [ -n "$query" ]; then
  note "v3's error ratio over the short window, as Sluice asked Prometheus:"
  note "  $DIM$query$RESET"
fi
note "every measurement, query and threshold: sluice release history greeter-v3 -o json"

rb_at=$(sluice release history greeter-v3 | awk '$4 == "rollback" { print $2 }')
[ -n "$rb_at" ] || die "no rollback decision in the history of greeter-v3"
end_ms=$(ms_of "$rb_at")
if [ -s "$work/fault-at" ]; then
  fault_at=$(cut -d' ' -f1 <"$work/fault-at")
  fault_ms=$(ms_of "$fault_at")
  ((end_ms >= fault_ms)) || end_ms=$((end_ms + 86400000))
  took=$(awk -v ms="$((end_ms - fault_ms))" 'BEGIN { printf "%.1f", ms / 1000 }')
  note "v3 started failing at $fault_at; Sluice rolled back at $rb_at: ${BOLD}$took s${RESET} later."
fi

# Back on v2: the first client report whose whole interval comes after the
# rollback decision must show no call to v3 and no error. Report times are
# whole seconds, the end of a 2 s interval.
say "Back on v2: the client's reports since the rollback, until one covers only time after it"
end_ms=$(ms_of "$rb_at")
rb_s=$(((end_ms + 999) / 1000))
seen=$rel2_client
clean=
for ((i = 0; i < 100; i++)); do
  total=$(client_count)
  while ((seen < total)); do
    seen=$((seen + 1))
    line=$(sed -n "${seen}p" "$work/loadgen.out")
    [[ ${line:0:8} =~ ^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$ ]] || continue
    IFS=: read -r hh mm ss <<<"${line:0:8}"
    t=$(((10#$hh * 60 + 10#$mm) * 60 + 10#$ss))
    ((t >= rb_s - 43200)) || t=$((t + 86400))
    ((t >= rb_s)) || continue
    printf '%s\n' "$line" | client_lines v1
    ((t - ${REPORT%s} >= rb_s)) || continue
    if [[ $line =~ v3\ +0\.0%\ +err\ 0\  ]]; then
      clean=${line:0:8}
      break
    fi
  done
  [ -z "$clean" ] || break
  sleep 0.2
done
[ -n "$clean" ] || die "the client still reached v3, or saw errors, 20 s after the rollback"
note "every call in the $REPORT up to $clean went to v2, and none failed."
if [ -n "$envoy_admin" ]; then
  before=$(envoy_upstream)
  hold 2
  after=$(envoy_upstream)
  note "Envoy's own counters (cluster.greeter/VERSION.upstream_rq_total), 2 s apart:"
  note "  before: $before"
  note "  after:  $after"
  v3a=$(sed -n 's/.*v3=\([0-9]*\).*/\1/p' <<<"$after")
  v3b=$(sed -n 's/.*v3=\([0-9]*\).*/\1/p' <<<"$before")
  [ -n "$v3a" ] && [ "$v3a" = "$v3b" ] || die "Envoy still sends requests to v3 after the rollback ($before -> $after)"
  note "Envoy sent nothing more to v3: the calls through Envoy are back on v2 too."
fi

say "Done in $((SECONDS - t_begin)) s: v2 was promoted step by step; v3 was rolled back as soon as it burned its error budget."
show "sluice get releases"
sluice get releases | sed 's/analysis failed [^:]*: //' |
  awk '{ if ((i = index($0, "; ")) > 0) $0 = substr($0, 1, i - 1); print "    " $0 }'

if [ "$KEEP" = 1 ]; then
  say "Everything keeps running (DEMO_KEEP=1). Things to try, in another shell:"
  tip() {
    if [ -n "${2:-}" ]; then printf '    %-66s # %s\n' "$1" "$2"; else printf '    %s\n' "$1"; fi
  }
  tip "cd $PWD && export SLUICE_ADDR=$api"
  tip "bin/sluice get releases"
  tip "bin/sluice release history greeter-v3 -o json | less" "every measurement and query"
  tip "bin/sluice-demo faults --addr $(http_of v3) --error-ratio 0" "fix v3's bug"
  tip "bin/sluice release start greeter --to v3 --name greeter-v3-fixed"
  tip "bin/sluice release watch greeter-v3-fixed"
  tip "tail -f $work/loadgen.out" "the proxyless client's reports"
  if [ -n "$envoy_admin" ]; then
    tip "tail -f $work/envoy-load.out" "the reports of the calls through Envoy"
    tip "http://$envoy_admin/config_dump?resource=dynamic_route_configs" "what Envoy holds"
  fi
  tip "http://$prom/graph?g0.expr=sum%20by%20(version%2Ccode)(rate(requests_total%5B10s%5D))"
  tip "ls $work" "logs, generated configs"
  echo "Press Ctrl-C to stop everything."
  exploring=1
  while :; do hold 3600; done
fi
if [ -z "$envoy_admin" ]; then
  note "This run had no Envoy (${envoy_why:-not started}): only the proxyless gRPC client took part."
fi
note "Stopping the clients, Envoy, Sluice, Prometheus and the backends."
