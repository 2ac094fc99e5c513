//! `differential`: the same client byte stream decoded by `wsproto` (server role) and by
//! `tungstenite` (`WebSocket::from_raw_socket`, role server, same limits, over an in-memory
//! stream) must give the same messages, and both must reject it if either does.
//!
//! Input layout: `[flags] [splits] [n split sizes...] [body...]`
//! - `flags`: bit 0 the body is a structured list of frames (decoded with `arbitrary`, mostly
//!   well-formed and masked) rather than raw wire bytes; bit 1 `wsproto` streams messages;
//!   bits 2-4 and 5-7 pick `max_frame_size` and `max_message_size` (all ≥ 125: tungstenite applies
//!   the frame limit to control frames too).
//! - `splits`: bits 0-2 how many size bytes follow (both decoders get the same chunks).
//!
//! The bytes are compared in two phases. First the longest prefix made of complete frames (cut
//! by an independent header parser): both decoders have seen every frame whole, so checks that
//! `wsproto` makes earlier (at the header, or on part of a payload) cannot make a difference.
//! Then the incomplete frame that may follow: `wsproto` may reject it early where
//! `tungstenite` waits for the whole frame, so only one way is required: if `tungstenite`
//! rejects it, so does `wsproto`; neither may deliver a message from it.
//!
//! Intentional differences (normalized before comparing):
//! - A close frame whose code may not be sent (RFC 6455 §7.4): `wsproto` fails the connection
//!   with 1002 (`ProtocolError::InvalidCloseCode`); `tungstenite` delivers a close with its code
//!   replaced by 1002 "Protocol violation" and replies with that. Both end the connection with
//!   1002; counted as the same outcome.
//! - Close code 1014 (Bad Gateway, registered with IANA after RFC 6455): `wsproto` accepts it,
//!   `tungstenite` treats it like an invalid code (above). Counted as the same outcome.
//! - Fail-fast UTF-8 and early limit checks: `wsproto` rejects invalid UTF-8 as soon as the bad
//!   byte arrives and a too-large message at the frame header; `tungstenite` when the frame is
//!   complete. Handled by the two phases.
//! - What the error is called and which violation is reported first when a frame has several:
//!   not compared, only that both reject.

use std::io::{self, Read, Write};

use arbitrary::{Arbitrary, Unstructured};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use wsproto::{Config, Connection, Role};

use super::wire::{
    FuzzFrame, Norm, Normalizer, chunks, complete_frames_prefix, drain_events, encode_frame,
};

/// What tungstenite substitutes for a close code it does not accept.
const SUBSTITUTE: (u16, &[u8]) = (1002, b"Protocol violation");

const FRAME_LIMITS: [usize; 8] = [16 << 20, 125, 126, 200, 1000, 4096, 65536, 1 << 20];
const MESSAGE_LIMITS: [usize; 8] = [64 << 20, 125, 126, 300, 1000, 4096, 65536, 1 << 20];

/// An in-memory transport: reads what was pushed, then `WouldBlock`; writes go nowhere.
#[derive(Debug, Default)]
struct Pipe {
    input: Vec<u8>,
    pos: usize,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.input.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a decoder's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Waiting for more bytes.
    Waiting,
    /// A close frame was delivered.
    Closed,
    /// The input was rejected (with the decoder's description).
    Rejected(String),
    /// `wsproto` only: a close frame with a code that may not be sent.
    InvalidCloseCode,
}

/// Checks the two decoders agree, allowing for the documented differences.
fn agree(ours: &Ours, theirs: &Theirs) {
    let (ours_events, theirs_events) = (&ours.norm.events, &theirs.events);
    match (&ours.end, &theirs.end) {
        (End::InvalidCloseCode, End::Closed) => {
            // tungstenite delivers the close with 1002 substituted (when its reason is UTF-8).
            let (last, before) = theirs_events.split_last().expect("closed without a close");
            assert_eq!(
                *last,
                substitute(),
                "wsproto rejects a close code tungstenite accepts"
            );
            assert_eq!(
                ours_events[..],
                before[..],
                "the decoders deliver different messages"
            );
        }
        (End::InvalidCloseCode, End::Rejected(_)) => {
            // tungstenite checks the reason first (invalid UTF-8).
            assert_eq!(
                ours_events, theirs_events,
                "the decoders deliver different messages"
            );
        }
        (a, b) => {
            assert_eq!(
                ours_events, theirs_events,
                "the decoders deliver different messages"
            );
            assert_eq!(
                core::mem::discriminant(a),
                core::mem::discriminant(b),
                "wsproto ends with {a:?}, tungstenite with {b:?}"
            );
        }
    }
}

struct Ours {
    conn: Connection,
    norm: Normalizer,
    end: End,
}

impl Ours {
    fn feed(&mut self, bytes: &[u8]) {
        if self.end != End::Waiting {
            return;
        }
        self.conn.receive(bytes);
        if let Some(e) = drain_events(&mut self.conn, &mut self.norm) {
            self.end = match e {
                wsproto::Error::Protocol(wsproto::ProtocolError::InvalidCloseCode(_)) => {
                    End::InvalidCloseCode
                }
                e => End::Rejected(e.to_string()),
            };
        } else if self.norm.closed {
            self.end = End::Closed;
            if let Some(Norm::Close(Some((code, _)))) = self.norm.events.last()
                && !tungstenite::protocol::frame::coding::CloseCode::from(*code).is_allowed()
            {
                *self.norm.events.last_mut().unwrap() = substitute();
            }
        }
    }
}

fn substitute() -> Norm {
    Norm::Close(Some((SUBSTITUTE.0, SUBSTITUTE.1.to_vec())))
}

struct Theirs {
    ws: WebSocket<Pipe>,
    events: Vec<Norm>,
    end: End,
}

impl Theirs {
    fn feed(&mut self, bytes: &[u8]) {
        if self.end != End::Waiting {
            return;
        }
        self.ws.get_mut().input.extend_from_slice(bytes);
        loop {
            let message = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.end = End::Rejected(e.to_string());
                    return;
                }
            };
            use tungstenite::Message as M;
            self.events.push(match message {
                M::Text(t) => Norm::Text(t.as_bytes().to_vec()),
                M::Binary(b) => Norm::Binary(b.to_vec()),
                M::Ping(p) => Norm::Ping(p.to_vec()),
                M::Pong(p) => Norm::Pong(p.to_vec()),
                M::Close(f) => {
                    self.end = End::Closed;
                    let f = f.map(|f| (u16::from(f.code), f.reason.as_bytes().to_vec()));
                    self.events.push(Norm::Close(f));
                    return;
                }
                M::Frame(_) => panic!("tungstenite returned a raw frame"),
            });
        }
    }
}

/// Runs one input (any bytes).
pub fn run(data: &[u8]) {
    let [flags, splits, rest @ ..] = data else {
        return;
    };
    let n = usize::from(splits & 7).min(rest.len());
    let sizes: Vec<usize> = rest[..n].iter().map(|&s| usize::from(s)).collect();
    let body = &rest[n..];
    let wire = if flags & 1 != 0 {
        let Ok(frames) = Vec::<FuzzFrame>::arbitrary_take_rest(Unstructured::new(body)) else {
            return;
        };
        let mut wire = Vec::new();
        for f in &frames {
            encode_frame(&f.0, &mut wire);
        }
        wire
    } else {
        body.to_vec()
    };
    let stream = flags & 2 != 0;
    let frame_limit = FRAME_LIMITS[usize::from((flags >> 2) & 7)];
    let message_limit = MESSAGE_LIMITS[usize::from((flags >> 5) & 7)];

    let config = Config::default()
        .stream_messages(stream)
        .max_frame_size(frame_limit)
        .max_message_size(message_limit);
    let mut ours = Ours {
        conn: Connection::new(Role::Server, config.clone()),
        norm: Normalizer::new(&config),
        end: End::Waiting,
    };
    let tconfig = WebSocketConfig::default()
        .max_frame_size(Some(frame_limit))
        // A streaming wsproto buffers no message, so has no message limit.
        .max_message_size(if stream { None } else { Some(message_limit) });
    let mut theirs = Theirs {
        ws: WebSocket::from_raw_socket(Pipe::default(), TRole::Server, Some(tconfig)),
        events: Vec::new(),
        end: End::Waiting,
    };

    let complete = complete_frames_prefix(&wire);
    for range in chunks(complete, &sizes) {
        ours.feed(&wire[range.clone()]);
        theirs.feed(&wire[range]);
    }
    agree(&ours, &theirs);

    // The incomplete frame at the end, if any.
    let delivered = ours.norm.events.len();
    let theirs_delivered = theirs.events.len();
    ours.feed(&wire[complete..]);
    theirs.feed(&wire[complete..]);
    assert_eq!(
        ours.norm.events.len(),
        delivered,
        "wsproto delivered an incomplete frame"
    );
    assert_eq!(
        theirs.events.len(),
        theirs_delivered,
        "tungstenite delivered an incomplete frame"
    );
    if let End::Rejected(why) = &theirs.end {
        assert!(
            matches!(ours.end, End::Rejected(_) | End::InvalidCloseCode),
            "tungstenite rejects the last, incomplete frame ({why}), wsproto does not"
        );
    }
}
