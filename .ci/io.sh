#!/usr/bin/env bash
# End-to-end check of the driver examples with the exact command lines other tooling uses:
# starts echo_server, echo_server_tokio and hyper_upgrade, runs echo_client against each (it
# exits 0 only if every echo matched), and fetches the chat page and its 404.
# (The adapters' own tests run in `cargo test --all-features`.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never

cargo build --release --all-features --examples
bin=target/release/examples
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start NAME ADDR: runs the example as `cargo run` would and waits for its "listening" line.
start() {
  local log
  log=$(mktemp)
  "$bin/$1" "$2" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "listening on" "$log" && { cat "$log"; return 0; }
    sleep 0.1
  done
  echo "io.sh: $1 did not start:" >&2
  cat "$log" >&2
  return 1
}

start echo_server 127.0.0.1:9101
start echo_server_tokio 127.0.0.1:9102
start hyper_upgrade 127.0.0.1:9103
start chat 127.0.0.1:9104

for port in 9101 9102 9103; do
  timeout 120 cargo run -q --release --all-features --example echo_client -- "ws://127.0.0.1:$port"
done

page=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9104/', timeout=10).read().decode())")
grep -q "new WebSocket" <<<"$page" || { echo "io.sh: the chat page is wrong" >&2; exit 1; }
status=$(python3 -c "
import urllib.request, urllib.error
try:
    urllib.request.urlopen('http://127.0.0.1:9104/missing', timeout=10)
except urllib.error.HTTPError as e:
    print(e.code)")
[ "$status" = 404 ] || { echo "io.sh: expected 404, got $status" >&2; exit 1; }
echo "io.sh: examples OK"
