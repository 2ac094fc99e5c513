//! The axum extractor (and under it the hyper helper) on hyper-util's auto server, one loopback
//! port for HTTP/1.1 and HTTP/2: our HTTP/1.1 client and our HTTP/2 extended-CONNECT client
//! (RFC 8441) against the same app.
#![cfg(all(feature = "axum", feature = "h2", feature = "deflate"))]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::any;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use wsproto::driver::axum::{WebSocket, WebSocketUpgrade};
use wsproto::driver::tokio::WebSocketStream;
use wsproto::driver::{Error, Options, h2};
use wsproto::handshake::{ClientRequest, HandshakeError};
use wsproto::{CloseCode, Message};

const LIMIT: Duration = Duration::from_secs(20);

/// What the server's socket tasks report, in order.
type Reports = mpsc::UnboundedReceiver<String>;

/// The app: `/echo` (subprotocols `b` then `a`, deflate on), `/plain` (deflate off), `/reject`
/// (the handler refuses with a 403 before upgrading).
fn app(reports: mpsc::UnboundedSender<String>) -> Router {
    let plain_reports = reports.clone();
    let order_reports = reports.clone();
    Router::new()
        .route(
            "/echo",
            any(move |upgrade: WebSocketUpgrade| {
                let reports = reports.clone();
                async move {
                    let upgrade = upgrade.protocols(["b", "a"]);
                    let h2 = upgrade.request().is_extended_connect();
                    upgrade.on_upgrade(move |socket| echo(socket, h2, reports))
                }
            }),
        )
        .route(
            "/plain",
            any(move |upgrade: WebSocketUpgrade| {
                let reports = plain_reports.clone();
                async move {
                    let upgrade = upgrade.deflate(None);
                    let h2 = upgrade.request().is_extended_connect();
                    upgrade.on_upgrade(move |socket| echo(socket, h2, reports))
                }
            }),
        )
        .route(
            "/server-order",
            any(move |upgrade: WebSocketUpgrade| {
                let reports = order_reports.clone();
                async move {
                    // The server's preference decides (what axum's own `protocols` does).
                    let chosen = upgrade
                        .request()
                        .select_subprotocol(&["b", "a"])
                        .map(str::to_owned);
                    let upgrade = upgrade.protocols(chosen);
                    let h2 = upgrade.request().is_extended_connect();
                    upgrade.on_upgrade(move |socket| echo(socket, h2, reports))
                }
            }),
        )
        .route(
            "/reject",
            any(|upgrade: WebSocketUpgrade| async move {
                // Authentication would happen here, before the upgrade.
                let _ = upgrade.request().headers();
                (StatusCode::FORBIDDEN, "not for you").into_response()
            }),
        )
}

/// Echoes text and binary; reports how the socket was opened and how it was closed.
async fn echo(mut socket: WebSocket, h2: bool, reports: mpsc::UnboundedSender<String>) {
    let _ = reports.send(format!(
        "open h2={h2} protocol={:?} deflate={}",
        socket.connection().subprotocol(),
        socket.connection().deflate_enabled()
    ));
    loop {
        match socket.read().await {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if socket.send(message).await.is_err() {
                    break;
                }
            }
            Ok(Message::Close(frame)) => {
                let _ = reports.send(format!(
                    "close {:?}",
                    frame.map(|f| (u16::from(f.code), f.reason))
                ));
            }
            Ok(_) => {}
            Err(Error::Closed) => {
                let _ = reports.send("end".into());
                break;
            }
            Err(e) => {
                let _ = reports.send(format!("error {e}"));
                break;
            }
        }
    }
}

/// Serves `app` on a loopback port with hyper-util's auto builder (HTTP/1.1 and HTTP/2 with
/// prior knowledge), with or without extended CONNECT.
async fn serve(app: Router, connect_protocol: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let mut builder = auto::Builder::new(TokioExecutor::new());
                if connect_protocol {
                    builder.http2().enable_connect_protocol();
                }
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn server(connect_protocol: bool) -> (SocketAddr, Reports) {
    let (tx, rx) = mpsc::unbounded_channel();
    (serve(app(tx), connect_protocol).await, rx)
}

async fn next_report(reports: &mut Reports) -> String {
    timeout(LIMIT, reports.recv()).await.unwrap().unwrap()
}

fn request(addr: SocketAddr, path: &str) -> ClientRequest {
    ClientRequest::from_url(&format!("ws://{addr}{path}"))
        .unwrap()
        .protocols(["x", "a", "b"])
        .unwrap()
}

async fn h1_client(
    addr: SocketAddr,
    path: &str,
) -> Result<(WebSocketStream<TcpStream>, wsproto::handshake::Response), Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    WebSocketStream::client(tcp, request(addr, path)).await
}

async fn h2_client(
    addr: SocketAddr,
    path: &str,
) -> Result<(WebSocketStream<h2::H2Stream>, wsproto::handshake::Response), Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    h2::client_with_options(tcp, request(addr, path), false, &Options::default()).await
}

/// 1 MiB that deflate cannot shrink to nothing.
fn mebibyte() -> Bytes {
    let mut x: u32 = 0x1234_5678;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Text, binary, 1 MiB, ping/pong, and a close with code and reason, through the echo.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocketStream<S>,
    reports: &mut Reports,
) {
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::text("hello"));
    let binary: Vec<u8> = (0..=255).collect();
    ws.send(Message::binary(binary.clone())).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::binary(binary));
    let big = mebibyte();
    ws.send(Message::Binary(big.clone())).await.unwrap();
    match ws.read().await.unwrap() {
        Message::Binary(echoed) => assert!(echoed == big, "the 1 MiB echo differs"),
        other => panic!("expected the 1 MiB echo, got {other:?}"),
    }
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    assert_eq!(
        ws.read().await.unwrap(),
        Message::Pong(Bytes::from_static(b"are you there"))
    );
    ws.close(CloseCode::from(4001), "bye now").await.unwrap();
    match ws.read().await.unwrap() {
        // The server echoes the code (Config::close_reply's default).
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4001),
        other => panic!("expected the close reply, got {other:?}"),
    }
    // The server ends the transport (TCP FIN over HTTP/1.1, END_STREAM over HTTP/2).
    assert!(matches!(ws.read().await, Err(Error::Closed)));
    assert_eq!(
        next_report(reports).await,
        r#"close Some((4001, "bye now"))"#
    );
    assert_eq!(next_report(reports).await, "end");
}

#[tokio::test]
async fn http1_exchange_with_deflate_and_subprotocol() {
    let (addr, mut reports) = server(true).await;
    let (ws, response) = timeout(LIMIT, h1_client(addr, "/echo"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 101);
    // The client's first choice the server supports ("x" is not, the server prefers "b").
    assert_eq!(response.subprotocol(), Some("a"));
    assert_eq!(response.extensions()[0].name, "permessage-deflate");
    assert!(ws.connection().deflate_enabled());
    assert_eq!(
        next_report(&mut reports).await,
        r#"open h2=false protocol=Some("a") deflate=true"#
    );
    timeout(LIMIT, exchange(ws, &mut reports)).await.unwrap();
}

#[tokio::test]
async fn http2_exchange_with_deflate_and_subprotocol() {
    let (addr, mut reports) = server(true).await;
    let (ws, response) = timeout(LIMIT, h2_client(addr, "/echo"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    for absent in ["upgrade", "connection", "sec-websocket-accept"] {
        assert!(!response.headers().contains(absent), "{absent}");
    }
    assert_eq!(response.subprotocol(), Some("a"));
    assert_eq!(response.extensions()[0].name, "permessage-deflate");
    assert!(ws.connection().deflate_enabled());
    assert_eq!(
        next_report(&mut reports).await,
        r#"open h2=true protocol=Some("a") deflate=true"#
    );
    timeout(LIMIT, exchange(ws, &mut reports)).await.unwrap();
}

/// `protocols` takes the client's order (it offers x, a, b; `/echo` supports b, a: `a`); the
/// documented recipe with `select_subprotocol` takes the server's (`b`), over both versions.
#[tokio::test]
async fn subprotocol_by_client_or_server_preference() {
    let (addr, mut reports) = server(true).await;
    let (ws, response) = h1_client(addr, "/echo").await.unwrap();
    assert_eq!(response.subprotocol(), Some("a"));
    assert!(
        next_report(&mut reports)
            .await
            .contains(r#"protocol=Some("a")"#)
    );
    timeout(LIMIT, exchange(ws, &mut reports)).await.unwrap();

    let (ws, response) = h1_client(addr, "/server-order").await.unwrap();
    assert_eq!(response.subprotocol(), Some("b"));
    assert!(
        next_report(&mut reports)
            .await
            .contains(r#"protocol=Some("b")"#)
    );
    timeout(LIMIT, exchange(ws, &mut reports)).await.unwrap();

    let (ws, response) = h2_client(addr, "/server-order").await.unwrap();
    assert_eq!(response.subprotocol(), Some("b"));
    assert_eq!(
        next_report(&mut reports).await,
        r#"open h2=true protocol=Some("b") deflate=true"#
    );
    timeout(LIMIT, exchange(ws, &mut reports)).await.unwrap();
}

#[tokio::test]
async fn deflate_can_be_turned_off_over_both() {
    let (addr, mut reports) = server(true).await;
    let (ws, response) = h1_client(addr, "/plain").await.unwrap();
    assert!(response.extensions().is_empty());
    assert!(!ws.connection().deflate_enabled());
    // `/plain` does not choose a subprotocol.
    assert_eq!(response.subprotocol(), None);
    assert_eq!(
        next_report(&mut reports).await,
        "open h2=false protocol=None deflate=false"
    );
    timeout(LIMIT, exchange(ws, &mut reports)).await.unwrap();

    let (ws, response) = h2_client(addr, "/plain").await.unwrap();
    assert!(response.extensions().is_empty());
    assert_eq!(
        next_report(&mut reports).await,
        "open h2=true protocol=None deflate=false"
    );
    timeout(LIMIT, exchange(ws, &mut reports)).await.unwrap();
}

#[tokio::test]
async fn several_websockets_share_one_http2_connection() {
    let (addr, mut reports) = server(true).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send_request, mut connection) = ::h2::client::handshake(tcp).await.unwrap();
    let mut ping_pong = connection.ping_pong().unwrap();
    tokio::spawn(connection);
    ping_pong.ping(::h2::Ping::opaque()).await.unwrap();
    let options = Options::default();
    let (mut first, _) = h2::open(
        send_request.clone(),
        request(addr, "/echo"),
        false,
        &options,
    )
    .await
    .unwrap();
    let (mut second, _) = h2::open(send_request, request(addr, "/plain"), false, &options)
        .await
        .unwrap();
    next_report(&mut reports).await;
    next_report(&mut reports).await;
    second.send(Message::text("two")).await.unwrap();
    first.send(Message::text("one")).await.unwrap();
    assert_eq!(first.read().await.unwrap(), Message::text("one"));
    assert_eq!(second.read().await.unwrap(), Message::text("two"));
    timeout(LIMIT, exchange(first, &mut reports)).await.unwrap();
}

/// Writes `head` on a fresh connection and returns the response head and what followed it.
async fn raw_http1(addr: SocketAddr, head: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    timeout(LIMIT, async {
        loop {
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out);
            if n == 0 || text.contains("\r\n\r\n") && !text.ends_with("\r\n\r\n") {
                break;
            }
        }
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

#[tokio::test]
async fn http1_failures_answer_the_right_status() {
    let (addr, _reports) = server(true).await;
    // Not an upgrade at all.
    let r = raw_http1(addr, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    assert!(r.contains("missing header field Upgrade"), "{r}");
    // A key that is not 16 bytes of base64.
    let r = raw_http1(
        addr,
        "GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    assert!(r.contains("Sec-WebSocket-Key"), "{r}");
    // An old protocol version: 426 names the one we speak.
    let r = raw_http1(
        addr,
        &format!(
            "GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n\r\n"
        ),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 426 "), "{r}");
    assert!(
        r.to_ascii_lowercase()
            .contains("sec-websocket-version: 13\r\n"),
        "{r}"
    );
    // A method other than GET.
    let r = raw_http1(
        addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
        ),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
    assert!(r.to_ascii_lowercase().contains("allow: get\r\n"), "{r}");
    // The valid request the handler refuses.
    match h1_client(addr, "/reject").await {
        Err(Error::Rejected { status, body, .. }) => {
            assert_eq!(status, 403);
            assert_eq!(body, b"not for you");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Sends one request over HTTP/2 and returns the status, the `allow` header and the body.
async fn raw_http2(
    addr: SocketAddr,
    request: http::Request<()>,
) -> Result<(u16, Option<String>, String), ::h2::Error> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send_request, connection) = ::h2::client::handshake(tcp).await?;
    tokio::spawn(connection);
    let mut send_request = send_request.ready().await?;
    let (response, _send) = send_request.send_request(request, false)?;
    let response = timeout(LIMIT, response).await.unwrap()?;
    let status = response.status().as_u16();
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        text.extend_from_slice(&chunk?);
    }
    Ok((status, allow, String::from_utf8(text).unwrap()))
}

fn connect_request(
    addr: SocketAddr,
    protocol: Option<&'static str>,
    version: &str,
) -> http::Request<()> {
    let mut request = http::Request::builder()
        .method("CONNECT")
        .uri(format!("http://{addr}/echo"))
        .header("sec-websocket-version", version)
        .body(())
        .unwrap();
    if let Some(p) = protocol {
        request
            .extensions_mut()
            .insert(::h2::ext::Protocol::from_static(p));
    }
    request
}

#[tokio::test]
async fn http2_failures_answer_the_right_status() {
    let (addr, _reports) = server(true).await;
    // A plain GET over HTTP/2 to the WebSocket route.
    let get = http::Request::get(format!("http://{addr}/echo"))
        .body(())
        .unwrap();
    let (status, allow, body) = raw_http2(addr, get).await.unwrap();
    assert_eq!(status, 405);
    assert_eq!(allow.as_deref(), Some("CONNECT"));
    assert!(body.contains("extended CONNECT"), "{body}");
    // An extended CONNECT for another protocol.
    let (status, _, body) = raw_http2(addr, connect_request(addr, Some("webtransport"), "13"))
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains(":protocol"), "{body}");
    // The wrong WebSocket version.
    let (status, _, _) = raw_http2(addr, connect_request(addr, Some("websocket"), "8"))
        .await
        .unwrap();
    assert_eq!(status, 426);
    // The valid request the handler refuses: the client reads the body too.
    match h2_client(addr, "/reject").await {
        Err(Error::Rejected { status, body, .. }) => {
            assert_eq!(status, 403);
            assert_eq!(body, b"not for you");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn http2_server_without_extended_connect_is_refused() {
    let (addr, mut reports) = server(false).await;
    // Our client sees the missing setting and sends nothing.
    match h2_client(addr, "/echo").await {
        Err(Error::Handshake(HandshakeError::ExtendedConnectDisabled)) => {}
        other => panic!("expected ExtendedConnectDisabled, got {other:?}"),
    }
    // A client that sends the extended CONNECT anyway gets the stream reset (RFC 8441 §3).
    let e = raw_http2(addr, connect_request(addr, Some("websocket"), "13"))
        .await
        .unwrap_err();
    assert_eq!(e.reason(), Some(::h2::Reason::PROTOCOL_ERROR), "{e}");
    // HTTP/1.1 on the same server still upgrades.
    let (ws, _) = h1_client(addr, "/echo").await.unwrap();
    next_report(&mut reports).await;
    timeout(LIMIT, exchange(ws, &mut reports)).await.unwrap();
}

#[tokio::test]
async fn hyper_helper_without_axum_over_both_versions() {
    use http_body_util::Full;
    use hyper::service::service_fn;

    async fn handle(
        mut request: http::Request<hyper::body::Incoming>,
    ) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
        let upgrade = match wsproto::driver::hyper::upgrade(&mut request) {
            Ok(upgrade) => upgrade
                .protocols(["b"])
                .header("Set-Cookie", "session=1")
                .unwrap(),
            Err(e) => return Ok(e.to_http_response().map(Full::new)),
        };
        let (response, upgrading) = upgrade.into_response().unwrap();
        tokio::spawn(async move {
            let mut ws = upgrading.await.unwrap();
            while let Ok(message @ Message::Text(_)) = ws.read().await {
                let _ = ws.send(message).await;
            }
        });
        Ok(response.map(|()| Full::new(Bytes::new())))
    }

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder.http2().enable_connect_protocol();
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    });
    let (mut ws, response) = h1_client(addr, "/").await.unwrap();
    assert_eq!(response.headers().get_str("set-cookie"), Some("session=1"));
    assert_eq!(response.subprotocol(), Some("b"));
    assert!(ws.connection().deflate_enabled());
    ws.send(Message::text("one")).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::text("one"));
    let (mut ws, response) = h2_client(addr, "/").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get_str("set-cookie"), Some("session=1"));
    assert!(ws.connection().deflate_enabled());
    ws.send(Message::text("two")).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::text("two"));
}

#[tokio::test]
async fn on_failed_upgrade_hears_of_a_server_without_upgrades() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/",
        any(move |upgrade: WebSocketUpgrade| {
            let tx = tx.clone();
            async move {
                upgrade
                    .on_failed_upgrade(move |e| {
                        let _ = tx.send(e.to_string());
                    })
                    .on_upgrade(|_socket| async {})
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        // HTTP/1.1 served without `with_upgrades`: hyper cannot hand the connection over.
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
            .await;
    });
    // The 101 goes out, but no WebSocket follows.
    let _ = timeout(LIMIT, h1_client(addr, "/")).await.unwrap();
    let error = timeout(LIMIT, rx.recv()).await.unwrap().unwrap();
    assert!(!error.is_empty());
}
