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

/// Settings for a [`Connection`](crate::Connection). The defaults suit a public server.
///
/// ```
/// use wsproto::Config;
/// use core::time::Duration;
/// let config = Config::default()
///     .max_message_size(1 << 20)
///     .keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));
/// assert_eq!(config.max_message_size, 1 << 20);
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
    /// Answer every ping with a pong carrying its payload. Default on.
    pub auto_pong: bool,
    /// How to answer the peer's close frame. Default [`CloseReply::EchoCode`].
    pub close_reply: CloseReply,
    /// Split outgoing messages into frames of at most this many payload bytes. `None` (default)
    /// sends every message as one frame.
    pub max_send_frame_size: Option<usize>,
    /// Send a ping after this long without receiving anything. Default `None` (off).
    pub keepalive_interval: Option<Duration>,
    /// Fail with [`Error::KeepaliveTimeout`](crate::Error::KeepaliveTimeout) when no pong arrives
    /// this long after a keepalive ping. Default 20 s.
    pub keepalive_timeout: Duration,
    /// Fail with [`Error::CloseTimeout`](crate::Error::CloseTimeout) when the close handshake is
    /// not finished (or, for a client, the server has not closed the transport) this long after
    /// it started. Default `Some(5 s)`.
    pub close_timeout: Option<Duration>,
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
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            close_timeout: Some(Duration::from_secs(5)),
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

    /// Sets [`Config::max_send_frame_size`]; `Some(0)` is treated as `None`.
    pub fn max_send_frame_size(mut self, bytes: Option<usize>) -> Self {
        self.max_send_frame_size = bytes.filter(|&n| n > 0);
        self
    }

    /// Sets [`Config::keepalive_interval`] and [`Config::keepalive_timeout`].
    pub fn keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Self {
        self.keepalive_interval = interval;
        self.keepalive_timeout = timeout;
        self
    }

    /// Sets [`Config::close_timeout`].
    pub fn close_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`Config::zero_copy_threshold`].
    pub fn zero_copy_threshold(mut self, bytes: usize) -> Self {
        self.zero_copy_threshold = bytes;
        self
    }
}
