//! [`HandshakeError`]: everything that can go wrong in an opening handshake.

use alloc::string::String;
use core::fmt;

/// Why an opening handshake failed, or why a handshake value could not be built.
///
/// Three kinds of failure share this type:
///
/// - **The peer's bytes are wrong** (a malformed or non-WebSocket request, a response that does
///   not complete the upgrade, limits exceeded). For errors in a *request* a server received,
///   [`status`](Self::status) is the HTTP status to answer with and
///   [`response`](Self::response) the complete response, ready to write before closing the
///   transport.
/// - **The caller asked for something invalid** (a bad URL, a header name that is not a token, a
///   subprotocol the client did not offer). Nothing was sent.
/// - **The handshake was used out of order** ([`NotReady`](Self::NotReady),
///   [`Finished`](Self::Finished)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    // ----- the peer's bytes -----
    /// The header block grew past [`HandshakeLimits::max_header_size`](super::HandshakeLimits)
    /// without ending. A server answers `431 Request Header Fields Too Large`.
    HeadersTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// More header fields than [`HandshakeLimits::max_headers`](super::HandshakeLimits). A server
    /// answers `431 Request Header Fields Too Large`.
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// The bytes are not an HTTP/1.x message head; says what is wrong. A server answers `400`.
    MalformedHttp(&'static str),
    /// A request with a method other than `GET` (RFC 6455 §4.2.1). A server answers
    /// `405 Method Not Allowed` with `Allow: GET`.
    MethodNotAllowed(String),
    /// HTTP/1.0 (or, through the `http` conversions, HTTP/2 or later): the upgrade needs
    /// HTTP/1.1 or later. A server answers `400`.
    UnsupportedHttpVersion,
    /// A request target that is neither a path (`/chat?room=1`) nor an absolute `http(s)` or
    /// `ws(s)` URI. A server answers `400`.
    InvalidRequestTarget,
    /// A required header field is absent (the name is given). A server answers `400`.
    MissingHeader(&'static str),
    /// A header field that may appear only once appears more than once. A server answers `400`.
    DuplicateHeader(&'static str),
    /// A header field has a value the handshake does not allow. A server answers `400`.
    InvalidHeader {
        /// The header field's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `Sec-WebSocket-Version` is missing or not `13`. A server answers `426 Upgrade Required`
    /// with `Sec-WebSocket-Version: 13` (RFC 6455 §4.2.2, §4.4).
    UnsupportedVersion,
    /// The server's `Sec-WebSocket-Accept` is not the one derived from our key (§4.1).
    AcceptMismatch,
    /// The subprotocol is not one the client offered: the server answered with it (§4.1), or a
    /// server application tried to accept with it.
    SubprotocolNotOffered(String),
    /// The extension is not one the client offered: the server answered with it (§9.1), or a
    /// server application tried to accept with it.
    ExtensionNotOffered(String),
    /// The transport ended before the response was complete.
    UnexpectedEof,
    /// An HTTP/2 (or later) request with a method other than `CONNECT`: over those versions a
    /// WebSocket is opened with an extended CONNECT (RFC 8441 §4). A server answers
    /// `405 Method Not Allowed` with `Allow: CONNECT`.
    ConnectRequired(String),
    /// An HTTP/2 `CONNECT` whose `:protocol` pseudo-header is missing or not `websocket`
    /// (RFC 8441 §4); the value, if any, is given. A server answers `400`.
    InvalidProtocolPseudoHeader(Option<String>),
    /// The HTTP/2 server did not enable the extended CONNECT protocol
    /// (`SETTINGS_ENABLE_CONNECT_PROTOCOL`, RFC 8441 §3): a client may not open a WebSocket
    /// over that connection.
    ExtendedConnectDisabled,
    /// A server kept receiving before it accepted or rejected: more than
    /// [`HandshakeLimits::max_header_size`](super::HandshakeLimits) bytes followed the request
    /// head (a client must wait for the response before sending, RFC 6455 §4.1). Close the
    /// transport.
    EarlyDataTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },

    // ----- the caller's input -----
    /// A `ws://` / `wss://` URL (or a host / resource given as parts) that cannot be used;
    /// says why.
    InvalidUrl(&'static str),
    /// A header name that is not an HTTP token.
    InvalidHeaderName(String),
    /// A header value with a line break or another control character (the header's name is
    /// given).
    InvalidHeaderValue(String),
    /// A header field the handshake sets itself (the name is given); use the dedicated builder
    /// method instead (`origin`, `protocols`, `extension`, `subprotocol`, …).
    ReservedHeader(String),
    /// A subprotocol name that is not an HTTP token, or offered twice.
    InvalidSubprotocol(String),
    /// A `Sec-WebSocket-Extensions` value (an offer or a response) that does not follow the
    /// grammar of RFC 6455 §9.1, or a response that lists one extension twice; says why.
    InvalidExtensions(&'static str),
    /// A status code that cannot be used here (a rejection must be 200–599).
    InvalidStatus(u16),

    // ----- order of calls -----
    /// The request has not been completely received yet.
    NotReady,
    /// The handshake already finished (accepted, rejected or failed): use the
    /// [`Connection`](crate::Connection) it produced.
    Finished,
}

impl HandshakeError {
    /// The HTTP status a server answers with when a request it received has this error: `400`,
    /// `405`, `426` or `431`. `None` for errors that are not about a received request.
    pub fn status(&self) -> Option<u16> {
        match self {
            HandshakeError::HeadersTooLarge { .. } | HandshakeError::TooManyHeaders { .. } => {
                Some(431)
            }
            HandshakeError::MethodNotAllowed(_) | HandshakeError::ConnectRequired(_) => Some(405),
            HandshakeError::UnsupportedVersion => Some(426),
            HandshakeError::MalformedHttp(_)
            | HandshakeError::UnsupportedHttpVersion
            | HandshakeError::InvalidRequestTarget
            | HandshakeError::MissingHeader(_)
            | HandshakeError::DuplicateHeader(_)
            | HandshakeError::InvalidHeader { .. }
            | HandshakeError::InvalidProtocolPseudoHeader(_) => Some(400),
            _ => None,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::EarlyDataTooLarge { limit } => write!(
                f,
                "more than {limit} bytes followed the request before it was answered"
            ),
            HandshakeError::HeadersTooLarge { limit } => {
                write!(f, "the header block exceeds the limit of {limit} bytes")
            }
            HandshakeError::TooManyHeaders { limit } => {
                write!(f, "more than {limit} header fields")
            }
            HandshakeError::MalformedHttp(what) => write!(f, "malformed HTTP message: {what}"),
            HandshakeError::MethodNotAllowed(method) => {
                write!(
                    f,
                    "method {method} is not allowed: a WebSocket handshake uses GET"
                )
            }
            HandshakeError::UnsupportedHttpVersion => {
                f.write_str("the WebSocket handshake needs HTTP/1.1 or later")
            }
            HandshakeError::InvalidRequestTarget => {
                f.write_str("the request target is not a path or an absolute http(s)/ws(s) URI")
            }
            HandshakeError::MissingHeader(name) => write!(f, "missing header field {name}"),
            HandshakeError::DuplicateHeader(name) => {
                write!(f, "header field {name} appears more than once")
            }
            HandshakeError::InvalidHeader { name, reason } => {
                write!(f, "invalid header field {name}: {reason}")
            }
            HandshakeError::UnsupportedVersion => {
                f.write_str("unsupported WebSocket version: Sec-WebSocket-Version must be 13")
            }
            HandshakeError::AcceptMismatch => f.write_str(
                "Sec-WebSocket-Accept does not match the Sec-WebSocket-Key that was sent",
            ),
            HandshakeError::SubprotocolNotOffered(p) => {
                write!(f, "subprotocol {p:?} was not offered by the client")
            }
            HandshakeError::ExtensionNotOffered(e) => {
                write!(f, "extension {e:?} was not offered by the client")
            }
            HandshakeError::UnexpectedEof => {
                f.write_str("the connection ended before the handshake response was complete")
            }
            HandshakeError::ConnectRequired(method) => write!(
                f,
                "method {method} is not allowed: over HTTP/2 a WebSocket is opened with an \
                 extended CONNECT (RFC 8441)"
            ),
            HandshakeError::InvalidProtocolPseudoHeader(None) => f.write_str(
                "an HTTP/2 WebSocket request is a CONNECT with :protocol websocket (RFC 8441); \
                 :protocol is missing",
            ),
            HandshakeError::InvalidProtocolPseudoHeader(Some(p)) => write!(
                f,
                "an HTTP/2 WebSocket request is a CONNECT with :protocol websocket (RFC 8441), \
                 not {p:?}"
            ),
            HandshakeError::ExtendedConnectDisabled => f.write_str(
                "the HTTP/2 server does not allow extended CONNECT \
                 (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441): no WebSocket over this connection",
            ),
            HandshakeError::InvalidUrl(why) => write!(f, "invalid WebSocket URL: {why}"),
            HandshakeError::InvalidHeaderName(name) => {
                write!(f, "header name {name:?} is not an HTTP token")
            }
            HandshakeError::InvalidHeaderValue(name) => {
                write!(f, "the value of header {name} contains a control character")
            }
            HandshakeError::ReservedHeader(name) => write!(
                f,
                "header {name} is set by the handshake itself; use the dedicated method"
            ),
            HandshakeError::InvalidSubprotocol(p) => {
                write!(
                    f,
                    "invalid subprotocol {p:?}: it must be an HTTP token, offered once"
                )
            }
            HandshakeError::InvalidExtensions(why) => {
                write!(f, "invalid Sec-WebSocket-Extensions value: {why}")
            }
            HandshakeError::InvalidStatus(status) => {
                write!(f, "status {status} cannot be used to reject a handshake")
            }
            HandshakeError::NotReady => f.write_str("the handshake request is not complete yet"),
            HandshakeError::Finished => f.write_str("the handshake has already finished"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HandshakeError {}
