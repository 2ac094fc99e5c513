#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target and runs each for a bounded time.
#
#   bash .ci/fuzz.sh                   # every target, FUZZ_SECONDS (default 60) each
#   FUZZ_SECONDS=600 bash .ci/fuzz.sh mask differential   # chosen targets, longer
#
# Targets run one after another (never in parallel): the machine has 2 cores, shared.
#
# A crash (panic, broken invariant, leak, timeout, out-of-memory) makes `cargo fuzz run` exit
# non-zero, which fails this script; libFuzzer leaves the input in fuzz/artifacts/<target>/.
# To keep it as a regression test:
#   1. reproduce: cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-<hash>
#      (or, on stable: copy it as below and run `cargo test --test fuzz_regressions <target>`);
#   2. copy it: cp fuzz/artifacts/<target>/crash-<hash> fuzz/regressions/<target>/<short-name>
#   3. fix the bug; `cargo test --test fuzz_regressions` replays every file in
#      fuzz/regressions/<target>/ through the same checks as the fuzz target, on stable Rust.
# Minimize first if it is large: cargo +nightly fuzz tmin <target> <artifact>.
#
# Seed corpora are generated (fuzz/corpus is git-ignored): the seeds come from
# fuzz/src/seeds.rs, written out by tests/fuzz_regressions.rs, which also checks each one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
TARGETS=("$@")

echo "=== fuzz: toolchain ==="
# Install nightly only if missing (no update: other work on this machine shares it).
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

echo "=== fuzz: seed corpora ==="
mkdir -p fuzz/corpus
# (--all-features: the `inflate` and `mask` targets exist only with `deflate` and the test hook.)
WSPROTO_FUZZ_CORPUS="$PWD/fuzz/corpus" cargo test --quiet --all-features --test fuzz_regressions

echo "=== fuzz: build every target ==="
cargo +nightly fuzz build
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi

for target in "${TARGETS[@]}"; do
    echo "=== fuzz: $target for ${FUZZ_SECONDS}s ==="
    mkdir -p "fuzz/corpus/$target"
    extra=()
    case "$target" in
        handshake_*) extra+=("-dict=fuzz/http.dict") ;;
    esac
    # -rss_limit_mb: any input that makes the crate hold more than this is a finding.
    # -timeout: one input taking longer than this is a finding (a hang).
    cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
        "${extra[@]}"
done
echo "fuzz: ${#TARGETS[@]} target(s) ran ${FUZZ_SECONDS}s each without a finding"
