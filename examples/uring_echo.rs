//! The echo server on a completion event loop: one thread, one io_uring, any number of
//! connections, no driver and no copy the protocol does not need.
//!
//! ```text
//! cargo run --release --all-features --example uring_echo -- 127.0.0.1:9001
//! ```
//!
//! With io_uring the kernel owns a buffer from the submission of a read or write until its
//! completion. So:
//!
//! - reads go into memory the connection lends as an owned buffer
//!   ([`Connection::take_read_buf`]) and comes back with the completed byte count
//!   ([`Connection::commit_read_buf`]): the bytes land where the frame parser reads them;
//! - writes submit the connection's output as owned `Bytes` ([`Connection::take_output`]): an
//!   echoed payload above the zero-copy threshold is the very buffer it was received in;
//! - each buffer lives in the connection's slot while the kernel has it, and a slot is freed only
//!   when none of its operations is in flight.
//!
//! As in `mio_echo`, a connection is not read from while its unwritten output is above a
//! high-water mark, and the next timer (handshake deadline, keepalive, close timeout) becomes
//! the wait's timeout.
//!
//! Linux only. Where the kernel refuses io_uring (`io_uring_setup` or `io_uring_enter` failing
//! with `EPERM`/`ENOSYS`, as under a container's seccomp filter or `kernel.io_uring_disabled`,
//! or a kernel older than 5.11), it prints a line starting with `uring_echo: skipped:` and exits
//! with status 0; `.ci/eventloop.sh` reports the io_uring checks as skipped then.

use std::process::ExitCode;

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    println!("uring_echo: skipped: io_uring is Linux only");
    ExitCode::SUCCESS
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    linux::main()
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeSet;
    use std::io;
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::process::ExitCode;
    use std::time::{Duration, Instant};

    use bytes::Buf;
    use io_uring::{IoUring, opcode, squeue, types};
    use wsproto::handshake::{AcceptOptions, Request, ServerHandshake};
    use wsproto::{Bytes, BytesMut, Config, Connection, Event, Message, State};

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
    const RING_ENTRIES: u32 = 4096;

    /// `user_data` of the accept operation; the others are `id << 2 | READ` or `| WRITE`.
    const ACCEPT: u64 = u64::MAX;
    const READ: u64 = 1;
    const WRITE: u64 = 2;

    pub fn main() -> ExitCode {
        let addr = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "127.0.0.1:9001".into());
        let ring = match probe() {
            Ok(ring) => ring,
            Err(Probe::Refused(why)) => {
                println!("uring_echo: skipped: {why}");
                return ExitCode::SUCCESS;
            }
            Err(Probe::Failed(e)) => {
                eprintln!("uring_echo: io_uring setup failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        let listener = match TcpListener::bind(&addr) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("uring_echo: bind {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match listener.local_addr() {
            Ok(local) => println!("uring_echo listening on ws://{local}"),
            Err(e) => {
                eprintln!("uring_echo: {e}");
                return ExitCode::FAILURE;
            }
        }
        let mut server = Server {
            ring,
            listener,
            accepting: false,
            accept_retry: None,
            clients: Vec::new(),
            free: Vec::new(),
            timers: BTreeSet::new(),
            start: Instant::now(),
            config: Config::default()
                .max_frame_size(LIMIT)
                .max_message_size(LIMIT)
                .keepalive_interval(Some(Duration::from_secs(30)))
                .keepalive_timeout(Duration::from_secs(10)),
        };
        match server.run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("uring_echo: {e}");
                ExitCode::FAILURE
            }
        }
    }

    enum Probe {
        /// The kernel refuses io_uring here: not an error of this program.
        Refused(String),
        Failed(io::Error),
    }

    /// Sets up the ring and runs one no-op through it (a seccomp filter may allow
    /// `io_uring_setup` and still refuse `io_uring_enter`).
    fn probe() -> Result<IoUring, Probe> {
        let refused = |call: &str, e: io::Error| match e.raw_os_error() {
            Some(libc::EPERM | libc::ENOSYS) => {
                Probe::Refused(format!("the kernel refuses io_uring ({call}: {e})"))
            }
            _ => Probe::Failed(e),
        };
        let mut ring = IoUring::new(RING_ENTRIES).map_err(|e| refused("io_uring_setup", e))?;
        if !ring.params().is_feature_ext_arg() {
            return Err(Probe::Refused(
                "the kernel's io_uring has no timed wait (IORING_FEAT_EXT_ARG, Linux 5.11)".into(),
            ));
        }
        let nop = opcode::Nop::new().build().user_data(0);
        // SAFETY: a no-op references no memory.
        unsafe { ring.submission().push(&nop) }
            .map_err(|_| Probe::Failed(io::Error::other("full")))?;
        ring.submit_and_wait(1)
            .map_err(|e| refused("io_uring_enter", e))?;
        ring.completion().for_each(drop);
        Ok(ring)
    }

    struct Server {
        ring: IoUring,
        listener: TcpListener,
        /// An accept operation is in flight.
        accepting: bool,
        /// After a failed accept (out of descriptors), when to try again.
        accept_retry: Option<Duration>,
        /// Indexed by id; `None` marks a free slot (listed in `free`).
        clients: Vec<Option<Client>>,
        free: Vec<usize>,
        /// Every client's next deadline, earliest first.
        timers: BTreeSet<(Duration, usize)>,
        start: Instant,
        config: Config,
    }

    struct Client {
        stream: TcpStream,
        phase: Phase,
        /// The handshake's response, written before the connection's own output.
        head: Option<Bytes>,
        /// The buffer a read in flight fills: the kernel's until the completion.
        reading: Option<BytesMut>,
        /// The bytes a write in flight sends: the kernel's until the completion.
        writing: Option<Bytes>,
        /// What a short write left over, sent before anything else.
        writing_rest: Option<Bytes>,
        /// The transport reached end of input (or failed).
        eof: bool,
        /// The socket is shut down; the slot goes once no operation is in flight.
        closing: bool,
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
            let mut completions = Vec::new();
            loop {
                let now = self.start.elapsed();
                if self.accept_retry.is_some_and(|at| now >= at) {
                    self.accept_retry = None;
                }
                if !self.accepting && self.accept_retry.is_none() {
                    let entry = opcode::Accept::new(
                        types::Fd(self.listener.as_raw_fd()),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                    )
                    .build()
                    .user_data(ACCEPT);
                    // SAFETY: no memory is referenced (no peer address is asked for) and the
                    // listener outlives the ring.
                    unsafe { self.push(&entry)? };
                    self.accepting = true;
                }
                // 3. Sleep: submit what was queued and wait for a completion or the next timer.
                let next = self.timers.first().map(|&(at, _)| at);
                let waited = match next.into_iter().chain(self.accept_retry).min() {
                    Some(at) => {
                        let timeout = types::Timespec::from(at.saturating_sub(now));
                        let args = types::SubmitArgs::new().timespec(&timeout);
                        self.ring.submitter().submit_with_args(1, &args)
                    }
                    None => self.ring.submitter().submit_and_wait(1),
                };
                match waited {
                    Ok(_) => {}
                    // ETIME: the timer is due; EINTR: a signal; EBUSY: completions to reap first.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                        ) => {}
                    Err(e) => return Err(e),
                }
                completions.clear();
                completions.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
                let now = self.start.elapsed();
                for &(user_data, result) in &completions {
                    if user_data == ACCEPT {
                        self.accepting = false;
                        self.accepted(result, now);
                        continue;
                    }
                    let id = (user_data >> 2) as usize;
                    self.completed(id, user_data & 3, result);
                    self.step(id, now)?;
                }
                let now = self.start.elapsed();
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
                            _ => client.close(),
                        }
                        self.step(id, now)?;
                    }
                }
            }
        }

        /// Queues a submission, making room by submitting when the queue is full.
        ///
        /// # Safety
        /// Whatever memory and descriptor `entry` references must stay valid until its
        /// completion is reaped.
        unsafe fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
            loop {
                // SAFETY: passed on to the caller.
                if unsafe { self.ring.submission().push(entry) }.is_ok() {
                    return Ok(());
                }
                self.ring.submit()?;
            }
        }

        fn accepted(&mut self, result: i32, now: Duration) {
            if result < 0 {
                // Out of descriptors, or the peer gave up already: try again a little later.
                eprintln!("accept failed: {}", io::Error::from_raw_os_error(-result));
                self.accept_retry = Some(now + Duration::from_millis(100));
                return;
            }
            // SAFETY: the kernel just created this descriptor for us; nothing else owns it.
            let stream = TcpStream::from(unsafe { OwnedFd::from_raw_fd(result) });
            let _ = stream.set_nodelay(true);
            let id = self.free.pop().unwrap_or_else(|| {
                self.clients.push(None);
                self.clients.len() - 1
            });
            self.clients[id] = Some(Client {
                stream,
                phase: Phase::Handshake(ServerHandshake::with_config(self.config.clone())),
                head: None,
                reading: None,
                writing: None,
                writing_rest: None,
                eof: false,
                closing: false,
                timer: None,
                deadline: now + HANDSHAKE_TIMEOUT,
            });
            if let Err(e) = self.step(id, now) {
                eprintln!("connection {id}: {e}");
            }
        }

        /// Takes a completed operation's buffer back and feeds what it brought.
        fn completed(&mut self, id: usize, kind: u64, result: i32) {
            let Some(Some(client)) = self.clients.get_mut(id) else {
                return;
            };
            if kind == READ {
                let buf = client.reading.take().expect("a read was in flight");
                client.read_done(buf, result);
            } else {
                let mut buf = client.writing.take().expect("a write was in flight");
                match usize::try_from(result) {
                    Ok(n) if n > 0 && !client.closing => {
                        // A short write: the rest goes out next.
                        if n < buf.len() {
                            buf.advance(n);
                            client.writing_rest = Some(buf);
                        }
                    }
                    Ok(_) => client.close(),
                    Err(_) => {
                        let e = io::Error::from_raw_os_error(-result);
                        if !matches!(
                            e.kind(),
                            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                        ) && !client.closing
                        {
                            eprintln!("connection {id}: write: {e}");
                        }
                        client.close();
                    }
                }
            }
        }

        /// Drains the client and submits what it needs next; frees its slot when it is done.
        fn step(&mut self, id: usize, now: Duration) -> io::Result<()> {
            let Some(Some(client)) = self.clients.get_mut(id) else {
                return Ok(());
            };
            client.echo();
            if client.should_close() {
                client.close();
            }
            if client.closing {
                if client.reading.is_none() && client.writing.is_none() {
                    if let Some(at) = client.timer {
                        self.timers.remove(&(at, id));
                    }
                    // Dropping the stream closes the descriptor.
                    self.clients[id] = None;
                    self.free.push(id);
                }
                return Ok(());
            }
            if let Phase::Open(conn) = &client.phase
                && conn.state() == State::Closed
                && client.deadline > now + LINGER
            {
                client.deadline = now + LINGER;
            }
            let fd = types::Fd(client.stream.as_raw_fd());
            let user_data = (id as u64) << 2;
            let mut entries = [None, None];
            if let Some(buf) = client.next_write() {
                let len = buf.len().min(u32::MAX as usize) as u32;
                let send = opcode::Send::new(fd, buf.as_ptr(), len);
                entries[0] = Some(send.build().user_data(user_data | WRITE));
                // Moving `Bytes` (or `BytesMut`) leaves its heap memory where it is.
                client.writing = Some(buf);
            }
            if let Some(mut buf) = client.next_read() {
                let len = buf.len().min(u32::MAX as usize) as u32;
                let recv = opcode::Recv::new(fd, buf.as_mut_ptr(), len);
                entries[1] = Some(recv.build().user_data(user_data | READ));
                client.reading = Some(buf);
            }
            for entry in entries.iter().flatten() {
                // SAFETY: the buffers stay in `client.writing` / `client.reading`, and the stream
                // open, until the completions are reaped: a slot is freed only when nothing is
                // in flight.
                unsafe { self.push(entry)? };
            }
            self.schedule(id);
            Ok(())
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
    }

    impl Client {
        /// 1. Feed: what a read brought (`result` bytes at the start of `buf`, or an error).
        fn read_done(&mut self, buf: BytesMut, result: i32) {
            let n = usize::try_from(result).unwrap_or(0);
            if self.closing {
                return;
            }
            if n == 0 {
                // End of input, or a reset: the connection reports 1006 unless it was closed.
                self.eof = true;
                match &mut self.phase {
                    Phase::Open(conn) => conn.receive_eof(),
                    _ => self.close(),
                }
                return;
            }
            match &mut self.phase {
                Phase::Handshake(handshake) => match handshake.receive(&buf[..n]) {
                    Ok(None) => {}
                    Ok(Some(request)) => {
                        let options = accept_options(request);
                        match handshake.accept(options) {
                            Ok((response, conn)) => {
                                self.head = Some(Bytes::from(response));
                                self.phase = Phase::Open(Box::new(conn));
                                // From now on the connection's own timers rule.
                                self.deadline = Duration::MAX;
                            }
                            Err(e) => {
                                eprintln!("accept: {e}");
                                self.close();
                            }
                        }
                    }
                    // A bad request: answer with the error's status (400, 426, ...).
                    Err(e) => {
                        self.head = e.response().map(Bytes::from);
                        self.phase = Phase::Rejected;
                    }
                },
                // The bytes are already where the connection parses them.
                Phase::Open(conn) => conn.commit_read_buf(buf, n),
                Phase::Rejected => {}
            }
        }

        /// 2. Drain: every event, answering each data message with the same message.
        fn echo(&mut self) {
            let Phase::Open(conn) = &mut self.phase else {
                return;
            };
            loop {
                match conn.poll_event() {
                    Ok(Some(Event::Text(text))) => {
                        let _ = conn.send(Message::Text(text));
                    }
                    // Handed back as `Bytes`: a large payload is queued without a copy.
                    Ok(Some(Event::Binary(data))) => {
                        let _ = conn.send(Message::Binary(data));
                    }
                    // Pongs and close replies are queued by the connection itself.
                    Ok(Some(_)) => {}
                    Ok(None) => return,
                    Err(wsproto::Error::UnexpectedEof) => return,
                    // A timer expired: nothing more is to be written, not even what is in
                    // flight. Shutting down completes a write the peer does not take.
                    Err(e @ (wsproto::Error::KeepaliveTimeout | wsproto::Error::CloseTimeout)) => {
                        eprintln!("{:?}: {e}", self.stream.peer_addr().ok());
                        self.close();
                        return;
                    }
                    // The close frame for the error is queued; `should_close_transport` follows.
                    Err(e) => {
                        eprintln!("{:?}: {e}", self.stream.peer_addr().ok());
                        return;
                    }
                }
            }
        }

        /// 2. Drain the output side: the next owned run of bytes to send, if none is in flight.
        fn next_write(&mut self) -> Option<Bytes> {
            if self.writing.is_some() {
                return None;
            }
            if let Some(rest) = self.writing_rest.take() {
                return Some(rest);
            }
            if let Some(head) = self.head.take() {
                return Some(head);
            }
            match &mut self.phase {
                Phase::Open(conn) => conn.take_output(),
                _ => None,
            }
        }

        /// 1. Feed: the buffer for the next read, if one should be in flight.
        fn next_read(&mut self) -> Option<BytesMut> {
            if self.reading.is_some() || self.eof || self.unwritten() > HIGH_WATER {
                return None;
            }
            match &mut self.phase {
                Phase::Handshake(_) | Phase::Rejected => Some(BytesMut::zeroed(4096)),
                Phase::Open(conn) if conn.state() != State::Closed => Some(conn.take_read_buf()),
                Phase::Open(_) => None,
            }
        }

        fn unwritten(&self) -> usize {
            let queued = match &self.phase {
                Phase::Open(conn) => conn.buffered_output(),
                _ => 0,
            };
            let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
            queued + len(&self.head) + len(&self.writing) + len(&self.writing_rest)
        }

        fn should_close(&self) -> bool {
            let written =
                self.writing.is_none() && self.writing_rest.is_none() && self.head.is_none();
            match &self.phase {
                Phase::Open(conn) => written && conn.should_close_transport(),
                Phase::Rejected => written,
                Phase::Handshake(_) => false,
            }
        }

        /// Shuts the socket down, which completes any operation in flight; the slot goes once
        /// they are all back.
        fn close(&mut self) {
            if !self.closing {
                self.closing = true;
                let _ = self.stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Accepts every valid request: no subprotocol, permessage-deflate when offered.
    fn accept_options(request: &Request) -> AcceptOptions {
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
}
