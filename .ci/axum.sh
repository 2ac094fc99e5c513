#!/usr/bin/env bash
# End-to-end check of the axum example: starts axum_chat, fetches its page, and joins the room
# over HTTP/1.1 and over HTTP/2 extended CONNECT (RFC 8441) with chat_client, which exits 0
# only if each side heard the other.
# (The extractor's own tests are tests/axum.rs, run by `cargo test --all-features`.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
started=$(date +%s)

timeout 1800 cargo build --release --all-features --example axum_chat --example chat_client
bin=target/release/examples
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

addr=127.0.0.1:9401
log=$(mktemp)
"$bin/axum_chat" "$addr" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
grep -q "listening on" "$log" || { echo "axum.sh: axum_chat did not start:" >&2; cat "$log" >&2; exit 1; }

python3 - "$addr" <<'PY'
import sys, urllib.request
page = urllib.request.urlopen(f"http://{sys.argv[1]}/", timeout=10).read().decode()
assert "new WebSocket" in page, "the chat page is wrong"
print("axum.sh: the chat page is served")
PY

timeout 60 "$bin/chat_client" "ws://$addr/ws"
echo "axum.sh: axum_chat OK in $(( $(date +%s) - started )) s"
