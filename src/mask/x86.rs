//! x86_64 SIMD paths: SSE2 (16-byte vectors), AVX2 (32) and AVX-512 F (64).
//!
//! Every function takes a key already rotated to the slice's phase, so byte `i` of the slice is
//! XORed with `key[i % 4]`; a vector starting at byte offset `o` uses the key rotated by `o % 4`.
//!
//! Each path handles a slice of at least one vector like a good `memcpy`: the first and the last
//! (unaligned, possibly overlapping) vectors are computed from the original bytes before the main
//! loop runs over the aligned middle, and are stored after it, so the overlapping bytes are
//! written twice with the same value. Slices shorter than one vector fall back to the next
//! narrower path (AVX-512 to AVX2 to SSE2 to the word path). No masked loads or stores: they are
//! slow on some CPUs (AMD Zen 4).
//!
//! Each function is `unsafe` only because the CPU must support its target features; the memory
//! accesses are bounded by the slices' lengths.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::{rotate, scalar};

/// The key for a vector that starts at byte offset `offset`, as the lane value of `set1_epi32`
/// (x86 is little-endian, so the lane's bytes land in memory in this order).
#[inline(always)]
fn lane(key: [u8; 4], offset: usize) -> i32 {
    i32::from_ne_bytes(rotate(key, offset))
}

/// Number of bytes from `p` to the next multiple of `align` (a power of two).
#[inline(always)]
fn misalignment<T>(p: *const T, align: usize) -> usize {
    p.addr().wrapping_neg() & (align - 1)
}

/// The body of an in-place masking path for `$buf.len() >= $w`: see the module docs.
macro_rules! apply_body {
    ($buf:ident, $key:ident, $w:expr, $v:ty, $loadu:ident, $load:ident, $storeu:ident,
     $store:ident, $xor:ident, $splat:ident) => {{
        const W: usize = $w;
        let len = $buf.len();
        debug_assert!(len >= W);
        let p = $buf.as_mut_ptr();
        // SAFETY: len >= W, so [0, W) and [len - W, len) are in bounds of `buf`; the loads are
        // unaligned. Both vectors are taken before anything is stored.
        let (head, tail) = unsafe {
            (
                $xor($loadu(p.cast::<$v>()), $splat(lane($key, 0))),
                $xor(
                    $loadu(p.add(len - W).cast::<$v>()),
                    $splat(lane($key, len - W)),
                ),
            )
        };
        let mut i = misalignment(p, W);
        let k = $splat(lane($key, i));
        while i + 4 * W <= len {
            // SAFETY: p + i is W-aligned and [i, i + 4W) is in bounds.
            unsafe {
                let q = p.add(i).cast::<$v>();
                let a = $load(q);
                let b = $load(q.add(1));
                let c = $load(q.add(2));
                let d = $load(q.add(3));
                $store(q, $xor(a, k));
                $store(q.add(1), $xor(b, k));
                $store(q.add(2), $xor(c, k));
                $store(q.add(3), $xor(d, k));
            }
            i += 4 * W;
        }
        while i + W <= len {
            // SAFETY: p + i is W-aligned and [i, i + W) is in bounds.
            unsafe {
                let q = p.add(i).cast::<$v>();
                $store(q, $xor($load(q), k));
            }
            i += W;
        }
        // The aligned loop covered [misalignment, i) with i > len - W (or covered nothing, when
        // len < misalignment + W < 2W): head and tail cover the rest. Where they overlap bytes
        // already stored, they store the same values, computed from the same original bytes.
        // SAFETY: as for the loads of head and tail.
        unsafe {
            $storeu(p.cast::<$v>(), head);
            $storeu(p.add(len - W).cast::<$v>(), tail);
        }
    }};
}

/// The body of a fused copy path for `$src.len() >= $w` (lengths checked equal by the caller):
/// stores are aligned on `dst`, loads from `src` are unaligned.
macro_rules! copy_body {
    ($dst:ident, $src:ident, $key:ident, $w:expr, $v:ty, $loadu:ident, $storeu:ident,
     $store:ident, $xor:ident, $splat:ident) => {{
        const W: usize = $w;
        let len = $src.len();
        debug_assert!(len >= W && $dst.len() == len);
        let d = $dst.as_mut_ptr().cast::<u8>();
        let s = $src.as_ptr();
        // SAFETY: len >= W, so [0, W) and [len - W, len) are in bounds of both slices, which
        // cannot overlap (one is borrowed mutably); loads and stores are unaligned.
        unsafe {
            $storeu(
                d.cast::<$v>(),
                $xor($loadu(s.cast::<$v>()), $splat(lane($key, 0))),
            );
            $storeu(
                d.add(len - W).cast::<$v>(),
                $xor(
                    $loadu(s.add(len - W).cast::<$v>()),
                    $splat(lane($key, len - W)),
                ),
            );
        }
        let mut i = misalignment(d, W);
        let k = $splat(lane($key, i));
        while i + 4 * W <= len {
            // SAFETY: d + i is W-aligned and [i, i + 4W) is in bounds of both slices.
            unsafe {
                let q = d.add(i).cast::<$v>();
                let r = s.add(i).cast::<$v>();
                let a = $loadu(r);
                let b = $loadu(r.add(1));
                let c = $loadu(r.add(2));
                let e = $loadu(r.add(3));
                $store(q, $xor(a, k));
                $store(q.add(1), $xor(b, k));
                $store(q.add(2), $xor(c, k));
                $store(q.add(3), $xor(e, k));
            }
            i += 4 * W;
        }
        while i + W <= len {
            // SAFETY: d + i is W-aligned and [i, i + W) is in bounds of both slices.
            unsafe {
                $store(
                    d.add(i).cast::<$v>(),
                    $xor($loadu(s.add(i).cast::<$v>()), k),
                );
            }
            i += W;
        }
    }};
}

/// SSE2 in-place masking.
///
/// # Safety
/// The CPU must support SSE2 (always true on x86_64).
#[target_feature(enable = "sse2")]
pub(super) unsafe fn apply_sse2(buf: &mut [u8], key: [u8; 4]) {
    if buf.len() < 16 {
        return scalar::apply_words(buf, key);
    }
    apply_body!(
        buf,
        key,
        16,
        __m128i,
        _mm_loadu_si128,
        _mm_load_si128,
        _mm_storeu_si128,
        _mm_store_si128,
        _mm_xor_si128,
        _mm_set1_epi32
    );
}

/// SSE2 fused copy.
///
/// # Safety
/// The CPU must support SSE2 (always true on x86_64).
///
/// # Panics
/// If `dst` and `src` differ in length.
#[target_feature(enable = "sse2")]
pub(super) unsafe fn copy_sse2(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len(), "copy_masked: length mismatch");
    if src.len() < 16 {
        return scalar::copy_words(dst, src, key);
    }
    copy_body!(
        dst,
        src,
        key,
        16,
        __m128i,
        _mm_loadu_si128,
        _mm_storeu_si128,
        _mm_store_si128,
        _mm_xor_si128,
        _mm_set1_epi32
    );
}

/// AVX2 in-place masking.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn apply_avx2(buf: &mut [u8], key: [u8; 4]) {
    if buf.len() < 32 {
        // SAFETY: AVX2 implies SSE2.
        return unsafe { apply_sse2(buf, key) };
    }
    apply_body!(
        buf,
        key,
        32,
        __m256i,
        _mm256_loadu_si256,
        _mm256_load_si256,
        _mm256_storeu_si256,
        _mm256_store_si256,
        _mm256_xor_si256,
        _mm256_set1_epi32
    );
}

/// AVX2 fused copy.
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// If `dst` and `src` differ in length.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn copy_avx2(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len(), "copy_masked: length mismatch");
    if src.len() < 32 {
        // SAFETY: AVX2 implies SSE2.
        return unsafe { copy_sse2(dst, src, key) };
    }
    copy_body!(
        dst,
        src,
        key,
        32,
        __m256i,
        _mm256_loadu_si256,
        _mm256_storeu_si256,
        _mm256_store_si256,
        _mm256_xor_si256,
        _mm256_set1_epi32
    );
}

/// AVX-512 in-place masking.
///
/// # Safety
/// The CPU must support AVX-512 F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn apply_avx512(buf: &mut [u8], key: [u8; 4]) {
    if buf.len() < 64 {
        // SAFETY: AVX-512 F implies AVX2.
        return unsafe { apply_avx2(buf, key) };
    }
    apply_body!(
        buf,
        key,
        64,
        __m512i,
        _mm512_loadu_si512,
        _mm512_load_si512,
        _mm512_storeu_si512,
        _mm512_store_si512,
        _mm512_xor_si512,
        _mm512_set1_epi32
    );
}

/// AVX-512 fused copy.
///
/// # Safety
/// The CPU must support AVX-512 F.
///
/// # Panics
/// If `dst` and `src` differ in length.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn copy_avx512(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len(), "copy_masked: length mismatch");
    if src.len() < 64 {
        // SAFETY: AVX-512 F implies AVX2.
        return unsafe { copy_avx2(dst, src, key) };
    }
    copy_body!(
        dst,
        src,
        key,
        64,
        __m512i,
        _mm512_loadu_si512,
        _mm512_storeu_si512,
        _mm512_store_si512,
        _mm512_xor_si512,
        _mm512_set1_epi32
    );
}
