//! Conversions to and from the `http` crate's `Request` and `Response` (feature `http`), so that
//! a server built on hyper or axum, or a client that sends its request with hyper, validates
//! and answers the handshake with this crate, then runs a [`Connection`] over the upgraded
//! stream.

use alloc::string::ToString;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};

use super::client::{ClientHandshake, ClientOutcome, ClientRequest, IntoClientRequest};
use super::error::HandshakeError;
use super::headers::Headers;
use super::response::{Response, error_response};
use super::server::Request;
use crate::connection::Connection;

pub(super) fn from_http_headers(map: &http::HeaderMap) -> Result<Headers, HandshakeError> {
    let mut headers = Headers::new();
    for (name, value) in map {
        headers
            .push(name.as_str(), value.as_bytes())
            .map_err(|_| HandshakeError::MalformedHttp("invalid header field"))?;
    }
    Ok(headers)
}

fn to_http_headers(headers: &Headers, map: &mut http::HeaderMap) -> Result<(), HandshakeError> {
    for h in headers {
        let name = HeaderName::from_bytes(h.name().as_bytes())
            .map_err(|_| HandshakeError::InvalidHeaderName(h.name().to_string()))?;
        let value = HeaderValue::from_bytes(h.value())
            .map_err(|_| HandshakeError::InvalidHeaderValue(h.name().to_string()))?;
        map.append(name, value);
    }
    Ok(())
}

/// Validates an upgrade request received by an `http`-based server (hyper, axum): the same
/// checks as [`ServerHandshake::receive`](super::ServerHandshake::receive). On an error, answer
/// with [`HandshakeError::to_http_response`].
///
/// HTTP/2 and later requests are validated as an extended CONNECT (RFC 8441, RFC 9220) by
/// [`Request::from_http_extended_connect`], with the `:protocol` that hyper (feature `hyper`)
/// or h2 (feature `h2`) stored in the request's extensions; [`Request::accept`] then answers
/// `200`.
///
/// ```
/// use wsproto::handshake::{AcceptOptions, Request};
/// use wsproto::{Config, Connection, Role};
///
/// let incoming = http::Request::get("/chat")
///     .header("Host", "example.com")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("Sec-WebSocket-Version", "13")
///     .header("Sec-WebSocket-Protocol", "chat")
///     .body(())?;
/// let request = Request::try_from(&incoming)?;
/// let response = request.accept(&AcceptOptions::new().subprotocol(Some("chat")))?;
/// let response = http::Response::<()>::try_from(&response)?;
/// assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
/// assert_eq!(response.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// // Send `response`; once the server library hands over the upgraded stream:
/// let connection = Connection::new(Role::Server, Config::default())
///     .with_subprotocol(Some("chat".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<B> TryFrom<&http::Request<B>> for Request {
    type Error = HandshakeError;

    fn try_from(request: &http::Request<B>) -> Result<Self, Self::Error> {
        let http11 = match request.version() {
            http::Version::HTTP_09 | http::Version::HTTP_10 => false,
            http::Version::HTTP_11 => true,
            // HTTP/2 and later: an extended CONNECT (RFC 8441), see `extended_connect.rs`.
            _ => {
                let protocol = super::extended_connect::protocol_of(request);
                return Request::from_http_extended_connect(request, protocol);
            }
        };
        let headers = from_http_headers(request.headers())?;
        let target = request.uri().to_string();
        Request::from_parts(request.method().as_str(), http11, &target, headers)
    }
}

/// The request as an `http::Request` (method, resource, HTTP/1.1, all header fields).
impl TryFrom<&Request> for http::Request<()> {
    type Error = HandshakeError;

    fn try_from(request: &Request) -> Result<Self, Self::Error> {
        let mut out = http::Request::builder()
            .method(http::Method::GET)
            .uri(request.resource())
            .version(http::Version::HTTP_11)
            .body(())
            .map_err(|_| HandshakeError::InvalidRequestTarget)?;
        to_http_headers(request.headers(), out.headers_mut())?;
        Ok(out)
    }
}

/// The response (a `101` from [`Request::accept`], say) as an `http::Response`, for a server
/// library to send.
impl TryFrom<&Response> for http::Response<()> {
    type Error = HandshakeError;

    fn try_from(response: &Response) -> Result<Self, Self::Error> {
        let mut out = http::Response::new(());
        *out.status_mut() = http::StatusCode::from_u16(response.status())
            .map_err(|_| HandshakeError::InvalidStatus(response.status()))?;
        to_http_headers(response.headers(), out.headers_mut())?;
        Ok(out)
    }
}

impl HandshakeError {
    /// [`response`](Self::response) as an `http::Response`: the same status, header fields
    /// (`Connection` included) and plain-text body, without `Content-Length` (the server library
    /// sets it). `None` when the error is not about a received request.
    pub fn to_http_response(&self) -> Option<http::Response<Bytes>> {
        let (status, headers, body) = error_response(self)?;
        let mut out = http::Response::new(Bytes::from(body));
        *out.status_mut() = http::StatusCode::from_u16(status).ok()?;
        to_http_headers(&headers, out.headers_mut()).ok()?;
        Some(out)
    }
}

/// A client request from an `http::Request`, as built with `http::Request::builder()` or
/// changed with `headers_mut().insert(..)`: the URI is a `ws://` / `wss://` URL (or a path,
/// with a `Host` header), and the header fields are taken over.
///
/// The fields the handshake writes itself are read, not copied: `Origin`,
/// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` become the request's origin,
/// subprotocol offers and extension offers; `Host` replaces the URL's; a `Sec-WebSocket-Key`
/// is used instead of a fresh one; `Upgrade`, `Connection` and `Sec-WebSocket-Version` must
/// say what the handshake sends (`websocket`, `Upgrade`, `13`) and are otherwise
/// [`HandshakeError::ReservedHeader`], as are `Sec-WebSocket-Accept`, `Content-Length` and
/// `Transfer-Encoding`. The method must be `GET` and the version HTTP/1.1 (the default).
///
/// ```
/// use wsproto::handshake::{ClientHandshake, IntoClientRequest};
///
/// let mut request = http::Request::get("ws://example.com/chat").body(())?;
/// request.headers_mut().insert("Authorization", "Bearer abc".parse()?);
/// request.headers_mut().insert("Sec-WebSocket-Protocol", "chat, superchat".parse()?);
/// let request = request.into_client_request()?;
/// assert_eq!(request.headers().get_str("authorization"), Some("Bearer abc"));
/// assert_eq!(request.offered_protocols(), ["chat", "superchat"]);
/// let handshake = ClientHandshake::new(request);
/// assert!(handshake.request_bytes().starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<B> TryFrom<&http::Request<B>> for ClientRequest {
    type Error = HandshakeError;

    fn try_from(request: &http::Request<B>) -> Result<Self, Self::Error> {
        if request.method() != http::Method::GET {
            return Err(HandshakeError::MethodNotAllowed(
                request.method().as_str().to_string(),
            ));
        }
        if request.version() != http::Version::HTTP_11 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        let uri = request.uri();
        let headers = request.headers();
        let mut out = if uri.scheme().is_some() {
            ClientRequest::from_url(&uri.to_string())?
        } else {
            let host = headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .ok_or(HandshakeError::InvalidUrl(
                    "a request URI without a scheme needs a Host header",
                ))?;
            let resource = uri.path_and_query().map_or("/", |p| p.as_str());
            ClientRequest::new(host, resource)?
        };
        for (name, value) in headers {
            let text = || {
                value
                    .to_str()
                    .map_err(|_| HandshakeError::InvalidHeaderValue(name.as_str().to_string()))
            };
            let expect = |ok: bool| {
                if ok {
                    Ok(())
                } else {
                    Err(HandshakeError::ReservedHeader(name.as_str().to_string()))
                }
            };
            // `HeaderName`s are lower case.
            match name.as_str() {
                "host" => out.set_host(text()?)?,
                "origin" => out = out.origin(text()?)?,
                "sec-websocket-protocol" => {
                    for p in text()?.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        out = out.protocol(p)?;
                    }
                }
                "sec-websocket-extensions" => out = out.extension(text()?)?,
                "sec-websocket-key" => out.set_key(text()?.trim())?,
                "upgrade" => expect(
                    text()?
                        .split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("websocket")),
                )?,
                "connection" => expect(
                    text()?
                        .split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("upgrade")),
                )?,
                "sec-websocket-version" => expect(text()?.trim() == "13")?,
                _ => out = out.header(name.as_str(), value.as_bytes())?,
            }
        }
        Ok(out)
    }
}

impl IntoClientRequest for http::Request<()> {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::try_from(&self)
    }
}

impl IntoClientRequest for &http::Request<()> {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::try_from(self)
    }
}

impl IntoClientRequest for http::Uri {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::from_url(&self.to_string())
    }
}

impl IntoClientRequest for &http::Uri {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::from_url(&self.to_string())
    }
}

impl ClientHandshake {
    /// The handshake request as an `http::Request`, for a client library (hyper) to send: the
    /// resource as the URI, HTTP/1.1, and every header field, `Host` and the key included.
    pub fn to_http_request(&self) -> Result<http::Request<()>, HandshakeError> {
        let mut out = http::Request::builder()
            .method(http::Method::GET)
            .uri(self.resource.as_str())
            .version(http::Version::HTTP_11)
            .body(())
            .map_err(|_| HandshakeError::InvalidUrl("the resource is not a valid URI"))?;
        to_http_headers(&self.headers, out.headers_mut())?;
        Ok(out)
    }

    /// Checks a response received through a client library instead of
    /// [`receive`](Self::receive): a `101` is validated as `receive` does and gives the
    /// [`Connection`] to run over the upgraded stream; any other status is
    /// [`ClientOutcome::Rejected`] with an empty body (the body is the library's to read).
    pub fn receive_http_response<B>(
        &mut self,
        response: &http::Response<B>,
    ) -> Result<ClientOutcome, HandshakeError> {
        if response.version() >= http::Version::HTTP_2 {
            // The answer to an extended CONNECT (RFC 8441), see `extended_connect.rs`.
            return self.receive_extended_connect_response(response);
        }
        self.check_waiting()?;
        let headers = from_http_headers(response.headers())?;
        let status = response.status().as_u16();
        let reason = response
            .status()
            .canonical_reason()
            .unwrap_or("")
            .to_string();
        if status != 101 {
            self.set_finished();
            return Ok(ClientOutcome::Rejected {
                status,
                reason,
                headers,
                body: alloc::vec::Vec::new(),
            });
        }
        if response.version() != http::Version::HTTP_11 {
            let e = HandshakeError::UnsupportedHttpVersion;
            self.fail(e.clone());
            return Err(e);
        }
        let response = match self.validate(reason, headers) {
            Ok(r) => r,
            Err(e) => {
                self.fail(e.clone());
                return Err(e);
            }
        };
        let connection: Connection = self.finish(&response)?;
        Ok(ClientOutcome::Accepted {
            connection,
            response,
        })
    }
}
