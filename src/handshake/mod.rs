//! The opening handshake (RFC 6455 §4): HTTP/1.1 Upgrade as sans-IO state machines.
//!
//! [`ClientHandshake`] and [`ServerHandshake`] take bytes in and give bytes out; neither touches
//! a socket. When the handshake succeeds each hands over a ready [`Connection`] that already
//! holds whatever bytes arrived after the handshake (a peer may send frames at once), so
//! nothing is lost between the two stages.
//!
//! - The **client** builds its request from a `ws://` / `wss://` URL ([`ClientRequest`]), with
//!   an optional `Origin`, subprotocols, extension offers and extra headers. It validates the
//!   response exactly (status `101`, `Upgrade`, `Connection`, `Sec-WebSocket-Accept`, only
//!   offered subprotocols and extensions). Any other status is a
//!   [`ClientOutcome::Rejected`] with the status, headers and body, to show the user.
//! - The **server** validates the request (§4.2.1) and exposes it as a [`Request`]; the
//!   application accepts ([`AcceptOptions`]: subprotocol, extension response, extra headers
//!   such as `Set-Cookie`) or rejects with any status. A malformed request gives a
//!   [`HandshakeError`] that carries the `400` / `405` / `426` / `431` response to send.
//! - **HTTP/2** (RFC 8441): a WebSocket is an extended `CONNECT` on one stream;
//!   [`Request::from_extended_connect`] validates it (the `http` conversions do so for HTTP/2
//!   requests) and [`Request::accept`] answers `200`. The HTTP/2 library carries the bytes.
//!
//! Both parse incrementally from any split, examine each byte once (a request dripping in a
//! byte at a time costs linear time), and buffer at most [`HandshakeLimits::max_header_size`]
//! bytes of head. HTTP parsing is done by `httparse`.
//!
//! # A client and a server, in memory
//!
//! ```
//! use wsproto::handshake::{
//!     AcceptOptions, ClientHandshake, ClientOutcome, ClientRequest, ServerHandshake,
//! };
//! use wsproto::Event;
//!
//! // Client: build the request.
//! let request = ClientRequest::from_url("ws://localhost:9001/chat")?
//!     .origin("http://localhost")?
//!     .protocols(["v2.chat", "v1.chat"])?;
//! let mut client = ClientHandshake::new(request);
//!
//! // Server: feed it what the client wrote (here in two pieces, as a socket may deliver it).
//! let mut server = ServerHandshake::new();
//! let (a, b) = client.request_bytes().split_at(30);
//! assert!(server.receive(a)?.is_none());
//! let request = server.receive(b)?.expect("a complete request");
//! assert_eq!(request.resource(), "/chat");
//! assert_eq!(request.origin(), Some("http://localhost"));
//! // The application decides: here, the subprotocol it prefers among those offered.
//! let options = AcceptOptions::new().subprotocol(request.select_subprotocol(&["v1.chat"]));
//! let (response, mut server_conn) = server.accept(options)?;
//!
//! // The server may send a message right away; it travels behind the 101 response.
//! server_conn.send_text("hello")?;
//! let mut wire = response;
//! wire.extend_from_slice(server_conn.output());
//! server_conn.consume_output(server_conn.output().len());
//!
//! // Client: feed the response; the frame after it is handed to the connection.
//! let ClientOutcome::Accepted { mut connection, response } = client.receive(&wire)? else {
//!     panic!("the server rejected the handshake");
//! };
//! assert_eq!(response.subprotocol(), Some("v1.chat"));
//! assert_eq!(connection.poll_event()?, Some(Event::Text("hello".into())));
//!
//! // And back: the client's frames are masked, the server reads them.
//! connection.send_text("hi")?;
//! server_conn.receive(connection.output());
//! assert_eq!(server_conn.poll_event()?, Some(Event::Text("hi".into())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A rejection
//!
//! ```
//! use wsproto::handshake::{ClientHandshake, ClientOutcome, ClientRequest, Headers, ServerHandshake};
//!
//! let mut client = ClientHandshake::new(ClientRequest::from_url("ws://example.com/private")?);
//! let mut server = ServerHandshake::new();
//! server.receive(client.request_bytes())?;
//! let mut headers = Headers::new();
//! headers.push("WWW-Authenticate", "Bearer realm=\"chat\"")?;
//! let wire = server.reject(401, &headers, b"sign in first")?;
//!
//! match client.receive(&wire)? {
//!     ClientOutcome::Rejected { status, headers, body, .. } => {
//!         assert_eq!(status, 401);
//!         assert_eq!(headers.get_str("www-authenticate"), Some("Bearer realm=\"chat\""));
//!         assert_eq!(body, b"sign in first");
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # `no_std`
//!
//! Everything here works with `alloc` only; without the `std` feature, create the client with
//! [`ClientHandshake::with_random`] and a [`RandomSource`](crate::RandomSource) of your
//! platform.
//!
//! [`Connection`]: crate::Connection

mod accept;
mod client;
mod error;
mod extended_connect;
mod headers;
#[cfg(feature = "http")]
mod http;
mod response;
mod scan;
mod server;
mod url;

pub use accept::{WEBSOCKET_GUID, accept_key};
pub use client::{ClientHandshake, ClientOutcome, ClientRequest, IntoClientRequest};
pub use error::HandshakeError;
pub use extended_connect::WEBSOCKET_PROTOCOL;
pub use headers::{Extension, ExtensionParam, Header, Headers, HeadersIter};
pub use response::Response;
#[cfg(any(feature = "blocking", feature = "tokio"))]
pub(crate) use response::error_response;
pub use server::{AcceptOptions, Request, ServerHandshake};
pub use url::WsUrl;

/// Limits on what a handshake buffers, so that memory stays bounded whatever the peer sends.
///
/// ```
/// use wsproto::handshake::{HandshakeLimits, ServerHandshake};
///
/// let server = ServerHandshake::new()
///     .limits(HandshakeLimits::default().max_header_size(16 * 1024).max_headers(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct HandshakeLimits {
    /// The largest message head (start line, header fields, empty line) in bytes. Larger is
    /// [`HandshakeError::HeadersTooLarge`] (a server answers `431`). Default 8 KiB.
    pub max_header_size: usize,
    /// The most header fields. More is [`HandshakeError::TooManyHeaders`] (a server answers
    /// `431`). Default 64.
    pub max_headers: usize,
    /// Client only: the most body bytes of a rejection kept for
    /// [`ClientOutcome::Rejected`]. Default 64 KiB.
    pub max_body_size: usize,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        HandshakeLimits {
            max_header_size: 8 * 1024,
            max_headers: 64,
            max_body_size: 64 * 1024,
        }
    }
}

impl HandshakeLimits {
    /// Sets [`HandshakeLimits::max_header_size`].
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    /// Sets [`HandshakeLimits::max_headers`].
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Sets [`HandshakeLimits::max_body_size`].
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }
}

/// Whether `name` is one of `reserved` (ASCII case-insensitive).
fn is_reserved(name: &str, reserved: &[&str]) -> bool {
    reserved.iter().any(|r| r.eq_ignore_ascii_case(name))
}
