//! Helpers shared by the driver tests: loopback socket pairs, hand-made frames, time limits.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};

#[path = "../common/codec.rs"]
mod codec;
use std::sync::mpsc;
use std::time::Duration;

/// How long any one test may take before it counts as hung.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A connected pair of loopback TCP sockets: (client end, server end).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

/// One frame: `opcode` with FIN as given, masked (as a client sends) when `masked`; built with
/// the test suites' shared codec.
pub fn frame(opcode: u8, fin: bool, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_frame(
        &codec::RawFrame {
            fin,
            rsv: 0,
            opcode,
            mask: masked.then_some([0x37, 0xfa, 0x21, 0x3d]),
            len_encoding: codec::LenEncoding::Minimal,
            payload: payload.to_vec(),
        },
        &mut out,
    );
    out
}

/// Runs `f` on its own thread and fails the test if it does not finish within [`LIMIT`].
pub fn within_limit<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test hung for {LIMIT:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("test thread panicked"),
    }
}

/// A payload whose bytes depend on `seed` and position, to detect loss or reordering.
pub fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
