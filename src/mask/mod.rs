//! Masking and unmasking of frame payloads (RFC 6455 §5.3).
//!
//! Byte `i` of a payload is XORed with `key[i % 4]`. A payload that arrives across several reads
//! is unmasked piecewise: `phase` is the payload offset of the slice's first byte (only
//! `phase % 4` matters), so byte `i` of the slice uses `key[(phase + i) % 4]`.
//!
//! This is the only module that may hold `unsafe` code.

mod scalar;


/// XORs `buf` in place with `key`, starting at key index `phase % 4`.
#[inline]
pub(crate) fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    scalar::apply_mask_words(buf, key, phase);
}

/// Appends `src` masked with `key` (starting at key index `phase % 4`) to `dst`.
#[inline]
pub(crate) fn extend_masked(dst: &mut bytes::BytesMut, src: &[u8], key: [u8; 4], phase: usize) {
    let start = dst.len();
    dst.extend_from_slice(src);
    apply_mask(&mut dst[start..], key, phase);
}
