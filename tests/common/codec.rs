//! The one independent frame codec of the test suites (RFC 6455 §5.2, §5.3): an encoder that
//! can write any header bits and any length encoding, a header parser that reads any, and a
//! stream decoder. Nothing here uses `wsproto`, so the crate's own codec is checked against it.
//!
//! Shared by every user of hand-made frames, included with `#[path]` where it is not a module
//! of `tests/common`:
//! - `tests/common/mod.rs` (`pub mod codec`): the integration tests' helpers;
//! - `tests/conformance.rs`: the conformance suite's harness;
//! - `fuzz/src/wire.rs`: the fuzz targets (and so `tests/fuzz_regressions.rs`).
//!
//! Plain `std` only: the fuzz crate compiles it too.
#![allow(dead_code)]

/// The byte-at-a-time masking reference (RFC 6455 §5.3): byte `i` is XORed with
/// `key[(phase + i) % 4]`.
pub fn mask_reference(data: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[(phase + i) % 4];
    }
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

/// Appends a frame header: the first byte `b0` (FIN, RSV, opcode) as given, the MASK bit and key
/// from `mask`, and the announced length `len` written as `encoding` says (a 16-bit form that
/// cannot hold `len` becomes the 64-bit one).
pub fn encode_header(
    b0: u8,
    mask: Option<[u8; 4]>,
    len: u64,
    encoding: LenEncoding,
    out: &mut Vec<u8>,
) {
    out.push(b0);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let encoding = match encoding {
        LenEncoding::Force16 | LenEncoding::Minimal if len > 0xFFFF => LenEncoding::Force64,
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
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// The first header byte: FIN, RSV1..RSV3 (the low three bits of `rsv`), the 4-bit opcode.
pub fn first_byte(fin: bool, rsv: u8, opcode: u8) -> u8 {
    (u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0x0F)
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
    encode_header(
        first_byte(frame.fin, frame.rsv, frame.opcode),
        frame.mask,
        frame.payload.len() as u64,
        frame.len_encoding,
        out,
    );
    let start = out.len();
    out.extend_from_slice(&frame.payload);
    if let Some(key) = frame.mask {
        mask_reference(&mut out[start..], key, 0);
    }
}

/// A frame header parsed by [`parse_header`].
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

impl RefHeader {
    /// Whether the length uses the shortest encoding (RFC 6455 §5.2).
    pub fn is_minimal(&self) -> bool {
        let ext = self.header_len - 2 - if self.mask.is_some() { 4 } else { 0 };
        match ext {
            0 => true,
            2 => self.payload_len >= 126,
            _ => self.payload_len > 0xFFFF,
        }
    }
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

/// The length of the longest prefix of `bytes` made of complete frames.
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

/// Decodes a stream of whole frames into `(header, unmasked payload)` pairs; says where it
/// stops if the stream ends inside a frame.
pub fn decode_frames(mut bytes: &[u8]) -> Result<Vec<(RefHeader, Vec<u8>)>, String> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let Some(h) = parse_header(bytes) else {
            return Err(format!(
                "frame {}: the stream ends inside a frame header {bytes:02x?}",
                frames.len()
            ));
        };
        let available = (bytes.len() - h.header_len) as u64;
        if available < h.payload_len {
            return Err(format!(
                "frame {}: the stream ends inside a payload ({available} of {} bytes)",
                frames.len(),
                h.payload_len
            ));
        }
        let end = h.header_len + h.payload_len as usize;
        let mut payload = bytes[h.header_len..end].to_vec();
        if let Some(key) = h.mask {
            mask_reference(&mut payload, key, 0);
        }
        frames.push((h, payload));
        bytes = &bytes[end..];
    }
    Ok(frames)
}
