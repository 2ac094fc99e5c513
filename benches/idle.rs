//! Memory per idle connection of the tokio echo server: opens thousands of handshaken, silent
//! connections on loopback, then carries one 16 KiB message on each, and prints the server's
//! RSS growth divided by the number of connections, before and after the message.
//!
//! The server runs as a child process (this executable, re-run), on a `current_thread` tokio
//! runtime, one task per connection, `WebSocketStream::accept` and `read`/`send`.
//!
//! Run: `cargo bench --bench idle --features tokio` (`IDLE_CONNS`, default 2000;
//! `IDLE_MESSAGE`, default 16384 bytes). The peers' servers are in `benches/peers`
//! (`cargo run --release --bin net -- idle`).

#[path = "common/net.rs"]
mod net;

use wsproto::Message;
use wsproto::driver::Error;
use wsproto::driver::tokio::WebSocketStream;

fn serve() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        net::announce(listener.local_addr().expect("addr"));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let Ok(mut ws) = WebSocketStream::accept(stream).await else {
                    return;
                };
                loop {
                    match ws.read().await {
                        Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                            if ws.send(m).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(Error::Closed) | Err(_) => return,
                    }
                }
            });
        }
    });
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::var_os(net::SERVER_ENV).is_some() {
        return serve();
    }
    // `cargo bench` passes `--bench`; nothing else to parse.
    let n = env_usize("IDLE_CONNS", 2000);
    let message = env_usize("IDLE_MESSAGE", 16 * 1024);
    let server = net::ServerChild::spawn("wsproto").expect("server");
    let (open, after) = net::idle(&server, n, message).expect("idle run");
    println!(
        "| server | connections | KiB per idle connection | after one {message} B echo each | server peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| wsproto (tokio driver) | {n} | {open:.1} | {after:.1} | {:.1} MiB |",
        server.peak_rss_kib() as f64 / 1024.0
    );
}
