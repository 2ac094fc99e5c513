//! The echo server on tokio: one task per connection, every text and binary message back
//! unchanged, pings and the close handshake answered, TCP closed by the server after the close.
//! permessage-deflate is negotiated when the `deflate` feature is on.
//!
//! ```text
//! cargo run --release --all-features --example echo_server_tokio -- 127.0.0.1:9002
//! ```

use tokio::net::{TcpListener, TcpStream};
use wsproto::io::tokio::WebSocketStream;
use wsproto::io::{Error, Options};
use wsproto::{Config, Message};

/// Room for the testsuite's largest messages (16 MiB, section 9) with margin.
const LIMIT: usize = 64 << 20;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr).await?;
    println!(
        "echo_server_tokio listening on ws://{}",
        listener.local_addr()?
    );
    let options = Options::default().config(
        Config::default()
            .max_frame_size(LIMIT)
            .max_message_size(LIMIT),
    );
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let options = options.clone();
                tokio::spawn(async move { serve(stream, &options).await });
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

async fn serve(stream: TcpStream, options: &Options) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let mut ws = match WebSocketStream::accept_with_options(stream, options).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("{peer:?}: handshake failed: {e}");
            return;
        }
    };
    loop {
        match ws.read().await {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if let Err(e) = ws.send(message).await {
                    eprintln!("{peer:?}: {e}");
                    return;
                }
            }
            Ok(_) => {}
            // The close handshake finished and the server side of TCP is shut down.
            Err(Error::Closed) => return,
            Err(e) => {
                eprintln!("{peer:?}: {e}");
                return;
            }
        }
    }
}
