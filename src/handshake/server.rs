//! The server side of the opening handshake (RFC 6455 §4.2).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::accept::{accept_key, is_valid_key};
use super::error::HandshakeError;
use super::headers::{
    Extension, Headers, check_accepted_extensions, extensions_in, is_token, token_list,
};
use super::response::{Response, reason_phrase, write_head};
use super::scan::{HeadReader, header_slots, parse_error, to_headers};
use super::url::parse_authority;
use super::{HandshakeLimits, is_reserved};
use crate::config::{Config, Role};
use crate::connection::Connection;

/// A validated WebSocket upgrade request (RFC 6455 §4.2.1), for the application to accept or
/// reject.
///
/// Everything the handshake requires has been checked: `GET`, HTTP/1.1 or later, one `Host`,
/// `Upgrade: websocket`, `Connection: upgrade`, a `Sec-WebSocket-Key` of 16 bytes,
/// `Sec-WebSocket-Version: 13`, well-formed subprotocol and extension lists, no body. What is
/// left is the application's decision: the resource, the `Origin` (browsers send it; check it
/// to stop cross-site WebSocket hijacking), cookies or other credentials in
/// [`headers`](Self::headers), the subprotocol and the extensions to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: String,
    pub(crate) resource: String,
    pub(crate) headers: Headers,
    pub(crate) host: String,
    pub(crate) origin: Option<String>,
    pub(crate) key: String,
    pub(crate) protocols: Vec<String>,
    pub(crate) extensions: Vec<Extension>,
    /// An HTTP/2 extended CONNECT (RFC 8441): accepted with `200`, no key.
    pub(crate) extended_connect: bool,
}

impl Request {
    /// Validates a request given as parts: the method, whether the version is HTTP/1.1 or
    /// later, the request target, and the header fields. The server handshake and the `http`
    /// conversions both come here.
    pub(crate) fn from_parts(
        method: &str,
        http11: bool,
        target: &str,
        headers: Headers,
    ) -> Result<Request, HandshakeError> {
        if method != "GET" {
            return Err(HandshakeError::MethodNotAllowed(method.to_string()));
        }
        if !http11 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        let resource = resource_from_target(target).ok_or(HandshakeError::InvalidRequestTarget)?;

        let host = headers
            .single("Host")?
            .ok_or(HandshakeError::MissingHeader("Host"))?;
        let host = core::str::from_utf8(host)
            .ok()
            .filter(|h| parse_authority(h).is_ok())
            .ok_or(HandshakeError::InvalidHeader {
                name: "Host",
                reason: "not a host with an optional port",
            })?
            .to_string();

        headers.check_upgrade()?;

        // Checked before the key, so that a client of an older draft (which also sends a key)
        // learns which version to use.
        {
            let mut versions = headers.get_all("Sec-WebSocket-Version");
            match (versions.next(), versions.next()) {
                (Some(v), None) if v == b"13" => {}
                _ => return Err(HandshakeError::UnsupportedVersion),
            }
        }

        let key = headers
            .single("Sec-WebSocket-Key")?
            .ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Key"))?;
        // Valid base64 is ASCII, hence UTF-8.
        let key = core::str::from_utf8(key)
            .ok()
            .filter(|k| is_valid_key(k.as_bytes()))
            .ok_or(HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Key",
                reason: "not the base64 encoding of 16 bytes",
            })?
            .to_string();

        let (origin, protocols, extensions) = negotiation_fields(&headers)?;

        Ok(Request {
            method: method.to_string(),
            resource,
            headers,
            host,
            origin,
            key,
            protocols,
            extensions,
            extended_connect: false,
        })
    }

    /// The request method (always `GET`).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The resource name: path and query, such as `/chat?room=1` (from an absolute-form
    /// target, its path and query).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The path part of the resource (before `?`).
    pub fn path(&self) -> &str {
        self.resource
            .split_once('?')
            .map_or(self.resource.as_str(), |(p, _)| p)
    }

    /// The query part of the resource (after `?`), if there is one.
    pub fn query(&self) -> Option<&str> {
        self.resource.split_once('?').map(|(_, q)| q)
    }

    /// All header fields, in order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The `Host` header value (host and optional port).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Origin` header value, if the client sent one (browsers always do).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The `Sec-WebSocket-Key` value (empty for an HTTP/2 extended CONNECT, which has none).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions the client offered, in its order of preference, with their parameters.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// Picks the first permessage-deflate offer (in the client's order of preference) that
    /// `config` can accept, skipping offers that are invalid or ask for what we cannot do
    /// (RFC 7692 §5: such offers are declined). Pass the result to [`AcceptOptions::deflate`].
    #[cfg(feature = "deflate")]
    pub fn negotiate_deflate(
        &self,
        config: &crate::extensions::deflate::DeflateConfig,
    ) -> Option<crate::extensions::deflate::DeflateParams> {
        use crate::extensions::deflate::EXTENSION_NAME;
        self.extensions
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case(EXTENSION_NAME))
            .find_map(|e| {
                let params = e
                    .params
                    .iter()
                    .map(|p| (p.name.as_str(), p.value.as_deref()));
                config.accept_offer(params).ok().flatten()
            })
    }

    /// The first subprotocol of `supported` (the server's, in decreasing order of preference)
    /// that the client offered, compared exactly (subprotocol names are case-sensitive), if
    /// any: the argument for [`AcceptOptions::subprotocol`], so that "pick the first supported
    /// one" is one line. The server's order decides, as in Python's `websockets`, axum's own
    /// extractor and gorilla/websocket; for the client's order, search
    /// [`protocols`](Self::protocols), as this crate's `hyper` and `axum` `protocols(..)` do.
    ///
    /// Browsers, Node's `ws` and tungstenite fail the connection when they offered subprotocols
    /// and the `101` selects none, although RFC 6455 allows it: when this returns `None` for a
    /// request whose [`protocols`](Self::protocols) are not empty, reject it (or accept it
    /// knowing such clients will drop it).
    ///
    /// ```
    /// use wsproto::handshake::{AcceptOptions, ServerHandshake};
    ///
    /// let mut server = ServerHandshake::new();
    /// let request = server
    ///     .receive(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    ///                Sec-WebSocket-Protocol: x.unknown, interop.v1, chat\r\n\r\n")?
    ///     .expect("complete");
    /// assert_eq!(request.select_subprotocol(&["interop.v2", "interop.v1"]), Some("interop.v1"));
    /// assert_eq!(request.select_subprotocol(&["chat", "interop.v1"]), Some("chat"));
    /// assert_eq!(request.select_subprotocol(&["Chat"]), None);
    ///
    /// let options = AcceptOptions::new().subprotocol(request.select_subprotocol(&["chat"]));
    /// let (_response, connection) = server.accept(options)?;
    /// assert_eq!(connection.subprotocol(), Some("chat"));
    /// # Ok::<(), wsproto::handshake::HandshakeError>(())
    /// ```
    pub fn select_subprotocol<S: AsRef<str>>(&self, supported: &[S]) -> Option<&str> {
        supported.iter().find_map(|s| {
            self.protocols
                .iter()
                .map(String::as_str)
                .find(|p| *p == s.as_ref())
        })
    }

    /// Builds the `101 Switching Protocols` response that accepts this request with `options`
    /// (for an HTTP/2 extended CONNECT, a `200` without `Upgrade`, `Connection` and
    /// `Sec-WebSocket-Accept`, RFC 8441 §5).
    ///
    /// [`ServerHandshake::accept`] calls this; use it directly when the HTTP layer is someone
    /// else's (see the `http` feature). Fails, without side effects, if the subprotocol or an
    /// extension was not offered by the client or an extension value is malformed.
    pub fn accept(&self, options: &AcceptOptions) -> Result<Response, HandshakeError> {
        let mut headers = Headers::new();
        if !self.extended_connect {
            headers.push_trusted("Upgrade", b"websocket");
            headers.push_trusted("Connection", b"Upgrade");
            headers.push_trusted(
                "Sec-WebSocket-Accept",
                accept_key(self.key.as_bytes()).as_bytes(),
            );
        }
        if let Some(p) = &options.subprotocol {
            if !self.protocols.iter().any(|o| o == p) {
                return Err(HandshakeError::SubprotocolNotOffered(p.clone()));
            }
            headers.push_trusted("Sec-WebSocket-Protocol", p.as_bytes());
        }
        let mut extensions = Vec::new();
        if let Some(value) = &options.extensions {
            extensions = Extension::parse_list(value)?;
            check_accepted_extensions(&extensions, |name| {
                self.extensions
                    .iter()
                    .any(|o| o.name.eq_ignore_ascii_case(name))
            })?;
            if !extensions.is_empty() {
                // The grammar admits only tokens, quoted strings and separators: safe to write.
                headers.push_trusted("Sec-WebSocket-Extensions", value.trim().as_bytes());
            }
        }
        headers.extend_from(&options.headers);
        let (status, reason) = if self.extended_connect {
            (200, "OK")
        } else {
            (101, "Switching Protocols")
        };
        // Every server path (ServerHandshake, the hyper/axum upgrade, HTTP/2) accepts here.
        crate::trace::ws_debug!(
            path = self.path(),
            http2 = self.extended_connect,
            subprotocol = options.subprotocol.as_deref(),
            extensions = %super::client::ExtensionNames(&extensions),
            "server handshake accepted"
        );
        Ok(Response {
            status,
            reason: reason.to_string(),
            headers,
            subprotocol: options.subprotocol.clone(),
            extensions,
        })
    }
}

/// The resource name of a request target: an origin-form target (`/path?query`) as is, or the
/// path and query of an absolute-form one (`http://host/path?query`, RFC 6455 §4.2.1 item 2).
fn resource_from_target(target: &str) -> Option<String> {
    if target.contains('#') {
        return None;
    }
    if target.starts_with('/') {
        return Some(target.to_string());
    }
    let (scheme, rest) = target.split_once("://")?;
    if !["http", "https", "ws", "wss"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return None;
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    parse_authority(authority).ok()?;
    Some(match tail.as_bytes().first() {
        None => "/".to_string(),
        Some(b'?') => alloc::format!("/{tail}"),
        Some(_) => tail.to_string(),
    })
}

/// How to accept a request: the subprotocol, the extensions' response, extra header fields.
///
/// ```
/// use wsproto::handshake::AcceptOptions;
///
/// let options = AcceptOptions::new()
///     .subprotocol("chat")
///     .header("Set-Cookie", "session=1; HttpOnly; Secure")?;
/// # Ok::<(), wsproto::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptOptions {
    subprotocol: Option<String>,
    extensions: Option<String>,
    headers: Headers,
    #[cfg(feature = "deflate")]
    deflate: Option<crate::extensions::deflate::DeflateParams>,
}

impl AcceptOptions {
    /// No subprotocol, no extensions, no extra headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects a subprotocol (RFC 6455 §4.2.2 item 5.4): it must be one the client offered.
    /// Takes a `&str`, or an `Option<&str>` such as what [`Request::select_subprotocol`]
    /// returns; `None` selects none (the default). From an owned `Option<String>`, pass
    /// `.as_deref()`.
    ///
    /// ```
    /// use wsproto::handshake::AcceptOptions;
    ///
    /// let chat = AcceptOptions::new().subprotocol("chat");
    /// assert_eq!(chat, AcceptOptions::new().subprotocol(Some("chat")));
    /// assert_eq!(AcceptOptions::new().subprotocol(None), AcceptOptions::new());
    /// ```
    pub fn subprotocol<'a>(mut self, protocol: impl Into<Option<&'a str>>) -> Self {
        self.subprotocol = protocol.into().map(String::from);
        self
    }

    /// The `Sec-WebSocket-Extensions` response value, such as
    /// `permessage-deflate; server_no_context_takeover`: every extension in it must have been
    /// offered by the client, each at most once. An empty list sends no header.
    pub fn extensions(mut self, value: impl Into<String>) -> Self {
        self.extensions = Some(value.into());
        self
    }

    /// Accepts permessage-deflate with `params` (from [`Request::negotiate_deflate`]): the
    /// `Sec-WebSocket-Extensions` response is set accordingly (replacing any given with
    /// [`extensions`](Self::extensions)) and the [`Connection`] compresses and decompresses.
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, params: crate::extensions::deflate::DeflateParams) -> Self {
        self.extensions = Some(params.response());
        self.deflate = Some(params);
        self
    }

    /// Adds a header field to the `101` response (`Set-Cookie`, …). The fields the handshake
    /// sets itself are refused with [`HandshakeError::ReservedHeader`].
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, HandshakeError> {
        if is_reserved(name, RESERVED_IN_101) {
            return Err(HandshakeError::ReservedHeader(name.to_string()));
        }
        self.headers.push(name, value)?;
        Ok(self)
    }
}

const RESERVED_IN_101: &[&str] = &[
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Content-Length",
    "Transfer-Encoding",
];

const RESERVED_IN_REJECT: &[&str] = &["Connection", "Content-Length", "Transfer-Encoding"];

#[derive(Debug)]
enum State {
    Reading(HeadReader),
    Complete {
        request: Box<Request>,
        /// Bytes that followed the request: the client's first frames.
        pending: Vec<u8>,
    },
    Failed(HandshakeError),
    Finished,
}

/// The server side of the opening handshake: a sans-IO state machine.
///
/// 1. Feed the bytes read from the transport to [`receive`](Self::receive), in any split, until
///    it returns the [`Request`]. On an error, write [`HandshakeError::response`] and close.
/// 2. Decide. [`accept`](Self::accept) gives the `101` bytes to write and the
///    [`Connection`] (which already holds any bytes that followed the request);
///    [`reject`](Self::reject) gives a response to write before closing.
///
/// Each byte is examined once however the request is split, the request is parsed once, and
/// never more than [`HandshakeLimits::max_header_size`] bytes are buffered while waiting.
///
/// ```
/// use wsproto::handshake::{AcceptOptions, ServerHandshake};
/// use wsproto::Event;
///
/// let mut server = ServerHandshake::new();
/// let bytes = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///               Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n";
/// let (head, tail) = bytes.split_at(40);
/// assert!(server.receive(head)?.is_none()); // not complete yet
/// let request = server.receive(tail)?.expect("complete");
/// assert_eq!(request.path(), "/chat");
/// let options = AcceptOptions::new().subprotocol(request.select_subprotocol(&["superchat"]));
///
/// let (response, mut connection) = server.accept(options)?;
/// assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// let text = std::str::from_utf8(&response)?;
/// assert!(text.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
/// assert_eq!(connection.subprotocol(), Some("superchat"));
/// // Write `response`, then run `connection` over the same transport.
/// connection.send_text("welcome")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerHandshake {
    config: Config,
    limits: HandshakeLimits,
    state: State,
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerHandshake {
    /// A handshake with the default [`Config`] for the connection and default limits.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// A handshake whose connection will use `config`.
    pub fn with_config(config: Config) -> Self {
        let limits = HandshakeLimits::default();
        ServerHandshake {
            config,
            limits,
            state: State::Reading(HeadReader::new(limits.max_header_size)),
        }
    }

    /// Sets the limits on the request head. Call before the first [`receive`](Self::receive).
    pub fn limits(mut self, limits: HandshakeLimits) -> Self {
        self.limits = limits;
        if let State::Reading(_) = self.state {
            self.state = State::Reading(HeadReader::new(limits.max_header_size));
        }
        self
    }

    /// Feeds bytes read from the transport, in any split.
    ///
    /// Returns `Ok(None)` while the request head is incomplete, `Ok(Some(request))` once it has
    /// arrived and passed validation. Bytes that follow the head (a client that sends frames
    /// without waiting) are kept for the connection; so are bytes fed after that, up to
    /// [`HandshakeLimits::max_header_size`] in all: more fails with
    /// [`HandshakeError::EarlyDataTooLarge`] (no response; close the transport). Accept or
    /// reject before reading much more.
    ///
    /// An error is final (later calls return it again): write
    /// [`response`](HandshakeError::response) — `400`, `405`, `426` or `431` — and close.
    pub fn receive(&mut self, data: &[u8]) -> Result<Option<&Request>, HandshakeError> {
        #[cfg(feature = "tracing")]
        let failed_before = matches!(self.state, State::Failed(_));
        let result = self.receive_inner(data);
        #[cfg(feature = "tracing")]
        if let Err(error) = &result
            && !failed_before
        {
            tracing::debug!(error = %error, status = error.status(), "server handshake: invalid request");
        }
        result
    }

    fn receive_inner(&mut self, data: &[u8]) -> Result<Option<&Request>, HandshakeError> {
        let max_headers = self.limits.max_headers;
        match &mut self.state {
            State::Reading(reader) => match reader.push(data) {
                Ok(None) => Ok(None),
                Ok(Some(n)) => {
                    match parse_request(reader.head(data, n), max_headers) {
                        Ok(_) if data.len() - n > self.limits.max_header_size => {
                            let e = HandshakeError::EarlyDataTooLarge {
                                limit: self.limits.max_header_size,
                            };
                            self.state = State::Failed(e.clone());
                            return Err(e);
                        }
                        Ok(request) => {
                            self.state = State::Complete {
                                request: Box::new(request),
                                pending: data[n..].to_vec(),
                            };
                        }
                        Err(e) => {
                            self.state = State::Failed(e.clone());
                            return Err(e);
                        }
                    }
                    Ok(self.request())
                }
                Err(e) => {
                    self.state = State::Failed(e.clone());
                    Err(e)
                }
            },
            State::Complete { pending, .. } => {
                let limit = self.limits.max_header_size;
                if data.len() > limit - pending.len().min(limit) {
                    let e = HandshakeError::EarlyDataTooLarge { limit };
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
                pending.extend_from_slice(data);
                Ok(self.request())
            }
            State::Failed(e) => Err(e.clone()),
            State::Finished => Err(HandshakeError::Finished),
        }
    }

    /// The request, once it has been received and validated.
    pub fn request(&self) -> Option<&Request> {
        match &self.state {
            State::Complete { request, .. } => Some(request),
            _ => None,
        }
    }

    /// Accepts the request: returns the `101 Switching Protocols` response to write and the
    /// server [`Connection`], which already holds the bytes that followed the request.
    ///
    /// On an error (a subprotocol or extension the client did not offer, a malformed extension
    /// value) nothing changes: fix the options, or [`reject`](Self::reject).
    pub fn accept(
        &mut self,
        options: AcceptOptions,
    ) -> Result<(Vec<u8>, Connection), HandshakeError> {
        match core::mem::replace(&mut self.state, State::Finished) {
            State::Complete { request, pending } => match request.accept(&options) {
                Ok(response) => {
                    let connection = server_connection(self.config.clone())
                        .with_subprotocol(response.subprotocol.clone());
                    #[cfg(feature = "deflate")]
                    let connection = match &options.deflate {
                        Some(params) => connection.with_deflate(params),
                        None => connection,
                    };
                    let mut connection = connection;
                    connection.receive(&pending);
                    Ok((response.to_bytes(), connection))
                }
                Err(e) => {
                    self.state = State::Complete { request, pending };
                    Err(e)
                }
            },
            other => {
                let e = match &other {
                    State::Reading(_) => HandshakeError::NotReady,
                    State::Failed(e) => e.clone(),
                    _ => HandshakeError::Finished,
                };
                self.state = other;
                Err(e)
            }
        }
    }

    /// Rejects the request (or answers a failed one differently): returns a complete response
    /// with `status` (200–599), `headers`, `Connection: close`, a `Content-Length` and `body`.
    /// Write it and close the transport.
    ///
    /// `Connection`, `Content-Length` and `Transfer-Encoding` are set here and refused in
    /// `headers` ([`HandshakeError::ReservedHeader`]).
    ///
    /// ```
    /// use wsproto::handshake::{Headers, ServerHandshake};
    ///
    /// let mut server = ServerHandshake::new();
    /// server.receive(b"GET /admin HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
    ///                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")?;
    /// let mut headers = Headers::new();
    /// headers.push("WWW-Authenticate", "Bearer")?;
    /// let response = server.reject(401, &headers, b"log in first")?;
    /// assert_eq!(
    ///     response,
    ///     b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nConnection: close\r\n\
    ///       Content-Length: 12\r\n\r\nlog in first"
    /// );
    /// # Ok::<(), wsproto::handshake::HandshakeError>(())
    /// ```
    pub fn reject(
        &mut self,
        status: u16,
        headers: &Headers,
        body: &[u8],
    ) -> Result<Vec<u8>, HandshakeError> {
        if let State::Finished = self.state {
            return Err(HandshakeError::Finished);
        }
        let out = reject_response(status, headers, body)?;
        crate::trace::ws_debug!(status, "server handshake rejected");
        self.state = State::Finished;
        Ok(out)
    }

    /// Bytes examined in the search for the end of the request head (tests of linearity).
    #[cfg(test)]
    fn scanned(&self) -> usize {
        match &self.state {
            State::Reading(r) => r.scanned(),
            _ => 0,
        }
    }
}

/// A complete rejection response (see [`ServerHandshake::reject`]).
pub(crate) fn reject_response(
    status: u16,
    headers: &Headers,
    body: &[u8],
) -> Result<Vec<u8>, HandshakeError> {
    if !(200..=599).contains(&status) {
        return Err(HandshakeError::InvalidStatus(status));
    }
    if let Some(h) = headers
        .iter()
        .find(|h| is_reserved(h.name(), RESERVED_IN_REJECT))
    {
        return Err(HandshakeError::ReservedHeader(h.name().to_string()));
    }
    let mut all = headers.clone();
    all.push_trusted("Connection", b"close");
    let mut out = Vec::with_capacity(128 + body.len());
    write_head(&mut out, status, &all, Some(body.len()));
    out.extend_from_slice(body);
    debug_assert!(!reason_phrase(status).contains('\r'));
    Ok(out)
}

fn parse_request(head: &[u8], max_headers: usize) -> Result<Request, HandshakeError> {
    let mut slots = header_slots(head, max_headers);
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(HandshakeError::MalformedHttp("incomplete request head")),
        Err(e) => return Err(parse_error(e, max_headers)),
    }
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(HandshakeError::MalformedHttp("incomplete request line"));
    };
    if !is_token(method) {
        return Err(HandshakeError::MalformedHttp("invalid method"));
    }
    let headers = to_headers(parsed.headers);
    Request::from_parts(method, version >= 1, target, headers)
}

/// The server's connection. A server never masks, so it never draws random bytes.
fn server_connection(config: Config) -> Connection {
    #[cfg(feature = "std")]
    {
        Connection::new(Role::Server, config)
    }
    #[cfg(not(feature = "std"))]
    {
        Connection::with_random(Role::Server, config, |dest: &mut [u8]| dest.fill(0))
    }
}

/// The fields every WebSocket request carries the same way, over HTTP/1.1 and HTTP/2 alike: no
/// body (whatever follows the request is WebSocket frames; a body announced there would make that
/// ambiguous, and is a request-smuggling vector), then `Origin`, the offered subprotocols and the
/// offered extensions.
pub(super) fn negotiation_fields(headers: &Headers) -> Result<NegotiationFields, HandshakeError> {
    if headers.contains("Transfer-Encoding") {
        return Err(HandshakeError::InvalidHeader {
            name: "Transfer-Encoding",
            reason: "a handshake request has no body",
        });
    }
    if let Some(len) = headers.single("Content-Length")?
        && len != b"0"
    {
        return Err(HandshakeError::InvalidHeader {
            name: "Content-Length",
            reason: "a handshake request has no body",
        });
    }
    let origin = match headers.single("Origin")? {
        None => None,
        Some(v) => Some(
            core::str::from_utf8(v)
                .map_err(|_| HandshakeError::InvalidHeader {
                    name: "Origin",
                    reason: "not valid UTF-8",
                })?
                .to_string(),
        ),
    };
    let protocols = token_list(headers, "Sec-WebSocket-Protocol")?;
    let extensions = extensions_in(headers)?;
    Ok((origin, protocols, extensions))
}

/// `Origin`, the offered subprotocols and the offered extensions of a request.
pub(super) type NegotiationFields = (Option<String>, Vec<String>, Vec<Extension>);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn slow_drip_of_a_large_request_is_linear() {
        let mut req = format!(
            "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        );
        for i in 0..54 {
            req.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(120)));
        }
        req.push_str("\r\n");
        assert!(req.len() > 6000 && req.len() < 8192);
        let mut server = ServerHandshake::new();
        let bytes = req.as_bytes();
        let mut scanned_before_last = 0;
        for (i, b) in bytes.iter().enumerate() {
            let done = server.receive(core::slice::from_ref(b)).unwrap().is_some();
            assert_eq!(done, i == bytes.len() - 1);
            if !done {
                scanned_before_last = server.scanned();
                // Every byte examined exactly once so far: no rescans from the start.
                assert_eq!(scanned_before_last, i + 1);
            }
        }
        assert_eq!(scanned_before_last, bytes.len() - 1);
        assert_eq!(server.request().unwrap().headers().len(), 59);
    }

    #[test]
    fn absolute_form_targets() {
        assert_eq!(resource_from_target("/a?b").as_deref(), Some("/a?b"));
        assert_eq!(
            resource_from_target("http://h/a?b").as_deref(),
            Some("/a?b")
        );
        assert_eq!(resource_from_target("wss://h:1?b").as_deref(), Some("/?b"));
        assert_eq!(resource_from_target("HTTPS://h").as_deref(), Some("/"));
        for bad in [
            "*",
            "h:80",
            "ftp://h/",
            "http:///x",
            "/a#b",
            "",
            "http://u@h/",
        ] {
            assert_eq!(resource_from_target(bad), None, "{bad:?}");
        }
    }

    fn offering(protocols: &str) -> (ServerHandshake, Request) {
        let mut server = ServerHandshake::new();
        let head = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{protocols}\r\n"
        );
        let request = server.receive(head.as_bytes()).unwrap().unwrap().clone();
        (server, request)
    }

    #[test]
    fn select_subprotocol_follows_the_servers_order() {
        let (_, request) =
            offering("Sec-WebSocket-Protocol: x.unknown, interop.v1, interop.v2\r\n");
        assert_eq!(
            request.select_subprotocol(&["interop.v2", "interop.v1"]),
            Some("interop.v2")
        );
        assert_eq!(
            request.select_subprotocol(&["interop.v3", "interop.v1", "interop.v2"]),
            Some("interop.v1")
        );
        let owned = alloc::vec![String::from("interop.v2")];
        assert_eq!(request.select_subprotocol(&owned), Some("interop.v2"));
        assert_eq!(request.select_subprotocol(&["INTEROP.V1", "chat"]), None);
        assert_eq!(request.select_subprotocol::<&str>(&[]), None);
        let (_, none_offered) = offering("");
        assert_eq!(none_offered.select_subprotocol(&["chat"]), None);
    }

    #[test]
    fn subprotocol_takes_a_str_or_none() {
        let (mut server, request) = offering("Sec-WebSocket-Protocol: chat\r\n");
        let none = request
            .accept(&AcceptOptions::new().subprotocol(None))
            .unwrap();
        assert_eq!(none.subprotocol, None);
        assert!(
            !none
                .to_bytes()
                .windows(22)
                .any(|w| w == b"Sec-WebSocket-Protocol")
        );
        let options = AcceptOptions::new().subprotocol(request.select_subprotocol(&["chat"]));
        let (response, connection) = server.accept(options).unwrap();
        assert!(
            response
                .windows(30)
                .any(|w| w == b"Sec-WebSocket-Protocol: chat\r\n")
        );
        assert_eq!(connection.subprotocol(), Some("chat"));
    }

    #[test]
    fn header_slots_follow_the_head() {
        // A huge configured limit does not allocate a huge array.
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(header_slots(head, usize::MAX).len(), 3);
        assert_eq!(header_slots(head, 1).len(), 1);
    }
}
