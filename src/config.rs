//! Connection settings: limits, automatic replies, fragmentation and timers.

use core::time::Duration;

/// Which end of the connection this is. Clients mask what they send; servers never do (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that opened the connection.
    Client,
    /// The endpoint that accepted it.
    Server,
}

/// How to answer a close frame from the peer (§5.5.1, §7.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReply {
    /// Echo the peer's status code (and an empty reason); an empty close gets an empty close.
    EchoCode,
    /// Always answer 1000 (normal closure); an empty close still gets an empty close.
    Normal,
}

/// Settings for a [`Connection`](crate::Connection). The defaults suit a public server: every
/// limit and timer is on, and each has one setter.
///
/// | setting | default | a peer that exceeds it gets |
/// |---|---|---|
/// | [`max_frame_size`](Self::max_frame_size) | 16 MiB | close 1009 |
/// | [`max_message_size`](Self::max_message_size) | 64 MiB | close 1009 |
/// | [`keepalive_interval`](Self::keepalive_interval) | 20 s | a ping |
/// | [`keepalive_timeout`](Self::keepalive_timeout) | 20 s | abort ([`Error::KeepaliveTimeout`](crate::Error::KeepaliveTimeout)) |
/// | [`keepalive_min_progress`](Self::keepalive_min_progress) | 16 KiB | abort, as above |
/// | [`close_timeout`](Self::close_timeout) | 10 s | abort ([`Error::CloseTimeout`](crate::Error::CloseTimeout)) |
/// | [`output_high_water_mark`](Self::output_high_water_mark) | 128 KiB | reading pauses |
///
/// No duration can overflow: one too large to add to the clock means "never".
///
/// ```
/// use wsproto::Config;
/// use core::time::Duration;
/// let config = Config::default()
///     .max_message_size(1 << 20)
///     .keepalive_interval(Some(Duration::from_secs(30)))
///     .keepalive_timeout(Duration::from_secs(10))
///     .max_send_frame_size(16 * 1024);
/// assert_eq!(config.max_message_size, 1 << 20);
/// assert_eq!(config.max_send_frame_size, Some(16 * 1024));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted; a larger frame fails with 1009 as soon as its header
    /// is read, before any of its payload is buffered. Default 16 MiB.
    pub max_frame_size: usize,
    /// The largest message accepted (all fragments together, after decompression); exceeding it
    /// fails with 1009 before the excess is buffered. Default 64 MiB.
    pub max_message_size: usize,
    /// Deliver data messages piecewise as [`Event::TextFragment`](crate::Event::TextFragment) /
    /// [`Event::BinaryFragment`](crate::Event::BinaryFragment) as bytes arrive instead of whole.
    /// `max_message_size` then does not apply (no message is buffered). Default off.
    pub stream_messages: bool,
    /// Answer pings with a pong carrying the payload. Default on.
    ///
    /// Automatic pongs not yet written are bounded: once they would take more than 1 KiB at the
    /// end of the output, the answer to a newer ping replaces the last of them (RFC 6455 §5.5.3
    /// allows answering only the most recent ping), so a ping flood from a peer that does not
    /// read costs O(1) memory, while a burst of pings read at once is still answered one by one.
    pub auto_pong: bool,
    /// How to answer the peer's close frame. Default [`CloseReply::EchoCode`].
    pub close_reply: CloseReply,
    /// Split outgoing messages into frames of at most this many payload bytes (a value of 0
    /// counts as 1). `None` (the default) sends every message as one frame. Set with
    /// [`max_send_frame_size`](Self::max_send_frame_size) or
    /// [`no_send_fragmentation`](Self::no_send_fragmentation).
    pub max_send_frame_size: Option<usize>,
    /// Keepalive: send a ping this long after the connection opened and after each pong that
    /// answered the previous keepalive ping; `None` turns keepalive off. Default 20 s.
    ///
    /// Only a pong proves the peer alive (pong round trips, as Python's `websockets` does):
    /// other traffic does not postpone the ping, so a peer that trickles bytes cannot keep a
    /// connection open without answering.
    pub keepalive_interval: Option<Duration>,
    /// Fail with [`Error::KeepaliveTimeout`](crate::Error::KeepaliveTimeout) (the connection is
    /// aborted: no close frame, the transport is to be dropped) when no pong arrives this long
    /// after a keepalive ping, unless the wait is extended as
    /// [`keepalive_min_progress`](Self::keepalive_min_progress) says. Default 20 s.
    pub keepalive_timeout: Duration,
    /// When the pong deadline passes while a pong *could not* have arrived yet — a frame (or a
    /// fragmented message) from the peer is partly received (the pong can only come after the
    /// frame, and a peer often queues it after the message), our ping is still queued
    /// behind our own unwritten output, or reading is paused above the
    /// [`output_high_water_mark`](Self::output_high_water_mark) — the wait is extended by another
    /// [`keepalive_timeout`](Self::keepalive_timeout) if at least this many bytes of that frame,
    /// or of our output, moved since the wait (or its last extension) began. Default 16 KiB:
    /// a link slower than 16 KiB per `keepalive_timeout` (0.8 KiB/s with the defaults) is
    /// treated as dead. A value of 0 counts as 1; `usize::MAX` never extends.
    ///
    /// This keeps a legitimate large frame on a slow link from being cut off, while a peer that
    /// trickles a few bytes per interval inside one frame is still aborted.
    pub keepalive_min_progress: usize,
    /// The time the whole closing handshake may take: from the moment it starts (our close
    /// frame queued, the peer's close answered, or a protocol error's close frame queued) until
    /// the transport can be closed — including the time our close frame waits behind unwritten
    /// output and, for a client, the wait for the server to close TCP. When it passes, the
    /// output is dropped and [`Connection::should_close_transport`](crate::Connection) is true
    /// whatever was still buffered; if the close handshake itself did not finish the next
    /// `poll_event` returns [`Error::CloseTimeout`](crate::Error::CloseTimeout). `None`: no limit.
    /// Default `Some(10 s)`.
    pub close_timeout: Option<Duration>,
    /// Output high-water mark: while more than this many bytes wait to be written,
    /// [`Connection::wants_input`](crate::Connection::wants_input) is false and the drivers stop
    /// reading, so what a peer that does not read keeps sending stays in the kernel (and TCP
    /// flow control pushes back on it). Nothing is ever dropped: the drivers' sends wait for
    /// the output to drain instead. Default 128 KiB.
    pub output_high_water_mark: usize,
    /// Payloads queued without copying when at least this long (server role; a client must copy
    /// to mask). Shorter ones are copied into the output buffer to keep writes few. Default 4096.
    pub zero_copy_threshold: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            stream_messages: false,
            auto_pong: true,
            close_reply: CloseReply::EchoCode,
            max_send_frame_size: None,
            keepalive_interval: Some(Duration::from_secs(20)),
            keepalive_timeout: Duration::from_secs(20),
            keepalive_min_progress: 16 * 1024,
            close_timeout: Some(Duration::from_secs(10)),
            output_high_water_mark: 128 * 1024,
            zero_copy_threshold: 4096,
        }
    }
}

impl Config {
    /// Sets [`Config::max_frame_size`].
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`Config::max_message_size`].
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`Config::stream_messages`].
    pub fn stream_messages(mut self, on: bool) -> Self {
        self.stream_messages = on;
        self
    }

    /// Sets [`Config::auto_pong`].
    pub fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Sets [`Config::close_reply`].
    pub fn close_reply(mut self, reply: CloseReply) -> Self {
        self.close_reply = reply;
        self
    }

    /// Splits outgoing messages into frames of at most `bytes` payload bytes (0 counts as 1):
    /// sets [`Config::max_send_frame_size`] to `Some(bytes)`.
    pub fn max_send_frame_size(mut self, bytes: usize) -> Self {
        self.max_send_frame_size = Some(bytes);
        self
    }

    /// Sends every message as one frame (the default): sets [`Config::max_send_frame_size`] to
    /// `None`.
    pub fn no_send_fragmentation(mut self) -> Self {
        self.max_send_frame_size = None;
        self
    }

    /// Sets [`Config::keepalive_interval`]; `None` turns keepalive off.
    pub fn keepalive_interval(mut self, interval: Option<Duration>) -> Self {
        self.keepalive_interval = interval;
        self
    }

    /// Sets [`Config::keepalive_timeout`].
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.keepalive_timeout = timeout;
        self
    }

    /// Sets [`Config::keepalive_min_progress`].
    pub fn keepalive_min_progress(mut self, bytes: usize) -> Self {
        self.keepalive_min_progress = bytes;
        self
    }

    /// Sets [`Config::close_timeout`]; `None`: no limit.
    pub fn close_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`Config::output_high_water_mark`].
    pub fn output_high_water_mark(mut self, bytes: usize) -> Self {
        self.output_high_water_mark = bytes;
        self
    }

    /// Sets [`Config::zero_copy_threshold`].
    pub fn zero_copy_threshold(mut self, bytes: usize) -> Self {
        self.zero_copy_threshold = bytes;
        self
    }
}
