//! Joins a chat room (`axum_chat`, or `chat` with `--http1-only`) twice, once over HTTP/1.1 and
//! once over HTTP/2 (extended CONNECT, RFC 8441, with prior knowledge), says something from
//! each and checks that the other heard it. Exits 0 if both did.
//!
//! ```text
//! cargo run --release --all-features --example axum_chat -- 127.0.0.1:8080 &
//! cargo run --release --all-features --example chat_client -- ws://127.0.0.1:8080/ws
//! ```

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use wsproto::Message;
use wsproto::driver::tokio::WebSocketStream;

type Failure = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:8080/ws".into());
    let http1_only = args.next().as_deref() == Some("--http1-only");
    tokio::time::timeout(Duration::from_secs(30), run(&url, http1_only))
        .await
        .map_err(|_| "timed out")?
}

async fn run(url: &str, http1_only: bool) -> Result<(), Failure> {
    let (mut a, _) = WebSocketStream::connect(url).await?;
    println!("joined over HTTP/1.1");
    if http1_only {
        let (mut b, _) = WebSocketStream::connect(url).await?;
        return converse(&mut a, &mut b).await;
    }
    let (mut b, response) = wsproto::driver::h2::connect(url).await?;
    println!("joined over HTTP/2 (status {})", response.status());
    converse(&mut a, &mut b).await
}

/// Each says a line; each must hear the other's.
async fn converse<A, B>(
    a: &mut WebSocketStream<A>,
    b: &mut WebSocketStream<B>,
) -> Result<(), Failure>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    a.send(Message::text("hello from the first")).await?;
    hear(b, "hello from the first").await?;
    b.send(Message::text("hello from the second")).await?;
    hear(a, "hello from the second").await?;
    a.close(wsproto::CloseCode::NORMAL, "").await?;
    b.close(wsproto::CloseCode::NORMAL, "").await?;
    println!("chat_client: both heard each other");
    Ok(())
}

/// Reads until a text message containing `needle` arrives.
async fn hear<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    needle: &str,
) -> Result<(), Failure> {
    loop {
        if let Message::Text(text) = ws.read().await?
            && text.as_str().contains(needle)
        {
            return Ok(());
        }
    }
}
