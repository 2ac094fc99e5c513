//! Keepalive and close-handshake timers, driven by the caller's clock.
//!
//! The connection never reads a clock: `handle_timeout(now)` brings the time in, and
//! `poll_timeout` says when it is next needed. A timer that became due to start while no time
//! was known (after a pong, after a close) is reported as due at `Duration::ZERO`, so the
//! caller's next `handle_timeout` starts it.
//!
//! Keepalive is judged by pong round trips only: a ping goes out one interval after the start
//! and after each pong, whatever else arrives, and a pong must follow within the timeout. The
//! wait is extended only while a pong could not have arrived (a frame or a fragmented message
//! from the peer is half received, our ping still waits behind our own output, or reading is paused because too much
//! output waits) and that frame or our output is still moving at the configured minimum.
//!
//! The close timer runs from the first `handle_timeout` after the closing handshake started
//! until the transport may be closed, through every phase (waiting for the peer's close, our
//! close frame waiting behind output, a client waiting for the server's end of TCP); it is
//! never restarted.

use core::time::Duration;

use crate::config::Config;

#[derive(Debug, Default)]
pub(super) struct Timers {
    /// When the next keepalive ping goes out; `None` while not started (or a pong is awaited).
    next_ping: Option<Duration>,
    /// While a keepalive ping waits for its pong: when the wait ends.
    pong_deadline: Option<Duration>,
    /// Bytes received since the pong wait (or its last extension) began.
    received: u64,
    /// The output position when the pong wait (or its last extension) began.
    written_at_start: u64,
    close_deadline: Option<Duration>,
    close_expired: bool,
    pings_sent: u64,
}

/// What the connection's state means for the timers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Context {
    /// Open: keepalive runs.
    pub open: bool,
    /// The closing handshake has started and the transport may not be closed yet.
    pub closing: bool,
    /// A frame or a fragmented message from the peer is partly received: a pong cannot overtake
    /// the frame (and is often queued behind the message).
    pub receiving: bool,
    /// Our output holds the pong back: our keepalive ping has not been completely written yet,
    /// or reading is paused above the output high-water mark (a pong cannot be read).
    pub output_in_the_way: bool,
    /// How many output bytes were ever written.
    pub written: u64,
}

/// What `handle` asks the connection to do.
#[derive(Debug)]
pub(super) enum Action {
    None,
    SendPing([u8; 8]),
    KeepaliveTimeout,
    CloseTimeout,
}

/// `now + d`, or "never" (`Duration::MAX`) when that does not fit.
fn after(now: Duration, d: Duration) -> Duration {
    now.checked_add(d).unwrap_or(Duration::MAX)
}

/// Whether `deadline` has come; `Duration::MAX` never does.
fn due(now: Duration, deadline: Duration) -> bool {
    deadline != Duration::MAX && now >= deadline
}

impl Timers {
    #[inline]
    pub fn on_receive(&mut self, n: usize) {
        self.received = self.received.saturating_add(n as u64);
    }

    pub fn on_pong(&mut self) {
        if self.pong_deadline.take().is_some() {
            // Restart the keepalive interval at the next handle_timeout.
            self.next_ping = None;
        }
    }

    /// The close timeout expired: the transport may be closed whatever is buffered.
    pub fn close_expired(&self) -> bool {
        self.close_expired
    }

    fn close_timer_runs(&self, config: &Config, ctx: Context) -> bool {
        config.close_timeout.is_some() && ctx.closing && !self.close_expired
    }

    pub fn next_deadline(&self, config: &Config, ctx: Context) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut consider = |at: Duration| next = Some(next.map_or(at, |n| n.min(at)));
        if ctx.open && config.keepalive_interval.is_some() {
            match (self.next_ping, self.pong_deadline) {
                (None, None) => consider(Duration::ZERO),
                (ping, pong) => {
                    ping.map(&mut consider);
                    pong.map(&mut consider);
                }
            }
        }
        if self.close_timer_runs(config, ctx) {
            consider(self.close_deadline.unwrap_or(Duration::ZERO));
        }
        next
    }

    pub fn handle(&mut self, now: Duration, config: &Config, ctx: Context) -> Action {
        if self.close_timer_runs(config, ctx) {
            let timeout = config.close_timeout.unwrap_or_default();
            let deadline = *self.close_deadline.get_or_insert(after(now, timeout));
            if due(now, deadline) {
                self.close_expired = true;
                return Action::CloseTimeout;
            }
        }
        let Some(interval) = config.keepalive_interval.filter(|_| ctx.open) else {
            return Action::None;
        };
        if let Some(deadline) = self.pong_deadline {
            if !due(now, deadline) {
                return Action::None;
            }
            let min = config.keepalive_min_progress.max(1) as u64;
            let excused = (ctx.receiving && self.received >= min)
                || (ctx.output_in_the_way && ctx.written - self.written_at_start >= min);
            if !excused {
                return Action::KeepaliveTimeout;
            }
            self.start_pong_wait(now, config, ctx);
            return Action::None;
        }
        match self.next_ping {
            None => self.next_ping = Some(after(now, interval)),
            Some(at) if due(now, at) => {
                self.next_ping = None;
                self.start_pong_wait(now, config, ctx);
                self.pings_sent += 1;
                return Action::SendPing(self.pings_sent.to_be_bytes());
            }
            Some(_) => {}
        }
        Action::None
    }

    fn start_pong_wait(&mut self, now: Duration, config: &Config, ctx: Context) {
        self.pong_deadline = Some(after(now, config.keepalive_timeout));
        self.received = 0;
        self.written_at_start = ctx.written;
    }
}
