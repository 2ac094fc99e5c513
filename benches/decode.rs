//! Decoding: a server receiving masked client frames, fed in 16 KiB reads.
//!
//! Each workload is pre-encoded into one buffer. One iteration feeds the whole buffer to a
//! long-lived server connection (steady state: its buffer is reused from iteration to iteration)
//! and polls events after every read, dropping each message after a `black_box`.
//!
//! Two feeding paths are measured: `receive(&[u8])` (the connection copies the read in) and the
//! zero-copy `read_buf()` / `commit(n)` (the "transport" writes straight into the connection's
//! buffer; here the transport is a `copy_from_slice`, as a kernel `read` would be).
//!
//! Reference rows: `memcpy` of the same payload bytes, plus `simdutf8` validation for text.
//! Throughput counts payload bytes and messages.
//!
//! Run: `cargo bench --bench decode`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wsproto::{Config, Connection, Event, Role};

#[path = "common/feed.rs"]
mod feed;
#[path = "common/workloads.rs"]
mod workloads;

use feed::{feed_read_buf, feed_receive};
use workloads::{READ_SIZE, Workload};

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

/// Checks, before timing, that both feeding paths deliver exactly the workload's messages.
fn verify(w: &Workload) {
    type Feed = fn(&mut Connection, &[u8], &mut dyn FnMut(Event));
    let by_receive: Feed = |conn, wire, sink| {
        for read in wire.chunks(READ_SIZE) {
            conn.receive(read);
            while let Some(event) = conn.poll_event().expect("valid input") {
                sink(event);
            }
        }
    };
    let by_read_buf: Feed = |conn, mut wire, sink| {
        while !wire.is_empty() {
            let buf = conn.read_buf();
            let n = buf.len().min(READ_SIZE).min(wire.len());
            buf[..n].copy_from_slice(&wire[..n]);
            conn.commit(n);
            wire = &wire[n..];
            while let Some(event) = conn.poll_event().expect("valid input") {
                sink(event);
            }
        }
    };
    for feed in [by_receive, by_read_buf] {
        let mut conn = server();
        let mut payload = Vec::with_capacity(w.payload_bytes());
        let mut lens = Vec::with_capacity(w.messages);
        feed(&mut conn, &w.wire, &mut |event| {
            let bytes = match (&event, w.kind) {
                (Event::Text(t), workloads::Kind::Text) => t.as_bytes(),
                (Event::Binary(b), workloads::Kind::Binary) => &b[..],
                _ => panic!("{}: unexpected {event:?}", w.name),
            };
            payload.extend_from_slice(bytes);
            lens.push(bytes.len());
        });
        assert_eq!(lens, w.lens, "{}", w.name);
        assert!(payload == w.payload, "{}: payload differs", w.name);
    }
}

fn bench_workload(c: &mut Criterion, w: &Workload) {
    verify(w);
    let mut group = c.benchmark_group(format!("decode/{}", workloads::slug(w.name)));
    group.throughput(Throughput::ElementsAndBytes {
        elements: w.messages as u64,
        bytes: w.payload_bytes() as u64,
    });
    if w.payload_bytes() >= 16 << 20 {
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(8));
    }

    let mut conn = server();
    assert_eq!(feed_receive(&mut conn, &w.wire), w.messages, "{}", w.name);
    group.bench_function("wsproto receive", |b| {
        b.iter(|| feed_receive(&mut conn, black_box(&w.wire)))
    });

    let mut conn = server();
    assert_eq!(feed_read_buf(&mut conn, &w.wire), w.messages, "{}", w.name);
    group.bench_function("wsproto read_buf", |b| {
        b.iter(|| feed_read_buf(&mut conn, black_box(&w.wire)))
    });

    let mut dst = vec![0u8; w.max_message];
    let name = match w.kind {
        workloads::Kind::Text => "memcpy + simdutf8",
        workloads::Kind::Binary => "memcpy",
    };
    group.bench_function(name, |b| {
        b.iter(|| workloads::memcpy_reference(black_box(w), &mut dst))
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    for w in workloads::all() {
        bench_workload(c, &w);
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
