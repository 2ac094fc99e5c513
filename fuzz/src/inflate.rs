//! `inflate` (permessage-deflate): arbitrary bytes as the payload of compressed (RSV1) messages
//! into a client [`Connection`] with deflate on and a small `max_message_size`, and a roundtrip
//! of the same bytes compressed by one side and inflated by the other.
//!
//! Input layout: `[flags] [msg len] [frame size] [splits] [n split sizes...] [data...]`
//! - `flags`: bit 0 `server_no_context_takeover`, bit 1 `client_no_context_takeover`, bit 2
//!   `stream_messages`, bit 3 text (else binary), bit 4 a ping between fragments, bits 5-6 zlib
//!   level (0, 1, 6, 9) for the roundtrip, bit 7 roundtrip compress threshold 0 (else 64) and
//!   sends as fragments.
//! - `msg len`: the data is cut into messages of `4 * msg len` bytes (0: one message).
//! - `frame size`: each message is cut into frames of this many bytes (0: one frame).
//! - `splits`: bits 0-2 how many size bytes follow, bits 3-4 scale them by 1, 4, 32 or 256.
//!
//! Checked, raw half: no panic; every message within `max_message_size` (64 KiB), text valid
//! UTF-8; the only errors are `InvalidCompressedData`, `InvalidUtf8` and `MessageTooLarge`; the
//! same events and error for the chosen split, for one piece, and frame by frame (except that
//! corrupt data which inflates partly to invalid UTF-8 fails with either of the two 1007
//! errors, see `compare`); buffered input
//! within one frame. Roundtrip half: what the server (and the client) compress, the other side
//! inflates to exactly the messages sent, in any split.

use wsproto::extensions::deflate::{DeflateConfig, DeflateParams};
use wsproto::{Config, Connection, Error, ProtocolError, Role};

use super::wire::{
    LenEncoding, Norm, Normalizer, RawFrame, chunks, connection, drain_events, encode_frame,
    take_all_output,
};

/// The raw half's `max_message_size`.
pub const MAX_MESSAGE: usize = 64 * 1024;

fn params(flags: u8) -> DeflateParams {
    let mut p = DeflateConfig::default()
        .accept_offer([])
        .expect("the empty offer is valid")
        .expect("the empty offer is accepted");
    p.server_no_context_takeover = flags & 1 != 0;
    p.client_no_context_takeover = flags & 2 != 0;
    p.level = [0, 1, 6, 9][usize::from((flags >> 5) & 3)];
    p.compress_threshold = if flags & 128 != 0 { 0 } else { 64 };
    p
}

/// Runs one input (any bytes).
pub fn run(data: &[u8]) {
    let [flags, msg_len, frame_size, splits, rest @ ..] = data else {
        return;
    };
    let n = usize::from(splits & 7).min(rest.len());
    let scale = [1, 4, 32, 256][usize::from((splits >> 3) & 3)];
    let sizes: Vec<usize> = rest[..n].iter().map(|&s| usize::from(s) * scale).collect();
    let payload = &rest[n..];
    let messages: Vec<&[u8]> = if *msg_len == 0 || payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(usize::from(*msg_len) * 4).collect()
    };
    let params = params(*flags);
    raw(*flags, &params, &messages, usize::from(*frame_size), &sizes);
    roundtrip(*flags, &params, &messages, usize::from(*frame_size), &sizes);
}

/// The wire bytes of `messages` as compressed server frames (unmasked), and the frame bounds.
fn compressed_wire(
    flags: u8,
    messages: &[&[u8]],
    frame_size: usize,
) -> (Vec<u8>, Vec<core::ops::Range<usize>>) {
    let mut wire = Vec::new();
    let mut frames = Vec::new();
    let opcode = if flags & 8 != 0 { 1 } else { 2 };
    for m in messages {
        let pieces: Vec<&[u8]> = if frame_size == 0 || m.is_empty() {
            vec![m]
        } else {
            m.chunks(frame_size).collect()
        };
        for (i, piece) in pieces.iter().enumerate() {
            if i == 1 && flags & 16 != 0 {
                let start = wire.len();
                encode_frame(&frame(true, 0, 9, b"p"), &mut wire);
                frames.push(start..wire.len());
            }
            let start = wire.len();
            let f = frame(
                i + 1 == pieces.len(),
                if i == 0 { 4 } else { 0 },
                if i == 0 { opcode } else { 0 },
                piece,
            );
            encode_frame(&f, &mut wire);
            frames.push(start..wire.len());
        }
    }
    (wire, frames)
}

fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> RawFrame {
    RawFrame {
        fin,
        rsv,
        opcode,
        mask: None,
        len_encoding: LenEncoding::Minimal,
        payload: payload.to_vec(),
    }
}

/// The raw half: arbitrary compressed payloads into a client.
fn raw(flags: u8, params: &DeflateParams, messages: &[&[u8]], frame_size: usize, sizes: &[usize]) {
    let (wire, frames) = compressed_wire(flags, messages, frame_size);
    let config = Config::default()
        .max_message_size(MAX_MESSAGE)
        .stream_messages(flags & 4 != 0);
    let whole = decode(&config, params, (&wire, &frames), &chunks(wire.len(), &[]));
    let split = decode(
        &config,
        params,
        (&wire, &frames),
        &chunks(wire.len(), sizes),
    );
    compare(&config, &whole, &split);
    let framewise = decode(&config, params, (&wire, &frames), &frames);
    compare(&config, &whole, &framewise);
    if wire.len() <= 512 {
        let bytewise = decode(&config, params, (&wire, &frames), &chunks(wire.len(), &[1]));
        compare(&config, &whole, &bytewise);
    }
    match &whole.error {
        None
        | Some(Error::Protocol(
            ProtocolError::InvalidCompressedData
            | ProtocolError::InvalidUtf8
            | ProtocolError::MessageTooLarge { .. },
        )) => {}
        Some(e) => panic!("unexpected error {e:?} for well-framed compressed messages"),
    }
    if config.stream_messages {
        assert!(
            !matches!(
                whole.error,
                Some(Error::Protocol(ProtocolError::MessageTooLarge { .. }))
            ),
            "MessageTooLarge while streaming"
        );
    }
}

/// What one decode produced.
#[derive(Debug)]
struct Decoded {
    events: Vec<Norm>,
    partial: Option<(wsproto::MessageKind, Vec<u8>)>,
    error: Option<Error>,
}

fn decode(
    config: &Config,
    params: &DeflateParams,
    (wire, frames): (&[u8], &[core::ops::Range<usize>]),
    ranges: &[core::ops::Range<usize>],
) -> Decoded {
    let mut conn = connection(Role::Client, config.clone(), 5).with_deflate(params);
    assert!(conn.deflate_enabled());
    let mut norm = Normalizer::new(config);
    let mut error = None;
    for range in ranges {
        conn.receive(&wire[range.clone()]);
        if error.is_some() || norm.closed {
            assert_eq!(conn.poll_event(), Ok(None));
            continue;
        }
        error = drain_events(&mut conn, &mut norm);
        if error.is_none() {
            // Never more than one frame's payload plus a header waits.
            let bound = frames.iter().map(|f| f.len()).max().unwrap_or(0);
            assert!(conn.buffered_input() <= bound, "more than a frame buffered");
        }
        for e in &norm.events {
            if let Norm::Text(m) | Norm::Binary(m) = e {
                assert!(m.len() <= config.max_message_size || config.stream_messages);
            }
        }
        assert!(norm.partial.is_none() || config.stream_messages);
    }
    let mut out = Vec::new();
    take_all_output(&mut conn, false, &mut out);
    Decoded {
        events: norm.events,
        partial: norm.partial,
        error,
    }
}

fn compare(config: &Config, a: &Decoded, b: &Decoded) {
    assert_eq!(a.events, b.events, "events depend on the split");
    // Compressed text that is both corrupt and, as far as it inflates, invalid UTF-8 fails with
    // either error (both close with 1007): which is found first depends on how much of the
    // payload had arrived when the inflater stopped (all at once, zlib reports the corruption
    // before the inflated bytes are validated; in pieces, an early piece inflates to the bad
    // UTF-8). Every other error is the same whatever the split.
    let data_error = |e: &Option<Error>| {
        matches!(
            e,
            Some(Error::Protocol(
                ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData
            ))
        )
    };
    if !(data_error(&a.error) && data_error(&b.error)) {
        assert_eq!(a.error, b.error, "error depends on the split");
    }
    // Streaming, a split may deliver part of a message before the bad byte arrives.
    let fail_fast = config.stream_messages
        && matches!(
            a.error,
            Some(Error::Protocol(
                ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData
            ))
        );
    match (&a.partial, &b.partial) {
        (Some((ka, x)), Some((kb, y))) if fail_fast => {
            assert_eq!(ka, kb);
            assert!(x.starts_with(y) || y.starts_with(x));
        }
        (None, Some(_)) | (Some(_), None) if fail_fast => {}
        (x, y) => assert_eq!(x, y, "streamed part depends on the split"),
    }
}

/// The roundtrip half: each side compresses the messages, the other inflates them.
fn roundtrip(
    flags: u8,
    params: &DeflateParams,
    messages: &[&[u8]],
    frame_size: usize,
    sizes: &[usize],
) {
    let text = flags & 8 != 0;
    let fragments = flags & 128 != 0 && frame_size > 0;
    let expected: Vec<Norm> = messages
        .iter()
        .map(|m| {
            if text {
                Norm::Text(String::from_utf8_lossy(m).into_owned().into_bytes())
            } else {
                Norm::Binary(m.to_vec())
            }
        })
        .collect();
    for sender_role in [Role::Server, Role::Client] {
        let receiver_role = match sender_role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut tx = connection(sender_role, Config::default(), 11).with_deflate(params);
        for m in &expected {
            let (Norm::Text(bytes) | Norm::Binary(bytes)) = m else {
                unreachable!()
            };
            if fragments && text {
                // Text fragments are whole characters: cut at the first boundary at or after
                // every `frame_size` bytes.
                let s = core::str::from_utf8(bytes).unwrap();
                let mut cut = Vec::new();
                let mut start = 0;
                for (i, _) in s.char_indices() {
                    if i - start >= frame_size {
                        cut.push(&s[start..i]);
                        start = i;
                    }
                }
                cut.push(&s[start..]);
                let last = cut.len() - 1;
                for (i, piece) in cut.into_iter().enumerate() {
                    tx.send_text_fragment(piece, i == last).unwrap();
                }
            } else if fragments {
                let pieces: Vec<&[u8]> = if bytes.is_empty() {
                    vec![bytes]
                } else {
                    bytes.chunks(frame_size).collect()
                };
                let last = pieces.len() - 1;
                for (i, piece) in pieces.into_iter().enumerate() {
                    tx.send_binary_fragment(piece, i == last).unwrap();
                }
            } else if text {
                tx.send_text(core::str::from_utf8(bytes).unwrap()).unwrap();
            } else {
                tx.send_binary(bytes).unwrap();
            }
        }
        let mut wire = Vec::new();
        take_all_output(&mut tx, false, &mut wire);
        let config = Config::default().stream_messages(flags & 4 != 0);
        for ranges in [chunks(wire.len(), &[]), chunks(wire.len(), sizes)] {
            let mut rx: Connection =
                connection(receiver_role, config.clone(), 13).with_deflate(params);
            let mut norm = Normalizer::new(&config);
            for range in ranges {
                rx.receive(&wire[range]);
                assert_eq!(drain_events(&mut rx, &mut norm), None, "roundtrip failed");
            }
            assert!(norm.partial.is_none());
            assert_eq!(norm.events, expected, "roundtrip changed the messages");
        }
    }
}
