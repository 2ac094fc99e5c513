//! The tokio driver's side of `wss://`: the stream `connect` returns and the TLS handshakes.

#[cfg(feature = "rustls")]
use std::boxed::Box;
use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;

use crate::driver::{Error, Options};

/// The stream [`WebSocketStream::connect`](crate::driver::tokio::WebSocketStream::connect)
/// returns: plain TCP for `ws://`, TLS over TCP for `wss://` (feature `rustls`).
///
/// Splitting and the connection's timers work the same over both.
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// Plain TCP (`ws://`).
    Plain(TcpStream),
    /// TLS over TCP (`wss://`), the handshake done.
    #[cfg(feature = "rustls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP socket (under TLS for `wss://`): for its addresses or socket options. Reading or
    /// writing it directly corrupts the connection.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        !matches!(self, MaybeTlsStream::Plain(_))
    }
}

impl fmt::Debug for MaybeTlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaybeTlsStream::Plain(tcp) => f.debug_tuple("Plain").field(tcp).finish(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => f.debug_tuple("Tls").field(tls.get_ref().0).finish(),
        }
    }
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.is_write_vectored(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_flush(cx),
        }
    }

    /// Ends the stream: for TLS, `close_notify` first, then TCP's FIN.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_shutdown(cx),
        }
    }
}

/// Connects TCP to `host`:`port` and, for `wss://`, runs the TLS handshake (the caller bounds
/// the time).
pub(crate) async fn connect(
    secure: bool,
    host: &str,
    port: u16,
    options: &Options,
) -> Result<MaybeTlsStream, Error> {
    let tcp = TcpStream::connect((host, port)).await.map_err(Error::Io)?;
    // Small frames (pongs, close replies, interactive messages) go out at once.
    tcp.set_nodelay(true).map_err(Error::Io)?;
    if !secure {
        return Ok(MaybeTlsStream::Plain(tcp));
    }
    #[cfg(feature = "rustls")]
    {
        let config = super::client_config_for(options)?;
        let name = super::server_name(host)?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(super::handshake_error)?;
        Ok(MaybeTlsStream::Tls(Box::new(tls)))
    }
    #[cfg(not(feature = "rustls"))]
    {
        let _ = options;
        Err(Error::TlsRequired)
    }
}

/// [`TlsAcceptor::accept`](super::TlsAcceptor::accept).
#[cfg(feature = "rustls")]
pub(crate) async fn accept<S>(
    acceptor: &super::TlsAcceptor,
    stream: S,
) -> Result<tokio_rustls::server::TlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handshake =
        tokio_rustls::TlsAcceptor::from(std::sync::Arc::clone(acceptor.config())).accept(stream);
    let result = match acceptor.timeout() {
        Some(limit) => ::tokio::time::timeout(limit, handshake)
            .await
            .map_err(|_| super::tls_timed_out())?,
        None => handshake.await,
    };
    result.map_err(super::handshake_error)
}
