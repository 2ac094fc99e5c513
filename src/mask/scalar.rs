//! Portable masking: a byte-at-a-time reference and a word-at-a-time path.

/// The reference implementation every faster path is checked against.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn apply_mask_scalar(buf: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(phase + i) % 4];
    }
}

/// Word-at-a-time masking in safe code: 8 bytes per step with the key rotated to the phase.
pub(crate) fn apply_mask_words(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let phase = phase % 4;
    let rotated = [
        key[phase],
        key[(phase + 1) % 4],
        key[(phase + 2) % 4],
        key[(phase + 3) % 4],
    ];
    let word = u64::from_ne_bytes([
        rotated[0], rotated[1], rotated[2], rotated[3], rotated[0], rotated[1], rotated[2],
        rotated[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= rotated[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn rfc_5_7_masked_hello() {
        let mut payload = *b"Hello";
        apply_mask_words(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn words_match_scalar_for_all_small_lengths_and_phases() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..64 {
            for phase in 0..8 {
                let data: Vec<u8> = (0..len as u8).collect();
                let mut a = data.clone();
                let mut b = data.clone();
                apply_mask_scalar(&mut a, key, phase);
                apply_mask_words(&mut b, key, phase);
                assert_eq!(a, b, "len {len} phase {phase}");
            }
        }
    }
}
