#!/usr/bin/env bash
# Benchmarks in CI: compile them (timings are not CI material: the machine is shared), check the
# zero-allocation receive/send goal with the counting allocator, keep the peer-comparison crate
# (benches/peers, its own workspace) compiling and formatted, and run a few-second smoke of the
# loopback benches (idle connections, echo load against every peer's server). Idempotent; needs
# only cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
# (benches/mask.rs measures each masking path through the crate's test hook,
# which --all-features turns on.)
start=$(date +%s)
cargo bench --no-run --all-features
ALLOC_CHECK=1 cargo bench --all-features --bench alloc_count
IDLE_CONNS=200 timeout 120 cargo bench --all-features --bench idle
cargo fmt --manifest-path benches/peers/Cargo.toml --check
# (Its clippy run is left to `scripts/bench-peers.sh` users: in CI it would compile the four
# peers a second time, in check mode, for the 60-minute budget's sake.)
# The smoke only checks that every bench runs end to end: a debug build compiles faster.
cargo build --manifest-path benches/peers/Cargo.toml --bins
peers=benches/peers/target/debug
PEERS_REPS=1 PEERS_SAMPLE_MS=5 timeout 300 "$peers/wsproto-peers" encode "16 B"
PEERS_REPS=1 PEERS_SAMPLE_MS=5 timeout 300 "$peers/wsproto-peers" mask "16 B"
LOAD_ROUNDS=1 LOAD_SECS=0.2 timeout 300 "$peers/net" load
IDLE_CONNS=100 timeout 120 "$peers/net" idle
echo "bench.sh: $(($(date +%s) - start)) s"
