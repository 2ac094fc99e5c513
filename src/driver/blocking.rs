//! A blocking driver over [`std::io::Read`] + [`std::io::Write`].
//!
//! [`WebSocket`] owns a stream and a [`Connection`] and runs one loop: feed what the stream
//! reads into the connection, hand back the next message, and write whatever the connection
//! queued (messages, automatic pongs, close replies) before blocking again.
//!
//! Timers (keepalive pings, the close-handshake timeout) are honoured by bounding each blocking
//! read and write with a timeout taken from [`Connection::poll_timeout`]: see [`Transport`].
//! With the default [`Config`](crate::Config) a silent peer is detected by keepalive (a ping
//! every 20 s, 20 s for its pong), a close handshake takes at most 10 s, and a write that makes
//! no progress fails after [`WebSocket::set_write_timeout`] (default 30 s).
//!
//! ```
//! use std::net::TcpListener;
//! use std::thread;
//! use wsproto::driver::blocking::WebSocket;
//! use wsproto::{CloseCode, Message};
//!
//! // A server that echoes text and binary messages, one thread per connection.
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! thread::spawn(move || -> Result<(), wsproto::driver::Error> {
//!     let (stream, _) = listener.accept()?;
//!     let mut ws = WebSocket::accept(stream)?;
//!     loop {
//!         // Ends with `Err(Error::Closed)` once the client has closed.
//!         match ws.read()? {
//!             msg @ (Message::Text(_) | Message::Binary(_)) => ws.send(msg)?,
//!             _ => {} // pings and the close are answered automatically
//!         }
//!     }
//! });
//!
//! // A client.
//! let (mut ws, _response) = WebSocket::connect(format!("ws://{addr}/chat"))?;
//! ws.send(Message::text("hello"))?;
//! assert_eq!(ws.read()?, Message::text("hello"));
//! ws.close(CloseCode::NORMAL, "done")?;
//! assert!(matches!(ws.read()?, Message::Close(_))); // the server's reply
//! assert!(ws.read().is_err()); // Error::Closed: the server closed TCP
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::boxed::Box;
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{
    Error, Options, Reassembly, Rejection, ServerAnswer, client_handshake, client_outcome,
    read_timeout_for, redirect_target, server_answer, server_handshake, time_left,
};
use crate::close::CloseCode;
use crate::connection::Connection;
use crate::handshake::{
    AcceptOptions, HandshakeError, IntoClientRequest, Request, Response, ServerHandshake,
};
use crate::message::{Event, Message};

pub use super::tls::blocking::MaybeTlsStream;

/// A stream the blocking driver can run over: [`Read`] + [`Write`], plus (optionally) a way to
/// bound how long a read or a write blocks, so the connection's timers fire while
/// [`WebSocket::read`] waits for the peer or a write waits for a peer that does not read.
///
/// Implemented for [`TcpStream`] and Unix domain sockets. For another stream, implement it
/// (forward to the socket inside, as a TLS stream would) or keep the defaults: timers are then
/// checked whenever a read or write returns or a method is called, but a read or write that
/// blocks is not interrupted for them — such a transport can block for as long as its peer
/// makes it.
pub trait Transport: Read + Write {
    /// Sets the longest time the next reads may block (`None`: no limit). A read that times
    /// out must fail with [`io::ErrorKind::WouldBlock`] or [`io::ErrorKind::TimedOut`].
    ///
    /// Returns `Ok(false)` if the stream cannot do this (the default).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let _ = timeout;
        Ok(false)
    }

    /// Ends the writing direction once the connection is done with the stream: called when
    /// [`WebSocket::read`] is about to return [`Error::Closed`] (possibly more than once). A TLS
    /// stream sends its `close_notify` here, so the peer sees a clean end rather than a
    /// truncation. The driver ignores errors.
    ///
    /// The default does nothing (dropping a TCP stream closes it).
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Sets the longest time the next writes may block without writing anything (`None`: no
    /// limit). A write that times out must fail with [`io::ErrorKind::WouldBlock`] or
    /// [`io::ErrorKind::TimedOut`].
    ///
    /// Returns `Ok(false)` if the stream cannot do this (the default).
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let _ = timeout;
        Ok(false)
    }

    /// Writes some of `bufs` for the driver's flush: returns how many bytes of `bufs` the stream
    /// took. The default is [`Write::write_vectored`].
    ///
    /// A stream that holds what it takes before passing it on (a TLS stream's records) must
    /// keep that bounded, take nothing more while what it holds cannot be written, and fail
    /// then with the write's error (the write timeout's [`io::ErrorKind::WouldBlock`] or
    /// [`io::ErrorKind::TimedOut`]), so a stuck peer surfaces as a timeout.
    fn write_output(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_vectored(bufs)
    }

    /// Whether the stream holds output it has taken but not yet written to the stream beneath
    /// it (a TLS stream's records): the driver's flush writes it with
    /// [`write_held`](Self::write_held) within the write timeout. The default is `false`.
    fn holds_output(&self) -> bool {
        false
    }

    /// Writes some of the [held output](Self::holds_output): returns how many bytes went out,
    /// or the write's error. The default writes nothing.
    fn write_held(&mut self) -> io::Result<usize> {
        Ok(0)
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        TcpStream::set_read_timeout(self, timeout).map(|()| true)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        TcpStream::set_write_timeout(self, timeout).map(|()| true)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout).map(|()| true)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout).map(|()| true)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_read_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_write_timeout(timeout)
    }

    fn write_output(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (**self).write_output(bufs)
    }

    fn holds_output(&self) -> bool {
        (**self).holds_output()
    }

    fn write_held(&mut self) -> io::Result<usize> {
        (**self).write_held()
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_read_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_write_timeout(timeout)
    }

    fn write_output(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (**self).write_output(bufs)
    }

    fn holds_output(&self) -> bool {
        (**self).holds_output()
    }

    fn write_held(&mut self) -> io::Result<usize> {
        (**self).write_held()
    }
}

/// Default for [`WebSocket::set_write_timeout`]: 30 s.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The most slices handed to one `write_vectored` call.
const MAX_IO_SLICES: usize = 64;

/// A WebSocket connection over a blocking stream.
///
/// - [`read`](Self::read) blocks until the next message; on the way it writes any automatic
///   pong or close reply and runs the timers. After the peer's close it returns
///   [`Message::Close`], then [`Error::Closed`] once the transport is done (a client waits for
///   the server to close TCP first, RFC 6455 §7.1.1).
/// - [`send`](Self::send) queues a message and writes it; [`queue`](Self::queue) only queues
///   (write later with [`flush`](Self::flush)); [`buffered_amount`](Self::buffered_amount) tells
///   how much is waiting.
/// - [`close`](Self::close) starts the close handshake; keep calling [`read`](Self::read)
///   until it returns [`Error::Closed`] to finish it.
///
/// One thread drives it. To read and write from different threads, run a reading thread and
/// pass outgoing messages to it over a channel, or use the [`tokio`](crate::driver::tokio) driver,
/// which splits.
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
    /// The origin of the connection's clock.
    origin: Instant,
    /// Whether a read timeout is currently set on the stream.
    timeout_set: bool,
    /// Fragments joined into whole messages for `read` (with `Config::stream_messages`).
    reassembly: Reassembly,
    /// The longest a write may make no progress (see `set_write_timeout`).
    write_timeout: Option<Duration>,
    /// The write timeout currently set on the stream (`None`: none, or not supported).
    write_timeout_set: Option<Duration>,
    /// The connection's `websocket` span (feature `tracing`), entered around the work.
    span: crate::trace::ConnSpan,
}

impl<S: std::fmt::Debug> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("stream", &self.stream)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl WebSocket<MaybeTlsStream> {
    /// Connects to a `ws://` or `wss://` URL and runs the client handshake. `request` is a URL
    /// (`&str`, `String`), a [`ClientRequest`](crate::handshake::ClientRequest) or, with the
    /// `http` feature, an `http::Request<()>` ([`IntoClientRequest`]).
    ///
    /// `wss://` (feature `rustls`, else [`Error::TlsRequired`]) runs TLS first, with the URL's
    /// host as the server name and the default root store (see [`crate::driver::tls`]); a TLS
    /// failure is [`Error::Tls`]. Returns the server's `101` response too (subprotocol,
    /// extensions, cookies).
    pub fn connect(request: impl IntoClientRequest) -> Result<(Self, Response), Error> {
        Self::connect_with_options(request, &Options::default())
    }

    /// [`connect`](Self::connect) with [`Options`]; follows up to [`Options::max_redirects`]
    /// redirects.
    pub fn connect_with_options(
        request: impl IntoClientRequest,
        options: &Options,
    ) -> Result<(Self, Response), Error> {
        let mut request = request.into_client_request()?;
        let mut redirects = 0;
        loop {
            let stream = super::tls::blocking::connect(&request, options)?;
            let result = Self::client_with_options(stream, request.clone(), options);
            match redirect_target(&result, &request, options, redirects) {
                None => return result,
                Some(next) => request = next?,
            }
            redirects += 1;
        }
    }
}

impl<S: Transport> WebSocket<S> {
    /// Runs the client handshake for `request` over a connected `stream` (TCP, TLS, a Unix
    /// socket, …).
    pub fn client(stream: S, request: impl IntoClientRequest) -> Result<(Self, Response), Error> {
        Self::client_with_options(stream, request, &Options::default())
    }

    /// [`client`](Self::client) with [`Options`]. A redirect is returned as
    /// [`Error::Rejected`] (see [`Error::location`]), never followed: it needs a new stream.
    pub fn client_with_options(
        mut stream: S,
        request: impl IntoClientRequest,
        options: &Options,
    ) -> Result<(Self, Response), Error> {
        let deadline = options
            .handshake_timeout
            .and_then(|t| Instant::now().checked_add(t));
        let request = request.into_client_request()?;
        let span = crate::trace::conn_span!(crate::Role::Client);
        crate::trace::record_peer!(span, super::peer_of(&request));
        crate::trace::enter_span!(span);
        let mut handshake = client_handshake(request, options)?;
        stream
            .write_all(handshake.request_bytes())
            .and_then(|()| stream.flush())
            .map_err(Error::Io)?;
        let mut buf = [0u8; 4096];
        let (conn, response) = loop {
            let n = handshake_read(&mut stream, &mut buf, deadline)?;
            let outcome = if n == 0 {
                handshake.receive_eof()?
            } else {
                handshake.receive(&buf[..n])?
            };
            if let Some(done) = client_outcome(outcome)? {
                break done;
            }
        };
        let mut ws = WebSocket::from_connection_in(stream, conn, span);
        ws.reset_read_timeout()?;
        Ok((ws, response))
    }

    /// Runs the server handshake over an accepted `stream` and accepts any valid WebSocket
    /// request (no subprotocol; permessage-deflate when the feature is on).
    ///
    /// A request that is not a valid upgrade is answered with the matching HTTP error (`400`,
    /// `405`, `426`, `431`) and returned as [`Error::Handshake`].
    pub fn accept(stream: S) -> Result<Self, Error> {
        Self::accept_with_options(stream, &Options::default())
    }

    /// [`accept`](Self::accept) with [`Options`].
    pub fn accept_with_options(stream: S, options: &Options) -> Result<Self, Error> {
        Self::read_request(stream, options)?.accept(AcceptOptions::new())
    }

    /// Runs the server handshake, letting `decide` look at the request (path, `Origin`,
    /// cookies, offered subprotocols) and accept it with [`AcceptOptions`] or refuse it with a
    /// [`Rejection`] (then sent, and returned as [`Error::Rejected`]).
    ///
    /// A [`HandshakeError`] converts into a `Rejection`, so `?` works inside `decide`. To decide
    /// after other work (a lookup, another thread), use [`read_request`](Self::read_request).
    pub fn accept_with<F>(stream: S, decide: F) -> Result<Self, Error>
    where
        F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
    {
        Self::accept_with_options_and(stream, &Options::default(), decide)
    }

    /// [`accept_with`](Self::accept_with) with [`Options`].
    pub fn accept_with_options_and<F>(
        stream: S,
        options: &Options,
        decide: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
    {
        Self::read_request(stream, options)?.answer(decide)
    }

    /// Reads and validates the handshake request (within [`Options::handshake_timeout`]) and
    /// returns it undecided: look at [`PendingAccept::request`], do whatever the decision
    /// needs, then [`accept`](PendingAccept::accept) or [`reject`](PendingAccept::reject).
    ///
    /// A request that is not a valid upgrade is answered with the matching HTTP error (`400`,
    /// `405`, `426`, `431`) and returned as [`Error::Handshake`].
    pub fn read_request(mut stream: S, options: &Options) -> Result<PendingAccept<S>, Error> {
        let deadline = options
            .handshake_timeout
            .and_then(|t| Instant::now().checked_add(t));
        let mut handshake = server_handshake(options);
        let span = crate::trace::conn_span!(crate::Role::Server);
        crate::trace::enter_span!(span);
        let mut buf = [0u8; 4096];
        loop {
            let n = handshake_read(&mut stream, &mut buf, deadline)?;
            if n == 0 {
                crate::trace::ws_debug!("server handshake: end of input before the request");
                return Err(Error::Handshake(HandshakeError::UnexpectedEof));
            }
            match handshake.receive(&buf[..n]) {
                Ok(None) => {}
                Ok(Some(_)) => break,
                Err(e) => {
                    if let Some(response) = e.response() {
                        // Best effort: the client may already be gone.
                        let _ = stream.write_all(&response).and_then(|()| stream.flush());
                    }
                    return Err(Error::Handshake(e));
                }
            }
        }
        Ok(PendingAccept {
            stream,
            handshake,
            options: options.clone(),
            span: span.clone(),
        })
    }

    /// Runs `conn` over `stream`, whose opening handshake is already done (by this crate's
    /// handshake types or elsewhere). Bytes that followed the handshake must already be in
    /// `conn`.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        let span = crate::trace::conn_span!(conn.role());
        Self::from_connection_in(stream, conn, span)
    }

    fn from_connection_in(stream: S, conn: Connection, span: crate::trace::ConnSpan) -> Self {
        WebSocket {
            span,
            stream,
            conn,
            origin: Instant::now(),
            timeout_set: false,
            reassembly: Reassembly::default(),
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            write_timeout_set: None,
        }
    }

    /// Sets how long a write may block without writing anything before
    /// [`flush`](Self::flush) (and so [`send`](Self::send), [`close`](Self::close), or
    /// [`read`](Self::read), which writes pongs and close replies) fails with
    /// [`io::ErrorKind::TimedOut`]; `None`: no limit of its own. Default 30 s.
    ///
    /// What was not written stays queued ([`buffered_amount`](Self::buffered_amount)): nothing
    /// accepted for sending is dropped without an error. Once the close handshake has started, a
    /// write also never blocks past the close timeout, which ends the connection. (Keepalive
    /// runs in [`read`](Self::read), where the pongs are read: a write does not wait for it.)
    /// Needs a [`Transport`] that supports write timeouts (TCP and Unix sockets do); with one
    /// that does not, writes block as long as the stream makes them.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// Blocks until the next message arrives and returns it.
    ///
    /// Pings are answered automatically (unless configured otherwise) and also returned. After
    /// the peer's close frame (returned as [`Message::Close`], with the reply already written)
    /// the next call finishes the close and returns [`Error::Closed`]. A protocol violation by
    /// the peer returns [`Error::Connection`] after the close frame for it has been written;
    /// data messages that arrived before the violation are returned first.
    ///
    /// With [`Config::stream_messages`](crate::Config) on, the fragments are joined back into
    /// whole messages here (up to [`Config::max_message_size`](crate::Config): past it the
    /// connection is closed with 1009 and this returns the error);
    /// [`read_event`](Self::read_event) gives the fragments as they arrive.
    pub fn read(&mut self) -> Result<Message, Error> {
        loop {
            let event = self.read_event()?;
            match self.reassembly.push(event, &mut self.conn) {
                Ok(Some(message)) => return Ok(message),
                Ok(None) => {}
                Err(e) => {
                    // Write the 1009 close frame now; a failure shows on the next call.
                    let _ = self.flush();
                    return Err(e);
                }
            }
        }
    }

    /// Like [`read`](Self::read), but returns the connection's [`Event`]s, which include
    /// message fragments when [`Config::stream_messages`](crate::Config) is on. Use one or the
    /// other for a given message: fragments taken here are not joined by a later `read`.
    pub fn read_event(&mut self) -> Result<Event, Error> {
        crate::trace::enter_span!(self.span);
        loop {
            match self.conn.poll_event() {
                Ok(Some(event)) => {
                    if let Event::Close(_) = event {
                        // Write the close reply now. A failure shows again on the next call.
                        let _ = self.flush();
                    }
                    return Ok(event);
                }
                Ok(None) => {}
                Err(e) => {
                    // A protocol error queued a close frame saying why: write it if we can.
                    let _ = self.flush();
                    return Err(Error::Connection(e));
                }
            }
            if let Err(e) = self.flush() {
                return Err(match e {
                    // A timer ended the connection while writing: say which.
                    Error::Connection(_) => e,
                    // After the close handshake a peer that is already gone ends the connection,
                    // unless data accepted for sending is lost with it.
                    _ if self.closed() && !self.conn.has_unsent_data() => Error::Closed,
                    _ => e,
                });
            }
            if self.conn.should_close_transport() {
                // TLS: close_notify before the stream is dropped (repeats are harmless).
                let _ = self.stream.shutdown_write();
                return Err(Error::Closed);
            }
            self.read_once()?;
        }
    }

    /// Queues `message` and writes everything queued. See [`Connection::send`].
    ///
    /// Sending [`Message::Close`] starts the close handshake like [`close`](Self::close).
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.queue(message)?;
        self.flush()
    }

    /// Queues `message` without writing it: [`flush`](Self::flush) (or the next
    /// [`send`](Self::send) or [`read`](Self::read)) writes it.
    pub fn queue(&mut self, message: Message) -> Result<(), Error> {
        crate::trace::enter_span!(self.span);
        self.conn.send(message).map_err(Error::Send)
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes) and writes the
    /// close frame. Then call [`read`](Self::read) until it returns [`Error::Closed`]: messages
    /// the peer sent meanwhile are still delivered, then its close.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        crate::trace::enter_span!(self.span);
        self.conn.close(code, reason).map_err(Error::Send)?;
        self.flush()
    }

    /// Writes everything queued, with vectored writes, and flushes the stream.
    ///
    /// On a non-blocking stream this can fail with [`io::ErrorKind::WouldBlock`]; what was not
    /// written stays queued ([`buffered_amount`](Self::buffered_amount)).
    ///
    /// A write blocks at most for the [write timeout](Self::set_write_timeout) without
    /// progress, which fails with [`io::ErrorKind::TimedOut`], the output still queued. Once the
    /// close handshake has started it also blocks no longer than the close timeout, which drops
    /// the output and fails with [`Error::Connection`] ([`crate::Error::CloseTimeout`]).
    /// (Keepalive runs in [`read`](Self::read), which reads the pongs.)
    pub fn flush(&mut self) -> Result<(), Error> {
        crate::trace::enter_span!(self.span);
        let mut stalled_since = Instant::now();
        while self.conn.buffered_output() > 0 || self.stream.holds_output() {
            let now = self.now();
            // Keepalive is left to `read`: no pong can be read while writing.
            let timers = self.conn.state() != crate::State::Open;
            let next_timer = self.conn.poll_timeout().filter(|_| timers);
            if next_timer.is_some_and(|d| d <= now) {
                self.conn.handle_timeout(now);
                if self.conn.buffered_output() == 0 {
                    // A timeout ended the connection and dropped what was waiting.
                    return match self.conn.poll_event() {
                        Err(e) => Err(Error::Connection(e)),
                        Ok(_) => Err(Error::Closed),
                    };
                }
                continue;
            }
            // Block until the next timer at most, and no longer than the write timeout allows.
            let mut limit = next_timer.map(|d| d.saturating_sub(now));
            if let Some(w) = self.write_timeout {
                let left = w.saturating_sub(stalled_since.elapsed());
                if left.is_zero() {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "write timed out: the peer does not read",
                    )));
                }
                limit = Some(limit.map_or(left, |l| l.min(left)));
            }
            let limit = limit.map(read_timeout_for);
            let bounded = self.set_write_limit(limit)?;
            let started = Instant::now();
            let mut slices = [IoSlice::new(&[]); MAX_IO_SLICES];
            let n = self.conn.output_io_slices(&mut slices);
            // What the stream holds (TLS records) goes out within the same write timeout.
            let result = if n == 0 {
                self.stream.write_held()
            } else {
                self.stream.write_output(&slices[..n])
            };
            match result {
                Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(written) => {
                    if n > 0 {
                        self.conn.consume_output(written);
                    }
                    stalled_since = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The bound was reached (a stream in non-blocking mode fails at once instead:
                // that is reported to the caller).
                Err(e)
                    if bounded
                        && matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        )
                        && limit
                            .is_some_and(|l| started.elapsed() + Duration::from_millis(2) >= l) => {
                }
                Err(e) => return Err(Error::Io(e)),
            }
        }
        self.stream.flush().map_err(Error::Io)
    }

    /// Sets the stream's write timeout to `limit` when it changed; returns whether a bound is
    /// in force.
    fn set_write_limit(&mut self, limit: Option<Duration>) -> Result<bool, Error> {
        if limit == self.write_timeout_set {
            return Ok(limit.is_some());
        }
        let supported = self.stream.set_write_timeout(limit).map_err(Error::Io)?;
        self.write_timeout_set = if supported { limit } else { None };
        Ok(supported && limit.is_some())
    }

    /// Bytes queued but not yet written (the browser API's `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.conn.buffered_output()
    }

    /// The connection state machine (state, subprotocol, configuration).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The connection state machine, for the calls this type does not wrap (streamed sends,
    /// pongs). Whatever it queues is written by the next [`flush`](Self::flush),
    /// [`send`](Self::send) or [`read`](Self::read).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Takes the stream and the connection apart.
    pub fn into_parts(self) -> (S, Connection) {
        (self.stream, self.conn)
    }

    /// Clears a read timeout the handshake may have left on the stream.
    fn reset_read_timeout(&mut self) -> Result<(), Error> {
        self.stream.set_read_timeout(None).map_err(Error::Io)?;
        self.timeout_set = false;
        Ok(())
    }

    /// Whether the connection is closed: both close frames exchanged, or failed with its error
    /// already returned. Only the transport is left to finish.
    fn closed(&self) -> bool {
        self.conn.state() == crate::State::Closed
    }

    /// The connection's clock: time since this driver was created.
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Runs due timers, then reads once from the stream (bounded by the next timer) and feeds
    /// what arrived into the connection.
    fn read_once(&mut self) -> Result<(), Error> {
        let now = self.now();
        let timeout = match self.conn.poll_timeout() {
            Some(deadline) if deadline <= now => {
                self.conn.handle_timeout(now);
                return Ok(());
            }
            Some(deadline) => Some(read_timeout_for(deadline - now)),
            None => None,
        };
        let bounded = if timeout.is_some() || self.timeout_set {
            let supported = self.stream.set_read_timeout(timeout).map_err(Error::Io)?;
            self.timeout_set = supported && timeout.is_some();
            supported && timeout.is_some()
        } else {
            false
        };
        let buf = self.conn.read_buf();
        match self.stream.read(buf) {
            Ok(0) => self.conn.receive_eof(),
            Ok(n) => self.conn.commit(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if bounded
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
            // A reset once both close frames are exchanged is how some servers close TCP: it
            // ends the transport like an end of input.
            Err(_) if self.closed() => self.conn.receive_eof(),
            // `Error::Tls` when a TLS stream's record or alert failed.
            Err(e) => return Err(Error::from(e)),
        }
        // Timers that came due while the read blocked (or because it timed out).
        let now = self.now();
        if self.conn.poll_timeout().is_some_and(|d| d <= now) {
            self.conn.handle_timeout(now);
        }
        Ok(())
    }
}

/// A received, valid handshake request waiting for the application's decision: from
/// [`WebSocket::read_request`].
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use wsproto::driver::blocking::WebSocket;
/// use wsproto::driver::{Options, Rejection};
/// use wsproto::handshake::AcceptOptions;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let client = std::thread::spawn(move || WebSocket::connect(format!("ws://{addr}/admin")));
/// let (stream, _) = listener.accept()?;
/// let pending = WebSocket::read_request(stream, &Options::default())?;
/// if pending.request().path() == "/admin" {
///     pending.reject(Rejection::new(403).body("no"))?; // sent; the client sees a 403
///     assert!(matches!(client.join().unwrap(), Err(wsproto::driver::Error::Rejected { status: 403, .. })));
/// } else {
///     let _ws = pending.accept(AcceptOptions::new())?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PendingAccept<S> {
    stream: S,
    /// Holds a complete, validated request (`receive` returned it).
    handshake: ServerHandshake,
    options: Options,
    /// The connection's span, from the request on.
    span: crate::trace::ConnSpan,
}

impl<S: std::fmt::Debug> std::fmt::Debug for PendingAccept<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAccept")
            .field("stream", &self.stream)
            .field("request", &self.handshake.request())
            .finish_non_exhaustive()
    }
}

impl<S: Transport> PendingAccept<S> {
    /// The validated request: resource, `Origin`, cookies, offered subprotocols and extensions.
    pub fn request(&self) -> &Request {
        self.handshake
            .request()
            .expect("a PendingAccept holds a complete request until accept or reject")
    }

    /// The stream the request arrived on.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Accepts with `options` (permessage-deflate is negotiated as [`Options::deflate`] says):
    /// writes the `101` response and returns the connection. Options the request does not allow
    /// (a subprotocol it did not offer) answer `500` and return [`Error::Handshake`].
    pub fn accept(self, options: AcceptOptions) -> Result<WebSocket<S>, Error> {
        self.answer(|_| Ok(options))
    }

    /// Rejects: writes `rejection`'s response and gives the stream back, for the caller to
    /// close. An unusable rejection (a status outside 200–599) answers `500` and returns
    /// [`Error::Handshake`].
    pub fn reject(mut self, rejection: Rejection) -> Result<S, Error> {
        crate::trace::enter_span!(self.span);
        match server_answer(&mut self.handshake, &self.options, |_| Err(rejection)) {
            ServerAnswer::Refuse(response, Error::Rejected { .. }) => {
                self.stream
                    .write_all(&response)
                    .and_then(|()| self.stream.flush())
                    .map_err(Error::Io)?;
                Ok(self.stream)
            }
            ServerAnswer::Refuse(response, error) => {
                let _ = self
                    .stream
                    .write_all(&response)
                    .and_then(|()| self.stream.flush());
                Err(error)
            }
            ServerAnswer::Accept(..) => unreachable!("a rejection never accepts"),
        }
    }

    /// Lets `decide` answer, then writes the answer.
    fn answer<F>(mut self, decide: F) -> Result<WebSocket<S>, Error>
    where
        F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
    {
        let mut stream = self.stream;
        crate::trace::enter_span!(self.span);
        match server_answer(&mut self.handshake, &self.options, decide) {
            ServerAnswer::Accept(response, conn) => {
                stream
                    .write_all(&response)
                    .and_then(|()| stream.flush())
                    .map_err(Error::Io)?;
                let mut ws = WebSocket::from_connection_in(stream, conn, self.span);
                ws.reset_read_timeout()?;
                Ok(ws)
            }
            ServerAnswer::Refuse(response, error) => {
                let _ = stream.write_all(&response).and_then(|()| stream.flush());
                Err(error)
            }
        }
    }
}

/// One read during the handshake, bounded by `deadline` when the stream supports it.
fn handshake_read<S: Transport>(
    stream: &mut S,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> Result<usize, Error> {
    loop {
        let left = time_left(deadline)?;
        stream.set_read_timeout(left).map_err(Error::Io)?;
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A read timeout: `time_left` reports it once the deadline has passed.
            Err(e)
                if deadline.is_some()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
            Err(e) => return Err(Error::from(e)),
        }
    }
}
