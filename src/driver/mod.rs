//! Drivers that run a [`Connection`] over real I/O.
//!
//! The core does no I/O; these thin adapters move bytes between it and a transport, using only
//! the crate's public API, in the order documented on [`Connection`]: feed
//! bytes in, drain events and output, sleep until the transport or a timer needs attention.
//!
//! - [`blocking`] (feature `blocking`): a [`WebSocket`](blocking::WebSocket) over
//!   [`std::io::Read`] + [`std::io::Write`]; read timeouts on the socket drive the timers.
//! - [`tokio`](mod@tokio) (feature `tokio`): a [`WebSocketStream`](tokio::WebSocketStream) over
//!   tokio's `AsyncRead + AsyncWrite`, usable as a `Stream` and a `Sink`, and splittable into
//!   a reading and a writing half.
//! - [`hyper`](mod@hyper) (feature `hyper`) and [`axum`](mod@axum) (feature `axum`): upgrade a
//!   request a hyper or axum server received, over HTTP/1.1 or HTTP/2 (RFC 8441), to a tokio
//!   `WebSocketStream`; [`h2`](mod@h2) (feature `h2`): a client over HTTP/2.
//! - `tls` (feature `rustls`): `wss://` for both: `connect` runs TLS itself, and a
//!   `TlsAcceptor` puts TLS in front of a server.
//!
//! Both run the opening handshake too ([`handshake`](crate::handshake)): a client from a
//! `ws://` or `wss://` URL, a [`ClientRequest`] or an `http::Request`
//! ([`IntoClientRequest`](crate::handshake::IntoClientRequest)), or over a stream you
//! connected (such as TLS for `wss://`), optionally following redirects
//! ([`Options::max_redirects`]); a server from an accepted stream, deciding on the request
//! (subprotocol, rejection) in a callback (`accept_with`) or, when the decision needs to wait
//! for something, after `read_request` returned a `PendingAccept`. With the `deflate` feature
//! they negotiate permessage-deflate unless [`Options::deflate`] is turned off.
//!
//! Every [`Error`] converts into [`std::io::Error`] for `?` in I/O code.
//!
//! Both write with vectored I/O (the connection's queued output is handed over as a list of
//! slices), deliver whole messages as [`Message`]s, and report a transport that
//! drops mid-frame as an [`Error`] rather than hanging or panicking.

use core::fmt;
use core::time::Duration;
use std::string::String;
use std::vec::Vec;

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "rustls")]
pub mod tls;
// Without `rustls`: only the plain-TCP stream types `connect` returns.
#[cfg(not(feature = "rustls"))]
mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
// HTTP servers and HTTP/2: HTTP/1.1 Upgrade and RFC 8441 extended CONNECT.
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "h2")]
pub mod h2;
#[cfg(feature = "hyper")]
pub mod hyper;

use crate::config::Config;
use crate::connection::Connection;
#[cfg(feature = "deflate")]
use crate::extensions::deflate::DeflateConfig;
use crate::handshake::{
    AcceptOptions, ClientHandshake, ClientOutcome, ClientRequest, HandshakeError, HandshakeLimits,
    Headers, Request, Response, ServerHandshake,
};
use crate::message::{Event, Message};

/// Settings for a driver's handshake and the connection it creates.
///
/// ```
/// use std::time::Duration;
/// use wsproto::Config;
/// use wsproto::driver::Options;
///
/// let options = Options::default()
///     .config(Config::default().max_message_size(1 << 20))
///     .handshake_timeout(Some(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The connection's settings (limits, keepalive, close timeout).
    pub config: Config,
    /// Limits on the handshake's HTTP head.
    pub limits: HandshakeLimits,
    /// How long the opening handshake may take before it fails with
    /// [`io::ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut). Default 30 s; `None`: no
    /// limit. (The blocking driver needs a [`Transport`](blocking::Transport) with read
    /// timeouts to enforce it while a read blocks.)
    pub handshake_timeout: Option<Duration>,
    /// permessage-deflate (RFC 7692): a client offers it, a server accepts a client's offer.
    /// Default on, with [`DeflateConfig::default`]. A server driver then answers the offer
    /// itself, replacing any extension response an `accept_with` callback chose: turn this
    /// off to negotiate in the callback instead (with
    /// [`Request::negotiate_deflate`] and [`AcceptOptions::deflate`]).
    #[cfg(feature = "deflate")]
    pub deflate: Option<DeflateConfig>,
    /// The TLS client configuration `connect` uses for `wss://` URLs (feature `rustls`).
    /// Default `None`: [`tls::default_client_config`] (the webpki-roots root store, ALPN
    /// `http/1.1`). Give your own for a private CA or client certificates; set its
    /// `alpn_protocols` to `http/1.1` ([`tls::client_config`] does).
    #[cfg(feature = "rustls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// How many redirects (`301`, `302`, `307`, `308` with a `Location`) `connect` follows
    /// before it returns the redirect as [`Error::Rejected`]. Each hop opens a new TCP
    /// connection to the new URL ([`ClientRequest::redirect`]: same offers and header fields,
    /// credentials dropped when the host changes) and gets its own handshake timeout. A hop to
    /// `wss://` runs TLS (feature `rustls`; without it, [`Error::TlsRequired`]). `client` runs over a stream it was given and never
    /// follows. Default 0: redirects are returned, not followed.
    pub max_redirects: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: Config::default(),
            limits: HandshakeLimits::default(),
            max_redirects: 0,
            handshake_timeout: Some(Duration::from_secs(30)),
            #[cfg(feature = "deflate")]
            deflate: Some(DeflateConfig::default()),
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }
}

impl Options {
    /// Sets [`Options::config`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets [`Options::limits`].
    pub fn limits(mut self, limits: HandshakeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`Options::handshake_timeout`].
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`Options::deflate`].
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

    /// Sets [`Options::tls`]: `connect` uses `config` for `wss://` URLs.
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Sets [`Options::max_redirects`].
    pub fn max_redirects(mut self, redirects: usize) -> Self {
        self.max_redirects = redirects;
        self
    }
}

/// A server's refusal of a handshake request, returned from an `accept_with` callback: the
/// response to send (any status 200–599, header fields, a body) before closing.
///
/// ```
/// use wsproto::driver::Rejection;
///
/// let rejection = Rejection::new(403).header("Content-Type", "text/plain")?.body("not here");
/// assert_eq!(rejection.status, 403);
/// # Ok::<(), wsproto::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// The HTTP status, 200–599.
    pub status: u16,
    /// Header fields to send (`Connection` and `Content-Length` are added).
    pub headers: Headers,
    /// The response body.
    pub body: Vec<u8>,
}

impl Rejection {
    /// A rejection with `status`, no extra header fields and an empty body.
    pub fn new(status: u16) -> Self {
        Rejection {
            status,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, HandshakeError> {
        self.headers.push(name, value)?;
        Ok(self)
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// The answer to a request that has `error`, so that `?` works inside an `accept_with`
/// callback: the error's own response ([`HandshakeError::response`]: its status, `Allow` or
/// `Sec-WebSocket-Version` fields, and the error's text as the body) when it is about the
/// request; otherwise (the callback built something invalid, such as a header value with a line
/// break) a `500 Internal Server Error` with the error's text.
///
/// ```
/// use wsproto::handshake::AcceptOptions;
/// use wsproto::driver::Rejection;
///
/// fn decide(cookie: &str) -> Result<AcceptOptions, Rejection> {
///     Ok(AcceptOptions::new().header("Set-Cookie", cookie)?) // a bad value becomes a 500
/// }
/// assert_eq!(decide("a\r\nInjected: 1").unwrap_err().status, 500);
/// assert!(decide("session=1").is_ok());
/// ```
impl From<HandshakeError> for Rejection {
    fn from(error: HandshakeError) -> Self {
        let (status, mut headers, body) = crate::handshake::error_response(&error)
            .unwrap_or_else(|| (500, Headers::new(), std::format!("{error}\n")));
        // `reject` writes `Connection` itself.
        let mut kept = Headers::new();
        for h in &headers {
            if !h.name().eq_ignore_ascii_case("Connection") {
                // Already valid: these came out of a `Headers`.
                let _ = kept.push(h.name(), h.value());
            }
        }
        headers = kept;
        if !headers.contains("Content-Type") {
            let _ = headers.push("Content-Type", "text/plain; charset=utf-8");
        }
        Rejection {
            status,
            headers,
            body: body.into_bytes(),
        }
    }
}

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
    /// The opening handshake failed: the peer's HTTP was not a valid upgrade (a server has
    /// answered it with the error's response), or the URL or an option was unusable.
    Handshake(HandshakeError),
    /// The handshake was refused: for a client, the server's answer (a `401`, `404`, a
    /// redirect, …); for a server, the rejection its callback chose, which has been sent.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The response's header fields.
        headers: Headers,
        /// The response body (for a client: as much as arrived, up to
        /// [`HandshakeLimits::max_body_size`]).
        body: Vec<u8>,
    },
    /// A `wss://` URL was given to `connect` without the `rustls` feature: turn it on, or
    /// connect a TLS stream yourself and pass it to `client`.
    TlsRequired,
    /// TLS failed: the handshake (an untrusted or wrong certificate, the peer's alert, a peer
    /// that does not speak TLS), or a TLS record later (feature `rustls`).
    #[cfg(feature = "rustls")]
    Tls(tls::TlsError),
    /// The connection is closed: the close handshake finished (or the connection failed and its
    /// error was already returned) and the transport is done. Nothing more will be read.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Connection(e) => write!(f, "connection failed: {e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Rejected { status, body, .. } => {
                // Say plainly that no upgrade happened: behind a proxy that does not forward
                // `Upgrade`/`Connection`, this is the only symptom the client sees.
                write!(
                    f,
                    "handshake rejected: the server answered {status} without upgrading to \
                     WebSocket (101 expected)"
                )?;
                // A short plain-text body usually says why (wsproto's servers send one).
                match core::str::from_utf8(body).map(str::trim) {
                    Ok(text) if !text.is_empty() && text.len() <= 200 && !text.contains('<') => {
                        write!(f, ": {text:?}")
                    }
                    _ => Ok(()),
                }
            }
            Error::TlsRequired => f.write_str(
                "wss:// needs TLS: connect a TLS stream and pass it to `client` instead",
            ),
            #[cfg(feature = "rustls")]
            Error::Tls(e) => write!(f, "TLS failed: {e}"),
            Error::Closed => f.write_str("the connection is closed"),
        }
    }
}

impl Error {
    /// The `Location` of a redirect the server answered with ([`Error::Rejected`] with a `3xx`
    /// status), to follow with [`ClientRequest::redirect`]
    /// (or let `connect` follow: [`Options::max_redirects`]).
    pub fn location(&self) -> Option<&str> {
        match self {
            Error::Rejected {
                status: 300..=399,
                headers,
                ..
            } => headers.get_str("Location"),
            _ => None,
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Connection(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Handshake(e) => Some(e),
            #[cfg(feature = "rustls")]
            Error::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    /// [`Error::Io`], or [`Error::Tls`] for the I/O error a TLS stream reports when TLS failed.
    fn from(e: std::io::Error) -> Self {
        #[cfg(feature = "rustls")]
        if let Some(tls) = tls::from_io(&e) {
            return Error::Tls(tls);
        }
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

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

/// For `?` in functions that return [`std::io::Result`]: an [`Error::Io`] is handed back as it
/// was; the others become an `io::Error` of the closest [`ErrorKind`](std::io::ErrorKind) that
/// carries the driver error (get it back with [`std::io::Error::get_ref`] and `downcast_ref`).
///
/// | driver error | `io::ErrorKind` |
/// | --- | --- |
/// | `Io(e)` | `e.kind()` (the same error) |
/// | `Connection(UnexpectedEof)` | `UnexpectedEof` |
/// | `Connection(KeepaliveTimeout \| CloseTimeout)` | `TimedOut` |
/// | `Connection(Protocol(_))`, `Handshake(_)` from the peer | `InvalidData` |
/// | `Handshake(_)` from the caller's input (a bad URL, header, status) | `InvalidInput` |
/// | `Send(_)` | `InvalidInput` (`Send(Closed)`: `BrokenPipe`) |
/// | `Rejected { .. }` | `ConnectionRefused` |
/// | `TlsRequired` | `Unsupported` |
/// | `Closed` | `NotConnected` |
///
/// ```
/// fn echo_once(ws: &mut wsproto::driver::blocking::WebSocket<std::net::TcpStream>) -> std::io::Result<()> {
///     let message = ws.read()?; // wsproto::driver::Error -> std::io::Error
///     ws.send(message)?;
///     Ok(())
/// }
/// ```
impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        use std::io::ErrorKind;
        let error = match error {
            Error::Io(e) => return e,
            other => other,
        };
        let kind = match &error {
            Error::Io(e) => e.kind(),
            Error::Connection(crate::Error::UnexpectedEof) => ErrorKind::UnexpectedEof,
            Error::Connection(crate::Error::KeepaliveTimeout | crate::Error::CloseTimeout) => {
                ErrorKind::TimedOut
            }
            Error::Connection(_) => ErrorKind::InvalidData,
            Error::Send(crate::SendError::Closed) => ErrorKind::BrokenPipe,
            Error::Send(_) => ErrorKind::InvalidInput,
            Error::Handshake(e) if is_caller_error(e) => ErrorKind::InvalidInput,
            Error::Handshake(_) => ErrorKind::InvalidData,
            Error::Rejected { .. } => ErrorKind::ConnectionRefused,
            Error::TlsRequired => ErrorKind::Unsupported,
            #[cfg(feature = "rustls")]
            Error::Tls(_) => ErrorKind::InvalidData,
            Error::Closed => ErrorKind::NotConnected,
        };
        std::io::Error::new(kind, error)
    }
}

/// Whether a handshake error is about the caller's own input (not the peer's bytes).
fn is_caller_error(e: &HandshakeError) -> bool {
    matches!(
        e,
        HandshakeError::InvalidUrl(_)
            | HandshakeError::InvalidHeaderName(_)
            | HandshakeError::InvalidHeaderValue(_)
            | HandshakeError::ReservedHeader(_)
            | HandshakeError::InvalidSubprotocol(_)
            | HandshakeError::InvalidStatus(_)
            | HandshakeError::NotReady
            | HandshakeError::Finished
    )
}

/// Joins the fragments a connection with [`Config::stream_messages`](crate::Config) delivers
/// back into whole messages, for the drivers' message-reading methods (`read`, `Stream`), so
/// that no received data is lost to the choice of method: `read_event` gives the fragments
/// themselves.
///
/// A joined message is bounded by [`Config::max_message_size`](crate::Config): past it the
/// connection is closed with 1009 and the message's remaining fragments are dropped.
#[derive(Debug, Default)]
struct Reassembly {
    /// The message being joined: its kind and the bytes so far.
    partial: Option<(crate::MessageKind, bytes::BytesMut)>,
    /// A message over the limit is being dropped until its last fragment.
    dropping: bool,
}

impl Reassembly {
    /// Takes the next event: `Ok(Some(message))` for a whole message or a control frame,
    /// `Ok(None)` for a fragment that was kept (or dropped), and the error that closed the
    /// connection when a message grew past the limit.
    fn push(&mut self, event: Event, conn: &mut Connection) -> Result<Option<Message>, Error> {
        use crate::MessageKind;
        let (kind, data, fin) = match event {
            Event::Text(text) => return Ok(Some(Message::Text(text))),
            Event::Binary(data) => return Ok(Some(Message::Binary(data))),
            Event::Ping(payload) => return Ok(Some(Message::Ping(payload))),
            Event::Pong(payload) => return Ok(Some(Message::Pong(payload))),
            Event::Close(frame) => {
                self.partial = None;
                self.dropping = false;
                return Ok(Some(Message::Close(frame)));
            }
            Event::TextFragment { data, fin } => (MessageKind::Text, data.into_bytes(), fin),
            Event::BinaryFragment { data, fin } => (MessageKind::Binary, data, fin),
        };
        if self.dropping {
            self.dropping = !fin;
            return Ok(None);
        }
        let whole = match self.partial.take() {
            // A message that arrived as a single fragment: no copy.
            None if fin => data,
            partial => {
                let limit = conn.config().max_message_size;
                let (_, mut buf) = partial.unwrap_or((kind, bytes::BytesMut::new()));
                if buf.len().saturating_add(data.len()) > limit {
                    self.dropping = !fin;
                    // Only fails when a close was already sent; then the connection is ending.
                    let _ = conn.close(crate::CloseCode::MESSAGE_TOO_BIG, "message too big");
                    return Err(Error::Connection(crate::Error::Protocol(
                        crate::ProtocolError::MessageTooLarge { limit },
                    )));
                }
                buf.extend_from_slice(&data);
                if !fin {
                    self.partial = Some((kind, buf));
                    return Ok(None);
                }
                buf.freeze()
            }
        };
        Ok(Some(match kind {
            // Each text fragment is valid UTF-8 on its own (the connection holds a split code
            // point back for the next one), so their concatenation is too.
            MessageKind::Text => Message::Text(crate::Utf8Bytes::from_bytes_unchecked(whole)),
            MessageKind::Binary => Message::Binary(whole),
        }))
    }
}

/// How long to let one read block when the next timer is due `remaining` from now: never zero
/// (`set_read_timeout` refuses it), rounded up to whole milliseconds.
#[cfg(feature = "blocking")]
fn read_timeout_for(remaining: core::time::Duration) -> core::time::Duration {
    let ms = remaining.as_nanos().div_ceil(1_000_000).max(1);
    core::time::Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

// ----- the handshake, minus the I/O (shared by both drivers) -----

/// Starts a client handshake for `request`, adding the permessage-deflate offer.
fn client_handshake(request: ClientRequest, options: &Options) -> Result<ClientHandshake, Error> {
    // The handshake checks the server's answer and turns compression on in the connection.
    #[cfg(feature = "deflate")]
    let request = match &options.deflate {
        Some(deflate) => request.deflate(deflate.clone()),
        None => request,
    };
    Ok(ClientHandshake::with_config(request, options.config.clone()).limits(options.limits))
}

/// What a client handshake's outcome means for the driver: `None` to read more.
fn client_outcome(outcome: ClientOutcome) -> Result<Option<(Connection, Response)>, Error> {
    match outcome {
        ClientOutcome::Partial => Ok(None),
        ClientOutcome::Rejected {
            status,
            headers,
            body,
            ..
        } => Err(Error::Rejected {
            status,
            headers,
            body,
        }),
        ClientOutcome::Accepted {
            connection,
            response,
        } => Ok(Some((connection, response))),
    }
}

/// A new server handshake with the driver's options.
fn server_handshake(options: &Options) -> ServerHandshake {
    ServerHandshake::with_config(options.config.clone()).limits(options.limits)
}

/// The server's answer to a complete request.
#[allow(clippy::large_enum_variant)] // made once per connection; boxing would only add a step
enum ServerAnswer {
    /// Write the bytes, then run the connection.
    Accept(Vec<u8>, Connection),
    /// Write the bytes (possibly none), close, and report the error.
    Refuse(Vec<u8>, Error),
}

/// Lets `decide` accept or reject the request `handshake` holds (negotiating
/// permessage-deflate), and produces the response.
fn server_answer<F>(handshake: &mut ServerHandshake, options: &Options, decide: F) -> ServerAnswer
where
    F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
{
    let Some(request) = handshake.request() else {
        return ServerAnswer::Refuse(Vec::new(), Error::Handshake(HandshakeError::NotReady));
    };
    // Negotiated before the application decides, so that its options get the answer added.
    #[cfg(feature = "deflate")]
    let deflate = options
        .deflate
        .as_ref()
        .and_then(|deflate| request.negotiate_deflate(deflate));
    let _ = options;
    match decide(request) {
        Ok(accept) => {
            #[cfg(feature = "deflate")]
            let accept = match deflate {
                Some(params) => accept.deflate(params),
                None => accept,
            };
            match handshake.accept(accept) {
                Ok((response, connection)) => ServerAnswer::Accept(response, connection),
                // The callback chose something the client did not offer: a server bug.
                Err(e) => ServerAnswer::Refuse(internal_error(handshake), Error::Handshake(e)),
            }
        }
        Err(rejection) => {
            match handshake.reject(rejection.status, &rejection.headers, &rejection.body) {
                Ok(response) => ServerAnswer::Refuse(
                    response,
                    Error::Rejected {
                        status: rejection.status,
                        headers: rejection.headers,
                        body: rejection.body,
                    },
                ),
                Err(e) => ServerAnswer::Refuse(internal_error(handshake), Error::Handshake(e)),
            }
        }
    }
}

/// A `500` for a handshake the application could not answer.
fn internal_error(handshake: &mut ServerHandshake) -> Vec<u8> {
    handshake
        .reject(500, &Headers::new(), b"")
        .unwrap_or_default()
}

/// The time left until `deadline`, or an error once it has passed.
#[cfg(feature = "blocking")]
fn time_left(deadline: Option<std::time::Instant>) -> Result<Option<Duration>, Error> {
    match deadline {
        None => Ok(None),
        Some(deadline) => match deadline.checked_duration_since(std::time::Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(handshake_timed_out()),
        },
    }
}

fn handshake_timed_out() -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the opening handshake timed out",
    ))
}

/// The address `connect` dials for `request`, and whether it is `wss://`; `wss://` is refused
/// without the `rustls` feature.
fn tcp_target(request: &ClientRequest) -> Result<(String, u16, bool), Error> {
    let (host, port, secure) = request.target()?;
    if secure && !cfg!(feature = "rustls") {
        return Err(Error::TlsRequired);
    }
    Ok((host, port, secure))
}

/// The `host:port` a client connection goes to, for its tracing span (a generic stream gives
/// no peer address: the request's target stands for it).
#[cfg(feature = "tracing")]
fn peer_of(request: &ClientRequest) -> String {
    match request.target() {
        Ok((host, port, _)) => std::format!("{host}:{port}"),
        Err(_) => String::new(),
    }
}

/// The request to follow a redirect with, when `result` is one that `options` allows
/// following (`redirects` already followed); `None` to return `result` as it is.
fn redirect_target<T>(
    result: &Result<T, Error>,
    request: &ClientRequest,
    options: &Options,
    redirects: usize,
) -> Option<Result<ClientRequest, Error>> {
    let Err(Error::Rejected {
        status: 301 | 302 | 307 | 308,
        headers,
        ..
    }) = result
    else {
        return None;
    };
    if redirects >= options.max_redirects {
        return None;
    }
    let location = headers.get_str("Location")?;
    Some(request.redirect(location).map_err(Error::Handshake))
}
