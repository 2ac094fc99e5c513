#!/usr/bin/env bash
# Decode throughput of wsproto against tungstenite, fastwebsockets and tokio-websockets, all in
# one run, printed as a markdown table. Builds benches/peers (a separate crate) in release.
#
# Usage: scripts/bench-peers.sh [WORKLOAD-FILTER]
# Environment: PEERS_REPS (samples per cell, default 15), PEERS_SAMPLE_MS (default 100).
set -euo pipefail
cd "$(dirname "$0")/../benches/peers"
cargo build --release --quiet
echo "rustc: $(rustc --version)"
exec ./target/release/wsproto-peers "$@"
