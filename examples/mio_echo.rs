//! The echo server on a readiness event loop: one thread, one `mio::Poll`, any number of
//! connections, no driver — the handshake and the [`Connection`] are fed straight from readiness
//! events, in the order documented on `Connection` (feed, drain, sleep).
//!
//! ```text
//! cargo run --release --all-features --example mio_echo -- 127.0.0.1:9001
//! ```
//!
//! - Sockets are registered once, edge-triggered, for both directions; a connection remembers
//!   whether it may read or write until a call returns `WouldBlock`.
//! - It writes only while the socket is writable, with one vectored write of the 101 response (or
//!   a rejection) and every run of queued output; large echoed payloads go out uncopied.
//! - It stops reading a connection while that connection's unwritten output is above a
//!   high-water mark, so a peer that sends without reading costs bounded memory.
//! - The next timer (handshake deadline, keepalive, close timeout) becomes the poll timeout;
//!   `handle_timeout(now)` gets the time since start, the same clock `poll_timeout` answers in.
//!
//! Every text and binary message comes back unchanged; pings are answered and the close
//! handshake is answered, after which the server closes TCP. permessage-deflate is negotiated
//! when the `deflate` feature is on.

use std::collections::BTreeSet;
use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use wsproto::handshake::{AcceptOptions, ServerHandshake};
use wsproto::{Config, Connection, Event, Message, State};

/// Above this many bytes of unwritten output a connection is not read from.
// TODO(high-water mark): switch to the Config high-water mark and the connection's
// "stop reading" signal once they land.
const HIGH_WATER: usize = 1 << 20;
/// How long a client may take to send its request head (or to read our rejection).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a failed or closed connection may take to write its last bytes.
const LINGER: Duration = Duration::from_secs(5);
/// The largest frame and message accepted.
const LIMIT: usize = 16 << 20;
const LISTENER: Token = Token(usize::MAX);

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let addr = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let mut server = Server {
        poll: Poll::new()?,
        listener: TcpListener::bind(addr)?,
        clients: Vec::new(),
        free: Vec::new(),
        timers: BTreeSet::new(),
        start: Instant::now(),
        accept_retry: None,
        config: Config::default()
            .max_frame_size(LIMIT)
            .max_message_size(LIMIT)
            .keepalive_interval(Some(Duration::from_secs(30)))
            .keepalive_timeout(Duration::from_secs(10)),
    };
    server
        .poll
        .registry()
        .register(&mut server.listener, LISTENER, Interest::READABLE)?;
    println!(
        "mio_echo listening on ws://{}",
        server.listener.local_addr()?
    );
    server.run()
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    /// Indexed by token; `None` marks a free slot (listed in `free`).
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    /// Every client's next deadline, earliest first.
    timers: BTreeSet<(Duration, usize)>,
    start: Instant,
    /// After a failed accept (out of descriptors), when to try again: the listener's readiness
    /// edge has passed, and queued clients would otherwise wait for the next one.
    accept_retry: Option<Duration>,
    config: Config,
}

struct Client {
    stream: TcpStream,
    phase: Phase,
    /// Bytes written before the connection's own output: the handshake's response.
    head: Vec<u8>,
    head_written: usize,
    /// Readiness seen since the last `WouldBlock` (the registration is edge-triggered).
    readable: bool,
    writable: bool,
    /// The entry of this client in `Server::timers`.
    timer: Option<Duration>,
    /// The handshake deadline; once open, none until the connection is closed, then the last
    /// moment to finish writing (a peer that stops reading cannot keep the slot forever).
    deadline: Duration,
}

enum Phase {
    Handshake(ServerHandshake),
    /// Boxed: a free slot stays small.
    Open(Box<Connection>),
    /// The request was refused: write `head`, then close.
    Rejected,
}

impl Server {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            // 3. Sleep until a socket is ready or the earliest timer is due.
            let now = self.start.elapsed();
            let next = self.timers.first().map(|&(at, _)| at);
            let timeout = next
                .into_iter()
                .chain(self.accept_retry)
                .min()
                .map(|at| at.saturating_sub(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = self.start.elapsed();
            for event in &events {
                if event.token() == LISTENER {
                    self.accept(now);
                    continue;
                }
                let id = event.token().0;
                if let Some(Some(client)) = self.clients.get_mut(id) {
                    // Errors and hang-ups show up on the next read or write.
                    client.readable |= event.is_readable() || event.is_read_closed();
                    client.writable |= event.is_writable() || event.is_write_closed();
                    client.readable |= event.is_error();
                    self.drive(id, now);
                }
            }
            let now = self.start.elapsed();
            if self.accept_retry.is_some_and(|at| now >= at) {
                self.accept_retry = None;
                self.accept(now);
            }
            let due: Vec<usize> = self
                .timers
                .range(..=(now, usize::MAX))
                .map(|&(_, id)| id)
                .collect();
            for id in due {
                if let Some(Some(client)) = self.clients.get_mut(id) {
                    match &mut client.phase {
                        Phase::Open(conn) if now < client.deadline => conn.handle_timeout(now),
                        // Too slow to handshake, or to take the last bytes.
                        _ => {
                            self.remove(id);
                            continue;
                        }
                    }
                    self.drive(id, now);
                }
            }
        }
    }

    fn accept(&mut self, now: Duration) {
        loop {
            let mut stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of file descriptors, or the peer gave up already: try again a little later.
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    self.accept_retry = Some(now + Duration::from_millis(100));
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            let id = self.free.pop().unwrap_or_else(|| {
                self.clients.push(None);
                self.clients.len() - 1
            });
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, Token(id), interest)
            {
                eprintln!("register failed: {e}");
                self.free.push(id);
                continue;
            }
            self.clients[id] = Some(Client {
                stream,
                phase: Phase::Handshake(ServerHandshake::with_config(self.config.clone())),
                head: Vec::new(),
                head_written: 0,
                readable: false,
                writable: false,
                timer: None,
                deadline: now + HANDSHAKE_TIMEOUT,
            });
            // The registration reports the socket's current readiness: `drive` runs then.
            self.schedule(id);
        }
    }

    /// Moves a client's bytes both ways until it would block, then files its next deadline.
    fn drive(&mut self, id: usize, now: Duration) {
        let Some(Some(client)) = self.clients.get_mut(id) else {
            return;
        };
        let result = client.pump();
        if let Phase::Open(conn) = &client.phase
            && conn.state() == State::Closed
            && client.deadline > now + LINGER
        {
            client.deadline = now + LINGER;
        }
        match result {
            Ok(true) => self.schedule(id),
            Ok(false) => self.remove(id),
            Err(e) => {
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) {
                    eprintln!("connection {id}: {e}");
                }
                self.remove(id);
            }
        }
    }

    fn schedule(&mut self, id: usize) {
        let Some(Some(client)) = self.clients.get_mut(id) else {
            return;
        };
        let next = match &client.phase {
            Phase::Open(conn) => Some(
                conn.poll_timeout()
                    .map_or(client.deadline, |at| at.min(client.deadline)),
            )
            .filter(|&at| at != Duration::MAX),
            Phase::Handshake(_) | Phase::Rejected => Some(client.deadline),
        };
        if next != client.timer {
            if let Some(old) = client.timer.take() {
                self.timers.remove(&(old, id));
            }
            if let Some(at) = next {
                self.timers.insert((at, id));
            }
            client.timer = next;
        }
    }

    fn remove(&mut self, id: usize) {
        if let Some(mut client) = self.clients[id].take() {
            if let Some(at) = client.timer {
                self.timers.remove(&(at, id));
            }
            let _ = self.poll.registry().deregister(&mut client.stream);
            self.free.push(id);
            // Dropping the stream closes the socket.
        }
    }
}

impl Client {
    /// Returns `Ok(false)` when the transport should be closed.
    fn pump(&mut self) -> io::Result<bool> {
        loop {
            // 2. Drain the output side: write while the socket takes it.
            self.flush()?;
            match &self.phase {
                Phase::Open(conn) if conn.should_close_transport() => return Ok(false),
                Phase::Rejected if self.head_written == self.head.len() => return Ok(false),
                _ => {}
            }
            // Backpressure: a connection whose output is not going out is not read.
            if !self.readable || self.unwritten() > HIGH_WATER {
                return Ok(true);
            }
            // 1. Feed: one read, then drain the events it completes.
            match &mut self.phase {
                Phase::Handshake(handshake) => {
                    let mut buf = [0u8; 4096];
                    let Some(n) = read(&mut self.stream, &mut buf, &mut self.readable)? else {
                        continue;
                    };
                    if n == 0 {
                        return Ok(false);
                    }
                    match handshake.receive(&buf[..n]) {
                        Ok(None) => {}
                        Ok(Some(request)) => {
                            let options = accept_options(request);
                            match handshake.accept(options) {
                                Ok((response, conn)) => {
                                    self.head = response;
                                    self.phase = Phase::Open(Box::new(conn));
                                    // From now on the connection's own timers rule.
                                    self.deadline = Duration::MAX;
                                    // Frames may have come right behind the request.
                                    self.echo();
                                }
                                Err(e) => return Err(io::Error::other(e)),
                            }
                        }
                        // A bad request: answer with the error's status (400, 426, ...).
                        Err(e) => {
                            self.head = e.response().unwrap_or_default();
                            self.phase = Phase::Rejected;
                        }
                    }
                }
                Phase::Open(conn) => {
                    let n = match read(&mut self.stream, conn.read_buf(), &mut self.readable) {
                        Ok(Some(n)) => n,
                        Ok(None) => continue,
                        // A reset is an end of input too: the connection reports 1006.
                        Err(_) => 0,
                    };
                    if n == 0 {
                        conn.receive_eof();
                        self.readable = false;
                    } else {
                        conn.commit(n);
                    }
                    self.echo();
                }
                // Whatever else the peer sends is ignored.
                Phase::Rejected => {
                    let mut sink = [0u8; 4096];
                    if read(&mut self.stream, &mut sink, &mut self.readable)? == Some(0) {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Drains the connection's events, answering each data message with the same message.
    fn echo(&mut self) {
        let Phase::Open(conn) = &mut self.phase else {
            return;
        };
        loop {
            match conn.poll_event() {
                Ok(Some(Event::Text(text))) => {
                    let _ = conn.send(Message::Text(text));
                }
                Ok(Some(Event::Binary(data))) => {
                    // Handed back as `Bytes`: a large payload is queued without a copy.
                    let _ = conn.send(Message::Binary(data));
                }
                // Pongs and close replies are queued by the connection itself.
                Ok(Some(_)) => {}
                Ok(None) => return,
                // The close frame for the error is queued; `should_close_transport` follows.
                Err(wsproto::Error::UnexpectedEof) => return,
                Err(e) => {
                    eprintln!("{:?}: {e}", self.stream.peer_addr().ok());
                    return;
                }
            }
        }
    }

    fn unwritten(&self) -> usize {
        let queued = match &self.phase {
            Phase::Open(conn) => conn.buffered_output(),
            _ => 0,
        };
        self.head.len() - self.head_written + queued
    }

    /// Writes the response head and the queued output with vectored writes until everything is
    /// out or the socket would block.
    fn flush(&mut self) -> io::Result<()> {
        while self.writable {
            let mut slices = [IoSlice::new(&[]); 64];
            let mut count = 0;
            if self.head_written < self.head.len() {
                slices[0] = IoSlice::new(&self.head[self.head_written..]);
                count = 1;
            }
            if let Phase::Open(conn) = &self.phase {
                count += conn.output_io_slices(&mut slices[count..]);
            }
            if count == 0 {
                return Ok(());
            }
            match (&self.stream).write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    let from_head = n.min(self.head.len() - self.head_written);
                    self.head_written += from_head;
                    n -= from_head;
                    if self.head_written == self.head.len() && !self.head.is_empty() {
                        self.head = Vec::new();
                        self.head_written = 0;
                    }
                    if let Phase::Open(conn) = &mut self.phase {
                        conn.consume_output(n);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// One read; `Ok(None)` when the socket has nothing now (and is then no longer marked readable).
fn read(stream: &mut TcpStream, buf: &mut [u8], readable: &mut bool) -> io::Result<Option<usize>> {
    match stream.read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            *readable = false;
            Ok(None)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

/// Accepts every valid request: no subprotocol, permessage-deflate when offered.
fn accept_options(request: &wsproto::handshake::Request) -> AcceptOptions {
    let options = AcceptOptions::new();
    #[cfg(feature = "deflate")]
    let options = {
        let config = wsproto::extensions::deflate::DeflateConfig::default();
        match request.negotiate_deflate(&config) {
            Some(params) => options.deflate(params),
            None => options,
        }
    };
    let _ = request;
    options
}
