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

/// Payload bytes that arrive through `receive` while their frame is in progress are unmasked as
/// they are copied in; they must still be validated and delivered exactly as when they arrive
/// with the header.
#[test]
fn payload_unmasked_on_arrival_is_still_validated() {
    /// Feeds `wire` in the given pieces, polling after each; returns the events and the first
    /// error.
    fn feed(stream: bool, wire: &[u8], cuts: &[usize]) -> (Vec<Event>, Option<wsproto::Error>) {
        let config = Config::default().stream_messages(stream);
        let mut server = Connection::new(Role::Server, config);
        let mut events = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain([&wire.len()]) {
            server.receive(&wire[start..end]);
            start = end;
            loop {
                match server.poll_event() {
                    Ok(Some(event)) => events.push(event),
                    Ok(None) => break,
                    Err(error) => return (events, Some(error)),
                }
            }
        }
        (events, None)
    }
    let mut payload = "a".repeat(100).into_bytes();
    payload[60] = 0xff;
    let invalid = frame(true, 1, &payload);
    let text = "h\u{e9}llo w\u{f6}rld ".repeat(30);
    let valid = frame(true, 1, text.as_bytes());
    // The same, as a message in two frames (reassembled by copying out of the buffer).
    let mut invalid_fragmented = frame(false, 1, &payload[..50]);
    invalid_fragmented.extend(frame(true, 0, &payload[50..]));
    let mut valid_fragmented = frame(false, 1, &text.as_bytes()[..101]);
    valid_fragmented.extend(frame(true, 0, &text.as_bytes()[101..]));
    let cases = [(&invalid, &valid), (&invalid_fragmented, &valid_fragmented)];
    for (stream, (invalid, valid)) in [false, true]
        .into_iter()
        .flat_map(|s| cases.map(|c| (s, c)))
    {
        for first in [2, 6, 7, 30, 61, 66] {
            let cuts = [first, first + 1, first + 2, first + 40];
            let (_, error) = feed(stream, invalid, &cuts);
            let error = error.expect("invalid UTF-8 must fail the connection");
            assert_eq!(error.close_code().0, 1007, "{error}");

            let (events, error) = feed(stream, valid, &cuts);
            assert!(error.is_none(), "{error:?}");
            let mut received = Vec::new();
            for event in events {
                match event {
                    Event::Text(t) => received.extend_from_slice(t.as_bytes()),
                    Event::TextFragment { data, .. } => received.extend_from_slice(data.as_bytes()),
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(received, text.as_bytes());
        }
    }
}
