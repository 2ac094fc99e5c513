#!/usr/bin/env bash
# Masking on aarch64, really run: cross-compiles the library tests for aarch64-unknown-linux-gnu
# and runs them under qemu user-mode emulation (the runner is set in .cargo/config.toml), so the
# NEON path is executed and checked against the byte reference. Idempotent: installs the cross
# linker, qemu and the Rust target only when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s ===\n' "$*"; }

step "mask: aarch64 toolchain (cross gcc, qemu-user, rust target)"
if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    qemu_pkg=qemu-user
    if ! apt-cache show qemu-user >/dev/null 2>&1; then
        qemu_pkg=qemu-user-static
    fi
    apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross "$qemu_pkg" >/dev/null
fi
if ! command -v qemu-aarch64 >/dev/null 2>&1 && command -v qemu-aarch64-static >/dev/null 2>&1; then
    # qemu-user-static names its binary differently; the runner in .cargo/config.toml wants qemu-aarch64.
    ln -sf "$(command -v qemu-aarch64-static)" /usr/local/bin/qemu-aarch64
fi
rustup target add aarch64-unknown-linux-gnu >/dev/null

step "mask: library tests on aarch64 under qemu (NEON path)"
# --show-output prints which path the dispatch selected and which SIMD paths were skipped.
cargo test --target aarch64-unknown-linux-gnu --lib -- --show-output mask:: utf8:: frame::
