//! Shared helpers: a byte-at-a-time reference for masking, an independent frame encoder and
//! splitter, input splitting, and the RFC checks every received event must pass.
//!
//! Nothing here uses `wsproto`'s internals: the fuzz targets judge the crate by its public
//! behaviour against this small, obviously-correct reference code.

use arbitrary::{Arbitrary, Unstructured};
use wsproto::{CloseReply, Config, Connection, Error, Event, MessageKind, RandomSource, Role};

/// The byte-at-a-time masking reference (RFC 6455 §5.3): byte `i` is XORed with
/// `key[(phase + i) % 4]`.
pub fn mask_reference(data: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[(phase + i) % 4];
    }
}

/// Whether a close code may be sent and received (RFC 6455 §7.4 and the IANA registry): an
/// independent copy, so a change to `CloseCode::is_sendable` is caught here.
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// How a frame's payload length is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenEncoding {
    /// The shortest encoding (what RFC 6455 requires of senders).
    Minimal,
    /// Always the 16-bit form (when the length fits), non-minimal for short payloads.
    Force16,
    /// Always the 64-bit form.
    Force64,
}

/// One frame to put on the wire, encoded by [`encode_frame`].
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..RSV3 as the low three bits.
    pub rsv: u8,
    /// The 4-bit opcode, reserved values included.
    pub opcode: u8,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// How to write the length.
    pub len_encoding: LenEncoding,
    /// The unmasked payload.
    pub payload: Vec<u8>,
}

/// Appends `frame` to `out`, masking its payload with the reference masking.
pub fn encode_frame(frame: &RawFrame, out: &mut Vec<u8>) {
    out.push(u8::from(frame.fin) << 7 | (frame.rsv & 7) << 4 | (frame.opcode & 0x0F));
    let mask_bit = if frame.mask.is_some() { 0x80 } else { 0 };
    let len = frame.payload.len() as u64;
    let encoding = match frame.len_encoding {
        LenEncoding::Force16 if len > 0xFFFF => LenEncoding::Force64,
        LenEncoding::Minimal if len > 0xFFFF => LenEncoding::Force64,
        LenEncoding::Minimal if len > 125 => LenEncoding::Force16,
        e => e,
    };
    match encoding {
        LenEncoding::Minimal => out.push(mask_bit | len as u8),
        LenEncoding::Force16 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        LenEncoding::Force64 => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    let start = out.len();
    if let Some(key) = frame.mask {
        out.extend_from_slice(&key);
        out.extend_from_slice(&frame.payload);
        mask_reference(&mut out[start + 4..], key, 0);
    } else {
        out.extend_from_slice(&frame.payload);
    }
}

/// A frame header parsed by the independent reference parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefHeader {
    /// FIN bit.
    pub fin: bool,
    /// RSV bits.
    pub rsv: u8,
    /// Opcode nibble.
    pub opcode: u8,
    /// Masking key.
    pub mask: Option<[u8; 4]>,
    /// Header length in bytes.
    pub header_len: usize,
    /// Payload length (as written; may be huge).
    pub payload_len: u64,
}

/// Parses the header at the start of `buf`, or `None` when `buf` holds less than a header.
pub fn parse_header(buf: &[u8]) -> Option<RefHeader> {
    let (&b0, rest) = buf.split_first()?;
    let (&b1, mut rest) = rest.split_first()?;
    let mut header_len = 2;
    let payload_len = match b1 & 0x7F {
        126 => {
            let ext = rest.get(..2)?;
            rest = &rest[2..];
            header_len += 2;
            u64::from(u16::from_be_bytes([ext[0], ext[1]]))
        }
        127 => {
            let ext = rest.get(..8)?;
            rest = &rest[8..];
            header_len += 8;
            let mut len = [0; 8];
            len.copy_from_slice(ext);
            u64::from_be_bytes(len)
        }
        n => u64::from(n),
    };
    let mask = if b1 & 0x80 != 0 {
        let key = rest.get(..4)?;
        header_len += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    Some(RefHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 7,
        opcode: b0 & 0x0F,
        mask,
        header_len,
        payload_len,
    })
}

/// Splits `bytes` into the longest prefix made of complete frames and the rest.
pub fn complete_frames_prefix(bytes: &[u8]) -> usize {
    let mut pos = 0;
    while let Some(h) = parse_header(&bytes[pos..]) {
        let Some(end) = (pos as u64)
            .checked_add(h.header_len as u64)
            .and_then(|e| e.checked_add(h.payload_len))
        else {
            break;
        };
        if end > bytes.len() as u64 {
            break;
        }
        pos = end as usize;
    }
    pos
}

/// Decodes a whole frame stream written by [`Connection`] output, unmasking with the
/// reference; returns `(header, unmasked payload)` pairs. Panics on a truncated stream.
pub fn decode_frames(mut bytes: &[u8]) -> Vec<(RefHeader, Vec<u8>)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let h = parse_header(bytes).expect("output ends inside a frame header");
        let end = h.header_len + usize::try_from(h.payload_len).expect("huge output frame");
        assert!(end <= bytes.len(), "output ends inside a frame payload");
        let mut payload = bytes[h.header_len..end].to_vec();
        if let Some(key) = h.mask {
            mask_reference(&mut payload, key, 0);
        }
        frames.push((h, payload));
        bytes = &bytes[end..];
    }
    frames
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
