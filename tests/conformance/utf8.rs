//! Section 6: UTF-8 handling. Valid text (every boundary code point, noncharacters) is echoed;
//! invalid text (overlongs, surrogates, code points above U+10FFFF, stray continuation bytes,
//! truncated sequences, impossible bytes) fails with 1007 — and fails fast: as soon as the bytes
//! received so far can no longer be the start of valid UTF-8, whether or not the rest of the
//! frame or message has arrived.

use wsproto::{Config, ProtocolError, Role};

use crate::harness::*;

/// "κόσμε" (Greek), the test word of Markus Kuhn's UTF-8 stress test that Autobahn uses.
const KOSME: &[u8] = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";

/// The Autobahn 6.x sequences: name, bytes, and whether they are valid UTF-8.
fn sequences() -> Vec<(String, Vec<u8>, bool)> {
    let mut s: Vec<(String, Vec<u8>, bool)> = Vec::new();
    let mut add = |name: &str, bytes: &[u8], valid: bool| {
        s.push((name.to_string(), bytes.to_vec(), valid));
    };
    add("6.1.1 empty", b"", true);
    add("6.2.1 mixed", "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(), true);
    add("6.5.1 κόσμε", KOSME, true);
    add(
        "6.5.2 κόσμε with 4-byte code points",
        "κόσμε 😀𝄞𐍈 κόσμε".as_bytes(),
        true,
    );
    // 6.6: growing prefixes of κόσμε: valid exactly when they end on a code point boundary.
    for n in 1..=KOSME.len() {
        let valid = matches!(n, 2 | 5 | 7 | 9 | 11);
        add(
            &format!("6.6.{n} first {n} bytes of κόσμε"),
            &KOSME[..n],
            valid,
        );
    }
    // 6.7: first possible sequence of each length.
    add("6.7.1 U+0000", b"\x00", true);
    add("6.7.2 U+0080", b"\xc2\x80", true);
    add("6.7.3 U+0800", b"\xe0\xa0\x80", true);
    add("6.7.4 U+10000", b"\xf0\x90\x80\x80", true);
    // 6.8: 5- and 6-byte sequences (not UTF-8 since RFC 3629).
    add("6.8.1 5-byte U+200000", b"\xf8\x88\x80\x80\x80", false);
    add("6.8.2 6-byte U+4000000", b"\xfc\x84\x80\x80\x80\x80", false);
    // 6.9: last possible sequence of each length.
    add("6.9.1 U+007F", b"\x7f", true);
    add("6.9.2 U+07FF", b"\xdf\xbf", true);
    add("6.9.3 U+FFFF", b"\xef\xbf\xbf", true);
    add("6.9.4 U+10FFFF", b"\xf4\x8f\xbf\xbf", true);
    // 6.10: last possible 4/5/6-byte sequences beyond U+10FFFF.
    add("6.10.1 U+1FFFFF", b"\xf7\xbf\xbf\xbf", false);
    add("6.10.2 U+3FFFFFF", b"\xfb\xbf\xbf\xbf\xbf", false);
    add("6.10.3 U+7FFFFFFF", b"\xfd\xbf\xbf\xbf\xbf\xbf", false);
    // 6.11: other boundary conditions.
    add("6.11.1 U+D7FF", b"\xed\x9f\xbf", true);
    add("6.11.2 U+E000", b"\xee\x80\x80", true);
    add("6.11.3 U+FFFD", b"\xef\xbf\xbd", true);
    add("6.11.4 U+10FFFF", b"\xf4\x8f\xbf\xbf", true);
    add("6.11.5 U+110000", b"\xf4\x90\x80\x80", false);
    // 6.12: unexpected continuation bytes.
    add("6.12.1 first continuation byte", b"\x80", false);
    add("6.12.2 last continuation byte", b"\xbf", false);
    add("6.12.3 2 continuation bytes", b"\x80\xbf", false);
    add("6.12.4 3 continuation bytes", b"\x80\xbf\x80", false);
    add("6.12.5 4 continuation bytes", b"\x80\xbf\x80\xbf", false);
    add(
        "6.12.6 5 continuation bytes",
        b"\x80\xbf\x80\xbf\x80",
        false,
    );
    add(
        "6.12.7 6 continuation bytes",
        b"\x80\xbf\x80\xbf\x80\xbf",
        false,
    );
    let all_continuations: Vec<u8> = (0x80..=0xbf).collect();
    add(
        "6.12.8 all 64 continuation bytes",
        &all_continuations,
        false,
    );
    // 6.13: lonely start bytes, each followed by a space.
    let lonely = |range: std::ops::RangeInclusive<u8>| -> Vec<u8> {
        range.flat_map(|b| [b, b' ']).collect()
    };
    add("6.13.1 lonely 2-byte starts", &lonely(0xc0..=0xdf), false);
    add("6.13.2 lonely 3-byte starts", &lonely(0xe0..=0xef), false);
    add("6.13.3 lonely 4-byte starts", &lonely(0xf0..=0xf7), false);
    add("6.13.4 lonely 5-byte starts", &lonely(0xf8..=0xfb), false);
    add("6.13.5 lonely 6-byte starts", &lonely(0xfc..=0xfd), false);
    // 6.14: sequences with the last continuation byte missing.
    let truncated: [&[u8]; 10] = [
        b"\xc0",
        b"\xe0\x80",
        b"\xf0\x80\x80",
        b"\xf8\x80\x80\x80",
        b"\xfc\x80\x80\x80\x80",
        b"\xdf",
        b"\xef\xbf",
        b"\xf7\xbf\xbf",
        b"\xfb\xbf\xbf\xbf",
        b"\xfd\xbf\xbf\xbf\xbf",
    ];
    for (i, t) in truncated.iter().enumerate() {
        add(
            &format!("6.14.{} last continuation byte missing {t:02x?}", i + 1),
            t,
            false,
        );
    }
    // 6.15: all of them concatenated.
    add(
        "6.15.1 concatenated truncated sequences",
        &truncated.concat(),
        false,
    );
    // 6.16: impossible bytes.
    add("6.16.1 FE", b"\xfe", false);
    add("6.16.2 FF", b"\xff", false);
    add("6.16.3 FE FE FF FF", b"\xfe\xfe\xff\xff", false);
    // 6.17: overlong '/'.
    add("6.17.1 overlong / in 2 bytes", b"\xc0\xaf", false);
    add("6.17.2 overlong / in 3 bytes", b"\xe0\x80\xaf", false);
    add("6.17.3 overlong / in 4 bytes", b"\xf0\x80\x80\xaf", false);
    add(
        "6.17.4 overlong / in 5 bytes",
        b"\xf8\x80\x80\x80\xaf",
        false,
    );
    add(
        "6.17.5 overlong / in 6 bytes",
        b"\xfc\x80\x80\x80\x80\xaf",
        false,
    );
    // 6.18: maximum overlongs.
    add("6.18.1 max overlong in 2 bytes", b"\xc1\xbf", false);
    add("6.18.2 max overlong in 3 bytes", b"\xe0\x9f\xbf", false);
    add("6.18.3 max overlong in 4 bytes", b"\xf0\x8f\xbf\xbf", false);
    add(
        "6.18.4 max overlong in 5 bytes",
        b"\xf8\x87\xbf\xbf\xbf",
        false,
    );
    add(
        "6.18.5 max overlong in 6 bytes",
        b"\xfc\x83\xbf\xbf\xbf\xbf",
        false,
    );
    // 6.19: overlong NUL.
    add("6.19.1 overlong NUL in 2 bytes", b"\xc0\x80", false);
    add("6.19.2 overlong NUL in 3 bytes", b"\xe0\x80\x80", false);
    add("6.19.3 overlong NUL in 4 bytes", b"\xf0\x80\x80\x80", false);
    add(
        "6.19.4 overlong NUL in 5 bytes",
        b"\xf8\x80\x80\x80\x80",
        false,
    );
    add(
        "6.19.5 overlong NUL in 6 bytes",
        b"\xfc\x80\x80\x80\x80\x80",
        false,
    );
    // 6.20: single UTF-16 surrogates.
    let surrogates: [&[u8]; 7] = [
        b"\xed\xa0\x80",
        b"\xed\xad\xbf",
        b"\xed\xae\x80",
        b"\xed\xaf\xbf",
        b"\xed\xb0\x80",
        b"\xed\xbe\x80",
        b"\xed\xbf\xbf",
    ];
    for (i, sur) in surrogates.iter().enumerate() {
        add(&format!("6.20.{} surrogate {sur:02x?}", i + 1), sur, false);
    }
    // 6.21: paired UTF-16 surrogates.
    let mut n = 0;
    for high in &surrogates[..4] {
        for low in [&surrogates[4], &surrogates[6]] {
            n += 1;
            add(
                &format!("6.21.{n} surrogate pair"),
                &[*high, *low].concat(),
                false,
            );
        }
    }
    // 6.22: noncharacters are valid UTF-8.
    let mut n = 0;
    for plane in 0..=16u32 {
        for low in [0xFFFE, 0xFFFF] {
            n += 1;
            let c = char::from_u32((plane << 16) | low).unwrap();
            add(
                &format!("6.22.{n} noncharacter U+{:X}", c as u32),
                c.to_string().as_bytes(),
                true,
            );
        }
    }
    for cp in 0xFDD0..=0xFDEF {
        n += 1;
        let c = char::from_u32(cp).unwrap();
        add(
            &format!("6.22.{n} noncharacter U+{cp:X}"),
            c.to_string().as_bytes(),
            true,
        );
    }
    // 6.23: replacement characters and the like, around invalid ones.
    add("6.23.1 U+FFFD", "\u{FFFD}".as_bytes(), true);
    add("6.23.2 U+FFFD U+FFFD", "\u{FFFD}\u{FFFD}".as_bytes(), true);
    add(
        "6.23.3 text with U+FEFF BOM",
        "\u{FEFF}text".as_bytes(),
        true,
    );
    add(
        "6.23.4 invalid after valid multi-byte",
        b"\xe2\x82\xac\xc3\x28",
        false,
    );
    add("6.23.5 0xF5 start byte", b"\xf5\x80\x80\x80", false);
    add("6.23.6 0xC1 start byte alone", b"a\xc1", false);
    add("6.23.7 3-byte lead then ASCII", b"\xe2\x82a", false);
    // Beyond Autobahn: a stray continuation after ASCII, and valid prefixes of 3- and 4-byte
    // code points cut off by the end of the message (they can fail only at the last byte).
    add("x.1 continuation byte after ASCII", b"abc\x80", false);
    add(
        "x.2 text ending inside a 3-byte code point",
        b"ok\xe2\x82",
        false,
    );
    add(
        "x.3 text ending inside a 4-byte code point",
        b"\xf0\x9f\x98",
        false,
    );
    s
}

/// How many bytes of `bytes` it takes to know it is not valid UTF-8: the length of the shortest
/// prefix that cannot start any valid string, or `len + 1` meaning "only the end tells" (the
/// text stops inside a code point). `None` if valid.
fn invalid_at(bytes: &[u8]) -> Option<usize> {
    match std::str::from_utf8(bytes) {
        Ok(_) => None,
        Err(e) if e.error_len().is_some() => Some(e.valid_up_to() + e.error_len().unwrap()),
        Err(_) => Some(bytes.len() + 1),
    }
}

/// The shortest prefix length at which the validator must fail: for an error inside the text,
/// the first byte that cannot continue a valid prefix.
fn first_bad_prefix(bytes: &[u8]) -> Option<usize> {
    (1..=bytes.len())
        .find(|&k| matches!(std::str::from_utf8(&bytes[..k]), Err(e) if e.error_len().is_some()))
}

#[test]
fn the_table_agrees_with_std() {
    // The hand-written validity flags are what the standard library says.
    for (name, bytes, valid) in sequences() {
        assert_eq!(std::str::from_utf8(&bytes).is_ok(), valid, "{name}");
        assert_eq!(invalid_at(&bytes).is_none(), valid, "{name}");
    }
}

fn expect(bytes: &[u8], valid: bool) -> Vec<Out> {
    if valid {
        vec![Out::text(bytes)]
    } else {
        vec![Out::Fail(1007)]
    }
}

#[test]
fn s6_in_one_frame() {
    let cases: Vec<Case> = sequences()
        .into_iter()
        .map(|(name, bytes, valid)| Case {
            name: format!("{name}: one frame"),
            input: input![text(&bytes), ping("after")],
            output: if valid {
                vec![Out::text(&bytes), Out::pong("after")]
            } else {
                vec![Out::Fail(1007)]
            },
            fail: if valid {
                OK
            } else {
                after(0, ProtocolError::InvalidUtf8)
            },
        })
        .collect();
    run(&cases);
}

#[test]
fn s6_fail_fast_at_the_exact_byte() {
    // Byte by byte, a one-frame invalid text fails exactly at the first byte that makes the
    // prefix invalid, or at the frame's last byte when only the end is wrong (a truncated code
    // point): never later, never earlier.
    let config = Config::default();
    for (name, bytes, valid) in sequences() {
        if valid {
            continue;
        }
        let case = Case {
            name: name.clone(),
            input: input![text(&bytes)],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidUtf8),
        };
        for role in [Role::Server, Role::Client] {
            let header = text(&bytes).header_len(role);
            let want = header + first_bad_prefix(&bytes).unwrap_or(bytes.len());
            assert_eq!(
                fail_byte(&case, role, &config),
                Some(want),
                "{name} ({role:?})"
            );
        }
    }
}

#[test]
fn s6_fail_fast_before_the_rest_of_the_frame_arrives() {
    // The frame's payload is cut right after the first bad byte; the rest (valid text) never
    // arrives, yet the endpoint fails with 1007 after the first part.
    let mut cases = Vec::new();
    for (name, bytes, valid) in sequences() {
        let Some(k) = first_bad_prefix(&bytes) else {
            continue;
        };
        assert!(!valid);
        let mut payload = b"prefix ".to_vec();
        let cut = payload.len() + k;
        payload.extend_from_slice(&bytes);
        payload.extend_from_slice(b" and a long valid tail that is never needed");
        cases.push(Case {
            name: format!("{name}: cut after the bad byte"),
            input: vec![split(text(&payload), [cut])],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidUtf8),
        });
        cases.push(Case {
            name: format!("{name}: unfinished first fragment, no FIN"),
            input: input![text(&payload[..cut]).fin(false)],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidUtf8),
        });
    }
    run(&cases);
}

#[test]
fn s6_in_one_byte_fragments() {
    // 6.2.4 / 6.3.2 style: each byte its own frame (its own read), so frames end inside code
    // points. Invalid text fails with the frame that holds the first bad byte, or with the
    // last frame when only the end is wrong.
    let mut cases = Vec::new();
    for (name, bytes, valid) in sequences() {
        if bytes.is_empty() {
            continue;
        }
        let frames: Vec<F> = bytes
            .iter()
            .enumerate()
            .map(|(i, &b)| (if i == 0 { text([b]) } else { cont([b]) }).fin(i == bytes.len() - 1))
            .collect();
        let fail = match (valid, first_bad_prefix(&bytes)) {
            (true, _) => OK,
            (false, Some(k)) => after(k - 1, ProtocolError::InvalidUtf8),
            (false, None) => after(bytes.len() - 1, ProtocolError::InvalidUtf8),
        };
        cases.push(Case {
            name: format!("{name}: one-byte fragments"),
            input: frames.into_iter().map(In::from).collect(),
            output: expect(&bytes, valid),
            fail,
        });
    }
    run(&cases);
}

#[test]
fn s6_in_a_middle_fragment() {
    // The sequence is the whole middle fragment of three; a ping after the middle one shows
    // whether the endpoint is still reading. Invalid: 1007 after the middle fragment unless only
    // the following byte tells (a truncated code point then ASCII), then after the last.
    let mut cases = Vec::new();
    for (name, bytes, valid) in sequences() {
        let message = [b"start ".as_slice(), &bytes, b"end"].concat();
        let fail = match first_bad_prefix(&message) {
            None => OK,
            Some(k) if k <= 6 + bytes.len() => after(1, ProtocolError::InvalidUtf8),
            Some(_) => after(3, ProtocolError::InvalidUtf8),
        };
        let output = match &fail {
            Fail::No => vec![Out::pong("p"), Out::text(&message)],
            Fail::After(1, _) => vec![Out::Fail(1007)],
            _ => vec![Out::pong("p"), Out::Fail(1007)],
        };
        assert_eq!(fail == OK, valid, "{name}");
        cases.push(Case {
            name: format!("{name}: middle fragment"),
            input: input![
                text("start ").fin(false),
                cont(&bytes).fin(false),
                ping("p"),
                cont("end")
            ],
            output,
            fail,
        });
    }
    run(&cases);
}

#[test]
fn s6_2_valid_text_split_everywhere() {
    let hello = "Hello-µ@ßöäüàá-UTF-8!!".as_bytes();
    let emoji = "a😀b𝄞c€dé".as_bytes();
    let mut cases = vec![
        Case {
            name: "6.2.2 two fragments, cut on a code point boundary".into(),
            input: input![text(&hello[..6]).fin(false), cont(&hello[6..])],
            output: vec![Out::text(hello)],
            fail: OK,
        },
        Case {
            name: "6.2.3 one frame, byte by byte".into(),
            input: vec![chopped([text(hello)], 1)],
            output: vec![Out::text(hello)],
            fail: OK,
        },
        Case {
            name: "6.1.2 empty text in 3 empty fragments".into(),
            input: input![text([]).fin(false), cont([]).fin(false), cont([])],
            output: vec![Out::text("")],
            fail: OK,
        },
        Case {
            name: "6.1.3 empty first and last fragments".into(),
            input: input![
                text([]).fin(false),
                cont("middle frame payload").fin(false),
                cont([])
            ],
            output: vec![Out::text("middle frame payload")],
            fail: OK,
        },
    ];
    // Two fragments cut at every position, and one frame cut into reads at every position.
    for cut in 0..=emoji.len() {
        cases.push(Case {
            name: format!("4-byte text in two fragments cut at {cut}"),
            input: input![text(&emoji[..cut]).fin(false), cont(&emoji[cut..])],
            output: vec![Out::text(emoji)],
            fail: OK,
        });
        cases.push(Case {
            name: format!("4-byte text, one frame, reads cut at {cut}"),
            input: vec![split(text(emoji), [cut])],
            output: vec![Out::text(emoji)],
            fail: OK,
        });
    }
    // A code point split across fragments with a ping and an empty fragment in between.
    cases.push(Case {
        name: "code point split across fragments around a ping and an empty fragment".into(),
        input: input![
            text(b"\xf0\x9f").fin(false),
            ping("p"),
            cont([]).fin(false),
            cont(b"\x98").fin(false),
            cont(b"\x80")
        ],
        output: vec![Out::pong("p"), Out::text("😀")],
        fail: OK,
    });
    run(&cases);
}

#[test]
fn s6_3_invalid_text() {
    let invalid = [KOSME, b"\xed\xa0\x80", b"edited"].concat();
    run(&[
        Case {
            name: "6.3.1 κόσμε, surrogate, edited: one frame".into(),
            input: input![text(&invalid)],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "6.3.2 the same in one-byte fragments, in one read".into(),
            input: vec![together(invalid.iter().enumerate().map(|(i, &b)| {
                (if i == 0 { text([b]) } else { cont([b]) }).fin(i == invalid.len() - 1)
            }))],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "valid text echoed, then invalid text in the same read".into(),
            input: vec![together([text("ok"), text(&invalid), text("never")])],
            output: vec![Out::text("ok"), Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "binary with the same bytes is fine".into(),
            input: input![binary(&invalid)],
            output: vec![Out::binary(&invalid)],
            fail: OK,
        },
        Case {
            name: "truncated code point at the end of the message, then FIN in an empty frame"
                .into(),
            input: input![text(b"ab\xe2\x82").fin(false), ping("p"), cont([])],
            output: vec![Out::pong("p"), Out::Fail(1007)],
            fail: after(2, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "a text message may not finish a code point begun in the previous message".into(),
            input: input![text(b"ab\xe2"), text(b"\x82\xac")],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidUtf8),
        },
    ]);
}

#[test]
fn s6_4_fail_fast() {
    // Autobahn 6.4: the payload made invalid by its second part, then a third part. The
    // endpoint must fail after the second part, before the third is sent.
    const P1: &[u8] = KOSME;
    const P2: &[u8] = b"\xf4\x90\x80\x80"; // U+110000
    const P3: &[u8] = b"edited";
    let whole = [P1, P2, P3].concat();
    let p1b = [P1, b"\xf4"].concat();
    let p3b = [b"\x80\x80".as_slice(), P3].concat();
    run(&[
        Case {
            name: "6.4.1 three fragments; the second makes it invalid".into(),
            input: input![text(P1).fin(false), cont(P2).fin(false), cont(P3)],
            output: vec![Out::Fail(1007)],
            fail: after(1, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "6.4.2 three fragments; a single byte (0x90) in the second makes it invalid"
                .into(),
            input: input![text(&p1b).fin(false), cont(b"\x90").fin(false), cont(&p3b)],
            output: vec![Out::Fail(1007)],
            fail: after(1, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "6.4.3 one frame in three reads; the second makes it invalid".into(),
            input: vec![split(text(&whole), [P1.len(), P1.len() + P2.len()])],
            output: vec![Out::Fail(1007)],
            fail: after(1, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "6.4.4 one frame in three reads; the second (0x90) makes it invalid".into(),
            input: vec![split(text(&whole), [P1.len() + 1, P1.len() + 2])],
            output: vec![Out::Fail(1007)],
            fail: after(1, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "6.4.x one frame, only the bad first part arrives".into(),
            input: vec![split(text(&whole), [P1.len() + 2])],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "6.4.x invalid in fragment 2 of 3, fragment 3 never sent".into(),
            input: input![text(P1).fin(false), cont(P2).fin(false)],
            output: vec![Out::Fail(1007)],
            fail: after(1, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "6.4.x invalid in fragment 2's first read, the rest of fragment 2 never sent"
                .into(),
            input: vec![
                text(P1).fin(false).into(),
                split(cont([P2, P3].concat()).fin(false), [2]),
            ],
            output: vec![Out::Fail(1007)],
            fail: after(1, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "6.4.x surrogate start split across fragments: fails with the second byte".into(),
            input: input![
                text(b"abc\xed").fin(false),
                cont(b"\xa0\x80").fin(false),
                cont("z")
            ],
            output: vec![Out::Fail(1007)],
            fail: after(1, ProtocolError::InvalidUtf8),
        },
        Case {
            name: "6.4.x a large frame fails on its first bad byte, 1 MiB before its end".into(),
            input: vec![split(
                text([b"ok \xc0".as_slice(), &ascii(1 << 20)].concat()),
                [4, 5000],
            )],
            output: vec![Out::Fail(1007)],
            fail: after(0, ProtocolError::InvalidUtf8),
        },
    ]);
}
