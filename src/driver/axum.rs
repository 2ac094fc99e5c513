//! axum 0.8: a [`WebSocketUpgrade`] extractor that runs this crate's engine (feature `axum`).
//!
//! It is used like axum's own `axum::extract::ws::WebSocketUpgrade`: take it as a handler
//! argument, choose the subprotocol, the [`Config`] or permessage-deflate, and return
//! [`on_upgrade`](WebSocketUpgrade::on_upgrade)'s response; the callback gets the
//! [`WebSocket`] (this crate's tokio [`WebSocketStream`](super::tokio::WebSocketStream): a
//! `Stream` and a `Sink` of [`Message`](crate::Message)s, splittable into halves).
//!
//! Requests over **HTTP/1.1** (`GET` + `Upgrade: websocket`, answered `101`) and over
//! **HTTP/2** (extended `CONNECT`, RFC 8441, answered `200`) are both accepted: route with
//! [`any`](axum::routing::any) so that both methods reach the handler. `axum::serve`
//! announces extended CONNECT over HTTP/2 when axum's `http2` feature is on; with
//! hyper-util's auto builder, call `builder.http2().enable_connect_protocol()`.
//!
//! Permessage-deflate (feature `deflate`) is accepted by default when the client offers it.
//! Anything the application must do before accepting (authentication, a database lookup) is
//! done in the handler before `on_upgrade`; returning another response instead rejects.
//! A request that is not a valid WebSocket request is rejected by the extractor with the
//! right status (`400`, `405`, `426`) and a plain-text reason.
//!
//! ```no_run
//! use axum::Router;
//! use axum::response::Response;
//! use axum::routing::any;
//! use wsproto::Message;
//! use wsproto::driver::axum::WebSocketUpgrade;
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.protocols(["chat"]).on_upgrade(|mut socket| async move {
//!         while let Ok(message) = socket.read().await {
//!             if let Message::Text(_) = message
//!                 && socket.send(message).await.is_err()
//!             {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/ws", any(ws));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use core::fmt;
use std::future::Future;
use std::string::String;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use super::hyper::{Upgrade, UpgradeError, upgrade};
use crate::config::Config;
#[cfg(feature = "deflate")]
use crate::extensions::deflate::DeflateConfig;
use crate::handshake::{HandshakeError, Request};

pub use super::hyper::WebSocket;

/// The extractor: a validated WebSocket request, accepted with
/// [`on_upgrade`](Self::on_upgrade).
///
/// Defaults: no subprotocol, [`Config::default`] (with the drivers' keepalive), and (feature
/// `deflate`) permessage-deflate accepted with [`DeflateConfig::default`] when offered.
#[must_use = "to open the WebSocket, return the response of `on_upgrade`"]
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    inner: Upgrade,
    on_failed_upgrade: F,
}

impl<F> fmt::Debug for WebSocketUpgrade<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<F> WebSocketUpgrade<F> {
    /// The validated request: path, `Origin` (check it to stop cross-site WebSocket
    /// hijacking), the offered subprotocols and extensions, whether it came over HTTP/2
    /// ([`Request::is_extended_connect`]).
    pub fn request(&self) -> &Request {
        self.inner.request()
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn requested_protocols(&self) -> &[String] {
        self.inner.requested_protocols()
    }

    /// Selects the subprotocol: the first one the client offered (in its order of preference)
    /// that is in `supported`. None in common: no subprotocol. Note that axum's own
    /// `protocols` lets the server's order decide; for that, see
    /// [`hyper::Upgrade::protocols`](crate::driver::hyper::Upgrade::protocols).
    pub fn protocols<I>(mut self, supported: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.inner = self.inner.protocols(supported);
        self
    }

    /// The subprotocol [`protocols`](Self::protocols) selected, if any.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.inner.selected_protocol()
    }

    /// The connection's settings (message and frame limits, keepalive, close timeout).
    pub fn config(mut self, config: Config) -> Self {
        self.inner = self.inner.config(config);
        self
    }

    /// permessage-deflate: accepted with `config` when the client offers it (the default,
    /// with [`DeflateConfig::default`]); `None` declines it.
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.inner = self.inner.deflate(config);
        self
    }

    /// Adds a header field to the accepting response (`Set-Cookie`, …). The fields the
    /// handshake sets itself are refused with [`HandshakeError::ReservedHeader`].
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, HandshakeError> {
        self.inner = self.inner.header(name, value)?;
        Ok(self)
    }

    /// Calls `callback` with the error if the upgrade fails after the response was returned
    /// (the client went away, the server does not serve connections with upgrades). By
    /// default such errors are ignored.
    pub fn on_failed_upgrade<C>(self, callback: C) -> WebSocketUpgrade<C>
    where
        C: FnOnce(::hyper::Error) + Send + 'static,
    {
        WebSocketUpgrade {
            inner: self.inner,
            on_failed_upgrade: callback,
        }
    }

    /// Accepts: returns the response for the handler to return (`101` over HTTP/1.1, `200`
    /// over HTTP/2) and, in a task of its own, calls `callback` with the [`WebSocket`] once
    /// axum has sent it.
    #[must_use = "to open the WebSocket, this response must be returned"]
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
        F: OnFailedUpgrade,
    {
        let (response, upgrading) = match self.inner.into_response() {
            Ok(accepted) => accepted,
            // Unreachable with the options this type sets; answered rather than panicking.
            Err(e) => {
                return (
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    std::format!("cannot accept the WebSocket: {e}\n"),
                )
                    .into_response();
            }
        };
        let on_failed_upgrade = self.on_failed_upgrade;
        ::tokio::spawn(async move {
            match upgrading.await {
                Ok(socket) => callback(socket).await,
                Err(e) => on_failed_upgrade.call(e),
            }
        });
        response.map(|()| Body::empty())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade<DefaultOnFailedUpgrade> {
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Borrow the parts as a request (no copy) for the validation, then put them back.
        let (empty, ()) = http::Request::new(()).into_parts();
        let mut request = http::Request::from_parts(core::mem::replace(parts, empty), ());
        let result = upgrade(&mut request);
        *parts = request.into_parts().0;
        Ok(WebSocketUpgrade {
            inner: result.map_err(WebSocketUpgradeRejection)?,
            on_failed_upgrade: DefaultOnFailedUpgrade,
        })
    }
}

/// What to do when the upgrade fails after the response was returned: the callback given to
/// [`WebSocketUpgrade::on_failed_upgrade`] (any `FnOnce(hyper::Error)`), or by default nothing.
pub trait OnFailedUpgrade: Send + 'static {
    /// Handles the error.
    fn call(self, error: ::hyper::Error);
}

impl<F> OnFailedUpgrade for F
where
    F: FnOnce(::hyper::Error) + Send + 'static,
{
    fn call(self, error: ::hyper::Error) {
        self(error)
    }
}

/// The default [`OnFailedUpgrade`]: ignores the error.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnFailedUpgrade;

impl OnFailedUpgrade for DefaultOnFailedUpgrade {
    fn call(self, _error: ::hyper::Error) {}
}

/// The extractor's rejection of a request that is not a valid WebSocket request; as a
/// response: `400`, `405` (with `Allow`), `426` (with `Sec-WebSocket-Version: 13`) and a
/// plain-text reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketUpgradeRejection(pub UpgradeError);

impl fmt::Display for WebSocketUpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for WebSocketUpgradeRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        self.0.to_http_response().map(Body::from)
    }
}
