//! The echo server on tokio: one task per connection, every text and binary message back
//! unchanged, pings and the close handshake answered, TCP closed by the server after the close.
//! permessage-deflate is negotiated when the `deflate` feature is on.
//!
//! ```text
//! cargo run --release --all-features --example echo_server_tokio -- 127.0.0.1:9002
//! ```
//!
//! With `--tls CERT KEY` (PEM files; feature `rustls`) it serves `wss://` instead.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use wsproto::driver::tokio::WebSocketStream;
use wsproto::driver::{Error, Options, Rejection};
use wsproto::handshake::{AcceptOptions, Request};
use wsproto::{Config, Message};

/// Room for the testsuite's largest messages (16 MiB, section 9) with margin.
const LIMIT: usize = 64 << 20;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let tls = tls::from_args(&args)?;
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!(
        "echo_server_tokio listening on {scheme}://{}",
        listener.local_addr()?
    );
    let options = Options::default().config(
        Config::default()
            .max_frame_size(LIMIT)
            .max_message_size(LIMIT),
    );
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let peer = Some(peer);
                let options = options.clone();
                let tls = tls.clone();
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    match tls {
                        None => serve(stream, peer, &options).await,
                        #[cfg(feature = "rustls")]
                        Some(tls) => match tls.accept(stream).await {
                            Ok(stream) => serve(stream, peer, &options).await,
                            Err(e) => eprintln!("{peer:?}: {e}"),
                        },
                    }
                });
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

/// Accepts every request. An echo server speaks any subprotocol, so it selects the client's
/// first choice: browsers, Node's `ws` and tungstenite fail the connection when they offered
/// subprotocols and the `101` selects none.
fn accept(request: &Request) -> Result<AcceptOptions, Rejection> {
    let first = request.protocols().first().map(String::as_str);
    Ok(AcceptOptions::new().subprotocol(first))
}

async fn serve<S>(stream: S, peer: Option<std::net::SocketAddr>, options: &Options)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ws = match WebSocketStream::accept_with_options_and(stream, options, accept).await {
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

/// `--tls CERT KEY`: serve wss:// with the PEM certificate chain and key (feature `rustls`).
mod tls {
    #[cfg(feature = "rustls")]
    pub type Acceptor = wsproto::driver::tls::TlsAcceptor;
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
