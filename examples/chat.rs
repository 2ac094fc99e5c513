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
//!
//! # Scaled out
//!
//! With `--redis URL`, several processes share one room through Redis pub/sub: each publishes
//! what its browsers say to the channel `wsproto-chat` and delivers what it receives from there
//! to its own browsers. Put them behind a load balancer (see `deploy/nginx/websocket.conf`):
//!
//! ```text
//! redis-server --port 6379 --save '' --appendonly no
//! cargo run --release --all-features --example chat -- 127.0.0.1:8081 --redis redis://127.0.0.1:6379
//! cargo run --release --all-features --example chat -- 127.0.0.1:8082 --redis redis://127.0.0.1:6379
//! ```
//!
//! A page on one instance then sees what a page on the other says. When an instance dies, its
//! pages reconnect with back-off (through the balancer, to the instance still up). Messages sent
//! while a page is disconnected are not replayed (pub/sub keeps no history). Names carry the
//! instance's port (`guest3@8081`) so that they stay unique across instances. When Redis
//! restarts, each instance subscribes again and reconnects its publishing connection, both
//! with back-off; what is said while Redis is down is lost. Without `--redis`
//! the room lives in the process and no Redis is needed.
//!
//! ```text
//! usage: chat [ADDRESS] [--redis URL]     (ADDRESS defaults to 127.0.0.1:8080)
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use wsproto::driver::tokio::WebSocketStream;
use wsproto::handshake::{AcceptOptions, ServerHandshake};
use wsproto::{CloseCode, Config, Message};

const PAGE: &str = include_str!("chat.html");
/// The longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// The longest chat message accepted (the page sends at most 1000 characters).
const MAX_MESSAGE: usize = 4 * 1024;
/// The Redis pub/sub channel the instances share.
const CHANNEL: &str = "wsproto-chat";

/// The command line, parsed in one place.
struct Args {
    /// The address to listen on.
    addr: String,
    /// Share the room through this Redis server (`redis://host:port`).
    redis: Option<String>,
    /// Serve over TLS with this PEM certificate chain and key (`--tls CERT KEY`).
    tls: Option<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:8080".into(),
        redis: None,
        tls: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--redis" => args.redis = Some(it.next().ok_or("--redis needs a URL")?),
            "--tls" => {
                let cert = it.next().ok_or("--tls needs CERT and KEY")?;
                let key = it.next().ok_or("--tls needs CERT and KEY")?;
                args.tls = Some((cert, key));
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ => args.addr = arg,
        }
    }
    Ok(args)
}

/// The room: everybody connected to this process listens on `local`. What a browser says goes
/// to `local` directly, or with Redis to the shared channel, from which every instance's
/// subscriber feeds its own `local`.
#[derive(Clone)]
struct Room {
    local: broadcast::Sender<String>,
    /// Publishes; reconnects by itself (with back-off) when Redis goes away and comes back.
    redis: Option<redis::aio::ConnectionManager>,
}

impl Room {
    async fn say(&self, line: String) {
        match &self.redis {
            None => {
                let _ = self.local.send(line);
            }
            Some(conn) => {
                // A cheap handle on one multiplexed Redis connection. While Redis is away,
                // what is said is lost (pub/sub keeps nothing either).
                let mut conn = conn.clone();
                let published: redis::RedisResult<usize> =
                    redis::AsyncCommands::publish(&mut conn, CHANNEL, line).await;
                if let Err(e) = published {
                    eprintln!("redis: publish failed (message lost): {e}");
                }
            }
        }
    }
}

/// Subscribes to the shared channel and relays what arrives to this instance's browsers; when
/// the subscription is lost, subscribes again with back-off. Returns once the first
/// subscription is active, so that nothing said after startup is missed.
async fn relay_from_redis(
    client: redis::Client,
    local: broadcast::Sender<String>,
) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    tokio::spawn(async move {
        let mut pubsub = Some(pubsub);
        let mut delay = Duration::from_millis(100);
        loop {
            if let Some(mut active) = pubsub.take() {
                delay = Duration::from_millis(100);
                let mut messages = active.on_message();
                while let Some(message) = messages.next().await {
                    match message.get_payload::<String>() {
                        Ok(line) => {
                            let _ = local.send(line);
                        }
                        Err(e) => eprintln!("redis: unreadable message: {e}"),
                    }
                }
                eprintln!("redis: subscription lost; subscribing again");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            match client.get_async_pubsub().await {
                Ok(mut fresh) => match fresh.subscribe(CHANNEL).await {
                    Ok(()) => pubsub = Some(fresh),
                    Err(e) => eprintln!("redis: subscribe failed: {e}"),
                },
                Err(e) => eprintln!("redis: cannot connect: {e}"),
            }
        }
    });
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("chat: {why}");
            }
            eprintln!("usage: chat [ADDRESS] [--redis URL] [--tls CERT KEY]");
            std::process::exit(2);
        }
    };
    let tls = tls::acceptor(args.tls.as_ref())?;
    let listener = TcpListener::bind(&args.addr).await?;
    let local_addr = listener.local_addr()?;
    let (local, _) = broadcast::channel::<String>(256);
    let (room, tag) = match &args.redis {
        None => (
            Room {
                local: local.clone(),
                redis: None,
            },
            String::new(),
        ),
        Some(url) => {
            let client = redis::Client::open(url.as_str())?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_max_delay(Duration::from_secs(5))
                .set_connection_timeout(Some(Duration::from_secs(5)))
                .set_response_timeout(Some(Duration::from_secs(5)));
            let conn =
                redis::aio::ConnectionManager::new_with_config(client.clone(), config).await?;
            relay_from_redis(client, local.clone()).await?;
            println!("chat: sharing the room through {url}");
            (
                Room {
                    local: local.clone(),
                    redis: Some(conn),
                },
                format!("@{}", local_addr.port()),
            )
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("chat listening on {scheme}://{local_addr}/");
    let next_id = AtomicU64::new(1);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let room = room.clone();
        let name = format!("guest{}{tag}", next_id.fetch_add(1, Ordering::Relaxed));
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => serve(stream, room, &name).await,
                #[cfg(feature = "rustls")]
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => serve(stream, room, &name).await,
                    Err(e) => Err(e.into()),
                },
            };
            if let Err(e) = served {
                eprintln!("connection {name}: {e}");
            }
        });
    }
}

/// Reads the request head, then serves the page or upgrades.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    room: Room,
    name: &str,
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
            chat(
                WebSocketStream::from_connection(stream, connection),
                room,
                name,
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

async fn chat<S: AsyncRead + AsyncWrite + Unpin>(ws: WebSocketStream<S>, room: Room, name: &str) {
    let mut inbox = room.local.subscribe();
    // One half waits for the browser while the other writes what the room says.
    let (mut reader, mut writer) = ws.split();
    let _ = writer
        .send(Message::text(line(None, &format!("you are {name}"))))
        .await;
    room.say(line(None, &format!("{name} joined"))).await;
    loop {
        tokio::select! {
            incoming = reader.read() => match incoming {
                Ok(Message::Text(text)) => room.say(line(Some(name), &text)).await,
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
    room.say(line(None, &format!("{name} left"))).await;
}

/// `--tls CERT KEY`: serve over TLS with the PEM certificate chain and key (feature `rustls`).
mod tls {
    #[cfg(feature = "rustls")]
    pub type Acceptor = wsproto::driver::tls::TlsAcceptor;
    /// Without the `rustls` feature there is no acceptor.
    #[cfg(not(feature = "rustls"))]
    #[derive(Clone)]
    pub enum Acceptor {}

    pub fn acceptor(files: Option<&(String, String)>) -> std::io::Result<Option<Acceptor>> {
        let Some((cert, key)) = files else {
            return Ok(None);
        };
        #[cfg(feature = "rustls")]
        return wsproto::driver::tls::TlsAcceptor::from_pem_files(cert, key)
            .map(Some)
            .map_err(std::io::Error::other);
        #[cfg(not(feature = "rustls"))]
        {
            let _ = (cert, key);
            Err(std::io::Error::other("--tls needs the rustls feature"))
        }
    }
}
