//! Encoding: queueing one message and draining the output, for 16 B and 64 KiB payloads.
//!
//! Rows per size:
//! - `client send_binary`: a client masks into its output buffer (a fresh key per frame).
//! - `server send_binary`: a server copies the payload into its output buffer.
//! - `server send(Bytes)`: a server queues the `Bytes` itself (zero-copy at or above
//!   `Config::zero_copy_threshold`, 4 KiB by default; 16 B payloads are still copied).
//!
//! Each iteration sends one message and then consumes the whole output, as a driver that writes
//! everything to the transport would, so the connection stays in steady state.
//!
//! Run: `cargo bench --bench encode`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wsproto::{Bytes, Config, Connection, Message, Role};

fn flush(conn: &mut Connection) -> usize {
    // Look at every run as a vectored write would, then drop them all.
    let mut runs: [&[u8]; 8] = [&[]; 8];
    let n = conn.output_chunks(&mut runs);
    let total: usize = runs[..n].iter().map(|r| r.len()).sum();
    black_box(&runs[..n]);
    conn.consume_output(total);
    total
}

fn encode(c: &mut Criterion) {
    for size in [16usize, 64 * 1024] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let shared = Bytes::from(payload.clone());
        let mut group = c.benchmark_group(format!("encode/{size}B"));
        group.throughput(Throughput::ElementsAndBytes {
            elements: 1,
            bytes: size as u64,
        });

        let mut client = Connection::new(Role::Client, Config::default());
        group.bench_function("client send_binary", |b| {
            b.iter(|| {
                client.send_binary(black_box(&payload)).unwrap();
                flush(&mut client)
            })
        });

        let mut server = Connection::new(Role::Server, Config::default());
        group.bench_function("server send_binary", |b| {
            b.iter(|| {
                server.send_binary(black_box(&payload)).unwrap();
                flush(&mut server)
            })
        });

        let mut server = Connection::new(Role::Server, Config::default());
        group.bench_function("server send(Bytes)", |b| {
            b.iter(|| {
                server
                    .send(Message::Binary(black_box(&shared).clone()))
                    .unwrap();
                flush(&mut server)
            })
        });

        let mut dst = vec![0u8; size];
        group.bench_function("memcpy", |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&payload));
                dst[size / 2]
            })
        });
        group.finish();
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
