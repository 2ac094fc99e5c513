//! `Connection::shrink_buffers`: freeing idle buffers never changes what is received or sent.

use wsproto::{Config, Connection, Event, Role};

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    if payload.len() < 126 {
        out.push(0x80 | payload.len() as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

#[test]
fn shrinking_between_every_byte_keeps_every_message() {
    let text = "héllo wörld ".repeat(40);
    let mut wire = frame(true, 1, text.as_bytes());
    // A message in three frames, with a ping in between.
    wire.extend(frame(false, 2, &[1; 300]));
    wire.extend(frame(true, 9, b"p"));
    wire.extend(frame(false, 0, &[2; 10]));
    wire.extend(frame(true, 0, &[3; 200]));
    let mut server = Connection::new(Role::Server, Config::default());
    let mut events = Vec::new();
    for (i, byte) in wire.iter().enumerate() {
        if i % 2 == 0 {
            server.receive(&[*byte]);
        } else {
            let buf = server.read_buf();
            buf[0] = *byte;
            server.commit(1);
        }
        while let Some(event) = server.poll_event().unwrap() {
            events.push(event);
        }
        server.shrink_buffers();
    }
    assert_eq!(events.len(), 3);
    assert!(matches!(&events[0], Event::Text(t) if t.as_str() == text));
    assert!(matches!(&events[1], Event::Ping(p) if &p[..] == b"p"));
    let mut expected = vec![1; 300];
    expected.extend([2; 10]);
    expected.extend([3; 200]);
    assert!(matches!(&events[2], Event::Binary(b) if b[..] == expected[..]));
    // The pong is still queued: shrinking never drops pending output.
    assert_eq!(server.output(), &[0x8a, 0x01, b'p']);
    server.shrink_buffers();
    assert_eq!(server.buffered_output(), 3);
}
