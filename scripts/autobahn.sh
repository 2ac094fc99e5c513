#!/usr/bin/env bash
# Run the Autobahn|Testsuite (the WebSocket conformance suite) against this crate, in both roles.
#
#   scripts/autobahn.sh [server|client|both]
#
# server: starts `examples/echo_server` on 127.0.0.1 and runs `wstest -m fuzzingclient` against it.
# client: runs `wstest -m fuzzingserver` on 127.0.0.1 and `examples/autobahn_client` against it.
#
# The spec files are autobahn/fuzzingclient.json and autobahn/fuzzingserver.json (every section
# we aim at: 1-7, 9, 10, 12, 13). AUTOBAHN_CASES='["1.*","2.*"]' overrides the case list (CI runs a
# subset; see .ci/autobahn.sh). Reports go to $AUTOBAHN_REPORTS (default ./autobahn-reports), with
# a per-section summary in summary-server.txt / summary-client.txt.
#
# wstest runs in Docker's crossbario/autobahn-testsuite image when a Docker engine answers;
# otherwise it is installed natively (Python 2.7 + wstest built from the package registries, see
# scripts/autobahn/setup.sh; 4-7 minutes once, cached in ~/.cache/autobahn).
#
# Exit status 0 only when no case is FAILED, NON-STRICT or UNIMPLEMENTED.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
role=${1:-both}
out=${AUTOBAHN_REPORTS:-$root/autobahn-reports}
server_port=${AUTOBAHN_SERVER_PORT:-9001}
fuzz_port=${AUTOBAHN_FUZZ_PORT:-9390}
cases=${AUTOBAHN_CASES:-}
mkdir -p "$out"

cargo build --release --all-features --example echo_server --example autobahn_client
bin=$root/target/release/examples

if docker info >/dev/null 2>&1; then
  runner=docker
  image=crossbario/autobahn-testsuite
  docker pull -q "$image" >/dev/null
  report_dir=/reports
else
  runner=native
  wstest=$("$root/scripts/autobahn/setup.sh" | tail -1)
  report_dir=$out
fi

# spec FILE MODE -> writes $out/spec-MODE.json from the committed spec, with the case list,
# ports and report directory of this run.
spec() {
  python3 - "$1" "$out/spec-$2.json" "$cases" "$report_dir" "$server_port" "$fuzz_port" <<'PY'
import json, sys
src, dst, cases, reports, server_port, fuzz_port = sys.argv[1:]
spec = json.load(open(src))
if cases:
    spec["cases"] = json.loads(cases)
if "servers" in spec:
    spec["outdir"] = reports + "/servers"
    for s in spec["servers"]:
        s["url"] = "ws://127.0.0.1:%s" % server_port
else:
    spec["outdir"] = reports + "/clients"
    spec["url"] = "ws://127.0.0.1:%s" % fuzz_port
json.dump(spec, open(dst, "w"), indent=2)
PY
}

wstest_run() { # MODE SPEC_NAME
  if [ "$runner" = docker ]; then
    timeout 3600 docker run --rm --network host -v "$out:/reports" "$image" wstest -m "$1" -s "/reports/spec-$2.json"
  else
    (cd "$out" && exec timeout 3600 "$wstest" -m "$1" -s "$out/spec-$2.json")
  fi
}

wait_port() {
  for _ in $(seq 1 150); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), timeout=0.2).close()" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "autobahn: nothing listens on port $1" >&2
  return 1
}

status=0

if [ "$role" = server ] || [ "$role" = both ]; then
  echo "== autobahn: server role (echo_server, wstest fuzzingclient) =="
  rm -rf "$out/servers"
  spec autobahn/fuzzingclient.json server
  "$bin/echo_server" "127.0.0.1:$server_port" > "$out/echo_server.log" 2>&1 &
  server_pid=$!
  trap 'kill $server_pid 2>/dev/null || true' EXIT
  wait_port "$server_port"
  wstest_run fuzzingclient server > "$out/wstest-server.log" 2>&1 \
    || echo "autobahn: wstest exited with $? (see $out/wstest-server.log)"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  trap - EXIT
  python3 scripts/autobahn/summarize.py "$out/servers/index.json" | tee "$out/summary-server.txt" || status=1
fi

if [ "$role" = client ] || [ "$role" = both ]; then
  echo "== autobahn: client role (autobahn_client, wstest fuzzingserver) =="
  rm -rf "$out/clients"
  spec autobahn/fuzzingserver.json client
  # Started directly (not through wstest_run) so that $! is the process to stop: the subshell
  # execs `timeout`, which passes the signal on to wstest.
  if [ "$runner" = docker ]; then
    timeout 3600 docker run --rm --name wsproto-autobahn-fuzzingserver --network host -v "$out:/reports" \
      "$image" wstest -m fuzzingserver -s /reports/spec-client.json --webport 0 > "$out/wstest-client.log" 2>&1 &
  else
    (cd "$out" && exec timeout 3600 "$wstest" -m fuzzingserver -s "$out/spec-client.json" --webport 0) \
      > "$out/wstest-client.log" 2>&1 &
  fi
  fuzz_pid=$!
  stop_fuzzingserver() {
    kill "$fuzz_pid" 2>/dev/null || true
    [ "$runner" = docker ] && docker rm -f wsproto-autobahn-fuzzingserver >/dev/null 2>&1 || true
  }
  trap stop_fuzzingserver EXIT
  wait_port "$fuzz_port"
  timeout 3600 "$bin/autobahn_client" "ws://127.0.0.1:$fuzz_port" wsproto > "$out/autobahn_client.log" 2>&1 \
    || echo "autobahn: autobahn_client exited with $? (see $out/autobahn_client.log)"
  stop_fuzzingserver
  wait "$fuzz_pid" 2>/dev/null || true
  trap - EXIT
  python3 scripts/autobahn/summarize.py "$out/clients/index.json" | tee "$out/summary-client.txt" || status=1
fi

exit $status
