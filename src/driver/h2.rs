//! A WebSocket client over HTTP/2 (RFC 8441 extended CONNECT), on the `h2` crate (feature
//! `h2`).
//!
//! Over HTTP/2 a WebSocket is one stream of a connection: the client sends a `CONNECT` with
//! `:protocol websocket` once the server has announced `SETTINGS_ENABLE_CONNECT_PROTOCOL`,
//! a `200` accepts, and the stream's DATA frames carry the WebSocket frames. [`H2Stream`]
//! presents such a stream as tokio's `AsyncRead + AsyncWrite` (respecting HTTP/2 flow control
//! both ways), and the tokio driver's [`WebSocketStream`] runs over it unchanged.
//!
//! - [`connect`]: `ws://` over cleartext TCP, HTTP/2 with prior knowledge (h2c), the usual
//!   way to reach a local axum or hyper server that serves both HTTP versions on one port.
//! - [`client_with_options`]: over a stream you connected (TLS with ALPN `h2` for `wss://`).
//! - [`open`]: one more WebSocket on an HTTP/2 connection you already drive.
//!
//! ```no_run
//! use wsproto::Message;
//! use wsproto::driver::h2;
//!
//! # async fn run() -> Result<(), wsproto::driver::Error> {
//! let (mut ws, response) = h2::connect("ws://127.0.0.1:3000/ws").await?;
//! assert_eq!(response.status(), 200);
//! ws.send(Message::text("hello over HTTP/2")).await?;
//! let echo = ws.read().await?;
//! # Ok(())
//! # }
//! ```

use core::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::h2::client::SendRequest;
use ::h2::{RecvStream, SendStream};
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;
use bytes::{Buf, Bytes};

use super::tokio::WebSocketStream;
use super::{Error, Options, client_handshake, tcp_target};
use crate::handshake::{ClientOutcome, ClientRequest, HandshakeError, Response};

/// The receive window of each stream and of the whole connection this module's connections
/// announce (HTTP/2's default is 64 KiB, which would cost a round trip per 64 KiB received).
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 2 << 20;

/// One HTTP/2 stream as a byte stream: reads are the DATA frames received (their flow-control
/// capacity released as they are read), writes become DATA frames sent as the peer's window
/// allows (so at most one write's worth is buffered), shutdown ends the stream.
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received bytes not yet read.
    pending: Bytes,
    eof: bool,
    shut_down: bool,
}

impl fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Stream")
            .field("stream_id", &self.send.stream_id().as_u32())
            .field("pending", &self.pending.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl H2Stream {
    /// The stream of a request whose `CONNECT` has been accepted: its send half, and the body
    /// of the response.
    pub fn new(send: SendStream<Bytes>, recv: RecvStream) -> Self {
        H2Stream {
            send,
            recv,
            pending: Bytes::new(),
            eof: false,
            shut_down: false,
        }
    }
}

/// An h2 error as an I/O error (the transport's failure, as the drivers report it).
fn h2_error(e: ::h2::Error) -> io::Error {
    if e.is_io() {
        e.into_io()
            .unwrap_or_else(|| io::Error::other("HTTP/2 I/O error"))
    } else {
        io::Error::other(e)
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending[..n]);
                self.pending.advance(n);
                // Read: the peer may send that much more.
                let _ = self.recv.flow_control().release_capacity(n);
                return Poll::Ready(Ok(()));
            }
            if self.eof || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => self.pending = data,
                // END_STREAM: the peer closed its side.
                None => self.eof = true,
                // A reset saying all is well ends the stream like END_STREAM.
                Some(Err(e)) if e.reason() == Some(::h2::Reason::NO_ERROR) => self.eof = true,
                Some(Err(e)) => return Poll::Ready(Err(h2_error(e))),
            }
        }
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.shut_down {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        // Ask for window for this write only: nothing is sent (or buffered) beyond it.
        self.send.reserve_capacity(buf.len());
        loop {
            let capacity = self.send.capacity();
            if capacity > 0 {
                let n = capacity.min(buf.len());
                self.send
                    .send_data(Bytes::copy_from_slice(&buf[..n]), false)
                    .map_err(h2_error)?;
                return Poll::Ready(Ok(n));
            }
            match ready!(self.send.poll_capacity(cx)) {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(h2_error(e))),
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection's task writes DATA frames out as soon as they are queued.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shut_down {
            self.shut_down = true;
            self.send.reserve_capacity(0);
            // An empty DATA frame with END_STREAM: the stream's end, as TCP's FIN.
            if let Err(e) = self.send.send_data(Bytes::new(), true) {
                // Already ended or reset by the peer: nothing left to close.
                if !e.is_reset() && !e.is_go_away() {
                    return Poll::Ready(Err(h2_error(e)));
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Connects to a `ws://` URL over TCP, speaks HTTP/2 with prior knowledge, and opens a
/// WebSocket with an extended CONNECT. `wss://` fails with [`Error::TlsRequired`]: connect
/// TLS (ALPN `h2`) yourself and use [`client_with_options`].
///
/// A server that does not announce extended CONNECT fails the handshake with
/// [`HandshakeError::ExtendedConnectDisabled`]; one that answers another status than `2xx`
/// gives [`Error::Rejected`] with the response's body (up to
/// [`HandshakeLimits::max_body_size`](crate::handshake::HandshakeLimits)).
pub async fn connect(url: &str) -> Result<(WebSocketStream<H2Stream>, Response), Error> {
    connect_with_options(url, &Options::default()).await
}

/// [`connect`] with [`Options`].
pub async fn connect_with_options(
    url: &str,
    options: &Options,
) -> Result<(WebSocketStream<H2Stream>, Response), Error> {
    let request = ClientRequest::from_url(url)?;
    let (host, port, secure) = tcp_target(&request)?;
    if secure {
        // HTTP/2 here is cleartext with prior knowledge; over TLS it would need ALPN `h2`.
        return Err(Error::TlsRequired);
    }
    let stream = with_timeout(options, async {
        let stream = TcpStream::connect((host.as_str(), port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
    .await?;
    client_with_options(stream, request, false, options).await
}

/// Speaks HTTP/2 over `io` (a connected TCP or TLS stream; for TLS the ALPN protocol must be
/// `h2`) and opens a WebSocket for `request` with an extended CONNECT. `secure` is the
/// `:scheme` (`https` for TLS). The connection is driven by a tokio task and ends with the
/// WebSocket.
pub async fn client_with_options<T>(
    io: T,
    request: ClientRequest,
    secure: bool,
    options: &Options,
) -> Result<(WebSocketStream<H2Stream>, Response), Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let send_request = with_timeout(options, async {
        let (send_request, mut connection) = ::h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(h2_error)?;
        let ping_pong = connection.ping_pong();
        ::tokio::spawn(async move {
            // Ends when the WebSocket's stream is done and every handle dropped, or on error
            // (which the stream's reads and writes report).
            let _ = connection.await;
        });
        // The server's SETTINGS come first on the connection and are applied before any later
        // frame is read: once a PING is answered, they are known (RFC 8441 §3 forbids
        // `:protocol` before the server has allowed it).
        if let Some(mut ping_pong) = ping_pong {
            ping_pong
                .ping(::h2::Ping::opaque())
                .await
                .map_err(h2_error)?;
        }
        Ok(send_request)
    })
    .await?;
    open(send_request, request, secure, options).await
}

/// Opens a WebSocket for `request` on an HTTP/2 connection that is already established and
/// driven (its `h2::client::Connection` polled by a task), with an extended CONNECT.
/// `secure` is the `:scheme` (`https` over TLS).
///
/// The server's SETTINGS must have arrived (a PING answered, or an earlier request done);
/// until then, or if the server did not enable extended CONNECT, this fails with
/// [`HandshakeError::ExtendedConnectDisabled`] without sending anything.
pub async fn open(
    send_request: SendRequest<Bytes>,
    request: ClientRequest,
    secure: bool,
    options: &Options,
) -> Result<(WebSocketStream<H2Stream>, Response), Error> {
    if !send_request.is_extended_connect_protocol_enabled() {
        return Err(Error::Handshake(HandshakeError::ExtendedConnectDisabled));
    }
    let mut handshake = client_handshake(request, options)?;
    let mut http_request = handshake.to_extended_connect_request(secure)?;
    http_request
        .extensions_mut()
        .insert(::h2::ext::Protocol::from_static(
            crate::handshake::WEBSOCKET_PROTOCOL,
        ));
    let max_body = options.limits.max_body_size;
    with_timeout(options, async move {
        let mut send_request = send_request.ready().await.map_err(h2_error)?;
        let (response, send) = send_request
            .send_request(http_request, false)
            .map_err(h2_error)?;
        let response = response.await.map_err(h2_error)?;
        match handshake.receive_extended_connect_response(&response)? {
            ClientOutcome::Accepted {
                connection,
                response: accepted,
            } => {
                let stream = H2Stream::new(send, response.into_body());
                Ok((
                    WebSocketStream::from_connection(stream, connection),
                    accepted,
                ))
            }
            ClientOutcome::Rejected {
                status, headers, ..
            } => {
                let mut recv = response.into_body();
                let mut body = std::vec::Vec::new();
                while body.len() < max_body {
                    match recv.data().await {
                        Some(Ok(chunk)) => {
                            let _ = recv.flow_control().release_capacity(chunk.len());
                            let take = chunk.len().min(max_body - body.len());
                            body.extend_from_slice(&chunk[..take]);
                        }
                        _ => break,
                    }
                }
                Err(Error::Rejected {
                    status,
                    headers,
                    body,
                })
            }
            // A response is complete when h2 hands it over.
            ClientOutcome::Partial => Err(Error::Handshake(HandshakeError::NotReady)),
        }
    })
    .await
}

/// Runs `future` within the handshake timeout.
async fn with_timeout<T>(
    options: &Options,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match options.handshake_timeout {
        Some(limit) => ::tokio::time::timeout(limit, future)
            .await
            .unwrap_or_else(|_| Err(super::handshake_timed_out())),
        None => future.await,
    }
}
