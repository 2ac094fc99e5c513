//! The [`Connection`] state machine: RFC 6455 framing, messages, control frames and closing.

mod closing;
mod output;
mod reader;
mod recv;
mod send;
mod timers;

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

use crate::config::{Config, Role};
use crate::error::Error;
use crate::message::MessageKind;
use crate::random::RandomSource;
use closing::Closing;
pub use closing::State;
use output::OutputQueue;
use reader::Reader;
use timers::Timers;

/// A message being sent piece by piece.
#[derive(Debug, Clone, Copy)]
struct StreamingSend {
    kind: MessageKind,
    /// The message is being compressed (permessage-deflate).
    compressed: bool,
}

/// The smallest spare space [`Connection::read_buf`] lends.
const READ_CHUNK: usize = 16 * 1024;

/// A WebSocket connection after the opening handshake: a sans-IO state machine.
///
/// It never touches a socket or a clock. The caller moves bytes and time in and out:
///
/// 1. **Feed**: [`receive`](Self::receive) (or [`read_buf`](Self::read_buf) +
///    [`commit`](Self::commit)), the `send_*` methods and [`close`](Self::close),
///    [`handle_timeout`](Self::handle_timeout), [`receive_eof`](Self::receive_eof).
/// 2. **Drain**: [`poll_event`](Self::poll_event) until it returns `Ok(None)`; then write out
///    what [`output`](Self::output) / [`output_chunks`](Self::output_chunks) show and report it
///    with [`consume_output`](Self::consume_output).
/// 3. **Sleep** until the transport is readable, writable again, or
///    [`poll_timeout`](Self::poll_timeout) passes. Wait for readability only while
///    [`wants_input`](Self::wants_input) is true: above the output high-water mark, let the
///    peer's bytes wait in the kernel until the output drains.
///
/// Reading can create output (an automatic pong, the reply to a close), so drain both sides after
/// every feed. A driver that follows these steps never loses a pong or a close reply.
///
/// ```
/// use wsproto::{Config, Connection, Event, Role};
///
/// let mut server = Connection::new(Role::Server, Config::default());
/// // A masked text frame "Hello" from a client (RFC 6455 §5.7).
/// server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// let Some(Event::Text(text)) = server.poll_event()? else { panic!() };
/// server.send_text(&text)?; // echo it
/// assert_eq!(server.output(), &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection {
    role: Role,
    config: Config,
    rng: Box<dyn RandomSource + Send>,
    subprotocol: Option<String>,
    /// The closing handshake, failure and end of input: every transition happens there.
    closing: Closing,
    reader: Reader,
    out: OutputQueue,
    streaming_send: Option<StreamingSend>,
    timers: Timers,
    /// The output position just past our last keepalive ping.
    ping_end: u64,
    /// permessage-deflate state, when negotiated.
    #[cfg(feature = "deflate")]
    deflate: Option<Box<crate::extensions::deflate::DeflateCodec>>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.closing.state())
            .field("subprotocol", &self.subprotocol)
            .field("buffered_input", &self.reader.buffered())
            .field("buffered_output", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection for `role` that draws mask keys from the operating system's CSPRNG.
    #[cfg(feature = "std")]
    pub fn new(role: Role, config: Config) -> Self {
        Self::with_random(role, config, crate::random::OsRandom::new())
    }

    /// A connection that draws mask keys from `rng` (for `no_std` targets and deterministic
    /// tests). A server never uses it.
    pub fn with_random(
        role: Role,
        config: Config,
        rng: impl RandomSource + Send + 'static,
    ) -> Self {
        Connection {
            role,
            reader: Reader::new(),
            config,
            rng: Box::new(rng),
            subprotocol: None,
            closing: Closing::default(),
            out: OutputQueue::default(),
            streaming_send: None,
            timers: Timers::default(),
            ping_end: 0,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// Turns on permessage-deflate (RFC 7692) with the parameters the handshake agreed on.
    /// Compressed messages are then accepted (RSV1 on their first frame) and messages of at least
    /// [`DeflateParams::compress_threshold`](crate::extensions::deflate::DeflateParams) bytes are
    /// sent compressed.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, params: &crate::extensions::deflate::DeflateParams) -> Self {
        self.deflate = Some(Box::new(crate::extensions::deflate::DeflateCodec::new(
            params, self.role,
        )));
        self
    }

    /// Whether permessage-deflate is in use.
    pub fn deflate_enabled(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.deflate.is_some();
        #[cfg(not(feature = "deflate"))]
        false
    }

    /// Records the subprotocol the handshake agreed on (RFC 6455 §1.9). Use when building a
    /// connection over a stream upgraded elsewhere (HTTP/2 extended CONNECT, RFC 8441; HTTP/3,
    /// RFC 9220; a web framework's upgrade).
    pub fn with_subprotocol(mut self, protocol: Option<String>) -> Self {
        self.subprotocol = protocol;
        self
    }

    /// The role this connection plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The negotiated subprotocol, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// How far the closing handshake has come.
    pub fn state(&self) -> State {
        self.closing.state()
    }

    /// Whether the caller should now close the transport: the connection is closed and every
    /// byte of output has been written (our close frame or close reply, the close frame of a
    /// failed connection, and everything queued before it), and — for a client after a clean
    /// close — the server has closed its side ([`receive_eof`](Self::receive_eof); RFC 6455
    /// §7.1.1: the server closes the TCP connection first).
    ///
    /// Once the [`close_timeout`](crate::Config::close_timeout) has expired it is true whatever
    /// is still buffered (the output is dropped). A peer that half-closed (sent its close, then
    /// ended its side) still gets our reply: end of input alone does not make it true while
    /// output waits.
    pub fn should_close_transport(&self) -> bool {
        self.closing.should_close_transport(
            self.role,
            self.out.is_empty(),
            self.timers.close_expired(),
        )
    }

    /// Whether reading the transport is useful now: false while more than
    /// [`Config::output_high_water_mark`](crate::Config::output_high_water_mark) bytes wait to be
    /// written. A driver stops reading until the output drains (keep writing, and keep running
    /// the timers), so a peer that sends without reading is pushed back by TCP flow control
    /// instead of growing our output.
    pub fn wants_input(&self) -> bool {
        self.out.len() <= self.config.output_high_water_mark
    }

    // ----- input -----

    /// Feeds bytes exactly as they came off the transport; any split is fine.
    ///
    /// Bytes are buffered, not parsed: call [`poll_event`](Self::poll_event) to process them.
    /// After the connection is closed, input is discarded.
    pub fn receive(&mut self, data: &[u8]) {
        if self.accepts_input() && !data.is_empty() {
            self.timers.on_receive(data.len());
            let r = &mut self.reader;
            // The payload of a frame in progress is unmasked as it is copied in.
            let unmasked = match r.frame.as_mut() {
                Some(frame) => frame.receive_unmasking(&mut r.input, data),
                None => 0,
            };
            r.input.push(&data[unmasked..]);
        }
    }

    /// Lends spare buffer space to read the transport into (at least 16 KiB), avoiding the copy
    /// that [`receive`](Self::receive) makes. Report the bytes filled with [`commit`](Self::commit).
    pub fn read_buf(&mut self) -> &mut [u8] {
        self.reader.input.spare(READ_CHUNK)
    }

    /// Marks `n` bytes at the start of the last [`read_buf`](Self::read_buf) as received.
    ///
    /// `n` larger than the lent space is clamped to it.
    pub fn commit(&mut self, n: usize) {
        if self.accepts_input() && n > 0 {
            self.timers.on_receive(n);
            self.reader.input.commit(n);
        }
    }

    /// Lends spare input space as an owned buffer (at least 16 KiB, initialised), for
    /// transports that must own the memory while a read is in flight, such as an io_uring or
    /// IOCP read: unlike [`read_buf`](Self::read_buf) it stays valid whatever is done with the
    /// connection meanwhile. Read into its start, then give it back with
    /// [`commit_read_buf`](Self::commit_read_buf); the bytes land in the connection without a
    /// copy.
    ///
    /// Lend one buffer at a time and feed no other input until it is back: input given
    /// meanwhile comes first, and costs the returned bytes a copy.
    ///
    /// ```
    /// use wsproto::{Config, Connection, Event, Role};
    ///
    /// let mut conn = Connection::new(Role::Server, Config::default());
    /// let mut buf = conn.take_read_buf(); // hand `buf` to the kernel...
    /// let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// buf[..frame.len()].copy_from_slice(&frame); // ...which fills its start
    /// conn.commit_read_buf(buf, frame.len());
    /// assert_eq!(conn.poll_event()?, Some(Event::Text("Hello".into())));
    /// # Ok::<(), wsproto::Error>(())
    /// ```
    pub fn take_read_buf(&mut self) -> bytes::BytesMut {
        self.reader.input.lend(READ_CHUNK)
    }

    /// Gives back a buffer from [`take_read_buf`](Self::take_read_buf) whose first `n` bytes
    /// were filled from the transport (`n` is clamped to its length). Any other buffer is
    /// accepted too, at the cost of a copy. After the connection is closed, input is discarded.
    pub fn commit_read_buf(&mut self, buf: bytes::BytesMut, n: usize) {
        if self.accepts_input() && n > 0 {
            self.timers.on_receive(n);
            self.reader.input.give_back(buf, n);
        }
    }

    /// Reports that the transport reached end of input. Unless the close handshake already
    /// finished, the next [`poll_event`](Self::poll_event) returns
    /// [`Error::UnexpectedEof`] (abnormal closure, 1006) once the complete frames before the
    /// end are delivered.
    pub fn receive_eof(&mut self) {
        self.closing.on_eof();
    }

    fn accepts_input(&self) -> bool {
        self.closing.accepts_input()
    }

    /// Input bytes received but not yet turned into events.
    pub fn buffered_input(&self) -> usize {
        self.reader.buffered()
    }

    // ----- output -----

    /// The oldest contiguous run of bytes waiting to be written (empty when nothing waits).
    /// After writing some of it, call [`consume_output`](Self::consume_output).
    #[inline]
    pub fn output(&self) -> &[u8] {
        self.out.first()
    }

    /// Fills `dst` with every waiting run of output, in order, for a vectored write; returns how
    /// many slots were filled. Large server payloads given as `Bytes` appear here uncopied.
    pub fn output_chunks<'a>(&'a self, dst: &mut [&'a [u8]]) -> usize {
        self.out.chunks(dst)
    }

    /// Like [`output_chunks`](Self::output_chunks), as `IoSlice`s for `write_vectored`.
    #[cfg(feature = "std")]
    pub fn output_io_slices<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, run) in dst.iter_mut().zip(self.out.runs()) {
            *slot = std::io::IoSlice::new(run);
            n += 1;
        }
        n
    }

    /// Drops the first `n` bytes of output: they were written to the transport.
    #[inline]
    pub fn consume_output(&mut self, n: usize) {
        self.out.consume(n);
    }

    /// Takes the oldest run of output as owned bytes (for transports that take ownership, such
    /// as a channel or an io_uring submission).
    pub fn take_output(&mut self) -> Option<bytes::Bytes> {
        self.out.pop()
    }

    /// How many bytes are waiting to be written (the WebSocket API's `bufferedAmount`).
    pub fn buffered_output(&self) -> usize {
        self.out.len()
    }

    /// Whether output other than our close frame still waits to be written: messages, pings or
    /// pongs queued before it (or anything, before a close).
    ///
    /// A driver whose write fails once the connection is closed uses it to tell a harmless
    /// failure (only our close frame was lost: the peer closed and left) from data that was
    /// accepted for sending and is now lost, which it reports as an error.
    pub fn has_unsent_data(&self) -> bool {
        self.closing
            .has_unsent_data(self.out.start_position(), self.out.is_empty())
    }

    // ----- time -----

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, on the caller's
    /// clock (a `Duration` since any fixed origin the caller picks), or `None` if no timer runs.
    ///
    /// A timer that has just become due to start (keepalive after a pong, the close timeout after
    /// a close) is reported as `Some(Duration::ZERO)`: it starts at the next `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.timers
            .next_deadline(&self.config, self.timer_context())
    }

    /// Advances the timers to `now` (same clock as [`poll_timeout`](Self::poll_timeout)).
    ///
    /// - Keepalive ([`Config::keepalive_interval`](crate::Config::keepalive_interval)): sends
    ///   a ping one interval after the start and after each pong; fails the connection with
    ///   [`Error::KeepaliveTimeout`] when its pong is overdue.
    /// - Close timeout ([`Config::close_timeout`](crate::Config::close_timeout)): when the
    ///   closing handshake (which includes writing our close frame) has taken too long, drops the
    ///   output and makes [`should_close_transport`](Self::should_close_transport) true; when
    ///   the handshake itself did not finish (no close from the peer, or our close frame or reply
    ///   not written), fails with [`Error::CloseTimeout`].
    ///
    /// A timeout aborts: the output is dropped, no close frame is sent, and the error comes from
    /// the next [`poll_event`](Self::poll_event).
    pub fn handle_timeout(&mut self, now: Duration) {
        let ctx = self.timer_context();
        match self.timers.handle(now, &self.config, ctx) {
            timers::Action::None => {}
            timers::Action::SendPing(payload) => {
                // A ping can only fail to queue when the connection is closing: nothing to do.
                if self.send_ping(&payload).is_ok() {
                    self.ping_end = self.out.end_position();
                }
            }
            timers::Action::KeepaliveTimeout => {
                crate::trace::ws_debug!(close_code = 1006u16, "keepalive timeout: no pong");
                self.abort(Error::KeepaliveTimeout);
            }
            timers::Action::CloseTimeout => {
                let unfinished = !self.closing.failed()
                    && (self.closing.awaiting_peer_close() || !self.out.is_empty());
                crate::trace::ws_debug!(unfinished, "close timeout");
                if unfinished {
                    self.abort(Error::CloseTimeout);
                } else {
                    self.out.clear();
                }
            }
        }
    }

    fn timer_context(&self) -> timers::Context {
        timers::Context {
            open: self.closing.is_open(),
            closing: !self.closing.is_open() && !self.should_close_transport(),
            receiving: self.reader.mid_message(),
            output_in_the_way: self.out.start_position() < self.ping_end || !self.wants_input(),
            written: self.out.start_position(),
        }
    }

    /// Aborts: drops the output and fails the connection; `error` comes from the next
    /// `poll_event`. No close frame is sent.
    fn abort(&mut self, error: Error) {
        self.out.clear();
        self.terminate(Some(error));
    }

    /// Fails the connection for good (`error`, if any, to be returned by the next
    /// `poll_event`): no more input is processed, nothing more is sent.
    fn terminate(&mut self, error: Option<Error>) {
        self.closing.on_failure(error);
        self.stop();
    }

    /// After the peer's close or a failure: no more input is processed, no message is being
    /// sent. (The closing state already refuses every later send.)
    fn stop(&mut self) {
        self.streaming_send = None;
        self.reader.clear();
    }
}
