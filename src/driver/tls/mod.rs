//! `wss://`: WebSocket over TLS with [rustls] (feature `rustls`).
//!
//! **Client.** `connect` in both drivers dials `wss://` URLs itself: it connects TCP, runs the
//! TLS handshake with the URL's host as the server name (SNI) and ALPN `http/1.1`, checks the
//! server's certificate against the [webpki-roots](https://docs.rs/webpki-roots) root store
//! (Mozilla's, built in: the same answer on every machine, no OS certificate store needed),
//! then runs the WebSocket handshake over it. The `Host` header leaves out the port when it is
//! 443. For a private CA or client certificates, give your own [`rustls::ClientConfig`] with
//! [`Options::tls_config`](crate::driver::Options::tls_config) ([`client_config`] builds one from
//! a root store).
//!
//! ```no_run
//! # async fn demo() -> Result<(), wsproto::driver::Error> {
//! use wsproto::Message;
//! use wsproto::driver::tokio::WebSocketStream;
//!
//! let (mut ws, _response) = WebSocketStream::connect("wss://example.com/chat").await?;
//! ws.send(Message::text("hello")).await?;
//! # Ok(()) }
//! ```
//!
//! **Server.** The drivers run over any stream, so a TLS server is a [`TlsAcceptor`] step between
//! accepting TCP and the WebSocket handshake:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use wsproto::driver::tls::TlsAcceptor;
//! use wsproto::driver::tokio::WebSocketStream;
//!
//! let acceptor = TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     let acceptor = acceptor.clone();
//!     tokio::spawn(async move {
//!         let tls = acceptor.accept(tcp).await?; // the TLS handshake
//!         let mut ws = WebSocketStream::accept(tls).await?;
//!         while let Ok(message) = ws.read().await { /* … */ }
//!         Ok::<_, wsproto::driver::Error>(())
//!     });
//! }
//! # }
//! ```
//!
//! With the blocking driver, [`TlsAcceptor::accept_blocking`] gives a
//! [`rustls::StreamOwned`], which is a [`Transport`](crate::driver::blocking::Transport): its
//! read timeouts (the connection's timers) go to the socket inside.
//!
//! **Closing.** After the close handshake the drivers end TLS with a `close_notify` alert
//! before TCP closes (the tokio driver in `poll_shutdown`, the blocking driver through
//! [`Transport::shutdown_write`](crate::driver::blocking::Transport::shutdown_write)), so the peer
//! sees a clean end rather than a truncation.
//!
//! **Errors.** A TLS failure is [`Error::Tls`](crate::driver::Error::Tls) with a [`TlsError`] saying
//! what failed: [`UnknownIssuer`](TlsError::UnknownIssuer),
//! [`NameMismatch`](TlsError::NameMismatch), an [`AlertReceived`](TlsError::AlertReceived) from
//! the peer, a peer that does [not speak TLS](TlsError::NotTls), …
//!
//! The cryptography is rustls' `ring` provider, chosen explicitly for every configuration made
//! here (so another provider enabled elsewhere in the program does not matter).

#[cfg(feature = "rustls")]
pub use rustls;
#[cfg(all(feature = "rustls", feature = "tokio"))]
pub use tokio_rustls;

#[cfg(feature = "rustls")]
mod config;
#[cfg(feature = "rustls")]
pub use config::{TlsAcceptor, TlsError, client_config, default_client_config, server_config};
#[cfg(feature = "rustls")]
pub(crate) use config::{client_config_for, from_io, handshake_error, server_name, tls_timed_out};

#[cfg(feature = "blocking")]
pub(crate) mod blocking;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;
