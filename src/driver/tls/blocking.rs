//! The blocking driver's side of `wss://`: the stream `connect` returns, TLS handshakes with
//! deadlines, and [`Transport`] for rustls streams.

#[cfg(feature = "rustls")]
use std::boxed::Box;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::TcpStream;
#[cfg(feature = "rustls")]
use std::time::{Duration, Instant};

use crate::driver::blocking::Transport;
use crate::driver::{Error, Options, tcp_target};
use crate::handshake::ClientRequest;

/// The stream [`WebSocket::connect`](crate::driver::blocking::WebSocket::connect) returns: plain TCP
/// for `ws://`, TLS over TCP for `wss://` (feature `rustls`).
///
/// The connection's timers work the same over both: read timeouts go to the TCP socket.
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// Plain TCP (`ws://`).
    Plain(TcpStream),
    /// TLS over TCP (`wss://`), the handshake done.
    #[cfg(feature = "rustls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP socket (under TLS for `wss://`): for its addresses or socket options. Reading or
    /// writing it directly corrupts the connection.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => tls.get_ref(),
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
            MaybeTlsStream::Tls(tls) => f.debug_tuple("Tls").field(tls.get_ref()).finish(),
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => tls.read(buf),
        }
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.read_vectored(bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => tls.read_vectored(bufs),
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => tls.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.write_vectored(bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => tls.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => tls.flush(),
        }
    }
}

impl Transport for MaybeTlsStream {
    fn set_read_timeout(&mut self, timeout: Option<core::time::Duration>) -> io::Result<bool> {
        match self {
            MaybeTlsStream::Plain(tcp) => Transport::set_read_timeout(tcp, timeout),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Transport::set_read_timeout(&mut **tls, timeout),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(tcp) => Transport::shutdown_write(tcp),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Transport::shutdown_write(&mut **tls),
        }
    }

    fn set_write_timeout(&mut self, timeout: Option<core::time::Duration>) -> io::Result<bool> {
        match self {
            MaybeTlsStream::Plain(tcp) => Transport::set_write_timeout(tcp, timeout),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Transport::set_write_timeout(&mut **tls, timeout),
        }
    }

    fn write_output(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.write_vectored(bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Transport::write_output(&mut **tls, bufs),
        }
    }

    fn holds_output(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(_) => false,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Transport::holds_output(&**tls),
        }
    }

    fn write_held(&mut self) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(_) => Ok(0),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(tls) => Transport::write_held(&mut **tls),
        }
    }
}

/// Connects TCP to the URL's host and port and, for `wss://`, runs the TLS handshake within the
/// handshake timeout.
pub(crate) fn connect(request: &ClientRequest, options: &Options) -> Result<MaybeTlsStream, Error> {
    let (host, port, secure) = tcp_target(request)?;
    #[cfg(feature = "rustls")]
    let deadline = options
        .handshake_timeout
        .and_then(|t| Instant::now().checked_add(t));
    #[cfg(not(feature = "rustls"))]
    let _ = options;
    let tcp = TcpStream::connect((host.as_str(), port)).map_err(Error::Io)?;
    // Small frames (pongs, close replies, interactive messages) go out at once.
    tcp.set_nodelay(true).map_err(Error::Io)?;
    if !secure {
        return Ok(MaybeTlsStream::Plain(tcp));
    }
    #[cfg(feature = "rustls")]
    {
        let config = super::client_config_for(options)?;
        let name = super::server_name(&host)?;
        let conn = rustls::ClientConnection::new(config, name).map_err(super::TlsError::from)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // A handshake that does not finish must not hold the caller forever: bound the writes
        // too (the reads are bounded by `handshake`).
        tls.sock
            .set_write_timeout(left(deadline)?)
            .map_err(Error::Io)?;
        handshake(&mut tls.conn, &mut tls.sock, deadline)?;
        tls.sock.set_write_timeout(None).map_err(Error::Io)?;
        Ok(MaybeTlsStream::Tls(Box::new(tls)))
    }
    #[cfg(not(feature = "rustls"))]
    Err(Error::TlsRequired)
}

/// The time left until `deadline`, or the timeout error once it has passed.
#[cfg(feature = "rustls")]
fn left(deadline: Option<Instant>) -> Result<Option<Duration>, Error> {
    match deadline {
        None => Ok(None),
        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(super::tls_timed_out()),
        },
    }
}

/// Runs a TLS handshake to its end over `sock`, each read bounded by the time left.
#[cfg(feature = "rustls")]
fn handshake<D: rustls::SideData, T: Transport>(
    conn: &mut rustls::ConnectionCommon<D>,
    sock: &mut T,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    while conn.is_handshaking() {
        let left = left(deadline)?;
        let bounded = sock.set_read_timeout(left).map_err(Error::Io)? && left.is_some();
        match conn.complete_io(sock) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A read timeout: `left` reports it once the deadline has passed.
            Err(e)
                if bounded
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
            Err(e) => return Err(super::handshake_error(e)),
        }
    }
    sock.set_read_timeout(None).map_err(Error::Io)?;
    Ok(())
}

/// [`TlsAcceptor::accept_blocking`](super::TlsAcceptor::accept_blocking).
#[cfg(feature = "rustls")]
pub(crate) fn accept<T: Transport>(
    acceptor: &super::TlsAcceptor,
    mut stream: T,
) -> Result<rustls::StreamOwned<rustls::ServerConnection, T>, Error> {
    let deadline = acceptor
        .timeout()
        .and_then(|t| Instant::now().checked_add(t));
    let mut conn = rustls::ServerConnection::new(std::sync::Arc::clone(acceptor.config()))
        .map_err(super::TlsError::from)?;
    handshake(&mut conn, &mut stream, deadline)?;
    Ok(rustls::StreamOwned::new(conn, stream))
}

/// A rustls stream (client or server) over a [`Transport`]: read and write timeouts go to the
/// stream inside, [`shutdown_write`](Transport::shutdown_write) sends TLS `close_notify`, and the
/// driver's writes put held TLS records on the socket before taking plaintext, so a stuck peer
/// surfaces as the write timeout.
#[cfg(feature = "rustls")]
impl<C, D, T> Transport for rustls::StreamOwned<C, T>
where
    C: core::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
    T: Transport,
{
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        self.sock.set_read_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush()?;
        self.sock.shutdown_write()
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        self.sock.set_write_timeout(timeout)
    }

    fn write_output(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        write_output(&mut self.conn, &mut self.sock, bufs)
    }

    fn holds_output(&self) -> bool {
        // TLS records rustls has made but not yet written to the socket.
        self.conn.wants_write()
    }

    fn write_held(&mut self) -> io::Result<usize> {
        write_held(&mut self.conn, &mut self.sock)
    }
}

/// Whether `e` is a write timeout (or a non-blocking stream's refusal).
#[cfg(feature = "rustls")]
fn blocked(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Writes the records rustls holds to `sock` until none are left or a write fails; returns the
/// bytes written. A write that times out after some went out ends the call with those (the
/// progress); one that times out with nothing written fails.
#[cfg(feature = "rustls")]
fn write_held<D: rustls::SideData, T: Write>(
    conn: &mut rustls::ConnectionCommon<D>,
    sock: &mut T,
) -> io::Result<usize> {
    let mut written = 0;
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if written > 0 && blocked(&e) => break,
            Err(e) => return Err(e),
        }
    }
    sock.flush()?;
    Ok(written)
}

/// The driver's writes over rustls. `rustls::Stream::write` takes the plaintext into rustls'
/// buffer, then ignores the error of its attempt to write the records out, and its
/// `complete_io` turns a blocked write into a read of the socket. Here the records rustls holds
/// are written first and plaintext is taken only once they have moved, so rustls holds at most
/// its buffer limit (64 KiB by default) of records not on the socket, and a peer that takes
/// nothing within the write timeout fails the call with the timeout.
#[cfg(feature = "rustls")]
fn write_output<D: rustls::SideData, T: Write>(
    conn: &mut rustls::ConnectionCommon<D>,
    sock: &mut T,
    bufs: &[IoSlice<'_>],
) -> io::Result<usize> {
    if conn.wants_write() {
        write_held(conn, sock)?;
    }
    match conn.writer().write_vectored(bufs)? {
        // The records' buffer is still full: a partial write freed nothing.
        0 => Err(io::ErrorKind::WriteZero.into()),
        taken => Ok(taken),
    }
}
