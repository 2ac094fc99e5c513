#!/usr/bin/env bash
# Miri: runs the unit tests of framing, masking (scalar and portable paths), UTF-8 carry-over and
# `Utf8Bytes` (whose `as_str` is the one `unsafe` conversion outside mask/), the connection state
# machine, and the fuzz regression replay, under Miri's undefined-behaviour
# checker. Bounded: a few minutes on 2 cores.
#
#   bash .ci/miri.sh
#
# Masking runs whatever path the mask module selects under Miri (SIMD paths Miri cannot
# interpret must be gated with `cfg(miri)` there); proptest cases are cut to a handful and the
# fuzz seeds sampled (Miri is ~1000x slower than native).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "=== miri: toolchain ==="
# Install nightly only if missing (no update: other work on this machine shares it).
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
rustup +nightly component add miri rust-src >/dev/null
cargo +nightly miri setup >/dev/null

# A handful of proptest cases each, and no regression files written from inside Miri.
export PROPTEST_CASES="${PROPTEST_CASES:-4}"
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1
# (Miri isolates the program from the host: environment variables must be forwarded.)
flags="${MIRIFLAGS:-} -Zmiri-strict-provenance"
export MIRIFLAGS="$flags -Zmiri-env-forward=PROPTEST_CASES -Zmiri-env-forward=PROPTEST_DISABLE_FAILURE_PERSISTENCE"

echo "=== miri: unit tests (frame, mask, utf8 + Utf8Bytes, connection, message, close, random) ==="
time cargo +nightly miri test --lib -- \
    frame:: mask:: utf8:: connection:: message:: close:: random::

echo "=== miri: fuzz seeds and regression inputs (reads fuzz/regressions/: no isolation) ==="
MIRIFLAGS="$flags -Zmiri-disable-isolation" time cargo +nightly miri test \
    --features __internal-test-hooks --test fuzz_regressions
