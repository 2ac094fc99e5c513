#!/usr/bin/env bash
# wsproto against tungstenite, fastwebsockets, tokio-websockets and yawc, all in one run, printed
# as markdown tables (best and median sample): decode, encode and in-place masking, with the
# definitions of issue 15 (see benches/peers/src/main.rs). Builds benches/peers (a separate
# crate) in release.
#
# Usage: scripts/bench-peers.sh [decode|encode|mask|all] [WORKLOAD-FILTER]
# Environment: PEERS_REPS (rounds, default 11), PEERS_SAMPLE_MS (default 100),
# PEERS_CLOCK (wall, default, or cpu).
set -euo pipefail
cd "$(dirname "$0")/../benches/peers"
cargo build --release --quiet --bin wsproto-peers
echo "rustc: $(rustc --version)"
exec ./target/release/wsproto-peers "$@"
