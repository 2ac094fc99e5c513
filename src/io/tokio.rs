//! An async driver over tokio's [`AsyncRead`] + [`AsyncWrite`].
//!
//! [`WebSocketStream`] owns a stream and a [`Connection`]. Use its async methods
//! ([`read`](WebSocketStream::read), [`send`](WebSocketStream::send),
//! [`close`](WebSocketStream::close)), or use it as a [`Stream`] of incoming messages and a
//! [`Sink`] of outgoing ones, or [`split`](WebSocketStream::split) it so that one task reads
//! while another writes.
//!
//! Reading drives the connection: it writes the automatic pongs and close replies that reading
//! produces (even when the writing half is idle) and runs the timers (keepalive pings, the
//! close-handshake timeout) with [`tokio::time`], so keep reading for as long as the connection
//! should live. The runtime needs its time driver enabled (as `#[tokio::main]` does).
//!
//! ```
//! use tokio::net::TcpListener;
//! use wsproto::io::tokio::WebSocketStream;
//! use wsproto::{CloseCode, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server task that echoes text and binary messages.
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move {
//!     let (stream, _) = listener.accept().await?;
//!     let ws = WebSocketStream::accept(stream).await?;
//!     // Split, so that one task could read while another writes.
//!     let (mut reader, mut writer) = ws.split();
//!     while let Ok(msg) = reader.read().await {
//!         if let Message::Text(_) | Message::Binary(_) = msg {
//!             writer.send(msg).await?;
//!         }
//!     }
//!     Ok::<_, wsproto::io::Error>(())
//! });
//!
//! // A client.
//! let (mut ws, _response) = WebSocketStream::connect(&format!("ws://{addr}/chat")).await?;
//! ws.send(Message::text("hello")).await?;
//! assert_eq!(ws.read().await?, Message::text("hello"));
//! ws.close(CloseCode::NORMAL, "done").await?;
//! assert!(matches!(ws.read().await?, Message::Close(_))); // the server's reply
//! assert!(ws.read().await.is_err()); // Error::Closed: the server closed TCP
//! # Ok(())
//! # }
//! ```

use std::boxed::Box;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::time::{Instant, Sleep};
use futures_core::Stream;
use futures_sink::Sink;

use super::{
    Error, Options, Rejection, ServerAnswer, client_handshake, client_outcome, event_to_message,
    handshake_timed_out, server_answer, server_handshake, tcp_target,
};
use crate::close::CloseCode;
use crate::connection::Connection;
use crate::handshake::{AcceptOptions, ClientRequest, HandshakeError, Request, Response};
use crate::message::{Event, Message};

/// The most slices handed to one vectored write.
const MAX_IO_SLICES: usize = 64;

/// Default for [`WebSocketStream::set_write_buffer_limit`]: 128 KiB.
const DEFAULT_WRITE_BUFFER_LIMIT: usize = 128 * 1024;

/// The stack space an idle connection reads into (see `poll_event`).
const IDLE_READ_SIZE: usize = 16 * 1024;

/// Which side of the connection a task is polling from: the two halves of a split stream wait
/// for writability independently.
#[derive(Clone, Copy)]
enum Side {
    Read = 0,
    Write = 1,
}

/// Wakes two tasks: the halves of a split stream both waiting for writability.
struct WakeBoth(Waker, Waker);

impl std::task::Wake for WakeBoth {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake_by_ref();
        self.1.wake_by_ref();
    }
}

/// The stream, the connection and the driver's bookkeeping.
struct Inner<S> {
    stream: S,
    conn: Connection,
    /// The origin of the connection's clock.
    origin: Instant,
    /// The timer for the connection's next deadline, created when first needed.
    sleep: Option<Pin<Box<Sleep>>>,
    /// A connection error held back until the close frame it queued is written.
    error: Option<crate::Error>,
    /// Tasks waiting for the transport to become writable, one per side. A stream keeps only the
    /// last waker it was polled with, so whichever side writes wakes the other.
    write_waiters: [Option<Waker>; 2],
    /// The stream ended (`None` was returned); it stays ended.
    done: bool,
    /// Past this much queued output, the `Sink` waits for a flush before taking more.
    write_buffer_limit: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn new(stream: S, conn: Connection) -> Self {
        Inner {
            stream,
            conn,
            origin: Instant::now(),
            sleep: None,
            error: None,
            write_waiters: [None, None],
            done: false,
            write_buffer_limit: DEFAULT_WRITE_BUFFER_LIMIT,
        }
    }

    /// Writes all queued output and flushes the stream.
    fn poll_flush_out(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<io::Result<()>> {
        // The stream keeps one waker for writability. If the other half is waiting too, register
        // a waker for both, so neither depends on the other being polled again.
        let both;
        let waker = match &self.write_waiters[1 - side as usize] {
            Some(other) if !other.will_wake(cx.waker()) => {
                both = Waker::from(Arc::new(WakeBoth(cx.waker().clone(), other.clone())));
                &both
            }
            _ => cx.waker(),
        };
        let mut inner_cx = Context::from_waker(waker);
        let result = self.poll_flush_inner(&mut inner_cx);
        if result.is_pending() {
            self.write_waiters[side as usize] = Some(cx.waker().clone());
        } else {
            self.write_waiters[side as usize] = None;
        }
        result
    }

    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut progressed = false;
        let result = loop {
            if self.conn.buffered_output() == 0 {
                break Pin::new(&mut self.stream).poll_flush(cx);
            }
            let polled = if self.stream.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); MAX_IO_SLICES];
                let n = self.conn.output_io_slices(&mut slices);
                Pin::new(&mut self.stream).poll_write_vectored(cx, &slices[..n])
            } else {
                Pin::new(&mut self.stream).poll_write(cx, self.conn.output())
            };
            match polled {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.conn.consume_output(n);
                    progressed = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        if progressed || result.is_ready() {
            // Progress for one half may be all the other was waiting for: let it look again.
            for waker in self.write_waiters.iter_mut().filter_map(Option::take) {
                waker.wake();
            }
        }
        result
    }

    /// The connection's clock.
    fn now(&self) -> std::time::Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    /// Drives the connection until it has an event, the connection ends (`None`), or it must
    /// wait for the transport or a timer.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            if self.error.is_none() {
                match self.conn.poll_event() {
                    Ok(Some(event)) => {
                        // Start writing what the event produced (a pong, a close reply). What
                        // does not fit now is written by the next poll, or by the writing half.
                        if let Poll::Ready(Err(e)) = self.poll_flush_out(cx, Side::Read)
                            && !matches!(event, Event::Close(_))
                        {
                            self.done = true;
                            return Poll::Ready(Some(Err(Error::Io(e))));
                        }
                        return Poll::Ready(Some(Ok(event)));
                    }
                    Ok(None) => {}
                    Err(e) => self.error = Some(e),
                }
            }
            let flushed = self.poll_flush_out(cx, Side::Read);
            if let Some(error) = self.error.take() {
                // Report a failure only after the close frame saying why is out (or cannot be).
                if flushed.is_pending() {
                    self.error = Some(error);
                    return Poll::Pending;
                }
                return Poll::Ready(Some(Err(Error::Connection(error))));
            }
            if let Poll::Ready(Err(e)) = flushed {
                self.done = true;
                // After the close handshake a peer that is already gone ends the connection.
                if self.conn.state() == crate::State::Closed {
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(Err(Error::Io(e))));
            }
            if self.conn.should_close_transport() {
                // A server closes TCP first after the close handshake (RFC 6455 §7.1.1); the
                // stream is dropped by its owner, this sends the FIN now.
                let _ = ready!(Pin::new(&mut self.stream).poll_shutdown(cx));
                self.done = true;
                return Poll::Ready(None);
            }
            if let Some(deadline) = self.conn.poll_timeout() {
                let now = self.now();
                if deadline <= now {
                    self.conn.handle_timeout(now);
                    continue;
                }
                let at = self.origin + deadline;
                let sleep = match &mut self.sleep {
                    Some(sleep) => {
                        if sleep.deadline() != at {
                            sleep.as_mut().reset(at);
                        }
                        sleep
                    }
                    None => self.sleep.insert(Box::pin(::tokio::time::sleep_until(at))),
                };
                if sleep.as_mut().poll(cx).is_ready() {
                    let now = self.now();
                    self.conn.handle_timeout(now);
                    continue;
                }
            }
            // With input in progress, read straight into the connection's buffer. An idle
            // connection reads into stack space instead (not initialised, so not zeroed) and
            // copies what came: while it waits it holds no read buffer at all.
            let direct = self.conn.buffered_input() > 0;
            let read = if direct {
                let mut buf = ReadBuf::new(self.conn.read_buf());
                let read = Pin::new(&mut self.stream).poll_read(cx, &mut buf);
                let n = buf.filled().len();
                if n > 0 {
                    self.conn.commit(n);
                }
                read.map_ok(|()| n)
            } else {
                let mut idle_space = [MaybeUninit::<u8>::uninit(); IDLE_READ_SIZE];
                let mut buf = ReadBuf::uninit(&mut idle_space);
                let read = Pin::new(&mut self.stream).poll_read(cx, &mut buf);
                self.conn.receive(buf.filled());
                read.map_ok(|()| buf.filled().len())
            };
            match read {
                Poll::Ready(Ok(0)) => self.conn.receive_eof(),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                // A reset once both close frames are exchanged is how some servers close TCP:
                // it ends the transport like an end of input.
                Poll::Ready(Err(_)) if self.conn.state() == crate::State::Closed => {
                    self.conn.receive_eof();
                }
                Poll::Ready(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(Error::Io(e))));
                }
                Poll::Pending => {
                    if !direct {
                        // Nothing in flight: give the buffers back until the peer speaks.
                        self.conn.shrink_buffers();
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        self.poll_event(cx)
            .map(|event| event.map(|event| event.and_then(event_to_message)))
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<Result<(), Error>> {
        if self.conn.buffered_output() >= self.write_buffer_limit {
            ready!(self.poll_flush_out(cx, side)).map_err(Error::Io)?;
        }
        Poll::Ready(Ok(()))
    }

    fn queue(&mut self, message: Message) -> Result<(), Error> {
        self.conn.send(message).map_err(Error::Send)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<Result<(), Error>> {
        self.poll_flush_out(cx, side).map_err(Error::Io)
    }

    /// Sends a close frame (1000) unless one was sent, then writes everything.
    fn poll_close(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<Result<(), Error>> {
        if self.conn.state() == crate::State::Open {
            // Only fails when a close was already sent.
            let _ = self.conn.close(CloseCode::NORMAL, "");
        }
        self.poll_flush(cx, side)
    }
}

/// A WebSocket connection over an async stream.
///
/// - [`read`](Self::read) (or the [`Stream`] impl) waits for the next message; on the way it
///   writes automatic pongs and close replies and runs the timers. After the peer's close it
///   returns [`Message::Close`], then the stream ends once the transport is done (a client
///   waits for the server to close TCP first, RFC 6455 §7.1.1): `read` then returns
///   [`Error::Closed`], the `Stream` returns `None`.
/// - [`send`](Self::send) queues a message and writes it; [`queue`](Self::queue) only queues;
///   [`buffered_amount`](Self::buffered_amount) tells how much waits. As a [`Sink`], it waits
///   for the queue to drain below [`set_write_buffer_limit`](Self::set_write_buffer_limit)
///   before accepting more.
/// - [`split`](Self::split) gives a [`WebSocketReader`] and a [`WebSocketWriter`] for two
///   tasks.
pub struct WebSocketStream<S> {
    inner: Inner<S>,
}

impl<S> std::fmt::Debug for WebSocketStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketStream")
            .field("conn", &self.inner.conn)
            .finish_non_exhaustive()
    }
}

impl WebSocketStream<TcpStream> {
    /// Connects to a `ws://` URL over TCP and runs the client handshake.
    ///
    /// `wss://` fails with [`Error::TlsRequired`]: connect a TLS stream yourself and use
    /// [`client`](Self::client). Returns the server's `101` response too.
    pub async fn connect(url: &str) -> Result<(Self, Response), Error> {
        Self::connect_with_options(url, &Options::default()).await
    }

    /// [`connect`](Self::connect) with [`Options`].
    pub async fn connect_with_options(
        url: &str,
        options: &Options,
    ) -> Result<(Self, Response), Error> {
        let (url, host, port) = tcp_target(url)?;
        let connect = async {
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            // Small frames (pongs, close replies, interactive messages) go out at once.
            stream.set_nodelay(true)?;
            Ok::<_, io::Error>(stream)
        };
        let stream = with_timeout(options, async { connect.await.map_err(Error::Io) }).await?;
        Self::client_with_options(stream, ClientRequest::from_ws_url(url), options).await
    }
}

/// Runs `future` within the handshake timeout.
async fn with_timeout<T>(
    options: &Options,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match options.handshake_timeout {
        Some(limit) => ::tokio::time::timeout(limit, future)
            .await
            .unwrap_or_else(|_| Err(handshake_timed_out())),
        None => future.await,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Runs the client handshake for `request` over a connected `stream` (TCP, TLS, …).
    pub async fn client(stream: S, request: ClientRequest) -> Result<(Self, Response), Error> {
        Self::client_with_options(stream, request, &Options::default()).await
    }

    /// [`client`](Self::client) with [`Options`].
    pub async fn client_with_options(
        mut stream: S,
        request: ClientRequest,
        options: &Options,
    ) -> Result<(Self, Response), Error> {
        let mut handshake = client_handshake(request, options)?;
        let (conn, response) = with_timeout(options, async {
            stream.write_all(handshake.request_bytes()).await?;
            stream.flush().await?;
            // On the heap, not in the future: the task that accepted keeps its future's size
            // (the largest state) for the life of the connection.
            let mut buf = std::vec![0u8; 4096];
            loop {
                let n = stream.read(&mut buf).await?;
                let outcome = if n == 0 {
                    handshake.receive_eof()?
                } else {
                    handshake.receive(&buf[..n])?
                };
                if let Some(done) = client_outcome(outcome)? {
                    return Ok(done);
                }
            }
        })
        .await?;
        Ok((WebSocketStream::from_connection(stream, conn), response))
    }

    /// Runs the server handshake over an accepted `stream` and accepts any valid WebSocket
    /// request (no subprotocol; permessage-deflate when the feature is on).
    ///
    /// A request that is not a valid upgrade is answered with the matching HTTP error (`400`,
    /// `405`, `426`, `431`) and returned as [`Error::Handshake`].
    pub async fn accept(stream: S) -> Result<Self, Error> {
        Self::accept_with(stream, |_| Ok(AcceptOptions::new())).await
    }

    /// Runs the server handshake, letting `decide` look at the request (path, `Origin`,
    /// cookies, offered subprotocols) and accept it with [`AcceptOptions`] or refuse it with a
    /// [`Rejection`] (then sent, and returned as [`Error::Rejected`]).
    pub async fn accept_with<F>(stream: S, decide: F) -> Result<Self, Error>
    where
        F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
    {
        Self::accept_with_options(stream, &Options::default(), decide).await
    }

    /// [`accept_with`](Self::accept_with) with [`Options`].
    pub async fn accept_with_options<F>(
        mut stream: S,
        options: &Options,
        decide: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
    {
        let mut handshake = server_handshake(options);
        with_timeout(options, async {
            // On the heap, not in the future: the task that accepted keeps its future's size
            // (the largest state) for the life of the connection.
            let mut buf = std::vec![0u8; 4096];
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return Err(Error::Handshake(HandshakeError::UnexpectedEof));
                }
                match handshake.receive(&buf[..n]) {
                    Ok(None) => {}
                    Ok(Some(_)) => return Ok(()),
                    Err(e) => {
                        if let Some(response) = e.response() {
                            // Best effort: the client may already be gone.
                            let _ = stream.write_all(&response).await;
                            let _ = stream.flush().await;
                        }
                        return Err(Error::Handshake(e));
                    }
                }
            }
        })
        .await?;
        match server_answer(&mut handshake, options, decide) {
            ServerAnswer::Accept(response, conn) => {
                with_timeout(options, async {
                    stream.write_all(&response).await?;
                    stream.flush().await.map_err(Error::Io)
                })
                .await?;
                Ok(WebSocketStream::from_connection(stream, conn))
            }
            ServerAnswer::Refuse(response, error) => {
                let _ = with_timeout(options, async {
                    stream.write_all(&response).await?;
                    stream.flush().await.map_err(Error::Io)
                })
                .await;
                Err(error)
            }
        }
    }

    /// Runs `conn` over `stream`, whose opening handshake is already done (by this crate's
    /// handshake types or elsewhere). Bytes that followed the handshake must already be in
    /// `conn`.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        WebSocketStream {
            inner: Inner::new(stream, conn),
        }
    }

    /// Waits for the next message.
    ///
    /// Pings are answered automatically (unless configured otherwise) and also returned. After
    /// the peer's close frame (returned as [`Message::Close`], its reply already queued and
    /// being written) the next call finishes the close and returns [`Error::Closed`]. A protocol
    /// violation by the peer returns [`Error::Connection`] once the close frame for it has been
    /// written; data messages that arrived before the violation are returned first.
    pub async fn read(&mut self) -> Result<Message, Error> {
        poll_fn(|cx| self.inner.poll_message(cx))
            .await
            .unwrap_or(Err(Error::Closed))
    }

    /// Like [`read`](Self::read), but returns the connection's [`Event`]s, which include
    /// message fragments when [`Config::stream_messages`](crate::Config) is on.
    pub async fn read_event(&mut self) -> Result<Event, Error> {
        poll_fn(|cx| self.inner.poll_event(cx))
            .await
            .unwrap_or(Err(Error::Closed))
    }

    /// Queues `message` and writes everything queued.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.inner.queue(message)?;
        self.flush().await
    }

    /// Queues `message` without writing it: [`flush`](Self::flush), the next
    /// [`send`](Self::send) or reading writes it.
    pub fn queue(&mut self, message: Message) -> Result<(), Error> {
        self.inner.queue(message)
    }

    /// Writes everything queued and flushes the stream.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_flush(cx, Side::Write)).await
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes) and writes the
    /// close frame. Then keep reading until [`read`](Self::read) returns [`Error::Closed`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.inner.conn.close(code, reason).map_err(Error::Send)?;
        self.flush().await
    }

    /// Bytes queued but not yet written (the browser API's `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.inner.conn.buffered_output()
    }

    /// Sets how much queued output makes the [`Sink`] wait for a flush before accepting another
    /// message (default 128 KiB).
    pub fn set_write_buffer_limit(&mut self, bytes: usize) {
        self.inner.write_buffer_limit = bytes;
    }

    /// The connection state machine (state, subprotocol, configuration).
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// The connection state machine, for the calls this type does not wrap (streamed sends,
    /// pongs). What it queues is written by the next flush, send or read.
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.inner.conn
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.inner.stream
    }

    /// The stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.stream
    }

    /// Takes the stream and the connection apart.
    pub fn into_parts(self) -> (S, Connection) {
        (self.inner.stream, self.inner.conn)
    }

    /// Splits into a reading and a writing half that can move to different tasks.
    ///
    /// They share the connection behind a mutex held only while a half is polled (never across
    /// an await). The reading half writes what reading produces (pongs, close replies) itself,
    /// so an idle writing half never holds them back.
    pub fn split(self) -> (WebSocketReader<S>, WebSocketWriter<S>) {
        let shared = Arc::new(Mutex::new(self.inner));
        (
            WebSocketReader {
                shared: Arc::clone(&shared),
            },
            WebSocketWriter { shared },
        )
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_ready(cx, Side::Write)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.get_mut().inner.queue(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_flush(cx, Side::Write)
    }

    /// Sends a close frame with code 1000 (unless a close was already sent) and writes
    /// everything. The peer's reply arrives on the reading side.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_close(cx, Side::Write)
    }
}

/// Locks the shared state. A panic in another half while it held the lock leaves the
/// connection in a state that is still memory-safe to use; carry on.
fn lock<S>(shared: &Mutex<Inner<S>>) -> MutexGuard<'_, Inner<S>> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The reading half of a split [`WebSocketStream`]: a [`Stream`] of messages.
///
/// Keep polling it for as long as the connection should live: it also writes pongs and close
/// replies and runs the timers.
pub struct WebSocketReader<S> {
    shared: Arc<Mutex<Inner<S>>>,
}

/// The writing half of a split [`WebSocketStream`]: a [`Sink`] of messages.
pub struct WebSocketWriter<S> {
    shared: Arc<Mutex<Inner<S>>>,
}

impl<S> std::fmt::Debug for WebSocketReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketReader").finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for WebSocketWriter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketWriter").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketReader<S> {
    /// Waits for the next message; see [`WebSocketStream::read`].
    pub async fn read(&mut self) -> Result<Message, Error> {
        poll_fn(|cx| lock(&self.shared).poll_message(cx))
            .await
            .unwrap_or(Err(Error::Closed))
    }

    /// Waits for the next event; see [`WebSocketStream::read_event`].
    pub async fn read_event(&mut self) -> Result<Event, Error> {
        poll_fn(|cx| lock(&self.shared).poll_event(cx))
            .await
            .unwrap_or(Err(Error::Closed))
    }

    /// Puts the halves back together. Fails (returning both) if they come from different
    /// streams.
    pub fn reunite(
        self,
        writer: WebSocketWriter<S>,
    ) -> Result<WebSocketStream<S>, (WebSocketReader<S>, WebSocketWriter<S>)> {
        if !Arc::ptr_eq(&self.shared, &writer.shared) {
            return Err((self, writer));
        }
        drop(writer);
        match Arc::try_unwrap(self.shared) {
            Ok(mutex) => Ok(WebSocketStream {
                inner: mutex.into_inner().unwrap_or_else(|p| p.into_inner()),
            }),
            Err(_) => unreachable!("both halves were given and no other handle exists"),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketReader<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        lock(&self.shared).poll_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketWriter<S> {
    /// Queues `message` and writes everything queued.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.queue(message)?;
        self.flush().await
    }

    /// Queues `message` without writing it.
    pub fn queue(&mut self, message: Message) -> Result<(), Error> {
        lock(&self.shared).queue(message)
    }

    /// Writes everything queued and flushes the stream.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| lock(&self.shared).poll_flush(cx, Side::Write)).await
    }

    /// Starts the close handshake and writes the close frame; the reading half receives the
    /// peer's reply and then ends.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        lock(&self.shared)
            .conn
            .close(code, reason)
            .map_err(Error::Send)?;
        self.flush().await
    }

    /// Bytes queued but not yet written.
    pub fn buffered_amount(&self) -> usize {
        lock(&self.shared).conn.buffered_output()
    }

    /// Runs `f` on the connection state machine (for its state, or the calls this type does
    /// not wrap). What it queues is written by the next flush, send or read.
    pub fn with_connection<R>(&mut self, f: impl FnOnce(&mut Connection) -> R) -> R {
        f(&mut lock(&self.shared).conn)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketWriter<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_ready(cx, Side::Write)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        lock(&self.shared).queue(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_flush(cx, Side::Write)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_close(cx, Side::Write)
    }
}
