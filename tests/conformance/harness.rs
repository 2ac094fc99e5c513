//! The shared machinery: a frame builder for exact input bytes, a decoder for the endpoint's
//! output, the echo endpoint, and the runner that plays a table of cases through it under many
//! deliveries (as written, whole, byte by byte, fixed and pseudo-random chops) for both roles.
//!
//! ## What a case asserts
//! A [`Case`] lists its input as [`In`] items. Each item becomes one or more `receive` calls
//! ("chunks", numbered from 0 across the whole case): `Frames` and `Raw` are one chunk each,
//! `Split(frame, cuts)` is `cuts.len() + 1` chunks, `Chopped(frames, n)` is one chunk per `n` bytes.
//! After every chunk the endpoint drains `poll_event` until `None` (echoing text and binary
//! messages) and hands over its output. The case states:
//! - `output`: every frame the endpoint writes, in order, decoded (a client's output is unmasked
//!   with the key it carries; a server's must not be masked);
//! - `fail`: whether `poll_event` returns a protocol error, which one, and after which chunk.
//!
//! ## What the runner adds for every case
//! - The same output and error for every delivery of the same bytes.
//! - Timing: in a byte-by-byte run each output frame and the error appear after some exact byte;
//!   in every other delivery they must appear after the chunk that holds that byte (no later:
//!   nothing waits for bytes it does not need; no earlier: nothing is decided before its byte).
//! - After the error nothing more is written and `poll_event` keeps returning `Ok(None)`.
//! - The final state: `Closed` after an error or a close reply, `Open` otherwise.

use std::fmt;

use crate::codec::{self, LenEncoding};
use wsproto::{Config, Connection, Error, Event, Message, ProtocolError, Role, State};

pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

// ---------------------------------------------------------------------------------------------
// Input: frames built bit by bit
// ---------------------------------------------------------------------------------------------

/// How an input frame's MASK bit is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    /// As the RFC asks of the peer: masked toward a server endpoint, unmasked toward a client.
    Peer,
    /// Masked whatever the endpoint's role (a violation toward a client).
    On,
    /// Unmasked whatever the endpoint's role (a violation toward a server).
    Off,
}

/// A frame to send, every header field explicit.
#[derive(Clone, Debug)]
pub struct F {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Mask,
    pub payload: Vec<u8>,
}

impl F {
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> F {
        F {
            fin: true,
            rsv: 0,
            opcode,
            mask: Mask::Peer,
            payload: payload.into(),
        }
    }

    /// Sets FIN.
    pub fn fin(mut self, fin: bool) -> F {
        self.fin = fin;
        self
    }

    /// Sets RSV1..RSV3 (RSV1 = 0b100).
    pub fn rsv(mut self, rsv: u8) -> F {
        self.rsv = rsv;
        self
    }

    /// Overrides the MASK bit.
    pub fn mask(mut self, mask: Mask) -> F {
        self.mask = mask;
        self
    }

    /// The frame's bytes as the peer of an endpoint in `endpoint` role writes them, masked with
    /// `key` when masked; also returns the header length.
    pub fn encode(&self, endpoint: Role, key: [u8; 4]) -> (Vec<u8>, usize) {
        let mut out = self.header(endpoint, key, self.payload.len() as u64);
        let header_len = out.len();
        out.extend_from_slice(&self.payload);
        if self.masked(endpoint) {
            codec::mask_reference(&mut out[header_len..], key, 0);
        }
        (out, header_len)
    }

    fn masked(&self, endpoint: Role) -> bool {
        match self.mask {
            Mask::Peer => endpoint == Role::Server,
            Mask::On => true,
            Mask::Off => false,
        }
    }

    /// Just the header, announcing a payload of `len` bytes (the shortest length encoding).
    pub fn header(&self, endpoint: Role, key: [u8; 4], len: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let b0 = codec::first_byte(self.fin, self.rsv, self.opcode);
        let mask = self.masked(endpoint).then_some(key);
        codec::encode_header(b0, mask, len, LenEncoding::Minimal, &mut out);
        out
    }

    /// The header length this frame has toward an endpoint in `endpoint` role.
    pub fn header_len(&self, endpoint: Role) -> usize {
        self.encode(endpoint, [0; 4]).1
    }
}

pub fn text(payload: impl AsRef<[u8]>) -> F {
    F::new(TEXT, payload.as_ref())
}
pub fn binary(payload: impl AsRef<[u8]>) -> F {
    F::new(BINARY, payload.as_ref())
}
pub fn cont(payload: impl AsRef<[u8]>) -> F {
    F::new(CONT, payload.as_ref())
}
pub fn ping(payload: impl AsRef<[u8]>) -> F {
    F::new(PING, payload.as_ref())
}
pub fn pong(payload: impl AsRef<[u8]>) -> F {
    F::new(PONG, payload.as_ref())
}
/// A close frame with a status code and a reason (any bytes).
pub fn close(code: u16, reason: impl AsRef<[u8]>) -> F {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_ref());
    F::new(CLOSE, payload)
}
/// A close frame without a payload.
pub fn close_empty() -> F {
    F::new(CLOSE, [])
}
/// A frame with any opcode (reserved ones included).
pub fn op(opcode: u8, payload: impl AsRef<[u8]>) -> F {
    F::new(opcode, payload.as_ref())
}

/// One or more `receive` calls.
#[derive(Clone, Debug)]
pub enum In {
    /// These frames written together: one chunk.
    Frames(Vec<F>),
    /// One frame cut at these payload offsets (0 cuts right after the header): one chunk more
    /// than cuts.
    Split(F, Vec<usize>),
    /// These frames written together and delivered in chops of this many bytes.
    Chopped(Vec<F>, usize),
    /// Exact bytes, whatever the role: one chunk.
    Raw(Vec<u8>),
    /// A frame that announces `len` payload bytes but sends only its own payload (shorter):
    /// the rest never arrives. One chunk.
    Header(F, u64),
    /// The transport's end of input (`receive_eof`), after every byte: the last item, one chunk
    /// of its own in every delivery.
    Eof,
}

impl From<F> for In {
    fn from(f: F) -> In {
        In::Frames(vec![f])
    }
}

/// Several frames in one chunk.
pub fn together(frames: impl IntoIterator<Item = F>) -> In {
    In::Frames(frames.into_iter().collect())
}

/// A frame cut at payload offsets.
pub fn split(frame: F, cuts: impl IntoIterator<Item = usize>) -> In {
    In::Split(frame, cuts.into_iter().collect())
}

/// Frames delivered in chops of `size` bytes.
pub fn chopped(frames: impl IntoIterator<Item = F>, size: usize) -> In {
    In::Chopped(frames.into_iter().collect(), size)
}

/// A list of [`In`] items from frames or items.
macro_rules! input {
    ($($item:expr),* $(,)?) => { vec![$(crate::harness::In::from($item)),*] };
}

/// `n` bytes of printable ASCII that vary along the payload (so a masking slip shows).
pub fn ascii(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b'!' + ((i * 7 + i / 94) % 94) as u8)
        .collect()
}

/// `n` bytes covering every byte value.
pub fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 131 + i / 256) as u8).collect()
}

/// A deterministic, varied mask key for the `i`-th frame of a case.
fn key_for(i: usize) -> [u8; 4] {
    let k = (i as u32 + 1).wrapping_mul(0x9E37_79B9) ^ 0x37FA_213D;
    k.to_be_bytes()
}

/// The case's input as the chunks it is written in, for an endpoint in `role`, and whether the
/// input ends with [`In::Eof`].
pub fn encode_input(input: &[In], role: Role) -> (Vec<Vec<u8>>, bool) {
    let eof = matches!(input.last(), Some(In::Eof));
    let mut chunks = Vec::new();
    let mut frame_no = 0;
    let mut next_key = || {
        frame_no += 1;
        key_for(frame_no)
    };
    for item in input {
        match item {
            In::Frames(frames) => chunks.push(
                frames
                    .iter()
                    .flat_map(|f| f.encode(role, next_key()).0)
                    .collect(),
            ),
            In::Split(frame, cuts) => {
                let (bytes, header_len) = frame.encode(role, next_key());
                let mut start = 0;
                for &cut in cuts {
                    let end = (header_len + cut).min(bytes.len());
                    assert!(end >= start, "split cuts must be ascending");
                    chunks.push(bytes[start..end].to_vec());
                    start = end;
                }
                chunks.push(bytes[start..].to_vec());
            }
            In::Chopped(frames, size) => {
                let bytes: Vec<u8> = frames
                    .iter()
                    .flat_map(|f| f.encode(role, next_key()).0)
                    .collect();
                chunks.extend(bytes.chunks((*size).max(1)).map(<[u8]>::to_vec));
            }
            In::Raw(bytes) => chunks.push(bytes.clone()),
            In::Header(frame, len) => {
                let key = next_key();
                let (whole, header_len) = frame.encode(role, key);
                let mut bytes = frame.header(role, key, *len);
                bytes.extend_from_slice(&whole[header_len..]);
                chunks.push(bytes);
            }
            In::Eof => assert!(eof, "In::Eof must be the last item"),
        }
    }
    (chunks, eof)
}

// ---------------------------------------------------------------------------------------------
// Output: decoding what the endpoint wrote
// ---------------------------------------------------------------------------------------------

/// A frame the endpoint wrote, unmasked.
#[derive(Clone)]
pub struct Decoded {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
    /// The mask key it carried (a client's output); not part of equality.
    pub key: Option<[u8; 4]>,
}

impl PartialEq for Decoded {
    fn eq(&self, other: &Decoded) -> bool {
        (self.fin, self.rsv, self.opcode, &self.payload)
            == (other.fin, other.rsv, other.opcode, &other.payload)
    }
}

impl fmt::Debug for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.opcode {
            CONT => "cont",
            TEXT => "text",
            BINARY => "binary",
            CLOSE => "close",
            PING => "ping",
            PONG => "pong",
            _ => "op?",
        };
        write!(f, "{name}")?;
        if !self.fin {
            write!(f, "(fin=0)")?;
        }
        if self.rsv != 0 {
            write!(f, "(rsv={:03b})", self.rsv)?;
        }
        if self.opcode == CLOSE && self.payload.len() >= 2 {
            let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
            write!(f, "[{code}")?;
            if self.payload.len() > 2 {
                write!(f, " {:?}", String::from_utf8_lossy(&self.payload[2..]))?;
            }
            return write!(f, "]");
        }
        let p = &self.payload;
        if p.len() <= 48 {
            match std::str::from_utf8(p) {
                Ok(s) if self.opcode != BINARY => write!(f, "{s:?}"),
                _ => write!(f, "{p:02x?}"),
            }
        } else {
            let sum = p
                .iter()
                .fold(0u32, |a, &b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
            write!(f, "[{} bytes, {:02x?}.., hash {sum:08x}]", p.len(), &p[..8])
        }
    }
}

/// Decodes a run of whole frames; the MASK bit must be `masked` on every one, and lengths must
/// use the shortest encoding.
pub fn decode_frames(bytes: &[u8], masked: bool) -> Result<Vec<Decoded>, String> {
    let mut frames = Vec::new();
    for (i, (h, payload)) in codec::decode_frames(bytes)?.into_iter().enumerate() {
        if h.mask.is_some() != masked {
            return Err(format!(
                "frame {i} has MASK={} (expected {})",
                u8::from(h.mask.is_some()),
                u8::from(masked)
            ));
        }
        if !h.is_minimal() {
            return Err(format!("length {} not minimally encoded", h.payload_len));
        }
        frames.push(Decoded {
            fin: h.fin,
            rsv: h.rsv,
            opcode: h.opcode,
            payload,
            key: h.mask,
        });
    }
    Ok(frames)
}

/// An expected output frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// One FIN text frame.
    Text(Vec<u8>),
    /// One FIN binary frame.
    Binary(Vec<u8>),
    /// One pong.
    Pong(Vec<u8>),
    /// The reply to the peer's close: this code and an empty reason, or an empty close.
    Close(Option<u16>),
    /// The close that fails the connection: this code, and as reason the error's text.
    Fail(u16),
    /// Any frame, exactly.
    Frame {
        fin: bool,
        opcode: u8,
        payload: Vec<u8>,
    },
    /// This frame, written while draining after chunk `.0` of the input as written (not later:
    /// a pong must not wait for the end of the message it interrupts).
    After(usize, Box<Out>),
}

impl Out {
    pub fn text(s: impl AsRef<[u8]>) -> Out {
        Out::Text(s.as_ref().to_vec())
    }
    pub fn binary(b: impl AsRef<[u8]>) -> Out {
        Out::Binary(b.as_ref().to_vec())
    }
    pub fn pong(b: impl AsRef<[u8]>) -> Out {
        Out::Pong(b.as_ref().to_vec())
    }
    pub fn frame(fin: bool, opcode: u8, payload: impl AsRef<[u8]>) -> Out {
        Out::Frame {
            fin,
            opcode,
            payload: payload.as_ref().to_vec(),
        }
    }

    /// Must be written while draining after chunk `chunk`.
    pub fn after(self, chunk: usize) -> Out {
        Out::After(chunk, Box::new(self))
    }

    fn expected(&self, error: Option<&ProtocolError>) -> Decoded {
        let frame = |opcode, payload: &[u8]| Decoded {
            fin: true,
            rsv: 0,
            opcode,
            payload: payload.to_vec(),
            key: None,
        };
        match self {
            Out::Text(p) => frame(TEXT, p),
            Out::Binary(p) => frame(BINARY, p),
            Out::Pong(p) => frame(PONG, p),
            Out::Close(None) => frame(CLOSE, &[]),
            Out::Close(Some(code)) => frame(CLOSE, &code.to_be_bytes()),
            Out::Fail(code) => {
                let error = error.expect("Out::Fail in a case that does not fail");
                let mut reason = error.to_string();
                reason.truncate(123);
                let mut payload = code.to_be_bytes().to_vec();
                payload.extend_from_slice(reason.as_bytes());
                frame(CLOSE, &payload)
            }
            Out::Frame {
                fin,
                opcode,
                payload,
            } => Decoded {
                fin: *fin,
                rsv: 0,
                opcode: *opcode,
                payload: payload.clone(),
                key: None,
            },
            Out::After(_, out) => out.expected(error),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoint under test
// ---------------------------------------------------------------------------------------------

/// How the endpoint moves bytes in and out of its `Connection`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Io {
    /// `receive(chunk)` in, `take_output()` out.
    #[default]
    Copy,
    /// `read_buf()` + `commit(n)` in; `output()` + `consume_output(n)` out, at most this many
    /// bytes per write (a transport that takes partial writes).
    Lent(usize),
}

/// A `Connection` acting as an echo endpoint, driven in the documented call order. With
/// `Config::stream_messages` it echoes each part of a message as it arrives.
pub struct Echo {
    pub conn: Connection,
    pub io: Io,
    /// Every event returned so far.
    pub events: Vec<Event>,
    /// The error `poll_event` returned, if any.
    pub error: Option<Error>,
}

impl Echo {
    pub fn new(role: Role, config: Config) -> Echo {
        Echo {
            conn: Connection::new(role, config),
            io: Io::Copy,
            events: Vec::new(),
            error: None,
        }
    }

    /// Receives one chunk, drains the events (echoing text and binary messages), and returns
    /// the bytes written and the error returned by this drain, if any.
    pub fn feed(&mut self, chunk: &[u8]) -> (Vec<u8>, Option<Error>) {
        match self.io {
            Io::Copy => self.conn.receive(chunk),
            Io::Lent(_) => {
                // One transport read may fill more than the lent space: several commits.
                let mut rest = chunk;
                while !rest.is_empty() {
                    let buf = self.conn.read_buf();
                    assert!(buf.len() >= 16 * 1024, "read_buf lends at least 16 KiB");
                    let n = buf.len().min(rest.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    self.conn.commit(n);
                    rest = &rest[n..];
                }
            }
        }
        let mut new_error = None;
        loop {
            match self.conn.poll_event() {
                Ok(Some(event)) => {
                    assert!(
                        self.error.is_none(),
                        "event {event:?} after the error {:?}",
                        self.error
                    );
                    let whole = matches!(event, Event::Text(_) | Event::Binary(_));
                    let part = matches!(
                        event,
                        Event::TextFragment { .. } | Event::BinaryFragment { .. }
                    );
                    let streaming = self.conn.config().stream_messages;
                    assert!(
                        !(whole && streaming || part && !streaming),
                        "{event:?} with stream_messages = {streaming}"
                    );
                    match &event {
                        Event::Text(t) => self.conn.send_text(t).expect("echo text"),
                        Event::Binary(b) => self
                            .conn
                            .send(Message::Binary(b.clone()))
                            .expect("echo binary"),
                        Event::Ping(_) | Event::Pong(_) | Event::Close(_) => {}
                        // With `Config::stream_messages`, echo each part as it comes.
                        Event::TextFragment { data, fin } => self
                            .conn
                            .send_text_fragment(data, *fin)
                            .expect("echo text part"),
                        Event::BinaryFragment { data, fin } => self
                            .conn
                            .send_binary_fragment(data, *fin)
                            .expect("echo binary part"),
                    }
                    self.events.push(event);
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(self.error.is_none(), "a second error {e:?}");
                    self.error = Some(e.clone());
                    new_error = Some(e);
                }
            }
        }
        let mut out = Vec::new();
        match self.io {
            Io::Copy => {
                while let Some(bytes) = self.conn.take_output() {
                    out.extend_from_slice(&bytes);
                }
            }
            Io::Lent(max_write) => loop {
                let waiting = self.conn.buffered_output();
                let run = self.conn.output();
                if run.is_empty() {
                    assert_eq!(waiting, 0, "output() is empty while bytes wait");
                    break;
                }
                let n = run.len().min(max_write);
                out.extend_from_slice(&run[..n]);
                self.conn.consume_output(n);
                assert_eq!(self.conn.buffered_output(), waiting - n);
            },
        }
        (out, new_error)
    }
}

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

/// Whether and when the endpoint fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fail {
    /// `poll_event` never errs.
    No,
    /// `poll_event` returns this error while draining after chunk `.0` (counted from 0).
    After(usize, ProtocolError),
    /// `poll_event` returns `Error::UnexpectedEof` after the end of input, which is chunk `.0`.
    Eof(usize),
}

pub const OK: Fail = Fail::No;

/// Fails with `error` after chunk `chunk`.
pub fn after(chunk: usize, error: ProtocolError) -> Fail {
    Fail::After(chunk, error)
}

/// A table row.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub input: Vec<In>,
    pub output: Vec<Out>,
    pub fail: Fail,
}

/// What one run produced.
#[derive(Debug)]
pub struct Trace {
    /// Each frame written, with the chunk index and the number of input bytes delivered so far.
    pub frames: Vec<(usize, usize, Decoded)>,
    /// The error, with the chunk index and the number of input bytes delivered so far.
    pub error: Option<(usize, usize, Error)>,
    pub state: State,
}

/// Plays `chunks` through a fresh echo endpoint.
pub fn drive(role: Role, config: &Config, chunks: &[&[u8]]) -> Result<Trace, String> {
    drive_io(role, config, chunks, false, Io::Copy)
}

/// Plays `chunks` (then the end of input if `eof`) through a fresh echo endpoint that moves
/// bytes as `io` says. The end of input counts as one more chunk.
pub fn drive_io(
    role: Role,
    config: &Config,
    chunks: &[&[u8]],
    eof: bool,
    io: Io,
) -> Result<Trace, String> {
    let mut echo = Echo::new(role, config.clone());
    echo.io = io;
    let mut trace = Trace {
        frames: Vec::new(),
        error: None,
        state: State::Open,
    };
    let mut delivered = 0;
    let eof_step: &[&[u8]] = if eof { &[&[]] } else { &[] };
    for (i, chunk) in chunks.iter().chain(eof_step).enumerate() {
        delivered += chunk.len();
        if i == chunks.len() {
            echo.conn.receive_eof();
        }
        let (out, error) = echo.feed(chunk);
        let frames = decode_frames(&out, role == Role::Client)
            .map_err(|e| format!("after chunk {i}: bad output: {e}"))?;
        if trace.error.is_some() && !out.is_empty() {
            return Err(format!(
                "after chunk {i}: output after the error: {frames:?}"
            ));
        }
        trace
            .frames
            .extend(frames.into_iter().map(|f| (i, delivered, f)));
        if let Some(e) = error {
            trace.error = Some((i, delivered, e));
        }
    }
    // A client draws a fresh key for every frame: with four frames or more, they cannot all be
    // the same (a false alarm has odds of 2^-96).
    let keys: Vec<_> = trace.frames.iter().filter_map(|(_, _, f)| f.key).collect();
    if keys.len() >= 4 && keys.iter().all(|k| *k == keys[0]) {
        return Err(format!(
            "every frame masked with the same key {:02x?}",
            keys[0]
        ));
    }
    if config.stream_messages {
        trace.frames = reassemble(std::mem::take(&mut trace.frames))?;
    }
    // Nothing is left over, and the endpoint stays quiet.
    match echo.conn.poll_event() {
        Ok(None) => {}
        other => return Err(format!("poll_event after the last drain: {other:?}")),
    }
    trace.state = echo.conn.state();
    let closed_by_frame = trace.frames.iter().any(|(_, _, f)| f.opcode == CLOSE);
    let want_state = if trace.error.is_some() || closed_by_frame {
        State::Closed
    } else {
        State::Open
    };
    if trace.state != want_state {
        return Err(format!(
            "final state {:?}, expected {want_state:?}",
            trace.state
        ));
    }
    // With all output written: a server drops the transport once closed; a client after a
    // clean close waits for the server to drop it first (RFC 6455 §7.1.1).
    let want_drop = match (trace.state, role) {
        (State::Closed, Role::Server) => true,
        (State::Closed, Role::Client) => trace.error.is_some() || eof,
        _ => false,
    };
    if echo.conn.should_close_transport() != want_drop {
        return Err(format!(
            "should_close_transport() = {} in state {:?}",
            !want_drop, trace.state
        ));
    }
    Ok(trace)
}

/// The message-level view of a streaming echo's output (its frames depend on how the input was
/// split): data frames joined into one FIN frame per message, placed (and timed) at the
/// message's last frame; control frames as they are. A message left unfinished (the connection
/// failed or closed first) is dropped. Also checks the streamed frames are well formed.
fn reassemble(
    frames: Vec<(usize, usize, Decoded)>,
) -> Result<Vec<(usize, usize, Decoded)>, String> {
    let mut out = Vec::new();
    let mut open: Option<Decoded> = None;
    for (i, at, f) in frames {
        match (f.opcode, &mut open) {
            (TEXT | BINARY, None) => {
                if f.fin {
                    out.push((i, at, f));
                } else {
                    open = Some(f);
                }
            }
            (CONT, Some(m)) => {
                m.payload.extend_from_slice(&f.payload);
                if f.fin {
                    let mut m = open.take().unwrap();
                    m.fin = true;
                    out.push((i, at, m));
                }
            }
            (CLOSE | PING | PONG, _) => out.push((i, at, f)),
            _ => {
                return Err(format!(
                    "streamed echo: {f:?} out of place (open: {open:?})"
                ));
            }
        }
    }
    Ok(out)
}

/// A way of cutting the input stream into `receive` calls.
#[derive(Clone, Copy, Debug)]
enum Delivery {
    AsWritten,
    Whole,
    Bytewise,
    Every(usize),
    Random(u64, usize),
}

/// Streams longer than this skip the byte-by-byte run (and with it the timing reference).
const BYTEWISE_MAX: usize = 160 * 1024;
/// Streams longer than this skip the smallest fixed chops (byte by byte covers them).
const MEDIUM: usize = 16 * 1024;
/// Streams longer than this get only a few deliveries.
const LARGE: usize = 1 << 20;

/// The chunk lengths of `delivery` over a stream of `len` bytes written as `written`.
fn cut(len: usize, written: &[Vec<u8>], delivery: Delivery) -> Vec<usize> {
    let every = |n: usize| {
        let mut sizes = vec![n; len / n];
        if !len.is_multiple_of(n) {
            sizes.push(len % n);
        }
        sizes
    };
    match delivery {
        Delivery::AsWritten => written.iter().map(Vec::len).collect(),
        Delivery::Whole => vec![len],
        Delivery::Bytewise => every(1),
        Delivery::Every(n) => every(n),
        Delivery::Random(seed, max) => {
            let mut x = seed ^ (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut sizes = Vec::new();
            let mut rest = len;
            while rest > 0 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = ((x % max as u64) as usize + 1).min(rest);
                sizes.push(n);
                rest -= n;
            }
            sizes
        }
    }
}

/// `stream` cut into chunks of these lengths.
fn slices<'a>(stream: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut rest = stream;
    sizes
        .iter()
        .map(|&n| {
            let (a, b) = rest.split_at(n);
            rest = b;
            a
        })
        .collect()
}

/// The delivered-bytes count at the end of the first chunk that holds byte `at` (1-based).
fn chunk_end_covering(ends: &[usize], at: usize) -> Option<usize> {
    ends.get(ends.partition_point(|&end| end < at)).copied()
}

/// Runs one case for one role; returns the byte-by-byte trace when there was one.
pub fn check_case(case: &Case, role: Role, config: &Config) -> Result<Option<Trace>, String> {
    let (written, eof) = encode_input(&case.input, role);
    let stream: Vec<u8> = written.concat();
    let expected_error = match &case.fail {
        Fail::After(_, e) => Some(e),
        Fail::No | Fail::Eof(_) => None,
    };
    let want_error = match &case.fail {
        Fail::No => None,
        Fail::After(_, e) => Some(Error::Protocol(e.clone())),
        Fail::Eof(_) => Some(Error::UnexpectedEof),
    };
    let expected: Vec<Decoded> = case
        .output
        .iter()
        .map(|o| o.expected(expected_error))
        .collect();

    let deliveries: Vec<Delivery> = if stream.len() > LARGE {
        vec![
            Delivery::AsWritten,
            Delivery::Whole,
            Delivery::Random(7, 300_000),
        ]
    } else if stream.len() > BYTEWISE_MAX {
        vec![
            Delivery::AsWritten,
            Delivery::Whole,
            Delivery::Every(61),
            Delivery::Every(997),
            Delivery::Every(8191),
            Delivery::Random(4, 5000),
        ]
    } else if stream.len() > MEDIUM {
        vec![
            Delivery::AsWritten,
            Delivery::Whole,
            Delivery::Bytewise,
            Delivery::Every(7),
            Delivery::Every(997),
            Delivery::Every(8191),
            Delivery::Random(2, 17),
            Delivery::Random(4, 5000),
        ]
    } else {
        vec![
            Delivery::AsWritten,
            Delivery::Whole,
            Delivery::Bytewise,
            Delivery::Every(2),
            Delivery::Every(3),
            Delivery::Every(5),
            Delivery::Every(7),
            Delivery::Every(997),
            Delivery::Random(1, 4),
            Delivery::Random(2, 17),
            Delivery::Random(3, 200),
            Delivery::Random(4, 5000),
        ]
    };
    // The byte-by-byte run first: it is the timing reference.
    let reference = if stream.len() <= BYTEWISE_MAX {
        let sizes = cut(stream.len(), &written, Delivery::Bytewise);
        Some(
            drive_io(role, config, &slices(&stream, &sizes), eof, Io::Copy)
                .map_err(|e| format!("[Bytewise] {e}"))?,
        )
    } else {
        None
    };
    for delivery in deliveries {
        let sizes = cut(stream.len(), &written, delivery);
        let run;
        let trace = match (delivery, &reference) {
            (Delivery::Bytewise, Some(reference)) => reference,
            _ => {
                // Pseudo-random chops go through the lent-buffer path and partial writes.
                let io = match delivery {
                    Delivery::Random(seed, _) => {
                        Io::Lent([1, 3, 1000, usize::MAX][seed as usize % 4])
                    }
                    _ => Io::Copy,
                };
                run = drive_io(role, config, &slices(&stream, &sizes), eof, io)
                    .map_err(|e| format!("[{delivery:?}] {e}"))?;
                &run
            }
        };
        let got: Vec<&Decoded> = trace.frames.iter().map(|(_, _, f)| f).collect();
        if !got.iter().copied().eq(expected.iter()) {
            return Err(format!(
                "[{delivery:?}] output\n     got: {got:?}\nexpected: {expected:?}"
            ));
        }
        let got_error = trace.error.as_ref().map(|(_, _, e)| e);
        if got_error != want_error.as_ref() {
            return Err(format!(
                "[{delivery:?}] error: got {got_error:?}, expected {want_error:?}"
            ));
        }
        if let Delivery::AsWritten = delivery {
            for (n, (out, (i, _, f))) in case.output.iter().zip(&trace.frames).enumerate() {
                if let Out::After(k, _) = out
                    && i != k
                {
                    return Err(format!(
                        "[AsWritten] output frame {n} {f:?} written after chunk {i}, \
                             expected after chunk {k}"
                    ));
                }
            }
        }
        if let (Delivery::AsWritten, Fail::After(k, _) | Fail::Eof(k), Some((i, _, _))) =
            (delivery, &case.fail, &trace.error)
            && i != k
        {
            return Err(format!(
                "[AsWritten] failed after chunk {i} (of {}), expected after chunk {k}",
                written.len()
            ));
        }
        // Timing against the byte-by-byte reference.
        if let Some(reference) = &reference {
            let ends: Vec<usize> = sizes
                .iter()
                .scan(0, |acc, n| {
                    *acc += n;
                    Some(*acc)
                })
                .chain(eof.then_some(stream.len()))
                .collect();
            for (n, ((_, at, f), (_, want_at, _))) in
                trace.frames.iter().zip(&reference.frames).enumerate()
            {
                if Some(*at) != chunk_end_covering(&ends, *want_at) {
                    return Err(format!(
                        "[{delivery:?}] output frame {n} {f:?} appeared after {at} bytes; \
                         byte-by-byte it needs byte {want_at}"
                    ));
                }
            }
            if let (Some((_, at, e)), Some((_, want_at, _))) = (&trace.error, &reference.error)
                && Some(*at) != chunk_end_covering(&ends, *want_at)
            {
                return Err(format!(
                    "[{delivery:?}] error {e:?} returned after {at} bytes; \
                         byte-by-byte at byte {want_at}"
                ));
            }
        }
    }
    Ok(reference)
}

/// Runs every case of a table for the given roles, and reports all failing cases at once.
pub fn run_roles(cases: &[Case], roles: &[Role], config: &Config) {
    let mut failures = Vec::new();
    for case in cases {
        for &role in roles {
            if let Err(e) = check_case(case, role, config) {
                let mode = if config.stream_messages {
                    ", streaming"
                } else {
                    ""
                };
                failures.push(format!("{} ({role:?}{mode}): {e}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len() * roles.len(),
        failures.join("\n\n")
    );
}

/// Runs a table built per role (for cases whose chunk numbers depend on the role, such as byte
/// by byte deliveries: a server's peer sends 4 more header bytes per frame).
pub fn run_per_role(table: impl Fn(Role) -> Vec<Case>, config: &Config) {
    for role in [Role::Server, Role::Client] {
        run_roles(&table(role), &[role], config);
    }
}

/// Runs every case of a table for both roles with `config`.
pub fn run_with(cases: &[Case], config: &Config) {
    run_roles(cases, &[Role::Server, Role::Client], config);
}

/// Runs every case of a table for both roles with the default configuration, and again with
/// `Config::stream_messages` (the endpoint echoes each part as it arrives; output is compared
/// message by message).
pub fn run(cases: &[Case]) {
    run_with(cases, &Config::default());
    run_with(cases, &Config::default().stream_messages(true));
}

/// The byte (1-based count of delivered bytes) after which a case fails in a byte-by-byte
/// delivery, for `role`.
pub fn fail_byte(case: &Case, role: Role, config: &Config) -> Option<usize> {
    let (written, _) = encode_input(&case.input, role);
    let stream = written.concat();
    let chunks: Vec<&[u8]> = stream.chunks(1).collect();
    let trace = drive(role, config, &chunks).expect("byte-by-byte run");
    trace.error.map(|(_, at, _)| at)
}
