//! wss:// over rustls, both drivers in both roles, with certificates made at test time.
#![cfg(all(feature = "rustls", feature = "blocking", feature = "tokio"))]

#[path = "tls/certs.rs"]
mod certs;
mod io_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use certs::TestPki;
use io_common::{pattern, within_limit};
use tokio::io::AsyncReadExt;
use wsproto::driver::blocking::WebSocket;
use wsproto::driver::tls::rustls::{AlertDescription, RootCertStore};
use wsproto::driver::tls::{TlsAcceptor, TlsError, client_config, server_config};
use wsproto::driver::tokio::WebSocketStream;
use wsproto::driver::{Error, Options};
use wsproto::{Bytes, CloseCode, Config, Message};

/// The test certificates, made once per test binary.
fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(TestPki::generate)
}

/// Client options trusting the test CA only.
fn trusting() -> Options {
    let mut roots = RootCertStore::empty();
    roots.add(pki().ca.clone()).unwrap();
    Options::default().tls_config(client_config(roots).unwrap())
}

/// An acceptor presenting the `localhost` certificate.
fn acceptor() -> TlsAcceptor {
    let leaf = &pki().localhost;
    TlsAcceptor::new(server_config(leaf.chain.clone(), leaf.key.clone_key()).unwrap())
}

/// An acceptor presenting a certificate for `other.test`.
fn other_name_acceptor() -> TlsAcceptor {
    let leaf = &pki().other;
    TlsAcceptor::new(server_config(leaf.chain.clone(), leaf.key.clone_key()).unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Driver {
    Blocking,
    Tokio,
}

/// The 16 MiB message.
const BIG: usize = 16 << 20;

/// What a server saw on one connection.
#[derive(Debug, Default)]
struct ServerLog {
    deflate: bool,
    pings: Vec<Bytes>,
    /// Pongs received (the answer to the server's ping).
    pongs: Vec<Bytes>,
    /// The close frame the client sent (code, reason).
    close: Option<(u16, String)>,
    /// How reading ended (the `Debug` of the error).
    end: String,
    /// Whether the client ended TLS with close_notify (a clean end of the TLS stream).
    close_notify: bool,
    /// The server name the client sent (SNI).
    sni: Option<String>,
    /// The ALPN protocol agreed.
    alpn: Option<Vec<u8>>,
}

/// The ping a server sends when the client asks with "ping me".
fn server_ping() -> Message {
    Message::Ping(Bytes::from_static(b"from the server"))
}

/// What the server does with a text message.
fn server_reaction(message: &Message) -> Option<(CloseCode, &'static str)> {
    match message {
        Message::Text(text) if text.as_str() == "close please" => {
            Some((CloseCode::from(4001), "server bye"))
        }
        _ => None,
    }
}

/// Serves `conns` connections one after the other with `driver`: TLS, then the WebSocket
/// handshake, then echo (text "close please" makes the server close with 4001 "server bye").
fn spawn_server(
    driver: Driver,
    acceptor: TlsAcceptor,
    conns: usize,
) -> (SocketAddr, JoinHandle<Vec<Result<ServerLog, Error>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || match driver {
        Driver::Blocking => (0..conns)
            .map(|_| {
                let (tcp, _) = listener.accept().unwrap();
                serve_blocking(&acceptor, tcp)
            })
            .collect(),
        Driver::Tokio => runtime().block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let mut logs = Vec::new();
            for _ in 0..conns {
                let (tcp, _) = listener.accept().await.unwrap();
                logs.push(serve_tokio(&acceptor, tcp).await);
            }
            logs
        }),
    });
    (addr, handle)
}

fn serve_blocking(acceptor: &TlsAcceptor, tcp: TcpStream) -> Result<ServerLog, Error> {
    let tls = acceptor.accept_blocking(tcp)?;
    let mut log = ServerLog {
        sni: tls.conn.server_name().map(str::to_owned),
        alpn: tls.conn.alpn_protocol().map(<[u8]>::to_vec),
        ..ServerLog::default()
    };
    let mut ws = WebSocket::accept(tls)?;
    log.deflate = ws.connection().deflate_enabled();
    loop {
        match ws.read() {
            Ok(message) => {
                if let Some((code, reason)) = server_reaction(&message) {
                    ws.close(code, reason)?;
                    continue;
                }
                match message {
                    Message::Text(t) if t.as_str() == "ping me" => ws.send(server_ping())?,
                    m @ (Message::Text(_) | Message::Binary(_)) => ws.send(m)?,
                    Message::Ping(payload) => log.pings.push(payload),
                    Message::Close(frame) => {
                        log.close = frame.map(|f| (f.code.0, f.reason.as_str().to_owned()))
                    }
                    Message::Pong(payload) => log.pongs.push(payload),
                }
            }
            Err(e) => {
                log.end = format!("{e:?}");
                break;
            }
        }
    }
    // The driver sent close_notify; the client answers with its own before closing TCP.
    let (mut tls, _) = ws.into_parts();
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    log.close_notify = matches!(tls.read(&mut [0u8; 64]), Ok(0));
    Ok(log)
}

async fn serve_tokio(
    acceptor: &TlsAcceptor,
    tcp: tokio::net::TcpStream,
) -> Result<ServerLog, Error> {
    let tls = acceptor.accept(tcp).await?;
    let mut log = ServerLog {
        sni: tls.get_ref().1.server_name().map(str::to_owned),
        alpn: tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec),
        ..ServerLog::default()
    };
    let mut ws = WebSocketStream::accept(tls).await?;
    log.deflate = ws.connection().deflate_enabled();
    loop {
        match ws.read().await {
            Ok(message) => {
                if let Some((code, reason)) = server_reaction(&message) {
                    ws.close(code, reason).await?;
                    continue;
                }
                match message {
                    Message::Text(t) if t.as_str() == "ping me" => ws.send(server_ping()).await?,
                    m @ (Message::Text(_) | Message::Binary(_)) => ws.send(m).await?,
                    Message::Ping(payload) => log.pings.push(payload),
                    Message::Close(frame) => {
                        log.close = frame.map(|f| (f.code.0, f.reason.as_str().to_owned()))
                    }
                    Message::Pong(payload) => log.pongs.push(payload),
                }
            }
            Err(e) => {
                log.end = format!("{e:?}");
                break;
            }
        }
    }
    let (mut tls, _) = ws.into_parts();
    let read = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut [0u8; 64])).await;
    log.close_notify = matches!(read, Ok(Ok(0)));
    Ok(log)
}

/// The client's options for a session: the one with the 16 MiB message goes without
/// permessage-deflate (which costs seconds per 16 MiB in a debug build), the other with it.
fn session_options(big: bool) -> Options {
    if big {
        trusting().deflate(None)
    } else {
        trusting()
    }
}

/// Who starts the close handshake.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Closer {
    Client,
    Server,
}

/// The client's side of a session: echoes of text, binary (and the 16 MiB message when
/// `big`, else with permessage-deflate), a ping, then the close handshake started by `closer`. Returns whether the server
/// ended TLS with close_notify.
fn client_blocking(url: &str, big: bool, closer: Closer) -> bool {
    let (mut ws, response) = WebSocket::connect_with_options(url, &session_options(big)).unwrap();
    assert_eq!(response.status(), 101);
    assert!(ws.get_ref().is_tls());
    assert_eq!(
        ws.connection().deflate_enabled(),
        !big,
        "permessage-deflate"
    );
    let mut expected = vec![
        Message::text("hello over TLS"),
        Message::Binary(Bytes::from(pattern(1, 100_000))),
    ];
    if big {
        expected.push(Message::Binary(Bytes::from(pattern(2, BIG))));
    }
    for message in expected {
        ws.send(message.clone()).unwrap();
        assert!(ws.read().unwrap() == message, "echo differs");
    }
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::Pong(Bytes::from_static(b"are you there"))
    );
    // The server pings too; the driver answers.
    ws.send(Message::text("ping me")).unwrap();
    assert_eq!(ws.read().unwrap(), server_ping());
    match closer {
        Closer::Client => {
            ws.close(CloseCode::from(4000), "client bye").unwrap();
            match ws.read().unwrap() {
                Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::from(4000)),
                other => panic!("expected the close reply, got {other:?}"),
            }
        }
        Closer::Server => {
            ws.send(Message::text("close please")).unwrap();
            match ws.read().unwrap() {
                Message::Close(Some(frame)) => {
                    assert_eq!(frame.code, CloseCode::from(4001));
                    assert_eq!(frame.reason.as_str(), "server bye");
                }
                other => panic!("expected the server's close, got {other:?}"),
            }
        }
    }
    assert!(matches!(ws.read(), Err(Error::Closed)));
    // rustls reads 0 only after close_notify; a bare TCP end is an UnexpectedEof error.
    let (mut stream, _) = ws.into_parts();
    matches!(stream.read(&mut [0u8; 64]), Ok(0))
}

async fn client_tokio(url: &str, big: bool, closer: Closer) -> bool {
    let (mut ws, response) = WebSocketStream::connect_with_options(url, &session_options(big))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    assert!(ws.get_ref().is_tls());
    assert_eq!(
        ws.connection().deflate_enabled(),
        !big,
        "permessage-deflate"
    );
    let mut expected = vec![
        Message::text("hello over TLS"),
        Message::Binary(Bytes::from(pattern(1, 100_000))),
    ];
    if big {
        expected.push(Message::Binary(Bytes::from(pattern(2, BIG))));
    }
    for message in expected {
        ws.send(message.clone()).await.unwrap();
        assert!(ws.read().await.unwrap() == message, "echo differs");
    }
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    assert_eq!(
        ws.read().await.unwrap(),
        Message::Pong(Bytes::from_static(b"are you there"))
    );
    ws.send(Message::text("ping me")).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), server_ping());
    match closer {
        Closer::Client => {
            ws.close(CloseCode::from(4000), "client bye").await.unwrap();
            match ws.read().await.unwrap() {
                Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::from(4000)),
                other => panic!("expected the close reply, got {other:?}"),
            }
        }
        Closer::Server => {
            ws.send(Message::text("close please")).await.unwrap();
            match ws.read().await.unwrap() {
                Message::Close(Some(frame)) => {
                    assert_eq!(frame.code, CloseCode::from(4001));
                    assert_eq!(frame.reason.as_str(), "server bye");
                }
                other => panic!("expected the server's close, got {other:?}"),
            }
        }
    }
    assert!(matches!(ws.read().await, Err(Error::Closed)));
    let (mut stream, _) = ws.into_parts();
    matches!(stream.read(&mut [0u8; 64]).await, Ok(0))
}

/// Two sessions between `client` and `server` drivers: the first (16 MiB message included,
/// no compression) closed by the client, the second (permessage-deflate) by the server. Checks both sides' views.
fn session(client: Driver, server: Driver, host: &str) {
    let host = host.to_owned();
    within_limit(move || {
        let (addr, server) = spawn_server(server, acceptor(), 2);
        let url = format!("wss://{host}:{}/tls", addr.port());
        let notified = match client {
            Driver::Blocking => [
                client_blocking(&url, true, Closer::Client),
                client_blocking(&url, false, Closer::Server),
            ],
            Driver::Tokio => runtime().block_on(async {
                [
                    client_tokio(&url, true, Closer::Client).await,
                    client_tokio(&url, false, Closer::Server).await,
                ]
            }),
        };
        assert_eq!(
            notified,
            [true, true],
            "the server ended TLS with close_notify"
        );
        let logs: Vec<ServerLog> = server
            .join()
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert!(!logs[0].deflate && logs[1].deflate, "{logs:?}");
        for log in &logs {
            assert_eq!(log.pings, [Bytes::from_static(b"are you there")], "{log:?}");
            assert_eq!(
                log.pongs,
                [Bytes::from_static(b"from the server")],
                "{log:?}"
            );
            assert_eq!(log.end, "Closed", "{log:?}");
            assert!(
                log.close_notify,
                "the client ended TLS with close_notify: {log:?}"
            );
            // SNI from the URL's host (none for an IP address, RFC 6066 §3), ALPN http/1.1.
            let sni = (host != "127.0.0.1").then(|| host.clone());
            assert_eq!(log.sni, sni, "{log:?}");
            assert_eq!(log.alpn.as_deref(), Some(&b"http/1.1"[..]), "{log:?}");
        }
        assert_eq!(logs[0].close, Some((4000, "client bye".to_owned())));
        // The client's reply to the server's close echoes the code.
        assert_eq!(logs[1].close.as_ref().map(|c| c.0), Some(4001));
    });
}

#[test]
fn blocking_client_blocking_server() {
    session(Driver::Blocking, Driver::Blocking, "localhost");
}

#[test]
fn blocking_client_tokio_server() {
    session(Driver::Blocking, Driver::Tokio, "127.0.0.1");
}

#[test]
fn tokio_client_blocking_server() {
    session(Driver::Tokio, Driver::Blocking, "127.0.0.1");
}

#[test]
fn tokio_client_tokio_server() {
    session(Driver::Tokio, Driver::Tokio, "localhost");
}

// ----- failures: typed errors on both sides -----

/// Connects with `driver` and returns the client's error.
fn connect_error(driver: Driver, url: &str, options: &Options) -> Error {
    match driver {
        Driver::Blocking => WebSocket::connect_with_options(url, options)
            .map(|_| ())
            .unwrap_err(),
        Driver::Tokio => runtime()
            .block_on(WebSocketStream::connect_with_options(url, options))
            .map(|_| ())
            .unwrap_err(),
    }
}

/// The server's error for one connection that fails.
fn server_error(server: JoinHandle<Vec<Result<ServerLog, Error>>>) -> Error {
    match server.join().unwrap().pop().unwrap() {
        Ok(log) => panic!("the server accepted: {log:?}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_ca_fails_with_typed_errors() {
    within_limit(|| {
        for (client, server) in [
            (Driver::Blocking, Driver::Tokio),
            (Driver::Tokio, Driver::Blocking),
        ] {
            let (addr, handle) = spawn_server(server, acceptor(), 1);
            // The default root store (webpki-roots) does not know the test CA.
            let url = format!("wss://localhost:{}/", addr.port());
            let e = connect_error(client, &url, &Options::default());
            assert!(matches!(e, Error::Tls(TlsError::UnknownIssuer)), "{e:?}");
            assert!(e.to_string().contains("unknown issuer"), "{e}");
            let e = server_error(handle);
            assert!(
                matches!(
                    e,
                    Error::Tls(TlsError::AlertReceived(AlertDescription::UnknownCA))
                ),
                "{e:?}"
            );
        }
    });
}

#[test]
fn wrong_host_name_fails_with_typed_errors() {
    within_limit(|| {
        for (client, server) in [
            (Driver::Blocking, Driver::Blocking),
            (Driver::Tokio, Driver::Tokio),
        ] {
            let (addr, handle) = spawn_server(server, other_name_acceptor(), 1);
            let url = format!("wss://localhost:{}/", addr.port());
            let e = connect_error(client, &url, &trusting());
            match &e {
                Error::Tls(TlsError::NameMismatch {
                    expected,
                    presented,
                }) => {
                    assert_eq!(expected, "localhost");
                    assert_eq!(presented, &["DnsName(\"other.test\")".to_owned()]);
                }
                other => panic!("{other:?}"),
            }
            assert!(e.to_string().contains("name mismatch"), "{e}");
            let e = server_error(handle);
            assert!(matches!(e, Error::Tls(TlsError::AlertReceived(_))), "{e:?}");
        }
    });
}

#[test]
fn plain_client_against_tls_server_fails_cleanly() {
    within_limit(|| {
        for (client, server) in [
            (Driver::Blocking, Driver::Blocking),
            (Driver::Tokio, Driver::Tokio),
        ] {
            let (addr, handle) = spawn_server(server, acceptor(), 1);
            let url = format!("ws://127.0.0.1:{}/", addr.port());
            let e = connect_error(client, &url, &Options::default());
            // The server answers the HTTP with a TLS alert and closes: the client sees a
            // response that is not HTTP, or the connection end.
            assert!(matches!(e, Error::Handshake(_) | Error::Io(_)), "{e:?}");
            let e = server_error(handle);
            assert!(matches!(e, Error::Tls(TlsError::NotTls)), "{e:?}");
        }
    });
}

#[test]
fn tls_client_against_plain_server_fails_cleanly() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            (0..2)
                .map(|_| {
                    let (tcp, _) = listener.accept().unwrap();
                    let options =
                        Options::default().handshake_timeout(Some(Duration::from_millis(500)));
                    WebSocket::accept_with_options(tcp, &options)
                        .map(|_| ())
                        .unwrap_err()
                })
                .collect::<Vec<_>>()
        });
        let url = format!("wss://127.0.0.1:{port}/");
        for client in [Driver::Blocking, Driver::Tokio] {
            let e = connect_error(client, &url, &trusting());
            assert!(matches!(e, Error::Tls(TlsError::HandshakeEof)), "{e:?}");
        }
        for e in server.join().unwrap() {
            // The server waits for an HTTP head that never comes, then gives up.
            assert!(
                matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut),
                "{e:?}"
            );
        }
    });
}

// ----- time limits and the split halves over TLS -----

/// A TLS server that finishes both handshakes, then hands the blocking WebSocket to `then`.
fn spawn_blocking_server<F, R>(then: F) -> (u16, JoinHandle<R>)
where
    R: Send + 'static,
    F: FnOnce(
            WebSocket<
                wsproto::driver::tls::rustls::StreamOwned<
                    wsproto::driver::tls::rustls::ServerConnection,
                    TcpStream,
                >,
            >,
        ) -> R
        + Send
        + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = acceptor();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let tls = acceptor.accept_blocking(tcp).unwrap();
        then(WebSocket::accept(tls).unwrap())
    });
    (port, handle)
}

#[test]
fn blocking_keepalive_fires_while_a_read_waits_on_tls() {
    within_limit(|| {
        let (port, server) = spawn_blocking_server(|mut ws| {
            // The client's keepalive ping arrives while its read blocks.
            match ws.read().unwrap() {
                Message::Ping(_) => {}
                other => panic!("{other:?}"),
            }
            ws.send(Message::text("got your ping")).unwrap();
            while ws.read().is_ok() {}
        });
        let options = trusting().config(
            Config::default()
                .keepalive_interval(Some(Duration::from_millis(100)))
                .keepalive_timeout(Duration::from_secs(5)),
        );
        let url = format!("wss://localhost:{port}/");
        let (mut ws, _) = WebSocket::connect_with_options(&url, &options).unwrap();
        let started = Instant::now();
        loop {
            match ws.read().unwrap() {
                Message::Pong(_) => {}
                Message::Text(text) => {
                    assert_eq!(text.as_str(), "got your ping");
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(started.elapsed() >= Duration::from_millis(90));
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.read().is_ok() {}
        server.join().unwrap();
    });
}

#[test]
fn blocking_close_timeout_fires_over_tls() {
    within_limit(|| {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        // A server that never reads again (and so never answers the close).
        let (port, server) = spawn_blocking_server(move |ws| {
            let _ = done_rx.recv();
            drop(ws);
        });
        let options =
            trusting().config(Config::default().close_timeout(Some(Duration::from_millis(200))));
        let url = format!("wss://127.0.0.1:{port}/");
        let (mut ws, _) = WebSocket::connect_with_options(&url, &options).unwrap();
        let started = Instant::now();
        ws.close(CloseCode::NORMAL, "").unwrap();
        let e = loop {
            match ws.read() {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert!(
            matches!(e, Error::Connection(wsproto::Error::CloseTimeout)),
            "{e:?}"
        );
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(190) && waited < Duration::from_secs(10));
        done_tx.send(()).unwrap();
        server.join().unwrap();
    });
}

/// A TLS server that reads nothing until `go` fires, then counts whole 4 MiB messages of
/// `pattern(seed, ..)` (each checked byte for byte) until the close.
fn spawn_stalled_counting_server(
    go: std::sync::mpsc::Receiver<()>,
    seed: u32,
) -> (u16, JoinHandle<usize>) {
    spawn_blocking_server(move |mut ws| {
        let _ = go.recv();
        let mut whole = 0usize;
        loop {
            match ws.read() {
                Ok(Message::Binary(data)) => {
                    assert!(data == pattern(seed, 4 << 20), "a message arrived damaged");
                    whole += 1;
                }
                Ok(_) => {}
                Err(Error::Closed) => break whole,
                Err(e) => panic!("{e:?}"),
            }
        }
    })
}

/// Client options trusting the test CA, without permessage-deflate: the stalled-peer tests send
/// incompressible data so that the socket buffers really fill (compressed, 4 MiB of one byte
/// would be a few KiB and no write would ever block).
fn trusting_without_deflate() -> Options {
    #[cfg(feature = "deflate")]
    return trusting().deflate(None);
    #[cfg(not(feature = "deflate"))]
    return trusting();
}

// A blocking send over rustls to a peer that stops reading fails with the write timeout, and
// nothing accepted is lost: once the peer reads again, every message that was sent (and the one
// whose send failed, still queued) arrives whole. (rustls' own `Stream::write` turns a blocked
// write into a read of the socket with no timeout: the send used to hang.)
#[test]
fn blocking_write_timeout_bounds_a_send_over_tls() {
    within_limit(|| {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (port, server) = spawn_stalled_counting_server(done_rx, 7);
        let url = format!("wss://127.0.0.1:{port}/");
        let options = trusting_without_deflate();
        let (mut ws, _) = WebSocket::connect_with_options(&url, &options).unwrap();
        ws.set_write_timeout(Some(Duration::from_millis(300)));
        let started = Instant::now();
        // Loopback buffers can take tens of MiB (tcp_rmem autotuning): send until they are full.
        let chunk = bytes::Bytes::from(pattern(7, 4 << 20));
        let mut sent = 0usize;
        let e = loop {
            assert!(sent < 64, "256 MiB went into a peer that never reads");
            match ws.send(Message::Binary(chunk.clone())) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
        };
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut
                || io.kind() == std::io::ErrorKind::WouldBlock),
            "{e:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
        // What was not written stays queued.
        assert!(ws.buffered_amount() > 0);
        done_tx.send(()).unwrap();
        ws.set_write_timeout(None);
        ws.flush().unwrap();
        ws.close(CloseCode::from(4000), "bye").unwrap();
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(Error::Closed) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(server.join().unwrap(), sent + 1);
    });
}

// The tokio driver over tokio-rustls against a peer that stops reading: the send waits (rustls
// takes plaintext only up to its 64 KiB buffer limit), the output stays queued, and once the peer
// reads every message arrives intact.
#[test]
fn tokio_send_over_tls_waits_for_a_stuck_peer() {
    within_limit(|| {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (port, server) = spawn_stalled_counting_server(done_rx, 8);
        let url = format!("wss://127.0.0.1:{port}/");
        let options = trusting_without_deflate();
        let sent = runtime().block_on(async {
            let (mut ws, _) = WebSocketStream::connect_with_options(&url, &options)
                .await
                .unwrap();
            let chunk = bytes::Bytes::from(pattern(8, 4 << 20));
            let mut sent = 0usize;
            loop {
                assert!(sent < 64, "256 MiB went into a peer that never reads");
                let send = ws.send(Message::Binary(chunk.clone()));
                match tokio::time::timeout(Duration::from_millis(500), send).await {
                    Ok(result) => {
                        result.unwrap();
                        sent += 1;
                    }
                    Err(_) => break,
                }
            }
            // The send waits with its output queued; it goes out once the peer reads.
            assert!(ws.buffered_amount() > 0);
            done_tx.send(()).unwrap();
            ws.flush().await.unwrap();
            ws.close(CloseCode::from(4000), "bye").await.unwrap();
            loop {
                match ws.read().await {
                    Ok(_) => {}
                    Err(Error::Closed) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            sent
        });
        assert_eq!(server.join().unwrap(), sent + 1);
    });
}

#[test]
fn handshake_timeouts_bound_a_silent_peer() {
    within_limit(|| {
        // A server that accepts TCP and never speaks: the client's TLS handshake times out.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("wss://127.0.0.1:{port}/");
        let options = trusting().handshake_timeout(Some(Duration::from_millis(200)));
        for driver in [Driver::Blocking, Driver::Tokio] {
            let started = Instant::now();
            let e = connect_error(driver, &url, &options);
            assert!(
                matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut),
                "{driver:?}: {e:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(10));
        }
        drop(listener);

        // A client that connects TCP and never speaks: the acceptor's handshake times out.
        let acceptor = acceptor().handshake_timeout(Some(Duration::from_millis(200)));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _silent = TcpStream::connect(addr).unwrap();
        let (tcp, _) = listener.accept().unwrap();
        let e = acceptor.accept_blocking(tcp).map(|_| ()).unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut),
            "{e:?}"
        );
        let _silent2 = TcpStream::connect(addr).unwrap();
        let (tcp, _) = listener.accept().unwrap();
        let e = runtime().block_on(async {
            let tcp = {
                tcp.set_nonblocking(true).unwrap();
                tokio::net::TcpStream::from_std(tcp).unwrap()
            };
            acceptor.accept(tcp).await.map(|_| ()).unwrap_err()
        });
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut),
            "{e:?}"
        );
    });
}

#[test]
fn tokio_split_halves_over_tls() {
    within_limit(|| {
        let (addr, server) = spawn_server(Driver::Tokio, acceptor(), 1);
        let url = format!("wss://localhost:{}/", addr.port());
        runtime().block_on(async {
            let (ws, _) = WebSocketStream::connect_with_options(&url, &trusting())
                .await
                .unwrap();
            let (mut reader, mut writer) = ws.split();
            const N: usize = 200;
            let writing = tokio::spawn(async move {
                for i in 0..N {
                    writer
                        .send(Message::Binary(Bytes::from(pattern(
                            i as u32,
                            1000 + i * 37,
                        ))))
                        .await
                        .unwrap();
                }
                writer
            });
            for i in 0..N {
                match reader.read().await.unwrap() {
                    Message::Binary(data) => assert!(data == pattern(i as u32, 1000 + i * 37)),
                    other => panic!("{other:?}"),
                }
            }
            let mut writer = writing.await.unwrap();
            writer
                .close(CloseCode::from(4002), "split bye")
                .await
                .unwrap();
            assert!(matches!(
                reader.read().await.unwrap(),
                Message::Close(Some(_))
            ));
            assert!(matches!(reader.read().await, Err(Error::Closed)));
            let ws = reader.reunite(writer).unwrap();
            let (mut stream, _) = ws.into_parts();
            assert!(matches!(stream.read(&mut [0u8; 16]).await, Ok(0)));
        });
        let log = server.join().unwrap().pop().unwrap().unwrap();
        assert_eq!(log.close, Some((4002, "split bye".to_owned())));
        assert!(log.close_notify);
    });
}

#[test]
fn a_corrupt_record_mid_connection_is_a_tls_error() {
    within_limit(|| {
        for driver in [Driver::Blocking, Driver::Tokio] {
            let (port, server) = spawn_blocking_server(|mut ws| {
                assert_eq!(ws.read().unwrap(), Message::text("go"));
                ws.send(Message::text("before")).unwrap();
                // Only once "before" has been read (rustls reports a bad record even when
                // plaintext before it is still buffered).
                assert_eq!(ws.read().unwrap(), Message::text("corrupt now"));
                // An application-data record that does not decrypt, written under TLS.
                let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
                record.extend(pattern(9, 0x40));
                ws.get_mut().sock.write_all(&record).unwrap();
                // The client answers with an alert and closes.
                let _ = ws.read();
            });
            let url = format!("wss://localhost:{port}/");
            let e = match driver {
                Driver::Blocking => {
                    let (mut ws, _) = WebSocket::connect_with_options(&url, &trusting()).unwrap();
                    ws.send(Message::text("go")).unwrap();
                    assert_eq!(ws.read().unwrap(), Message::text("before"));
                    ws.send(Message::text("corrupt now")).unwrap();
                    ws.read().unwrap_err()
                }
                Driver::Tokio => runtime().block_on(async {
                    let (mut ws, _) = WebSocketStream::connect_with_options(&url, &trusting())
                        .await
                        .unwrap();
                    ws.send(Message::text("go")).await.unwrap();
                    assert_eq!(ws.read().await.unwrap(), Message::text("before"));
                    ws.send(Message::text("corrupt now")).await.unwrap();
                    ws.read().await.unwrap_err()
                }),
            };
            assert!(matches!(e, Error::Tls(_)), "{driver:?}: {e:?}");
            server.join().unwrap();
        }
    });
}

#[test]
fn acceptor_reads_pem_files() {
    let dir = std::env::temp_dir().join(format!("wsproto-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &pki().localhost.cert_pem).unwrap();
    std::fs::write(&key, &pki().localhost.key_pem).unwrap();
    let acceptor = TlsAcceptor::from_pem_files(&cert, &key).unwrap();
    assert_eq!(acceptor.config().alpn_protocols, [b"http/1.1".to_vec()]);
    // A missing file is an I/O error; a file without a key is a configuration error.
    assert!(matches!(
        TlsAcceptor::from_pem_files(dir.join("missing.pem"), &key),
        Err(Error::Io(_))
    ));
    assert!(matches!(
        TlsAcceptor::from_pem_files(&cert, &cert),
        Err(Error::Tls(TlsError::InvalidConfig(_)))
    ));
    let _ = std::fs::remove_dir_all(&dir);
    within_limit(move || {
        let (addr, server) = spawn_server(Driver::Blocking, acceptor, 1);
        let url = format!("wss://localhost:{}/", addr.port());
        assert!(client_blocking(&url, false, Closer::Client));
        server.join().unwrap().pop().unwrap().unwrap();
    });
}

#[test]
fn default_client_config_has_roots_and_alpn() {
    let config = wsproto::driver::tls::default_client_config().unwrap();
    assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    // Shared, not rebuilt per call.
    assert!(Arc::ptr_eq(
        &config,
        &wsproto::driver::tls::default_client_config().unwrap()
    ));
}
