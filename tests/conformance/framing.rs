//! Section 1: framing. Text and binary messages at every length-encoding boundary, whole and
//! chopped; the 64-bit length; the frame and message size limits (1009).

use wsproto::{Config, ProtocolError};

use crate::harness::*;

const LENGTHS: [usize; 7] = [0, 125, 126, 127, 128, 65535, 65536];

fn data_cases(
    section: &str,
    frame: fn(&[u8]) -> F,
    out: fn(&[u8]) -> Out,
    payload: fn(usize) -> Vec<u8>,
) -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, &len) in LENGTHS.iter().enumerate() {
        let p = payload(len);
        cases.push(Case {
            name: format!("{section}.{} length {len}", i + 1),
            input: input![frame(&p)],
            output: vec![out(&p)],
            fail: OK,
        });
    }
    let p = payload(65536);
    cases.push(Case {
        name: format!("{section}.8 length 65536 in chops of 997"),
        input: vec![chopped([frame(&p)], 997)],
        output: vec![out(&p)],
        fail: OK,
    });
    let p = payload(300);
    cases.push(Case {
        name: format!("{section} length 300, chopped 1+1+1+...: header bytes one read each"),
        input: vec![chopped([frame(&p)], 1)],
        output: vec![out(&p)],
        fail: OK,
    });
    cases.push(Case {
        name: format!("{section} three messages 0/126/65536 in one read"),
        input: vec![together([
            frame(&[]),
            frame(&payload(126)),
            frame(&payload(65536)),
        ])],
        output: vec![out(&[]), out(&payload(126)), out(&payload(65536))],
        fail: OK,
    });
    cases.push(Case {
        name: format!("{section} message split right after its header, then mid-payload"),
        input: vec![split(frame(&payload(1000)), [0, 1, 2, 3, 500, 999])],
        output: vec![out(&payload(1000))],
        fail: OK,
    });
    cases
}

#[test]
fn s1_1_text() {
    run(&data_cases("1.1", |p| text(p), |p| Out::text(p), ascii));
}

#[test]
fn s1_2_binary() {
    run(&data_cases("1.2", |p| binary(p), |p| Out::binary(p), bytes));
}

#[test]
fn s1_2_large_binary_with_a_raised_limit() {
    // 16 MiB + 3 bytes: beyond the default max_frame_size (16 MiB), so the limit is raised. The
    // runner delivers it whole and in pseudo-random chops of up to 300 KB.
    let p = bytes((16 << 20) + 3);
    let config = Config::default().max_frame_size(32 << 20);
    run_with(
        &[Case {
            name: "1.2 binary of 16 MiB + 3".into(),
            input: input![binary(&p)],
            output: vec![Out::binary(&p)],
            fail: OK,
        }],
        &config,
    );
    // Without the raised limit the same frame fails as soon as its header is in.
    run(&[Case {
        name: "1.2 binary of 16 MiB + 3, default limit: 1009 after the header".into(),
        input: vec![split(binary(&p), [0, 10])],
        output: vec![Out::Fail(1009)],
        fail: after(
            0,
            ProtocolError::FrameTooLarge {
                size: p.len() as u64,
                limit: 16 << 20,
            },
        ),
    }]);
}

#[test]
fn length_encoding_errors() {
    // Raw bytes: the 64-bit length is checked before the MASK bit matters.
    let mut top_bit = vec![0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
    top_bit.extend_from_slice(&[0; 4]);
    run(&[
        Case {
            name: "64-bit length with the most significant bit set".into(),
            input: vec![In::Raw(top_bit)],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::PayloadLengthOverflow),
        },
        Case {
            name: "64-bit length with the most significant bit set, after a message".into(),
            input: vec![
                text("ok").into(),
                In::Raw(vec![
                    0x81, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                ]),
            ],
            output: vec![Out::text("ok"), Out::Fail(1002)],
            fail: after(1, ProtocolError::PayloadLengthOverflow),
        },
        Case {
            name: "64-bit length of 2^63 + 5, the header split before its last length byte".into(),
            input: vec![
                In::Raw(vec![0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0]),
                In::Raw(vec![5]),
            ],
            output: vec![Out::Fail(1002)],
            fail: after(1, ProtocolError::PayloadLengthOverflow),
        },
    ]);
}

#[test]
fn huge_announced_lengths() {
    // Headers announcing payloads far beyond any limit: judged on the header alone, nothing is
    // buffered or allocated for the payload.
    let max = (1u64 << 63) - 1;
    run(&[
        Case {
            name: "binary announcing 2^63 - 1 bytes".into(),
            input: vec![In::Header(binary([]), max)],
            output: vec![Out::Fail(1009)],
            fail: after(
                0,
                ProtocolError::FrameTooLarge {
                    size: max,
                    limit: 16 << 20,
                },
            ),
        },
        Case {
            name: "text announcing 4 GiB, after a message".into(),
            input: vec![text("x").into(), In::Header(text([]), 1 << 32)],
            output: vec![Out::text("x"), Out::Fail(1009)],
            fail: after(
                1,
                ProtocolError::FrameTooLarge {
                    size: 1 << 32,
                    limit: 16 << 20,
                },
            ),
        },
        Case {
            name: "continuation announcing 2^63 - 1 bytes inside a message".into(),
            input: vec![text("x").fin(false).into(), In::Header(cont([]), max)],
            output: vec![Out::Fail(1009)],
            fail: after(
                1,
                ProtocolError::FrameTooLarge {
                    size: max,
                    limit: 16 << 20,
                },
            ),
        },
        Case {
            name: "ping announcing 2^40 bytes".into(),
            input: vec![In::Header(ping([]), 1 << 40)],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::ControlFrameTooLong(1 << 40)),
        },
        Case {
            name: "close announcing 65535 bytes".into(),
            input: vec![In::Header(close_empty(), 65535)],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::ControlFrameTooLong(65535)),
        },
    ]);
}

#[test]
fn size_limits() {
    let config = Config::default()
        .max_frame_size(1000)
        .max_message_size(1500);
    run_with(
        &[
            Case {
                name: "frame at the frame limit".into(),
                input: input![binary(bytes(1000))],
                output: vec![Out::binary(bytes(1000))],
                fail: OK,
            },
            Case {
                name: "frame over the frame limit: 1009 once the header is in".into(),
                input: vec![split(binary(bytes(1001)), [0])],
                output: vec![Out::Fail(1009)],
                fail: after(
                    0,
                    ProtocolError::FrameTooLarge {
                        size: 1001,
                        limit: 1000,
                    },
                ),
            },
            Case {
                name: "message at the message limit, in two frames".into(),
                input: input![text(ascii(1000)).fin(false), cont(&ascii(1500)[1000..])],
                output: vec![Out::text(ascii(1500))],
                fail: OK,
            },
            Case {
                name: "message over the message limit: 1009 at the second header".into(),
                input: input![text(ascii(1000)).fin(false), split(cont(ascii(501)), [0])],
                output: vec![Out::Fail(1009)],
                fail: after(1, ProtocolError::MessageTooLarge { limit: 1500 }),
            },
            Case {
                name: "a message before the oversized frame is echoed first".into(),
                input: vec![together([text("small"), binary(bytes(5000))])],
                output: vec![Out::text("small"), Out::Fail(1009)],
                fail: after(
                    0,
                    ProtocolError::FrameTooLarge {
                        size: 5000,
                        limit: 1000,
                    },
                ),
            },
        ],
        &config,
    );
}
