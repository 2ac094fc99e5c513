//! Section 2: pings and pongs. Every ping is answered with a pong carrying its payload;
//! unsolicited pongs are ignored; control frames over 125 bytes or fragmented fail with 1002.

use wsproto::{Config, ProtocolError};

use crate::harness::*;

#[test]
fn s2_ping_pong() {
    let binary_payload: Vec<u8> = vec![0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF];
    let pings: Vec<F> = (0..10).map(|i| ping(format!("payload-{i}"))).collect();
    let pongs: Vec<Out> = (0..10).map(|i| Out::pong(format!("payload-{i}"))).collect();
    run(&[
        Case {
            name: "2.1 ping without payload".into(),
            input: input![ping([])],
            output: vec![Out::pong([])],
            fail: OK,
        },
        Case {
            name: "2.2 ping with a small text payload".into(),
            input: input![ping("Hello, world!")],
            output: vec![Out::pong("Hello, world!")],
            fail: OK,
        },
        Case {
            name: "2.3 ping with a small binary payload".into(),
            input: input![ping(&binary_payload)],
            output: vec![Out::pong(&binary_payload)],
            fail: OK,
        },
        Case {
            name: "2.3 ping with a payload that is not UTF-8".into(),
            input: input![ping([0xED, 0xA0, 0x80, 0xFF, 0xC0])],
            output: vec![Out::pong([0xED, 0xA0, 0x80, 0xFF, 0xC0])],
            fail: OK,
        },
        Case {
            name: "2.4 ping with a 125-byte binary payload".into(),
            input: input![ping(bytes(125))],
            output: vec![Out::pong(bytes(125))],
            fail: OK,
        },
        Case {
            name: "2.5 ping with a 126-byte payload: 1002 once the header is in".into(),
            input: vec![split(ping(bytes(126)), [0])],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::ControlFrameTooLong(126)),
        },
        Case {
            name: "2.5 ping with a 64 KiB payload: 1002 once the header is in".into(),
            input: vec![split(ping(bytes(65536)), [0, 100])],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::ControlFrameTooLong(65536)),
        },
        Case {
            name: "2.6 ping with a 125-byte payload, sent byte by byte".into(),
            input: vec![chopped([ping(bytes(125))], 1)],
            output: vec![Out::pong(bytes(125))],
            fail: OK,
        },
        Case {
            name: "2.7 unsolicited pong without payload".into(),
            input: input![pong([])],
            output: vec![],
            fail: OK,
        },
        Case {
            name: "2.8 unsolicited pong with payload".into(),
            input: input![pong("unsolicited pong payload")],
            output: vec![],
            fail: OK,
        },
        Case {
            name: "2.9 unsolicited pong, then ping".into(),
            input: input![pong("unsolicited pong payload"), ping("ping payload")],
            output: vec![Out::pong("ping payload")],
            fail: OK,
        },
        Case {
            name: "2.10 ten pings in a burst".into(),
            input: vec![together(pings.clone())],
            output: pongs.clone(),
            fail: OK,
        },
        Case {
            name: "2.11 ten pings in a burst, byte by byte".into(),
            input: vec![chopped(pings.clone(), 1)],
            output: pongs.clone(),
            fail: OK,
        },
        Case {
            name: "ten pings, each its own read".into(),
            input: pings.iter().cloned().map(In::from).collect(),
            output: pongs
                .into_iter()
                .enumerate()
                .map(|(i, p)| p.after(i))
                .collect(),
            fail: OK,
        },
        Case {
            name: "fragmented ping: 1002 at the first header".into(),
            input: input![ping("frag").fin(false), cont("ment")],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::FragmentedControlFrame),
        },
        Case {
            name: "fragmented empty ping".into(),
            input: input![ping([]).fin(false)],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::FragmentedControlFrame),
        },
        Case {
            name: "fragmented pong: 1002 too".into(),
            input: input![pong("frag").fin(false), cont("ment")],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::FragmentedControlFrame),
        },
        Case {
            name: "ping answered between two messages, in order".into(),
            input: vec![together([text("one"), ping("p"), binary([2])])],
            output: vec![Out::text("one"), Out::pong("p"), Out::binary([2])],
            fail: OK,
        },
        Case {
            name: "a 126-byte ping after a pinged message: pong, then 1002".into(),
            input: vec![together([ping("a"), ping(bytes(126)), ping("b")])],
            output: vec![Out::pong("a"), Out::Fail(1002)],
            fail: after(0, ProtocolError::ControlFrameTooLong(126)),
        },
    ]);
}

#[test]
fn without_auto_pong_nothing_is_answered() {
    // With `Config::auto_pong` off, pings are only reported (this endpoint ignores them); the
    // limits on control frames still hold.
    let config = Config::default().auto_pong(false);
    run_with(
        &[
            Case {
                name: "ping, text: only the text is echoed".into(),
                input: input![ping("p"), text("t")],
                output: vec![Out::text("t")],
                fail: OK,
            },
            Case {
                name: "126-byte ping still fails".into(),
                input: input![ping(bytes(126))],
                output: vec![Out::Fail(1002)],
                fail: after(0, ProtocolError::ControlFrameTooLong(126)),
            },
        ],
        &config,
    );
}
