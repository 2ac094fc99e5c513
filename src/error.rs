//! Error types: what the peer did wrong ([`ProtocolError`]), how a connection ended badly
//! ([`Error`]), and what a caller asked for that cannot be sent ([`SendError`]).
//!
//! Which call returns which error, and why there are four types plus the drivers' one: the
//! crate docs, section "Errors" (`src/lib.rs`).

use core::fmt;

use crate::close::CloseCode;

/// A violation of RFC 6455 (or a configured limit) by the peer.
///
/// Each one fails the connection: the close frame with [`ProtocolError::close_code`] is queued
/// (unless one was already sent) and the connection moves to
/// [`State::Closed`](crate::State::Closed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A server received a frame without the MASK bit (§5.1).
    UnmaskedFrame,
    /// A client received a frame with the MASK bit (§5.1).
    MaskedFrame,
    /// RSV bits were set that no negotiated extension defines (§5.2); holds the three bits.
    ReservedBits(u8),
    /// A reserved opcode (0x3–0x7, 0xB–0xF) (§5.2).
    ReservedOpcode(u8),
    /// A 64-bit payload length with its most significant bit set (§5.2).
    PayloadLengthOverflow,
    /// A control frame with a payload over 125 bytes (§5.5).
    ControlFrameTooLong(u64),
    /// A control frame without FIN (§5.5).
    FragmentedControlFrame,
    /// A continuation frame with no message in progress (§5.4).
    UnexpectedContinuation,
    /// A text or binary frame while a fragmented message is still in progress (§5.4).
    ExpectedContinuation,
    /// A text message (or close reason) that is not valid UTF-8 (§8.1).
    InvalidUtf8,
    /// A close frame with a one-byte payload (§5.5.1).
    CloseFrameTooShort,
    /// A close frame with a status code that may not be sent (§7.4).
    InvalidCloseCode(u16),
    /// A close frame whose reason is not valid UTF-8 (§5.5.1).
    InvalidCloseReason,
    /// A frame payload above [`Config::max_frame_size`](crate::Config::max_frame_size).
    FrameTooLarge {
        /// The frame's announced payload length.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message above [`Config::max_message_size`](crate::Config::max_message_size).
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A compressed message that does not inflate (RFC 7692 §7.2.2).
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code RFC 6455 asks for: 1007 for bad UTF-8 or compressed data, 1009 for
    /// exceeded limits, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnmaskedFrame => f.write_str("client frame is not masked"),
            ProtocolError::MaskedFrame => f.write_str("server frame is masked"),
            ProtocolError::ReservedBits(bits) => write!(
                f,
                "reserved bits {bits:#05b} set without an extension that defines them"
            ),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::PayloadLengthOverflow => {
                f.write_str("64-bit payload length has its most significant bit set")
            }
            ProtocolError::ControlFrameTooLong(n) => write!(
                f,
                "control frame payload of {n} bytes (at most 125 allowed)"
            ),
            ProtocolError::FragmentedControlFrame => f.write_str("control frame without FIN"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame with no message in progress")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame while a fragmented message is in progress")
            }
            ProtocolError::InvalidUtf8 => f.write_str("text message is not valid UTF-8"),
            ProtocolError::CloseFrameTooShort => f.write_str("close frame with a one-byte payload"),
            ProtocolError::InvalidCloseCode(code) => {
                write!(f, "close frame with invalid status code {code}")
            }
            ProtocolError::InvalidCloseReason => f.write_str("close reason is not valid UTF-8"),
            ProtocolError::FrameTooLarge { size, limit } => write!(
                f,
                "frame payload of {size} bytes exceeds the limit of {limit}"
            ),
            ProtocolError::MessageTooLarge { limit } => {
                write!(f, "message exceeds the limit of {limit} bytes")
            }
            ProtocolError::InvalidCompressedData => {
                f.write_str("compressed message does not inflate")
            }
        }
    }
}

/// Why a connection ended other than by a clean close handshake, returned once by
/// [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The peer violated the protocol; the close frame for it is queued.
    Protocol(ProtocolError),
    /// The transport reached end of input before the close handshake finished (close code 1006:
    /// abnormal closure). Nothing more will be written.
    UnexpectedEof,
    /// No pong arrived within [`Config::keepalive_timeout`](crate::Config::keepalive_timeout) of
    /// a keepalive ping; the transport should be dropped.
    KeepaliveTimeout,
    /// The close handshake did not finish within
    /// [`Config::close_timeout`](crate::Config::close_timeout); the transport should be dropped.
    CloseTimeout,
}

impl Error {
    /// The close code that describes this failure: the one sent for a protocol error, 1006 for
    /// the others (no close frame was exchanged).
    pub fn close_code(&self) -> CloseCode {
        match self {
            Error::Protocol(e) => e.close_code(),
            _ => CloseCode::ABNORMAL,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(e) => write!(f, "protocol error: {e} (close code {})", e.close_code()),
            Error::UnexpectedEof => {
                f.write_str("connection closed without a close handshake (1006)")
            }
            Error::KeepaliveTimeout => {
                f.write_str("no pong received in time after a keepalive ping")
            }
            Error::CloseTimeout => f.write_str("close handshake timed out"),
        }
    }
}

/// A request to send that was refused; nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// A close frame was already sent (or the connection failed): no more data may be sent (§5.5.1).
    Closed,
    /// The close code may not be sent (1004–1006, 1015, or outside 1000–4999's defined ranges).
    InvalidCloseCode(u16),
    /// The close reason is longer than 123 bytes.
    CloseReasonTooLong(usize),
    /// A ping or pong payload is longer than 125 bytes.
    ControlPayloadTooLong(usize),
    /// A whole message or a new streamed message while a streamed message is still open.
    MessageInProgress,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closing or closed"),
            SendError::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            SendError::CloseReasonTooLong(n) => {
                write!(f, "close reason of {n} bytes (at most 123 allowed)")
            }
            SendError::ControlPayloadTooLong(n) => {
                write!(f, "control payload of {n} bytes (at most 125 allowed)")
            }
            SendError::MessageInProgress => f.write_str("a streamed message is still in progress"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}
#[cfg(feature = "std")]
impl std::error::Error for Error {}
#[cfg(feature = "std")]
impl std::error::Error for SendError {}
