//! The `tracing` feature: handshake outcomes, frames, closes, protocol errors and timeouts show
//! up as events with their fields, captured by a small hand-written subscriber.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use wsproto::handshake::{
    AcceptOptions, ClientHandshake, ClientOutcome, ClientRequest, ServerHandshake,
};
use wsproto::{CloseCode, Config, Connection};

/// One captured event: its level, its fields (the message under `message`) and the innermost
/// span it happened in.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    fields: BTreeMap<String, String>,
    span: Option<u64>,
}

impl Captured {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    fn message(&self) -> &str {
        self.get("message").unwrap_or("")
    }
}

#[derive(Default)]
struct Log {
    events: Vec<Captured>,
    spans: BTreeMap<u64, (String, BTreeMap<String, String>)>,
    stack: Vec<u64>,
}

#[derive(Clone, Default)]
struct Capture {
    log: Arc<Mutex<Log>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = BTreeMap::new();
        span.record(&mut Fields(&mut fields));
        let name = span.metadata().name().to_string();
        self.log.lock().unwrap().spans.insert(id, (name, fields));
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut log = self.log.lock().unwrap();
        if let Some((_, fields)) = log.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let mut log = self.log.lock().unwrap();
        let span = log.stack.last().copied();
        log.events.push(Captured {
            level: *event.metadata().level(),
            fields,
            span,
        });
    }

    fn enter(&self, span: &Id) {
        self.log.lock().unwrap().stack.push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let mut log = self.log.lock().unwrap();
        if let Some(i) = log.stack.iter().rposition(|&s| s == span.into_u64()) {
            log.stack.remove(i);
        }
    }
}

impl Capture {
    fn events(&self) -> Vec<Captured> {
        self.log.lock().unwrap().events.clone()
    }

    fn find(&self, message: &str) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|e| e.message() == message)
            .collect()
    }
}

/// Runs `f` with a fresh capturing subscriber on this thread.
fn capture(f: impl FnOnce()) -> Capture {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), f);
    capture
}

/// Moves every byte `from` has queued into `to`.
fn transfer(from: &mut Connection, to: &mut Connection) {
    while let Some(bytes) = from.take_output() {
        to.receive(&bytes);
    }
}

/// A handshake between two sans-IO endpoints, with the `chat` subprotocol.
fn handshake() -> (Connection, Connection) {
    let request = ClientRequest::new("example.com", "/chat")
        .unwrap()
        .protocol("chat")
        .unwrap();
    let config = Config::default().keepalive_interval(None);
    let mut client = ClientHandshake::with_config(request, config.clone());
    let mut server = ServerHandshake::with_config(config);
    server.receive(client.request_bytes()).unwrap();
    let (response, server_conn) = server
        .accept(AcceptOptions::new().subprotocol("chat"))
        .unwrap();
    let ClientOutcome::Accepted { connection, .. } = client.receive(&response).unwrap() else {
        panic!("not accepted");
    };
    (connection, server_conn)
}

#[test]
fn handshake_message_and_close_are_traced() {
    let log = capture(|| {
        let (mut client, mut server) = handshake();
        client.send_text("hello").unwrap();
        transfer(&mut client, &mut server);
        assert!(matches!(
            server.poll_event(),
            Ok(Some(wsproto::Event::Text(_)))
        ));
        client.close(CloseCode::NORMAL, "bye").unwrap();
        transfer(&mut client, &mut server);
        assert!(matches!(
            server.poll_event(),
            Ok(Some(wsproto::Event::Close(_)))
        ));
        transfer(&mut server, &mut client);
        assert!(matches!(
            client.poll_event(),
            Ok(Some(wsproto::Event::Close(_)))
        ));
    });

    // Handshake outcomes, both sides, with the subprotocol.
    let server_ok = log.find("server handshake accepted");
    assert_eq!(server_ok.len(), 1, "{:?}", log.events());
    assert_eq!(server_ok[0].level, Level::DEBUG);
    assert_eq!(server_ok[0].get("subprotocol"), Some("chat"));
    assert_eq!(server_ok[0].get("path"), Some("/chat"));
    let client_ok = log.find("client handshake accepted");
    assert_eq!(client_ok.len(), 1);
    assert_eq!(client_ok[0].get("status"), Some("101"));
    assert_eq!(client_ok[0].get("subprotocol"), Some("chat"));
    assert_eq!(client_ok[0].get("extensions"), Some(""));

    // Frames: the client sends masked, the server receives masked; the close replies unmasked.
    let sent = log.find("frame sent");
    let received = log.find("frame received");
    assert!(sent.iter().all(|e| e.level == Level::TRACE));
    let text_sent = sent
        .iter()
        .find(|e| e.get("opcode") == Some("Text"))
        .unwrap();
    assert_eq!(text_sent.get("len"), Some("5"));
    assert_eq!(text_sent.get("masked"), Some("true"));
    assert_eq!(text_sent.get("fin"), Some("true"));
    assert_eq!(text_sent.get("rsv"), Some("0"));
    let text_received = received
        .iter()
        .find(|e| e.get("opcode") == Some("Text"))
        .unwrap();
    assert_eq!(text_received.get("len"), Some("5"));
    assert_eq!(text_received.get("masked"), Some("true"));
    let closes_sent: Vec<_> = sent
        .iter()
        .filter(|e| e.get("opcode") == Some("Close"))
        .collect();
    assert_eq!(closes_sent.len(), 2);
    assert_eq!(
        closes_sent[0].get("masked"),
        Some("true"),
        "the client's close"
    );
    assert_eq!(closes_sent[0].get("len"), Some("5"), "1000 + \"bye\"");
    assert_eq!(
        closes_sent[1].get("masked"),
        Some("false"),
        "the server's reply"
    );
    assert_eq!(received.len(), 3, "text + two closes: {received:?}");

    // Closes: who started, code and reason, on both sides.
    let close_sent = log.find("close sent");
    assert_eq!(close_sent.len(), 2);
    assert_eq!(close_sent[0].get("code"), Some("1000"));
    assert_eq!(close_sent[0].get("reason"), Some("bye"));
    assert_eq!(close_sent[0].get("initiator"), Some("local"));
    assert_eq!(close_sent[1].get("code"), Some("1000"));
    assert_eq!(
        close_sent[1].get("initiator"),
        Some("peer"),
        "the server's reply"
    );
    let close_received = log.find("close received");
    assert_eq!(close_received.len(), 2);
    assert_eq!(close_received[0].get("reason"), Some("bye"));
    assert_eq!(
        close_received[0].get("initiator"),
        Some("peer"),
        "at the server"
    );
    assert_eq!(
        close_received[1].get("initiator"),
        Some("local"),
        "at the client"
    );
    assert_eq!(close_received[1].get("code"), Some("1000"));
}

#[test]
fn a_protocol_error_is_traced_with_its_close_code() {
    let log = capture(|| {
        let (_client, mut server) = handshake();
        // An unmasked text frame from the client: 1002.
        server.receive(&[0x81, 0x02, b'h', b'i']);
        assert!(server.poll_event().is_err());
    });
    let errors = log.find("protocol error");
    assert_eq!(errors.len(), 1, "{:?}", log.events());
    assert_eq!(errors[0].level, Level::DEBUG);
    assert_eq!(errors[0].get("close_code"), Some("1002"));
    assert!(errors[0].get("error").is_some());
    // The close frame that says so, started by this side.
    let close = log.find("close sent");
    assert_eq!(close[0].get("code"), Some("1002"));
    assert_eq!(close[0].get("initiator"), Some("local"));
    // The bad frame itself was seen.
    let frame = &log.find("frame received")[0];
    assert_eq!(frame.get("masked"), Some("false"));
    assert_eq!(frame.get("len"), Some("2"));
}

#[test]
fn a_keepalive_timeout_is_traced() {
    let log = capture(|| {
        let config = Config::default()
            .keepalive_interval(Some(Duration::from_secs(1)))
            .keepalive_timeout(Duration::from_secs(1));
        let mut conn = Connection::new(wsproto::Role::Server, config);
        for s in 0..10 {
            conn.handle_timeout(Duration::from_secs(s));
            while conn.take_output().is_some() {}
        }
        assert!(matches!(
            conn.poll_event(),
            Err(wsproto::Error::KeepaliveTimeout)
        ));
    });
    assert_eq!(
        log.find("keepalive timeout: no pong").len(),
        1,
        "{:?}",
        log.events()
    );
    // The keepalive ping went out as a frame.
    assert!(
        log.find("frame sent")
            .iter()
            .any(|e| e.get("opcode") == Some("Ping"))
    );
}

#[test]
fn a_close_timeout_is_traced() {
    let log = capture(|| {
        let config = Config::default()
            .keepalive_interval(None)
            .close_timeout(Some(Duration::from_secs(1)));
        let mut conn = Connection::new(wsproto::Role::Server, config);
        conn.close(CloseCode::NORMAL, "").unwrap();
        while conn.take_output().is_some() {}
        for s in 0..5 {
            conn.handle_timeout(Duration::from_secs(s));
        }
        assert!(matches!(
            conn.poll_event(),
            Err(wsproto::Error::CloseTimeout)
        ));
    });
    let timeouts = log.find("close timeout");
    assert_eq!(timeouts.len(), 1, "{:?}", log.events());
    assert_eq!(
        timeouts[0].get("unfinished"),
        Some("true"),
        "the peer never answered"
    );
}

#[test]
fn a_rejected_client_handshake_is_traced() {
    let log = capture(|| {
        let request = ClientRequest::new("example.com", "/").unwrap();
        let mut client = ClientHandshake::new(request);
        let outcome = client
            .receive(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        assert!(matches!(
            outcome,
            ClientOutcome::Rejected { status: 403, .. }
        ));
    });
    let rejected = log.find("client handshake rejected");
    assert_eq!(rejected.len(), 1, "{:?}", log.events());
    assert_eq!(rejected[0].get("status"), Some("403"));
}

#[cfg(feature = "blocking")]
#[test]
fn the_blocking_driver_runs_in_a_span_with_role_and_peer() {
    use wsproto::driver::blocking::WebSocket;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = WebSocket::accept(stream).unwrap();
        let message = ws.read().unwrap();
        ws.send(message).unwrap();
        while ws.read().is_ok() {}
    });
    let log = capture(|| {
        let (mut ws, _) = WebSocket::connect(format!("ws://127.0.0.1:{port}/")).unwrap();
        ws.send(wsproto::Message::text("echo")).unwrap();
        assert!(matches!(ws.read().unwrap(), wsproto::Message::Text(_)));
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.read().is_ok() {}
    });
    server.join().unwrap();
    let spans = log.log.lock().unwrap().spans.clone();
    let (&id, (_, fields)) = spans
        .iter()
        .find(|(_, (name, _))| name == "websocket")
        .expect("a websocket span");
    assert_eq!(fields.get("role").map(String::as_str), Some("Client"));
    assert_eq!(fields.get("peer"), Some(&format!("127.0.0.1:{port}")));
    // The handshake and the frames happened inside it.
    assert_eq!(log.find("client handshake accepted")[0].span, Some(id));
    let text = log.find("frame sent");
    assert!(
        text.iter()
            .any(|e| e.get("opcode") == Some("Text") && e.span == Some(id))
    );
    assert!(
        log.find("close received")
            .iter()
            .all(|e| e.span == Some(id))
    );
}

#[cfg(feature = "tokio")]
/// Client side of an echo exchange over the tokio driver: sends `text`, expects a text echo,
/// closes with 1000 and reads until the end.
async fn echo_then_close<S>(mut ws: wsproto::driver::tokio::WebSocketStream<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    ws.send(wsproto::Message::text(text)).await.unwrap();
    assert!(matches!(
        ws.next().await,
        Some(Ok(wsproto::Message::Text(_)))
    ));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
}

#[test]
fn the_tokio_driver_runs_each_connection_in_its_span() {
    use futures_util::StreamExt;
    use wsproto::driver::tokio::WebSocketStream;
    let log = capture(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut ws = WebSocketStream::accept(stream).await.unwrap();
                while let Some(Ok(message)) = ws.next().await {
                    if matches!(message, wsproto::Message::Close(_)) {
                        break;
                    }
                    ws.send(message).await.unwrap();
                }
            });
            let url = format!("ws://127.0.0.1:{port}/");
            let (ws, _) = WebSocketStream::connect(url.as_str()).await.unwrap();
            echo_then_close(ws, "echo").await;
            server.await.unwrap();
        })
    });
    let spans = log.log.lock().unwrap().spans.clone();
    let span_of = |role: &str| {
        spans
            .iter()
            .find(|(_, (name, f))| {
                name == "websocket" && f.get("role").map(String::as_str) == Some(role)
            })
            .map(|(&id, (_, f))| (id, f.clone()))
            .unwrap_or_else(|| panic!("no {role} span: {spans:?}"))
    };
    let (client, client_fields) = span_of("Client");
    let (server, _) = span_of("Server");
    assert!(
        client_fields
            .get("peer")
            .is_some_and(|p| p.starts_with("127.0.0.1:"))
    );
    assert_eq!(log.find("client handshake accepted")[0].span, Some(client));
    assert_eq!(log.find("server handshake accepted")[0].span, Some(server));
    let texts: Vec<_> = log
        .find("frame sent")
        .into_iter()
        .filter(|e| e.get("opcode") == Some("Text"))
        .collect();
    assert_eq!(texts.len(), 2, "the message and its echo");
    assert!(
        texts
            .iter()
            .any(|e| e.span == Some(client) && e.get("masked") == Some("true"))
    );
    assert!(
        texts
            .iter()
            .any(|e| e.span == Some(server) && e.get("masked") == Some("false"))
    );
}

/// The axum extractor (and under it hyper's upgrade): the accepted handshake is traced with its
/// subprotocol, over HTTP/1.1 and over HTTP/2 (RFC 8441), and a request that is not a WebSocket
/// upgrade is traced as rejected with its status; the upgraded server socket runs in a span.
#[cfg(all(feature = "axum", feature = "h2"))]
#[test]
fn the_axum_upgrade_path_traces_handshake_outcomes() {
    use axum::Router;
    use axum::routing::any;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wsproto::driver::axum::WebSocketUpgrade;
    use wsproto::driver::tokio::WebSocketStream;

    let log = capture(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let app = Router::new().route(
                "/echo",
                any(|upgrade: WebSocketUpgrade| async move {
                    upgrade
                        .protocols(["chat"])
                        .on_upgrade(|mut socket| async move {
                            while let Ok(message) = socket.read().await {
                                if matches!(message, wsproto::Message::Text(_)) {
                                    let _ = socket.send(message).await;
                                }
                            }
                        })
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let service = TowerToHyperService::new(app.clone());
                    tokio::spawn(async move {
                        let mut builder = auto::Builder::new(TokioExecutor::new());
                        builder.http2().enable_connect_protocol();
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            let request = || {
                ClientRequest::from_url(&format!("ws://{addr}/echo"))
                    .unwrap()
                    .protocols(["chat"])
                    .unwrap()
            };
            // HTTP/1.1.
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (ws, _) = WebSocketStream::client(tcp, request()).await.unwrap();
            echo_then_close(ws, "over h1").await;
            // HTTP/2 extended CONNECT.
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let options = wsproto::driver::Options::default();
            let (ws, _) = wsproto::driver::h2::client_with_options(tcp, request(), false, &options)
                .await
                .unwrap();
            echo_then_close(ws, "over h2").await;
            // A plain GET: not an upgrade.
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            tcp.read_to_end(&mut answer).await.unwrap();
            assert!(
                answer.starts_with(b"HTTP/1.1 4"),
                "{}",
                String::from_utf8_lossy(&answer)
            );
        })
    });

    let accepted = log.find("server handshake accepted");
    assert_eq!(accepted.len(), 2, "{:?}", log.events());
    assert!(accepted.iter().all(|e| e.get("subprotocol") == Some("chat")
        && e.get("path") == Some("/echo")
        && e.level == Level::DEBUG));
    let mut over_h2: Vec<_> = accepted
        .iter()
        .map(|e| e.get("http2").unwrap_or("?"))
        .collect();
    over_h2.sort();
    assert_eq!(over_h2, ["false", "true"]);
    let rejected = log.find("server handshake rejected");
    assert_eq!(rejected.len(), 1, "{:?}", log.events());
    let status = rejected[0].get("status").unwrap();
    assert!(status.starts_with('4'), "{status}");
    // The upgraded server sockets run in server spans: each echo frame was sent inside one.
    let spans = log.log.lock().unwrap().spans.clone();
    let server_echoes = log
        .find("frame sent")
        .into_iter()
        .filter(|e| e.get("opcode") == Some("Text") && e.get("masked") == Some("false"))
        .filter(|e| {
            e.span.and_then(|s| spans.get(&s)).is_some_and(|(name, f)| {
                name == "websocket" && f.get("role").map(String::as_str) == Some("Server")
            })
        })
        .count();
    assert_eq!(server_echoes, 2);
}
