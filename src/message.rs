//! What a connection delivers ([`Event`]) and what a caller sends ([`Message`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use bytes::Bytes;

use crate::close::CloseFrame;

/// Bytes that are guaranteed to be valid UTF-8: a cheaply clonable, zero-copy string.
///
/// Received text messages are handed out as `Utf8Bytes` split from the connection's buffer; turning
/// one into `&str` ([`Utf8Bytes::as_str`] or `Deref`) costs nothing.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// Wraps a static string without copying it.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// Wraps `bytes` without validating them.
    ///
    /// Only for bytes this crate has already validated; not public, so the invariant holds.
    pub(crate) fn from_bytes_unchecked(bytes: Bytes) -> Self {
        debug_assert!(simdutf8::basic::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// The string slice.
    pub fn as_str(&self) -> &str {
        // The bytes were validated on construction. Skipping the check would need `unsafe`, which
        // this crate keeps to the SIMD masking module, so this re-validates with simdutf8: for
        // ASCII that runs at tens of GB/s, far below the cost of receiving the bytes.
        simdutf8::basic::from_utf8(&self.0).expect("Utf8Bytes holds valid UTF-8 by construction")
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

/// The kind of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A text message: UTF-8.
    Text,
    /// A binary message: arbitrary bytes.
    Binary,
}

/// Something the peer sent, returned by [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete text message (the whole message, all fragments joined).
    Text(Utf8Bytes),
    /// A complete binary message (the whole message, all fragments joined).
    Binary(Bytes),
    /// Part of a text message, delivered as it arrives when
    /// [`Config::stream_messages`](crate::Config::stream_messages) is set. Each part is valid
    /// UTF-8 on its own (a code point split across reads is held back to the next part); `fin`
    /// marks the last part.
    TextFragment {
        /// This part's text.
        data: Utf8Bytes,
        /// Whether this is the last part of the message.
        fin: bool,
    },
    /// Part of a binary message, delivered as it arrives when
    /// [`Config::stream_messages`](crate::Config::stream_messages) is set; `fin` marks the last.
    BinaryFragment {
        /// This part's bytes.
        data: Bytes,
        /// Whether this is the last part of the message.
        fin: bool,
    },
    /// A ping with its payload (≤ 125 bytes). Unless
    /// [`Config::auto_pong`](crate::Config::auto_pong) is off, the pong is already queued.
    Ping(Bytes),
    /// A pong with its payload (≤ 125 bytes).
    Pong(Bytes),
    /// The peer's close frame: `None` when it carried no status code. The reply is already
    /// queued (unless this answers our own close); see [`Connection::state`](crate::Connection::state).
    Close(Option<CloseFrame>),
}

/// A whole message to send, or one received through the drivers (features `blocking`, `tokio`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (payload ≤ 125 bytes).
    Ping(Bytes),
    /// A pong (payload ≤ 125 bytes).
    Pong(Bytes),
    /// A close frame, or `None` for a close without a status code.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<Utf8Bytes>) -> Self {
        Message::Text(s.into())
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Message::Binary(b.into())
    }
}
