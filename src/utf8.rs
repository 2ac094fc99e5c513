//! UTF-8: incremental validation over `simdutf8`, for text that arrives in pieces, and
//! [`Utf8Bytes`], the validated string type text is handed out as.
//!
//! A code point split across frames or reads is carried over (at most 3 bytes), and an invalid
//! sequence is reported as soon as the bytes seen so far can no longer be the start of valid
//! UTF-8: the validator never waits for the end of a message to reject it.
//!
//! Besides `mask/`, this is the only module with `unsafe` code: one unchecked `&[u8]` → `&str`
//! conversion in [`Utf8Bytes::as_str`], sound because every way to make a `Utf8Bytes` validates
//! (see the `SAFETY` comment there). Miri runs this module's tests (`.ci/miri.sh`).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use bytes::Bytes;

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

/// Bytes that are guaranteed to be valid UTF-8: a cheaply clonable, zero-copy string.
///
/// Received text messages are handed out as `Utf8Bytes` split from the connection's buffer.
/// The bytes are validated once, when the value is made; turning one into `&str`
/// ([`Utf8Bytes::as_str`], `Deref`, `Display`, `Debug`) costs nothing after that.
///
/// ```
/// use wsproto::Utf8Bytes;
///
/// let text = Utf8Bytes::try_from(b"caf\xc3\xa9".to_vec())?; // validated here, once
/// assert_eq!(text.as_str(), "café"); // free
/// assert_eq!(text.len(), 5);
/// assert!(Utf8Bytes::try_from(vec![0xff]).is_err());
/// # Ok::<(), core::str::Utf8Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(
    /// Invariant: valid UTF-8. Private to this module, so only the constructors below make one.
    Bytes,
);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// Wraps a static string without copying it.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// Wraps `bytes` that this crate has already validated as UTF-8, without checking again.
    ///
    /// Crate-private: the callers are the receive path (a whole text message or fragment after
    /// the incremental validator accepted it, a close reason after `validate`). Debug builds
    /// check the claim.
    pub(crate) fn from_bytes_unchecked(bytes: Bytes) -> Self {
        debug_assert!(
            core::str::from_utf8(&bytes).is_ok(),
            "Utf8Bytes::from_bytes_unchecked given invalid UTF-8"
        );
        Utf8Bytes(bytes)
    }

    /// The string slice: no check, no copy.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: `self.0` is valid UTF-8. The field is private to this module and every
        // constructor guarantees it: `new` and `Default` (empty), `from_static`, `From<&str>`,
        // `From<String>` (from `str`s), `TryFrom<Bytes>` / `TryFrom<Vec<u8>>` (validated with
        // `simdutf8`, whose `basic` check agrees with `core::str::from_utf8`), and
        // `from_bytes_unchecked`, whose crate-internal callers pass only bytes the UTF-8
        // validator accepted (checked again by its debug assertion). `Bytes` is immutable, and
        // clones share the same bytes, so the invariant cannot be broken afterwards.
        unsafe { core::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Converts into the underlying [`Bytes`] without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s.into_bytes()))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(s: &String) -> Self {
        Utf8Bytes::from(s.as_str())
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Self {
        s.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = core::str::Utf8Error;
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        if simdutf8::basic::from_utf8(&bytes).is_ok() {
            return Ok(Utf8Bytes(bytes));
        }
        // Slow path only to build the detailed error.
        core::str::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = core::str::Utf8Error;
    fn try_from(v: Vec<u8>) -> Result<Self, Self::Error> {
        Utf8Bytes::try_from(Bytes::from(v))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
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

    #[test]
    fn utf8_bytes_constructors_and_views() {
        let from_str = Utf8Bytes::from("aé€😀");
        let from_string = Utf8Bytes::from(String::from("aé€😀"));
        let from_bytes = Utf8Bytes::try_from(Bytes::from_static("aé€😀".as_bytes())).unwrap();
        let from_vec = Utf8Bytes::try_from("aé€😀".as_bytes().to_vec()).unwrap();
        let unchecked = Utf8Bytes::from_bytes_unchecked(Bytes::from_static("aé€😀".as_bytes()));
        for t in [&from_str, &from_string, &from_bytes, &from_vec, &unchecked] {
            assert_eq!(t.as_str(), "aé€😀");
            assert_eq!(&**t, "aé€😀");
            assert_eq!(t.len(), 10);
            assert_eq!(alloc::format!("{t}"), "aé€😀");
            assert_eq!(alloc::format!("{t:?}"), "\"aé€😀\"");
            assert_eq!(*t, "aé€😀");
        }
        assert_eq!(Utf8Bytes::new().as_str(), "");
        assert_eq!(Utf8Bytes::default().as_str(), "");
        assert_eq!(Utf8Bytes::from_static("static").as_str(), "static");
        // A clone and the original share the bytes and both stay valid.
        let c = from_vec.clone();
        drop(from_vec);
        assert_eq!(c.as_str(), "aé€😀");
        assert_eq!(c.clone().into_bytes(), "aé€😀".as_bytes());
    }

    #[test]
    fn utf8_bytes_refuses_invalid_input() {
        for bad in [
            &[0xFFu8][..],
            &[b'a', 0xC3],
            &[0xED, 0xA0, 0x80],
            &[0xF4, 0x90, 0x80, 0x80],
            &[0xE0, 0x80, 0x80],
        ] {
            assert!(Utf8Bytes::try_from(bad.to_vec()).is_err(), "{bad:x?}");
            assert!(Utf8Bytes::try_from(Bytes::copy_from_slice(bad)).is_err());
        }
        // The error is std's, with its position.
        let e = Utf8Bytes::try_from(b"ab\xff".to_vec()).unwrap_err();
        assert_eq!(e.valid_up_to(), 2);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "given invalid UTF-8")]
    fn unchecked_constructor_asserts_in_debug_builds() {
        let _ = Utf8Bytes::from_bytes_unchecked(Bytes::from_static(&[b'a', 0xFF]));
    }

    proptest! {
        #[test]
        fn utf8_bytes_agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let expected = core::str::from_utf8(&bytes).ok().map(String::from);
            let made = Utf8Bytes::try_from(bytes).ok();
            prop_assert_eq!(made.as_ref().map(|t| t.as_str()), expected.as_deref());
        }

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
