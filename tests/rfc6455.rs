//! The `Connection` state machine against RFC 6455, one module per section.
//!
//! Every receive rule is checked for both roles where it applies, asserting the events, the
//! close frame written back (decoded and unmasked by an encoder/decoder independent of the
//! crate's) and `state()`. Frames "from the peer" are built by `common::frame_to`: masked when
//! the receiver is a server, unmasked when it is a client.

mod common;

use bytes::Bytes;
use common::*;
use wsproto::{
    CloseCode, CloseFrame, CloseReply, Config, Connection, Error, Event, Message, ProtocolError,
    Role, SendError, State, Utf8Bytes,
};

// ----- shared assertions -----

fn text(s: &str) -> Event {
    Event::Text(Utf8Bytes::from(s))
}

fn binary(b: &[u8]) -> Event {
    Event::Binary(Bytes::copy_from_slice(b))
}

fn close_event(code: u16, reason: &str) -> Event {
    Event::Close(Some(CloseFrame::new(CloseCode(code), reason)))
}

/// Feeds `input` to a fresh connection and checks that it fails with `expected` after producing
/// exactly `before`: the error comes once, a close frame with the error's code (and its
/// description as reason) is the last frame written, the state is `Closed`, the transport is to be
/// closed only once that frame is written, and afterwards nothing more happens. Returns every
/// frame written.
fn fails_with(
    role: Role,
    config: Config,
    input: &[u8],
    before: &[Event],
    expected: ProtocolError,
) -> Vec<WireFrame> {
    fails_with_conn(conn(role, config), input, before, expected)
}

/// [`fails_with`] for a connection built by the caller.
fn fails_with_conn(
    mut c: Connection,
    input: &[u8],
    before: &[Event],
    expected: ProtocolError,
) -> Vec<WireFrame> {
    let role = c.role();
    let (events, error) = feed(&mut c, input);
    assert_eq!(events, before, "{role:?}: events before the error");
    assert_eq!(
        error,
        Some(Error::Protocol(expected.clone())),
        "{role:?}: error after {events:?}"
    );
    assert_eq!(c.state(), State::Closed, "{role:?}");
    assert!(
        !c.should_close_transport(),
        "{role:?}: transport to be closed before the close frame was written"
    );
    let frames = take_frames(&mut c);
    let last = frames.last().expect("a close frame is written");
    assert_eq!(last.opcode, CLOSE);
    assert!(last.fin);
    assert_eq!(
        last.close_code(),
        Some(expected.close_code().0),
        "{role:?}: close code for {expected:?}"
    );
    assert_eq!(last.close_reason(), expected.to_string());
    assert!(last.payload.len() <= 125);
    assert!(c.should_close_transport(), "{role:?}: flushed, failed");
    assert_dead(&mut c);
    frames
}

/// Feeds `input` to a fresh `role` connection and returns its events (panics on an error).
fn receive_ok(role: Role, config: Config, input: &[u8]) -> (Connection, Vec<Event>) {
    let mut c = conn(role, config);
    let (events, error) = feed(&mut c, input);
    assert_eq!(error, None, "{role:?}: events {events:?}");
    (c, events)
}

/// Feeds `input` one byte at a time, polling after each byte.
fn feed_bytewise(c: &mut Connection, input: &[u8]) -> (Vec<Event>, Option<Error>) {
    let mut all = Vec::new();
    for b in input {
        let (events, error) = feed(c, std::slice::from_ref(b));
        all.extend(events);
        if error.is_some() {
            return (all, error);
        }
    }
    (all, None)
}

/// §5.1: "a client MUST mask all frames that it sends to the server"; "a server MUST NOT mask any
/// frames"; each endpoint MUST close the connection on a frame that breaks the rule. (The
/// violations, for every opcode and delivery, are cases of `tests/conformance/masking.rs`.)
mod s5_1_masking {
    use super::*;

    #[test]
    fn server_unmasks_with_any_key_and_length() {
        let keys = [[0, 0, 0, 0], KEY, [0xff; 4], [1, 2, 3, 4]];
        for key in keys {
            for len in [
                0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 125, 126, 1000,
            ] {
                let payload = pattern(len);
                let (_, events) = receive_ok(
                    Role::Server,
                    Config::default(),
                    &frame(FIN | BINARY, Some(key), &payload),
                );
                assert_eq!(events, [binary(&payload)], "key {key:?} len {len}");
            }
        }
    }

    #[test]
    fn unmasking_is_right_across_every_split_of_the_payload() {
        // The masking phase must carry over reads that end at any offset.
        let payload = pattern(37);
        let input = frame(FIN | BINARY, Some(KEY), &payload);
        for cut in 0..input.len() {
            let mut c = conn(Role::Server, Config::default());
            let (mut ev, err) = feed(&mut c, &input[..cut]);
            assert_eq!(err, None);
            let (more, err) = feed(&mut c, &input[cut..]);
            assert_eq!(err, None);
            ev.extend(more);
            assert_eq!(ev, [binary(&payload)], "cut at {cut}");
        }
        let mut c = conn(Role::Server, Config::default());
        assert_eq!(
            feed_bytewise(&mut c, &input),
            (vec![binary(&payload)], None)
        );
    }

    #[test]
    fn server_fragments_may_use_different_keys() {
        let mut input = frame(TEXT, Some([1, 2, 3, 4]), b"Hel");
        input.extend(frame(FIN | CONT, Some([9, 8, 7, 6]), b"lo"));
        let (_, events) = receive_ok(Role::Server, Config::default(), &input);
        assert_eq!(events, [text("Hello")]);
    }
}

/// §5.2: the base framing protocol: payload length encodings. (Reserved RSV bits, reserved
/// opcodes and a 64-bit length with its top bit set are cases of `tests/conformance/`:
/// `reserved_bits.rs`, `opcodes.rs`, `framing.rs`.)
mod s5_2_base_framing {
    use super::*;

    const LENGTHS: [usize; 10] = [0, 1, 125, 126, 127, 1000, 65535, 65536, 65537, 200_000];

    #[test]
    fn all_three_length_encodings_are_received() {
        for role in ROLES {
            for len in LENGTHS {
                let payload = pattern(len);
                let input = frame_to(role, FIN | BINARY, &payload);
                let expected_header =
                    2 + match len {
                        0..=125 => 0,
                        126..=65535 => 2,
                        _ => 8,
                    } + if role == Role::Server { 4 } else { 0 };
                assert_eq!(input.len(), expected_header + len);
                let (c, events) = receive_ok(role, Config::default(), &input);
                assert_eq!(events, [binary(&payload)], "{role:?} len {len}");
                assert_eq!(c.state(), State::Open);
                assert_eq!(c.buffered_input(), 0);
            }
        }
    }

    #[test]
    fn headers_split_at_every_byte_give_the_same_event() {
        for role in ROLES {
            for len in [5, 300, 70_000] {
                let payload = pattern(len);
                let input = frame_to(role, FIN | BINARY, &payload);
                let header_len = input.len() - len;
                // Every cut inside the header and the first payload bytes.
                for cut in 0..=header_len + 2 {
                    let mut c = conn(role, Config::default());
                    let (mut ev, err) = feed(&mut c, &input[..cut]);
                    assert_eq!((ev.clone(), err), (vec![], None), "cut {cut}");
                    let (more, err) = feed(&mut c, &input[cut..]);
                    assert_eq!(err, None);
                    ev.extend(more);
                    assert_eq!(ev, [binary(&payload)], "{role:?} len {len} cut {cut}");
                }
            }
        }
    }

    #[test]
    fn sender_uses_the_minimal_length_encoding() {
        for role in ROLES {
            for len in LENGTHS {
                let mut c = conn(role, Config::default());
                c.send_binary(&pattern(len)).unwrap();
                let out = take_output(&mut c);
                let mask_bit = if role == Role::Client { 0x80 } else { 0 };
                match len {
                    0..=125 => assert_eq!(out[1], mask_bit | len as u8),
                    126..=65535 => {
                        assert_eq!(out[1], mask_bit | 126);
                        assert_eq!(&out[2..4], &(len as u16).to_be_bytes());
                    }
                    _ => {
                        assert_eq!(out[1], mask_bit | 127);
                        assert_eq!(&out[2..10], &(len as u64).to_be_bytes());
                    }
                }
                let frames = parse_frames(&out);
                assert_masking(role, &frames);
                assert_eq!(frames.len(), 1);
                assert_eq!(frames[0].payload, pattern(len));
            }
        }
    }
}

/// §5.3: a client picks a fresh, unpredictable masking key for every frame.
mod s5_3_client_masking {
    use super::*;

    #[test]
    fn every_frame_gets_the_next_key_from_the_source() {
        let config = Config::default().max_send_frame_size(4);
        let mut c = Connection::with_random(Role::Client, config, seeded_rng(42));
        let mut keys = KeyStream::new(42);
        c.send_text("hello").unwrap(); // two frames: "hell", "o"
        c.send_binary(b"").unwrap();
        c.send_ping(b"p").unwrap();
        c.send_pong(b"q").unwrap();
        c.send_binary_fragment(b"ab", false).unwrap();
        c.send_binary_fragment(b"cd", true).unwrap();
        // An automatic pong and the close reply are masked too.
        c.receive(&frame(FIN | PING, None, b"auto"));
        assert_eq!(events(&mut c), [Event::Ping(Bytes::from_static(b"auto"))]);
        c.receive(&frame(FIN | CLOSE, None, &close_payload(1001, b"")));
        assert_eq!(events(&mut c), [close_event(1001, "")]);

        let out = take_output(&mut c);
        let frames = parse_frames(&out);
        assert_masking(Role::Client, &frames);
        let expected: [(u8, &[u8]); 9] = [
            (TEXT, b"hell"),
            (CONT, b"o"),
            (BINARY, b""),
            (PING, b"p"),
            (PONG, b"q"),
            (BINARY, b"ab"),
            (CONT, b"cd"),
            (PONG, b"auto"),
            (CLOSE, &[0x03, 0xe9]),
        ];
        assert_eq!(frames.len(), expected.len());
        for (f, (op, payload)) in frames.iter().zip(expected) {
            assert_eq!(f.key, Some(keys.key()), "key of {f:?}");
            assert_eq!(f.opcode, op);
            assert_eq!(f.payload, payload);
        }
    }

    #[test]
    fn masked_bytes_on_the_wire_are_payload_xor_key() {
        let mut c = Connection::with_random(Role::Client, Config::default(), fixed_rng(KEY));
        let payload = pattern(300);
        c.send_binary(&payload).unwrap();
        let out = take_output(&mut c);
        assert_eq!(&out[..4], &[FIN | BINARY, 0x80 | 126, 0x01, 0x2c]);
        assert_eq!(&out[4..8], &KEY);
        assert_eq!(out[8..], mask_bytes(&payload, KEY)[..]);
    }

    #[test]
    fn os_entropy_gives_distinct_keys() {
        let mut c = Connection::new(Role::Client, Config::default());
        for _ in 0..64 {
            c.send_binary(b"x").unwrap();
        }
        let frames = take_frames(&mut c);
        let keys: std::collections::HashSet<_> = frames.iter().map(|f| f.key.unwrap()).collect();
        // 64 draws of 32 random bits collide with probability below 1e-6.
        assert_eq!(keys.len(), 64);
        assert!(frames.iter().all(|f| f.payload == b"x"));
    }

    #[test]
    fn a_server_never_masks() {
        let mut c = conn(Role::Server, Config::default().max_send_frame_size(3));
        c.send_text("hello").unwrap();
        c.send(Message::Binary(Bytes::from(pattern(10_000))))
            .unwrap();
        c.send_ping(b"p").unwrap();
        c.send_pong(b"q").unwrap();
        c.send_text_fragment("ab", false).unwrap();
        c.send_text_fragment("cd", true).unwrap();
        c.receive(&frame(FIN | PING, Some(KEY), b"auto"));
        events(&mut c);
        c.close(CloseCode::NORMAL, "bye").unwrap();
        let frames = take_frames(&mut c);
        assert!(frames.len() > 10);
        assert!(frames.iter().all(|f| f.key.is_none()));
    }
}

/// §5.4: fragmentation.
mod s5_4_fragmentation {
    use super::*;

    #[test]
    fn fragments_are_joined_into_one_message() {
        for role in ROLES {
            let mut input = frame_to(role, TEXT, b"Hel");
            input.extend(frame_to(role, CONT, b""));
            input.extend(frame_to(role, CONT, b"l"));
            input.extend(frame_to(role, FIN | CONT, b"o"));
            input.extend(frame_to(role, BINARY, &[1, 2]));
            input.extend(frame_to(role, FIN | CONT, &[3]));
            // An empty message in two empty fragments.
            input.extend(frame_to(role, TEXT, b""));
            input.extend(frame_to(role, FIN | CONT, b""));
            let (c, events) = receive_ok(role, Config::default(), &input);
            assert_eq!(events, [text("Hello"), binary(&[1, 2, 3]), text("")]);
            assert_eq!(c.state(), State::Open);
            // Byte by byte: the same.
            let mut c = conn(role, Config::default());
            assert_eq!(
                feed_bytewise(&mut c, &input),
                (vec![text("Hello"), binary(&[1, 2, 3]), text("")], None)
            );
        }
    }

    #[test]
    fn control_frames_between_fragments_come_first_and_are_answered() {
        for role in ROLES {
            let mut input = frame_to(role, TEXT, b"frag");
            input.extend(frame_to(role, FIN | PING, b"p1"));
            input.extend(frame_to(role, CONT, b"ment"));
            input.extend(frame_to(role, FIN | PONG, b"p2"));
            input.extend(frame_to(role, FIN | CONT, b"ed"));
            let (mut c, events) = receive_ok(role, Config::default(), &input);
            assert_eq!(
                events,
                [
                    Event::Ping(Bytes::from_static(b"p1")),
                    Event::Pong(Bytes::from_static(b"p2")),
                    text("fragmented"),
                ]
            );
            let frames = take_frames(&mut c);
            assert_eq!(frames.len(), 1);
            assert_eq!(
                (frames[0].opcode, &frames[0].payload[..]),
                (PONG, &b"p1"[..])
            );
        }
    }

    #[test]
    fn close_between_fragments_ends_the_connection_without_the_message() {
        for role in ROLES {
            let mut input = frame_to(role, TEXT, b"par");
            input.extend(frame_to(role, FIN | CLOSE, &close_payload(1000, b"")));
            input.extend(frame_to(role, FIN | CONT, b"tial"));
            let (mut c, events) = receive_ok(role, Config::default(), &input);
            assert_eq!(events, [close_event(1000, "")]);
            assert_eq!(c.state(), State::Closed);
            let frames = take_frames(&mut c);
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].close_code(), Some(1000));
        }
    }

    #[test]
    fn continuation_without_a_message_fails_with_1002() {
        for role in ROLES {
            for fin in [FIN, 0] {
                fails_with(
                    role,
                    Config::default(),
                    &frame_to(role, fin | CONT, b"x"),
                    &[],
                    ProtocolError::UnexpectedContinuation,
                );
            }
            // After a complete message, the next continuation is unexpected too.
            let mut input = frame_to(role, TEXT, b"a");
            input.extend(frame_to(role, FIN | CONT, b"b"));
            input.extend(frame_to(role, FIN | CONT, b"c"));
            fails_with(
                role,
                Config::default(),
                &input,
                &[text("ab")],
                ProtocolError::UnexpectedContinuation,
            );
        }
    }

    #[test]
    fn new_data_frame_while_a_message_is_in_progress_fails_with_1002() {
        for role in ROLES {
            for (first, second) in [
                (TEXT, TEXT),
                (TEXT, BINARY),
                (BINARY, TEXT),
                (BINARY, BINARY),
            ] {
                for fin in [FIN, 0] {
                    let mut input = frame_to(role, first, b"a");
                    input.extend(frame_to(role, fin | second, b"b"));
                    fails_with(
                        role,
                        Config::default(),
                        &input,
                        &[],
                        ProtocolError::ExpectedContinuation,
                    );
                }
            }
        }
    }

    #[test]
    fn streaming_send_writes_first_opcode_then_continuations() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.send_text_fragment("Hel", false).unwrap();
            c.send_text_fragment("", false).unwrap();
            c.send_text_fragment("lo", true).unwrap();
            let frames = take_frames(&mut c);
            let shape: Vec<_> = frames.iter().map(|f| (f.fin, f.opcode)).collect();
            assert_eq!(shape, [(false, TEXT), (false, CONT), (true, CONT)]);
            let joined: Vec<u8> = frames.iter().flat_map(|f| f.payload.clone()).collect();
            assert_eq!(joined, b"Hello");
        }
    }
}

/// §5.5: control frames: payload ≤ 125 bytes, never fragmented.
mod s5_5_control_frames {
    use super::*;

    #[test]
    fn payload_of_125_bytes_is_accepted() {
        for role in ROLES {
            let p = pattern(125);
            let mut input = frame_to(role, FIN | PING, &p);
            input.extend(frame_to(role, FIN | PONG, &p));
            let (_, events) = receive_ok(role, Config::default(), &input);
            assert_eq!(
                events,
                [
                    Event::Ping(Bytes::from(p.clone())),
                    Event::Pong(Bytes::from(p))
                ]
            );
        }
    }

    #[test]
    fn payload_over_125_bytes_fails_with_1002() {
        for role in ROLES {
            for op in [PING, PONG, CLOSE] {
                for len in [126usize, 127, 65_535, 65_536] {
                    // Only the header: the decision does not wait for the payload.
                    fails_with(
                        role,
                        Config::default(),
                        &header_to(role, FIN | op, len as u64),
                        &[],
                        ProtocolError::ControlFrameTooLong(len as u64),
                    );
                }
                // A close with a 126-byte payload whose code and reason would be fine otherwise.
                let payload = close_payload(1000, &[b'r'; 124]);
                fails_with(
                    role,
                    Config::default(),
                    &frame_to(role, FIN | op, &payload),
                    &[],
                    ProtocolError::ControlFrameTooLong(126),
                );
            }
        }
    }

    #[test]
    fn control_frame_without_fin_fails_with_1002() {
        for role in ROLES {
            for op in [PING, PONG, CLOSE] {
                fails_with(
                    role,
                    Config::default(),
                    &frame_to(role, op, b""),
                    &[],
                    ProtocolError::FragmentedControlFrame,
                );
            }
            // Also between the fragments of a data message.
            let mut input = frame_to(role, BINARY, b"a");
            input.extend(frame_to(role, PING, b"x"));
            fails_with(
                role,
                Config::default(),
                &input,
                &[],
                ProtocolError::FragmentedControlFrame,
            );
        }
    }

    #[test]
    fn control_frames_may_be_sent_between_streamed_fragments() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.send_binary_fragment(b"ab", false).unwrap();
            c.send_ping(b"1").unwrap();
            c.send_pong(b"2").unwrap();
            c.send_binary_fragment(b"cd", true).unwrap();
            let frames = take_frames(&mut c);
            let shape: Vec<_> = frames.iter().map(|f| (f.fin, f.opcode)).collect();
            assert_eq!(
                shape,
                [(false, BINARY), (true, PING), (true, PONG), (true, CONT)]
            );
        }
    }

    #[test]
    fn control_payloads_over_125_bytes_are_refused_when_sending() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            assert_eq!(
                c.send_ping(&[0; 126]),
                Err(SendError::ControlPayloadTooLong(126))
            );
            assert_eq!(
                c.send_pong(&[0; 200]),
                Err(SendError::ControlPayloadTooLong(200))
            );
            assert_eq!(
                c.send(Message::Ping(Bytes::from(vec![0; 126]))),
                Err(SendError::ControlPayloadTooLong(126))
            );
            assert_eq!(c.buffered_output(), 0);
            assert_eq!(c.state(), State::Open);
            c.send_ping(&[7; 125]).unwrap();
            let frames = take_frames(&mut c);
            assert_eq!(frames[0].payload, [7; 125]);
        }
    }

    #[test]
    fn control_frames_are_not_split_by_max_send_frame_size() {
        for role in ROLES {
            let mut c = conn(role, Config::default().max_send_frame_size(2));
            c.send_ping(&[1; 100]).unwrap();
            c.close(CloseCode::NORMAL, "a longer reason").unwrap();
            let frames = take_frames(&mut c);
            assert_eq!(frames.len(), 2);
            assert!(frames.iter().all(|f| f.fin));
            assert_eq!(frames[0].payload.len(), 100);
            assert_eq!(frames[1].close_reason(), "a longer reason");
        }
    }
}

/// §5.5.1 and §7.4: the close frame: empty, or a valid status code and a UTF-8 reason. (Every
/// received code from 0 to 65535, echoed or failed: `tests/conformance/closing.rs`.)
mod s5_5_1_close {
    use super::*;

    /// The codes RFC 6455 §7.4 (and the IANA registry) allow on the wire.
    fn rfc_valid(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    #[test]
    fn close_code_is_sendable_agrees_with_the_rfc() {
        for code in 0..=u16::MAX {
            assert_eq!(CloseCode(code).is_sendable(), rfc_valid(code), "{code}");
        }
    }

    #[test]
    fn server_replies_to_a_close_with_the_exact_echo_frame() {
        let (mut c, events) = receive_ok(
            Role::Server,
            Config::default(),
            &frame(FIN | CLOSE, Some(KEY), &close_payload(1001, b"going")),
        );
        assert_eq!(events, [close_event(1001, "going")]);
        assert_eq!(take_output(&mut c), [0x88, 0x02, 0x03, 0xe9]);
        assert_eq!(c.state(), State::Closed);
    }

    #[test]
    fn empty_close_gets_an_empty_close() {
        for role in ROLES {
            for reply in [CloseReply::EchoCode, CloseReply::Normal] {
                let (mut c, events) = receive_ok(
                    role,
                    Config::default().close_reply(reply),
                    &frame_to(role, FIN | CLOSE, b""),
                );
                assert_eq!(events, [Event::Close(None)]);
                assert_eq!(c.state(), State::Closed);
                let frames = take_frames(&mut c);
                assert_eq!(frames.len(), 1);
                assert_eq!(frames[0].close_code(), None);
                assert!(frames[0].payload.is_empty());
            }
        }
    }

    #[test]
    fn close_reply_normal_answers_1000() {
        for role in ROLES {
            for code in [1000, 1001, 1011, 3000, 4999] {
                let (mut c, events) = receive_ok(
                    role,
                    Config::default().close_reply(CloseReply::Normal),
                    &frame_to(role, FIN | CLOSE, &close_payload(code, b"why")),
                );
                assert_eq!(events, [close_event(code, "why")]);
                let frames = take_frames(&mut c);
                assert_eq!(frames[0].close_code(), Some(1000));
                assert_eq!(frames[0].close_reason(), "");
                assert_eq!(c.state(), State::Closed);
            }
        }
    }

    #[test]
    fn one_byte_payload_fails_with_1002() {
        for role in ROLES {
            for b in [0x03, 0xe8, 0x00] {
                fails_with(
                    role,
                    Config::default(),
                    &frame_to(role, FIN | CLOSE, &[b]),
                    &[],
                    ProtocolError::CloseFrameTooShort,
                );
            }
        }
    }

    #[test]
    fn utf8_reasons_are_delivered() {
        for role in ROLES {
            let reason = mixed_text(123);
            let (_, events) = receive_ok(
                role,
                Config::default(),
                &frame_to(role, FIN | CLOSE, &close_payload(4000, reason.as_bytes())),
            );
            assert_eq!(events, [close_event(4000, &reason)]);
        }
    }

    #[test]
    fn bad_utf8_reason_fails_with_1007() {
        let bad: [&[u8]; 5] = [
            b"\xff",
            b"ok\xc0\x80",
            b"\xed\xa0\x80",
            b"trunc\xe2\x82",
            b"\xf4\x90\x80\x80",
        ];
        for role in ROLES {
            for reason in bad {
                fails_with(
                    role,
                    Config::default(),
                    &frame_to(role, FIN | CLOSE, &close_payload(1000, reason)),
                    &[],
                    ProtocolError::InvalidCloseReason,
                );
            }
        }
    }

    #[test]
    fn close_with_bad_code_and_bad_reason_reports_the_code() {
        // The code is checked first: 1002, not 1007.
        for role in ROLES {
            fails_with(
                role,
                Config::default(),
                &frame_to(role, FIN | CLOSE, &close_payload(1005, b"\xff")),
                &[],
                ProtocolError::InvalidCloseCode(1005),
            );
        }
    }
}

/// §5.5.2 and §5.5.3: ping and pong.
mod s5_5_2_ping_pong {
    use super::*;

    #[test]
    fn ping_is_answered_with_a_pong_carrying_its_payload() {
        for role in ROLES {
            for len in [0, 1, 8, 125] {
                let p = pattern(len);
                let (mut c, events) =
                    receive_ok(role, Config::default(), &frame_to(role, FIN | PING, &p));
                assert_eq!(events, [Event::Ping(Bytes::from(p.clone()))]);
                let frames = take_frames(&mut c);
                assert_eq!(frames.len(), 1);
                assert_eq!((frames[0].fin, frames[0].opcode), (true, PONG));
                assert_eq!(frames[0].payload, p);
                assert_eq!(c.state(), State::Open);
            }
        }
    }

    #[test]
    fn every_ping_gets_its_own_pong_in_order() {
        for role in ROLES {
            let mut input = Vec::new();
            for i in 0..5u8 {
                input.extend(frame_to(role, FIN | PING, &[i; 3]));
            }
            let (mut c, events) = receive_ok(role, Config::default(), &input);
            assert_eq!(events.len(), 5);
            let pongs: Vec<_> = take_frames(&mut c)
                .into_iter()
                .map(|f| (f.opcode, f.payload))
                .collect();
            let expected: Vec<_> = (0..5u8).map(|i| (PONG, vec![i; 3])).collect();
            assert_eq!(pongs, expected);
        }
    }

    #[test]
    fn auto_pong_can_be_turned_off() {
        for role in ROLES {
            let (mut c, events) = receive_ok(
                role,
                Config::default().auto_pong(false),
                &frame_to(role, FIN | PING, b"hi"),
            );
            assert_eq!(events, [Event::Ping(Bytes::from_static(b"hi"))]);
            assert_eq!(c.buffered_output(), 0);
            // The application answers itself.
            c.send_pong(b"hi").unwrap();
            let frames = take_frames(&mut c);
            assert_eq!(
                (frames[0].opcode, &frames[0].payload[..]),
                (PONG, &b"hi"[..])
            );
        }
    }

    #[test]
    fn a_pong_is_delivered_and_not_answered() {
        for role in ROLES {
            let (c, events) = receive_ok(
                role,
                Config::default(),
                &frame_to(role, FIN | PONG, b"unsolicited"),
            );
            assert_eq!(events, [Event::Pong(Bytes::from_static(b"unsolicited"))]);
            assert_eq!(c.buffered_output(), 0);
        }
    }

    #[test]
    fn no_pong_after_our_close_but_the_ping_is_delivered() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.close(CloseCode::NORMAL, "").unwrap();
            take_output(&mut c);
            assert_eq!(c.state(), State::Closing);
            let (events, error) = feed(&mut c, &frame_to(role, FIN | PING, b"late"));
            assert_eq!(error, None);
            assert_eq!(events, [Event::Ping(Bytes::from_static(b"late"))]);
            assert_eq!(c.buffered_output(), 0, "nothing may follow our close frame");
        }
    }
}

/// §5.6 and §8.1: text payloads are UTF-8, validated as they arrive; failure is 1007. (Which
/// sequences fail, and at exactly which byte, in every delivery and both modes: the tables of
/// `tests/conformance/utf8.rs`.)
mod s5_6_utf8 {
    use super::*;

    const INVALID: [&[u8]; 9] = [
        b"\xff",
        b"abc\x80",
        b"\xc0\x80",         // overlong NUL
        b"\xe0\x80\x80",     // overlong
        b"\xed\xa0\x80",     // surrogate
        b"\xf4\x90\x80\x80", // above U+10FFFF
        b"\xf5\x80\x80\x80", // invalid lead
        b"ok\xe2\x82",       // truncated at the end of the message
        b"\xf0\x9f\x98",     // truncated 4-byte
    ];

    #[test]
    fn multibyte_text_is_delivered() {
        for role in ROLES {
            let s = mixed_text(1000);
            let (_, events) = receive_ok(
                role,
                Config::default(),
                &frame_to(role, FIN | TEXT, s.as_bytes()),
            );
            assert_eq!(events, [text(&s)]);
            let Event::Text(t) = &events[0] else {
                unreachable!()
            };
            assert_eq!(t.as_str(), s);
        }
    }

    #[test]
    fn invalid_sequence_across_fragments_fails_at_the_next_fragment() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            // The first fragment ends with a valid lead byte.
            assert_eq!(
                feed(&mut c, &frame_to(role, TEXT, b"ab\xe0")),
                (vec![], None)
            );
            // The continuation's first byte 0x41 cannot continue it; the frame is 200 bytes but
            // only its header and first byte have arrived.
            let mut second = header_to(role, FIN | CONT, 200);
            let first_byte = match peer_mask(role) {
                Some(k) => 0x41 ^ k[0],
                None => 0x41,
            };
            second.push(first_byte);
            let (ev, err) = feed(&mut c, &second);
            assert_eq!(ev, []);
            assert_eq!(err, Some(Error::Protocol(ProtocolError::InvalidUtf8)));
            assert_eq!(take_frames(&mut c).last().unwrap().close_code(), Some(1007));
            assert_dead(&mut c);
        }
    }

    #[test]
    fn code_points_split_across_fragments_are_valid() {
        let s = "a€😀é";
        let bytes = s.as_bytes();
        for role in ROLES {
            for cut in 0..=bytes.len() {
                let mut input = frame_to(role, TEXT, &bytes[..cut]);
                input.extend(frame_to(role, FIN | CONT, &bytes[cut..]));
                let (_, events) = receive_ok(role, Config::default(), &input);
                assert_eq!(events, [text(s)], "cut {cut}");
            }
        }
    }

    #[test]
    fn message_ending_inside_a_code_point_fails_even_if_split() {
        for role in ROLES {
            let mut input = frame_to(role, TEXT, b"ok\xf0\x9f");
            input.extend(frame_to(role, FIN | CONT, b"\x98"));
            fails_with(
                role,
                Config::default(),
                &input,
                &[],
                ProtocolError::InvalidUtf8,
            );
        }
    }

    #[test]
    fn binary_messages_are_not_validated() {
        for role in ROLES {
            for bad in INVALID {
                let (_, events) =
                    receive_ok(role, Config::default(), &frame_to(role, FIN | BINARY, bad));
                assert_eq!(events, [binary(bad)]);
            }
        }
    }

    #[test]
    fn events_before_bad_text_are_kept() {
        for role in ROLES {
            let mut input = frame_to(role, FIN | TEXT, "good ✓".as_bytes());
            input.extend(frame_to(role, FIN | PING, b"p"));
            input.extend(frame_to(role, FIN | TEXT, b"bad \xff"));
            let frames = fails_with(
                role,
                Config::default(),
                &input,
                &[text("good ✓"), Event::Ping(Bytes::from_static(b"p"))],
                ProtocolError::InvalidUtf8,
            );
            // The pong went out before the close.
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[0].opcode, PONG);
        }
    }
}

/// §5.7: the RFC's example frames, byte for byte.
mod s5_7_examples {
    use super::*;

    const HELLO: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const MASKED_HELLO: &[u8] = &[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    const FRAG_1: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c];
    const FRAG_2: &[u8] = &[0x80, 0x02, 0x6c, 0x6f];
    const PING_HELLO: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const MASKED_PONG: &[u8] = &[
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];

    fn rfc_client() -> Connection {
        Connection::with_random(Role::Client, Config::default(), fixed_rng(RFC_KEY))
    }

    #[test]
    fn single_frame_unmasked_text() {
        let (_, events) = receive_ok(Role::Client, Config::default(), HELLO);
        assert_eq!(events, [text("Hello")]);
        let mut server = conn(Role::Server, Config::default());
        server.send_text("Hello").unwrap();
        assert_eq!(take_output(&mut server), HELLO);
    }

    #[test]
    fn single_frame_masked_text() {
        let (_, events) = receive_ok(Role::Server, Config::default(), MASKED_HELLO);
        assert_eq!(events, [text("Hello")]);
        let mut client = rfc_client();
        client.send_text("Hello").unwrap();
        assert_eq!(take_output(&mut client), MASKED_HELLO);
    }

    #[test]
    fn fragmented_unmasked_text() {
        let mut client = conn(Role::Client, Config::default());
        assert_eq!(feed(&mut client, FRAG_1), (vec![], None));
        assert_eq!(feed(&mut client, FRAG_2), (vec![text("Hello")], None));
        let mut server = conn(Role::Server, Config::default());
        server.send_text_fragment("Hel", false).unwrap();
        server.send_text_fragment("lo", true).unwrap();
        assert_eq!(take_output(&mut server), [FRAG_1, FRAG_2].concat());
        // The same two frames from automatic fragmentation.
        let mut server = conn(Role::Server, Config::default().max_send_frame_size(3));
        server.send_text("Hello").unwrap();
        assert_eq!(take_output(&mut server), [FRAG_1, FRAG_2].concat());
    }

    #[test]
    fn unmasked_ping_and_its_masked_pong() {
        // A client receiving the RFC's ping answers with exactly the RFC's masked pong.
        let mut client = rfc_client();
        assert_eq!(
            feed(&mut client, PING_HELLO),
            (vec![Event::Ping(Bytes::from_static(b"Hello"))], None)
        );
        assert_eq!(take_output(&mut client), MASKED_PONG);
        // And a server receiving that pong reports it.
        let (_, events) = receive_ok(Role::Server, Config::default(), MASKED_PONG);
        assert_eq!(events, [Event::Pong(Bytes::from_static(b"Hello"))]);
        let mut server = conn(Role::Server, Config::default());
        server.send_ping(b"Hello").unwrap();
        assert_eq!(take_output(&mut server), PING_HELLO);
    }

    #[test]
    fn binary_256_bytes_and_64_kib_headers() {
        for (len, head) in [
            (256usize, &[0x82u8, 0x7e, 0x01, 0x00][..]),
            (
                65536,
                &[0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00][..],
            ),
        ] {
            let payload = pattern(len);
            let mut server = conn(Role::Server, Config::default());
            server.send_binary(&payload).unwrap();
            let out = take_output(&mut server);
            assert_eq!(&out[..head.len()], head);
            assert_eq!(&out[head.len()..], &payload[..]);
            let (_, events) = receive_ok(Role::Client, Config::default(), &out);
            assert_eq!(events, [binary(&payload)]);
        }
    }
}

/// §7: closing the connection: states, close replies, who closes the transport, end of input.
mod s7_closing {
    use super::*;
    use std::time::Duration;

    #[test]
    fn server_initiated_handshake() {
        let mut server = conn(Role::Server, Config::default());
        let mut client = conn(Role::Client, Config::default());
        assert_eq!((server.state(), client.state()), (State::Open, State::Open));

        server.close(CloseCode::GOING_AWAY, "bye").unwrap();
        assert_eq!(server.state(), State::Closing);
        assert!(!server.should_close_transport());
        let close = take_output(&mut server);
        assert_eq!(close, [0x88, 0x05, 0x03, 0xe9, b'b', b'y', b'e']);

        assert_eq!(
            feed(&mut client, &close),
            (vec![close_event(1001, "bye")], None)
        );
        assert_eq!(client.state(), State::Closed);
        let reply = take_frames(&mut client);
        assert_eq!(reply.len(), 1);
        assert_eq!(
            (reply[0].close_code(), reply[0].close_reason()),
            (Some(1001), "")
        );
        // §7.1.1: the server closes the TCP connection first; the client waits for it.
        assert!(!client.should_close_transport());

        let mut reply_bytes = header(FIN | CLOSE, reply[0].key, 2);
        reply_bytes.extend(mask_bytes(&reply[0].payload, reply[0].key.unwrap()));
        assert_eq!(
            feed(&mut server, &reply_bytes),
            (vec![close_event(1001, "")], None)
        );
        assert_eq!(server.state(), State::Closed);
        assert!(server.should_close_transport());

        client.receive_eof();
        assert!(client.should_close_transport());
        assert_eq!(
            drain(&mut client),
            (vec![], None),
            "a clean close is no error"
        );
        assert_eq!(drain(&mut server), (vec![], None));
    }

    #[test]
    fn client_initiated_handshake() {
        let mut client = conn(Role::Client, Config::default());
        let mut server = conn(Role::Server, Config::default());
        client.close(CloseCode::NORMAL, "done").unwrap();
        assert_eq!(client.state(), State::Closing);
        let close = take_output(&mut client);
        assert_eq!(
            feed(&mut server, &close),
            (vec![close_event(1000, "done")], None)
        );
        assert_eq!(server.state(), State::Closed);
        // The server closes the transport once its reply is written, not before.
        assert_eq!(server.output(), [0x88, 0x02, 0x03, 0xe8]);
        assert!(!server.should_close_transport());
        server.consume_output(3);
        assert!(!server.should_close_transport());
        let last = server.output().to_vec();
        server.consume_output(1);
        assert!(server.should_close_transport());

        let reply = [&[0x88, 0x02, 0x03][..], &last].concat();
        assert_eq!(
            feed(&mut client, &reply),
            (vec![close_event(1000, "")], None)
        );
        assert_eq!(client.state(), State::Closed);
        assert!(!client.should_close_transport());
        assert_eq!(client.buffered_output(), 0, "no reply to a reply");
    }

    #[test]
    fn client_closes_the_transport_after_eof_or_the_close_timeout() {
        let t0 = Duration::from_secs(100);
        let config = Config::default().close_timeout(Some(Duration::from_secs(5)));
        let mut client = conn(Role::Client, config);
        let (ev, _) = feed(
            &mut client,
            &frame(FIN | CLOSE, None, &close_payload(1000, b"")),
        );
        assert_eq!(ev, [close_event(1000, "")]);
        take_output(&mut client);
        assert_eq!(client.state(), State::Closed);
        assert!(!client.should_close_transport());
        // The close-wait timer is due to start.
        assert!(client.poll_timeout().is_some_and(|t| t <= t0));
        client.handle_timeout(t0);
        assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        client.handle_timeout(t0 + Duration::from_millis(4999));
        assert!(!client.should_close_transport());
        client.handle_timeout(t0 + Duration::from_secs(5));
        assert!(client.should_close_transport());
        assert_eq!(client.poll_timeout(), None);
        assert_eq!(
            drain(&mut client),
            (vec![], None),
            "the close-wait expiring is no error"
        );

        // Without a close timeout, only EOF lets the client go.
        let mut client = conn(Role::Client, Config::default().close_timeout(None));
        feed(&mut client, &frame(FIN | CLOSE, None, b""));
        take_output(&mut client);
        assert_eq!(client.poll_timeout(), None);
        client.handle_timeout(Duration::from_secs(1 << 40));
        assert!(!client.should_close_transport());
        client.receive_eof();
        assert!(client.should_close_transport());
        assert_eq!(drain(&mut client), (vec![], None));
    }

    #[test]
    fn transport_closes_after_a_protocol_error_only_once_the_close_frame_is_written() {
        // Regression: should_close_transport was true as soon as the connection failed, so a
        // driver following it dropped the queued 1002 close frame unsent (§7.1.7: send it first).
        for role in ROLES {
            let mut c = conn(role, Config::default());
            let (_, err) = feed(&mut c, &frame_to(role, FIN | 0x3, b""));
            assert_eq!(err, Some(Error::Protocol(ProtocolError::ReservedOpcode(3))));
            assert!(c.buffered_output() > 0);
            assert!(!c.should_close_transport(), "{role:?}");
            let n = c.output().len();
            c.consume_output(n - 1);
            assert!(!c.should_close_transport(), "{role:?}");
            c.consume_output(1);
            assert!(c.should_close_transport(), "{role:?}");
        }
    }

    #[test]
    fn messages_still_arrive_while_closing() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.close(CloseCode(4000), "app").unwrap();
            assert_eq!(c.state(), State::Closing);
            take_output(&mut c);
            let mut input = frame_to(role, FIN | TEXT, b"in flight");
            input.extend(frame_to(role, BINARY, b"frag"));
            input.extend(frame_to(role, FIN | CONT, b"ment"));
            input.extend(frame_to(role, FIN | PONG, b""));
            let (ev, err) = feed(&mut c, &input);
            assert_eq!(err, None);
            assert_eq!(
                ev,
                [
                    text("in flight"),
                    binary(b"fragment"),
                    Event::Pong(Bytes::new())
                ]
            );
            assert_eq!(c.state(), State::Closing);
            let (ev, _) = feed(
                &mut c,
                &frame_to(role, FIN | CLOSE, &close_payload(4000, b"")),
            );
            assert_eq!(ev, [close_event(4000, "")]);
            assert_eq!(c.state(), State::Closed);
            assert_eq!(c.buffered_output(), 0, "our close was the reply");
            // Input after the peer's close is ignored.
            c.receive(&frame_to(role, FIN | TEXT, b"late"));
            assert_eq!(c.buffered_input(), 0);
            assert_eq!(drain(&mut c), (vec![], None));
        }
    }

    /// Every way to send, each expected to be refused with `SendError::Closed`.
    fn assert_sending_refused(c: &mut Connection) {
        let before = c.buffered_output();
        let results = [
            c.send_text("x"),
            c.send_binary(b"x"),
            c.send_text_fragment("x", false),
            c.send_binary_fragment(b"x", true),
            c.send_ping(b""),
            c.send_pong(b""),
            c.send(Message::text("x")),
            c.send(Message::binary(vec![1])),
            c.send(Message::Ping(Bytes::new())),
            c.send(Message::Pong(Bytes::new())),
        ];
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(
                r,
                Err(SendError::Closed),
                "send #{i} in state {:?}",
                c.state()
            );
        }
        // Closing again is not an error: the handshake is already under way or done.
        let closes = [
            c.close(CloseCode::NORMAL, ""),
            c.close_without_code(),
            c.send(Message::Close(None)),
            c.send(Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))),
        ];
        assert_eq!(
            closes,
            [Ok(()), Ok(()), Ok(()), Ok(())],
            "in state {:?}",
            c.state()
        );
        // An invalid code is still refused.
        assert_eq!(
            c.close(CloseCode(1005), ""),
            Err(SendError::InvalidCloseCode(1005))
        );
        assert_eq!(c.buffered_output(), before, "a refused send queued bytes");
    }

    #[test]
    fn sending_after_our_close_is_refused() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.close_without_code().unwrap();
            assert_eq!(c.state(), State::Closing);
            assert_sending_refused(&mut c);
            assert_eq!(c.state(), State::Closing);
        }
    }

    #[test]
    fn sending_after_the_peers_close_is_refused() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            feed(&mut c, &frame_to(role, FIN | CLOSE, b""));
            assert_eq!(c.state(), State::Closed);
            assert_sending_refused(&mut c);
        }
    }

    #[test]
    fn sending_after_a_protocol_error_is_refused() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            let (_, err) = feed(&mut c, &frame_to(role, CLOSE, b""));
            assert!(err.is_some());
            assert_sending_refused(&mut c);
        }
    }

    #[test]
    fn sending_after_end_of_input_is_refused() {
        // Regression: after UnexpectedEof (and after a timeout) no close frame was recorded as
        // sent, so send_* still queued frames on a dead connection.
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.receive_eof();
            assert_eq!(drain(&mut c), (vec![], Some(Error::UnexpectedEof)));
            assert_sending_refused(&mut c);
            assert_eq!(c.buffered_output(), 0);
        }
    }

    #[test]
    fn sending_after_a_keepalive_timeout_is_refused() {
        for role in ROLES {
            let config = Config::default()
                .keepalive_interval(Some(Duration::from_secs(10)))
                .keepalive_timeout(Duration::from_secs(5));
            let mut c = conn(role, config);
            c.handle_timeout(Duration::ZERO);
            c.handle_timeout(Duration::from_secs(10));
            assert_eq!(take_frames(&mut c)[0].opcode, PING);
            c.handle_timeout(Duration::from_secs(15));
            assert_eq!(drain(&mut c), (vec![], Some(Error::KeepaliveTimeout)));
            assert_sending_refused(&mut c);
            assert_eq!(c.buffered_output(), 0);
        }
    }

    #[test]
    fn end_of_input_while_open_is_an_abnormal_closure() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            // Two complete frames and half of a third arrive, then EOF.
            let mut input = frame_to(role, FIN | TEXT, b"one");
            input.extend(frame_to(role, FIN | PING, b"two"));
            let third = frame_to(role, FIN | BINARY, b"three");
            input.extend_from_slice(&third[..4]);
            c.receive(&input);
            c.receive_eof();
            let (ev, err) = drain(&mut c);
            assert_eq!(ev, [text("one"), Event::Ping(Bytes::from_static(b"two"))]);
            assert_eq!(err, Some(Error::UnexpectedEof));
            assert_eq!(Error::UnexpectedEof.close_code(), CloseCode::ABNORMAL);
            assert_eq!(c.state(), State::Closed);
            // Nothing more is written after EOF: the pong is dropped, no close frame.
            assert_eq!(c.buffered_output(), 0);
            assert!(c.should_close_transport());
            assert_dead(&mut c);
        }
    }

    #[test]
    fn end_of_input_while_closing_is_an_abnormal_closure() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.close(CloseCode::NORMAL, "").unwrap();
            c.receive_eof();
            assert_eq!(drain(&mut c), (vec![], Some(Error::UnexpectedEof)));
            assert_eq!(c.state(), State::Closed);
            assert!(c.should_close_transport());
        }
    }

    #[test]
    fn end_of_input_after_the_handshake_is_clean() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.close(CloseCode::NORMAL, "").unwrap();
            let (ev, _) = feed(
                &mut c,
                &frame_to(role, FIN | CLOSE, &close_payload(1000, b"")),
            );
            assert_eq!(ev, [close_event(1000, "")]);
            c.receive_eof();
            assert_eq!(drain(&mut c), (vec![], None));
            assert_eq!(c.state(), State::Closed);
            // Our close frame is still to be written (the peer may only have half-closed).
            assert!(!c.should_close_transport());
            assert_eq!(parse_frames(&take_output(&mut c))[0].opcode, CLOSE);
            assert!(c.should_close_transport());
        }
    }

    #[test]
    fn close_handshake_timeout_fails_the_connection() {
        for role in ROLES {
            let t0 = Duration::from_secs(7);
            let mut c = conn(
                role,
                Config::default()
                    .keepalive_interval(None)
                    .close_timeout(Some(Duration::from_secs(2))),
            );
            assert_eq!(c.poll_timeout(), None, "no timer runs while open");
            c.close(CloseCode::NORMAL, "").unwrap();
            c.handle_timeout(t0);
            assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(2)));
            c.handle_timeout(t0 + Duration::from_secs(1));
            assert_eq!(drain(&mut c), (vec![], None));
            assert_eq!(c.state(), State::Closing);
            c.handle_timeout(t0 + Duration::from_secs(2));
            assert_eq!(drain(&mut c), (vec![], Some(Error::CloseTimeout)));
            assert_eq!(Error::CloseTimeout.close_code(), CloseCode::ABNORMAL);
            assert_eq!(c.state(), State::Closed);
            assert_eq!(c.buffered_output(), 0);
            assert!(c.should_close_transport());
            assert_eq!(c.poll_timeout(), None);
            assert_dead(&mut c);
        }
    }

    #[test]
    fn close_during_a_streamed_send_ends_it() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.send_text_fragment("part", false).unwrap();
            c.close(CloseCode::GOING_AWAY, "").unwrap();
            assert_eq!(c.send_text_fragment("more", true), Err(SendError::Closed));
            let frames = take_frames(&mut c);
            let shape: Vec<_> = frames.iter().map(|f| (f.fin, f.opcode)).collect();
            assert_eq!(shape, [(false, TEXT), (true, CLOSE)]);
        }
    }

    #[test]
    fn protocol_error_while_closing_sends_no_second_close() {
        for role in ROLES {
            for (bad, expected) in [
                (
                    frame_to(role, FIN | CLOSE, &close_payload(1004, b"")),
                    ProtocolError::InvalidCloseCode(1004),
                ),
                (
                    frame_to(role, FIN | TEXT, b"\xff"),
                    ProtocolError::InvalidUtf8,
                ),
                (
                    frame_to(role, FIN | 0x7, b""),
                    ProtocolError::ReservedOpcode(7),
                ),
            ] {
                let mut c = conn(role, Config::default());
                c.close(CloseCode::NORMAL, "").unwrap();
                take_output(&mut c);
                let mut input = frame_to(role, FIN | BINARY, b"ok");
                input.extend(bad);
                let (ev, err) = feed(&mut c, &input);
                assert_eq!(ev, [binary(b"ok")]);
                assert_eq!(err, Some(Error::Protocol(expected)));
                assert_eq!(c.state(), State::Closed);
                assert_eq!(c.buffered_output(), 0, "a close frame was already sent");
                assert!(c.should_close_transport());
                assert_dead(&mut c);
            }
        }
    }

    #[test]
    fn simultaneous_close_needs_no_reply() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.close(CloseCode::NORMAL, "mine").unwrap();
            take_output(&mut c);
            let (ev, err) = feed(
                &mut c,
                &frame_to(role, FIN | CLOSE, &close_payload(1001, b"theirs")),
            );
            assert_eq!((ev, err), (vec![close_event(1001, "theirs")], None));
            assert_eq!(c.state(), State::Closed);
            assert_eq!(c.buffered_output(), 0);
        }
    }
}

/// Configured limits: 1009, decided from the header before the payload is buffered.
mod limits {
    use super::*;

    #[test]
    fn defaults_suit_a_public_server() {
        let c = Config::default();
        assert_eq!(c.max_frame_size, 16 << 20);
        assert_eq!(c.max_message_size, 64 << 20);
    }

    #[test]
    fn frame_over_max_frame_size_fails_at_its_header() {
        for role in ROLES {
            for stream in [false, true] {
                let config = Config::default()
                    .max_frame_size(100)
                    .stream_messages(stream);
                // Exactly the limit is fine.
                let (_, ev) = receive_ok(
                    role,
                    config.clone(),
                    &frame_to(role, FIN | BINARY, &[1; 100]),
                );
                assert_eq!(ev.len(), 1);
                for size in [101u64, 70_000, 1 << 40] {
                    fails_with(
                        role,
                        config.clone(),
                        &header_to(role, FIN | BINARY, size),
                        &[],
                        ProtocolError::FrameTooLarge { size, limit: 100 },
                    );
                }
                // A continuation frame too.
                let mut input = frame_to(role, TEXT, b"ok");
                input.extend(header_to(role, FIN | CONT, 101));
                let streamed = [Event::TextFragment {
                    data: "ok".into(),
                    fin: false,
                }];
                let before: &[Event] = if stream { &streamed } else { &[] };
                let frames = fails_with(
                    role,
                    config.clone(),
                    &input,
                    before,
                    ProtocolError::FrameTooLarge {
                        size: 101,
                        limit: 100,
                    },
                );
                assert_eq!(frames.last().unwrap().close_code(), Some(1009));
            }
        }
    }

    #[test]
    fn message_over_max_message_size_fails_at_the_header_that_exceeds_it() {
        for role in ROLES {
            let config = Config::default().max_message_size(100);
            // 60 + 40 = 100: fine.
            let mut input = frame_to(role, BINARY, &[1; 60]);
            input.extend(frame_to(role, FIN | CONT, &[2; 40]));
            let (_, ev) = receive_ok(role, config.clone(), &input);
            assert_eq!(ev.len(), 1);
            // 60 + 41: fails when the second header arrives, without its payload.
            let mut input = frame_to(role, FIN | TEXT, b"before");
            input.extend(frame_to(role, BINARY, &[1; 60]));
            input.extend(frame_to(role, FIN | PING, b""));
            input.extend(header_to(role, FIN | CONT, 41));
            fails_with(
                role,
                config.clone(),
                &input,
                &[text("before"), Event::Ping(Bytes::new())],
                ProtocolError::MessageTooLarge { limit: 100 },
            );
            // One frame above the message limit but within the frame limit.
            fails_with(
                role,
                config.clone(),
                &header_to(role, FIN | TEXT, 101),
                &[],
                ProtocolError::MessageTooLarge { limit: 100 },
            );
        }
    }

    #[test]
    fn streaming_ignores_max_message_size_but_not_max_frame_size() {
        for role in ROLES {
            let config = Config::default()
                .stream_messages(true)
                .max_message_size(10)
                .max_frame_size(8);
            let mut input = frame_to(role, BINARY, &[1; 8]);
            input.extend(frame_to(role, CONT, &[2; 8]));
            input.extend(frame_to(role, FIN | CONT, &[3; 8]));
            let (_, ev) = receive_ok(role, config.clone(), &input);
            let total: usize = ev
                .iter()
                .map(|e| match e {
                    Event::BinaryFragment { data, .. } => data.len(),
                    other => panic!("{other:?}"),
                })
                .sum();
            assert_eq!(total, 24);
            fails_with(
                role,
                config,
                &header_to(role, FIN | BINARY, 9),
                &[],
                ProtocolError::FrameTooLarge { size: 9, limit: 8 },
            );
        }
    }
}

/// `Config::stream_messages`: data delivered piecewise as it arrives.
mod streaming {
    use super::*;

    fn stream_config() -> Config {
        Config::default().stream_messages(true)
    }

    /// Joins fragment events into messages, checking the fin flags.
    fn join(events: &[Event]) -> Vec<Event> {
        let mut out = Vec::new();
        let mut text = String::new();
        let mut bin = Vec::new();
        for e in events {
            match e {
                Event::TextFragment { data, fin } => {
                    assert!(bin.is_empty());
                    text.push_str(data.as_str());
                    if *fin {
                        out.push(Event::Text(Utf8Bytes::from(std::mem::take(&mut text))));
                    }
                }
                Event::BinaryFragment { data, fin } => {
                    assert!(text.is_empty());
                    bin.extend_from_slice(data);
                    if *fin {
                        out.push(Event::Binary(Bytes::from(std::mem::take(&mut bin))));
                    }
                }
                Event::Text(_) | Event::Binary(_) => panic!("whole message in streaming mode"),
                other => out.push(other.clone()),
            }
        }
        assert!(text.is_empty() && bin.is_empty(), "unfinished message");
        out
    }

    #[test]
    fn fragments_are_delivered_as_bytes_arrive() {
        for role in ROLES {
            let mut c = conn(role, stream_config());
            let input = frame_to(role, FIN | BINARY, b"0123456789");
            let head = input.len() - 10;
            assert_eq!(
                feed(&mut c, &input[..head + 4]),
                (
                    vec![Event::BinaryFragment {
                        data: Bytes::from_static(b"0123"),
                        fin: false
                    }],
                    None
                )
            );
            assert_eq!(feed(&mut c, &input[head + 4..head + 4]), (vec![], None));
            assert_eq!(
                feed(&mut c, &input[head + 4..]),
                (
                    vec![Event::BinaryFragment {
                        data: Bytes::from_static(b"456789"),
                        fin: true
                    }],
                    None
                )
            );
            assert_eq!(c.buffered_input(), 0);
        }
    }

    #[test]
    fn empty_message_is_one_final_empty_fragment() {
        for role in ROLES {
            let (_, ev) = receive_ok(role, stream_config(), &frame_to(role, FIN | TEXT, b""));
            assert_eq!(
                ev,
                [Event::TextFragment {
                    data: Utf8Bytes::new(),
                    fin: true
                }]
            );
            let mut input = frame_to(role, BINARY, b"");
            input.extend(frame_to(role, CONT, b""));
            input.extend(frame_to(role, FIN | CONT, b""));
            let (_, ev) = receive_ok(role, stream_config(), &input);
            assert_eq!(
                ev,
                [Event::BinaryFragment {
                    data: Bytes::new(),
                    fin: true
                }]
            );
        }
    }

    #[test]
    fn text_parts_are_valid_utf8_for_every_frame_and_read_split() {
        let s = "a€😀é";
        let bytes = s.as_bytes();
        for role in ROLES {
            for frame_cut in 0..=bytes.len() {
                let mut input = frame_to(role, TEXT, &bytes[..frame_cut]);
                input.extend(frame_to(role, FIN | CONT, &bytes[frame_cut..]));
                for read_cut in 0..=input.len() {
                    let mut c = conn(role, stream_config());
                    let (mut ev, err) = feed(&mut c, &input[..read_cut]);
                    assert_eq!(err, None);
                    let (more, err) = feed(&mut c, &input[read_cut..]);
                    assert_eq!(err, None);
                    ev.extend(more);
                    // `as_str` re-validates every part; each part holds whole code points.
                    for e in &ev {
                        let Event::TextFragment { data, .. } = e else {
                            panic!("{e:?}")
                        };
                        assert_eq!(std::str::from_utf8(data.as_bytes()).unwrap(), data.as_str());
                    }
                    assert_eq!(
                        join(&ev),
                        [text(s)],
                        "frame cut {frame_cut} read cut {read_cut}"
                    );
                }
                // Byte by byte.
                let mut c = conn(role, stream_config());
                let (ev, err) = feed_bytewise(&mut c, &input);
                assert_eq!(err, None);
                assert_eq!(join(&ev), [text(s)]);
            }
        }
    }

    #[test]
    fn a_code_point_spread_over_three_frames_arrives_whole() {
        for role in ROLES {
            let mut input = frame_to(role, TEXT, b"x\xf0");
            input.extend(frame_to(role, CONT, b"\x9f"));
            input.extend(frame_to(role, CONT, b"\x98"));
            input.extend(frame_to(role, FIN | CONT, b"\x80y"));
            let (_, ev) = receive_ok(role, stream_config(), &input);
            assert_eq!(
                ev,
                [
                    Event::TextFragment {
                        data: "x".into(),
                        fin: false
                    },
                    Event::TextFragment {
                        data: "😀y".into(),
                        fin: true
                    },
                ]
            );
        }
    }

    #[test]
    fn a_code_point_split_around_a_control_frame() {
        for role in ROLES {
            for stream in [false, true] {
                let mut input = frame_to(role, TEXT, b"a\xe2");
                input.extend(frame_to(role, FIN | PING, b""));
                input.extend(frame_to(role, CONT, b"\x82"));
                input.extend(frame_to(role, FIN | PONG, b""));
                input.extend(frame_to(role, FIN | CONT, b"\xac!"));
                let (_, ev) = receive_ok(role, Config::default().stream_messages(stream), &input);
                if stream {
                    assert_eq!(
                        ev,
                        [
                            Event::TextFragment {
                                data: "a".into(),
                                fin: false
                            },
                            Event::Ping(Bytes::new()),
                            Event::Pong(Bytes::new()),
                            Event::TextFragment {
                                data: "€!".into(),
                                fin: true
                            },
                        ]
                    );
                } else {
                    assert_eq!(
                        ev,
                        [
                            Event::Ping(Bytes::new()),
                            Event::Pong(Bytes::new()),
                            text("a€!")
                        ]
                    );
                }
            }
        }
    }

    #[test]
    fn control_frames_between_streamed_fragments() {
        for role in ROLES {
            let mut input = frame_to(role, BINARY, b"ab");
            input.extend(frame_to(role, FIN | PING, b"p"));
            input.extend(frame_to(role, FIN | CONT, b"cd"));
            let (mut c, ev) = receive_ok(role, stream_config(), &input);
            assert_eq!(
                ev,
                [
                    Event::BinaryFragment {
                        data: Bytes::from_static(b"ab"),
                        fin: false
                    },
                    Event::Ping(Bytes::from_static(b"p")),
                    Event::BinaryFragment {
                        data: Bytes::from_static(b"cd"),
                        fin: true
                    },
                ]
            );
            assert_eq!(take_frames(&mut c)[0].opcode, PONG);
        }
    }

    #[test]
    fn large_streamed_message_is_never_buffered_whole() {
        // 1 MiB in 64 KiB reads: the input buffer never holds much more than one read.
        let payload = pattern(1 << 20);
        for role in ROLES {
            let input = frame_to(role, FIN | BINARY, &payload);
            let mut c = conn(role, stream_config());
            let mut got = Vec::new();
            for chunk in input.chunks(64 * 1024) {
                c.receive(chunk);
                assert!(c.buffered_input() <= 64 * 1024 + 14);
                for e in events(&mut c) {
                    let Event::BinaryFragment { data, .. } = e else {
                        panic!()
                    };
                    got.extend_from_slice(&data);
                }
                assert!(
                    c.buffered_input() <= 14,
                    "payload held back: {}",
                    c.buffered_input()
                );
            }
            assert_eq!(got, payload);
        }
    }
}

/// The sending side: automatic fragmentation, streamed sends, refused requests.
mod send_side {
    use super::*;

    fn shape(frames: &[WireFrame]) -> Vec<(bool, u8, usize)> {
        frames
            .iter()
            .map(|f| (f.fin, f.opcode, f.payload.len()))
            .collect()
    }

    #[test]
    fn large_messages_are_split_at_max_send_frame_size() {
        for role in ROLES {
            let mut c = conn(role, Config::default().max_send_frame_size(10));
            c.send_binary(&pattern(25)).unwrap();
            c.send_binary(&pattern(10)).unwrap();
            c.send_binary(b"").unwrap();
            c.send(Message::Binary(Bytes::from(pattern(21)))).unwrap();
            let s = mixed_text(23);
            c.send_text(&s).unwrap();
            let frames = take_frames(&mut c);
            assert_eq!(
                shape(&frames),
                [
                    (false, BINARY, 10),
                    (false, CONT, 10),
                    (true, CONT, 5),
                    (true, BINARY, 10),
                    (true, BINARY, 0),
                    (false, BINARY, 10),
                    (false, CONT, 10),
                    (true, CONT, 1),
                    (false, TEXT, 10),
                    (false, CONT, 10),
                    (true, CONT, 3),
                ]
            );
            let joined: Vec<u8> = frames[..3].iter().flat_map(|f| f.payload.clone()).collect();
            assert_eq!(joined, pattern(25));
            let joined: Vec<u8> = frames[8..].iter().flat_map(|f| f.payload.clone()).collect();
            assert_eq!(joined, s.as_bytes());
        }
    }

    #[test]
    fn max_send_frame_size_zero_counts_as_one() {
        let config = Config::default().max_send_frame_size(0);
        assert_eq!(config.max_send_frame_size, Some(0));
        let mut c = conn(Role::Server, config);
        c.send_binary(&pattern(3)).unwrap();
        assert_eq!(
            shape(&take_frames(&mut c)),
            [(false, BINARY, 1), (false, CONT, 1), (true, CONT, 1)]
        );
        let config = Config::default()
            .max_send_frame_size(4)
            .no_send_fragmentation();
        assert_eq!(config.max_send_frame_size, None);
        let mut c = conn(Role::Server, config);
        c.send_binary(&pattern(100_000)).unwrap();
        assert_eq!(shape(&take_frames(&mut c)), [(true, BINARY, 100_000)]);
    }

    #[test]
    fn streamed_parts_are_split_too() {
        for role in ROLES {
            let mut c = conn(role, Config::default().max_send_frame_size(4));
            c.send_binary_fragment(&pattern(9), false).unwrap();
            c.send_ping(b"p").unwrap();
            c.send_binary_fragment(&pattern(3), true).unwrap();
            let frames = take_frames(&mut c);
            assert_eq!(
                shape(&frames),
                [
                    (false, BINARY, 4),
                    (false, CONT, 4),
                    (false, CONT, 1),
                    (true, PING, 1),
                    (true, CONT, 3),
                ]
            );
        }
    }

    #[test]
    fn whole_messages_are_refused_while_a_streamed_one_is_open() {
        for role in ROLES {
            for kind_text in [true, false] {
                let mut c = conn(role, Config::default());
                if kind_text {
                    c.send_text_fragment("start", false).unwrap();
                } else {
                    c.send_binary_fragment(b"start", false).unwrap();
                }
                let queued = c.buffered_output();
                assert_eq!(c.send_text("x"), Err(SendError::MessageInProgress));
                assert_eq!(c.send_binary(b"x"), Err(SendError::MessageInProgress));
                assert_eq!(
                    c.send(Message::text("x")),
                    Err(SendError::MessageInProgress)
                );
                assert_eq!(
                    c.send(Message::binary(vec![1])),
                    Err(SendError::MessageInProgress)
                );
                // A part of the other kind would interleave two messages.
                let other = if kind_text {
                    c.send_binary_fragment(b"x", true)
                } else {
                    c.send_text_fragment("x", true)
                };
                assert_eq!(other, Err(SendError::MessageInProgress));
                assert_eq!(c.buffered_output(), queued, "a refused send queued bytes");
                // Control frames are fine; then the message ends and whole messages work again.
                c.send_ping(b"").unwrap();
                if kind_text {
                    c.send_text_fragment("end", true).unwrap();
                } else {
                    c.send_binary_fragment(b"end", true).unwrap();
                }
                c.send_text("after").unwrap();
                let first = if kind_text { TEXT } else { BINARY };
                let frames = take_frames(&mut c);
                assert_eq!(
                    shape(&frames),
                    [
                        (false, first, 5),
                        (true, PING, 0),
                        (true, CONT, 3),
                        (true, TEXT, 5)
                    ]
                );
                assert_eq!(c.state(), State::Open);
            }
        }
    }

    #[test]
    fn a_single_final_part_is_a_whole_message() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.send_text_fragment("whole", true).unwrap();
            c.send_binary_fragment(b"", true).unwrap();
            assert_eq!(
                shape(&take_frames(&mut c)),
                [(true, TEXT, 5), (true, BINARY, 0)]
            );
        }
    }

    #[test]
    fn every_close_code_from_0_to_5000_is_checked_before_sending() {
        for role in ROLES {
            for code in (0..=5000u16).chain([5001, 65535]) {
                let mut c = conn(role, Config::default());
                let r = c.close(CloseCode(code), "r");
                if CloseCode(code).is_sendable() {
                    assert_eq!(r, Ok(()));
                    assert_eq!(c.state(), State::Closing);
                    let frames = take_frames(&mut c);
                    assert_eq!(frames.len(), 1);
                    assert_eq!(frames[0].close_code(), Some(code));
                    assert_eq!(frames[0].close_reason(), "r");
                } else {
                    assert_eq!(r, Err(SendError::InvalidCloseCode(code)));
                    assert_eq!(
                        c.send(Message::Close(Some(CloseFrame::new(CloseCode(code), "")))),
                        Err(SendError::InvalidCloseCode(code))
                    );
                    assert_eq!(c.buffered_output(), 0);
                    assert_eq!(c.state(), State::Open);
                }
            }
        }
    }

    #[test]
    fn close_reasons_over_123_bytes_are_refused() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            let long = "r".repeat(124);
            assert_eq!(
                c.close(CloseCode::NORMAL, &long),
                Err(SendError::CloseReasonTooLong(124))
            );
            let multibyte = mixed_text(125);
            assert_eq!(
                c.close(CloseCode::NORMAL, &multibyte),
                Err(SendError::CloseReasonTooLong(125))
            );
            assert_eq!(
                c.send(Message::Close(Some(CloseFrame::new(
                    CloseCode(4000),
                    long.as_str()
                )))),
                Err(SendError::CloseReasonTooLong(124))
            );
            assert_eq!(c.buffered_output(), 0);
            assert_eq!(c.state(), State::Open);
            let max = mixed_text(123);
            c.close(CloseCode(4000), &max).unwrap();
            let frames = take_frames(&mut c);
            assert_eq!(frames[0].payload.len(), 125);
            assert_eq!(frames[0].close_reason(), max);
        }
    }

    #[test]
    fn close_without_a_code_sends_an_empty_close() {
        let mut c = conn(Role::Server, Config::default());
        c.close_without_code().unwrap();
        assert_eq!(take_output(&mut c), [0x88, 0x00]);
        assert_eq!(c.state(), State::Closing);
        let mut c = conn(Role::Server, Config::default());
        c.send(Message::Close(None)).unwrap();
        assert_eq!(take_output(&mut c), [0x88, 0x00]);
        // The peer's reply completes the handshake.
        let (ev, _) = feed(&mut c, &frame(FIN | CLOSE, Some(KEY), b""));
        assert_eq!(ev, [Event::Close(None)]);
        assert_eq!(c.state(), State::Closed);
        assert!(c.should_close_transport());
    }

    #[test]
    fn send_accepts_every_message_kind() {
        let mut c = conn(Role::Server, Config::default());
        c.send(Message::text("t")).unwrap();
        c.send(Message::binary(&b"b"[..])).unwrap();
        c.send(Message::Ping(Bytes::from_static(b"pi"))).unwrap();
        c.send(Message::Pong(Bytes::from_static(b"po"))).unwrap();
        c.send(Message::Close(Some(CloseFrame::new(CloseCode(3001), "c"))))
            .unwrap();
        let frames = take_frames(&mut c);
        let got: Vec<_> = frames
            .iter()
            .map(|f| (f.opcode, f.payload.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (TEXT, b"t".to_vec()),
                (BINARY, b"b".to_vec()),
                (PING, b"pi".to_vec()),
                (PONG, b"po".to_vec()),
                (CLOSE, close_payload(3001, b"c")),
            ]
        );
    }
}

/// Taking output: one contiguous run, chunks for vectored writes, owned `Bytes`, and zero-copy
/// queuing of large server payloads.
mod output_api {
    use super::*;

    #[test]
    fn output_and_consume_output() {
        let mut c = conn(Role::Server, Config::default());
        assert_eq!(c.output(), b"");
        assert_eq!(c.buffered_output(), 0);
        c.send_text("abc").unwrap();
        c.send_binary(b"de").unwrap();
        let all = [&[0x81, 3][..], b"abc", &[0x82, 2], b"de"].concat();
        assert_eq!(c.output(), all);
        assert_eq!(c.buffered_output(), 9);
        c.consume_output(4);
        assert_eq!(c.output(), &all[4..]);
        assert_eq!(c.buffered_output(), 5);
        c.send_ping(b"").unwrap();
        assert_eq!(c.output(), [&all[4..], &[0x89, 0]].concat());
        c.consume_output(1000);
        assert_eq!(c.buffered_output(), 0);
        assert_eq!(c.output(), b"");
        assert_eq!(c.take_output(), None);
    }

    #[test]
    fn large_server_bytes_are_queued_without_a_copy() {
        let big = Bytes::from(pattern(100_000));
        let mut c = conn(Role::Server, Config::default());
        c.send_binary(b"small").unwrap();
        c.send(Message::Binary(big.clone())).unwrap();
        c.send_text("tail").unwrap();

        let mut runs: [&[u8]; 8] = [&[]; 8];
        let n = c.output_chunks(&mut runs);
        assert_eq!(n, 3);
        // The header goes with the preceding small frame; the payload is the caller's memory.
        assert_eq!(
            runs[0],
            [
                &[0x82, 5][..],
                b"small",
                &[0x82, 127],
                &100_000u64.to_be_bytes()
            ]
            .concat()
        );
        assert_eq!(runs[1].as_ptr(), big.as_ptr(), "payload was copied");
        assert_eq!(runs[1].len(), big.len());
        assert_eq!(runs[2], [&[0x81, 4][..], b"tail"].concat());
        // output() is the first run only.
        assert_eq!(c.output(), runs[0]);
        let wire: Vec<u8> = runs[..n].concat();
        assert_eq!(wire.len(), c.buffered_output());

        // Fewer slots than runs: filled in order.
        let mut one: [&[u8]; 1] = [&[]];
        assert_eq!(c.output_chunks(&mut one), 1);
        assert_eq!(one[0].as_ptr(), c.output().as_ptr());

        // As IoSlices.
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let m = c.output_io_slices(&mut slices);
        assert_eq!(m, 3);
        assert_eq!(slices[1].as_ptr(), big.as_ptr());
        let joined: Vec<u8> = slices[..m].iter().flat_map(|s| s.to_vec()).collect();
        assert_eq!(joined, wire);

        // Taken as owned Bytes: the same memory again.
        let first = c.take_output().unwrap();
        let second = c.take_output().unwrap();
        assert_eq!(second.as_ptr(), big.as_ptr());
        let third = c.take_output().unwrap();
        assert_eq!(c.take_output(), None);
        assert_eq!([first, second, third].concat(), wire);
        let frames = parse_frames(&wire);
        assert_eq!(frames[1].payload, big);
    }

    #[test]
    fn partial_consume_inside_a_shared_chunk() {
        let big = Bytes::from(pattern(10_000));
        let mut c = conn(Role::Server, Config::default());
        c.send(Message::Binary(big.clone())).unwrap();
        let header = c.output().len();
        assert_eq!(header, 4);
        c.consume_output(header + 100);
        assert_eq!(c.output().as_ptr(), big[100..].as_ptr());
        assert_eq!(c.buffered_output(), 9_900);
        c.consume_output(9_900);
        assert_eq!(c.buffered_output(), 0);
        assert_eq!(c.take_output(), None);
    }

    #[test]
    fn large_text_from_a_string_is_not_copied_either() {
        let s = mixed_text(50_000);
        let text = Utf8Bytes::from(s.clone());
        let ptr = text.as_bytes().as_ptr();
        let mut c = conn(Role::Server, Config::default());
        c.send(Message::Text(text)).unwrap();
        let mut runs: [&[u8]; 4] = [&[]; 4];
        assert_eq!(c.output_chunks(&mut runs), 2);
        assert_eq!(runs[1].as_ptr(), ptr);
        assert_eq!(runs[1], s.as_bytes());
    }

    #[test]
    fn auto_fragments_of_shared_bytes_point_into_the_original() {
        let big = Bytes::from(pattern(12_000));
        let mut c = conn(Role::Server, Config::default().max_send_frame_size(5_000));
        c.send(Message::Binary(big.clone())).unwrap();
        let mut runs: [&[u8]; 8] = [&[]; 8];
        let n = c.output_chunks(&mut runs);
        // header, 5000 shared, header, 5000 shared, header + 2000 copied (below the threshold).
        assert_eq!(n, 5);
        assert_eq!(runs[1].as_ptr(), big.as_ptr());
        assert_eq!(runs[3].as_ptr(), big[5_000..].as_ptr());
        assert_ne!(runs[4][4..].as_ptr(), big[10_000..].as_ptr());
        let frames = parse_frames(&runs[..n].concat());
        let joined: Vec<u8> = frames.iter().flat_map(|f| f.payload.clone()).collect();
        assert_eq!(joined, big);
    }

    #[test]
    fn small_payloads_and_client_payloads_are_copied() {
        // Below the threshold: copied next to its header, one run.
        let small = Bytes::from(pattern(4095));
        let mut c = conn(Role::Server, Config::default());
        c.send(Message::Binary(small.clone())).unwrap();
        let mut runs: [&[u8]; 4] = [&[]; 4];
        assert_eq!(c.output_chunks(&mut runs), 1);
        assert_ne!(runs[0][4..].as_ptr(), small.as_ptr());
        // The threshold is configurable.
        let mut c = conn(Role::Server, Config::default().zero_copy_threshold(10));
        let ten = Bytes::from(pattern(10));
        c.send(Message::Binary(ten.clone())).unwrap();
        assert_eq!(c.output_chunks(&mut runs), 2);
        assert_eq!(runs[1].as_ptr(), ten.as_ptr());
        // A client must mask, so it always copies.
        let big = Bytes::from(pattern(100_000));
        let mut c = conn(Role::Client, Config::default());
        c.send(Message::Binary(big.clone())).unwrap();
        let n = c.output_chunks(&mut runs);
        for run in &runs[..n] {
            let range = big.as_ptr() as usize..big.as_ptr() as usize + big.len();
            assert!(!range.contains(&(run.as_ptr() as usize)));
        }
        assert_eq!(take_frames(&mut c)[0].payload, big);
    }
}

/// Taking input: `receive` copies; `read_buf` + `commit` lend the connection's own buffer.
mod input_api {
    use super::*;

    #[test]
    fn read_buf_and_commit_deliver_without_a_copy() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            let payload = pattern(5000);
            let input = frame_to(role, FIN | BINARY, &payload);
            let buf = c.read_buf();
            assert!(buf.len() >= 16 * 1024);
            buf[..input.len()].copy_from_slice(&input);
            let lent = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
            c.commit(input.len());
            assert_eq!(c.buffered_input(), input.len());
            let ev = events(&mut c);
            let Event::Binary(data) = &ev[0] else {
                panic!("{ev:?}")
            };
            assert_eq!(data, &payload);
            // The payload was unmasked in place in the lent buffer and handed out from it.
            assert_eq!(
                data.as_ptr() as usize,
                lent.start + (input.len() - payload.len())
            );
            assert!(lent.contains(&(data.as_ptr() as usize)));
        }
    }

    #[test]
    fn read_buf_in_small_pieces_and_mixed_with_receive() {
        for role in ROLES {
            let mut input = frame_to(role, FIN | TEXT, mixed_text(300).as_bytes());
            input.extend(frame_to(role, FIN | PING, b"ping"));
            input.extend(frame_to(role, BINARY, &pattern(70_000)));
            input.extend(frame_to(role, FIN | CONT, &pattern(3)));
            let expected = receive_ok(role, Config::default(), &input).1;
            assert_eq!(expected.len(), 3);
            for piece in [1, 3, 7, 1000, 16 * 1024] {
                let mut c = conn(role, Config::default());
                let mut got = Vec::new();
                for (i, chunk) in input.chunks(piece).enumerate() {
                    if i % 2 == 0 {
                        let buf = c.read_buf();
                        buf[..chunk.len()].copy_from_slice(chunk);
                        c.commit(chunk.len());
                    } else {
                        c.receive(chunk);
                    }
                    got.extend(events(&mut c));
                }
                assert_eq!(got, expected, "{role:?} pieces of {piece}");
            }
        }
    }

    #[test]
    fn commit_is_clamped_to_the_lent_space() {
        let mut c = conn(Role::Client, Config::default());
        let lent = c.read_buf().len();
        c.commit(usize::MAX);
        assert_eq!(c.buffered_input(), lent);
        c.commit(0);
        assert_eq!(c.buffered_input(), lent);
    }

    #[test]
    fn input_after_the_close_is_ignored() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            feed(&mut c, &frame_to(role, FIN | CLOSE, b""));
            let input = frame_to(role, FIN | TEXT, b"late");
            let buf = c.read_buf();
            buf[..input.len()].copy_from_slice(&input);
            c.commit(input.len());
            c.receive(&input);
            assert_eq!(c.buffered_input(), 0);
            assert_eq!(drain(&mut c), (vec![], None));
        }
    }
}

/// Every error variant is reachable, maps to the right close code, and ends the connection the
/// same way: no events after it, input ignored, earlier events delivered.
mod errors {
    use super::*;
    use std::time::Duration;

    /// A prefix of good traffic, to check that its events survive every error.
    fn good_prefix(role: Role) -> (Vec<u8>, Vec<Event>) {
        let mut input = frame_to(role, FIN | TEXT, b"kept");
        input.extend(frame_to(role, FIN | PONG, b""));
        (input, vec![text("kept"), Event::Pong(Bytes::new())])
    }

    #[test]
    fn every_protocol_error_is_reachable_and_ends_the_connection() {
        use ProtocolError as P;
        type Case = (Role, Config, Vec<u8>, ProtocolError);
        let s = Role::Server;
        let d = Config::default;
        let cases: Vec<Case> = vec![
            (s, d(), frame(FIN | TEXT, None, b"x"), P::UnmaskedFrame),
            (
                Role::Client,
                d(),
                frame(FIN | TEXT, Some(KEY), b"x"),
                P::MaskedFrame,
            ),
            (
                s,
                d(),
                frame_to(s, FIN | RSV2 | TEXT, b"x"),
                P::ReservedBits(0b010),
            ),
            (s, d(), frame_to(s, FIN | 0xB, b""), P::ReservedOpcode(0xB)),
            (
                s,
                d(),
                [
                    &[FIN | BINARY, 0xFF][..],
                    &[0x80, 0, 0, 0, 0, 0, 0, 0],
                    &KEY,
                ]
                .concat(),
                P::PayloadLengthOverflow,
            ),
            (
                s,
                d(),
                header_to(s, FIN | PING, 126),
                P::ControlFrameTooLong(126),
            ),
            (s, d(), frame_to(s, PONG, b""), P::FragmentedControlFrame),
            (
                s,
                d(),
                frame_to(s, FIN | CONT, b""),
                P::UnexpectedContinuation,
            ),
            (
                s,
                d(),
                [frame_to(s, TEXT, b""), frame_to(s, TEXT, b"")].concat(),
                P::ExpectedContinuation,
            ),
            (s, d(), frame_to(s, FIN | TEXT, b"\xc3"), P::InvalidUtf8),
            (
                s,
                d(),
                frame_to(s, FIN | CLOSE, b"\x03"),
                P::CloseFrameTooShort,
            ),
            (
                s,
                d(),
                frame_to(s, FIN | CLOSE, &close_payload(1006, b"")),
                P::InvalidCloseCode(1006),
            ),
            (
                s,
                d(),
                frame_to(s, FIN | CLOSE, &close_payload(1000, b"\xff")),
                P::InvalidCloseReason,
            ),
            (
                s,
                d().max_frame_size(10),
                header_to(s, FIN | BINARY, 11),
                P::FrameTooLarge {
                    size: 11,
                    limit: 10,
                },
            ),
            (
                s,
                d().max_message_size(10),
                [frame_to(s, BINARY, &[0; 6]), header_to(s, FIN | CONT, 5)].concat(),
                P::MessageTooLarge { limit: 10 },
            ),
        ];
        let mut codes = std::collections::BTreeSet::new();
        for (role, config, bad, expected) in cases {
            let (mut input, before) = good_prefix(role);
            input.extend(bad);
            // The rest of the input, after the violation, is never looked at.
            input.extend(frame_to(role, FIN | TEXT, b"never"));
            fails_with(role, config, &input, &before, expected.clone());
            codes.insert(expected.close_code().0);
            assert!(!expected.to_string().is_empty());
        }
        assert_eq!(codes.into_iter().collect::<Vec<_>>(), [1002, 1007, 1009]);
    }

    /// The one protocol error only permessage-deflate can produce.
    #[cfg(feature = "deflate")]
    #[test]
    fn invalid_compressed_data_is_reachable() {
        use wsproto::extensions::deflate::DeflateConfig;
        let params = DeflateConfig::default().accept_offer([]).unwrap().unwrap();
        for role in ROLES {
            let (mut input, before) = good_prefix(role);
            // RSV1 marks a compressed message; 0xff… does not inflate.
            input.extend(frame_to(role, FIN | RSV1 | BINARY, &[0xff; 4]));
            input.extend(frame_to(role, FIN | TEXT, b"never"));
            let c = conn(role, Config::default()).with_deflate(&params);
            fails_with_conn(c, &input, &before, ProtocolError::InvalidCompressedData);
        }
    }

    #[test]
    fn close_codes_of_protocol_errors() {
        use ProtocolError as P;
        for (e, code) in [
            (P::InvalidUtf8, 1007),
            (P::InvalidCloseReason, 1007),
            (P::InvalidCompressedData, 1007),
            (P::FrameTooLarge { size: 2, limit: 1 }, 1009),
            (P::MessageTooLarge { limit: 1 }, 1009),
            (P::UnmaskedFrame, 1002),
            (P::CloseFrameTooShort, 1002),
            (P::InvalidCloseCode(5), 1002),
        ] {
            assert_eq!(e.close_code(), CloseCode(code), "{e:?}");
            assert_eq!(Error::from(e.clone()).close_code(), CloseCode(code));
            assert!(Error::Protocol(e).to_string().contains(&code.to_string()));
        }
        for e in [
            Error::UnexpectedEof,
            Error::KeepaliveTimeout,
            Error::CloseTimeout,
        ] {
            assert_eq!(e.close_code(), CloseCode::ABNORMAL);
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn every_connection_error_is_reachable() {
        for role in ROLES {
            // Protocol: see above. UnexpectedEof:
            let (input, before) = good_prefix(role);
            let mut c = conn(role, Config::default());
            c.receive(&input);
            c.receive_eof();
            assert_eq!(drain(&mut c), (before.clone(), Some(Error::UnexpectedEof)));
            assert_dead(&mut c);

            // KeepaliveTimeout: a ping with no pong.
            let config = Config::default()
                .keepalive_interval(Some(Duration::from_secs(1)))
                .keepalive_timeout(Duration::from_secs(1));
            let mut c = conn(role, config);
            c.handle_timeout(Duration::ZERO);
            c.handle_timeout(Duration::from_secs(1));
            c.handle_timeout(Duration::from_secs(2));
            assert_eq!(drain(&mut c), (vec![], Some(Error::KeepaliveTimeout)));
            assert!(c.should_close_transport());
            assert_dead(&mut c);

            // CloseTimeout: a close with no reply.
            let mut c = conn(role, Config::default());
            c.close(CloseCode::NORMAL, "").unwrap();
            c.handle_timeout(Duration::ZERO);
            c.handle_timeout(Duration::from_secs(10));
            assert_eq!(drain(&mut c), (vec![], Some(Error::CloseTimeout)));
            assert!(c.should_close_transport());
            assert_dead(&mut c);
        }
    }

    #[test]
    fn every_send_error_is_reachable() {
        let mut c = conn(Role::Client, Config::default());
        assert_eq!(
            c.close(CloseCode(1004), ""),
            Err(SendError::InvalidCloseCode(1004))
        );
        assert_eq!(
            c.close(CloseCode::NORMAL, &"x".repeat(124)),
            Err(SendError::CloseReasonTooLong(124))
        );
        assert_eq!(
            c.send_ping(&[0; 126]),
            Err(SendError::ControlPayloadTooLong(126))
        );
        c.send_text_fragment("a", false).unwrap();
        assert_eq!(c.send_text("b"), Err(SendError::MessageInProgress));
        c.close(CloseCode::NORMAL, "").unwrap();
        assert_eq!(c.send_text("c"), Err(SendError::Closed));
        for e in [
            SendError::Closed,
            SendError::InvalidCloseCode(1),
            SendError::CloseReasonTooLong(124),
            SendError::ControlPayloadTooLong(126),
            SendError::MessageInProgress,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn no_timer_runs_after_an_error() {
        for role in ROLES {
            let config = Config::default()
                .keepalive_interval(Some(Duration::from_secs(1)))
                .keepalive_timeout(Duration::from_secs(1));
            let mut c = conn(role, config);
            c.handle_timeout(Duration::ZERO);
            assert_eq!(c.poll_timeout(), Some(Duration::from_secs(1)));
            let (_, err) = feed(&mut c, &frame_to(role, FIN | CLOSE, b"\x03"));
            assert_eq!(
                err,
                Some(Error::Protocol(ProtocolError::CloseFrameTooShort))
            );
            // Only the close timeout runs, bounding the wait for the close frame to leave.
            assert_eq!(c.poll_timeout(), Some(Duration::ZERO));
            let queued = take_output(&mut c);
            assert_eq!(c.poll_timeout(), None);
            c.handle_timeout(Duration::from_secs(100));
            assert_eq!(
                c.poll_event(),
                Ok(None),
                "a timer error after the protocol error"
            );
            assert_eq!(c.buffered_output(), 0, "a keepalive ping after the error");
            assert_eq!(parse_frames(&queued).len(), 1);
        }
    }

    #[test]
    fn an_error_is_returned_once_then_nothing() {
        for role in ROLES {
            let mut c = conn(role, Config::default());
            c.receive(&frame_to(role, FIN | 0x4, b""));
            assert!(c.poll_event().is_err());
            for _ in 0..3 {
                assert_eq!(c.poll_event(), Ok(None));
            }
            // Even EOF afterwards adds no second error.
            c.receive_eof();
            assert_eq!(c.poll_event(), Ok(None));
            assert!(c.should_close_transport() || c.buffered_output() > 0);
        }
    }
}

/// Construction from a role and negotiated parameters, without an HTTP/1.1 handshake (for
/// streams upgraded elsewhere: RFC 8441, RFC 9220, a web framework).
mod construction {
    use super::*;

    #[test]
    fn direct_construction_with_a_subprotocol() {
        for role in ROLES {
            let config = Config::default()
                .max_message_size(1234)
                .keepalive_interval(None);
            let c = Connection::with_random(role, config.clone(), seeded_rng(1))
                .with_subprotocol(Some("chat.v2".into()));
            assert_eq!(c.role(), role);
            assert_eq!(c.config(), &config);
            assert_eq!(c.subprotocol(), Some("chat.v2"));
            assert_eq!(c.state(), State::Open);
            assert_eq!((c.buffered_input(), c.buffered_output()), (0, 0));
            assert_eq!(c.poll_timeout(), None);
            assert!(!c.should_close_transport());
            let c = Connection::new(role, Config::default());
            assert_eq!(c.subprotocol(), None);
        }
    }
}
