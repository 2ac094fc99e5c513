//! The client side of the opening handshake (RFC 6455 §4.1).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::accept::{accept_key, generate_key};
use super::error::HandshakeError;
use super::headers::{Extension, Headers, check_accepted_extensions, extensions_in, is_token};
use super::response::{Response, write_header};
use super::scan::{HeadReader, header_slots, parse_error, to_headers};
use super::url::{WsUrl, check_resource, parse_authority};
use super::{HandshakeLimits, is_reserved};
use crate::config::{Config, Role};
use crate::connection::Connection;
use crate::random::RandomSource;

/// What a client asks for: where to connect and what to offer.
///
/// ```
/// use wsproto::handshake::ClientRequest;
///
/// let request = ClientRequest::from_url("wss://example.com/chat?room=1")?
///     .origin("https://example.com")?
///     .protocols(["v2.chat", "chat"])?
///     .extension("permessage-deflate; client_max_window_bits")?
///     .header("Authorization", "Bearer abc")?;
/// assert_eq!(request.host(), "example.com");
/// assert_eq!(request.resource(), "/chat?room=1");
/// # Ok::<(), wsproto::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    url: Option<WsUrl>,
    host: String,
    resource: String,
    origin: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<String>,
    headers: Headers,
    /// A `Sec-WebSocket-Key` given by the caller (from an `http::Request`); else a fresh one is
    /// drawn for each handshake.
    key: Option<String>,
    /// The permessage-deflate offer, if any.
    #[cfg(feature = "deflate")]
    deflate: Option<crate::extensions::deflate::DeflateConfig>,
}

const RESERVED_IN_REQUEST: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Origin",
    "Content-Length",
    "Transfer-Encoding",
];

impl ClientRequest {
    /// A request for a `ws://` or `wss://` URL (see [`WsUrl`] for what is accepted).
    pub fn from_url(url: &str) -> Result<Self, HandshakeError> {
        Ok(Self::from_ws_url(WsUrl::parse(url)?))
    }

    /// A request for an already parsed URL.
    pub fn from_ws_url(url: WsUrl) -> Self {
        ClientRequest {
            host: url.host_header(),
            resource: url.resource().to_string(),
            url: Some(url),
            origin: None,
            protocols: Vec::new(),
            extensions: Vec::new(),
            #[cfg(feature = "deflate")]
            deflate: None,
            headers: Headers::new(),
            key: None,
        }
    }

    /// A request from parts: `host` is the `Host` header value (`example.com`,
    /// `example.com:8080`, `[::1]:9001`), `resource` the path and query (`/chat?room=1`).
    pub fn new(host: &str, resource: &str) -> Result<Self, HandshakeError> {
        parse_authority(host)?;
        check_resource(resource)?;
        Ok(ClientRequest {
            url: None,
            host: host.to_string(),
            resource: resource.to_string(),
            origin: None,
            protocols: Vec::new(),
            extensions: Vec::new(),
            #[cfg(feature = "deflate")]
            deflate: None,
            headers: Headers::new(),
            key: None,
        })
    }

    /// Sends an `Origin` header (RFC 6455 §4.1 item 8, RFC 6454), as browsers do.
    pub fn origin(mut self, origin: &str) -> Result<Self, HandshakeError> {
        if origin.is_empty() || !origin.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HandshakeError::InvalidHeaderValue("Origin".to_string()));
        }
        self.origin = Some(origin.to_string());
        Ok(self)
    }

    /// Offers a subprotocol, after the ones already offered (earlier ones are preferred).
    pub fn protocol(mut self, protocol: &str) -> Result<Self, HandshakeError> {
        if !is_token(protocol) || self.protocols.iter().any(|p| p == protocol) {
            return Err(HandshakeError::InvalidSubprotocol(protocol.to_string()));
        }
        self.protocols.push(protocol.to_string());
        Ok(self)
    }

    /// Offers subprotocols, most preferred first. Each must be a token, offered once.
    pub fn protocols<I>(mut self, protocols: I) -> Result<Self, HandshakeError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        for p in protocols {
            self = self.protocol(p.as_ref())?;
        }
        Ok(self)
    }

    /// Offers extensions: a `Sec-WebSocket-Extensions` value such as
    /// `permessage-deflate; client_max_window_bits` (it may hold several comma-separated
    /// offers). Offers accumulate in order of preference. The value must follow the grammar of
    /// RFC 6455 §9.1.
    pub fn extension(mut self, offer: &str) -> Result<Self, HandshakeError> {
        let parsed = Extension::parse_list(offer)?;
        if !parsed.is_empty() {
            self.extensions.push(offer.trim().to_string());
        }
        Ok(self)
    }

    /// Offers permessage-deflate (RFC 7692) with `config`'s parameters. If the server accepts,
    /// its response is checked against the offer and the [`Connection`] compresses and
    /// decompresses messages accordingly.
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, config: crate::extensions::deflate::DeflateConfig) -> Self {
        self.extensions.push(config.offer());
        self.deflate = Some(config);
        self
    }

    /// Adds a header field (`Cookie`, `Authorization`, `User-Agent`, …). The fields the
    /// handshake sets itself are refused with [`HandshakeError::ReservedHeader`].
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, HandshakeError> {
        if is_reserved(name, RESERVED_IN_REQUEST) {
            return Err(HandshakeError::ReservedHeader(name.to_string()));
        }
        self.headers.push(name, value)?;
        Ok(self)
    }

    /// The URL, when the request was made from one.
    pub fn url(&self) -> Option<&WsUrl> {
        self.url.as_ref()
    }

    /// The `Host` header value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The resource name (path and query).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The extra header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The subprotocols offered, most preferred first.
    pub fn offered_protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The `Origin` value, if one is sent.
    pub fn origin_value(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Uses `key` as the `Sec-WebSocket-Key` instead of a fresh random one (for requests that
    /// arrive with one, such as an `http::Request` built elsewhere). It must be the base64
    /// encoding of 16 bytes.
    #[cfg(feature = "http")]
    pub(crate) fn set_key(&mut self, key: &str) -> Result<(), HandshakeError> {
        if !super::accept::is_valid_key(key.as_bytes()) {
            return Err(HandshakeError::InvalidHeaderValue(
                "Sec-WebSocket-Key".to_string(),
            ));
        }
        self.key = Some(key.to_string());
        Ok(())
    }

    /// Replaces the `Host` header value (it must be a host with an optional port).
    #[cfg(feature = "http")]
    pub(crate) fn set_host(&mut self, host: &str) -> Result<(), HandshakeError> {
        parse_authority(host)?;
        self.host = host.to_string();
        Ok(())
    }

    /// Where to open the transport: host (IPv6 without brackets), port, and whether it needs
    /// TLS. From the URL when there is one, else from the `Host` value (port 80 by default).
    #[cfg_attr(not(any(feature = "blocking", feature = "tokio")), allow(dead_code))]
    pub(crate) fn target(&self) -> Result<(String, u16, bool), HandshakeError> {
        match &self.url {
            Some(url) => Ok((url.host().to_string(), url.port(), url.is_secure())),
            None => {
                let (host, _, port) = parse_authority(&self.host)?;
                Ok((host.to_string(), port.unwrap_or(80), false))
            }
        }
    }

    /// The request to send after a redirect to `location` (the `Location` of a `3xx`
    /// [`ClientOutcome::Rejected`], RFC 6455 §4.1 lets a client follow it): the same
    /// subprotocols, extension offers, `Origin` and header fields, for the new URL, with a new
    /// key.
    ///
    /// `location` may be an absolute `ws://` / `wss://` URL (`http://` and `https://` are read as
    /// `ws://` and `wss://`), scheme-relative (`//host/path`), or a path (`/path`, or relative
    /// to the current one). When the redirect leads to another host or port, or from `wss` to
    /// `ws`, the credentials (`Authorization`, `Cookie`, `Proxy-Authorization`) are dropped.
    ///
    /// ```
    /// use wsproto::handshake::ClientRequest;
    ///
    /// let request = ClientRequest::from_url("ws://example.com/old/chat")?
    ///     .protocols(["chat"])?
    ///     .header("Authorization", "Bearer x")?;
    /// let moved = request.redirect("/new/chat")?;
    /// assert_eq!((moved.host(), moved.resource()), ("example.com", "/new/chat"));
    /// assert_eq!(moved.headers().get_str("authorization"), Some("Bearer x"));
    /// let elsewhere = request.redirect("wss://other.example/chat")?;
    /// assert!(elsewhere.url().unwrap().is_secure());
    /// assert_eq!(elsewhere.offered_protocols(), ["chat"]);
    /// assert_eq!(elsewhere.headers().get("authorization"), None); // another host
    /// # Ok::<(), wsproto::handshake::HandshakeError>(())
    /// ```
    pub fn redirect(&self, location: &str) -> Result<ClientRequest, HandshakeError> {
        let location = location.trim();
        let secure = self.url.as_ref().is_some_and(WsUrl::is_secure);
        let scheme = if secure { "wss" } else { "ws" };
        let absolute = if let Some((given, rest)) = location.split_once("://")
            && !given.contains('/')
        {
            let scheme = if given.eq_ignore_ascii_case("http") || given.eq_ignore_ascii_case("ws") {
                "ws"
            } else if given.eq_ignore_ascii_case("https") || given.eq_ignore_ascii_case("wss") {
                "wss"
            } else {
                return Err(HandshakeError::InvalidUrl(
                    "a redirect to a scheme other than ws, wss, http or https",
                ));
            };
            alloc::format!("{scheme}://{rest}")
        } else if let Some(rest) = location.strip_prefix("//") {
            alloc::format!("{scheme}://{rest}")
        } else if location.starts_with('/') {
            alloc::format!("{scheme}://{}{location}", self.host)
        } else {
            // Relative to the current resource's directory (RFC 3986 §5.2.3, without dot
            // segments).
            let path = self.resource.split(['?']).next().unwrap_or("/");
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            alloc::format!("{scheme}://{}{dir}{location}", self.host)
        };
        let url = WsUrl::parse(&absolute)?;
        let same_origin = url.host_header() == self.host && (url.is_secure() || !secure);
        let mut next = ClientRequest::from_ws_url(url);
        next.origin = self.origin.clone();
        next.protocols = self.protocols.clone();
        next.extensions = self.extensions.clone();
        #[cfg(feature = "deflate")]
        {
            next.deflate = self.deflate.clone();
        }
        for h in &self.headers {
            let credential = ["Authorization", "Cookie", "Proxy-Authorization"]
                .iter()
                .any(|c| c.eq_ignore_ascii_case(h.name()));
            if same_origin || !credential {
                next.headers.push_trusted(h.name(), h.value());
            }
        }
        Ok(next)
    }

    /// All header fields of the request with `key` as `Sec-WebSocket-Key`, in the order they are
    /// written.
    pub(crate) fn all_headers(&self, key: &str) -> Headers {
        let mut h = Headers::new();
        h.push_trusted("Host", self.host.as_bytes());
        h.push_trusted("Upgrade", b"websocket");
        h.push_trusted("Connection", b"Upgrade");
        h.push_trusted("Sec-WebSocket-Key", key.as_bytes());
        h.push_trusted("Sec-WebSocket-Version", b"13");
        if let Some(origin) = &self.origin {
            h.push_trusted("Origin", origin.as_bytes());
        }
        if !self.protocols.is_empty() {
            h.push_trusted(
                "Sec-WebSocket-Protocol",
                self.protocols.join(", ").as_bytes(),
            );
        }
        if !self.extensions.is_empty() {
            h.push_trusted(
                "Sec-WebSocket-Extensions",
                self.extensions.join(", ").as_bytes(),
            );
        }
        h.extend_from(&self.headers);
        h
    }
}

/// The result of feeding response bytes to a [`ClientHandshake`].
#[derive(Debug)]
// Returned once per connection and destructured at once: a `Box` would only make the patterns
// clumsier.
#[allow(clippy::large_enum_variant)]
pub enum ClientOutcome {
    /// The response is not complete yet: feed more bytes.
    Partial,
    /// The server accepted: `101 Switching Protocols`, validated. The connection already holds
    /// any bytes that followed the response (frames the server sent at once).
    Accepted {
        /// The client connection, ready to use.
        connection: Connection,
        /// The response, with the selected subprotocol and extensions.
        response: Response,
    },
    /// The server answered with another status (a `401`, `403`, `404`, `429`, a redirect, …).
    Rejected {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
        /// The response's header fields.
        headers: Headers,
        /// The response body: with a `Content-Length`, that many bytes (up to
        /// [`HandshakeLimits::max_body_size`]), waited for; otherwise the bytes that arrived
        /// together with the head (a chunked body is left encoded).
        body: Vec<u8>,
    },
}

impl ClientOutcome {
    /// The `Location` of a [`Rejected`](Self::Rejected) response (a redirect: `301`, `302`,
    /// `303`, `307`, `308`); `None` for other outcomes or without one. Follow it with
    /// [`ClientRequest::redirect`]. (The drivers do when
    /// [`Options::max_redirects`](crate::driver::Options) allows.)
    ///
    /// ```
    /// use wsproto::handshake::{ClientHandshake, ClientOutcome, ClientRequest};
    ///
    /// let request = ClientRequest::from_url("ws://example.com/old")?;
    /// let mut client = ClientHandshake::new(request.clone());
    /// let outcome = client.receive(b"HTTP/1.1 308 Permanent Redirect\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n")?;
    /// assert_eq!(outcome.location(), Some("/new"));
    /// let next = request.redirect(outcome.location().unwrap())?;
    /// assert_eq!(next.resource(), "/new");
    /// # Ok::<(), wsproto::handshake::HandshakeError>(())
    /// ```
    pub fn location(&self) -> Option<&str> {
        match self {
            ClientOutcome::Rejected {
                status: 300..=399,
                headers,
                ..
            } => headers.get_str("Location"),
            _ => None,
        }
    }
}

/// Anything a client request can be made from: a `ws://` / `wss://` URL (`&str`, `String`,
/// [`WsUrl`]), a [`ClientRequest`], and with the `http` feature an `http::Request<()>` or an
/// `http::Uri`, as tokio-tungstenite's trait of the same name. The drivers' `connect` and
/// `client` take one.
///
/// ```
/// use wsproto::handshake::{ClientRequest, IntoClientRequest};
///
/// let a = "ws://example.com/chat".into_client_request()?;
/// let b = ClientRequest::from_url("ws://example.com/chat")?.into_client_request()?;
/// assert_eq!(a, b);
/// # Ok::<(), wsproto::handshake::HandshakeError>(())
/// ```
pub trait IntoClientRequest {
    /// The request, or why it cannot be one.
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError>;
}

impl IntoClientRequest for ClientRequest {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        Ok(self)
    }
}

impl IntoClientRequest for &ClientRequest {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        Ok(self.clone())
    }
}

impl IntoClientRequest for WsUrl {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        Ok(ClientRequest::from_ws_url(self))
    }
}

impl IntoClientRequest for &str {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::from_url(self)
    }
}

impl IntoClientRequest for &String {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::from_url(self)
    }
}

impl IntoClientRequest for String {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::from_url(&self)
    }
}

#[derive(Debug)]
enum State {
    Head(HeadReader),
    Body {
        status: u16,
        reason: String,
        headers: Headers,
        body: Vec<u8>,
        expected: usize,
    },
    Failed(HandshakeError),
    Finished,
}

/// The client side of the opening handshake: a sans-IO state machine.
///
/// 1. Write [`request_bytes`](Self::request_bytes) to the transport.
/// 2. Feed what the transport returns to [`receive`](Self::receive), in any split, until it
///    returns something other than [`ClientOutcome::Partial`]. If the transport ends first,
///    call [`receive_eof`](Self::receive_eof).
/// 3. On [`ClientOutcome::Accepted`], use the [`Connection`] over the same transport.
///
/// The key is 16 bytes from the random source (OS entropy by default); the source then draws the
/// connection's mask keys.
///
/// ```
/// use wsproto::handshake::{ClientHandshake, ClientOutcome, ClientRequest};
///
/// let request = ClientRequest::from_url("ws://example.com/chat")?.protocols(["chat"])?;
/// let mut client = ClientHandshake::new(request);
/// let request_bytes = client.request_bytes(); // write these to the transport
/// assert!(request_bytes.starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
///
/// // What the server answered (normally read from the transport, in pieces):
/// let response = format!(
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///      Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
///     wsproto::handshake::accept_key(client.key().as_bytes()),
/// );
/// let ClientOutcome::Accepted { connection, response } = client.receive(response.as_bytes())? else {
///     panic!("rejected")
/// };
/// assert_eq!(response.subprotocol(), Some("chat"));
/// assert_eq!(connection.subprotocol(), Some("chat"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientHandshake {
    key: String,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) resource: String,
    /// Every header field of the request.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) headers: Headers,
    accept: String,
    request: Vec<u8>,
    protocols: Vec<String>,
    extension_names: Vec<String>,
    #[cfg(feature = "deflate")]
    deflate: Option<crate::extensions::deflate::DeflateConfig>,
    config: Config,
    limits: HandshakeLimits,
    rng: Option<Box<dyn RandomSource + Send>>,
    state: State,
}

impl core::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("key", &self.key)
            .field("protocols", &self.protocols)
            .field("extensions", &self.extension_names)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// A handshake for `request` with the default [`Config`], keyed from OS entropy.
    #[cfg(feature = "std")]
    pub fn new(request: ClientRequest) -> Self {
        Self::with_config(request, Config::default())
    }

    /// A handshake whose connection will use `config`, keyed from OS entropy.
    #[cfg(feature = "std")]
    pub fn with_config(request: ClientRequest, config: Config) -> Self {
        Self::with_random(request, config, crate::random::OsRandom::new())
    }

    /// A handshake that draws its key, and then the connection's mask keys, from `rng` (for
    /// `no_std` targets and deterministic tests). On the open network `rng` must be a CSPRNG.
    pub fn with_random(
        request: ClientRequest,
        config: Config,
        rng: impl RandomSource + Send + 'static,
    ) -> Self {
        let mut rng: Box<dyn RandomSource + Send> = Box::new(rng);
        let key = match &request.key {
            Some(key) => key.clone(),
            None => generate_key(&mut *rng),
        };
        let accept = accept_key(key.as_bytes());

        let headers = request.all_headers(&key);
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(request.resource.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for h in &headers {
            write_header(&mut out, h.name(), h.value());
        }
        out.extend_from_slice(b"\r\n");

        let mut extension_names = Vec::new();
        for offer in &request.extensions {
            // Validated by `ClientRequest::extension`.
            if let Ok(list) = Extension::parse_list(offer) {
                extension_names.extend(list.into_iter().map(|e| e.name));
            }
        }
        let limits = HandshakeLimits::default();
        ClientHandshake {
            key,
            resource: request.resource,
            headers,
            accept,
            request: out,
            protocols: request.protocols,
            extension_names,
            #[cfg(feature = "deflate")]
            deflate: request.deflate,
            config,
            limits,
            rng: Some(rng),
            state: State::Head(HeadReader::new(limits.max_header_size)),
        }
    }

    /// Sets the limits on the response. Call before the first [`receive`](Self::receive).
    pub fn limits(mut self, limits: HandshakeLimits) -> Self {
        self.limits = limits;
        if let State::Head(_) = self.state {
            self.state = State::Head(HeadReader::new(limits.max_header_size));
        }
        self
    }

    /// The request to write to the transport.
    pub fn request_bytes(&self) -> &[u8] {
        &self.request
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Feeds bytes read from the transport, in any split.
    ///
    /// Interim `1xx` responses (other than `101`) are skipped. An error (a `101` that does not
    /// complete the handshake correctly, limits exceeded, malformed HTTP) is final: close the
    /// transport.
    pub fn receive(&mut self, data: &[u8]) -> Result<ClientOutcome, HandshakeError> {
        let result = self.step(data);
        if let Err(e) = &result
            && !matches!(self.state, State::Finished)
        {
            self.state = State::Failed(e.clone());
        }
        #[cfg(feature = "tracing")]
        trace_outcome(&result);
        result
    }

    /// Reports that the transport ended. A rejection whose body was still arriving is returned
    /// with the body received so far; otherwise this is [`HandshakeError::UnexpectedEof`].
    pub fn receive_eof(&mut self) -> Result<ClientOutcome, HandshakeError> {
        let result = self.end_of_input();
        #[cfg(feature = "tracing")]
        trace_outcome(&result);
        result
    }

    fn end_of_input(&mut self) -> Result<ClientOutcome, HandshakeError> {
        match core::mem::replace(&mut self.state, State::Finished) {
            State::Body {
                status,
                reason,
                headers,
                body,
                ..
            } => Ok(ClientOutcome::Rejected {
                status,
                reason,
                headers,
                body,
            }),
            State::Head(_) => {
                self.state = State::Failed(HandshakeError::UnexpectedEof);
                Err(HandshakeError::UnexpectedEof)
            }
            State::Failed(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
            State::Finished => Err(HandshakeError::Finished),
        }
    }

    fn step(&mut self, mut data: &[u8]) -> Result<ClientOutcome, HandshakeError> {
        loop {
            match &mut self.state {
                State::Head(reader) => {
                    let Some(n) = reader.push(data)? else {
                        return Ok(ClientOutcome::Partial);
                    };
                    let (version, status, reason, headers) =
                        parse_response(reader.head(data, n), self.limits.max_headers)?;
                    let rest = &data[n..];
                    match status {
                        101 => {
                            if version == 0 {
                                return Err(HandshakeError::UnsupportedHttpVersion);
                            }
                            let response = self.validate(reason, headers)?;
                            let mut connection = self.finish(&response)?;
                            connection.receive(rest);
                            self.state = State::Finished;
                            return Ok(ClientOutcome::Accepted {
                                connection,
                                response,
                            });
                        }
                        100..=199 => {
                            // An interim response (100 Continue, 103 Early Hints): the real
                            // one follows (RFC 9110 §15.2).
                            reader.reset();
                            data = rest;
                        }
                        _ => {
                            let max = self.limits.max_body_size;
                            match body_length(status, &headers) {
                                Some(len) => {
                                    let expected = len.min(max);
                                    let take = rest.len().min(expected);
                                    self.state = State::Body {
                                        status,
                                        reason,
                                        headers,
                                        body: rest[..take].to_vec(),
                                        expected,
                                    };
                                    data = &[];
                                }
                                None => {
                                    self.state = State::Finished;
                                    return Ok(ClientOutcome::Rejected {
                                        status,
                                        reason,
                                        headers,
                                        body: rest[..rest.len().min(max)].to_vec(),
                                    });
                                }
                            }
                        }
                    }
                }
                State::Body { body, expected, .. } => {
                    let take = data.len().min(*expected - body.len());
                    body.extend_from_slice(&data[..take]);
                    if body.len() < *expected {
                        return Ok(ClientOutcome::Partial);
                    }
                    return self.end_of_input();
                }
                State::Failed(e) => return Err(e.clone()),
                State::Finished => return Err(HandshakeError::Finished),
            }
        }
    }

    /// Checks a `101` response against the request (RFC 6455 §4.1, the client's steps 1–6).
    pub(crate) fn validate(
        &self,
        reason: String,
        headers: Headers,
    ) -> Result<Response, HandshakeError> {
        headers.check_upgrade()?;
        let accept = headers
            .single("Sec-WebSocket-Accept")?
            .ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Accept"))?;
        if accept != self.accept.as_bytes() {
            return Err(HandshakeError::AcceptMismatch);
        }
        self.validate_negotiation(101, reason, headers)
    }

    /// Checks the subprotocol and extensions an accepting response (a `101`, or the `2xx` to
    /// an HTTP/2 extended CONNECT) selected against what was offered.
    pub(crate) fn validate_negotiation(
        &self,
        status: u16,
        reason: String,
        headers: Headers,
    ) -> Result<Response, HandshakeError> {
        let subprotocol = match headers.single("Sec-WebSocket-Protocol")? {
            None => None,
            Some(value) => {
                let p = core::str::from_utf8(value)
                    .ok()
                    .filter(|p| is_token(p))
                    .ok_or(HandshakeError::InvalidHeader {
                        name: "Sec-WebSocket-Protocol",
                        reason: "not a single token",
                    })?;
                if !self.protocols.iter().any(|o| o == p) {
                    return Err(HandshakeError::SubprotocolNotOffered(p.to_string()));
                }
                Some(p.to_string())
            }
        };
        let extensions = extensions_in(&headers)?;
        check_accepted_extensions(&extensions, |name| {
            self.extension_names
                .iter()
                .any(|o| o.eq_ignore_ascii_case(name))
        })?;
        Ok(Response {
            status,
            reason,
            headers,
            subprotocol,
            extensions,
        })
    }

    /// The connection after a validated `101`: the negotiated subprotocol and extensions.
    pub(crate) fn finish(&mut self, response: &Response) -> Result<Connection, HandshakeError> {
        #[cfg(feature = "deflate")]
        let deflate = self.negotiated_deflate(response)?;
        let mut rng = self.rng.take().ok_or(HandshakeError::Finished)?;
        self.state = State::Finished;
        let connection = Connection::with_random(
            Role::Client,
            self.config.clone(),
            move |dest: &mut [u8]| rng.fill(dest),
        )
        .with_subprotocol(response.subprotocol.clone());
        crate::trace::ws_debug!(
            status = response.status,
            subprotocol = response.subprotocol.as_deref(),
            extensions = %ExtensionNames(&response.extensions),
            "client handshake accepted"
        );
        #[cfg(feature = "deflate")]
        let connection = match &deflate {
            Some(params) => connection.with_deflate(params),
            None => connection,
        };
        Ok(connection)
    }

    /// The permessage-deflate parameters the server's response agreed to, checked against our
    /// offer.
    #[cfg(feature = "deflate")]
    fn negotiated_deflate(
        &self,
        response: &Response,
    ) -> Result<Option<crate::extensions::deflate::DeflateParams>, HandshakeError> {
        use crate::extensions::deflate::EXTENSION_NAME;
        let (Some(config), Some(accepted)) = (
            &self.deflate,
            response
                .extensions()
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(EXTENSION_NAME)),
        ) else {
            return Ok(None);
        };
        let params = accepted
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_deref()));
        config.accept_response(params).map(Some).map_err(|_| {
            HandshakeError::InvalidExtensions("unacceptable permessage-deflate response")
        })
    }

    /// Ends the handshake after an error.
    #[cfg(feature = "http")]
    pub(crate) fn fail(&mut self, e: HandshakeError) {
        self.state = State::Failed(e);
    }

    /// Ends the handshake after a rejection.
    #[cfg(feature = "http")]
    pub(crate) fn set_finished(&mut self) {
        self.state = State::Finished;
    }

    /// Whether a response may still be received.
    #[cfg(feature = "http")]
    pub(crate) fn check_waiting(&self) -> Result<(), HandshakeError> {
        match &self.state {
            State::Head(_) => Ok(()),
            State::Body { .. } | State::Finished => Err(HandshakeError::Finished),
            State::Failed(e) => Err(e.clone()),
        }
    }
}

/// How many body bytes a rejection carries, when that is known from its head.
fn body_length(status: u16, headers: &Headers) -> Option<usize> {
    if status == 204 || status == 304 {
        return Some(0);
    }
    if headers.contains("Transfer-Encoding") {
        return None;
    }
    let value = headers.single("Content-Length").ok()??;
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // A length too large for usize is capped by the body limit anyway.
    Some(
        core::str::from_utf8(value)
            .ok()?
            .parse::<usize>()
            .unwrap_or(usize::MAX),
    )
}

fn parse_response(
    head: &[u8],
    max_headers: usize,
) -> Result<(u8, u16, String, Headers), HandshakeError> {
    let mut slots = header_slots(head, max_headers);
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(HandshakeError::MalformedHttp("incomplete response head")),
        Err(e) => return Err(parse_error(e, max_headers)),
    }
    let (Some(version), Some(status)) = (parsed.version, parsed.code) else {
        return Err(HandshakeError::MalformedHttp("incomplete status line"));
    };
    // httparse takes any three digits; RFC 9110 §15 defines 100-599 and calls the rest invalid
    // (a `001` has no class: neither interim nor final).
    if !(100..=599).contains(&status) {
        return Err(HandshakeError::MalformedHttp("status code outside 100-599"));
    }
    let reason = parsed.reason.unwrap_or("").to_string();
    let headers = to_headers(parsed.headers);
    Ok((version, status, reason, headers))
}

/// Logs the outcome of a `receive` / `receive_eof` (acceptance is logged in `finish`).
#[cfg(feature = "tracing")]
fn trace_outcome(result: &Result<ClientOutcome, HandshakeError>) {
    match result {
        Ok(ClientOutcome::Rejected { status, reason, .. }) => {
            tracing::debug!(
                status,
                reason = reason.as_str(),
                "client handshake rejected"
            );
        }
        Err(error) => tracing::debug!(error = %error, "client handshake failed"),
        Ok(_) => {}
    }
}

/// The extension names of a response, comma-separated, for tracing.
#[cfg(feature = "tracing")]
pub(crate) struct ExtensionNames<'a>(pub(crate) &'a [Extension]);

#[cfg(feature = "tracing")]
impl core::fmt::Display for ExtensionNames<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&e.name)?;
        }
        Ok(())
    }
}
