//! Issue 10 against both drivers, over real loopback sockets: a peer that floods pings without
//! reading, sends large messages without reading the echoes, stays silent, trickles inside a
//! frame, stops reading during the close handshake, or half-closes. Memory is measured by a
//! counting allocator in this test binary; the tests that measure it run one at a time.
#![cfg(all(feature = "blocking", feature = "tokio"))]

mod io_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use io_common::{frame, within_limit};
use wsproto::driver::blocking::WebSocket;
use wsproto::driver::tokio::WebSocketStream;
use wsproto::driver::{Error, Options};
use wsproto::{CloseCode, Config, Message};

// ----- memory -----

/// Counts the bytes currently allocated by the whole test process.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Serialises the tests that measure memory (and the big ones that would disturb them).
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

// ----- peers -----

/// How long the floods last.
const FLOOD: Duration = Duration::from_secs(3);

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// A raw client: connects, sends the opening handshake and reads the `101` (byte by byte, so
/// nothing after it is consumed). From then on the test speaks frames by hand.
fn raw_client(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(REQUEST).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    s
}

/// Writes `chunk` again and again for `how_long` without ever reading; a write that blocks is
/// retried until the time is up.
fn flood(s: &mut TcpStream, chunk: &[u8], how_long: Duration) -> usize {
    s.set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let end = Instant::now() + how_long;
    let mut sent = 0;
    let mut at = 0;
    while Instant::now() < end {
        match s.write(&chunk[at..]) {
            Ok(n) => {
                sent += n;
                at = (at + n) % chunk.len();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    sent
}

/// Which driver serves.
#[derive(Debug, Clone, Copy)]
enum Driver {
    Blocking,
    Tokio,
}

const DRIVERS: [Driver; 2] = [Driver::Blocking, Driver::Tokio];

/// What the server application does with each data message.
#[derive(Debug, Clone, Copy)]
enum App {
    /// `send` it back (waits for the write).
    Echo,
    /// `queue` it back without waiting (an application that ignores backpressure).
    QueueEcho,
}

/// What a server saw: how it ended and the most output it ever had queued.
#[derive(Debug)]
struct Served {
    end: Error,
    max_buffered: usize,
    elapsed: Duration,
}

/// Runs one server connection with `driver` on its own thread; returns its address and a
/// receiver for its outcome.
fn serve(
    driver: Driver,
    options: Options,
    app: App,
    write_timeout: Option<Duration>,
) -> (std::net::SocketAddr, mpsc::Receiver<Served>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let served = match driver {
            Driver::Blocking => serve_blocking(stream, &options, app, write_timeout),
            Driver::Tokio => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(serve_tokio(stream, &options, app, write_timeout)),
        };
        let _ = tx.send(served);
    });
    (addr, rx)
}

fn serve_blocking(
    stream: TcpStream,
    options: &Options,
    app: App,
    write_timeout: Option<Duration>,
) -> Served {
    let mut ws = WebSocket::accept_with_options(stream, options).unwrap();
    ws.set_write_timeout(write_timeout);
    let start = Instant::now();
    let mut max_buffered = 0;
    let end = loop {
        match ws.read() {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                let sent = match app {
                    App::Echo => ws.send(msg),
                    App::QueueEcho => ws.queue(msg),
                };
                max_buffered = max_buffered.max(ws.buffered_amount());
                if let Err(e) = sent {
                    break e;
                }
            }
            Ok(_) => max_buffered = max_buffered.max(ws.buffered_amount()),
            Err(e) => break e,
        }
    };
    Served {
        end,
        max_buffered,
        elapsed: start.elapsed(),
    }
}

async fn serve_tokio(
    stream: TcpStream,
    options: &Options,
    app: App,
    write_timeout: Option<Duration>,
) -> Served {
    stream.set_nonblocking(true).unwrap();
    let stream = tokio::net::TcpStream::from_std(stream).unwrap();
    let mut ws = WebSocketStream::accept_with_options(stream, options)
        .await
        .unwrap();
    ws.set_write_timeout(write_timeout);
    let start = Instant::now();
    let mut max_buffered = 0;
    let end = loop {
        match ws.read().await {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                let sent = match app {
                    App::Echo => ws.send(msg).await,
                    App::QueueEcho => ws.queue(msg),
                };
                max_buffered = max_buffered.max(ws.buffered_amount());
                if let Err(e) = sent {
                    break e;
                }
            }
            Ok(_) => max_buffered = max_buffered.max(ws.buffered_amount()),
            Err(e) => break e,
        }
    };
    Served {
        end,
        max_buffered,
        elapsed: start.elapsed(),
    }
}

/// Options without permessage-deflate (exact sizes on the wire) and with `config`.
fn options(config: Config) -> Options {
    let options = Options::default().config(config);
    #[cfg(feature = "deflate")]
    let options = options.deflate(None);
    options
}

fn outcome(rx: &mpsc::Receiver<Served>) -> Served {
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the server did not end")
}

/// Runs `flood` against a server while sampling memory; returns (baseline, peak) allocated
/// bytes, the baseline taken once the flood is under way.
fn measure(run: impl FnOnce() + Send + 'static, how_long: Duration) -> (usize, usize) {
    let handle = thread::spawn(run);
    thread::sleep(Duration::from_millis(500));
    let baseline = allocated();
    let mut peak = baseline;
    let end = Instant::now() + how_long - Duration::from_millis(500);
    while Instant::now() < end {
        peak = peak.max(allocated());
        thread::sleep(Duration::from_millis(10));
    }
    handle.join().unwrap();
    (baseline, peak)
}

// ----- the cases -----

#[test]
fn a_ping_flood_from_a_client_that_never_reads_stays_flat() {
    let _guard = heavy();
    for driver in DRIVERS {
        within_limit(move || {
            let (addr, rx) = serve(driver, options(Config::default()), App::Echo, None);
            let mut pings = Vec::new();
            for i in 0..1000u32 {
                pings.extend(frame(0x9, true, &i.to_be_bytes(), true));
            }
            let sent = std::sync::Arc::new(AtomicUsize::new(0));
            let sent2 = sent.clone();
            let (baseline, peak) = measure(
                move || {
                    let mut client = raw_client(addr);
                    let n = flood(&mut client, &pings, FLOOD);
                    sent2.store(n, Ordering::Relaxed);
                    // Dropped unread: the server's next write fails.
                },
                FLOOD,
            );
            let served = outcome(&rx);
            let grown = peak.saturating_sub(baseline);
            println!(
                "{driver:?}: {} MiB of pings sent, memory grew by {} KiB, most output queued {} B",
                sent.load(Ordering::Relaxed) >> 20,
                grown >> 10,
                served.max_buffered
            );
            assert!(grown < 4 << 20, "{driver:?}: memory grew by {grown} bytes");
            assert!(
                served.max_buffered <= 2048,
                "{driver:?}: {} bytes of pongs queued",
                served.max_buffered
            );
            assert!(matches!(served.end, Error::Io(_) | Error::Connection(_)));
        });
    }
}

#[test]
fn large_messages_whose_echoes_are_never_read_stay_bounded() {
    let _guard = heavy();
    for driver in DRIVERS {
        within_limit(move || {
            let write_timeout = Some(Duration::from_millis(500));
            let (addr, rx) = serve(driver, options(Config::default()), App::Echo, write_timeout);
            let message = frame(0x2, true, &vec![7u8; 1 << 20], true);
            let (baseline, peak) = measure(
                move || {
                    let mut client = raw_client(addr);
                    flood(&mut client, &message, FLOOD);
                    // Keep the connection open (unread) until the server gave up.
                    thread::sleep(Duration::from_millis(1500));
                },
                FLOOD,
            );
            let served = outcome(&rx);
            let grown = peak.saturating_sub(baseline);
            println!("{driver:?}: memory grew by {} KiB", grown >> 10);
            assert!(grown < 16 << 20, "{driver:?}: memory grew by {grown} bytes");
            // The server's send gave up: the peer does not read.
            match &served.end {
                Error::Io(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{driver:?}"),
                other => panic!("{driver:?}: {other:?}"),
            }
        });
    }
}

#[test]
fn an_application_that_only_queues_is_held_back_by_the_high_water_mark() {
    let _guard = heavy();
    for driver in DRIVERS {
        within_limit(move || {
            let config = Config::default().output_high_water_mark(64 * 1024);
            let (addr, rx) = serve(driver, options(config), App::QueueEcho, None);
            let message = frame(0x2, true, &[3u8; 16 * 1024], true);
            let mut client = raw_client(addr);
            flood(&mut client, &message, Duration::from_secs(2));
            drop(client);
            let served = outcome(&rx);
            println!("{driver:?}: most output queued {} B", served.max_buffered);
            assert!(
                served.max_buffered <= 64 * 1024 + 16 * 1024 + 64,
                "{driver:?}: {} bytes queued",
                served.max_buffered
            );
        });
    }
}

fn short_keepalive() -> Config {
    Config::default()
        .keepalive_interval(Some(Duration::from_millis(200)))
        .keepalive_timeout(Duration::from_millis(300))
}

#[test]
fn a_silent_client_is_closed_by_keepalive() {
    for driver in DRIVERS {
        within_limit(move || {
            let (addr, rx) = serve(driver, options(short_keepalive()), App::Echo, None);
            let client = raw_client(addr);
            let served = outcome(&rx);
            drop(client);
            assert!(
                matches!(
                    served.end,
                    Error::Connection(wsproto::Error::KeepaliveTimeout)
                ),
                "{driver:?}: {:?}",
                served.end
            );
            assert!(served.elapsed >= Duration::from_millis(450), "{served:?}");
            assert!(served.elapsed < Duration::from_secs(3), "{served:?}");
        });
    }
}

#[test]
fn a_trickle_inside_one_frame_is_closed() {
    for driver in DRIVERS {
        within_limit(move || {
            let (addr, rx) = serve(driver, options(short_keepalive()), App::Echo, None);
            let mut client = raw_client(addr);
            // A frame announcing 1 MiB, then one byte every 20 ms (pongs never come).
            let mut header = frame(0x2, true, &vec![0u8; 1 << 20], true);
            header.truncate(14);
            client.write_all(&header).unwrap();
            let trickle = thread::spawn(move || {
                for _ in 0..200 {
                    if client.write_all(&[0]).is_err() {
                        break;
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            });
            let served = outcome(&rx);
            assert!(
                matches!(
                    served.end,
                    Error::Connection(wsproto::Error::KeepaliveTimeout)
                ),
                "{driver:?}: {:?}",
                served.end
            );
            assert!(served.elapsed < Duration::from_secs(3), "{served:?}");
            trickle.join().unwrap();
        });
    }
}

/// Output larger than the loopback socket buffers can hold.
const STUCK: usize = 24 << 20;

#[test]
fn a_peer_that_stops_reading_during_the_close_is_aborted_after_the_close_timeout() {
    let _guard = heavy();
    let config = Config::default().close_timeout(Some(Duration::from_millis(300)));
    let config2 = config.clone();
    // Blocking.
    within_limit(move || {
        let (client, server) = io_common::tcp_pair();
        let conn = wsproto::Connection::new(wsproto::Role::Server, config);
        let mut ws = WebSocket::from_connection(server, conn);
        ws.queue(Message::binary(vec![0u8; STUCK])).unwrap();
        let start = Instant::now();
        let closed = ws.close(CloseCode::NORMAL, "bye");
        let elapsed = start.elapsed();
        assert!(
            matches!(closed, Err(Error::Connection(wsproto::Error::CloseTimeout))),
            "{closed:?}"
        );
        assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert_eq!(ws.buffered_amount(), 0, "the output was dropped");
        assert!(matches!(ws.read(), Err(Error::Closed)));
        drop(client);
    });
    // tokio.
    within_limit(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let (client, server) = io_common::tcp_pair();
                server.set_nonblocking(true).unwrap();
                let server = tokio::net::TcpStream::from_std(server).unwrap();
                let conn = wsproto::Connection::new(wsproto::Role::Server, config2);
                let mut ws = WebSocketStream::from_connection(server, conn);
                ws.queue(Message::binary(vec![0u8; STUCK])).unwrap();
                let start = Instant::now();
                let closed = ws.close(CloseCode::NORMAL, "bye").await;
                let elapsed = start.elapsed();
                // The queued output could not be delivered: an error, not a silent drop.
                assert!(
                    matches!(&closed, Err(Error::Io(e)) if e.kind() == ErrorKind::TimedOut),
                    "{closed:?}"
                );
                assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
                assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
                assert!(matches!(
                    ws.read().await,
                    Err(Error::Connection(wsproto::Error::CloseTimeout))
                ));
                assert!(matches!(ws.read().await, Err(Error::Closed)));
                drop(client);
            });
    });
}

#[test]
fn a_reply_the_peer_does_not_read_is_aborted_after_the_close_timeout() {
    // (tokio only: the blocking driver writes everything queued before it reads again, so its
    // reply never waits behind output; its writes are bounded by the write timeout instead.)
    let _guard = heavy();
    let config = Config::default()
        .close_timeout(Some(Duration::from_millis(300)))
        .output_high_water_mark(usize::MAX);
    within_limit(move || {
        let (addr, rx) = serve(Driver::Tokio, options(config), App::QueueEcho, None);
        let mut client = raw_client(addr);
        // Messages whose echoes fill every buffer, then our close; then we stop reading.
        let message = frame(0x2, true, &vec![1u8; STUCK / 2], true);
        client.write_all(&message).unwrap();
        client.write_all(&message).unwrap();
        client
            .write_all(&frame(0x8, true, &1000u16.to_be_bytes(), true))
            .unwrap();
        let start = Instant::now();
        let served = outcome(&rx);
        assert!(
            matches!(served.end, Error::Connection(wsproto::Error::CloseTimeout)),
            "{:?}",
            served.end
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{served:?}");
        drop(client);
    });
}

#[test]
fn a_half_closed_peer_gets_everything_queued_and_our_reply() {
    for driver in DRIVERS {
        within_limit(move || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let payload = io_common::pattern(9, 300_000);
            let expected = payload.clone();
            let server = thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                let queue_then_read = |msgs: &mut Vec<Message>| {
                    msgs.push(Message::binary(payload));
                    msgs.push(Message::text("last"));
                };
                let mut out = Vec::new();
                queue_then_read(&mut out);
                match driver {
                    Driver::Blocking => {
                        let mut ws = WebSocket::accept(stream).unwrap();
                        for m in out {
                            ws.queue(m).unwrap();
                        }
                        let mut seen = Vec::new();
                        loop {
                            match ws.read() {
                                Ok(m) => seen.push(m),
                                Err(e) => return (seen, e),
                            }
                        }
                    }
                    Driver::Tokio => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(async move {
                            stream.set_nonblocking(true).unwrap();
                            let stream = tokio::net::TcpStream::from_std(stream).unwrap();
                            let mut ws = WebSocketStream::accept(stream).await.unwrap();
                            for m in out {
                                ws.queue(m).unwrap();
                            }
                            let mut seen = Vec::new();
                            loop {
                                match ws.read().await {
                                    Ok(m) => seen.push(m),
                                    Err(e) => return (seen, e),
                                }
                            }
                        }),
                }
            });
            let mut client = raw_client(addr);
            // Close, end our side of TCP, and only then (still open for reading) read.
            client
                .write_all(&frame(0x8, true, &1000u16.to_be_bytes(), true))
                .unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            thread::sleep(Duration::from_millis(200));
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            let (seen, end) = server.join().unwrap();
            assert!(matches!(end, Error::Closed), "{driver:?}: {end:?}");
            assert!(
                matches!(seen.as_slice(), [Message::Close(Some(_))]),
                "{seen:?}"
            );
            // What arrived: the binary message, the text, our close reply, then EOF.
            let mut want = frame(0x2, true, &expected, false);
            want.extend(frame(0x1, true, b"last", false));
            want.extend(frame(0x8, true, &1000u16.to_be_bytes(), false));
            assert_eq!(got.len(), want.len(), "{driver:?}");
            assert!(got == want, "{driver:?}: the bytes differ");
        });
    }
}

/// A stream whose reads give `input` and whose writes fail (the peer is gone).
struct BrokenWrites {
    input: Vec<u8>,
}

impl Read for BrokenWrites {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        Ok(n)
    }
}

impl Write for BrokenWrites {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl wsproto::driver::blocking::Transport for BrokenWrites {}

impl tokio::io::AsyncRead for BrokenWrites {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let n = buf.remaining().min(this.input.len());
        if n == 0 {
            return std::task::Poll::Pending;
        }
        buf.put_slice(&this.input[..n]);
        this.input.drain(..n);
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for BrokenWrites {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Err(ErrorKind::BrokenPipe.into()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[test]
fn a_message_received_is_delivered_even_when_the_write_in_the_same_poll_fails() {
    let mut input = frame(0x1, true, b"hello", true);
    input.extend(frame(0x9, true, b"ping", true));
    let ping = Message::Ping(wsproto::Bytes::from_static(b"ping"));
    // Blocking.
    let conn = wsproto::Connection::new(wsproto::Role::Server, Config::default());
    let mut ws = WebSocket::from_connection(
        BrokenWrites {
            input: input.clone(),
        },
        conn,
    );
    assert_eq!(ws.read().unwrap(), Message::text("hello"));
    assert_eq!(ws.read().unwrap(), ping);
    assert!(matches!(ws.read(), Err(Error::Io(e)) if e.kind() == ErrorKind::BrokenPipe));
    // tokio: the pong's write fails while the ping is being delivered.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let conn = wsproto::Connection::new(wsproto::Role::Server, Config::default());
            let mut ws = WebSocketStream::from_connection(BrokenWrites { input }, conn);
            assert_eq!(ws.read().await.unwrap(), Message::text("hello"));
            assert_eq!(ws.read().await.unwrap(), ping);
            assert!(
                matches!(ws.read().await, Err(Error::Io(e)) if e.kind() == ErrorKind::BrokenPipe)
            );
        });
}

#[test]
fn huge_durations_do_not_panic_in_the_drivers() {
    let config = Config::default()
        .keepalive_interval(Some(Duration::MAX))
        .keepalive_timeout(Duration::MAX)
        .close_timeout(Some(Duration::MAX));
    let options = options(config).handshake_timeout(Some(Duration::MAX));
    for driver in DRIVERS {
        let options = options.clone();
        within_limit(move || {
            let (addr, rx) = serve(driver, options.clone(), App::Echo, Some(Duration::MAX));
            let (mut ws, _) =
                WebSocket::connect_with_options(format!("ws://{addr}/"), &options).unwrap();
            ws.set_write_timeout(Some(Duration::MAX));
            ws.send(Message::text("hi")).unwrap();
            assert_eq!(ws.read().unwrap(), Message::text("hi"));
            ws.close(CloseCode::NORMAL, "").unwrap();
            assert!(matches!(ws.read().unwrap(), Message::Close(_)));
            assert!(matches!(ws.read(), Err(Error::Closed)));
            assert!(matches!(outcome(&rx).end, Error::Closed));
        });
    }
}

#[test]
fn close_after_the_peer_closed_is_ok_in_both_drivers() {
    for driver in DRIVERS {
        within_limit(move || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                match driver {
                    Driver::Blocking => {
                        let mut ws = WebSocket::accept(stream).unwrap();
                        assert!(matches!(ws.read().unwrap(), Message::Close(_)));
                        // The handshake is answered already: nothing to do, no error.
                        ws.close(CloseCode::NORMAL, "").unwrap();
                        assert!(matches!(ws.read(), Err(Error::Closed)));
                    }
                    Driver::Tokio => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(async move {
                            stream.set_nonblocking(true).unwrap();
                            let stream = tokio::net::TcpStream::from_std(stream).unwrap();
                            let mut ws = WebSocketStream::accept(stream).await.unwrap();
                            assert!(matches!(ws.read().await.unwrap(), Message::Close(_)));
                            ws.close(CloseCode::NORMAL, "").await.unwrap();
                            assert!(matches!(ws.read().await, Err(Error::Closed)));
                        }),
                }
            });
            let (mut ws, _) = WebSocket::connect(format!("ws://{addr}/")).unwrap();
            ws.close(CloseCode::NORMAL, "bye").unwrap();
            assert!(matches!(ws.read().unwrap(), Message::Close(_)));
            assert!(matches!(ws.read(), Err(Error::Closed)));
            ws.close(CloseCode::NORMAL, "again").unwrap();
            server.join().unwrap();
        });
    }
}

#[test]
fn data_lost_with_a_peer_that_left_after_closing_is_an_error() {
    let close = frame(0x8, true, &1000u16.to_be_bytes(), true);
    // The peer's close has arrived (it is in the connection), the peer is gone (writes fail).
    let conn = |queued: bool| {
        let mut c = wsproto::Connection::new(wsproto::Role::Server, Config::default());
        if queued {
            c.send_text("accepted").unwrap();
        }
        c.receive(&close);
        c
    };
    let broken = || BrokenWrites { input: Vec::new() };
    for queued in [false, true] {
        // Blocking.
        let mut ws = WebSocket::from_connection(broken(), conn(queued));
        assert!(matches!(ws.read(), Ok(Message::Close(_))));
        assert_eq!(ws.connection().has_unsent_data(), queued);
        let end = ws.read();
        if queued {
            assert!(
                matches!(&end, Err(Error::Io(e)) if e.kind() == ErrorKind::BrokenPipe),
                "{end:?}"
            );
        } else {
            // Only our close reply was lost: the peer closed and left.
            assert!(matches!(end, Err(Error::Closed)), "{end:?}");
        }
        // tokio.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let mut ws = WebSocketStream::from_connection(broken(), conn(queued));
                assert!(matches!(ws.read().await, Ok(Message::Close(_))));
                let end = ws.read().await;
                if queued {
                    assert!(
                        matches!(&end, Err(Error::Io(e)) if e.kind() == ErrorKind::BrokenPipe),
                        "{end:?}"
                    );
                } else {
                    assert!(matches!(end, Err(Error::Closed)), "{end:?}");
                }
            });
    }
}
