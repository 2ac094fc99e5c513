//! Drivers that run a [`Connection`](crate::Connection) over real I/O.
//!
//! The core does no I/O; these thin adapters move bytes between it and a transport, using only
//! the crate's public API, in the order documented on [`Connection`](crate::Connection): feed
//! bytes in, drain events and output, sleep until the transport or a timer needs attention.
//!
//! - [`blocking`] (feature `blocking`): a [`WebSocket`](blocking::WebSocket) over
//!   [`std::io::Read`] + [`std::io::Write`]; read timeouts on the socket drive the timers.
//! - [`tokio`](mod@tokio) (feature `tokio`): a [`WebSocketStream`](tokio::WebSocketStream) over
//!   tokio's `AsyncRead + AsyncWrite`, usable as a `Stream` and a `Sink`, and splittable into
//!   a reading and a writing half.
//!
//! Both write with vectored I/O (the connection's queued output is handed over as a list of
//! slices), deliver whole messages as [`Message`](crate::Message)s, and report a transport that
//! drops mid-frame as an [`Error`] rather than hanging or panicking.

use core::fmt;

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "tokio")]
pub mod tokio;

use crate::message::{Event, Message};

/// Why a driver call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed (connection reset, broken pipe, a read or write error).
    Io(std::io::Error),
    /// The connection failed: the peer broke the protocol (the close frame saying why has been
    /// written), the transport ended before the close handshake, or a timer expired.
    Connection(crate::Error),
    /// A message could not be sent (for example after a close frame was sent); nothing was
    /// queued.
    Send(crate::SendError),
    /// The connection is closed: the close handshake finished (or the connection failed and its
    /// error was already returned) and the transport is done. Nothing more will be read.
    Closed,
    /// A message fragment arrived because [`Config::stream_messages`](crate::Config) is on; the
    /// message-reading methods deliver whole messages only. Read events instead.
    Fragment,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Connection(e) => write!(f, "connection failed: {e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::Fragment => f.write_str(
                "a message fragment arrived (Config::stream_messages is on); read events instead",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Connection(e) => Some(e),
            Error::Send(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        Error::Connection(e)
    }
}

impl From<crate::SendError> for Error {
    fn from(e: crate::SendError) -> Self {
        Error::Send(e)
    }
}

/// Turns an event into the message the drivers deliver.
fn event_to_message(event: Event) -> Result<Message, Error> {
    Ok(match event {
        Event::Text(text) => Message::Text(text),
        Event::Binary(data) => Message::Binary(data),
        Event::Ping(payload) => Message::Ping(payload),
        Event::Pong(payload) => Message::Pong(payload),
        Event::Close(frame) => Message::Close(frame),
        Event::TextFragment { .. } | Event::BinaryFragment { .. } => return Err(Error::Fragment),
    })
}

/// How long to let one read block when the next timer is due `remaining` from now: never zero
/// (`set_read_timeout` refuses it), rounded up to whole milliseconds.
#[cfg(feature = "blocking")]
fn read_timeout_for(remaining: core::time::Duration) -> core::time::Duration {
    let ms = remaining.as_nanos().div_ceil(1_000_000).max(1);
    core::time::Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}
