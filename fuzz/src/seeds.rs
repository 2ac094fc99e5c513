//! Seed inputs for every target, built from the RFC 6455 §5.7 examples and frames of every
//! opcode and length encoding. `.ci/fuzz.sh` writes them to `fuzz/corpus/<target>/` (through
//! `tests/fuzz_regressions.rs`, which also runs each one through its target's checks).

use super::wire::{LenEncoding, RawFrame, encode_frame};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The RFC 6455 §5.7 examples, as sent by a server (unmasked) and by a client (masked).
fn rfc_examples() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![
        (
            "unmasked_text",
            vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        ),
        (
            "masked_text",
            vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
        ),
        (
            "fragmented_text",
            vec![0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
        ),
        (
            "unmasked_ping",
            vec![0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        ),
        (
            "masked_pong",
            vec![
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
        ),
    ];
    let mut b256 = vec![0x82, 0x7e, 0x01, 0x00];
    b256.extend((0..=255u8).collect::<Vec<_>>());
    v.push(("binary_256", b256));
    // The 64-bit length form, with a short payload (a 65536-byte seed would slow every run).
    v.push((
        "binary_len64",
        vec![0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3],
    ));
    v
}

/// One frame of every opcode (reserved ones included) and length encoding, masked or not.
fn frames(masked: bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let payloads: [(&str, Vec<u8>); 5] = [
        ("empty", Vec::new()),
        ("hello", b"Hello".to_vec()),
        ("utf8", "h\u{e9}llo \u{20ac} \u{1F600}".as_bytes().to_vec()),
        ("bad_utf8", vec![b'a', 0xED, 0xA0, 0x80]),
        ("close_1000", [&1000u16.to_be_bytes()[..], b"bye"].concat()),
    ];
    for opcode in 0..16u8 {
        for (name, payload) in &payloads {
            for (enc_name, enc) in [
                ("min", LenEncoding::Minimal),
                ("len16", LenEncoding::Force16),
                ("len64", LenEncoding::Force64),
            ] {
                if enc != LenEncoding::Minimal && *name != "hello" {
                    continue;
                }
                let frame = RawFrame {
                    fin: true,
                    rsv: 0,
                    opcode,
                    mask: masked.then_some(KEY),
                    len_encoding: enc,
                    payload: payload.clone(),
                };
                let mut wire = Vec::new();
                encode_frame(&frame, &mut wire);
                out.push((format!("op{opcode:x}_{name}_{enc_name}"), wire));
            }
        }
    }
    // A fragmented message with a ping in the middle, then a close.
    let mut wire = Vec::new();
    for (fin, opcode, payload) in [
        (false, 1u8, &b"Hel"[..]),
        (true, 9, b"ping"),
        (false, 0, b"l"),
        (true, 0, b"o"),
        (true, 8, &[0x03, 0xe8][..]),
    ] {
        let frame = RawFrame {
            fin,
            rsv: 0,
            opcode,
            mask: masked.then_some(KEY),
            len_encoding: LenEncoding::Minimal,
            payload: payload.to_vec(),
        };
        encode_frame(&frame, &mut wire);
    }
    out.push(("fragmented_with_ping_and_close".into(), wire));
    out
}

/// A fixed pseudo-random byte string (for the `arbitrary`-decoded targets).
fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Every wire stream above, unmasked and masked.
fn all_wire() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = rfc_examples()
        .into_iter()
        .map(|(n, w)| (format!("rfc_{n}"), w))
        .collect();
    out.extend(
        frames(false)
            .into_iter()
            .map(|(n, w)| (format!("server_{n}"), w)),
    );
    out.extend(
        frames(true)
            .into_iter()
            .map(|(n, w)| (format!("client_{n}"), w)),
    );
    out
}

/// The seeds of `target`: `(file name, bytes)`.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    match target {
        "frame_decode" => {
            // [flags, limits, splits] then the wire bytes; a few mode variations of each.
            for (name, wire) in all_wire() {
                out.push((name.clone(), [&[0, 0, 0][..], &wire].concat()));
            }
            for (i, (name, wire)) in rfc_examples().into_iter().enumerate() {
                let flags = [0x01, 0x08, 0x10 | 0x20, 0x40, 0x80, 0x1f][i % 6];
                let limits = [0o00, 0o44, 0o33, 0o21, 0o66, 0o50][i % 6];
                let head = [flags, limits, 2, 1, 3];
                out.push((format!("{name}_mode{i}"), [&head[..], &wire].concat()));
            }
        }
        "roundtrip" => {
            for (i, len) in [16, 64, 256, 1024].into_iter().enumerate() {
                out.push((format!("noise_{len}"), noise(i as u32, len)));
            }
        }
        "mask" => {
            // [key; 4] [flags] [prefix len] [frame size] [n] [sizes..] [payload]
            let payloads: [&[u8]; 3] = [b"Hello", &[0xAA; 37], &noise(9, 300)];
            for (i, payload) in payloads.into_iter().enumerate() {
                for (j, (flags, prefix, frame, splits)) in [
                    (0u8, 0u8, 0u8, &[][..]),
                    (1, 3, 7, &[1, 2][..]),
                    (2 | 8, 5, 2, &[5][..]),
                    (1 | 4, 1, 13, &[3, 1, 4][..]),
                ]
                .into_iter()
                .enumerate()
                {
                    let mut input = KEY.to_vec();
                    input.extend([flags, prefix, frame, splits.len() as u8]);
                    input.extend_from_slice(splits);
                    input.extend_from_slice(payload);
                    out.push((format!("payload{i}_mode{j}"), input));
                }
            }
        }
        "differential" => {
            // Raw mode: client streams (masked), whole and in splits.
            for (name, wire) in all_wire() {
                if name.starts_with("client_") || name == "rfc_masked_text" {
                    out.push((name, [&[0, 0][..], &wire].concat()));
                }
            }
            let mut all = Vec::new();
            for (name, wire) in frames(true) {
                if name.contains("op1_") || name.contains("op2_") || name.contains("op9_") {
                    all.extend_from_slice(&wire);
                }
            }
            out.push((
                "client_many".into(),
                [&[0x02, 3, 1, 2, 3][..], &all].concat(),
            ));
            // Structured mode.
            for len in [32, 128, 512] {
                out.push((
                    format!("structured_{len}"),
                    [&[1, 0][..], &noise(len as u32, len)].concat(),
                ));
            }
        }
        _ => {}
    }
    out
}
