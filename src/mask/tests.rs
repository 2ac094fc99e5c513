//! Every masking path against the byte reference: exhaustive over lengths, start addresses and
//! phases, plus random larger inputs. SIMD paths the CPU lacks are skipped, and said so.

extern crate std;

use super::paths::{self, Path};
use super::scalar;
use alloc::vec;
use alloc::vec::Vec;
use proptest::prelude::*;
use std::eprintln;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Longest length of the exhaustive loops (every length up to it, a few start offsets).
const MAX: usize = if cfg!(miri) { 100 } else { 4096 };
/// Longest length tried at every start offset 0..64.
const SMALL_MAX: usize = if cfg!(miri) { 40 } else { 300 };
/// Start offsets (from a 64-byte aligned address) tried for every length up to `MAX`.
const FEW_OFFSETS: &[usize] = &[0, 1, 33, 63];
/// Bytes outside the slice under test hold this, and must still hold it afterwards.
const GUARD: u8 = 0xa5;
const SLACK: usize = 64;

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// The paths under test, without the reference itself; under Miri only the portable ones (Miri
/// does not model the SIMD intrinsics we use, and the dispatch may pick them).
fn under_test() -> Vec<Path> {
    let (mut run, skipped) = paths::available();
    for name in skipped {
        eprintln!("mask: the {name} path is not available on this CPU/target: not tested here");
    }
    run.retain(|p| p.name() != "bytes");
    if cfg!(miri) {
        run.retain(|p| p.name() == "words");
    }
    run
}

/// A buffer whose byte `SLACK` is 64-byte aligned, filled with `GUARD`.
struct Arena {
    storage: Vec<u8>,
    base: usize,
}

impl Arena {
    fn new(len: usize) -> Self {
        let storage = vec![GUARD; len + 3 * SLACK];
        let base = SLACK + (storage[SLACK..].as_ptr().addr().wrapping_neg() & 63);
        Arena { storage, base }
    }

    fn region(&mut self, off: usize, len: usize) -> &mut [u8] {
        let start = self.base + off;
        &mut self.storage[start..start + len]
    }

    /// Asserts that the bytes just outside `[off, off + len)` still hold `GUARD`, then puts
    /// `GUARD` back into the region.
    fn check_and_reset(
        &mut self,
        off: usize,
        len: usize,
        what: &dyn Fn() -> alloc::string::String,
    ) {
        let start = self.base + off;
        let before = &self.storage[start - SLACK..start];
        let after = &self.storage[start + len..start + len + SLACK];
        let guard = [GUARD; SLACK];
        assert!(
            before == guard && after == guard,
            "{}: wrote outside the slice",
            what()
        );
        self.storage[start..start + len].fill(GUARD);
    }
}

fn assert_same(got: &[u8], want: &[u8], what: &dyn Fn() -> alloc::string::String) {
    if got != want {
        let i = got.iter().zip(want).position(|(a, b)| a != b).unwrap();
        panic!(
            "{}: byte {i} is {:#04x}, want {:#04x}",
            what(),
            got[i],
            want[i]
        );
    }
}

/// `data` masked by the reference, for each phase 0..4.
fn expected(data: &[u8], key: [u8; 4]) -> [Vec<u8>; 4] {
    core::array::from_fn(|phase| {
        let mut v = data.to_vec();
        scalar::apply_bytes(&mut v, key, phase);
        v
    })
}

fn check_apply(path: &Path, arena: &mut Arena, data: &[u8], want: &[u8], off: usize, phase: usize) {
    let len = want.len();
    let region = arena.region(off, len);
    region.copy_from_slice(&data[..len]);
    path.apply(region, KEY, phase);
    let what = || {
        alloc::format!(
            "{} apply: len {len} offset {off} phase {phase}",
            path.name()
        )
    };
    assert_same(region, want, &what);
    arena.check_and_reset(off, len, &what);
}

#[allow(clippy::too_many_arguments)]
fn check_copy(
    path: &Path,
    src: &mut Arena,
    dst: &mut Arena,
    data: &[u8],
    want: &[u8],
    not_want: &[u8],
    doff: usize,
    soff: usize,
    phase: usize,
) {
    let len = want.len();
    src.region(soff, len).copy_from_slice(&data[..len]);
    // The destination starts out wrong in every byte, so a byte left unwritten is caught.
    dst.region(doff, len).copy_from_slice(&not_want[..len]);
    let s = &src.storage[src.base + soff..src.base + soff + len];
    let d = &mut dst.storage[dst.base + doff..dst.base + doff + len];
    path.copy(d, s, KEY, phase);
    let what = || {
        alloc::format!(
            "{} copy: len {len} dst offset {doff} src offset {soff} phase {phase}",
            path.name()
        )
    };
    assert_same(d, want, &what);
    assert_same(src.region(soff, len), &data[..len], &|| {
        alloc::format!("{}: source changed", what())
    });
    dst.check_and_reset(doff, len, &what);
    src.check_and_reset(soff, len, &what);
}

/// Every length up to `MAX` at a few start offsets, and every length up to `SMALL_MAX` at every
/// start offset 0..64, each at every phase: in-place masking against the reference.
fn exhaustive_apply(path: &Path) {
    let data = noise(MAX, 1);
    let want = expected(&data, KEY);
    let mut arena = Arena::new(MAX + SLACK);
    for len in 0..=MAX {
        for &off in FEW_OFFSETS {
            for (phase, w) in want.iter().enumerate() {
                check_apply(path, &mut arena, &data, &w[..len], off, phase);
            }
        }
    }
    for len in 0..=SMALL_MAX {
        for off in 0..64 {
            for (phase, w) in want.iter().enumerate() {
                check_apply(path, &mut arena, &data, &w[..len], off, phase);
            }
        }
    }
}

/// As `exhaustive_apply`, for the fused copy, with the source and destination at different
/// offsets from 64-byte alignment (and at the same one).
fn exhaustive_copy(path: &Path) {
    let data = noise(MAX, 2);
    let want = expected(&data, KEY);
    let not_want: [Vec<u8>; 4] =
        core::array::from_fn(|p| want[p].iter().map(|b| !b).collect::<Vec<u8>>());
    let mut src = Arena::new(MAX + SLACK);
    let mut dst = Arena::new(MAX + SLACK);
    for len in 0..=MAX {
        for (i, &doff) in FEW_OFFSETS.iter().enumerate() {
            // Pair each destination offset with another source offset; the last with itself.
            let soff = FEW_OFFSETS[(i + 1) % FEW_OFFSETS.len()];
            let soff = if i + 1 == FEW_OFFSETS.len() {
                doff
            } else {
                soff
            };
            for phase in 0..4 {
                let w = &want[phase][..len];
                check_copy(
                    path,
                    &mut src,
                    &mut dst,
                    &data,
                    w,
                    &not_want[phase],
                    doff,
                    soff,
                    phase,
                );
            }
        }
    }
    for len in 0..=SMALL_MAX {
        for doff in 0..64 {
            let soff = (doff * 37 + 5) % 64;
            for phase in 0..4 {
                let w = &want[phase][..len];
                check_copy(
                    path,
                    &mut src,
                    &mut dst,
                    &data,
                    w,
                    &not_want[phase],
                    doff,
                    soff,
                    phase,
                );
            }
        }
    }
}

/// One exhaustive apply test and one exhaustive copy test per path (separate tests, so the
/// harness runs them in parallel). A SIMD path the CPU lacks is skipped, and said so.
macro_rules! exhaustive_tests {
    ($($name:ident: $path:expr, $miri:expr;)*) => {
        mod exhaustive {
            use super::*;
            $(
                pub(super) mod $name {
                    use super::*;

                    fn path() -> Option<Path> {
                        if cfg!(miri) && !$miri {
                            eprintln!("mask: the {} path is not tested under Miri", stringify!($name));
                            return None;
                        }
                        let path: Option<Path> = $path;
                        if path.is_none() {
                            eprintln!(
                                "mask: the {} path is not available on this CPU/target: not tested here",
                                stringify!($name)
                            );
                        }
                        path
                    }

                    #[test]
                    fn apply_matches_the_reference() {
                        if let Some(p) = path() {
                            exhaustive_apply(&p);
                        }
                    }

                    #[test]
                    fn copy_matches_the_reference() {
                        if let Some(p) = path() {
                            exhaustive_copy(&p);
                        }
                    }
                }
            )*
        }
    };
}

exhaustive_tests! {
    words: Some(paths::words()), true;
    sse2: paths::sse2(), false;
    avx2: paths::avx2(), false;
    avx512: paths::avx512(), false;
    neon: paths::neon(), false;
    dispatch: Some(paths::dispatch()), false;
}

#[test]
fn extend_masked_appends_like_the_reference_for_every_length_and_phase() {
    let data = noise(MAX, 3);
    let want = expected(&data, KEY);
    for len in 0..=MAX {
        for (phase, w) in want.iter().enumerate() {
            // Into a buffer that must grow, and into one with room (after a 3-byte prefix).
            let mut grow = bytes::BytesMut::new();
            super::extend_masked(&mut grow, &data[..len], KEY, phase);
            assert_same(&grow, &w[..len], &|| {
                alloc::format!("extend (grow): len {len} phase {phase}")
            });

            let mut roomy = bytes::BytesMut::with_capacity(MAX + 8);
            roomy.extend_from_slice(b"abc");
            super::extend_masked(&mut roomy, &data[..len], KEY, phase);
            assert_eq!(&roomy[..3], b"abc");
            assert_same(&roomy[3..], &w[..len], &|| {
                alloc::format!("extend: len {len} phase {phase}")
            });
        }
    }
}

#[test]
fn phase_is_taken_modulo_four() {
    let data = noise(300, 4);
    for path in under_test() {
        for phase in [4, 5, 6, 7, usize::MAX - 3, usize::MAX] {
            let mut a = data.clone();
            let mut b = data.clone();
            path.apply(&mut a, KEY, phase);
            scalar::apply_bytes(&mut b, KEY, phase % 4);
            assert_eq!(a, b, "{} phase {phase}", path.name());
        }
    }
}

#[test]
fn masking_twice_restores_the_payload_and_pieces_compose() {
    // Unmasking a payload in pieces (as reads deliver it) equals unmasking it whole.
    let data = noise(1000, 5);
    for path in under_test() {
        let mut whole = data.clone();
        path.apply(&mut whole, KEY, 0);
        let mut pieces = data.clone();
        let mut at = 0;
        for step in [1, 2, 3, 31, 64, 5, 200, 17, 677] {
            path.apply(&mut pieces[at..at + step], KEY, at);
            at += step;
        }
        assert_eq!(at, data.len());
        assert_eq!(whole, pieces, "{}", path.name());
        path.apply(&mut whole, KEY, 0);
        assert_eq!(whole, data, "{}", path.name());
    }
}

#[test]
#[should_panic(expected = "length mismatch")]
fn dispatch_copy_rejects_length_mismatch() {
    let mut dst = [0u8; 40];
    super::paths::dispatch().copy(&mut dst, &[1u8; 41], KEY, 0);
}

#[test]
fn every_path_rejects_copy_length_mismatch() {
    for path in under_test() {
        for (d, s) in [(3, 4), (40, 41), (300, 299)] {
            let r = std::panic::catch_unwind(|| {
                let mut dst = vec![0u8; d];
                path.copy(&mut dst, &vec![1u8; s], KEY, 0);
            });
            assert!(r.is_err(), "{} accepted {d} vs {s}", path.name());
        }
    }
}

#[test]
fn dispatch_selects_the_best_path_for_this_cpu() {
    let name = paths::selected_name();
    eprintln!("mask: dispatch selected the {name} path");
    #[cfg(target_arch = "aarch64")]
    assert_eq!(name, "neon");
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        // AVX2 is preferred to AVX-512 (see `best`).
        let want = if std::is_x86_feature_detected!("avx2") {
            "avx2"
        } else {
            "sse2"
        };
        assert_eq!(name, want);
    }
    #[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64")))]
    assert_eq!(name, "words");
    // After a call through the dispatch, the cached choice is that path, not the detector.
    let mut buf = [0u8; 100];
    super::apply_mask(&mut buf, KEY, 0);
    assert_eq!(super::select::selected().name(), name);
}

#[test]
fn rfc_6455_5_7_masked_hello_on_every_path() {
    // The RFC's example, embedded in a longer payload so the vector paths see it too.
    for path in under_test() {
        for pad in [0usize, 27, 64, 200] {
            let mut buf = vec![0u8; pad];
            buf.extend_from_slice(b"Hello");
            path.apply(&mut buf, [0x37, 0xfa, 0x21, 0x3d], 0);
            // The RFC's payload starts at offset 0; here it starts at `pad`: phase pad % 4.
            let mut hello = *b"Hello";
            scalar::apply_bytes(&mut hello, [0x37, 0xfa, 0x21, 0x3d], pad);
            assert_eq!(&buf[pad..], &hello, "{} pad {pad}", path.name());
            if pad % 4 == 0 {
                assert_eq!(&buf[pad..], &[0x7f, 0x9f, 0x4d, 0x51, 0x58]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 48 },
        // Under Miri's isolation the failure file cannot be located (no getcwd).
        failure_persistence: if cfg!(miri) { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    /// Random larger inputs: every path, apply and copy, any key, phase and start addresses.
    #[test]
    fn random_large_inputs_match_the_reference(
        len in 0usize..if cfg!(miri) { 300 } else { 200_000 },
        seed: u64,
        key: [u8; 4],
        phase: usize,
        doff in 0usize..64,
        soff in 0usize..64,
    ) {
        let data = noise(len, seed);
        let mut want = data.clone();
        scalar::apply_bytes(&mut want, key, phase);
        let mut buf = vec![0u8; len + 128];
        let mut src = vec![0u8; len + 128];
        src[soff..soff + len].copy_from_slice(&data);
        for path in under_test() {
            let region = &mut buf[doff..doff + len];
            region.copy_from_slice(&data);
            path.apply(region, key, phase);
            prop_assert!(region == &want[..], "{} apply", path.name());

            region.fill(0);
            path.copy(region, &src[soff..soff + len], key, phase);
            prop_assert!(region == &want[..], "{} copy", path.name());
        }
        let mut out = bytes::BytesMut::new();
        super::extend_masked(&mut out, &data, key, phase);
        prop_assert!(out[..] == want[..], "extend_masked");
    }
}
