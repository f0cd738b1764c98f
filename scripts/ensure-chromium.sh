#!/usr/bin/env bash
# Makes sure a Chromium for the Web UI tests exists and prints its path on stdout. Idempotent. playwright-core does
# not download browsers (and the machines cannot fetch one), so Debian's `chromium` package is used; the tests
# launch it by path with CHROMIUM_PATH or /usr/bin/chromium.
set -euo pipefail

log() { printf 'ensure-chromium: %s\n' "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
works() { [ -x "$1" ] && "$1" --headless --no-sandbox --version >/dev/null 2>&1; }

if works "$chromium"; then
  printf '%s\n' "$chromium"; exit 0
fi
[ -z "${CHROMIUM_PATH:-}" ] || fail "CHROMIUM_PATH=$CHROMIUM_PATH is not a working chromium"
command -v apt-get >/dev/null || fail "$chromium is missing and apt-get is not available to install it"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || fail "installing chromium needs root (or sudo)"
  sudo="sudo"
fi
log "installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update >&2 || fail "apt-get update failed"
$sudo apt-get install -y --no-install-recommends chromium fonts-liberation >&2 || fail "apt-get install chromium failed"
works "$chromium" || fail "chromium installed but $chromium --version does not run"
log "$("$chromium" --headless --no-sandbox --version 2>/dev/null)"
printf '%s\n' "$chromium"
