#!/usr/bin/env bash
# Deployment checks (issue 14), the way the field deploys a WebSocket server:
#   1. behind nginx: messages, a 16 MiB message, ping/pong and a clean close through the proxy of
#      deploy/nginx/websocket.conf; without its two `proxy_set_header` lines the client fails
#      with a clear error; proxy_read_timeout cuts an idle connection unless keepalive pings;
#   2. scaled out: two `chat --redis` instances behind nginx share a room through redis-server;
#      one is killed (its clients reconnect and hear new messages) and restarted;
#      and two chat pages in headless Chromium do the same (deploy/browser/chat_pages.mjs);
#   3. wsd: `wsd -- cat` echoes, `seq 1 100000` reaches a slow client in order with flat memory,
#      a paused client holds the command back, a leaving client leaves no process behind.
# The tests are tests/deploy.rs (ignored in the plain test run); this script installs nginx and
# redis-server when missing, builds the examples and runs them, bounded in time, and kills
# whatever they started if it is interrupted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
started=$(date +%s)

# --- tools (idempotent: apt only for what is missing) ---
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# The browser check: Debian's chromium (the interop step installs it too) driven from node.
[ -x /usr/bin/chromium ] || [ -n "${WSPROTO_CHROMIUM:-}" ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deploy.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The packages' own services are not wanted (and may not start without an init system):
  # the tests run their own instances. policy-rc.d exiting 101 is Debian's way to say so.
  policy_added=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  installed=0
  { timeout 600 apt-get update -qq &&
    timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
    installed=$?
  if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ "$installed" -eq 0 ] || { echo "deploy.sh: FAILED to install ${missing[*]}" >&2; exit 1; }
fi
# playwright-core, exactly as locked; never a browser download.
(cd deploy/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 \
  npm ci --no-audit --no-fund --loglevel=error)
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
echo "deploy.sh: $("$nginx_bin" -v 2>&1), $(redis-server --version | cut -d' ' -f1-3)"

# --- cleanup: every process the tests start carries this marker in its environment ---
export WSPROTO_DEPLOY_RUN="deploy-$$-$started"
cleanup() {
  local pid
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}
    pid=${pid%/environ}
    [ "$pid" = $$ ] && continue
    if grep -qzx "WSPROTO_DEPLOY_RUN=$WSPROTO_DEPLOY_RUN" "$env" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT INT TERM

# --- build (the debug profile `cargo test --all-features` already built) and run ---
timeout 900 cargo build --all-features --example chat --example wsd
timeout 900 cargo test --all-features --test deploy --no-run
log=$(mktemp)
status=0
timeout 300 cargo test --all-features --test deploy -- --ignored --test-threads 4 2>&1 \
  | tee "$log" || status=$?
# `tee` hides cargo's status from `set -e`; pipefail gives it to `status`.
cleanup

echo
echo "=== deploy.sh summary ==="
grep -E '^test .* \.\.\. ' "$log" | sed 's/^test /  /' || true
echo "deploy: $(grep -cE '^test .* \.\.\. ok$' "$log" || true) passed, \
$(grep -cE '^test .* \.\.\. FAILED$' "$log" || true) failed"
rm -f "$log"
echo "deploy.sh: took $(($(date +%s) - started)) s"
if [ "$status" -ne 0 ]; then
  echo "deploy.sh: FAILED"
  exit 1
fi
echo "deploy.sh: all deployment checks passed"
