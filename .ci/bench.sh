#!/usr/bin/env bash
# Benchmarks in CI: compile them (timings are not CI material: the machine is shared), check the
# zero-allocation receive/send goal with the counting allocator, and keep the peer-comparison
# crate (benches/peers, its own workspace) compiling and lint-clean. Idempotent; needs only cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
# (benches/mask.rs measures each masking path through the crate's test hook.)
cargo bench --no-run --features __internal-test-hooks
ALLOC_CHECK=1 cargo bench --bench alloc_count
cargo fmt --manifest-path benches/peers/Cargo.toml --check
cargo clippy --manifest-path benches/peers/Cargo.toml --all-targets -- -D warnings
