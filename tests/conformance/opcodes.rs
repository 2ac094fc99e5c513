//! Section 4: reserved opcodes 0x3–0x7 (data) and 0xB–0xF (control) fail the connection with
//! 1002 as soon as the header is read; the messages before it are echoed first, nothing after.

use wsproto::ProtocolError;

use crate::harness::*;

#[test]
fn s4_autobahn_cases() {
    let reserved = ProtocolError::ReservedOpcode;
    let mut cases = Vec::new();
    for (section, ops) in [("4.1", [3u8, 4, 5, 6, 7]), ("4.2", [11, 12, 13, 14, 15])] {
        cases.extend([
            Case {
                name: format!("{section}.1 opcode {} without payload", ops[0]),
                input: input![op(ops[0], [])],
                output: vec![Out::Fail(1002)],
                fail: after(0, reserved(ops[0])),
            },
            Case {
                name: format!("{section}.2 opcode {} with payload", ops[1]),
                input: input![op(ops[1], "reserved opcode payload")],
                output: vec![Out::Fail(1002)],
                fail: after(0, reserved(ops[1])),
            },
            Case {
                name: format!("{section}.3 text, opcode {} without payload, ping", ops[2]),
                input: input![text("Hello, world!"), op(ops[2], []), ping([])],
                output: vec![Out::text("Hello, world!"), Out::Fail(1002)],
                fail: after(1, reserved(ops[2])),
            },
            Case {
                name: format!(
                    "{section}.4 text, opcode {} with payload, ping, in one read",
                    ops[3]
                ),
                input: vec![together([
                    text("Hello, world!"),
                    op(ops[3], "reserved opcode payload"),
                    ping([]),
                ])],
                output: vec![Out::text("Hello, world!"), Out::Fail(1002)],
                fail: after(0, reserved(ops[3])),
            },
            Case {
                name: format!("{section}.5 text, opcode {} with payload, ping", ops[4]),
                input: input![
                    text("Hello, world!"),
                    op(ops[4], "reserved opcode payload"),
                    ping([])
                ],
                output: vec![Out::text("Hello, world!"), Out::Fail(1002)],
                fail: after(1, reserved(ops[4])),
            },
        ]);
    }
    run(&cases);
}

#[test]
fn s4_every_reserved_opcode() {
    let mut cases = Vec::new();
    for opcode in (3..=7u8).chain(11..=15) {
        for (what, payload) in [("without payload", &b""[..]), ("with payload", b"payload")] {
            cases.push(Case {
                name: format!("4.x opcode {opcode:#x} {what}, after a message"),
                input: input![binary([1, 2, 3]), op(opcode, payload), text("never echoed")],
                output: vec![Out::binary([1, 2, 3]), Out::Fail(1002)],
                fail: after(1, ProtocolError::ReservedOpcode(opcode)),
            });
            cases.push(Case {
                name: format!("4.x opcode {opcode:#x} {what}, without FIN"),
                input: input![op(opcode, payload).fin(false)],
                output: vec![Out::Fail(1002)],
                fail: after(0, ProtocolError::ReservedOpcode(opcode)),
            });
        }
        cases.push(Case {
            name: format!("4.x opcode {opcode:#x} between the fragments of a message"),
            input: input![text("frag").fin(false), op(opcode, "x"), cont("ment")],
            output: vec![Out::Fail(1002)],
            fail: after(1, ProtocolError::ReservedOpcode(opcode)),
        });
        cases.push(Case {
            name: format!("4.x opcode {opcode:#x} with a 1 MiB payload that never arrives"),
            input: vec![split(op(opcode, bytes(1 << 20)), [0])],
            output: vec![Out::Fail(1002)],
            fail: after(0, ProtocolError::ReservedOpcode(opcode)),
        });
    }
    run(&cases);
}
