#!/usr/bin/env bash
# Runs each fuzz target (package:Target) for FUZZTIME on one worker.
#
# A target that fails and writes a new input under its package's
# testdata/fuzz/<Target>/ has found a crasher: that fails at once. A run
# that fails without writing one found nothing: on a starved machine Go's
# fuzzing coordinator can give up on its worker (for example "context
# deadline exceeded" right at -fuzztime's end). Such a run is repeated, up
# to ATTEMPTS times in all; a failure that repeats every time (a seed
# corpus entry that fails, a build error) still fails.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10m}
ATTEMPTS=${ATTEMPTS:-3}

corpus() { # list the files under a target's corpus directory, sorted
	local dir="$1/testdata/fuzz/$2"
	if [ -d "$dir" ]; then find "$dir" -type f | sort; fi
}

for t in "$@"; do
	pkg=${t%%:*}
	name=${t##*:}
	for attempt in $(seq 1 "$ATTEMPTS"); do
		echo "== $name ($pkg, $FUZZTIME, attempt $attempt)"
		before=$(corpus "$pkg" "$name")
		if "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -parallel 1 "$pkg"; then
			break
		fi
		after=$(corpus "$pkg" "$name")
		if [ "$before" != "$after" ]; then
			echo "$name: new failing input in $pkg/testdata/fuzz/$name" >&2
			exit 1
		fi
		if [ "$attempt" -eq "$ATTEMPTS" ]; then
			echo "$name: failed $ATTEMPTS times without a new input" >&2
			exit 1
		fi
		echo "$name: failed without writing an input; running it again" >&2
	done
done
