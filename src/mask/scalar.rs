//! Portable masking in safe code: a byte-at-a-time reference and a word-at-a-time path.
//!
//! The word paths take a key already rotated to the slice's phase (byte `i` uses `key[i % 4]`);
//! only the reference takes a phase, so that it is checked independently of the rotation.

use core::mem::MaybeUninit;

/// The reference every other path is checked against: byte `i` is XORed with
/// `key[(phase + i) % 4]`, exactly as RFC 6455 §5.3 states it.
pub(super) fn apply_bytes(buf: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(phase + i) % 4];
    }
}

/// The reference for the fused copy: `dst[i] = src[i] ^ key[(phase + i) % 4]`.
///
/// # Panics
/// If `dst` and `src` differ in length.
pub(super) fn copy_bytes(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4], phase: usize) {
    assert_eq!(dst.len(), src.len(), "copy_masked: length mismatch");
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        d.write(s ^ key[(phase + i) % 4]);
    }
}

/// The key repeated to fill a `u64`, in memory order.
#[inline(always)]
fn key_word(key: [u8; 4]) -> u64 {
    let k = u32::from_ne_bytes(key) as u64;
    k | (k << 32)
}

/// Word-at-a-time masking in place: 8 bytes per step, then the last 0..=7 bytes one by one.
#[inline]
pub(super) fn apply_words(buf: &mut [u8], key: [u8; 4]) {
    let word = key_word(key);
    let (words, rest) = buf.as_chunks_mut::<8>();
    for w in words {
        *w = (u64::from_ne_bytes(*w) ^ word).to_ne_bytes();
    }
    // Every word is a multiple of 4 long, so the rest starts at key index 0 again.
    for (i, b) in rest.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Word-at-a-time fused copy: `dst[i] = src[i] ^ key[i % 4]`, writing every byte of `dst`.
///
/// # Panics
/// If `dst` and `src` differ in length.
#[inline]
pub(super) fn copy_words(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len(), "copy_masked: length mismatch");
    let word = key_word(key);
    let (dst_words, dst_rest) = dst.as_chunks_mut::<8>();
    let (src_words, src_rest) = src.as_chunks::<8>();
    for (d, s) in dst_words.iter_mut().zip(src_words) {
        let m = (u64::from_ne_bytes(*s) ^ word).to_ne_bytes();
        // One 8-byte store once optimized; spelled out so that it stays safe code.
        *d = [
            MaybeUninit::new(m[0]),
            MaybeUninit::new(m[1]),
            MaybeUninit::new(m[2]),
            MaybeUninit::new(m[3]),
            MaybeUninit::new(m[4]),
            MaybeUninit::new(m[5]),
            MaybeUninit::new(m[6]),
            MaybeUninit::new(m[7]),
        ];
    }
    for (i, (d, s)) in dst_rest.iter_mut().zip(src_rest).enumerate() {
        d.write(s ^ key[i % 4]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_5_7_masked_hello() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let masked = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let mut a = *b"Hello";
        apply_bytes(&mut a, key, 0);
        assert_eq!(a, masked);
        let mut b = *b"Hello";
        apply_words(&mut b, key);
        assert_eq!(b, masked);
        let mut c = [MaybeUninit::uninit(); 5];
        copy_words(&mut c, b"Hello", key);
        // SAFETY: copy_words wrote all 5 bytes.
        let c: [u8; 5] = unsafe { core::mem::transmute(c) };
        assert_eq!(c, masked);
    }

    #[test]
    fn reference_phase_is_an_offset_into_the_key() {
        // Unmasking "Hello" in two pieces, the second at payload offset 2.
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut a = [0x7f, 0x9f];
        let mut b = [0x4d, 0x51, 0x58];
        apply_bytes(&mut a, key, 0);
        apply_bytes(&mut b, key, 2);
        assert_eq!(&a, b"He");
        assert_eq!(&b, b"llo");
        // Only phase % 4 matters.
        let mut c = [0x4d, 0x51, 0x58];
        apply_bytes(&mut c, key, 6);
        assert_eq!(&c, b"llo");
    }

    #[test]
    #[should_panic(expected = "length mismatch")]
    fn copy_words_rejects_length_mismatch() {
        let mut d = [MaybeUninit::uninit(); 3];
        copy_words(&mut d, b"abcd", [1, 2, 3, 4]);
    }
}
