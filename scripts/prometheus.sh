#!/usr/bin/env bash
# Find Prometheus for the tests and the demo, installing the Debian package
# when it is missing and this runs as root with apt-get; print the binary's
# path on stdout (`make prometheus` runs this). $PROMETHEUS overrides it.
# On failure it says what to do, on stderr, and exits 1.
set -euo pipefail

if [ -n "${PROMETHEUS:-}" ]; then
  [ -x "$PROMETHEUS" ] || { echo "prometheus: PROMETHEUS=$PROMETHEUS is not an executable" >&2; exit 1; }
  echo "$PROMETHEUS"
  exit 0
fi
if bin=$(command -v prometheus 2>/dev/null); then
  echo "$bin"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "prometheus: not installed; installing the Debian package (it also sets up a system service, which Sluice does not use)" >&2
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp "${TMPDIR:-/tmp}/sluice-apt.XXXXXX")
  if ! apt-get install -y --no-install-recommends prometheus >"$log" 2>&1; then
    echo "prometheus: apt-get install failed; refreshing the package lists and trying again" >&2
    apt-get update >>"$log" 2>&1 || { echo "prometheus: apt-get update failed (log: $log)" >&2; exit 1; }
    apt-get install -y --no-install-recommends prometheus >>"$log" 2>&1 ||
      { echo "prometheus: apt-get install prometheus failed (log: $log)" >&2; exit 1; }
  fi
  rm -f "$log"
  if bin=$(command -v prometheus 2>/dev/null); then
    echo "$bin"
    exit 0
  fi
  echo "prometheus: the package is installed but there is no prometheus on PATH" >&2
  exit 1
fi
cat >&2 <<'EOT'
prometheus: Sluice's tests and demo need Prometheus: Sluice asks it how the new version behaves.
Install it, make sure `prometheus` is on PATH, and run the command again:

  Debian/Ubuntu:  sudo apt-get install prometheus   (or run make as root: it installs it)
  macOS:          brew install prometheus
  with Go:        go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0
                  (builds Prometheus 3, ~15 min; puts it in $(go env GOPATH)/bin)

or point PROMETHEUS at a binary: PROMETHEUS=/path/to/prometheus make test
EOT
exit 1
