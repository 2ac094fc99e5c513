//! WebSockets over HTTP/2: the extended CONNECT of RFC 8441.
//!
//! Over HTTP/2 a WebSocket is one stream of a connection that the server opened to it by
//! sending `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` (§3). The client sends a `CONNECT` request
//! with the pseudo-header `:protocol: websocket` and `:scheme`, `:authority`, `:path` as for a
//! `GET` (§4); the server accepts with any `2xx` (a `200`), and from then on the stream's DATA
//! frames carry the WebSocket frames both ways (§5). There is no `Upgrade`, no `Connection`, no
//! `Sec-WebSocket-Key` and no `Sec-WebSocket-Accept`; `Sec-WebSocket-Version`,
//! `Sec-WebSocket-Protocol`, `Sec-WebSocket-Extensions` and `Origin` mean what they mean in
//! RFC 6455. The framing and the closing handshake are RFC 6455's, unchanged, so the same
//! [`Connection`](crate::Connection) runs over the stream.
//!
//! [`Request::from_extended_connect`] validates such a request given as parts (for any HTTP/2
//! library); with the `http` feature, `Request::try_from(&http::Request)` recognises an HTTP/2
//! request and comes here, and [`Request::accept`] answers it with a `200`. For clients,
//! [`ClientHandshake::to_extended_connect_request`] and
//! [`ClientHandshake::receive_extended_connect_response`] do the same for the other side.

use alloc::string::{String, ToString};

use super::error::HandshakeError;
use super::headers::Headers;
use super::server::Request;
use super::url::parse_authority;

/// The `:protocol` value that asks for a WebSocket (RFC 8441 §4, the HTTP Upgrade Token).
pub const WEBSOCKET_PROTOCOL: &str = "websocket";

impl Request {
    /// Validates an HTTP/2 extended CONNECT request (RFC 8441 §4, §5) given as parts: the
    /// method, the `:protocol` pseudo-header (if any), the `:authority` (if any; the `Host`
    /// header field otherwise), the `:path`, and the regular header fields.
    ///
    /// Checked: `CONNECT` (else [`HandshakeError::ConnectRequired`], a `405`), `:protocol` is
    /// `websocket` (else [`HandshakeError::InvalidProtocolPseudoHeader`], a `400`), a valid
    /// authority and path, `Sec-WebSocket-Version: 13` (else `426`), no body, well-formed
    /// subprotocol and extension lists. No key is needed; [`accept`](Self::accept) answers
    /// with a `200`.
    ///
    /// ```
    /// use wsproto::handshake::{AcceptOptions, Headers, Request};
    ///
    /// let mut headers = Headers::new();
    /// headers.push("sec-websocket-version", "13")?;
    /// headers.push("sec-websocket-protocol", "chat, superchat")?;
    /// let request = Request::from_extended_connect(
    ///     "CONNECT",
    ///     Some("websocket"),
    ///     Some("example.com"),
    ///     "/chat",
    ///     headers,
    /// )?;
    /// assert!(request.is_extended_connect());
    /// let response = request.accept(&AcceptOptions::new().subprotocol(Some("chat")))?;
    /// assert_eq!(response.status(), 200);
    /// assert!(!response.headers().contains("sec-websocket-accept"));
    /// # Ok::<(), wsproto::handshake::HandshakeError>(())
    /// ```
    pub fn from_extended_connect(
        method: &str,
        protocol: Option<&str>,
        authority: Option<&str>,
        path: &str,
        headers: Headers,
    ) -> Result<Request, HandshakeError> {
        if method != "CONNECT" {
            return Err(HandshakeError::ConnectRequired(method.to_string()));
        }
        match protocol {
            Some(p) if p.eq_ignore_ascii_case(WEBSOCKET_PROTOCOL) => {}
            other => {
                return Err(HandshakeError::InvalidProtocolPseudoHeader(
                    other.map(ToString::to_string),
                ));
            }
        }
        if !path.starts_with('/')
            || path.contains('#')
            || !path.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(HandshakeError::InvalidRequestTarget);
        }

        // `:authority` is mandatory for CONNECT (RFC 9113 §8.5); a library that folds it
        // into `Host` is served too.
        let host = match authority {
            Some(a) => a,
            None => headers
                .single("Host")?
                .and_then(|h| core::str::from_utf8(h).ok())
                .ok_or(HandshakeError::MissingHeader(":authority"))?,
        };
        if parse_authority(host).is_err() {
            return Err(HandshakeError::InvalidHeader {
                name: ":authority",
                reason: "not a host with an optional port",
            });
        }
        let host = host.to_string();

        {
            let mut versions = headers.get_all("Sec-WebSocket-Version");
            match (versions.next(), versions.next()) {
                (Some(v), None) if v == b"13" => {}
                _ => return Err(HandshakeError::UnsupportedVersion),
            }
        }

        // The stream carries WebSocket frames once accepted: a request body would be read as
        // frames.
        let (origin, protocols, extensions) = super::server::negotiation_fields(&headers)?;

        Ok(Request {
            method: method.to_string(),
            resource: path.to_string(),
            headers,
            host,
            origin,
            key: String::new(),
            protocols,
            extensions,
            extended_connect: true,
        })
    }

    /// Whether this is an HTTP/2 extended CONNECT (RFC 8441) rather than an HTTP/1.1 Upgrade:
    /// it is then accepted with `200` and has no [`key`](Self::key).
    pub fn is_extended_connect(&self) -> bool {
        self.extended_connect
    }
}

#[cfg(feature = "http")]
mod with_http {
    use alloc::string::ToString;

    use super::super::client::{ClientHandshake, ClientOutcome};
    use super::super::error::HandshakeError;
    use super::super::headers::Headers;
    use super::super::http::from_http_headers;
    use super::super::is_reserved;
    use super::super::server::Request;
    use crate::connection::Connection;

    /// Appends `headers` to `map`, leaving out the fields named in `except`.
    fn to_http_headers_except(
        headers: &Headers,
        map: &mut http::HeaderMap,
        except: &[&str],
    ) -> Result<(), HandshakeError> {
        for h in headers.iter().filter(|h| !is_reserved(h.name(), except)) {
            let name = http::header::HeaderName::from_bytes(h.name().as_bytes())
                .map_err(|_| HandshakeError::InvalidHeaderName(h.name().to_string()))?;
            let value = http::header::HeaderValue::from_bytes(h.value())
                .map_err(|_| HandshakeError::InvalidHeaderValue(h.name().to_string()))?;
            map.append(name, value);
        }
        Ok(())
    }

    /// The header fields of an HTTP/1.1 client request that HTTP/2 does not carry: `Host`
    /// becomes `:authority`, the rest are connection-specific (RFC 9113 §8.2.2) or not used
    /// (RFC 8441 §5).
    const NOT_IN_HTTP2: &[&str] = &["Host", "Upgrade", "Connection", "Sec-WebSocket-Key"];

    /// The `:protocol` pseudo-header of a request, as the HTTP/2 server libraries hand it over
    /// in the request's extensions: `hyper::ext::Protocol` (feature `hyper`),
    /// `h2::ext::Protocol` (feature `h2`). `None` if absent or of a type unknown here.
    pub(crate) fn protocol_of<B>(request: &http::Request<B>) -> Option<&str> {
        #[cfg(feature = "hyper")]
        if let Some(p) = request.extensions().get::<::hyper::ext::Protocol>() {
            return Some(p.as_str());
        }
        #[cfg(feature = "h2")]
        if let Some(p) = request.extensions().get::<::h2::ext::Protocol>() {
            return Some(p.as_str());
        }
        let _ = request;
        None
    }

    impl Request {
        /// Validates an HTTP/2 (or later) `http::Request` as an extended CONNECT
        /// ([`from_extended_connect`](Self::from_extended_connect)), with its `:protocol`
        /// given: `http::Request` has no field for it, each HTTP/2 library puts it in its
        /// own extension type.
        ///
        /// `Request::try_from(&request)` calls this for HTTP/2 requests, finding the
        /// `:protocol` that hyper (feature `hyper`) or h2 (feature `h2`) stored; call this
        /// directly with another library.
        pub fn from_http_extended_connect<B>(
            request: &http::Request<B>,
            protocol: Option<&str>,
        ) -> Result<Request, HandshakeError> {
            let headers = from_http_headers(request.headers())?;
            let path = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string();
            let authority = request.uri().authority().map(|a| a.as_str());
            Request::from_extended_connect(
                request.method().as_str(),
                protocol,
                authority,
                &path,
                headers,
            )
        }
    }

    impl ClientHandshake {
        /// The request as an HTTP/2 extended CONNECT (RFC 8441 §4): `CONNECT`, version
        /// HTTP/2, the URI `http://host/resource` (`https` when `secure`: the `:scheme`), and
        /// the header fields minus `Host` (it is the `:authority`), `Upgrade`, `Connection`
        /// and `Sec-WebSocket-Key`.
        ///
        /// `http::Request` has no field for the `:protocol` pseudo-header: add the HTTP/2
        /// library's extension for it before sending (with h2,
        /// `request.extensions_mut().insert(h2::ext::Protocol::from_static("websocket"))`;
        /// `wsproto::driver::h2` (feature `h2`) does all this). The server must have enabled extended
        /// CONNECT first (RFC 8441 §3).
        pub fn to_extended_connect_request(
            &self,
            secure: bool,
        ) -> Result<http::Request<()>, HandshakeError> {
            let host = self
                .headers
                .get_str("Host")
                .ok_or(HandshakeError::MissingHeader("Host"))?;
            let scheme = if secure { "https" } else { "http" };
            let uri = alloc::format!("{scheme}://{host}{}", self.resource);
            let mut out = http::Request::builder()
                .method(http::Method::CONNECT)
                .uri(uri)
                .version(http::Version::HTTP_2)
                .body(())
                .map_err(|_| HandshakeError::InvalidUrl("the resource is not a valid URI"))?;
            to_http_headers_except(&self.headers, out.headers_mut(), NOT_IN_HTTP2)?;
            Ok(out)
        }

        /// Checks the response to [`to_extended_connect_request`](Self::to_extended_connect_request):
        /// a `2xx` accepts (RFC 8441 §5); its subprotocol and extensions are checked against
        /// the offer as for a `101`, and the [`Connection`] to run over the HTTP/2 stream is
        /// returned. Any other status is [`ClientOutcome::Rejected`] with an empty body (the
        /// body is the library's to read).
        pub fn receive_extended_connect_response<B>(
            &mut self,
            response: &http::Response<B>,
        ) -> Result<ClientOutcome, HandshakeError> {
            self.check_waiting()?;
            let headers = from_http_headers(response.headers())?;
            let status = response.status();
            let reason = status.canonical_reason().unwrap_or("").to_string();
            if !status.is_success() {
                self.set_finished();
                return Ok(ClientOutcome::Rejected {
                    status: status.as_u16(),
                    reason,
                    headers,
                    body: alloc::vec::Vec::new(),
                });
            }
            let response = match self.validate_negotiation(status.as_u16(), reason, headers) {
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
}

#[cfg(feature = "http")]
pub(crate) use with_http::protocol_of;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::AcceptOptions;

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in fields {
            h.push(n, v).unwrap();
        }
        h
    }

    fn connect(
        method: &str,
        protocol: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Result<Request, HandshakeError> {
        Request::from_extended_connect(
            method,
            protocol,
            Some("example.com:8443"),
            "/chat?x=1",
            headers(fields),
        )
    }

    #[test]
    fn accepts_with_200_and_no_accept_key() {
        let request = connect(
            "CONNECT",
            Some("websocket"),
            &[
                ("sec-websocket-version", "13"),
                ("origin", "https://example.com"),
                ("sec-websocket-protocol", "a, b"),
                (
                    "sec-websocket-extensions",
                    "permessage-deflate; client_max_window_bits",
                ),
            ],
        )
        .unwrap();
        assert_eq!(request.host(), "example.com:8443");
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.query(), Some("x=1"));
        assert_eq!(request.key(), "");
        assert_eq!(request.origin(), Some("https://example.com"));
        assert_eq!(request.protocols(), ["a", "b"]);
        assert_eq!(request.extensions().len(), 1);
        let response = request
            .accept(&AcceptOptions::new().subprotocol(Some("b")))
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.subprotocol(), Some("b"));
        for absent in ["upgrade", "connection", "sec-websocket-accept"] {
            assert!(!response.headers().contains(absent), "{absent}");
        }
        assert_eq!(
            response.headers().get_str("sec-websocket-protocol"),
            Some("b")
        );
        // The rules for what may be selected are RFC 6455's.
        assert_eq!(
            request.accept(&AcceptOptions::new().subprotocol(Some("c"))),
            Err(HandshakeError::SubprotocolNotOffered("c".into()))
        );
    }

    #[test]
    fn refusals_carry_the_right_status() {
        let v13 = [("sec-websocket-version", "13")];
        let e = connect("GET", Some("websocket"), &v13).unwrap_err();
        assert_eq!(e, HandshakeError::ConnectRequired("GET".into()));
        assert_eq!(e.status(), Some(405));
        let response = e.response().unwrap();
        let response = core::str::from_utf8(&response).unwrap();
        assert!(response.contains("\r\nAllow: CONNECT\r\n"), "{response}");
        let e = connect("CONNECT", None, &v13).unwrap_err();
        assert_eq!(e, HandshakeError::InvalidProtocolPseudoHeader(None));
        assert_eq!(e.status(), Some(400));
        let e = connect("CONNECT", Some("webtransport"), &v13).unwrap_err();
        assert_eq!(e.status(), Some(400));
        let e = connect(
            "CONNECT",
            Some("websocket"),
            &[("sec-websocket-version", "8")],
        )
        .unwrap_err();
        assert_eq!(e, HandshakeError::UnsupportedVersion);
        assert_eq!(e.status(), Some(426));
        let e = connect("CONNECT", Some("websocket"), &[]).unwrap_err();
        assert_eq!(e.status(), Some(426));
        let e = connect(
            "CONNECT",
            Some("websocket"),
            &[("sec-websocket-version", "13"), ("content-length", "5")],
        )
        .unwrap_err();
        assert_eq!(e.status(), Some(400));
        let e =
            Request::from_extended_connect("CONNECT", Some("websocket"), None, "/", headers(&v13))
                .unwrap_err();
        assert_eq!(e, HandshakeError::MissingHeader(":authority"));
        for bad_path in ["chat", "/a#b", "/a b", ""] {
            let e = Request::from_extended_connect(
                "CONNECT",
                Some("websocket"),
                Some("h"),
                bad_path,
                headers(&v13),
            )
            .unwrap_err();
            assert_eq!(e, HandshakeError::InvalidRequestTarget, "{bad_path:?}");
        }
        // `Host` stands in for a missing `:authority`; the case of `:protocol` does not matter.
        let r = Request::from_extended_connect(
            "CONNECT",
            Some("WebSocket"),
            None,
            "/",
            headers(&[("host", "h:1"), ("sec-websocket-version", "13")]),
        )
        .unwrap();
        assert_eq!(r.host(), "h:1");
    }

    #[cfg(feature = "hyper")]
    #[test]
    fn http_conversions_accept_an_extended_connect() {
        let mut incoming = http::Request::builder()
            .method(http::Method::CONNECT)
            .version(http::Version::HTTP_2)
            .uri("https://example.com/chat")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "chat")
            .body(())
            .unwrap();
        // hyper's server stores `:protocol` as this extension.
        assert_eq!(
            Request::try_from(&incoming),
            Err(HandshakeError::InvalidProtocolPseudoHeader(None))
        );
        incoming
            .extensions_mut()
            .insert(::hyper::ext::Protocol::from_static("websocket"));
        let request = Request::try_from(&incoming).unwrap();
        assert!(request.is_extended_connect());
        assert_eq!(
            (request.host(), request.resource()),
            ("example.com", "/chat")
        );
        let accepted = request
            .accept(&AcceptOptions::new().subprotocol(Some("chat")))
            .unwrap();
        let response = http::Response::<()>::try_from(&accepted).unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
        assert_eq!(response.headers().len(), 1);
    }

    #[cfg(feature = "http")]
    #[test]
    fn client_side_over_http2() {
        use crate::handshake::{ClientHandshake, ClientOutcome, ClientRequest};
        let request = ClientRequest::from_url("wss://example.com:8443/chat?room=1")
            .unwrap()
            .protocols(["v2", "v1"])
            .unwrap()
            .origin("https://example.com")
            .unwrap();
        let mut client = ClientHandshake::new(request);
        let outgoing = client.to_extended_connect_request(true).unwrap();
        assert_eq!(outgoing.method(), http::Method::CONNECT);
        assert_eq!(outgoing.version(), http::Version::HTTP_2);
        assert_eq!(outgoing.uri(), "https://example.com:8443/chat?room=1");
        for absent in ["host", "upgrade", "connection", "sec-websocket-key"] {
            assert!(!outgoing.headers().contains_key(absent), "{absent}");
        }
        assert_eq!(outgoing.headers()["sec-websocket-version"], "13");
        assert_eq!(outgoing.headers()["origin"], "https://example.com");

        // A subprotocol that was not offered fails the handshake.
        let mut bad = http::Response::new(());
        *bad.version_mut() = http::Version::HTTP_2;
        bad.headers_mut().insert(
            "sec-websocket-protocol",
            http::HeaderValue::from_static("v3"),
        );
        let mut other = ClientHandshake::new(ClientRequest::from_url("ws://h/").unwrap());
        assert!(matches!(
            other.receive_http_response(&bad),
            Err(HandshakeError::SubprotocolNotOffered(_))
        ));

        // A 200 accepts; through `receive_http_response` too, by its version.
        let mut ok = http::Response::new(());
        *ok.version_mut() = http::Version::HTTP_2;
        ok.headers_mut().insert(
            "sec-websocket-protocol",
            http::HeaderValue::from_static("v1"),
        );
        let ClientOutcome::Accepted {
            connection,
            response,
        } = client.receive_http_response(&ok).unwrap()
        else {
            panic!("not accepted");
        };
        assert_eq!(response.status(), 200);
        assert_eq!(connection.subprotocol(), Some("v1"));

        // Any other status is a rejection.
        let mut client = ClientHandshake::new(ClientRequest::from_url("ws://h/").unwrap());
        let mut refused = http::Response::new(());
        *refused.status_mut() = http::StatusCode::FORBIDDEN;
        assert!(matches!(
            client.receive_extended_connect_response(&refused),
            Ok(ClientOutcome::Rejected { status: 403, .. })
        ));
    }
}
