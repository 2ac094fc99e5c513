//! aarch64 NEON path (16-byte vectors). Only compiled where NEON is enabled at compile time
//! (every aarch64 Linux, macOS and Windows target), so no runtime detection is needed.
//!
//! Every function takes a key already rotated to the slice's phase, so byte `i` of the slice is
//! XORed with `key[i % 4]`. Unaligned vector accesses cost little on aarch64, so the main loop
//! runs from the start of the slice; the last (possibly overlapping) vector is computed from the
//! original bytes before the loop and stored after it. Slices shorter than one vector take the
//! word path.

use core::arch::aarch64::*;
use core::mem::MaybeUninit;

use super::{rotate, scalar};

const W: usize = 16;

/// The key pattern for a vector that starts at byte offset `offset`, built in memory order so it
/// is right on either endianness.
///
/// # Safety
/// The CPU must support NEON.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn pattern(key: [u8; 4], offset: usize) -> uint8x16_t {
    let k = rotate(key, offset);
    let mut bytes = [0u8; W];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = k[i % 4];
    }
    // SAFETY: `bytes` is 16 readable bytes.
    unsafe { vld1q_u8(bytes.as_ptr()) }
}

/// NEON in-place masking.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn apply_neon(buf: &mut [u8], key: [u8; 4]) {
    let len = buf.len();
    if len < W {
        return scalar::apply_words(buf, key);
    }
    let p = buf.as_mut_ptr();
    // SAFETY: len >= W, so [len - W, len) is in bounds; the key patterns need NEON, which the
    // caller guarantees. The tail is taken before anything is stored.
    let (tail, k) = unsafe {
        (
            veorq_u8(vld1q_u8(p.add(len - W)), pattern(key, len - W)),
            pattern(key, 0),
        )
    };
    let mut i = 0;
    while i + 4 * W <= len {
        // SAFETY: [i, i + 4W) is in bounds; vld1q/vst1q need no alignment.
        unsafe {
            let q = p.add(i);
            let a = vld1q_u8(q);
            let b = vld1q_u8(q.add(W));
            let c = vld1q_u8(q.add(2 * W));
            let d = vld1q_u8(q.add(3 * W));
            vst1q_u8(q, veorq_u8(a, k));
            vst1q_u8(q.add(W), veorq_u8(b, k));
            vst1q_u8(q.add(2 * W), veorq_u8(c, k));
            vst1q_u8(q.add(3 * W), veorq_u8(d, k));
        }
        i += 4 * W;
    }
    while i + W <= len {
        // SAFETY: [i, i + W) is in bounds.
        unsafe {
            let q = p.add(i);
            vst1q_u8(q, veorq_u8(vld1q_u8(q), k));
        }
        i += W;
    }
    // The loop covered [0, i) with i > len - W; the tail covers the rest, and where it overlaps
    // bytes already stored it stores the same values, computed from the same original bytes.
    // SAFETY: [len - W, len) is in bounds.
    unsafe { vst1q_u8(p.add(len - W), tail) };
}

/// NEON fused copy.
///
/// # Safety
/// The CPU must support NEON.
///
/// # Panics
/// If `dst` and `src` differ in length.
#[target_feature(enable = "neon")]
pub(super) unsafe fn copy_neon(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len(), "copy_masked: length mismatch");
    let len = src.len();
    if len < W {
        return scalar::copy_words(dst, src, key);
    }
    let d = dst.as_mut_ptr().cast::<u8>();
    let s = src.as_ptr();
    // SAFETY: the caller guarantees NEON.
    let k = unsafe { pattern(key, 0) };
    let mut i = 0;
    while i + 4 * W <= len {
        // SAFETY: [i, i + 4W) is in bounds of both slices, which cannot overlap.
        unsafe {
            let a = vld1q_u8(s.add(i));
            let b = vld1q_u8(s.add(i + W));
            let c = vld1q_u8(s.add(i + 2 * W));
            let e = vld1q_u8(s.add(i + 3 * W));
            vst1q_u8(d.add(i), veorq_u8(a, k));
            vst1q_u8(d.add(i + W), veorq_u8(b, k));
            vst1q_u8(d.add(i + 2 * W), veorq_u8(c, k));
            vst1q_u8(d.add(i + 3 * W), veorq_u8(e, k));
        }
        i += 4 * W;
    }
    while i + W <= len {
        // SAFETY: [i, i + W) is in bounds of both slices.
        unsafe { vst1q_u8(d.add(i), veorq_u8(vld1q_u8(s.add(i)), k)) };
        i += W;
    }
    if i < len {
        // SAFETY: len >= W, so [len - W, len) is in bounds of both slices.
        unsafe {
            let t = veorq_u8(vld1q_u8(s.add(len - W)), pattern(key, len - W));
            vst1q_u8(d.add(len - W), t);
        }
    }
}
