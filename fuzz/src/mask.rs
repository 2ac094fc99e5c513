//! `mask`: masking and unmasking equal the byte-at-a-time reference for fuzzer-chosen payloads,
//! keys, buffer alignments (a preceding message of fuzzer-chosen length shifts where the payload
//! sits in the buffers) and phases (frames cut at fuzzer-chosen sizes and delivered in
//! fuzzer-chosen splits, so unmasking resumes mid-key).
//!
//! Directly: every masking path this CPU can run (`bytes`, `words`, SSE2, AVX2, AVX-512, NEON,
//! the dispatch, through `wsproto::__mask_paths`), in place and copying, equals the reference
//! for the payload placed at a fuzzer-chosen offset in its buffer (the copy's source and
//! destination at different offsets), from a fuzzer-chosen phase, whole and cut in two at a
//! fuzzer-chosen point (resuming mid-key); bytes around the payload are left alone.
//! Then through the public `Connection`: a client's masked output is checked byte by byte
//! against `payload ^ key`, and a server unmasks frames masked by the reference.
//!
//! Input layout: `[key; 4] [flags] [prefix len] [frame size] [n] [n split sizes...] [payload...]`
//! - `flags`: bit 0 receive in `stream_messages` mode, bit 1 receive via `read_buf`, bit 2 send
//!   with `send(Message::Binary)`, bits 3-4 scale the frame size by 1, 8, 64 or 1024, bits 5-7
//!   the phase for the direct checks (with `n`'s bits 3-7 as its high bits).
//! - `prefix len` is also the payload's offset in its buffer for the direct checks (the copy's
//!   destination sits at `prefix len * 7 % 67`), `frame size` also the cut point (modulo the
//!   payload length plus one).

use bytes::BytesMut;
use wsproto::__mask_paths as paths;
use wsproto::{Bytes, Config, Connection, Message, Role};

use super::wire::{
    LenEncoding, Norm, Normalizer, RawFrame, chunks, drain_events, encode_frame, feed_via_read_buf,
    mask_reference, parse_header, take_all_output,
};

/// The `i`th key the client draws: distinct for every frame, derived from the fuzzer's key.
fn key_for(base: [u8; 4], i: u32) -> [u8; 4] {
    let salt = i.wrapping_mul(0x9E37_79B9).to_le_bytes();
    [
        base[0] ^ salt[0],
        base[1] ^ salt[1],
        base[2] ^ salt[2],
        base[3] ^ salt[3],
    ]
}

/// Runs one input (any bytes).
pub fn run(data: &[u8]) {
    let [k0, k1, k2, k3, flags, prefix_len, frame_size, n, rest @ ..] = data else {
        return;
    };
    let key = [*k0, *k1, *k2, *k3];
    let (n_byte, frame_byte) = (*n, *frame_size);
    let n = usize::from(*n & 7).min(rest.len());
    let sizes: Vec<usize> = rest[..n].iter().map(|&s| usize::from(s)).collect();
    let payload = &rest[n..];
    let prefix: Vec<u8> = (0..*prefix_len).map(|i| i.wrapping_mul(31)).collect();
    let scale = [1, 8, 64, 1024][usize::from((flags >> 3) & 3)];
    let frame_size = usize::from(*frame_size) * scale;
    let phase = usize::from(flags >> 5) | usize::from(n_byte >> 3) << 3;
    direct(
        key,
        payload,
        usize::from(*prefix_len),
        phase,
        usize::from(frame_byte),
    );
    client_masks(key, &prefix, payload, frame_size, flags & 4 != 0);
    server_unmasks(
        key,
        &prefix,
        payload,
        frame_size,
        &sizes,
        flags & 1 != 0,
        flags & 2 != 0,
    );
}

/// Guard bytes around the payload in the direct checks.
const GUARD: u8 = 0xC3;

/// Every path, in place and copying, equals the reference; nothing around the payload changes.
fn direct(key: [u8; 4], payload: &[u8], offset: usize, phase: usize, cut: usize) {
    let mut expected = payload.to_vec();
    mask_reference(&mut expected, key, phase);
    let cut = cut % (payload.len() + 1);
    let (paths_here, _skipped) = paths::available();
    assert_eq!(paths_here[0].name(), "bytes");
    let tail = 67;
    for path in &paths_here {
        let name = path.name();
        // In place, whole.
        let mut buf = vec![GUARD; offset + payload.len() + tail];
        buf[offset..offset + payload.len()].copy_from_slice(payload);
        path.apply(&mut buf[offset..offset + payload.len()], key, phase);
        assert_eq!(
            &buf[offset..offset + payload.len()],
            expected,
            "{name}: apply"
        );
        assert!(
            buf[..offset].iter().all(|&b| b == GUARD),
            "{name}: wrote before"
        );
        assert!(
            buf[offset + payload.len()..].iter().all(|&b| b == GUARD),
            "{name}: wrote after"
        );
        // In place, in two parts: the second resumes mid-key. Applying again restores.
        let mut parts = payload.to_vec();
        let (a, b) = parts.split_at_mut(cut);
        path.apply(a, key, phase);
        path.apply(b, key, phase + cut);
        assert_eq!(parts, expected, "{name}: apply in two parts at {cut}");
        path.apply(&mut parts, key, phase);
        assert_eq!(parts, payload, "{name}: apply twice is not the identity");
        // Copying, source and destination at different offsets.
        let dst_offset = offset * 7 % 67;
        let mut dst = vec![GUARD; dst_offset + payload.len() + tail];
        let mut src = vec![0u8; offset + payload.len()];
        src[offset..].copy_from_slice(payload);
        path.copy(
            &mut dst[dst_offset..dst_offset + payload.len()],
            &src[offset..],
            key,
            phase,
        );
        assert_eq!(
            &dst[dst_offset..dst_offset + payload.len()],
            expected,
            "{name}: copy"
        );
        assert!(
            dst[..dst_offset].iter().all(|&b| b == GUARD),
            "{name}: copy wrote before"
        );
        assert!(
            dst[dst_offset + payload.len()..]
                .iter()
                .all(|&b| b == GUARD),
            "{name}: copy wrote after"
        );
        let mut two = vec![0u8; payload.len()];
        let (da, db) = two.split_at_mut(cut);
        path.copy(da, &payload[..cut], key, phase);
        path.copy(db, &payload[cut..], key, phase + cut);
        assert_eq!(two, expected, "{name}: copy in two parts at {cut}");
    }
    // The send and receive entry points.
    let mut out = BytesMut::from(&[GUARD; 3][..]);
    paths::extend_masked(&mut out, &payload[..cut], key, phase);
    paths::extend_masked(&mut out, &payload[cut..], key, phase + cut);
    assert_eq!(&out[..3], [GUARD; 3]);
    assert_eq!(&out[3..], expected, "extend_masked");
    let mut dst = vec![0u8; payload.len()];
    paths::dispatch().copy(&mut dst, payload, key, phase);
    assert_eq!(dst, expected, "dispatch copy");
}

/// A client's frames carry a fresh key each and `payload[i] ^ key[i % 4]`, byte for byte.
fn client_masks(key: [u8; 4], prefix: &[u8], payload: &[u8], frame_size: usize, shared: bool) {
    let mut drawn = 0u32;
    let rng = move |dest: &mut [u8]| {
        assert_eq!(dest.len(), 4, "mask keys are drawn 4 bytes at a time");
        dest.copy_from_slice(&key_for(key, drawn));
        drawn += 1;
    };
    let config = Config::default().max_send_frame_size(frame_size);
    let mut client = Connection::with_random(Role::Client, config, rng);
    client.send_binary(prefix).unwrap();
    if shared {
        client
            .send(Message::Binary(Bytes::copy_from_slice(payload)))
            .unwrap();
    } else {
        client.send_binary(payload).unwrap();
    }
    let mut out = Vec::new();
    take_all_output(&mut client, true, &mut out);

    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut current = Vec::new();
    let mut rest = &out[..];
    let mut i = 0;
    while !rest.is_empty() {
        let h = parse_header(rest).expect("truncated header");
        assert_eq!(
            h.mask,
            Some(key_for(key, i)),
            "frame {i} is not masked with a fresh key"
        );
        let len = usize::try_from(h.payload_len).unwrap();
        if frame_size > 0 {
            assert!(len <= frame_size, "frame over max_send_frame_size");
        }
        let body = &rest[h.header_len..h.header_len + len];
        let k = key_for(key, i);
        let start = current.len();
        for (j, &b) in body.iter().enumerate() {
            current.push(b ^ k[j % 4]);
        }
        // The same through the reference function.
        let mut again = body.to_vec();
        mask_reference(&mut again, k, 0);
        assert_eq!(again, current[start..]);
        rest = &rest[h.header_len + len..];
        i += 1;
        if h.fin {
            messages.push(core::mem::take(&mut current));
        }
    }
    assert!(current.is_empty(), "last message has no FIN frame");
    assert_eq!(
        messages,
        [prefix, payload],
        "unmasked output differs from what was sent"
    );
}

/// A server unmasks reference-masked frames, whatever the split, into the original payload.
fn server_unmasks(
    key: [u8; 4],
    prefix: &[u8],
    payload: &[u8],
    frame_size: usize,
    sizes: &[usize],
    stream: bool,
    read_buf: bool,
) {
    let mut wire = Vec::new();
    let frame = |fin, opcode, key, payload: &[u8]| RawFrame {
        fin,
        rsv: 0,
        opcode,
        mask: Some(key),
        len_encoding: LenEncoding::Minimal,
        payload: payload.to_vec(),
    };
    encode_frame(&frame(true, 2, key_for(key, 100), prefix), &mut wire);
    let pieces: Vec<&[u8]> = if payload.is_empty() || frame_size == 0 {
        vec![payload]
    } else {
        payload.chunks(frame_size).collect()
    };
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i == 0 { 2 } else { 0 };
        let k = key_for(key, 200 + i as u32);
        encode_frame(&frame(i + 1 == pieces.len(), opcode, k, piece), &mut wire);
    }
    let config = Config::default().stream_messages(stream);
    let mut server = Connection::new(Role::Server, config.clone());
    let mut norm = Normalizer::new(&config);
    for range in chunks(wire.len(), sizes) {
        if read_buf {
            feed_via_read_buf(&mut server, &wire[range]);
        } else {
            server.receive(&wire[range]);
        }
        assert_eq!(drain_events(&mut server, &mut norm), None);
    }
    assert_eq!(
        norm.events,
        [
            Norm::Binary(prefix.to_vec()),
            Norm::Binary(payload.to_vec())
        ],
        "unmasked payload differs"
    );
}
