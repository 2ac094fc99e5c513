//! A hyper 1.x server that upgrades requests to WebSocket with [`wsproto::driver::hyper`]: an echo
//! server behind hyper, over HTTP/1.1 (`Upgrade`) and HTTP/2 (extended CONNECT, RFC 8441) on
//! the same cleartext port.
//!
//! ```text
//! cargo run --release --all-features --example hyper_upgrade -- 127.0.0.1:9003
//! cargo run --release --all-features --example echo_client -- ws://127.0.0.1:9003
//! ```
//!
//! hyper parses the HTTP request; [`wsproto::driver::hyper::upgrade`] validates it as a WebSocket
//! request and takes hyper's upgrade handle; `into_response` gives the `101` (HTTP/1.1) or
//! `200` (HTTP/2) to return, with permessage-deflate negotiated, and a future that resolves to
//! the tokio `WebSocketStream` once hyper hands the connection (or the HTTP/2 stream) over.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use wsproto::Message;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("hyper_upgrade listening on ws://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // HTTP/2 clients may open WebSockets (SETTINGS_ENABLE_CONNECT_PROTOCOL).
            builder.http2().enable_connect_protocol();
            let served = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service_fn(handle))
                .await;
            if let Err(e) = served {
                eprintln!("http connection: {e}");
            }
        });
    }
}

async fn handle(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let is_upgrade = request.headers().contains_key(hyper::header::UPGRADE)
        || request.method() == hyper::Method::CONNECT;
    if request.uri().path() == "/" && !is_upgrade {
        return Ok(Response::new(Full::from(
            "a WebSocket echo server: connect to ws://this-host/\n",
        )));
    }
    let upgrade = match wsproto::driver::hyper::upgrade(&mut request) {
        Ok(upgrade) => upgrade,
        // Not a valid WebSocket request: 400, 405 or 426 with the reason.
        Err(e) => return Ok(e.to_http_response().map(Full::new)),
    };
    // An echo server speaks any subprotocol: the client's first choice (browsers, ws and
    // tungstenite fail the connection when they offered some and none is selected).
    let first = upgrade.requested_protocols().first().cloned();
    let upgrade = upgrade.protocols(first);
    let (response, upgrading) = match upgrade.into_response() {
        Ok(accepted) => accepted,
        Err(e) => {
            let mut response = Response::new(Full::from(format!("{e}\n")));
            *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            return Ok(response);
        }
    };
    // hyper hands the connection over after this response is sent.
    tokio::spawn(async move {
        let mut ws = match upgrading.await {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("upgrade failed: {e}");
                return;
            }
        };
        while let Ok(message) = ws.read().await {
            if let Message::Text(_) | Message::Binary(_) = message
                && ws.send(message).await.is_err()
            {
                break;
            }
        }
    });
    Ok(response.map(|()| Full::new(Bytes::new())))
}
