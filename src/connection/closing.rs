//! The closing handshake (RFC 6455 §7) and failure: one value that owns every transition.
//!
//! The rest of the connection reports events here (our close frame was written, the peer's
//! arrived, the connection failed, the transport ended) and asks questions (may we send, is
//! input still processed, may the transport be closed). Combinations that cannot happen — a
//! failure that could still send, a close received without our reply queued — have no
//! representation.

use crate::config::Role;
use crate::error::Error;

/// How far the closing handshake (RFC 6455 §7) has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// This side sent a close frame and waits for the peer's. Received messages are still
    /// delivered; nothing but the close may be sent.
    Closing,
    /// Both close frames were exchanged, or the connection failed. See
    /// [`Connection::should_close_transport`](crate::Connection::should_close_transport) for
    /// when to drop the transport.
    Closed,
}

#[derive(Debug)]
enum Phase {
    /// Nothing about closing has happened.
    Open,
    /// Our close frame was queued at output position `close_at`; the peer's has not arrived.
    Closing { close_at: u64 },
    /// Both close frames were exchanged; ours (or our reply) starts at `close_at`.
    Closed { close_at: u64 },
    /// The connection ended with an error. `close_at` is where our close frame starts, if one
    /// was queued; `error` waits to be returned by the next `poll_event` (timeouts, end of
    /// input), once.
    Failed {
        close_at: Option<u64>,
        error: Option<Error>,
    },
}

/// The closing state of a connection, and whether its transport reached end of input.
#[derive(Debug)]
pub(super) struct Closing {
    phase: Phase,
    /// The transport reached end of input (independent of the phase).
    eof: bool,
}

impl Default for Closing {
    fn default() -> Self {
        Closing {
            phase: Phase::Open,
            eof: false,
        }
    }
}

impl Closing {
    // ----- questions -----

    /// The public view.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Open => State::Open,
            Phase::Closing { .. } => State::Closing,
            Phase::Closed { .. } | Phase::Failed { .. } => State::Closed,
        }
    }

    /// Open: messages, pings and pongs may be sent, a close may be started, keepalive runs.
    /// Once our close frame is queued or the connection failed, nothing more may be sent.
    #[inline]
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open)
    }

    /// Whether received bytes are still processed: until the peer's close arrives or the
    /// connection fails.
    #[inline]
    pub fn accepts_input(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Closing { .. })
    }

    /// The connection failed (whether or not its error was returned yet).
    pub fn failed(&self) -> bool {
        matches!(self.phase, Phase::Failed { .. })
    }

    /// We are waiting for the peer's close frame.
    pub fn awaiting_peer_close(&self) -> bool {
        matches!(self.phase, Phase::Closing { .. })
    }

    /// The transport reached end of input.
    #[inline]
    pub fn eof(&self) -> bool {
        self.eof
    }

    /// Whether output other than our close frame still waits, given the output queue's start
    /// position and whether it is empty.
    pub fn has_unsent_data(&self, written: u64, output_empty: bool) -> bool {
        match self.phase {
            Phase::Open => !output_empty,
            Phase::Closing { close_at }
            | Phase::Closed { close_at }
            | Phase::Failed {
                close_at: Some(close_at),
                ..
            } => written < close_at,
            // Failed without a close frame: the output was dropped.
            Phase::Failed { close_at: None, .. } => false,
        }
    }

    /// Whether the transport may be closed (see `Connection::should_close_transport`).
    pub fn should_close_transport(&self, role: Role, output_empty: bool, expired: bool) -> bool {
        match self.phase {
            Phase::Open | Phase::Closing { .. } => false,
            _ if expired => true,
            Phase::Failed { .. } => output_empty,
            Phase::Closed { .. } => output_empty && (self.eof || role == Role::Server),
        }
    }

    // ----- events -----

    /// The transport reached end of input.
    pub fn on_eof(&mut self) {
        self.eof = true;
    }

    /// Our close frame (or reply) was queued at output position `at`. Only an open connection
    /// sends one; later calls change nothing.
    pub fn on_close_sent(&mut self, at: u64) {
        if self.is_open() {
            self.phase = Phase::Closing { close_at: at };
        }
    }

    /// The peer's close frame arrived; our close (or the reply) is already queued.
    pub fn on_close_received(&mut self) {
        if let Phase::Closing { close_at } = self.phase {
            self.phase = Phase::Closed { close_at };
        }
    }

    /// The connection failed. `error`, if any, is returned by the next `poll_event`.
    pub fn on_failure(&mut self, error: Option<Error>) {
        let close_at = match self.phase {
            Phase::Open => None,
            Phase::Closing { close_at } | Phase::Closed { close_at } => Some(close_at),
            Phase::Failed { close_at, .. } => close_at,
        };
        self.phase = Phase::Failed { close_at, error };
    }

    /// The error waiting to be returned, once.
    #[inline]
    pub fn take_error(&mut self) -> Option<Error> {
        match &mut self.phase {
            Phase::Failed { error, .. } => error.take(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_close_then_peer_close() {
        let mut c = Closing::default();
        assert_eq!(c.state(), State::Open);
        c.on_close_sent(10);
        assert_eq!(c.state(), State::Closing);
        assert!(!c.is_open() && c.accepts_input());
        assert!(c.has_unsent_data(9, false));
        assert!(!c.has_unsent_data(10, false));
        // A second close does not move the frame's position.
        c.on_close_sent(20);
        assert!(!c.has_unsent_data(15, false));
        c.on_close_received();
        assert_eq!(c.state(), State::Closed);
        assert!(!c.accepts_input());
        assert!(c.should_close_transport(Role::Server, true, false));
        assert!(!c.should_close_transport(Role::Client, true, false));
        c.on_eof();
        assert!(c.should_close_transport(Role::Client, true, false));
    }

    #[test]
    fn failure_keeps_the_close_position_and_returns_its_error_once() {
        let mut c = Closing::default();
        c.on_close_sent(5);
        c.on_failure(Some(Error::CloseTimeout));
        assert_eq!(c.state(), State::Closed);
        assert!(c.failed() && !c.accepts_input() && !c.is_open());
        assert!(c.has_unsent_data(4, false));
        assert_eq!(c.take_error(), Some(Error::CloseTimeout));
        assert_eq!(c.take_error(), None);
        assert!(c.should_close_transport(Role::Client, true, false));
        // A close after the failure changes nothing.
        c.on_close_sent(9);
        c.on_close_received();
        assert!(c.failed());
        let mut c = Closing::default();
        c.on_failure(None);
        assert!(!c.has_unsent_data(0, false));
    }
}
