//! hyper 1.x servers: upgrade a request to a WebSocket (feature `hyper`).
//!
//! [`upgrade`] validates a request hyper received and takes hyper's upgrade handle out of it;
//! [`Upgrade`] chooses the subprotocol, the [`Config`] and permessage-deflate, and
//! [`Upgrade::into_response`] gives the response to return from the service and a future
//! ([`Upgrading`]) that resolves to the [`WebSocket`] once hyper has sent that response and
//! handed over the connection.
//!
//! Both ways of opening a WebSocket are served:
//!
//! - **HTTP/1.1**: `GET` with `Upgrade: websocket` (RFC 6455 §4), answered with `101`.
//!   Serve the connection with upgrades on (`serve_connection(..).with_upgrades()`, or
//!   hyper-util's auto builder's `serve_connection_with_upgrades`).
//! - **HTTP/2**: an extended `CONNECT` with `:protocol websocket` (RFC 8441), answered with
//!   `200`; the WebSocket then runs over that HTTP/2 stream. The server must announce it:
//!   `http2::Builder::enable_connect_protocol()` (hyper-util's auto builder:
//!   `builder.http2().enable_connect_protocol()`).
//!
//! A request that is not a valid upgrade is an [`UpgradeError`] whose
//! [`to_http_response`](UpgradeError::to_http_response) is the answer (`400`, `405`, `426`).
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use http_body_util::Empty;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! use wsproto::Message;
//!
//! async fn handle(mut request: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Infallible> {
//!     let upgrade = match wsproto::driver::hyper::upgrade(&mut request) {
//!         Ok(upgrade) => upgrade.protocols(["chat"]),
//!         // Not a WebSocket request: answer 400/405/426 (with a text body, dropped here).
//!         Err(e) => return Ok(e.to_http_response().map(|_| Empty::new())),
//!     };
//!     let (response, upgrading) = upgrade.into_response().expect("a valid response");
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = upgrading.await else { return };
//!         while let Ok(message) = ws.read().await {
//!             if let Message::Text(_) = message {
//!                 let _ = ws.send(message).await;
//!             }
//!         }
//!     });
//!     Ok(response.map(|()| Empty::new()))
//! }
//! ```

use core::fmt;
use std::future::Future;
use std::pin::Pin;
use std::string::String;
use std::task::{Context, Poll};

use ::hyper::upgrade::{OnUpgrade, Upgraded};
use bytes::Bytes;
use hyper_util::rt::TokioIo;

use super::tokio::WebSocketStream;
use crate::config::{Config, Role};
use crate::connection::Connection;
#[cfg(feature = "deflate")]
use crate::extensions::deflate::{DeflateConfig, DeflateParams};
use crate::handshake::{AcceptOptions, HandshakeError, Request};

/// The WebSocket of an upgraded hyper connection: the tokio driver over hyper's upgraded I/O
/// (the TCP or TLS connection for HTTP/1.1, one stream of the connection for HTTP/2).
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Validates `request` as a WebSocket request (HTTP/1.1 Upgrade or HTTP/2 extended CONNECT)
/// and takes hyper's upgrade handle out of it.
///
/// The checks are those of [`Request::try_from`](Request#impl-TryFrom<%26Request<B>>-for-Request):
/// over HTTP/1.1 those of [`ServerHandshake`](crate::handshake::ServerHandshake); over HTTP/2
/// those of [`Request::from_extended_connect`], the `:protocol` read from hyper's
/// `hyper::ext::Protocol`.
pub fn upgrade<B>(request: &mut http::Request<B>) -> Result<Upgrade, UpgradeError> {
    let upgrade = Request::try_from(&*request)
        .map_err(UpgradeError::Handshake)
        .and_then(|validated| {
            let on_upgrade = request
                .extensions_mut()
                .remove::<OnUpgrade>()
                .ok_or(UpgradeError::NotUpgradable)?;
            Ok(Upgrade::new(validated, on_upgrade))
        });
    #[cfg(feature = "tracing")]
    if let Err(e) = &upgrade {
        crate::trace::ws_debug!(status = e.status(), error = %e, "server handshake rejected");
    }
    upgrade
}

/// A validated WebSocket request, to accept with [`into_response`](Self::into_response).
///
/// Defaults: no subprotocol, [`Config::default`], and (feature `deflate`) permessage-deflate
/// accepted when the client offers it, with [`DeflateConfig::default`].
pub struct Upgrade {
    request: Request,
    on_upgrade: OnUpgrade,
    config: Config,
    protocol: Option<String>,
    options: AcceptOptions,
    #[cfg(feature = "deflate")]
    deflate: Option<DeflateConfig>,
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("request", &self.request)
            .field("protocol", &self.protocol)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Upgrade {
    fn new(request: Request, on_upgrade: OnUpgrade) -> Self {
        Upgrade {
            request,
            on_upgrade,
            config: Config::default(),
            protocol: None,
            options: AcceptOptions::new(),
            #[cfg(feature = "deflate")]
            deflate: Some(DeflateConfig::default()),
        }
    }

    /// The validated request: path, `Origin` (check it to stop cross-site WebSocket
    /// hijacking), the offered subprotocols and extensions, all header fields.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn requested_protocols(&self) -> &[String] {
        self.request.protocols()
    }

    /// Selects the subprotocol: the first one the client offered (in its order of preference,
    /// RFC 6455 §4.1) that is among `supported`. None in common: no subprotocol (the client
    /// decides whether that is acceptable).
    ///
    /// The client's order decides here; [`Request::select_subprotocol`] lets the server's order
    /// decide instead. To accept by the server's preference, pass its answer, which is at most
    /// one name: `let chosen = upgrade.request().select_subprotocol(&["v2", "v1"]).map(str::to_owned);`
    /// then `upgrade.protocols(chosen)`.
    pub fn protocols<I>(mut self, supported: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let supported: std::vec::Vec<I::Item> = supported.into_iter().collect();
        self.protocol = self
            .request
            .protocols()
            .iter()
            .find(|offered| supported.iter().any(|s| s.as_ref() == offered.as_str()))
            .cloned();
        self
    }

    /// The subprotocol [`protocols`](Self::protocols) selected, if any.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The connection's settings (message and frame limits, keepalive, close timeout).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// permessage-deflate: accepted with `config` when the client offers it (the default,
    /// with [`DeflateConfig::default`]); `None` declines it.
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.deflate = config;
        self
    }

    /// Adds a header field to the accepting response (`Set-Cookie`, …). The fields the
    /// handshake sets itself are refused with [`HandshakeError::ReservedHeader`].
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, HandshakeError> {
        self.options = self.options.header(name, value)?;
        Ok(self)
    }

    /// Accepts: the response to return from the service (`101 Switching Protocols` over
    /// HTTP/1.1, `200` over HTTP/2, with the subprotocol and extensions chosen), and the
    /// future that resolves to the WebSocket once hyper has sent it. Await that future in a
    /// task of its own (`tokio::spawn`): hyper sends the response only after the service
    /// returns it.
    ///
    /// Fails only if an extension response cannot be built, which the options this type sets
    /// never cause.
    pub fn into_response(self) -> Result<(http::Response<()>, Upgrading), HandshakeError> {
        let options = self.options.subprotocol(self.protocol.as_deref());
        #[cfg(feature = "deflate")]
        let params: Option<DeflateParams> = self
            .deflate
            .as_ref()
            .and_then(|d| self.request.negotiate_deflate(d));
        #[cfg(feature = "deflate")]
        let options = match &params {
            Some(params) => options.deflate(params.clone()),
            None => options,
        };
        let accepted = self.request.accept(&options)?;
        let response = http::Response::<()>::try_from(&accepted)?;
        let connection = Connection::new(Role::Server, self.config).with_subprotocol(self.protocol);
        #[cfg(feature = "deflate")]
        let connection = match &params {
            Some(params) => connection.with_deflate(params),
            None => connection,
        };
        Ok((
            response,
            Upgrading {
                on_upgrade: self.on_upgrade,
                connection: Some(connection),
            },
        ))
    }
}

/// The WebSocket being handed over by hyper: resolves once hyper has sent the accepting
/// response, or fails if the connection ended first or was not served with upgrades.
#[must_use = "the WebSocket is only available by awaiting this"]
pub struct Upgrading {
    on_upgrade: OnUpgrade,
    connection: Option<Connection>,
}

impl fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrading").finish_non_exhaustive()
    }
}

impl Future for Upgrading {
    type Output = Result<WebSocket, ::hyper::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.connection.is_none() {
            // Polled after completion: never ready again (hyper's handle would panic).
            return Poll::Pending;
        }
        let upgraded = match Pin::new(&mut self.on_upgrade).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        let Some(connection) = self.connection.take() else {
            return Poll::Pending;
        };
        Poll::Ready(
            upgraded.map(|upgraded| {
                WebSocketStream::from_connection(TokioIo::new(upgraded), connection)
            }),
        )
    }
}

/// Why a request cannot be upgraded; [`to_http_response`](Self::to_http_response) is the
/// answer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpgradeError {
    /// Not a valid WebSocket request (`400`, `405`, `426`; see [`HandshakeError::status`]).
    Handshake(HandshakeError),
    /// hyper attached no upgrade handle to the request (it cannot take the connection
    /// over): `426`.
    NotUpgradable,
}

impl UpgradeError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            UpgradeError::Handshake(e) => e.status().unwrap_or(400),
            UpgradeError::NotUpgradable => 426,
        }
    }

    /// The response to send: the status, the header fields the error calls for (`Allow`,
    /// `Sec-WebSocket-Version`) and a plain-text body saying what was wrong.
    pub fn to_http_response(&self) -> http::Response<Bytes> {
        if let UpgradeError::Handshake(e) = self
            && let Some(response) = e.to_http_response()
        {
            return response;
        }
        let mut response = http::Response::new(Bytes::from(std::format!("{self}\n")));
        *response.status_mut() =
            http::StatusCode::from_u16(self.status()).unwrap_or(http::StatusCode::BAD_REQUEST);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeError::Handshake(e) => fmt::Display::fmt(e, f),
            UpgradeError::NotUpgradable => f.write_str(
                "the connection cannot be upgraded (the server does not serve it with upgrades)",
            ),
        }
    }
}

impl std::error::Error for UpgradeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UpgradeError::Handshake(e) => Some(e),
            UpgradeError::NotUpgradable => None,
        }
    }
}

impl From<HandshakeError> for UpgradeError {
    fn from(e: HandshakeError) -> Self {
        UpgradeError::Handshake(e)
    }
}
