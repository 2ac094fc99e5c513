//! `Connection::take_read_buf` / `commit_read_buf`: input read into an owned buffer (as an
//! io_uring read needs) gives the same events as `receive`, without a copy.

use wsproto::{BytesMut, Config, Connection, Event, Role};

/// What a client writes for `messages` (masked frames).
fn client_wire(messages: &[&[u8]]) -> Vec<u8> {
    let mut client = Connection::new(Role::Client, Config::default());
    for m in messages {
        client.send_binary(m).unwrap();
    }
    let mut wire = Vec::new();
    while let Some(chunk) = client.take_output() {
        wire.extend_from_slice(&chunk);
    }
    wire
}

fn events(conn: &mut Connection) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = conn.poll_event().unwrap() {
        out.push(e);
    }
    out
}

/// Feeds `wire` through lent buffers, `step` bytes per read, draining events after each.
fn feed_lent(wire: &[u8], step: usize) -> Vec<Event> {
    let mut conn = Connection::new(Role::Server, Config::default());
    let mut got = Vec::new();
    for piece in wire.chunks(step) {
        let mut buf = conn.take_read_buf();
        assert!(buf.len() >= 16 * 1024, "lends at least 16 KiB");
        let n = piece.len().min(buf.len());
        buf[..n].copy_from_slice(&piece[..n]);
        assert_eq!(n, piece.len(), "steps here fit one lent buffer");
        conn.commit_read_buf(buf, n);
        got.extend(events(&mut conn));
    }
    got
}

#[test]
fn lent_buffers_give_the_same_events_as_receive_for_any_split() {
    let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    let messages: [&[u8]; 4] = [b"", b"hello", &big, &[1, 2, 3]];
    let wire = client_wire(&messages);
    let mut reference = Connection::new(Role::Server, Config::default());
    reference.receive(&wire);
    let expected = events(&mut reference);
    assert_eq!(expected.len(), 4);
    for step in [1, 2, 7, 125, 4096, 16 * 1024] {
        assert_eq!(feed_lent(&wire, step), expected, "step {step}");
    }
}

#[test]
fn the_lent_buffer_comes_back_without_a_copy() {
    let payload = vec![0xabu8; 10_000];
    let wire = client_wire(&[&payload]);
    let mut conn = Connection::new(Role::Server, Config::default());
    let mut buf = conn.take_read_buf();
    let lent = buf.as_ptr_range();
    buf[..wire.len()].copy_from_slice(&wire);
    conn.commit_read_buf(buf, wire.len());
    let Some(Event::Binary(data)) = conn.poll_event().unwrap() else {
        panic!("expected the binary message");
    };
    assert_eq!(data, payload);
    // The message was unmasked in place in the memory that was lent.
    assert!(lent.contains(&data.as_ptr()), "the payload was copied");
}

#[test]
fn a_buffer_that_was_not_lent_is_accepted_and_input_keeps_its_order() {
    let wire = client_wire(&[b"first", b"second"]);
    let (a, b) = wire.split_at(9);
    let mut conn = Connection::new(Role::Server, Config::default());
    let lent = conn.take_read_buf();
    // Input given while a buffer is lent comes first.
    conn.receive(a);
    let mut lent = lent;
    lent[..b.len()].copy_from_slice(b);
    conn.commit_read_buf(lent, b.len());
    // And a buffer from elsewhere, with `n` past its end clamped.
    conn.commit_read_buf(BytesMut::new(), 10);
    let got = events(&mut conn);
    assert_eq!(
        got,
        vec![
            Event::Binary(b"first"[..].into()),
            Event::Binary(b"second"[..].into())
        ]
    );
}

#[test]
fn input_after_a_failure_is_discarded() {
    let mut conn = Connection::new(Role::Server, Config::default());
    // An unmasked frame from a client is a protocol error.
    conn.receive(&[0x81, 0x02, b'h', b'i']);
    assert!(conn.poll_event().is_err());
    let mut buf = conn.take_read_buf();
    let wire = client_wire(&[b"late"]);
    buf[..wire.len()].copy_from_slice(&wire);
    conn.commit_read_buf(buf, wire.len());
    assert_eq!(conn.buffered_input(), 0);
    assert_eq!(conn.poll_event().unwrap(), None);
}
