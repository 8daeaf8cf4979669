#!/usr/bin/env bash
# Counts leader elections on an idle 3-node loopback cluster running the
# server's default Raft timeouts (or the RAFT_FLAGS given) for DURATION.
# An idle cluster should elect once, at the start, and never again.
#
#   DURATION=10m ./scripts/idle-elections.sh     (make bench-idle)
set -euo pipefail
BIN=${SLUICE:-bin/sluice}
DURATION=${DURATION:-10m}
RAFT_FLAGS=${RAFT_FLAGS:-}
dir=$(mktemp -d -t sluice-idle-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start() { # id, extra args...
	local id=$1; shift
	# shellcheck disable=SC2086
	"$BIN" server --node-id "$id" --data-dir "$dir/$id" --insecure-no-auth \
		--api-addr "127.0.0.1:$(port)" --xds-addr "127.0.0.1:$(port)" --raft-addr "127.0.0.1:$(port)" \
		$RAFT_FLAGS "$@" >"$dir/$id.log" 2>&1 &
	pids+=($!)
}

api1="127.0.0.1:$(port)"
# shellcheck disable=SC2086
"$BIN" server --node-id n1 --data-dir "$dir/n1" --insecure-no-auth --bootstrap \
	--api-addr "$api1" --xds-addr "127.0.0.1:$(port)" --raft-addr "127.0.0.1:$(port)" \
	$RAFT_FLAGS >"$dir/n1.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://$api1/readyz" >/dev/null && break; sleep 0.1; done
start n2 --join "$api1"
start n3 --join "$api1"
for _ in $(seq 300); do
	n=$(curl -fs "http://$api1/v1/cluster/members" | grep -Eo '"apiAddr": *"[0-9]' | wc -l || true)
	[ "$n" -ge 3 ] && break
	sleep 0.1
done
echo "cluster of 3 up (members: $n); idle for $DURATION with raft flags '${RAFT_FLAGS:-defaults}'"
mark=$(date -u +%s)
sleep "$DURATION"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-28s %-18s %-14s\n' node "heartbeat timeouts (elections)" "leader step-downs" "became leader"
for id in n1 n2 n3; do
	hb=$(grep -c 'heartbeat timeout reached, starting election' "$dir/$id.log" || true)
	sd=$(grep -c -i 'stepping down' "$dir/$id.log" || true)
	bl=$(grep -c 'leadership changed.*leader=true' "$dir/$id.log" || true)
	printf '%-5s %-28s %-18s %-14s\n' "$id" "$hb" "$sd" "$bl"
done
echo "started at $(date -u -d "@$mark" +%T) UTC; n1's first election is the bootstrap, any other is a false one"
echo "elections and step-downs:"
grep -h -i -E 'heartbeat timeout reached, starting election|stepping down' "$dir"/n?.log | cut -c1-200 || true
