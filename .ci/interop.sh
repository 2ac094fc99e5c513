#!/usr/bin/env bash
# The interop matrix (issue 12): installs the peers (Debian chromium, the pinned npm packages of
# tests/interop/package-lock.json, the pinned pip packages of tests/interop/requirements.txt in a
# venv), then runs tests/interop_peers.rs and the wss:// rows of tests/wss_interop.rs with
# WSPROTO_INTEROP_REQUIRED=1 so that a missing peer fails instead of skipping. Every install is
# idempotent; every step is bounded by `timeout`; the tests kill every process they start. Ends
# with the line `interop: N passed, N failed, 0 skipped`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
started=$(date +%s)
dir=tests/interop

# Debian packages, only when missing (`apt-get update` only if the install needs it).
apt_install() {
  timeout 600 apt-get install -y "$@" || { timeout 300 apt-get update && timeout 600 apt-get install -y "$@"; }
}
[ -x /usr/bin/chromium ] || apt_install chromium
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
python3 -c "import venv, ensurepip" 2>/dev/null || apt_install python3-venv

# npm: exactly the lock file; never a browser download (Debian's chromium is used).
(cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 npm ci --no-audit --no-fund --loglevel=error)
# pip: a venv beside the scripts (ignored by git).
[ -x "$dir/.venv/bin/python" ] || timeout 120 python3 -m venv "$dir/.venv"
timeout 300 "$dir/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$dir/requirements.txt"

# The examples the matrix runs (echo_server, echo_server_tokio, hyper_upgrade, chat), then the matrix.
timeout 900 cargo build -q --all-features --examples
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
WSPROTO_INTEROP_REQUIRED=1 timeout 900 cargo test -q --all-features --test interop_peers -- --nocapture \
  2>&1 | tee "$log" || status=$?
# wss:// rows: Node ws and tokio-tungstenite over TLS, both directions (tests/wss_interop.rs).
WSPROTO_INTEROP_REQUIRED=1 timeout 300 cargo test -q --all-features --test wss_interop || status=$?
echo "interop.sh: $(( $(date +%s) - started )) s"
# The closing line, last.
grep -E '^interop: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1 || echo "interop: 0 passed, 1 failed"
exit "$status"
