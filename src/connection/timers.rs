//! Keepalive and close-handshake timers, driven by the caller's clock.
//!
//! The connection never reads a clock: `handle_timeout(now)` brings the time in, and
//! `poll_timeout` says when it is next needed. A timer that became due to start while no time
//! was known (after a pong, after a close) is reported as due at `Duration::ZERO`, so the
//! caller's next `handle_timeout` starts it.
//!
//! Idleness is judged per interval: if anything arrived since the keepalive timer started, it
//! restarts instead of pinging. A ping therefore goes out after between one and two intervals
//! of silence.

use core::time::Duration;

use crate::config::Config;
use crate::error::Error;

#[derive(Debug, Default)]
pub(super) struct Timers {
    keepalive_at: Option<Duration>,
    pong_deadline: Option<Duration>,
    close_deadline: Option<Duration>,
    close_wait_expired: bool,
    received_since_start: bool,
    pings_sent: u64,
}

/// What the connection's state means for the timers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Context {
    /// Open: keepalive runs.
    pub open: bool,
    /// Our close is sent, the peer's has not arrived: the close timeout runs.
    pub closing: bool,
    /// A client after a clean close, waiting for the server to close the transport.
    pub client_awaiting_eof: bool,
}

/// What `handle` asks the connection to do.
#[derive(Debug)]
pub(super) enum Action {
    None,
    SendPing([u8; 8]),
    Fail(Error),
}

impl Timers {
    pub fn on_receive(&mut self) {
        self.received_since_start = true;
    }

    pub fn on_pong(&mut self) {
        if self.pong_deadline.take().is_some() {
            // Restart the keepalive interval at the next handle_timeout.
            self.keepalive_at = None;
        }
    }

    pub fn close_wait_expired(&self) -> bool {
        self.close_wait_expired
    }

    fn close_timer_runs(&self, config: &Config, ctx: Context) -> bool {
        config.close_timeout.is_some()
            && (ctx.closing || (ctx.client_awaiting_eof && !self.close_wait_expired))
    }

    pub fn next_deadline(&self, config: &Config, ctx: Context) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut consider = |at: Duration| next = Some(next.map_or(at, |n| n.min(at)));
        if ctx.open && config.keepalive_interval.is_some() {
            match (self.keepalive_at, self.pong_deadline) {
                (None, None) => consider(Duration::ZERO),
                (keepalive, pong) => {
                    keepalive.map(&mut consider);
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
            let deadline = *self
                .close_deadline
                .get_or_insert(now.saturating_add(timeout));
            if now >= deadline {
                if ctx.closing {
                    return Action::Fail(Error::CloseTimeout);
                }
                self.close_wait_expired = true;
            }
        }
        let Some(interval) = config.keepalive_interval.filter(|_| ctx.open) else {
            return Action::None;
        };
        if let Some(deadline) = self.pong_deadline {
            if now >= deadline {
                return Action::Fail(Error::KeepaliveTimeout);
            }
            return Action::None;
        }
        match self.keepalive_at {
            None => {
                self.keepalive_at = Some(now.saturating_add(interval));
                self.received_since_start = false;
            }
            Some(at) if now >= at => {
                if self.received_since_start {
                    self.keepalive_at = Some(now.saturating_add(interval));
                    self.received_since_start = false;
                } else {
                    self.keepalive_at = None;
                    self.pong_deadline = Some(now.saturating_add(config.keepalive_timeout));
                    self.pings_sent += 1;
                    return Action::SendPing(self.pings_sent.to_be_bytes());
                }
            }
            Some(_) => {}
        }
        Action::None
    }
}
