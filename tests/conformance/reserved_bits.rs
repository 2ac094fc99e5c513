//! Section 3: reserved bits. With no extension negotiated, any RSV bit fails the connection with
//! 1002 at the frame's header; the messages before it are echoed first.

use wsproto::ProtocolError;

use crate::harness::*;

#[test]
fn s3_autobahn_cases() {
    let rsv = ProtocolError::ReservedBits;
    run(&[
        Case {
            name: "3.1 small text with RSV = 1".into(),
            input: input![text("Hello, world!").rsv(1)],
            output: vec![Out::Fail(1002)],
            fail: after(0, rsv(1)),
        },
        Case {
            name: "3.2 small text, then text with RSV = 2, then ping".into(),
            input: input![
                text("Hello, world!"),
                text("Hello, world!").rsv(2),
                ping("Hello, world!")
            ],
            output: vec![
                Out::text("Hello, world!").after(0),
                Out::Fail(1002).after(1),
            ],
            fail: after(1, rsv(2)),
        },
        Case {
            name: "3.2 the same in one read: the text echo still comes before the close".into(),
            input: vec![together([
                text("Hello, world!"),
                text("Hello, world!").rsv(2),
                ping("Hello, world!"),
            ])],
            output: vec![Out::text("Hello, world!"), Out::Fail(1002)],
            fail: after(0, rsv(2)),
        },
        Case {
            name: "3.5 small binary with RSV = 5".into(),
            input: input![binary([0x00, 0xFF, 0xFE, 0xFD]).rsv(5)],
            output: vec![Out::Fail(1002)],
            fail: after(0, rsv(5)),
        },
        Case {
            name: "3.6 ping with RSV = 6".into(),
            input: input![ping("Hello, world!").rsv(6)],
            output: vec![Out::Fail(1002)],
            fail: after(0, rsv(6)),
        },
        Case {
            name: "3.7 close with RSV = 7".into(),
            input: input![close(1000, "").rsv(7)],
            output: vec![Out::Fail(1002)],
            fail: after(0, rsv(7)),
        },
    ]);
}

#[test]
fn s3_3_byte_by_byte_fails_at_the_rsv_header() {
    // 3.3/3.4 with the failure chunk stated exactly: byte by byte, the error comes with the last
    // byte of the RSV frame's header (2 bytes toward a client, 6 with the mask key toward a server).
    run_per_role(
        |role| {
            let first = text("Hello, world!");
            let bad = text("Hello, world!").rsv(3);
            let at = first.encode(role, [0; 4]).0.len() + bad.header_len(role);
            vec![Case {
                name: "3.3 text, RSV = 3 text, ping, byte by byte".into(),
                input: vec![chopped([first, bad, ping("Hello, world!")], 1)],
                output: vec![Out::text("Hello, world!"), Out::Fail(1002)],
                fail: after(at - 1, ProtocolError::ReservedBits(3)),
            }]
        },
        &wsproto::Config::default(),
    );
}

#[test]
fn s3_every_rsv_combination_on_every_frame_type() {
    let mut cases = Vec::new();
    for bits in 1..=7u8 {
        let frames: [(&str, F); 5] = [
            ("text", text("abc")),
            ("binary", binary([1, 2, 3])),
            ("ping", ping("abc")),
            ("pong", pong("abc")),
            ("close", close(1000, "bye")),
        ];
        for (kind, frame) in frames {
            cases.push(Case {
                name: format!("3.x {kind} with RSV = {bits:03b} after a message"),
                input: input![binary([9]), frame.rsv(bits), text("after")],
                output: vec![Out::binary([9]), Out::Fail(1002)],
                fail: after(1, ProtocolError::ReservedBits(bits)),
            });
        }
        cases.push(Case {
            name: format!("3.x continuation with RSV = {bits:03b}"),
            input: input![text("fra").fin(false), cont("gment").rsv(bits)],
            output: vec![Out::Fail(1002)],
            fail: after(1, ProtocolError::ReservedBits(bits)),
        });
        cases.push(Case {
            name: format!("3.x text with RSV = {bits:03b}: fails before its payload arrives"),
            input: vec![split(text("abcdef").rsv(bits), [0]), text("x").into()],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::ReservedBits(bits)),
        });
    }
    run(&cases);
}
