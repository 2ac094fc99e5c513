//! permessage-deflate (RFC 7692): negotiation and the per-connection codec.
//!
//! A compressed message has RSV1 set on its first frame; its payload is a raw DEFLATE stream
//! flushed with `Z_SYNC_FLUSH`, minus the final `00 00 ff ff`. Unless "no context takeover" was
//! agreed for a direction, the LZ77 window carries over from one message to the next.
//!
//! Window sizes of 9–15 bits are supported for compression (zlib cannot produce raw streams with an
//! 8-bit window, so an offer that demands one is declined); inflation always uses a 15-bit window,
//! which reads streams made with any smaller window.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write as _;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::config::Role;

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// Local preferences for permessage-deflate: what a client offers, what a server accepts, and how
/// hard to compress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// zlib compression level, 0–9. Default 1 (fast; most of the gain for text).
    pub level: u32,
    /// Messages shorter than this are sent uncompressed (RSV1 clear). Default 64.
    pub compress_threshold: usize,
    /// Client: ask the server not to carry its window across messages. Server: insist on it.
    pub server_no_context_takeover: bool,
    /// Client: promise not to carry our window across messages. Server: ask the client for it.
    pub client_no_context_takeover: bool,
    /// The largest window (9–15 bits) the server may compress with. Client: requested when below
    /// 15. Server: the most it will use.
    pub server_max_window_bits: u8,
    /// The largest window (9–15 bits) the client may compress with. Client: the most it will use
    /// (offered as `client_max_window_bits` so the server may lower it). Server: requested from
    /// clients that allow it, when below 15.
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 1,
            compress_threshold: 64,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// The parameters both sides agreed on, plus the local compression choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression window after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression window after every message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window (bits).
    pub server_max_window_bits: u8,
    /// The client compresses with at most this window (bits).
    pub client_max_window_bits: u8,
    /// zlib level for this side's compression.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed.
    pub compress_threshold: usize,
}

/// A permessage-deflate offer or response whose parameters break RFC 7692 §7.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeflateError {
    /// A parameter this extension does not define.
    UnknownParameter(String),
    /// A parameter given twice.
    DuplicateParameter(String),
    /// A parameter value that is not allowed (window bits outside 8–15, a value where none
    /// belongs, a missing one where one is required).
    InvalidValue(String),
    /// The server's response asks for something the client cannot do or did not offer.
    Unacceptable(&'static str),
}

impl fmt::Display for DeflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeflateError::UnknownParameter(p) => {
                write!(f, "unknown permessage-deflate parameter `{p}`")
            }
            DeflateError::DuplicateParameter(p) => {
                write!(f, "permessage-deflate parameter `{p}` given twice")
            }
            DeflateError::InvalidValue(p) => {
                write!(f, "invalid value for permessage-deflate parameter `{p}`")
            }
            DeflateError::Unacceptable(why) => {
                write!(f, "unacceptable permessage-deflate response: {why}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DeflateError {}

/// Parameters as they appear in one extension element.
#[derive(Debug, Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed only in a client offer).
    client_max_window_bits: Option<Option<u8>>,
}

fn parse_params<'a>(
    params: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<Parsed, DeflateError> {
    let mut parsed = Parsed::default();
    let mut seen = [false; 4];
    for (name, value) in params {
        let name_lc = name.to_ascii_lowercase();
        let index = match name_lc.as_str() {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return Err(DeflateError::UnknownParameter(name.into())),
        };
        if core::mem::replace(&mut seen[index], true) {
            return Err(DeflateError::DuplicateParameter(name.into()));
        }
        let bits = |value: Option<&str>| -> Result<u8, DeflateError> {
            // RFC 7692 §7.1.2: a decimal integer 8–15 without leading zeros (quoted or not).
            let v = value.ok_or_else(|| DeflateError::InvalidValue(name.into()))?;
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            match v.parse::<u8>() {
                Ok(n @ 8..=15) if !v.starts_with('0') && v.len() <= 2 => Ok(n),
                _ => Err(DeflateError::InvalidValue(name.into())),
            }
        };
        match index {
            0 | 1 if value.is_some() => return Err(DeflateError::InvalidValue(name.into())),
            0 => parsed.server_no_context_takeover = true,
            1 => parsed.client_no_context_takeover = true,
            2 => parsed.server_max_window_bits = Some(bits(value)?),
            _ => parsed.client_max_window_bits = Some(value.map(|_| bits(value)).transpose()?),
        }
    }
    Ok(parsed)
}

impl DeflateConfig {
    /// The client's offer: the `Sec-WebSocket-Extensions` element to send.
    pub fn offer(&self) -> String {
        let mut offer = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            offer.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            offer.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            let _ = write!(
                offer,
                "; server_max_window_bits={}",
                self.server_max_window_bits.clamp(9, 15)
            );
        }
        // Always announce that the server may limit our window: we can honour any of 9–15.
        if self.client_max_window_bits < 15 {
            let _ = write!(
                offer,
                "; client_max_window_bits={}",
                self.client_max_window_bits.clamp(9, 15)
            );
        } else {
            offer.push_str("; client_max_window_bits");
        }
        offer
    }

    /// Server side: considers one client offer (the parameters of one `permessage-deflate`
    /// element). Returns the agreed parameters, `Ok(None)` to decline this offer (try the next),
    /// or an error for an offer that breaks RFC 7692 (the handshake should then fail).
    pub fn accept_offer<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Option<DeflateParams>, DeflateError> {
        let offer = parse_params(params)?;
        let our_server_bits = self.server_max_window_bits.clamp(9, 15);
        let server_max_window_bits = match offer.server_max_window_bits {
            // zlib cannot compress a raw stream with an 8-bit window: decline.
            Some(8) => return Ok(None),
            Some(bits) => bits.min(our_server_bits),
            None => our_server_bits,
        };
        let client_max_window_bits = match offer.client_max_window_bits {
            // The client allows us to limit its window.
            Some(None) => self.client_max_window_bits.clamp(9, 15),
            Some(Some(bits)) => bits.min(self.client_max_window_bits.clamp(8, 15)),
            None => 15,
        };
        Ok(Some(DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || self.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
            level: self.level.min(9),
            compress_threshold: self.compress_threshold,
        }))
    }

    /// Client side: checks the server's response (parameters of its `permessage-deflate`
    /// element) against what [`offer`](Self::offer) sent, returning the agreed parameters.
    pub fn accept_response<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<DeflateParams, DeflateError> {
        let response = parse_params(params)?;
        if self.server_no_context_takeover && !response.server_no_context_takeover {
            return Err(DeflateError::Unacceptable(
                "server_no_context_takeover was requested",
            ));
        }
        let server_max_window_bits = match response.server_max_window_bits {
            Some(bits)
                if self.server_max_window_bits < 15 && bits > self.server_max_window_bits =>
            {
                return Err(DeflateError::Unacceptable(
                    "server_max_window_bits above the requested value",
                ));
            }
            Some(bits) => bits,
            None if self.server_max_window_bits < 15 => {
                return Err(DeflateError::Unacceptable(
                    "server_max_window_bits was requested",
                ));
            }
            None => 15,
        };
        let client_max_window_bits = match response.client_max_window_bits {
            Some(None) => return Err(DeflateError::InvalidValue("client_max_window_bits".into())),
            Some(Some(8)) => {
                return Err(DeflateError::Unacceptable(
                    "an 8-bit client window cannot be honoured",
                ));
            }
            Some(Some(bits)) => bits.min(self.client_max_window_bits.clamp(9, 15)),
            None => self.client_max_window_bits.clamp(9, 15),
        };
        Ok(DeflateParams {
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: response.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
            level: self.level.min(9),
            compress_threshold: self.compress_threshold,
        })
    }
}

impl DeflateParams {
    /// The server's `Sec-WebSocket-Extensions` response element for these parameters.
    pub fn response(&self) -> String {
        let mut response = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            response.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            response.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            let _ = write!(
                response,
                "; server_max_window_bits={}",
                self.server_max_window_bits
            );
        }
        if self.client_max_window_bits < 15 {
            let _ = write!(
                response,
                "; client_max_window_bits={}",
                self.client_max_window_bits
            );
        }
        response
    }
}

/// The trailer stripped from every compressed message (RFC 7692 §7.2.1).
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compression state for one connection.
pub(crate) struct DeflateCodec {
    compressor: Compress,
    decompressor: Decompress,
    /// Reset our compressor after each message.
    reset_compressor: bool,
    /// Reset our decompressor after each message.
    reset_decompressor: bool,
    compress_threshold: usize,
    /// The message being received ended its DEFLATE stream with a final block (BFINAL=1,
    /// RFC 7692 §7.2.3.4): the rest of its payload is ignored and the stream starts afresh
    /// with the next message.
    stream_ended: bool,
}

impl fmt::Debug for DeflateCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeflateCodec").finish_non_exhaustive()
    }
}

/// The stream that inflates does not hold valid DEFLATE data.
#[derive(Debug)]
pub(crate) struct InflateError;

impl DeflateCodec {
    pub fn new(params: &DeflateParams, role: Role) -> Self {
        let (our_bits, our_reset, peer_reset) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_no_context_takeover,
            ),
        };
        DeflateCodec {
            compressor: Compress::new_with_window_bits(
                Compression::new(params.level.min(9)),
                false,
                our_bits.clamp(9, 15),
            ),
            decompressor: Decompress::new_with_window_bits(false, 15),
            reset_compressor: our_reset,
            reset_decompressor: peer_reset,
            compress_threshold: params.compress_threshold,
            stream_ended: false,
        }
    }

    /// Forgets the compression window (the next message is compressed without references to
    /// earlier ones; always allowed, whatever was negotiated).
    pub fn reset_compressor(&mut self) {
        self.compressor.reset();
    }

    /// Whether a whole message of `len` bytes should be compressed.
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.compress_threshold
    }

    /// Compresses `input` (part of a message, or all of it) with a sync flush, appending to
    /// `out`. When `fin`, the trailer is stripped and the context reset if agreed.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>, fin: bool) {
        let start_len = out.len();
        let start_in = self.compressor.total_in();
        loop {
            out.reserve(input.len() / 2 + 64);
            let consumed = (self.compressor.total_in() - start_in) as usize;
            // Compressing in-memory data cannot fail; a no-progress flush is reported as an
            // error by zlib and simply means there is nothing left to write.
            if self
                .compressor
                .compress_vec(&input[consumed..], out, FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            let consumed = (self.compressor.total_in() - start_in) as usize;
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if fin {
            if out[start_len..].ends_with(&TRAILER) {
                out.truncate(out.len() - TRAILER.len());
            }
            if out.len() == start_len {
                // Nothing was pending (an empty message, or an empty last fragment after a
                // flushed one): RFC 7692 §7.2.3.6 sends a single 0x00, which with the trailer
                // the receiver appends forms an empty stored block.
                out.push(0x00);
            }
            if self.reset_compressor {
                self.compressor.reset();
            }
        }
    }

    /// Inflates from `input` into `out` until the input is used up or `out` holds `max_out`
    /// bytes; returns how many input bytes were consumed and whether output may still be
    /// pending (`out` reached `max_out`).
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<(usize, bool), InflateError> {
        if self.stream_ended {
            // After a final block: what follows in this message (the empty block of RFC 7692
            // §7.2.3.4, the trailer) carries no data.
            return Ok((input.len(), false));
        }
        let start_in = self.decompressor.total_in();
        loop {
            let consumed = (self.decompressor.total_in() - start_in) as usize;
            let room = max_out.saturating_sub(out.len());
            if room == 0 {
                return Ok((consumed, true));
            }
            // Inflate into initialised space so the bound is exact; zeroing costs far less than
            // inflating.
            let step = (input.len() - consumed)
                .saturating_mul(4)
                .clamp(1024, 1 << 16)
                .min(room);
            let before = out.len();
            out.resize(before + step, 0);
            let before_out = self.decompressor.total_out();
            let result = self.decompressor.decompress(
                &input[consumed..],
                &mut out[before..],
                FlushDecompress::Sync,
            );
            let produced = (self.decompressor.total_out() - before_out) as usize;
            out.truncate(before + produced);
            let status = result.map_err(|_| InflateError)?;
            let consumed_before = consumed;
            let consumed = (self.decompressor.total_in() - start_in) as usize;
            if matches!(status, Status::StreamEnd) {
                // A final block (BFINAL=1) ends this message's stream, which RFC 7692 §7.2.3.4
                // allows; the bytes after it in the message are ignored.
                self.stream_ended = true;
                return Ok((input.len(), false));
            }
            if produced < step && consumed == input.len() {
                return Ok((consumed, false));
            }
            if produced == 0 && consumed == consumed_before {
                // No progress with input left and room to write: the stream cannot continue.
                return Err(InflateError);
            }
        }
    }

    /// Ends a received message: inflates the stripped trailer and resets the context if agreed.
    pub fn finish_inflate(
        &mut self,
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<bool, InflateError> {
        let (_, pending) = self.inflate(&TRAILER, out, max_out)?;
        if pending {
            // The trailer's output did not fit: the caller fails the message.
            return Ok(true);
        }
        if self.reset_decompressor || self.stream_ended {
            // A stream that ended cannot go on: the next message starts a new one.
            self.decompressor.reset(false);
            self.stream_ended = false;
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        list: &[(&'static str, Option<&'static str>)],
    ) -> Vec<(&'static str, Option<&'static str>)> {
        list.to_vec()
    }

    #[test]
    fn rfc7692_hello_compresses_to_the_rfc_bytes_and_back() {
        let p = DeflateConfig {
            compress_threshold: 0,
            ..Default::default()
        }
        .accept_offer(params(&[]))
        .unwrap()
        .unwrap();
        let mut server = DeflateCodec::new(&p, Role::Server);
        let mut out = Vec::new();
        server.compress(b"Hello", &mut out, true);
        let mut client = DeflateCodec::new(&p, Role::Client);
        // RFC 7692 §7.2.3.1: "Hello" is f2 48 cd c9 c9 07 00 (any valid encoding would do, but
        // zlib produces exactly this one).
        assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        let mut plain = Vec::new();
        let (used, pending) = client.inflate(&out, &mut plain, 1 << 20).unwrap();
        assert_eq!((used, pending), (out.len(), false));
        client.finish_inflate(&mut plain, 1 << 20).unwrap();
        assert_eq!(plain, b"Hello");
    }

    #[test]
    fn context_takeover_shrinks_repeated_messages_unless_disabled() {
        for reset in [false, true] {
            let p = DeflateParams {
                server_no_context_takeover: reset,
                client_no_context_takeover: reset,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
                level: 6,
                compress_threshold: 0,
            };
            let mut tx = DeflateCodec::new(&p, Role::Server);
            let mut rx = DeflateCodec::new(&p, Role::Client);
            let msg = b"the same fairly long message, the same fairly long message again";
            let mut sizes = Vec::new();
            for _ in 0..3 {
                let mut wire = Vec::new();
                tx.compress(msg, &mut wire, true);
                sizes.push(wire.len());
                let mut plain = Vec::new();
                rx.inflate(&wire, &mut plain, 1 << 20).unwrap();
                rx.finish_inflate(&mut plain, 1 << 20).unwrap();
                assert_eq!(plain, msg);
            }
            if reset {
                assert_eq!(sizes[0], sizes[1]);
            } else {
                assert!(sizes[1] < sizes[0], "{sizes:?}");
            }
        }
    }

    #[test]
    fn inflate_output_is_bounded() {
        let p = DeflateConfig::default()
            .accept_offer(params(&[]))
            .unwrap()
            .unwrap();
        let mut tx = DeflateCodec::new(&p, Role::Client);
        let mut wire = Vec::new();
        tx.compress(&[0u8; 1 << 20], &mut wire, true);
        assert!(wire.len() < 16 * 1024, "{}", wire.len());
        let mut rx = DeflateCodec::new(&p, Role::Server);
        let mut plain = Vec::new();
        let (_, pending) = rx.inflate(&wire, &mut plain, 1000).unwrap();
        assert!(pending);
        assert!(plain.len() <= 1000);
    }

    #[test]
    fn garbage_does_not_inflate() {
        let p = DeflateConfig::default()
            .accept_offer(params(&[]))
            .unwrap()
            .unwrap();
        let mut rx = DeflateCodec::new(&p, Role::Server);
        let mut plain = Vec::new();
        assert!(rx.inflate(&[0xff; 16], &mut plain, 1 << 20).is_err());
    }

    #[test]
    fn negotiation() {
        let server = DeflateConfig::default();
        let p = server
            .accept_offer(params(&[("client_max_window_bits", None)]))
            .unwrap()
            .unwrap();
        assert_eq!(p.response(), "permessage-deflate");
        let p = server
            .accept_offer(params(&[
                ("server_no_context_takeover", None),
                ("server_max_window_bits", Some("10")),
            ]))
            .unwrap()
            .unwrap();
        assert_eq!(
            p.response(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
        assert_eq!(
            server
                .accept_offer(params(&[("server_max_window_bits", Some("8"))]))
                .unwrap(),
            None
        );
        for bad in [
            params(&[("foo", None)]),
            params(&[("server_max_window_bits", Some("16"))]),
            params(&[("server_max_window_bits", Some("09"))]),
            params(&[("server_max_window_bits", None)]),
            params(&[("client_no_context_takeover", Some("1"))]),
            params(&[
                ("client_no_context_takeover", None),
                ("client_no_context_takeover", None),
            ]),
        ] {
            assert!(server.accept_offer(bad).is_err());
        }
        let client = DeflateConfig {
            server_max_window_bits: 10,
            ..Default::default()
        };
        assert_eq!(
            client.offer(),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits"
        );
        assert!(client.accept_response(params(&[])).is_err());
        assert!(
            client
                .accept_response(params(&[("server_max_window_bits", Some("12"))]))
                .is_err()
        );
        let p = client
            .accept_response(params(&[
                ("server_max_window_bits", Some("9")),
                ("client_max_window_bits", Some("11")),
            ]))
            .unwrap();
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (9, 11)
        );
        assert!(
            DeflateConfig::default()
                .accept_response(params(&[("client_max_window_bits", Some("8"))]))
                .is_err()
        );
    }
}
