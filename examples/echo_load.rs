//! Loads an echo server and checks every echo: many concurrent connections, messages from 0 B
//! to 1 MiB, clients that vanish mid-message, and thousands of connections held open at once.
//!
//! ```text
//! cargo run --release --all-features --example echo_load -- ws://127.0.0.1:9001 [CONNECTIONS [HOLD]]
//! ```
//!
//! 1. `CONNECTIONS` (default 200) clients at once, each writing every size in [`SIZES`] (text
//!    and binary in turn) without waiting, while a reader checks the echoes in order; then a
//!    close with 1000, which the server must answer with 1000. One client in four negotiates
//!    permessage-deflate (when the server offers it), the others send plain frames.
//! 2. A client that writes 1 MiB messages without reading: the server must stop reading it, so
//!    its writes stall (before [`UNREAD_LIMIT`] MiB); then it reads, and every echo arrives.
//! 3. Clients that go away in the middle of things: halfway through a request head, halfway
//!    through a 1 MiB frame, after sending a 1 MiB message without reading its echo, after a
//!    request that is not a WebSocket upgrade (the server must answer 400 or similar).
//! 4. A client that connects and sends nothing must be dropped within [`SILENT_LIMIT`].
//! 5. `HOLD` (default 0) connections open at the same time, each with one echo checked, then
//!    all closed.
//!
//! Exits 0 only if every check passed. Runs on the tokio driver of this crate.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsproto::driver::tokio::WebSocketStream;
use wsproto::driver::{Error, Options};
use wsproto::handshake::{ClientHandshake, ClientOutcome, ClientRequest};
use wsproto::{Bytes, CloseCode, Config, Connection, Message};

/// The message sizes every client sends: the frame length encodings' edges and 1 MiB.
const SIZES: [usize; 11] = [
    0,
    1,
    125,
    126,
    127,
    1000,
    65_535,
    65_536,
    65_537,
    300_000,
    1 << 20,
];
/// The longest an echo server may keep a client that sends nothing (its handshake timeout with
/// some slack; `mio_echo` and `uring_echo` allow 10 s).
const SILENT_LIMIT: Duration = Duration::from_secs(20);
/// Megabytes a client that never reads may write before the check fails: the server's
/// high-water mark plus the kernel's socket buffers both ways stay far below.
const UNREAD_LIMIT: usize = 64;
/// No check may take longer than this.
const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let hold: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let started = Instant::now();
    let result = tokio::time::timeout(DEADLINE, run(&url, connections, hold)).await;
    match result {
        Ok(Ok(())) => {
            println!(
                "echo_load: all checks passed in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Ok(Err(why)) => {
            eprintln!("echo_load: FAILED: {why}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("echo_load: FAILED: not done within {DEADLINE:?}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, connections: usize, hold: usize) -> Result<(), String> {
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_string();
    // A client that connects and says nothing must be dropped by the server's handshake
    // timeout; it waits while the other checks run.
    let silent = tokio::spawn(silent(addr.clone()));
    let t = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let url = url.to_string();
            tokio::spawn(async move {
                exchange(&url, i)
                    .await
                    .map_err(|e| format!("client {i}: {e}"))
            })
        })
        .collect();
    let mut bytes = 0;
    for task in tasks {
        bytes += task.await.map_err(|e| e.to_string())??;
    }
    println!(
        "ok: {connections} concurrent clients, {} messages of 0 B to 1 MiB each, {:.0} MiB echoed in {:.1} s",
        SIZES.len(),
        bytes as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );

    let taken = unread(url).await?;
    println!("ok: a client that did not read was throttled after {taken} MiB, then got every echo");

    vanish(&addr).await?;
    println!("ok: clients that vanished mid-handshake, mid-frame, unread, or refused");

    let waited = silent.await.map_err(|e| e.to_string())??;
    println!(
        "ok: a silent client was dropped after {:.1} s",
        waited.as_secs_f64()
    );

    if hold > 0 {
        let t = Instant::now();
        hold_open(url, hold).await?;
        println!(
            "ok: {hold} connections open at once, one echo each, in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The `j`th message of client `i`: text and binary in turn, tagged with `i` and `j` so that a
/// message delivered to the wrong connection or out of order is noticed.
fn message(i: usize, j: usize) -> Message {
    let size = SIZES[j];
    let tag = format!("{i:05}/{j:02}:");
    if (i + j).is_multiple_of(2) {
        let mut text: String = "the quick brown fox jumps over the lazy dog. "
            .chars()
            .cycle()
            .take(size)
            .collect();
        let n = tag.len().min(size);
        text.replace_range(..n, &tag[..n]);
        Message::text(text)
    } else {
        let mut data: Vec<u8> = (0..size as u32)
            .map(|k| (k.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let n = tag.len().min(size);
        data[..n].copy_from_slice(&tag.as_bytes()[..n]);
        Message::binary(data)
    }
}

fn options(deflate: bool) -> Options {
    // A loaded machine may take a while to echo 1 MiB to 200 clients: the close timeout is
    // only a backstop here.
    let config = Config::default()
        .max_message_size(4 << 20)
        .close_timeout(Some(Duration::from_secs(60)));
    let options = Options::default().config(config);
    #[cfg(feature = "deflate")]
    let options = if deflate {
        options
    } else {
        options.deflate(None)
    };
    let _ = deflate;
    options
}

/// One client of check 1; returns the bytes echoed.
async fn exchange(url: &str, i: usize) -> Result<usize, String> {
    let (ws, _) = WebSocketStream::connect_with_options(url, &options(i.is_multiple_of(4)))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = ws.split();
    let (all_echoed, echoed) = tokio::sync::oneshot::channel::<()>();
    // Every message goes out without waiting for the echoes; the close once they are all back.
    let write = tokio::spawn(async move {
        for j in 0..SIZES.len() {
            writer.send(message(i, j)).await?;
        }
        if echoed.await.is_ok() {
            writer.close(CloseCode::NORMAL, "done").await?;
        }
        Ok::<_, Error>(())
    });
    let mut bytes = 0;
    for (j, size) in SIZES.iter().enumerate() {
        let expected = message(i, j);
        match reader.read().await {
            Ok(got) if got == expected => bytes += size,
            Ok(got) => {
                return Err(format!(
                    "message {j}: expected {}, got {}",
                    describe(&expected),
                    describe(&got)
                ));
            }
            Err(e) => return Err(format!("message {j}: {e}")),
        }
    }
    let _ = all_echoed.send(());
    match reader.read().await {
        Ok(Message::Close(Some(frame))) if frame.code == CloseCode::NORMAL => {}
        Ok(other) => {
            return Err(format!(
                "expected the close reply, got {}",
                describe(&other)
            ));
        }
        Err(e) => return Err(format!("expected the close reply: {e}")),
    }
    match reader.read().await {
        Err(Error::Closed) => {}
        other => return Err(format!("after the close: {other:?}")),
    }
    write
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("writing: {e}"))?;
    Ok(bytes)
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(t) => format!("Text({} bytes)", t.len()),
        Message::Binary(b) => format!("Binary({} bytes)", b.len()),
        other => format!("{other:?}"),
    }
}

/// A client that writes 1 MiB messages without reading the echoes: the server must stop
/// reading it (its output is above the high-water mark), so the writes stall well before
/// [`UNREAD_LIMIT`] MiB, and once the client reads, every echo arrives. Returns the MiB written.
async fn unread(url: &str) -> Result<usize, String> {
    // This client queues megabytes it cannot send yet and then reads: with the default output
    // high-water mark (128 KiB) its own driver would stop reading while that output waits, and
    // with the server paused the same way neither side would move (each waits for the other to
    // read). A client that means to read while its writes are stuck raises its mark.
    let mut options = options(false);
    options.config = options.config.output_high_water_mark(usize::MAX);
    let (ws, _) = WebSocketStream::connect_with_options(url, &options)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = ws.split();
    let message = Message::binary(vec![5u8; 1 << 20]);
    let mut queued = 0;
    while queued < UNREAD_LIMIT {
        writer.queue(message.clone()).map_err(|e| e.to_string())?;
        queued += 1;
        match tokio::time::timeout(Duration::from_secs(1), writer.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("unread client: {e}")),
            // Stalled: the server has stopped reading.
            Err(_) => break,
        }
    }
    if queued == UNREAD_LIMIT {
        return Err(format!(
            "a client that never read could write {UNREAD_LIMIT} MiB: the server did not stop reading"
        ));
    }
    let flush = tokio::spawn(async move {
        writer.flush().await?;
        Ok::<_, Error>(writer)
    });
    for k in 0..queued {
        match reader.read().await {
            Ok(got) if got == message => {}
            other => return Err(format!("unread client, echo {k}: {other:?}")),
        }
    }
    let mut writer = flush
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    writer
        .close(CloseCode::NORMAL, "")
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match reader.read().await {
            Ok(_) => {}
            Err(Error::Closed) => return Ok(queued),
            Err(e) => return Err(format!("unread client closing: {e}")),
        }
    }
}

/// Check 2: connections the server must clean up after. Each is dropped abruptly.
async fn vanish(addr: &str) -> Result<(), String> {
    let request = ClientRequest::from_url(&format!("ws://{addr}/")).map_err(|e| e.to_string())?;
    let head = ClientHandshake::new(request).request_bytes().to_vec();

    // Halfway through the request head.
    let mut s = connect(addr).await?;
    s.write_all(&head[..head.len() / 2]).await.map_err(io)?;
    drop(s);

    // Halfway through a 1 MiB frame.
    let (mut s, mut client) = handshake(addr).await?;
    client
        .send_binary(&vec![7u8; 1 << 20])
        .map_err(|e| e.to_string())?;
    let mut sent = 0;
    while let Some(chunk) = client.take_output() {
        let half = (chunk.len() / 2).min((1 << 19) - sent);
        s.write_all(&chunk[..half]).await.map_err(io)?;
        sent += half;
        if half < chunk.len() {
            break;
        }
    }
    drop(s);

    // A whole 1 MiB message whose echo is never read, then gone.
    let (mut s, mut client) = handshake(addr).await?;
    client
        .send_binary(&vec![9u8; 1 << 20])
        .map_err(|e| e.to_string())?;
    while let Some(chunk) = client.take_output() {
        s.write_all(&chunk).await.map_err(io)?;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(s);

    // Not a WebSocket request: an HTTP error comes back, then the server closes.
    let mut s = connect(addr).await?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .map_err(io)?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.map_err(io)?;
    if !(answer.starts_with(b"HTTP/1.1 4")) {
        return Err(format!(
            "a plain GET got {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(40)])
        ));
    }
    Ok(())
}

/// Connects, sends nothing, and returns how long the server took to close the connection.
async fn silent(addr: String) -> Result<Duration, String> {
    let t = Instant::now();
    let mut s = connect(&addr).await?;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(SILENT_LIMIT, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Ok(t.elapsed()),
        Ok(Ok(n)) => Err(format!("a silent client got {n} bytes")),
        Err(_) => Err(format!(
            "a silent client was kept for over {SILENT_LIMIT:?}"
        )),
    }
}

fn io(e: std::io::Error) -> String {
    e.to_string()
}

async fn connect(addr: &str) -> Result<TcpStream, String> {
    TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))
}

/// A raw TCP connection after a successful handshake, with the client connection state.
async fn handshake(addr: &str) -> Result<(TcpStream, Connection), String> {
    let request = ClientRequest::from_url(&format!("ws://{addr}/")).map_err(|e| e.to_string())?;
    let mut hs = ClientHandshake::new(request);
    let mut s = connect(addr).await?;
    s.write_all(hs.request_bytes()).await.map_err(io)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            return Err("the server closed during the handshake".into());
        }
        match hs.receive(&buf[..n]).map_err(|e| e.to_string())? {
            ClientOutcome::Partial => continue,
            ClientOutcome::Accepted { connection, .. } => return Ok((s, connection)),
            ClientOutcome::Rejected { status, .. } => {
                return Err(format!("handshake refused with {status}"));
            }
        }
    }
}

/// Check 3: `count` connections open together, each with one echo, then closed.
async fn hold_open(url: &str, count: usize) -> Result<(), String> {
    let mut open = Vec::with_capacity(count);
    for i in 0..count {
        let (ws, _) = WebSocketStream::connect_with_options(url, &options(false))
            .await
            .map_err(|e| format!("connection {i} of {count}: {e}"))?;
        open.push(ws);
    }
    let tasks: Vec<_> = open
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                let m = Message::binary(Bytes::from(format!("held {i}")));
                ws.send(m.clone()).await.map_err(|e| e.to_string())?;
                match ws.read().await {
                    Ok(got) if got == m => {}
                    other => return Err(format!("held {i}: {other:?}")),
                }
                ws.close(CloseCode::NORMAL, "")
                    .await
                    .map_err(|e| e.to_string())?;
                loop {
                    match ws.read().await {
                        Ok(_) => {}
                        Err(Error::Closed) => return Ok(()),
                        Err(e) => return Err(format!("held {i} closing: {e}")),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}
