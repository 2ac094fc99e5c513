//! tokio-tungstenite as a peer, client and server, in the test process (see
//! `tests/interop_peers.rs` and `README.md` beside this file for the scenarios).
//!
//! tungstenite has no permessage-deflate: as a client it offers nothing (the deflate rows are not
//! applicable), as a server it declines our offer. It sends raw frames through
//! `Message::Frame`, which is how it splits a code point across fragments and breaks the
//! protocol on purpose.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use super::{
    CLIENT_CLOSE, CLIENT_SCENARIOS, CLOSE_WITHIN, EXPECTED_PROTOCOL, FRAGMENTED, FRAGMENTS, PING,
    PROTOCOLS, Report, SERVER_CLOSE, SUPPORTED, UTF8, WAIT, check, pattern,
};

type Ws = WebSocketStream<TcpStream>;

fn text(s: &str) -> Message {
    Message::text(s)
}

fn describe(m: &Message) -> String {
    match m {
        Message::Text(t) if t.len() > 40 => format!("Text({} bytes)", t.len()),
        Message::Binary(b) if b.len() > 40 => format!("Binary({} bytes)", b.len()),
        other => format!("{other:?}"),
    }
}

fn frame(payload: &[u8], opcode: Data, fin: bool) -> Message {
    Message::Frame(Frame::message(payload.to_vec(), OpCode::Data(opcode), fin))
}

async fn connect(url: &str) -> Result<(Ws, Option<String>), String> {
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| format!("not a ws:// URL: {url}"))?
        .to_string();
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        PROTOCOLS.join(", ").parse().expect("a valid value"),
    );
    let connected = timeout(WAIT, async {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|e| format!("handshake: {e}"))
    })
    .await
    .map_err(|_| "handshake timed out".to_string())??;
    let (ws, response) = connected;
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    Ok((ws, protocol))
}

async fn next(ws: &mut Ws) -> Result<Option<Message>, String> {
    match timeout(WAIT, ws.next()).await {
        Err(_) => Err("timed out waiting".into()),
        Ok(None) => Ok(None),
        Ok(Some(Ok(m))) => Ok(Some(m)),
        Ok(Some(Err(e))) => Err(e.to_string()),
    }
}

async fn next_data(ws: &mut Ws) -> Result<Message, String> {
    loop {
        match next(ws).await? {
            Some(m @ (Message::Text(_) | Message::Binary(_))) => return Ok(m),
            Some(Message::Close(f)) => return Err(format!("closed by the peer: {f:?}")),
            Some(_) => {}
            None => return Err("the connection ended".into()),
        }
    }
}

async fn send(ws: &mut Ws, m: Message) -> Result<(), String> {
    timeout(WAIT, ws.send(m))
        .await
        .map_err(|_| "send timed out".to_string())?
        .map_err(|e| e.to_string())
}

async fn expect_echo(ws: &mut Ws, m: Message) -> Result<(), String> {
    send(ws, m.clone()).await?;
    let got = next_data(ws).await?;
    if got == m {
        Ok(())
    } else {
        Err(format!(
            "echo: got {}, want {}",
            describe(&got),
            describe(&m)
        ))
    }
}

/// Closes (1000) and waits for the end of the stream.
async fn close_normally(mut ws: Ws) -> Result<(), String> {
    ws.close(None).await.map_err(|e| e.to_string())?;
    drain(&mut ws, Duration::from_secs(5)).await.map(|_| ())
}

/// Reads to the end of the stream within `limit`; returns the close frame seen, if any.
async fn drain(ws: &mut Ws, limit: Duration) -> Result<Option<CloseFrame>, String> {
    let deadline = Instant::now() + limit;
    let mut close = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, ws.next()).await {
            Err(_) => return Err(format!("not closed after {limit:?}")),
            Ok(None) => return Ok(close),
            Ok(Some(Ok(Message::Close(f)))) => close = f,
            Ok(Some(Ok(_))) => {}
            // tungstenite reports a peer's close as the end of the stream or this error.
            Ok(Some(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed))) => {
                return Ok(close);
            }
            Ok(Some(Err(e))) => return Err(e.to_string()),
        }
    }
}

async fn client_scenario(base: &str, scenario: &str) -> Result<(), String> {
    let url = format!("{base}/{scenario}");
    match scenario {
        "handshake-subprotocol" => {
            let (ws, protocol) = connect(&url).await?;
            check("subprotocol", protocol.as_deref(), Some(EXPECTED_PROTOCOL))?;
            close_normally(ws).await
        }
        "text-small" | "text-empty" | "text-utf8" => {
            let (mut ws, _) = connect(&url).await?;
            let payload = match scenario {
                "text-small" => "hello",
                "text-empty" => "",
                _ => UTF8,
            };
            expect_echo(&mut ws, text(payload)).await?;
            close_normally(ws).await
        }
        "text-fragmented-send" => {
            let (mut ws, _) = connect(&url).await?;
            send(&mut ws, frame(FRAGMENTS[0], Data::Text, false)).await?;
            send(&mut ws, frame(FRAGMENTS[1], Data::Continue, false)).await?;
            send(&mut ws, frame(FRAGMENTS[2], Data::Continue, true)).await?;
            check("echo", next_data(&mut ws).await?, text(FRAGMENTED))?;
            close_normally(ws).await
        }
        "text-fragmented-receive" => {
            let (mut ws, _) = connect(&url).await?;
            check("message", next_data(&mut ws).await?, text(FRAGMENTED))?;
            close_normally(ws).await
        }
        "binary-1mib" | "binary-16mib" => {
            let len = if scenario == "binary-1mib" { 1 } else { 16 } << 20;
            let (mut ws, _) = connect(&url).await?;
            expect_echo(&mut ws, Message::binary(pattern(len))).await?;
            close_normally(ws).await
        }
        "burst-1000" => {
            let (mut ws, _) = connect(&url).await?;
            for i in 0..1000 {
                ws.feed(text(&format!("burst {i}")))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            ws.flush().await.map_err(|e| e.to_string())?;
            for i in 0..1000 {
                check(
                    "burst",
                    next_data(&mut ws).await?,
                    text(&format!("burst {i}")),
                )?;
            }
            close_normally(ws).await
        }
        "ping-from-client" => {
            let (mut ws, _) = connect(&url).await?;
            send(&mut ws, Message::Ping(PING.to_vec().into())).await?;
            loop {
                match next(&mut ws).await? {
                    Some(Message::Pong(p)) => {
                        check("pong payload", &p[..], &PING[..])?;
                        break;
                    }
                    Some(_) => {}
                    None => return Err("no pong".into()),
                }
            }
            close_normally(ws).await
        }
        "ping-from-server" => {
            let (mut ws, _) = connect(&url).await?;
            check("verdict", next_data(&mut ws).await?, text("pong ok"))?;
            close_normally(ws).await
        }
        "close-from-client" => {
            let (mut ws, _) = connect(&url).await?;
            let started = Instant::now();
            ws.close(Some(CloseFrame {
                code: CloseCode::from(CLIENT_CLOSE.0),
                reason: CLIENT_CLOSE.1.into(),
            }))
            .await
            .map_err(|e| e.to_string())?;
            let reply = drain(&mut ws, CLOSE_WITHIN).await?;
            check("got a close reply", reply.is_some(), true)?;
            super::within(started.elapsed())
        }
        "close-from-server" => {
            let (mut ws, _) = connect(&url).await?;
            let frame = loop {
                match next(&mut ws).await? {
                    Some(Message::Close(f)) => break f.ok_or("a close without a code")?,
                    Some(_) => {}
                    None => return Err("ended without a close frame".into()),
                }
            };
            let started = Instant::now();
            check("code", u16::from(frame.code), SERVER_CLOSE.0)?;
            check("reason", frame.reason.as_str(), SERVER_CLOSE.1)?;
            drain(&mut ws, CLOSE_WITHIN).await?;
            super::within(started.elapsed())
        }
        "violation-utf8" | "violation-opcode" => {
            let (mut ws, _) = connect(&url).await?;
            let (bad, want) = if scenario == "violation-utf8" {
                (frame(&[0xc3, 0x28], Data::Text, true), 1007)
            } else {
                (frame(b"x", Data::Reserved(3), true), 1002)
            };
            send(&mut ws, bad).await?;
            let close = drain(&mut ws, WAIT).await?;
            check(
                "close code received",
                close.map(|f| u16::from(f.code)),
                Some(want),
            )
        }
        other => Err(format!("unknown scenario {other}")),
    }
}

/// tokio-tungstenite's client against our server at `base`, then against the examples.
pub async fn client_scenarios(report: &Report, base: &str, examples: &[(String, String)]) {
    let prefix = "tokio-tungstenite client -> wsproto server: ";
    for scenario in CLIENT_SCENARIOS {
        let name = format!("{prefix}{scenario}");
        match *scenario {
            "deflate" => report.not_applicable(&name, "tungstenite has no permessage-deflate"),
            "deflate-declined" => report.not_applicable(&name, "tungstenite offers no extension"),
            _ => report.record(&name, super::bounded(client_scenario(base, scenario)).await),
        }
    }
    for (name, url) in examples {
        let result = super::bounded(async {
            let (mut ws, protocol) = connect(url).await?;
            // An echo example selects the client's first choice.
            check("subprotocol", protocol.as_deref(), Some(PROTOCOLS[0]))?;
            expect_echo(&mut ws, text("hello ✓")).await?;
            close_normally(ws).await
        })
        .await;
        report.record(&format!("{prefix}{name}"), result);
    }
}

/// Starts tokio-tungstenite's scenario server; returns its `ws://` base URL. Its own checks go to
/// `report` as `wsproto client -> tokio-tungstenite server: {scenario} [tokio-tungstenite
/// server saw]`.
pub async fn start_server(report: Arc<Report>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let report = report.clone();
            tokio::spawn(async move {
                let _ = timeout(Duration::from_secs(120), serve(stream, report)).await;
            });
        }
    });
    base
}

async fn serve(stream: TcpStream, report: Arc<Report>) {
    let _ = stream.set_nodelay(true);
    let mut path = String::new();
    // The closure's type is tungstenite's callback signature (a large `Err`, as it defines it).
    #[allow(clippy::result_large_err)]
    let select = |request: &Request, mut response: Response| {
        path = request.uri().path().to_string();
        let offered: Vec<String> = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
            .collect();
        if let Some(p) = SUPPORTED.iter().find(|s| offered.iter().any(|o| o == *s)) {
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().expect("a token"));
        }
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, select).await else {
        return;
    };
    let scenario = path.rsplit('/').next().unwrap_or_default().to_string();
    let row = format!(
        "wsproto client -> tokio-tungstenite server: {scenario} [tokio-tungstenite server saw]"
    );
    match scenario.as_str() {
        "text-fragmented-receive" => {
            let _ = ws.feed(frame(FRAGMENTS[0], Data::Text, false)).await;
            let _ = ws.feed(frame(FRAGMENTS[1], Data::Continue, false)).await;
            let _ = ws.send(frame(FRAGMENTS[2], Data::Continue, true)).await;
        }
        "ping-from-server" => {
            let verdict = async {
                send(&mut ws, Message::Ping(PING.to_vec().into())).await?;
                loop {
                    match next(&mut ws).await? {
                        Some(Message::Pong(p)) if p[..] == PING => return Ok("pong ok".into()),
                        Some(Message::Pong(p)) => return Ok(format!("pong bad: {p:?}")),
                        Some(_) => {}
                        None => return Err("no pong".to_string()),
                    }
                }
            }
            .await
            .unwrap_or_else(|e: String| e);
            let _ = ws.send(Message::text(verdict)).await;
        }
        "close-from-server" => {
            let started = Instant::now();
            let result = async {
                ws.close(Some(CloseFrame {
                    code: CloseCode::from(SERVER_CLOSE.0),
                    reason: SERVER_CLOSE.1.into(),
                }))
                .await
                .map_err(|e| e.to_string())?;
                let reply = drain(&mut ws, CLOSE_WITHIN).await?;
                check("got a close reply", reply.is_some(), true)?;
                super::within(started.elapsed())
            }
            .await;
            return report.record(&row, result);
        }
        "violation-utf8" | "violation-opcode" => {
            let (bad, want) = if scenario == "violation-utf8" {
                (frame(&[0xc3, 0x28], Data::Text, true), 1007)
            } else {
                (frame(b"x", Data::Reserved(3), true), 1002)
            };
            let result = async {
                send(&mut ws, bad).await?;
                let close = drain(&mut ws, WAIT).await?;
                check("close code", close.map(|f| u16::from(f.code)), Some(want))
            }
            .await;
            return report.record(&row, result);
        }
        _ => {}
    }
    // Echo until the peer closes.
    loop {
        match next(&mut ws).await {
            Ok(Some(m @ (Message::Text(_) | Message::Binary(_)))) => {
                if ws.send(m).await.is_err() {
                    return;
                }
            }
            Ok(Some(Message::Close(f))) => {
                if scenario == "close-from-client" {
                    let result = match f {
                        Some(f) => check("code", u16::from(f.code), CLIENT_CLOSE.0).and(check(
                            "reason",
                            f.reason.as_str(),
                            CLIENT_CLOSE.1,
                        )),
                        None => Err("a close without a code".into()),
                    };
                    report.record(&row, result);
                }
                let _ = drain(&mut ws, CLOSE_WITHIN).await;
                return;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
}
