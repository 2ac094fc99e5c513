//! A broadcast chat: one small HTML page at `/` over plain HTTP and a WebSocket at `/ws` on the
//! same port. Every message a browser sends goes to everyone connected.
//!
//! ```text
//! cargo run --release --all-features --example chat -- 127.0.0.1:8080
//! ```
//!
//! Then open <http://127.0.0.1:8080/> in two browser tabs and talk. With `--tls CERT KEY` (PEM
//! files; feature `rustls`) the page and the WebSocket are served over TLS (`https://`,
//! `wss://`).
//!
//! The server reads the HTTP request head itself and looks at the path before deciding: `/` gets
//! the page, `/ws` is handed to the sans-IO [`ServerHandshake`], whose [`Connection`] then runs
//! under the tokio driver. Each connection is split: one task reads from the browser and
//! broadcasts, another writes what everybody says.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use wsproto::handshake::{AcceptOptions, ServerHandshake};
use wsproto::io::tokio::WebSocketStream;
use wsproto::{CloseCode, Config, Message};

const PAGE: &str = include_str!("chat.html");
/// The longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// The longest chat message accepted (the page sends at most 1000 characters).
const MAX_MESSAGE: usize = 4 * 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let tls = tls::from_args(&args)?;
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("chat listening on {scheme}://{}/", listener.local_addr()?);
    let (room, _) = broadcast::channel::<String>(256);
    let next_id = AtomicU64::new(1);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let room = room.clone();
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => serve(stream, room, id).await,
                #[cfg(feature = "rustls")]
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => serve(stream, room, id).await,
                    Err(e) => Err(e.into()),
                },
            };
            if let Err(e) = served {
                eprintln!("connection {id}: {e}");
            }
        });
    }
}

/// Reads the request head, then serves the page or upgrades.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    room: broadcast::Sender<String>,
    id: u64,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )
            .await;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    // The request line: `GET /path HTTP/1.1`.
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    match (method, path) {
        (Some(b"GET"), Some(b"/" | b"/index.html")) => {
            respond(&mut stream, "200 OK", "text/html; charset=utf-8", PAGE).await
        }
        (Some(b"GET"), Some(b"/ws")) => {
            let mut handshake =
                ServerHandshake::with_config(Config::default().max_message_size(MAX_MESSAGE));
            match handshake.receive(&head) {
                Ok(Some(_)) => {}
                Ok(None) => unreachable!("the whole head was fed"),
                Err(e) => {
                    if let Some(response) = e.response() {
                        stream.write_all(&response).await?;
                    }
                    return Err(e.into());
                }
            }
            let (response, connection) = handshake.accept(AcceptOptions::new())?;
            stream.write_all(&response).await?;
            chat(
                WebSocketStream::from_connection(stream, connection),
                room,
                id,
            )
            .await;
            Ok(())
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
    }
}

async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
    content_type: &str,
    body: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

/// A chat line as the page expects it: `{"from": name, "text": text}`, or a notice without
/// `from`.
fn line(from: Option<&str>, text: &str) -> String {
    let escape = |s: &str| {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    };
    match from {
        Some(from) => format!("{{\"from\":{},\"text\":{}}}", escape(from), escape(text)),
        None => format!("{{\"text\":{}}}", escape(text)),
    }
}

async fn chat<S: AsyncRead + AsyncWrite + Unpin>(
    ws: WebSocketStream<S>,
    room: broadcast::Sender<String>,
    id: u64,
) {
    let name = format!("guest{id}");
    let mut inbox = room.subscribe();
    // One half waits for the browser while the other writes what the room says.
    let (mut reader, mut writer) = ws.split();
    let _ = writer
        .send(Message::text(line(None, &format!("you are {name}"))))
        .await;
    let _ = room.send(line(None, &format!("{name} joined")));
    loop {
        tokio::select! {
            incoming = reader.read() => match incoming {
                Ok(Message::Text(text)) => {
                    let _ = room.send(line(Some(&name), &text));
                }
                Ok(Message::Binary(_)) => {
                    // Keep reading afterwards: the browser's close reply ends the loop.
                    let _ = writer.close(CloseCode::UNSUPPORTED_DATA, "text only").await;
                }
                // Pings are answered by the reading half; the browser's close too.
                Ok(_) => {}
                // The connection is over (closed, or failed).
                Err(_) => break,
            },
            said = inbox.recv() => {
                let text = match said {
                    Ok(text) => text,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        line(None, &format!("({missed} messages skipped: too slow)"))
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                // Fails only once closing has begun or the socket is gone; reading ends then.
                let _ = writer.send(Message::text(text)).await;
            }
        }
    }
    let _ = room.send(line(None, &format!("{name} left")));
}

/// `--tls CERT KEY`: serve over TLS with the PEM certificate chain and key (feature `rustls`).
mod tls {
    #[cfg(feature = "rustls")]
    pub type Acceptor = wsproto::io::tls::TlsAcceptor;
    /// Without the `rustls` feature there is no acceptor.
    #[cfg(not(feature = "rustls"))]
    #[derive(Clone)]
    pub enum Acceptor {}

    pub fn from_args(args: &[String]) -> std::io::Result<Option<Acceptor>> {
        let Some(at) = args.iter().position(|a| a == "--tls") else {
            return Ok(None);
        };
        let (Some(cert), Some(key)) = (args.get(at + 1), args.get(at + 2)) else {
            return Err(std::io::Error::other("usage: --tls CERT.pem KEY.pem"));
        };
        #[cfg(feature = "rustls")]
        return wsproto::io::tls::TlsAcceptor::from_pem_files(cert, key)
            .map(Some)
            .map_err(std::io::Error::other);
        #[cfg(not(feature = "rustls"))]
        {
            let _ = (cert, key);
            Err(std::io::Error::other("--tls needs the rustls feature"))
        }
    }
}
