//! Masking (RFC 6455 §5.1): a server fails with 1002 on an unmasked frame, a client on a masked
//! one, as soon as the header is read; messages before it are echoed first.

use wsproto::{Config, ProtocolError, Role};

use crate::harness::*;

fn violations(role: Role) -> Vec<Case> {
    let (wrong, error) = match role {
        Role::Server => (Mask::Off, ProtocolError::UnmaskedFrame),
        Role::Client => (Mask::On, ProtocolError::MaskedFrame),
    };
    let frames: [(&str, F); 10] = [
        ("text", text("Hello")),
        ("empty text", text("")),
        ("binary", binary(bytes(300))),
        ("empty binary", binary([])),
        ("ping", ping("Hello")),
        ("empty ping", ping("")),
        ("pong", pong("Hello")),
        ("empty pong", pong("")),
        ("close", close(1000, "")),
        ("empty close", close_empty()),
    ];
    let mut cases = Vec::new();
    for (kind, frame) in frames {
        cases.push(Case {
            name: format!("{kind} with the wrong MASK bit"),
            input: input![frame.clone().mask(wrong)],
            output: vec![Out::Fail(1002)],
            fail: after(0, error.clone()),
        });
        cases.push(Case {
            name: format!("{kind} with the wrong MASK bit, after a message, in one read"),
            input: vec![together([text("first"), frame.mask(wrong), ping("never")])],
            output: vec![Out::text("first"), Out::Fail(1002)],
            fail: after(0, error.clone()),
        });
    }
    cases.extend([
        Case {
            name: "continuation with the wrong MASK bit".into(),
            input: input![text("a").fin(false), cont("b").mask(wrong)],
            output: vec![Out::Fail(1002)],
            fail: after(1, error.clone()),
        },
        Case {
            name: "first fragment with the wrong MASK bit".into(),
            input: input![text("a").fin(false).mask(wrong), cont("b")],
            output: vec![Out::Fail(1002)],
            fail: after(0, error.clone()),
        },
        Case {
            name: "large frame with the wrong MASK bit fails before its payload".into(),
            input: vec![split(binary(bytes(100_000)).mask(wrong), [0])],
            output: vec![Out::Fail(1002)],
            fail: after(0, error.clone()),
        },
        Case {
            name: "the wrong MASK bit between a ping and its fragmented message's end".into(),
            input: input![binary([1]).fin(false), ping("p"), cont([2]).mask(wrong)],
            output: vec![Out::pong("p"), Out::Fail(1002)],
            fail: after(2, error.clone()),
        },
    ]);
    cases
}

#[test]
fn server_fails_on_unmasked_frames() {
    run_roles(
        &violations(Role::Server),
        &[Role::Server],
        &Config::default(),
    );
}

#[test]
fn client_fails_on_masked_frames() {
    run_roles(
        &violations(Role::Client),
        &[Role::Client],
        &Config::default(),
    );
}

#[test]
fn the_mask_key_is_applied_across_reads() {
    // A server sees masked payloads unmasked across every split (the runner's deliveries), with
    // an all-zero key too, which is legal.
    run_roles(
        &[Case {
            name: "masked payloads across every split".into(),
            input: input![text("abcdefghij"), binary(bytes(1000))],
            output: vec![Out::text("abcdefghij"), Out::binary(bytes(1000))],
            fail: OK,
        }],
        &[Role::Server],
        &Config::default(),
    );
    let mut echo = Echo::new(Role::Server, Config::default());
    let (frame, _) = text("zero key").encode(Role::Server, [0; 4]);
    assert_eq!(&frame[2..6], &[0, 0, 0, 0]);
    let (out, error) = echo.feed(&frame);
    assert_eq!(error, None);
    assert_eq!(out, [&[0x81, 8][..], b"zero key"].concat());
}
