//! Section 7: the closing handshake. A close is answered with a close (echoing the code, empty
//! reason; an empty close with an empty close); everything after the peer's close is ignored;
//! bad close payloads (one byte, a code that may not be sent, a reason that is not UTF-8 or too
//! long) fail with 1002 or 1007.

use wsproto::{CloseReply, Config, ProtocolError};

use crate::harness::*;

/// Codes a peer may send (RFC 6455 §7.4.1, §7.4.2): Autobahn 7.7.
const VALID_CODES: [u16; 18] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4001,
    4500, 4999,
];

/// Codes that must fail the connection: Autobahn 7.9 and 7.13.
const INVALID_CODES: [u16; 20] = [
    0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 5001, 6000, 10000, 32768,
    40000, 65000, 65534, 65535,
];

#[test]
fn s7_1_basic_close_behaviour() {
    let big = ascii(256 * 1024);
    run(&[
        Case {
            name: "7.1.1 text, then close 1000".into(),
            input: input![text("Hello World!"), close(1000, "")],
            output: vec![Out::text("Hello World!"), Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.1.2 close, then close again".into(),
            input: input![close(1000, ""), close(1000, "")],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.1.3 close, then ping".into(),
            input: input![close(1000, ""), ping("Hello World!")],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.1.4 close, then text".into(),
            input: input![close(1000, ""), text("Hello World!")],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.1.5 text fragment, close, continuation".into(),
            input: input![
                text("fragment1").fin(false),
                close(1000, ""),
                cont("fragment2")
            ],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.1.5 the same in one read".into(),
            input: vec![together([
                text("fragment1").fin(false),
                close(1000, ""),
                cont("fragment2"),
            ])],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.1.6 256 KiB text, close, ping, in one read".into(),
            input: vec![together([
                text(&big),
                close(1000, ""),
                ping("Hello World!"),
            ])],
            output: vec![Out::text(&big), Out::Close(Some(1000))],
            fail: OK,
        },
    ]);
}

#[test]
fn s7_anything_after_the_close_is_ignored() {
    let after_close: Vec<(&str, In)> = vec![
        ("binary", binary([1, 2, 3]).into()),
        (
            "a fragmented text",
            together([text("a").fin(false), cont("b")]),
        ),
        ("a ping", ping("p").into()),
        ("a pong", pong("p").into()),
        ("a close with an invalid code", close(1005, "").into()),
        ("a reserved opcode", op(0x3, "x").into()),
        ("RSV bits", text("x").rsv(7).into()),
        ("a stray continuation", cont("x").into()),
        ("a 126-byte ping", ping(bytes(126)).into()),
        ("invalid UTF-8", text(b"\xff").into()),
        (
            // One of the two is wrong toward either role.
            "an unmasked and a masked text",
            together([text("x").mask(Mask::Off), text("y").mask(Mask::On)]),
        ),
        ("garbage bytes", In::Raw(vec![0xFF; 64])),
    ];
    let mut cases = Vec::new();
    for (what, item) in after_close {
        cases.push(Case {
            name: format!("close, then {what} in a later read"),
            input: vec![close(1001, "").into(), item.clone()],
            output: vec![Out::Close(Some(1001))],
            fail: OK,
        });
        // The same frames in the close's own read.
        if let In::Frames(frames) = &item {
            let mut all = vec![close_empty()];
            all.extend(frames.iter().cloned());
            cases.push(Case {
                name: format!("empty close, then {what} in the same read"),
                input: vec![together(all)],
                output: vec![Out::Close(None)],
                fail: OK,
            });
        }
    }
    run(&cases);
}

#[test]
fn s7_3_close_payloads() {
    let reason_123 = ascii(123);
    let reason_124 = ascii(124);
    run(&[
        Case {
            name: "7.3.1 close with an empty payload".into(),
            input: input![close_empty()],
            output: vec![Out::Close(None)],
            fail: OK,
        },
        Case {
            name: "7.3.2 close with a one-byte payload".into(),
            input: input![F::new(CLOSE, [0x03])],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::CloseFrameTooShort),
        },
        Case {
            name: "7.3.3 close with code 1000 and no reason".into(),
            input: input![close(1000, "")],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.3.4 close with code 1000 and a reason: the code is echoed, not the reason"
                .into(),
            input: input![close(1000, "Hello World!")],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.3.5 close with a 123-byte reason".into(),
            input: input![close(1000, &reason_123)],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.3.6 close with a 124-byte reason: a 126-byte control payload".into(),
            input: vec![split(close(1000, &reason_124), [0])],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::ControlFrameTooLong(126)),
        },
        Case {
            name: "7.5.1 close with a reason that is not UTF-8".into(),
            input: input![close(
                1000,
                b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"
            )],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidCloseReason),
        },
        Case {
            name: "7.5.x close reason ending inside a code point".into(),
            input: input![close(1000, b"abc\xe2\x82")],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidCloseReason),
        },
        Case {
            name: "7.5.x close with a multi-byte UTF-8 reason, cut inside a code point".into(),
            input: vec![split(close(1000, "κόσμε 😀"), [4, 11])],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "7.x close waits for its whole payload before it is judged".into(),
            input: vec![split(F::new(CLOSE, [0x03]), [0]), ping("too late").into()],
            output: vec![Out::Fail(1002)],
            fail: after(1, ProtocolError::CloseFrameTooShort),
        },
        Case {
            name: "7.x close with an invalid code, after a message".into(),
            input: vec![together([text("first"), close(999, "x"), text("never")])],
            output: vec![Out::text("first"), Out::Fail(1002)],
            fail: after(0, ProtocolError::InvalidCloseCode(999)),
        },
    ]);
}

#[test]
fn s7_7_every_valid_code_is_echoed() {
    let mut cases = Vec::new();
    for code in VALID_CODES {
        cases.push(Case {
            name: format!("7.7 close code {code}"),
            input: input![close(code, "")],
            output: vec![Out::Close(Some(code))],
            fail: OK,
        });
        cases.push(Case {
            name: format!("7.7 close code {code} with a reason, after a message"),
            input: input![binary([1]), close(code, "reason")],
            output: vec![Out::binary([1]), Out::Close(Some(code))],
            fail: OK,
        });
    }
    run(&cases);
}

#[test]
fn s7_9_every_invalid_code_fails() {
    let mut cases = Vec::new();
    for code in INVALID_CODES {
        cases.push(Case {
            name: format!("7.9 close code {code}"),
            input: input![close(code, ""), ping("ignored")],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::InvalidCloseCode(code)),
        });
        cases.push(Case {
            name: format!("7.9 close code {code} with a reason"),
            input: input![close(code, "reason")],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::InvalidCloseCode(code)),
        });
    }
    run(&cases);
}

#[test]
fn s7_every_code_in_one_sweep() {
    // All 65536 codes through one endpoint each, delivered whole (the tables above cover the
    // deliveries): the close is reported with its code and echoed exactly when sendable; any
    // other code fails with 1002 and the error's text as the reason. The connection ends closed
    // either way.
    for role in [wsproto::Role::Server, wsproto::Role::Client] {
        let mut sendable = 0;
        for code in 0..=u16::MAX {
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            let (bytes, _) = close(code, "").encode(role, [1, 2, 3, 4]);
            let trace = drive(role, &Config::default(), &[&bytes]).unwrap();
            assert_eq!(trace.state, wsproto::State::Closed, "{code}");
            let out: Vec<_> = trace.frames.iter().map(|(_, _, f)| f.clone()).collect();
            assert_eq!(out.len(), 1, "{code}");
            assert_eq!((out[0].opcode, out[0].fin), (CLOSE, true), "{code}");
            if valid {
                sendable += 1;
                assert_eq!(out[0].payload, code.to_be_bytes(), "{code}");
                assert!(trace.error.is_none());
                let mut echo = Echo::new(role, Config::default());
                echo.feed(&bytes);
                assert_eq!(
                    echo.events,
                    [wsproto::Event::Close(Some(wsproto::CloseFrame::new(
                        wsproto::CloseCode(code),
                        ""
                    )))],
                    "{code}"
                );
            } else {
                let error = ProtocolError::InvalidCloseCode(code);
                let mut reply = 1002u16.to_be_bytes().to_vec();
                reply.extend_from_slice(error.to_string().as_bytes());
                assert_eq!(out[0].payload, reply, "{code}");
                assert_eq!(
                    trace.error.map(|(_, _, e)| e),
                    Some(wsproto::Error::Protocol(error))
                );
            }
        }
        assert_eq!(sendable, 4 + 8 + 2000);
    }
}

#[test]
fn s7_close_reply_normal() {
    // With CloseReply::Normal the reply is always 1000 (an empty close still gets an empty one).
    let config = Config::default().close_reply(CloseReply::Normal);
    run_with(
        &[
            Case {
                name: "close 3000 answered with 1000".into(),
                input: input![close(3000, "custom")],
                output: vec![Out::Close(Some(1000))],
                fail: OK,
            },
            Case {
                name: "close 1001 answered with 1000".into(),
                input: input![close(1001, "")],
                output: vec![Out::Close(Some(1000))],
                fail: OK,
            },
            Case {
                name: "empty close answered with an empty close".into(),
                input: input![close_empty()],
                output: vec![Out::Close(None)],
                fail: OK,
            },
            Case {
                name: "invalid code still fails with 1002".into(),
                input: input![close(1006, "")],
                output: vec![Out::Fail(1002)],
                fail: after(0, ProtocolError::InvalidCloseCode(1006)),
            },
        ],
        &config,
    );
}

#[test]
fn s7_end_of_input() {
    // The transport ends (`receive_eof`): after the close handshake that is the normal end; before
    // it, `poll_event` returns `UnexpectedEof` (1006) once the complete frames are handled, and
    // nothing more is written. After a protocol error the end changes nothing.
    run(&[
        Case {
            name: "close, then the end of input".into(),
            input: vec![close(1000, "").into(), In::Eof],
            output: vec![Out::Close(Some(1000))],
            fail: OK,
        },
        Case {
            name: "close and the end of input together".into(),
            input: vec![close_empty().into(), In::Eof],
            output: vec![Out::Close(None).after(0)],
            fail: OK,
        },
        Case {
            name: "the end of input before anything".into(),
            input: vec![In::Eof],
            output: vec![],
            fail: Fail::Eof(0),
        },
        Case {
            name: "text, ping, then the end of input".into(),
            input: vec![together([text("last words"), ping("p")]), In::Eof],
            output: vec![Out::text("last words"), Out::pong("p")],
            fail: Fail::Eof(1),
        },
        Case {
            name: "the end of input inside a frame".into(),
            input: vec![text("whole").into(), In::Header(text("ha"), 4), In::Eof],
            output: vec![Out::text("whole")],
            fail: Fail::Eof(2),
        },
        Case {
            name: "the end of input inside a close frame".into(),
            input: vec![In::Header(close_empty(), 5), In::Eof],
            output: vec![],
            fail: Fail::Eof(1),
        },
        Case {
            name: "the end of input inside a fragmented message".into(),
            input: vec![text("frag").fin(false).into(), ping("p").into(), In::Eof],
            output: vec![Out::pong("p")],
            fail: Fail::Eof(2),
        },
        Case {
            name: "a protocol error, then the end of input".into(),
            input: vec![text("x").rsv(1).into(), In::Eof],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::ReservedBits(1)),
        },
    ]);
}
