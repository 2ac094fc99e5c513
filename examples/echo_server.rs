//! A blocking echo server, one thread per connection: every text and binary message comes back
//! unchanged; pings are answered; the close handshake is answered and the server then closes TCP.
//! permessage-deflate is negotiated when the `deflate` feature is on.
//!
//! ```text
//! cargo run --release --all-features --example echo_server -- 127.0.0.1:9001
//! ```
//!
//! It is strict and fast enough for the Autobahn testsuite (`scripts/autobahn.sh server`).

use std::net::{TcpListener, TcpStream};
use std::thread;

use wsproto::driver::blocking::WebSocket;
use wsproto::driver::{Error, Options, Rejection};
use wsproto::handshake::{AcceptOptions, Request};
use wsproto::{Config, Message};

/// Room for the testsuite's largest messages (16 MiB, section 9) with margin.
const LIMIT: usize = 64 << 20;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    println!("echo_server listening on ws://{}", listener.local_addr()?);
    let options = Options::default().config(
        Config::default()
            .max_frame_size(LIMIT)
            .max_message_size(LIMIT),
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let options = options.clone();
                thread::spawn(move || serve(stream, &options));
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
    Ok(())
}

/// Accepts every request. An echo server speaks any subprotocol, so it selects the client's
/// first choice: browsers, Node's `ws` and tungstenite fail the connection when they offered
/// subprotocols and the `101` selects none.
fn accept(request: &Request) -> Result<AcceptOptions, Rejection> {
    let first = request.protocols().first().map(String::as_str);
    Ok(AcceptOptions::new().subprotocol(first))
}

fn serve(stream: TcpStream, options: &Options) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let mut ws = match WebSocket::accept_with_options_and(stream, options, accept) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("{peer:?}: handshake failed: {e}");
            return;
        }
    };
    loop {
        match ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if let Err(e) = ws.send(message) {
                    eprintln!("{peer:?}: {e}");
                    return;
                }
            }
            // Pings are answered by the connection; the peer's close is answered too.
            Ok(_) => {}
            // The close handshake finished; dropping the stream closes TCP.
            Err(Error::Closed) => return,
            Err(e) => {
                eprintln!("{peer:?}: {e}");
                return;
            }
        }
    }
}
