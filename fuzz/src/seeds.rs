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
        "handshake_server" => {
            // [limits] [splits] [sizes..] then the request.
            for (i, (name, request)) in requests().into_iter().enumerate() {
                out.push((name.to_string(), [&[0, 0][..], &request].concat()));
                let head = [
                    [0x00, 0x02, 7, 40][..].to_vec(),
                    vec![0x01, 0x01, 1],
                    vec![0x0e, 0x0b, 3, 5, 1],
                ];
                out.push((
                    format!("{name}_mode{i}"),
                    [&head[i % 3][..], &request].concat(),
                ));
            }
        }
        "handshake_client" => {
            // [flags] [splits] [sizes..] then the response.
            for flags in [0u8, 1, 4] {
                for (name, response) in responses(flags) {
                    let splits: &[u8] = if flags == 4 { &[0x02, 9, 30] } else { &[0] };
                    out.push((
                        format!("{name}_flags{flags}"),
                        [&[flags][..], splits, &response].concat(),
                    ));
                }
            }
        }
        "inflate" => {
            // [flags] [msg len] [frame size] [splits] [sizes..] then the data.
            for (name, data) in deflate_payloads() {
                for (j, head) in [
                    &[0u8, 0, 0, 0][..],
                    &[0x08, 0, 3, 0x02, 5, 1],
                    &[0x04 | 0x10, 0, 2, 0],
                    &[0x01 | 0x02, 2, 0, 0x01, 4],
                ]
                .into_iter()
                .enumerate()
                {
                    out.push((format!("{name}_mode{j}"), [head, &data].concat()));
                }
            }
            for len in [64, 300] {
                out.push((
                    format!("roundtrip_noise_{len}"),
                    [
                        &[0x80 | 0x20 | 0x08, 16, 20, 0][..],
                        &noise(len, len as usize),
                    ]
                    .concat(),
                ));
            }
        }
        _ => {}
    }
    out
}

/// Handshake requests: a browser's, the RFC 6455 §1.2 example, and malformed variants.
fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let rfc = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
               Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
               Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
               Sec-WebSocket-Version: 13\r\n\r\n";
    let browser = "GET /socket?room=1 HTTP/1.1\r\nHost: localhost:8080\r\nConnection: Upgrade\r\n\
                   Pragma: no-cache\r\nCache-Control: no-cache\r\n\
                   User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n\
                   Upgrade: websocket\r\nOrigin: http://localhost:8080\r\n\
                   Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\n\
                   Accept-Language: en-US,en;q=0.9\r\n\
                   Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
                   Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![
        ("rfc6455_1_2", rfc.into()),
        ("browser", browser.into()),
        ("rfc_then_frame", {
            let mut v = rfc.as_bytes().to_vec();
            v.extend([
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ]);
            v
        }),
        ("bare_lf", rfc.replace("\r\n", "\n").into()),
        ("leading_crlf", format!("\r\n\r\n{rfc}").into()),
        ("partial", rfc[..60].into()),
    ];
    let variants: [(&'static str, &str, &str); 12] = [
        ("post", "GET /chat", "POST /chat"),
        ("http10", "HTTP/1.1", "HTTP/1.0"),
        ("version8", "Version: 13", "Version: 8"),
        ("no_upgrade", "Upgrade: websocket\r\n", ""),
        ("no_host", "Host: server.example.com\r\n", ""),
        ("bad_key", "dGhlIHNhbXBsZSBub25jZQ==", "short=="),
        (
            "dup_key",
            "Origin:",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin:",
        ),
        ("bad_target", "/chat", "chat"),
        (
            "absolute_target",
            "/chat",
            "ws://server.example.com/chat?x=1",
        ),
        ("bad_protocols", "chat, superchat", "chat,, \"x\""),
        (
            "extensions",
            "Origin:",
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10, x; y=\"z\"\r\nOrigin:",
        ),
        (
            "obs_fold",
            "Origin: http://example.com\r\n",
            "Origin: http://example.com\r\n folded\r\n",
        ),
    ];
    for (name, from, to) in variants {
        out.push((name, rfc.replacen(from, to, 1).into()));
    }
    out
}

/// Handshake responses for the client whose request is built from `flags`.
fn responses(flags: u8) -> Vec<(&'static str, Vec<u8>)> {
    let key = super::handshake_client::key_for(flags);
    let accept = wsproto::handshake::accept_key(key.as_bytes());
    let ok = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    vec![
        ("valid_101", ok.clone().into()),
        ("valid_101_then_frames", {
            let mut v = ok.clone().into_bytes();
            v.extend([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x89, 0x00]);
            v
        }),
        (
            "valid_101_protocol",
            ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n")
                .into(),
        ),
        (
            "continue_then_101",
            format!("HTTP/1.1 100 Continue\r\n\r\n{ok}").into(),
        ),
        (
            "wrong_accept",
            ok.replace(&accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").into(),
        ),
        (
            "two_accepts",
            ok.replace("\r\n\r\n", &format!("\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"))
                .into(),
        ),
        ("101_http10", ok.replacen("HTTP/1.1", "HTTP/1.0", 1).into()),
        ("no_upgrade", ok.replacen("Upgrade: websocket\r\n", "", 1).into()),
        (
            "401_with_body",
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 12\r\n\r\nlog in first"
                .into(),
        ),
        (
            "404_unsized_body",
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such socket".into(),
        ),
        (
            "302_redirect",
            "HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\nContent-Length: 0\r\n\r\n".into(),
        ),
        ("garbage", b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec()),
        ("truncated", ok.as_bytes()[..50].to_vec()),
    ]
}

/// Payloads for `inflate`: real raw-deflate streams (as permessage-deflate sends them, trailer
/// removed) and invalid ones.
fn deflate_payloads() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // RFC 7692 §7.2.3.1: "Hello" compressed.
        (
            "rfc7692_hello",
            vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        ),
        // §7.2.3.3: "Hello" as a stored (uncompressed) block.
        (
            "rfc7692_stored",
            vec![
                0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
        ),
        // §7.2.3.6: an empty message.
        ("rfc7692_empty", vec![0x00]),
        // 70000 bytes of `a` (zlib level 9, raw, sync-flushed, trailer removed): over the
        // 64 KiB limit from 86 bytes.
        ("bomb_70000", {
            let mut v = vec![
                0xec, 0xc1, 0x31, 0x01, 0x00, 0x00, 0x00, 0xc2, 0xa0, 0xac, 0xeb, 0x5f, 0xc2, 0x12,
                0x9e, 0x40, 0x01,
            ];
            v.extend(std::iter::repeat_n(0x00, 67));
            v.extend([0x6f, 0x03]);
            v
        }),
        // "héllo wörld € 😀 " eight times, zlib level 6: text with back-references.
        (
            "utf8_text",
            vec![
                0xca, 0x38, 0xbc, 0x32, 0x27, 0x27, 0x5f, 0xa1, 0xfc, 0xf0, 0xb6, 0xa2, 0x9c, 0x14,
                0x85, 0x47, 0x4d, 0x6b, 0x14, 0x3e, 0xcc, 0x9f, 0xd1, 0xa0, 0x90, 0x31, 0xd8, 0x85,
                0x01, 0x00,
            ],
        ),
        ("invalid_block_type", vec![0xff, 0xff, 0xff]),
        (
            "bad_utf8_stored",
            vec![0x00, 0x02, 0x00, 0xfd, 0xff, 0xc3, 0x28, 0x00],
        ),
    ]
}
