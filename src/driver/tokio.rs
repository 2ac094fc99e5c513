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
//! Resources stay bounded against any peer with the default [`Config`](crate::Config):
//! keepalive pings every 20 s and aborts a connection whose pong does not come within 20 s,
//! the close handshake takes at most 10 s, reading pauses while more than
//! [`Config::output_high_water_mark`](crate::Config::output_high_water_mark) bytes wait to be
//! written (so a peer that does not read is pushed back by TCP), and a write that makes no
//! progress for [`WebSocketStream::set_write_timeout`] (default 30 s) fails.
//!
//! ```
//! use tokio::net::TcpListener;
//! use wsproto::driver::tokio::WebSocketStream;
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
//!     Ok::<_, wsproto::driver::Error>(())
//! });
//!
//! // A client.
//! let (mut ws, _response) = WebSocketStream::connect(format!("ws://{addr}/chat")).await?;
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
use ::tokio::time::{Instant, Sleep};
use futures_core::Stream;
use futures_sink::Sink;

use super::{
    Error, Options, Reassembly, Rejection, ServerAnswer, client_handshake, client_outcome,
    handshake_timed_out, redirect_target, server_answer, server_handshake, tcp_target,
};
use crate::close::CloseCode;
use crate::connection::Connection;
use crate::handshake::{
    AcceptOptions, HandshakeError, IntoClientRequest, Request, Response, ServerHandshake,
};
use crate::message::{Event, Message};

pub use super::tls::tokio::MaybeTlsStream;

/// The most slices handed to one vectored write.
const MAX_IO_SLICES: usize = 64;

/// Default for [`WebSocketStream::set_write_timeout`]: 30 s.
const DEFAULT_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The stack space an idle connection reads into (see `poll_event`): a 16 KiB message with its
/// frame header (at most 14 bytes) and a little more arrives in one read. At exactly 16 KiB,
/// such a message came in two reads, the second into the connection's buffer: a third `recv`
/// per message, the buffer grown to 32 KiB and its new half zeroed.
const IDLE_READ_SIZE: usize = 17 * 1024;

/// An idle connection that has carried only reads and writes up to this size keeps its (small)
/// buffers for [`RELEASE_DELAY`] of quiet before giving them back; past it, at once.
const SMALL_TRAFFIC: usize = 4 * 1024;

/// How long a connection with small traffic stays quiet before its buffers are released.
const RELEASE_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

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
    /// The timer for the connection's next deadline and for giving the buffers back (see
    /// [`Release`]), whichever comes first: one timer to look at before every wait, not two.
    timer: Timer,
    /// A connection error held back until the close frame it queued is written.
    error: Option<crate::Error>,
    /// Tasks waiting for the transport to become writable, one per side. A stream keeps only the
    /// last waker it was polled with, so whichever side writes wakes the other.
    write_waiters: [Option<Waker>; 2],
    /// The stream ended (`None` was returned); it stays ended.
    done: bool,
    /// Past this much queued output, the `Sink` waits for a flush before taking more.
    write_buffer_limit: usize,
    /// Fragments joined into whole messages for `read` and the `Stream` (with
    /// `Config::stream_messages`).
    reassembly: Reassembly,
    /// The transport reached end of input: never read it again.
    read_eof: bool,
    /// A write error met while delivering an event, returned by the next poll.
    io_error: Option<io::Error>,
    /// A timer ended the connection and dropped output that was still queued.
    output_dropped: bool,
    /// The longest a write may make no progress.
    write_timeout: Option<std::time::Duration>,
    /// Since when the output has waited for the transport to become writable.
    stalled_since: Option<Instant>,
    /// The writing side's timer (close timeout, write timeout).
    write_timer: Timer,
    /// When an idle connection gives its buffers back.
    release: Release,
    /// The connection's `websocket` span (feature `tracing`), entered in every poll.
    span: crate::trace::ConnSpan,
    /// Bytes were written to the stream since its last successful flush: until then, a flush
    /// with nothing queued need not poll the stream.
    unflushed: bool,
    /// Reads that returned data since the connection's deadline was last checked (see
    /// [`TIMER_CHECK_READS`]).
    reads_unchecked: u8,
    /// The connection had no event the last time it was asked, and has been given no input
    /// and no call since: asking again (as the first turn of every read after a wake did) is
    /// skipped. Anything that reaches the connection otherwise clears it.
    no_event: bool,
    /// The connection's last deadline and its instant.
    deadline_at: Option<(std::time::Duration, Instant)>,
}

/// The connection's deadline is checked before the reading task waits (the `Sleep` wakes it
/// when the deadline comes), not on every turn of the read loop: that was two timer polls per
/// echo. A stream that never makes the task wait still has it checked every this many reads.
const TIMER_CHECK_READS: u8 = 32;

/// A `Sleep` for a deadline that rarely moves (the keepalive and close deadlines change a few
/// times a minute, not per message), polled only when it must be.
///
/// Polling a `Sleep` stores a clone of the waker in the timer entry (an atomic increment and
/// decrement of the task's reference count, and a compare-and-swap), and reading the clock to
/// check a deadline is a `clock_gettime`: per poll of a busy connection, that was a measurable
/// share of an echo's user-space time. So the deadline is not compared with the clock at all
/// (the `Sleep` fires when it passes), and the `Sleep` is polled again only when the deadline
/// or the task's waker changed, or it has fired.
#[derive(Default)]
struct Timer {
    /// Created when first needed.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The waker the pending `Sleep` was last polled with (it wakes that one).
    waker: Option<Waker>,
}

impl Timer {
    /// Arms the timer for `at` (creating or moving it); returns whether `at` has passed.
    #[inline]
    fn poll_until(&mut self, at: Instant, cx: &mut Context<'_>) -> bool {
        // Armed for this deadline, and it wakes this task (every wait of a busy connection):
        // an inlined check.
        if let Some(sleep) = &self.sleep
            && sleep.deadline() == at
            && !sleep.is_elapsed()
            && self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
        {
            return false;
        }
        self.poll_until_slow(at, cx)
    }

    #[inline(never)]
    fn poll_until_slow(&mut self, at: Instant, cx: &mut Context<'_>) -> bool {
        let sleep = match &mut self.sleep {
            Some(sleep) if sleep.deadline() == at => {
                if !sleep.is_elapsed()
                    && self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
                {
                    // Armed for this deadline, and it wakes this task.
                    return false;
                }
                sleep
            }
            Some(sleep) => {
                sleep.as_mut().reset(at);
                sleep
            }
            None => self.sleep.insert(Box::pin(::tokio::time::sleep_until(at))),
        };
        // Out of coop budget, the poll registers nothing (it only wakes the task to yield):
        // then the next poll must not be skipped.
        let registers = ::tokio::task::coop::has_budget_remaining();
        if sleep.as_mut().poll(cx).is_ready() {
            self.waker = None;
            return true;
        }
        if !registers {
            self.waker = None;
        } else if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
        false
    }
}

/// Hysteresis for giving the buffers back when the transport has nothing to read.
///
/// Releasing them at every such moment (as an echo does between messages) cost a free and a
/// malloc, plus regrowing the output queue, per message: about a fifth of the server's
/// user-space instructions for a small echo. Small buffers are now kept while the connection
/// is busy and released once it has been quiet for [`RELEASE_DELAY`]; after a read or write
/// larger than [`SMALL_TRAFFIC`] they are released at once, as before, so that thousands of
/// connections moving large messages never hold large buffers while they wait.
#[derive(Default)]
struct Release {
    /// When to look again (armed while small buffers are kept).
    at: Option<Instant>,
    /// Input arrived since `at` was set (or, unarmed, since the last release).
    active: bool,
    /// A read or write larger than [`SMALL_TRAFFIC`] (or into the connection's own buffer)
    /// since the buffers were last released.
    large: bool,
}

impl Release {
    /// Starts a quiet spell: the buffers go back at its end unless input arrives first.
    fn rearm(&mut self) {
        self.active = false;
        self.at = Some(Instant::now() + RELEASE_DELAY);
    }
}

fn output_dropped_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the connection timed out before the queued output could be written",
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn new(stream: S, conn: Connection) -> Self {
        let write_buffer_limit = conn.config().output_high_water_mark;
        Inner {
            span: crate::trace::conn_span!(conn.role()),
            stream,
            conn,
            origin: Instant::now(),
            timer: Timer::default(),
            error: None,
            write_waiters: [None, None],
            done: false,
            reassembly: Reassembly::default(),
            write_buffer_limit,
            read_eof: false,
            io_error: None,
            output_dropped: false,
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            stalled_since: None,
            write_timer: Timer::default(),
            release: Release::default(),
            unflushed: false,
            reads_unchecked: 0,
            no_event: false,
            deadline_at: None,
        }
    }

    /// Runs the connection's timers, noting when they dropped queued output.
    fn handle_timeout(&mut self) {
        self.no_event = false;
        let before = self.conn.buffered_output();
        let now = self.now();
        self.conn.handle_timeout(now);
        if before > 0 && self.conn.buffered_output() == 0 {
            self.output_dropped = true;
        }
    }

    /// Writes all queued output and flushes the stream.
    #[inline]
    fn poll_flush_out(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<io::Result<()>> {
        // Nothing queued, nothing written since the stream last flushed and no half waiting
        // (several times per message on a busy connection): done, without a call.
        if !self.unflushed
            && self.conn.buffered_output() == 0
            && self.write_waiters.iter().all(Option::is_none)
        {
            self.stalled_since = None;
            return Poll::Ready(Ok(()));
        }
        self.poll_flush_out_slow(cx, side)
    }

    #[inline(never)]
    fn poll_flush_out_slow(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<io::Result<()>> {
        // Nothing queued and no half waiting: only the stream's own flush, which is all the
        // path below would do.
        if self.conn.buffered_output() == 0
            && self.write_waiters.iter().all(Option::is_none)
            && let Poll::Ready(result) = self.poll_stream_flush(cx)
        {
            self.stalled_since = None;
            return Poll::Ready(result);
        }
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
            self.stalled_since.get_or_insert_with(Instant::now);
        } else {
            self.write_waiters[side as usize] = None;
            self.stalled_since = None;
        }
        result
    }

    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut progressed = false;
        let result = loop {
            if self.conn.buffered_output() == 0 {
                break self.poll_stream_flush(cx);
            }
            if self.conn.buffered_output() > SMALL_TRAFFIC {
                self.release.large = true;
            }
            // One contiguous run (a small message, with its header) goes to a plain write: a
            // `send`, cheaper in the kernel than a `writev` of one slice.
            let first = self.conn.output();
            let polled =
                if first.len() < self.conn.buffered_output() && self.stream.is_write_vectored() {
                    let mut slices = [IoSlice::new(&[]); MAX_IO_SLICES];
                    let n = self.conn.output_io_slices(&mut slices);
                    Pin::new(&mut self.stream).poll_write_vectored(cx, &slices[..n])
                } else {
                    Pin::new(&mut self.stream).poll_write(cx, first)
                };
            match polled {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.conn.consume_output(n);
                    self.unflushed = true;
                    progressed = true;
                    self.stalled_since = None;
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

    /// The stream's own flush; a success means nothing written is held back in it.
    fn poll_stream_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.stream).poll_flush(cx);
        if let Poll::Ready(Ok(())) = result {
            self.unflushed = false;
        }
        result
    }

    /// The connection's clock.
    fn now(&self) -> std::time::Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    /// Whether the connection's next deadline has come (then run `handle_timeout`); if not,
    /// the timer wakes the task when it does. The same timer runs the buffer release (see
    /// [`Release`]), handled here when it comes first.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            let deadline_at = match self.conn.poll_timeout() {
                None => None,
                // A timer that starts now (keepalive at the start, the close timeout on closing).
                Some(deadline) if deadline.is_zero() => return true,
                Some(deadline) => match self.deadline_at {
                    // The same deadline as last time (nearly always): its instant is known.
                    Some((d, at)) if d == deadline => Some(at),
                    // A deadline too far away to represent never comes.
                    _ => self
                        .origin
                        .checked_add(deadline)
                        .map(|at| self.deadline_at.insert((deadline, at)).1),
                },
            };
            let at = match (deadline_at, self.release.at) {
                (Some(d), Some(r)) => d.min(r),
                (Some(at), None) | (None, Some(at)) => at,
                (None, None) => return false,
            };
            if !self.timer.poll_until(at, cx) {
                return false;
            }
            if deadline_at == Some(at) {
                return true;
            }
            // The release time came first.
            let release = &mut self.release;
            if release.active {
                // Input arrived meanwhile: look again after another quiet spell.
                release.rearm();
            } else {
                // Only empty buffers are freed, so this is right whatever the task waits for.
                self.conn.shrink_buffers();
                *release = Release::default();
            }
        }
    }

    /// Drives the connection until it has an event, the connection ends (`None`), or it must
    /// wait for the transport or a timer.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, Error>>> {
        crate::trace::enter_span!(self.span);
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(e) = self.io_error.take() {
            // The write error met while the previous event was delivered.
            self.done = true;
            if self.conn.state() == crate::State::Closed && !self.conn.has_unsent_data() {
                return Poll::Ready(None);
            }
            return Poll::Ready(Some(Err(Error::Io(e))));
        }
        loop {
            if self.error.is_none() && !self.no_event {
                let before = self.conn.buffered_output();
                match self.conn.poll_event() {
                    Ok(Some(event)) => {
                        // Start writing what the event produced (a pong, a close reply). What
                        // does not fit now is written by the next poll, or by the writing half.
                        // The event is delivered even if that write fails; the error follows.
                        if let Poll::Ready(Err(e)) = self.poll_flush_out(cx, Side::Read)
                            && !matches!(event, Event::Close(_))
                        {
                            self.io_error = Some(e);
                        }
                        return Poll::Ready(Some(Ok(event)));
                    }
                    Ok(None) => self.no_event = true,
                    Err(e) => {
                        if before > 0 && self.conn.buffered_output() == 0 {
                            self.output_dropped = true;
                        }
                        self.error = Some(e);
                    }
                }
            }
            let flushed = self.poll_flush_out(cx, Side::Read);
            if let Some(error) = self.error.take() {
                // Report a failure only after the close frame saying why is out (or cannot be).
                if flushed.is_pending() {
                    self.error = Some(error);
                    // The close timeout bounds that wait.
                    if self.poll_deadline(cx) {
                        self.handle_timeout();
                        continue;
                    }
                    return Poll::Pending;
                }
                return Poll::Ready(Some(Err(Error::Connection(error))));
            }
            if let Poll::Ready(Err(e)) = flushed {
                self.done = true;
                // After the close handshake a peer that is already gone ends the connection,
                // unless data accepted for sending is lost with it.
                if self.conn.state() == crate::State::Closed && !self.conn.has_unsent_data() {
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
            if self.reads_unchecked >= TIMER_CHECK_READS {
                self.reads_unchecked = 0;
                if self.poll_deadline(cx) {
                    self.handle_timeout();
                    continue;
                }
            }
            if self.read_eof || !self.conn.wants_input() {
                // Nothing more to read, or too much output waiting: the peer's bytes stay in the
                // kernel until the output drains (the flush above will wake us) or a timer runs.
                if self.poll_deadline(cx) {
                    self.handle_timeout();
                    continue;
                }
                return Poll::Pending;
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
                    self.no_event = false;
                }
                // The connection's buffer is at least 16 KiB.
                self.release.large = true;
                read.map_ok(|()| n)
            } else {
                let mut idle_space = [MaybeUninit::<u8>::uninit(); IDLE_READ_SIZE];
                let mut buf = ReadBuf::uninit(&mut idle_space);
                let read = Pin::new(&mut self.stream).poll_read(cx, &mut buf);
                let n = buf.filled().len();
                if n > 0 {
                    self.no_event = false;
                    self.conn.receive(buf.filled());
                    self.release.active = true;
                    self.release.large |= n > SMALL_TRAFFIC;
                }
                read.map_ok(|()| n)
            };
            match read {
                Poll::Ready(Ok(0)) => {
                    self.read_eof = true;
                    self.no_event = false;
                    self.conn.receive_eof();
                }
                Poll::Ready(Ok(_)) => self.reads_unchecked += 1,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                // A reset once both close frames are exchanged is how some servers close TCP:
                // it ends the transport like an end of input.
                Poll::Ready(Err(_)) if self.conn.state() == crate::State::Closed => {
                    self.read_eof = true;
                    self.no_event = false;
                    self.conn.receive_eof();
                }
                Poll::Ready(Err(e)) => {
                    self.done = true;
                    // `Error::Tls` when a TLS stream's record or alert failed.
                    return Poll::Ready(Some(Err(Error::from(e))));
                }
                Poll::Pending => {
                    if !direct {
                        // Nothing in flight: give the buffers back until the peer speaks.
                        self.release_when_idle();
                    }
                    // About to wait: the deadline must wake the task if it comes first.
                    self.reads_unchecked = 0;
                    if self.poll_deadline(cx) {
                        self.handle_timeout();
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// With nothing to read: releases the buffers now after large traffic, else arms the
    /// release for [`RELEASE_DELAY`] of quiet (run by the timer in
    /// [`poll_deadline`](Self::poll_deadline), which must be polled after this).
    #[inline]
    fn release_when_idle(&mut self) {
        let release = &mut self.release;
        if release.at.is_some() && !release.large {
            // Armed (every wait of a busy connection).
            return;
        }
        // Nothing came since the last release (a new connection, or one that only writes):
        // there is little to keep, and no timer is worth arming.
        if release.large || !release.active {
            self.conn.shrink_buffers();
            *release = Release::default();
            return;
        }
        release.rearm();
    }

    /// The next whole message: fragments (with `Config::stream_messages`) are joined.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            let event = match ready!(self.poll_event(cx)) {
                Some(Ok(event)) => event,
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            };
            // A whole data message (nearly every event) is the message itself: what `push`
            // would return, without the call.
            let event = match event {
                Event::Text(text) => return Poll::Ready(Some(Ok(Message::Text(text)))),
                Event::Binary(data) => return Poll::Ready(Some(Ok(Message::Binary(data)))),
                event => event,
            };
            match self.reassembly.push(event, &mut self.conn) {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<Result<(), Error>> {
        crate::trace::enter_span!(self.span);
        if self.conn.buffered_output() >= self.write_buffer_limit {
            ready!(self.poll_flush_out(cx, side)).map_err(Error::Io)?;
        }
        Poll::Ready(Ok(()))
    }

    fn queue(&mut self, message: Message) -> Result<(), Error> {
        crate::trace::enter_span!(self.span);
        self.conn_mut().send(message).map_err(Error::Send)
    }

    /// The connection, for a call from outside the read loop: the next read asks it for an
    /// event again.
    fn conn_mut(&mut self) -> &mut Connection {
        self.no_event = false;
        &mut self.conn
    }

    /// Writes everything queued for the writing side. While the transport does not take it,
    /// the close timeout (once closing) and the write timeout still run.
    fn poll_flush(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<Result<(), Error>> {
        crate::trace::enter_span!(self.span);
        loop {
            if self.output_dropped {
                return Poll::Ready(Err(Error::Io(output_dropped_error())));
            }
            if let Poll::Ready(result) = self.poll_flush_out(cx, side) {
                return Poll::Ready(result.map_err(Error::Io));
            }
            let mut wake_at: Option<Instant> = None;
            // Keepalive is left to the reading side (which reads the pongs); the close timeout
            // must end a close whose frame the peer never reads, read or not.
            if self.conn.state() != crate::State::Open
                && let Some(deadline) = self.conn.poll_timeout()
            {
                if deadline <= self.now() {
                    self.handle_timeout();
                    continue;
                }
                wake_at = self.origin.checked_add(deadline);
            }
            if let (Some(limit), Some(since)) = (self.write_timeout, self.stalled_since) {
                match since.checked_add(limit) {
                    Some(at) if at <= Instant::now() => {
                        return Poll::Ready(Err(Error::Io(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "write timed out: the peer does not read",
                        ))));
                    }
                    Some(at) => wake_at = Some(wake_at.map_or(at, |w| w.min(at))),
                    None => {}
                }
            }
            match wake_at {
                Some(at) if self.write_timer.poll_until(at, cx) => continue,
                _ => return Poll::Pending,
            }
        }
    }

    /// Sends a close frame (1000) unless one was sent, then writes everything.
    fn poll_close(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<Result<(), Error>> {
        crate::trace::enter_span!(self.span);
        if self.conn.state() == crate::State::Open {
            // Only fails when a close was already sent.
            let _ = self.conn_mut().close(CloseCode::NORMAL, "");
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

impl WebSocketStream<MaybeTlsStream> {
    /// Connects to a `ws://` or `wss://` URL and runs the client handshake. `request` is a URL
    /// (`&str`, `String`), a [`ClientRequest`](crate::handshake::ClientRequest) or, with the
    /// `http` feature, an `http::Request<()>` ([`IntoClientRequest`]).
    ///
    /// `wss://` (feature `rustls`, else [`Error::TlsRequired`]) runs TLS first, with the URL's
    /// host as the server name and the default root store (see [`crate::driver::tls`]); a TLS
    /// failure is [`Error::Tls`]. Returns the server's `101` response too.
    pub async fn connect(request: impl IntoClientRequest) -> Result<(Self, Response), Error> {
        Self::connect_with_options(request, &Options::default()).await
    }

    /// [`connect`](Self::connect) with [`Options`]; follows up to [`Options::max_redirects`]
    /// redirects.
    pub async fn connect_with_options(
        request: impl IntoClientRequest,
        options: &Options,
    ) -> Result<(Self, Response), Error> {
        let request = request.into_client_request()?;
        // Boxed, as the handshakes: TLS and redirects make this state large, and a task keeps
        // its future's largest state for its whole life.
        Box::pin(Self::connect_inner(request, options)).await
    }

    async fn connect_inner(
        mut request: crate::handshake::ClientRequest,
        options: &Options,
    ) -> Result<(Self, Response), Error> {
        let mut redirects = 0;
        loop {
            let (host, port, secure) = tcp_target(&request)?;
            let stream = with_timeout(
                options,
                super::tls::tokio::connect(secure, &host, port, options),
            )
            .await?;
            let result = Self::client_with_options(stream, request.clone(), options).await;
            match redirect_target(&result, &request, options, redirects) {
                None => return result,
                Some(next) => request = next?,
            }
            redirects += 1;
        }
    }
}

/// A received, valid handshake request waiting for the application's decision, which may
/// await: from [`WebSocketStream::read_request`].
pub struct PendingAccept<S> {
    stream: S,
    /// Holds a complete, validated request (`receive` returned it).
    handshake: ServerHandshake,
    options: Options,
    /// The connection's span, from the request on.
    span: crate::trace::ConnSpan,
}

impl<S> std::fmt::Debug for PendingAccept<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAccept")
            .field("request", &self.handshake.request())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> PendingAccept<S> {
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
    pub async fn accept(self, options: AcceptOptions) -> Result<WebSocketStream<S>, Error> {
        self.answer(|_| Ok(options)).await
    }

    /// Rejects: writes `rejection`'s response and gives the stream back, for the caller to
    /// close (or drop). An unusable rejection (a status outside 200–599) answers `500` and
    /// returns [`Error::Handshake`].
    pub async fn reject(self, rejection: Rejection) -> Result<S, Error> {
        Box::pin(self.reject_inner(rejection)).await
    }

    async fn reject_inner(mut self, rejection: Rejection) -> Result<S, Error> {
        let answer = {
            crate::trace::enter_span!(self.span);
            server_answer(&mut self.handshake, &self.options, |_| Err(rejection))
        };
        let (response, error) = match answer {
            ServerAnswer::Refuse(response, Error::Rejected { .. }) => (response, None),
            ServerAnswer::Refuse(response, error) => (response, Some(error)),
            ServerAnswer::Accept(..) => unreachable!("a rejection never accepts"),
        };
        let stream = &mut self.stream;
        let written = with_timeout(&self.options, async {
            stream.write_all(&response).await?;
            stream.flush().await.map_err(Error::Io)
        })
        .await;
        match error {
            Some(error) => Err(error),
            None => written.map(|()| self.stream),
        }
    }

    /// Lets `decide` answer, then writes the answer.
    async fn answer<F>(self, decide: F) -> Result<WebSocketStream<S>, Error>
    where
        F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
    {
        // Boxed, as `read_request`'s state: it is freed once the answer is written.
        Box::pin(self.answer_inner(decide)).await
    }

    async fn answer_inner<F>(mut self, decide: F) -> Result<WebSocketStream<S>, Error>
    where
        F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
    {
        let mut stream = self.stream;
        let options = &self.options;
        let answer = {
            crate::trace::enter_span!(self.span);
            server_answer(&mut self.handshake, options, decide)
        };
        match answer {
            ServerAnswer::Accept(response, conn) => {
                with_timeout(options, async {
                    stream.write_all(&response).await?;
                    stream.flush().await.map_err(Error::Io)
                })
                .await?;
                let mut ws = WebSocketStream::from_connection(stream, conn);
                ws.inner.span = self.span;
                Ok(ws)
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
    pub async fn client(
        stream: S,
        request: impl IntoClientRequest,
    ) -> Result<(Self, Response), Error> {
        Self::client_with_options(stream, request, &Options::default()).await
    }

    /// [`client`](Self::client) with [`Options`]. A redirect is returned as
    /// [`Error::Rejected`] (see [`Error::location`]), never followed: it needs a new stream.
    pub async fn client_with_options(
        stream: S,
        request: impl IntoClientRequest,
        options: &Options,
    ) -> Result<(Self, Response), Error> {
        let request = request.into_client_request()?;
        // Boxed, as the server's handshake: freed once the handshake is done.
        Box::pin(Self::client_inner(stream, request, options)).await
    }

    async fn client_inner(
        mut stream: S,
        request: crate::handshake::ClientRequest,
        options: &Options,
    ) -> Result<(Self, Response), Error> {
        let span = crate::trace::conn_span!(crate::Role::Client);
        crate::trace::record_peer!(span, super::peer_of(&request));
        let mut handshake = client_handshake(request, options)?;
        let handshake_done = with_timeout(options, async {
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
        });
        let (conn, response) = crate::trace::instrument!(handshake_done, span).await?;
        let mut ws = WebSocketStream::from_connection(stream, conn);
        ws.inner.span = span;
        Ok((ws, response))
    }

    /// Runs the server handshake over an accepted `stream` and accepts any valid WebSocket
    /// request (no subprotocol; permessage-deflate when the feature is on).
    ///
    /// A request that is not a valid upgrade is answered with the matching HTTP error (`400`,
    /// `405`, `426`, `431`) and returned as [`Error::Handshake`].
    pub async fn accept(stream: S) -> Result<Self, Error> {
        Self::accept_with_options(stream, &Options::default()).await
    }

    /// [`accept`](Self::accept) with [`Options`].
    pub async fn accept_with_options(stream: S, options: &Options) -> Result<Self, Error> {
        Self::accept_with_options_and(stream, options, |_| Ok(AcceptOptions::new())).await
    }

    /// Runs the server handshake, letting `decide` look at the request (path, `Origin`,
    /// cookies, offered subprotocols) and accept it with [`AcceptOptions`] or refuse it with a
    /// [`Rejection`] (then sent, and returned as [`Error::Rejected`]).
    ///
    /// A [`HandshakeError`] converts into a `Rejection`, so `?` works inside `decide`. For a
    /// decision that needs to await (a database lookup, an authentication service), use
    /// [`read_request`](Self::read_request).
    pub async fn accept_with<F>(stream: S, decide: F) -> Result<Self, Error>
    where
        F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
    {
        Self::accept_with_options_and(stream, &Options::default(), decide).await
    }

    /// [`accept_with`](Self::accept_with) with [`Options`].
    pub async fn accept_with_options_and<F>(
        stream: S,
        options: &Options,
        decide: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(&Request) -> Result<AcceptOptions, Rejection>,
    {
        // One box for the whole handshake (see `read_request`): the accepting task then holds
        // only the connection once it is done.
        Box::pin(async move {
            Self::read_request_inner(stream, options)
                .await?
                .answer_inner(decide)
                .await
        })
        .await
    }

    /// Reads and validates the handshake request (within [`Options::handshake_timeout`]) and
    /// returns it undecided, so the decision can await: look at [`PendingAccept::request`],
    /// then [`accept`](PendingAccept::accept) or [`reject`](PendingAccept::reject).
    ///
    /// The time the decision takes is not bounded here (wrap it in `tokio::time::timeout` if
    /// it should be); writing the answer is, again by the handshake timeout.
    ///
    /// ```
    /// use tokio::net::{TcpListener, TcpStream};
    /// use wsproto::handshake::AcceptOptions;
    /// use wsproto::driver::tokio::WebSocketStream;
    /// use wsproto::driver::{Options, Rejection};
    ///
    /// async fn allowed(token: Option<&str>) -> bool {
    ///     token == Some("Bearer good") // a database or an auth service, say
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// let client = tokio::spawn(WebSocketStream::connect(format!("ws://{addr}/")));
    /// let (stream, _) = listener.accept().await?;
    ///
    /// let pending = WebSocketStream::read_request(stream, &Options::default()).await?;
    /// let token = pending.request().headers().get_str("authorization");
    /// if allowed(token).await {
    ///     let _ws = pending.accept(AcceptOptions::new()).await?;
    /// } else {
    ///     pending.reject(Rejection::new(401).body("sign in first")).await?;
    /// }
    /// let rejected = client.await?;
    /// assert!(matches!(rejected, Err(wsproto::driver::Error::Rejected { status: 401, .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read_request(stream: S, options: &Options) -> Result<PendingAccept<S>, Error> {
        // Boxed (freed once the request is read): a task keeps the size of its future's
        // largest state for its whole life, and the handshake's state (parser, timeout) is
        // several times a connection's, so unboxed it would stay in every accepting task.
        Box::pin(Self::read_request_inner(stream, options)).await
    }

    async fn read_request_inner(
        mut stream: S,
        options: &Options,
    ) -> Result<PendingAccept<S>, Error> {
        let mut handshake = server_handshake(options);
        let span = crate::trace::conn_span!(crate::Role::Server);
        let read = with_timeout(options, async {
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
        });
        crate::trace::instrument!(read, span).await?;
        Ok(PendingAccept {
            stream,
            handshake,
            options: options.clone(),
            span,
        })
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
    ///
    /// With [`Config::stream_messages`](crate::Config) on, the fragments are joined back into
    /// whole messages here and in the `Stream` (up to
    /// [`Config::max_message_size`](crate::Config): past it the connection is closed with 1009
    /// and this returns the error); [`read_event`](Self::read_event) gives the fragments as they
    /// arrive.
    pub async fn read(&mut self) -> Result<Message, Error> {
        poll_fn(|cx| self.inner.poll_message(cx))
            .await
            .unwrap_or_else(|| Err(Error::Closed))
    }

    /// Like [`read`](Self::read), but returns the connection's [`Event`]s, which include
    /// message fragments when [`Config::stream_messages`](crate::Config) is on. Use one or the
    /// other for a given message: fragments taken here are not joined by a later `read`.
    pub async fn read_event(&mut self) -> Result<Event, Error> {
        poll_fn(|cx| self.inner.poll_event(cx))
            .await
            .unwrap_or_else(|| Err(Error::Closed))
    }

    /// Queues `message` and writes everything queued.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.inner.queue(message)?;
        // Not `self.flush().await`: one future fewer to step through per message.
        poll_fn(|cx| self.inner.poll_flush(cx, Side::Write)).await
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
        self.inner
            .conn_mut()
            .close(code, reason)
            .map_err(Error::Send)?;
        self.flush().await
    }

    /// Bytes queued but not yet written (the browser API's `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.inner.conn.buffered_output()
    }

    /// Sets how much queued output makes the [`Sink`] wait for a flush before accepting another
    /// message (default: [`Config::output_high_water_mark`](crate::Config::output_high_water_mark),
    /// 128 KiB).
    pub fn set_write_buffer_limit(&mut self, bytes: usize) {
        self.inner.write_buffer_limit = bytes;
    }

    /// Sets how long a write may make no progress (the peer does not read) before
    /// [`send`](Self::send), [`flush`](Self::flush), [`close`](Self::close) or the [`Sink`]
    /// fails with [`io::ErrorKind::TimedOut`]; what was not written stays queued. `None`: no
    /// limit of its own (the close timeout still ends a close). Default 30 s. Set it before
    /// [`split`](Self::split).
    pub fn set_write_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.inner.write_timeout = timeout;
    }

    /// The connection state machine (state, subprotocol, configuration).
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// The connection state machine, for the calls this type does not wrap (streamed sends,
    /// pongs). What it queues is written by the next flush, send or read.
    pub fn connection_mut(&mut self) -> &mut Connection {
        self.inner.conn_mut()
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.inner.stream
    }

    /// The stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        // What is done to it here is unknown: the next flush polls it.
        self.inner.unflushed = true;
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
            .unwrap_or_else(|| Err(Error::Closed))
    }

    /// Waits for the next event; see [`WebSocketStream::read_event`].
    pub async fn read_event(&mut self) -> Result<Event, Error> {
        poll_fn(|cx| lock(&self.shared).poll_event(cx))
            .await
            .unwrap_or_else(|| Err(Error::Closed))
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
            .conn_mut()
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
        f(lock(&self.shared).conn_mut())
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
