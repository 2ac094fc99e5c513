//! WebSocket extensions (RFC 6455 §9).
//!
//! The only extension defined here is permessage-deflate (RFC 7692), behind the `deflate`
//! feature: [`deflate::DeflateConfig`] decides what to offer or accept during the handshake, and
//! the agreed [`deflate::DeflateParams`] configure the
//! [`Connection`](crate::Connection) through
//! [`Connection::with_deflate`](crate::Connection::with_deflate).

#[cfg(feature = "deflate")]
pub mod deflate;
