//! Incremental UTF-8 validation over `simdutf8`, for text that arrives in pieces.
//!
//! A code point split across frames or reads is carried over (at most 3 bytes), and an invalid
//! sequence is reported as soon as the bytes seen so far can no longer be the start of valid
//! UTF-8: the validator never waits for the end of a message to reject it.

/// The input can no longer be valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

/// Validates a stream of bytes as UTF-8, piece by piece.
#[derive(Debug, Clone, Default)]
pub(crate) struct Utf8Validator {
    /// The bytes of an incomplete code point at the end of the input seen so far.
    partial: [u8; 4],
    partial_len: usize,
}

impl Utf8Validator {
    /// Validates `input` as the continuation of everything fed so far.
    ///
    /// Errors as soon as the input seen so far cannot be a prefix of valid UTF-8. A trailing
    /// incomplete code point that is a valid prefix is kept for the next call.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        // Finish a code point carried over from the previous piece, a byte at a time.
        while self.partial_len > 0 {
            let Some((&byte, rest)) = input.split_first() else {
                return Ok(());
            };
            self.partial[self.partial_len] = byte;
            self.partial_len += 1;
            input = rest;
            match simdutf8::compat::from_utf8(&self.partial[..self.partial_len]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {}
            }
        }
        // Short ASCII (chat messages, JSON keys): simdutf8 hands inputs under 64 bytes to
        // `core::str::from_utf8`, whose word-at-a-time path needs aligned input; `is_ascii`
        // does not, and is several times cheaper here.
        if input.len() < 64 && input.is_ascii() {
            return Ok(());
        }
        let tail = incomplete_tail_len(input);
        let (head, tail) = input.split_at(input.len() - tail);
        // The fast path: one SIMD pass over everything but the last few bytes.
        if simdutf8::basic::from_utf8(head).is_err() {
            return Err(InvalidUtf8);
        }
        if !tail.is_empty() {
            // The tail is a lead byte plus too few continuation bytes: check it is a valid prefix
            // (an overlong or surrogate start such as E0 80 or ED A0 fails here, not later).
            match simdutf8::compat::from_utf8(tail) {
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Ok(_) => {}
                Err(_) => {
                    self.partial[..tail.len()].copy_from_slice(tail);
                    self.partial_len = tail.len();
                }
            }
        }
        Ok(())
    }

    /// How many bytes at the end of the input seen so far belong to an unfinished code point.
    pub fn pending(&self) -> usize {
        self.partial_len
    }

    /// Ends the message: errors if it stopped in the middle of a code point, and resets.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }

    /// Forgets any carried-over bytes.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }
}

/// The number of bytes at the end of `input` that start a code point too long to fit: 0 to 3.
fn incomplete_tail_len(input: &[u8]) -> usize {
    let n = input.len();
    for back in 1..=n.min(3) {
        let byte = input[n - back];
        if byte & 0xC0 != 0x80 {
            let needed = match byte {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if needed > back { back } else { 0 };
        }
    }
    0
}

/// Validates a complete piece of text (a close reason, a whole message).
pub(crate) fn validate(input: &[u8]) -> Result<(), InvalidUtf8> {
    // The same short-ASCII shortcut as `Utf8Validator::feed`.
    if input.len() < 64 && input.is_ascii() {
        return Ok(());
    }
    simdutf8::basic::from_utf8(input)
        .map(|_| ())
        .map_err(|_| InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_split(bytes: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::default();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, bytes.len());
            v.feed(&bytes[start..cut])?;
            start = cut;
        }
        v.feed(&bytes[start..])?;
        v.finish()
    }

    #[test]
    fn code_point_split_at_every_position() {
        let text = "aé€😀z".as_bytes();
        for cut in 0..=text.len() {
            assert_eq!(feed_split(text, &[cut]), Ok(()), "cut at {cut}");
        }
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(feed_split(text, &[a, b]), Ok(()));
            }
        }
    }

    #[test]
    fn fails_fast_on_invalid_prefix() {
        let mut v = Utf8Validator::default();
        v.feed(b"hello").unwrap();
        // 0xE0 0x80 can never start a valid sequence (overlong): rejected before the third byte.
        assert_eq!(v.feed(&[0xE0]), Ok(()));
        assert_eq!(v.feed(&[0x80]), Err(InvalidUtf8));
        // A surrogate start (ED A0) in one piece.
        assert_eq!(
            Utf8Validator::default().feed(&[b'a', 0xED, 0xA0]),
            Err(InvalidUtf8)
        );
        // Code points above U+10FFFF.
        assert_eq!(
            Utf8Validator::default().feed(&[0xF4, 0x90]),
            Err(InvalidUtf8)
        );
        assert_eq!(Utf8Validator::default().feed(&[0xF5]), Err(InvalidUtf8));
        assert_eq!(Utf8Validator::default().feed(&[0xC0]), Err(InvalidUtf8));
    }

    #[test]
    fn short_ascii_after_a_split_code_point() {
        // The ASCII shortcut must not skip the check of a code point carried over.
        let mut v = Utf8Validator::default();
        v.feed(&[b'x', 0xE2, 0x82]).unwrap();
        assert_eq!(v.feed(b"abc"), Err(InvalidUtf8));
        let mut v = Utf8Validator::default();
        v.feed(&[b'x', 0xE2, 0x82]).unwrap();
        v.feed(&[0xAC, b'a', b'b']).unwrap();
        assert_eq!(v.pending(), 0);
        assert_eq!(v.finish(), Ok(()));
        // Short inputs with a non-ASCII byte still get the full check.
        assert_eq!(
            Utf8Validator::default().feed(&[b'a', 0xFF]),
            Err(InvalidUtf8)
        );
        assert_eq!(Utf8Validator::default().feed(&[b'a', 0xC3]), Ok(()));
    }

    #[test]
    fn incomplete_end_is_reported_by_finish() {
        let mut v = Utf8Validator::default();
        v.feed(&[0xF0, 0x9F, 0x98]).unwrap();
        assert_eq!(v.pending(), 3);
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }

    proptest! {
        #[test]
        fn agrees_with_std_for_any_split(bytes in proptest::collection::vec(any::<u8>(), 0..64), cuts in proptest::collection::vec(0usize..64, 0..4)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let expected = core::str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(feed_split(&bytes, &cuts).is_ok(), expected);
        }

        #[test]
        fn valid_text_any_split(s in "\\PC{0,40}", cuts in proptest::collection::vec(0usize..200, 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(feed_split(s.as_bytes(), &cuts), Ok(()));
        }

        #[test]
        fn fails_exactly_when_the_prefix_cannot_be_valid(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            // Fed byte by byte, the validator succeeds exactly while the bytes seen so far are a
            // prefix of some valid UTF-8 string (std: Ok, or an error only for an unexpected end).
            let mut v = Utf8Validator::default();
            for k in 1..=bytes.len() {
                let r = v.feed(&bytes[k - 1..k]);
                let prefix_ok = match core::str::from_utf8(&bytes[..k]) {
                    Ok(_) => true,
                    Err(e) => e.error_len().is_none(),
                };
                prop_assert_eq!(r.is_ok(), prefix_ok, "at byte {}", k);
                if !prefix_ok { break; }
            }
        }
    }
}
