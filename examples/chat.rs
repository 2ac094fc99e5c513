//! A broadcast chat: one small HTML page at `/` over plain HTTP and a WebSocket at `/ws` on the
//! same port. Every message a browser sends goes to everyone connected.
//!
//! ```text
//! cargo run --release --all-features --example chat -- 127.0.0.1:8080
//! ```
//!
//! Then open <http://127.0.0.1:8080/> in two browser tabs and talk.
//!
//! The server reads the HTTP request head itself and looks at the path before deciding: `/` gets
//! the page, `/ws` is handed to the sans-IO [`ServerHandshake`], whose [`Connection`] then runs
//! under the tokio driver. Each connection is split: one task reads from the browser and
//! broadcasts, another writes what everybody says.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("chat listening on http://{}/", listener.local_addr()?);
    let (room, _) = broadcast::channel::<String>(256);
    let next_id = AtomicU64::new(1);
    loop {
        let (stream, _) = listener.accept().await?;
        let room = room.clone();
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Err(e) = serve(stream, room, id).await {
                eprintln!("connection {id}: {e}");
            }
        });
    }
}

/// Reads the request head, then serves the page or upgrades.
async fn serve(
    mut stream: TcpStream,
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
            // The page's protocol, when the client offers it (a client that offers
            // subprotocols fails the connection if the `101` selects none).
            let options = match handshake.receive(&head) {
                Ok(Some(request)) => {
                    AcceptOptions::new().subprotocol(request.select_subprotocol(&["chat"]))
                }
                Ok(None) => unreachable!("the whole head was fed"),
                Err(e) => {
                    if let Some(response) = e.response() {
                        stream.write_all(&response).await?;
                    }
                    return Err(e.into());
                }
            };
            let (response, connection) = handshake.accept(options)?;
            stream.write_all(&response).await?;
            stream.set_nodelay(true)?;
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

async fn respond(
    stream: &mut TcpStream,
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

async fn chat(ws: WebSocketStream<TcpStream>, room: broadcast::Sender<String>, id: u64) {
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
