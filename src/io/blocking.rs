//! A blocking driver over [`std::io::Read`] + [`std::io::Write`].
//!
//! [`WebSocket`] owns a stream and a [`Connection`] and runs one loop: feed what the stream
//! reads into the connection, hand back the next message, and write whatever the connection
//! queued (messages, automatic pongs, close replies) before blocking again.
//!
//! Timers (keepalive pings, the close-handshake timeout) are honoured by bounding each blocking
//! read with a read timeout taken from [`Connection::poll_timeout`]: see [`Transport`].

use std::boxed::Box;
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{Error, event_to_message, read_timeout_for};
use crate::close::CloseCode;
use crate::connection::Connection;
use crate::message::{Event, Message};

/// A stream the blocking driver can run over: [`Read`] + [`Write`], plus (optionally) a way to
/// bound how long a read blocks, so the connection's timers fire while [`WebSocket::read`]
/// waits.
///
/// Implemented for [`TcpStream`] and Unix domain sockets. For another stream, implement it
/// (forward to the socket inside, as a TLS stream would) or keep the default: timers are then
/// checked whenever a read returns or a method is called, but a read that blocks is not
/// interrupted for them.
pub trait Transport: Read + Write {
    /// Sets the longest time the next reads may block (`None`: no limit). A read that times
    /// out must fail with [`io::ErrorKind::WouldBlock`] or [`io::ErrorKind::TimedOut`].
    ///
    /// Returns `Ok(false)` if the stream cannot do this (the default).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let _ = timeout;
        Ok(false)
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        TcpStream::set_read_timeout(self, timeout).map(|()| true)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout).map(|()| true)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_read_timeout(timeout)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_read_timeout(timeout)
    }
}

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
/// pass outgoing messages to it over a channel, or use the [`tokio`](crate::io::tokio) driver,
/// which splits.
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
    /// The origin of the connection's clock.
    origin: Instant,
    /// Whether a read timeout is currently set on the stream.
    timeout_set: bool,
}

impl<S: std::fmt::Debug> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("stream", &self.stream)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl<S: Transport> WebSocket<S> {
    /// Runs `conn` over `stream`, whose opening handshake is already done (by this crate's
    /// handshake types or elsewhere). Bytes that followed the handshake must already be in
    /// `conn`.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        WebSocket {
            stream,
            conn,
            origin: Instant::now(),
            timeout_set: false,
        }
    }

    /// Blocks until the next message arrives and returns it.
    ///
    /// Pings are answered automatically (unless configured otherwise) and also returned. After
    /// the peer's close frame (returned as [`Message::Close`], with the reply already written)
    /// the next call finishes the close and returns [`Error::Closed`]. A protocol violation by
    /// the peer returns [`Error::Connection`] after the close frame for it has been written;
    /// data messages that arrived before the violation are returned first.
    pub fn read(&mut self) -> Result<Message, Error> {
        self.read_event().and_then(event_to_message)
    }

    /// Like [`read`](Self::read), but returns the connection's [`Event`]s, which include
    /// message fragments when [`Config::stream_messages`](crate::Config) is on.
    pub fn read_event(&mut self) -> Result<Event, Error> {
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
            self.flush()?;
            if self.conn.should_close_transport() {
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
        self.conn.send(message).map_err(Error::Send)
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes) and writes the
    /// close frame. Then call [`read`](Self::read) until it returns [`Error::Closed`]: messages
    /// the peer sent meanwhile are still delivered, then its close.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close(code, reason).map_err(Error::Send)?;
        self.flush()
    }

    /// Writes everything queued, with vectored writes, and flushes the stream.
    ///
    /// On a non-blocking stream this can fail with [`io::ErrorKind::WouldBlock`]; what was not
    /// written stays queued ([`buffered_amount`](Self::buffered_amount)).
    pub fn flush(&mut self) -> Result<(), Error> {
        while self.conn.buffered_output() > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_IO_SLICES];
            let n = self.conn.output_io_slices(&mut slices);
            match self.stream.write_vectored(&slices[..n]) {
                Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(written) => self.conn.consume_output(written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        self.stream.flush().map_err(Error::Io)
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
            Err(e) => return Err(Error::Io(e)),
        }
        // Timers that came due while the read blocked (or because it timed out).
        let now = self.now();
        if self.conn.poll_timeout().is_some_and(|d| d <= now) {
            self.conn.handle_timeout(now);
        }
        Ok(())
    }
}
