//! What a connection delivers ([`Event`]) and what a caller sends ([`Message`]).

use bytes::Bytes;

use crate::close::CloseFrame;
pub use crate::utf8::Utf8Bytes;

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
