//! Checks an echo server: connects, sends a fixed script, and verifies every echo.
//!
//! ```text
//! cargo run --release --all-features --example echo_client -- ws://127.0.0.1:9001
//! ```
//!
//! The script: a small text, an empty text, multi-byte UTF-8, 1 MiB of binary, 100 messages in
//! one burst, a ping (its pong must carry the same payload), and a close with code 1000 and a
//! reason (the server must answer it with 1000). Exits 0 only if everything matched.

use std::process::ExitCode;

use wsproto::driver::Error;
use wsproto::driver::blocking::{MaybeTlsStream, WebSocket};
use wsproto::{Bytes, CloseCode, Message};

fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    match run(&url) {
        Ok(()) => {
            println!("echo_client: all echoes matched");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("echo_client: FAILED: {why}");
            ExitCode::FAILURE
        }
    }
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(t) if t.len() <= 40 => format!("Text({:?})", t.as_str()),
        Message::Text(t) => format!("Text({} bytes)", t.len()),
        Message::Binary(b) => format!("Binary({} bytes)", b.len()),
        other => format!("{other:?}"),
    }
}

fn run(url: &str) -> Result<(), String> {
    let (mut ws, response) = WebSocket::connect(url).map_err(|e| format!("connect: {e}"))?;
    println!(
        "connected to {url} (extensions: {:?})",
        response
            .extensions()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );

    let binary: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let singles = [
        Message::text("hello, echo"),
        Message::text(""),
        Message::text("ünïcödé: κόσμε, 日本語, 🦀, 𝄞"),
        Message::binary(binary),
    ];
    for message in singles {
        ws.send(message.clone()).map_err(|e| format!("send: {e}"))?;
        expect(&mut ws, &message)?;
        println!("ok: {}", describe(&message));
    }

    let burst: Vec<Message> = (0..100)
        .map(|i| Message::text(format!("burst message {i}")))
        .collect();
    for message in &burst {
        ws.queue(message.clone())
            .map_err(|e| format!("queue: {e}"))?;
    }
    ws.flush().map_err(|e| format!("flush: {e}"))?;
    for message in &burst {
        expect(&mut ws, message)?;
    }
    println!("ok: 100 messages in a burst");

    let payload = Bytes::from_static(b"are you there?");
    ws.send(Message::Ping(payload.clone()))
        .map_err(|e| format!("send: {e}"))?;
    expect(&mut ws, &Message::Pong(payload))?;
    println!("ok: ping answered");

    ws.close(CloseCode::NORMAL, "script finished")
        .map_err(|e| format!("close: {e}"))?;
    match ws.read() {
        Ok(Message::Close(Some(frame))) if frame.code == CloseCode::NORMAL => {}
        Ok(other) => {
            return Err(format!(
                "expected the close reply, got {}",
                describe(&other)
            ));
        }
        Err(e) => return Err(format!("expected the close reply: {e}")),
    }
    match ws.read() {
        Err(Error::Closed) => {}
        Ok(other) => return Err(format!("message after the close: {}", describe(&other))),
        Err(e) => return Err(format!("closing: {e}")),
    }
    println!("ok: closed with 1000");
    Ok(())
}

/// Reads the next message that is not a ping (the server may ping) and compares it.
fn expect(ws: &mut WebSocket<MaybeTlsStream>, expected: &Message) -> Result<(), String> {
    loop {
        match ws.read() {
            Ok(Message::Ping(_)) => continue,
            Ok(got) if &got == expected => return Ok(()),
            Ok(got) => {
                return Err(format!(
                    "expected {}, got {}",
                    describe(expected),
                    describe(&got)
                ));
            }
            Err(e) => return Err(format!("expected {}: {e}", describe(expected))),
        }
    }
}
