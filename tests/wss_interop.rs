//! wss:// against independent implementations, both directions (their client against our tokio
//! server, our tokio client against their server), with a test CA made at run time:
//! tokio-tungstenite over tokio-rustls (in process), and Node `ws` over Node's TLS
//! (`tests/interop/wss.mjs`, when node and the pinned `ws` are installed). Text (UTF-8 beyond ASCII), a 1 MiB binary message, a ping
//! each way and a close with code and reason must cross the TLS session intact, and the session
//! must end cleanly after the close handshake.
#![cfg(all(feature = "rustls", feature = "tokio"))]

#[path = "tls/certs.rs"]
mod certs;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use certs::TestPki;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as TCloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use wsproto::driver::Options;
use wsproto::driver::tls::rustls::RootCertStore;
use wsproto::driver::tls::rustls::pki_types::ServerName;
use wsproto::driver::tls::tokio_rustls::{TlsAcceptor as RustlsAcceptor, TlsConnector};
use wsproto::driver::tls::{TlsAcceptor, client_config, server_config};
use wsproto::driver::tokio::WebSocketStream;
use wsproto::{Bytes, CloseCode, Message};

/// Any single step of a session.
const WAIT: Duration = Duration::from_secs(20);
const TEXT: &str = "wss ✓ é ñ € 😀";

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(TestPki::generate)
}

fn roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(pki().ca.clone()).unwrap();
    roots
}

fn server_tls() -> Arc<wsproto::driver::tls::rustls::ServerConfig> {
    let leaf = &pki().localhost;
    server_config(leaf.chain.clone(), leaf.key.clone_key()).unwrap()
}

/// 1 MiB that is not one repeated byte, so that a shifted or dropped record shows.
fn big() -> Bytes {
    Bytes::from(
        (0..1 << 20)
            .map(|i: u32| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// Bounds a step so that a hang fails the test instead of stalling CI.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no progress within {WAIT:?}"),
    }
}

/// Our tokio server over TLS, for one session: echoes data, answers "ping me" with a ping,
/// closes with 4002 on "close", and returns the pings it received once the session has ended
/// cleanly (close handshake, then close_notify and FIN from the driver).
async fn serve_one_session(listener: TcpListener) -> Vec<Bytes> {
    let (tcp, _) = listener.accept().await.unwrap();
    let tls = TlsAcceptor::new(server_tls()).accept(tcp).await.unwrap();
    let mut ws = WebSocketStream::accept(tls).await.unwrap();
    let mut pings = Vec::new();
    // Until the close handshake is done and the driver has ended the session (TLS
    // close_notify, then TCP FIN): then `read` reports the end.
    loop {
        match ws.read().await {
            Ok(Message::Text(t)) if t.as_str() == "ping me" => {
                ws.send(Message::Ping(Bytes::from_static(b"from server")))
                    .await
                    .unwrap();
            }
            Ok(Message::Text(t)) if t.as_str() == "close" => {
                ws.close(CloseCode(4002), "server bye ✓").await.unwrap();
            }
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.send(m).await.unwrap(),
            Ok(Message::Ping(payload)) => pings.push(payload),
            Ok(Message::Pong(_) | Message::Close(_)) => {}
            Err(e) => {
                assert!(
                    matches!(e, wsproto::driver::Error::Closed),
                    "the session did not end cleanly: {e:?}"
                );
                break;
            }
        }
    }
    pings
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_tungstenite_client_against_our_wss_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_one_session(listener));

    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = TlsConnector::from(client_config(roots()).unwrap());
    let name = ServerName::try_from("localhost").unwrap();
    let tls = within("TLS handshake", connector.connect(name, tcp))
        .await
        .unwrap();
    let (mut ws, response) = within(
        "WebSocket handshake",
        tokio_tungstenite::client_async(format!("wss://localhost:{}/", addr.port()), tls),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 101);

    ws.send(TMessage::text(TEXT)).await.unwrap();
    match within("text echo", ws.next()).await.unwrap().unwrap() {
        TMessage::Text(t) => assert_eq!(t.as_str(), TEXT),
        other => panic!("expected the text back, got {other:?}"),
    }
    ws.send(TMessage::Binary(big())).await.unwrap();
    match within("1 MiB echo", ws.next()).await.unwrap().unwrap() {
        TMessage::Binary(b) => assert!(b == big(), "the 1 MiB message came back changed"),
        other => panic!("expected the binary back, got {other:?}"),
    }
    ws.send(TMessage::Ping(Bytes::from_static(b"from client")))
        .await
        .unwrap();
    match within("pong", ws.next()).await.unwrap().unwrap() {
        TMessage::Pong(p) => assert_eq!(&p[..], b"from client"),
        other => panic!("expected our pong, got {other:?}"),
    }
    ws.send(TMessage::text("ping me")).await.unwrap();
    match within("server ping", ws.next()).await.unwrap().unwrap() {
        TMessage::Ping(p) => assert_eq!(&p[..], b"from server"),
        other => panic!("expected the server's ping, got {other:?}"),
    }
    ws.send(TMessage::text("close")).await.unwrap();
    // tungstenite answers the close itself; the stream then ends.
    let mut close = None;
    while let Some(message) = within("server close", ws.next()).await {
        match message {
            Ok(TMessage::Close(frame)) => close = frame,
            Ok(TMessage::Pong(_)) => {}
            Ok(other) => panic!("unexpected {other:?} before the close"),
            Err(e) => panic!("the session did not end cleanly: {e}"),
        }
    }
    let close = close.expect("the server's close frame");
    assert_eq!(u16::from(close.code), 4002);
    assert_eq!(close.reason.as_str(), "server bye ✓");

    // The stream ended: our server closed the session after the close handshake.
    drop(ws);
    let pings = within("server end", server).await.unwrap();
    assert_eq!(pings, vec![Bytes::from_static(b"from client")]);
}

/// Our tokio client over TLS, one session against a server that behaves as
/// [`serve_one_session`] does; panics on any difference.
async fn our_client_session(port: u16) {
    let options = Options::default().tls_config(client_config(roots()).unwrap());
    let url = format!("wss://localhost:{}/", port);
    let (mut ws, _) = within(
        "connect",
        WebSocketStream::connect_with_options(url.as_str(), &options),
    )
    .await
    .unwrap();
    assert!(ws.get_ref().is_tls());

    ws.send(Message::Text(TEXT.into())).await.unwrap();
    match within("text echo", ws.read()).await.unwrap() {
        Message::Text(t) => assert_eq!(t.as_str(), TEXT),
        other => panic!("expected the text back, got {other:?}"),
    }
    ws.send(Message::Binary(big())).await.unwrap();
    match within("1 MiB echo", ws.read()).await.unwrap() {
        Message::Binary(b) => assert!(b == big(), "the 1 MiB message came back changed"),
        other => panic!("expected the binary back, got {other:?}"),
    }
    ws.send(Message::Ping(Bytes::from_static(b"from client")))
        .await
        .unwrap();
    match within("pong", ws.read()).await.unwrap() {
        Message::Pong(p) => assert_eq!(&p[..], b"from client"),
        other => panic!("expected their pong, got {other:?}"),
    }
    ws.send(Message::Text("ping me".into())).await.unwrap();
    match within("server ping", ws.read()).await.unwrap() {
        Message::Ping(p) => assert_eq!(&p[..], b"from server"),
        other => panic!("expected the server's ping, got {other:?}"),
    }
    ws.send(Message::Text("close".into())).await.unwrap();
    match within("server close", ws.read()).await.unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode(4002));
            assert_eq!(frame.reason.as_str(), "server bye ✓");
        }
        other => panic!("expected the server's close, got {other:?}"),
    }
    // We answered the close; the next read finishes it.
    let end = within("end", ws.read()).await;
    assert!(
        matches!(end, Err(wsproto::driver::Error::Closed)),
        "the session did not end cleanly: {end:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn our_wss_client_against_a_tokio_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Their server: echoes data, answers "ping me" with a ping, closes on "close" with a code
    // and reason, and reports the pings it received.
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = RustlsAcceptor::from(server_tls())
            .accept(tcp)
            .await
            .unwrap();
        let mut ws = tokio_tungstenite::accept_async(tls).await.unwrap();
        let mut pings = Vec::new();
        while let Some(message) = ws.next().await {
            match message.unwrap() {
                TMessage::Text(t) if t.as_str() == "ping me" => {
                    ws.send(TMessage::Ping(Bytes::from_static(b"from server")))
                        .await
                        .unwrap();
                }
                TMessage::Text(t) if t.as_str() == "close" => {
                    let frame = TCloseFrame {
                        code: TCloseCode::from(4002),
                        reason: "server bye ✓".into(),
                    };
                    ws.close(Some(frame)).await.unwrap();
                }
                m @ (TMessage::Text(_) | TMessage::Binary(_)) => ws.send(m).await.unwrap(),
                TMessage::Ping(payload) => pings.push(payload),
                _ => {}
            }
        }
        pings
    });

    our_client_session(addr.port()).await;
    let pings = within("server end", server).await.unwrap();
    assert_eq!(pings, vec![Bytes::from_static(b"from client")]);
}

// ---------------------------------------------------------------------------------------------
// Node `ws` (tests/interop/wss.mjs), when installed (`bash .ci/interop.sh` installs it and sets
// WSPROTO_INTEROP_REQUIRED=1, which turns a missing peer into a failure).

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Whether node and the pinned `ws` are installed; if not, the test is skipped unless
/// WSPROTO_INTEROP_REQUIRED=1.
fn node_ws_available() -> bool {
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ws = interop_dir().join("node_modules/ws/package.json").exists();
    if node && ws {
        return true;
    }
    let why = if node {
        "ws is not in tests/interop/node_modules"
    } else {
        "node is not installed"
    };
    if std::env::var("WSPROTO_INTEROP_REQUIRED").is_ok_and(|v| v == "1") {
        panic!("Node ws is required: {why}");
    }
    eprintln!("wss_interop: SKIP Node ws: {why} (bash .ci/interop.sh installs it)");
    false
}

/// The test CA and the `localhost` leaf as PEM files, for the Node side.
fn pem_files() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wsproto-wss-interop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), &pki().ca_pem).unwrap();
        std::fs::write(dir.join("cert.pem"), &pki().localhost.cert_pem).unwrap();
        std::fs::write(dir.join("key.pem"), &pki().localhost.key_pem).unwrap();
        dir
    })
    .clone()
}

/// `node wss.mjs ARGS...`, killed when dropped.
fn node_wss(args: &[&str]) -> Child {
    Command::new("node")
        .arg(interop_dir().join("wss.mjs"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts")
}

#[tokio::test(flavor = "current_thread")]
async fn node_ws_client_against_our_wss_server() {
    if !node_ws_available() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve_one_session(listener));
    let dir = pem_files();
    let url = format!("wss://localhost:{port}/");
    let ca = dir.join("ca.pem");
    let child = node_wss(&["client", &url, ca.to_str().unwrap()]);
    let out = within("node client", child.wait_with_output())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "DONE"),
        "node ws client: {stdout}"
    );
    let pings = within("server end", server).await.unwrap();
    assert_eq!(pings, vec![Bytes::from_static(b"from client")]);
}

#[tokio::test(flavor = "current_thread")]
async fn our_wss_client_against_a_node_ws_server() {
    if !node_ws_available() {
        return;
    }
    let dir = pem_files();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut child = node_wss(&["server", cert.to_str().unwrap(), key.to_str().unwrap()]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = within("node server start", lines.next_line())
        .await
        .unwrap()
        .unwrap_or_default();
    let port: u16 = ready
        .strip_prefix("READY ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("node ws server: {ready}"));
    our_client_session(port).await;
    let pings = within("node server end", lines.next_line())
        .await
        .unwrap()
        .unwrap_or_default();
    // "from client", hex.
    assert_eq!(pings, "PINGS 66726f6d20636c69656e74");
    let status = within("node server exit", child.wait()).await.unwrap();
    assert!(status.success());
}
