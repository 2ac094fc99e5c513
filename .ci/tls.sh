#!/usr/bin/env bash
# wss:// end to end with an independent client: Python `websockets` (pinned) trusting a test CA
# made here (rcgen, via the tls_test_certs example) talks to echo_server_tokio --tls (text,
# binary, 16 MiB, ping, close with code and reason, permessage-deflate, ALPN) and to chat --tls
# (the page over https, a chat over wss). Both drivers' TLS in both roles runs in
# `cargo test --all-features --test tls`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
started=$(date +%s)
WEBSOCKETS_VERSION=15.0.1
work=target/tls-ci
venv=target/tls-venv

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Python 3 with venv (a fresh Debian may have neither).
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv >/dev/null
fi
if ! "$venv/bin/python" -c "import websockets, sys; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 300 "$venv/bin/pip" install -q "websockets==$WEBSOCKETS_VERSION"
fi

# The same build as .ci/io.sh, so the two share it.
timeout 1200 cargo build --release --all-features --examples
bin=target/release/examples
"$bin/tls_test_certs" "$work"

# start NAME ARGS...: runs the example and waits for its "listening" line.
start() {
  local name=$1 log
  shift
  log=$(mktemp)
  "$bin/$name" "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "listening on" "$log" && { cat "$log"; return 0; }
    sleep 0.1
  done
  echo "tls.sh: $name did not start:" >&2
  cat "$log" >&2
  return 1
}

start echo_server_tokio 127.0.0.1:9301 --tls "$work/cert.pem" "$work/key.pem"
start chat 127.0.0.1:9302 --tls "$work/cert.pem" "$work/key.pem"

timeout 300 "$venv/bin/python" tests/tls/python_client.py echo wss://localhost:9301/ "$work/ca.pem"
timeout 120 "$venv/bin/python" tests/tls/python_client.py chat https://localhost:9302/ "$work/ca.pem"

echo "tls.sh: wss with Python websockets $WEBSOCKETS_VERSION OK in $(($(date +%s) - started)) s"
