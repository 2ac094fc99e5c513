//! Masking and unmasking of frame payloads (RFC 6455 §5.3).
//!
//! Byte `i` of a payload is XORed with `key[i % 4]`. A payload that arrives across several reads
//! is unmasked piecewise: `phase` is the payload offset of the slice's first byte (only
//! `phase % 4` matters), so byte `i` of the slice uses `key[(phase + i) % 4]`.
//!
//! Layout (as in the `memchr` crate): this file holds the crate-internal API and the dispatch;
//! `scalar` the byte-at-a-time reference and a portable word-at-a-time path (safe code); `x86`
//! SSE2, AVX2 and AVX-512 paths; `aarch64` a NEON path. Every path is checked against the byte
//! reference for every length up to 4096, every phase and many start addresses (tests below).
//!
//! Dispatch: slices shorter than [`SIMD_MIN`] take the word path inline. Longer ones go through
//! a [`Path`] chosen once: on x86_64 with the `std` feature, at the first call, by runtime CPU
//! feature detection, and cached in an atomic pointer (later calls cost one relaxed load and an
//! indirect call); elsewhere, at compile time from the enabled target features.
//!
//! This module (with `Utf8Bytes::as_str` in `utf8.rs`) is the only place that may hold `unsafe`
//! code.

// The byte reference, the AVX-512 path and the per-path entry points are reached only from the
// tests and the `__internal-test-hooks` export (`paths`); a normal build uses the dispatch.
#![cfg_attr(not(any(test, feature = "__internal-test-hooks")), allow(dead_code))]

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod aarch64;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

use core::mem::MaybeUninit;

/// Slices shorter than this are masked by the word path inline, skipping the indirect call.
///
/// Below 16 bytes every SIMD path falls back to the word path anyway (no whole SSE2/NEON
/// vector), so the call would be pure overhead. From 16 to 31 bytes the word path and the SIMD
/// paths measured within half a nanosecond of each other (`benches/mask.rs`, group
/// `mask_small`, AMD Zen 4), and from about 100 bytes on SIMD wins clearly (125 B: 4.9 ns against
/// 6.0 ns; 1 KiB: 10 ns against 20 ns).
const SIMD_MIN: usize = 16;

/// On x86_64, SSE2 is part of the baseline: slices from [`SIMD_MIN`] up to (not including)
/// this length take the SSE2 path called directly (inlined), skipping the cached dispatch's
/// indirect call and the AVX2 path's fallback call, which at 16 B cost as much as the masking
/// (`scripts/bench-peers.sh mask`: 16 B at +1 went from 0.5x to ~1x yawc's inline masking).
const SMALL_MAX: usize = 64;

/// Whether the direct SSE2 path for small slices exists on this target.
const SMALL_SSE2: bool = cfg!(all(target_arch = "x86_64", target_feature = "sse2"));

/// `key` rotated left by `r % 4` bytes: the key as seen from payload offset `r`.
#[inline(always)]
fn rotate(key: [u8; 4], r: usize) -> [u8; 4] {
    let shift = 8 * (r % 4) as u32;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

/// XORs `buf` in place with `key`, starting at key index `phase % 4`.
#[inline]
pub(crate) fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let key = rotate(key, phase);
    if buf.len() < SIMD_MIN {
        scalar::apply_words(buf, key);
    } else if SMALL_SSE2 && buf.len() < SMALL_MAX {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        // SAFETY: SSE2 is enabled at compile time (part of the x86_64 baseline).
        unsafe {
            x86::apply_sse2(buf, key)
        }
    } else {
        let path = select::selected();
        // SAFETY: `selected` only returns paths whose CPU features are present.
        unsafe { (path.apply)(buf, key) }
    }
}

/// Appends `src` masked with `key` (starting at key index `phase % 4`) to `dst`, in one pass:
/// the masked bytes are written straight into `dst`'s spare capacity.
#[inline]
pub(crate) fn extend_masked(dst: &mut bytes::BytesMut, src: &[u8], key: [u8; 4], phase: usize) {
    dst.reserve(src.len());
    let len = dst.len();
    copy_uninit(&mut dst.spare_capacity_mut()[..src.len()], src, key, phase);
    // SAFETY: `reserve` made room for `src.len()` more bytes, and `copy_uninit` initialized all
    // of `dst[len..len + src.len()]` (every path writes every byte of its destination; the
    // tests check this against a destination pre-filled with garbage).
    unsafe { dst.set_len(len + src.len()) };
}

/// The fused copy into possibly uninitialized memory; writes every byte of `dst`.
#[inline]
fn copy_uninit(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4], phase: usize) {
    assert_eq!(dst.len(), src.len(), "copy_masked: length mismatch");
    let key = rotate(key, phase);
    if src.len() < SIMD_MIN {
        scalar::copy_words(dst, src, key);
    } else if SMALL_SSE2 && src.len() < SMALL_MAX {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        // SAFETY: SSE2 is enabled at compile time (part of the x86_64 baseline).
        unsafe {
            x86::copy_sse2(dst, src, key)
        }
    } else {
        let path = select::selected();
        // SAFETY: `selected` only returns paths whose CPU features are present.
        unsafe { (path.copy)(dst, src, key) }
    }
}

/// Views initialized bytes as possibly uninitialized ones, for the copy paths.
#[inline(always)]
fn as_uninit(dst: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`. The copy paths only ever write
    // initialized bytes through the returned slice, so `dst` stays initialized.
    unsafe { &mut *(dst as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// One masking implementation: an in-place XOR and a fused copy, both taking a key already
/// rotated to the slice's phase.
///
/// Invariant: a `Path` is only ever handed out (by the dispatch or by `paths`) when the CPU
/// supports the target features its functions were compiled for, so calling them is sound.
#[derive(Clone, Copy)]
pub struct Path {
    name: &'static str,
    apply: unsafe fn(&mut [u8], [u8; 4]),
    copy: unsafe fn(&mut [MaybeUninit<u8>], &[u8], [u8; 4]),
}

impl core::fmt::Debug for Path {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Path").field("name", &self.name).finish()
    }
}

impl Path {
    /// The path's short name: `bytes`, `words`, `sse2`, `avx2`, `avx512`, `neon` or `dispatch`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// XORs `buf` in place with `key`, starting at key index `phase % 4`, using this path only.
    pub fn apply(&self, buf: &mut [u8], key: [u8; 4], phase: usize) {
        // SAFETY: by the type's invariant, the CPU supports this path.
        unsafe { (self.apply)(buf, rotate(key, phase)) }
    }

    /// Writes `src` masked into `dst` (same length), using this path only.
    ///
    /// # Panics
    /// If `dst` and `src` differ in length.
    pub fn copy(&self, dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
        assert_eq!(dst.len(), src.len(), "copy_masked: length mismatch");
        // SAFETY: by the type's invariant, the CPU supports this path.
        unsafe { (self.copy)(as_uninit(dst), src, rotate(key, phase)) }
    }
}

/// The byte-at-a-time reference, as a path (its key is already rotated: phase 0).
static BYTES: Path = Path {
    name: "bytes",
    apply: |buf, key| scalar::apply_bytes(buf, key, 0),
    copy: |dst, src, key| scalar::copy_bytes(dst, src, key, 0),
};

/// The portable word-at-a-time path.
static WORDS: Path = Path {
    name: "words",
    apply: scalar::apply_words,
    copy: scalar::copy_words,
};

/// The crate's own entry points (threshold plus dispatch), as a path.
static DISPATCH: Path = Path {
    name: "dispatch",
    apply: |buf, key| apply_mask(buf, key, 0),
    copy: |dst, src, key| copy_uninit(dst, src, key, 0),
};

#[cfg(target_arch = "x86_64")]
static SSE2: Path = Path {
    name: "sse2",
    apply: x86::apply_sse2,
    copy: x86::copy_sse2,
};

#[cfg(target_arch = "x86_64")]
static AVX2: Path = Path {
    name: "avx2",
    apply: x86::apply_avx2,
    copy: x86::copy_avx2,
};

#[cfg(target_arch = "x86_64")]
static AVX512: Path = Path {
    name: "avx512",
    apply: x86::apply_avx512,
    copy: x86::copy_avx512,
};

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
static NEON: Path = Path {
    name: "neon",
    apply: aarch64::apply_neon,
    copy: aarch64::copy_neon,
};

/// CPU feature checks for the SIMD paths: at run time with `std` on x86_64, else at compile time.
mod has {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    pub(super) fn sse2() -> bool {
        std::is_x86_feature_detected!("sse2")
    }
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    pub(super) fn avx2() -> bool {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    pub(super) fn avx512() -> bool {
        std::is_x86_feature_detected!("avx512f")
    }

    #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
    pub(super) fn sse2() -> bool {
        cfg!(target_feature = "sse2")
    }
    #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
    pub(super) fn avx2() -> bool {
        cfg!(target_feature = "avx2")
    }
    #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
    pub(super) fn avx512() -> bool {
        cfg!(target_feature = "avx512f")
    }
}

/// The fastest path this CPU supports (not counting the small-slice threshold).
///
/// On x86_64 AVX2 is preferred to AVX-512: masking is bound by loads and stores, and on the
/// machine measured (AMD Zen 4, `benches/mask.rs`) the AVX-512 path was no faster from 16 KiB up
/// and 3–10% slower from 512 B to 4 KiB (its 64-byte head, tail and alignment cost more), while
/// on some Intel CPUs 512-bit instructions lower the core's clock for everything else. The
/// AVX-512 path stays available, tested and benchmarked through [`paths::avx512`].
fn best() -> &'static Path {
    #[cfg(target_arch = "x86_64")]
    {
        if has::avx2() {
            return &AVX2;
        }
        if has::sse2() {
            return &SSE2;
        }
    }
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    {
        return &NEON;
    }
    #[allow(unreachable_code)]
    &WORDS
}

/// Runtime dispatch, chosen once: the first call detects the CPU's features and caches the
/// chosen path in an atomic pointer.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod select {
    use super::{MaybeUninit, Path};
    use core::sync::atomic::{AtomicPtr, Ordering};

    /// Stands in until the first call has detected the CPU: its functions detect, cache, and
    /// forward.
    static DETECT: Path = Path {
        name: "detect",
        apply: detect_apply,
        copy: detect_copy,
    };

    /// Always points at one of the `'static` paths: `DETECT` or one that `best` returned.
    static SELECTED: AtomicPtr<Path> = AtomicPtr::new(&DETECT as *const Path as *mut Path);

    /// Detects the CPU's features, caches the best path, and returns it.
    pub(super) fn resolve() -> &'static Path {
        let path = super::best();
        SELECTED.store(path as *const Path as *mut Path, Ordering::Relaxed);
        path
    }

    /// The cached path (or the detecting stand-in before the first call).
    #[inline(always)]
    pub(super) fn selected() -> &'static Path {
        let ptr = SELECTED.load(Ordering::Relaxed);
        // SAFETY: SELECTED only ever holds pointers to immutable `'static` paths (see above).
        unsafe { &*ptr }
    }

    /// # Safety
    /// None beyond the signature's: the path it forwards to was chosen by feature detection.
    unsafe fn detect_apply(buf: &mut [u8], key: [u8; 4]) {
        let path = resolve();
        // SAFETY: `best` only returns paths whose CPU features were detected.
        unsafe { (path.apply)(buf, key) }
    }

    /// # Safety
    /// None beyond the signature's: the path it forwards to was chosen by feature detection.
    unsafe fn detect_copy(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4]) {
        let path = resolve();
        // SAFETY: `best` only returns paths whose CPU features were detected.
        unsafe { (path.copy)(dst, src, key) }
    }
}

/// Compile-time dispatch: the best path the enabled target features allow.
#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
mod select {
    use super::Path;

    /// The chosen path; `best` is cheap here (no runtime checks), and inlines to a constant.
    pub(super) fn resolve() -> &'static Path {
        super::best()
    }

    /// The chosen path.
    #[inline(always)]
    pub(super) fn selected() -> &'static Path {
        super::best()
    }
}

/// Explicit access to each masking path, for the tests, the benchmarks (`benches/mask.rs`) and
/// the `mask` fuzz target: exported as `wsproto::__mask_paths` only with the
/// `__internal-test-hooks` feature.
///
/// Not part of the crate's API: hidden from the docs, may change in any release.
#[cfg(any(test, feature = "__internal-test-hooks"))]
#[cfg_attr(not(feature = "__internal-test-hooks"), allow(dead_code))] // the unit tests use part of it
pub mod paths {
    pub use super::Path;

    /// The byte-at-a-time reference.
    pub fn bytes() -> Path {
        super::BYTES
    }

    /// The portable word-at-a-time path.
    pub fn words() -> Path {
        super::WORDS
    }

    /// The SSE2 path, if this is an x86_64 CPU with SSE2.
    pub fn sse2() -> Option<Path> {
        #[cfg(target_arch = "x86_64")]
        if super::has::sse2() {
            return Some(super::SSE2);
        }
        None
    }

    /// The AVX2 path, if the CPU supports it.
    pub fn avx2() -> Option<Path> {
        #[cfg(target_arch = "x86_64")]
        if super::has::avx2() {
            return Some(super::AVX2);
        }
        None
    }

    /// The AVX-512 (F) path, if the CPU supports it.
    pub fn avx512() -> Option<Path> {
        #[cfg(target_arch = "x86_64")]
        if super::has::avx512() {
            return Some(super::AVX512);
        }
        None
    }

    /// The NEON path, on aarch64 targets with NEON.
    pub fn neon() -> Option<Path> {
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        return Some(super::NEON);
        #[allow(unreachable_code)]
        None
    }

    /// The crate's own entry points: word path below the size threshold, else the selected path.
    pub fn dispatch() -> Path {
        super::DISPATCH
    }

    /// The name of the path the dispatch selects for slices at or above the threshold.
    pub fn selected_name() -> &'static str {
        super::select::resolve().name
    }

    /// The size threshold: shorter slices take the word path inline.
    pub const SIMD_MIN: usize = super::SIMD_MIN;

    /// Appends `src` masked to `dst` through the dispatch, as the send path does.
    pub fn extend_masked(dst: &mut bytes::BytesMut, src: &[u8], key: [u8; 4], phase: usize) {
        super::extend_masked(dst, src, key, phase);
    }

    /// Masks `buf` in place through the crate's entry point (inlined, no `Path` indirection),
    /// as the receive path does.
    #[inline]
    pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
        super::apply_mask(buf, key, phase);
    }

    /// Every path this CPU can run, the reference first and the dispatch last, with the names of
    /// the SIMD paths it cannot run.
    pub fn available() -> (alloc::vec::Vec<Path>, alloc::vec::Vec<&'static str>) {
        let mut run = alloc::vec![bytes(), words()];
        let mut skipped = alloc::vec::Vec::new();
        let simd: [(&'static str, Option<Path>); 4] = [
            ("sse2", sse2()),
            ("avx2", avx2()),
            ("avx512", avx512()),
            ("neon", neon()),
        ];
        for (name, path) in simd {
            match path {
                Some(p) => run.push(p),
                None => skipped.push(name),
            }
        }
        run.push(dispatch());
        (run, skipped)
    }
}

#[cfg(test)]
mod tests;
