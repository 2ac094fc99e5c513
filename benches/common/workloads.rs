//! The decode workloads shared by `benches/decode.rs`, `benches/alloc_count.rs` and the peer
//! comparison crate in `benches/peers/`: masked client frames, pre-encoded into one buffer, that a
//! server receives in 16 KiB reads.
//!
//! This file depends on nothing but `simdutf8`, so every crate can include it with `#[path]`.
#![allow(dead_code)]

/// How many bytes one transport read delivers.
pub const READ_SIZE: usize = 16 * 1024;

/// The data-message kind of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text messages (UTF-8 validated by the receiver).
    Text,
    /// Binary messages.
    Binary,
}

/// One decode workload.
pub struct Workload {
    /// Short name, used as the benchmark id and the table row.
    pub name: &'static str,
    /// Text or binary.
    pub kind: Kind,
    /// How many messages `wire` holds.
    pub messages: usize,
    /// The payload of every message, concatenated (the memcpy reference copies exactly this).
    pub payload: Vec<u8>,
    /// The payload length of every message, in order.
    pub lens: Vec<usize>,
    /// The masked client frames, back to back.
    pub wire: Vec<u8>,
    /// The largest message, for receivers that need a message-size limit.
    pub max_message: usize,
    /// Whether messages are sent in several frames.
    pub fragmented: bool,
}

impl Workload {
    /// Total payload bytes (what the throughput figures count).
    pub fn payload_bytes(&self) -> usize {
        self.payload.len()
    }
}

/// A deterministic source of mask keys (xorshift), so every run sees the same bytes.
struct Keys(u64);

impl Keys {
    fn next(&mut self) -> [u8; 4] {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 as u32).to_le_bytes()
    }
}

/// Appends one masked frame (as a client sends it) to `out`.
pub fn encode_masked_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], key: [u8; 4]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

/// `len` bytes of valid UTF-8 mixing ASCII, Cyrillic (2-byte), CJK (3-byte) and emoji (4-byte).
pub fn multibyte_text(len: usize) -> Vec<u8> {
    const PIECES: &[&str] = &[
        "Привет, мир! ",
        "你好，世界。",
        "😀🎉🚀 ",
        "hello world ",
        "Съешь же ещё этих мягких французских булок. ",
        "天地玄黄，宇宙洪荒。",
        "🦀 Rust ",
        "Ελληνικά ",
    ];
    let mut text = String::with_capacity(len + 64);
    let mut i = 0;
    while text.len() < len {
        for c in PIECES[i % PIECES.len()].chars() {
            if text.len() + c.len_utf8() > len {
                break;
            }
            text.push(c);
        }
        if text.len() + 4 > len {
            while text.len() < len {
                text.push('.');
            }
        }
        i += 1;
    }
    assert_eq!(text.len(), len);
    text.into_bytes()
}

/// Printable ASCII bytes for the small text messages.
fn ascii_text(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + ((i + seed) % 26) as u8).collect()
}

/// Arbitrary binary bytes.
fn binary(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ seed) as u8)
        .collect()
}

fn build(name: &'static str, kind: Kind, messages: Vec<Vec<u8>>) -> Workload {
    let mut keys = Keys(0x9e37_79b9_7f4a_7c15);
    let opcode = match kind {
        Kind::Text => 1,
        Kind::Binary => 2,
    };
    let mut wire = Vec::new();
    let mut payload = Vec::new();
    let mut max_message = 0;
    for m in &messages {
        encode_masked_frame(&mut wire, true, opcode, m, keys.next());
        payload.extend_from_slice(m);
        max_message = max_message.max(m.len());
    }
    Workload {
        name,
        kind,
        messages: messages.len(),
        lens: messages.iter().map(Vec::len).collect(),
        payload,
        wire,
        max_message,
        fragmented: false,
    }
}

/// One 1 MiB text message in 64 frames of 16 KiB; frame boundaries fall inside code points.
fn fragmented_text(name: &'static str) -> Workload {
    let text = multibyte_text(1 << 20);
    let mut keys = Keys(0x2545_f491_4f6c_dd1d);
    let mut wire = Vec::new();
    let parts: Vec<&[u8]> = text.chunks(text.len() / 64).collect();
    assert_eq!(parts.len(), 64);
    for (i, part) in parts.iter().enumerate() {
        let opcode = if i == 0 { 1 } else { 0 };
        encode_masked_frame(&mut wire, i == parts.len() - 1, opcode, part, keys.next());
    }
    Workload {
        name,
        kind: Kind::Text,
        messages: 1,
        max_message: text.len(),
        lens: vec![text.len()],
        payload: text,
        wire,
        fragmented: true,
    }
}

/// Every decode workload of issue 4, in table order.
pub fn all() -> Vec<Workload> {
    matching("")
}

/// The workloads whose name contains `filter` (building only those).
pub fn matching(filter: &str) -> Vec<Workload> {
    type Maker = fn(&'static str) -> Workload;
    let makers: [(&'static str, Maker); 5] = [
        ("100000 x 16 B text", |name| {
            build(
                name,
                Kind::Text,
                (0..100_000).map(|i| ascii_text(16, i)).collect(),
            )
        }),
        ("10000 x 1 KiB binary", |name| {
            build(
                name,
                Kind::Binary,
                (0..10_000).map(|i| binary(1024, i)).collect(),
            )
        }),
        ("100 x 1 MiB binary", |name| {
            build(
                name,
                Kind::Binary,
                (0..100).map(|i| binary(1 << 20, i)).collect(),
            )
        }),
        ("1 MiB UTF-8 text", |name| {
            build(name, Kind::Text, vec![multibyte_text(1 << 20)])
        }),
        ("text 1 MiB in 64 fragments", fragmented_text),
    ];
    makers
        .iter()
        .filter(|(name, _)| name.contains(filter))
        .map(|(name, make)| make(name))
        .collect()
}

/// A short identifier for file names and benchmark ids.
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// The physical reference: copy each message's payload into a reused buffer of
/// `w.max_message` bytes (as a receiver reuses its buffer) and, for text, validate it with
/// simdutf8. Returns a value derived from the copies so the work cannot be optimised away.
pub fn memcpy_reference(w: &Workload, dst: &mut [u8]) -> usize {
    let mut src = &w.payload[..];
    let mut sum = 0;
    for &len in &w.lens {
        let (message, rest) = src.split_at(len);
        src = rest;
        let dst = &mut dst[..len];
        dst.copy_from_slice(message);
        if w.kind == Kind::Text {
            assert!(simdutf8::basic::from_utf8(dst).is_ok());
        }
        sum += dst[len / 2] as usize;
    }
    sum
}
