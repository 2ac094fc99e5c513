//! Feeding a pre-encoded wire buffer to a server connection in 16 KiB reads, through both input
//! paths, counting the messages received: shared by `benches/decode.rs` and
//! `benches/alloc_count.rs`.

use std::hint::black_box;

use wsproto::{Connection, Event};

use super::workloads::READ_SIZE;

/// Polls every event; returns how many were data messages.
pub fn drain(conn: &mut Connection) -> usize {
    let mut messages = 0;
    while let Some(event) = conn.poll_event().expect("valid input") {
        if matches!(event, Event::Text(_) | Event::Binary(_)) {
            messages += 1;
        }
        black_box(event);
    }
    messages
}

/// Feeds `wire` through `receive`, 16 KiB at a time; returns the messages received.
pub fn feed_receive(conn: &mut Connection, wire: &[u8]) -> usize {
    let mut messages = 0;
    for read in wire.chunks(READ_SIZE) {
        conn.receive(read);
        messages += drain(conn);
    }
    messages
}

/// Feeds `wire` through `read_buf` / `commit`, at most 16 KiB at a time.
pub fn feed_read_buf(conn: &mut Connection, mut wire: &[u8]) -> usize {
    let mut messages = 0;
    while !wire.is_empty() {
        let buf = conn.read_buf();
        let n = buf.len().min(READ_SIZE).min(wire.len());
        buf[..n].copy_from_slice(&wire[..n]);
        conn.commit(n);
        wire = &wire[n..];
        messages += drain(conn);
    }
    messages
}
