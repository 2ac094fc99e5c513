//! Helpers shared by the integration tests: frames built and decoded with the independent
//! codec in `codec.rs` (so the tests do not trust the crate's own; the conformance suite and the
//! fuzz targets use the same one), deterministic key sources, and event draining.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod codec;
pub mod pair;

use codec::LenEncoding;

use wsproto::{Config, Connection, Error, Event, Role, State};

// ----- opcodes and first bytes -----

pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;
pub const FIN: u8 = 0x80;
pub const RSV1: u8 = 0x40;
pub const RSV2: u8 = 0x20;
pub const RSV3: u8 = 0x10;

/// The mask key the tests' simulated clients use.
pub const KEY: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];

/// The mask key of the RFC 6455 §5.7 examples.
pub const RFC_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

// ----- encoding -----

/// A frame header with an explicit first byte (FIN | RSV | opcode), mask and announced length.
/// Always uses the minimal length encoding.
pub fn header(b0: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_header(b0, mask, len, LenEncoding::Minimal, &mut out);
    out
}

/// XORs `data` with `key` (RFC 6455 §5.3), byte by byte: the reference the crate is checked against.
pub fn mask_bytes(data: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = data.to_vec();
    codec::mask_reference(&mut out, key, 0);
    out
}

/// A whole frame: header plus (masked, if `mask` is set) payload.
pub fn frame(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = header(b0, mask, payload.len() as u64);
    match mask {
        Some(key) => out.extend(mask_bytes(payload, key)),
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame as the peer of `receiver` would send it: masked with [`KEY`] when the receiver is a
/// server (the peer is a client), unmasked when the receiver is a client.
pub fn frame_to(receiver: Role, b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, peer_mask(receiver), payload)
}

/// The header the peer of `receiver` would send for a payload of `len` bytes.
pub fn header_to(receiver: Role, b0: u8, len: u64) -> Vec<u8> {
    header(b0, peer_mask(receiver), len)
}

/// The mask the peer of `receiver` uses: [`KEY`] for a client peer, none for a server peer.
pub fn peer_mask(receiver: Role) -> Option<[u8; 4]> {
    match receiver {
        Role::Server => Some(KEY),
        Role::Client => None,
    }
}

/// A close frame payload: code and reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

// ----- decoding -----

/// A frame decoded from a connection's output, payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub key: Option<[u8; 4]>,
    pub payload: Vec<u8>,
}

impl WireFrame {
    /// The status code of a close frame, `None` when its payload is empty.
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, CLOSE, "not a close frame: {self:?}");
        assert_ne!(self.payload.len(), 1, "one-byte close payload");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// The reason of a close frame.
    pub fn close_reason(&self) -> &str {
        assert_eq!(self.opcode, CLOSE);
        std::str::from_utf8(self.payload.get(2..).unwrap_or(&[])).expect("UTF-8 close reason")
    }
}

/// Decodes a byte stream of complete frames; panics on anything malformed or incomplete
/// (including a length not minimally encoded, or a 64-bit one with the top bit set).
pub fn parse_frames(bytes: &[u8]) -> Vec<WireFrame> {
    codec::decode_frames(bytes)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(h, payload)| {
            assert!(h.is_minimal(), "non-minimal length {}", h.payload_len);
            assert_eq!(h.payload_len >> 63, 0, "64-bit length with the top bit set");
            WireFrame {
                fin: h.fin,
                rsv: h.rsv,
                opcode: h.opcode,
                key: h.mask,
                payload,
            }
        })
        .collect()
}

/// Checks the masking rule for frames written by `writer` (§5.1, §5.3): a client masks every
/// frame, a server none.
pub fn assert_masking(writer: Role, frames: &[WireFrame]) {
    for f in frames {
        match writer {
            Role::Client => assert!(f.key.is_some(), "client frame not masked: {f:?}"),
            Role::Server => assert!(f.key.is_none(), "server frame masked: {f:?}"),
        }
    }
}

// ----- connections -----

/// A deterministic key source: an endless stream of pseudo-random bytes from `seed`
/// (splitmix64), so tests can predict every key.
pub fn seeded_rng(seed: u64) -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut stream = KeyStream::new(seed);
    move |dest: &mut [u8]| stream.fill(dest)
}

/// The byte stream behind [`seeded_rng`], to compute the keys a connection will use.
#[derive(Debug, Clone)]
pub struct KeyStream {
    state: u64,
    block: [u8; 8],
    used: usize,
}

impl KeyStream {
    pub fn new(seed: u64) -> Self {
        KeyStream {
            state: seed,
            block: [0; 8],
            used: 8,
        }
    }

    pub fn fill(&mut self, dest: &mut [u8]) {
        for b in dest {
            if self.used == 8 {
                self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                self.block = (z ^ (z >> 31)).to_le_bytes();
                self.used = 0;
            }
            *b = self.block[self.used];
            self.used += 1;
        }
    }

    pub fn key(&mut self) -> [u8; 4] {
        let mut k = [0; 4];
        self.fill(&mut k);
        k
    }
}

/// A key source that always yields `key` (for reproducing the RFC's example bytes).
pub fn fixed_rng(key: [u8; 4]) -> impl FnMut(&mut [u8]) + Send + 'static {
    move |dest: &mut [u8]| {
        for (i, b) in dest.iter_mut().enumerate() {
            *b = key[i % 4];
        }
    }
}

/// A connection for `role` with deterministic keys.
pub fn conn(role: Role, config: Config) -> Connection {
    Connection::with_random(role, config, seeded_rng(7))
}

/// Polls until `Ok(None)` or an error; returns the events and the error, if any.
pub fn drain(c: &mut Connection) -> (Vec<Event>, Option<Error>) {
    let mut events = Vec::new();
    loop {
        match c.poll_event() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => return (events, None),
            Err(e) => return (events, Some(e)),
        }
    }
}

/// Polls until `Ok(None)`, panicking on an error.
pub fn events(c: &mut Connection) -> Vec<Event> {
    let (events, error) = drain(c);
    assert_eq!(error, None, "unexpected error after events {events:?}");
    events
}

/// Takes every waiting output byte, checking that `buffered_output` agreed.
pub fn take_output(c: &mut Connection) -> Vec<u8> {
    let expected = c.buffered_output();
    let mut out = Vec::new();
    while let Some(chunk) = c.take_output() {
        assert!(!chunk.is_empty(), "take_output returned an empty chunk");
        out.extend_from_slice(&chunk);
    }
    assert_eq!(
        out.len(),
        expected,
        "buffered_output disagrees with the output"
    );
    assert_eq!(c.buffered_output(), 0);
    out
}

/// Takes and decodes every waiting output frame, checking the masking rule for `c`'s role.
pub fn take_frames(c: &mut Connection) -> Vec<WireFrame> {
    let role = c.role();
    let frames = parse_frames(&take_output(c));
    assert_masking(role, &frames);
    frames
}

/// Feeds `input` and drains: the one-call version of the common test step.
pub fn feed(c: &mut Connection, input: &[u8]) -> (Vec<Event>, Option<Error>) {
    c.receive(input);
    drain(c)
}

/// Asserts that `c` has failed for good: closed, no events however much more is fed (even
/// valid frames), input discarded.
pub fn assert_dead(c: &mut Connection) {
    assert_eq!(c.state(), State::Closed);
    assert!(matches!(c.poll_event(), Ok(None)));
    let role = c.role();
    c.receive(&frame_to(role, FIN | TEXT, b"more"));
    c.receive(&frame_to(role, FIN | PING, b"p"));
    assert_eq!(
        c.buffered_input(),
        0,
        "input accepted after the connection failed"
    );
    assert!(matches!(c.poll_event(), Ok(None)));
    assert!(matches!(c.poll_event(), Ok(None)));
    assert_eq!(
        c.buffered_output(),
        0,
        "output produced after the connection failed"
    );
    assert_eq!(c.state(), State::Closed);
}

/// Both roles, for tests that apply to either.
pub const ROLES: [Role; 2] = [Role::Client, Role::Server];

/// Text of `n` bytes mixing ASCII and multi-byte code points (valid UTF-8 of exactly `n` bytes).
pub fn mixed_text(n: usize) -> String {
    let pieces = ["a", "é", "€", "😀", "z", "ß", "中"];
    let mut s = String::with_capacity(n);
    let mut i = 0;
    while s.len() < n {
        let p = pieces[i % pieces.len()];
        if s.len() + p.len() <= n {
            s.push_str(p);
        } else {
            s.push('x');
        }
        i += 1;
    }
    s
}

/// Binary payload of `n` bytes that is not periodic with period 4 (so masking bugs show).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 7) as u8).collect()
}
