//! A deterministic two-endpoint harness in the spirit of quinn-proto's test `Pair`.
//!
//! A client and a server [`Connection`] are wired back to back through in-memory byte queues that
//! behave like the two directions of a TCP connection, under a virtual clock. Nothing sleeps:
//! [`Pair::drive`] moves bytes and events until nothing changes, and [`Pair::advance`] moves the
//! clock forward, stopping at every timer deadline on the way, as a real event loop would.
//!
//! Each endpoint follows the call order documented on `Connection`: feed (input, EOF, timers),
//! drain events, write out everything, and close its transport when
//! [`Connection::should_close_transport`] says so (which delivers EOF to the peer once it has
//! read everything sent before).

use std::time::Duration;

use wsproto::{Config, Connection, Error, Event, Role, State};

/// One side of the pair: a connection plus its transport and everything it observed.
pub struct Endpoint {
    pub conn: Connection,
    /// Events in the order they were polled, with the virtual time.
    pub events: Vec<(Duration, Event)>,
    /// The error `poll_event` returned, with the virtual time (at most one is expected).
    pub errors: Vec<(Duration, Error)>,
    /// Every byte this endpoint wrote to its transport.
    pub written: Vec<u8>,
    /// When this endpoint closed its transport (following `should_close_transport`).
    pub transport_closed: Option<Duration>,
    /// A hung process: reads nothing, writes nothing, runs no timers. Bytes sent to it queue up.
    pub frozen: bool,
    /// Ignore `should_close_transport` and keep the transport open (a misbehaving server).
    pub keep_transport_open: bool,
    /// Read through `read_buf` + `commit` (the zero-copy path) instead of `receive`.
    pub use_read_buf: bool,
    /// The transport takes no more bytes (the peer stopped reading and the kernel buffers are
    /// full): output stays queued in the connection. Reading and timers go on.
    pub write_blocked: bool,
    /// The transport's reading side is not read while the connection does not want input
    /// (follow `Connection::wants_input`, as the drivers do).
    pub honour_wants_input: bool,
    /// Bytes the peer wrote that this endpoint has not read yet.
    inbound: Vec<u8>,
    /// The peer closed its transport: EOF follows the inbound bytes.
    peer_closed: bool,
    eof_delivered: bool,
}

impl Endpoint {
    fn new(conn: Connection) -> Self {
        Endpoint {
            conn,
            events: Vec::new(),
            errors: Vec::new(),
            written: Vec::new(),
            transport_closed: None,
            frozen: false,
            keep_transport_open: false,
            use_read_buf: false,
            write_blocked: false,
            honour_wants_input: true,
            inbound: Vec::new(),
            peer_closed: false,
            eof_delivered: false,
        }
    }

    /// The events so far, without their times.
    pub fn event_list(&self) -> Vec<Event> {
        self.events.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Removes and returns the events so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).map(|(_, e)| e).collect()
    }

    /// The times at which a ping event was polled.
    pub fn ping_times(&self) -> Vec<Duration> {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Ping(_)))
            .map(|(t, _)| *t)
            .collect()
    }

    /// The times at which a pong event was polled.
    pub fn pong_times(&self) -> Vec<Duration> {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Pong(_)))
            .map(|(t, _)| *t)
            .collect()
    }

    /// The only error, if any (panics on more than one: an error must be returned once).
    pub fn error(&self) -> Option<&Error> {
        assert!(
            self.errors.len() <= 1,
            "error returned twice: {:?}",
            self.errors
        );
        self.errors.first().map(|(_, e)| e)
    }

    /// Bytes written to this endpoint that it has not read (it is frozen or its transport is
    /// closed).
    pub fn unread(&self) -> usize {
        self.inbound.len()
    }

    /// Delivers raw bytes to this endpoint as if its peer had written them (a hand-made or
    /// misbehaving peer; freeze the real peer so that its own frames do not interleave).
    pub fn inject(&mut self, bytes: &[u8]) {
        self.inbound.extend_from_slice(bytes);
    }

    /// The peer ended its side of the transport (a half-close): EOF follows the bytes already
    /// written to this endpoint.
    pub fn deliver_eof(&mut self) {
        self.peer_closed = true;
    }

    /// Whether this endpoint got EOF from its transport.
    pub fn saw_eof(&self) -> bool {
        self.eof_delivered
    }

    fn is_active(&self) -> bool {
        !self.frozen && self.transport_closed.is_none()
    }

    /// Polls events until `Ok(None)`, recording events and errors. Returns whether there were any.
    fn drain_events(&mut self, now: Duration) -> bool {
        let mut any = false;
        loop {
            match self.conn.poll_event() {
                Ok(Some(event)) => self.events.push((now, event)),
                Ok(None) => return any,
                Err(error) => self.errors.push((now, error)),
            }
            any = true;
        }
    }

    /// One pass of the endpoint's event loop. Returns whether anything happened.
    fn step(&mut self, peer: &mut Endpoint, now: Duration) -> bool {
        if !self.is_active() {
            return false;
        }
        let mut progress = false;

        // Read (unless the connection asks for a pause: the bytes wait in the "kernel").
        if !self.inbound.is_empty() && (!self.honour_wants_input || self.conn.wants_input()) {
            let data = std::mem::take(&mut self.inbound);
            if self.use_read_buf {
                let mut rest = &data[..];
                while !rest.is_empty() {
                    let buf = self.conn.read_buf();
                    assert!(buf.len() >= 16 * 1024, "read_buf lends less than 16 KiB");
                    let n = buf.len().min(rest.len()).min(7000);
                    buf[..n].copy_from_slice(&rest[..n]);
                    self.conn.commit(n);
                    rest = &rest[n..];
                }
            } else {
                self.conn.receive(&data);
            }
            progress = true;
        }
        if self.peer_closed && !self.eof_delivered && self.inbound.is_empty() {
            self.conn.receive_eof();
            self.eof_delivered = true;
            progress = true;
        }

        progress |= self.drain_events(now);

        // Timers, after the input was processed (a pong that arrived counts before its deadline).
        let before = self.conn.poll_timeout();
        if before.is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
            progress |= self.conn.poll_timeout() != before;
            progress |= self.drain_events(now);
        }

        // Write.
        while !self.write_blocked
            && let Some(chunk) = self.conn.take_output()
        {
            self.written.extend_from_slice(&chunk);
            if peer.transport_closed.is_none() {
                peer.inbound.extend_from_slice(&chunk);
            }
            progress = true;
        }

        // Close the transport when told to.
        if self.conn.should_close_transport() && !self.keep_transport_open {
            self.transport_closed = Some(now);
            peer.peer_closed = true;
            progress = true;
        }
        progress
    }
}

/// A client and a server wired back to back, with a virtual clock.
pub struct Pair {
    pub client: Endpoint,
    pub server: Endpoint,
    /// The virtual time, since an arbitrary origin.
    pub now: Duration,
}

impl Pair {
    /// A pair with deterministic client mask keys.
    pub fn new(client_config: Config, server_config: Config) -> Self {
        Pair {
            client: Endpoint::new(Connection::with_random(
                Role::Client,
                client_config,
                super::seeded_rng(0x5eed),
            )),
            server: Endpoint::new(Connection::with_random(
                Role::Server,
                server_config,
                super::seeded_rng(0xbad),
            )),
            // Not zero, so that a timer started "at zero" would show.
            now: Duration::from_secs(1000),
        }
    }

    /// Runs both event loops until nothing changes, without moving the clock.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            let a = self.client.step(&mut self.server, self.now);
            let b = self.server.step(&mut self.client, self.now);
            if !a && !b {
                return;
            }
        }
        panic!("the pair did not settle: livelock");
    }

    /// The earliest timer deadline after `now` of an endpoint that runs.
    pub fn next_deadline(&self) -> Option<Duration> {
        [&self.client, &self.server]
            .into_iter()
            .filter(|e| e.is_active())
            .filter_map(|e| e.conn.poll_timeout())
            .filter(|&t| t > self.now)
            .min()
    }

    /// Moves the clock forward by `d`, stopping at every deadline on the way to drive both sides.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        loop {
            self.drive();
            match self.next_deadline() {
                Some(t) if t <= target => self.now = t,
                _ => break,
            }
        }
        self.now = target;
        self.drive();
    }

    /// Advances in steps of `step` until `done` holds or `limit` has passed; returns whether it
    /// held.
    pub fn advance_until(
        &mut self,
        step: Duration,
        limit: Duration,
        mut done: impl FnMut(&Pair) -> bool,
    ) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.advance(step);
        }
        done(self)
    }

    /// Both endpoints are closed, cleanly: no errors, both transports closed.
    pub fn assert_clean_close(&self) {
        for (name, e) in [("client", &self.client), ("server", &self.server)] {
            assert_eq!(e.conn.state(), State::Closed, "{name} not closed");
            assert!(e.error().is_none(), "{name} failed: {:?}", e.error());
            assert!(e.transport_closed.is_some(), "{name} transport still open");
        }
    }
}
