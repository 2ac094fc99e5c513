//! Section 5: fragmentation. Fragmented messages are reassembled and echoed whole; control
//! frames may come between fragments (and are answered right away); a continuation without a
//! message, a new message inside one, or a fragmented control frame fail with 1002.

use wsproto::ProtocolError;

use crate::harness::*;

#[test]
fn s5_autobahn_cases() {
    use ProtocolError::{ExpectedContinuation, FragmentedControlFrame, UnexpectedContinuation};
    let frags = |n: usize| -> Vec<F> {
        (1..=n)
            .map(|i| {
                let f = if i == 1 {
                    text(format!("fragment{i}"))
                } else {
                    cont(format!("fragment{i}"))
                };
                f.fin(i == n)
            })
            .collect()
    };
    let two = frags(2);
    let unexpected_then_two = |fin: bool| -> Vec<F> {
        vec![
            cont("fragment1").fin(fin),
            text("fragment2").fin(false),
            cont("fragment3"),
        ]
    };
    let cases = vec![
        Case {
            name: "5.1 ping in 2 fragments".into(),
            input: input![ping("fragment1").fin(false), cont("fragment2")],
            output: vec![Out::Fail(1002)],
            fail: after(0, FragmentedControlFrame),
        },
        Case {
            name: "5.2 pong in 2 fragments".into(),
            input: input![pong("fragment1").fin(false), cont("fragment2")],
            output: vec![Out::Fail(1002)],
            fail: after(0, FragmentedControlFrame),
        },
        Case {
            name: "5.3 text in 2 fragments".into(),
            input: input![two[0].clone(), two[1].clone()],
            output: vec![Out::text("fragment1fragment2")],
            fail: OK,
        },
        Case {
            name: "5.4 text in 2 fragments, byte by byte".into(),
            input: vec![chopped(two.clone(), 1)],
            output: vec![Out::text("fragment1fragment2")],
            fail: OK,
        },
        Case {
            name: "5.5 text in 2 fragments, in one read".into(),
            input: vec![together(two.clone())],
            output: vec![Out::text("fragment1fragment2")],
            fail: OK,
        },
        Case {
            name: "5.6 text in 2 fragments with a ping in between".into(),
            input: input![two[0].clone(), ping("ping payload"), two[1].clone()],
            output: vec![
                Out::pong("ping payload").after(1),
                Out::text("fragment1fragment2").after(2),
            ],
            fail: OK,
        },
        Case {
            name: "5.7 text in 2 fragments with a ping in between, byte by byte".into(),
            input: vec![chopped(
                [two[0].clone(), ping("ping payload"), two[1].clone()],
                1,
            )],
            output: vec![Out::pong("ping payload"), Out::text("fragment1fragment2")],
            fail: OK,
        },
        Case {
            name: "5.8 text in 2 fragments with a ping in between, in one read".into(),
            input: vec![together([
                two[0].clone(),
                ping("ping payload"),
                two[1].clone(),
            ])],
            output: vec![Out::pong("ping payload"), Out::text("fragment1fragment2")],
            fail: OK,
        },
        Case {
            name: "5.9 continuation (FIN) with nothing to continue, then a fragmented text".into(),
            input: input![
                unexpected_then_two(true)[0].clone(),
                unexpected_then_two(true)[1].clone(),
                unexpected_then_two(true)[2].clone()
            ],
            output: vec![Out::Fail(1002)],
            fail: after(0, UnexpectedContinuation),
        },
        Case {
            name: "5.10 the same, in one read".into(),
            input: vec![together(unexpected_then_two(true))],
            output: vec![Out::Fail(1002)],
            fail: after(0, UnexpectedContinuation),
        },
        Case {
            name: "5.12 continuation (no FIN) with nothing to continue, then a fragmented text"
                .into(),
            input: input![
                unexpected_then_two(false)[0].clone(),
                unexpected_then_two(false)[1].clone(),
                unexpected_then_two(false)[2].clone()
            ],
            output: vec![Out::Fail(1002)],
            fail: after(0, UnexpectedContinuation),
        },
        Case {
            name: "5.13 the same, in one read".into(),
            input: vec![together(unexpected_then_two(false))],
            output: vec![Out::Fail(1002)],
            fail: after(0, UnexpectedContinuation),
        },
        Case {
            name: "5.15 fragmented text, stray continuation, fragmented text, in one read".into(),
            input: vec![together([
                text("fragment1").fin(false),
                cont("fragment2"),
                cont("fragment3").fin(false),
                text("fragment4").fin(false),
                cont("fragment5"),
            ])],
            output: vec![Out::text("fragment1fragment2"), Out::Fail(1002)],
            fail: after(0, UnexpectedContinuation),
        },
        Case {
            name: "5.16 twice: stray continuation (no FIN), fragmented text, in one read".into(),
            input: vec![together(
                unexpected_then_two(false)
                    .into_iter()
                    .chain(unexpected_then_two(false)),
            )],
            output: vec![Out::Fail(1002)],
            fail: after(0, UnexpectedContinuation),
        },
        Case {
            name: "5.17 twice: stray continuation (FIN), fragmented text, in one read".into(),
            input: vec![together(
                unexpected_then_two(true)
                    .into_iter()
                    .chain(unexpected_then_two(true)),
            )],
            output: vec![Out::Fail(1002)],
            fail: after(0, UnexpectedContinuation),
        },
        Case {
            name: "5.18 text in 2 fragments, both with the text opcode".into(),
            input: vec![together([text("fragment1").fin(false), text("fragment2")])],
            output: vec![Out::Fail(1002)],
            fail: after(0, ExpectedContinuation),
        },
        Case {
            name: "5.19 text in 5 fragments, pings after the 2nd and the 4th".into(),
            input: {
                let f = frags(5);
                input![
                    f[0].clone(),
                    f[1].clone(),
                    ping("pongme 1!"),
                    f[2].clone(),
                    f[3].clone(),
                    ping("pongme 2!"),
                    f[4].clone()
                ]
            },
            output: vec![
                Out::pong("pongme 1!").after(2),
                Out::pong("pongme 2!").after(5),
                Out::text("fragment1fragment2fragment3fragment4fragment5").after(6),
            ],
            fail: OK,
        },
        Case {
            name: "5.20 the same, byte by byte".into(),
            input: {
                let f = frags(5);
                vec![chopped(
                    [
                        f[0].clone(),
                        f[1].clone(),
                        ping("pongme 1!"),
                        f[2].clone(),
                        f[3].clone(),
                        ping("pongme 2!"),
                        f[4].clone(),
                    ],
                    1,
                )]
            },
            output: vec![
                Out::pong("pongme 1!"),
                Out::pong("pongme 2!"),
                Out::text("fragment1fragment2fragment3fragment4fragment5"),
            ],
            fail: OK,
        },
    ];
    run(&cases);
}

#[test]
fn s5_11_and_5_14_byte_by_byte() {
    // 5.9 and 5.12 byte by byte: the failure comes with the last byte of the stray
    // continuation's header.
    run_per_role(
        |role| {
            [("5.11", true), ("5.14", false)]
                .into_iter()
                .map(|(name, fin)| {
                    let frames = vec![
                        cont("fragment1").fin(fin),
                        text("fragment2").fin(false),
                        cont("fragment3"),
                    ];
                    let at = frames[0].header_len(role);
                    Case {
                        name: format!("{name} stray continuation (FIN = {fin}), byte by byte"),
                        input: vec![chopped(frames, 1)],
                        output: vec![Out::Fail(1002)],
                        fail: after(at - 1, ProtocolError::UnexpectedContinuation),
                    }
                })
                .collect()
        },
        &wsproto::Config::default(),
    );
}

#[test]
fn s5_more_fragmentation() {
    use ProtocolError::{ExpectedContinuation, FragmentedControlFrame, UnexpectedContinuation};
    let hundred: Vec<F> = (0..100)
        .map(|i| {
            let p = [b'a' + (i % 26) as u8];
            (if i == 0 { binary(p) } else { cont(p) }).fin(i == 99)
        })
        .collect();
    let hundred_payload: Vec<u8> = (0..100).map(|i| b'a' + (i % 26) as u8).collect();
    run(&[
        Case {
            name: "binary in 3 fragments".into(),
            input: input![
                binary([1, 2]).fin(false),
                cont([3]).fin(false),
                cont([4, 5, 6])
            ],
            output: vec![Out::binary([1, 2, 3, 4, 5, 6])],
            fail: OK,
        },
        Case {
            name: "binary in 100 one-byte fragments, in one read".into(),
            input: vec![together(hundred.clone())],
            output: vec![Out::binary(&hundred_payload)],
            fail: OK,
        },
        Case {
            name: "large fragments: 70000 + 65536 + 126 bytes".into(),
            input: input![
                binary(bytes(70000)).fin(false),
                cont(bytes(65536)).fin(false),
                cont(bytes(126))
            ],
            output: vec![Out::binary(
                [bytes(70000), bytes(65536), bytes(126)].concat(),
            )],
            fail: OK,
        },
        Case {
            name: "zero-length fragments: all empty".into(),
            input: input![text([]).fin(false), cont([]).fin(false), cont([])],
            output: vec![Out::text("")],
            fail: OK,
        },
        Case {
            name: "zero-length fragments around data".into(),
            input: input![
                text([]).fin(false),
                cont("ab").fin(false),
                cont([]).fin(false),
                cont("cd").fin(false),
                cont([])
            ],
            output: vec![Out::text("abcd")],
            fail: OK,
        },
        Case {
            name: "zero-length binary fragments, in one read".into(),
            input: vec![together([binary([]).fin(false), cont([])])],
            output: vec![Out::binary([])],
            fail: OK,
        },
        Case {
            name: "every control frame between fragments".into(),
            input: input![
                text("a").fin(false),
                ping("1"),
                cont("b").fin(false),
                pong("unsolicited"),
                cont("c").fin(false),
                ping("2"),
                cont("d")
            ],
            output: vec![
                Out::pong("1").after(1),
                Out::pong("2").after(5),
                Out::text("abcd").after(6),
            ],
            fail: OK,
        },
        Case {
            name: "messages back to back after a fragmented one".into(),
            input: vec![together([
                text("a").fin(false),
                cont("b"),
                binary([1]),
                text("c").fin(false),
                cont("d"),
            ])],
            output: vec![Out::text("ab"), Out::binary([1]), Out::text("cd")],
            fail: OK,
        },
        Case {
            name: "binary start while a text message is in progress".into(),
            input: input![text("a").fin(false), binary([1])],
            output: vec![Out::Fail(1002)],
            fail: after(1, ExpectedContinuation),
        },
        Case {
            name: "text start while a binary message is in progress, after a ping".into(),
            input: input![binary([1]).fin(false), ping("p"), text("a")],
            output: vec![Out::pong("p"), Out::Fail(1002)],
            fail: after(2, ExpectedContinuation),
        },
        Case {
            name: "unfinished text start while a message is in progress".into(),
            input: input![binary([1]).fin(false), text("a").fin(false)],
            output: vec![Out::Fail(1002)],
            fail: after(1, ExpectedContinuation),
        },
        Case {
            name: "continuation after a complete message".into(),
            input: input![text("a").fin(false), cont("b"), cont("c")],
            output: vec![Out::text("ab"), Out::Fail(1002)],
            fail: after(2, UnexpectedContinuation),
        },
        Case {
            name: "stray continuation with a large payload fails at the header".into(),
            input: vec![split(cont(bytes(100_000)), [0])],
            output: vec![Out::Fail(1002)],
            fail: after(0, UnexpectedContinuation),
        },
        Case {
            name: "fragmented ping between data fragments".into(),
            input: input![text("a").fin(false), ping("p").fin(false), cont("b")],
            output: vec![Out::Fail(1002)],
            fail: after(1, FragmentedControlFrame),
        },
        Case {
            name: "fragmented close".into(),
            input: input![F::new(CLOSE, [0x03, 0xE8]).fin(false), cont([])],
            output: vec![Out::Fail(1002)],
            fail: after(0, FragmentedControlFrame),
        },
        Case {
            name: "5.15-like with binary: valid fragmented, then a second start inside a message"
                .into(),
            input: vec![together([
                binary([1]).fin(false),
                cont([2]),
                binary([3]).fin(false),
                binary([4]),
            ])],
            output: vec![Out::binary([1, 2]), Out::Fail(1002)],
            fail: after(0, ExpectedContinuation),
        },
    ]);
}
