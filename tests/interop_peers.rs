//! The interop matrix (issue 12): wsproto against the WebSocket clients and servers people use,
//! both directions, over 127.0.0.1 only.
//!
//! Peers: Chromium (headless, driven by `playwright-core`, its page using the browser's own
//! `WebSocket`), Python `websockets`, Node `ws` and `tokio-tungstenite`, each at the version
//! pinned in `tests/interop/` (npm and pip lock files) or in `Cargo.toml`. Our side: a scenario
//! server and client written here over the tokio driver, and the `echo_server`,
//! `echo_server_tokio`, `hyper_upgrade` and `chat` examples as built by `cargo test`.
//!
//! The scenarios and what each server does on which path are described in
//! `tests/interop/README.md`. Every (peer, direction, scenario) prints `PASS name` or
//! `FAIL name: why` (run with `--nocapture` to see them), and the run ends with
//! `interop: N passed, N failed`. A peer that is not installed is skipped with a notice;
//! `WSPROTO_INTEROP_REQUIRED=1` (set by `.ci/interop.sh`, which installs them) makes a missing
//! peer a failure. Every child process is killed when its deadline passes or the test ends.

#![cfg(all(feature = "tokio", feature = "deflate", feature = "blocking"))]

#[path = "interop/tungstenite_peer.rs"]
mod tungstenite_peer;

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use wsproto::driver::tokio::WebSocketStream;
use wsproto::driver::{Error, Options};
use wsproto::extensions::deflate::DeflateConfig;
use wsproto::handshake::{AcceptOptions, ClientRequest};
use wsproto::{CloseCode, Config, Message};

/// What every client offers, and what every scenario server supports (in its order of
/// preference): the server's first choice among the offered wins.
pub const PROTOCOLS: [&str; 3] = ["x.unknown", "interop.v1", "interop.v2"];
pub const SUPPORTED: [&str; 2] = ["interop.v2", "interop.v1"];
pub const EXPECTED_PROTOCOL: &str = "interop.v2";
/// Sent in three fragments of 3 bytes: `61 e2 82 | ac f0 9f | 98 80 62`, splitting `€` and `😀`.
pub const FRAGMENTED: &str = "a€😀b";
pub const FRAGMENTS: [&[u8]; 3] = [b"a\xe2\x82", b"\xac\xf0\x9f", b"\x98\x80b"];
/// 2-, 3- and 4-byte sequences.
pub const UTF8: &str = "é ñ ß € ✓ ☃ 😀 𝄞";
/// A ping payload that is not UTF-8.
pub const PING: [u8; 6] = [0x00, 0xff, 0x80, 0x7f, 0x01, 0xfe];
pub const CLIENT_CLOSE: (u16, &str) = (4001, "client bye ✓");
pub const SERVER_CLOSE: (u16, &str) = (4002, "server bye ✓");
/// How long a closing handshake may take, TCP close included.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(3);
/// Any single wait (a message, a handshake).
pub const WAIT: Duration = Duration::from_secs(20);

/// The client scenarios, in the order every peer runs them.
pub const CLIENT_SCENARIOS: &[&str] = &[
    "handshake-subprotocol",
    "text-small",
    "text-empty",
    "text-utf8",
    "text-fragmented-send",
    "text-fragmented-receive",
    "binary-1mib",
    "binary-16mib",
    "burst-1000",
    "ping-from-client",
    "ping-from-server",
    "deflate",
    "deflate-declined",
    "close-from-client",
    "close-from-server",
    "violation-utf8",
    "violation-opcode",
];

/// Checks a server makes itself and reports as `NAME [server saw]`.
pub const SERVER_CHECKS: &[&str] = &[
    "close-from-client",
    "close-from-server",
    "violation-utf8",
    "violation-opcode",
];

/// Binary test data: a pattern that does not compress away.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

/// The three permessage-deflate payloads: compressible text, zeros, UTF-8.
pub fn deflate_payloads() -> (String, Vec<u8>, String) {
    (
        "wsproto interop ".repeat(4096),
        vec![0; 1 << 20],
        UTF8.repeat(2000),
    )
}

/// The results, printed as they come.
#[derive(Default)]
pub struct Report {
    rows: Mutex<Vec<(String, bool)>>,
    not_applicable: Mutex<usize>,
}

impl Report {
    pub fn record(&self, name: &str, result: Result<(), String>) {
        match &result {
            Ok(()) => println!("PASS {name}"),
            Err(why) => println!("FAIL {name}: {why}"),
        }
        self.rows
            .lock()
            .unwrap()
            .push((name.to_string(), result.is_ok()));
    }

    fn not_applicable(&self, name: &str, why: &str) {
        println!("N/A  {name}: {why}");
        *self.not_applicable.lock().unwrap() += 1;
    }

    fn names(&self) -> Vec<String> {
        self.rows
            .lock()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn counts(&self) -> (usize, usize) {
        let rows = self.rows.lock().unwrap();
        let passed = rows.iter().filter(|(_, ok)| *ok).count();
        (passed, rows.len() - passed)
    }
}

/// Writes past libtest's output capture: notices must show in a plain `cargo test`.
fn notice(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

pub fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn describe(m: &Message) -> String {
    match m {
        Message::Text(t) if t.len() > 40 => format!("Text({} bytes)", t.len()),
        Message::Binary(b) if b.len() > 40 => format!("Binary({} bytes)", b.len()),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Our scenario server (tokio driver)
// ---------------------------------------------------------------------------------------------

type Ws = WebSocketStream<Counting>;

/// A TCP stream that counts the bytes it carries, to see that permessage-deflate was used.
pub struct Counting {
    inner: TcpStream,
    read: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
}

impl Counting {
    fn new(inner: TcpStream) -> (Self, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (read, written) = (Arc::default(), Arc::default());
        let stream = Counting {
            inner,
            read: Arc::clone(&read),
            written: Arc::clone(&written),
        };
        (stream, read, written)
    }
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read
            .fetch_add(buf.filled().len() - before, Ordering::Relaxed);
        result
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = result {
            self.written.fetch_add(n, Ordering::Relaxed);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            self.written.fetch_add(n, Ordering::Relaxed);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The deflate scenario moves about 1.2 MB of payload each way; compressed, a few KB.
const COMPRESSED_AT_MOST: usize = 64 * 1024;

fn compressed(read: &AtomicUsize, written: &AtomicUsize) -> Result<(), String> {
    let (read, written) = (
        read.load(Ordering::Relaxed),
        written.load(Ordering::Relaxed),
    );
    if read <= COMPRESSED_AT_MOST && written <= COMPRESSED_AT_MOST {
        Ok(())
    } else {
        Err(format!(
            "not compressed on the wire: {read} bytes read, {written} written"
        ))
    }
}

/// Serves every scenario path; rows for the server's own checks go to `report` as
/// `{peer} client -> wsproto server: {scenario} [wsproto server saw]`, the peer taken from the
/// first path segment (`/node/close-from-client`).
async fn wsproto_server(listener: TcpListener, report: Arc<Report>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let report = report.clone();
        tokio::spawn(async move {
            let _ = timeout(Duration::from_secs(120), serve(stream, report)).await;
        });
    }
}

/// The request path, read with `peek` (the driver then reads the request itself), so that the
/// connection's settings can depend on it.
async fn peek_path(stream: &TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 2048];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let n = stream.peek(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buf[..n].windows(2).position(|w| w == b"\r\n") {
            let line = std::str::from_utf8(&buf[..end]).ok()?;
            return line.split(' ').nth(1).map(String::from);
        }
        if n == buf.len() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

async fn serve(stream: TcpStream, report: Arc<Report>) {
    let _ = stream.set_nodelay(true);
    let Some(path) = peek_path(&stream).await else {
        return;
    };
    let path = path.split('?').next().unwrap_or_default().to_string();
    let mut segments = path.trim_start_matches('/').rsplitn(2, '/');
    let scenario = segments.next().unwrap_or_default().to_string();
    let peer = segments.next().unwrap_or("unknown").to_string();
    let row = format!("{peer} client -> wsproto server: {scenario} [wsproto server saw]");

    let mut config = Config::default();
    let mut deflate = Some(DeflateConfig::default());
    match scenario.as_str() {
        "deflate-declined" | "text-fragmented-send" => deflate = None,
        "text-fragmented-receive" => {
            deflate = None;
            // Three frames of 3 bytes: the split falls inside `€` and `😀`.
            config = config.max_send_frame_size(3);
        }
        _ => {}
    }
    let options = Options::default().config(config).deflate(deflate);
    let (stream, read, written) = Counting::new(stream);
    let accepted = WebSocketStream::accept_with_options_and(stream, &options, |request| {
        Ok(AcceptOptions::new().subprotocol(request.select_subprotocol(&SUPPORTED)))
    })
    .await;
    let Ok(mut ws) = accepted else {
        return;
    };
    match scenario.as_str() {
        "text-fragmented-receive" => {
            let _ = ws.send(Message::text(FRAGMENTED)).await;
        }
        "ping-from-server" => {
            let verdict = server_ping(&mut ws).await;
            let _ = ws.send(Message::text(verdict)).await;
        }
        "close-from-server" => {
            report.record(&row, server_close(&mut ws).await);
            return;
        }
        _ => {}
    }
    let negotiated = ws.connection().deflate_enabled();
    let outcome = echo(&mut ws).await;
    match scenario.as_str() {
        // Only when the client offered it (tungstenite does not).
        "deflate" if negotiated => report.record(
            &row,
            match outcome {
                Echoed::Closed(..) => compressed(&read, &written),
                Echoed::Other(why) => Err(why),
                other => Err(format!("{other:?}")),
            },
        ),
        "close-from-client" => report.record(
            &row,
            match outcome {
                Echoed::Closed(Some((code, reason)), elapsed) => {
                    check("code", code, CLIENT_CLOSE.0)
                        .and(check("reason", reason.as_str(), CLIENT_CLOSE.1))
                        .and(within(elapsed))
                }
                Echoed::Other(why) => Err(why),
                other => Err(format!("{other:?}")),
            },
        ),
        "violation-utf8" | "violation-opcode" => {
            let want = if scenario == "violation-utf8" {
                1007
            } else {
                1002
            };
            report.record(
                &row,
                match outcome {
                    Echoed::Failed(code) => check("close code sent", code, want),
                    Echoed::Other(why) => Err(why),
                    other => Err(format!("{other:?}")),
                },
            )
        }
        _ => {}
    }
}

/// A whole scenario, bounded in time (each of its waits is bounded too).
pub async fn bounded(
    scenario: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    const LIMIT: Duration = Duration::from_secs(60);
    timeout(LIMIT, scenario)
        .await
        .unwrap_or_else(|_| Err(format!("the scenario took over {LIMIT:?}")))
}

fn within(elapsed: Duration) -> Result<(), String> {
    if elapsed <= CLOSE_WITHIN {
        Ok(())
    } else {
        Err(format!("the close took {elapsed:?}"))
    }
}

/// How an echo loop ended.
#[derive(Debug)]
enum Echoed {
    /// The peer closed with this frame; the close handshake and TCP were done this long after.
    Closed(Option<(u16, String)>, Duration),
    /// The peer broke the protocol; we sent this close code.
    Failed(u16),
    /// Anything else.
    Other(String),
}

async fn echo(ws: &mut Ws) -> Echoed {
    let mut peer_close = None;
    let mut closing_since = None;
    loop {
        match timeout(WAIT, ws.read()).await {
            Err(_) => return Echoed::Other("timed out".into()),
            Ok(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                if let Err(e) = ws.send(message).await {
                    return Echoed::Other(format!("echo failed: {e}"));
                }
            }
            Ok(Ok(Message::Close(frame))) => {
                closing_since = Some(Instant::now());
                peer_close = Some(frame.map(|f| (f.code.0, f.reason.to_string())));
            }
            Ok(Ok(_)) => {}
            Ok(Err(Error::Closed)) => {
                let elapsed = closing_since.map_or(Duration::ZERO, |t| t.elapsed());
                return match peer_close {
                    Some(frame) => Echoed::Closed(frame, elapsed),
                    None => Echoed::Other("closed without a close frame".into()),
                };
            }
            Ok(Err(Error::Connection(e))) => return Echoed::Failed(e.close_code().0),
            Ok(Err(e)) => return Echoed::Other(e.to_string()),
        }
    }
}

/// Pings with [`PING`] and says whether the pong carried it.
async fn server_ping(ws: &mut Ws) -> String {
    if ws.send(Message::Ping(PING.to_vec().into())).await.is_err() {
        return "ping failed".into();
    }
    loop {
        match timeout(Duration::from_secs(5), ws.read()).await {
            Ok(Ok(Message::Pong(payload))) if payload[..] == PING => return "pong ok".into(),
            Ok(Ok(Message::Pong(payload))) => return format!("pong bad: {payload:?}"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return format!("pong missing: {e}"),
            Err(_) => return "pong timeout".into(),
        }
    }
}

/// Starts the close, then checks the peer's reply arrives and TCP is done within
/// [`CLOSE_WITHIN`].
async fn server_close(ws: &mut Ws) -> Result<(), String> {
    let started = Instant::now();
    ws.close(CloseCode(SERVER_CLOSE.0), SERVER_CLOSE.1)
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = None;
    loop {
        match timeout(CLOSE_WITHIN, ws.read()).await {
            Err(_) => return Err(format!("no end of the close after {CLOSE_WITHIN:?}")),
            Ok(Ok(Message::Close(frame))) => reply = Some(frame),
            Ok(Ok(_)) => {}
            Ok(Err(Error::Closed)) => break,
            Ok(Err(e)) => return Err(e.to_string()),
        }
    }
    match reply {
        Some(_) => within(started.elapsed()),
        None => Err("no close reply".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Our scenario client (tokio driver) against the peers' servers
// ---------------------------------------------------------------------------------------------

async fn connect(
    url: &str,
    options: &Options,
) -> Result<(Ws, wsproto::handshake::Response), String> {
    connect_counting(url, options)
        .await
        .map(|(ws, r, _)| (ws, r))
}

/// [`connect`], also returning the counter of bytes read and written.
async fn connect_counting(
    url: &str,
    options: &Options,
) -> Result<(Ws, wsproto::handshake::Response, [Arc<AtomicUsize>; 2]), String> {
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| format!("not a ws:// URL: {url}"))?;
    let request = ClientRequest::from_url(url)
        .and_then(|r| r.protocols(PROTOCOLS))
        .map_err(|e| e.to_string())?;
    let connected = timeout(WAIT, async {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (stream, read, written) = Counting::new(stream);
        let (ws, response) = WebSocketStream::client_with_options(stream, request, options)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        Ok((ws, response, [read, written]))
    })
    .await;
    connected.map_err(|_| "handshake timed out".to_string())?
}

/// The next text or binary message (pings and pongs skipped).
async fn next_data(ws: &mut Ws) -> Result<Message, String> {
    loop {
        match timeout(WAIT, ws.read()).await {
            Err(_) => return Err("timed out waiting for a message".into()),
            Ok(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => return Ok(m),
            Ok(Ok(Message::Close(frame))) => return Err(format!("closed by the peer: {frame:?}")),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
        }
    }
}

async fn send(ws: &mut Ws, m: Message) -> Result<(), String> {
    timeout(WAIT, ws.send(m))
        .await
        .map_err(|_| "send timed out".to_string())?
        .map_err(|e| e.to_string())
}

async fn expect_echo(ws: &mut Ws, m: Message) -> Result<(), String> {
    send(ws, m.clone()).await?;
    let got = next_data(ws).await?;
    if got == m {
        Ok(())
    } else {
        Err(format!(
            "echo: got {}, want {}",
            describe(&got),
            describe(&m)
        ))
    }
}

async fn close_normally(mut ws: Ws) -> Result<(), String> {
    ws.close(CloseCode::NORMAL, "")
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match timeout(Duration::from_secs(5), ws.read()).await {
            Err(_) => return Err("the close did not finish".into()),
            Ok(Ok(_)) => {}
            Ok(Err(Error::Closed)) => return Ok(()),
            Ok(Err(e)) => return Err(format!("closing: {e}")),
        }
    }
}

/// Runs one client scenario against a server at `base` (`ws://127.0.0.1:port`).
/// `peer_deflate`: whether the server implements permessage-deflate.
async fn wsproto_client(base: &str, scenario: &str, peer_deflate: bool) -> Result<(), String> {
    let url = format!("{base}/{scenario}");
    let plain = Options::default().deflate(None);
    let text = |s: &str| Message::text(s.to_string());
    match scenario {
        "handshake-subprotocol" => {
            let (ws, response) = connect(&url, &plain).await?;
            check(
                "subprotocol",
                response.subprotocol(),
                Some(EXPECTED_PROTOCOL),
            )?;
            check(
                "connection subprotocol",
                ws.connection().subprotocol(),
                Some(EXPECTED_PROTOCOL),
            )?;
            close_normally(ws).await
        }
        "text-small" | "text-empty" | "text-utf8" => {
            let (mut ws, _) = connect(&url, &plain).await?;
            let payload = match scenario {
                "text-small" => "hello",
                "text-empty" => "",
                _ => UTF8,
            };
            expect_echo(&mut ws, text(payload)).await?;
            close_normally(ws).await
        }
        "text-fragmented-send" => {
            // Our sender splits at any byte when frames are limited to 3 bytes.
            let options = plain
                .clone()
                .config(Config::default().max_send_frame_size(3));
            let (mut ws, _) = connect(&url, &options).await?;
            expect_echo(&mut ws, text(FRAGMENTED)).await?;
            close_normally(ws).await
        }
        "text-fragmented-receive" => {
            let (mut ws, _) = connect(&url, &plain).await?;
            check("message", next_data(&mut ws).await?, text(FRAGMENTED))?;
            close_normally(ws).await
        }
        "binary-1mib" | "binary-16mib" => {
            let len = if scenario == "binary-1mib" { 1 } else { 16 } << 20;
            let (mut ws, _) = connect(&url, &plain).await?;
            expect_echo(&mut ws, Message::binary(pattern(len))).await?;
            close_normally(ws).await
        }
        "burst-1000" => {
            let (mut ws, _) = connect(&url, &plain).await?;
            for i in 0..1000 {
                ws.queue(text(&format!("burst {i}")))
                    .map_err(|e| e.to_string())?;
            }
            timeout(WAIT, ws.flush())
                .await
                .map_err(|_| "flush timed out".to_string())?
                .map_err(|e| e.to_string())?;
            for i in 0..1000 {
                check(
                    "burst",
                    next_data(&mut ws).await?,
                    text(&format!("burst {i}")),
                )?;
            }
            close_normally(ws).await
        }
        "ping-from-client" => {
            let (mut ws, _) = connect(&url, &plain).await?;
            send(&mut ws, Message::Ping(PING.to_vec().into())).await?;
            loop {
                match timeout(WAIT, ws.read()).await {
                    Err(_) => return Err("no pong".into()),
                    Ok(Ok(Message::Pong(p))) => {
                        check("pong payload", &p[..], &PING[..])?;
                        break;
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.to_string()),
                }
            }
            close_normally(ws).await
        }
        "ping-from-server" => {
            let (mut ws, _) = connect(&url, &plain).await?;
            check("verdict", next_data(&mut ws).await?, text("pong ok"))?;
            close_normally(ws).await
        }
        "deflate" | "deflate-declined" => {
            let (mut ws, response, [read, written]) =
                connect_counting(&url, &Options::default()).await?;
            let want = peer_deflate && scenario == "deflate";
            check(
                "deflate negotiated",
                ws.connection().deflate_enabled(),
                want,
            )?;
            let named = response
                .extensions()
                .iter()
                .any(|e| e.name == "permessage-deflate");
            check("extension in the 101", named, want)?;
            let (compressible, zeros, utf8) = deflate_payloads();
            expect_echo(&mut ws, text(&compressible)).await?;
            if scenario == "deflate" {
                expect_echo(&mut ws, Message::binary(zeros)).await?;
                expect_echo(&mut ws, text(&utf8)).await?;
            }
            if want {
                // Both ways: ours compressed, and the peer's echoes came compressed.
                compressed(&read, &written)?;
            }
            close_normally(ws).await
        }
        "close-from-client" => {
            let (mut ws, _) = connect(&url, &plain).await?;
            let started = Instant::now();
            ws.close(CloseCode(CLIENT_CLOSE.0), CLIENT_CLOSE.1)
                .await
                .map_err(|e| e.to_string())?;
            let mut reply = None;
            loop {
                match timeout(CLOSE_WITHIN, ws.read()).await {
                    Err(_) => return Err(format!("not closed after {CLOSE_WITHIN:?}")),
                    Ok(Ok(Message::Close(frame))) => reply = Some(frame),
                    Ok(Ok(_)) => {}
                    Ok(Err(Error::Closed)) => break,
                    Ok(Err(e)) => return Err(e.to_string()),
                }
            }
            check("got a close reply", reply.is_some(), true)?;
            within(started.elapsed())
        }
        "close-from-server" => {
            let (mut ws, _) = connect(&url, &plain).await?;
            let frame = loop {
                match timeout(WAIT, ws.read()).await {
                    Err(_) => return Err("no close from the server".into()),
                    Ok(Ok(Message::Close(frame))) => break frame,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.to_string()),
                }
            };
            let started = Instant::now();
            let frame = frame.ok_or("a close without a code")?;
            check("code", frame.code.0, SERVER_CLOSE.0)?;
            check("reason", frame.reason.as_str(), SERVER_CLOSE.1)?;
            match timeout(CLOSE_WITHIN, ws.read()).await {
                Ok(Err(Error::Closed)) => within(started.elapsed()),
                Err(_) => Err(format!("TCP still open after {CLOSE_WITHIN:?}")),
                Ok(other) => Err(format!("after the close: {other:?}")),
            }
        }
        "violation-utf8" | "violation-opcode" => {
            let want = if scenario == "violation-utf8" {
                1007
            } else {
                1002
            };
            let (mut ws, _) = connect(&url, &plain).await?;
            loop {
                match timeout(WAIT, ws.read()).await {
                    Err(_) => return Err("the peer's violation was not detected".into()),
                    Ok(Err(Error::Connection(e))) => {
                        return check("close code sent", e.close_code().0, want);
                    }
                    Ok(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Ok(other) => return Err(format!("expected a protocol error, got {other:?}")),
                }
            }
        }
        other => Err(format!("unknown scenario {other}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/// A child process whose stdout lines arrive on a channel; killed when dropped.
struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn spawn(name: &str, mut command: Command) -> Result<Peer, String> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so that what it starts (Chromium) goes with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().expect("piped");
        let label = name.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                println!("  [{label} stderr] {line}");
            }
        });
        let stdin = child.stdin.take();
        Ok(Peer {
            name: name.to_string(),
            child,
            stdin,
            lines,
        })
    }

    /// The next stdout line before `deadline`; `None` at the deadline or the end of output.
    fn line(&self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.lines.recv_timeout(left).ok()
    }

    /// Waits for `READY <port>`.
    fn ready_port(&self) -> Result<u16, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(line) = self.line(deadline) {
            if let Some(port) = line.strip_prefix("READY ") {
                return port
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad READY line {line}"));
            }
            println!("  [{}] {line}", self.name);
        }
        Err(format!("{}: never printed READY", self.name))
    }

    /// Records the `PASS`/`FAIL`/`NA` lines the peer prints until it exits or `deadline`,
    /// each as `{prefix}{scenario}`; `expected` that got no line are failures.
    fn collect(&self, report: &Report, prefix: &str, expected: &[String], deadline: Instant) {
        let mut seen = Vec::new();
        while let Some(line) = self.line(deadline) {
            let (verdict, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let (scenario, why) = rest.split_once(": ").unwrap_or((rest, ""));
            let name = format!("{prefix}{scenario}");
            match verdict {
                "PASS" => report.record(&name, Ok(())),
                "FAIL" => report.record(&name, Err(why.to_string())),
                "NA" => report.not_applicable(&name, why),
                _ => {
                    println!("  [{}] {line}", self.name);
                    continue;
                }
            }
            seen.push(scenario.to_string());
        }
        for scenario in expected {
            if !seen.contains(scenario) {
                let why = if Instant::now() >= deadline {
                    "no result before the deadline"
                } else {
                    "no result (the peer exited early)"
                };
                report.record(&format!("{prefix}{scenario}"), Err(why.into()));
            }
        }
    }

    /// Closes stdin (the peer servers exit then) and waits a little for the exit.
    fn finish(&mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The whole group (the peer and any browser it launched), by its id.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An example binary of this crate, built by `cargo test` next to the test binaries.
fn example_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.is_file().then_some(path)
}

/// Starts an example with `127.0.0.1:0` and returns it with the address it printed.
fn start_example(name: &str) -> Result<(Peer, String), String> {
    let path = example_binary(name).ok_or_else(|| {
        format!("examples/{name}.rs is not built (cargo test --all-features builds it)")
    })?;
    let mut command = Command::new(path);
    command.arg("127.0.0.1:0");
    let peer = Peer::spawn(name, command)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(line) = peer.line(deadline) {
        if let Some((_, url)) = line.split_once("listening on ") {
            let addr = url
                .trim()
                .trim_start_matches("ws://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            return Ok((peer, addr.to_string()));
        }
    }
    Err(format!("{name} did not print its address"))
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// An npm package's version from `tests/interop/node_modules`, if installed.
fn npm_version(package: &str) -> Option<String> {
    let json = std::fs::read_to_string(
        interop_dir()
            .join("node_modules")
            .join(package)
            .join("package.json"),
    )
    .ok()?;
    let at = json.find("\"version\"")?;
    let rest = &json[at + 9..];
    let start = rest.find('"')? + 1;
    let end = rest[start..].find('"')? + start;
    Some(rest[start..end].to_string())
}

fn command_works(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The Python with `websockets`: `WSPROTO_INTEROP_PYTHON`, else `tests/interop/.venv`.
fn python() -> Result<(PathBuf, String), String> {
    let python = std::env::var_os("WSPROTO_INTEROP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| interop_dir().join(".venv/bin/python"));
    let version = command_works(
        python.to_str().unwrap_or_default(),
        &["-c", "import websockets; print(websockets.__version__)"],
    )
    .ok_or_else(|| format!("no websockets for {}", python.display()))?;
    Ok((python, version))
}

fn node() -> Result<String, String> {
    let node = command_works("node", &["--version"]).ok_or("node is not installed")?;
    let ws = npm_version("ws").ok_or("ws is not in tests/interop/node_modules")?;
    Ok(format!("node {node}, ws {ws}"))
}

fn chromium() -> Result<(String, String), String> {
    let exe = std::env::var("WSPROTO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let version =
        command_works(&exe, &["--version"]).ok_or_else(|| format!("no {exe} (apt chromium)"))?;
    let pw = npm_version("playwright-core")
        .ok_or("playwright-core is not in tests/interop/node_modules")?;
    Ok((exe, format!("{version}, playwright-core {pw}")))
}

fn client_rows(scenarios: &[&str]) -> Vec<String> {
    scenarios.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

#[test]
fn interop_matrix() {
    let required = std::env::var("WSPROTO_INTEROP_REQUIRED").is_ok_and(|v| v == "1");
    let report = Arc::new(Report::default());
    let skipped = Mutex::new(Vec::<String>::new());
    let skip = |peer: &str, why: String| {
        // Printed with the summary, past the output capture.
        let line = format!("interop: SKIP {peer}: {why} (bash .ci/interop.sh installs it)");
        println!("{line}");
        skipped.lock().unwrap().push(line);
    };
    let started = Instant::now();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let ours = format!("ws://{}", listener.local_addr().unwrap());
    rt.spawn(wsproto_server(listener, report.clone()));

    // Our examples, which the peers' clients also meet (their subprotocol selection is what
    // browsers, ws and tungstenite insisted on).
    let mut examples = Vec::new();
    for name in ["echo_server", "echo_server_tokio", "hyper_upgrade"] {
        match start_example(name) {
            Ok((peer, addr)) => examples.push((name, peer, format!("ws://{addr}/"))),
            Err(e) if required => report.record(&format!("example {name}"), Err(e)),
            Err(e) => skip(name, e),
        }
    }
    let example_args: Vec<String> = examples
        .iter()
        .flat_map(|(name, _, url)| [format!("example-{name}"), url.clone()])
        .collect();
    let example_rows: Vec<String> = examples
        .iter()
        .map(|(name, _, _)| format!("example-{name}"))
        .collect();
    let mut versions = Vec::new();

    // tokio-tungstenite, in process, both directions.
    versions.push("tokio-tungstenite 0.28.0 (tungstenite 0.28.0)".to_string());
    rt.block_on(tungstenite_peer::client_scenarios(
        &report,
        &format!("{ours}/tokio-tungstenite"),
        &examples
            .iter()
            .map(|(n, _, u)| (format!("example-{n}"), u.clone()))
            .collect::<Vec<_>>(),
    ));
    let tt_base = rt.block_on(tungstenite_peer::start_server(report.clone()));
    for scenario in CLIENT_SCENARIOS {
        let name = format!("wsproto client -> tokio-tungstenite server: {scenario}");
        if *scenario == "deflate" {
            // tungstenite has no permessage-deflate: our offer must be declined cleanly.
            let result = rt.block_on(bounded(wsproto_client(&tt_base, scenario, false)));
            report.record(&format!("{name} (declined: peer lacks it)"), result);
            continue;
        }
        let result = rt.block_on(bounded(wsproto_client(&tt_base, scenario, false)));
        report.record(&name, result);
    }

    // Node ws, both directions.
    match node() {
        Err(e) => skip("node ws", e),
        Ok(version) => {
            versions.push(version);
            let script = interop_dir().join("peer.mjs");
            let mut command = Command::new("node");
            command
                .arg(&script)
                .arg("client")
                .arg(format!("{ours}/node"))
                .args(&example_args);
            run_client_peer(&report, "node ws", command, &example_rows);
            let mut command = Command::new("node");
            command.arg(&script).arg("server");
            run_server_peer(&rt, &report, "node ws", command);
        }
    }

    // Python websockets, both directions.
    match python() {
        Err(e) => skip("python websockets", e),
        Ok((python, version)) => {
            versions.push(format!("python websockets {version}"));
            let script = interop_dir().join("peer.py");
            let mut command = Command::new(&python);
            command
                .arg(&script)
                .arg("client")
                .arg(format!("{ours}/python"))
                .args(&example_args);
            run_client_peer(&report, "python websockets", command, &example_rows);
            let mut command = Command::new(&python);
            command.arg(&script).arg("server");
            run_server_peer(&rt, &report, "python websockets", command);
        }
    }

    // Chromium: client only (a page's WebSocket), plus the chat example in two pages.
    match node().and_then(|_| chromium()) {
        Err(e) => skip("chromium", e),
        Ok((exe, version)) => {
            versions.push(version);
            let chat = start_example("chat");
            let mut command = Command::new("node");
            command
                .arg(interop_dir().join("browser.mjs"))
                .env("WSPROTO_CHROMIUM", exe)
                .arg(format!("{ours}/chromium"));
            let mut rows = example_rows.clone();
            match &chat {
                Ok((_, addr)) => {
                    command.arg("chat").arg(format!("http://{addr}/"));
                    rows.push("chat-two-pages".into());
                }
                Err(e) => report.record("chromium: chat-two-pages", Err(e.clone())),
            }
            command.args(&example_args);
            run_client_peer(&report, "chromium", command, &rows);
        }
    }

    // Give our server a moment to record its last checks, then make sure each one came.
    std::thread::sleep(Duration::from_millis(300));
    let names = report.names();
    for peer in ["tokio-tungstenite", "node", "python", "chromium"] {
        let prefix = format!("{peer} client -> wsproto server: ");
        if !names.iter().any(|n| n.starts_with(&prefix)) {
            continue;
        }
        let checks: &[&str] = match peer {
            "chromium" => &["close-from-client", "close-from-server", "deflate"],
            "tokio-tungstenite" => SERVER_CHECKS,
            _ => &[
                "close-from-client",
                "close-from-server",
                "violation-utf8",
                "violation-opcode",
                "deflate",
            ],
        };
        for check in checks {
            let name = format!("{prefix}{check} [wsproto server saw]");
            if !names.contains(&name) {
                report.record(&name, Err("the server saw no such connection".into()));
            }
        }
    }
    drop(examples);
    rt.shutdown_timeout(Duration::from_secs(1));

    println!("interop: peers: {}", versions.join("; "));
    let (passed, mut failed) = report.counts();
    let skipped = skipped.into_inner().unwrap();
    if required {
        failed += skipped.len();
    }
    notice(&format!(
        "interop: {} rows not applicable (the peer's API cannot express them), {:.1} s",
        report.not_applicable.lock().unwrap(),
        started.elapsed().as_secs_f64()
    ));
    for line in &skipped {
        notice(line);
    }
    // The closing line: `N passed, N failed`, then skipped peers (failures when required).
    notice(&format!(
        "interop: {passed} passed, {failed} failed, {} skipped",
        if required { 0 } else { skipped.len() }
    ));
    assert_eq!(
        failed, 0,
        "interop failures (run with --nocapture for the rows)"
    );
}

/// Runs a peer's client script against our server; its rows are
/// `{peer} client -> wsproto server: {scenario}`.
fn run_client_peer(report: &Report, label: &str, command: Command, extra_rows: &[String]) {
    let short = label.split(' ').next().unwrap_or(label);
    let prefix = format!("{short} client -> wsproto server: ");
    match Peer::spawn(label, command) {
        Err(e) => report.record(&format!("{prefix}start"), Err(e)),
        Ok(peer) => {
            let mut expected = client_rows(CLIENT_SCENARIOS);
            expected.extend(extra_rows.iter().cloned());
            let deadline = Instant::now() + Duration::from_secs(180);
            peer.collect(report, &prefix, &expected, deadline);
        }
    }
}

/// Starts a peer's server script, runs our client against it, and collects the server's own
/// checks (`… [{peer} server saw]`).
fn run_server_peer(rt: &tokio::runtime::Runtime, report: &Report, label: &str, command: Command) {
    let short = label.split(' ').next().unwrap_or(label);
    let prefix = format!("wsproto client -> {short} server: ");
    let mut peer = match Peer::spawn(label, command) {
        Ok(peer) => peer,
        Err(e) => return report.record(&format!("{prefix}start"), Err(e)),
    };
    let port = match peer.ready_port() {
        Ok(port) => port,
        Err(e) => return report.record(&format!("{prefix}start"), Err(e)),
    };
    let base = format!("ws://127.0.0.1:{port}");
    for scenario in CLIENT_SCENARIOS {
        let result = rt.block_on(bounded(wsproto_client(&base, scenario, true)));
        report.record(&format!("{prefix}{scenario}"), result);
    }
    peer.finish();
    let expected: Vec<String> = SERVER_CHECKS
        .iter()
        .map(|c| format!("{c} [{short} server saw]"))
        .collect();
    peer.collect(
        report,
        &prefix,
        &expected,
        Instant::now() + Duration::from_secs(2),
    );
}
