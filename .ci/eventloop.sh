#!/usr/bin/env bash
# Issue 18: the core under event loops with no driver. Starts examples/mio_echo (readiness,
# mio) and examples/uring_echo (completion, io_uring) with the same command lines as the other
# examples, and against each runs:
#   - examples/echo_client (the project's echo check: text, UTF-8, 1 MiB, a burst, ping, close);
#   - examples/echo_load: 200 concurrent clients exchanging messages of 0 B to 1 MiB, a client
#     that writes without reading (must be throttled: reads paused above the high-water mark),
#     clients that vanish mid-handshake / mid-frame / with an unread echo, a refused plain GET, a silent
#     client the handshake timeout must drop, and HOLD connections open at once;
# then checks that nothing leaked: the server's open descriptors (/proc/PID/fd) return to the
# count they had before the clients, and the server is still running.
# uring_echo prints "uring_echo: skipped: ..." and exits 0 where the kernel refuses io_uring
# (seccomp, kernel.io_uring_disabled, Linux < 5.11): its checks are then reported as skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
started=$(date +%s)

timeout 1200 cargo build --release --all-features \
  --example mio_echo --example uring_echo --example echo_client --example echo_load
bin=target/release/examples

pids=()
logs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for l in "${logs[@]}"; do rm -f "$l"; done
}
trap cleanup EXIT

# Thousands of connections need descriptors: raise the soft limit as far as the hard one allows.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 8192 ]; then ulimit -n 8192; else ulimit -n "$hard"; fi
limit=$(ulimit -n)
hold=2000
if [ "$limit" -lt $((hold + 300)) ]; then hold=$((limit - 300)); fi
[ "$hold" -gt 0 ] || hold=0

fds() { ls "/proc/$1/fd" | wc -l; }

# check NAME PORT [WRAPPER...]: start the server (under WRAPPER, if given), run the clients,
# check the descriptors. Returns 0 when passed, 2 when the server reported itself skipped.
check() {
  local name=$1 port=$2 log pid
  shift 2
  log=$(mktemp)
  logs+=("$log")
  "$@" "$bin/$name" "127.0.0.1:$port" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    grep -q "listening on" "$log" && break
    if ! kill -0 "$pid" 2>/dev/null; then
      if wait "$pid" && grep -q "^$name: skipped:" "$log"; then
        echo "eventloop.sh: $name SKIPPED: $(grep "^$name: skipped:" "$log" | sed "s/^$name: skipped: //")"
        return 2
      fi
      echo "eventloop.sh: $name exited at start:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  grep -q "listening on" "$log" || { echo "eventloop.sh: $name did not start:" >&2; cat "$log" >&2; return 1; }
  cat "$log"
  local before
  before=$(fds "$pid") || return 1

  # (Called in an `||` list, where `set -e` does not apply: every failure returns explicitly.)
  timeout 120 "$bin/echo_client" "ws://127.0.0.1:$port" || return 1
  timeout 180 "$bin/echo_load" "ws://127.0.0.1:$port" 200 "$hold" || return 1

  # The server closes its side after each close handshake: give the last ones a moment.
  local after
  for _ in $(seq 1 100); do
    after=$(fds "$pid") || return 1
    [ "$after" -le "$before" ] && break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null || { echo "eventloop.sh: $name died:" >&2; cat "$log" >&2; return 1; }
  if [ "$after" -gt "$before" ]; then
    echo "eventloop.sh: $name leaked descriptors: $before before the clients, $after after" >&2
    ls -l "/proc/$pid/fd" >&2
    return 1
  fi
  echo "ok: $name has $after open descriptors, as before the clients ($before)"
  kill "$pid"
}

# The skip path, exercised: under a seccomp filter that refuses io_uring_setup (as a container
# runtime's may), uring_echo must report itself skipped and exit 0, and check() must see that.
if ! /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then
  timeout 300 apt-get install -y python3-seccomp >/dev/null 2>&1 ||
    { timeout 300 apt-get update >/dev/null && timeout 300 apt-get install -y python3-seccomp >/dev/null; }
fi
deny='
import errno, os, sys, seccomp
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
f.add_rule(seccomp.ERRNO(errno.EPERM), sys.argv[1])
f.load()
os.execv(sys.argv[2], sys.argv[2:])'
for call in io_uring_setup io_uring_enter; do
  status=0
  check uring_echo 9712 /usr/bin/python3 -c "$deny" "$call" || status=$?
  [ "$status" = 2 ] || { echo "eventloop.sh: uring_echo without $call was not skipped ($status)" >&2; exit 1; }
done

check mio_echo 9710 || exit 1
status=0
check uring_echo 9711 || status=$?
case $status in
  0) uring="io_uring checks passed" ;;
  2) uring="io_uring checks SKIPPED (the kernel refuses io_uring here)" ;;
  *) exit "$status" ;;
esac

echo "eventloop.sh: mio checks passed, $uring (held $hold connections at once), in $(( $(date +%s) - started )) s"
