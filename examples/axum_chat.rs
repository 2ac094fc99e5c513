//! The broadcast chat of `examples/chat.rs`, served from axum: the page at `/`, its WebSocket
//! at `/ws` through [`wsproto::driver::axum::WebSocketUpgrade`], on one cleartext port that speaks
//! HTTP/1.1 and HTTP/2 (prior knowledge) both.
//!
//! ```text
//! cargo run --release --all-features --example axum_chat -- 127.0.0.1:8080
//! ```
//!
//! Then open <http://127.0.0.1:8080/> in two browser tabs and talk (browsers use HTTP/1.1 on a
//! cleartext port). An HTTP/2 client opens `/ws` with an extended CONNECT (RFC 8441), as
//! `wsproto::driver::h2::connect("ws://127.0.0.1:8080/ws")` does; every text message goes to
//! everyone in the room, whichever HTTP version they came with.
//!
//! `axum::serve` runs hyper-util's auto builder (HTTP/1.1 or HTTP/2 by the first bytes) with
//! upgrades on and, with axum's `http2` feature, `http2().enable_connect_protocol()`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::response::{Html, Response};
use axum::routing::{any, get};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use wsproto::driver::axum::{WebSocket, WebSocketUpgrade};
use wsproto::{CloseCode, Config, Message};

const PAGE: &str = include_str!("chat.html");
/// The longest chat message accepted (the page sends at most 1000 characters).
const MAX_MESSAGE: usize = 4 * 1024;

/// The room: what anyone says goes to everyone.
#[derive(Clone)]
struct Room {
    said: broadcast::Sender<String>,
    next_id: Arc<AtomicU64>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let room = Room {
        said: broadcast::channel(256).0,
        next_id: Arc::new(AtomicU64::new(1)),
    };
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        // `any`: HTTP/1.1 upgrades with GET, HTTP/2 with CONNECT.
        .route("/ws", any(ws))
        .with_state(room);
    let listener = TcpListener::bind(&addr).await?;
    println!("axum_chat listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await
}

async fn ws(State(room): State<Room>, upgrade: WebSocketUpgrade) -> Response {
    let id = room.next_id.fetch_add(1, Ordering::Relaxed);
    let over = if upgrade.request().is_extended_connect() {
        "HTTP/2"
    } else {
        "HTTP/1.1"
    };
    upgrade
        .config(Config::default().max_message_size(MAX_MESSAGE))
        .on_upgrade(move |socket| chat(socket, room, id, over))
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

async fn chat(socket: WebSocket, room: Room, id: u64, over: &str) {
    let name = format!("guest{id}");
    let mut inbox = room.said.subscribe();
    // One half waits for the client while the other writes what the room says.
    let (mut reader, mut writer) = socket.split();
    let _ = writer
        .send(Message::text(line(None, &format!("you are {name}"))))
        .await;
    let _ = room
        .said
        .send(line(None, &format!("{name} joined ({over})")));
    loop {
        tokio::select! {
            incoming = reader.read() => match incoming {
                Ok(Message::Text(text)) => {
                    let _ = room.said.send(line(Some(&name), &text));
                }
                Ok(Message::Binary(_)) => {
                    // Keep reading afterwards: the client's close reply ends the loop.
                    let _ = writer.close(CloseCode::UNSUPPORTED_DATA, "text only").await;
                }
                // Pings are answered by the reading half; the client's close too.
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
    let _ = room.said.send(line(None, &format!("{name} left")));
}
