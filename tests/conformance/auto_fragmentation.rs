//! Section 10: automatic fragmentation. With `Config::max_send_frame_size`, an echoed message
//! leaves as frames of exactly that payload size (the last one shorter), first with the
//! message's opcode, then continuations; the peer reassembles the message.

use wsproto::{Config, Connection, Event, Role};

use crate::harness::*;

/// The frames `payload` must be echoed as with frames of at most `size` bytes.
fn fragmented(opcode: u8, payload: &[u8], size: usize) -> Vec<Out> {
    if payload.len() <= size {
        return vec![Out::frame(true, opcode, payload)];
    }
    let parts: Vec<&[u8]> = payload.chunks(size).collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            Out::frame(
                i == parts.len() - 1,
                if i == 0 { opcode } else { CONT },
                part,
            )
        })
        .collect()
}

#[test]
fn s10_1_echo_is_fragmented_at_the_configured_size() {
    let message = ascii(65536);
    for size in [1300usize, 65535, 65536, 4096, 125, 126] {
        let config = Config::default().max_send_frame_size(size);
        let mut cases = vec![
            Case {
                name: format!("10.1.1 64 KiB text echoed in frames of {size}"),
                input: input![text(&message)],
                output: fragmented(TEXT, &message, size),
                fail: OK,
            },
            Case {
                name: format!("10.1.1 64 KiB binary echoed in frames of {size}"),
                input: input![binary(bytes(65536))],
                output: fragmented(BINARY, &bytes(65536), size),
                fail: OK,
            },
            Case {
                name: format!(
                    "10.1.1 64 KiB text arriving in 1300-byte fragments, frames of {size}"
                ),
                input: vec![together(message.chunks(1300).enumerate().map(|(i, c)| {
                    (if i == 0 { text(c) } else { cont(c) }).fin(i == 50)
                }))],
                output: fragmented(TEXT, &message, size),
                fail: OK,
            },
        ];
        // Control frames are never fragmented.
        if size < 125 {
            cases.push(Case {
                name: format!("pong of 125 bytes with frames of {size}"),
                input: input![ping(bytes(125))],
                output: vec![Out::pong(bytes(125))],
                fail: OK,
            });
        }
        run_with(&cases, &config);
    }
    // Tiny sizes; a message shorter than the size goes as one frame.
    for size in [1usize, 7] {
        let config = Config::default().max_send_frame_size(size);
        run_with(
            &[
                Case {
                    name: format!("text echoed in frames of {size}"),
                    input: input![text("Hello, world!")],
                    output: fragmented(TEXT, b"Hello, world!", size),
                    fail: OK,
                },
                Case {
                    name: format!("empty text echoed with frames of {size}"),
                    input: input![text("")],
                    output: vec![Out::frame(true, TEXT, "")],
                    fail: OK,
                },
                Case {
                    name: format!("pong of 20 bytes with frames of {size}: one frame"),
                    input: input![ping(bytes(20))],
                    output: vec![Out::pong(bytes(20))],
                    fail: OK,
                },
            ],
            &config,
        );
    }
}

#[test]
fn s10_the_peer_reassembles_the_fragmented_echo() {
    // A message with multi-byte code points, so frame boundaries fall inside code points.
    let message = "κόσμε 😀 ".repeat(4000);
    for role in [Role::Server, Role::Client] {
        let config = Config::default().max_send_frame_size(1300);
        let mut echo = Echo::new(role, config);
        let (frame, _) = text(&message).encode(role, [9, 8, 7, 6]);
        let (out, error) = echo.feed(&frame);
        assert_eq!(error, None);
        let frames = decode_frames(&out, role == Role::Client).unwrap();
        assert_eq!(frames.len(), message.len().div_ceil(1300));
        assert!(frames.iter().all(|f| f.payload.len() <= 1300));
        // The peer (the other role) sees one text message.
        let peer_role = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut peer = Connection::new(peer_role, Config::default());
        for piece in out.chunks(777) {
            peer.receive(piece);
        }
        let event = peer.poll_event().unwrap();
        assert_eq!(
            event,
            Some(Event::Text(message.as_str().into())),
            "{role:?}"
        );
        assert_eq!(peer.poll_event().unwrap(), None);
    }
}
