//! Fuzz targets for `wsproto`, as plain functions over bytes.
//!
//! Each module has `pub fn run(data: &[u8])`, which panics when an invariant breaks. The
//! cargo-fuzz binaries in `fuzz_targets/` are one-line wrappers, and the main crate's
//! `tests/fuzz_regressions.rs` includes this file with `#[path]` to replay the committed seeds
//! and regression inputs through the very same checks on stable Rust.
//!
//! `inflate` needs permessage-deflate: it exists with the `deflate` feature (on by default in
//! the fuzz crate; `cargo test --all-features` in the main crate). `mask` needs the main crate's
//! test hook, the `__internal-test-hooks` feature (likewise).
//!
//! Adding a target (`handshake_*` targets get `fuzz/http.dict` from `.ci/fuzz.sh`):
//! 1. a module here with `pub fn run(data: &[u8])` and `pub fn seeds() -> Vec<Vec<u8>>`;
//! 2. a line in [`TARGETS`];
//! 3. `fuzz_targets/<name>.rs` (copy an existing one) and a `[[bin]]` in `fuzz/Cargo.toml`.
//!
//! `.ci/fuzz.sh` and the regression test pick the target up from `TARGETS` and the file system.

pub mod differential;
pub mod frame_decode;
pub mod handshake_client;
pub mod handshake_server;
#[cfg(feature = "deflate")]
pub mod inflate;
#[cfg(feature = "__internal-test-hooks")]
pub mod mask;
pub mod roundtrip;
pub mod seeds;
pub mod wire;

/// A fuzz target: its name (as in `fuzz_targets/<name>.rs`) and its entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("frame_decode", frame_decode::run),
    ("roundtrip", roundtrip::run),
    #[cfg(feature = "__internal-test-hooks")]
    ("mask", mask::run),
    ("differential", differential::run),
    ("handshake_server", handshake_server::run),
    ("handshake_client", handshake_client::run),
    #[cfg(feature = "deflate")]
    ("inflate", inflate::run),
];
