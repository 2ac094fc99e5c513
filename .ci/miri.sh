#!/usr/bin/env bash
# Miri: runs the unit tests of framing, masking (scalar and portable paths), UTF-8 carry-over and
# the connection state machine, and the fuzz regression replay, under Miri's undefined-behaviour
# checker. Bounded: a few minutes on 2 cores.
#
#   bash .ci/miri.sh
#
# SIMD paths Miri cannot run are excluded by the code itself (`cfg(miri)` in src/mask/ picks the
# portable path); proptest cases are cut to a handful (Miri is ~1000x slower than native).
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
export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-strict-provenance"

echo "=== miri: unit tests (frame, mask, utf8, connection, message, close, random) ==="
time cargo +nightly miri test --lib -- \
    frame:: mask:: utf8:: connection:: message:: close:: random::

echo "=== miri: fuzz regression replay ==="
time cargo +nightly miri test --test fuzz_regressions
