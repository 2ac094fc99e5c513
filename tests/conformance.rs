//! A conformance suite in the spirit of the Autobahn testsuite (sections 1–7 and 10), run
//! against a `Connection` acting as an echo endpoint, in both roles.
//!
//! Every case sends exact bytes (hand-built frames, chopped across reads where it matters) and
//! asserts exactly what the endpoint writes back and when it fails. The machinery is in
//! `conformance/harness.rs`; each section is a module of tables. Case names carry the number of
//! the Autobahn case they follow where there is one.

/// The test suites' one independent frame codec (shared with `tests/common` and `fuzz/`).
#[path = "common/codec.rs"]
mod codec;

#[path = "conformance/harness.rs"]
#[macro_use]
mod harness;

#[path = "conformance/framing.rs"]
mod framing;

#[path = "conformance/ping_pong.rs"]
mod ping_pong;

#[path = "conformance/reserved_bits.rs"]
mod reserved_bits;

#[path = "conformance/opcodes.rs"]
mod opcodes;

#[path = "conformance/fragmentation.rs"]
mod fragmentation;

#[path = "conformance/utf8.rs"]
mod utf8;

#[path = "conformance/closing.rs"]
mod closing;

#[path = "conformance/auto_fragmentation.rs"]
mod auto_fragmentation;

#[path = "conformance/masking.rs"]
mod masking;

#[path = "conformance/harness_self_test.rs"]
mod harness_self_test;
