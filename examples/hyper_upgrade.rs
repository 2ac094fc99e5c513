//! A hyper 1.x server that upgrades requests to WebSocket with this crate's handshake types and
//! runs a [`Connection`] over the upgraded stream: an echo server behind hyper.
//!
//! ```text
//! cargo run --release --all-features --example hyper_upgrade -- 127.0.0.1:9003
//! cargo run --release --all-features --example echo_client -- ws://127.0.0.1:9003
//! ```
//!
//! hyper parses the HTTP request; [`wsproto::handshake::Request::try_from`] validates it as a
//! WebSocket upgrade, [`Request::accept`](wsproto::handshake::Request::accept) builds the `101`
//! (converted to an `http::Response` for hyper to send), and once hyper hands over the upgraded
//! I/O, `hyper_util::rt::TokioIo` adapts it to tokio's traits for the tokio driver.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wsproto::handshake::AcceptOptions;
use wsproto::io::tokio::WebSocketStream;
use wsproto::{Config, Connection, Message, Role};

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
            let served = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .with_upgrades()
                .await;
            if let Err(e) = served {
                eprintln!("http connection: {e}");
            }
        });
    }
}

async fn handle(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() == "/" && !request.headers().contains_key(hyper::header::UPGRADE) {
        return Ok(Response::new(Full::from(
            "a WebSocket echo server: connect to ws://this-host/\n",
        )));
    }
    // Validate the upgrade with this crate (the same checks as the sans-IO ServerHandshake).
    let ws_request = match wsproto::handshake::Request::try_from(&request) {
        Ok(r) => r,
        Err(e) => return Ok(error_response(&e)),
    };
    // permessage-deflate when the client offers it and the crate has it.
    #[cfg(feature = "deflate")]
    let deflate =
        ws_request.negotiate_deflate(&wsproto::extensions::deflate::DeflateConfig::default());
    // An echo server speaks any subprotocol: the client's first choice (browsers, ws and
    // tungstenite fail the connection when they offered some and none is selected).
    let first = ws_request.protocols().first().map(String::as_str);
    let mut options = AcceptOptions::new().subprotocol(first);
    #[cfg(feature = "deflate")]
    if let Some(params) = deflate.clone() {
        options = options.deflate(params);
    }
    let accepted = match ws_request.accept(&options) {
        Ok(accepted) => accepted,
        Err(e) => return Ok(error_response(&e)),
    };
    let subprotocol = accepted.subprotocol().map(String::from);
    let Ok(head) = http::Response::<()>::try_from(&accepted) else {
        return Ok(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot build the response",
        ));
    };

    // hyper completes the upgrade after this response is sent.
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                eprintln!("upgrade failed: {e}");
                return;
            }
        };
        let connection =
            Connection::new(Role::Server, Config::default()).with_subprotocol(subprotocol);
        #[cfg(feature = "deflate")]
        let connection = match &deflate {
            Some(params) => connection.with_deflate(params),
            None => connection,
        };
        let mut ws = WebSocketStream::from_connection(TokioIo::new(upgraded), connection);
        loop {
            match ws.read().await {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });

    let (parts, ()) = head.into_parts();
    Ok(Response::from_parts(parts, Full::new(Bytes::new())))
}

/// The HTTP answer for a request that is not a valid upgrade (400, 405, 426, …).
fn error_response(e: &wsproto::handshake::HandshakeError) -> Response<Full<Bytes>> {
    match e.to_http_response() {
        Some(response) => response.map(Full::new),
        None => plain(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::from(format!("{text}\n")));
    *response.status_mut() = status;
    response
}
