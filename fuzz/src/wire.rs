//! Shared helpers: the test suites' one independent frame codec (`tests/common/codec.rs`,
//! included here), input splitting, and the RFC checks every received event must pass.
//!
//! Nothing here uses `wsproto`'s internals: the fuzz targets judge the crate by its public
//! behaviour against this small, obviously-correct reference code.

use arbitrary::{Arbitrary, Unstructured};
use wsproto::{CloseReply, Config, Connection, Error, Event, MessageKind, RandomSource, Role};

#[path = "../../tests/common/codec.rs"]
mod codec;
// Not every re-export is used in every build (the fuzz targets use all; the replay in
// tests/fuzz_regressions.rs without `deflate` does not).
#[allow(unused_imports)]
pub use codec::{
    LenEncoding, RawFrame, RefHeader, complete_frames_prefix, encode_frame, mask_reference,
    parse_header,
};

/// Whether a close code may be sent and received (RFC 6455 §7.4 and the IANA registry): an
/// independent copy, so a change to `CloseCode::is_sendable` is caught here.
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Decodes a whole frame stream written by [`Connection`] output, unmasking with the
/// reference; returns `(header, unmasked payload)` pairs. Panics on a truncated stream.
pub fn decode_frames(bytes: &[u8]) -> Vec<(RefHeader, Vec<u8>)> {
    codec::decode_frames(bytes).unwrap_or_else(|e| panic!("output: {e}"))
}

/// A deterministic key source: a counter mixed into a seed, so every key differs.
pub fn counter_rng(seed: u32) -> impl RandomSource + Send + 'static {
    let mut n: u32 = 0;
    move |dest: &mut [u8]| {
        for b in dest {
            n = n.wrapping_add(1);
            *b = (seed.wrapping_mul(0x9E37_79B9) ^ n.wrapping_mul(0x85EB_CA6B)).to_le_bytes()
                [(n % 4) as usize];
        }
    }
}

/// A connection with a deterministic key source (servers never draw keys).
pub fn connection(role: Role, config: Config, seed: u32) -> Connection {
    Connection::with_random(role, config, counter_rng(seed))
}

/// Cuts `len` bytes into chunks whose sizes cycle through `sizes` (a size of 0 counts as 1).
pub fn chunks(len: usize, sizes: &[usize]) -> Vec<core::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while start < len {
        let size = if sizes.is_empty() {
            len
        } else {
            sizes[i % sizes.len()].max(1)
        };
        let end = len.min(start + size);
        out.push(start..end);
        start = end;
        i += 1;
    }
    out
}

/// Feeds `data` to `conn` through `read_buf` + `commit` (possibly in several loans).
pub fn feed_via_read_buf(conn: &mut Connection, mut data: &[u8]) {
    while !data.is_empty() {
        let buf = conn.read_buf();
        assert!(buf.len() >= 16 * 1024, "read_buf lent less than 16 KiB");
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        conn.commit(n);
        data = &data[n..];
    }
}

/// A received event reduced to what must not depend on how the input was split: fragments of a
/// streamed message are joined into the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Norm {
    /// A whole text message.
    Text(Vec<u8>),
    /// A whole binary message.
    Binary(Vec<u8>),
    /// A ping.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame: code and reason.
    Close(Option<(u16, Vec<u8>)>),
}

/// Whole-message form of a message kind and its bytes.
pub fn norm_message(kind: MessageKind, data: Vec<u8>) -> Norm {
    match kind {
        MessageKind::Text => Norm::Text(data),
        MessageKind::Binary => Norm::Binary(data),
    }
}

/// Checks every event against RFC 6455 and the configuration, and joins streamed fragments.
#[derive(Debug)]
pub struct Normalizer {
    stream_messages: bool,
    max_frame_size: usize,
    max_message_size: usize,
    /// The streamed message in progress: kind and bytes so far.
    pub partial: Option<(MessageKind, Vec<u8>)>,
    /// The joined events so far.
    pub events: Vec<Norm>,
    /// A close event was seen.
    pub closed: bool,
}

impl Normalizer {
    /// A normalizer for a connection with `config`.
    pub fn new(config: &Config) -> Self {
        Normalizer {
            stream_messages: config.stream_messages,
            max_frame_size: config.max_frame_size,
            max_message_size: config.max_message_size,
            partial: None,
            events: Vec::new(),
            closed: false,
        }
    }

    /// Checks `event` and records it.
    pub fn push(&mut self, event: Event) {
        assert!(!self.closed, "event after the close event: {event:?}");
        match event {
            Event::Text(text) => {
                assert!(!self.stream_messages, "whole message in streaming mode");
                assert!(self.partial.is_none());
                assert!(
                    std::str::from_utf8(text.as_bytes()).is_ok(),
                    "text is not UTF-8"
                );
                assert!(
                    text.len() <= self.max_message_size,
                    "text over max_message_size"
                );
                self.events.push(Norm::Text(text.as_bytes().to_vec()));
            }
            Event::Binary(data) => {
                assert!(!self.stream_messages, "whole message in streaming mode");
                assert!(self.partial.is_none());
                assert!(
                    data.len() <= self.max_message_size,
                    "binary over max_message_size"
                );
                self.events.push(Norm::Binary(data.to_vec()));
            }
            Event::TextFragment { data, fin } => {
                assert!(
                    std::str::from_utf8(data.as_bytes()).is_ok(),
                    "fragment is not UTF-8"
                );
                self.fragment(MessageKind::Text, data.as_bytes(), fin);
            }
            Event::BinaryFragment { data, fin } => {
                self.fragment(MessageKind::Binary, &data, fin);
            }
            Event::Ping(p) => {
                assert!(p.len() <= 125, "ping payload over 125 bytes");
                self.events.push(Norm::Ping(p.to_vec()));
            }
            Event::Pong(p) => {
                assert!(p.len() <= 125, "pong payload over 125 bytes");
                self.events.push(Norm::Pong(p.to_vec()));
            }
            Event::Close(frame) => {
                let frame = frame.map(|f| {
                    assert!(
                        close_code_allowed(f.code.0),
                        "close code {} delivered",
                        f.code
                    );
                    assert!(f.code.is_sendable());
                    assert!(f.reason.len() <= 123, "close reason over 123 bytes");
                    assert!(std::str::from_utf8(f.reason.as_bytes()).is_ok());
                    (f.code.0, f.reason.as_bytes().to_vec())
                });
                // A message cut short by the close is abandoned.
                self.partial = None;
                self.closed = true;
                self.events.push(Norm::Close(frame));
            }
        }
    }

    fn fragment(&mut self, kind: MessageKind, data: &[u8], fin: bool) {
        assert!(
            self.stream_messages,
            "fragment event without stream_messages"
        );
        // A part is at most one frame's payload plus a code point carried over (3 bytes).
        assert!(
            data.len() <= self.max_frame_size.saturating_add(3),
            "fragment of {} bytes over max_frame_size {}",
            data.len(),
            self.max_frame_size
        );
        let (k, buf) = self.partial.get_or_insert_with(|| (kind, Vec::new()));
        assert_eq!(*k, kind, "fragment kind changed mid-message");
        buf.extend_from_slice(data);
        if fin {
            let (kind, buf) = self.partial.take().unwrap();
            if kind == MessageKind::Text {
                assert!(
                    std::str::from_utf8(&buf).is_ok(),
                    "joined text is not UTF-8"
                );
            }
            self.events.push(norm_message(kind, buf));
        }
    }
}

/// Polls `conn` until it needs more input, recording events; returns the error if it failed.
///
/// Checks that after an error nothing more is produced and the state is `Closed`.
pub fn drain_events(conn: &mut Connection, norm: &mut Normalizer) -> Option<Error> {
    // Bounded: every event consumes input, and the input is finite.
    loop {
        match conn.poll_event() {
            Ok(Some(event)) => {
                let close = matches!(event, Event::Close(_));
                norm.push(event);
                if close {
                    assert_eq!(
                        conn.state(),
                        wsproto::State::Closed,
                        "not closed after close"
                    );
                    assert_eq!(conn.poll_event(), Ok(None), "event after close");
                    assert_eq!(conn.buffered_input(), 0, "input kept after close");
                    return None;
                }
            }
            Ok(None) => return None,
            Err(e) => {
                assert_eq!(conn.state(), wsproto::State::Closed, "not closed after {e}");
                for _ in 0..3 {
                    assert_eq!(conn.poll_event(), Ok(None), "event after error {e}");
                }
                assert_eq!(conn.buffered_input(), 0, "input kept after error");
                return Some(e);
            }
        }
    }
}

/// Checks the output views agree with each other and with `buffered_output`.
pub fn check_output_views(conn: &Connection) {
    let mut slots: [&[u8]; 64] = [&[]; 64];
    let n = conn.output_chunks(&mut slots);
    let total: usize = slots[..n].iter().map(|s| s.len()).sum();
    if n < slots.len() {
        assert_eq!(
            total,
            conn.buffered_output(),
            "output_chunks disagrees with buffered_output"
        );
    }
    assert!(
        slots[..n].iter().all(|s| !s.is_empty()),
        "empty output chunk"
    );
    let first = conn.output();
    if n == 0 {
        assert!(first.is_empty());
    } else {
        assert_eq!(first, slots[0], "output() is not the first chunk");
    }
}

/// Takes every byte of output out of `conn`, via `output`/`consume_output` or `take_output`.
pub fn take_all_output(conn: &mut Connection, use_take: bool, out: &mut Vec<u8>) {
    check_output_views(conn);
    let before = out.len();
    let expected = conn.buffered_output();
    while conn.buffered_output() > 0 {
        if use_take {
            let chunk = conn
                .take_output()
                .expect("buffered output but nothing to take");
            assert!(!chunk.is_empty());
            out.extend_from_slice(&chunk);
        } else {
            let run = conn.output();
            assert!(!run.is_empty(), "buffered output but empty output()");
            let n = run.len();
            out.extend_from_slice(run);
            conn.consume_output(n);
        }
    }
    assert_eq!(out.len() - before, expected);
    assert!(conn.output().is_empty());
    assert_eq!(conn.take_output(), None);
}

/// Takes up to `max` bytes of output (a partial write), via `output` + `consume_output`.
pub fn take_some_output(conn: &mut Connection, max: usize, out: &mut Vec<u8>) {
    check_output_views(conn);
    let before = conn.buffered_output();
    let run = conn.output();
    let n = run.len().min(max);
    out.extend_from_slice(&run[..n]);
    conn.consume_output(n);
    assert_eq!(conn.buffered_output(), before - n);
}

/// A small limit for fuzzing, picked by a 3-bit selector (0 keeps `default`).
pub fn small_limit(selector: u8, default: usize) -> usize {
    [default, 0, 1, 16, 125, 126, 1000, 65536][usize::from(selector & 7)]
}

/// Builds a configuration from fuzzer-chosen bits.
pub fn config_from_bits(flags: u8, limits: u8) -> Config {
    let defaults = Config::default();
    Config::default()
        .stream_messages(flags & 1 != 0)
        .auto_pong(flags & 2 == 0)
        .close_reply(if flags & 4 != 0 {
            CloseReply::Normal
        } else {
            CloseReply::EchoCode
        })
        .max_frame_size(small_limit(limits, defaults.max_frame_size))
        .max_message_size(small_limit(limits >> 3, defaults.max_message_size))
}

/// A fuzzer-chosen frame for structured inputs: mostly well-formed, sometimes not.
#[derive(Debug, Clone)]
pub struct FuzzFrame(pub RawFrame);

impl<'a> Arbitrary<'a> for FuzzFrame {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let kind: u8 = u.arbitrary()?;
        let opcode = match kind % 16 {
            0..=2 => 0x1,                 // text
            3..=5 => 0x2,                 // binary
            6..=8 => 0x0,                 // continuation
            9 => 0x8,                     // close
            10 => 0x9,                    // ping
            11 => 0xA,                    // pong
            _ => u.int_in_range(0..=15)?, // anything, reserved included
        };
        let fin = if opcode & 8 != 0 {
            u.ratio(15, 16)?
        } else {
            u.arbitrary()?
        };
        let rsv = if u.ratio(1, 16)? {
            u.int_in_range(1..=7)?
        } else {
            0
        };
        let mask = if u.ratio(15, 16)? {
            Some(u.arbitrary()?)
        } else {
            None
        };
        let len_encoding = match u.int_in_range(0..=7)? {
            0 => LenEncoding::Force16,
            1 => LenEncoding::Force64,
            _ => LenEncoding::Minimal,
        };
        let payload = match u.int_in_range(0..=3)? {
            // Close payloads: a code (often valid) and a reason.
            _ if opcode == 0x8 && u.ratio(7, 8)? => {
                let code: u16 = if u.ratio(3, 4)? {
                    *u.choose(&[
                        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 4999,
                    ])?
                } else {
                    u.arbitrary()?
                };
                let reason: String = u.arbitrary()?;
                let mut p = code.to_be_bytes().to_vec();
                p.extend_from_slice(reason.as_bytes());
                p
            }
            0 | 1 => String::arbitrary(u)?.into_bytes(),
            2 => {
                // Valid text with one byte changed: UTF-8 errors at any position.
                let mut s = String::arbitrary(u)?.into_bytes();
                if !s.is_empty() {
                    let i = u.choose_index(s.len())?;
                    s[i] = u.arbitrary()?;
                }
                s
            }
            _ => Vec::<u8>::arbitrary(u)?,
        };
        Ok(FuzzFrame(RawFrame {
            fin,
            rsv,
            opcode,
            mask,
            len_encoding,
            payload,
        }))
    }
}
